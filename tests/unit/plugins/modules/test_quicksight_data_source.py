# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""quicksight_data_source and quicksight_data_source_info: every call path against botocore's Stubber (which checks
request and response shapes against the service model and fails on any call that was not queued), and the calls moto
implements (data source CRUD, listing, tags; not permissions) against the local endpoint, main() driven as Ansible
would."""

from __future__ import annotations

import datetime
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.smartcity.iot_analytics.plugins.module_utils import quicksight
from ansible_collections.smartcity.iot_analytics.plugins.modules import quicksight_data_source, quicksight_data_source_info
from conftest import local_endpoint

REGION = "us-east-1"
ACCOUNT = "123456789012"
SOURCE_ID = "city-test-history"
ARN = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:datasource/{SOURCE_ID}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/city-test-analytics"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/other"
ADMINS = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:group/default/traffic-admins"
VIEWERS = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:group/default/traffic-viewers"
ALICE = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:user/default/alice"
OWNER = quicksight.ACTION_SETS["data_source"]["owner"]
VIEWER = quicksight.ACTION_SETS["data_source"]["viewer"]
IDS = {"AwsAccountId": ACCOUNT, "DataSourceId": SOURCE_ID}
WHEN = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def run(module: Any, capsys, args: dict[str, Any], check: bool = False, diff: bool = True) -> dict[str, Any]:
    with patch_module_args({**args, "_ansible_check_mode": check, "_ansible_diff": diff}), pytest.raises(SystemExit) as exit_info:
        module.main()
    result = json.loads(capsys.readouterr().out)
    assert (exit_info.value.code != 0) == bool(result.get("failed")), result
    return result


def ok(capsys, args: dict[str, Any], check: bool = False, module: Any = quicksight_data_source) -> dict[str, Any]:
    result = run(module, capsys, args, check=check)
    assert not result.get("failed"), result.get("msg")
    return result


def failed(capsys, args: dict[str, Any], check: bool = False, module: Any = quicksight_data_source) -> dict[str, Any]:
    result = run(module, capsys, args, check=check)
    assert result.get("failed"), result
    return result


def present(**extra: Any) -> dict[str, Any]:
    return {"region": REGION, "data_source_id": SOURCE_ID, "name": "City history", "workgroup": "city-test", **extra}


# ---- Stubber: every call path ----


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    return slept


@pytest.fixture
def stubbed(monkeypatch, sleeps) -> Iterator[Stubber]:
    client = boto3.client("quicksight", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        for module in (quicksight_data_source, quicksight_data_source_info):
            monkeypatch.setattr(module, "quicksight_client", lambda module: RetryingBotoClientWrapper(client, quicksight.quicksight_retry()))
            monkeypatch.setattr(module, "account_info", lambda module: (ACCOUNT, "aws"))
        yield stubber
        stubber.assert_no_pending_responses()


def source(
    name: str = "City history",
    workgroup: str = "city-test",
    role: str | None = ROLE,
    ssl: bool | None = True,
    status: str = "CREATION_SUCCESSFUL",
    kind: str = "ATHENA",
    error: dict[str, str] | None = None,
) -> dict[str, Any]:
    athena = {"WorkGroup": workgroup}
    if role:
        athena["RoleArn"] = role
    found = {
        "Arn": ARN,
        "DataSourceId": SOURCE_ID,
        "Name": name,
        "Type": kind,
        "Status": status,
        "CreatedTime": WHEN,
        "LastUpdatedTime": WHEN,
        "DataSourceParameters": {"AthenaParameters": athena} if kind == "ATHENA" else {"PostgreSqlParameters": {"Host": "db", "Port": 5432, "Database": "d"}},
    }
    if ssl is not None:
        found["SslProperties"] = {"DisableSsl": not ssl}
    if error:
        found["ErrorInfo"] = error
    return found


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def expect_describe(stubber: Stubber, found: dict[str, Any] | None) -> None:
    if found is None:
        stubber.add_client_error("describe_data_source", "ResourceNotFoundException", f"DataSource {SOURCE_ID} not found", 404, expected_params=IDS)
    else:
        stubber.add_response("describe_data_source", {"DataSource": found, "Status": 200}, IDS)


def expect_tags(stubber: Stubber, tags: dict[str, str]) -> None:
    # the model's TagList has at least one entry: no tags is no Tags key
    response = {"Tags": tag_list(tags), "Status": 200} if tags else {"Status": 200}
    stubber.add_response("list_tags_for_resource", response, {"ResourceArn": ARN})


def expect_permissions(stubber: Stubber, permissions: dict[str, list[str]]) -> None:
    listed = [{"Principal": arn, "Actions": actions} for arn, actions in permissions.items()]
    stubber.add_response("describe_data_source_permissions", {"DataSourceArn": ARN, "DataSourceId": SOURCE_ID, "Permissions": listed, "Status": 200}, IDS)


def expect_read(stubber: Stubber, found: dict[str, Any], tags: dict[str, str], permissions: dict[str, list[str]] | None = None) -> None:
    expect_describe(stubber, found)
    expect_tags(stubber, tags)
    if permissions is not None:
        expect_permissions(stubber, permissions)


SHARED = [{"principal": "group/traffic-admins", "level": "owner"}, {"principal": "group/traffic-viewers", "level": "viewer"}]
SHARED_API = {ADMINS: OWNER, VIEWERS: VIEWER}


def test_create_check_apply_check_apply(capsys, stubbed, sleeps):
    args = present(role_arn=ROLE, permissions=SHARED, tags={"environment": "test"})

    expect_describe(stubbed, None)
    planned = ok(capsys, args, check=True)
    assert planned["changed"] is True
    predicted = planned["data_source"]
    assert predicted["arn"] == ARN and predicted["status"] is None and predicted["type"] == "ATHENA"
    assert (predicted["workgroup"], predicted["role_arn"], predicted["ssl"]) == ("city-test", ROLE, True)
    assert predicted["permissions"] == [{"principal": ADMINS, "actions": OWNER}, {"principal": VIEWERS, "actions": VIEWER}]
    assert predicted["tags"] == {"environment": "test"}
    assert planned["diff"]["before"] == {}
    assert planned["diff"]["after"] == {
        "name": "City history",
        "workgroup": "city-test",
        "role_arn": ROLE,
        "ssl": True,
        "tags": {"environment": "test"},
        "permissions": predicted["permissions"],
    }

    expect_describe(stubbed, None)
    stubbed.add_response(
        "create_data_source",
        {"Arn": ARN, "DataSourceId": SOURCE_ID, "CreationStatus": "CREATION_IN_PROGRESS", "Status": 202},
        {
            **IDS,
            "Name": "City history",
            "Type": "ATHENA",
            "DataSourceParameters": {"AthenaParameters": {"WorkGroup": "city-test", "RoleArn": ROLE}},
            "SslProperties": {"DisableSsl": False},
            "Permissions": [{"Principal": ADMINS, "Actions": OWNER}, {"Principal": VIEWERS, "Actions": VIEWER}],
            "Tags": [{"Key": "environment", "Value": "test"}],
        },
    )
    expect_describe(stubbed, source(status="CREATION_IN_PROGRESS"))  # asynchronous: waited for
    expect_describe(stubbed, source())
    expect_permissions(stubbed, SHARED_API)
    expect_tags(stubbed, {"environment": "test"})
    applied = ok(capsys, args)
    assert applied["changed"] is True and sleeps  # the waiter slept between the two reads
    created = applied["data_source"]
    assert created["status"] == "CREATION_SUCCESSFUL" and created["created_time"] == WHEN.isoformat()
    assert {key: created[key] for key in predicted if key not in ("status", "created_time", "last_updated_time")} == {
        key: value for key, value in predicted.items() if key not in ("status", "created_time", "last_updated_time")
    }
    assert applied["diff"]["after"] == planned["diff"]["after"]

    for check in (True, False):
        expect_read(stubbed, source(), {"environment": "test"}, SHARED_API)
        again = ok(capsys, args, check=check)
        assert again["changed"] is False and again["data_source"] == created
        assert again["diff"]["before"] == again["diff"]["after"]


def test_update_of_settings_keeps_the_role_it_is_not_given(capsys, stubbed):
    before = source(name="Old name", workgroup="old-wg", ssl=False)
    args = present()  # no role_arn: the data source keeps ROLE

    expect_read(stubbed, before, {})
    planned = ok(capsys, args, check=True)
    assert planned["changed"] is True
    assert planned["diff"]["before"] == {"name": "Old name", "workgroup": "old-wg", "role_arn": ROLE, "ssl": False, "tags": {}}
    assert planned["diff"]["after"] == {"name": "City history", "workgroup": "city-test", "role_arn": ROLE, "ssl": True, "tags": {}}
    assert planned["data_source"]["status"] == "CREATION_SUCCESSFUL"

    expect_read(stubbed, before, {})
    stubbed.add_response(
        "update_data_source",
        {"Arn": ARN, "DataSourceId": SOURCE_ID, "UpdateStatus": "UPDATE_IN_PROGRESS", "Status": 202},
        {
            **IDS,
            "Name": "City history",
            "DataSourceParameters": {"AthenaParameters": {"WorkGroup": "city-test", "RoleArn": ROLE}},
            "SslProperties": {"DisableSsl": False},
        },
    )
    expect_describe(stubbed, source(status="UPDATE_IN_PROGRESS"))
    expect_describe(stubbed, source(status="UPDATE_SUCCESSFUL"))
    applied = ok(capsys, args)
    assert applied["changed"] is True and applied["data_source"]["status"] == "UPDATE_SUCCESSFUL"
    assert applied["diff"] == planned["diff"]

    for check in (True, False):
        expect_read(stubbed, source(status="UPDATE_SUCCESSFUL"), {})
        assert ok(capsys, args, check=check)["changed"] is False


@pytest.mark.parametrize(
    ("options", "found", "sent"),
    [
        ({"role_arn": OTHER_ROLE}, source(), {"WorkGroup": "city-test", "RoleArn": OTHER_ROLE}),
        ({"role_arn": ROLE}, source(role=None), {"WorkGroup": "city-test", "RoleArn": ROLE}),
        ({"ssl": False}, source(), {"WorkGroup": "city-test", "RoleArn": ROLE}),
    ],
)
def test_each_setting_alone_is_an_update(capsys, stubbed, options, found, sent):
    expect_read(stubbed, found, {})
    stubbed.add_response(
        "update_data_source",
        {"Arn": ARN, "DataSourceId": SOURCE_ID, "UpdateStatus": "UPDATE_SUCCESSFUL", "Status": 200},
        {**IDS, "Name": "City history", "DataSourceParameters": {"AthenaParameters": sent}, "SslProperties": {"DisableSsl": not options.get("ssl", True)}},
    )
    expect_describe(stubbed, source(status="UPDATE_SUCCESSFUL"))
    assert ok(capsys, present(**options))["changed"] is True


def test_missing_ssl_properties_mean_ssl_on(capsys, stubbed):
    expect_read(stubbed, source(ssl=None), {})
    result = ok(capsys, present())
    assert result["changed"] is False and result["data_source"]["ssl"] is True


def test_failed_data_source_is_updated_again_and_fails_with_its_error_info(capsys, stubbed):
    error = {"Type": "PERMISSION_DENIED", "Message": "QuickSight cannot use the workgroup city-test"}
    expect_read(stubbed, source(status="CREATION_FAILED", error=error), {})
    planned = ok(capsys, present(), check=True)
    assert planned["changed"] is True and planned["data_source"]["error_info"] == {"type": "PERMISSION_DENIED", "message": error["Message"]}

    expect_read(stubbed, source(status="CREATION_FAILED", error=error), {})
    stubbed.add_response("update_data_source", {"Arn": ARN, "DataSourceId": SOURCE_ID, "UpdateStatus": "UPDATE_IN_PROGRESS", "Status": 202})
    expect_describe(stubbed, source(status="UPDATE_FAILED", error=error))
    result = failed(capsys, present())
    assert "Updating the data source 'city-test-history' ended in UPDATE_FAILED" in result["msg"]
    assert "PERMISSION_DENIED" in result["msg"] and error["Message"] in result["msg"] and "Traceback" not in result["msg"]


def test_creation_failed_names_the_error_info(capsys, stubbed):
    expect_describe(stubbed, None)
    stubbed.add_response("create_data_source", {"Arn": ARN, "DataSourceId": SOURCE_ID, "CreationStatus": "CREATION_IN_PROGRESS", "Status": 202})
    expect_describe(stubbed, source(status="CREATION_FAILED", error={"Type": "ENGINE_VERSION_NOT_SUPPORTED", "Message": "no such workgroup"}))
    result = failed(capsys, present())
    assert "Creating the data source 'city-test-history' ended in CREATION_FAILED" in result["msg"]
    assert "ENGINE_VERSION_NOT_SUPPORTED" in result["msg"] and "no such workgroup" in result["msg"]


def test_creation_that_does_not_finish_in_time_says_so(capsys, stubbed):
    expect_describe(stubbed, None)
    stubbed.add_response("create_data_source", {"Arn": ARN, "DataSourceId": SOURCE_ID, "CreationStatus": "CREATION_IN_PROGRESS", "Status": 202})
    expect_describe(stubbed, source(status="CREATION_IN_PROGRESS"))
    result = failed(capsys, present(wait_timeout=0))
    assert "is still CREATION_IN_PROGRESS after 0 s (wait_timeout)" in result["msg"]


def test_update_in_progress_elsewhere_is_waited_for_before_comparing(capsys, stubbed):
    expect_describe(stubbed, source(status="UPDATE_IN_PROGRESS"))
    expect_describe(stubbed, source(status="UPDATE_SUCCESSFUL"))
    expect_tags(stubbed, {})
    result = ok(capsys, present())
    assert result["changed"] is False and result["data_source"]["status"] == "UPDATE_SUCCESSFUL"


def test_data_source_of_another_type_is_an_error_that_names_it(capsys, stubbed):
    expect_describe(stubbed, source(kind="POSTGRESQL"))
    result = failed(capsys, present())
    assert "exists with type POSTGRESQL, not ATHENA" in result["msg"] and SOURCE_ID in result["msg"]


# ---- permissions ----


@pytest.mark.parametrize(
    ("purge", "grants", "revokes", "after"),
    [
        # admins get owner (the missing actions granted), alice is not listed: purged, or kept
        (
            True,
            [{"Principal": ADMINS, "Actions": sorted(set(OWNER) - set(VIEWER))}],
            [{"Principal": ALICE, "Actions": ["quicksight:DescribeDataSource"]}],
            {ADMINS: OWNER},
        ),
        (False, [{"Principal": ADMINS, "Actions": sorted(set(OWNER) - set(VIEWER))}], [], {ADMINS: OWNER, ALICE: ["quicksight:DescribeDataSource"]}),
    ],
)
def test_permissions_grant_and_revoke_check_apply_check_apply(capsys, stubbed, purge, grants, revokes, after):
    current = {ADMINS: VIEWER, ALICE: ["quicksight:DescribeDataSource"]}
    args = present(permissions=[{"principal": "group/traffic-admins", "level": "owner"}], purge_permissions=purge)
    listed = [{"principal": arn, "actions": actions} for arn, actions in sorted(after.items())]

    expect_read(stubbed, source(), {}, current)
    planned = ok(capsys, args, check=True)
    assert planned["changed"] is True and planned["data_source"]["permissions"] == listed
    assert planned["diff"]["before"]["permissions"] == [{"principal": arn, "actions": actions} for arn, actions in sorted(current.items())]
    assert planned["diff"]["after"]["permissions"] == listed

    expect_read(stubbed, source(), {}, current)
    request = {**IDS, "GrantPermissions": grants}
    if revokes:
        request["RevokePermissions"] = revokes
    stubbed.add_response("update_data_source_permissions", {"DataSourceArn": ARN, "DataSourceId": SOURCE_ID, "Status": 200}, request)
    expect_permissions(stubbed, after)
    applied = ok(capsys, args)
    assert applied["changed"] is True and applied["data_source"]["permissions"] == listed

    for check in (True, False):
        expect_read(stubbed, source(), {}, after)
        assert ok(capsys, args, check=check)["changed"] is False


def test_only_revokes_are_sent_without_an_empty_grant_list(capsys, stubbed):
    expect_read(stubbed, source(), {}, {ADMINS: OWNER})
    stubbed.add_response(
        "update_data_source_permissions",
        {"DataSourceArn": ARN, "DataSourceId": SOURCE_ID, "Status": 200},
        {**IDS, "RevokePermissions": [{"Principal": ADMINS, "Actions": sorted(set(OWNER) - set(VIEWER))}]},
    )
    expect_permissions(stubbed, {ADMINS: VIEWER})
    result = ok(capsys, present(permissions=[{"principal": ADMINS, "level": "viewer"}]))
    assert result["changed"] and result["data_source"]["permissions"] == [{"principal": ADMINS, "actions": VIEWER}]


def test_explicit_actions_identity_region_and_namespace_build_the_principal(capsys, stubbed):
    principal = f"arn:aws:quicksight:eu-west-1:{ACCOUNT}:group/city/readers"
    expect_read(stubbed, source(), {}, {principal: ["quicksight:DescribeDataSource"]})
    args = present(
        identity_region="eu-west-1", namespace="city", permissions=[{"principal": "group/readers", "actions": ["quicksight:DescribeDataSource"]}]
    )
    assert ok(capsys, args)["changed"] is False


def test_without_permissions_they_are_neither_read_nor_returned(capsys, stubbed):
    expect_read(stubbed, source(), {})  # no describe_data_source_permissions queued: calling it would fail
    result = ok(capsys, present())
    assert result["changed"] is False and "permissions" not in result["data_source"] and "permissions" not in result["diff"]["after"]


# ---- tags ----


@pytest.mark.parametrize(
    ("purge", "removed", "after"),
    [(True, ["owner"], {"environment": "test", "team": "city"}), (False, [], {"environment": "test", "owner": "bob", "team": "city"})],
)
def test_tags_check_apply_check_apply(capsys, stubbed, purge, removed, after):
    current = {"environment": "test", "owner": "bob"}
    args = present(tags={"environment": "test", "team": "city"}, purge_tags=purge)

    expect_read(stubbed, source(), current)
    planned = ok(capsys, args, check=True)
    assert planned["changed"] is True and planned["data_source"]["tags"] == after
    assert planned["diff"]["before"]["tags"] == current and planned["diff"]["after"]["tags"] == after

    expect_read(stubbed, source(), current)
    if removed:
        stubbed.add_response("untag_resource", {"Status": 200}, {"ResourceArn": ARN, "TagKeys": removed})
    stubbed.add_response("tag_resource", {"Status": 200}, {"ResourceArn": ARN, "Tags": [{"Key": "team", "Value": "city"}]})
    expect_tags(stubbed, after)
    applied = ok(capsys, args)
    assert applied["changed"] is True and applied["data_source"]["tags"] == after

    for check in (True, False):
        expect_read(stubbed, source(), after)
        assert ok(capsys, args, check=check)["changed"] is False


def test_empty_tags_with_purge_remove_all(capsys, stubbed):
    expect_read(stubbed, source(), {"a": "1", "b": "2"})
    stubbed.add_response("untag_resource", {"Status": 200}, {"ResourceArn": ARN, "TagKeys": ["a", "b"]})
    expect_tags(stubbed, {})
    assert ok(capsys, present(tags={}))["data_source"]["tags"] == {}


# ---- delete ----


def test_delete_check_apply_check_apply(capsys, stubbed):
    args = {"region": REGION, "data_source_id": SOURCE_ID, "state": "absent"}
    expect_read(stubbed, source(), {"environment": "test"})
    planned = ok(capsys, args, check=True)
    assert planned["changed"] is True and planned["data_source"] == {}
    assert planned["diff"] == {
        "before": {"name": "City history", "workgroup": "city-test", "role_arn": ROLE, "ssl": True, "tags": {"environment": "test"}},
        "after": {},
    }

    expect_read(stubbed, source(), {"environment": "test"})
    stubbed.add_response("delete_data_source", {"Arn": ARN, "DataSourceId": SOURCE_ID, "Status": 200}, IDS)
    applied = ok(capsys, args)
    assert applied["changed"] is True and applied["diff"] == planned["diff"]

    for check in (True, False):
        expect_describe(stubbed, None)
        again = ok(capsys, args, check=check)
        assert again["changed"] is False and again["data_source"] == {} and again["diff"] == {"before": {}, "after": {}}


def test_delete_of_another_type_deletes_it(capsys, stubbed):
    expect_read(stubbed, source(kind="POSTGRESQL"), {})
    stubbed.add_response("delete_data_source", {"Arn": ARN, "DataSourceId": SOURCE_ID, "Status": 200}, IDS)
    assert ok(capsys, {"region": REGION, "data_source_id": SOURCE_ID, "state": "absent"})["changed"] is True


def test_delete_that_finds_it_gone_is_fine(capsys, stubbed):
    expect_read(stubbed, source(), {})
    stubbed.add_client_error("delete_data_source", "ResourceNotFoundException", "gone", 404)
    assert ok(capsys, {"region": REGION, "data_source_id": SOURCE_ID, "state": "absent"})["changed"] is True


# ---- retries and the errors a user can mend ----


def test_throttled_describe_is_retried(capsys, stubbed, sleeps):
    stubbed.add_client_error("describe_data_source", "ThrottlingException", "Rate exceeded", 429)
    expect_read(stubbed, source(), {})
    result = ok(capsys, present())
    assert result["changed"] is False and len(sleeps) == 1


def test_concurrent_update_is_retried(capsys, stubbed, sleeps):
    expect_read(stubbed, source(name="Old"), {})
    stubbed.add_client_error("update_data_source", "ConcurrentUpdatingException", "another update is running", 500)
    stubbed.add_response("update_data_source", {"Arn": ARN, "DataSourceId": SOURCE_ID, "UpdateStatus": "UPDATE_SUCCESSFUL", "Status": 200})
    expect_describe(stubbed, source(status="UPDATE_SUCCESSFUL"))
    assert ok(capsys, present())["changed"] is True and sleeps


@pytest.mark.parametrize("state", ["present", "absent"])
def test_not_signed_up_is_not_taken_for_a_missing_data_source(capsys, stubbed, state):
    message = f"Account {ACCOUNT} is not signed up with QuickSight."
    stubbed.add_client_error("describe_data_source", "ResourceNotFoundException", message, 404)
    args = present(state=state) if state == "present" else {"region": REGION, "data_source_id": SOURCE_ID, "state": "absent"}
    result = failed(capsys, args)
    assert "Describing the data source 'city-test-history' failed: this account is not subscribed to QuickSight" in result["msg"]
    assert quicksight.SUBSCRIBE_HINT in result["msg"] and result["error"]["code"] == "ResourceNotFoundException"


def test_unsupported_edition_says_what_to_enable(capsys, stubbed):
    expect_describe(stubbed, None)
    stubbed.add_client_error("create_data_source", "UnsupportedUserEditionException", "This operation is not supported in the Standard edition", 403)
    result = failed(capsys, present())
    assert result["msg"].startswith("Creating the data source 'city-test-history' failed: this account is not subscribed")
    assert quicksight.SUBSCRIBE_HINT in result["msg"]


def test_access_denied_says_what_to_enable(capsys, stubbed):
    expect_describe(stubbed, None)
    stubbed.add_client_error("create_data_source", "AccessDeniedException", "not authorized to perform quicksight:CreateDataSource", 403)
    result = failed(capsys, present())
    assert result["msg"].startswith("Creating the data source 'city-test-history' failed: access denied")
    assert quicksight.ACCESS_HINT in result["msg"] and "Traceback" not in result["msg"]
    assert result["error"]["code"] == "AccessDeniedException"


def test_access_denied_on_permissions_names_that_step(capsys, stubbed):
    expect_read(stubbed, source(), {})
    stubbed.add_client_error("describe_data_source_permissions", "AccessDeniedException", "no", 403)
    result = failed(capsys, present(permissions=SHARED))
    assert result["msg"].startswith("Reading the permissions of the data source 'city-test-history' failed: access denied")


# ---- validation: nothing is called ----


@pytest.fixture
def no_aws(monkeypatch):
    def refuse(module):
        raise AssertionError("no AWS call may be made for invalid input")

    for module in (quicksight_data_source, quicksight_data_source_info):
        monkeypatch.setattr(module, "quicksight_client", refuse)
        monkeypatch.setattr(module, "account_info", refuse)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"data_source_id": "bad id"}, "data_source_id: 'bad id' breaks the QuickSight rule"),
        ({"data_source_id": "x" * 2049, "state": "absent"}, "breaks the QuickSight rule"),
        ({"name": None}, "name: required with state=present"),
        ({"workgroup": None}, "workgroup: required with state=present"),
        ({"name": "n" * 129}, "name: must be 1 to 128 characters, got 129"),
        ({"workgroup": "my workgroup"}, "workgroup: 'my workgroup' breaks the Athena rule"),
        ({"role_arn": "city-test-analytics"}, "role_arn: 'city-test-analytics' is not an IAM role ARN"),
        ({"namespace": "bad/ns"}, "namespace: 'bad/ns' breaks the QuickSight rule"),
        ({"permissions": [{"principal": "team/admins", "level": "owner"}]}, "permissions[0].principal: principal 'team/admins' must be group/NAME"),
        ({"permissions": [{"principal": "group/a", "actions": []}]}, "permissions[0].actions: must be 1 to 20"),
        ({"permissions": [{"principal": "group/a", "level": "owner", "actions": ["x"]}]}, "mutually exclusive"),
        ({"tags": {"count": 3}}, "tags: the value of 'count' must be a string"),
        ({"wait_timeout": -1}, "wait_timeout: -1 must be 0 or more"),
    ],
)
def test_invalid_input_fails_before_any_call(capsys, no_aws, options, expected):
    result = failed(capsys, {**present(), **options})
    assert expected in result["msg"], result["msg"]


def test_info_invalid_id_fails_before_any_call(capsys, no_aws):
    result = failed(capsys, {"region": REGION, "data_source_id": "a/b"}, module=quicksight_data_source_info)
    assert "data_source_id: 'a/b' breaks the QuickSight rule" in result["msg"]


# ---- quicksight_data_source_info ----


def test_info_one_with_permissions_and_tags(capsys, stubbed):
    expect_read(stubbed, source(), {"environment": "test"}, SHARED_API)
    result = ok(capsys, {"region": REGION, "data_source_id": SOURCE_ID}, check=True, module=quicksight_data_source_info)
    assert result["changed"] is False
    [found] = result["data_sources"]
    assert (found["arn"], found["name"], found["workgroup"], found["role_arn"], found["ssl"]) == (ARN, "City history", "city-test", ROLE, True)
    assert found["tags"] == {"environment": "test"}
    assert found["permissions"] == [{"principal": ADMINS, "actions": OWNER}, {"principal": VIEWERS, "actions": VIEWER}]


def test_info_missing_id_is_an_empty_list(capsys, stubbed):
    expect_describe(stubbed, None)
    result = ok(capsys, {"region": REGION, "data_source_id": SOURCE_ID}, module=quicksight_data_source_info)
    assert result == {"changed": False, "data_sources": [], "invocation": result["invocation"]}


def test_info_lists_every_page(capsys, stubbed):
    first, second = source(), dict(source(kind="POSTGRESQL"), DataSourceId="another", Arn=ARN.replace(SOURCE_ID, "another"))
    stubbed.add_response("list_data_sources", {"DataSources": [first], "NextToken": "page-2", "Status": 200}, {"AwsAccountId": ACCOUNT})
    stubbed.add_client_error("list_data_sources", "ThrottlingException", "Rate exceeded", 429)
    stubbed.add_response("list_data_sources", {"DataSources": [first], "NextToken": "page-2", "Status": 200}, {"AwsAccountId": ACCOUNT})
    stubbed.add_response("list_data_sources", {"DataSources": [second], "Status": 200}, {"AwsAccountId": ACCOUNT, "NextToken": "page-2"})
    result = ok(capsys, {"region": REGION}, module=quicksight_data_source_info)
    assert [(s["data_source_id"], s["type"]) for s in result["data_sources"]] == [("another", "POSTGRESQL"), (SOURCE_ID, "ATHENA")]
    assert result["data_sources"][0]["workgroup"] is None
    assert result["data_sources"][0]["data_source_parameters"] == {"postgre_sql_parameters": {"host": "db", "port": 5432, "database": "d"}}


def test_info_access_denied_says_what_to_enable(capsys, stubbed):
    stubbed.add_client_error("list_data_sources", "AccessDeniedException", "no", 403)
    result = failed(capsys, {"region": REGION}, module=quicksight_data_source_info)
    assert result["msg"].startswith("Listing the data sources failed: access denied") and quicksight.ACCESS_HINT in result["msg"]


def test_info_not_signed_up_is_a_failure_not_an_empty_list(capsys, stubbed):
    stubbed.add_client_error("describe_data_source", "ResourceNotFoundException", f"Account {ACCOUNT} is not signed up with QuickSight.", 404)
    result = failed(capsys, {"region": REGION, "data_source_id": SOURCE_ID}, module=quicksight_data_source_info)
    assert quicksight.SUBSCRIBE_HINT in result["msg"]


# ---- against the local endpoint (moto: data source CRUD, listing and tags; no permissions API) ----


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory) -> Iterator[str]:
    with local_endpoint(tmp_path_factory.mktemp("endpoint")) as url:
        yield url


@pytest.fixture
def env(endpoint: str) -> dict[str, Any]:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
    client = boto3.client("quicksight", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="x")
    return {"qs": client, "aws": {"endpoint_url": endpoint, "region": REGION, "access_key": "local-access-key", "secret_key": "local-secret-key"}}


def local(env: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**env["aws"], "data_source_id": SOURCE_ID, **extra}


def described(env: dict[str, Any]) -> dict[str, Any]:
    return env["qs"].describe_data_source(**IDS)["DataSource"]


def local_tags(env: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in env["qs"].list_tags_for_resource(ResourceArn=ARN)["Tags"]}


def test_local_create_update_tags_check_apply_check_apply(capsys, env):
    args = local(env, name="City history", workgroup="city-test", role_arn=ROLE, tags={"environment": "test", "owner": "bob"})
    planned = ok(capsys, args, check=True)
    assert planned["changed"] is True and planned["data_source"]["arn"] == ARN  # the account came from moto's STS
    assert env["qs"].list_data_sources(AwsAccountId=ACCOUNT)["DataSources"] == []

    applied = ok(capsys, args)
    assert applied["changed"] is True and applied["data_source"]["status"] == "CREATION_SUCCESSFUL"
    found = described(env)
    assert (found["Name"], found["Type"], found["DataSourceParameters"]) == (
        "City history",
        "ATHENA",
        {"AthenaParameters": {"WorkGroup": "city-test", "RoleArn": ROLE}},
    )
    assert found["SslProperties"] == {"DisableSsl": False}
    assert local_tags(env) == {"environment": "test", "owner": "bob"}
    again = ok(capsys, args, check=True)
    assert again["changed"] is False and again["data_source"] == applied["data_source"]
    assert ok(capsys, args)["changed"] is False

    # new name and workgroup, no role given (kept), one tag replaced and one purged
    changed = local(env, name="City traffic history", workgroup="city-test-2", tags={"environment": "prod"})
    planned = ok(capsys, changed, check=True)
    assert planned["changed"] is True and planned["diff"]["after"]["workgroup"] == "city-test-2" and planned["diff"]["after"]["role_arn"] == ROLE
    assert described(env)["Name"] == "City history" and local_tags(env) == {"environment": "test", "owner": "bob"}
    applied = ok(capsys, changed)
    assert applied["changed"] is True and applied["data_source"]["status"] == "UPDATE_SUCCESSFUL"
    found = described(env)
    assert (found["Name"], found["DataSourceParameters"]) == ("City traffic history", {"AthenaParameters": {"WorkGroup": "city-test-2", "RoleArn": ROLE}})
    assert local_tags(env) == {"environment": "prod"} and applied["data_source"]["tags"] == {"environment": "prod"}
    assert ok(capsys, changed, check=True)["changed"] is False
    assert ok(capsys, changed)["changed"] is False

    listed = ok(capsys, env["aws"], module=quicksight_data_source_info)["data_sources"]
    assert [(s["data_source_id"], s["workgroup"], s["status"]) for s in listed] == [(SOURCE_ID, "city-test-2", "UPDATE_SUCCESSFUL")]


def test_local_delete_check_apply_check_apply(capsys, env):
    ok(capsys, local(env, name="City history", workgroup="city-test"))
    args = local(env, state="absent")
    planned = ok(capsys, args, check=True)
    assert planned["changed"] is True and planned["diff"]["before"]["workgroup"] == "city-test" and planned["diff"]["after"] == {}
    assert described(env)["Name"] == "City history"

    assert ok(capsys, args)["changed"] is True
    with pytest.raises(env["qs"].exceptions.ResourceNotFoundException):
        described(env)
    assert ok(capsys, args, check=True)["changed"] is False
    assert ok(capsys, args)["changed"] is False
    assert ok(capsys, env["aws"], module=quicksight_data_source_info)["data_sources"] == []


def test_local_other_type_under_the_id_is_an_error(capsys, env):
    env["qs"].create_data_source(
        **IDS, Name="db", Type="POSTGRESQL", DataSourceParameters={"PostgreSqlParameters": {"Host": "db", "Port": 5432, "Database": "d"}}
    )
    result = failed(capsys, local(env, name="City history", workgroup="city-test"))
    assert "exists with type POSTGRESQL" in result["msg"]
    assert described(env)["Type"] == "POSTGRESQL"
