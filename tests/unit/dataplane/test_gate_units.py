"""The gate's MQTT reading and the device policy, without servers (the gate with real clients:
tests/integration/test_broker_policy.py)."""

from __future__ import annotations

import sys

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from conftest import ROOT

sys.path.insert(0, str(ROOT / "files" / "dataplane"))

from iot_dataplane.local_aws.gate import (
    Policy,
    ProtocolError,
    Reader,
    Refused,
    Session,
    connack_refused,
    disconnect_not_authorized,
    parse_connect,
    split_packet,
    varint,
)


def _s(text: str) -> bytes:
    return len(text.encode()).to_bytes(2, "big") + text.encode()


def _connect_body(version: int, client_id: str, username: str | None = None, password: bytes | None = None,
                  will: tuple[str, bytes] | None = None) -> bytes:
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0) | (0x0C if will else 0)
    props = b"\x05\x11\x00\x00\x0e\x10" if version == 5 else b""  # session expiry 3600
    body = _s("MQTT") + bytes([version, flags]) + b"\x00\x1e" + props + _s(client_id)
    if will:
        body += (b"\x00" if version == 5 else b"") + _s(will[0]) + len(will[1]).to_bytes(2, "big") + will[1]
    if username is not None:
        body += _s(username)
    if password is not None:
        body += len(password).to_bytes(2, "big") + password
    return body


@pytest.mark.parametrize("version", [4, 5])
def test_connect_is_forwarded_with_the_cn_as_username_and_no_password(version: int) -> None:
    body = _connect_body(version, "dev-1", username="someone-else", password=b"secret", will=("traffic/z/dev-1/telemetry", b"bye"))
    connect = parse_connect(body, "dev-1")
    assert (connect.version, connect.client_id, connect.will_topic) == (version, "dev-1", "traffic/z/dev-1/telemetry")
    first, start, end = split_packet(connect.packet)
    assert first == 0x10 and end == len(connect.packet)
    again = parse_connect(connect.packet[start:end], "dev-1")
    assert again.client_id == "dev-1" and again.will_topic == "traffic/z/dev-1/telemetry"
    rewritten = connect.packet[start:end]
    assert rewritten.endswith(_s("dev-1")) and b"secret" not in rewritten and b"someone-else" not in rewritten
    assert rewritten[7] & 0xC0 == 0x80  # username flag, no password flag
    # keep alive, properties and the will are kept as they were
    assert rewritten[8:10] == b"\x00\x1e" and b"bye" in rewritten


def test_connect_of_another_protocol_is_refused_and_garbage_is_a_protocol_error() -> None:
    with pytest.raises(Refused, match="level 3"):
        parse_connect(_s("MQIsdp") + b"\x03\x02\x00\x1e" + _s("x"), "x")
    with pytest.raises(ProtocolError):
        parse_connect(_s("MQTT") + b"\x04\x02\x00", "x")


def test_connack_and_disconnect_say_not_authorized() -> None:
    assert connack_refused(4) == b"\x20\x02\x00\x05"
    assert connack_refused(5) == b"\x20\x03\x00\x87\x00"
    packet = disconnect_not_authorized("PUBLISH on 'x'")
    first, start, end = split_packet(packet)
    assert first == 0xE0 and packet[start] == 0x87 and end == len(packet)
    r = Reader(packet[start + 1 : end])
    assert "PUBLISH on 'x'" in r.properties()[0x1F].decode()


def test_packets_are_split_by_their_remaining_length() -> None:
    assert varint(0) == b"\x00" and varint(127) == b"\x7f" and varint(128) == b"\x80\x01" and varint(16384) == b"\x80\x80\x01"
    packet = b"\x30" + varint(200) + b"x" * 200
    assert split_packet(packet) == (0x30, 3, 203)
    assert split_packet(packet[:100]) is None
    assert split_packet(b"\x30\x80") is None
    with pytest.raises(ProtocolError):
        split_packet(b"\x30" + varint(2_000_000))


def test_the_device_policy_is_the_templates() -> None:
    policy = Policy("dev-1", "city_rule")
    allowed = ["traffic/z/dev-1/telemetry", "$aws/rules/city_rule/traffic/z/dev-1/telemetry",
               "$aws/things/dev-1/shadow/name/cert-rotation/get", "$aws/things/dev-1/shadow/name/cert-rotation/update"]
    forbidden = ["traffic/z/dev-2/telemetry", "traffic/z/dev-1/telemetry/x", "traffic//dev-1/telemetry", "traffic/+/dev-1/telemetry",
                 "$aws/rules/other/traffic/z/dev-1/telemetry", "$aws/things/dev-1/shadow/get", "$aws/things/dev-10/shadow/name/cert-rotation/get",
                 "$aws/things/dev-1/shadow/name/cert-rotation", "traffic/z/dev.1/telemetry", "$aws/things/dev-1/jobs/get"]
    assert [t for t in allowed if not policy.may_publish(t)] == []
    assert [t for t in forbidden if policy.may_publish(t)] == []
    assert policy.may_subscribe("$aws/things/dev-1/shadow/name/cert-rotation/#")
    assert policy.may_subscribe("$aws/things/dev-1/shadow/name/cert-rotation/+/accepted")
    for topic_filter in ("#", "traffic/#", "$aws/things/+/shadow/name/cert-rotation/#", "$aws/things/dev-1/shadow/#"):
        assert not policy.may_subscribe(topic_filter), topic_filter
    # the thing name is matched literally, not as a pattern
    assert not Policy("dev.1", "r").may_publish("traffic/z/devx1/telemetry")


def _publish(topic: str, alias: int | None = None, qos: int = 1) -> tuple[int, bytes]:
    props = b""
    if alias is not None:
        p = Properties(PacketTypes.PUBLISH)
        p.TopicAlias = alias
        props = p.pack()
    else:
        props = b"\x00"
    return 0x30 | (qos << 1), _s(topic) + (b"\x00\x01" if qos else b"") + props + b"{}"


def test_a_session_resolves_topic_aliases_and_refuses_what_the_policy_forbids() -> None:
    session = Session(5, "dev-1", Policy("dev-1", "r"))
    session.check(*_publish("traffic/z/dev-1/telemetry", alias=3))
    session.check(*_publish("", alias=3))
    with pytest.raises(Refused, match="traffic/z/dev-2/telemetry"):
        session.check(*_publish("traffic/z/dev-2/telemetry", alias=3))
    with pytest.raises(ProtocolError, match="alias 9"):
        session.check(*_publish("", alias=9))
    v3 = Session(4, "dev-1", Policy("dev-1", "r"))
    v3.check(0x30, _s("traffic/z/dev-1/telemetry") + b"{}")  # QoS 0: no packet id
    with pytest.raises(Refused):
        v3.check(0x32, _s("traffic/z/dev-2/telemetry") + b"\x00\x01{}")
    subscribe = b"\x00\x05" + _s("$aws/things/dev-1/shadow/name/cert-rotation/#") + b"\x01" + _s("#") + b"\x01"
    with pytest.raises(Refused, match="SUBSCRIBE to '#'"):
        v3.check(0x82, subscribe)
    with pytest.raises(ProtocolError, match="second CONNECT"):
        v3.check(0x10, b"")
