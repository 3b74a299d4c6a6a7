"""The env=local data plane with real servers: the template deployed into the local endpoint, the gate (mutual TLS,
IoT Core's checks) in front of Mosquitto on its unix socket, the bridge and the poller as processes (as the
local_data_plane role runs them), real MQTT clients (paho) with certificates registered at the endpoint.

The tests of this file share one endpoint, one stack and one data plane, and run in order; the last one restarts the
endpoint, which loses its state. Every process is started on free loopback ports and stopped by its pid.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from conftest import LAUNCHER, ROOT, reserve_port, scaled, stop_by_pid_file, wait_for

sys.path.insert(0, str(ROOT / "files" / "dataplane"))

from iot_dataplane.devices.simulator import Congestion, MqttTransport, Scenario, Simulator
from iot_dataplane.local_aws.broker import render_acl, render_config, socket_path, write_if_changed
from iot_dataplane.local_aws.gate import Enroller
from iot_dataplane.local_aws.local_ca import LocalCA
from iot_dataplane.probes.smoke import drain, zone_totals

DATAPLANE = ROOT / "files" / "dataplane" / "dataplane.py"
TEMPLATE = ROOT / "files" / "iot-analytics-system.yaml"
MOSQUITTO = "/usr/sbin/mosquitto"
REGION = "us-east-1"
STACK = "smartcity-dp-local"
CODE_BUCKET = "smartcity-dp-code"
CODE_KEY = "lambda/stream-processor-0123456789abcdef.zip"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local-endpoint", "AWS_SECRET_ACCESS_KEY": "local-endpoint",
               "AWS_EC2_METADATA_DISABLED": "true"}


class Processes:
    """Background processes in their own sessions, each with a pid file and a log, stopped by pid."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
        log = (self.dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **CREDENTIALS, **(env or {})}, cwd=cwd)
        (self.dir / f"{name}.pid").write_text(str(proc.pid))
        self.procs[name] = proc
        return proc

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:  # not ours any more: by its pid file
            stop_by_pid_file(self.dir / f"{name}.pid")
            return
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def log(self, name: str) -> str:
        return (self.dir / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


class Plane:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs = Processes(root)
        self.endpoint_port = reserve_port()
        self.mqtt_port = reserve_port()
        self.url = f"http://127.0.0.1:{self.endpoint_port}"
        self.ca = LocalCA(root / "pki")
        self.state = root / REGION
        self.outputs: dict[str, str] = {}
        self.crl_sync_seconds = 1.0
        self.enroller: Enroller | None = None

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.url,
                            aws_access_key_id="local-endpoint", aws_secret_access_key="local-endpoint")

    def start_endpoint(self) -> None:
        self.procs.start("moto", [sys.executable, str(LAUNCHER), "-H", "127.0.0.1", "-p", str(self.endpoint_port)])

        def answers() -> bool:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).close()
            except OSError:
                return False
            return True

        wait_for(answers, 30, "the local endpoint")

    def deploy(self) -> None:
        s3 = self.client("s3")
        s3.create_bucket(Bucket=CODE_BUCKET)
        s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=b"PK\x05\x06" + b"\x00" * 18)
        params = {"EnvironmentName": "local", "NamePrefix": "smartcity-dp", "CodeS3Bucket": CODE_BUCKET,
                  "CodeS3Key": CODE_KEY, "BatchSize": "100", "MaxBatchingWindowSeconds": "0", "StateTtlDays": "2"}
        cfn = self.client("cloudformation")
        cfn.create_stack(StackName=STACK, TemplateBody=TEMPLATE.read_text(),
                         Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
                         Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
        [stack] = cfn.describe_stacks(StackName=STACK)["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    def start_broker(self) -> None:
        self.ca.ensure_ca()
        self.ca.ensure_leaf("broker", server=True, hosts=("127.0.0.1", "localhost"))
        self.ca.ensure_leaf(f"bridge-{REGION}")
        acl = self.state / "acl"
        write_if_changed(acl, render_acl(self.outputs["TopicRuleName"], f"bridge-{REGION}"))
        config = self.state / "mosquitto.conf"
        self.state.chmod(0o700)
        write_if_changed(config, render_config(acl))
        self.procs.start("mosquitto", [MOSQUITTO, "-c", str(config)], cwd=self.state)  # its socket is relative to it
        wait_for(lambda: socket_path(self.state).exists(), 10, "mosquitto's socket")
        self.start_gate()

    def start_gate(self) -> subprocess.Popen:
        proc = self.procs.start("gate", [
            sys.executable, str(DATAPLANE), "gate", "--region", REGION, "--endpoint-url", self.url,
            "--port", str(self.mqtt_port), "--pki-dir", str(self.ca.dir), "--state-dir", str(self.state),
            "--rule-name", self.outputs["TopicRuleName"], "--reserved", f"bridge-{REGION}",
        ])
        wait_for(lambda: self._port_open(self.mqtt_port) or proc.poll() is not None, 20, "the gate")
        assert proc.poll() is None, self.procs.log("gate")
        return proc

    def enroll(self, name: str) -> tuple[str, str]:
        """The local CA's certificate of this device, registered ACTIVE and attached to its thing (as the
        device_fleet role does): (cert, key) paths."""
        if self.enroller is None:
            self.enroller = Enroller(self.client("iot"), self.ca)
        return self.enroller(name)

    @staticmethod
    def _port_open(port: int) -> bool:
        import socket

        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return False
        return True

    def start_bridge(self) -> subprocess.Popen:
        proc = self.procs.start("bridge", [
            sys.executable, str(DATAPLANE), "bridge", "--region", REGION, "--endpoint-url", self.url,
            "--stream-name", self.outputs["StreamName"], "--rule-name", self.outputs["TopicRuleName"],
            "--name", f"bridge-{REGION}", "--mqtt-socket", str(socket_path(self.state)), "--pki-dir", str(self.ca.dir),
            "--state-dir", str(self.state), "--outage-seconds", "5",
            "--crl-sync-seconds", str(self.crl_sync_seconds), "--broker-pid-file", str(self.root / "mosquitto.pid"),
        ])
        wait_for(lambda: (self.state / "bridge.health").exists() or proc.poll() is not None, 20, "the bridge")
        assert proc.poll() is None, self.procs.log("bridge")
        return proc

    def start_poller(self, env: dict[str, str] | None = None, wait: bool = True) -> subprocess.Popen:
        health = self.state / "poller.health"
        if health.exists():
            health.unlink()
        proc = self.procs.start("poller", [
            sys.executable, str(DATAPLANE), "poller", "--region", REGION, "--endpoint-url", self.url,
            "--function-name", self.outputs["FunctionName"], "--state-dir", str(self.state),
            "--sweep-seconds", "0", "--outage-seconds", "5",
        ], env=env)
        if wait:
            wait_for(lambda: health.exists() or proc.poll() is not None, 30, "the poller")
            assert proc.poll() is None, self.procs.log("poller")
        return proc

    def device(self, name: str, ca: LocalCA | None = None, with_cert: bool = True, register: bool = True,
               client_id: str | None = None, protocol: int = mqtt.MQTTv5) -> tuple[mqtt.Client, dict]:
        """A connected MQTT client (v5 unless told); the dict says whether the broker accepted it and collects PUBACK
        reasons. The local CA's certificate is enrolled at the endpoint unless register is False."""
        issuer = ca or self.ca
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or name, protocol=protocol)
        if with_cert:
            issuer.ensure_ca()
            issuer.ensure_leaf(name)
            if register and issuer is self.ca:
                self.enroll(name)
            paths = issuer.paths(name)
            client.tls_set(ca_certs=str(self.ca.ca_cert), certfile=str(paths.cert), keyfile=str(paths.key),
                           cert_reqs=ssl.CERT_REQUIRED)
        else:
            client.tls_set(ca_certs=str(self.ca.ca_cert), cert_reqs=ssl.CERT_REQUIRED)
        state: dict[str, Any] = {"connack": None, "acks": {}, "event": threading.Event()}

        def on_connect(c, userdata, flags, reason, properties) -> None:
            state["connack"] = str(reason)
            state["event"].set()

        def on_publish(c, userdata, mid, reason, properties) -> None:
            state["acks"][mid] = reason

        def on_disconnect(c, userdata, flags, reason, properties) -> None:
            state["connack"] = state["connack"] or f"disconnected: {reason}"
            state["disconnected"] = str(reason)
            state["event"].set()

        def on_subscribe(c, userdata, mid, reasons, properties) -> None:
            state.setdefault("subacks", {})[mid] = reasons

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_publish = on_publish
        client.on_subscribe = on_subscribe
        try:
            client.connect("127.0.0.1", self.mqtt_port, keepalive=10)
        except (OSError, ssl.SSLError) as exc:
            state["connack"] = f"refused in TLS: {exc}"
            return client, state
        client.loop_start()
        state["event"].wait(scaled(5))
        return client, state


@pytest.fixture(scope="module")
def plane(tmp_path_factory) -> Plane:
    assert Path(MOSQUITTO).exists(), "Mosquitto is missing: scripts/setup installs it"
    p = Plane(tmp_path_factory.mktemp("data-plane"))
    p.state.mkdir()
    try:
        p.start_endpoint()
        p.deploy()
        p.start_broker()
        p.start_bridge()
        p.start_poller()
        yield p
    finally:
        p.procs.stop_all()


def publish(plane: Plane, scenario: Scenario) -> Simulator:
    simulator = Simulator(scenario, rule_name=plane.outputs["TopicRuleName"])

    transport = MqttTransport("127.0.0.1", plane.mqtt_port, str(plane.ca.ca_cert), plane.enroll, simulator.ack)
    report = simulator.run(transport)
    assert report.messages_refused == 0 and report.messages_acked == report.messages_sent
    return simulator


def stored(plane: Plane, zones: list[str]) -> dict[str, int]:
    dynamodb = plane.client("dynamodb")
    return {z: zone_totals(dynamodb, plane.outputs["TableName"], z)["count"] for z in zones}


# --- the broker refuses what IoT Core refuses --------------------------------------------------------------------
def test_clients_without_a_certificate_or_with_one_from_another_ca_are_refused(plane: Plane, tmp_path: Path) -> None:
    for label, kwargs in (("no certificate", {"with_cert": False}),
                          ("another CA", {"ca": LocalCA(tmp_path / "rogue-ca")})):
        client, state = plane.device("sensor-rogue", **kwargs)
        try:
            assert state["connack"] != "Success", f"{label}: the broker accepted the client"
        finally:
            client.loop_stop()
    # the gate's log names the TLS failure for both
    log = plane.procs.log("gate")
    assert "peer did not return a certificate" in log
    assert "certificate verify failed" in log


def test_a_device_publishes_only_under_its_own_client_id(plane: Plane) -> None:
    client, state = plane.device("dp-dev-1")
    assert state["connack"] == "Success"
    rule = plane.outputs["TopicRuleName"]
    topics = {
        "traffic/dp-z/dp-dev-1/telemetry": "Success",
        f"$aws/rules/{rule}/traffic/dp-z/dp-dev-1/telemetry": "Success",
        "$aws/things/dp-dev-1/shadow/name/cert-rotation/get": "Success",
    }
    # what the policy forbids closes the connection (one test per topic: tests/integration/test_broker_policy.py)
    try:
        for topic, expected in topics.items():
            info = client.publish(topic, b"{}", qos=1)
            info.wait_for_publish(5)
            wait_for(lambda mid=info.mid: mid in state["acks"], 5, f"PUBACK for {topic}")
            assert str(state["acks"][info.mid]) == expected, topic
    finally:
        client.disconnect()
        client.loop_stop()


# --- data flows; malformed messages go to quarantine and the shard keeps flowing ------------------------------------
def test_readings_reach_the_zone_items_and_malformed_messages_the_quarantine(plane: Plane) -> None:
    scenario = Scenario(sensors=12, zones=3, rate_hz=2, duration_s=3, gateway_size=2, seed=4, prefix="smoke-dpa",
                        congestions=[Congestion("smoke-dpa-z001", 0, 1)],
                        malformed={"bad_json": 1, "vehicle_count": 1, "avg_speed_kmh": 1})
    simulator = publish(plane, scenario)
    report = simulator.report
    assert report.readings_acked == 12 * 6
    wait_for(lambda: stored(plane, simulator.zones) == report.readings_by_zone, 30, "every reading in the zone items")
    sqs = plane.client("sqs")
    quarantined: list[dict] = []
    alerts: list[dict] = []

    def everything_arrived() -> bool:
        quarantined.extend(drain(sqs, plane.outputs["QuarantineQueueUrl"],
                                 lambda b: str(b.get("partition_key", "")).startswith("smoke-dpa")))
        alerts.extend(drain(sqs, plane.outputs["AlertProbeQueueUrl"], lambda b: True))
        return len(quarantined) >= 3 and alerts

    wait_for(everything_arrived, 20, "the quarantined messages and the alert")
    assert sorted(q["reason"] for q in quarantined) == ["avg_speed_kmh", "bad_json", "vehicle_count"]
    assert all(q["sequence_number"] and q["data"] for q in quarantined)
    assert [(a["detail-type"], a["detail"]["zone"]) for a in alerts] == [("CongestionAlert", "smoke-dpa-z001")]
    # the stored counts stay exact (nothing arrives late, nothing twice)
    time.sleep(1)
    assert stored(plane, simulator.zones) == report.readings_by_zone


# --- the pipeline benchmark, small: every reading stored once, latencies measured -----------------------------------
def test_the_pipeline_benchmark_counts_every_reading_and_measures_latency(plane: Plane, tmp_path: Path) -> None:
    result_file = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(DATAPLANE), "bench", "--region", REGION, "--endpoint-url", plane.url, "--stack-name", STACK,
         "--mqtt-port", str(plane.mqtt_port), "--pki-dir", str(plane.ca.dir), "--state-dir", str(plane.state),
         "--sensors", "200", "--zones", "4", "--gateway-size", "25", "--rate", "2", "--duration", "4", "--settle", "30",
         "--basic-ingest", "--json", str(result_file)],
        env={**os.environ, **CREDENTIALS}, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(result_file.read_text())
    assert result["readings_published"] == 200 * 2 * 4 == result["readings_stored"]
    assert result["drained"] and result["readings_lost"] == 0 and result["readings_double_counted"] == 0
    assert result["latency_samples"] > 0 and 0 < result["publish_to_zone_item_ms"]["p50"] <= result["publish_to_zone_item_ms"]["p99"]
    assert result["publish_to_alert_ms"] is not None  # the congested zone raised its alert
    assert result["bridge"]["forwarded"] > 0 and result["poller"]["records"] > 0
    assert "publish -> zone item readable" in proc.stdout
    # its zones are removed again, so that later sweeps do not report its sensors silent
    dynamodb = plane.client("dynamodb")
    zones = dynamodb.get_item(TableName=plane.outputs["TableName"], Key={"pk": {"S": "META"}, "sk": {"S": "ZONES"}})
    assert not [z for z in zones.get("Item", {}).get("zones", {}).get("SS", []) if z.startswith("smoke-b")]


# --- a poller killed in the middle of a batch ------------------------------------------------------------------------
def test_a_poller_killed_mid_batch_resumes_without_loss_or_double_counting(plane: Plane) -> None:
    plane.procs.stop("poller")
    # More zones than the handler writes at the same time (WRITE_CONCURRENCY, 8): a kill after the 3rd zone-window
    # write leaves at most 3 + 7 zones written.
    scenario = Scenario(sensors=24, zones=24, rate_hz=2, duration_s=2, seed=9, prefix="dpk")
    simulator = publish(plane, scenario)
    expected = simulator.report.readings_by_zone
    assert sum(expected.values()) == 96
    # The stream holds every record now; the poller is killed after its 3rd zone-window write of the first batch.
    killed = plane.start_poller(env={"IOT_DATAPLANE_TEST_KILL_AFTER_WRITES": "3"}, wait=False)
    assert killed.wait(timeout=60) == -signal.SIGKILL, plane.procs.log("poller")
    partial = stored(plane, simulator.zones)
    assert 0 < sum(partial.values()) < 96, partial  # some zones written, the batch not finished
    plane.start_poller()
    wait_for(lambda: stored(plane, simulator.zones) == expected, 30, "the counts after the restart")
    time.sleep(1.5)
    assert stored(plane, simulator.zones) == expected  # exact: the re-delivered batch added nothing twice


# --- the endpoint restarted (state lost) ------------------------------------------------------------------------------
def test_a_restarted_endpoint_is_reported_and_the_data_plane_stops(plane: Plane) -> None:
    bridge, poller = plane.procs.procs["bridge"], plane.procs.procs["poller"]
    plane.procs.stop("moto")
    plane.start_endpoint()  # same port, empty state: the stream and the function are gone
    assert bridge.wait(timeout=40) == 3
    assert poller.wait(timeout=40) == 3
    for name in ("bridge", "poller"):
        log = plane.procs.log(name)
        assert "stopping:" in log, log[-2000:]
        assert "does not exist at the AWS endpoint" in log or "has failed for" in log, log[-2000:]
    assert not (plane.state / "bridge.health").exists()
    assert not (plane.state / "poller.health").exists()


def test_after_a_new_deploy_into_the_restarted_endpoint_data_flows_again(plane: Plane) -> None:
    """The stack deployed again under the same names has a new stream whose sequence numbers start over: the
    poller's checkpoints of the old stream must not make it skip the new one's records."""
    plane.deploy()
    plane.start_bridge()
    plane.start_poller()
    scenario = Scenario(sensors=6, zones=2, rate_hz=2, duration_s=1, seed=5, prefix="dpr")
    simulator = publish(plane, scenario)
    expected = simulator.report.readings_by_zone
    assert sum(expected.values()) == 12
    wait_for(lambda: stored(plane, simulator.zones) == expected, 30, "the readings in the new stack's table")
    assert len(list((plane.state / "checkpoints").iterdir())) == 2  # one directory per incarnation of the stream
