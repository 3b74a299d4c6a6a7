"""The local certificate authority of env=local: the broker's server certificate and the devices' client certificates.

IoT Core authenticates devices by X.509 certificates; the local broker does the same with certificates from this CA.
Files live in one directory (mode 0700), private keys 0600:

    ca.key, ca.crt            the CA (EC P-256, 10 years)
    crl.pem                   its revocation list (the broker refuses revoked certificates)
    <name>.key, <name>.crt    a server or client certificate (CN = <name>; a device's CN is its thing name)

Everything is created once and reused; ``ensure_*`` return whether they changed something. Nothing here is a secret
of a real system: the CA exists only on this machine and signs only for 127.0.0.1.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..shared import NAME_RE, CommandError, key_pem, write_private, write_public

CA_DAYS = 3650
LEAF_DAYS = 397
CRL_DAYS = 30


class PkiError(CommandError):
    """The local CA cannot do what it was asked."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass(frozen=True)
class Issued:
    key: Path
    cert: Path


class LocalCA:
    def __init__(self, directory: str | os.PathLike) -> None:
        self.dir = Path(directory)

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def crl(self) -> Path:
        return self.dir / "crl.pem"

    def paths(self, name: str) -> Issued:
        return Issued(self.dir / f"{name}.key", self.dir / f"{name}.crt")

    # --- the CA ------------------------------------------------------------------------------------------------------
    def ensure_ca(self, common_name: str = "smartcity-iot local CA") -> bool:
        if self.ca_key.exists() and self.ca_cert.exists():
            if not self.crl.exists():
                self.write_crl()
                return True
            return False
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        write_private(self.ca_key, key_pem(key))
        write_public(self.ca_cert, cert.public_bytes(serialization.Encoding.PEM))
        self.write_crl()
        return True

    def _load_ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        try:
            key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        except FileNotFoundError as e:
            raise PkiError(f"the local CA in {self.dir} is missing {e.filename}; create it first (pki init)") from e
        return key, cert  # type: ignore[return-value]

    # --- leaf certificates ---------------------------------------------------------------------------------------------
    def ensure_leaf(self, name: str, server: bool = False, hosts: tuple[str, ...] = ()) -> bool:
        """A key and certificate for ``name`` (CN); reissued when missing, expiring within 30 days, or revoked."""
        if not NAME_RE.fullmatch(name):
            raise PkiError(f"certificate name {name!r}: must be 1-64 characters [A-Za-z0-9_.:-] (a thing name)")
        issued = self.paths(name)
        if issued.key.exists() and issued.cert.exists():
            cert = x509.load_pem_x509_certificate(issued.cert.read_bytes())
            fresh = cert.not_valid_after_utc - _now() > datetime.timedelta(days=30)
            if fresh and not self.is_revoked(cert.serial_number):
                return False
        self.issue(name, server=server, hosts=hosts)
        return True

    def issue(self, name: str, server: bool = False, hosts: tuple[str, ...] = ()) -> Issued:
        ca_key, ca_cert = self._load_ca()
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if hosts:
            sans: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    sans.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        issued = self.paths(name)
        write_private(issued.key, key_pem(key))
        write_public(issued.cert, cert.public_bytes(serialization.Encoding.PEM))
        return issued

    def sign_csr(self, csr_pem: str, days: int = LEAF_DAYS) -> str:
        """A client certificate for a device's CSR (its subject and key; what a controller registers at IoT Core).
        The CSR must be well formed and self-signed; what the key and subject must be is the controller's policy."""
        ca_key, ca_cert = self._load_ca()
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError as exc:
            raise PkiError(f"not a PEM certificate signing request: {exc}") from exc
        if not csr.is_signature_valid:
            raise PkiError("the CSR's signature is not valid")
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(ca_cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    # --- revocation ------------------------------------------------------------------------------------------------------
    def revoked_serials(self) -> set[int]:
        if not self.crl.exists():
            return set()
        crl = x509.load_pem_x509_crl(self.crl.read_bytes())
        return {entry.serial_number for entry in crl}

    def is_revoked(self, serial: int) -> bool:
        return serial in self.revoked_serials()

    def revoke(self, name: str) -> bool:
        """Put the current certificate of ``name`` on the CRL (the broker re-reads it when restarted or signalled)."""
        cert = x509.load_pem_x509_certificate(self.paths(name).cert.read_bytes())
        serials = self.revoked_serials()
        if cert.serial_number in serials:
            return False
        self.write_crl(serials | {cert.serial_number})
        return True

    def write_crl(self, serials: set[int] | None = None) -> None:
        ca_key, ca_cert = self._load_ca()
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(now - datetime.timedelta(minutes=5))
            .next_update(now + datetime.timedelta(days=CRL_DAYS))
        )
        for serial in sorted(serials or ()):
            builder = builder.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build())
        crl = builder.sign(ca_key, hashes.SHA256())
        write_public(self.crl, crl.public_bytes(serialization.Encoding.PEM))
