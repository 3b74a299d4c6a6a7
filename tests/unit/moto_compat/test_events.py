"""Fixes 7 and 9 (moto_compat.events): an archive's EventPattern object; PutEvents to SNS, Lambda and Kinesis targets."""

from __future__ import annotations

import json

from compat_support import ROUTING_TEMPLATE, _client, routing_stack
from moto_compat import events as compat


def test_put_events_with_sns_lambda_and_kinesis_targets_succeeds_and_reaches_the_topic(cfn) -> None:
    cfn.create_stack(StackName="routing", TemplateBody=ROUTING_TEMPLATE.replace("ACTION", "iot:Connect"))
    sqs, sns, events = _client(cfn, "sqs"), _client(cfn, "sns"), _client(cfn, "events")
    url = sqs.create_queue(QueueName="compat-sub")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn="arn:aws:sns:us-east-1:123456789012:compat-topic", Protocol="sqs", Endpoint=arn)

    result = events.put_events(Entries=[{"Source": "compat.test", "DetailType": "T", "Detail": '{"a": 1}', "EventBusName": "compat-bus"}])
    assert result["FailedEntryCount"] == 0  # moto alone: HTTP 500 (NotImplementedError for SNS/Lambda/Kinesis)
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    event = json.loads(json.loads(message["Body"])["Message"])
    assert event["detail"] == {"a": 1} and event["source"] == "compat.test"
    assert isinstance(event["time"], str)  # the event as EventBridge shapes it, as for SQS targets


def test_archive_is_made_from_an_event_pattern_object(cfn) -> None:
    routing_stack(cfn)
    assert _client(cfn, "events").list_archives()["Archives"]  # made from an EventPattern object


def test_sns_message_honours_input_and_input_transformer() -> None:
    event = {"source": "s", "detail-type": "CongestionAlert", "detail": {"zone": "z1"}, "id": "1", "time": 0.0,
             "region": "us-east-1", "account": "123456789012", "resources": [], "version": "0", "ingestion-time": 0.0}
    assert compat._sns_message({"Input": '{"action": "sweep"}'}, event) == '{"action": "sweep"}'
    shaped = compat._sns_message({"InputTransformer": {"InputPathsMap": {"z": "$.detail.zone"}, "InputTemplate": '"zone <z>"'}}, event)
    assert "zone z1" in shaped
