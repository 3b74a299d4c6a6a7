"""The gate: what IoT Core checks on every connection and every packet, in front of the local broker.

IoT Core authorizes with the device policy on each MQTT action, and the policy names the thing by the connection:
``iot:Connect`` only on ``client/${iot:Connection.Thing.ThingName}`` while the thing is attached to the certificate,
``iot:Publish``/``iot:Subscribe`` only on the thing's own topics. A refused CONNECT gets no session, and a refused
PUBLISH or SUBSCRIBE closes the connection. Mosquitto cannot do that by itself: a TLS listener with
``use_identity_as_username`` skips every authentication plugin (src/handle_connect.c, "Authentication assumed to be
cleared"), so neither dynamic security's client id pinning nor any plugin sees the client id, and an ACL denial is a
silent drop (a normal PUBACK for MQTT 3.1.1). Mosquitto also knows nothing of the endpoint's certificate registry.

So the gate terminates the devices' mutual TLS on the region's MQTT port (127.0.0.1, TLS 1.2+, a client certificate
of the local CA that is not on its CRL; the CRL file is re-read whenever it changes), reads the MQTT stream of each
client (3.1.1 and 5: fixed header, remaining length, CONNECT, PUBLISH with v5 topic aliases, SUBSCRIBE) and:

- refuses a CONNECT (CONNACK "not authorized": 0x05 for 3.1.1, 0x87 for 5, then closes) whose client id is not the
  certificate's CN, whose certificate is not registered at the endpoint, not ACTIVE, or not attached to the thing
  named as its CN, or whose will topic the policy does not allow; the certificate is looked up at the endpoint on
  every CONNECT (``iot:DescribeCertificate`` by its id, the SHA-256 of its PEM text on moto and of its DER on AWS,
  else by serial among the local CA's registered certificates; ``iot:ListPrincipalThings``), with no cache of the
  status or of the attachment, so a certificate set INACTIVE or detached cannot open a new connection at all;
- closes the connection (MQTT 5: DISCONNECT 0x87 first) on a PUBLISH or SUBSCRIBE the device policy does not allow
  (the template's DevicePolicy: telemetry under its own name, plain and Basic Ingest, and the topics of its own
  named shadow ``cert-rotation``);
- otherwise forwards the client's packets, with the username set to the certificate's CN, to Mosquitto, which
  listens only on a unix socket inside the region's 0700 state directory; Mosquitto's ACL (``%u`` patterns) stays
  the second line and decides what each client receives. The bridge, which is trusted, connects to that socket
  directly under its own name; the gate refuses the bridge's name at the TCP port.

The broker-to-client direction is copied as it comes. Everything runs in one asyncio loop; the endpoint calls run in
a small thread pool so that a slow endpoint delays only the clients that are connecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from ..shared import LOG
from ..topics import ROTATION_SHADOW
from .broker import socket_address
from .crlsync import ACTIVE, CertificateIndex
from .local_ca import LocalCA
from .runtime import Beacon, error_code

MAX_PACKET = 1_048_576 + 5  # the broker's max_packet_size, plus the fixed header
CHUNK = 256 * 1024
CONNECT_TIMEOUT = 10.0  # seconds for the TLS handshake and the CONNECT packet

# packet types (the fixed header's high nibble)
CONNECT, CONNACK, PUBLISH, SUBSCRIBE, DISCONNECT = 1, 2, 3, 8, 14

# MQTT 5 property identifiers -> how their value is encoded (byte, two, four, varint, string, binary, pair)
_PROPERTY_KINDS = {
    0x01: "byte",
    0x02: "four",
    0x03: "string",
    0x08: "string",
    0x09: "binary",
    0x0B: "varint",
    0x11: "four",
    0x12: "string",
    0x13: "two",
    0x15: "string",
    0x16: "binary",
    0x17: "byte",
    0x18: "four",
    0x19: "byte",
    0x1A: "string",
    0x1C: "string",
    0x1F: "string",
    0x21: "two",
    0x22: "two",
    0x23: "two",
    0x24: "byte",
    0x25: "byte",
    0x26: "pair",
    0x27: "four",
    0x28: "byte",
    0x29: "byte",
    0x2A: "byte",
}
TOPIC_ALIAS = 0x23
_FIXED = {"byte": 1, "two": 2, "four": 4}


class ProtocolError(Exception):
    """The stream is not MQTT as the specification writes it: the connection is closed."""


class Refused(Exception):
    """IoT Core would refuse this: the CONNECT gets a "not authorized" CONNACK, a later packet closes the connection."""


# --- MQTT encoding ---------------------------------------------------------------------------------------------------
def read_varint(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int] | None:
    """(value, position after it) of the variable byte integer at pos; None when data ends first."""
    value = 0
    for shift in range(4):
        if pos >= len(data):
            return None
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * shift)
        if not byte & 0x80:
            return value, pos
    raise ProtocolError("malformed variable byte integer")


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def split_packet(buf: bytes | bytearray, pos: int = 0) -> tuple[int, int, int] | None:
    """(first byte, body start, body end) of the packet at pos; None while it is incomplete."""
    if len(buf) - pos < 2:
        return None
    header = read_varint(buf, pos + 1)
    if header is None:
        return None
    length, start = header
    if start - pos + length > MAX_PACKET:
        raise ProtocolError(f"packet of {length} bytes is larger than the broker allows")
    if len(buf) < start + length:
        return None
    return buf[pos], start, start + length


class Reader:
    """Fields of one packet body."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.pos = 0

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.body):
            raise ProtocolError("packet shorter than its fields")
        chunk = self.body[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def two(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def binary(self) -> bytes:
        return self.take(self.two())

    def string(self) -> str:
        try:
            return self.binary().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("a string is not UTF-8") from exc

    def varint(self) -> int:
        decoded = read_varint(self.body, self.pos)
        if decoded is None:
            raise ProtocolError("packet shorter than its fields")
        value, self.pos = decoded
        return value

    def properties(self) -> dict[int, Any]:
        """MQTT 5 properties (the last value of each identifier; enough for what the gate reads)."""
        end = self.varint()
        end += self.pos
        found: dict[int, Any] = {}
        while self.pos < end:
            ident = self.varint()
            kind = _PROPERTY_KINDS.get(ident)
            if kind is None:
                raise ProtocolError(f"unknown property 0x{ident:02x}")
            if kind in _FIXED:
                found[ident] = int.from_bytes(self.take(_FIXED[kind]), "big")
            elif kind == "varint":
                found[ident] = self.varint()
            elif kind == "pair":
                found[ident] = (self.string(), self.string())
            else:
                found[ident] = self.binary()
        if self.pos != end:
            raise ProtocolError("properties overrun their length")
        return found


def _utf8(text: str) -> bytes:
    data = text.encode("utf-8")
    return len(data).to_bytes(2, "big") + data


@dataclass
class Connect:
    version: int  # 4: MQTT 3.1.1, 5: MQTT 5
    client_id: str
    will_topic: str | None
    packet: bytes  # the CONNECT to forward: username = the certificate's CN, no password


def parse_connect(body: bytes, username: str) -> Connect:
    """The CONNECT's client id and will topic, and the packet to forward with the username replaced."""
    r = Reader(body)
    name = r.string()
    level_pos = r.pos
    version = r.byte()
    if (name, version) not in (("MQTT", 4), ("MQTT", 5)):
        raise Refused(f"protocol {name} level {version} (IoT Core speaks MQTT 3.1.1 and 5)")
    flags = r.byte()
    if flags & 0x01:
        raise ProtocolError("reserved CONNECT flag set")
    r.two()  # keep alive
    if version == 5:
        r.properties()
    head_end = r.pos
    client_id = r.string()
    will_start = r.pos
    will_topic = None
    if flags & 0x04:
        if version == 5:
            r.properties()
        will_topic = r.string()
        r.binary()
    will = body[will_start : r.pos]
    if flags & 0x80:
        r.string()
    if flags & 0x40:
        r.binary()
    if r.pos != len(body):
        raise ProtocolError("CONNECT longer than its fields")
    new_flags = (flags | 0x80) & ~0x40  # a username (the CN), no password: the gate has authenticated the client
    rest = body[:level_pos] + bytes([version, new_flags]) + body[level_pos + 2 : head_end] + _utf8(client_id) + will + _utf8(username)
    return Connect(version, client_id, will_topic, bytes([CONNECT << 4]) + varint(len(rest)) + rest)


def connack_refused(version: int, v5_reason: int = 0x87, v3_code: int = 0x05) -> bytes:
    """CONNACK refusing the client: not authorized by default (3.1.1: 0x05; 5: 0x87, no properties)."""
    if version == 5:
        return bytes([CONNACK << 4, 3, 0, v5_reason, 0])
    return bytes([CONNACK << 4, 2, 0, v3_code])


def disconnect_not_authorized(why: str) -> bytes:
    """MQTT 5 DISCONNECT "not authorized" (0x87) with the reason as its Reason String property."""
    reason = _utf8(f"not authorized by the device policy: {why}"[:200])
    properties = bytes([0x1F]) + reason
    body = bytes([0x87]) + varint(len(properties)) + properties
    return bytes([DISCONNECT << 4]) + varint(len(body)) + body


# --- the device policy -----------------------------------------------------------------------------------------------
class Policy:
    """The template's DevicePolicy for one thing (client id = certificate CN = thing name)."""

    def __init__(self, thing: str, rule_name: str) -> None:
        own = re.escape(thing)
        shadow = re.escape(f"$aws/things/{thing}/shadow/name/{ROTATION_SHADOW}/")
        # topic/traffic/*/<thing>/telemetry: one zone level here, as in the broker's ACL and the rule's topic(2)
        self.publish = re.compile(rf"(?:\$aws/rules/{re.escape(rule_name)}/)?traffic/[^/#+]+/{own}/telemetry|{shadow}.*", re.DOTALL)
        # topicfilter/$aws/things/<thing>/shadow/name/cert-rotation/*
        self.subscribe = re.compile(rf"{shadow}.*", re.DOTALL)

    def may_publish(self, topic: str) -> bool:
        return "+" not in topic and "#" not in topic and self.publish.fullmatch(topic) is not None

    def may_subscribe(self, topic_filter: str) -> bool:
        return self.subscribe.fullmatch(topic_filter) is not None


@dataclass
class Session:
    """What the gate tracks of one client's stream after CONNECT."""

    version: int
    thing: str
    policy: Policy
    aliases: dict[int, str] = field(default_factory=dict)

    def check(self, first: int, body: bytes) -> None:
        """Raises Refused when IoT Core would close the connection for this packet."""
        kind = first >> 4
        if kind == PUBLISH:
            topic = self.publish_topic(first, body)
            if not self.policy.may_publish(topic):
                raise Refused(f"PUBLISH on {topic!r}")
        elif kind == SUBSCRIBE:
            r = Reader(body)
            r.two()  # packet id
            if self.version == 5:
                r.properties()
            while r.pos < len(body):
                topic_filter = r.string()
                r.byte()  # options
                if not self.policy.may_subscribe(topic_filter):
                    raise Refused(f"SUBSCRIBE to {topic_filter!r}")
        elif kind == CONNECT:
            raise ProtocolError("a second CONNECT")

    def publish_topic(self, first: int, body: bytes) -> str:
        """The PUBLISH's topic name, an MQTT 5 topic alias resolved (and remembered when it is set)."""
        r = Reader(body)
        topic = r.string()
        if self.version != 5:
            return topic
        if first & 0x06:
            r.two()  # packet id
        alias = r.properties().get(TOPIC_ALIAS)
        if alias is None:
            return topic
        if topic:
            self.aliases[alias] = topic
            return topic
        if alias not in self.aliases:
            raise ProtocolError(f"topic alias {alias} was never set")
        return self.aliases[alias]


# --- the endpoint's certificate registry -----------------------------------------------------------------------------
class Registry:
    """Whether the endpoint lets this certificate connect as this thing: registered, ACTIVE, attached to the thing.

    Asked on every CONNECT (no cache of status or attachment). Only the id -> serial map of the local CA's registered
    certificates (``CertificateIndex``, shared with the CRL sync) is kept: an id always names the same certificate."""

    def __init__(self, iot: Any, ca: LocalCA, index_seconds: float = 1.0) -> None:
        self.iot = iot
        self.index = CertificateIndex(iot, ca)
        self.index_seconds = index_seconds
        self.listed: dict[str, str] = {}
        self.listed_at = -1e9

    def _describe(self, cert_id: str) -> dict[str, Any] | None:
        try:
            return self.iot.describe_certificate(certificateId=cert_id)["certificateDescription"]
        except Exception as exc:
            if error_code(exc) in ("ResourceNotFoundException", "InvalidRequestException"):
                return None
            raise

    def _by_serial(self, cert: x509.Certificate, der: bytes) -> dict[str, Any] | None:
        """The registration of this certificate found among the local CA's (registered with other PEM text). A
        listing up to ``index_seconds`` old is used first; when it does not hold the certificate, the CA's
        certificates are listed again (the certificate may have been registered since), once per CONNECT."""
        fresh = time.monotonic() - self.listed_at > self.index_seconds
        if fresh:
            self._list()
        found = self._find(cert, der)
        if found is None and not fresh:
            self._list()
            found = self._find(cert, der)
        return found

    def _list(self) -> None:
        self.listed = self.index.listing() or {}
        self.listed_at = time.monotonic()

    def _find(self, cert: x509.Certificate, der: bytes) -> dict[str, Any] | None:
        for cert_id, serial in list(self.index.seen.items()):
            if serial == cert.serial_number and cert_id in self.listed:
                description = self._describe(cert_id)
                pem = (description or {}).get("certificatePem", "")
                if pem and x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER) == der:
                    return description
        return None

    def refusal(self, der: bytes, thing: str) -> str | None:
        """Why IoT Core would refuse this certificate for this thing, or None when it connects."""
        cert = x509.load_der_x509_certificate(der)
        pem = cert.public_bytes(serialization.Encoding.PEM)
        description = None
        for cert_id in (hashlib.sha256(pem).hexdigest(), hashlib.sha256(der).hexdigest()):  # moto's id, AWS's id
            description = self._describe(cert_id)
            if description is not None:
                break
        if description is None:
            description = self._by_serial(cert, der)
        if description is None:
            return "its certificate is not registered at the endpoint"
        if description.get("status") != ACTIVE:
            return f"its certificate {description['certificateId']} is {description.get('status')}, not ACTIVE"
        things: list[str] = []
        token = None
        while True:
            response = self.iot.list_principal_things(principal=description["certificateArn"], **({"nextToken": token} if token else {}))
            things.extend(response.get("things", []))
            token = response.get("nextToken")
            if not token:
                break
        if thing not in things:
            return f"its certificate {description['certificateId']} is not attached to the thing {thing} (attached: {', '.join(things) or 'none'})"
        return None


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value if isinstance(value, str) else value.decode()


# --- the gate --------------------------------------------------------------------------------------------------------
@dataclass
class GateStats:
    connections: int = 0
    accepted: int = 0
    refused_tls: int = 0
    refused_connect: int = 0
    closed_by_policy: int = 0
    open: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    check_ms: list[float] = field(default_factory=list)


class Gate:
    def __init__(
        self,
        registry: Registry,
        ca: LocalCA,
        server_name: str,
        broker_socket: str,
        rule_name: str,
        reserved: tuple[str, ...],
        host: str,
        port: int,
        beacon: Beacon | None = None,
        workers: int = 8,
    ) -> None:
        self.registry = registry
        self.ca = ca
        self.server = ca.paths(server_name)
        self.broker_socket = broker_socket
        self.broker_address = socket_address(broker_socket)
        self.rule_name = rule_name
        self.reserved = set(reserved)
        self.host, self.port = host, port
        self.beacon = beacon
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gate-endpoint")
        self.stats = GateStats()
        self.context: ssl.SSLContext | None = None
        self.crl_signature: tuple[int, int, int] | None = None
        self.stopping: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.clients: set[asyncio.StreamWriter] = set()

    # --- TLS -------------------------------------------------------------------------------------------------------
    def _crl_signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.ca.crl)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns

    def tls_context(self) -> ssl.SSLContext:
        """The server context with the CA's current CRL (re-read when the file changed)."""
        signature = self._crl_signature()
        if self.context is not None and signature == self.crl_signature:
            return self.context
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.server.cert), str(self.server.key))
        context.load_verify_locations(cafile=str(self.ca.ca_cert))
        context.verify_mode = ssl.CERT_REQUIRED
        if signature is not None:
            context.load_verify_locations(cafile=str(self.ca.crl))
            context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        if self.context is not None:
            LOG.info("the CA's revocation list changed: new connections are checked against it")
        self.context, self.crl_signature = context, signature
        return context

    # --- one client --------------------------------------------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        peer = writer.get_extra_info("peername")
        where = f"{peer[0]}:{peer[1]}" if peer else "?"
        upstream: asyncio.StreamWriter | None = None
        try:
            try:
                await writer.start_tls(self.tls_context(), ssl_handshake_timeout=CONNECT_TIMEOUT)
            except (ssl.SSLError, OSError, asyncio.TimeoutError) as exc:
                self.stats.refused_tls += 1
                LOG.warning("client %s refused in TLS: %s", where, exc)
                return
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            admitted = await self._admit(reader, writer, der, where)
            if admitted is None:
                return
            upstream_reader, upstream, session = admitted
            self.stats.accepted += 1
            self.stats.open += 1
            self.clients.add(writer)
            try:
                await self._relay(reader, writer, upstream_reader, upstream, session, where)
            finally:
                self.stats.open -= 1
                self.clients.discard(writer)
        except (ProtocolError, asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError) as exc:
            LOG.info("client %s closed: %s", where, exc or type(exc).__name__)
        finally:
            for w in (upstream, writer):
                if w is not None:
                    w.close()
                    with contextlib.suppress(Exception):
                        await w.wait_closed()

    async def _read_packet(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        first = (await reader.readexactly(1))[0]
        length, shift = 0, 0
        for _index in range(4):
            byte = (await reader.readexactly(1))[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        else:
            raise ProtocolError("malformed remaining length")
        if length > MAX_PACKET:
            raise ProtocolError(f"packet of {length} bytes is larger than the broker allows")
        return first, await reader.readexactly(length)

    async def _admit(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, der: bytes, where: str) -> tuple[Any, Any, Session] | None:
        """The CONNECT checked as IoT Core does: the broker connection (the CONNECT sent) and the session, or None."""
        cert = x509.load_der_x509_certificate(der)
        cn = common_name(cert)
        first, body = await asyncio.wait_for(self._read_packet(reader), CONNECT_TIMEOUT)
        if first != CONNECT << 4:
            raise ProtocolError(f"the first packet is not a CONNECT (0x{first:02x})")
        version = 5 if len(body) > 6 and body[6] == 5 else 4
        try:
            connect = parse_connect(body, cn)
            policy = Policy(cn, self.rule_name)
            if connect.client_id != cn:
                raise Refused(f"client id {connect.client_id!r} is not its certificate's CN {cn!r}")
            if cn in self.reserved:
                raise Refused(f"{cn!r} is reserved for the data plane (it connects on the broker's own socket)")
            if connect.will_topic is not None and not policy.may_publish(connect.will_topic):
                raise Refused(f"will topic {connect.will_topic!r} is not allowed by the device policy")
            started = time.monotonic()
            try:
                why = await asyncio.get_running_loop().run_in_executor(self.executor, self.registry.refusal, der, cn)
            except Exception as exc:  # the endpoint is down: IoT Core's authorizer would be unavailable
                LOG.error("client %s (%s): the endpoint could not be asked about its certificate: %s", where, cn, exc)
                writer.write(connack_refused(version, 0x88, 0x03))  # server unavailable
                await writer.drain()
                self.stats.refused_connect += 1
                return None
            self.stats.check_ms.append((time.monotonic() - started) * 1000)
            if len(self.stats.check_ms) > 10000:
                del self.stats.check_ms[:5000]
            if why:
                raise Refused(why)
        except Refused as exc:
            self.stats.refused_connect += 1
            LOG.warning("client %s (CN %s) refused at CONNECT: %s", where, cn, exc)
            writer.write(connack_refused(version))
            await writer.drain()
            return None
        up_reader, up_writer = await asyncio.open_unix_connection(self.broker_address, limit=MAX_PACKET)
        up_writer.write(connect.packet)
        LOG.info("client %s connected as %s", where, cn)
        return up_reader, up_writer, Session(connect.version, cn, policy)

    async def _relay(self, reader: Any, writer: Any, up_reader: Any, upstream: Any, session: Session, where: str) -> None:
        inbound = asyncio.ensure_future(self._inbound(reader, upstream, writer, session, where))
        outbound = asyncio.ensure_future(self._outbound(up_reader, writer))
        done, pending = await asyncio.wait({inbound, outbound}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in done:
            exc = task.exception()
            if exc is not None and not isinstance(exc, (ConnectionError, asyncio.IncompleteReadError)):
                raise exc

    async def _inbound(self, reader: Any, upstream: Any, writer: Any, session: Session, where: str) -> None:
        """Client -> broker: whole packets, each checked against the device policy."""
        buf = bytearray()
        while True:
            chunk = await reader.read(CHUNK)
            if not chunk:
                return
            buf += chunk
            pos = 0
            try:
                while True:
                    packet = split_packet(buf, pos)
                    if packet is None:
                        break
                    first, start, end = packet
                    if first >> 4 in (PUBLISH, SUBSCRIBE, CONNECT):
                        session.check(first, bytes(buf[start:end]))
                    pos = end
            except Refused as exc:
                if pos:
                    upstream.write(bytes(buf[:pos]))  # what came before it is the client's and allowed
                self.stats.closed_by_policy += 1
                LOG.warning("client %s (CN %s) disconnected: the device policy does not allow its %s", where, session.thing, exc)
                if session.version == 5:
                    writer.write(disconnect_not_authorized(str(exc)))
                with contextlib.suppress(ConnectionError):
                    await upstream.drain()
                    await writer.drain()
                return
            if pos:
                self.stats.bytes_in += pos
                upstream.write(bytes(buf[:pos]))
                del buf[:pos]
                await upstream.drain()

    async def _outbound(self, up_reader: Any, writer: Any) -> None:
        """Broker -> client, as it comes (Mosquitto's ACL already decided what the client receives)."""
        while True:
            chunk = await up_reader.read(CHUNK)
            if not chunk:
                return
            self.stats.bytes_out += len(chunk)
            writer.write(chunk)
            await writer.drain()

    # --- server ------------------------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        checks = sorted(self.stats.check_ms[-5000:])

        def pct(p: float) -> float | None:
            return round(checks[min(len(checks) - 1, int(len(checks) * p / 100))], 2) if checks else None

        s = self.stats
        return {
            "component": "gate",
            "connections": s.connections,
            "accepted": s.accepted,
            "refused_tls": s.refused_tls,
            "refused_connect": s.refused_connect,
            "closed_by_policy": s.closed_by_policy,
            "open": s.open,
            "bytes_in": s.bytes_in,
            "bytes_out": s.bytes_out,
            "check_ms": {"p50": pct(50), "p95": pct(95), "p99": pct(99)},
            "time": time.time(),
        }

    def _broker_answers(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1)
            try:
                probe.connect(self.broker_address)
            except OSError:
                return False
        return True

    async def serve(self, max_seconds: float | None = None, wait_broker: float = 30.0) -> None:
        self.stopping = asyncio.Event()
        deadline = time.monotonic() + wait_broker
        while not self._broker_answers():
            if time.monotonic() > deadline:
                raise ConnectionError(f"the broker's socket {self.broker_socket} does not answer")
            await asyncio.sleep(0.1)
        self.tls_context()
        server = await asyncio.start_server(self.handle, self.host, self.port, limit=MAX_PACKET, backlog=1024)
        LOG.info("gate on %s:%d (mutual TLS, the device policy) -> broker %s", self.host, self.port, self.broker_socket)
        started = time.monotonic()
        try:
            while not self.stopping.is_set():
                if max_seconds is not None and time.monotonic() - started > max_seconds:
                    break
                if self.beacon is not None:
                    self.beacon.beat(self.snapshot())
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), 1.0)
        finally:
            server.close()
            for writer in list(self.clients):
                writer.close()
            await asyncio.sleep(0.1)
            if self.beacon is not None:
                self.beacon.beat(self.snapshot(), healthy=False, force=True)
            self.executor.shutdown(wait=False, cancel_futures=True)

    def run(self, max_seconds: float | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self.serve(max_seconds))
        finally:
            self.loop.close()

    def stop(self) -> None:
        """From a signal handler: ends serve() at its next tick."""
        if self.loop is not None and self.stopping is not None:
            self.loop.call_soon_threadsafe(self.stopping.set)


class Enroller:
    """``cert_for`` of the simulator's MQTT transport for the local CA's devices: the device's certificate issued
    (once) and enrolled at the endpoint (``enroll``), so that the gate lets it in as IoT Core would."""

    def __init__(self, iot: Any, ca: LocalCA) -> None:
        self.iot = iot
        self.ca = ca
        self.index = CertificateIndex(iot, ca)
        self.lock = threading.Lock()
        self.enrolled: dict[str, str] = {}  # thing -> certificate id

    def __call__(self, thing: str) -> tuple[str, str]:
        with self.lock:
            self.ca.ensure_leaf(thing)
            if thing not in self.enrolled:
                self.enrolled[thing] = enroll(self.iot, self.ca, self.index, thing)
        paths = self.ca.paths(thing)
        return str(paths.cert), str(paths.key)

    def remove_all(self) -> int:
        """Undo what this enroller did at the endpoint (a tool's devices leave no things or certificates behind): each
        certificate detached, set INACTIVE and deleted, each thing deleted. Returns how many devices were removed."""
        removed = 0
        with self.lock:
            for thing, cert_id in sorted(self.enrolled.items()):
                arn = self.iot.describe_certificate(certificateId=cert_id)["certificateDescription"]["certificateArn"]
                self.iot.detach_thing_principal(thingName=thing, principal=arn)
                self.iot.update_certificate(certificateId=cert_id, newStatus="INACTIVE")
                self.iot.delete_certificate(certificateId=cert_id)
                self.iot.delete_thing(thingName=thing)
                removed += 1
            self.enrolled.clear()
        return removed


def enroll(iot: Any, ca: LocalCA, index: CertificateIndex, thing: str) -> str:
    """What the device_fleet role does for a device, for the local CA's certificate of ``thing`` (the simulator's,
    the smoke test's and the benchmark's devices): the CA registered once, the certificate registered ACTIVE, the
    thing created and attached. Idempotent; returns the certificate id."""
    pem = ca.paths(thing).cert.read_text()
    ca_pem = ca.ca_cert.read_text()
    index.ca_id = None  # asked again: the endpoint may have been restarted (state lost) since
    if index.find_ca() is None:
        iot.register_ca_certificate(caCertificate=ca_pem, verificationCertificate="unused", setAsActive=True, allowAutoRegistration=False)
        index.ca_id = None
    try:
        registered = iot.register_certificate(certificatePem=pem, caCertificatePem=ca_pem, status=ACTIVE)
    except Exception as exc:
        if error_code(exc) != "ResourceAlreadyExistsException":
            raise
        registered = iot.describe_certificate(certificateId=hashlib.sha256(pem.encode()).hexdigest())["certificateDescription"]
        if registered.get("status") != ACTIVE:
            iot.update_certificate(certificateId=registered["certificateId"], newStatus=ACTIVE)
    try:
        iot.create_thing(thingName=thing)
    except Exception as exc:
        if error_code(exc) != "ResourceAlreadyExistsException":
            raise
    iot.attach_thing_principal(thingName=thing, principal=registered["certificateArn"])
    return registered["certificateId"]
