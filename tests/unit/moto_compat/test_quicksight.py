"""Fixes 19 and 20 (moto_compat.quicksight): QuickSight data sets, permissions, refresh, dashboard versions and ingestions,
and the collection's QuickSight modules end to end against the endpoint."""

from __future__ import annotations

import json

import pytest
from compat_support import _client

# --- 19: QuickSight: Enterprise edition, data sets, permissions, refresh --------------------------------------------------
ACCOUNT = "123456789012"


ADMINS = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:group/default/admins"


VIEWERS = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:group/default/viewers"


def data_source(qs, data_source_id: str, permissions: list | None = None) -> str:
    return qs.create_data_source(AwsAccountId=ACCOUNT, DataSourceId=data_source_id, Name=data_source_id, Type="ATHENA",
                                 DataSourceParameters={"AthenaParameters": {"WorkGroup": "analytics"}},
                                 **({"Permissions": permissions} if permissions else {}))["Arn"]


def data_set_request(qs, data_set_id: str, import_mode: str = "SPICE") -> dict:
    columns = [{"Name": "zone", "Type": "STRING"}, {"Name": "hour", "Type": "DATETIME"}, {"Name": "readings", "Type": "INTEGER"}]
    return {
        "AwsAccountId": ACCOUNT, "DataSetId": data_set_id, "Name": f"{data_set_id} history", "ImportMode": import_mode,
        "PhysicalTableMap": {"history": {"CustomSql": {"DataSourceArn": data_source(qs, f"{data_set_id}-source"), "Name": "zone_hourly",
                                                       "SqlQuery": "SELECT zone, hour, readings FROM zone_hourly", "Columns": columns}}},
        "LogicalTableMap": {"history": {"Alias": "zone_hourly", "Source": {"PhysicalTableId": "history"}}},
        "DataSetUsageConfiguration": {"DisableUseAsDirectQuerySource": False, "DisableUseAsImportedSource": False},
        "Permissions": [{"Principal": ADMINS, "Actions": ["quicksight:DescribeDataSet", "quicksight:UpdateDataSet"]}],
        "Tags": [{"Key": "app", "Value": "traffic"}],
    }


def test_quicksight_account_is_enterprise(cfn) -> None:
    settings = _client(cfn, "quicksight").describe_account_settings(AwsAccountId=ACCOUNT)["AccountSettings"]
    assert settings["Edition"] == "ENTERPRISE"  # moto alone: STANDARD, which has no groups
    assert settings["DefaultNamespace"] == "default"


def test_quicksight_data_set_keeps_the_create_request(cfn) -> None:
    qs = _client(cfn, "quicksight")
    request = data_set_request(qs, "ds-keep")
    created = qs.create_data_set(**request)
    arn = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dataset/ds-keep"  # AWS's form (moto alone: data-set/)
    assert (created["Status"], created["Arn"], created["DataSetId"]) == (201, arn, "ds-keep")
    assert created["IngestionArn"] == f"{arn}/ingestion/{created['IngestionId']}"  # SPICE: creation starts an ingestion
    data_set = qs.describe_data_set(AwsAccountId=ACCOUNT, DataSetId="ds-keep")["DataSet"]
    sent = {k: v for k, v in request.items() if k not in ("AwsAccountId", "Permissions", "Tags")}
    assert {k: data_set[k] for k in sent} == sent
    assert data_set["Arn"] == arn and data_set["CreatedTime"] == data_set["LastUpdatedTime"]
    assert "Permissions" not in data_set and "Tags" not in data_set  # not part of a DataSet, as on AWS
    assert qs.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "app", "Value": "traffic"}]
    with pytest.raises(qs.exceptions.ResourceExistsException):
        qs.create_data_set(**request)


def test_quicksight_unknown_data_set_is_resource_not_found_with_http_404(cfn) -> None:
    qs = _client(cfn, "quicksight")
    for call in (lambda: qs.describe_data_set(AwsAccountId=ACCOUNT, DataSetId="absent"),
                 lambda: qs.update_data_set(AwsAccountId=ACCOUNT, DataSetId="absent", Name="n", ImportMode="SPICE", PhysicalTableMap={}),
                 lambda: qs.delete_data_set(AwsAccountId=ACCOUNT, DataSetId="absent"),
                 lambda: qs.describe_data_source(AwsAccountId=ACCOUNT, DataSourceId="absent")):
        with pytest.raises(qs.exceptions.ResourceNotFoundException) as error:  # moto alone: an HTML 404 page (or HTTP 400)
            call()
        response = error.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ResourceNotFoundException"
        assert "absent" in response["Error"]["Message"]


def test_quicksight_data_set_update_list_and_delete(cfn) -> None:
    qs = _client(cfn, "quicksight")
    request = data_set_request(qs, "ds-change")
    qs.create_data_set(**request)
    changed = {"Name": "renamed", "ImportMode": "DIRECT_QUERY", "PhysicalTableMap": request["PhysicalTableMap"]}
    updated = qs.update_data_set(AwsAccountId=ACCOUNT, DataSetId="ds-change", **changed)
    assert updated["Arn"].endswith(":dataset/ds-change") and "IngestionId" not in updated  # no ingestion for DIRECT_QUERY
    data_set = qs.describe_data_set(AwsAccountId=ACCOUNT, DataSetId="ds-change")["DataSet"]
    assert {k: data_set[k] for k in changed} == changed
    assert "LogicalTableMap" not in data_set  # UpdateDataSet replaces the definition, as on AWS
    assert data_set["LastUpdatedTime"] > data_set["CreatedTime"]
    [summary] = [s for s in qs.list_data_sets(AwsAccountId=ACCOUNT)["DataSetSummaries"] if s["DataSetId"] == "ds-change"]
    assert (summary["Name"], summary["ImportMode"], summary["Arn"]) == ("renamed", "DIRECT_QUERY", updated["Arn"])
    schedule = {"ScheduleId": "daily", "ScheduleFrequency": {"Interval": "DAILY"}, "RefreshType": "FULL_REFRESH"}
    qs.create_refresh_schedule(AwsAccountId=ACCOUNT, DataSetId="ds-change", Schedule=schedule)
    deleted = qs.delete_data_set(AwsAccountId=ACCOUNT, DataSetId="ds-change")
    assert (deleted["Arn"], deleted["DataSetId"]) == (updated["Arn"], "ds-change")
    assert "ds-change" not in [s["DataSetId"] for s in qs.list_data_sets(AwsAccountId=ACCOUNT)["DataSetSummaries"]]
    with pytest.raises(qs.exceptions.ResourceNotFoundException):
        qs.describe_data_set(AwsAccountId=ACCOUNT, DataSetId="ds-change")
    qs.create_data_set(**request)  # the id is free again
    assert qs.describe_data_set(AwsAccountId=ACCOUNT, DataSetId="ds-change")["DataSet"]["Name"] == "ds-change history"
    assert qs.list_refresh_schedules(AwsAccountId=ACCOUNT, DataSetId="ds-change")["RefreshSchedules"] == []  # gone with the old one


def test_quicksight_permissions_come_from_create_and_change_by_grant_and_revoke(cfn) -> None:
    qs = _client(cfn, "quicksight")
    resources = {  # kind: (id parameter, id, the owner actions the Create call grants)
        "data_source": ("DataSourceId", "perm-source", ["quicksight:DescribeDataSource", "quicksight:UpdateDataSource"]),
        "data_set": ("DataSetId", "perm-set", ["quicksight:DescribeDataSet", "quicksight:UpdateDataSet"]),
        "dashboard": ("DashboardId", "perm-board", ["quicksight:DescribeDashboard", "quicksight:UpdateDashboard"]),
    }
    data_source(qs, "perm-source", [{"Principal": ADMINS, "Actions": resources["data_source"][2]}])
    qs.create_data_set(**{**data_set_request(qs, "perm-set"), "Permissions": [{"Principal": ADMINS, "Actions": resources["data_set"][2]}]})
    qs.create_dashboard(AwsAccountId=ACCOUNT, DashboardId="perm-board", Name="Traffic",
                        SourceEntity={"SourceTemplate": {"Arn": f"arn:aws:quicksight:us-east-1:{ACCOUNT}:template/t", "DataSetReferences": []}},
                        Permissions=[{"Principal": ADMINS, "Actions": resources["dashboard"][2]}])
    for kind, (key, resource_id, (describe, update)) in resources.items():
        def permissions(kind=kind, key=key, resource_id=resource_id) -> dict:
            return getattr(qs, f"describe_{kind}_permissions")(AwsAccountId=ACCOUNT, **{key: resource_id})

        assert permissions()["Permissions"] == [{"Principal": ADMINS, "Actions": [describe, update]}], kind  # moto alone: no route
        answer = getattr(qs, f"update_{kind}_permissions")(
            AwsAccountId=ACCOUNT,
            **{key: resource_id},
            GrantPermissions=[{"Principal": VIEWERS, "Actions": [describe]}],
            RevokePermissions=[{"Principal": ADMINS, "Actions": [update]}],
        )
        now = permissions()
        arn_key = key.replace("Id", "Arn")
        assert now[key] == resource_id and now[arn_key] == answer[arn_key] and now[arn_key].endswith(f"/{resource_id}")
        assert now["Permissions"] == [{"Principal": ADMINS, "Actions": [describe]}, {"Principal": VIEWERS, "Actions": [describe]}], kind
        if kind == "dashboard":
            assert answer["Permissions"] == now["Permissions"]  # only UpdateDashboardPermissions returns them
        # revoking a principal's last action removes the principal
        getattr(qs, f"update_{kind}_permissions")(AwsAccountId=ACCOUNT, **{key: resource_id},
                                                  RevokePermissions=[{"Principal": ADMINS, "Actions": [describe]}])
        assert permissions()["Permissions"] == [{"Principal": VIEWERS, "Actions": [describe]}], kind
        for verb in ("describe", "update"):
            with pytest.raises(qs.exceptions.ResourceNotFoundException):
                getattr(qs, f"{verb}_{kind}_permissions")(AwsAccountId=ACCOUNT, **{key: "absent"})


def test_quicksight_data_set_refresh_properties(cfn) -> None:
    qs = _client(cfn, "quicksight")
    qs.create_data_set(**data_set_request(qs, "refresh-props"))
    qs.create_data_set(**data_set_request(qs, "refresh-direct", import_mode="DIRECT_QUERY"))
    with pytest.raises(qs.exceptions.ResourceNotFoundException):  # none set yet
        qs.describe_data_set_refresh_properties(AwsAccountId=ACCOUNT, DataSetId="refresh-props")
    properties = {"RefreshConfiguration": {"IncrementalRefresh": {"LookbackWindow": {"ColumnName": "hour", "Size": 1, "SizeUnit": "DAY"}}}}
    qs.put_data_set_refresh_properties(AwsAccountId=ACCOUNT, DataSetId="refresh-props", DataSetRefreshProperties=properties)
    assert qs.describe_data_set_refresh_properties(AwsAccountId=ACCOUNT, DataSetId="refresh-props")["DataSetRefreshProperties"] == properties
    qs.delete_data_set_refresh_properties(AwsAccountId=ACCOUNT, DataSetId="refresh-props")
    with pytest.raises(qs.exceptions.ResourceNotFoundException):
        qs.describe_data_set_refresh_properties(AwsAccountId=ACCOUNT, DataSetId="refresh-props")
    with pytest.raises(qs.exceptions.InvalidParameterValueException, match="not a SPICE dataset"):  # AWS's answer for DIRECT_QUERY
        qs.describe_data_set_refresh_properties(AwsAccountId=ACCOUNT, DataSetId="refresh-direct")
    with pytest.raises(qs.exceptions.ResourceNotFoundException):
        qs.put_data_set_refresh_properties(AwsAccountId=ACCOUNT, DataSetId="absent", DataSetRefreshProperties=properties)


def test_quicksight_refresh_schedules(cfn) -> None:
    qs = _client(cfn, "quicksight")
    arn = qs.create_data_set(**data_set_request(qs, "refresh-sched"))["Arn"]
    hourly = {"ScheduleId": "hourly", "ScheduleFrequency": {"Interval": "HOURLY", "Timezone": "Europe/Berlin"}, "RefreshType": "INCREMENTAL_REFRESH"}
    made = qs.create_refresh_schedule(AwsAccountId=ACCOUNT, DataSetId="refresh-sched", Schedule=hourly)
    assert (made["ScheduleId"], made["Arn"]) == ("hourly", f"{arn}/refresh-schedule/hourly")
    with pytest.raises(qs.exceptions.ResourceExistsException):
        qs.create_refresh_schedule(AwsAccountId=ACCOUNT, DataSetId="refresh-sched", Schedule=hourly)
    assert qs.list_refresh_schedules(AwsAccountId=ACCOUNT, DataSetId="refresh-sched")["RefreshSchedules"] == [{**hourly, "Arn": made["Arn"]}]

    daily = {"ScheduleId": "hourly", "ScheduleFrequency": {"Interval": "DAILY", "TimeOfTheDay": "03:00"}, "RefreshType": "FULL_REFRESH"}
    qs.update_refresh_schedule(AwsAccountId=ACCOUNT, DataSetId="refresh-sched", Schedule=daily)
    described = qs.describe_refresh_schedule(AwsAccountId=ACCOUNT, DataSetId="refresh-sched", ScheduleId="hourly")
    assert described["RefreshSchedule"] == {**daily, "Arn": made["Arn"]} and described["Arn"] == made["Arn"]
    with pytest.raises(qs.exceptions.ResourceNotFoundException):
        qs.update_refresh_schedule(AwsAccountId=ACCOUNT, DataSetId="refresh-sched", Schedule={**daily, "ScheduleId": "other"})

    assert qs.delete_refresh_schedule(AwsAccountId=ACCOUNT, DataSetId="refresh-sched", ScheduleId="hourly")["ScheduleId"] == "hourly"
    assert qs.list_refresh_schedules(AwsAccountId=ACCOUNT, DataSetId="refresh-sched")["RefreshSchedules"] == []
    for call in (lambda: qs.delete_refresh_schedule(AwsAccountId=ACCOUNT, DataSetId="refresh-sched", ScheduleId="hourly"),
                 lambda: qs.list_refresh_schedules(AwsAccountId=ACCOUNT, DataSetId="absent")):
        with pytest.raises(qs.exceptions.ResourceNotFoundException):
            call()


# --- 20: QuickSight dashboard versions, DeleteDashboard, DescribeIngestion ------------------------------------------------
ZONE_HOURLY = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dataset/zone_hourly"


READINGS = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dataset/readings"


THEME = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:theme/traffic"


PUBLISH_OPTIONS = {"AdHocFilteringOption": {"AvailabilityStatus": "DISABLED"}, "ExportToCSVOption": {"AvailabilityStatus": "ENABLED"}}


def board_definition(sheet_name: str = "Overview", data_sets: dict | None = None) -> dict:
    declared = {"zone_hourly": ZONE_HOURLY, "readings": READINGS} if data_sets is None else data_sets
    return {"DataSetIdentifierDeclarations": [{"Identifier": k, "DataSetArn": v} for k, v in declared.items()],
            "Sheets": [{"SheetId": "overview", "Name": sheet_name}]}


def board(qs, dashboard_id: str, **extra) -> dict:
    return qs.create_dashboard(AwsAccountId=ACCOUNT, DashboardId=dashboard_id, Name="Traffic", Definition=board_definition(),
                               VersionDescription="first", **extra)


def test_quicksight_dashboard_keeps_versions_and_shows_the_published_one(cfn) -> None:
    qs = _client(cfn, "quicksight")
    ids = {"AwsAccountId": ACCOUNT, "DashboardId": "versions"}
    arn = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dashboard/versions"
    created = board(qs, "versions", ThemeArn=THEME, DashboardPublishOptions=PUBLISH_OPTIONS)
    assert (created["Status"], created["Arn"], created["VersionArn"], created["CreationStatus"]) == (202, arn, f"{arn}/version/1", "CREATION_SUCCESSFUL")
    first = qs.describe_dashboard(**ids)["Dashboard"]
    assert (first["Name"], first["Arn"], first["DashboardId"]) == ("Traffic", arn, "versions")
    assert first["LastPublishedTime"] == first["CreatedTime"]  # QuickSight publishes the first version itself
    version = first["Version"]
    assert (version["VersionNumber"], version["Status"], version["Description"], version["Arn"]) == (1, "CREATION_SUCCESSFUL", "first", f"{arn}/version/1")
    assert version["DataSetArns"] == [ZONE_HOURLY, READINGS]  # moto alone: none, from the definition's declarations
    assert (version["Errors"], version["ThemeArn"], version["Sheets"]) == ([], THEME, [{"SheetId": "overview", "Name": "Overview"}])
    described = qs.describe_dashboard_definition(**ids)  # moto alone: no route
    assert described["Definition"] == board_definition() and described["DashboardPublishOptions"] == PUBLISH_OPTIONS
    assert (described["Name"], described["ResourceStatus"], described["Errors"], described["ThemeArn"]) == ("Traffic", "CREATION_SUCCESSFUL", [], THEME)

    changed = board_definition("Zones", {"zone_hourly": ZONE_HOURLY})
    updated = qs.update_dashboard(**ids, Name="Traffic zones", Definition=changed, VersionDescription="second")  # moto alone: HTTP 500
    assert (updated["Status"], updated["VersionArn"], updated["CreationStatus"]) == (202, f"{arn}/version/2", "CREATION_SUCCESSFUL")
    shown = qs.describe_dashboard(**ids)["Dashboard"]
    assert (shown["Name"], shown["Version"]) == (first["Name"], first["Version"])  # a new version is not published
    second = qs.describe_dashboard(**ids, VersionNumber=2)["Dashboard"]
    assert (second["Name"], second["Version"]["Status"], second["Version"]["DataSetArns"]) == ("Traffic zones", "CREATION_SUCCESSFUL", [ZONE_HOURLY])
    assert "ThemeArn" not in second["Version"] and second["LastUpdatedTime"] > first["LastUpdatedTime"]
    assert qs.describe_dashboard(**ids, VersionNumber=1)["Dashboard"]["Name"] == "Traffic"  # each version has its name
    summaries = qs.list_dashboard_versions(**ids)["DashboardVersionSummaryList"]  # moto alone: no route
    assert [(s["VersionNumber"], s["Status"], s["Description"], s["Arn"]) for s in summaries] == [
        (1, "CREATION_SUCCESSFUL", "first", f"{arn}/version/1"), (2, "CREATION_SUCCESSFUL", "second", f"{arn}/version/2")]
    assert summaries[1]["CreatedTime"] > summaries[0]["CreatedTime"]
    assert qs.describe_dashboard_definition(**ids, VersionNumber=2)["Definition"] == changed
    assert "DashboardPublishOptions" not in qs.describe_dashboard_definition(**ids, VersionNumber=2)  # not sent with version 2
    [listed] = [s for s in qs.list_dashboards(AwsAccountId=ACCOUNT)["DashboardSummaryList"] if s["DashboardId"] == "versions"]
    assert (listed["Name"], listed["PublishedVersionNumber"]) == ("Traffic", 1)

    assert qs.update_dashboard_published_version(**ids, VersionNumber=2)["DashboardArn"] == arn  # moto alone: no route
    now = qs.describe_dashboard(**ids)["Dashboard"]
    assert (now["Name"], now["Version"]["VersionNumber"]) == ("Traffic zones", 2)
    assert now["LastPublishedTime"] > first["LastPublishedTime"] and now["LastUpdatedTime"] == second["LastUpdatedTime"]
    assert qs.describe_dashboard_definition(**ids)["Definition"] == changed
    [listed] = [s for s in qs.list_dashboards(AwsAccountId=ACCOUNT)["DashboardSummaryList"] if s["DashboardId"] == "versions"]
    assert (listed["Name"], listed["PublishedVersionNumber"], listed["LastPublishedTime"]) == ("Traffic zones", 2, now["LastPublishedTime"])
    for call in (lambda: qs.update_dashboard_published_version(**ids, VersionNumber=9), lambda: qs.describe_dashboard(**ids, VersionNumber=9),
                 lambda: qs.describe_dashboard_definition(**ids, VersionNumber=9)):
        with pytest.raises(qs.exceptions.ResourceNotFoundException) as error:
            call()
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404 and "Version 9" in error.value.response["Error"]["Message"]
    assert qs.describe_dashboard(**ids)["Dashboard"]["Version"]["VersionNumber"] == 2  # unchanged by the refused call


def test_quicksight_dashboard_delete_takes_its_versions_permissions_and_tags(cfn) -> None:
    qs = _client(cfn, "quicksight")
    ids = {"AwsAccountId": ACCOUNT, "DashboardId": "doomed"}
    board(qs, "doomed", Tags=[{"Key": "app", "Value": "traffic"}], Permissions=[{"Principal": ADMINS, "Actions": ["quicksight:DescribeDashboard"]}])
    for n in (2, 3):
        qs.update_dashboard(**ids, Name="Traffic", Definition=board_definition(f"v{n}"), VersionDescription=f"v{n}")
    assert qs.delete_dashboard(**ids, VersionNumber=2)["DashboardId"] == "doomed"  # that version only
    assert [s["VersionNumber"] for s in qs.list_dashboard_versions(**ids)["DashboardVersionSummaryList"]] == [1, 3]
    with pytest.raises(qs.exceptions.ConflictException):  # the published one stays
        qs.delete_dashboard(**ids, VersionNumber=1)
    with pytest.raises(qs.exceptions.ResourceNotFoundException):
        qs.delete_dashboard(**ids, VersionNumber=2)
    qs.delete_dashboard(**ids, VersionNumber=3)
    made = qs.update_dashboard(**ids, Name="Traffic", Definition=board_definition("v4"))
    assert made["VersionArn"].endswith("/version/4")  # a deleted version's number is not given again

    arn = qs.describe_dashboard(**ids)["Dashboard"]["Arn"]
    deleted = qs.delete_dashboard(**ids)  # moto alone: HTTP 500
    assert (deleted["Status"], deleted["Arn"], deleted["DashboardId"]) == (200, arn, "doomed")
    assert "doomed" not in [s["DashboardId"] for s in qs.list_dashboards(AwsAccountId=ACCOUNT)["DashboardSummaryList"]]
    for call in (lambda: qs.describe_dashboard(**ids), lambda: qs.list_dashboard_versions(**ids), lambda: qs.describe_dashboard_permissions(**ids),
                 lambda: qs.delete_dashboard(**ids)):
        with pytest.raises(qs.exceptions.ResourceNotFoundException):
            call()
    board(qs, "doomed")  # the id is free again, and nothing of the old dashboard comes back
    assert qs.list_tags_for_resource(ResourceArn=arn)["Tags"] == []
    assert qs.describe_dashboard_permissions(**ids)["Permissions"] == []
    assert [s["VersionNumber"] for s in qs.list_dashboard_versions(**ids)["DashboardVersionSummaryList"]] == [1]


def test_quicksight_unknown_dashboard_is_resource_not_found_and_a_used_id_is_refused(cfn) -> None:
    qs = _client(cfn, "quicksight")
    ids = {"AwsAccountId": ACCOUNT, "DashboardId": "absent"}
    calls = (lambda: qs.describe_dashboard(**ids), lambda: qs.describe_dashboard(**ids, VersionNumber=1), lambda: qs.describe_dashboard_definition(**ids),
             lambda: qs.list_dashboard_versions(**ids), lambda: qs.update_dashboard(**ids, Name="n", Definition=board_definition()),
             lambda: qs.update_dashboard_published_version(**ids, VersionNumber=1), lambda: qs.delete_dashboard(**ids))
    for call in calls:
        with pytest.raises(qs.exceptions.ResourceNotFoundException) as error:
            call()
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert "absent" in error.value.response["Error"]["Message"]
    board(qs, "taken")
    with pytest.raises(qs.exceptions.ResourceExistsException) as error:  # moto alone: the dashboard is replaced
        qs.create_dashboard(AwsAccountId=ACCOUNT, DashboardId="taken", Name="Other", Definition=board_definition("other"))
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert qs.describe_dashboard(AwsAccountId=ACCOUNT, DashboardId="taken")["Dashboard"]["Name"] == "Traffic"


def test_quicksight_ingestions_of_spice_data_sets_complete_at_once(cfn) -> None:
    qs = _client(cfn, "quicksight")
    request = data_set_request(qs, "ingested")
    created = qs.create_data_set(**request)
    key = {"AwsAccountId": ACCOUNT, "DataSetId": "ingested"}
    ingestion = qs.describe_ingestion(**key, IngestionId=created["IngestionId"])["Ingestion"]  # moto alone: HTTP 500
    assert (ingestion["Arn"], ingestion["IngestionId"], ingestion["IngestionStatus"]) == (created["IngestionArn"], created["IngestionId"], "COMPLETED")
    assert ingestion["RowInfo"] == {"RowsIngested": 0, "RowsDropped": 0, "TotalRowsInDataset": 0}
    assert (ingestion["RequestType"], ingestion["RequestSource"]) == ("INITIAL_INGESTION", "MANUAL")
    updated = qs.update_data_set(**key, Name="renamed", ImportMode="SPICE", PhysicalTableMap=request["PhysicalTableMap"])
    assert updated["IngestionId"] != created["IngestionId"]
    assert qs.describe_ingestion(**key, IngestionId=updated["IngestionId"])["Ingestion"]["RequestType"] == "EDIT"
    started = qs.create_ingestion(**key, IngestionId="manual-1", IngestionType="INCREMENTAL_REFRESH")
    assert (started["Status"], started["IngestionStatus"], started["Arn"]) == (201, "INITIALIZED", f"{created['Arn']}/ingestion/manual-1")
    assert qs.describe_ingestion(**key, IngestionId="manual-1")["Ingestion"]["RequestType"] == "INCREMENTAL_REFRESH"
    with pytest.raises(qs.exceptions.ResourceExistsException):
        qs.create_ingestion(**key, IngestionId="manual-1")
    for call in (lambda: qs.describe_ingestion(**key, IngestionId="unknown"), lambda: qs.describe_ingestion(**{**key, "DataSetId": "absent"}, IngestionId="x"),
                 lambda: qs.create_ingestion(**{**key, "DataSetId": "absent"}, IngestionId="x")):
        with pytest.raises(qs.exceptions.ResourceNotFoundException) as error:
            call()
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    qs.delete_data_set(**key)
    qs.create_data_set(**request)
    with pytest.raises(qs.exceptions.ResourceNotFoundException):  # gone with the deleted data set
        qs.describe_ingestion(**key, IngestionId=created["IngestionId"])
    assert "IngestionId" not in qs.create_data_set(**data_set_request(qs, "not-ingested", import_mode="DIRECT_QUERY"))


def test_quicksight_tags_of_dashboards_and_data_sets(cfn) -> None:
    qs = _client(cfn, "quicksight")
    arns = [board(qs, "tagged", Tags=[{"Key": "app", "Value": "traffic"}])["Arn"], qs.create_data_set(**data_set_request(qs, "tagged"))["Arn"]]
    for arn in arns:
        qs.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "local"}, {"Key": "app", "Value": "city"}])
        assert sorted((t["Key"], t["Value"]) for t in qs.list_tags_for_resource(ResourceArn=arn)["Tags"]) == [("app", "city"), ("env", "local")]
        qs.untag_resource(ResourceArn=arn, TagKeys=["app"])
        assert qs.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "local"}]


# The modules' own runs against the endpoint: quicksight_data_set (with wait: the ingestion) and quicksight_dashboard
# (create, no-op, a changed definition published as a new version, delete), through main() as Ansible runs them.
def run_module(capsys, module, args: dict) -> dict:
    from ansible.module_utils.testing import patch_module_args

    with patch_module_args({**args, "_ansible_diff": True}), pytest.raises(SystemExit):
        module.main()
    result = json.loads(capsys.readouterr().out)
    assert not result.get("failed"), result.get("msg")
    return result


def test_quicksight_modules_run_end_to_end(cfn, capsys) -> None:
    from ansible_collections.smartcity.iot_analytics.plugins.modules import quicksight_dashboard, quicksight_data_set

    qs = _client(cfn, "quicksight")
    aws = {"endpoint_url": cfn.meta.endpoint_url, "region": "us-east-1", "access_key": "local-access-key", "secret_key": "local-secret-key"}
    data_set = {**aws, "data_set_id": "e2e_zone_hourly", "name": "Zone hourly", "data_source_arn": data_source(qs, "e2e-source"),
                "custom_sql": "SELECT zone, hour FROM zone_hourly", "columns": [{"name": "zone", "type": "STRING"}, {"name": "hour", "type": "DATETIME"}],
                "tags": {"app": "traffic"}, "wait": True, "wait_timeout": 10}
    made = run_module(capsys, quicksight_data_set, data_set)
    assert made["changed"] and made["data_set"]["ingestion"]["status"] == "COMPLETED"  # DescribeIngestion, as the module waits
    assert not run_module(capsys, quicksight_data_set, data_set)["changed"]
    edited = run_module(capsys, quicksight_data_set, {**data_set, "custom_sql": "SELECT zone, hour FROM zone_hourly WHERE zone <> ''"})
    assert edited["changed"] and edited["data_set"]["ingestion"]["status"] == "COMPLETED"
    assert edited["data_set"]["ingestion"]["ingestion_id"] != made["data_set"]["ingestion"]["ingestion_id"]

    sheets = [{"SheetId": "overview", "Name": "Overview"}]
    dashboard = {**aws, "dashboard_id": "e2e-board", "name": "Traffic history", "definition": {"Sheets": sheets},
                 "data_sets": {"zone_hourly": made["data_set"]["arn"]}, "tags": {"app": "traffic"},
                 "permissions": [{"principal": "group/traffic-viewers", "level": "viewer"}], "wait_timeout": 10}
    ids = {"AwsAccountId": ACCOUNT, "DashboardId": "e2e-board"}
    created = run_module(capsys, quicksight_dashboard, dashboard)
    assert created["changed"] and created["versions_created"] == 1 and created["dashboard"]["published_version_number"] == 1
    assert qs.describe_dashboard(**ids)["Dashboard"]["Version"]["DataSetArns"] == [made["data_set"]["arn"]]
    again = run_module(capsys, quicksight_dashboard, dashboard)
    assert (again["changed"], again["versions_created"]) == (False, 0)

    changed = run_module(capsys, quicksight_dashboard, {**dashboard, "definition": {"Sheets": [{**sheets[0], "Name": "Zones"}]}})
    assert changed["changed"] and changed["versions_created"] == 1
    assert (changed["dashboard"]["version_number"], changed["dashboard"]["published_version_number"]) == (2, 2)
    published = qs.describe_dashboard(**ids)["Dashboard"]["Version"]
    assert (published["VersionNumber"], published["Sheets"]) == (2, [{"SheetId": "overview", "Name": "Zones"}])
    assert changed["diff"]["before"]["fingerprint"] != changed["diff"]["after"]["fingerprint"]
    assert not run_module(capsys, quicksight_dashboard, {**dashboard, "definition": {"Sheets": [{**sheets[0], "Name": "Zones"}]}})["changed"]

    assert run_module(capsys, quicksight_dashboard, {**aws, "dashboard_id": "e2e-board", "state": "absent"})["changed"]
    with pytest.raises(qs.exceptions.ResourceNotFoundException):
        qs.describe_dashboard(**ids)
    assert not run_module(capsys, quicksight_dashboard, {**aws, "dashboard_id": "e2e-board", "state": "absent"})["changed"]
    assert run_module(capsys, quicksight_data_set, {**aws, "data_set_id": "e2e_zone_hourly", "state": "absent"})["changed"]
