"""Certificate status -> broker: the local broker refuses what IoT Core refuses.

IoT Core refuses a connection whose certificate is not ACTIVE (INACTIVE, REVOKED, PENDING_TRANSFER, ...) or is no
longer registered. The gate (``gate.py``) asks the endpoint at every CONNECT; the TLS layer only knows the CA and its
revocation list, so the bridge also keeps the CRL in step with the endpoint (a refused certificate then fails the
handshake, as before the gate): every few seconds it lists the certificates registered under the local CA (found by its PEM among the
endpoint's CA certificates) and puts on the CRL every one that is not ACTIVE, and every one it saw registered before
that is gone (deleted). A certificate set ACTIVE again comes off the CRL; serials revoked by other means (``pki
revoke``, another region's bridge) stay. The gate re-reads the CRL file when it changes, so NEW connections with such
a certificate are refused from then on; connections already open stay open (the CRL is checked at the handshake).
When the CRL file changed, the broker is still sent SIGHUP (it re-reads its ACL; it has no TLS listener any more).

State (``crl-sync.json`` in the bridge's state dir): the certificate ids seen -> their serial numbers (each
certificate is described once), and the serials this bridge put on the CRL.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..shared import LOG
from .local_ca import LocalCA
from .runtime import error_code, write_json

ACTIVE = "ACTIVE"


def _der(pem: str | bytes) -> bytes:
    data = pem.encode() if isinstance(pem, str) else pem
    return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)


def _pages(call: Any, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    marker = None
    while True:
        response = call(**kwargs, **({"marker": marker} if marker else {}))
        yield from response.get(key, [])
        marker = response.get("nextMarker")
        if not marker:
            return


def file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def mosquitto_pid(pid_file: Path | None) -> int | None:
    """The broker's pid from its pid file, only if that process is a mosquitto (/proc/<pid>/comm)."""
    if pid_file is None:
        return None
    try:
        pid = int(pid_file.read_text().strip())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return None
    return pid if comm == "mosquitto" else None


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """The CA directory is shared by every region's bridge: one CRL writer at a time."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class CertificateIndex:
    """The local CA's certificates registered at the endpoint: the CA's id there (found by its PEM among the
    endpoint's CA certificates), each registered certificate's status, and its serial number (each certificate is
    described once: an id names one PEM for good). Shared by the CRL sync and the gate (``gate.py``), which finds a
    presented certificate here when its id is not the SHA-256 of the PEM it was registered with."""

    def __init__(self, iot: Any, ca: LocalCA, seen: dict[str, int] | None = None) -> None:
        self.iot = iot
        self.ca = ca
        self.ca_id: str | None = None
        self.other_ca_ids: set[str] = set()  # CA certificates of the endpoint that are not ours (described once)
        self.seen: dict[str, int] = seen if seen is not None else {}

    def find_ca(self) -> str | None:
        """The endpoint's id of the local CA (matched by its certificate), cached; None when it is not registered."""
        if self.ca_id is not None:
            return self.ca_id
        ours = _der(self.ca.ca_cert.read_bytes())
        for entry in _pages(self.iot.list_ca_certificates, "certificates"):
            ca_id = entry["certificateId"]
            if ca_id in self.other_ca_ids:
                continue
            pem = self.iot.describe_ca_certificate(certificateId=ca_id)["certificateDescription"]["certificatePem"]
            if _der(pem) == ours:
                self.ca_id = ca_id
                LOG.info("the local CA is registered at the endpoint as %s", ca_id)
                return ca_id
            self.other_ca_ids.add(ca_id)
        return None

    def listing(self) -> dict[str, str] | None:
        """Certificate id -> status of every certificate registered under the local CA, with every new id's serial
        in ``seen``; None when the CA is not registered."""
        ca_id = self.find_ca()
        if ca_id is None:
            return None
        try:
            listed = {c["certificateId"]: c["status"] for c in _pages(self.iot.list_certificates_by_ca, "certificates", caCertificateId=ca_id)}
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":  # the CA was deleted (or the endpoint restarted)
                self.ca_id = None
                return None
            raise
        for cert_id in listed.keys() - self.seen.keys():
            pem = self.iot.describe_certificate(certificateId=cert_id)["certificateDescription"]["certificatePem"]
            self.seen[cert_id] = x509.load_pem_x509_certificate(pem.encode()).serial_number
        return listed


class CrlSync:
    def __init__(self, iot: Any, ca: LocalCA, state_file: Path, broker_pid_file: Path | None = None) -> None:
        self.iot = iot
        self.ca = ca
        self.state_file = state_file
        self.broker_pid_file = broker_pid_file
        state = self._load()
        self.index = CertificateIndex(iot, ca, {k: int(v, 16) for k, v in state.get("seen", {}).items()})
        self.seen = self.index.seen
        self.synced: set[int] = {int(v, 16) for v in state.get("synced", [])}
        self.loaded_crl = file_digest(ca.crl)  # the CRL the broker read last (when it started, or our last SIGHUP)
        self.syncs = 0
        self.errors = 0
        self.signals = 0

    @property
    def ca_id(self) -> str | None:
        return self.index.ca_id

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self) -> None:
        write_json(self.state_file, {"seen": {k: format(v, "x") for k, v in sorted(self.seen.items())}, "synced": sorted(format(s, "x") for s in self.synced)})

    def find_ca(self) -> str | None:
        return self.index.find_ca()

    def refused_serials(self) -> set[int] | None:
        """Serials of the CA's certificates IoT Core would refuse; None when the CA is not registered."""
        listed = self.index.listing()
        if listed is None:
            return None
        refused = {self.seen[c] for c, status in listed.items() if status != ACTIVE}
        refused |= {serial for c, serial in self.seen.items() if c not in listed}
        # a serial registered again as ACTIVE under another id (re-registration) is allowed again
        return refused - {self.seen[c] for c, status in listed.items() if status == ACTIVE}

    def sync(self) -> bool:
        """One round: the CRL in step with the endpoint, and the broker told when the CRL file changed. Returns whether
        this round changed the CRL. Errors of the endpoint propagate (the caller logs them and tries again later)."""
        self.syncs += 1
        refused = self.refused_serials()
        changed = False
        if refused is not None:
            with _locked(self.ca.dir / "crl.lock"):
                current = self.ca.revoked_serials()
                wanted = (current - self.synced) | refused
                if wanted != current:
                    self.ca.write_crl(wanted)
                    changed = True
                    LOG.info(
                        "CRL: %d serial(s) now refused (%d added, %d removed) after the endpoint's certificate status",
                        len(wanted),
                        len(wanted - current),
                        len(current - wanted),
                    )
                self.synced = refused
            self._save()
        self.reload_broker()
        return changed

    def reload_broker(self) -> bool:
        digest = file_digest(self.ca.crl)
        if digest == self.loaded_crl:
            return False
        pid = mosquitto_pid(self.broker_pid_file)
        if pid is None:
            LOG.warning("the CRL changed but %s names no running mosquitto: the broker reads it when it starts", self.broker_pid_file)
            self.loaded_crl = digest
            return False
        os.kill(pid, signal.SIGHUP)
        self.signals += 1
        self.loaded_crl = digest
        LOG.info("sent SIGHUP to mosquitto (pid %d): it reloads the CRL", pid)
        return True

    def stats(self) -> dict[str, Any]:
        return {
            "syncs": self.syncs,
            "errors": self.errors,
            "broker_reloads": self.signals,
            "refused": len(self.synced),
            "ca_registered": self.ca_id is not None,
        }
