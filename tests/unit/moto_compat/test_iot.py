"""Fixes 8 and 15-17 (moto_compat.iot): policies made by CloudFormation; ListCACertificates, DeleteCertificate and
CreateCertificateFromCsr."""

from __future__ import annotations

import json

import pytest
from compat_support import ROUTING_TEMPLATE, _client, routing_stack


def test_iot_policy_ref_json_document_and_delete_after_update(cfn) -> None:
    routing_stack(cfn)  # as test_events.py's PutEvents test creates it (each test module has its own endpoint)
    iot = _client(cfn, "iot")
    [stack] = cfn.describe_stacks(StackName="routing")["Stacks"]
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]} == {"PolicyName": "compat-device"}
    document = json.loads(iot.get_policy(policyName="compat-device")["policyDocument"])
    assert document["Statement"][0]["Resource"] == "arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}"

    cfn.update_stack(StackName="routing", TemplateBody=ROUTING_TEMPLATE.replace("ACTION", "iot:Publish"))
    assert len(iot.list_policy_versions(policyName="compat-device")["policyVersions"]) == 2
    assert _client(cfn, "events").list_archives()["Archives"]  # made from an EventPattern object
    cfn.delete_stack(StackName="routing")
    [summary] = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "routing"]
    assert summary["StackStatus"] == "DELETE_COMPLETE"
    assert iot.list_policies()["policies"] == []


def test_iot_lists_registered_ca_certificates(cfn) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    iot = _client(cfn, "iot")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "compat test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    pem = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM).decode()
    )
    registered = iot.register_ca_certificate(caCertificate=pem, setAsActive=True)
    listed = iot.list_ca_certificates()["certificates"]
    mine = [c for c in listed if c["certificateId"] == registered["certificateId"]]
    assert mine and mine[0]["status"] == "ACTIVE" and mine[0]["certificateArn"] == registered["certificateArn"]
    assert iot.describe_ca_certificate(certificateId=registered["certificateId"])["certificateDescription"]["certificatePem"] == pem


def test_iot_delete_certificate_checks_its_own_attachments_as_moto_does(cfn) -> None:
    iot = _client(cfn, "iot")
    iot.create_thing(thingName="compat-delete")
    iot.create_policy(policyName="compat-delete", policyDocument='{"Version": "2012-10-17", "Statement": []}')
    keep = iot.create_keys_and_certificate(setAsActive=True)  # another attached certificate must not matter
    iot.attach_thing_principal(thingName="compat-delete", principal=keep["certificateArn"])
    cert = iot.create_keys_and_certificate(setAsActive=True)
    iot.attach_thing_principal(thingName="compat-delete", principal=cert["certificateArn"])
    iot.attach_policy(policyName="compat-delete", target=cert["certificateArn"])
    with pytest.raises(iot.exceptions.CertificateStateException):
        iot.delete_certificate(certificateId=cert["certificateId"])
    iot.update_certificate(certificateId=cert["certificateId"], newStatus="INACTIVE")
    with pytest.raises(iot.exceptions.DeleteConflictException, match="Things must be detached"):
        iot.delete_certificate(certificateId=cert["certificateId"])
    iot.detach_thing_principal(thingName="compat-delete", principal=cert["certificateArn"])
    with pytest.raises(iot.exceptions.DeleteConflictException, match="policies must be detached"):
        iot.delete_certificate(certificateId=cert["certificateId"])
    iot.detach_policy(policyName="compat-delete", target=cert["certificateArn"])
    iot.delete_certificate(certificateId=cert["certificateId"])
    assert [c["certificateId"] for c in iot.list_certificates()["certificates"] if c["certificateId"] == cert["certificateId"]] == []
    assert iot.list_thing_principals(thingName="compat-delete")["principals"] == [keep["certificateArn"]]


def test_iot_certificate_from_csr_certifies_the_csr_key(cfn) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    iot = _client(cfn, "iot")
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "compat-csr")]))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    made = iot.create_certificate_from_csr(certificateSigningRequest=csr, setAsActive=True)
    cert = x509.load_pem_x509_certificate(made["certificatePem"].encode())
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "compat-csr"
    assert iot.describe_certificate(certificateId=made["certificateId"])["certificateDescription"]["status"] == "ACTIVE"
