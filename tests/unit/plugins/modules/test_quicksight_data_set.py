# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""quicksight_data_set and quicksight_data_set_info: the request builder against botocore's service model, input
rules, and every call path against botocore's Stubber (moto has no DescribeDataSet, UpdateDataSet, permissions or
refresh schedules, so the local endpoint is not used here).

The amazon.aws sequence check -> apply -> check -> apply runs against a stubbed QuickSight whose responses follow what
the previous run wrote; the Stubber fails on any call that was not queued, so check mode cannot write unnoticed."""

from __future__ import annotations

import copy
import datetime
import functools
import json
import re
from typing import Any

import boto3
import botocore.session
import pytest
from ansible.module_utils.testing import patch_module_args
from botocore.stub import Stubber
from botocore.validate import ParamValidator

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.smartcity.iot_analytics.plugins.module_utils import quicksight
from ansible_collections.smartcity.iot_analytics.plugins.modules import quicksight_data_set, quicksight_data_set_info

REGION = "eu-west-1"
ACCOUNT = "123456789012"
DS = "smartcity-prod-zone-hourly"
ARN = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dataset/{DS}"
SOURCE = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:datasource/smartcity-prod-history"
KEY = {"AwsAccountId": ACCOUNT, "DataSetId": DS}
SCHEDULE_ID = f"{DS}-schedule"
SCHEDULE_ARN = f"{ARN}/refresh-schedule/{SCHEDULE_ID}"
ADMINS = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:group/default/traffic-admins"
VIEWERS = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:group/default/traffic-viewers"
OTHER = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:user/default/someone"
SQL = "SELECT zone, date_trunc('hour', reading_time) AS hour, avg(congestion_index) AS congestion_index\nFROM history.telemetry GROUP BY 1, 2"
COLUMNS = [{"name": "zone", "type": "STRING"}, {"name": "hour", "type": "DATETIME"}, {"name": "congestion_index", "type": "DECIMAL"}]
API_COLUMNS = [{"Name": "zone", "Type": "STRING"}, {"Name": "hour", "Type": "DATETIME"}, {"Name": "congestion_index", "Type": "DECIMAL"}]
VIEWER = quicksight.ACTION_SETS["data_set"]["viewer"]
OWNER = quicksight.ACTION_SETS["data_set"]["owner"]
MODEL = botocore.session.get_session().get_service_model("quicksight")


def args(**extra: Any) -> dict[str, Any]:
    """The zone_hourly data set as the role passes it (SPICE, incremental refresh, hourly schedule, two groups)."""
    base = {
        "region": REGION,
        "data_set_id": DS,
        "name": "Zone hourly",
        "data_source_arn": SOURCE,
        "import_mode": "SPICE",
        "custom_sql": SQL + "\n",
        "columns": COLUMNS,
        "incremental_refresh": {"column": "hour", "size": 1, "unit": "DAY"},
        "refresh_schedule": {"interval": "HOURLY", "refresh_type": "INCREMENTAL_REFRESH"},
        "permissions": [{"principal": "group/traffic-admins", "level": "owner"}, {"principal": "group/traffic-viewers", "level": "viewer"}],
        "tags": {"project": "smartcity"},
    }
    base.update(extra)
    return {key: value for key, value in base.items() if value is not ...}


# What the module must send for args(): written out here, not taken from build_request.
CREATE_REQUEST = {
    "AwsAccountId": ACCOUNT,
    "DataSetId": DS,
    "Name": "Zone hourly",
    "PhysicalTableMap": {"history": {"CustomSql": {"DataSourceArn": SOURCE, "Name": "Zone hourly", "SqlQuery": SQL, "Columns": API_COLUMNS}}},
    "LogicalTableMap": {"history-logical": {"Alias": "Zone hourly", "Source": {"PhysicalTableId": "history"}}},
    "ImportMode": "SPICE",
}
PROPERTIES = {"RefreshConfiguration": {"IncrementalRefresh": {"LookbackWindow": {"ColumnName": "hour", "Size": 1, "SizeUnit": "DAY"}}}}
SCHEDULE = {"ScheduleId": SCHEDULE_ID, "ScheduleFrequency": {"Interval": "HOURLY"}, "RefreshType": "INCREMENTAL_REFRESH"}
PERMISSIONS = [{"Principal": ADMINS, "Actions": OWNER}, {"Principal": VIEWERS, "Actions": VIEWER}]
TAGS = [{"Key": "project", "Value": "smartcity"}]


class AnyOrder(list):
    """Expected list parameter whose order does not matter (tags are a set)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, list) and sorted(map(json.dumps, self)) == sorted(map(json.dumps, other))

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None


def as_aws_has_it(request: dict[str, Any]) -> dict[str, Any]:
    """A DescribeDataSet DataSet for a request, with the fields QuickSight adds (they must not count as differences)."""
    keys = ("DataSetId", "Name", "PhysicalTableMap", "LogicalTableMap", "ImportMode", "DatasetParameters")
    data_set = copy.deepcopy({key: request[key] for key in keys if key in request})
    columns = []
    for table in data_set["PhysicalTableMap"].values():
        for spec in table.values():
            columns = spec.get("Columns") or spec.get("InputColumns") or []
            for column in columns:
                if column["Type"] == "DECIMAL":
                    column["SubType"] = "FLOAT"
    for logical in data_set["LogicalTableMap"].values():
        logical["DataTransforms"] = [{"ProjectOperation": {"ProjectedColumns": [c["Name"] for c in columns]}}]
    now = datetime.datetime(2026, 5, 1, tzinfo=datetime.timezone.utc)
    output = [{"Name": c["Name"], "Type": c["Type"]} for c in columns]
    data_set.update(Arn=ARN, CreatedTime=now, LastUpdatedTime=now, OutputColumns=output, ConsumedSpiceCapacityInBytes=2048)
    return data_set


# ---- running main() ----


def run(capsys, module, options: dict[str, Any], check: bool = False, diff: bool = True) -> dict[str, Any]:
    with patch_module_args({**options, "_ansible_check_mode": check, "_ansible_diff": diff}), pytest.raises(SystemExit) as exit_info:
        module.main()
    result = json.loads(capsys.readouterr().out)
    assert (exit_info.value.code != 0) == bool(result.get("failed")), result
    return result


def ok(capsys, options: dict[str, Any], check: bool = False, module=quicksight_data_set) -> dict[str, Any]:
    result = run(capsys, module, options, check=check)
    assert not result.get("failed"), result.get("msg")
    return result


def fails(capsys, options: dict[str, Any], module=quicksight_data_set) -> dict[str, Any]:
    result = run(capsys, module, options)
    assert result.get("failed"), result
    assert "Traceback" not in result["msg"]
    return result


@pytest.fixture
def stub(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    client = boto3.client("quicksight", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    wrapped = RetryingBotoClientWrapper(client, quicksight.quicksight_retry())
    with Stubber(client) as stubber:
        for module in (quicksight_data_set, quicksight_data_set_info):
            monkeypatch.setattr(module, "quicksight_client", lambda module_: wrapped)
            monkeypatch.setattr(module, "account_info", lambda module_: (ACCOUNT, "aws"))
        monkeypatch.setattr(quicksight_data_set, "wait_for_status", functools.partial(quicksight.wait_for_status, sleep=lambda seconds: None))
        yield stubber
        stubber.assert_no_pending_responses()


def not_found(stub: Stubber, operation: str, expected: dict[str, Any] | None = None) -> None:
    stub.add_client_error(operation, "ResourceNotFoundException", f"Data set {DS} not found", 404, expected_params=expected or KEY)


def queue_reads(
    stub: Stubber,
    data_set: dict[str, Any],
    permissions: list[dict[str, Any]] | None = None,
    tags: list[dict[str, str]] | None = None,
    properties: dict[str, Any] | None = None,
    schedules: list[dict[str, Any]] = (),
) -> None:
    """The reads of one run on an existing data set, in the module's order."""
    stub.add_response("describe_data_set", {"DataSet": data_set, "Status": 200}, KEY)
    stub.add_response(
        "describe_data_set_permissions", {"DataSetArn": ARN, "DataSetId": DS, "Status": 200, **({"Permissions": permissions} if permissions else {})}, KEY
    )
    stub.add_response("list_tags_for_resource", {"Status": 200, **({"Tags": tags} if tags else {})}, {"ResourceArn": ARN})
    if data_set["ImportMode"] != "SPICE":
        return
    if properties is None:
        not_found(stub, "describe_data_set_refresh_properties")
    else:
        stub.add_response("describe_data_set_refresh_properties", {"DataSetRefreshProperties": properties, "Status": 200}, KEY)
    stub.add_response("list_refresh_schedules", {"RefreshSchedules": list(schedules), "Status": 200}, KEY)


def queue_created(stub: Stubber, **overrides: Any) -> None:
    """The reads after args() was applied: the data set, permissions, tags, properties and schedule as written."""
    state = {
        "data_set": as_aws_has_it(CREATE_REQUEST),
        "permissions": PERMISSIONS,
        "tags": TAGS,
        "properties": PROPERTIES,
        "schedules": [dict(SCHEDULE, Arn=SCHEDULE_ARN, ScheduleFrequency={"Interval": "HOURLY", "Timezone": "UTC"})],
    }
    state.update(overrides)
    queue_reads(stub, **state)


# ---- build_request against botocore's model ----


def model_errors(operation: str, params: dict[str, Any], member: str | None = None) -> str:
    shape = MODEL.operation_model(operation).input_shape
    if member:
        shape = shape.members[member]
    report = ParamValidator().validate(params, shape)
    return report.generate_report() if report.has_errors() else ""


def test_build_request_custom_sql_is_valid_for_create_data_set():
    request = quicksight_data_set.build_request(args(), ACCOUNT)
    assert model_errors("CreateDataSet", request) == ""
    assert request == CREATE_REQUEST  # trailing new line of the YAML block dropped, one physical and one logical table
    assert "Permissions" not in request and "Tags" not in request


def test_build_request_relational_table_is_valid_for_create_data_set():
    params = args(
        custom_sql=...,
        import_mode="DIRECT_QUERY",
        relational_table={"catalog": "AwsDataCatalog", "database": "smartcity_history", "table": "telemetry"},
        name="r" * 100,
    )
    request = quicksight_data_set.build_request(params, ACCOUNT, physical_table_id="telemetry")
    assert model_errors("CreateDataSet", request) == ""
    assert request["PhysicalTableMap"] == {
        "telemetry": {
            "RelationalTable": {
                "DataSourceArn": SOURCE,
                "Catalog": "AwsDataCatalog",
                "Schema": "smartcity_history",
                "Name": "telemetry",
                "InputColumns": API_COLUMNS,
            }
        }
    }
    # the alias has a 64 character limit that the name (128) does not
    assert request["LogicalTableMap"] == {"telemetry-logical": {"Alias": "r" * 64, "Source": {"PhysicalTableId": "telemetry"}}}
    assert request["ImportMode"] == "DIRECT_QUERY" and request["Name"] == "r" * 100


def test_build_request_without_catalog_and_name_defaults_to_id():
    params = {"data_set_id": DS, "data_source_arn": SOURCE, "relational_table": {"database": "db", "table": "t"}, "columns": COLUMNS}
    request = quicksight_data_set.build_request(params, ACCOUNT)
    assert model_errors("CreateDataSet", request) == ""
    assert "Catalog" not in request["PhysicalTableMap"]["history"]["RelationalTable"]
    assert request["Name"] == DS and request["ImportMode"] == "SPICE"
    assert model_errors("UpdateDataSet", request) == ""


@pytest.mark.parametrize(
    "schedule",
    [
        {"interval": "HOURLY", "refresh_type": "INCREMENTAL_REFRESH"},
        {"interval": "DAILY", "time_of_day": "02:30", "timezone": "Europe/Berlin"},
        {"interval": "WEEKLY", "day_of_week": "MONDAY", "time_of_day": "06:00"},
        {"interval": "MONTHLY", "day_of_month": "LAST_DAY_OF_MONTH"},
        {"interval": "MONTHLY", "day_of_month": "28", "schedule_id": "monthly"},
    ],
)
def test_schedule_and_refresh_properties_are_valid_for_the_model(schedule):
    params = args(refresh_schedule=schedule)
    assert quicksight_data_set.validate(params) == []
    built = quicksight_data_set.build_schedule(params)
    assert model_errors("CreateRefreshSchedule", {**KEY, "Schedule": built}) == ""
    assert built["ScheduleId"] == schedule.get("schedule_id", SCHEDULE_ID)
    assert built["RefreshType"] == schedule.get("refresh_type", "FULL_REFRESH")
    properties = quicksight_data_set.build_refresh_properties(params["incremental_refresh"])
    assert model_errors("PutDataSetRefreshProperties", {**KEY, "DataSetRefreshProperties": properties}) == ""


# ---- input rules ----


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"columns": []}, "columns: required with state=present and must list at least one column"),
        ({"columns": [*COLUMNS, {"name": "zone", "type": "STRING"}]}, "columns[3].name: 'zone' is listed twice"),
        ({"columns": [{"name": "zone", "type": "TEXT"}]}, "columns[0].type: 'TEXT' must be one of STRING"),
        ({"custom_sql": "  \n"}, "custom_sql: must not be empty"),
        ({"custom_sql": "x" * 65537}, "custom_sql: 65537 characters breaks the QuickSight rule: at most 65536"),
        ({"custom_sql": None}, "custom_sql, relational_table: one of them is required"),
        ({"relational_table": {"database": "db", "table": "t"}}, "custom_sql, relational_table: give one of them, not both"),
        ({"data_source_arn": "smartcity-prod-history"}, "data_source_arn: 'smartcity-prod-history' is not a QuickSight data source ARN"),
        ({"data_source_arn": None}, "data_source_arn: required with state=present"),
        ({"data_set_id": "bad id"}, "data_set_id: 'bad id' breaks the QuickSight rule"),
        ({"name": "n" * 129}, "name: 129 characters breaks the QuickSight rule: 1 to 128"),
        ({"import_mode": "DIRECT_QUERY", "refresh_schedule": None}, "incremental_refresh: needs import_mode=SPICE"),
        ({"import_mode": "DIRECT_QUERY", "incremental_refresh": None, "refresh_schedule": {"interval": "DAILY"}}, "refresh_schedule: needs import_mode=SPICE"),
        ({"incremental_refresh": {"column": "day", "size": 1, "unit": "DAY"}}, "incremental_refresh.column: 'day' is not one of columns"),
        (
            {"incremental_refresh": {"column": "zone", "size": 1, "unit": "DAY"}},
            "incremental_refresh.column: 'zone' is STRING; the look-back window needs a DATETIME",
        ),
        ({"incremental_refresh": {"column": "hour", "size": 0, "unit": "DAY"}}, "incremental_refresh.size: 0 must be a whole number of at least 1"),
        ({"incremental_refresh": {"column": "hour", "size": 1}}, "incremental_refresh.unit: None must be one of HOUR, DAY, WEEK"),
        ({"incremental_refresh": None}, "refresh_schedule.refresh_type: INCREMENTAL_REFRESH needs incremental_refresh"),
        ({"incremental_refresh": {}}, "refresh_schedule.refresh_type: INCREMENTAL_REFRESH needs incremental_refresh"),
        ({"refresh_schedule": {"interval": "MINUTE15"}}, "refresh_schedule.interval: MINUTE15 is only allowed with refresh_type=INCREMENTAL_REFRESH"),
        ({"refresh_schedule": {"interval": "MINUTE30", "refresh_type": "FULL_REFRESH"}}, "MINUTE30 is only allowed with refresh_type=INCREMENTAL_REFRESH"),
        ({"refresh_schedule": {"interval": "WEEKLY"}}, "refresh_schedule.day_of_week: required with interval=WEEKLY"),
        ({"refresh_schedule": {"interval": "MONTHLY"}}, "refresh_schedule.day_of_month: required with interval=MONTHLY"),
        ({"refresh_schedule": {"interval": "MONTHLY", "day_of_month": "29"}}, "refresh_schedule.day_of_month: '29' must be 1 to 28 or LAST_DAY_OF_MONTH"),
        ({"refresh_schedule": {"interval": "DAILY", "day_of_week": "MONDAY"}}, "refresh_schedule.day_of_week: only for interval=WEEKLY"),
        (
            {"refresh_schedule": {"interval": "WEEKLY", "day_of_week": "MONDAY", "day_of_month": "3"}},
            "refresh_schedule.day_of_month: only for interval=MONTHLY",
        ),
        ({"refresh_schedule": {"interval": "DAILY", "time_of_day": "24:00"}}, "refresh_schedule.time_of_day: '24:00' must be HH:MM"),
        ({"refresh_schedule": {"time_of_day": "02:00"}}, "refresh_schedule.interval: None must be one of MINUTE15"),
        ({"permissions": [{"principal": "traffic-admins", "level": "owner"}]}, "permissions[0].principal: principal 'traffic-admins' must be group/NAME"),
    ],
)
def test_validate_names_the_field_and_the_rule(options, expected):
    errors = quicksight_data_set.validate(args(**options))
    assert any(expected in error for error in errors), errors


def test_validate_accepts_the_limits():
    assert quicksight_data_set.validate(args()) == []
    assert quicksight_data_set.validate(args(custom_sql="x" * 65536 + "\n\n")) == []
    assert quicksight_data_set.validate(args(refresh_schedule={"interval": "MINUTE15", "refresh_type": "INCREMENTAL_REFRESH"})) == []
    # a definition file holds only some options: the module's defaults apply
    assert quicksight_data_set.validate({"data_set_id": DS, "data_source_arn": SOURCE, "custom_sql": SQL, "columns": COLUMNS}) == []
    # {} asks for removal, so its members are not required; absent needs nothing but the id
    assert quicksight_data_set.validate(args(refresh_schedule={}, incremental_refresh={})) == []
    assert quicksight_data_set.validate({"data_set_id": DS, "state": "absent"}) == []


@pytest.fixture
def no_aws(monkeypatch):
    def refuse(module):
        raise AssertionError("no AWS call may be made for invalid input")

    monkeypatch.setattr(quicksight_data_set, "quicksight_client", refuse)
    monkeypatch.setattr(quicksight_data_set, "account_info", refuse)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"columns": []}, "columns: required with state=present"),
        ({"custom_sql": "x" * 65537}, "at most 65536 characters"),
        ({"refresh_schedule": {"interval": "WEEKLY", "refresh_type": "INCREMENTAL_REFRESH"}}, "refresh_schedule.day_of_week: required with interval=WEEKLY"),
        ({"incremental_refresh": {"column": "zone", "size": 1, "unit": "DAY"}}, "incremental_refresh.column: 'zone' is STRING"),
        ({"columns": [{"name": "zone", "type": "TEXT"}]}, "type must be one of"),
        ({"relational_table": {"database": "db", "table": "t"}}, "mutually exclusive: custom_sql|relational_table"),
        ({"incremental_refresh": {"column": "hour", "size": 1, "unit": "MINUTE"}}, "unit must be one of: HOUR, DAY, WEEK"),
    ],
)
def test_main_fails_on_invalid_input_before_any_call(capsys, no_aws, options, expected):
    result = fails(capsys, args(**options))
    assert expected in result["msg"], result["msg"]


# ---- create: check -> apply -> check -> apply ----


def test_create_check_apply_check_apply(capsys, stub):
    not_found(stub, "describe_data_set")
    planned = ok(capsys, args(), check=True)
    assert planned["changed"] is True
    assert planned["diff"]["before"] == {}
    assert planned["diff"]["after"] == {
        "name": "Zone hourly",
        "import_mode": "SPICE",
        "custom_sql": SQL,
        "columns": COLUMNS,
        "parameters": [],
        "refresh_schedule": {
            "schedule_id": SCHEDULE_ID,
            "interval": "HOURLY",
            "refresh_type": "INCREMENTAL_REFRESH",
            "time_of_day": None,
            "timezone": None,
            "day_of_week": None,
            "day_of_month": None,
        },
        "incremental_refresh": {"column": "hour", "size": 1, "unit": "DAY"},
        "permissions": {ADMINS: sorted(OWNER), VIEWERS: sorted(VIEWER)},
        "tags": {"project": "smartcity"},
    }
    assert planned["data_set"]["arn"] == ARN and planned["data_set"]["ingestion"] is None
    stub.assert_no_pending_responses()

    not_found(stub, "describe_data_set")
    stub.add_response(
        "create_data_set",
        {"Arn": ARN, "DataSetId": DS, "IngestionArn": f"{ARN}/ingestion/first", "IngestionId": "first", "Status": 201},
        {**CREATE_REQUEST, "Permissions": PERMISSIONS, "Tags": TAGS},
    )
    stub.add_response("put_data_set_refresh_properties", {"Status": 200}, {**KEY, "DataSetRefreshProperties": PROPERTIES})
    stub.add_response("create_refresh_schedule", {"Arn": SCHEDULE_ARN, "ScheduleId": SCHEDULE_ID, "Status": 201}, {**KEY, "Schedule": SCHEDULE})
    applied = ok(capsys, args())
    created = applied["data_set"]
    assert applied["changed"] is True
    assert created["ingestion"] == {"arn": f"{ARN}/ingestion/first", "ingestion_id": "first", "status": None, "row_info": None, "error_info": None}
    assert created["refresh_schedule"]["arn"] == SCHEDULE_ARN
    assert created["physical_table"]["custom_sql"]["sql_query"] == SQL
    assert created["permissions"] == [{"principal": ADMINS, "actions": sorted(OWNER)}, {"principal": VIEWERS, "actions": sorted(VIEWER)}]
    # check mode predicted what the apply did (the ingestion and the schedule's ARN are only known after)
    predicted = dict(planned["data_set"], ingestion=created["ingestion"], refresh_schedule=dict(planned["data_set"]["refresh_schedule"], arn=SCHEDULE_ARN))
    assert predicted == created
    assert applied["diff"] == planned["diff"] | {
        "after": dict(planned["diff"]["after"], refresh_schedule=dict(planned["diff"]["after"]["refresh_schedule"], arn=SCHEDULE_ARN))
    }
    stub.assert_no_pending_responses()

    queue_created(stub)
    again = ok(capsys, args(), check=True)
    assert again["changed"] is False and again["diff"]["before"] == again["diff"]["after"]
    assert again["data_set"]["refresh_schedule"]["timezone"] == "UTC"  # what QuickSight added is shown, and does not count
    assert again["data_set"]["columns"] == COLUMNS and again["data_set"]["ingestion"] is None
    stub.assert_no_pending_responses()

    queue_created(stub)
    again = ok(capsys, args())
    assert again["changed"] is False


def test_create_direct_query_from_a_table_has_no_refresh_calls(capsys, stub):
    table = {"catalog": "AwsDataCatalog", "database": "smartcity_history", "table": "telemetry"}
    options = args(custom_sql=..., import_mode="DIRECT_QUERY", relational_table=table, incremental_refresh=..., refresh_schedule=..., permissions=..., tags=...)
    request = {
        **KEY,
        "Name": "Zone hourly",
        "PhysicalTableMap": {
            "history": {
                "RelationalTable": {
                    "DataSourceArn": SOURCE,
                    "Catalog": "AwsDataCatalog",
                    "Schema": "smartcity_history",
                    "Name": "telemetry",
                    "InputColumns": API_COLUMNS,
                }
            }
        },
        "LogicalTableMap": CREATE_REQUEST["LogicalTableMap"],
        "ImportMode": "DIRECT_QUERY",
    }
    not_found(stub, "describe_data_set")
    stub.add_response("create_data_set", {"Arn": ARN, "DataSetId": DS, "Status": 201}, request)
    created = ok(capsys, options)
    assert created["changed"] and created["data_set"]["ingestion"] is None and created["data_set"]["permissions"] == []
    assert created["diff"]["after"]["relational_table"] == table and "custom_sql" not in created["diff"]["after"]

    queue_reads(stub, as_aws_has_it(request))  # no refresh reads for a DIRECT_QUERY data set
    again = ok(capsys, options)
    assert again["changed"] is False and again["data_set"]["refresh_schedule"] is None


# ---- waiting for the first ingestion ----


def ingestion(status: str, **extra: Any) -> dict[str, Any]:
    created = datetime.datetime(2026, 5, 1, tzinfo=datetime.timezone.utc)
    return {"Ingestion": {"Arn": f"{ARN}/ingestion/first", "IngestionId": "first", "IngestionStatus": status, "CreatedTime": created, **extra}, "Status": 200}


def queue_create_with_ingestion(stub: Stubber) -> None:
    not_found(stub, "describe_data_set")
    stub.add_response(
        "create_data_set",
        {"Arn": ARN, "DataSetId": DS, "IngestionArn": f"{ARN}/ingestion/first", "IngestionId": "first", "Status": 201},
        CREATE_REQUEST,
    )


def plain(**extra: Any) -> dict[str, Any]:
    return args(incremental_refresh=..., refresh_schedule=..., permissions=..., tags=..., **extra)


def test_wait_follows_the_ingestion_until_completed(capsys, stub):
    queue_create_with_ingestion(stub)
    stub.add_response("describe_ingestion", ingestion("QUEUED"), {**KEY, "IngestionId": "first"})
    stub.add_response("describe_ingestion", ingestion("RUNNING"), {**KEY, "IngestionId": "first"})
    stub.add_response("describe_ingestion", ingestion("COMPLETED", RowInfo={"RowsIngested": 240, "RowsDropped": 0}), {**KEY, "IngestionId": "first"})
    result = ok(capsys, plain(wait=True))
    assert result["data_set"]["ingestion"]["status"] == "COMPLETED"
    assert result["data_set"]["ingestion"]["row_info"] == {"rows_ingested": 240, "rows_dropped": 0}


def test_failed_ingestion_fails_with_its_error(capsys, stub):
    queue_create_with_ingestion(stub)
    error = {"Type": "SQL_TABLE_NOT_FOUND", "Message": "Table telemetry does not exist"}
    stub.add_response("describe_ingestion", ingestion("FAILED", ErrorInfo=error), {**KEY, "IngestionId": "first"})
    result = fails(capsys, plain(wait=True))
    assert "the ingestion first of data set" in result["msg"] and "ended in FAILED" in result["msg"]
    assert "SQL_TABLE_NOT_FOUND" in result["msg"] and "Table telemetry does not exist" in result["msg"]


def test_wait_gives_up_after_wait_timeout(capsys, stub):
    queue_create_with_ingestion(stub)
    stub.add_response("describe_ingestion", ingestion("RUNNING"), {**KEY, "IngestionId": "first"})
    result = fails(capsys, plain(wait=True, wait_timeout=0))
    assert "is still RUNNING after 0 s (wait_timeout)" in result["msg"]


# ---- update ----


def test_changed_sql_is_one_update_data_set(capsys, stub):
    new_sql = SQL.replace("avg(congestion_index)", "max(congestion_index)")
    wanted = copy.deepcopy(CREATE_REQUEST)
    wanted["PhysicalTableMap"]["history"]["CustomSql"]["SqlQuery"] = new_sql

    queue_created(stub)
    planned = ok(capsys, args(custom_sql=new_sql), check=True)
    assert planned["changed"] is True
    assert planned["diff"]["before"]["custom_sql"] == SQL and planned["diff"]["after"]["custom_sql"] == new_sql
    assert {k: v for k, v in planned["diff"]["before"].items() if k != "custom_sql"} == {k: v for k, v in planned["diff"]["after"].items() if k != "custom_sql"}
    stub.assert_no_pending_responses()

    queue_created(stub)
    stub.add_response("update_data_set", {"Arn": ARN, "DataSetId": DS, "IngestionArn": f"{ARN}/ingestion/edit", "IngestionId": "edit", "Status": 201}, wanted)
    applied = ok(capsys, args(custom_sql=new_sql))
    assert applied["changed"] is True and applied["data_set"]["ingestion"]["ingestion_id"] == "edit"
    assert applied["data_set"]["physical_table"]["custom_sql"]["sql_query"] == new_sql
    stub.assert_no_pending_responses()

    queue_created(stub, data_set=as_aws_has_it(wanted))
    assert ok(capsys, args(custom_sql=new_sql), check=True)["changed"] is False
    queue_created(stub, data_set=as_aws_has_it(wanted))
    assert ok(capsys, args(custom_sql=new_sql))["changed"] is False


@pytest.mark.parametrize(
    ("options", "change"),
    [
        ({"name": "Zone hourly v2"}, lambda r: r.update(Name="Zone hourly v2")),
        (
            {"columns": [*COLUMNS, {"name": "readings", "type": "INTEGER"}]},
            lambda r: r["PhysicalTableMap"]["history"]["CustomSql"]["Columns"].append({"Name": "readings", "Type": "INTEGER"}),
        ),
        (
            {"columns": [COLUMNS[1], COLUMNS[0], COLUMNS[2]]},
            lambda r: r["PhysicalTableMap"]["history"]["CustomSql"].update(Columns=[API_COLUMNS[1], API_COLUMNS[0], API_COLUMNS[2]]),
        ),
        ({"data_source_arn": SOURCE + "-2"}, lambda r: r["PhysicalTableMap"]["history"]["CustomSql"].update(DataSourceArn=SOURCE + "-2")),
    ],
)
def test_each_definition_change_updates(capsys, stub, options, change):
    wanted = copy.deepcopy(CREATE_REQUEST)
    change(wanted)
    if "name" in options:
        wanted["PhysicalTableMap"]["history"]["CustomSql"]["Name"] = options["name"]
        wanted["LogicalTableMap"]["history-logical"]["Alias"] = options["name"]
    queue_created(stub)
    stub.add_response("update_data_set", {"Arn": ARN, "DataSetId": DS, "Status": 201}, wanted)
    result = ok(capsys, args(**options))
    assert result["changed"] is True and result["data_set"]["ingestion"] is None


def test_a_physical_table_under_another_id_is_replaced(capsys, stub):
    console_made = as_aws_has_it(CREATE_REQUEST)
    console_made["PhysicalTableMap"] = {"a1b2": console_made["PhysicalTableMap"]["history"]}
    console_made["LogicalTableMap"] = {"c3d4": {"Alias": "Zone hourly", "Source": {"PhysicalTableId": "a1b2"}}}
    queue_created(stub, data_set=console_made)
    stub.add_response("update_data_set", {"Arn": ARN, "DataSetId": DS, "Status": 201}, CREATE_REQUEST)
    assert ok(capsys, args())["changed"] is True


def test_an_extra_physical_or_logical_table_is_a_difference(capsys, stub):
    """Containment applies inside a table; the maps themselves are the module's, so one table more is a change."""
    for key, extra in (
        (
            "PhysicalTableMap",
            {
                "joined": {
                    "CustomSql": {"DataSourceArn": SOURCE, "Name": "extra", "SqlQuery": "SELECT 1 AS one", "Columns": [{"Name": "one", "Type": "INTEGER"}]}
                }
            },
        ),
        ("LogicalTableMap", {"second": {"Alias": "second", "Source": {"PhysicalTableId": "history"}}}),
    ):
        widened = as_aws_has_it(CREATE_REQUEST)
        widened[key].update(extra)
        queue_created(stub, data_set=widened)
        stub.add_response("update_data_set", {"Arn": ARN, "DataSetId": DS, "Status": 201}, CREATE_REQUEST)
        assert ok(capsys, args())["changed"] is True, key


# ---- permissions ----


def test_permissions_grant_and_revoke_with_purge(capsys, stub):
    # viewers have one action too many, admins are missing, someone else has access
    current = [{"Principal": VIEWERS, "Actions": [*VIEWER, "quicksight:UpdateDataSet"]}, {"Principal": OTHER, "Actions": VIEWER}]
    queue_created(stub, permissions=current)
    planned = ok(capsys, args(), check=True)
    assert planned["changed"] is True
    assert planned["diff"]["before"]["permissions"] == {VIEWERS: sorted([*VIEWER, "quicksight:UpdateDataSet"]), OTHER: sorted(VIEWER)}
    assert planned["diff"]["after"]["permissions"] == {ADMINS: sorted(OWNER), VIEWERS: sorted(VIEWER)}
    stub.assert_no_pending_responses()

    queue_created(stub, permissions=current)
    stub.add_response(
        "update_data_set_permissions",
        {"DataSetArn": ARN, "DataSetId": DS, "Status": 200},
        {
            **KEY,
            "GrantPermissions": [{"Principal": ADMINS, "Actions": sorted(OWNER)}],
            "RevokePermissions": [{"Principal": VIEWERS, "Actions": ["quicksight:UpdateDataSet"]}, {"Principal": OTHER, "Actions": sorted(VIEWER)}],
        },
    )
    applied = ok(capsys, args())
    assert applied["changed"] is True and applied["data_set"]["permissions"] == planned["data_set"]["permissions"]
    stub.assert_no_pending_responses()

    queue_created(stub)
    assert ok(capsys, args(), check=True)["changed"] is False
    queue_created(stub)
    assert ok(capsys, args())["changed"] is False


def test_permissions_without_purge_keep_other_principals(capsys, stub):
    current = [*PERMISSIONS, {"Principal": OTHER, "Actions": VIEWER}]
    queue_created(stub, permissions=current)
    result = ok(capsys, args(purge_permissions=False))
    assert result["changed"] is False
    assert {entry["principal"] for entry in result["data_set"]["permissions"]} == {ADMINS, VIEWERS, OTHER}

    queue_created(stub, permissions=[{"Principal": OTHER, "Actions": VIEWER}])
    stub.add_response(
        "update_data_set_permissions",
        {"DataSetArn": ARN, "DataSetId": DS, "Status": 200},
        {**KEY, "GrantPermissions": [{"Principal": ADMINS, "Actions": sorted(OWNER)}, {"Principal": VIEWERS, "Actions": sorted(VIEWER)}]},
    )
    result = ok(capsys, args(purge_permissions=False))
    assert result["changed"] is True and len(result["data_set"]["permissions"]) == 3


def test_permissions_omitted_are_left_alone_and_arns_use_the_identity_region(capsys, stub):
    queue_created(stub, permissions=[{"Principal": OTHER, "Actions": VIEWER}])
    result = ok(capsys, args(permissions=...))
    assert result["changed"] is False and result["data_set"]["permissions"] == [{"principal": OTHER, "actions": sorted(VIEWER)}]

    east = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:group/city/traffic-admins"
    queue_created(stub, permissions=[{"Principal": east, "Actions": OWNER}])
    options = args(identity_region="us-east-1", namespace="city", permissions=[{"principal": "group/traffic-admins", "level": "owner"}])
    assert ok(capsys, options)["changed"] is False


# ---- tags ----


def test_tags_set_and_removed(capsys, stub):
    current = [{"Key": "project", "Value": "old"}, {"Key": "owner", "Value": "ops"}]
    wanted = {"project": "smartcity", "env": "prod"}
    queue_created(stub, tags=current)
    planned = ok(capsys, args(tags=wanted), check=True)
    assert planned["changed"] and planned["diff"]["before"]["tags"] == {"project": "old", "owner": "ops"} and planned["diff"]["after"]["tags"] == wanted
    stub.assert_no_pending_responses()

    queue_created(stub, tags=current)
    stub.add_response("untag_resource", {"Status": 200}, {"ResourceArn": ARN, "TagKeys": ["owner"]})
    stub.add_response(
        "tag_resource", {"Status": 200}, {"ResourceArn": ARN, "Tags": AnyOrder([{"Key": "project", "Value": "smartcity"}, {"Key": "env", "Value": "prod"}])}
    )
    applied = ok(capsys, args(tags=wanted))
    assert applied["changed"] and applied["data_set"]["tags"] == wanted
    stub.assert_no_pending_responses()

    queue_created(stub, tags=[{"Key": "project", "Value": "smartcity"}, {"Key": "env", "Value": "prod"}, {"Key": "owner", "Value": "ops"}])
    kept = ok(capsys, args(tags=wanted, purge_tags=False))
    assert kept["changed"] is False and kept["data_set"]["tags"]["owner"] == "ops"
    queue_created(stub, tags=current)
    assert ok(capsys, args(tags=...))["changed"] is False


# ---- refresh schedule and properties ----


def test_changed_schedule_is_updated_and_check_mode_writes_nothing(capsys, stub):
    current = {
        "ScheduleId": SCHEDULE_ID,
        "ScheduleFrequency": {"Interval": "HOURLY", "Timezone": "UTC"},
        "RefreshType": "INCREMENTAL_REFRESH",
        "Arn": SCHEDULE_ARN,
    }
    daily = {"interval": "DAILY", "refresh_type": "FULL_REFRESH", "time_of_day": "03:00", "timezone": "Europe/Berlin"}
    wanted = {
        "ScheduleId": SCHEDULE_ID,
        "ScheduleFrequency": {"Interval": "DAILY", "TimeOfTheDay": "03:00", "Timezone": "Europe/Berlin"},
        "RefreshType": "FULL_REFRESH",
    }
    queue_created(stub, schedules=[current])
    planned = ok(capsys, args(refresh_schedule=daily), check=True)
    assert planned["changed"] and planned["diff"]["before"]["refresh_schedule"]["interval"] == "HOURLY"
    assert planned["diff"]["after"]["refresh_schedule"] == {**daily, "schedule_id": SCHEDULE_ID, "day_of_week": None, "day_of_month": None, "arn": SCHEDULE_ARN}
    stub.assert_no_pending_responses()

    queue_created(stub, schedules=[current])
    stub.add_response("update_refresh_schedule", {"Arn": SCHEDULE_ARN, "ScheduleId": SCHEDULE_ID, "Status": 200}, {**KEY, "Schedule": wanted})
    assert ok(capsys, args(refresh_schedule=daily))["changed"] is True
    stub.assert_no_pending_responses()

    queue_created(stub, schedules=[dict(wanted, Arn=SCHEDULE_ARN)])
    assert ok(capsys, args(refresh_schedule=daily))["changed"] is False


def test_empty_schedule_deletes_it_and_leaves_other_schedules(capsys, stub):
    manual = {"ScheduleId": "manual", "ScheduleFrequency": {"Interval": "WEEKLY", "RefreshOnDay": {"DayOfWeek": "SUNDAY"}}, "RefreshType": "FULL_REFRESH"}
    managed = dict(SCHEDULE, Arn=SCHEDULE_ARN)
    queue_created(stub, schedules=[manual, managed])
    planned = ok(capsys, args(refresh_schedule={}), check=True)
    assert planned["changed"] and planned["data_set"]["refresh_schedule"] is None
    stub.assert_no_pending_responses()

    queue_created(stub, schedules=[manual, managed])
    stub.add_response("delete_refresh_schedule", {"Status": 200, "ScheduleId": SCHEDULE_ID}, {**KEY, "ScheduleId": SCHEDULE_ID})
    assert ok(capsys, args(refresh_schedule={}))["changed"] is True
    stub.assert_no_pending_responses()

    queue_created(stub, schedules=[manual])
    assert ok(capsys, args(refresh_schedule={}))["changed"] is False


def test_purge_refresh_schedules(capsys, stub):
    manual = {"ScheduleId": "manual", "ScheduleFrequency": {"Interval": "DAILY"}, "RefreshType": "FULL_REFRESH"}
    managed = dict(SCHEDULE, Arn=SCHEDULE_ARN)
    # with the schedule given: the others go, it stays
    queue_created(stub, schedules=[manual, managed])
    stub.add_response("delete_refresh_schedule", {"Status": 200}, {**KEY, "ScheduleId": "manual"})
    result = ok(capsys, args(purge_refresh_schedules=True))
    assert result["changed"] and result["data_set"]["refresh_schedule"]["schedule_id"] == SCHEDULE_ID
    # omitted with purge: every schedule goes; omitted without purge: all stay
    queue_created(stub, schedules=[manual, managed])
    stub.add_response("delete_refresh_schedule", {"Status": 200}, {**KEY, "ScheduleId": "manual"})
    stub.add_response("delete_refresh_schedule", {"Status": 200}, {**KEY, "ScheduleId": SCHEDULE_ID})
    assert ok(capsys, args(refresh_schedule=..., purge_refresh_schedules=True))["changed"] is True
    queue_created(stub, schedules=[manual, managed])
    assert ok(capsys, args(refresh_schedule=...))["changed"] is False


def test_changed_lookback_window_is_put(capsys, stub):
    wider = {"RefreshConfiguration": {"IncrementalRefresh": {"LookbackWindow": {"ColumnName": "hour", "Size": 2, "SizeUnit": "DAY"}}}}
    options = args(incremental_refresh={"column": "hour", "size": 2, "unit": "DAY"})
    queue_created(stub)
    planned = ok(capsys, options, check=True)
    assert planned["changed"] and planned["diff"]["before"]["incremental_refresh"]["size"] == 1 and planned["diff"]["after"]["incremental_refresh"]["size"] == 2
    stub.assert_no_pending_responses()

    queue_created(stub)
    stub.add_response("put_data_set_refresh_properties", {"Status": 200}, {**KEY, "DataSetRefreshProperties": wider})
    assert ok(capsys, options)["changed"] is True
    queue_created(stub, properties=wider)
    assert ok(capsys, options)["changed"] is False


def test_removing_incremental_refresh_deletes_the_schedule_first(capsys, stub):
    options = args(incremental_refresh={}, refresh_schedule={})
    queue_created(stub)
    stub.add_response("delete_refresh_schedule", {"Status": 200}, {**KEY, "ScheduleId": SCHEDULE_ID})
    stub.add_response("delete_data_set_refresh_properties", {"Status": 200}, KEY)
    result = ok(capsys, options)
    assert result["changed"] and result["data_set"]["incremental_refresh"] is None and result["data_set"]["refresh_schedule"] is None
    assert result["diff"]["before"]["incremental_refresh"] == {"column": "hour", "size": 1, "unit": "DAY"}
    # nothing left: the second run reads "no refresh properties" (ResourceNotFoundException) and writes nothing
    queue_created(stub, properties=None, schedules=[])
    assert ok(capsys, options)["changed"] is False


# ---- delete ----


def test_delete_check_apply_check_apply(capsys, stub):
    options = {"region": REGION, "data_set_id": DS, "state": "absent"}
    stub.add_response("describe_data_set", {"DataSet": as_aws_has_it(CREATE_REQUEST), "Status": 200}, KEY)
    planned = ok(capsys, options, check=True)
    assert planned["changed"] and planned["data_set"] == {} and planned["diff"]["after"] == {}
    assert planned["diff"]["before"]["custom_sql"] == SQL
    stub.assert_no_pending_responses()

    stub.add_response("describe_data_set", {"DataSet": as_aws_has_it(CREATE_REQUEST), "Status": 200}, KEY)
    stub.add_response("delete_data_set", {"Arn": ARN, "DataSetId": DS, "Status": 200}, KEY)
    assert ok(capsys, options)["changed"] is True
    stub.assert_no_pending_responses()

    not_found(stub, "describe_data_set")
    assert ok(capsys, options, check=True)["changed"] is False
    not_found(stub, "describe_data_set")
    result = ok(capsys, options)
    assert result["changed"] is False and result["data_set"] == {} and result["diff"] == {"before": {}, "after": {}}


# ---- errors ----


def test_throttling_is_retried(capsys, stub):
    stub.add_client_error("describe_data_set", "ThrottlingException", "Rate exceeded", 429, expected_params=KEY)
    queue_created(stub)
    assert ok(capsys, args())["changed"] is False


def test_throttled_write_is_retried(capsys, stub):
    queue_created(stub, tags=None)
    stub.add_client_error("tag_resource", "ThrottlingException", "Rate exceeded", 429)
    stub.add_response("tag_resource", {"Status": 200}, {"ResourceArn": ARN, "Tags": TAGS})
    assert ok(capsys, args())["changed"] is True


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("UnsupportedUserEditionException", "This operation is not supported for the STANDARD edition"),
        ("ResourceNotFoundException", f"The account {ACCOUNT} is not signed up with QuickSight."),
    ],
)
def test_not_subscribed_fails_with_what_to_enable(capsys, stub, code, message):
    stub.add_client_error("describe_data_set", code, message, 404, expected_params=KEY)
    result = fails(capsys, args())
    assert result["msg"].startswith(f"QuickSight data set {DS!r}: reading the data set failed: this account is not subscribed to QuickSight")
    assert quicksight.SUBSCRIBE_HINT in result["msg"]
    assert result["error"]["code"] == code


def test_access_denied_fails_with_what_to_grant(capsys, stub):
    not_found(stub, "describe_data_set")
    stub.add_client_error("create_data_set", "AccessDeniedException", "User is not authorized to perform quicksight:CreateDataSet", 403)
    result = fails(capsys, args())
    assert result["msg"].startswith(f"QuickSight data set {DS!r}: creating the data set failed: access denied")
    assert "quicksight:CreateDataSet" in result["msg"] and quicksight.ACCESS_HINT in result["msg"]


# ---- dataset parameters (issue 17: the raw readings data set requires an hour) ----

# parameter_id("hour"), written out: a change of the id scheme would update every deployed data set with parameters.
HOUR_ID = "1f2b0f12-5865-5d2f-9fec-bbea88f9fcb3"
READINGS_SQL = "SELECT sensor_id, zone, dh, reading_time\nFROM history.telemetry\nWHERE dh = <<$hour>> AND reading_time >= <<$since>>"
READINGS_COLUMNS = [
    {"name": "sensor_id", "type": "STRING"},
    {"name": "zone", "type": "STRING"},
    {"name": "dh", "type": "STRING"},
    {"name": "reading_time", "type": "DATETIME"},
]
API_READINGS_COLUMNS = [{"Name": column["name"], "Type": column["type"]} for column in READINGS_COLUMNS]
HOUR = {"name": "hour", "type": "STRING", "default_values": ["2026-05-01-00"]}
SINCE = {"name": "since", "type": "DATETIME", "default_values": ["2026-05-01T15:00:00+02:00"]}
UTC = datetime.timezone.utc
HOUR_PARAMETER = {"StringDatasetParameter": {"Id": HOUR_ID, "Name": "hour", "ValueType": "SINGLE_VALUED", "DefaultValues": {"StaticValues": ["2026-05-01-00"]}}}


def since_parameter(moment: datetime.datetime = datetime.datetime(2026, 5, 1, 13, tzinfo=UTC), **extra: Any) -> dict[str, Any]:
    parameter = {"Id": quicksight_data_set.parameter_id("since"), "Name": "since", "ValueType": "SINGLE_VALUED", "DefaultValues": {"StaticValues": [moment]}}
    return {"DateTimeDatasetParameter": {**parameter, **extra}}


def readings(**extra: Any) -> dict[str, Any]:
    """A DIRECT_QUERY custom SQL data set whose SQL requires an hour (and a start time), as the role passes it."""
    options = {
        "name": "Readings",
        "import_mode": "DIRECT_QUERY",
        "custom_sql": READINGS_SQL + "\n",
        "columns": READINGS_COLUMNS,
        "parameters": [HOUR, SINCE],
        "incremental_refresh": ...,
        "refresh_schedule": ...,
        "permissions": ...,
        "tags": ...,
    }
    return args(**{**options, **extra})


READINGS_REQUEST = {
    **KEY,
    "Name": "Readings",
    "PhysicalTableMap": {"history": {"CustomSql": {"DataSourceArn": SOURCE, "Name": "Readings", "SqlQuery": READINGS_SQL, "Columns": API_READINGS_COLUMNS}}},
    "LogicalTableMap": {"history-logical": {"Alias": "Readings", "Source": {"PhysicalTableId": "history"}}},
    "ImportMode": "DIRECT_QUERY",
    # the option's order; the +02:00 default as the same instant in UTC
    "DatasetParameters": [HOUR_PARAMETER, since_parameter()],
}
HOUR_VIEW = {"name": "hour", "type": "STRING", "multi_valued": False, "default_values": ["2026-05-01-00"], "time_granularity": None, "id": HOUR_ID}
SINCE_VIEW = {
    "name": "since",
    "type": "DATETIME",
    "multi_valued": False,
    "default_values": ["2026-05-01T13:00:00+00:00"],
    "time_granularity": None,
    "id": quicksight_data_set.parameter_id("since"),
}


def readings_as_aws_has_it(request: dict[str, Any] | None = None) -> dict[str, Any]:
    """QuickSight's answer lists the parameters in its own order and sets a time granularity nobody asked for."""
    data_set = as_aws_has_it(READINGS_REQUEST if request is None else request)
    parameters = data_set.get("DatasetParameters") or []
    for parameter in parameters:
        parameter.get("DateTimeDatasetParameter", {}).setdefault("TimeGranularity", "DAY")
    data_set["DatasetParameters"] = list(reversed(parameters))
    if not parameters:
        data_set.pop("DatasetParameters", None)
    return data_set


def test_parameter_ids_are_uuid5_of_the_name_and_fit_the_model():
    assert quicksight_data_set.parameter_id("hour") == HOUR_ID
    assert quicksight_data_set.parameter_id("hour") == quicksight_data_set.parameter_id("hour")
    assert quicksight_data_set.parameter_id("since") != HOUR_ID
    assert model_errors("CreateDataSet", READINGS_REQUEST) == ""


def test_the_parameter_rules_are_the_models():
    """botocore's ParamValidator (and so the Stubber) checks types and minimums, not patterns, maximums or enums."""
    member = MODEL.shape_for("StringDatasetParameter").members
    name, identifier = member["Name"].metadata, member["Id"].metadata
    assert (name["pattern"], name["min"], name["max"]) == ("^[a-zA-Z0-9]+$", 1, 2048)
    assert re.fullmatch(identifier["pattern"].strip("^$"), HOUR_ID) and len(HOUR_ID) <= identifier["max"]
    assert MODEL.shape_for("DateTimeDatasetParameter").members["TimeGranularity"].enum == quicksight_data_set.TIME_GRANULARITIES
    assert MODEL.shape_for("DatasetParameterList").metadata["max"] == quicksight_data_set.MAX_PARAMETERS
    assert MODEL.shape_for("StringDatasetParameterValueList").metadata["max"] == quicksight_data_set.MAX_DEFAULT_VALUES
    assert MODEL.shape_for("StringDatasetParameterDefaultValue").metadata["max"] == quicksight_data_set.MAX_STRING_VALUE
    kinds = MODEL.shape_for("DatasetParameter").members
    assert set(kinds) == set(quicksight_data_set.PARAMETER_KINDS.values())
    assert all(kinds[kind].members["ValueType"].enum == ["MULTI_VALUED", "SINGLE_VALUED"] for kind in kinds)


def test_parameter_references_are_every_name_once_in_order():
    sql = "SELECT 1 WHERE a = <<$hour>> AND b IN (<<$zones>>) OR a = <<$hour>> AND c = <<$bad_name>> AND d = '<<>>'"
    assert quicksight_data_set.parameter_references(sql) == ["hour", "zones", "bad_name"]
    assert quicksight_data_set.parameter_references(SQL) == [] and quicksight_data_set.parameter_references(None) == []


def test_build_request_maps_each_parameter_type_and_is_valid_for_the_model():
    sql = (
        "SELECT * FROM history.telemetry WHERE dh = <<$hour>> AND zone IN (<<$zones>>) AND vehicle_count >= <<$minVehicles>>"
        " AND congestion_index >= <<$minCongestion>> AND reading_time >= <<$since>>"
    )
    parameters = [
        HOUR,
        {"name": "zones", "multi_valued": True, "default_values": ["north", "south"]},  # type: the module's default
        {"name": "minVehicles", "type": "INTEGER", "default_values": ["10"]},  # a number a template made text of
        {"name": "minCongestion", "type": "DECIMAL", "default_values": [1]},
        {"name": "since", "type": "DATETIME", "time_granularity": "HOUR", "default_values": ["2026-05-01T15:00:00+02:00"]},
        {"name": "until", "type": "DATETIME"},
    ]
    params = readings(custom_sql=sql + " AND reading_time < <<$until>>", parameters=parameters)
    assert quicksight_data_set.validate(params) == []
    request = quicksight_data_set.build_request(params, ACCOUNT)
    assert model_errors("CreateDataSet", request) == ""
    assert model_errors("UpdateDataSet", request) == ""
    assert request["DatasetParameters"] == [
        HOUR_PARAMETER,
        {
            "StringDatasetParameter": {
                "Id": quicksight_data_set.parameter_id("zones"),
                "Name": "zones",
                "ValueType": "MULTI_VALUED",
                "DefaultValues": {"StaticValues": ["north", "south"]},
            }
        },
        {
            "IntegerDatasetParameter": {
                "Id": quicksight_data_set.parameter_id("minVehicles"),
                "Name": "minVehicles",
                "ValueType": "SINGLE_VALUED",
                "DefaultValues": {"StaticValues": [10]},
            }
        },
        {
            "DecimalDatasetParameter": {
                "Id": quicksight_data_set.parameter_id("minCongestion"),
                "Name": "minCongestion",
                "ValueType": "SINGLE_VALUED",
                "DefaultValues": {"StaticValues": [1.0]},
            }
        },
        since_parameter(TimeGranularity="HOUR"),
        {"DateTimeDatasetParameter": {"Id": quicksight_data_set.parameter_id("until"), "Name": "until", "ValueType": "SINGLE_VALUED"}},
    ]
    # none, or an empty list: no DatasetParameters (the model wants at least one)
    plain_request = quicksight_data_set.build_request(args(), ACCOUNT)
    assert "DatasetParameters" not in plain_request
    assert "DatasetParameters" not in quicksight_data_set.build_request(args(parameters=[]), ACCOUNT)


@pytest.mark.parametrize(
    "value",
    ["2026-05-01T13:00:00Z", "2026-05-01T13:00:00z", "2026-05-01 15:00:00+02:00", "2026-05-01T13:00:00", datetime.datetime(2026, 5, 1, 13)],
)
def test_datetime_defaults_are_the_same_instant_in_utc(value):
    assert quicksight_data_set.default_value("DATETIME", value) == datetime.datetime(2026, 5, 1, 13, tzinfo=UTC)


def test_a_date_that_yaml_made_is_midnight_utc():
    assert quicksight_data_set.default_value("DATETIME", datetime.date(2026, 5, 1)) == datetime.datetime(2026, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"custom_sql": "SELECT 1 WHERE dh = <<$hour_of_day>>", "parameters": [{"name": "hour_of_day"}]},
            "parameters[0].name: 'hour_of_day' breaks the QuickSight rule: 1 to 2048 letters and digits (A-Z a-z 0-9), no spaces, underscores",
        ),
        (
            {"custom_sql": "SELECT 1 WHERE dh = <<$hour_of_day>>", "parameters": [{"name": "hour_of_day"}]},
            "custom_sql: <<$hour_of_day>> is not a reference QuickSight resolves",
        ),
        ({"parameters": [{"name": "x" * 2049}]}, "breaks the QuickSight rule: 1 to 2048 letters and digits"),
        ({"parameters": [HOUR, SINCE, HOUR]}, "parameters[2].name: 'hour' is declared twice; parameter names must be unique"),
        ({"parameters": [SINCE]}, "custom_sql: references <<$hour>>, but parameters declares no parameter 'hour'"),
        ({"parameters": []}, "custom_sql: references <<$hour>>, but parameters declares no parameter 'hour'"),
        ({"parameters": ...}, "custom_sql: references <<$since>>, but parameters declares no parameter 'since'"),
        ({"parameters": [HOUR, SINCE, {"name": "zone"}]}, "parameters[2].name: 'zone' is not referenced in custom_sql; write <<$zone>> where its value goes"),
        ({"import_mode": "SPICE"}, "parameters: needs import_mode=DIRECT_QUERY, not SPICE"),
        ({"import_mode": None}, "parameters: needs import_mode=DIRECT_QUERY, not SPICE"),  # the module's default
        (
            {"custom_sql": None, "relational_table": {"database": "db", "table": "t"}},
            "parameters: only custom_sql can use dataset parameters (as <<$name>>); a relational_table has no SQL",
        ),
        ({"parameters": [dict(HOUR, default_values=["a", "b"]), SINCE]}, "parameters[0].default_values: 2 values, but a single-valued parameter"),
        ({"parameters": [dict(HOUR, type="TEXT"), SINCE]}, "parameters[0].type: 'TEXT' must be one of STRING, INTEGER, DECIMAL, DATETIME"),
        ({"parameters": [dict(HOUR, default_values=[13]), SINCE]}, "parameters[0].default_values[0]: 13 must be text (quote it in YAML) (STRING parameter)"),
        ({"parameters": [dict(HOUR, default_values=["x" * 513]), SINCE]}, "default_values[0]: 513 characters breaks the QuickSight rule: at most 512"),
        ({"parameters": [dict(HOUR, type="INTEGER", default_values=["ten"]), SINCE]}, "default_values[0]: 'ten' must be a whole number (INTEGER parameter)"),
        ({"parameters": [dict(HOUR, type="INTEGER", default_values=[True]), SINCE]}, "default_values[0]: True must be a whole number"),
        ({"parameters": [dict(HOUR, type="INTEGER", default_values=[2**63]), SINCE]}, "is outside QuickSight's range of a long"),
        ({"parameters": [dict(HOUR, type="DECIMAL", default_values=["nan"]), SINCE]}, "default_values[0]: 'nan' must be a finite number (DECIMAL parameter)"),
        ({"parameters": [HOUR, dict(SINCE, default_values=["yesterday"])]}, "parameters[1].default_values[0]: 'yesterday' is not an ISO 8601 date-time"),
        ({"parameters": [HOUR, dict(SINCE, default_values=[1714568400])]}, "parameters[1].default_values[0]: 1714568400 must be an ISO 8601 date-time"),
        ({"parameters": [dict(HOUR, time_granularity="HOUR"), SINCE]}, "parameters[0].time_granularity: only for type=DATETIME"),
        ({"parameters": [HOUR, dict(SINCE, time_granularity="FORTNIGHT")]}, "parameters[1].time_granularity: 'FORTNIGHT' must be one of YEAR"),
        ({"parameters": [HOUR, SINCE] + [{"name": f"p{i}"} for i in range(31)]}, "parameters: 33 parameters breaks the QuickSight rule: at most 32"),
        ({"parameters": [dict(HOUR, multi_valued=True, default_values=["v"] * 33), SINCE]}, "default_values: 33 values breaks the QuickSight rule: at most 32"),
        ({"parameters": [HOUR, SINCE, "hour"]}, "parameters[2]: 'hour' must be a dict"),
    ],
)
def test_validate_parameters_names_the_field_and_the_rule(options, expected):
    errors = quicksight_data_set.validate(readings(**options))
    assert any(expected in error for error in errors), errors


def test_validate_accepts_the_parameter_limits():
    assert quicksight_data_set.validate(readings()) == []
    names = ["A" + "b" * 2047, "9lives"] + [f"p{i}" for i in range(30)]  # the model allows a leading digit
    sql = "SELECT 1 WHERE " + " AND ".join(f"c = <<${name}>>" for name in names)
    parameters = [{"name": name, "multi_valued": True, "default_values": ["x" * 512] * 32} for name in names]
    assert quicksight_data_set.validate(readings(custom_sql=sql, parameters=parameters)) == []
    assert model_errors("CreateDataSet", quicksight_data_set.build_request(readings(custom_sql=sql, parameters=parameters), ACCOUNT)) == ""
    # no default values, values a YAML file gives (a datetime, a date, numbers), and no parameters at all
    since = [datetime.datetime(2026, 5, 1, 13), datetime.date(2026, 5, 1), "2026-05-01"]
    assert quicksight_data_set.validate(readings(parameters=[dict(HOUR, default_values=None), dict(SINCE, multi_valued=True, default_values=since)])) == []
    decimal = {"name": "hour", "type": "DECIMAL", "multi_valued": True, "default_values": [0, 0.5, "1e3", -2]}
    assert quicksight_data_set.validate(readings(parameters=[decimal, SINCE])) == []
    assert quicksight_data_set.validate(readings(custom_sql=SQL, parameters=[])) == []
    assert quicksight_data_set.validate(readings(custom_sql=SQL, parameters=...)) == []


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"import_mode": "SPICE"}, "parameters: needs import_mode=DIRECT_QUERY"),
        ({"parameters": [HOUR]}, "custom_sql: references <<$since>>, but parameters declares no parameter 'since'"),
        ({"parameters": [dict(HOUR, type="TEXT"), SINCE]}, "value of type must be one of: STRING, INTEGER, DECIMAL, DATETIME"),
        ({"parameters": [{"type": "STRING"}]}, "missing required arguments: name found in parameters"),
    ],
)
def test_main_fails_on_invalid_parameters_before_any_call(capsys, no_aws, options, expected):
    result = fails(capsys, readings(**options))
    assert expected in result["msg"], result["msg"]


def test_create_with_parameters_check_apply_check_apply(capsys, stub):
    not_found(stub, "describe_data_set")
    planned = ok(capsys, readings(), check=True)
    assert planned["changed"] is True and planned["diff"]["before"] == {}
    assert planned["diff"]["after"]["parameters"] == [HOUR_VIEW, SINCE_VIEW]  # sorted by name
    assert planned["data_set"]["parameters"] == [HOUR_VIEW, SINCE_VIEW]
    stub.assert_no_pending_responses()

    not_found(stub, "describe_data_set")
    stub.add_response("create_data_set", {"Arn": ARN, "DataSetId": DS, "Status": 201}, READINGS_REQUEST)
    applied = ok(capsys, readings())
    assert applied["changed"] is True and applied["data_set"] == planned["data_set"] and applied["diff"] == planned["diff"]
    stub.assert_no_pending_responses()

    # QuickSight's order and its time granularity do not count; the result shows them as QuickSight has them
    queue_reads(stub, readings_as_aws_has_it())
    again = ok(capsys, readings(), check=True)
    assert again["changed"] is False and again["diff"]["before"] == again["diff"]["after"]
    assert again["data_set"]["parameters"] == [HOUR_VIEW, dict(SINCE_VIEW, time_granularity="DAY")]
    stub.assert_no_pending_responses()

    queue_reads(stub, readings_as_aws_has_it())
    assert ok(capsys, readings())["changed"] is False


def test_changed_default_value_is_one_update_with_its_diff(capsys, stub):
    later = [dict(HOUR, default_values=["2026-05-02-06"]), SINCE]
    wanted = copy.deepcopy(READINGS_REQUEST)
    wanted["DatasetParameters"][0]["StringDatasetParameter"]["DefaultValues"] = {"StaticValues": ["2026-05-02-06"]}

    queue_reads(stub, readings_as_aws_has_it())
    planned = ok(capsys, readings(parameters=later), check=True)
    assert planned["changed"] is True
    assert planned["diff"]["before"]["parameters"][0]["default_values"] == ["2026-05-01-00"]
    assert planned["diff"]["after"]["parameters"][0]["default_values"] == ["2026-05-02-06"]
    assert {k: v for k, v in planned["diff"]["before"].items() if k != "parameters"} == {k: v for k, v in planned["diff"]["after"].items() if k != "parameters"}
    stub.assert_no_pending_responses()  # check mode: no UpdateDataSet queued, none sent

    queue_reads(stub, readings_as_aws_has_it())
    stub.add_response("update_data_set", {"Arn": ARN, "DataSetId": DS, "Status": 201}, wanted)
    applied = ok(capsys, readings(parameters=later))
    assert applied["changed"] is True and applied["data_set"]["ingestion"] is None  # DIRECT_QUERY: no ingestion
    assert applied["data_set"]["parameters"] == planned["data_set"]["parameters"]
    stub.assert_no_pending_responses()

    queue_reads(stub, readings_as_aws_has_it(wanted))
    assert ok(capsys, readings(parameters=later), check=True)["changed"] is False
    queue_reads(stub, readings_as_aws_has_it(wanted))
    assert ok(capsys, readings(parameters=later))["changed"] is False


@pytest.mark.parametrize(
    ("parameters", "change"),
    [
        # a default value taken away (containment alone would miss it)
        ([HOUR, dict(SINCE, default_values=None)], lambda r: r["DatasetParameters"][1]["DateTimeDatasetParameter"].pop("DefaultValues")),
        # another instant (the same instant with another offset is no change: the create test's +02:00 default)
        (
            [HOUR, dict(SINCE, default_values=["2026-05-01T16:00:00+02:00"])],
            lambda r: r["DatasetParameters"][1].update(since_parameter(datetime.datetime(2026, 5, 1, 14, tzinfo=UTC))),
        ),
        ([dict(HOUR, multi_valued=True), SINCE], lambda r: r["DatasetParameters"][0]["StringDatasetParameter"].update(ValueType="MULTI_VALUED")),
        ([HOUR, dict(SINCE, time_granularity="HOUR")], lambda r: r["DatasetParameters"][1]["DateTimeDatasetParameter"].update(TimeGranularity="HOUR")),
    ],
)
def test_each_parameter_change_updates(capsys, stub, parameters, change):
    wanted = copy.deepcopy(READINGS_REQUEST)
    change(wanted)
    queue_reads(stub, readings_as_aws_has_it())
    stub.add_response("update_data_set", {"Arn": ARN, "DataSetId": DS, "Status": 201}, wanted)
    assert ok(capsys, readings(parameters=parameters))["changed"] is True
    stub.assert_no_pending_responses()
    queue_reads(stub, as_aws_has_it(wanted))
    assert ok(capsys, readings(parameters=parameters))["changed"] is False


def test_removing_the_parameters_updates_without_them(capsys, stub):
    unfiltered = "SELECT sensor_id, zone, dh, reading_time\nFROM history.telemetry"
    options = readings(custom_sql=unfiltered, parameters=[])
    wanted = copy.deepcopy(READINGS_REQUEST)
    wanted["PhysicalTableMap"]["history"]["CustomSql"]["SqlQuery"] = unfiltered
    del wanted["DatasetParameters"]

    queue_reads(stub, readings_as_aws_has_it())
    planned = ok(capsys, options, check=True)
    assert planned["changed"] is True
    assert planned["diff"]["before"]["parameters"] == [HOUR_VIEW, dict(SINCE_VIEW, time_granularity="DAY")] and planned["diff"]["after"]["parameters"] == []
    stub.assert_no_pending_responses()

    queue_reads(stub, readings_as_aws_has_it())
    stub.add_response("update_data_set", {"Arn": ARN, "DataSetId": DS, "Status": 201}, wanted)
    applied = ok(capsys, options)
    assert applied["changed"] is True and applied["data_set"]["parameters"] == []
    stub.assert_no_pending_responses()

    queue_reads(stub, as_aws_has_it(wanted))
    assert ok(capsys, options, check=True)["changed"] is False
    queue_reads(stub, as_aws_has_it(wanted))
    assert ok(capsys, options)["changed"] is False


def test_omitted_parameters_are_left_alone_and_kept_by_an_update(capsys, stub):
    # parameters made elsewhere (the SQL does not use them here, so the option may be omitted)
    existing = copy.deepcopy(READINGS_REQUEST)
    existing["PhysicalTableMap"]["history"]["CustomSql"]["SqlQuery"] = "SELECT sensor_id, zone, dh, reading_time FROM history.telemetry"
    options = readings(custom_sql=existing["PhysicalTableMap"]["history"]["CustomSql"]["SqlQuery"], parameters=...)
    queue_reads(stub, as_aws_has_it(existing))
    unchanged = ok(capsys, options)
    assert unchanged["changed"] is False and unchanged["data_set"]["parameters"] == [HOUR_VIEW, SINCE_VIEW]
    stub.assert_no_pending_responses()

    renamed = copy.deepcopy(existing)
    renamed["Name"] = renamed["PhysicalTableMap"]["history"]["CustomSql"]["Name"] = renamed["LogicalTableMap"]["history-logical"]["Alias"] = "Raw readings"
    queue_reads(stub, as_aws_has_it(existing))
    stub.add_response("update_data_set", {"Arn": ARN, "DataSetId": DS, "Status": 201}, renamed)  # with the parameters as they were
    result = ok(capsys, dict(options, name="Raw readings"))
    assert result["changed"] is True and result["diff"]["before"]["parameters"] == result["diff"]["after"]["parameters"] == [HOUR_VIEW, SINCE_VIEW]


def test_a_parameter_made_in_the_console_is_replaced_by_the_module_id(capsys, stub):
    console_made = copy.deepcopy(READINGS_REQUEST)
    console_made["DatasetParameters"][0]["StringDatasetParameter"]["Id"] = "0d6e1c2a-console"
    queue_reads(stub, as_aws_has_it(console_made))
    stub.add_response("update_data_set", {"Arn": ARN, "DataSetId": DS, "Status": 201}, READINGS_REQUEST)
    result = ok(capsys, readings())
    assert result["changed"] is True
    assert result["diff"]["before"]["parameters"][0]["id"] == "0d6e1c2a-console" and result["diff"]["after"]["parameters"][0]["id"] == HOUR_ID


# ---- quicksight_data_set_info ----


def test_info_describes_one_with_permissions_refresh_and_tags(capsys, stub):
    manual = {"ScheduleId": "manual", "ScheduleFrequency": {"Interval": "WEEKLY", "RefreshOnDay": {"DayOfWeek": "SUNDAY"}}, "RefreshType": "FULL_REFRESH"}
    queue_created(stub, schedules=[dict(SCHEDULE, Arn=SCHEDULE_ARN), manual])
    result = ok(capsys, {"region": REGION, "data_set_id": DS}, check=True, module=quicksight_data_set_info)
    assert result["changed"] is False and len(result["data_sets"]) == 1
    found = result["data_sets"][0]
    assert found["arn"] == ARN and found["import_mode"] == "SPICE" and found["columns"] == COLUMNS
    assert found["created_time"] == "2026-05-01T00:00:00+00:00"
    assert found["physical_table_map"]["history"]["custom_sql"]["sql_query"] == SQL
    assert found["permissions"] == [{"principal": ADMINS, "actions": sorted(OWNER)}, {"principal": VIEWERS, "actions": sorted(VIEWER)}]
    assert found["tags"] == {"project": "smartcity"}
    assert found["incremental_refresh"] == {"column": "hour", "size": 1, "unit": "DAY"}
    assert [s["schedule_id"] for s in found["refresh_schedules"]] == ["manual", SCHEDULE_ID]  # sorted by id
    assert found["refresh_schedules"][0]["day_of_week"] == "SUNDAY" and found["refresh_schedules"][1]["arn"] == SCHEDULE_ARN


def test_info_missing_is_an_empty_list(capsys, stub):
    not_found(stub, "describe_data_set")
    result = ok(capsys, {"region": REGION, "data_set_id": DS}, module=quicksight_data_set_info)
    assert result["data_sets"] == []


def test_info_lists_every_page(capsys, stub):
    def summary(data_set_id: str) -> dict[str, Any]:
        return {"Arn": f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dataset/{data_set_id}", "DataSetId": data_set_id, "Name": data_set_id, "ImportMode": "SPICE"}

    stub.add_response("list_data_sets", {"DataSetSummaries": [summary("b"), summary("c")], "NextToken": "page-2", "Status": 200}, {"AwsAccountId": ACCOUNT})
    stub.add_client_error("list_data_sets", "ThrottlingException", "Rate exceeded", 429)
    stub.add_response("list_data_sets", {"DataSetSummaries": [summary("a")], "Status": 200}, {"AwsAccountId": ACCOUNT, "NextToken": "page-2"})
    result = ok(capsys, {"region": REGION}, module=quicksight_data_set_info)
    assert [d["data_set_id"] for d in result["data_sets"]] == ["a", "b", "c"]


def test_info_not_subscribed_fails_with_what_to_enable(capsys, stub):
    stub.add_client_error("list_data_sets", "UnsupportedUserEditionException", "not supported for the STANDARD edition", 403)
    result = fails(capsys, {"region": REGION}, module=quicksight_data_set_info)
    assert "not subscribed to QuickSight" in result["msg"] and quicksight.SUBSCRIBE_HINT in result["msg"]
