"""The AWS edges with botocore's Stubber (it checks request and response shapes against the service models):
retries of transient failures, no retries of permanent ones, partial batch failures, and the conditional paths."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from processor_support import SEQ_BASE
from stream_processor.aggregate import Contribution, seq_key
from stream_processor.alerts import Alert, ZoneState
from stream_processor.aws import DynamoStore, EventBridgePublisher, Retry, SqsQuarantine, is_transient
from stream_processor.config import ConfigError, from_env
from stream_processor.live_state import SensorPage, encode_entry
from stream_processor.ports import EdgeError


def client(service: str) -> Any:
    return boto3.session.Session().client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x", endpoint_url="http://127.0.0.1:9"
    )


def no_sleep() -> tuple[Retry, list[float]]:
    slept: list[float] = []
    return Retry(attempts=4, sleep=slept.append), slept


PART = Contribution(count=3, vehicles=30, speed=120.0, congestion=1.5, low_seq=SEQ_BASE + 1, high_seq=SEQ_BASE + 3)


def window_item(count: int, last: int) -> dict[str, Any]:
    return {"count": {"N": str(count)}, "congestion_sum": {"N": "1.500000"}, "last_seq": {"S": seq_key(last)}}


def test_zone_window_update_is_retried_on_throttling_then_applied() -> None:
    ddb = client("dynamodb")
    retry, slept = no_sleep()
    store = DynamoStore(ddb, "state", retry)
    with Stubber(ddb) as stub:
        for _unused in range(2):
            stub.add_client_error("update_item", "ProvisionedThroughputExceededException", http_status_code=400)
        stub.add_response(
            "update_item",
            {"Attributes": window_item(3, SEQ_BASE + 3)},
            {
                "TableName": "state",
                "Key": {"pk": {"S": "ZONE#north"}, "sk": {"S": "W#1767225600#shardId-000000000000"}},
                "UpdateExpression": ANY,
                "ConditionExpression": "attribute_not_exists(last_seq) OR last_seq < :lo",
                "ExpressionAttributeNames": ANY,
                "ExpressionAttributeValues": ANY,
                "ReturnValues": "ALL_NEW",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        )
        result = store.add_window("north", 1767225600, "shardId-000000000000", PART, 1, 1)
    assert result.applied and result.count == 3 and result.last_seq == SEQ_BASE + 3
    assert len(slept) == 2 and all(0 <= s <= 1.0 for s in slept)
    assert store.writes == 1


def test_zone_window_already_held_returns_the_stored_totals() -> None:
    ddb = client("dynamodb")
    store = DynamoStore(ddb, "state", no_sleep()[0])
    with Stubber(ddb) as stub:
        stub.add_client_error(
            "update_item", "ConditionalCheckFailedException", http_status_code=400, response_meta={}, modeled_fields={"Item": window_item(7, SEQ_BASE + 9)}
        )
        result = store.add_window("north", 1767225600, "s", PART, 1, 1)
    assert (result.applied, result.count, result.last_seq) == (False, 7, SEQ_BASE + 9)
    assert store.writes == 0


def test_permanent_errors_are_not_retried() -> None:
    ddb = client("dynamodb")
    retry, slept = no_sleep()
    store = DynamoStore(ddb, "state", retry)
    with Stubber(ddb) as stub:
        stub.add_client_error("update_item", "AccessDeniedException", http_status_code=400)
        with pytest.raises(EdgeError, match="AccessDeniedException"):
            store.add_window("north", 1, "s", PART, 1, 1)
    assert slept == []


def test_throttling_that_outlasts_the_retries_is_an_edge_error() -> None:
    ddb = client("dynamodb")
    retry, slept = no_sleep()
    with Stubber(ddb) as stub:
        for _unused in range(4):
            stub.add_client_error("update_item", "ThrottlingException", http_status_code=400)
        with pytest.raises(EdgeError, match="ThrottlingException"):
            DynamoStore(ddb, "state", retry).add_window("north", 1, "s", PART, 1, 1)
    assert len(slept) == 3


def test_sensor_page_follows_the_contract_and_is_written_on_its_version_only() -> None:
    ddb = client("dynamodb")
    store = DynamoStore(ddb, "state", no_sleep()[0])
    page = SensorPage(1, 1, 4, {"s1": encode_entry(1767225601234, 12, 42.5, 0.25, 0.4), "s3": encode_entry(1767225600001, 0, 0.0, None, 0.0)}, 1767225605000)
    item = {
        "pk": {"S": "ZONE#north"}, "sk": {"S": "STATE#01#00001"}, "zone": {"S": "north"}, "level": {"N": "1"},
        "v": {"N": "4"}, "flushed_ms": {"N": "1767225605000"}, "expires_at": {"N": "99"},
        "S#s1": {"S": "1767225601234|12|42.5|0.25|0.4"}, "S#s3": {"S": "1767225600001|0|0||0"},
    }
    with Stubber(ddb) as stub:
        stub.add_response("put_item", {}, {
            "TableName": "state", "Item": item, "ConditionExpression": "v = :v", "ExpressionAttributeValues": {":v": {"N": "3"}},
        })
        assert store.put_sensor_page("north", page, 3, 99) is True
        stub.add_client_error("put_item", "ConditionalCheckFailedException", http_status_code=400)
        assert store.put_sensor_page("north", page, 3, 99) is False
        first = SensorPage(0, 0, 1, {"s1": "1|1|1|1|1"}, 5)
        stub.add_response("put_item", {}, {
            "TableName": "state", "Item": ANY, "ConditionExpression": "attribute_not_exists(pk)",
        })
        assert store.put_sensor_page("north", first, 0, 99) is True
        stub.add_response("query", {"Items": [item]}, {
            "TableName": "state", "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":pk": {"S": "ZONE#north"}, ":p": {"S": "STATE#"}}, "ConsistentRead": True,
        })
        assert store.load_sensor_pages("north") == [page]
    assert store.writes == 2


def test_unprocessed_silence_marks_are_retried_then_reported() -> None:
    ddb = client("dynamodb")
    store = DynamoStore(ddb, "state", no_sleep()[0])
    unprocessed = {"state": [{"PutRequest": {"Item": {"pk": {"S": "ZONE#north"}, "sk": {"S": "SILENT#s2"}}}}]}

    def put(sensor: str, last: int, reported: int) -> dict[str, Any]:
        return {"PutRequest": {"Item": {
            "pk": {"S": "ZONE#north"}, "sk": {"S": f"SILENT#{sensor}"}, "window_start": {"N": str(last)},
            "reported_window": {"N": str(reported)}, "expires_at": {"N": "99"},
        }}}

    with Stubber(ddb) as stub:
        stub.add_response("batch_write_item", {"UnprocessedItems": unprocessed}, {"RequestItems": {"state": [put("s1", 60, 240), put("s2", 120, 300)]}})
        stub.add_response("batch_write_item", {})
        store.mark_silent("north", {"s1": (60, 240), "s2": (120, 300)}, 99)
        assert store.writes == 2
        for _unused in range(4):
            stub.add_response("batch_write_item", {"UnprocessedItems": unprocessed})
        with pytest.raises(EdgeError, match="1 item\\(s\\) not written"):
            store.mark_silent("north", {"s2": (120, 300)}, 99)


def test_alert_state_write_is_conditional_and_a_lost_race_returns_false() -> None:
    ddb = client("dynamodb")
    store = DynamoStore(ddb, "state", no_sleep()[0])
    old = ZoneState(state="CLEAR", window_start=60)
    new = old._replace(state="CONGESTED", window_start=120, since=130)
    with Stubber(ddb) as stub:
        stub.add_client_error("update_item", "ConditionalCheckFailedException", http_status_code=400)
        stub.add_response("update_item", {})
        assert store.set_congestion("north", new, old, 130) is False
        assert store.set_congestion("north", new, old, 130) is True


def test_put_events_retries_only_the_failed_entries() -> None:
    events = client("events")
    publisher = EventBridgePublisher(events, "alerts", no_sleep()[0])
    alerts = [Alert("CongestionAlert", {"zone": "a"}), Alert("CongestionAlert", {"zone": "b"})]
    with Stubber(events) as stub:
        throttled = {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}
        first = {"FailedEntryCount": 1, "Entries": [{"EventId": "1"}, throttled]}
        stub.add_response("put_events", first)
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 0, "Entries": [{"EventId": "2"}]},
            {"Entries": [{"Source": "smartcity.traffic", "DetailType": "CongestionAlert", "Detail": '{"zone":"b"}', "EventBusName": "alerts"}]},
        )
        publisher.publish(alerts)


def test_put_events_that_keep_failing_raise() -> None:
    events = client("events")
    publisher = EventBridgePublisher(events, "alerts", no_sleep()[0])
    with Stubber(events) as stub:
        for _unused in range(4):
            stub.add_response("put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]})
        with pytest.raises(EdgeError, match="not accepted"):
            publisher.publish([Alert("SensorSilent", {"zone": "a", "sensor_id": "s"})])


def test_quarantine_batches_by_ten() -> None:
    sqs = client("sqs")
    quarantine = SqsQuarantine(sqs, "http://127.0.0.1:9/123456789012/q", no_sleep()[0])
    with Stubber(sqs) as stub:
        url = "http://127.0.0.1:9/123456789012/q"
        stub.add_response("send_message_batch", {"Successful": [], "Failed": []}, {"QueueUrl": url, "Entries": [ANY] * 10})
        stub.add_response("send_message_batch", {"Successful": [], "Failed": []}, {"QueueUrl": url, "Entries": [ANY] * 2})
        quarantine.send([{"reason": "bad_json", "n": i} for i in range(12)])
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [("ThrottlingException", 400, True), ("InternalServerError", 500, True), ("Whatever", 503, True), ("ValidationException", 400, False)],
)
def test_transient_classification(code: str, status: int, expected: bool) -> None:
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "UpdateItem")
    assert is_transient(error) is expected


BASE_ENV = {"TABLE_NAME": "t", "EVENT_BUS_NAME": "b"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TABLE_NAME": ""}, "TABLE_NAME: required"),
        ({"EVENT_BUS_NAME": "has space"}, "EVENT_BUS_NAME: 'has space' is not a valid name"),
        ({"WINDOW_SECONDS": "abc"}, "WINDOW_SECONDS: 'abc' is not an integer"),
        ({"WINDOW_SECONDS": "7"}, "WINDOW_SECONDS: 7 is outside 10..3600"),
        ({"WINDOW_SECONDS": "70"}, "WINDOW_SECONDS: 70 must divide a day"),
        ({"CONGESTION_THRESHOLD": "1.5"}, "CONGESTION_THRESHOLD: 1.5 is outside 0.0..1.0"),
        ({"CONGESTION_THRESHOLD": "nan"}, "CONGESTION_THRESHOLD: nan is outside"),
        ({"CONGESTION_CLEAR_THRESHOLD": "0.7"}, "CONGESTION_CLEAR_THRESHOLD: must be below CONGESTION_THRESHOLD"),
        ({"MIN_READINGS": "0"}, "MIN_READINGS: 0 is outside"),
        ({"STATE_TTL_DAYS": "x"}, "STATE_TTL_DAYS: 'x' is not an integer"),
        ({"WRITE_CONCURRENCY": "0"}, "WRITE_CONCURRENCY: 0 is outside 1..16"),
    ],
)
def test_configuration_errors_name_the_variable_and_rule(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        from_env({**BASE_ENV, **env})


def test_configuration_defaults_follow_the_contract() -> None:
    settings = from_env(BASE_ENV)
    assert (settings.window_seconds, settings.congestion_threshold, settings.congestion_clear_threshold, settings.min_readings) == (60, 0.7, 0.5, 5)
    assert settings.quarantine_queue_url is None
    assert settings.write_concurrency == 8
