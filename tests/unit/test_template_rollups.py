"""Static checks of the template's hourly history (issue 17): the Firehose prefixes and the Glue partition projections
name the same S3 keys, and the hourly rollup job (EventBridge Scheduler -> Step Functions -> Athena) is well formed.
The job's JSONata (the hour it rolls up, the hour's validation, the queries' text, the failure causes) is run here with
jsonata-python on a small Step Functions interpreter: the local endpoint keeps the state machine but never runs it."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from conftest import ROOT

TEMPLATE: dict[str, Any] = yaml.safe_load((ROOT / "files" / "iot-analytics-system.yaml").read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
UTC = datetime.timezone.utc
BUCKET = "history-bucket-example"

# What HistoryDelivery wrote before the hourly layout; telemetry_by_day must keep reading it.
DAILY_PREFIX = "telemetry/dt=!{timestamp:yyyy-MM-dd}/"

STATE_MACHINE = RESOURCES["RollupStateMachine"]["Properties"]
DEFINITION: dict[str, Any] = STATE_MACHINE["Definition"]
QUERY_STATES = ["CreateSensorHour", "CreateZoneWindow", "MergeSensorHour", "MergeZoneWindow"]
SQL_VARIABLES = {"CreateSensorHour": "createSensorHourSql", "CreateZoneWindow": "createZoneWindowSql",
                 "MergeSensorHour": "mergeSensorHourSql", "MergeZoneWindow": "mergeZoneWindowSql"}
ROLLUP_TABLES = {"createSensorHourSql": "sensor_hour", "createZoneWindowSql": "zone_window"}


# --- Java DateTimeFormatter patterns (Firehose's !{timestamp:...} and Athena's projection.<key>.format) ---------------
# The letters these patterns use, each as a fixed-width field; any other letter (or quoted text) is refused, so a new
# pattern that this translation does not know fails the test instead of passing unchecked.
JAVA_FIELDS = {"yyyy": ("year", 4), "MM": ("month", 2), "dd": ("day", 2), "HH": ("hour", 2), "mm": ("minute", 2), "ss": ("second", 2)}


def _java_tokens(pattern: str) -> list[tuple[str, str]]:
    """('field', letters) or ('text', literal) runs of a DateTimeFormatter pattern."""
    tokens = []
    for match in re.finditer(r"([A-Za-z])\1*|[^A-Za-z']+|'", pattern):
        text = match.group(0)
        if text[0].isalpha():
            if text not in JAVA_FIELDS:
                raise ValueError(f"pattern letter run {text!r} of {pattern!r} is not translated")
            tokens.append(("field", text))
        elif text == "'":
            raise ValueError(f"quoted text in {pattern!r} is not translated")
        else:
            tokens.append(("text", text))
    return tokens


def java_format(pattern: str, moment: datetime.datetime) -> str:
    out = []
    for kind, text in _java_tokens(pattern):
        if kind == "text":
            out.append(text)
        else:
            attribute, width = JAVA_FIELDS[text]
            out.append(f"{getattr(moment, attribute):0{width}d}")
    return "".join(out)


def java_parse(pattern: str, value: str) -> datetime.datetime:
    regex, attributes = "", []
    for kind, text in _java_tokens(pattern):
        if kind == "text":
            regex += re.escape(text)
        else:
            attribute, width = JAVA_FIELDS[text]
            regex += f"([0-9]{{{width}}})"
            attributes.append(attribute)
    match = re.fullmatch(regex, value)
    if match is None:
        raise ValueError(f"{value!r} does not match {pattern!r}")
    fields = {"year": 1970, "month": 1, "day": 1, **dict(zip(attributes, map(int, match.groups())))}
    return datetime.datetime(tzinfo=UTC, **fields)


def firehose_key(prefix: str, arrival: datetime.datetime, error_type: str = "") -> str:
    """The S3 key prefix Firehose gives a record that arrived at ``arrival`` (UTC, as Firehose evaluates timestamps)."""

    def expand(match: re.Match) -> str:
        namespace, argument = match.groups()
        if namespace == "timestamp":
            return java_format(argument, arrival.astimezone(UTC))
        if (namespace, argument) == ("firehose", "error-output-type") and error_type:
            return error_type
        raise ValueError(f"unknown Firehose expression !{{{namespace}:{argument}}}")

    return re.sub(r"!\{(\w+):([^}]+)\}", expand, prefix)


UNITS = {"HOURS": datetime.timedelta(hours=1), "DAYS": datetime.timedelta(days=1)}


def _sub(node: Any) -> str:
    """A Fn::Sub string of the template with the bucket's name; ${!x} is CloudFormation's escape for a literal ${x}."""
    text = node["Fn::Sub"]
    return text.replace("${HistoryBucket}", BUCKET).replace("${!", "${")


class Projection:
    """A table's date partition projection, as Athena reads it."""

    def __init__(self, table: str) -> None:
        table_input = RESOURCES[table]["Properties"]["TableInput"]
        [key] = table_input["PartitionKeys"]
        self.key = key["Name"]
        parameters = table_input["Parameters"]
        assert parameters["projection.enabled"] == "true"
        assert parameters[f"projection.{self.key}.type"] == "date"
        assert key["Type"] == "string"
        self.format = parameters[f"projection.{self.key}.format"]
        self.step = int(parameters[f"projection.{self.key}.interval"]) * UNITS[parameters[f"projection.{self.key}.interval.unit"]]
        start, end = parameters[f"projection.{self.key}.range"].split(",")
        assert end == "NOW"
        self.start = java_parse(self.format, start)
        self.location = _sub(parameters["storage.location.template"])

    def value(self, moment: datetime.datetime) -> str:
        """The projected partition value whose interval holds ``moment`` (the intervals count from the range's start)."""
        steps = (moment.astimezone(UTC) - self.start) // self.step
        return java_format(self.format, self.start + steps * self.step)

    def key_prefix(self, value: str) -> str:
        parsed = java_parse(self.format, value)
        assert (parsed - self.start) % self.step == datetime.timedelta(0), f"{value} is not a projected value"
        assert java_format(self.format, parsed) == value  # one spelling per partition
        location = self.location.replace("${" + self.key + "}", value)
        assert location.startswith(f"s3://{BUCKET}/")
        return location.removeprefix(f"s3://{BUCKET}/")


HOURLY = Projection("HistoryTable")
DAILY = Projection("HistoryByDayTable")
DELIVERY = RESOURCES["HistoryDelivery"]["Properties"]["ExtendedS3DestinationConfiguration"]

BOUNDARIES = [
    "2026-01-01T00:00:00+00:00",  # the projection's first hour
    "2026-12-04T23:59:59.999+00:00",  # the last millisecond of an hour and of a day
    "2026-12-05T00:00:00+00:00",
    "2026-12-31T23:59:59.999+00:00",  # and of a year
    "2027-01-01T00:00:00+00:00",
    "2028-02-29T23:59:59.999+00:00",  # a leap day
    "2026-03-29T01:30:00+00:00",  # Central European summer time starts: UTC has no gap
    "2026-12-05T03:15:00+01:00",  # an arrival written with an offset is the same instant in UTC
]


@pytest.mark.parametrize("arrival", BOUNDARIES)
def test_firehose_prefix_and_hourly_projection_name_the_same_key(arrival: str) -> None:
    moment = datetime.datetime.fromisoformat(arrival)
    value = HOURLY.value(moment)
    assert firehose_key(DELIVERY["Prefix"], moment) == HOURLY.key_prefix(value)
    assert java_parse(HOURLY.format, value) <= moment.astimezone(UTC) < java_parse(HOURLY.format, value) + HOURLY.step


def test_the_boundary_hours_are_the_ones_expected() -> None:
    assert firehose_key(DELIVERY["Prefix"], datetime.datetime(2026, 12, 4, 23, 59, 59, 999000, tzinfo=UTC)) == "telemetry/dh=2026-12-04-23/"
    assert firehose_key(DELIVERY["Prefix"], datetime.datetime(2027, 1, 1, tzinfo=UTC)) == "telemetry/dh=2027-01-01-00/"
    assert firehose_key(DELIVERY["ErrorOutputPrefix"], datetime.datetime(2026, 12, 5, 2, 0, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=3))),
                        "format-conversion-failed") == "errors/format-conversion-failed/dh=2026-12-04-23/"


@given(st.datetimes(min_value=datetime.datetime(2026, 1, 1), max_value=datetime.datetime(2099, 12, 31, 23, 59, 59, 999999),
                    timezones=st.just(UTC)))
def test_every_arrival_lands_in_its_projected_hour(moment: datetime.datetime) -> None:
    value = HOURLY.value(moment)
    assert firehose_key(DELIVERY["Prefix"], moment) == HOURLY.key_prefix(value)
    # the error prefix groups failed records by the same hour, under the errors/ lifecycle rule
    error_key = firehose_key(DELIVERY["ErrorOutputPrefix"], moment, "format-conversion-failed")
    assert error_key == f"errors/format-conversion-failed/{HOURLY.key}={value}/"


@pytest.mark.parametrize("arrival", BOUNDARIES)
def test_the_earlier_daily_layout_stays_readable_through_telemetry_by_day(arrival: str) -> None:
    moment = datetime.datetime.fromisoformat(arrival)
    assert firehose_key(DAILY_PREFIX, moment) == DAILY.key_prefix(DAILY.value(moment))
    # the two layouts never share a key: the hourly table reads none of the daily objects, and the other way round
    assert not firehose_key(DAILY_PREFIX, moment).startswith(HOURLY.location.split("${")[0].removeprefix(f"s3://{BUCKET}/"))
    assert not HOURLY.key_prefix(HOURLY.value(moment)).startswith(DAILY.location.split("${")[0].removeprefix(f"s3://{BUCKET}/"))


def test_the_pattern_translation_refuses_what_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="'hh'"):
        java_format("yyyy-MM-dd-hh", datetime.datetime(2026, 1, 1, tzinfo=UTC))  # hh is the 12-hour clock
    with pytest.raises(ValueError, match="quoted"):
        java_format("yyyy-MM-dd'T'HH", datetime.datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="unknown Firehose expression"):
        firehose_key("x/!{partitionKeyFromQuery:zone}/", datetime.datetime(2026, 1, 1, tzinfo=UTC))


def test_hourly_table_keeps_the_columns_and_the_daily_table_is_the_old_definition() -> None:
    hourly = RESOURCES["HistoryTable"]["Properties"]["TableInput"]
    daily = RESOURCES["HistoryByDayTable"]["Properties"]["TableInput"]
    assert (hourly["Name"], daily["Name"]) == ("telemetry", "telemetry_by_day")
    assert hourly["StorageDescriptor"] == daily["StorageDescriptor"]  # same columns, formats and root location
    assert [c["Name"] for c in hourly["StorageDescriptor"]["Columns"]] == [
        "sensor_id", "zone", "ts", "vehicle_count", "avg_speed_kmh", "occupancy", "congestion_index", "readings", "columns"]
    assert hourly["PartitionKeys"] == [{"Name": "dh", "Type": "string"}]
    assert daily["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert {k: v for k, v in hourly["Parameters"].items() if k.startswith("projection.")} == {
        "projection.enabled": "true", "projection.dh.type": "date", "projection.dh.format": "yyyy-MM-dd-HH",
        "projection.dh.range": "2026-01-01-00,NOW", "projection.dh.interval": "1", "projection.dh.interval.unit": "HOURS"}
    assert {k: v for k, v in daily["Parameters"].items() if k.startswith("projection.")} == {
        "projection.enabled": "true", "projection.dt.type": "date", "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": "2026-01-01,NOW", "projection.dt.interval": "1", "projection.dt.interval.unit": "DAYS"}
    assert "before the hourly layout" in daily["Description"]
    # Firehose converts with the hourly table's schema; both tables live in the history database
    assert DELIVERY["DataFormatConversionConfiguration"]["SchemaConfiguration"]["TableName"] == "telemetry"
    assert RESOURCES["HistoryByDayTable"]["Properties"]["DatabaseName"] == {"Ref": "HistoryDatabase"}


def test_parquet_is_snappy_with_dictionary_pages() -> None:
    serde = DELIVERY["DataFormatConversionConfiguration"]["OutputFormatConfiguration"]["Serializer"]["ParquetSerDe"]
    assert serde == {"Compression": "SNAPPY", "EnableDictionaryCompression": True}


# --- the rollup job's resources ---------------------------------------------------------------------------------------
def _statements(role: str) -> dict[str, dict[str, Any]]:
    [policy] = RESOURCES[role]["Properties"]["Policies"]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def _glue_tables(statement: dict[str, Any]) -> list[str]:
    return [r["Fn::Sub"][0].rsplit("/", 1)[1] for r in statement["Resource"] if isinstance(r, dict) and "/${Database}/" in str(r)]


def test_rollup_workgroup_is_the_analytics_workgroup_with_its_own_results() -> None:
    analytics = RESOURCES["AnalyticsWorkGroup"]["Properties"]
    rollups = RESOURCES["RollupWorkGroup"]["Properties"]
    assert rollups["Name"] == {"Fn::Sub": "${NamePrefix}-${EnvironmentName}-rollups"}
    expected = json.loads(json.dumps(analytics["WorkGroupConfiguration"]).replace("/athena-results/", "/athena-results/rollups/"))
    assert rollups["WorkGroupConfiguration"] == expected
    assert rollups["WorkGroupConfiguration"]["ResultConfiguration"]["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_KMS", "KmsKey": {"Fn::GetAtt": ["DataKey", "Arn"]}}
    assert rollups["WorkGroupConfiguration"]["BytesScannedCutoffPerQuery"] == 10737418240
    assert rollups["WorkGroupConfiguration"]["EnforceWorkGroupConfiguration"] is True
    assert rollups["WorkGroupConfiguration"]["PublishCloudWatchMetricsEnabled"] is True


def test_rollup_state_machine_role_has_only_what_the_job_needs() -> None:
    statements = _statements("RollupStateMachineRole")
    assert {sid: _actions(s) for sid, s in statements.items()} == {
        "QueryThroughRollupWorkGroup": {"athena:StartQueryExecution", "athena:GetQueryExecution", "athena:StopQueryExecution"},
        "RollupCatalog": {"glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable", "glue:GetPartitions"},
        "ListHistory": {"s3:GetBucketLocation", "s3:ListBucket"},
        "ReadTelemetry": {"s3:GetObject"},
        "WriteRollupsAndResults": {"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"},
        "UseDataKey": {"kms:Decrypt", "kms:GenerateDataKey"},
        "VendedLogDelivery": {"logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:DescribeLogGroups", "logs:DescribeResourcePolicies",
                              "logs:GetLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:UpdateLogDelivery"},
    }
    assert statements["QueryThroughRollupWorkGroup"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:athena:${AWS::Region}:${AWS::AccountId}:workgroup/${NamePrefix}-${EnvironmentName}-rollups"}
    assert _glue_tables(statements["RollupCatalog"]) == ["telemetry", "sensor_hour", "zone_window"]
    assert statements["ReadTelemetry"]["Resource"] == {"Fn::Sub": "${HistoryBucket.Arn}/telemetry/*"}
    assert statements["WriteRollupsAndResults"]["Resource"] == [
        {"Fn::Sub": "${HistoryBucket.Arn}/rollups/*"}, {"Fn::Sub": "${HistoryBucket.Arn}/athena-results/rollups/*"}]
    assert statements["UseDataKey"]["Resource"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    trust = RESOURCES["RollupStateMachineRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].endswith(":stateMachine:${NamePrefix}-${EnvironmentName}-rollups")


def test_quicksight_reads_the_rollups_and_the_daily_table() -> None:
    statements = _statements("AnalyticsReadRole")
    assert _glue_tables(statements["ReadCatalog"]) == ["telemetry", "telemetry_by_day", "sensor_hour", "zone_window"]
    assert statements["ReadHistory"]["Resource"] == [
        {"Fn::Sub": "${HistoryBucket.Arn}/telemetry/*"}, {"Fn::Sub": "${HistoryBucket.Arn}/rollups/*"}]
    assert _actions(statements["ReadHistory"]) == {"s3:GetObject"}  # read-only: nothing of the rollups' writes


def test_rollup_tables_are_safe_from_the_bucket_lifecycle_and_policy() -> None:
    """Iceberg needs every current data and metadata file: no rule may expire or move rollups/ objects."""
    rules = RESOURCES["HistoryBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    for rule in rules:
        prefix = rule.get("Prefix", "")
        if "rollups/".startswith(prefix):
            assert not {"ExpirationInDays", "Transitions", "ExpirationDate"} & set(rule), rule["Id"]
    statements = RESOURCES["HistoryBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert [(s["Sid"], s["Effect"], s["Condition"]) for s in statements] == [("TlsOnly", "Deny", {"Bool": {"aws:SecureTransport": "false"}})]


def test_schedule_starts_the_job_at_twenty_past_every_hour_utc() -> None:
    schedule = RESOURCES["RollupSchedule"]["Properties"]
    assert schedule["ScheduleExpression"] == "cron(20 * * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["State"] == "ENABLED"
    target = schedule["Target"]
    assert target["Arn"] == {"Ref": "RollupStateMachine"}
    assert target["RoleArn"] == {"Fn::GetAtt": ["RollupScheduleRole", "Arn"]}
    assert json.loads(target["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] < 3600 - 20 * 60 + 1200  # given up before the next run
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
    statements = _statements("RollupScheduleRole")
    assert {sid: _actions(s) for sid, s in statements.items()} == {
        "StartRollups": {"states:StartExecution"}, "DeadLetters": {"sqs:SendMessage"},
        "EncryptDeadLetters": {"kms:Decrypt", "kms:GenerateDataKey"}}
    assert statements["StartRollups"]["Resource"] == {"Ref": "RollupStateMachine"}
    assert statements["DeadLetters"]["Resource"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}


def test_rollup_alarms_go_to_the_ops_topic() -> None:
    def alarm(name: str) -> dict[str, Any]:
        properties = RESOURCES[name]["Properties"]
        assert properties["AlarmActions"] == [{"Ref": "OpsTopic"}] and properties["OKActions"] == [{"Ref": "OpsTopic"}]
        return properties

    on_machine = [{"Name": "StateMachineArn", "Value": {"Ref": "RollupStateMachine"}}]
    for name, metric in (("RollupFailedAlarm", "ExecutionsFailed"), ("RollupTimedOutAlarm", "ExecutionsTimedOut")):
        properties = alarm(name)
        assert (properties["Namespace"], properties["MetricName"], properties["Dimensions"]) == ("AWS/States", metric, on_machine)
        assert (properties["Statistic"], properties["Period"] * properties["EvaluationPeriods"]) == ("Sum", 3600)
        assert (properties["Threshold"], properties["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
        assert properties["TreatMissingData"] == "notBreaching"
    missing = alarm("RollupNotSucceedingAlarm")
    assert (missing["Namespace"], missing["MetricName"], missing["Dimensions"]) == ("AWS/States", "ExecutionsSucceeded", on_machine)
    assert missing["Period"] * missing["DatapointsToAlarm"] == 7200 and missing["DatapointsToAlarm"] == missing["EvaluationPeriods"]
    assert (missing["Threshold"], missing["ComparisonOperator"], missing["TreatMissingData"]) == (1, "LessThanThreshold", "breaching")
    scan = alarm("RollupScanAlarm")
    assert (scan["Namespace"], scan["MetricName"]) == ("AWS/Athena", "ProcessedBytes")
    assert {d["Name"]: d["Value"] for d in scan["Dimensions"]} == {
        "WorkGroup": RESOURCES["RollupWorkGroup"]["Properties"]["Name"], "QueryState": "SUCCEEDED", "QueryType": "DML"}
    cap = RESOURCES["RollupWorkGroup"]["Properties"]["WorkGroupConfiguration"]["BytesScannedCutoffPerQuery"]
    assert (scan["Statistic"], scan["Threshold"], scan["ComparisonOperator"]) == ("Maximum", cap * 8 // 10, "GreaterThanThreshold")


def test_rollup_outputs() -> None:
    outputs = TEMPLATE["Outputs"]
    assert outputs["RollupStateMachineArn"]["Value"] == {"Ref": "RollupStateMachine"}
    assert outputs["RollupWorkGroupName"]["Value"] == RESOURCES["RollupWorkGroup"]["Properties"]["Name"]
    assert (outputs["RollupSensorHourTableName"]["Value"], outputs["RollupZoneWindowTableName"]["Value"]) == ("sensor_hour", "zone_window")
    assert outputs["GlueDailyTableName"]["Value"] == RESOURCES["HistoryByDayTable"]["Properties"]["TableInput"]["Name"]
    for name in ("RollupStateMachineArn", "RollupWorkGroupName"):
        assert outputs[name]["Export"] == {"Name": {"Fn::Sub": "${AWS::StackName}-" + name}}


# --- the state machine's definition -----------------------------------------------------------------------------------
def test_state_machine_is_standard_jsonata_logged_and_bounded() -> None:
    assert STATE_MACHINE["StateMachineName"] == {"Fn::Sub": "${NamePrefix}-${EnvironmentName}-rollups"}
    assert STATE_MACHINE["StateMachineType"] == "STANDARD"
    assert STATE_MACHINE["RoleArn"] == {"Fn::GetAtt": ["RollupStateMachineRole", "Arn"]}
    logging = STATE_MACHINE["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["Destinations"] == [{"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["RollupLogGroup", "Arn"]}}}]
    log_group = RESOURCES["RollupLogGroup"]["Properties"]
    assert log_group["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert log_group["LogGroupName"]["Fn::Sub"].startswith("/aws/vendedlogs/states/")
    assert DEFINITION["QueryLanguage"] == "JSONata"
    assert DEFINITION["TimeoutSeconds"] < 3600  # ends before the next hourly run starts


def _path() -> list[str]:
    """The states from StartAt on the success path (a Choice's first choice)."""
    name, path = DEFINITION["StartAt"], []
    while True:
        path.append(name)
        state = DEFINITION["States"][name]
        if state.get("End"):
            return path
        name = state["Choices"][0]["Next"] if state["Type"] == "Choice" else state["Next"]


def test_the_four_queries_run_in_order_each_on_its_own_sql() -> None:
    assert _path() == ["Configure", "CheckHour", *QUERY_STATES]
    for name in QUERY_STATES:
        state = DEFINITION["States"][name]
        assert state["Type"] == "Task"
        assert state["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:states:::athena:startQueryExecution.sync"}
        assert state["Arguments"] == {
            "QueryString": "{% $replace($" + SQL_VARIABLES[name] + ", '__DELIVERY_HOUR__', $hour) %}",
            "WorkGroup": {"Ref": "RollupWorkGroup"},
            "QueryExecutionContext": {"Database": {"Ref": "HistoryDatabase"}},
        }
        assert 0 < state["TimeoutSeconds"] <= DEFINITION["TimeoutSeconds"]
        [retry] = state["Retry"]
        assert "Athena.TooManyRequestsException" in retry["ErrorEquals"]
        assert retry["BackoffRate"] > 1 and retry["MaxAttempts"] >= 3 and retry["IntervalSeconds"] >= 1
        [catch] = state["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == "RollupFailed"
        assert catch["Assign"] == {"failedStep": name}
    assert DEFINITION["States"]["RollupFailed"]["Type"] == "Fail"
    assert DEFINITION["States"]["CheckHour"]["Default"] == "InvalidHour"


def test_the_sql_variables_are_plain_text_with_the_known_placeholders_only() -> None:
    """What the SQL may contain: ${HistoryBucket} and ${HistoryDatabase} (DefinitionSubstitutions) and __DELIVERY_HOUR__."""
    assigned = DEFINITION["States"]["Configure"]["Assign"]
    substitutions = STATE_MACHINE["DefinitionSubstitutions"]
    assert substitutions == {"HistoryBucket": {"Ref": "HistoryBucket"}, "HistoryDatabase": {"Ref": "HistoryDatabase"}}
    for variable in SQL_VARIABLES.values():
        sql = assigned[variable]
        assert isinstance(sql, str) and sql.strip()
        assert not sql.lstrip().startswith("{%")  # Step Functions would evaluate it as JSONata
    for variable, table in ROLLUP_TABLES.items():
        assert f"s3://${{HistoryBucket}}/rollups/{table}/" in assigned[variable]
    for variable in ("mergeSensorHourSql", "mergeZoneWindowSql"):
        assert "__DELIVERY_HOUR__" in assigned[variable]
    # every ${...} in the definition's text is a substitution CloudFormation makes (an unknown one would stay as text)
    assert set(re.findall(r"\$\{([^}]*)\}", json.dumps(_without_intrinsics(DEFINITION)))) <= set(substitutions)


def _without_intrinsics(node: Any) -> Any:
    """The definition less its Ref and Fn::Sub values (CloudFormation resolves those before the substitutions)."""
    if isinstance(node, dict):
        return {k: _without_intrinsics(v) for k, v in node.items() if k not in ("Ref", "Fn::Sub")}
    if isinstance(node, list):
        return [_without_intrinsics(v) for v in node]
    return node


# --- running the definition ---------------------------------------------------------------------------------------------
def _jsonata():
    return pytest.importorskip("jsonata", reason="jsonata-python runs the state machine's JSONata")


def _evaluate(value: Any, states: dict[str, Any], variables: dict[str, Any]) -> Any:
    """A JSONata-state field as Step Functions evaluates it: a "{% ... %}" string is an expression, objects and lists
    are evaluated member by member, anything else is itself."""
    if isinstance(value, str) and value.startswith("{%") and value.endswith("%}"):
        return _jsonata().Jsonata(value[2:-2]).evaluate(None, {**variables, "states": states})
    if isinstance(value, dict):
        return {k: _evaluate(v, states, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_evaluate(v, states, variables) for v in value]
    return value


RESOLVED = {"HistoryBucket": BUCKET, "HistoryDatabase": "smartcity_iot_prod_history", "RollupWorkGroup": "smartcity-iot-prod-rollups"}


def _resolved(node: Any) -> Any:
    """The definition as CloudFormation hands it to Step Functions (Ref, the Fn::Sub of the task resource, substitutions)."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return RESOLVED[node["Ref"]]
        if set(node) == {"Fn::Sub"}:
            return node["Fn::Sub"].replace("${AWS::Partition}", "aws")
        return {k: _resolved(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolved(v) for v in node]
    if isinstance(node, str):
        return node.replace("${HistoryBucket}", RESOLVED["HistoryBucket"]).replace("${HistoryDatabase}", RESOLVED["HistoryDatabase"])
    return node


def run(execution_input: Any, failing: str | None = None) -> dict[str, Any]:
    """One execution of the definition: Pass, Choice, Task (Athena answers at once, or fails in state ``failing``),
    Fail, with workflow variables, Catch Assign/Output and the default outputs of JSONata states."""
    definition = _resolved(DEFINITION)
    variables: dict[str, Any] = {}
    queries: list[tuple[str, dict[str, Any]]] = []
    name, state_input = definition["StartAt"], execution_input
    for _step in range(20):
        state = definition["States"][name]
        states = {"input": state_input}
        if state["Type"] == "Pass":
            variables.update({k: _evaluate(v, states, variables) for k, v in state.get("Assign", {}).items()})
            output, following = state_input, state.get("Next")
        elif state["Type"] == "Choice":
            following = state["Default"]
            for choice in state["Choices"]:
                matched = _evaluate(choice["Condition"], states, variables)
                assert isinstance(matched, bool), f"{name}: a Condition must be true or false, got {matched!r}"
                if matched:
                    following = choice["Next"]
                    break
            output = state_input
        elif state["Type"] == "Task":
            queries.append((name, _evaluate(state["Arguments"], states, variables)))
            if name == failing:
                [catch] = state["Catch"]
                caught = {"input": state_input, "errorOutput": {"Error": "States.TaskFailed", "Cause": "Athena: SYNTAX_ERROR line 1:1"}}
                output = _evaluate(catch["Output"], caught, variables)
                variables.update({k: _evaluate(v, caught, variables) for k, v in catch.get("Assign", {}).items()})
                name, state_input = catch["Next"], output
                continue
            output, following = {"QueryExecution": {"Status": {"State": "SUCCEEDED"}}}, state.get("Next")
        elif state["Type"] == "Fail":
            return {"status": "FAILED", "error": _evaluate(state["Error"], states, variables),
                    "cause": _evaluate(state["Cause"], states, variables), "queries": queries, "variables": variables}
        else:
            raise AssertionError(f"state type {state['Type']} is not interpreted")
        if state.get("End"):
            return {"status": "SUCCEEDED", "queries": queries, "variables": variables}
        name, state_input = following, output
    raise AssertionError("the execution did not end")


@pytest.mark.parametrize(
    ("execution_input", "hour"),
    [
        ({"scheduled_time": "2026-12-05T00:20:00Z"}, "2026-12-04-23"),  # the schedule's run after midnight: the day before
        ({"scheduled_time": "2027-01-01T00:20:00Z"}, "2026-12-31-23"),
        ({"scheduled_time": "2028-03-01T00:20:00Z"}, "2028-02-29-23"),
        ({"scheduled_time": "2026-12-05T13:20:00Z"}, "2026-12-05-12"),
        ({"scheduled_time": "2026-12-05T14:20:00.000+01:00"}, "2026-12-05-12"),
        ({"hour": "2026-12-05-03"}, "2026-12-05-03"),  # a manual run names its hour
        ({"hour": "2026-12-05-03", "scheduled_time": "2026-12-05T00:20:00Z"}, "2026-12-05-03"),
        ({"hour": "2028-02-29-00"}, "2028-02-29-00"),
        ({"hour": "2000-02-29-23"}, "2000-02-29-23"),
    ],
)
def test_the_job_rolls_up_the_hour_it_is_given_or_the_one_before_its_schedule(execution_input: dict[str, Any], hour: str) -> None:
    result = run(execution_input)
    assert result["status"] == "SUCCEEDED", result
    assert result["variables"]["hour"] == hour
    assert [name for name, _arguments in result["queries"]] == QUERY_STATES
    assigned = _resolved(DEFINITION["States"]["Configure"]["Assign"])
    for name, arguments in result["queries"]:
        assert arguments["QueryString"] == assigned[SQL_VARIABLES[name]].replace("__DELIVERY_HOUR__", hour)
        assert "__DELIVERY_HOUR__" not in arguments["QueryString"] and "${" not in arguments["QueryString"]
        assert arguments["WorkGroup"] == RESOLVED["RollupWorkGroup"]
        assert arguments["QueryExecutionContext"] == {"Database": RESOLVED["HistoryDatabase"]}
    merges = [arguments["QueryString"] for name, arguments in result["queries"] if name.startswith("Merge")]
    assert all(hour in sql for sql in merges)
    creates = dict(result["queries"][:2])
    assert f"s3://{BUCKET}/rollups/sensor_hour/" in creates["CreateSensorHour"]["QueryString"]
    assert f"s3://{BUCKET}/rollups/zone_window/" in creates["CreateZoneWindow"]["QueryString"]


@pytest.mark.parametrize(
    "bad",
    ["2026-12-05T03", "2026-12-5-03", "2026-12-05-3", "2026-13-01-00", "2026-00-10-00", "2026-12-32-00", "2026-12-00-00",
     "2026-12-05-24", "2026-02-29-00", "2100-02-29-00", "2026-04-31-12", "2026-12-05-03 ", "", 2026120503, None, ["2026-12-05-03"]],
)
def test_a_wrong_hour_fails_the_execution_naming_the_field_and_the_format(bad: Any) -> None:
    result = run({"hour": bad})
    assert result["status"] == "FAILED" and result["queries"] == []
    assert result["error"] == "InvalidHour"
    assert 'field "hour"' in result["cause"] and "yyyy-MM-dd-HH" in result["cause"]
    assert json.dumps(bad).strip('"') in result["cause"] or (bad is None and "null" in result["cause"])


@pytest.mark.parametrize("execution_input", [{}, {"scheduled_time": "yesterday"}, {"scheduled_time": 1796000000}, "2026-12-05-03"])
def test_an_input_without_an_hour_fails_saying_what_it_needs(execution_input: Any) -> None:
    result = run(execution_input)
    assert (result["status"], result["error"], result["queries"]) == ("FAILED", "InvalidHour", [])
    assert '"hour" (format yyyy-MM-dd-HH)' in result["cause"] and '"scheduled_time"' in result["cause"]


@pytest.mark.parametrize("failing", QUERY_STATES)
def test_a_failing_query_stops_the_job_with_a_cause_naming_the_step_and_the_hour(failing: str) -> None:
    result = run({"hour": "2026-12-05-03"}, failing=failing)
    assert result["status"] == "FAILED"
    assert [name for name, _arguments in result["queries"]] == QUERY_STATES[: QUERY_STATES.index(failing) + 1]
    assert result["error"] == "States.TaskFailed"
    assert result["cause"] == f"{failing} failed for delivery hour 2026-12-05-03: Athena: SYNTAX_ERROR line 1:1"
