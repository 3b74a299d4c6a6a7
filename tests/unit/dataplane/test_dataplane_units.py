"""The data plane's pieces without servers: the CA, the broker's ACL, the bridge's partition key, the poller's delivery
semantics (event shape, batch item failures, bisection, retries, the on-failure queue, checkpoints) and the
simulator's fleet, profile and expected alerts."""

from __future__ import annotations

import base64
import datetime
import json
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import ROOT, wait_for

sys.path.insert(0, str(ROOT / "files" / "dataplane"))

from iot_dataplane.devices.simulator import (
    Congestion,
    MqttTransport,
    Scenario,
    Silence,
    Simulator,
    Transport,
    build_fleet,
    daily_load,
    expected_alerts,
)
from iot_dataplane.local_aws.bridge import partition_key
from iot_dataplane.local_aws.broker import render_acl, render_config, socket_address, socket_path
from iot_dataplane.local_aws.local_ca import LocalCA, PkiError
from iot_dataplane.local_aws.poller import (
    Checkpoints,
    FunctionConfig,
    FunctionError,
    FunctionTimeout,
    Mapping,
    Poller,
    Sandbox,
    StatsMark,
    kinesis_event_record,
)
from iot_dataplane.local_aws.runtime import Beacon, Outage
from iot_dataplane.probes.bench import publish_to_visible
from iot_dataplane.shared import DependencyError, percentiles

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/s"


# --- local CA -----------------------------------------------------------------------------------------------------
def test_ca_issues_client_and_server_certificates_with_private_keys_0600(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path / "pki")
    assert ca.ensure_ca() is True
    assert ca.ensure_ca() is False
    assert ca.ensure_leaf("broker", server=True, hosts=("127.0.0.1", "localhost")) is True
    assert ca.ensure_leaf("dev-1") is True
    assert ca.ensure_leaf("dev-1") is False  # reused, not reissued
    server = x509.load_pem_x509_certificate(ca.paths("broker").cert.read_bytes())
    client = x509.load_pem_x509_certificate(ca.paths("dev-1").cert.read_bytes())
    root = x509.load_pem_x509_certificate(ca.ca_cert.read_bytes())
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "dev-1"
    assert client.issuer == root.subject
    client.verify_directly_issued_by(root)
    assert ExtendedKeyUsageOID.CLIENT_AUTH in client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    for key in (ca.ca_key, ca.paths("broker").key, ca.paths("dev-1").key):
        assert key.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "pki").stat().st_mode & 0o777 == 0o700


def test_revoked_certificate_is_on_the_crl_and_reissued(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path)
    ca.ensure_ca()
    ca.ensure_leaf("dev-1")
    serial = x509.load_pem_x509_certificate(ca.paths("dev-1").cert.read_bytes()).serial_number
    assert ca.revoke("dev-1") is True
    assert ca.revoke("dev-1") is False
    crl = x509.load_pem_x509_crl(ca.crl.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    assert ca.ensure_leaf("dev-1") is True  # a revoked certificate is replaced
    assert x509.load_pem_x509_certificate(ca.paths("dev-1").cert.read_bytes()).serial_number != serial


@pytest.mark.parametrize("name", ["", "with space", "x" * 65, "a/b"])
def test_certificate_names_follow_the_thing_name_rule(tmp_path: Path, name: str) -> None:
    ca = LocalCA(tmp_path)
    ca.ensure_ca()
    with pytest.raises(PkiError, match="1-64 characters"):
        ca.ensure_leaf(name)


# --- broker --------------------------------------------------------------------------------------------------------
def test_acl_lets_devices_publish_only_under_their_own_name_and_the_bridge_read() -> None:
    acl = render_acl("city_rule", "bridge-r1").splitlines()
    assert "pattern write traffic/+/%u/telemetry" in acl
    assert "pattern write $aws/rules/city_rule/traffic/+/%u/telemetry" in acl
    # the rotation channel mirrors the device policy: the thing's own named shadow cert-rotation, no IoT Jobs
    assert "pattern readwrite $aws/things/%u/shadow/name/cert-rotation/#" in acl
    assert not [line for line in acl if "jobs" in line and not line.startswith("#")]
    bridge = acl.index("user bridge-r1")
    shadow = "$aws/things/+/shadow/name/cert-rotation"
    assert acl[bridge + 1 : bridge + 10] == [
        "topic read traffic/+/+/telemetry",
        "topic read $aws/rules/city_rule/traffic/+/+/telemetry",
        f"topic read {shadow}/get",
        f"topic read {shadow}/update",
        f"topic write {shadow}/get/accepted",
        f"topic write {shadow}/get/rejected",
        f"topic write {shadow}/update/accepted",
        f"topic write {shadow}/update/rejected",
        f"topic write {shadow}/update/delta",
    ]
    # nothing else is granted: every grant line is one of the above
    grants = [line for line in acl if line.startswith(("pattern", "topic"))]
    assert len(grants) == 12


def test_broker_config_listens_only_on_its_unix_socket_behind_the_gate(tmp_path: Path) -> None:
    text = render_config(tmp_path / "acl").splitlines()
    assert f"acl_file {tmp_path / 'acl'}" in text
    # no TCP listener: the gate owns the MQTT port and does the TLS; the socket is relative to the state directory
    assert [line for line in text if line.startswith("listener")] == ["listener 0 mosquitto.sock"]
    assert not any(line.startswith(("password_file", "psk", "certfile", "keyfile", "require_certificate")) for line in text)


def test_a_deep_state_directory_still_gives_a_socket_address_that_fits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert socket_path(tmp_path) == tmp_path / "mosquitto.sock"
    assert socket_address(tmp_path / "mosquitto.sock") == str(tmp_path / "mosquitto.sock")
    deep = tmp_path / ("x" * 120)
    deep.mkdir()
    address = socket_address(deep / "mosquitto.sock")
    assert len(address) <= 107 and address.endswith("/mosquitto.sock")
    monkeypatch.chdir(deep)  # as Mosquitto binds it: relative to its working directory
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("mosquitto.sock")
        server.listen()
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(address)


# --- bridge --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("topic", "key"),
    [
        ("traffic/z-1/dev-1/telemetry", "z-1"),
        ("$aws/rules/r/traffic/z_2/gw/telemetry", "z_2"),
        ("traffic//dev-1/telemetry", None),
        ("traffic/z/dev/other", None),
        ("$aws/rules/other/traffic/z/dev/telemetry", None),
    ],
)
def test_partition_key_is_the_rules_topic_2(topic: str, key: str | None) -> None:
    assert partition_key(topic, "r") == key


# --- poller --------------------------------------------------------------------------------------------------------
def record(seq: int, data: bytes = b'{"x":1}', key: str = "z1") -> dict[str, Any]:
    return {
        "SequenceNumber": str(seq),
        "PartitionKey": key,
        "Data": data,
        "ApproximateArrivalTimestamp": datetime.datetime.now(datetime.timezone.utc),
    }


def test_event_record_has_the_lambda_services_shape() -> None:
    event = kinesis_event_record(record(7, b"\x00hello"), "shardId-000000000001", STREAM_ARN, "us-east-1", "arn:role")
    assert set(event) == {"kinesis", "eventSource", "eventVersion", "eventID", "eventName", "invokeIdentityArn",
                          "awsRegion", "eventSourceARN"}
    assert event["eventID"] == "shardId-000000000001:7"
    assert event["eventName"] == "aws:kinesis:record"
    assert event["eventSourceARN"] == STREAM_ARN
    assert base64.b64decode(event["kinesis"]["data"]) == b"\x00hello"
    assert event["kinesis"]["partitionKey"] == "z1"
    assert isinstance(event["kinesis"]["approximateArrivalTimestamp"], float)


class FakeSqs:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    def get_queue_url(self, QueueName: str) -> dict:
        return {"QueueUrl": f"https://queue/{QueueName}"}

    def send_message(self, QueueUrl: str, MessageBody: str) -> dict:
        self.sent.append(json.loads(MessageBody))
        return {}


def make_poller(tmp_path: Path, handler, **mapping: Any) -> tuple[Poller, FakeSqs, list[list[str]]]:
    calls: list[list[str]] = []

    def recording(event: dict, context: Any) -> Any:
        calls.append([r["kinesis"]["sequenceNumber"] for r in event["Records"]])
        return handler(event)

    poller, sqs = poller_with(tmp_path, recording, **{"max_retries": 2, **mapping})
    return poller, sqs, calls


def poller_with(tmp_path: Path, handler: Any, **mapping: Any) -> tuple[Poller, FakeSqs]:
    """A poller of one test stream with ``handler`` as the function, no backoff, a fake on-failure queue."""
    sqs = FakeSqs()
    settings = {"stream_arn": STREAM_ARN, "batch_size": 10, "report_item_failures": True, "bisect": True,
                "max_retries": 1, "on_failure_arn": "arn:aws:sqs:us-east-1:123456789012:dead", **mapping}
    poller = Poller(kinesis=None, sqs=sqs, mapping=Mapping(**settings), handler=handler,
                    context_factory=lambda: None, region="us-east-1", role_arn="arn:role", function_arn="arn:fn",
                    checkpoints=Checkpoints(tmp_path / "cp"), beacon=Beacon(None, None), sweep_seconds=None,
                    max_backoff=0.0)
    poller._sleep = lambda attempt: None
    return poller, sqs


def deliver(poller: Poller, seqs: range) -> None:
    from iot_dataplane.local_aws.poller import ShardState

    poller._deliver(ShardState("shardId-000000000000"), [record(s) for s in seqs])


def test_batch_item_failure_retries_from_the_failed_record_and_checkpoints_before_it(tmp_path: Path) -> None:
    attempts = {"n": 0}

    def handler(event: dict) -> dict:
        attempts["n"] += 1
        return {"batchItemFailures": [{"itemIdentifier": "4"}]} if attempts["n"] == 1 else {"batchItemFailures": []}

    poller, sqs, calls = make_poller(tmp_path, handler)
    deliver(poller, range(1, 7))
    assert calls == [["1", "2", "3", "4", "5", "6"], ["4", "5", "6"]]
    assert poller.checkpoints.get("shardId-000000000000") == {"sequence_number": "6"}
    assert poller.stats.records == 6
    assert sqs.sent == []


def test_function_error_bisects_and_a_poison_record_goes_to_the_on_failure_queue(tmp_path: Path) -> None:
    def handler(event: dict) -> dict:
        if any(r["kinesis"]["sequenceNumber"] == "3" for r in event["Records"]):
            raise RuntimeError("boom")
        return {}

    poller, sqs, calls = make_poller(tmp_path, handler, max_retries=1)
    deliver(poller, range(1, 5))
    # [1..4] fails -> [1,2] ok, [3,4] fails -> [3] fails (retry) -> dead letter, [4] ok
    assert ["1", "2"] in calls and ["4"] in calls
    assert [c for c in calls if c == ["3"]] == [["3"], ["3"]]
    [dead] = sqs.sent
    info = dead["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == ("3", "3", 1)
    assert dead["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["streamArn"] == STREAM_ARN
    assert poller.checkpoints.get("shardId-000000000000") == {"sequence_number": "4"}


def test_retries_stop_at_the_record_age_limit(tmp_path: Path) -> None:
    poller, sqs, calls = make_poller(tmp_path, lambda e: {"batchItemFailures": [{"itemIdentifier": "1"}]},
                                     max_retries=-1, max_record_age=0)
    deliver(poller, range(1, 3))
    assert len(calls) == 1
    assert sqs.sent[0]["requestContext"]["condition"] == "RecordAgeExceeded"
    assert sqs.sent[0]["KinesisBatchInfo"]["batchSize"] == 2


def test_unknown_failure_identifier_retries_the_whole_batch(tmp_path: Path) -> None:
    answers = iter([{"batchItemFailures": [{"itemIdentifier": "nope"}]}, {}])
    poller, _sqs, calls = make_poller(tmp_path, lambda e: next(answers))
    deliver(poller, range(1, 4))
    assert calls == [["1", "2", "3"], ["1", "2", "3"]]


def test_mapping_reads_the_stacks_event_source_mapping() -> None:
    mapping = Mapping.from_api({
        "EventSourceArn": STREAM_ARN, "BatchSize": 500, "MaximumBatchingWindowInSeconds": 1,
        "StartingPosition": "LATEST", "MaximumRetryAttempts": 10000, "MaximumRecordAgeInSeconds": 3600,
        "BisectBatchOnFunctionError": True, "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:r:1:dead"}},
    })
    assert (mapping.batch_size, mapping.batching_window, mapping.max_retries, mapping.max_record_age) == (500, 1.0, 10000, 3600)
    assert mapping.bisect and mapping.report_item_failures
    assert mapping.on_failure_arn == "arn:aws:sqs:r:1:dead"


# --- outages ---------------------------------------------------------------------------------------------------------
def test_outage_is_logged_every_time_and_fatal_after_the_limit(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage("endpoint", allowed_seconds=0.0)
    with pytest.raises(DependencyError, match=r"endpoint has failed for .* last error: refused\. Start it"):
        outage.failed(ConnectionError("refused"), "Start it.")
    assert "endpoint failing" in caplog.text


def test_percentiles() -> None:
    assert percentiles([float(i) for i in range(1, 101)]) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}


# --- simulator -----------------------------------------------------------------------------------------------------
def test_fleet_is_deterministic_and_gateways_stay_in_one_zone() -> None:
    scenario = Scenario(sensors=1000, zones=3, gateway_size=150, seed=5)
    zones, devices = build_fleet(scenario)
    assert zones == ["sim-z001", "sim-z002", "sim-z003"]
    assert sum(len(d.sensors) for d in devices) == 1000
    assert all(len(d.sensors) <= 150 and {s.zone for s in d.sensors} == {d.zone} for d in devices)
    assert build_fleet(scenario) == (zones, devices)


def test_daily_profile_has_rush_hours_and_quiet_nights() -> None:
    assert daily_load(8.0) > 0.9 and daily_load(17.5) > 0.9
    assert daily_load(3.0) < 0.1
    assert daily_load(8.0) > daily_load(11.0) > daily_load(3.0)


def test_expected_alerts_follow_the_scenario() -> None:
    scenario = Scenario(sensors=20, zones=2, duration_s=400, congestions=[Congestion("sim-z001", 0, 2)],
                        silences=[Silence("sim-z002-s0001", 30)])
    zones, devices = build_fleet(scenario)
    expected = expected_alerts(scenario, zones, devices)
    assert {"type": "CongestionAlert", "zone": "sim-z001", "after_s": 0} in expected
    assert {"type": "CongestionCleared", "zone": "sim-z001", "after_s": 180} in expected
    assert {"type": "SensorSilent", "zone": "sim-z002", "sensor_id": "sim-z002-s0001", "after_s": 180} in expected
    short = Scenario(sensors=20, zones=2, duration_s=60, congestions=[Congestion("sim-z001", 0, 2)])
    assert [a["type"] for a in expected_alerts(short, *build_fleet(short))] == ["CongestionAlert"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sensors": 0}, "sensors"),
        ({"zones": 30}, "zones"),
        ({"rate_hz": 0}, "rate_hz"),
        ({"gateway_size": 501}, "gateway_size"),
        ({"gateway_format": "csv"}, "gateway_format: must be one of columns, readings"),
        ({"malformed": {"nope": 1}}, "unknown kind 'nope'"),
    ],
)
def test_bad_scenarios_are_refused_naming_the_field(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Scenario(**overrides).validate()


class RecordingTransport(Transport):
    def __init__(self) -> None:
        self.sim: Simulator | None = None
        self.published: list[tuple[str, str, bytes]] = []

    def connect(self, device: str) -> None:
        pass

    def publish(self, device: str, topic: str, payload: bytes, token: Any) -> None:
        self.published.append((device, topic, payload))
        self.sim.ack(token, True)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("layout", ["columns", "readings"])
def test_simulator_publishes_under_each_devices_own_name_and_reports_what_it_sent(layout: str) -> None:
    scenario = Scenario(sensors=12, zones=2, rate_hz=20, duration_s=0.2, gateway_size=3, gateway_format=layout, seed=3,
                        congestions=[Congestion("sim-z001", 0, 1)], malformed={"bad_json": 1, "vehicle_count": 2})
    simulator = Simulator(scenario, rule_name="r")
    transport = RecordingTransport()
    transport.sim = simulator
    report = simulator.run(transport)
    assert report.malformed_acked == {"bad_json": 1, "vehicle_count": 2}
    readings = 0
    for device, topic, payload in transport.published:
        zone = topic.split("/")[4]
        assert topic == f"$aws/rules/r/traffic/{zone}/{device}/telemetry"
        try:
            body = json.loads(payload)
        except ValueError:
            continue
        if "columns" in body:  # columnar: the zone once, each field one list (what the processor reads as rows)
            assert layout == "columns" and body["zone"] == zone and "readings" not in body
            columns = body["columns"]
            assert set(columns) == {"sensor_id", "ts", "vehicle_count", "avg_speed_kmh", "occupancy", "congestion_index"}
            assert len({len(values) for values in columns.values()}) == 1
            body = {"readings": [dict(zip(columns, row), zone=zone) for row in zip(*columns.values())]}
        elif "readings" in body:
            assert layout == "readings"
        else:
            continue
        readings += len(body["readings"])
        assert {r["zone"] for r in body["readings"]} == {zone}
        congested = [r["congestion_index"] >= 0.85 for r in body["readings"]]
        assert all(congested) if zone == "sim-z001" else not any(congested)
    assert readings == report.readings_acked == sum(report.readings_by_zone.values()) == 12 * 4
    assert report.messages_acked == report.messages_sent == len(transport.published)


def test_a_puback_that_overtakes_publish_is_counted_and_does_not_deadlock() -> None:
    """paho holds its message lock while its network thread runs the PUBACK callback, and publish() needs that lock:
    the transport must not hold its own lock around publish() (the simulator used to hang under load)."""
    acks: list[tuple[Any, bool]] = []
    transport = MqttTransport("127.0.0.1", 1, "ca", lambda d: ("c", "k"), lambda token, ok: acks.append((token, ok)))

    class Client:
        """publish() waits, as paho's lock makes it wait, for a PUBACK callback running in another thread."""

        def __init__(self) -> None:
            self.mid = 0

        def publish(self, topic: str, payload: bytes, qos: int) -> Any:
            self.mid += 1
            callback = threading.Thread(target=transport.acknowledged, args=("dev-1", self.mid, self.mid % 2 == 1))
            callback.start()
            callback.join(timeout=2)
            assert not callback.is_alive(), "the PUBACK callback is blocked by the transport's lock"
            return type("Info", (), {"mid": self.mid})()

    transport.clients["dev-1"] = Client()
    transport.publish("dev-1", "t", b"{}", "first")
    transport.publish("dev-1", "t", b"{}", "second")
    assert acks == [("first", True), ("second", False)]
    assert transport.tokens == {} and transport.early == {}


def test_publish_to_visible_takes_the_first_read_that_covers_each_publish() -> None:
    # zone z: publishes at t=10 (cumulative 5) and t=11 (10); reads at 10.5 (5), 11.2 (5), 12.0 (10)
    published = {"z": [(10.0, 5), (11.0, 10)], "quiet": [(10.0, 3)]}
    polls = {"z": [(9.9, 5), (10.5, 5), (11.2, 5), (12.0, 10)], "quiet": [(10.1, 0)]}
    # the read at 9.9 saw 5 before the publish: it does not count; the publish never seen gives no sample
    assert publish_to_visible(published, polls) == pytest.approx([0.5, 1.0])


class FakeKinesis:
    """One shard of n records; GetRecords honours Limit (moto has no 10 MB cap, so the poller must not over-ask)."""

    def __init__(self, n: int) -> None:
        self.records = [record(s) for s in range(1, n + 1)]
        self.limits: list[int] = []

    def list_shards(self, **kwargs: Any) -> dict:
        return {"Shards": [{"ShardId": "shardId-000000000000"}]}

    def get_shard_iterator(self, **kwargs: Any) -> dict:
        return {"ShardIterator": "0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict:
        self.limits.append(Limit)
        start = int(ShardIterator)
        page = self.records[start : start + Limit]
        return {"Records": page, "NextShardIterator": str(start + len(page))}


def test_the_poller_reads_no_more_than_the_next_batch_needs_and_delivers_in_order(tmp_path: Path) -> None:
    poller, _sqs, calls = make_poller(tmp_path, lambda event: {}, batch_size=500, starting_position="TRIM_HORIZON")
    poller.kinesis = FakeKinesis(1200)
    poller.refresh_shards()
    while sum(len(c) for c in calls) < 1200:
        poller.run_once()
    assert [len(c) for c in calls] == [500, 500, 200]
    assert [int(s) for c in calls for s in c] == list(range(1, 1201))
    assert max(poller.kinesis.limits) <= 500  # not the API's 10,000: one response per batch, not the whole backlog


# --- the function's Timeout --------------------------------------------------------------------------------------------
# A stand-in for files/lambda: it logs each invocation's sequence numbers to CALLS_FILE, sleeps as long as a record
# asks, logs that the invocation finished, and raises or exits when a record asks.
FUNCTION_SOURCE = '''
import base64, json, os, time

def _log(entry):
    with open(os.environ["CALLS_FILE"], "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\\n")

class _Sweeper:
    def sweep(self):
        time.sleep(float(os.environ.get("SWEEP_SLEEP", "0")))
        _log({"sweep": True})
        return {"swept": True}

def build():
    return _Sweeper()

def lambda_handler(event, context):
    seqs = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    _log({"start": seqs, "remaining_ms": context.get_remaining_time_in_millis()})
    for r in event["Records"]:
        order = json.loads(base64.b64decode(r["kinesis"]["data"]))
        if order.get("raise"):
            raise ValueError("asked to fail")
        if order.get("exit"):
            os._exit(7)
        time.sleep(order.get("sleep", 0))
    _log({"done": seqs})
    return {}
'''


def sandbox(tmp_path: Path, timeout_s: float, **env: str) -> tuple[Sandbox, Path]:
    code = tmp_path / "fn"
    code.mkdir(exist_ok=True)
    (code / "lambda_handler.py").write_text(FUNCTION_SOURCE)
    calls = tmp_path / "calls.jsonl"
    environment = {"CALLS_FILE": str(calls), **env}
    return Sandbox(str(code), environment, FunctionConfig("fn", "arn:fn", 128, timeout_s)), calls


def log_entries(calls: Path) -> list[dict]:
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def sandboxed_poller(tmp_path: Path, function: Sandbox, **mapping: Any) -> tuple[Poller, FakeSqs]:
    return poller_with(tmp_path, function, **mapping)


def deliver_orders(poller: Poller, orders: list[dict]) -> None:
    from iot_dataplane.local_aws.poller import ShardState

    records = [record(i + 1, json.dumps(order).encode()) for i, order in enumerate(orders)]
    poller._deliver(ShardState("shardId-000000000000"), records)


def test_an_invocation_past_the_timeout_is_a_function_error_retried_bisected_and_dead_lettered(tmp_path: Path) -> None:
    function, calls = sandbox(tmp_path, timeout_s=1.0)
    poller, sqs = sandboxed_poller(tmp_path, function, max_retries=1)
    try:
        deliver_orders(poller, [{}, {}, {"sleep": 30}, {}])
    finally:
        function.close()
    entries = log_entries(calls)
    started = [e["start"] for e in entries if "start" in e]
    done = [e["done"] for e in entries if "done" in e]
    # [1..4] times out -> [1,2] ok; [3,4] times out -> [3] times out, once more (1 retry) -> on-failure queue; [4] ok
    assert started == [["1", "2", "3", "4"], ["1", "2"], ["3", "4"], ["3"], ["3"], ["4"]]
    assert done == [["1", "2"], ["4"]]  # no invocation that held record 3 ran on after its deadline
    assert all(0 < e["remaining_ms"] <= 1000 for e in entries if "start" in e)  # the context knows the Timeout
    assert (poller.stats.function_errors, poller.stats.timeouts, poller.stats.records) == (4, 4, 3)
    [dead] = sqs.sent
    assert dead["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert dead["responseContext"]["functionError"] == "Unhandled"
    assert (dead["KinesisBatchInfo"]["startSequenceNumber"], dead["KinesisBatchInfo"]["batchSize"]) == ("3", 1)
    assert poller.checkpoints.get("shardId-000000000000") == {"sequence_number": "4"}
    assert function.starts == 5  # each timed-out environment was ended; the next invocation got a new one


def test_a_batch_that_always_times_out_is_never_counted_as_processed(tmp_path: Path) -> None:
    function, calls = sandbox(tmp_path, timeout_s=0.5)
    poller, sqs = sandboxed_poller(tmp_path, function, bisect=False, max_retries=2)
    try:
        deliver_orders(poller, [{"sleep": 5}, {}])
    finally:
        function.close()
    entries = log_entries(calls)
    assert [e["start"] for e in entries if "start" in e] == [["1", "2"]] * 3  # the first try and two retries
    assert not [e for e in entries if "done" in e]
    assert (poller.stats.records, poller.stats.timeouts, poller.stats.retries) == (0, 3, 3)
    assert sqs.sent[0]["KinesisBatchInfo"]["batchSize"] == 2


def test_an_invocation_within_the_timeout_succeeds_and_the_environment_is_reused(tmp_path: Path) -> None:
    function, _calls = sandbox(tmp_path, timeout_s=5.0)
    poller, sqs = sandboxed_poller(tmp_path, function)
    try:
        deliver_orders(poller, [{"sleep": 0.3}, {}])
        deliver_orders(poller, [{}])
    finally:
        function.close()
    assert (poller.stats.records, poller.stats.function_errors, function.starts) == (3, 0, 1)
    assert sqs.sent == []


def test_a_handler_that_raises_or_dies_in_its_environment_is_a_function_error(tmp_path: Path) -> None:
    function, _calls = sandbox(tmp_path, timeout_s=5.0)
    try:
        with pytest.raises(FunctionError, match="ValueError: asked to fail"):
            function.invoke({"Records": [kinesis_event_record(record(1, b'{"raise": true}'), "s", STREAM_ARN, "r", "a")]})
        with pytest.raises(FunctionError, match="died"):
            function.invoke({"Records": [kinesis_event_record(record(2, b'{"exit": true}'), "s", STREAM_ARN, "r", "a")]})
        assert function.invoke({"Records": [kinesis_event_record(record(3), "s", STREAM_ARN, "r", "a")]}) == {}
    finally:
        function.close()
    assert function.starts == 2  # the raise kept the environment; the exit needed a new one


def test_a_handler_that_does_not_import_is_reported_at_start(tmp_path: Path) -> None:
    code = tmp_path / "broken"
    code.mkdir()
    (code / "lambda_handler.py").write_text("raise ImportError('no such module')\n")
    function = Sandbox(str(code), {}, FunctionConfig("fn", "arn:fn", 128, 5.0))
    with pytest.raises(FunctionError, match=r"Runtime\.ImportModuleError.*no such module"):
        function.start()
    assert function.process is None


def test_the_sweep_runs_in_an_environment_of_its_own_with_the_timeout(tmp_path: Path) -> None:
    function, calls = sandbox(tmp_path, timeout_s=0.5, SWEEP_SLEEP="3")
    poller, _sqs = sandboxed_poller(tmp_path, function)
    assert isinstance(poller.sweeper, Sandbox) and poller.sweeper is not function
    try:
        with pytest.raises(FunctionTimeout, match=r"Task timed out after 0\.50 seconds"):
            poller.sweeper.invoke({"action": "sweep"})
    finally:
        poller.sweeper.close()
        function.close()
    assert not [e for e in log_entries(calls) if "sweep" in e]


def test_a_benchmark_mark_starts_the_pollers_figures_afresh(tmp_path: Path) -> None:
    from iot_dataplane.probes.bench import component_stats, mark_stats

    poller, _sqs, calls = make_poller(tmp_path, lambda event: {}, batch_size=500, starting_position="TRIM_HORIZON")
    poller.kinesis = FakeKinesis(1200)
    poller.beacon = Beacon(None, str(tmp_path / "poller.stats.json"))
    poller.mark = StatsMark(poller.beacon.stats)
    runner = threading.Thread(target=poller.run, kwargs={"max_seconds": 30}, daemon=True)
    runner.start()
    try:
        wait_for(lambda: sum(len(c) for c in calls) == 1200, 10, "the stream's records")
        wait_for(lambda: component_stats(tmp_path, ("poller",)).get("poller", {}).get("records") == 1200, 10, "the figures")
        assert mark_stats(tmp_path, "run-1", wait=10, components=("poller",)) == []  # taken within the wait
        figures = component_stats(tmp_path, ("poller",))["poller"]
        assert (figures["mark"], figures["records"], figures["invocations"]) == ("run-1", 0, 0)
        assert mark_stats(tmp_path, "run-2", wait=0.3, components=("bridge",)) == ["bridge"]  # no bridge running
    finally:
        poller.stop()
        runner.join(10)


def test_the_pollers_client_keeps_the_base64_text_and_the_event_is_the_same() -> None:
    import boto3
    from iot_dataplane.local_aws.poller import keep_base64_data
    from moto import mock_aws

    with mock_aws():
        kw = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
        plain, keeping = boto3.client("kinesis", **kw), keep_base64_data(boto3.client("kinesis", **kw))
        plain.create_stream(StreamName="s", ShardCount=1)
        plain.put_records(StreamName="s", Records=[{"Data": b"\x00\xffreading" * n, "PartitionKey": "z"} for n in range(1, 4)])

        def read(client: Any) -> list[dict]:
            iterator = client.get_shard_iterator(StreamName="s", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")
            return client.get_records(ShardIterator=iterator["ShardIterator"])["Records"]

        decoded, kept = read(plain), read(keeping)
    assert [r["Data"] for r in kept] == [base64.b64encode(r["Data"]).decode() for r in decoded]
    events = [[kinesis_event_record(r, "shardId-000000000000", STREAM_ARN, "us-east-1", "arn:role") for r in records] for records in (decoded, kept)]
    assert events[0] == events[1]


def test_a_batch_stops_at_lambdas_6_mb_invocation_payload_and_reads_no_more_than_it_takes(tmp_path: Path) -> None:
    from iot_dataplane.local_aws.poller import INVOCATION_PAYLOAD_LIMIT

    sizes: list[int] = []
    poller, _sqs, calls = make_poller(tmp_path, lambda event: sizes.append(len(json.dumps(event))) or {}, batch_size=500,
                                      starting_position="TRIM_HORIZON", batching_window=60.0)
    poller.kinesis = FakeKinesis(0)
    poller.kinesis.records = [record(s, bytes([s % 256]) * 700_000) for s in range(1, 41)]  # 40 records of ~0.9 MB as base64
    poller.refresh_shards()
    started = time.monotonic()
    while sum(len(c) for c in calls) < 36:  # full payloads go at once, without waiting for the 60 s batching window
        poller.run_once()
        assert time.monotonic() - started < 30
    poller.mapping.batching_window = 0.0  # the rest is less than a payload: it waits for the window
    while sum(len(c) for c in calls) < 40:
        poller.run_once()
    assert [len(c) for c in calls] == [6, 6, 6, 6, 6, 6, 4]
    assert [int(s) for c in calls for s in c] == list(range(1, 41))
    assert max(sizes) <= INVOCATION_PAYLOAD_LIMIT and all(size > INVOCATION_PAYLOAD_LIMIT - 950_000 for size in sizes[:-1])
    assert max(poller.kinesis.limits[1:]) <= 8  # after the first read, no read asks for more than a payload's worth
