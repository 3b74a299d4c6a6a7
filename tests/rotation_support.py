"""Test support for certificate rotation: a throwaway CA, CSRs, and devices played by a thread.

The devices answer the ``cert-rotation`` shadow over the endpoint's HTTP shadow API (the MQTT side is the simulator's,
tested in tests/integration and tests/e2e): a key per rotation, the CSR, the install report; or they misbehave in
the ways a rotation must survive (``ignore``, ``no_install``, ``wrong_subject``, ``weak_rsa``, ``garbage_csr``).
"""

from __future__ import annotations

import datetime
import json
import threading
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def make_ca(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rotation test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    ca_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return ca_cert, ca_key


def csr_for(name: str, key: Any) -> str:
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


class Devices(threading.Thread):
    """Devices that answer the rotation shadow: good ones, and one per misbehaviour (by name)."""

    def __init__(self, data: Any, names: list[str], behaviour: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.data, self.names, self.behaviour = data, names, behaviour
        self.keys: dict[tuple[str, str], Any] = {}
        self.installed: dict[str, str] = {}
        self.stop = threading.Event()

    def report(self, name: str, rotation: dict) -> None:
        payload = json.dumps({"state": {"reported": {"rotation": rotation}}}).encode()
        self.data.update_thing_shadow(thingName=name, shadowName="cert-rotation", payload=payload)

    def step(self, name: str) -> None:
        try:
            doc = json.loads(self.data.get_thing_shadow(thingName=name, shadowName="cert-rotation")["payload"].read())
        except self.data.exceptions.ResourceNotFoundException:
            return
        desired = doc.get("state", {}).get("desired", {}).get("rotation") or {}
        reported = doc.get("state", {}).get("reported", {}).get("rotation") or {}
        kind = self.behaviour.get(name, "good")
        rid = desired.get("id")
        if not rid or kind == "ignore":
            return
        if desired["step"] == "csr" and (reported.get("id") != rid or reported.get("step") != "csr"):
            key = rsa.generate_private_key(65537, 1024) if kind == "weak_rsa" else ec.generate_private_key(ec.SECP256R1())
            self.keys[(name, rid)] = key
            csr = csr_for("someone-else" if kind == "wrong_subject" else name, key)
            if kind == "garbage_csr":
                csr = "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n"
            self.report(name, {"id": rid, "step": "csr", "csr": csr})
        elif desired["step"] == "install" and kind != "no_install" and reported.get("step") != "installed":
            cert = x509.load_pem_x509_certificate(desired["certificate_pem"].encode())
            mine = self.keys[(name, rid)].public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            theirs = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            if mine != theirs:
                self.report(name, {"id": rid, "step": "failed", "reason": "certificate does not match the pending key"})
                return
            self.installed[name] = desired["certificate_id"]
            self.report(name, {"id": rid, "step": "installed", "certificate_id": desired["certificate_id"]})

    def run(self) -> None:
        while not self.stop.wait(0.1):
            for name in self.names:
                self.step(name)
