"""The device side of certificate rotation: the key store and the rotation agent (the simulator's devices).

The channel is the thing's named shadow ``cert-rotation`` (the contract in docs/contracts.md; the controller is the
collection's rotation module). The agent acts on the FULL desired document from ``get/accepted``: it publishes an
empty ``.../cert-rotation/get`` when it connects and every poll interval, and a ``delta`` only makes it get at once.

    desired {"id": R, "step": "csr"}      -> new key <thing>.<R>.key (0600), reported {"id": R, "step": "csr", "csr": PEM}
    desired {"id": R, "step": "install", "certificate_id": C, "certificate_pem": PEM}
        -> the certificate must carry the pending key and CN = the thing name (else reported failed, with the reason);
           the device moves to it without losing a reading (MqttTransport.switch), and after the first telemetry
           PUBACK over the new connection replaces <thing>.key/.crt (the old pair kept as <thing>.old.key/.crt) and
           reports {"id": R, "step": "installed", "certificate_id": C}; refused by the broker: back on the old
           certificate, reported failed
    desired {"id": R, "step": "done"}     -> the old pair removed, reported {"id": R, "step": "done"}

Behaviours for tests (``--rotation-behaviour THING=KIND``): ignore (never answers), no_install (sends the CSR, never
installs), garbage_csr, wrong_subject (CN is not the thing name), weak_rsa (RSA-1024), bad_curve (secp256k1).

Key store (``--device-dir``): <thing>.key / <thing>.crt the current identity, <thing>.crt.id its certificate id (when
the controller named it), <thing>.csr the enrollment CSR (``devices init``), <thing>.<R>.key a pending rotation key.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ..shared import LOG, NAME_RE, CommandError, key_pem, write_private, write_public
from ..topics import rotation_topic

ROTATION_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")
GARBAGE_CSR = "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n"


class StoreError(CommandError):
    """The device key store cannot do what it was asked."""


def _public_der(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def new_key(behaviour: str | None = None) -> Any:
    if behaviour == "weak_rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)
    if behaviour == "bad_curve":
        return ec.generate_private_key(ec.SECP256K1())
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(key: Any, common_name: str) -> str:
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


class DeviceStore:
    """The devices' keys and certificates in one directory (mode 0700), private keys 0600."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.dir = Path(directory)

    def key(self, thing: str, rotation: str | None = None) -> Path:
        return self.dir / (f"{thing}.{rotation}.key" if rotation else f"{thing}.key")

    def cert(self, thing: str, rotation: str | None = None) -> Path:
        return self.dir / (f"{thing}.{rotation}.crt" if rotation else f"{thing}.crt")

    def csr(self, thing: str) -> Path:
        return self.dir / f"{thing}.csr"

    def old(self, thing: str) -> tuple[Path, Path]:
        return self.dir / f"{thing}.old.key", self.dir / f"{thing}.old.crt"

    def _mkdir(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)

    def init(self, thing: str) -> Path:
        """An EC P-256 key and an enrollment CSR (CN = thing) for ``thing``; an existing key is kept."""
        if not NAME_RE.fullmatch(thing):
            raise StoreError(f"thing name {thing!r}: must be 1-64 characters [A-Za-z0-9_.:-]")
        self._mkdir()
        key_path = self.key(thing)
        if key_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        else:
            key = new_key()
            write_private(key_path, key_pem(key))
        csr_path = self.csr(thing)
        current = None
        if csr_path.exists():
            try:
                current = x509.load_pem_x509_csr(csr_path.read_bytes())
            except ValueError:
                current = None
        if current is None or _public_der(current.public_key()) != _public_der(key.public_key()):
            write_public(csr_path, make_csr(key, thing).encode())
        return csr_path

    def current(self, thing: str) -> tuple[str, str]:
        """(cert, key) of the thing's current identity."""
        cert, key = self.cert(thing), self.key(thing)
        if not cert.exists() or not key.exists():
            raise ConnectionError(f"{thing}: no certificate in the device key store {self.dir} ({cert.name} and {key.name}); enroll the device first")
        return str(cert), str(key)

    def pending_key(self, thing: str, rotation: str, behaviour: str | None = None) -> Any:
        """The key of rotation R: made once (a repeated csr step reports the same key)."""
        path = self.key(thing, rotation)
        if path.exists():
            return serialization.load_pem_private_key(path.read_bytes(), password=None)
        self._mkdir()
        key = new_key(behaviour)
        write_private(path, key_pem(key))
        return key

    def check_certificate(self, thing: str, rotation: str, certificate_pem: str) -> str | None:
        """Why the certificate cannot be installed for rotation R (None: it can)."""
        path = self.key(thing, rotation)
        if not path.exists():
            return f"no pending key for rotation {rotation} (no CSR was made for it)"
        try:
            cert = x509.load_pem_x509_certificate(certificate_pem.encode())
        except (ValueError, AttributeError):
            return "certificate_pem is not a PEM certificate"
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if _public_der(cert.public_key()) != _public_der(key.public_key()):
            return "the certificate's public key is not the pending key of this rotation"
        names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        if names != [thing]:
            return f"the certificate's subject CN is {names[0] if names else 'missing'!r}, not the thing name {thing!r}"
        return None

    def stage(self, thing: str, rotation: str, certificate_pem: str, certificate_id: str) -> tuple[str, str]:
        """The new certificate next to its pending key (<thing>.<R>.crt and .crt.id): what the switch connects with."""
        cert = self.cert(thing, rotation)
        write_public(cert, certificate_pem.encode())
        write_public(Path(str(cert) + ".id"), certificate_id.encode())
        return str(cert), str(self.key(thing, rotation))

    def install(self, thing: str, rotation: str) -> None:
        """The staged pair becomes the current identity; the old pair is kept until the done step. Each file is replaced
        by a rename (atomic); the key first, so that a crash between leaves the new key with the old certificate
        recoverable from <thing>.old.* and <thing>.<R>.crt."""
        old_key, old_cert = self.old(thing)
        key, cert, cert_id = self.key(thing), self.cert(thing), Path(str(self.cert(thing)) + ".id")
        if key.exists():
            os.replace(key, old_key)
        if cert.exists():
            os.replace(cert, old_cert)
        if cert_id.exists():
            os.replace(cert_id, Path(str(old_cert) + ".id"))
        os.replace(self.key(thing, rotation), key)
        os.replace(Path(str(self.cert(thing, rotation)) + ".id"), cert_id)
        os.replace(self.cert(thing, rotation), cert)

    def discard_old(self, thing: str) -> None:
        old_key, old_cert = self.old(thing)
        for path in (old_key, old_cert, Path(str(old_cert) + ".id")):
            if path.exists():
                path.unlink()


@dataclass
class RotationOptions:
    store: DeviceStore
    poll_seconds: float = 2.0
    behaviours: dict[str, str] = field(default_factory=dict)  # thing -> one of BEHAVIOURS
    switch_timeout: float = 30.0  # in-flight PUBACKs before the switch, and the first PUBACK after it


def csr_for(thing: str, key: Any, behaviour: str | None) -> str:
    """The CSR the device reports (its flaw, for a test behaviour)."""
    if behaviour == "garbage_csr":
        return GARBAGE_CSR
    if behaviour == "wrong_subject":
        return make_csr(key, f"not-{thing}")
    return make_csr(key, thing)


class RotationAgent:
    """One device's agent: its own worker thread; paho's network thread only queues what arrives."""

    def __init__(self, device: str, transport: Any, options: RotationOptions) -> None:
        self.device = device
        self.transport = transport
        self.options = options
        self.behaviour = options.behaviours.get(device)
        self.inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"rotation-{device}", daemon=True)
        self.installed: list[str] = []
        self.failures: list[dict[str, str]] = []
        self.reported: list[dict[str, Any]] = []  # every reported state it sent (tests)
        self.sent: dict[tuple[str, str], tuple[dict[str, Any], float]] = {}  # (R, desired step) -> (its answer, when)
        self.gets = 0

    def topic(self, suffix: str) -> str:
        return rotation_topic(self.device, suffix)

    # --- threads ---------------------------------------------------------------------------------------------------------
    def start(self) -> None:
        topics = [self.topic(s) for s in ("get/accepted", "get/rejected", "update/accepted", "update/rejected", "update/delta")]
        self.transport.subscribe(self.device, topics, self._on_message)
        self.thread.start()

    def _on_message(self, topic: str, payload: bytes) -> None:  # paho's network thread: queue only
        self.inbox.put((topic, payload))

    def stop(self) -> None:
        self.stopping.set()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def _run(self) -> None:
        next_get = 0.0
        while not self.stopping.is_set():
            now = time.monotonic()
            if now >= next_get:
                self.gets += 1
                self.transport.send_control(self.device, self.topic("get"), b"")
                next_get = now + self.options.poll_seconds
            try:
                topic, payload = self.inbox.get(timeout=max(0.01, min(0.2, next_get - now)))
            except queue.Empty:
                continue
            if topic.endswith("/update/delta"):
                next_get = 0.0  # a delta lists only what changed: act on the full document
            elif topic.endswith("/get/accepted"):
                try:
                    self.act(json.loads(payload))
                except Exception:  # a bad document must not stop the agent
                    LOG.exception("%s: rotation step failed", self.device)
            elif topic.endswith("/rejected"):
                LOG.debug("%s: %s %s", self.device, topic, payload[:200])

    # --- the protocol ----------------------------------------------------------------------------------------------------
    def report(self, step: str, state: dict[str, Any]) -> None:
        """Answer the desired ``step`` of rotation state["id"] with the reported ``state`` (remembered, see act)."""
        self.sent[(state["id"], step)] = (state, time.monotonic())
        self.reported.append(state)
        self._publish_report(state)

    def _publish_report(self, state: dict[str, Any]) -> None:
        self.transport.send_control(self.device, self.topic("update"), json.dumps({"state": {"reported": {"rotation": state}}}).encode())

    def fail(self, rotation: str, reason: str) -> None:
        LOG.warning("%s: rotation %s failed: %s", self.device, rotation, reason)
        self.failures.append({"id": rotation, "reason": reason})
        self.report("install", {"id": rotation, "step": "failed", "reason": reason})

    def act(self, document: dict[str, Any]) -> None:
        """One step of the protocol for the full shadow document; repeated documents repeat nothing."""
        state = document.get("state") or {}
        desired = (state.get("desired") or {}).get("rotation") or {}
        reported = (state.get("reported") or {}).get("rotation") or {}
        rotation, step = str(desired.get("id") or ""), desired.get("step")
        if not rotation or self.behaviour == "ignore":
            return
        if not set(rotation) <= ROTATION_ID_CHARS or len(rotation) > 64:
            return  # never a file name from an odd id
        answered = reported.get("id") == rotation
        store = self.options.store
        if (rotation, step) in self.sent:
            # done already (a document read before our answer arrived must not repeat an install); the answer is sent
            # again only if the shadow still does not show it after a few polls (lost on the way)
            answer, when = self.sent[(rotation, step)]
            shown = answered and reported.get("step") == answer["step"]
            if not shown and time.monotonic() - when > 3 * self.options.poll_seconds:
                self.sent[(rotation, step)] = (answer, time.monotonic())
                self._publish_report(answer)
            return
        if step == "csr":
            if answered and reported.get("step") in ("csr", "installed", "failed", "done"):
                return
            key = store.pending_key(self.device, rotation, self.behaviour)
            self.report("csr", {"id": rotation, "step": "csr", "csr": csr_for(self.device, key, self.behaviour)})
        elif step == "install":
            if self.behaviour == "no_install" or (answered and reported.get("step") in ("installed", "failed", "done")):
                return
            self.install(rotation, str(desired.get("certificate_id") or ""), str(desired.get("certificate_pem") or ""))
        elif step == "done":
            if answered and reported.get("step") == "done":
                return
            store.discard_old(self.device)
            self.report("done", {"id": rotation, "step": "done"})

    def install(self, rotation: str, certificate_id: str, certificate_pem: str) -> None:
        store = self.options.store
        problem = store.check_certificate(self.device, rotation, certificate_pem)
        if not problem and not certificate_id:
            problem = "the install step names no certificate_id"
        if problem:
            self.fail(rotation, problem)
            return
        cert, key = store.stage(self.device, rotation, certificate_pem, certificate_id)
        from .simulator import SwitchError  # noqa: PLC0415  pylint: disable=import-outside-toplevel

        try:
            first_ack = self.transport.switch(self.device, cert, key, self.options.switch_timeout)
        except (SwitchError, ConnectionError) as exc:
            self.fail(rotation, f"could not connect with the new certificate: {exc}")
            return
        if not first_ack.wait(self.options.switch_timeout):
            # connected, but no telemetry confirmed it: back to the old identity, which still works
            old_cert, old_key = store.current(self.device)
            try:
                self.transport.switch(self.device, old_cert, old_key, self.options.switch_timeout)
            except (SwitchError, ConnectionError) as exc:
                LOG.error("%s: back to the old certificate failed too: %s", self.device, exc)
            self.fail(rotation, f"no telemetry PUBACK over the new connection within {self.options.switch_timeout:.0f}s")
            return
        store.install(self.device, rotation)
        self.installed.append(certificate_id)
        LOG.info("%s: rotation %s installed certificate %s", self.device, rotation, certificate_id)
        self.report("install", {"id": rotation, "step": "installed", "certificate_id": certificate_id})

    def result(self) -> dict[str, Any]:
        return {
            "behaviour": self.behaviour,
            "installed": list(self.installed),
            "failures": list(self.failures),
            "certificate_id": self.transport.certificate_id(self.device),
            "gets": self.gets,
        }
