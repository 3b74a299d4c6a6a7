# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""iot_pki: the CSR rules, signing with our own CA, certificate facts; its AWS calls against botocore's Stubber."""

from __future__ import annotations

import base64
import datetime
import hashlib

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.smartcity.iot_analytics.plugins.module_utils import iot, iot_pki

THING = "cam-0001"
ACCOUNT = "123456789012"


# ---- key material, generated at run time (never committed) ----


def pem(obj) -> str:
    return obj.public_bytes(serialization.Encoding.PEM).decode("ascii")


def key_pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode("ascii")


def make_csr(key, cn: str | None = THING, algorithm=None) -> str:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "smartcity")]
    if algorithm is None and not isinstance(key, ed25519.Ed25519PrivateKey):
        algorithm = hashes.SHA256()
    return pem(x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes)).sign(key, algorithm))


def make_ca(cn: str = "smartcity test CA", key=None, ca: bool = True, days: int = 3650):
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return pem(cert), key_pem(key)


def tampered(csr_pem: str) -> str:
    """The CSR with one bit of its signature flipped (the last DER byte belongs to the signature)."""
    der = bytearray(x509.load_pem_x509_csr(csr_pem.encode()).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    body = base64.encodebytes(bytes(der)).decode("ascii")
    return "-----BEGIN CERTIFICATE REQUEST-----\n" + body + "-----END CERTIFICATE REQUEST-----\n"


@pytest.fixture(scope="module")
def keys():
    return {
        "rsa2048": rsa.generate_private_key(65537, 2048),
        "rsa1024": rsa.generate_private_key(65537, 1024),
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "p521": ec.generate_private_key(ec.SECP521R1()),
        "k256": ec.generate_private_key(ec.SECP256K1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
        "dsa": dsa.generate_private_key(2048),
    }


@pytest.fixture(scope="module")
def ca():
    return make_ca()


# ---- validate_csr ----


@pytest.mark.parametrize(
    ("name", "facts"),
    [
        ("rsa2048", {"key_type": "RSA", "key_size": 2048}),
        ("p256", {"key_type": "EC", "curve": "P-256"}),
        ("p384", {"key_type": "EC", "curve": "P-384"}),
        ("p521", {"key_type": "EC", "curve": "P-521"}),
    ],
)
def test_good_csr_facts(keys, name, facts):
    key = keys[name]
    result = iot_pki.validate_csr(make_csr(key), THING)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert result == dict(facts, subject_cn=THING, public_key_sha256=hashlib.sha256(der).hexdigest())


def test_thing_name_is_optional(keys):
    assert iot_pki.validate_csr(make_csr(keys["p256"], cn="anything"))["subject_cn"] == "anything"


def test_csr_with_surrounding_text_and_bytes(keys):
    csr = make_csr(keys["p256"])
    assert iot_pki.validate_csr("  \n" + csr + "\n\n", THING)["curve"] == "P-256"
    assert iot_pki.validate_csr(csr.encode(), THING)["curve"] == "P-256"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("garbage", "csr: does not parse as a PEM certificate signing request"),
        ("empty", "csr: does not parse as a PEM certificate signing request"),
        ("none", "csr: does not parse as a PEM certificate signing request"),
        ("broken_base64", "csr: does not parse as a PEM certificate signing request"),
        ("a_certificate", "csr: does not parse as a PEM certificate signing request"),
        ("two_csrs", "csr: holds 2 PEM certificate signing requests (exactly one expected)"),
        ("wrong_cn", "csr: subject CN 'cam-9999' does not match the thing name 'cam-0001'"),
        ("no_cn", "csr: subject has no common name (CN); it must be the thing name"),
        ("bad_signature", "csr: signature does not verify"),
        ("rsa1024", "csr: RSA key of 1024 bits is too weak (at least 2048)"),
        ("k256", "csr: curve secp256k1 is not supported (P-256, P-384, P-521)"),
        ("p192", "csr: curve secp192r1 is not supported (P-256, P-384, P-521)"),
        ("ed25519", "csr: key type Ed25519 is not supported (RSA >= 2048 or ECDSA P-256/P-384/P-521)"),
        ("dsa", "csr: key type DSA is not supported (RSA >= 2048 or ECDSA P-256/P-384/P-521)"),
    ],
)
def test_csr_rules(keys, ca, case, message):
    good = make_csr(keys["p256"])
    if case == "p192":
        try:
            csr = make_csr(ec.generate_private_key(ec.SECP192R1()))
        except Exception as error:  # an OpenSSL build without P-192
            pytest.skip(f"this cryptography cannot make P-192 keys: {error}")
    else:
        csr = {
            "garbage": "hello, I am not a CSR",
            "empty": "",
            "none": None,
            "broken_base64": "-----BEGIN CERTIFICATE REQUEST-----\nnot*base64\n-----END CERTIFICATE REQUEST-----\n",
            "a_certificate": ca[0],
            "two_csrs": good + make_csr(keys["p384"]),
            "wrong_cn": make_csr(keys["p256"], cn="cam-9999"),
            "no_cn": make_csr(keys["p256"], cn=None),
            "bad_signature": tampered(good),
        }.get(case) or (make_csr(keys[case]) if case in keys else None)
    with pytest.raises(iot_pki.CsrError) as error:
        iot_pki.validate_csr(csr, THING)
    assert str(error.value) == message
    assert isinstance(error.value, ValueError)


# ---- public_key_sha256 ----


def test_public_key_sha256_is_the_same_for_every_form(keys, ca):
    key = keys["p256"]
    csr = make_csr(key)
    cert_pem = iot_pki.sign_csr(csr, *ca)
    expected = iot_pki.public_key_sha256(key)
    forms = [key, key.public_key(), x509.load_pem_x509_csr(csr.encode()), x509.load_pem_x509_certificate(cert_pem.encode()), csr, cert_pem, key_pem(key)]
    assert {iot_pki.public_key_sha256(form) for form in forms} == {expected}
    assert expected != iot_pki.public_key_sha256(keys["p384"])


# ---- sign_csr ----


def test_sign_csr_makes_a_client_certificate_for_the_csr_key(keys, ca):
    ca_pem, ca_key = ca
    key = keys["rsa2048"]
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    cert_pem = iot_pki.sign_csr(make_csr(key), ca_pem, ca_key, validity_days=10)
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    ca_cert = x509.load_pem_x509_certificate(ca_pem.encode())
    cert.verify_directly_issued_by(ca_cert)
    assert iot_pki.verify_signed_by(cert_pem, ca_pem)
    assert iot_pki.public_key_sha256(cert) == iot_pki.public_key_sha256(key)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == THING
    assert cert.issuer == ca_cert.subject
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    assert before - datetime.timedelta(minutes=5, seconds=5) <= cert.not_valid_before_utc <= before - datetime.timedelta(minutes=4)
    validity = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(days=10, minutes=4) <= validity <= datetime.timedelta(days=10, minutes=6)


def test_sign_csr_serials_are_random(keys, ca):
    csr = make_csr(keys["p256"])
    serials = {x509.load_pem_x509_certificate(iot_pki.sign_csr(csr, *ca).encode()).serial_number for _round in range(3)}
    assert len(serials) == 3


def test_sign_csr_with_an_rsa_ca(keys):
    ca_pem, ca_key = make_ca(key=keys["rsa2048"])
    cert_pem = iot_pki.sign_csr(make_csr(keys["p384"]), ca_pem, ca_key)
    assert iot_pki.verify_signed_by(cert_pem, ca_pem)


def test_sign_csr_validates_the_csr_first(keys, ca):
    with pytest.raises(iot_pki.CsrError, match="RSA key of 1024 bits"):
        iot_pki.sign_csr(make_csr(keys["rsa1024"]), *ca)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("foreign_key", "ca_private_key: does not belong to the CA certificate (its public key differs)"),
        ("not_a_key", "ca_private_key: does not load as an unencrypted PEM private key"),
        ("not_a_ca", "ca_certificate: is not a CA certificate (BasicConstraints CA=true missing)"),
        ("not_a_cert", "ca_certificate: does not parse as a PEM certificate"),
        ("zero_days", "validity_days: must be a whole number of days, at least 1 (got 0)"),
    ],
)
def test_sign_csr_refuses_a_bad_ca(keys, ca, case, message):
    ca_pem, ca_key = ca
    days = 365
    if case == "foreign_key":
        ca_key = key_pem(keys["p384"])
    elif case == "not_a_key":
        ca_key = "nope"
    elif case == "not_a_ca":
        ca_pem, ca_key = make_ca(ca=False)
    elif case == "not_a_cert":
        ca_pem = "nope"
    else:
        days = 0
    with pytest.raises(iot_pki.PkiError) as error:
        iot_pki.sign_csr(make_csr(keys["p256"]), ca_pem, ca_key, validity_days=days)
    assert str(error.value).startswith(message)


def test_verify_signed_by_another_ca_is_false(keys, ca):
    cert_pem = iot_pki.sign_csr(make_csr(keys["p256"]), *ca)
    other = make_ca()[0]
    assert not iot_pki.verify_signed_by(cert_pem, other)
    same_name_other_key = make_ca(cn="smartcity test CA")[0]
    assert not iot_pki.verify_signed_by(cert_pem, same_name_other_key)


# ---- certificate_info ----


def test_certificate_info(keys, ca):
    cert_pem = iot_pki.sign_csr(make_csr(keys["p256"]), *ca, validity_days=400)
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    info = iot_pki.certificate_info(cert_pem)
    assert info == {
        "serial_number": format(cert.serial_number, "x"),
        "subject_cn": THING,
        "issuer_cn": "smartcity test CA",
        "not_before": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after_epoch": int(cert.not_valid_after_utc.timestamp()),
        "public_key_sha256": iot_pki.public_key_sha256(keys["p256"]),
    }
    assert info["serial_number"] == info["serial_number"].lower()
    assert datetime.datetime.strptime(info["not_after"], "%Y-%m-%dT%H:%M:%SZ")


def test_certificate_info_refuses_garbage():
    with pytest.raises(iot_pki.PkiError, match="certificate_pem: does not parse as a PEM certificate"):
        iot_pki.certificate_info("garbage")


# ---- AWS calls, against the Stubber (request and response shapes from the service model) ----


def arn(certificate_id: str) -> str:
    return f"arn:aws:iot:eu-west-1:{ACCOUNT}:cert/{certificate_id}"


CERT_ID = "a" * 64
CA_ID = "c" * 64


@pytest.fixture
def stubbed(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # retries back off without waiting
    client = boto3.client("iot", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield RetryingBotoClientWrapper(client, iot.iot_retry()), stubber
        stubber.assert_no_pending_responses()


def description(certificate_id, cert_pem, status="ACTIVE", **extra):
    return {"certificateDescription": dict(certificateId=certificate_id, certificateArn=arn(certificate_id), status=status, certificatePem=cert_pem, **extra)}


def ca_description(ca_pem, status="ACTIVE"):
    return {
        "certificateDescription": {
            "certificateId": CA_ID,
            "certificateArn": f"arn:aws:iot:eu-west-1:{ACCOUNT}:cacert/{CA_ID}",
            "status": status,
            "certificatePem": ca_pem,
        }
    }


def ca_summary():
    return {"certificates": [{"certificateId": CA_ID, "certificateArn": f"arn:aws:iot:eu-west-1:{ACCOUNT}:cacert/{CA_ID}", "status": "ACTIVE"}]}


def ca_ids(ca_pem: str) -> tuple[str, str]:
    """The ids find_ca_certificate describes first: SHA-256 of the DER (AWS) and of the PEM text (moto)."""
    der = x509.load_pem_x509_certificate(ca_pem.encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest(), hashlib.sha256(ca_pem.encode()).hexdigest()


def ca_not_found_by_id(stubber, ca_pem):
    for candidate in ca_ids(ca_pem):
        stubber.add_client_error("describe_ca_certificate", "ResourceNotFoundException", http_status_code=404, expected_params={"certificateId": candidate})


def test_registered_active_ca_is_found_by_its_der_sha256(stubbed, ca):
    client, stubber = stubbed
    der_id = ca_ids(ca[0])[0]
    found = ca_description(ca[0])
    found["certificateDescription"]["certificateId"] = der_id
    stubber.add_response("describe_ca_certificate", found, {"certificateId": der_id})
    assert iot_pki.ensure_ca_registered(client, *ca) == (der_id, False)


def test_registered_active_ca_found_by_listing(stubbed, ca):
    client, stubber = stubbed
    ca_not_found_by_id(stubber, ca[0])
    stubber.add_response("list_ca_certificates", ca_summary(), {})
    stubber.add_response("describe_ca_certificate", ca_description(ca[0]), {"certificateId": CA_ID})
    assert iot_pki.ensure_ca_registered(client, *ca) == (CA_ID, False)


@pytest.mark.parametrize("check_mode", [False, True])
def test_registered_inactive_ca_is_activated(stubbed, ca, check_mode):
    client, stubber = stubbed
    other_ca = make_ca(cn="someone else's CA")[0]
    other_id = "b" * 64
    ca_not_found_by_id(stubber, ca[0])
    stubber.add_response("list_ca_certificates", {"certificates": [{"certificateId": other_id}], "nextMarker": "m"}, {})
    stubber.add_response("list_ca_certificates", ca_summary(), {"marker": "m"})
    other = {"certificateDescription": {"certificateId": other_id, "certificatePem": other_ca}}
    stubber.add_response("describe_ca_certificate", other, {"certificateId": other_id})
    stubber.add_response("describe_ca_certificate", ca_description(ca[0], status="INACTIVE"), {"certificateId": CA_ID})
    if not check_mode:
        stubber.add_response("update_ca_certificate", {}, {"certificateId": CA_ID, "newStatus": "ACTIVE"})
    assert iot_pki.ensure_ca_registered(client, *ca, check_mode=check_mode) == (CA_ID, True)


def expect_registration(stubber, ca_pem):
    stubber.add_response("get_registration_code", {"registrationCode": "f" * 64}, {})
    stubber.add_response(
        "register_ca_certificate",
        {"certificateId": CA_ID, "certificateArn": f"arn:aws:iot:eu-west-1:{ACCOUNT}:cacert/{CA_ID}"},
        {"caCertificate": ca_pem, "verificationCertificate": ANY, "setAsActive": True, "allowAutoRegistration": False},
    )


def test_missing_ca_is_registered_with_a_verification_certificate(stubbed, ca):
    client, stubber = stubbed
    ca_not_found_by_id(stubber, ca[0])
    stubber.add_response("list_ca_certificates", {"certificates": []}, {})
    expect_registration(stubber, ca[0])
    assert iot_pki.ensure_ca_registered(client, *ca) == (CA_ID, True)


def test_missing_ca_in_check_mode_registers_nothing(stubbed, ca):
    client, stubber = stubbed
    ca_not_found_by_id(stubber, ca[0])
    stubber.add_response("list_ca_certificates", {"certificates": []}, {})
    assert iot_pki.ensure_ca_registered(client, *ca, check_mode=True) == (None, True)


def test_endpoint_without_ca_listing_registers(stubbed, ca):
    """moto has no ListCACertificates (HTTP 500): the CA is registered, as when it is not listed."""
    client, stubber = stubbed
    ca_not_found_by_id(stubber, ca[0])
    stubber.add_client_error("list_ca_certificates", "500", "not implemented", http_status_code=500)
    expect_registration(stubber, ca[0])
    assert iot_pki.ensure_ca_registered(client, *ca) == (CA_ID, True)


@pytest.mark.parametrize(("status", "changed"), [("ACTIVE", False), ("INACTIVE", True)])
def test_ca_already_registered_after_all(stubbed, ca, status, changed):
    client, stubber = stubbed
    ca_not_found_by_id(stubber, ca[0])
    stubber.add_response("list_ca_certificates", {"certificates": []}, {})
    stubber.add_response("get_registration_code", {"registrationCode": "f" * 64}, {})
    stubber.add_client_error("register_ca_certificate", "ResourceAlreadyExistsException", "already registered", 409, modeled_fields={"resourceId": CA_ID})
    stubber.add_response("describe_ca_certificate", ca_description(ca[0], status=status), {"certificateId": CA_ID})
    if changed:
        stubber.add_response("update_ca_certificate", {}, {"certificateId": CA_ID, "newStatus": "ACTIVE"})
    assert iot_pki.ensure_ca_registered(client, *ca) == (CA_ID, changed)


def test_verification_certificate_content(ca):
    """The Stubber keeps no record of what was sent; a recording client shows the verification certificate."""
    seen = {}

    class Client:
        def describe_ca_certificate(self, aws_retry, certificateId):
            raise ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "DescribeCACertificate")

        def get_paginator(self, operation):
            class Pages:
                def paginate(self, **params):
                    return [{"certificates": []}]

            return Pages()

        def get_registration_code(self, aws_retry):
            return {"registrationCode": "f" * 64}

        def register_ca_certificate(self, aws_retry, **params):
            seen.update(params)
            return {"certificateId": CA_ID}

    assert iot_pki.ensure_ca_registered(Client(), *ca) == (CA_ID, True)
    verification = x509.load_pem_x509_certificate(seen["verificationCertificate"].encode())
    assert verification.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "f" * 64
    assert iot_pki.verify_signed_by(seen["verificationCertificate"], ca[0])
    assert iot_pki.public_key_sha256(verification) != iot_pki.public_key_sha256(ca[0])
    assert (seen["setAsActive"], seen["allowAutoRegistration"]) == (True, False)


def test_issue_with_aws(stubbed, keys):
    client, stubber = stubbed
    csr = make_csr(keys["p256"])
    stubber.add_response(
        "create_certificate_from_csr",
        {"certificateId": CERT_ID, "certificateArn": arn(CERT_ID), "certificatePem": "PEM"},
        {"certificateSigningRequest": csr, "setAsActive": True},
    )
    assert iot_pki.issue_certificate(client, "aws", csr, THING) == {"certificate_id": CERT_ID, "certificate_arn": arn(CERT_ID), "certificate_pem": "PEM"}


def test_issue_with_own_ca(stubbed, keys, ca):
    client, stubber = stubbed
    csr = make_csr(keys["p256"])
    stubber.add_response(
        "register_certificate",
        {"certificateId": CERT_ID, "certificateArn": arn(CERT_ID)},
        {"certificatePem": ANY, "caCertificatePem": ca[0], "status": "ACTIVE"},
    )
    issued = iot_pki.issue_certificate(client, "own_ca", csr, THING, *ca, validity_days=30)
    assert issued["certificate_id"] == CERT_ID
    assert iot_pki.verify_signed_by(issued["certificate_pem"], ca[0])
    assert iot_pki.public_key_sha256(issued["certificate_pem"]) == iot_pki.public_key_sha256(keys["p256"])


@pytest.mark.parametrize("issuer", ["aws", "own_ca"])
def test_issue_with_a_bad_csr_calls_nothing(stubbed, keys, ca, issuer):
    client, _stubber = stubbed  # no responses queued: any call would fail the test
    with pytest.raises(iot_pki.CsrError, match="does not match the thing name"):
        iot_pki.issue_certificate(client, issuer, make_csr(keys["p256"], cn="intruder"), THING, *ca)


def test_issue_unknown_issuer(stubbed, keys):
    client, _stubber = stubbed
    with pytest.raises(iot_pki.PkiError, match="issuer: 'acme' is not one of aws, own_ca"):
        iot_pki.issue_certificate(client, "acme", make_csr(keys["p256"]))


def test_thing_certificates_and_find_by_key(stubbed, keys, ca):
    client, stubber = stubbed
    mine = iot_pki.sign_csr(make_csr(keys["p256"]), *ca)
    other = iot_pki.sign_csr(make_csr(keys["p384"]), *ca)
    principals = {"principals": [arn("1" * 64), f"arn:aws:cognito-identity:eu-west-1:{ACCOUNT}:identity/x", arn("2" * 64), arn("3" * 64)]}
    for _round in range(2):
        stubber.add_response("list_thing_principals", principals, {"thingName": THING})
        stubber.add_response("describe_certificate", description("1" * 64, other), {"certificateId": "1" * 64})
        stubber.add_response("describe_certificate", description("2" * 64, mine, status="INACTIVE"), {"certificateId": "2" * 64})
        stubber.add_client_error("describe_certificate", "ResourceNotFoundException", http_status_code=404, expected_params={"certificateId": "3" * 64})
    listed = iot_pki.thing_certificates(client, THING)
    assert [(cert["certificate_id"], cert["status"], cert["subject_cn"]) for cert in listed] == [("1" * 64, "ACTIVE", THING), ("2" * 64, "INACTIVE", THING)]
    found = iot_pki.find_certificate_for_key(client, THING, iot_pki.public_key_sha256(keys["p256"]))
    assert found["certificate_id"] == "2" * 64 and found["certificate_pem"] == mine


def test_thing_certificates_of_a_missing_thing(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("list_thing_principals", "ResourceNotFoundException", http_status_code=404)
    assert iot_pki.thing_certificates(client, "ghost") == []


def test_throttled_calls_are_retried(stubbed, keys):
    client, stubber = stubbed
    csr = make_csr(keys["p256"])
    stubber.add_client_error("create_certificate_from_csr", "ThrottlingException", http_status_code=400)
    stubber.add_client_error("create_certificate_from_csr", "ServiceUnavailableException", http_status_code=503)
    stubber.add_response("create_certificate_from_csr", {"certificateId": CERT_ID, "certificateArn": arn(CERT_ID), "certificatePem": "PEM"})
    assert iot_pki.issue_certificate(client, "aws", csr)["certificate_id"] == CERT_ID


def test_deactivate_and_delete(stubbed, ca, keys):
    client, stubber = stubbed
    cert_pem = iot_pki.sign_csr(make_csr(keys["p256"]), *ca)
    stubber.add_response("describe_certificate", description(CERT_ID, cert_pem), {"certificateId": CERT_ID})
    stubber.add_response("update_certificate", {}, {"certificateId": CERT_ID, "newStatus": "INACTIVE"})
    stubber.add_response("list_principal_things", {"things": ["cam-0002"]}, {"principal": arn(CERT_ID)})
    stubber.add_response("detach_thing_principal", {}, {"thingName": "cam-0001", "principal": arn(CERT_ID)})
    stubber.add_response("detach_thing_principal", {}, {"thingName": "cam-0002", "principal": arn(CERT_ID)})
    stubber.add_response(
        "list_attached_policies", {"policies": [{"policyName": "device", "policyArn": "arn:aws:iot:eu-west-1:1:policy/device"}]}, {"target": arn(CERT_ID)}
    )
    stubber.add_response("detach_policy", {}, {"policyName": "device", "target": arn(CERT_ID)})
    # detaching is eventually consistent: the first delete still sees a thing attached
    stubber.add_client_error("delete_certificate", "DeleteConflictException", "Things are attached", 409, expected_params={"certificateId": CERT_ID})
    stubber.add_response("delete_certificate", {}, {"certificateId": CERT_ID})
    assert iot_pki.deactivate_and_delete(client, CERT_ID, arn(CERT_ID), [THING], check_mode=False) is True


def test_deactivate_and_delete_of_an_inactive_certificate_skips_the_update(stubbed, ca, keys):
    client, stubber = stubbed
    cert_pem = iot_pki.sign_csr(make_csr(keys["p256"]), *ca)
    stubber.add_response("describe_certificate", description(CERT_ID, cert_pem, status="INACTIVE"), {"certificateId": CERT_ID})
    stubber.add_response("list_principal_things", {"things": []}, {"principal": arn(CERT_ID)})
    stubber.add_response("list_attached_policies", {"policies": []}, {"target": arn(CERT_ID)})
    stubber.add_response("delete_certificate", {}, {"certificateId": CERT_ID})
    assert iot_pki.deactivate_and_delete(client, CERT_ID, arn(CERT_ID), [], check_mode=False) is True


def test_deactivate_and_delete_in_check_mode_calls_nothing(stubbed):
    client, _stubber = stubbed
    assert iot_pki.deactivate_and_delete(client, CERT_ID, arn(CERT_ID), [THING], check_mode=True) is True


def test_deactivate_and_delete_finishes_what_another_run_is_deleting(stubbed, ca, keys):
    """A second controller (or the orphaned module of a killed run) detaches and deletes at the same time: a policy
    already detached and a certificate already deleted are the outcome asked for, not errors."""
    client, stubber = stubbed
    cert_pem = iot_pki.sign_csr(make_csr(keys["p256"]), *ca)
    stubber.add_response("describe_certificate", description(CERT_ID, cert_pem, status="INACTIVE"), {"certificateId": CERT_ID})
    stubber.add_response("list_principal_things", {"things": []}, {"principal": arn(CERT_ID)})
    stubber.add_response(
        "list_attached_policies", {"policies": [{"policyName": "device", "policyArn": "arn:aws:iot:eu-west-1:1:policy/device"}]}, {"target": arn(CERT_ID)}
    )
    detach = {"policyName": "device", "target": arn(CERT_ID)}
    stubber.add_client_error("detach_policy", "ResourceNotFoundException", http_status_code=404, expected_params=detach)
    stubber.add_client_error("delete_certificate", "ResourceNotFoundException", http_status_code=404, expected_params={"certificateId": CERT_ID})
    assert iot_pki.deactivate_and_delete(client, CERT_ID, arn(CERT_ID), [], check_mode=False) is True
    stubber.assert_no_pending_responses()
    # and one already gone before it starts
    stubber.add_client_error("describe_certificate", "ResourceNotFoundException", http_status_code=404, expected_params={"certificateId": CERT_ID})
    assert iot_pki.deactivate_and_delete(client, CERT_ID, arn(CERT_ID), [], check_mode=False) is True
    stubber.assert_no_pending_responses()
