"""The data plane's rotation pieces without a broker: the bridge's shadow relay (topics, answers), the certificate
status sync (against the local endpoint, certificates registered from a LocalCA), the device key store and rotation
agent (keys, CSRs and their flaws per test behaviour, install checks), and the transport's certificate switch."""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from conftest import ROOT, local_endpoint

sys.path.insert(0, str(ROOT / "files" / "dataplane"))

from iot_dataplane import cli
from iot_dataplane.devices.rotation_agent import GARBAGE_CSR, DeviceStore, RotationAgent, RotationOptions, make_csr
from iot_dataplane.devices.simulator import CONTROL, MqttTransport, SwitchError
from iot_dataplane.local_aws.crlsync import CrlSync, mosquitto_pid
from iot_dataplane.local_aws.local_ca import LocalCA
from iot_dataplane.local_aws.shadow import ShadowRequest, delta_document, parse_request, prune, serve

SHADOW = "$aws/things/dev-1/shadow/name/cert-rotation"


# --- the shadow relay ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        (f"{SHADOW}/get", ShadowRequest("dev-1", "cert-rotation", "get")),
        (f"{SHADOW}/update", ShadowRequest("dev-1", "cert-rotation", "update")),
        (f"{SHADOW}/get/accepted", None),  # an answer, not a request
        (f"{SHADOW}/update/delta", None),
        ("$aws/things/dev-1/shadow/name/other/get", None),  # only the rotation shadow is relayed
        ("$aws/things/dev-1/shadow/get", None),  # the classic shadow
        ("$aws/things//shadow/name/cert-rotation/get", None),
        ("traffic/z/dev-1/telemetry", None),
    ],
)
def test_shadow_request_topics(topic: str, expected: ShadowRequest | None) -> None:
    assert parse_request(topic) == expected


class FakeIotData:
    def __init__(self, shadow: dict[str, Any] | None = None, fail: ClientError | None = None) -> None:
        self.shadow = shadow
        self.fail = fail
        self.updates: list[dict[str, Any]] = []

    def get_thing_shadow(self, thingName: str, shadowName: str) -> dict[str, Any]:
        if self.shadow is None:
            error = {"Error": {"Code": "ResourceNotFoundException", "Message": "nope"}, "ResponseMetadata": {"HTTPStatusCode": 404}}
            raise ClientError(error, "GetThingShadow")
        return {"payload": io.BytesIO(json.dumps(self.shadow).encode())}

    def update_thing_shadow(self, thingName: str, shadowName: str, payload: bytes) -> dict[str, Any]:
        if self.fail:
            raise self.fail
        document = json.loads(payload)
        self.updates.append(document)
        state = {**(self.shadow or {}).get("state", {}), **document["state"]}
        desired, reported = state.get("desired", {}), state.get("reported", {})
        delta = {k: v for k, v in desired.items() if reported.get(k) != v}
        self.shadow = {"state": {**state, **({"delta": delta} if delta else {})}, "version": 2, "timestamp": 5, "metadata": {"desired": {"rotation": {}}}}
        return {"payload": io.BytesIO(json.dumps({"state": document["state"], "version": 2, "timestamp": 5}).encode())}


def test_a_get_answers_the_document_or_404_on_the_rejected_topic() -> None:
    request = ShadowRequest("dev-1", "cert-rotation", "get")
    [(topic, document)] = serve(FakeIotData(), request, b'{"clientToken": "t-1"}')
    assert topic == f"{SHADOW}/get/rejected"
    assert document["code"] == 404 and document["clientToken"] == "t-1" and "dev-1~cert-rotation" in document["message"]
    shadow = {"state": {"desired": {"rotation": {"id": "r1", "step": "csr"}}}, "version": 1}
    [(topic, document)] = serve(FakeIotData(shadow), request, b"")
    assert topic == f"{SHADOW}/get/accepted" and document == shadow


def test_an_update_is_accepted_with_a_delta_only_when_desired_and_reported_differ() -> None:
    request = ShadowRequest("dev-1", "cert-rotation", "update")
    iot_data = FakeIotData()
    reported = {"state": {"reported": {"rotation": {"id": "r1", "step": "csr", "csr": "PEM"}}}, "clientToken": "c"}
    answers = serve(iot_data, request, json.dumps(reported).encode())
    assert [t for t, _d in answers] == [f"{SHADOW}/update/accepted"]  # a device's report: no delta
    assert answers[0][1]["clientToken"] == "c" and iot_data.updates == [reported]
    desired = {"state": {"desired": {"rotation": {"id": "r2", "step": "csr"}}}}
    answers = serve(iot_data, request, json.dumps(desired).encode())
    assert [t for t, _d in answers] == [f"{SHADOW}/update/accepted", f"{SHADOW}/update/delta"]
    assert answers[1][1]["state"] == {"rotation": {"id": "r2", "step": "csr"}} and answers[1][1]["version"] == 2


@pytest.mark.parametrize(("payload", "code"), [(b"not json", 400), (b'{"nostate": 1}', 400), (b"[1]", 400)])
def test_a_malformed_update_is_rejected_without_calling_the_endpoint(payload: bytes, code: int) -> None:
    iot_data = FakeIotData()
    [(topic, document)] = serve(iot_data, ShadowRequest("dev-1", "cert-rotation", "update"), payload)
    assert topic == f"{SHADOW}/update/rejected" and document["code"] == code and iot_data.updates == []


def test_an_endpoint_error_on_update_is_rejected_with_its_status() -> None:
    error = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}, "ResponseMetadata": {"HTTPStatusCode": 429}}, "UpdateThingShadow")
    [(topic, document)] = serve(FakeIotData(fail=error), ShadowRequest("dev-1", "cert-rotation", "update"), b'{"state": {"reported": {}}}')
    assert topic == f"{SHADOW}/update/rejected" and document["code"] == 429 and document["message"] == "slow down"


def test_an_empty_delta_is_no_delta() -> None:
    # the endpoint reports {"rotation": {}} when reported has more keys than desired and nothing differs
    assert prune({"rotation": {}, "a": {"b": {}}}) == {}
    assert delta_document({"state": {"delta": {"rotation": {}}}, "version": 3}) is None
    assert delta_document({"state": {"delta": {"rotation": {"step": "install"}}}, "version": 3})["state"] == {"rotation": {"step": "install"}}


# --- certificate status -> CRL ---------------------------------------------------------------------------------------
def _serial(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


class CountingIot:
    """The real client, counting describe_certificate calls."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.described: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def describe_certificate(self, **kwargs: Any) -> Any:
        self.described.append(kwargs["certificateId"])
        return self.client.describe_certificate(**kwargs)


def test_crl_sync_refuses_what_iot_core_refuses(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path / "pki")
    ca.ensure_ca()
    for name in ("dev-a", "dev-b", "dev-c", "dev-manual"):
        ca.ensure_leaf(name)
    with local_endpoint(tmp_path) as url:
        iot = boto3.client("iot", region_name="us-east-1", endpoint_url=url, aws_access_key_id="x", aws_secret_access_key="x")
        counting = CountingIot(iot)
        sync = CrlSync(counting, ca, tmp_path / "state" / "crl-sync.json", broker_pid_file=None)
        assert sync.sync() is False and sync.ca_id is None  # the CA is not registered: nothing to do
        # another CA registered first: it is described once and skipped
        other = LocalCA(tmp_path / "other")
        other.ensure_ca()
        iot.register_ca_certificate(caCertificate=other.ca_cert.read_text(), verificationCertificate="x", setAsActive=True)
        ca_id = iot.register_ca_certificate(caCertificate=ca.ca_cert.read_text(), verificationCertificate="x", setAsActive=True)["certificateId"]
        ids = {}
        for name in ("dev-a", "dev-b", "dev-c"):
            pem = ca.paths(name).cert.read_text()
            ids[name] = iot.register_certificate(certificatePem=pem, caCertificatePem=ca.ca_cert.read_text(), status="ACTIVE")["certificateId"]
        ca.revoke("dev-manual")  # revoked by other means: stays on the CRL
        assert sync.sync() is False and sync.ca_id == ca_id
        assert ca.revoked_serials() == {_serial(ca.paths("dev-manual").cert)}
        iot.update_certificate(certificateId=ids["dev-a"], newStatus="INACTIVE")
        iot.update_certificate(certificateId=ids["dev-b"], newStatus="INACTIVE")
        iot.delete_certificate(certificateId=ids["dev-b"])  # deleted: refused like one never registered
        assert sync.sync() is True
        expected = {_serial(ca.paths(n).cert) for n in ("dev-a", "dev-b", "dev-manual")}
        assert ca.revoked_serials() == expected
        assert sync.sync() is False  # nothing new: the CRL is not rewritten
        # reactivated: off the CRL again (an INACTIVE certificate can be set ACTIVE at IoT Core)
        iot.update_certificate(certificateId=ids["dev-a"], newStatus="ACTIVE")
        assert sync.sync() is True
        assert ca.revoked_serials() == expected - {_serial(ca.paths("dev-a").cert)}
        # each certificate described once; the state survives a restart of the bridge
        assert sorted(counting.described) == sorted(ids.values())
        state = json.loads((tmp_path / "state" / "crl-sync.json").read_text())
        assert set(state["seen"]) == set(ids.values()) and len(state["synced"]) == 1
        again = CrlSync(counting, ca, tmp_path / "state" / "crl-sync.json")
        assert again.sync() is False and sorted(counting.described) == sorted(ids.values())


def test_the_broker_is_signalled_only_when_the_pid_file_names_a_mosquitto(tmp_path: Path) -> None:
    pid_file = tmp_path / "mosquitto.pid"
    assert mosquitto_pid(pid_file) is None  # missing
    pid_file.write_text(str(os.getpid()))
    assert mosquitto_pid(pid_file) is None  # this is python, not mosquitto: never signalled
    pid_file.write_text("garbage")
    assert mosquitto_pid(pid_file) is None
    ca = LocalCA(tmp_path / "pki")
    ca.ensure_ca()
    sync = CrlSync(None, ca, tmp_path / "s.json", pid_file)
    assert sync.reload_broker() is False
    ca.write_crl({1234})
    assert sync.reload_broker() is False and sync.signals == 0  # changed, but no mosquitto to tell


# --- the device key store and the rotation agent ---------------------------------------------------------------------
def test_devices_init_makes_a_key_and_a_csr_per_device_and_keeps_existing_keys(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["devices", "init", "--dir", str(tmp_path / "dev"), "--sensors", "4", "--zones", "2", "--prefix", "rot"]
    assert cli.main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in first] == ["rot-z001-s0001", "rot-z001-s0002", "rot-z002-s0001", "rot-z002-s0002"]
    assert {d["zone"] for d in first} == {"rot-z001", "rot-z002"}
    key = tmp_path / "dev" / "rot-z001-s0001.key"
    assert key.stat().st_mode & 0o777 == 0o600 and (tmp_path / "dev").stat().st_mode & 0o777 == 0o700
    csr = x509.load_pem_x509_csr(Path(first[0]["csr_path"]).read_bytes())
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "rot-z001-s0001"
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey) and csr.public_key().curve.name == "secp256r1"
    before = key.read_bytes()
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out) == first and key.read_bytes() == before


class FakeTransport:
    """Records the agent's control messages; switch() succeeds (first telemetry PUBACK at once) or raises."""

    def __init__(self, refuse: bool = False) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.switched: list[tuple[str, str]] = []
        self.refuse = refuse
        self.label = "old-id"

    def send_control(self, device: str, topic: str, payload: bytes) -> None:
        self.sent.append((topic, json.loads(payload) if payload else {}))

    def switch(self, device: str, cert: str, key: str, timeout: float) -> threading.Event:
        if self.refuse:
            raise SwitchError("certificate refused")
        self.switched.append((cert, key))
        self.label = Path(cert + ".id").read_text()
        event = threading.Event()
        event.set()
        return event

    def certificate_id(self, device: str) -> str:
        return self.label

    def reports(self) -> list[dict]:
        return [m["state"]["reported"]["rotation"] for t, m in self.sent if t.endswith("/update")]


def doc(desired: dict | None = None, reported: dict | None = None) -> dict:
    return {"state": {**({"desired": {"rotation": desired}} if desired else {}), **({"reported": {"rotation": reported}} if reported else {})}}


def agent_for(tmp_path: Path, behaviour: str | None = None, transport: FakeTransport | None = None) -> tuple[RotationAgent, FakeTransport, DeviceStore]:
    store = DeviceStore(tmp_path / "dev")
    store.init("dev-1")
    ca = LocalCA(tmp_path / "pki")
    ca.ensure_ca()
    store.cert("dev-1").write_text(ca.sign_csr(store.csr("dev-1").read_text()))
    transport = transport or FakeTransport()
    options = RotationOptions(store, poll_seconds=0.1, behaviours={"dev-1": behaviour} if behaviour else {})
    return RotationAgent("dev-1", transport, options), transport, store


def test_the_csr_step_makes_a_pending_key_and_reports_its_csr_once(tmp_path: Path) -> None:
    agent, transport, store = agent_for(tmp_path)
    agent.act(doc({"id": "r1", "step": "csr"}))
    [report] = transport.reports()
    assert report["id"] == "r1" and report["step"] == "csr"
    csr = x509.load_pem_x509_csr(report["csr"].encode())
    assert csr.is_signature_valid and csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "dev-1"
    assert csr.public_key().curve.name == "secp256r1"
    assert store.key("dev-1", "r1").stat().st_mode & 0o777 == 0o600
    agent.act(doc({"id": "r1", "step": "csr"}))  # a document read before the report arrived: nothing repeated
    agent.act(doc({"id": "r1", "step": "csr"}, report))
    assert len(transport.reports()) == 1


@pytest.mark.parametrize(
    ("behaviour", "check"),
    [
        ("garbage_csr", lambda csr_pem: csr_pem == GARBAGE_CSR),
        ("wrong_subject", lambda csr_pem: x509.load_pem_x509_csr(csr_pem.encode()).subject.rfc4514_string() == "CN=not-dev-1"),
        ("weak_rsa", lambda csr_pem: isinstance(k := x509.load_pem_x509_csr(csr_pem.encode()).public_key(), rsa.RSAPublicKey) and k.key_size == 1024),
        ("bad_curve", lambda csr_pem: x509.load_pem_x509_csr(csr_pem.encode()).public_key().curve.name == "secp256k1"),
    ],
)
def test_each_bad_behaviour_reports_its_flawed_csr(tmp_path: Path, behaviour: str, check: Any) -> None:
    agent, transport, _store = agent_for(tmp_path, behaviour)
    agent.act(doc({"id": "r1", "step": "csr"}))
    [report] = transport.reports()
    assert report["step"] == "csr" and check(report["csr"])


def test_ignore_never_answers_and_no_install_sends_the_csr_only(tmp_path: Path) -> None:
    agent, transport, _store = agent_for(tmp_path / "a", "ignore")
    agent.act(doc({"id": "r1", "step": "csr"}))
    assert transport.reports() == []
    agent, transport, _store = agent_for(tmp_path / "b", "no_install")
    agent.act(doc({"id": "r1", "step": "csr"}))
    csr = transport.reports()[0]["csr"]
    pem = LocalCA(tmp_path / "b" / "pki").sign_csr(csr)
    agent.act(doc({"id": "r1", "step": "install", "certificate_id": "new-id", "certificate_pem": pem}, transport.reports()[0]))
    assert [r["step"] for r in transport.reports()] == ["csr"] and transport.switched == []


def test_install_checks_the_certificate_switches_and_replaces_the_identity(tmp_path: Path) -> None:
    agent, transport, store = agent_for(tmp_path)
    ca = LocalCA(tmp_path / "pki")
    old_cert = store.cert("dev-1").read_text()
    agent.act(doc({"id": "r1", "step": "csr"}))
    csr_report = transport.reports()[0]
    # a certificate for another key, and one for the right key with another CN: refused with the reason
    other = DeviceStore(tmp_path / "other")
    other.init("dev-1")
    wrong_key = ca.sign_csr(other.csr("dev-1").read_text())
    agent.act(doc({"id": "r1", "step": "install", "certificate_id": "x", "certificate_pem": wrong_key}, csr_report))
    assert transport.reports()[-1] == {"id": "r1", "step": "failed", "reason": "the certificate's public key is not the pending key of this rotation"}
    agent2, transport2, store2 = agent_for(tmp_path / "cn")
    agent2.act(doc({"id": "r2", "step": "csr"}))
    pending = serialization.load_pem_private_key(store2.key("dev-1", "r2").read_bytes(), password=None)
    wrong_cn = LocalCA(tmp_path / "cn" / "pki").sign_csr(make_csr(pending, "dev-2"))
    agent2.act(doc({"id": "r2", "step": "install", "certificate_id": "x", "certificate_pem": wrong_cn}, transport2.reports()[0]))
    assert "'dev-2', not the thing name 'dev-1'" in transport2.reports()[-1]["reason"]
    # the right certificate: switched, installed, the old pair kept until done
    agent3, transport3, store3 = agent_for(tmp_path / "ok")
    ca3 = LocalCA(tmp_path / "ok" / "pki")
    old_cert = store3.cert("dev-1").read_text()
    old_key = store3.key("dev-1").read_text()
    agent3.act(doc({"id": "r3", "step": "csr"}))
    pem = ca3.sign_csr(transport3.reports()[0]["csr"])
    agent3.act(doc({"id": "r3", "step": "install", "certificate_id": "cid-3", "certificate_pem": pem}, transport3.reports()[0]))
    assert transport3.reports()[-1] == {"id": "r3", "step": "installed", "certificate_id": "cid-3"}
    assert transport3.switched == [(str(store3.cert("dev-1", "r3")), str(store3.key("dev-1", "r3")))]
    assert store3.cert("dev-1").read_text() == pem and store3.key("dev-1").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "ok" / "dev" / "dev-1.crt.id").read_text() == "cid-3"
    assert store3.old("dev-1")[1].read_text() == old_cert and store3.old("dev-1")[0].read_text() == old_key
    assert not store3.key("dev-1", "r3").exists()
    agent3.act(doc({"id": "r3", "step": "install", "certificate_id": "cid-3", "certificate_pem": pem}, transport3.reports()[0]))
    assert len(transport3.switched) == 1  # a stale document does not install twice
    agent3.act(doc({"id": "r3", "step": "done"}, transport3.reports()[-1]))
    assert transport3.reports()[-1] == {"id": "r3", "step": "done"}
    assert not store3.old("dev-1")[0].exists() and not store3.old("dev-1")[1].exists()
    assert agent3.result()["installed"] == ["cid-3"] and agent3.result()["certificate_id"] == "cid-3"


def test_a_refused_new_certificate_is_reported_failed_and_the_old_identity_stays(tmp_path: Path) -> None:
    agent, transport, store = agent_for(tmp_path, transport=FakeTransport(refuse=True))
    before = store.cert("dev-1").read_text()
    agent.act(doc({"id": "r1", "step": "csr"}))
    pem = LocalCA(tmp_path / "pki").sign_csr(transport.reports()[0]["csr"])
    agent.act(doc({"id": "r1", "step": "install", "certificate_id": "c", "certificate_pem": pem}, transport.reports()[0]))
    assert transport.reports()[-1]["step"] == "failed" and "certificate refused" in transport.reports()[-1]["reason"]
    assert store.cert("dev-1").read_text() == before and agent.result()["failures"][0]["id"] == "r1"


def test_the_agent_gets_on_start_and_every_poll_and_a_delta_gets_at_once(tmp_path: Path) -> None:
    agent, transport, _store = agent_for(tmp_path)
    transport.subscribe = lambda device, topics, handler: setattr(transport, "handler", handler)
    agent.start()
    try:
        deadline = time.monotonic() + 5
        while len([t for t, _m in transport.sent if t.endswith("/get")]) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len([t for t, _m in transport.sent if t.endswith("/get")]) >= 3  # poll_seconds 0.1
        transport.handler(f"{SHADOW}/get/accepted", json.dumps(doc({"id": "r9", "step": "csr"})).encode())
        while not transport.reports() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert transport.reports()[0]["id"] == "r9"
    finally:
        agent.stop()
        agent.join(2)
    assert not agent.thread.is_alive()


# --- the transport's certificate switch ------------------------------------------------------------------------------
class FakeClient:
    def __init__(self, name: str, transport: MqttTransport, auto_ack: bool = True) -> None:
        self.name, self.transport, self.auto_ack = name, transport, auto_ack
        self.mid = 0
        self.published: list[bytes] = []
        self.disconnected = False

    def publish(self, topic: str, payload: bytes, qos: int) -> Any:
        self.mid += 1
        self.published.append(payload)
        if self.auto_ack:
            threading.Timer(0.05, self.transport.acknowledged, ("dev-1", self.mid, True)).start()
        return type("Info", (), {"mid": self.mid})()

    def disconnect(self) -> None:
        self.disconnected = True

    def loop_stop(self) -> None:
        pass


def _transport(refuse_new: bool = False) -> tuple[MqttTransport, list, list]:
    acks: list = []
    transport = MqttTransport("127.0.0.1", 1, "ca", lambda d: ("old.crt", "old.key"), lambda token, ok: acks.append((token, ok)))
    opened: list[FakeClient] = []

    def _open(device: str, cert: str, key: str) -> FakeClient:
        if refuse_new and cert == "new.crt":
            raise ConnectionError("refused in TLS")
        client = FakeClient(cert, transport)
        opened.append(client)
        return client

    transport._open = _open  # type: ignore[method-assign]
    return transport, acks, opened


def test_a_switch_holds_publishes_back_waits_for_in_flight_pubacks_and_sends_them_on_the_new_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("iot_dataplane.devices.simulator.certificate_label", lambda cert: cert.replace(".crt", "-id"))
    transport, acks, opened = _transport()
    transport.connect("dev-1")
    old = opened[0]
    transport.publish("dev-1", "t", b"1", ("readings", "z", 1, "dev-1"))
    transport.publish("dev-1", "t", b"2", ("readings", "z", 1, "dev-1"))
    result: dict[str, Any] = {}
    switching = threading.Thread(target=lambda: result.setdefault("event", transport.switch("dev-1", "new.crt", "new.key", 5)))
    switching.start()
    time.sleep(0.01)
    transport.publish("dev-1", "t", b"3", ("readings", "z", 1, "dev-1"))  # during the switch: held back
    transport.send_control("dev-1", "ctl", b"c")
    switching.join(5)
    new = opened[1]
    assert old.published == [b"1", b"2"] and old.disconnected
    assert new.published == [b"3", b"c"]  # in order, on the new connection
    assert transport.certificate_id("dev-1") == "new-id"
    assert result["event"].wait(2)  # the first telemetry PUBACK over the new connection
    deadline = time.monotonic() + 2
    while len(acks) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [t[0][:3] for t in acks] == [("readings", "z", 1)] * 3  # the control message is not reported as a reading
    assert all(token != CONTROL for token, _ok in acks)


def test_a_refused_switch_goes_back_to_the_old_certificate_and_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("iot_dataplane.devices.simulator.certificate_label", lambda cert: cert)
    transport, _acks, opened = _transport(refuse_new=True)
    transport.connect("dev-1")
    transport.held["dev-1"] = [("t", b"held", ("readings", "z", 1, "dev-1"))]
    with pytest.raises(SwitchError, match="refused in TLS"):
        transport.switch("dev-1", "new.crt", "new.key", 5)
    assert [c.name for c in opened] == ["old.crt", "old.crt"] and opened[1].published == [b"held"]
    assert transport.certificate_id("dev-1") == "old.crt" and "dev-1" not in transport.held


@pytest.mark.parametrize(("failures", "transient", "expected"), [
    (1, True, ["old.crt", "new.crt"]),  # closed before its CONNACK once: the next try connects with the new one
    (2, True, ["old.crt", "new.crt"]),
    (3, True, ["old.crt", "old.crt"]),  # every try broke: back to the old certificate
    (1, False, ["old.crt", "old.crt"]),  # a CONNACK that refuses is an answer: no second try
])
def test_a_switch_tries_again_when_the_connection_broke_before_its_connack(
    monkeypatch: pytest.MonkeyPatch, failures: int, transient: bool, expected: list[str]
) -> None:
    monkeypatch.setattr("iot_dataplane.devices.simulator.certificate_label", lambda cert: cert)
    monkeypatch.setattr("iot_dataplane.devices.simulator.time.sleep", lambda seconds: None)
    transport, _acks, opened = _transport()
    tries: list[str] = []
    open_client = transport._open

    def flaky_open(device: str, cert: str, key: str) -> Any:
        if cert == "new.crt":
            tries.append(cert)
            if len(tries) <= failures:
                error = ConnectionError("closed by the broker before CONNACK" if transient else "Not authorized")
                error.transient = transient  # type: ignore[attr-defined]
                raise error
        return open_client(device, cert, key)

    transport._open = flaky_open  # type: ignore[method-assign]
    transport.connect("dev-1")
    if expected[-1] == "new.crt":
        transport.switch("dev-1", "new.crt", "new.key", 5)
    else:
        with pytest.raises(SwitchError):
            transport.switch("dev-1", "new.crt", "new.key", 5)
    assert [c.name for c in opened] == expected
    assert len(tries) == (min(failures + 1, 3) if transient else 1)
