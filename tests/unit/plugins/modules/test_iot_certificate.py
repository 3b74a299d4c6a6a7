# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""iot_certificate and iot_certificate_info: stateful flows against the local endpoint, errors against the Stubber."""

from __future__ import annotations

import datetime
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from botocore.stub import Stubber
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.smartcity.iot_analytics.plugins.module_utils import iot, iot_pki
from ansible_collections.smartcity.iot_analytics.plugins.modules import iot_certificate, iot_certificate_info
from conftest import local_endpoint

REGION = "eu-west-1"
THING = "cam-0001"
POLICY = "smartcity-device"


# ---- key material, generated at run time ----


def make_csr(key, cn: str = THING) -> str:
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    return request.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def write_ca(directory: Path, cn: str = "smartcity test CA") -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{cn.replace(' ', '_')}.crt", directory / f"{cn.replace(' ', '_')}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_path.chmod(0o600)
    return str(cert_path), str(key_path)


# ---- the endpoint: one per module, reset per test ----


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory) -> Iterator[str]:
    with local_endpoint(tmp_path_factory.mktemp("endpoint")) as url:
        yield url


@pytest.fixture
def env(endpoint: str, tmp_path: Path) -> dict[str, Any]:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
    client = boto3.client("iot", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="x")
    for name in (THING, "cam-0002"):
        client.create_thing(thingName=name)
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}
    client.create_policy(policyName=POLICY, policyDocument=json.dumps(document))
    ca_cert, ca_key = write_ca(tmp_path)
    aws = {"endpoint_url": endpoint, "region": REGION, "access_key": "testing", "secret_key": "testing-secret-not-in-any-pem"}
    return {"iot": client, "aws": aws, "ca_cert": ca_cert, "ca_key": ca_key, "dir": tmp_path}


def run(module: Any, capsys, args: dict[str, Any], check: bool = False, diff: bool = True) -> dict[str, Any]:
    with patch_module_args({**args, "_ansible_check_mode": check, "_ansible_diff": diff}), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def ok(module: Any, capsys, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    result = run(module, capsys, args, check)
    assert not result.get("failed"), result.get("msg")
    return result


def certificate_ids(env) -> list[str]:
    return sorted(cert["certificateId"] for cert in env["iot"].list_certificates()["certificates"])


def ca_ids(env) -> list[str]:
    return sorted(cert["certificateId"] for cert in env["iot"].list_ca_certificates()["certificates"])


def principals(env, thing: str = THING) -> list[str]:
    return env["iot"].list_thing_principals(thingName=thing)["principals"]


def sequence(capsys, args: dict[str, Any]) -> list[dict[str, Any]]:
    """check -> apply -> check -> apply; the first check and apply change, the rest do not."""
    results = [ok(iot_certificate, capsys, args, check) for check in (True, False, True, False)]
    assert [result["changed"] for result in results] == [True, True, False, False]
    return results


def own_ca_args(env, key, validity_days: int = 365, thing: str = THING) -> dict[str, Any]:
    return {
        **env["aws"],
        "csr": make_csr(key, thing),
        "issuer": "own_ca",
        "ca_certificate_path": env["ca_cert"],
        "ca_private_key_path": env["ca_key"],
        "validity_days": validity_days,
        "thing": thing,
        "policies": [POLICY],
    }


# ---- iot_certificate against the local endpoint ----


def test_csr_own_ca_sequence(capsys, env):
    key = ec.generate_private_key(ec.SECP256R1())
    args = own_ca_args(env, key, validity_days=400)
    first_check = ok(iot_certificate, capsys, args, check=True)
    assert first_check["changed"] and first_check["certificate"]["certificate_id"] is None
    assert certificate_ids(env) == [] and ca_ids(env) == [] and principals(env) == []
    assert first_check["diff"] == {"before": {}, "after": {"certificate_id": None, "status": "ACTIVE", "things": [THING], "policies": [POLICY]}}

    applied = ok(iot_certificate, capsys, args)
    cert = applied["certificate"]
    assert applied["changed"] and certificate_ids(env) == [cert["certificate_id"]] and len(ca_ids(env)) == 1
    assert applied["ca_certificate_id"] == ca_ids(env)[0]
    assert (cert["status"], cert["things"], cert["policies"], cert["subject_cn"]) == ("ACTIVE", [THING], [POLICY], THING)
    ca_pem = Path(env["ca_cert"]).read_text()
    assert iot_pki.verify_signed_by(cert["certificate_pem"], ca_pem)
    assert iot_pki.public_key_sha256(cert["certificate_pem"]) == iot_pki.public_key_sha256(key)
    not_after = datetime.datetime.strptime(cert["not_after"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    assert abs((not_after - datetime.datetime.now(datetime.timezone.utc)) - datetime.timedelta(days=400)) < datetime.timedelta(minutes=2)
    assert "private_key" not in applied

    for check in (True, False):
        again = ok(iot_certificate, capsys, args, check)
        assert not again["changed"] and again["certificate"]["certificate_id"] == cert["certificate_id"]
        assert again["diff"]["before"] == again["diff"]["after"]
    assert certificate_ids(env) == [cert["certificate_id"]] and len(ca_ids(env)) == 1


def test_csr_aws_sequence(capsys, env):
    key = rsa.generate_private_key(65537, 2048)
    args = {**env["aws"], "csr": make_csr(key), "thing": THING, "policies": [POLICY]}
    probe = ok(iot_certificate, capsys, {**args, "thing": "cam-0002", "csr": make_csr(key, "cam-0002")})["certificate"]
    # AWS certifies the CSR's key (the launcher's fix 17 makes moto do the same)
    assert iot_pki.public_key_sha256(probe["certificate_pem"]) == iot_pki.public_key_sha256(key)
    results = sequence(capsys, args)
    cert = results[1]["certificate"]
    assert len(certificate_ids(env)) == 2 and ca_ids(env) == []
    assert results[3]["certificate"] == cert
    assert cert["issuer_cn"] != "smartcity test CA" and cert["subject_cn"] == THING


def test_same_key_new_csr_reuses_and_other_key_issues(capsys, env):
    key = ec.generate_private_key(ec.SECP384R1())
    first = ok(iot_certificate, capsys, own_ca_args(env, key))["certificate"]
    again = ok(iot_certificate, capsys, own_ca_args(env, key))  # a fresh CSR (new signature) for the same key
    assert not again["changed"] and again["certificate"]["certificate_id"] == first["certificate_id"]
    other = ok(iot_certificate, capsys, own_ca_args(env, ec.generate_private_key(ec.SECP256R1())))
    assert other["changed"] and len(certificate_ids(env)) == 2 and len(principals(env)) == 2


def test_create_keys_sequence(capsys, env):
    args = {**env["aws"], "create_keys": True, "thing": THING, "policies": [POLICY]}
    results = sequence(capsys, args)
    assert "private_key" not in results[0] and "private_key" not in results[2] and "private_key" not in results[3]
    private_key = serialization.load_pem_private_key(results[1]["private_key"].encode(), password=None)
    assert iot_pki.public_key_sha256(private_key) == iot_pki.public_key_sha256(results[1]["certificate"]["certificate_pem"])
    assert len(certificate_ids(env)) == 1


def test_create_keys_with_only_an_inactive_certificate_makes_a_new_one(capsys, env):
    args = {**env["aws"], "create_keys": True, "thing": THING}
    first = ok(iot_certificate, capsys, args)["certificate"]
    ok(iot_certificate, capsys, {**env["aws"], "certificate_id": first["certificate_id"], "state": "inactive"})
    second = ok(iot_certificate, capsys, args)
    assert second["changed"] and second["certificate"]["certificate_id"] != first["certificate_id"] and "private_key" in second


def test_inactive_then_active(capsys, env):
    created = ok(iot_certificate, capsys, {**env["aws"], "csr": make_csr(ec.generate_private_key(ec.SECP256R1())), "thing": THING})
    certificate_id = created["certificate"]["certificate_id"]
    for state, status in (("inactive", "INACTIVE"), ("active", "ACTIVE")):
        args = {**env["aws"], "certificate_id": certificate_id, "state": state}
        results = sequence(capsys, args)
        assert results[0]["diff"]["after"]["status"] == status and results[0]["diff"]["before"]["status"] != status
        assert env["iot"].describe_certificate(certificateId=certificate_id)["certificateDescription"]["status"] == status
        assert results[1]["certificate"]["things"] == [THING]


def test_csr_with_state_inactive_issues_an_inactive_certificate(capsys, env):
    args = {**own_ca_args(env, ec.generate_private_key(ec.SECP256R1())), "state": "inactive"}
    results = sequence(capsys, args)
    assert results[1]["certificate"]["status"] == "INACTIVE"


def test_absent_twice(capsys, env):
    created = ok(iot_certificate, capsys, own_ca_args(env, ec.generate_private_key(ec.SECP256R1())))["certificate"]
    env["iot"].attach_thing_principal(thingName="cam-0002", principal=created["certificate_arn"])
    args = {**env["aws"], "certificate_id": created["certificate_id"], "state": "absent"}
    checked = ok(iot_certificate, capsys, args, check=True)
    assert checked["changed"] and certificate_ids(env) == [created["certificate_id"]]
    assert checked["diff"]["before"]["things"] == [THING, "cam-0002"] and checked["diff"]["after"] == {}
    results = [ok(iot_certificate, capsys, args, check) for check in (False, True, False)]
    assert [result["changed"] for result in results] == [True, False, False]
    assert certificate_ids(env) == [] and principals(env) == [] and principals(env, "cam-0002") == []
    assert env["iot"].get_policy(policyName=POLICY)["policyName"] == POLICY


def test_absent_by_csr(capsys, env):
    key = ec.generate_private_key(ec.SECP256R1())
    ok(iot_certificate, capsys, own_ca_args(env, key))
    args = {**own_ca_args(env, key), "state": "absent"}
    assert [ok(iot_certificate, capsys, args)["changed"] for _round in range(2)] == [True, False]
    assert certificate_ids(env) == []


def test_register_existing_certificate_pem(capsys, env):
    other_ca, other_key = write_ca(env["dir"], "device vendor CA")
    pem = iot_pki.sign_csr(make_csr(ec.generate_private_key(ec.SECP256R1())), Path(other_ca).read_text(), Path(other_key).read_text())
    results = sequence(capsys, {**env["aws"], "certificate_pem": pem, "thing": THING})
    assert results[1]["certificate"]["certificate_pem"].strip() == pem.strip() and results[1]["certificate"]["issuer_cn"] == "device vendor CA"
    assert len(certificate_ids(env)) == 1


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong_cn", "csr: subject CN 'cam-9999' does not match the thing name 'cam-0001'"),
        ("rsa1024", "csr: RSA key of 1024 bits is too weak (at least 2048)"),
        ("garbage", "csr: does not parse as a PEM certificate signing request"),
        ("secp256k1", "csr: curve secp256k1 is not supported (P-256, P-384, P-521)"),
    ],
)
@pytest.mark.parametrize("issuer", ["own_ca", "aws"])
def test_bad_csr_fails_naming_the_field_and_changes_nothing(capsys, env, case, message, issuer):
    csr = {
        "wrong_cn": lambda: make_csr(ec.generate_private_key(ec.SECP256R1()), "cam-9999"),
        "rsa1024": lambda: make_csr(rsa.generate_private_key(65537, 1024)),
        "garbage": lambda: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        "secp256k1": lambda: make_csr(ec.generate_private_key(ec.SECP256K1())),
    }[case]()
    args = {**own_ca_args(env, ec.generate_private_key(ec.SECP256R1())), "csr": csr, "issuer": issuer}
    for check in (True, False):
        result = run(iot_certificate, capsys, args, check)
        assert result["failed"] and result["msg"] == message
    assert certificate_ids(env) == [] and ca_ids(env) == [] and principals(env) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"thing": "ghost"}, "thing: no thing named 'ghost'"),
        ({"policies": ["nope"]}, "policies: no policy named 'nope'"),
        ({"ca_private_key_path": None}, "issuer: own_ca needs ca_private_key_path"),
        ({"ca_certificate_path": "/nonexistent/ca.crt"}, "ca_certificate_path: cannot read /nonexistent/ca.crt"),
        ({"thing": None}, "thing: required with csr"),
        ({"validity_days": 0}, "validity_days: must be at least 1 (got 0)"),
        ({"certificate_id": "a" * 64}, "parameters are mutually exclusive: csr, certificate_id"),
    ],
)
def test_bad_options_fail_before_anything_changes(capsys, env, change, message):
    args = {**own_ca_args(env, ec.generate_private_key(ec.SECP256R1())), **change}
    if change.get("thing") == "ghost":
        args["csr"] = make_csr(ec.generate_private_key(ec.SECP256R1()), "ghost")
    result = run(iot_certificate, capsys, {key: value for key, value in args.items() if value is not None})
    assert result["failed"] and result["msg"].startswith(message), result["msg"]
    assert certificate_ids(env) == [] and ca_ids(env) == []


def test_foreign_ca_key_is_named_by_its_option(capsys, env):
    _other_cert, other_key = write_ca(env["dir"], "another CA")
    result = run(iot_certificate, capsys, {**own_ca_args(env, ec.generate_private_key(ec.SECP256R1())), "ca_private_key_path": other_key})
    assert result["failed"] and result["msg"] == "ca_private_key_path: does not belong to the CA certificate (its public key differs)"


def test_missing_certificate_id(capsys, env):
    args = {**env["aws"], "certificate_id": "b" * 64}
    result = run(iot_certificate, capsys, args)
    assert result["failed"] and result["msg"].startswith("certificate_id: no certificate")
    assert not ok(iot_certificate, capsys, {**args, "state": "absent"})["changed"]


def test_purge_policies(capsys, env):
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Publish", "Resource": "*"}]}
    env["iot"].create_policy(policyName="extra", policyDocument=json.dumps(document))
    cert = ok(iot_certificate, capsys, {**env["aws"], "create_keys": True, "thing": THING, "policies": [POLICY, "extra"]})["certificate"]
    assert cert["policies"] == ["extra", POLICY]
    args = {**env["aws"], "certificate_id": cert["certificate_id"], "policies": [POLICY]}
    assert not ok(iot_certificate, capsys, args)["changed"]  # without purge, extra stays
    results = sequence(capsys, {**args, "purge_policies": True})
    assert results[1]["certificate"]["policies"] == [POLICY]


# ---- iot_certificate_info ----


def test_info_expiry_filter_reads_the_pem(capsys, env):
    short = ok(iot_certificate, capsys, own_ca_args(env, ec.generate_private_key(ec.SECP256R1()), validity_days=10))["certificate"]
    long = ok(iot_certificate, capsys, own_ca_args(env, ec.generate_private_key(ec.SECP256R1()), validity_days=400, thing="cam-0002"))["certificate"]
    everything = ok(iot_certificate_info, capsys, env["aws"])
    assert not everything["changed"]
    assert [cert["certificate_id"] for cert in everything["certificates"]] == [short["certificate_id"], long["certificate_id"]]
    by_id = {cert["certificate_id"]: cert for cert in everything["certificates"]}
    assert by_id[short["certificate_id"]]["days_to_expiry"] in (9, 10) and by_id[long["certificate_id"]]["days_to_expiry"] in (399, 400)
    assert by_id[short["certificate_id"]]["not_after"] == short["not_after"]
    assert by_id[long["certificate_id"]]["things"] == ["cam-0002"] and by_id[long["certificate_id"]]["policies"] == [POLICY]
    # moto says every certificate expires tomorrow; the PEM says otherwise
    described = env["iot"].describe_certificate(certificateId=long["certificate_id"])["certificateDescription"]
    assert described["validity"]["notAfter"].year != int(long["not_after"][:4]) or described["validity"]["notAfter"].month != int(long["not_after"][5:7])

    expiring = ok(iot_certificate_info, capsys, {**env["aws"], "expires_within_days": 30})["certificates"]
    assert [cert["certificate_id"] for cert in expiring] == [short["certificate_id"]]
    assert ok(iot_certificate_info, capsys, {**env["aws"], "expires_within_days": 5})["certificates"] == []
    assert len(ok(iot_certificate_info, capsys, {**env["aws"], "expires_within_days": 401})["certificates"]) == 2


def test_info_selections(capsys, env):
    first = ok(iot_certificate, capsys, own_ca_args(env, ec.generate_private_key(ec.SECP256R1())))
    second = ok(iot_certificate, capsys, {**env["aws"], "create_keys": True, "thing": "cam-0002"})["certificate"]
    ok(iot_certificate, capsys, {**env["aws"], "certificate_id": second["certificate_id"], "state": "inactive"})
    first_id = first["certificate"]["certificate_id"]

    by_thing = ok(iot_certificate_info, capsys, {**env["aws"], "thing": THING})["certificates"]
    assert [cert["certificate_id"] for cert in by_thing] == [first_id]
    assert ok(iot_certificate_info, capsys, {**env["aws"], "thing": "ghost"})["certificates"] == []

    by_ca = ok(iot_certificate_info, capsys, {**env["aws"], "ca_certificate_id": first["ca_certificate_id"], "include_pem": False})["certificates"]
    assert [cert["certificate_id"] for cert in by_ca] == [first_id] and "certificate_pem" not in by_ca[0]

    inactive = ok(iot_certificate_info, capsys, {**env["aws"], "status": "INACTIVE"})["certificates"]
    assert [cert["certificate_id"] for cert in inactive] == [second["certificate_id"]]

    by_ids = ok(iot_certificate_info, capsys, {**env["aws"], "certificate_ids": [first_id, "c" * 64]})
    assert [cert["certificate_id"] for cert in by_ids["certificates"]] == [first_id] and by_ids["missing_certificate_ids"] == ["c" * 64]
    assert all("private_key" not in cert for cert in by_ids["certificates"])


def test_info_selections_are_exclusive(capsys, env):
    result = run(iot_certificate_info, capsys, {**env["aws"], "thing": THING, "certificate_ids": ["a" * 64]})
    assert result["failed"] and "mutually exclusive" in result["msg"]


# ---- errors and retries, against the Stubber ----

CERT_ID = "d" * 64
ARN = f"arn:aws:iot:{REGION}:123456789012:cert/{CERT_ID}"


@pytest.fixture
def stubbed(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    client = boto3.client("iot", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        wrapped = RetryingBotoClientWrapper(client, iot.iot_retry())
        monkeypatch.setattr(iot_certificate, "iot_client", lambda module: wrapped)
        monkeypatch.setattr(iot_certificate_info, "iot_client", lambda module: wrapped)
        yield stubber
        stubber.assert_no_pending_responses()


def pem_for_stub() -> str:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stub CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    ca_key_pem = ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return iot_pki.sign_csr(make_csr(ec.generate_private_key(ec.SECP256R1())), ca_pem, ca_key_pem)


def description(pem: str, status: str = "ACTIVE") -> dict[str, Any]:
    return {"certificateDescription": {"certificateId": CERT_ID, "certificateArn": ARN, "status": status, "certificatePem": pem}}


def test_absent_retries_throttling_and_delete_conflict(capsys, stubbed):
    pem = pem_for_stub()
    stubbed.add_client_error("describe_certificate", "ThrottlingException", http_status_code=400)
    stubbed.add_response("describe_certificate", description(pem), {"certificateId": CERT_ID})
    stubbed.add_response("list_principal_things", {"things": [THING]}, {"principal": ARN})
    stubbed.add_response("list_attached_policies", {"policies": []}, {"target": ARN})
    stubbed.add_response("describe_certificate", description(pem), {"certificateId": CERT_ID})
    stubbed.add_response("update_certificate", {}, {"certificateId": CERT_ID, "newStatus": "INACTIVE"})
    stubbed.add_response("list_principal_things", {"things": [THING]}, {"principal": ARN})
    stubbed.add_response("detach_thing_principal", {}, {"thingName": THING, "principal": ARN})
    stubbed.add_response("list_attached_policies", {"policies": []}, {"target": ARN})
    stubbed.add_client_error("delete_certificate", "DeleteConflictException", "Things must be detached", 409)
    stubbed.add_response("delete_certificate", {}, {"certificateId": CERT_ID})
    result = ok(iot_certificate, capsys, {"region": REGION, "certificate_id": CERT_ID, "state": "absent"})
    assert result["changed"] and result["certificate"] == {}


def test_access_denied_fails_with_what_was_done(capsys, stubbed):
    stubbed.add_client_error("describe_certificate", "AccessDeniedException", "not allowed", 403)
    result = run(iot_certificate, capsys, {"region": REGION, "certificate_id": CERT_ID, "state": "inactive"})
    assert result["failed"] and result["msg"].startswith("managing the IoT certificate failed")
    assert result["error"]["code"] == "AccessDeniedException"


def test_revoked_certificate_cannot_change_status(capsys, stubbed):
    pem = pem_for_stub()
    stubbed.add_response("describe_certificate", description(pem, "REVOKED"), {"certificateId": CERT_ID})
    stubbed.add_response("list_principal_things", {"things": []}, {"principal": ARN})
    stubbed.add_response("list_attached_policies", {"policies": []}, {"target": ARN})
    result = run(iot_certificate, capsys, {"region": REGION, "certificate_id": CERT_ID, "state": "active"})
    assert result["failed"] and "REVOKED" in result["msg"]


def test_info_throttled_listing_is_retried(capsys, stubbed):
    pem = pem_for_stub()
    stubbed.add_client_error("list_certificates", "ThrottlingException", http_status_code=400)
    stubbed.add_response("list_certificates", {"certificates": [{"certificateId": CERT_ID, "certificateArn": ARN, "status": "ACTIVE"}]}, {})
    stubbed.add_response("describe_certificate", description(pem), {"certificateId": CERT_ID})
    stubbed.add_response("list_principal_things", {"things": []}, {"principal": ARN})
    stubbed.add_response("list_attached_policies", {"policies": []}, {"target": ARN})
    certificates = ok(iot_certificate_info, capsys, {"region": REGION})["certificates"]
    assert [cert["certificate_id"] for cert in certificates] == [CERT_ID] and certificates[0]["days_to_expiry"] in (364, 365)
