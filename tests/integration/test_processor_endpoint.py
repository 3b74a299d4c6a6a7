"""The stream processor end to end against the local AWS endpoint: real boto3 over HTTP, the handler's own
DynamoDB, EventBridge and SQS edges. Kinesis-shaped events in; items in DynamoDB, alert events delivered through an
EventBridge rule to an SQS queue, and quarantined records read back by the test."""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from processor_support import LAMBDA_DIR, kinesis_event, kinesis_record, reading

from conftest import local_endpoint

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z, a window boundary
REGION = "us-east-1"


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with local_endpoint(tmp_path_factory.mktemp("processor-endpoint")) as url:
        session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION)
        ddb = session.client("dynamodb", endpoint_url=url)
        events = session.client("events", endpoint_url=url)
        sqs = session.client("sqs", endpoint_url=url)
        ddb.create_table(
            TableName="state",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
        bus = events.create_event_bus(Name="alerts")["EventBusArn"]
        alert_queue = sqs.create_queue(QueueName="alert-sink")["QueueUrl"]
        alert_queue_arn = sqs.get_queue_attributes(QueueUrl=alert_queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="all-alerts", EventBusName="alerts", EventPattern=json.dumps({"source": ["smartcity.traffic"]}))
        events.put_targets(Rule="all-alerts", EventBusName="alerts", Targets=[{"Id": "sink", "Arn": alert_queue_arn}])
        quarantine = sqs.create_queue(QueueName="quarantine")["QueueUrl"]
        env = {
            "TABLE_NAME": "state",
            "EVENT_BUS_NAME": "alerts",
            "QUARANTINE_QUEUE_URL": quarantine,
            "WINDOW_SECONDS": "60",
            "MIN_READINGS": "5",
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "POWERTOOLS_SERVICE_NAME": "processor-test",
        }
        yield {"ddb": ddb, "sqs": sqs, "bus": bus, "alert_queue": alert_queue, "quarantine": quarantine, "env": env}


@pytest.fixture
def handler(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The handler module as Lambda imports it (``lambda_handler.lambda_handler``), with the stack's environment."""
    for name, value in aws["env"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.syspath_prepend(str(LAMBDA_DIR))
    module = importlib.import_module("lambda_handler")
    module.processor.cache_clear()
    yield module
    module.processor.cache_clear()


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    out = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return out
        for m in messages:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def items(ddb: Any, pk: str) -> list[dict[str, Any]]:
    return ddb.query(TableName="state", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": pk}}, ConsistentRead=True)["Items"]


def window_count(ddb: Any, zone: str, window: int) -> int:
    return sum(int(i["count"]["N"]) for i in items(ddb, f"ZONE#{zone}") if i["sk"]["S"].startswith(f"W#{window}#"))


def at(processor: Any, now: float) -> None:
    processor.clock = lambda: now


def test_kinesis_events_to_table_alerts_and_quarantine(aws: dict[str, Any], handler: Any) -> None:
    ddb, sqs = aws["ddb"], aws["sqs"]
    at(handler.processor(), NOW + 20)
    ts = NOW * 1000 + 5_000
    congested = {"readings": [reading(f"n-{i}", "north", ts + i, vehicles=20, speed=4.0, occupancy=0.8) for i in range(8)]}
    records = [
        kinesis_record(congested, 1, partition_key="north"),
        kinesis_record(reading("s-1", "south", "2026-01-01T00:00:03Z", speed=55.0), 2, partition_key="south"),
        kinesis_record(None, 3, raw=b'{"sensor_id": "x", "zone": "south", "ts": "soon"'),
        kinesis_record(dict(reading("s-2", "south", ts), avg_speed_kmh=900), 4, partition_key="south"),
    ]
    assert handler.lambda_handler(kinesis_event(records), None) == {"batchItemFailures": []}

    assert window_count(ddb, "north", NOW) == 8
    assert window_count(ddb, "south", NOW) == 1
    north = next(i for i in items(ddb, "ZONE#north") if i["sk"]["S"].startswith("W#"))
    assert north["zone"]["S"] == "north" and int(north["window_start"]["N"]) == NOW
    assert float(north["congestion_sum"]["N"]) / int(north["count"]["N"]) > 0.7
    assert int(north["expires_at"]["N"]) == NOW + 20 + 7 * 86400
    assert not [i for i in items(ddb, "ZONE#north") if i["sk"]["S"].startswith("STATE#")]  # at the page's turn
    alert_state = {i["sk"]["S"]: i for i in items(ddb, "ZONE#north")}["ALERT"]
    assert alert_state["state"]["S"] == "CONGESTED" and int(alert_state["window_start"]["N"]) == NOW

    delivered = drain(sqs, aws["alert_queue"])
    assert [(e["source"], e["detail-type"], e["detail"]["zone"]) for e in delivered] == [("smartcity.traffic", "CongestionAlert", "north")]
    assert delivered[0]["detail"]["readings"] == 8 and delivered[0]["detail"]["threshold"] == 0.7
    quarantined = drain(sqs, aws["quarantine"])
    assert sorted(m["reason"] for m in quarantined) == ["avg_speed_kmh", "bad_json"]
    assert {m["sequence_number"] for m in quarantined} == {records[2]["kinesis"]["sequenceNumber"], records[3]["kinesis"]["sequenceNumber"]}

    # at-least-once: the same batch again, then extended with more readings of the same window
    assert handler.lambda_handler(kinesis_event(records), None) == {"batchItemFailures": []}
    more = {"readings": [reading(f"n-{i}", "north", ts + 100 + i, vehicles=20, speed=4.0) for i in range(3)]}
    extended = [*records, kinesis_record(more, 5, partition_key="north")]
    assert handler.lambda_handler(kinesis_event(extended), None) == {"batchItemFailures": []}
    assert window_count(ddb, "north", NOW) == 11
    assert window_count(ddb, "south", NOW) == 1
    assert drain(sqs, aws["alert_queue"]) == []  # one alert per episode

    # the zone clears in the next window; more than a window after the first batch, the zone's sensor page has had
    # its turn: one item with each sensor's newest reading
    at(handler.processor(), NOW + 20 + 61)
    flowing = {"readings": [reading(f"n-{i}", "north", ts + 60_000 + i, vehicles=20, speed=58.0) for i in range(8)]}
    assert handler.lambda_handler(kinesis_event([kinesis_record(flowing, 6, partition_key="north")]), None) == {"batchItemFailures": []}
    assert [e["detail-type"] for e in drain(sqs, aws["alert_queue"])] == ["CongestionCleared"]
    [page] = [i for i in items(ddb, "ZONE#north") if i["sk"]["S"].startswith("STATE#")]
    assert (page["sk"]["S"], page["zone"]["S"], page["level"]["N"], page["v"]["N"]) == ("STATE#00#00000", "north", "0", "1")
    assert page["S#n-3"]["S"] == f"{ts + 60_000 + 3}|20|58||0.033"  # ts|vehicles|speed|occupancy (not sent)|congestion
    assert sorted(k for k in page if k.startswith("S#")) == [f"S#n-{i}" for i in range(8)]


def test_sweep_over_the_endpoint(aws: dict[str, Any], handler: Any) -> None:
    ddb, sqs = aws["ddb"], aws["sqs"]
    proc = handler.processor()
    seq = 100
    for window in range(6):
        at(proc, NOW + 600 + window * 60 + 10)
        batch = {"readings": [reading(f"e-{i}", "east", (NOW + 600 + window * 60 + 5) * 1000 + i) for i in range(10)]}
        seq += 1
        assert handler.lambda_handler(kinesis_event([kinesis_record(batch, seq, partition_key="east")]), None) == {"batchItemFailures": []}
    # east-0..7 stop; east-8 and east-9 keep sending: a data drop in window 6, silence after windows 6-8
    for window in range(6, 9):
        at(proc, NOW + 600 + window * 60 + 10)
        batch = {"readings": [reading(f"e-{i}", "east", (NOW + 600 + window * 60 + 5) * 1000 + i) for i in (8, 9)]}
        seq += 1
        assert handler.lambda_handler(kinesis_event([kinesis_record(batch, seq, partition_key="east")]), None) == {"batchItemFailures": []}
    drain(sqs, aws["alert_queue"])
    at(proc, NOW + 600 + 9 * 60 + 15)
    summary = handler.lambda_handler({"action": "sweep"}, None)
    delivered = drain(sqs, aws["alert_queue"])
    # sensors of other tests on this endpoint (north, south) may have fallen silent too: look at east only
    assert summary["alerts"].get("SensorSilent", 0) >= 8
    silent = sorted(e["detail"]["sensor_id"] for e in delivered if e["detail-type"] == "SensorSilent" and e["detail"]["zone"] == "east")
    assert silent == [f"e-{i}" for i in range(8)]
    assert [e["detail"]["zone"] for e in delivered if e["detail-type"] == "ZoneDataDrop"] == ["east"]
    reported = {i["sk"]["S"]: i for i in items(ddb, "ZONE#east") if i["sk"]["S"].startswith("SILENT#")}
    assert sorted(reported) == [f"SILENT#e-{i}" for i in range(8)]
    assert int(reported["SILENT#e-0"]["window_start"]["N"]) == NOW + 600 + 5 * 60  # the episode: last window seen
    assert handler.lambda_handler({"action": "sweep"}, None)["alerts"].get("SensorSilent") is None  # idempotent
    zones = ddb.get_item(TableName="state", Key={"pk": {"S": "META"}, "sk": {"S": "ZONES"}}, ConsistentRead=True)["Item"]
    assert {"north", "south", "east"} <= set(zones["zones"]["SS"])


def test_bad_configuration_names_the_variable(aws: dict[str, Any], handler: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONGESTION_CLEAR_THRESHOLD", "0.9")
    handler.processor.cache_clear()
    with pytest.raises(ValueError, match="CONGESTION_CLEAR_THRESHOLD: must be below CONGESTION_THRESHOLD"):
        handler.lambda_handler(kinesis_event([]), None)


def test_handler_file_is_importable_alone() -> None:
    """Lambda imports ``lambda_handler`` from the zip root; the package beside it needs no other path."""
    code = "import lambda_handler, stream_processor.readings as r; print(r.__file__)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], cwd=LAMBDA_DIR, capture_output=True, text=True, check=True)
    assert Path(out.stdout.strip()).parent == Path(LAMBDA_DIR) / "stream_processor"


# --- the live view's widget function on the same table --------------------------------------------------------------
WIDGET_CONTEXT = {  # as CloudWatch documents the custom widget's event (values of a 12x6 widget in the light theme)
    "dashboardName": "smartcity-iot-test-traffic", "widgetId": "widget-1", "domain": "https://console.aws.amazon.com",
    "accountId": "123456789012", "locale": "en", "timezone": {"label": "UTC", "offsetISO": "+00:00", "offsetInMinutes": 0},
    "period": 300, "isAutoPeriod": True, "theme": "light", "linkCharts": True, "title": "Live congestion",
    "timeRange": {"mode": "relative", "start": 1767214800000, "end": 1767225600000, "relativeStart": 10800000, "zoomEnabled": True},
    "forms": {"all": {}}, "params": {"top": 5, "windows": 4}, "width": 588, "height": 369,
}


@pytest.fixture
def widget(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The widget function's module (``live_view_handler.lambda_handler``) with the stack's environment."""
    for name, value in aws["env"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CONGESTION_THRESHOLD", "0.7")
    monkeypatch.setenv("CONGESTION_CLEAR_THRESHOLD", "0.5")
    monkeypatch.syspath_prepend(str(LAMBDA_DIR))
    module = importlib.import_module("live_view_handler")
    module.settings.cache_clear()
    module.dynamodb.cache_clear()
    yield module
    module.settings.cache_clear()
    module.dynamodb.cache_clear()


def test_the_widget_function_draws_what_the_processor_stored(handler: Any, widget: Any) -> None:
    now_ms = int(time.time() * 1000)
    records = [kinesis_record(reading(f"w-jam-{i}", "widget-jam", now_ms - 500, speed=4.0, occupancy=0.95), 900 + i) for i in range(6)]
    records += [kinesis_record(reading(f"w-flow-{i}", "widget-flow", now_ms - 400, speed=70.0, occupancy=0.05), 910 + i) for i in range(6)]
    assert handler.lambda_handler(kinesis_event(records), None) == {"batchItemFailures": []}

    html = widget.lambda_handler({"widgetContext": WIDGET_CONTEXT}, None)
    assert isinstance(html, str) and "widget-jam" in html and "widget-flow" in html
    assert "<script" not in html.lower() and "<iframe" not in html.lower() and "<use" not in html.lower()
    assert 'width="588"' in html  # sized from the widget
    # what it read, and at what cost: one Query
    page, requests = widget.page(widget.dynamodb(), widget.settings(), WIDGET_CONTEXT, time.time())
    assert requests == 1 and "widget-jam" in page
    # a parameter carrying markup is rendered as text
    hostile = dict(WIDGET_CONTEXT, theme="dark", params={"title": '<script>alert(1)</script><img src=x onerror="y">', "top": "<b>"})
    html = widget.lambda_handler({"widgetContext": hostile}, None)
    assert "<script" not in html.lower() and "<img" not in html.lower() and "&lt;script&gt;" in html


def test_the_widget_function_describes_itself(widget: Any) -> None:
    text = widget.lambda_handler({"describe": True}, None)
    assert text.startswith("## Live congestion") and "top:" in text and "windows:" in text
