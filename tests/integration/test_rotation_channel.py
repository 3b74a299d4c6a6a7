"""The rotation channel of env=local with real servers: the endpoint (moto), the gate and Mosquitto, the bridge
(shadow relay and certificate status sync) and the simulator's rotation agent over MQTT. The test plays the
controller with boto3, as the rotation module does: desired states over iot-data, certificates registered at IoT and
attached to the thing, the old one set INACTIVE.

Proved here: the device rotates over its named shadow and reconnects with the new certificate without losing a
reading (readings_sent == readings_acked, none refused, readings counted per certificate), a new certificate the
broker refuses sends it back to the old one (reported failed, still nothing lost), and after the old certificate is
set INACTIVE the bridge's CRL sync makes the gate refuse NEW connections with it while active ones are accepted.
"""

from __future__ import annotations

import json
import ssl
import sys
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from paho.mqtt.enums import CallbackAPIVersion
from test_data_plane import MOSQUITTO, Plane

from conftest import ROOT, wait_for

sys.path.insert(0, str(ROOT / "files" / "dataplane"))

from iot_dataplane.devices.rotation_agent import DeviceStore, RotationOptions
from iot_dataplane.devices.simulator import MqttTransport, Scenario, Simulator, certificate_label
from iot_dataplane.local_aws.local_ca import LocalCA

SHADOW = "cert-rotation"


@pytest.fixture(scope="module")
def plane(tmp_path_factory) -> Plane:
    assert Path(MOSQUITTO).exists(), "Mosquitto is missing: scripts/setup installs it"
    p = Plane(tmp_path_factory.mktemp("rotation-plane"))
    p.state.mkdir()
    p.crl_sync_seconds = 0.5
    try:
        p.start_endpoint()
        p.deploy()
        p.start_broker()
        p.start_bridge()
        yield p
    finally:
        p.procs.stop_all()


def connect(plane: Plane, client_id: str, cert: Path, key: Path) -> str:
    """A NEW TLS connection with this certificate: "Success" or why it was refused."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(plane.ca.ca_cert), certfile=str(cert), keyfile=str(key), cert_reqs=ssl.CERT_REQUIRED)
    outcome: dict[str, str] = {}
    done = threading.Event()

    def on_connect(c, userdata, flags, reason, properties) -> None:
        outcome.setdefault("result", str(reason))
        done.set()

    def on_disconnect(c, userdata, flags, reason, properties) -> None:
        outcome.setdefault("result", f"closed before CONNACK: {reason}")
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        client.connect("127.0.0.1", plane.mqtt_port, keepalive=10)
    except (OSError, ssl.SSLError) as exc:
        return f"refused in TLS: {exc}"
    client.loop_start()
    try:
        done.wait(5)
        return outcome.get("result", "no CONNACK")
    finally:
        client.disconnect()
        client.loop_stop()


class Controller:
    """What the rotation module does, by hand: desired over HTTP, certificates at IoT."""

    def __init__(self, plane: Plane, thing: str) -> None:
        self.iot = plane.client("iot")
        self.data = plane.client("iot-data")
        self.ca = plane.ca
        self.thing = thing

    def desire(self, rotation: dict[str, Any]) -> None:
        self.data.update_thing_shadow(thingName=self.thing, shadowName=SHADOW, payload=json.dumps({"state": {"desired": {"rotation": rotation}}}).encode())

    def reported(self) -> dict[str, Any]:
        try:
            shadow = json.loads(self.data.get_thing_shadow(thingName=self.thing, shadowName=SHADOW)["payload"].read())
        except self.data.exceptions.ResourceNotFoundException:
            return {}
        return (shadow.get("state", {}).get("reported") or {}).get("rotation") or {}

    def wait_reported(self, rotation: str, step: str, timeout: float = 30) -> dict[str, Any]:
        return wait_for(lambda: (r := self.reported()).get("id") == rotation and r.get("step") == step and r, timeout, f"reported {rotation} {step}")

    def register(self, pem: str, thing: str | None = None) -> str:
        """Registered ACTIVE and attached to the thing (this controller's unless given), as IoT Core needs to let it connect."""
        registered = self.iot.register_certificate(certificatePem=pem, caCertificatePem=self.ca.ca_cert.read_text(), status="ACTIVE")
        self.iot.attach_thing_principal(thingName=thing or self.thing, principal=registered["certificateArn"])
        return registered["certificateId"]


def refused_rotation(controller: Controller, store: DeviceStore, simulator: Simulator, tmp_path: Path) -> None:
    """Rotation r1 installs a certificate the broker refuses (right key and CN, another CA): the device goes back to
    its old certificate and reports failed."""
    thing = controller.thing
    old_pem = store.cert(thing).read_text()
    controller.desire({"id": "r1", "step": "csr"})
    r1 = controller.wait_reported("r1", "csr")
    rogue = LocalCA(tmp_path / "rogue")
    rogue.ensure_ca()
    controller.desire({"id": "r1", "step": "install", "certificate_id": "rogue-id", "certificate_pem": rogue.sign_csr(r1["csr"])})
    failed = controller.wait_reported("r1", "failed", timeout=40)
    assert "could not connect with the new certificate" in failed["reason"]
    assert store.cert(thing).read_text() == old_pem
    acked = simulator.report.readings_acked
    wait_for(lambda: simulator.report.readings_acked > acked + 5, 20, "readings over the old certificate again")


def old_certificate_refused(plane: Plane, store: DeviceStore, thing: str, old_id: str, old_pem: str) -> None:
    """The old certificate set INACTIVE: after the bridge's CRL sync the gate refuses NEW connections with it in TLS
    (it also asks the endpoint at every CONNECT); ACTIVE certificates of the same CA are accepted."""
    iot = plane.client("iot")
    controller = Controller(plane, thing)
    iot.update_certificate(certificateId=old_id, newStatus="INACTIVE")
    old_serial = x509.load_pem_x509_certificate(old_pem.encode()).serial_number
    wait_for(lambda: old_serial in plane.ca.revoked_serials(), 15, "the old certificate on the CRL")
    stats = wait_for(lambda: (s := json.loads((plane.state / "bridge.stats.json").read_text()))["crl_sync"]["broker_reloads"] >= 1 and s, 10, "SIGHUP")
    assert stats["crl_sync"]["ca_registered"] is True
    old_key, old_cert = store.old(thing)
    refusals = plane.procs.log("gate").count("certificate verify failed")
    # the same client id as the device: refused in TLS, so the device's session is not taken over
    assert connect(plane, thing, old_cert, old_key) != "Success"
    wait_for(lambda: plane.procs.log("gate").count("certificate verify failed") == refusals + 1, 5, "the gate's TLS refusal")
    plane.ca.ensure_leaf("rot-probe")  # an ACTIVE certificate of the same CA, attached to its thing, is accepted
    iot.create_thing(thingName="rot-probe")
    controller.register(plane.ca.paths("rot-probe").cert.read_text(), thing="rot-probe")
    assert connect(plane, "rot-probe", plane.ca.paths("rot-probe").cert, plane.ca.paths("rot-probe").key) == "Success"
    # the new certificate passes TLS, but only under its thing's name (IoT Core's client/${ThingName}); the device
    # itself is connected with it under that name
    assert connect(plane, thing + "-x", store.cert(thing), store.key(thing)) == "Not authorized"


def enroll(controller: Controller, store: DeviceStore) -> tuple[str, str]:
    """The device's key and CSR (devices init), signed by the local CA and registered ACTIVE: (PEM, certificate id)."""
    thing = controller.thing
    pem = controller.ca.sign_csr(store.init(thing).read_text())
    store.cert(thing).write_text(pem)
    certificate_id = controller.register(pem)
    Path(str(store.cert(thing)) + ".id").write_text(certificate_id)
    return pem, certificate_id


def test_a_device_rotates_over_its_shadow_without_losing_a_reading_and_the_old_certificate_is_refused(plane: Plane, tmp_path: Path) -> None:
    thing = "rot-z001-s0001"
    iot = plane.client("iot")
    iot.register_ca_certificate(caCertificate=plane.ca.ca_cert.read_text(), verificationCertificate="unused", setAsActive=True)
    iot.create_thing(thingName=thing)
    controller = Controller(plane, thing)
    store = DeviceStore(tmp_path / "devices")
    old_pem, old_id = enroll(controller, store)

    scenario = Scenario(sensors=1, zones=1, rate_hz=10, duration_s=90, seed=2, prefix="rot")
    simulator = Simulator(scenario, rule_name=plane.outputs["TopicRuleName"], rotation=RotationOptions(store, poll_seconds=0.5, switch_timeout=15))
    transport = MqttTransport("127.0.0.1", plane.mqtt_port, str(plane.ca.ca_cert), store.current, simulator.ack, connect_timeout=5)
    stop = threading.Event()
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.setdefault("report", simulator.run(transport, stop, ack_timeout=20)), daemon=True)
    runner.start()
    try:
        wait_for(lambda: simulator.report.readings_acked >= 10, 20, "readings over the enrolled certificate")

        refused_rotation(controller, store, simulator, tmp_path)

        # 2. the real rotation: CSR, signed and registered ACTIVE, installed after a PUBACK over the new connection
        controller.desire({"id": "r2", "step": "csr"})
        r2 = controller.wait_reported("r2", "csr")
        new_pem = plane.ca.sign_csr(r2["csr"])
        new_id = controller.register(new_pem)
        controller.desire({"id": "r2", "step": "install", "certificate_id": new_id, "certificate_pem": new_pem})
        installed = controller.wait_reported("r2", "installed", timeout=40)
        assert installed["certificate_id"] == new_id
        assert store.cert(thing).read_text() == new_pem and certificate_label(str(store.cert(thing))) == new_id

        old_certificate_refused(plane, store, thing, old_id, old_pem)

        controller.desire({"id": "r2", "step": "done"})
        controller.wait_reported("r2", "done")
        assert not any(path.exists() for path in store.old(thing))
        acked = simulator.report.readings_acked
        wait_for(lambda: simulator.report.readings_acked > acked + 5, 20, "readings over the new certificate")
    finally:
        stop.set()
        runner.join(60)
    report = result["report"]
    assert report.messages_refused == 0
    assert report.readings_sent == report.readings_acked > 0
    assert set(report.readings_by_certificate) == {old_id, new_id}
    assert sum(report.readings_by_certificate.values()) == report.readings_acked
    assert report.readings_by_certificate[new_id] > 5 and report.readings_by_certificate[old_id] > 10
    rotation = report.rotation[thing]
    assert rotation["installed"] == [new_id] and rotation["certificate_id"] == new_id
    assert [f["id"] for f in rotation["failures"]] == ["r1"]
    bridge = json.loads((plane.state / "bridge.stats.json").read_text())
    assert bridge["shadow"]["served"] > 0 and bridge["shadow"]["dropped"] == 0
    assert bridge["skipped_topics"] == 0
