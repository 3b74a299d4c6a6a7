"""files/iot-analytics-system.yaml deployed into the local endpoint (the compat launcher, as the local_endpoint role runs
it): create, read back what moto implements, PutEvents through the alert rules, update with a changed parameter,
delete. The tests of this file share one endpoint and one stack and run in order.

moto skips some resource types while the stack still completes (docs/template.md); they are checked statically
in tests/unit/test_template.py and tests/unit/test_template_rollups.py, not here. Of the hourly history's resources
(issue 17) moto skips the rollup schedule (AWS::Scheduler::Schedule, which has no CloudFormation model in moto) and
the four rollup alarms (AWS::CloudWatch::Alarm, like every alarm). It keeps the Glue tables telemetry and
telemetry_by_day and the rollup workgroup (launcher fix 18), the rollup log group and roles, and the rollup state
machine with its definition, substitutions, type and logging (launcher fix 25); it never runs the state machine
(its JSONata is run in tests/unit/test_template_rollups.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from conftest import ROOT, local_endpoint

TEMPLATE = ROOT / "files" / "iot-analytics-system.yaml"
STACK = "smartcity-it-local"
NAME = "smartcity-it-local"  # NamePrefix-EnvironmentName
REGION = "eu-west-1"
CODE_BUCKET = "smartcity-it-code"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]


def parameters(**overrides: str) -> list[dict[str, str]]:
    values = {
        "EnvironmentName": "local",
        "NamePrefix": "smartcity-it",
        "CodeS3Bucket": CODE_BUCKET,
        "CodeS3Key": "lambda/stream-processor-0123456789abcdef.zip",
        "WindowSeconds": "60",
        "StateTtlDays": "2",
        **overrides,
    }
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


class Endpoint:
    def __init__(self, url: str) -> None:
        self.url = url

    def client(self, service: str):
        return boto3.client(service, region_name=REGION, endpoint_url=self.url,
                            aws_access_key_id="local-endpoint", aws_secret_access_key="local-endpoint")


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    with local_endpoint(tmp_path_factory.mktemp("template-endpoint")) as url:
        yield Endpoint(url)


@pytest.fixture(scope="module")
def stack(endpoint: Endpoint) -> dict[str, str]:
    s3 = endpoint.client("s3")
    s3.create_bucket(Bucket=CODE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=CODE_BUCKET, Key="lambda/stream-processor-0123456789abcdef.zip", Body=b"PK\x05\x06" + b"\x00" * 18)
    cfn = endpoint.client("cloudformation")
    cfn.create_stack(StackName=STACK, TemplateBody=TEMPLATE.read_text(), Parameters=parameters(), Capabilities=CAPABILITIES)
    [description] = cfn.describe_stacks(StackName=STACK)["Stacks"]
    assert description["StackStatus"] == "CREATE_COMPLETE", description.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in description["Outputs"]}


def test_outputs_the_roles_smoke_test_and_quicksight_read(stack: dict[str, str]) -> None:
    assert stack["StreamName"] == f"{NAME}-telemetry"
    assert stack["StreamArn"].endswith(f":stream/{NAME}-telemetry")
    assert stack["TableName"] == f"{NAME}-state"
    assert stack["EventBusName"] == f"{NAME}-alerts"
    assert stack["FunctionName"] == f"{NAME}-processor"
    assert stack["QuarantineQueueUrl"].endswith(f"/{NAME}-quarantine")
    assert stack["DeadLetterQueueUrl"].endswith(f"/{NAME}-dead-letters")
    assert stack["TopicRuleName"] == "smartcity_it_local_telemetry"
    assert stack["GlueDatabaseName"] == "smartcity_it_local_history"
    assert stack["GlueTableName"] == "telemetry"
    assert stack["AthenaWorkGroupName"] == f"{NAME}-analytics"
    assert stack["HistoryDeliveryStreamName"] == f"{NAME}-history"
    assert stack["DevicePolicyName"] == f"{NAME}-device"
    assert stack["DashboardName"] == f"{NAME}-traffic"
    assert stack["AlertTopicArn"].endswith(f":{NAME}-alerts")
    assert stack["OpsTopicArn"].endswith(f":{NAME}-ops")
    assert ":role/" in stack["AnalyticsRoleArn"]
    assert stack["HistoryBucketName"]
    assert stack["GlueDailyTableName"] == "telemetry_by_day"
    assert stack["RollupWorkGroupName"] == f"{NAME}-rollups"
    assert stack["RollupStateMachineArn"] == f"arn:aws:states:{REGION}:123456789012:stateMachine:{NAME}-rollups"
    assert (stack["RollupSensorHourTableName"], stack["RollupZoneWindowTableName"]) == ("sensor_hour", "zone_window")
    template_outputs = set(json.loads(json.dumps(_template()["Outputs"])))
    assert set(stack) == template_outputs  # moto dropped none (no output refers to a skipped resource type)


def _template() -> dict:
    import yaml

    return yaml.safe_load(TEMPLATE.read_text())


def test_table_keys_ttl_and_recovery(endpoint: Endpoint, stack: dict[str, str]) -> None:
    ddb = endpoint.client("dynamodb")
    table = ddb.describe_table(TableName=stack["TableName"])["Table"]
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {("pk", "HASH"), ("sk", "RANGE")}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["DeletionProtectionEnabled"] is False  # local only; dev/staging/prod protect the table
    assert not table.get("GlobalSecondaryIndexes")
    ttl = ddb.describe_time_to_live(TableName=stack["TableName"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    backups = ddb.describe_continuous_backups(TableName=stack["TableName"])["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_stream(endpoint: Endpoint, stack: dict[str, str]) -> None:
    summary = endpoint.client("kinesis").describe_stream_summary(StreamName=stack["StreamName"])["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["OpenShardCount"] == 1
    assert summary["RetentionPeriodHours"] == 24
    assert summary["StreamModeDetails"]["StreamMode"] == "PROVISIONED"


def test_function_and_its_event_source_mapping(endpoint: Endpoint, stack: dict[str, str]) -> None:
    awslambda = endpoint.client("lambda")
    config = awslambda.get_function_configuration(FunctionName=stack["FunctionName"])
    assert config["Handler"] == "lambda_handler.lambda_handler"
    assert config["Runtime"] == "python3.12"
    assert config["Architectures"] == ["arm64"]
    assert config["Timeout"] == 60
    env = {k: str(v) for k, v in config["Environment"]["Variables"].items()}
    assert env == {
        "TABLE_NAME": stack["TableName"],
        "EVENT_BUS_NAME": stack["EventBusName"],
        "WINDOW_SECONDS": "60",
        "CONGESTION_THRESHOLD": "0.7",
        "CONGESTION_CLEAR_THRESHOLD": "0.5",
        "MIN_READINGS": "5",
        "STATE_TTL_DAYS": "2",
        "QUARANTINE_QUEUE_URL": stack["QuarantineQueueUrl"],
        "POWERTOOLS_SERVICE_NAME": stack["FunctionName"],
        "POWERTOOLS_METRICS_NAMESPACE": "SmartCity/Traffic",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    [mapping] = awslambda.list_event_source_mappings(FunctionName=stack["FunctionName"])["EventSourceMappings"]
    assert mapping["EventSourceArn"] == stack["StreamArn"]
    assert mapping["StartingPosition"] == "LATEST"
    assert mapping["BatchSize"] == 500
    assert mapping["MaximumBatchingWindowInSeconds"] == 5  # the template default: fuller batches, fewer zone-window writes
    assert mapping["ParallelizationFactor"] == 1
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == 10000
    assert mapping["MaximumRecordAgeInSeconds"] == 3600
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"].endswith(f":{NAME}-dead-letters")

    policy = json.loads(awslambda.get_policy(FunctionName=stack["FunctionName"])["Policy"])
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"].endswith(f":rule/{NAME}-sweep")


def test_bus_rules_targets_and_archive(endpoint: Endpoint, stack: dict[str, str]) -> None:
    events = endpoint.client("events")
    bus = stack["EventBusName"]
    rules = {r["Name"]: r for r in events.list_rules(EventBusName=bus)["Rules"]}
    # the archive's managed rule (as on AWS), the smoke test's probe, and no Slack rule without a webhook
    assert set(rules) == {f"{NAME}-alerts-to-topic", f"{NAME}-alerts-to-audit-log", f"Events-Archive-{NAME}-alerts",
                          f"{NAME}-smoke-alerts-to-probe"}
    pattern = json.loads(rules[f"{NAME}-alerts-to-topic"]["EventPattern"])
    assert pattern["source"] == ["smartcity.traffic"]
    assert set(pattern["detail-type"]) >= {"CongestionAlert", "CongestionCleared", "SensorSilent"}
    assert pattern["detail"]["zone"] == [{"anything-but": {"prefix": "smoke-"}}]  # smoke tests page nobody
    probe = json.loads(rules[f"{NAME}-smoke-alerts-to-probe"]["EventPattern"])
    assert probe["source"] == ["smartcity.traffic"] and probe["detail"]["zone"] == [{"prefix": "smoke-"}]
    [to_probe] = events.list_targets_by_rule(Rule=f"{NAME}-smoke-alerts-to-probe", EventBusName=bus)["Targets"]
    assert to_probe["Arn"].endswith(f":{NAME}-alert-probe")
    [to_topic] = events.list_targets_by_rule(Rule=f"{NAME}-alerts-to-topic", EventBusName=bus)["Targets"]
    assert to_topic["Arn"] == stack["AlertTopicArn"]
    assert to_topic["DeadLetterConfig"]["Arn"].endswith(f":{NAME}-dead-letters")
    [to_log] = events.list_targets_by_rule(Rule=f"{NAME}-alerts-to-audit-log", EventBusName=bus)["Targets"]
    assert to_log["Arn"].endswith(f":log-group:/aws/events/{NAME}-alerts")

    sweep = events.describe_rule(Name=f"{NAME}-sweep")  # default bus
    assert sweep["ScheduleExpression"] == "rate(1 minute)"
    [to_processor] = events.list_targets_by_rule(Rule=f"{NAME}-sweep")["Targets"]
    assert to_processor["Arn"].endswith(f":function:{stack['FunctionName']}")
    assert json.loads(to_processor["Input"]) == {"action": "sweep"}

    [archive] = events.list_archives(NamePrefix=f"{NAME}-alerts")["Archives"]
    assert archive["EventSourceArn"].endswith(f":event-bus/{bus}")
    assert archive["RetentionDays"] == 400


def test_queues_topics_key_and_log_groups_are_encrypted(endpoint: Endpoint, stack: dict[str, str]) -> None:
    sqs = endpoint.client("sqs")
    for url in (stack["QuarantineQueueUrl"], stack["DeadLetterQueueUrl"]):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["KmsMasterKeyId"]
        assert attributes["MessageRetentionPeriod"] == "1209600"
    sns = endpoint.client("sns")
    for topic in (stack["AlertTopicArn"], stack["OpsTopicArn"]):
        assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["KmsMasterKeyId"]
    kms = endpoint.client("kms")
    key_id = stack["DataKeyArn"].rsplit("/", 1)[1]
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    assert f"alias/{NAME}-data" in {a["AliasName"] for a in kms.list_aliases(KeyId=key_id)["Aliases"]}

    groups = {g["logGroupName"]: g for g in endpoint.client("logs").describe_log_groups()["logGroups"]}
    for name in (f"/aws/lambda/{NAME}-processor", f"/aws/events/{NAME}-alerts",
                 f"/aws/iot/{NAME}/telemetry-rule-errors", f"/aws/kinesisfirehose/{NAME}-history",
                 f"/aws/vendedlogs/states/{NAME}-rollups"):
        assert groups[name]["retentionInDays"] == 365  # moto ignores a log group's KmsKeyId from CloudFormation


def test_history_bucket_encryption(endpoint: Endpoint, stack: dict[str, str]) -> None:
    # moto applies only BucketEncryption (and tags) from CloudFormation: versioning, public access block, logging and
    # lifecycle are checked statically (tests/unit/test_template.py, checkov).
    s3 = endpoint.client("s3")
    [rule] = s3.get_bucket_encryption(Bucket=stack["HistoryBucketName"])["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": stack["DataKeyArn"]}
    others = {b["Name"] for b in s3.list_buckets()["Buckets"]} - {stack["HistoryBucketName"], CODE_BUCKET}
    [access_logs] = others
    [log_rule] = s3.get_bucket_encryption(Bucket=access_logs)["ServerSideEncryptionConfiguration"]["Rules"]
    assert log_rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"  # server access logs need SSE-S3


def test_history_tables_hourly_and_daily(endpoint: Endpoint, stack: dict[str, str]) -> None:
    glue = endpoint.client("glue")
    bucket = stack["HistoryBucketName"]
    hourly = glue.get_table(DatabaseName=stack["GlueDatabaseName"], Name=stack["GlueTableName"])["Table"]
    assert hourly["PartitionKeys"] == [{"Name": "dh", "Type": "string"}]
    assert {k: v for k, v in hourly["Parameters"].items() if k != "classification"} == {
        "projection.enabled": "true", "projection.dh.type": "date", "projection.dh.format": "yyyy-MM-dd-HH",
        "projection.dh.range": "2026-01-01-00,NOW", "projection.dh.interval": "1", "projection.dh.interval.unit": "HOURS",
        "storage.location.template": f"s3://{bucket}/telemetry/dh=${{dh}}/",
    }
    daily = glue.get_table(DatabaseName=stack["GlueDatabaseName"], Name=stack["GlueDailyTableName"])["Table"]
    assert daily["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert daily["Parameters"]["storage.location.template"] == f"s3://{bucket}/telemetry/dt=${{dt}}/"
    assert daily["Parameters"]["projection.dt.format"] == "yyyy-MM-dd"
    assert daily["StorageDescriptor"]["Columns"] == hourly["StorageDescriptor"]["Columns"]
    assert [c["Name"] for c in hourly["StorageDescriptor"]["Columns"]][-2:] == ["readings", "columns"]
    assert "before the hourly layout" in daily["Description"]


def test_rollup_workgroup_and_state_machine(endpoint: Endpoint, stack: dict[str, str]) -> None:
    bucket = stack["HistoryBucketName"]
    group = endpoint.client("athena").get_work_group(WorkGroup=stack["RollupWorkGroupName"])["WorkGroup"]
    configuration = group["Configuration"]
    assert configuration["ResultConfiguration"] == {
        "OutputLocation": f"s3://{bucket}/athena-results/rollups/",
        "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": stack["DataKeyArn"]},
    }
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["PublishCloudWatchMetricsEnabled"] is True
    assert configuration["BytesScannedCutoffPerQuery"] == 10737418240

    machine = endpoint.client("stepfunctions").describe_state_machine(stateMachineArn=stack["RollupStateMachineArn"])
    assert machine["type"] == "STANDARD"
    assert ":role/" in machine["roleArn"] and "RollupStateMachineRole" in machine["roleArn"]
    assert machine["loggingConfiguration"]["level"] == "ALL"
    [destination] = machine["loggingConfiguration"]["destinations"]
    assert f":log-group:/aws/vendedlogs/states/{NAME}-rollups" in destination["cloudWatchLogsLogGroup"]["logGroupArn"]
    definition = json.loads(machine["definition"])  # the Definition object, as JSON text, with its substitutions made
    assert definition["QueryLanguage"] == "JSONata" and definition["StartAt"] == "Configure"
    assert "${" not in machine["definition"]
    for name in ("CreateSensorHour", "CreateZoneWindow", "MergeSensorHour", "MergeZoneWindow"):
        state = definition["States"][name]
        assert state["Resource"] == "arn:aws:states:::athena:startQueryExecution.sync"
        assert state["Arguments"]["WorkGroup"] == stack["RollupWorkGroupName"]
        assert state["Arguments"]["QueryExecutionContext"] == {"Database": stack["GlueDatabaseName"]}
    assigned = definition["States"]["Configure"]["Assign"]
    assert f"s3://{bucket}/rollups/sensor_hour/" in assigned["createSensorHourSql"]
    assert f"s3://{bucket}/rollups/zone_window/" in assigned["createZoneWindowSql"]


def test_device_policy_keeps_its_policy_variables(endpoint: Endpoint, stack: dict[str, str]) -> None:
    document = endpoint.client("iot").get_policy(policyName=stack["DevicePolicyName"])["policyDocument"]
    document = json.loads(document)  # JSON, as AWS returns it (the launcher's fix 8)
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    prefix = f"arn:aws:iot:{REGION}:123456789012:"
    assert by_sid["ConnectAsOwnThing"]["Resource"] == prefix + "client/${iot:Connection.Thing.ThingName}"
    assert by_sid["ConnectAsOwnThing"]["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
    assert by_sid["PublishOwnTelemetry"]["Resource"] == [
        prefix + "topic/traffic/*/${iot:Connection.Thing.ThingName}/telemetry",
        prefix + "topic/$aws/rules/smartcity_it_local_telemetry/traffic/*/${iot:Connection.Thing.ThingName}/telemetry",
    ]
    # the rotation channel: the thing's own named shadow cert-rotation
    shadow = "$aws/things/${iot:Connection.Thing.ThingName}/shadow/name/cert-rotation/*"
    assert by_sid["OwnRotationShadow"]["Action"] == ["iot:Publish", "iot:Receive"]
    assert by_sid["OwnRotationShadow"]["Resource"] == prefix + "topic/" + shadow
    assert by_sid["SubscribeOwnRotationShadow"]["Resource"] == prefix + "topicfilter/" + shadow


def test_dashboard_per_zone_widget_is_10_seconds(endpoint: Endpoint, stack: dict[str, str]) -> None:
    body = json.loads(endpoint.client("cloudwatch").get_dashboard(DashboardName=stack["DashboardName"])["DashboardBody"])
    [zones] = [w for w in body["widgets"] if "per zone" in w["properties"]["title"]]
    [[query]] = zones["properties"]["metrics"]
    assert query["expression"].startswith("SEARCH('{SmartCity/Traffic,service,zone}")
    assert f'service="{stack["FunctionName"]}"' in query["expression"]
    assert zones["properties"]["period"] <= 10 and query["period"] <= 10
    assert [a["value"] for a in zones["properties"]["annotations"]["horizontal"]] == [0.7, 0.5]


def test_put_events_to_the_alert_bus_reaches_sqs_sns_and_the_audit_log(endpoint: Endpoint, stack: dict[str, str]) -> None:
    """The processor's PutEvents (issue 6) must not fail locally although the alert rule targets SNS."""
    sqs, sns, events = endpoint.client("sqs"), endpoint.client("sns"), endpoint.client("events")
    bus = stack["EventBusName"]

    def queue(name: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    rule_url, rule_arn = queue("probe-rule")
    events.put_rule(Name="probe", EventBusName=bus, EventPattern=json.dumps({"source": ["smartcity.traffic"]}))
    events.put_targets(Rule="probe", EventBusName=bus, Targets=[{"Id": "probe", "Arn": rule_arn}])
    topic_url, topic_queue_arn = queue("probe-topic")
    sns.subscribe(TopicArn=stack["AlertTopicArn"], Protocol="sqs", Endpoint=topic_queue_arn)

    detail = {"zone": "z-7", "window_start": 1795580000, "congestion_index": 0.82, "threshold": 0.7, "readings": 40}
    result = events.put_events(Entries=[{"Source": "smartcity.traffic", "DetailType": "CongestionAlert",
                                         "Detail": json.dumps(detail), "EventBusName": bus}])
    assert result["FailedEntryCount"] == 0, result

    [by_rule] = sqs.receive_message(QueueUrl=rule_url, WaitTimeSeconds=1)["Messages"]
    assert json.loads(by_rule["Body"])["detail"] == detail
    [by_topic] = sqs.receive_message(QueueUrl=topic_url, WaitTimeSeconds=1)["Messages"]
    published = json.loads(json.loads(by_topic["Body"])["Message"])
    assert published["detail-type"] == "CongestionAlert" and published["detail"] == detail
    logged = endpoint.client("logs").filter_log_events(logGroupName=f"/aws/events/{NAME}-alerts")["events"]
    assert any(json.loads(e["message"])["detail"] == detail for e in logged)

    # a type no routing rule wants still goes to the probe (and the audit log), and nothing fails
    other = events.put_events(Entries=[{"Source": "smartcity.traffic", "DetailType": "Heartbeat", "Detail": "{}",
                                        "EventBusName": bus}])
    assert other["FailedEntryCount"] == 0
    assert sqs.receive_message(QueueUrl=topic_url, WaitTimeSeconds=0).get("Messages") is None


def test_update_with_a_changed_parameter(endpoint: Endpoint, stack: dict[str, str]) -> None:
    cfn = endpoint.client("cloudformation")
    cfn.update_stack(StackName=STACK, TemplateBody=TEMPLATE.read_text(), Capabilities=CAPABILITIES,
                     Parameters=parameters(WindowSeconds="30", CongestionThreshold="0.75"))
    [description] = cfn.describe_stacks(StackName=STACK)["Stacks"]
    assert description["StackStatus"] == "UPDATE_COMPLETE", description.get("StackStatusReason")
    env = endpoint.client("lambda").get_function_configuration(FunctionName=stack["FunctionName"])["Environment"]["Variables"]
    assert str(env["WINDOW_SECONDS"]) == "30"
    assert env["CONGESTION_THRESHOLD"] == "0.75"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in description["Outputs"]}
    assert outputs == stack
    machine = endpoint.client("stepfunctions").describe_state_machine(stateMachineArn=stack["RollupStateMachineArn"])
    assert json.loads(machine["definition"])["States"]["Configure"]["Type"] == "Pass"  # kept through the update
    with pytest.raises(cfn.exceptions.ClientError, match="No updates are to be performed"):
        cfn.update_stack(StackName=STACK, TemplateBody=TEMPLATE.read_text(), Capabilities=CAPABILITIES,
                         Parameters=parameters(WindowSeconds="30", CongestionThreshold="0.75"))


def test_invalid_threshold_is_refused(endpoint: Endpoint) -> None:
    cfn = endpoint.client("cloudformation")
    with pytest.raises(cfn.exceptions.ClientError, match="CongestionThreshold"):
        cfn.update_stack(StackName=STACK, TemplateBody=TEMPLATE.read_text(), Capabilities=CAPABILITIES,
                         Parameters=parameters(CongestionThreshold="1.5"))


def test_delete_removes_everything_on_local(endpoint: Endpoint, stack: dict[str, str]) -> None:
    cfn = endpoint.client("cloudformation")
    cfn.delete_stack(StackName=STACK)
    [summary] = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == STACK]
    assert summary["StackStatus"] == "DELETE_COMPLETE"
    assert stack["TableName"] not in endpoint.client("dynamodb").list_tables()["TableNames"]
    assert endpoint.client("lambda").list_functions()["Functions"] == []
    assert endpoint.client("iot").list_policies()["policies"] == []  # the device policy (updated once) is gone too
    assert stack["StreamName"] not in endpoint.client("kinesis").list_streams()["StreamNames"]
    assert endpoint.client("stepfunctions").list_state_machines()["stateMachines"] == []
    assert stack["RollupWorkGroupName"] not in [g["Name"] for g in endpoint.client("athena").list_work_groups()["WorkGroups"]]
    buckets = {b["Name"] for b in endpoint.client("s3").list_buckets()["Buckets"]}
    assert buckets == {CODE_BUCKET}


def test_template_path_is_the_shipped_one() -> None:
    assert Path(TEMPLATE).is_file()
