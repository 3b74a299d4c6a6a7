"""The local broker is as strict as IoT Core at the door and on every packet, with real MQTT clients (paho, MQTT 5
and 3.1.1) against the gate in front of Mosquitto, with the template deployed into the local endpoint (moto):

- a client id other than the certificate's CN is refused at CONNECT (IoT Core: iot:Connect only on
  client/${iot:Connection.Thing.ThingName}), so it cannot publish on the CN's topics either;
- a local-CA certificate that is not registered at the endpoint, or registered but attached to no thing or to
  another thing, or not ACTIVE, is refused at CONNECT; detaching or deactivating takes effect for the next CONNECT;
- a PUBLISH or SUBSCRIBE the device policy does not allow closes the connection (MQTT 5: DISCONNECT "Not
  authorized"), and the message reaches no subscriber.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from test_data_plane import MOSQUITTO, REGION, Plane

from conftest import ROOT, scaled, wait_for

sys.path.insert(0, str(ROOT / "files" / "dataplane"))

from iot_dataplane.local_aws.broker import socket_path


@pytest.fixture(scope="module")
def plane(tmp_path_factory) -> Plane:
    assert Path(MOSQUITTO).exists(), "Mosquitto is missing: scripts/setup installs it"
    p = Plane(tmp_path_factory.mktemp("policy-plane"))
    p.state.mkdir()
    try:
        p.start_endpoint()
        p.deploy()
        p.start_broker()  # Mosquitto on its unix socket and the gate on the MQTT port
        yield p
    finally:
        p.procs.stop_all()


class Observer:
    """A subscriber on the broker's own socket under the bridge's name (the ACL lets it read every telemetry
    topic): what a device's PUBLISH actually delivered."""

    def __init__(self, plane: Plane) -> None:
        self.messages: list[str] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="policy-observer", protocol=mqtt.MQTTv5, transport="unix")
        self.client.username_pw_set(f"bridge-{REGION}")
        rule = plane.outputs["TopicRuleName"]
        self.client.on_connect = lambda c, *a: c.subscribe([("traffic/+/+/telemetry", 1), (f"$aws/rules/{rule}/traffic/+/+/telemetry", 1)])
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_message = lambda c, u, message: self.messages.append(message.topic)
        self.client.connect(str(socket_path(plane.state)), 1)
        self.client.loop_start()
        assert self.ready.wait(scaled(5)), "the observer did not subscribe"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def observer(plane: Plane):
    obs = Observer(plane)
    try:
        yield obs
    finally:
        obs.close()


def close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def gate_log_says(plane: Plane, text: str) -> bool:
    return text in plane.procs.log("gate")


# --- 1. client id = certificate CN ---------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", [mqtt.MQTTv5, mqtt.MQTTv311], ids=["mqtt5", "mqtt311"])
def test_a_client_id_other_than_the_certificates_cn_is_refused_at_connect(plane: Plane, observer: Observer, protocol: int) -> None:
    name = f"pol-cn-{protocol}"
    client, state = plane.device(name, client_id=f"{name}-other", protocol=protocol)
    try:
        assert state["connack"] == "Not authorized", state
        # and the CN's topic was not published on: nothing reached the broker
        info = client.publish(f"traffic/z/{name}/telemetry", b"{}", qos=1)
        assert info.rc != mqtt.MQTT_ERR_SUCCESS or not info.is_published()
    finally:
        close(client)
    assert wait_for(lambda: gate_log_says(plane, f"client id '{name}-other' is not its certificate's CN '{name}'"), 5, "the gate's reason")
    # the control: the same certificate under its own name connects
    client, state = plane.device(name, protocol=protocol)
    try:
        assert state["connack"] == "Success", state
    finally:
        close(client)
    time.sleep(0.3)
    assert observer.messages == []


def test_the_bridges_name_is_refused_at_the_mqtt_port(plane: Plane) -> None:
    client, state = plane.device(f"bridge-{REGION}")
    try:
        assert state["connack"] == "Not authorized", state
    finally:
        close(client)


# --- 2. the certificate's registration at the endpoint -------------------------------------------------------------
def test_a_certificate_never_registered_at_the_endpoint_is_refused(plane: Plane) -> None:
    client, state = plane.device("pol-unregistered", register=False)
    try:
        assert state["connack"] == "Not authorized", state
    finally:
        close(client)
    assert gate_log_says(plane, "its certificate is not registered at the endpoint")


def _register(plane: Plane, name: str, thing: str | None, status: str = "ACTIVE") -> dict[str, Any]:
    """The local CA's certificate of name registered (the CA too, once), attached to thing when given."""
    iot = plane.client("iot")
    plane.enroll("pol-ca-anchor")  # registers the local CA
    plane.ca.ensure_leaf(name)
    registered = iot.register_certificate(certificatePem=plane.ca.paths(name).cert.read_text(),
                                          caCertificatePem=plane.ca.ca_cert.read_text(), status=status)
    if thing is not None:
        iot.create_thing(thingName=thing)
        iot.attach_thing_principal(thingName=thing, principal=registered["certificateArn"])
    return registered


def test_a_registered_certificate_attached_to_no_thing_or_another_thing_is_refused(plane: Plane) -> None:
    _register(plane, "pol-unattached", None)
    _register(plane, "pol-elsewhere", "pol-some-other-thing")
    for name in ("pol-unattached", "pol-elsewhere"):
        client, state = plane.device(name, register=False)
        try:
            assert state["connack"] == "Not authorized", (name, state)
        finally:
            close(client)
        assert gate_log_says(plane, f"is not attached to the thing {name}")


@pytest.mark.parametrize("status", ["INACTIVE", "REVOKED"])
def test_a_certificate_that_is_not_active_is_refused(plane: Plane, status: str) -> None:
    name = f"pol-{status.lower()}"
    registered = _register(plane, name, name)
    plane.client("iot").update_certificate(certificateId=registered["certificateId"], newStatus=status)
    client, state = plane.device(name, register=False)
    try:
        assert state["connack"] == "Not authorized", state
    finally:
        close(client)
    assert gate_log_says(plane, f"{registered['certificateId']} is {status}, not ACTIVE")


def test_detaching_or_deactivating_refuses_the_very_next_connect(plane: Plane) -> None:
    """No cache at the door: the endpoint is asked on every CONNECT."""
    iot = plane.client("iot")
    registered = _register(plane, "pol-detach", "pol-detach")
    client, state = plane.device("pol-detach", register=False)
    close(client)
    assert state["connack"] == "Success", state
    iot.detach_thing_principal(thingName="pol-detach", principal=registered["certificateArn"])
    client, state = plane.device("pol-detach", register=False)
    close(client)
    assert state["connack"] == "Not authorized", state
    iot.attach_thing_principal(thingName="pol-detach", principal=registered["certificateArn"])
    iot.update_certificate(certificateId=registered["certificateId"], newStatus="INACTIVE")
    client, state = plane.device("pol-detach", register=False)
    close(client)
    assert state["connack"] == "Not authorized", state


def test_a_certificate_registered_with_other_pem_text_is_found_by_its_serial(plane: Plane) -> None:
    """The endpoint's id is the hash of the PEM text it was given: the gate also finds it among the CA's."""
    iot = plane.client("iot")
    plane.enroll("pol-ca-anchor")
    plane.ca.ensure_leaf("pol-crlf")
    pem = plane.ca.paths("pol-crlf").cert.read_text().replace("\n", "\r\n")
    registered = iot.register_certificate(certificatePem=pem, caCertificatePem=plane.ca.ca_cert.read_text(), status="ACTIVE")
    iot.create_thing(thingName="pol-crlf")
    iot.attach_thing_principal(thingName="pol-crlf", principal=registered["certificateArn"])
    client, state = plane.device("pol-crlf", register=False)
    close(client)
    assert state["connack"] == "Success", state


# --- 3. the device policy on PUBLISH and SUBSCRIBE -------------------------------------------------------------------
def _forbidden_topics(plane: Plane, me: str) -> list[str]:
    rule = plane.outputs["TopicRuleName"]
    return [
        "traffic/z/pol-victim/telemetry",  # another thing's telemetry
        f"$aws/rules/{rule}/traffic/z/pol-victim/telemetry",  # its Basic Ingest form
        f"$aws/rules/other_rule/traffic/z/{me}/telemetry",  # another rule
        f"traffic/z/{me}/other",  # not a telemetry topic
        "$aws/things/pol-victim/shadow/name/cert-rotation/update",  # another thing's rotation shadow
        f"$aws/things/{me}/shadow/name/classic/get",  # another named shadow
        f"$aws/things/{me}/shadow/get",  # the classic shadow
        f"$aws/things/{me}/jobs/get",  # jobs
        "anything/else",
    ]


@pytest.mark.parametrize("protocol", [mqtt.MQTTv5, mqtt.MQTTv311], ids=["mqtt5", "mqtt311"])
def test_a_publish_the_policy_forbids_disconnects_the_client_and_is_not_delivered(plane: Plane, observer: Observer, protocol: int) -> None:
    me = f"pol-pub-{protocol}"
    for index, topic in enumerate(_forbidden_topics(plane, me)):
        client, state = plane.device(me, protocol=protocol)
        try:
            assert state["connack"] == "Success", state
            ok = client.publish(f"traffic/z/{me}/telemetry", b"{}", qos=1)
            ok.wait_for_publish(scaled(5))
            info = client.publish(topic, b"{}", qos=1)
            wait_for(lambda st=state: "disconnected" in st, 5, f"the disconnect after a PUBLISH on {topic}")
            assert info.mid not in state["acks"], f"{topic}: acknowledged"
            if protocol == mqtt.MQTTv5:
                assert state["disconnected"] == "Not authorized", (topic, state)
        finally:
            close(client)
        wait_for(lambda n=index: len(observer.messages) == n + 1, 5, "the allowed message")
    time.sleep(0.3)
    assert set(observer.messages) == {f"traffic/z/{me}/telemetry"}, observer.messages
    assert plane.procs.log("gate").count(f"(CN {me}) disconnected: the device policy does not allow its PUBLISH") == len(_forbidden_topics(plane, me))


@pytest.mark.parametrize("protocol", [mqtt.MQTTv5, mqtt.MQTTv311], ids=["mqtt5", "mqtt311"])
def test_a_subscribe_outside_the_rotation_shadow_disconnects_the_client(plane: Plane, protocol: int) -> None:
    me = f"pol-sub-{protocol}"
    allowed = [f"$aws/things/{me}/shadow/name/cert-rotation/get/accepted", f"$aws/things/{me}/shadow/name/cert-rotation/#"]
    forbidden = ["traffic/+/+/telemetry", "#", "$aws/things/+/shadow/name/cert-rotation/#",
                 "$aws/things/pol-victim/shadow/name/cert-rotation/update/delta", f"$aws/things/{me}/shadow/#"]
    client, state = plane.device(me, protocol=protocol)
    try:
        result, mid = client.subscribe([(f, 1) for f in allowed])
        assert result == mqtt.MQTT_ERR_SUCCESS
        wait_for(lambda: mid in state.get("subacks", {}), 5, "the SUBACK")
        assert all(not r.is_failure for r in state["subacks"][mid])
    finally:
        close(client)
    for topic_filter in forbidden:
        client, state = plane.device(me, protocol=protocol)
        try:
            client.subscribe(topic_filter, 1)
            wait_for(lambda st=state: "disconnected" in st, 5, f"the disconnect after a SUBSCRIBE to {topic_filter}")
            assert not state.get("subacks"), topic_filter
        finally:
            close(client)


def test_a_topic_alias_is_resolved_before_the_policy_check(plane: Plane, observer: Observer) -> None:
    """MQTT 5: a PUBLISH with an empty topic and a known alias is checked against the alias's topic."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    me = "pol-alias"
    client, state = plane.device(me)
    try:
        assert state["connack"] == "Success", state
        props = Properties(PacketTypes.PUBLISH)
        props.TopicAlias = 1
        first = client.publish(f"traffic/z/{me}/telemetry", b"{}", qos=1, properties=props)
        first.wait_for_publish(scaled(5))
        again = client.publish("", b"{}", qos=1, properties=props)
        again.wait_for_publish(scaled(5))
        wait_for(lambda: len(observer.messages) == 2, 5, "both messages")
        wait_for(lambda: again.mid in state["acks"], 5, "the PUBACK of the aliased PUBLISH")
        assert str(state["acks"][again.mid]) == "Success"
    finally:
        close(client)


def test_tls_without_a_client_certificate_is_refused_in_the_handshake(plane: Plane) -> None:
    client, state = plane.device("pol-nocert", with_cert=False)
    try:
        assert state["connack"] != "Success", state
    finally:
        close(client)
    wait_for(lambda: gate_log_says(plane, "peer did not return a certificate"), 5, "the gate's log")
