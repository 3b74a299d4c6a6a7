# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""iot_fleet and iot_certificate_rotation against the local endpoint, with devices played by a thread.

The device side here speaks to the endpoint's shadow service over HTTP (the data plane's MQTT side is tested in
tests/integration and tests/e2e); it makes a key per rotation, answers the CSR request and reports the install, or
misbehaves in the ways the rotation must survive. Sequence per module: check, apply, check (no change), apply (no
change).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from cryptography.hazmat.primitives.asymmetric import ec
from rotation_support import Devices, csr_for, make_ca

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.smartcity.iot_analytics.plugins.module_utils import iot_pki, iot_rotation
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot import iot_retry
from ansible_collections.smartcity.iot_analytics.plugins.modules import iot_certificate_rotation, iot_fleet
from conftest import local_endpoint

REGION = "us-east-1"
POLICY = "rot-device"
THING_TYPE = "rot-sensor"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory) -> Iterator[str]:
    with local_endpoint(tmp_path_factory.mktemp("endpoint")) as url:
        yield url


@pytest.fixture
def fleet(endpoint: str, tmp_path: Path) -> dict[str, Any]:
    """A fresh region (the endpoint's state reset) with the device policy and a CA on disk."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
    kw = dict(region_name=REGION, endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="x")
    iot, data = boto3.client("iot", **kw), boto3.client("iot-data", **kw)
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}
    iot.create_policy(policyName=POLICY, policyDocument=json.dumps(document))
    ca_cert, ca_key = make_ca(tmp_path)
    aws = {"endpoint_url": endpoint, "region": REGION, "access_key": "testing-access-key", "secret_key": "testing-secret-not-in-any-pem"}
    return {"iot": iot, "data": data, "ca_cert": str(ca_cert), "ca_key": str(ca_key), "aws": aws, "dir": tmp_path}


def run(module: Any, capsys, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    with patch_module_args({**args, "_ansible_check_mode": check}), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def enroll_args(fleet: dict[str, Any], names: list[str], validity: int = 10) -> dict[str, Any]:
    devices = []
    for name in names:
        key = ec.generate_private_key(ec.SECP256R1())
        fleet.setdefault("keys", {})[name] = key
        devices.append({"name": name, "zone": "z1", "csr": csr_for(name, key)})
    return {**fleet["aws"], "devices": devices, "thing_type": THING_TYPE, "policy_name": POLICY, "issuer": "own_ca",
            "ca_certificate_path": fleet["ca_cert"], "ca_private_key_path": fleet["ca_key"], "certificate_validity_days": validity,
            "rate_limit": 500}


def rotation_args(fleet: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**fleet["aws"], "thing_type": THING_TYPE, "policy_name": POLICY, "issuer": "own_ca", "ca_certificate_path": fleet["ca_cert"],
            "ca_private_key_path": fleet["ca_key"], "expires_within_days": 30, "grace_period_hours": 0, "wait_timeout": 20,
            "poll_interval": 0.2, "rate_limit": 500, **extra}


def certificates_of(iot: Any, thing: str) -> list[dict]:
    return iot_pki.thing_certificates(RetryingBotoClientWrapper(iot, iot_retry()), thing)


def test_enrollment_check_apply_check_apply(fleet: dict[str, Any], capsys) -> None:
    args = enroll_args(fleet, ["rot-a", "rot-b"])
    planned = run(iot_fleet, capsys, args, check=True)
    assert planned["changed"] is True and [d["status"] for d in planned["devices"]] == ["would_create", "would_create"]
    assert fleet["iot"].list_things()["things"] == []  # check mode wrote nothing

    applied = run(iot_fleet, capsys, args)
    assert applied.get("changed") is True, applied
    assert [d["status"] for d in applied["devices"]] == ["created", "created"]
    for name in ("rot-a", "rot-b"):
        certs = certificates_of(fleet["iot"], name)
        assert len(certs) == 1 and certs[0]["status"] == "ACTIVE"
        attrs = fleet["iot"].describe_thing(thingName=name)["attributes"]
        assert attrs["zone"] == "z1" and attrs["cert_id"] == certs[0]["certificate_id"]
        assert int(attrs["cert_expires"]) == certs[0]["not_after_epoch"]
        policies = fleet["iot"].list_attached_policies(target=certs[0]["certificate_arn"])["policies"]
        assert [p["policyName"] for p in policies] == [POLICY]
        assert iot_pki.verify_signed_by(certs[0]["certificate_pem"], Path(fleet["ca_cert"]).read_text())

    again = run(iot_fleet, capsys, args, check=True)
    assert again["changed"] is False and {d["status"] for d in again["devices"]} == {"unchanged"}
    again = run(iot_fleet, capsys, args)
    assert again["changed"] is False and {d["status"] for d in again["devices"]} == {"unchanged"}
    assert len(fleet["iot"].list_certificates()["certificates"]) == 2  # the same CSRs issued nothing new


def test_enrollment_refuses_a_bad_csr_and_enrolls_the_rest(fleet: dict[str, Any], capsys) -> None:
    args = enroll_args(fleet, ["rot-good", "rot-bad"])
    args["devices"][1]["csr"] = csr_for("rot-other", ec.generate_private_key(ec.SECP256R1()))
    result = run(iot_fleet, capsys, args)
    good, bad = result["devices"]
    assert good["status"] == "created"
    assert bad["status"] == "failed" and "rot-bad" in bad["error"] and "CN" in bad["error"]
    assert [t["thingName"] for t in fleet["iot"].list_things()["things"]] == ["rot-good"]


def test_rotation_rotates_good_devices_and_reports_the_rest(fleet: dict[str, Any], capsys) -> None:
    names = ["rot-good1", "rot-good2", "rot-silent", "rot-wrongcn", "rot-weak", "rot-garbage"]
    run(iot_fleet, capsys, enroll_args(fleet, names))
    before = {n: certificates_of(fleet["iot"], n)[0]["certificate_id"] for n in names}

    planned = run(iot_certificate_rotation, capsys, rotation_args(fleet), check=True)
    assert planned["changed"] is False and planned["summary"]["would_start"] == len(names)
    assert all("rotation_state" not in fleet["iot"].describe_thing(thingName=n)["attributes"] for n in names)

    behaviour = {"rot-silent": "ignore", "rot-wrongcn": "wrong_subject", "rot-weak": "weak_rsa", "rot-garbage": "garbage_csr"}
    devices = Devices(fleet["data"], names, behaviour)
    devices.start()
    try:
        result = run(iot_certificate_rotation, capsys, rotation_args(fleet, wait_timeout=8))
    finally:
        devices.stop.set()
        devices.join()
    status = {d["thing_name"]: d for d in result["devices"]}
    assert result["changed"] is True
    for name in ("rot-good1", "rot-good2"):
        assert status[name]["status"] == "rotated", status[name]
        certs = certificates_of(fleet["iot"], name)
        # the old certificate is deleted (grace 0), the one the device installed is the only one, ACTIVE
        assert [c["certificate_id"] for c in certs] == [devices.installed[name]]
        assert certs[0]["status"] == "ACTIVE" and certs[0]["certificate_id"] != before[name]
        attrs = fleet["iot"].describe_thing(thingName=name)["attributes"]
        assert attrs["rotation_state"] == "done" and attrs["cert_id"] == devices.installed[name]
        with pytest.raises(fleet["iot"].exceptions.ResourceNotFoundException):
            fleet["iot"].describe_certificate(certificateId=before[name])
    assert status["rot-silent"]["status"] == "pending" and "CSR" in status["rot-silent"]["reason"]
    assert "CN" in status["rot-wrongcn"]["reason"] and status["rot-wrongcn"]["status"] == "failed"
    assert "2048" in status["rot-weak"]["reason"] and status["rot-weak"]["status"] == "failed"
    assert "parse" in status["rot-garbage"]["reason"] and status["rot-garbage"]["status"] == "failed"
    for name in ("rot-silent", "rot-wrongcn", "rot-weak", "rot-garbage"):
        # nothing changed for these devices: the old certificate is the only one, and ACTIVE
        certs = certificates_of(fleet["iot"], name)
        assert [(c["certificate_id"], c["status"]) for c in certs] == [(before[name], "ACTIVE")]
    assert len(fleet["iot"].list_certificates()["certificates"]) == len(names)
    assert result["metrics"]["requests"] > 0 and result["summary"]["rotated"] == 2
    # the verdict (max_failed 0 by default): three failed of the six worked on, over the threshold; the run does not fail on it
    assert result["verdict"] == {
        "failed": 3, "worked_on": 6, "failed_percent": 50.0, "max_failed": 0, "max_failed_percent": None, "over_threshold": True,
        "threshold": "more than 0 failed device(s)", "failed_devices": ["rot-garbage", "rot-weak", "rot-wrongcn"],
    }

    # Run again: the rotated devices are not due, the others are reported as before, and nothing is written.
    again = run(iot_certificate_rotation, capsys, rotation_args(fleet, wait_timeout=0, max_failed=2, max_failed_percent=60))
    assert again["verdict"]["worked_on"] == 4 and again["verdict"]["failed_percent"] == 75.0 and again["verdict"]["over_threshold"] is True
    within = run(iot_certificate_rotation, capsys, rotation_args(fleet, wait_timeout=0, max_failed=3))
    assert within["verdict"]["over_threshold"] is False and within["verdict"]["failed_devices"] == ["rot-garbage", "rot-weak", "rot-wrongcn"]
    again_status = {d["thing_name"]: d["status"] for d in again["devices"]}
    assert again_status == {"rot-good1": "not_due", "rot-good2": "not_due", "rot-silent": "pending",
                            "rot-wrongcn": "failed", "rot-weak": "failed", "rot-garbage": "failed"}
    assert again["changed"] is False


def test_grace_period_keeps_the_old_certificate_inactive_until_it_passes(fleet: dict[str, Any], capsys) -> None:
    run(iot_fleet, capsys, enroll_args(fleet, ["rot-g"]))
    old = certificates_of(fleet["iot"], "rot-g")[0]["certificate_id"]
    devices = Devices(fleet["data"], ["rot-g"], {})
    devices.start()
    try:
        result = run(iot_certificate_rotation, capsys, rotation_args(fleet, grace_period_hours=1))
    finally:
        devices.stop.set()
        devices.join()
    assert result["devices"][0]["status"] == "in_grace"
    statuses = {c["certificate_id"]: c["status"] for c in certificates_of(fleet["iot"], "rot-g")}
    assert statuses == {old: "INACTIVE", devices.installed["rot-g"]: "ACTIVE"}
    # Once the grace period is over (grace 0 now), the next run deletes the old certificate.
    result = run(iot_certificate_rotation, capsys, rotation_args(fleet, grace_period_hours=0, wait_timeout=0))
    assert result["devices"][0]["status"] == "rotated" and result["changed"] is True
    assert [c["certificate_id"] for c in certificates_of(fleet["iot"], "rot-g")] == [devices.installed["rot-g"]]


def test_a_run_stopped_after_issuing_resumes_without_a_second_certificate(fleet: dict[str, Any], capsys, monkeypatch) -> None:
    run(iot_fleet, capsys, enroll_args(fleet, ["rot-i"]))
    devices = Devices(fleet["data"], ["rot-i"], {})
    devices.start()
    real = iot_rotation.FleetRotation.set_attributes

    def stop_at_issued(self: Any, thing: str, values: dict) -> None:
        if values.get("rotation_state") == "issued":
            raise KeyboardInterrupt  # the controller dies right after issuing (certificate recorded, not yet delivered)
        real(self, thing, values)

    try:
        monkeypatch.setattr(iot_rotation.FleetRotation, "set_attributes", stop_at_issued)
        with patch_module_args(rotation_args(fleet)), pytest.raises(KeyboardInterrupt):
            iot_certificate_rotation.main()
        capsys.readouterr()
        issued = list(fleet["iot"].list_certificates()["certificates"])
        assert len(issued) == 2  # the old one and the new one
        monkeypatch.setattr(iot_rotation.FleetRotation, "set_attributes", real)
        result = run(iot_certificate_rotation, capsys, rotation_args(fleet))
    finally:
        devices.stop.set()
        devices.join()
    assert result["devices"][0]["status"] == "rotated"
    remaining = fleet["iot"].list_certificates()["certificates"]
    assert [c["certificateId"] for c in remaining] == [devices.installed["rot-i"]]  # no duplicate, old one gone
    assert devices.installed["rot-i"] in {c["certificateId"] for c in issued}


def test_bad_options_fail_naming_the_field(fleet: dict[str, Any], capsys) -> None:
    result = run(iot_certificate_rotation, capsys, rotation_args(fleet, batch=0, rate_limit=0))
    assert result["failed"] is True and "batch: must be >= 1" in result["msg"] and "rate_limit" in result["msg"]
    result = run(iot_certificate_rotation, capsys, rotation_args(fleet, max_failed=-1, max_failed_percent=101))
    assert result["failed"] is True and "max_failed: must be >= 0" in result["msg"] and "max_failed_percent: must be between 0 and 100" in result["msg"]
    result = run(iot_fleet, capsys, {**enroll_args(fleet, ["rot-x"]), "devices": [{"name": "bad name", "csr": "x"}]})
    assert result["failed"] is True and "devices[0].name" in result["msg"]


def test_a_run_stopped_while_issuing_finds_the_certificate_by_its_key(fleet: dict[str, Any], capsys, monkeypatch) -> None:
    """The controller dies after IoT issued the certificate but before its id was recorded: the next run finds it by
    the public key recorded before asking, and issues no second one."""
    run(iot_fleet, capsys, enroll_args(fleet, ["rot-k"]))
    devices = Devices(fleet["data"], ["rot-k"], {})
    devices.start()
    real = iot_rotation.FleetRotation.set_attributes

    def stop_before_recording(self: Any, thing: str, values: dict) -> None:
        if "rotation_new_cert" in values and values["rotation_new_cert"] and "rotation_state" not in values:
            raise KeyboardInterrupt  # the certificate exists in IoT; its id is not recorded anywhere
        real(self, thing, values)

    try:
        monkeypatch.setattr(iot_rotation.FleetRotation, "set_attributes", stop_before_recording)
        with patch_module_args(rotation_args(fleet)), pytest.raises(KeyboardInterrupt):
            iot_certificate_rotation.main()
        capsys.readouterr()
        attrs = fleet["iot"].describe_thing(thingName="rot-k")["attributes"]
        assert attrs["rotation_state"] == "requested" and attrs.get("rotation_new_cert", "") == "" and attrs["rotation_csr_key"]
        assert len(fleet["iot"].list_certificates()["certificates"]) == 2  # the old one and the unrecorded new one
        monkeypatch.setattr(iot_rotation.FleetRotation, "set_attributes", real)
        result = run(iot_certificate_rotation, capsys, rotation_args(fleet))
    finally:
        devices.stop.set()
        devices.join()
    assert result["devices"][0]["status"] == "rotated"
    assert [c["certificateId"] for c in fleet["iot"].list_certificates()["certificates"]] == [devices.installed["rot-k"]]
