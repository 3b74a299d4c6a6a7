"""The gate's certificate registry: a certificate registered with other PEM text (found by its serial among the local
CA's) connects even when the CA's certificates were listed just before it was registered."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "files" / "dataplane"))

from iot_dataplane.local_aws.gate import Registry


def certificate(name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))


class FakeIot:
    """describe_certificate by id, list_principal_things; ids are not the hash of the PEM the gate sees."""

    def __init__(self) -> None:
        self.certificates: dict[str, dict[str, Any]] = {}

    def describe_certificate(self, certificateId: str) -> dict[str, Any]:
        if certificateId not in self.certificates:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "not found"}}, "DescribeCertificate")
        return {"certificateDescription": self.certificates[certificateId]}

    def list_principal_things(self, principal: str, **_kwargs: Any) -> dict[str, Any]:
        return {"things": [c["thing"] for c in self.certificates.values() if c["certificateArn"] == principal]}


class FakeIndex:
    """The CA's registered certificates as CertificateIndex lists them (id -> serial, and the listing)."""

    def __init__(self, iot: FakeIot) -> None:
        self.iot = iot
        self.seen: dict[str, int] = {}
        self.listings = 0

    def listing(self) -> dict[str, str]:
        self.listings += 1
        for cert_id, description in self.iot.certificates.items():
            self.seen[cert_id] = x509.load_pem_x509_certificate(description["certificatePem"].encode()).serial_number
        return {cert_id: "ACTIVE" for cert_id in self.iot.certificates}


def register(iot: FakeIot, cert: x509.Certificate, thing: str) -> None:
    pem = cert.public_bytes(serialization.Encoding.PEM).decode().replace("\n", "\r\n")  # other PEM text
    cert_id = f"id-{thing}"
    iot.certificates[cert_id] = {"certificateId": cert_id, "certificateArn": f"arn:cert/{cert_id}", "status": "ACTIVE",
                                 "certificatePem": pem, "thing": thing}


def test_a_certificate_registered_right_after_a_listing_is_found() -> None:
    iot = FakeIot()
    registry = Registry.__new__(Registry)
    registry.iot, registry.index, registry.index_seconds, registry.listed, registry.listed_at = iot, FakeIndex(iot), 60.0, {}, -1e9
    first = certificate("dev-a")
    register(iot, first, "dev-a")
    assert registry.refusal(first.public_bytes(serialization.Encoding.DER), "dev-a") is None  # listed now
    second = certificate("dev-b")
    register(iot, second, "dev-b")  # registered within index_seconds of that listing
    assert registry.refusal(second.public_bytes(serialization.Encoding.DER), "dev-b") is None
    assert registry.index.listings == 2  # listed again once, for the certificate the listing did not hold
    assert registry.refusal(first.public_bytes(serialization.Encoding.DER), "dev-a") is None
    assert registry.index.listings == 2  # a certificate the listing holds needs no new listing
    stranger = certificate("dev-x")
    assert registry.refusal(stranger.public_bytes(serialization.Encoding.DER), "dev-x") == "its certificate is not registered at the endpoint"
