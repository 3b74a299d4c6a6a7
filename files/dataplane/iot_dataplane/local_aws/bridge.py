"""The bridge: what the template's IoT topic rule does, for the local broker.

It subscribes to the telemetry topics (plain and Basic Ingest) with QoS 1 and a persistent session, and writes each
message to the Kinesis stream with the rule's partition key, ``${topic(2)}`` = the zone. Messages go out in batched
PutRecords calls; only the entries Kinesis rejects are retried. A message is acknowledged to the broker only after
Kinesis has accepted it, so a bridge that stops (or an endpoint that fails) loses nothing: the broker keeps the
unacknowledged messages of the session and delivers them again when the bridge is back (at least once, like the
IoT rule's retries).

Two more IoT Core services live here for the local broker, each on its own thread so that neither ever holds up the
telemetry: the rotation shadow's MQTT side (``shadow.py``: the devices' get/update requests relayed to the
endpoint's shadow service, its answers published back) and the certificate status (``crlsync.py``: certificates of
the local CA that are not ACTIVE at the endpoint, or deleted, go on the broker's CRL and the broker reloads it).
"""

from __future__ import annotations

import random
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..shared import LOG, DependencyError, percentiles
from ..topics import shadow_request_filters, telemetry_filters
from .broker import socket_address
from .crlsync import CrlSync
from .poller import StatsMark
from .runtime import Beacon, Outage, endpoint_hint, error_code, stream_gone
from .shadow import ShadowRelay, parse_request

MAX_RECORDS = 500  # PutRecords: at most 500 entries
MAX_REQUEST_BYTES = 5_000_000  # and 5 MB per request
SESSION_EXPIRY_SECONDS = 24 * 3600
IDLE_CHECK_SECONDS = 5.0


@dataclass
class Message:
    mid: int
    qos: int
    partition_key: str
    payload: bytes
    received: float


@dataclass
class BridgeStats:
    received: int = 0
    forwarded: int = 0
    put_calls: int = 0
    entry_retries: int = 0
    skipped_topics: int = 0
    put_ms: list[float] = field(default_factory=list)
    queue_ms: list[float] = field(default_factory=list)

    def snapshot(self, backlog: int, extra: dict[str, Any] | None = None, mark: StatsMark | None = None) -> dict[str, Any]:
        put = percentiles(self.put_ms[-5000:])
        queue = percentiles(self.queue_ms[-5000:])
        return {
            **(mark.fields() if mark is not None else {}),
            "component": "bridge",
            "received": self.received,
            "forwarded": self.forwarded,
            "put_calls": self.put_calls,
            "entry_retries": self.entry_retries,
            "backlog": backlog,
            "skipped_topics": self.skipped_topics,
            "put_ms": put,
            "receive_to_put_ms": queue,
            "time": time.time(),
            **(extra or {}),
        }


def partition_key(topic: str, rule_name: str) -> str | None:
    """The rule's ``${topic(2)}``: the zone of traffic/<zone>/<client_id>/telemetry (Basic Ingest prefix removed)."""
    prefix = f"$aws/rules/{rule_name}/"
    if topic.startswith(prefix):
        topic = topic[len(prefix) :]
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "traffic" or parts[3] != "telemetry" or not parts[1]:
        return None
    return parts[1]


class Bridge:
    def __init__(
        self,
        kinesis: Any,
        stream_name: str,
        rule_name: str,
        client_id: str,
        host: str,
        port: int,
        ca_file: str | None,
        cert_file: str | None,
        key_file: str | None,
        beacon: Beacon,
        outage_seconds: float = 60.0,
        flush_seconds: float = 0.05,
        iot_data: Any = None,
        crl_sync: CrlSync | None = None,
        crl_sync_seconds: float = 2.0,
        socket_path: str | None = None,
    ) -> None:
        self.kinesis = kinesis
        self.stream_name = stream_name
        self.rule_name = rule_name
        self.host = host
        self.port = port
        self.beacon = beacon
        self.flush_seconds = flush_seconds
        self.pending: deque[Message] = deque()
        self.lock = threading.Lock()
        self.stats = BridgeStats()
        self.mark = StatsMark(beacon.stats)
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.endpoint = Outage(f"Kinesis stream {stream_name} at the AWS endpoint", outage_seconds)
        self.socket_path = socket_path
        self.where = socket_path or f"{host}:{port}"
        self.broker = Outage(f"MQTT broker {self.where}", outage_seconds)
        if socket_path:
            # the broker's own unix socket (in the 0700 state directory, behind no gate): the bridge names itself
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True, transport="unix")
            self.client.username_pw_set(client_id)
        else:
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True)
            self.client.tls_set(ca_certs=ca_file, certfile=cert_file, keyfile=key_file, cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.5, 5)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        # the shadow service's MQTT side (None: not relayed) and the certificate status (None: not synced)
        self.shadow = ShadowRelay(iot_data, self._publish_answer, self.stopping) if iot_data is not None else None
        self.crl_sync = crl_sync if crl_sync_seconds > 0 else None
        self.crl_sync_seconds = crl_sync_seconds
        self.crl_thread = threading.Thread(target=self._crl_loop, name="crl-sync", daemon=True)

    # --- MQTT side ------------------------------------------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            LOG.error("broker %s refused the bridge: %s", self.where, reason)
            return
        LOG.info("connected to the broker %s (session present: %s)", self.where, flags.session_present)
        topics = telemetry_filters(self.rule_name) + (shadow_request_filters() if self.shadow else [])
        client.subscribe([(topic, 1) for topic in topics])
        self.connected.set()
        self.broker.ok()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.connected.clear()
        if not self.stopping.is_set():
            LOG.warning("disconnected from the broker %s: %s; reconnecting", self.where, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        key = partition_key(msg.topic, self.rule_name)
        if key is None and self.shadow is not None:
            request = parse_request(msg.topic)
            if request is not None:  # acknowledged by the relay's worker once it has answered
                self.shadow.submit(request, msg.payload, lambda mid=msg.mid, qos=msg.qos: client.ack(mid, qos))
                return
        if key is None:  # the ACL lets nothing else through; never block the session on it
            self.stats.skipped_topics += 1
            client.ack(msg.mid, msg.qos)
            return
        with self.lock:
            self.pending.append(Message(msg.mid, msg.qos, key, msg.payload, time.monotonic()))
            self.stats.received += 1

    def _publish_answer(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)

    # --- certificate status -----------------------------------------------------------------------------------------------
    def _crl_loop(self) -> None:
        assert self.crl_sync is not None
        while not self.stopping.is_set():
            try:
                self.crl_sync.sync()
            except Exception as exc:  # the endpoint failing is the Kinesis side's business; here: log, try again
                self.crl_sync.errors += 1
                LOG.warning("certificate status sync failed (tried again in %.0fs): %s", self.crl_sync_seconds, exc)
            self.stopping.wait(self.crl_sync_seconds)

    def _beat(self) -> None:
        """The health and stats files; new figures when a benchmark asked for them (StatsMark)."""
        marked = self.mark.changed()
        if marked:
            with self.lock:
                self.stats = BridgeStats()
        self.beacon.beat(self.stats.snapshot(len(self.pending), self._extra_stats(), self.mark), force=marked)

    def _extra_stats(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.shadow is not None:
            extra["shadow"] = self.shadow.stats()
        if self.crl_sync is not None:
            extra["crl_sync"] = self.crl_sync.stats()
        return extra

    # --- Kinesis side ----------------------------------------------------------------------------------------------------
    def _take(self) -> list[Message]:
        batch: list[Message] = []
        size = 0
        with self.lock:
            while self.pending and len(batch) < MAX_RECORDS:
                head = self.pending[0]
                entry_size = len(head.payload) + len(head.partition_key)
                if batch and size + entry_size > MAX_REQUEST_BYTES:
                    break
                batch.append(self.pending.popleft())
                size += entry_size
        return batch

    def _put(self, batch: list[Message]) -> None:
        """Write the batch; retry only the rejected entries. Raises DependencyError when the endpoint stays down."""
        todo = batch
        attempt = 0
        while todo:
            started = time.monotonic()
            try:
                response = self.kinesis.put_records(
                    StreamName=self.stream_name,
                    Records=[{"Data": m.payload, "PartitionKey": m.partition_key} for m in todo],
                )
            except Exception as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    raise stream_gone(self.stream_name, " The broker keeps the unforwarded messages of this bridge's session.") from exc
                self.endpoint.failed(exc, endpoint_hint(exc))
                self._sleep_backoff(attempt)
                attempt += 1
                continue
            self.endpoint.ok()
            self.stats.put_calls += 1
            self.stats.put_ms.append((time.monotonic() - started) * 1000)
            failed = []
            now = time.monotonic()
            for message, result in zip(todo, response["Records"]):
                if "ErrorCode" in result:
                    failed.append(message)
                else:
                    self.client.ack(message.mid, message.qos)
                    self.stats.forwarded += 1
                    self.stats.queue_ms.append((now - message.received) * 1000)
            if failed:
                self.stats.entry_retries += len(failed)
                LOG.warning(
                    "Kinesis rejected %d of %d records (%s); retrying those",
                    len(failed),
                    len(todo),
                    response["Records"][todo.index(failed[0])].get("ErrorCode"),
                )
                self._sleep_backoff(attempt)
                attempt += 1
            todo = failed
        if len(self.stats.put_ms) > 20000:
            del self.stats.put_ms[:10000]
            del self.stats.queue_ms[: len(self.stats.queue_ms) // 2]

    def _sleep_backoff(self, attempt: int) -> None:
        self.stopping.wait(random.uniform(0, min(5.0, 0.1 * 2**attempt)))

    def check_stream(self) -> None:
        """The stream exists: DependencyError when it is gone; an unreachable endpoint counts towards the outage."""
        try:
            self.kinesis.describe_stream_summary(StreamName=self.stream_name)
        except Exception as exc:  # classified below
            if error_code(exc) == "ResourceNotFoundException":
                raise stream_gone(self.stream_name) from exc
            self.endpoint.failed(exc, endpoint_hint(exc))
            return
        self.endpoint.ok()

    # --- main loop ---------------------------------------------------------------------------------------------------------
    def run(self, max_seconds: float | None = None) -> None:
        self.check_stream()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        props.ReceiveMaximum = 65535
        try:
            if self.socket_path:
                # paho wants a port > 0; the address fits a unix socket address however deep the state directory is
                self.client.connect(socket_address(self.socket_path), 1, keepalive=30, clean_start=False, properties=props)
            else:
                self.client.connect(self.host, self.port, keepalive=30, clean_start=False, properties=props)
        except OSError as exc:
            raise DependencyError(f"cannot connect to the MQTT broker {self.where}: {exc}") from exc
        if self.shadow is not None:
            self.shadow.start()
        if self.crl_sync is not None:
            self.crl_thread.start()
        self.client.loop_start()
        self.connected.wait(10)
        started = last_put = time.monotonic()
        try:
            while not self.stopping.is_set():
                if max_seconds is not None and time.monotonic() - started > max_seconds:
                    break
                if not self.connected.is_set():
                    self.broker.failed(ConnectionError("not connected"), "Is the data plane's Mosquitto running?")
                    self.stopping.wait(1.0)
                    self.beacon.beat(self.stats.snapshot(len(self.pending), self._extra_stats(), self.mark), healthy=False)
                    continue
                batch = self._take()
                if batch:
                    self._put(batch)
                    last_put = time.monotonic()
                else:
                    if time.monotonic() - last_put > IDLE_CHECK_SECONDS:
                        # idle: make sure the stream is still there, so a lost endpoint is noticed before traffic
                        self.check_stream()
                        last_put = time.monotonic()
                    self.stopping.wait(self.flush_seconds)
                self._beat()
        finally:
            self.beacon.beat(self.stats.snapshot(len(self.pending), self._extra_stats(), self.mark), healthy=False, force=True)
            self.beacon.clear()
            self.client.disconnect()
            self.client.loop_stop()

    def stop(self) -> None:
        self.stopping.set()
