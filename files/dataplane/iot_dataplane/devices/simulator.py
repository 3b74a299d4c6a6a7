"""The sensor-fleet simulator: N sensors in Z zones publishing at R Hz, one by one or in gateway batches.

Everything random comes from one seed, so a scenario is repeatable and its expected alerts are known in advance:

- daily profiles: traffic volume follows a weekday curve (morning and evening peaks), speed and occupancy follow the
  load, and the congestion index stays below the alert threshold in normal traffic;
- incidents: a zone that congests for K minutes (CongestionAlert, then CongestionCleared once a later window is
  free again), a sensor that goes silent (SensorSilent after two windows, at the next sweep), and malformed messages
  of known kinds (each ends in quarantine with its reason).

Devices publish over MQTT/TLS with their own certificates under their own client id (a gateway is one device that
carries the readings of its sensors, all in one zone, in one columnar message a second by default). ``run`` reports what was sent and acknowledged.
"""

from __future__ import annotations

import hashlib
import math
import random
import ssl
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import orjson
import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from paho.mqtt.enums import CallbackAPIVersion

from . import GATEWAY_FORMATS

# The processor's defaults (files/lambda/stream_processor/config.py); a scenario states the values it relies on.
CONGESTION_THRESHOLD = 0.7
CONGESTION_CLEAR_THRESHOLD = 0.5
MIN_READINGS = 5

MALFORMED_KINDS: dict[str, Callable[[dict], bytes]] = {
    # kind (= the processor's quarantine reason) -> payload built from a valid reading
    "bad_json": lambda r: orjson.dumps(r)[:-7],
    "vehicle_count": lambda r: orjson.dumps({**r, "vehicle_count": -3}),
    "avg_speed_kmh": lambda r: orjson.dumps({**r, "avg_speed_kmh": 999.5}),
    "sensor_id": lambda r: orjson.dumps({**r, "sensor_id": "bad sensor id with spaces"}),
    "ts_future": lambda r: orjson.dumps({**r, "ts": r["ts"] + 3_600_000}),
}


COLUMN_FIELDS = ("sensor_id", "ts", "vehicle_count", "avg_speed_kmh", "occupancy", "congestion_index")


def gateway_message(readings: list[dict[str, Any]], zone: str, layout: str = "columns") -> bytes:
    """One gateway message of ``readings`` (all of ``zone``): columnar (the zone once, each field one list; ~50 bytes
    a reading) or a readings batch (~150 bytes a reading)."""
    if layout == "readings":
        return orjson.dumps({"readings": readings})
    return orjson.dumps({"zone": zone, "columns": {name: [r.get(name) for r in readings] for name in COLUMN_FIELDS}})


@dataclass(frozen=True)
class Congestion:
    zone: str
    start_s: float
    minutes: float


@dataclass(frozen=True)
class Silence:
    sensor_id: str
    start_s: float


@dataclass
class Scenario:
    sensors: int = 20
    zones: int = 4
    rate_hz: float = 1.0
    duration_s: float = 10.0
    gateway_size: int = 0  # 0: every sensor is its own device; n: gateways of up to n sensors (one zone)
    gateway_format: str = "columns"  # a gateway's message: "columns" (columnar, the compact form) or "readings"
    seed: int = 1
    prefix: str = "sim"  # sensor and zone names: <prefix>-z001, <prefix>-z001-s0001, <prefix>-z001-gw01
    congestions: list[Congestion] = field(default_factory=list)
    silences: list[Silence] = field(default_factory=list)
    malformed: dict[str, int] = field(default_factory=dict)
    hour_offset: float | None = None  # profile hour at the start; None: the local wall-clock hour
    window_seconds: int = 60

    def validate(self) -> None:
        problems = []
        if self.sensors < 1:
            problems.append("sensors: must be >= 1")
        if not 1 <= self.zones <= self.sensors:
            problems.append("zones: must be between 1 and the number of sensors")
        if not 0 < self.rate_hz <= 100:
            problems.append("rate_hz: must be > 0 and <= 100 (IoT Core allows 100 publishes/s per connection)")
        if self.duration_s <= 0:
            problems.append("duration_s: must be > 0")
        if not 0 <= self.gateway_size <= 500:
            problems.append("gateway_size: must be 0..500 (the contract's batch limit)")
        if self.gateway_format not in GATEWAY_FORMATS:
            problems.append(f"gateway_format: must be one of {', '.join(GATEWAY_FORMATS)}")
        for kind in self.malformed:
            if kind not in MALFORMED_KINDS:
                problems.append(f"malformed: unknown kind {kind!r} (known: {', '.join(sorted(MALFORMED_KINDS))})")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class Sensor:
    sensor_id: str
    zone: str
    device: str  # the client id that publishes its readings (itself, or its gateway)
    base_volume: float
    free_flow: float


@dataclass
class Device:
    name: str
    zone: str
    sensors: list[Sensor]


def build_fleet(scenario: Scenario) -> tuple[list[str], list[Device]]:
    rng = random.Random(scenario.seed)
    zones = [f"{scenario.prefix}-z{z + 1:03d}" for z in range(scenario.zones)]
    per_zone: dict[str, list[Sensor]] = {z: [] for z in zones}
    for index in range(scenario.sensors):
        zone = zones[index % len(zones)]
        sensor_id = f"{zone}-s{len(per_zone[zone]) + 1:04d}"
        per_zone[zone].append(Sensor(sensor_id, zone, sensor_id, rng.uniform(4, 20), rng.choice((50, 60, 80))))
    devices: list[Device] = []
    for zone in zones:
        sensors = per_zone[zone]
        if scenario.gateway_size:
            for g in range(0, len(sensors), scenario.gateway_size):
                name = f"{zone}-gw{g // scenario.gateway_size + 1:02d}"
                members = [Sensor(s.sensor_id, s.zone, name, s.base_volume, s.free_flow) for s in sensors[g : g + scenario.gateway_size]]
                devices.append(Device(name, zone, members))
        else:
            devices.extend(Device(s.sensor_id, zone, [s]) for s in sensors)
    return zones, devices


def daily_load(hour: float) -> float:
    """Share of peak traffic at a local hour (0..24): morning and evening peaks over a night floor, 0.05..1."""

    def bump(center: float, width: float) -> float:
        return math.exp(-((hour - center) ** 2) / (2 * width**2))

    return min(1.0, 0.05 + 0.95 * max(bump(8.0, 1.2), bump(17.5, 1.6), 0.55 * bump(13.0, 2.5)))


def normal_reading(sensor: Sensor, ts_ms: int, hour: float, rate_hz: float, rng: random.Random) -> dict[str, Any]:
    load = daily_load(hour) * rng.uniform(0.85, 1.15)
    occupancy = min(0.6, 0.05 + 0.45 * load)
    speed = max(5.0, sensor.free_flow * (1.0 - 0.45 * load) * rng.uniform(0.9, 1.1))
    return {
        "sensor_id": sensor.sensor_id,
        "zone": sensor.zone,
        "ts": ts_ms,
        "vehicle_count": max(0, int(rng.gauss(sensor.base_volume * load / rate_hz, 1.0))),
        "avg_speed_kmh": round(speed, 1),
        "occupancy": round(occupancy, 3),
        # Below the clear threshold in normal traffic, so only incidents raise alerts.
        "congestion_index": round(min(0.45, 0.05 + 0.35 * load), 3),
    }


def congested_reading(sensor: Sensor, ts_ms: int, rng: random.Random) -> dict[str, Any]:
    return {
        "sensor_id": sensor.sensor_id,
        "zone": sensor.zone,
        "ts": ts_ms,
        "vehicle_count": int(rng.uniform(0, 3)),
        "avg_speed_kmh": round(rng.uniform(3, 12), 1),
        "occupancy": round(rng.uniform(0.8, 0.95), 3),
        "congestion_index": round(rng.uniform(0.85, 0.98), 3),
    }


def expected_alerts(scenario: Scenario, zones: list[str], devices: list[Device]) -> list[dict[str, Any]]:
    """The alerts the scenario must raise: type, zone (and sensor), and the earliest run second they can come."""
    window = scenario.window_seconds
    expected: list[dict[str, Any]] = []
    for c in scenario.congestions:
        expected.append({"type": "CongestionAlert", "zone": c.zone, "after_s": c.start_s})
        end = c.start_s + c.minutes * 60
        # A later window holding only free-flowing readings clears it; the run must reach that window's first batch.
        first_free_window = (math.floor(end / window) + 1) * window
        if first_free_window + 1 <= scenario.duration_s:
            expected.append({"type": "CongestionCleared", "zone": c.zone, "after_s": first_free_window})
    sensor_zone = {s.sensor_id: s.zone for d in devices for s in d.sensors}
    for s in scenario.silences:
        # Silent for two whole windows after its last reading, then the next one-minute sweep reports it.
        due = (math.floor(s.start_s / window) + 3) * window
        if due + 60 <= scenario.duration_s:
            expected.append({"type": "SensorSilent", "zone": sensor_zone[s.sensor_id], "sensor_id": s.sensor_id, "after_s": due})
    return expected


@dataclass
class Report:
    messages_sent: int = 0
    messages_acked: int = 0
    messages_refused: int = 0
    readings_sent: int = 0
    readings_acked: int = 0
    readings_by_zone: dict[str, int] = field(default_factory=dict)
    malformed_sent: dict[str, int] = field(default_factory=dict)
    malformed_acked: dict[str, int] = field(default_factory=dict)
    expected_alerts: list[dict[str, Any]] = field(default_factory=list)
    started_at: float = 0.0
    duration_s: float = 0.0
    publish_lag_ms: dict[str, Any] = field(default_factory=dict)
    devices: int = 0
    # readings acknowledged per certificate id the device used (see certificate_label), and per device the outcome of
    # its certificate rotations (rotation agents only): installed certificate ids, failures, current certificate id
    readings_by_certificate: dict[str, int] = field(default_factory=dict)
    rotation: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["readings_per_s"] = round(self.readings_acked / self.duration_s, 1) if self.duration_s else 0.0
        return data


class Transport:
    """Publishes for a device and calls back with (device, mid-like token, accepted) when the broker acknowledged."""

    def connect(self, device: str) -> None:
        raise NotImplementedError

    def publish(self, device: str, topic: str, payload: bytes, token: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


CONTROL = "control"  # the token of a message that is not telemetry (the rotation channel): never reported as a reading


def certificate_label(cert_file: str) -> str:
    """The id a device knows its certificate by: ``<cert>.id`` when present (the id the controller gave it at install),
    else the SHA-256 of the certificate's DER (how IoT Core derives a certificate id)."""
    id_file = Path(cert_file + ".id")
    if id_file.exists():
        return id_file.read_text().strip()
    der = x509.load_pem_x509_certificate(Path(cert_file).read_bytes()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


class SwitchError(Exception):
    """A device could not move to its new certificate; it is connected with its old one again."""


SWITCH_ATTEMPTS = 3  # connections with the new certificate a device tries when one closes before its CONNACK


class MqttTransport(Transport):
    """One MQTT v5 connection per device over mutual TLS, QoS 1; the PUBACK reason code says whether it was taken.

    Lock order: paho's network thread holds paho's own lock while it runs our callbacks (on_publish, on_message),
    which take ``self.lock``; so ``self.lock`` is never held while calling into paho (publish, subscribe, connect).

    A device can move to a new certificate without losing a reading (``switch``): its publishes are held back in order,
    the old connection's in-flight PUBACKs are awaited, it reconnects under the same client id with the new
    certificate (or, refused, with the old one again), and the held-back publishes go out on that connection.
    """

    def __init__(
        self, host: str, port: int, ca_file: str, cert_for: Callable[[str], tuple[str, str]], on_ack: Callable[[Any, bool], None], connect_timeout: float = 10.0
    ) -> None:
        self.mqtt = mqtt
        self.version = CallbackAPIVersion.VERSION2
        self.host, self.port, self.ca_file = host, port, ca_file
        self.cert_for = cert_for
        self.on_ack = on_ack
        self.connect_timeout = connect_timeout
        self.clients: dict[str, Any] = {}
        self.tokens: dict[tuple[str, int], Any] = {}
        self.early: dict[tuple[str, int], bool] = {}  # PUBACKs that came before publish() returned
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)  # notified when a device's last in-flight publish is acknowledged
        self.inflight: dict[str, int] = {}  # publishes handed to paho and not acknowledged yet, per device
        self.held: dict[str, list[tuple[str, bytes, Any]]] = {}  # devices switching certificates: publishes held back
        self.certs: dict[str, tuple[str, str]] = {}  # the (cert, key) of each device's current connection
        self.labels: dict[str, str] = {}  # and that certificate's id
        self.subscriptions: dict[str, tuple[list[str], Callable[[str, bytes], None]]] = {}
        self.first_ack: dict[str, threading.Event] = {}  # the first accepted telemetry PUBACK of the current connection

    def _open(self, device: str, cert: str, key: str) -> Any:
        mqtt = self.mqtt
        client = mqtt.Client(self.version, client_id=device, protocol=mqtt.MQTTv5)
        client.tls_set(ca_certs=self.ca_file, certfile=cert, keyfile=key, cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)
        ready = threading.Event()
        refused: list[str] = []
        closed_by_connack = False

        def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
            nonlocal closed_by_connack
            if reason.is_failure:
                closed_by_connack = True
                refused.append(str(reason))
            else:
                subscription = self.subscriptions.get(device)
                if subscription:  # a new connection has no subscriptions: ours again, on paho's thread (allowed)
                    c.subscribe([(topic, 1) for topic in subscription[0]])
            ready.set()

        def on_disconnect(c: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
            if not ready.is_set():  # closed before its CONNACK: the broker refused the certificate in TLS
                refused.append(f"closed by the broker before CONNACK ({reason}): certificate refused?")
                ready.set()

        def on_publish(c: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
            self.acknowledged(device, mid, not reason.is_failure)

        def on_message(c: Any, userdata: Any, message: Any) -> None:
            subscription = self.subscriptions.get(device)
            if subscription:
                subscription[1](message.topic, message.payload)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_publish = on_publish
        client.on_message = on_message
        try:
            client.connect(self.host, self.port, keepalive=30)
        except (OSError, ssl.SSLError) as exc:
            raise ConnectionError(f"{device}: the broker {self.host}:{self.port} refused the connection in TLS: {exc}") from exc
        client.loop_start()
        if not ready.wait(self.connect_timeout) or refused:
            client.loop_stop()
            error = ConnectionError(
                f"{device}: the broker {self.host}:{self.port} did not accept the connection ({', '.join(refused) or 'no CONNACK: certificate refused?'})"
            )
            # No CONNACK at all (closed, or none in time) is worth another try; a CONNACK that refuses is an answer.
            error.transient = not closed_by_connack  # type: ignore[attr-defined]
            raise error
        return client

    def connect(self, device: str) -> None:
        cert, key = self.cert_for(device)
        client = self._open(device, cert, key)
        with self.lock:
            self.clients[device] = client
            self.certs[device] = (cert, key)
            self.labels[device] = certificate_label(cert)
            self.first_ack[device] = threading.Event()

    def certificate_id(self, device: str) -> str | None:
        return self.labels.get(device)

    def subscribe(self, device: str, topics: list[str], on_message: Callable[[str, bytes], None]) -> None:
        """Subscribe the device's connection (and every later one) to ``topics``; ``on_message(topic, payload)`` runs on
        paho's network thread and must not block."""
        self.subscriptions[device] = (list(topics), on_message)
        self.clients[device].subscribe([(topic, 1) for topic in topics])

    def acknowledged(self, device: str, mid: int, ok: bool) -> None:
        """A PUBACK. paho calls this holding its own message lock: ours is taken only briefly, never around paho."""
        with self.lock:
            token = self.tokens.pop((device, mid), None)
            if token is None:  # the PUBACK overtook publish() registering its token
                self.early[(device, mid)] = ok
            self._done(device)
            if token is not None and ok and token != CONTROL and device in self.first_ack:
                self.first_ack[device].set()
        if token is not None and token != CONTROL:
            self.on_ack(token, ok)

    def _done(self, device: str) -> None:
        """One publish of the device acknowledged (self.lock held)."""
        left = self.inflight.get(device, 1) - 1
        self.inflight[device] = left
        if left <= 0:
            self.idle.notify_all()

    def publish(self, device: str, topic: str, payload: bytes, token: Any) -> None:
        with self.lock:
            held = self.held.get(device)
            if held is not None:  # switching certificates: sent, in order, once the new connection is up
                held.append((topic, payload, token))
                return
            self.inflight[device] = self.inflight.get(device, 0) + 1
            client = self.clients[device]
        self._send(device, client, topic, payload, token)

    def _send(self, device: str, client: Any, topic: str, payload: bytes, token: Any) -> None:
        # Not under self.lock: paho's network thread holds paho's lock while it calls on_publish, which takes ours
        # (holding ours here while paho takes its own deadlocked the simulator under load).
        info = client.publish(topic, payload, qos=1)
        with self.lock:
            acked = self.early.pop((device, info.mid), None)
            if acked is None:
                self.tokens[(device, info.mid)] = token
            elif acked and token != CONTROL and device in self.first_ack:
                self.first_ack[device].set()
        if acked is not None and token != CONTROL:
            self.on_ack(token, acked)

    def send_control(self, device: str, topic: str, payload: bytes) -> None:
        """A QoS 1 message that is not telemetry (the rotation channel) on the device's connection."""
        self.publish(device, topic, payload, CONTROL)

    def switch(self, device: str, cert: str, key: str, drain_timeout: float = 30.0) -> threading.Event:
        """Reconnect ``device`` with a new certificate, losing nothing; returns the event set at the first accepted
        telemetry PUBACK over the new connection. Raises SwitchError (connected with the old certificate again)."""
        with self.lock:
            self.held.setdefault(device, [])
            drained = self.idle.wait_for(lambda: self.inflight.get(device, 0) <= 0, drain_timeout)
            old_client, old_cert = self.clients[device], self.certs[device]
        if not drained:
            self._release(device)
            raise SwitchError(f"{device}: publishes on the old connection were not acknowledged within {drain_timeout:.0f}s")
        old_client.disconnect()
        old_client.loop_stop()
        error = None
        for attempt in range(SWITCH_ATTEMPTS):
            try:
                client, current = self._open(device, cert, key), (cert, key)
                error = None
                break
            except ConnectionError as exc:
                error = exc
                if not getattr(exc, "transient", False):
                    break
                time.sleep(0.5 * (attempt + 1))  # as a device does: a connection that broke before its answer is tried again
        if error is not None:
            client, current = self._open(device, *old_cert), old_cert  # raises if the old one is refused too
        with self.lock:
            self.clients[device] = client
            self.certs[device] = current
            self.labels[device] = certificate_label(current[0])
            event = self.first_ack[device] = threading.Event()
        self._release(device)
        if error is not None:
            raise SwitchError(str(error)) from error
        return event

    def _release(self, device: str) -> None:
        """Send what was held back, in order; publishes that come meanwhile queue behind it."""
        while True:
            with self.lock:
                held = self.held.get(device)
                if not held:
                    self.held.pop(device, None)
                    return
                batch = list(held)
                held.clear()
                self.inflight[device] = self.inflight.get(device, 0) + len(batch)
                client = self.clients[device]
            for topic, payload, token in batch:
                self._send(device, client, topic, payload, token)

    def close(self) -> None:
        for client in list(self.clients.values()):
            client.disconnect()
            client.loop_stop()


class IotDataTransport(Transport):
    """AWS IoT's data plane over HTTPS (SigV4), for the smoke test on real AWS: a 200 answer is the acknowledgement."""

    def __init__(self, client: Any, on_ack: Callable[[Any, bool], None]) -> None:
        self.client = client
        self.on_ack = on_ack

    def connect(self, device: str) -> None:
        return None

    def publish(self, device: str, topic: str, payload: bytes, token: Any) -> None:
        try:
            self.client.publish(topic=topic, qos=1, payload=payload)
        except Exception:
            self.on_ack(token, False)
        else:
            self.on_ack(token, True)

    def close(self) -> None:
        return None


def topic_for(zone: str, device: str, rule_name: str | None) -> str:
    topic = f"traffic/{zone}/{device}/telemetry"
    return f"$aws/rules/{rule_name}/{topic}" if rule_name else topic


class Simulator:
    """Publishes a scenario. With ``rotation`` (a RotationOptions), every device also runs a rotation agent
    (rotation.py) on the rotation shadow: the transport must be an MqttTransport."""

    def __init__(
        self,
        scenario: Scenario,
        rule_name: str | None = None,
        on_publish: Callable[[str, float, int], None] | None = None,
        rotation: Any = None,
    ) -> None:
        scenario.validate()
        self.scenario = scenario
        self.rule_name = rule_name
        self.zones, self.devices = build_fleet(scenario)
        self.rng = random.Random(scenario.seed * 7919 + 1)
        self.report = Report(devices=len(self.devices))
        self.lock = threading.Lock()
        self.on_publish = on_publish
        self.report.expected_alerts = expected_alerts(scenario, self.zones, self.devices)
        self.lags: list[float] = []
        self.rotation = rotation
        self.certificate_of: Callable[[str], str | None] | None = None

    def ack(self, token: Any, accepted: bool) -> None:
        kind, zone, count = token[:3]
        device = token[3] if len(token) > 3 else None
        # the connection the message went out on still has its certificate: a switch waits for the PUBACKs first
        certificate = self.certificate_of(device) if device and self.certificate_of else None
        with self.lock:
            if not accepted:
                self.report.messages_refused += 1
                return
            self.report.messages_acked += 1
            if kind == "readings":
                self.report.readings_acked += count
                self.report.readings_by_zone[zone] = self.report.readings_by_zone.get(zone, 0) + count
                if certificate:
                    self.report.readings_by_certificate[certificate] = self.report.readings_by_certificate.get(certificate, 0) + count
            else:
                self.report.malformed_acked[kind] = self.report.malformed_acked.get(kind, 0) + 1

    def readings_for(self, device: Device, elapsed: float, ts_ms: int, hour: float) -> list[dict[str, Any]]:
        congested = any(c.zone == device.zone and c.start_s <= elapsed < c.start_s + c.minutes * 60 for c in self.scenario.congestions)
        out = []
        for sensor in device.sensors:
            if any(s.sensor_id == sensor.sensor_id and elapsed >= s.start_s for s in self.scenario.silences):
                continue
            if congested:
                out.append(congested_reading(sensor, ts_ms, self.rng))
            else:
                out.append(normal_reading(sensor, ts_ms, hour, self.scenario.rate_hz, self.rng))
        return out

    def _publish_malformed(self, transport: Transport, device: Device, kind: str, ts_ms: int, hour: float) -> None:
        payload = MALFORMED_KINDS[kind](normal_reading(device.sensors[0], ts_ms, hour, self.scenario.rate_hz, self.rng))
        with self.lock:
            self.report.messages_sent += 1
            self.report.malformed_sent[kind] = self.report.malformed_sent.get(kind, 0) + 1
        transport.publish(device.name, topic_for(device.zone, device.name, self.rule_name), payload, (kind, device.zone, 1, device.name))

    def _publish_readings(self, transport: Transport, device: Device, readings: list[dict], now: float) -> None:
        if self.scenario.gateway_size:
            messages = [(gateway_message(readings, device.zone, self.scenario.gateway_format), len(readings))]
        else:
            messages = [(orjson.dumps(r), 1) for r in readings]
        topic = topic_for(device.zone, device.name, self.rule_name)
        for payload, count in messages:
            with self.lock:
                self.report.messages_sent += 1
                self.report.readings_sent += count
            transport.publish(device.name, topic, payload, ("readings", device.zone, count, device.name))
            if self.on_publish:
                self.on_publish(device.zone, now, count)

    def _malformed_plan(self) -> list[tuple[float, str]]:
        """Malformed messages go out at seeded moments of the first half of the run."""
        plan: list[tuple[float, str]] = []
        for kind, count in sorted(self.scenario.malformed.items()):
            plan.extend((self.rng.uniform(0, self.scenario.duration_s / 2), kind) for _number in range(count))
        return sorted(plan)

    def run(self, transport: Transport, stop: threading.Event | None = None, ack_timeout: float = 30.0) -> Report:
        """Publish the scenario in real time (each device at its own phase of the period), then wait for the acks."""
        scenario = self.scenario
        stop = stop or threading.Event()
        self.certificate_of = getattr(transport, "certificate_id", None)
        for device in self.devices:
            transport.connect(device.name)
        agents = self._start_agents(transport)
        period = 1.0 / scenario.rate_hz
        malformed_plan = self._malformed_plan()
        start = time.time()
        self.report.started_at = start
        local = time.localtime(start)
        start_hour = scenario.hour_offset if scenario.hour_offset is not None else local.tm_hour + local.tm_min / 60
        n = len(self.devices)
        for tick in range(math.ceil(scenario.duration_s * scenario.rate_hz)):
            for index, device in enumerate(self.devices):
                due = start + tick * period + period * index / n
                if due > time.time() and stop.wait(due - time.time()):
                    break
                now = time.time()
                self.lags.append(now - due)
                elapsed = now - start
                ts_ms = int(now * 1000)
                hour = (start_hour + elapsed / 3600) % 24
                while malformed_plan and malformed_plan[0][0] <= elapsed:
                    self._publish_malformed(transport, device, malformed_plan.pop(0)[1], ts_ms, hour)
                readings = self.readings_for(device, elapsed, ts_ms, hour)
                if readings:
                    self._publish_readings(transport, device, readings, now)
            if stop.is_set():
                break
        self.report.duration_s = round(time.time() - start, 3)
        for agent in agents:  # a switch in progress finishes (its held-back readings go out) before the acks are counted
            agent.stop()
        for agent in agents:
            agent.join(ack_timeout)
            self.report.rotation[agent.device] = agent.result()
        self._wait_for_acks(ack_timeout)
        transport.close()
        lags = sorted(self.lags)
        if lags:
            self.report.publish_lag_ms = {
                "p50": round(lags[len(lags) // 2] * 1000, 1),
                "p99": round(lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000, 1),
                "max": round(lags[-1] * 1000, 1),
            }
        return self.report

    def _start_agents(self, transport: Transport) -> list[Any]:
        if self.rotation is None:
            return []
        from .rotation_agent import RotationAgent  # noqa: PLC0415  pylint: disable=import-outside-toplevel

        agents = [RotationAgent(device.name, transport, self.rotation) for device in self.devices]
        for agent in agents:
            agent.start()
        return agents

    def _wait_for_acks(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.report.messages_acked + self.report.messages_refused >= self.report.messages_sent:
                    return
            time.sleep(0.05)
