# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""quicksight_dashboard and quicksight_dashboard_info: the definition builder (pure, validated against botocore's
service model), option validation before any call, and every call path against botocore's Stubber (moto lacks
dashboard versions and permissions, and its update/delete dashboard answer 500). The local endpoint only serves the
one path moto implements end to end: listing dashboards with the account from STS."""

from __future__ import annotations

import copy
import datetime
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from ansible.module_utils.testing import patch_module_args
from botocore.stub import Stubber
from botocore.validate import ParamValidator

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.smartcity.iot_analytics.plugins.module_utils import quicksight
from ansible_collections.smartcity.iot_analytics.plugins.modules import quicksight_dashboard, quicksight_dashboard_info
from conftest import local_endpoint

REGION = "us-east-1"
ACCOUNT = "123456789012"
DASH = "traffic-history"
ARN = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dashboard/{DASH}"
ZONE_HOURLY = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dataset/zone_hourly"
READINGS = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dataset/readings"
VIEWERS = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:group/default/traffic-viewers"
ADMINS = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:group/default/traffic-admins"
OTHER = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:user/default/someone"
VIEWER_ACTIONS = sorted(quicksight.ACTION_SETS["dashboard"]["viewer"])
OWNER_ACTIONS = sorted(quicksight.ACTION_SETS["dashboard"]["owner"])
WHEN = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
DEFINITION_SHAPE = botocore.session.get_session().get_service_model("quicksight").operation_model("CreateDashboard").input_shape.members["Definition"]


def definition(title: str = "Vehicles by zone", measure: str = "vehicle_count") -> dict[str, Any]:
    """One sheet, one bar chart over zone_hourly (the data set identifiers of the data contract)."""
    return {
        "Sheets": [
            {
                "SheetId": "overview",
                "Name": "Overview",
                "Visuals": [
                    {
                        "BarChartVisual": {
                            "VisualId": "vehicles-by-zone",
                            "Title": {"Visibility": "VISIBLE", "FormatText": {"PlainText": title}},
                            "ChartConfiguration": {
                                "FieldWells": {
                                    "BarChartAggregatedFieldWells": {
                                        "Category": [
                                            {
                                                "CategoricalDimensionField": {
                                                    "FieldId": "zone",
                                                    "Column": {"DataSetIdentifier": "zone_hourly", "ColumnName": "zone"},
                                                }
                                            }
                                        ],
                                        "Values": [
                                            {
                                                "NumericalMeasureField": {
                                                    "FieldId": "vehicles",
                                                    "Column": {"DataSetIdentifier": "zone_hourly", "ColumnName": measure},
                                                    "AggregationFunction": {"SimpleNumericalAggregation": "SUM"},
                                                }
                                            }
                                        ],
                                    }
                                }
                            },
                        }
                    }
                ],
            }
        ]
    }


DATA_SETS = {"zone_hourly": ZONE_HOURLY}


def model_errors(built: dict[str, Any]) -> str:
    report = ParamValidator().validate(built, DEFINITION_SHAPE)
    return report.generate_report() if report.has_errors() else ""


def built(doc: dict[str, Any] | None = None, data_sets: dict[str, str] | None = None) -> dict[str, Any]:
    return quicksight_dashboard.build_definition(doc or definition(), DATA_SETS if data_sets is None else data_sets)


def description(doc: dict[str, Any], theme_arn: str | None = None, publish_options: dict[str, Any] | None = None) -> str:
    """The version description the data contract prescribes: the fingerprint of the built definition and theme
    (and the publish options, when given)."""
    document: dict[str, Any] = {"definition": doc, "theme_arn": theme_arn}
    if publish_options is not None:
        document["publish_options"] = publish_options
    return f"smartcity.iot_analytics definition {quicksight.fingerprint(document)}"


# ---- the definition (pure) ----


def test_fixture_definition_needs_the_declarations_and_is_valid_once_built():
    assert "DataSetIdentifierDeclarations" in model_errors(definition())  # the file form alone is not a Definition
    assert model_errors(built()) == ""


def test_build_definition_declares_data_sets_sorted_and_leaves_the_input_alone():
    doc = definition()
    doc["CalculatedFields"] = [{"DataSetIdentifier": "readings", "Name": "busy", "Expression": "ifelse({occupancy} > 0.8, 1, 0)"}]
    original = copy.deepcopy(doc)
    result = quicksight_dashboard.build_definition(doc, {"zone_hourly": ZONE_HOURLY, "readings": READINGS})
    assert result["DataSetIdentifierDeclarations"] == [
        {"Identifier": "readings", "DataSetArn": READINGS},
        {"Identifier": "zone_hourly", "DataSetArn": ZONE_HOURLY},
    ]
    assert doc == original
    assert {key: value for key, value in result.items() if key != "DataSetIdentifierDeclarations"} == original
    assert model_errors(result) == ""


def test_build_definition_replaces_declarations_of_the_file_with_data_sets():
    doc = dict(definition(), DataSetIdentifierDeclarations=[{"Identifier": "zone_hourly", "DataSetArn": READINGS}])
    assert built(doc)["DataSetIdentifierDeclarations"] == [{"Identifier": "zone_hourly", "DataSetArn": ZONE_HOURLY}]
    # without data_sets the definition's own declarations stand
    assert quicksight_dashboard.build_definition(doc, None)["DataSetIdentifierDeclarations"] == doc["DataSetIdentifierDeclarations"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, ["'zone_hourly' (in visual 'vehicles-by-zone' at Sheets[0].Visuals[0].BarChartVisual", "data_sets lacks"]),
        (
            {"CalculatedFields": [{"DataSetIdentifier": "zone_hourly", "Name": "busy", "Expression": "1"}]},
            ["calculated field 'busy' at CalculatedFields[0].DataSetIdentifier"],
        ),
        (
            {
                "FilterGroups": [
                    {
                        "FilterGroupId": "zones",
                        "CrossDataset": "SINGLE_DATASET",
                        "ScopeConfiguration": {"AllSheets": {}},
                        "Filters": [
                            {
                                "CategoryFilter": {
                                    "FilterId": "zone-filter",
                                    "Column": {"DataSetIdentifier": "zone_hourly", "ColumnName": "zone"},
                                    "Configuration": {"FilterListConfiguration": {"MatchOperator": "CONTAINS", "CategoryValues": ["centre"]}},
                                }
                            }
                        ],
                    }
                ]
            },
            ["filter 'zone-filter' at FilterGroups[0].Filters[0].CategoryFilter.Column.DataSetIdentifier"],
        ),
    ],
)
def test_build_definition_names_a_missing_identifier_and_where_it_is_used(extra, expected):
    doc = dict(definition(), **extra)
    assert model_errors(built(doc)) == ""  # the case itself is a valid definition once declared
    with pytest.raises(ValueError, match="DataSetIdentifier") as raised:
        quicksight_dashboard.build_definition(doc, {"readings": READINGS})
    for text in expected:
        assert text in str(raised.value), str(raised.value)
    assert "declared: readings" in str(raised.value)


def test_build_definition_lists_every_missing_identifier_and_without_data_sets_says_so():
    doc = definition()
    doc["CalculatedFields"] = [{"DataSetIdentifier": "readings", "Name": "busy", "Expression": "1"}]
    with pytest.raises(ValueError) as raised:
        quicksight_dashboard.build_definition(doc, None)
    message = str(raised.value)
    assert "'readings' (in calculated field 'busy'" in message and "'zone_hourly' (in visual 'vehicles-by-zone'" in message
    assert "data_sets is not given" in message and "declared: none" in message


@pytest.mark.parametrize("bad", [["not", "a", "dict"], "Sheets: []"])
def test_build_definition_refuses_what_is_not_a_definition(bad):
    with pytest.raises(ValueError, match="definition: must be a dictionary"):
        quicksight_dashboard.build_definition(bad, DATA_SETS)


def test_build_definition_refuses_an_empty_identifier():
    doc = definition()
    doc["Sheets"][0]["Visuals"][0]["BarChartVisual"]["ChartConfiguration"]["FieldWells"]["BarChartAggregatedFieldWells"]["Category"][0][
        "CategoricalDimensionField"
    ]["Column"]["DataSetIdentifier"] = ""
    with pytest.raises(ValueError, match="must be a non-empty data set identifier"):
        quicksight_dashboard.build_definition(doc, DATA_SETS)


def test_fingerprint_ignores_key_order_but_not_content():
    reordered = json.loads(json.dumps(definition(), sort_keys=True))
    assert description(built(reordered)) == description(built())
    assert description(built(definition(title="Other"))) != description(built())
    assert description(built(), theme_arn="arn:aws:quicksight::aws:theme/MIDNIGHT") != description(built())


# ---- running main() ----


def run(capsys, main, args: dict[str, Any], check: bool = False, diff: bool = True) -> dict[str, Any]:
    with patch_module_args({**args, "_ansible_check_mode": check, "_ansible_diff": diff}), pytest.raises(SystemExit) as exit_info:
        main()
    result = json.loads(capsys.readouterr().out)
    assert (exit_info.value.code != 0) == bool(result.get("failed")), result
    return result


def ok(capsys, args: dict[str, Any], check: bool = False, main=quicksight_dashboard.main) -> dict[str, Any]:
    result = run(capsys, main, args, check=check)
    assert not result.get("failed"), result.get("msg")
    return result


def failed(capsys, args: dict[str, Any], check: bool = False, main=quicksight_dashboard.main) -> dict[str, Any]:
    result = run(capsys, main, args, check=check)
    assert result.get("failed"), result
    return result


def args(**extra: Any) -> dict[str, Any]:
    return {"region": REGION, "dashboard_id": DASH, "name": "Traffic history", "definition": definition(), "data_sets": DATA_SETS, **extra}


# ---- validation: nothing is called ----


@pytest.fixture
def no_aws(monkeypatch):
    def refuse(module):
        raise AssertionError("no AWS call may be made for invalid input")

    for module in (quicksight_dashboard, quicksight_dashboard_info):
        monkeypatch.setattr(module, "quicksight_client", refuse)
        monkeypatch.setattr(module, "account_info", refuse)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"data_sets": {"readings": READINGS}}, "definition: uses DataSetIdentifier 'zone_hourly' (in visual 'vehicles-by-zone'"),
        ({"data_sets": None}, "which the definition's DataSetIdentifierDeclarations (data_sets is not given) lacks"),
        ({"dashboard_id": "traffic history"}, "dashboard_id: 'traffic history' breaks the QuickSight rule"),
        ({"dashboard_id": "d" * 513}, "dashboard_id: 513 characters, QuickSight allows at most 512"),
        ({"definition": {"CalculatedFields": []}}, "definition: needs Sheets"),
        ({"definition": {"Sheets": []}}, "definition: needs Sheets"),
        ({"data_sets": {"zone_hourly": "zone_hourly"}}, "data_sets: 'zone_hourly' must map to a data set ARN"),
        ({"theme_arn": "MIDNIGHT"}, "theme_arn: 'MIDNIGHT' is not an ARN"),
        ({"permissions": [{"principal": "traffic-viewers", "level": "viewer"}]}, "principal 'traffic-viewers' must be group/NAME, user/NAME or an ARN"),
        ({"permissions": [{"principal": "group/x", "actions": []}]}, "permissions: 'group/x' has an empty actions list"),
        ({"permissions": [{"principal": "group/x"}]}, "one of the following is required: level, actions"),
        ({"name": None}, "name: required with state=present"),
        ({"name": " "}, "name: required with state=present, and must not be empty"),
        ({"definition": None}, "definition: required with state=present"),
        ({"wait_timeout": -1}, "wait_timeout: must be 0 or more"),
    ],
)
def test_invalid_input_fails_before_any_call(capsys, no_aws, options, expected):
    result = failed(capsys, args(**options))
    assert expected in result["msg"], result["msg"]


@pytest.mark.parametrize("option", ["name", "definition"])
def test_present_without_name_or_definition_fails_before_any_call(capsys, no_aws, option):
    options = args()
    del options[option]
    result = failed(capsys, options)
    assert f"state is present but all of the following are missing: {option}" in result["msg"]


def test_absent_needs_no_definition_but_a_valid_id(capsys, no_aws):
    result = failed(capsys, {"region": REGION, "dashboard_id": "bad/id", "state": "absent"})
    assert "dashboard_id: 'bad/id' breaks the QuickSight rule" in result["msg"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [({"dashboard_id": "bad id"}, "dashboard_id: 'bad id' breaks"), ({"include_definition": True}, "include_definition: needs dashboard_id")],
)
def test_info_invalid_input_fails_before_any_call(capsys, no_aws, options, expected):
    result = failed(capsys, {"region": REGION, **options}, main=quicksight_dashboard_info.main)
    assert expected in result["msg"], result["msg"]


# ---- the Stubber ----


@pytest.fixture
def stubbed(monkeypatch) -> Iterator[Stubber]:
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    client = boto3.client("quicksight", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        for module in (quicksight_dashboard, quicksight_dashboard_info):
            monkeypatch.setattr(module, "account_info", lambda module: (ACCOUNT, "aws"))
            monkeypatch.setattr(module, "quicksight_client", lambda module: RetryingBotoClientWrapper(client, quicksight.quicksight_retry()))
        yield stubber
        stubber.assert_no_pending_responses()


def ids(**extra: Any) -> dict[str, Any]:
    return {"AwsAccountId": ACCOUNT, "DashboardId": DASH, **extra}


class Remote:
    """What QuickSight holds for the dashboard; queues the Stubber's answers to the module's reads."""

    def __init__(self, desc: str, name: str = "Traffic history", permissions: dict[str, list[str]] | None = None, tags: dict[str, str] | None = None):
        self.name = name
        self.names: dict[int, str] = {}  # QuickSight keeps a name per version; versions not listed here carry self.name
        self.versions: list[dict[str, Any]] = []
        self.published = 1
        self.permissions = permissions or {}
        self.tags = tags or {}
        self.add_version(desc)

    def add_version(self, desc: str, status: str = "CREATION_SUCCESSFUL", errors: list[dict[str, Any]] | None = None) -> int:
        number = len(self.versions) + 1
        version = {"VersionNumber": number, "Status": status, "Description": desc, "Arn": f"{ARN}/version/{number}", "CreatedTime": WHEN}
        if errors:
            version["Errors"] = errors
        self.versions.append(version)
        return number

    def version(self, number: int) -> dict[str, Any]:
        return self.versions[number - 1]

    def dashboard(self, number: int) -> dict[str, Any]:
        return {
            "Dashboard": {
                "DashboardId": DASH,
                "Arn": ARN,
                "Name": self.names.get(number, self.name),
                "Version": self.version(number),
                "CreatedTime": WHEN,
                "LastUpdatedTime": WHEN,
            },
            "Status": 200,
        }

    def permission_list(self) -> dict[str, Any]:
        return {"Permissions": [{"Principal": p, "Actions": a} for p, a in sorted(self.permissions.items())]} if self.permissions else {}

    def expect_read(self, stubber: Stubber) -> None:
        stubber.add_response("describe_dashboard", self.dashboard(self.published), ids())
        summaries = [{key: v[key] for key in ("Arn", "VersionNumber", "Status", "Description", "CreatedTime")} for v in self.versions]
        stubber.add_response("list_dashboard_versions", {"DashboardVersionSummaryList": summaries, "Status": 200}, ids())
        stubber.add_response("describe_dashboard_permissions", {"DashboardId": DASH, "DashboardArn": ARN, **self.permission_list(), "Status": 200}, ids())
        tags = {"Tags": [{"Key": k, "Value": v} for k, v in sorted(self.tags.items())]} if self.tags else {}
        stubber.add_response("list_tags_for_resource", {**tags, "Status": 200}, {"ResourceArn": ARN})

    def expect_wait(self, stubber: Stubber, number: int, statuses: list[str]) -> None:
        final = dict(self.version(number))
        for status in statuses:
            answer = self.dashboard(number)
            answer["Dashboard"]["Version"] = dict(final, Status=status)
            stubber.add_response("describe_dashboard", answer, ids(VersionNumber=number))


def expect_missing(stubber: Stubber, message: str = "Dashboard traffic-history not found") -> None:
    stubber.add_client_error("describe_dashboard", "ResourceNotFoundException", message, 404, expected_params=ids())


def expect_update(stubber: Stubber, remote: Remote, doc: dict[str, Any], name: str = "Traffic history", **extra: Any) -> int:
    """One UpdateDashboard with the built definition and its fingerprint; the new version starts building."""
    desc = description(doc, extra.get("ThemeArn"), extra.get("DashboardPublishOptions"))
    number = remote.add_version(desc)
    stubber.add_response(
        "update_dashboard",
        {"Arn": ARN, "VersionArn": f"{ARN}/version/{number}", "DashboardId": DASH, "CreationStatus": "CREATION_IN_PROGRESS", "Status": 202},
        ids(Name=name, Definition=doc, VersionDescription=desc, **extra),
    )
    return number


def expect_publish(stubber: Stubber, remote: Remote, number: int) -> None:
    stubber.add_response("update_dashboard_published_version", {"DashboardId": DASH, "DashboardArn": ARN, "Status": 200}, ids(VersionNumber=number))
    remote.published = number


def check_then_apply(capsys, stubber: Stubber, remote: Remote, options: dict[str, Any], apply) -> tuple[dict[str, Any], dict[str, Any]]:
    """The amazon.aws sequence: check (changed, no write reaches the Stubber), apply, check and apply again
    (unchanged, reads only). ``apply`` queues the writes of the first apply."""
    remote.expect_read(stubber)
    planned = ok(capsys, options, check=True)
    assert planned["changed"] is True
    remote.expect_read(stubber)
    apply()
    applied = ok(capsys, options)
    assert applied["changed"] is True
    for check in (True, False):
        remote.expect_read(stubber)
        again = ok(capsys, options, check=check)
        assert again["changed"] is False and again["versions_created"] == 0, again
        assert again["diff"]["before"] == again["diff"]["after"]
        assert again["dashboard"] == applied["dashboard"]
    return planned, applied


# ---- create ----


def test_create_check_apply_check_apply(capsys, stubbed):
    options = args(
        permissions=[{"principal": "group/traffic-viewers", "level": "viewer"}, {"principal": "group/traffic-admins", "level": "owner"}],
        tags={"project": "smartcity"},
    )
    desc = description(built())
    expect_missing(stubbed)
    planned = ok(capsys, options, check=True)
    assert planned["changed"] is True and planned["versions_created"] == 1
    assert planned["dashboard"]["arn"] == ARN and planned["dashboard"]["version_number"] is None
    assert planned["diff"]["before"] == {}
    assert planned["diff"]["after"] == {
        "name": "Traffic history",
        "fingerprint": desc.rsplit(" ", 1)[1],
        "published_version_number": None,
        "permissions": [{"principal": ADMINS, "actions": OWNER_ACTIONS}, {"principal": VIEWERS, "actions": VIEWER_ACTIONS}],
        "tags": {"project": "smartcity"},
    }

    expect_missing(stubbed)
    stubbed.add_response(
        "create_dashboard",
        {"Arn": ARN, "VersionArn": f"{ARN}/version/1", "DashboardId": DASH, "CreationStatus": "CREATION_IN_PROGRESS", "Status": 202},
        ids(
            Name="Traffic history",
            Definition=built(),
            VersionDescription=desc,
            Permissions=[{"Principal": ADMINS, "Actions": OWNER_ACTIONS}, {"Principal": VIEWERS, "Actions": VIEWER_ACTIONS}],
            Tags=[{"Key": "project", "Value": "smartcity"}],
        ),
    )
    remote = Remote(desc, permissions={ADMINS: OWNER_ACTIONS, VIEWERS: VIEWER_ACTIONS}, tags={"project": "smartcity"})
    remote.expect_wait(stubbed, 1, ["CREATION_IN_PROGRESS", "CREATION_SUCCESSFUL"])
    created = ok(capsys, options)
    dashboard = created["dashboard"]
    assert created["changed"] is True and created["versions_created"] == 1
    assert dashboard["version_number"] == 1 and dashboard["published_version_number"] == 1 and dashboard["version_status"] == "CREATION_SUCCESSFUL"
    assert dashboard["fingerprint"] == dashboard["published_fingerprint"] == desc.rsplit(" ", 1)[1]
    assert created["diff"]["after"] == dict(planned["diff"]["after"], published_version_number=1)

    for check in (True, False):
        remote.expect_read(stubbed)
        again = ok(capsys, options, check=check)
        assert again["changed"] is False and again["versions_created"] == 0
        assert again["dashboard"] == dashboard


def test_create_sends_publish_options_and_theme_and_fingerprints_them(capsys, stubbed):
    theme = "arn:aws:quicksight::aws:theme/MIDNIGHT"
    publish_options = {"AdHocFilteringOption": {"AvailabilityStatus": "DISABLED"}}
    desc = description(built(), theme, publish_options)
    assert desc != description(built(), theme)
    expect_missing(stubbed)
    stubbed.add_response(
        "create_dashboard",
        {"Arn": ARN, "VersionArn": f"{ARN}/version/1", "DashboardId": DASH, "CreationStatus": "CREATION_IN_PROGRESS", "Status": 202},
        ids(Name="Traffic history", Definition=built(), VersionDescription=desc, DashboardPublishOptions=publish_options, ThemeArn=theme),
    )
    Remote(desc).expect_wait(stubbed, 1, ["CREATION_SUCCESSFUL"])
    result = ok(capsys, args(theme_arn=theme, publish_options=publish_options))
    assert result["changed"] and result["dashboard"]["permissions"] == [] and result["dashboard"]["tags"] == {}


def test_first_version_that_fails_to_build_surfaces_its_errors(capsys, stubbed):
    expect_missing(stubbed)
    request = ids(Name="Traffic history", Definition=built(), VersionDescription=description(built()))
    stubbed.add_response("create_dashboard", {"Arn": ARN, "VersionArn": f"{ARN}/version/1", "Status": 202}, request)
    remote = Remote(description(built()))
    remote.versions[0]["Errors"] = [{"Type": "DATA_SET_NOT_FOUND", "Message": "Data set zone_hourly not found"}]
    remote.expect_wait(stubbed, 1, ["CREATION_FAILED"])
    result = failed(capsys, args())
    assert result["msg"].startswith("waiting for version 1 to be built (QuickSight dashboard 'traffic-history') failed:")
    assert "QuickSight could not build version 1 (CREATION_FAILED): DATA_SET_NOT_FOUND: Data set zone_hourly not found" in result["msg"]


# ---- versions ----


def test_unchanged_definition_calls_no_write_api(capsys, stubbed):
    """Another key order and another data_sets order are the same definition: reads only (a write would find no
    stubbed answer and fail the test)."""
    remote = Remote(description(built()), tags={"project": "smartcity"})
    same = json.loads(json.dumps(definition(), sort_keys=True))
    for check in (True, False):
        remote.expect_read(stubbed)
        result = ok(capsys, args(definition=same, data_sets=dict(reversed(list(DATA_SETS.items())))), check=check)
        assert result["changed"] is False and result["versions_created"] == 0
        assert result["dashboard"]["version_number"] == result["dashboard"]["published_version_number"] == 1
        assert result["dashboard"]["tags"] == {"project": "smartcity"}  # tags omitted: left alone


def test_definition_change_creates_exactly_one_version_and_publishes_it(capsys, stubbed):
    remote = Remote(description(built()))
    changed = definition(title="Vehicles per zone")
    options = args(definition=changed)

    def apply():
        number = expect_update(stubbed, remote, built(changed))
        remote.expect_wait(stubbed, number, ["CREATION_IN_PROGRESS", "CREATION_SUCCESSFUL"])
        expect_publish(stubbed, remote, number)

    planned, applied = check_then_apply(capsys, stubbed, remote, options, apply)
    new_fp = description(built(changed)).rsplit(" ", 1)[1]
    old_fp = description(built()).rsplit(" ", 1)[1]
    assert planned["versions_created"] == 1 and planned["dashboard"]["version_number"] is None
    assert planned["diff"]["before"]["fingerprint"] == old_fp and planned["diff"]["after"]["fingerprint"] == new_fp
    assert applied["versions_created"] == 1 and len(remote.versions) == 2
    assert applied["dashboard"]["version_number"] == applied["dashboard"]["published_version_number"] == 2
    assert applied["diff"]["before"]["published_version_number"] == 1 and applied["diff"]["after"]["published_version_number"] == 2


def test_publish_false_makes_a_version_and_keeps_the_published_one(capsys, stubbed):
    remote = Remote(description(built()))
    changed = definition(measure="readings")
    options = args(definition=changed, publish=False)

    def apply():
        number = expect_update(stubbed, remote, built(changed))
        remote.expect_wait(stubbed, number, ["CREATION_SUCCESSFUL"])

    planned, applied = check_then_apply(capsys, stubbed, remote, options, apply)
    assert planned["diff"]["after"]["published_version_number"] == 1
    dashboard = applied["dashboard"]
    assert dashboard["version_number"] == 2 and dashboard["published_version_number"] == 1
    assert dashboard["fingerprint"] == description(built(changed)).rsplit(" ", 1)[1]
    assert dashboard["published_fingerprint"] == description(built()).rsplit(" ", 1)[1]
    assert remote.published == 1


def test_publish_false_rename_is_staged_once_and_not_again(capsys, stubbed):
    """A new name with publish=false makes one version; the re-run reads that version's own name (QuickSight keeps a
    name per version, and describe_dashboard shows the published one's) and makes no other."""
    remote = Remote(description(built()))
    options = args(name="Traffic history (staged)", publish=False)
    remote.expect_read(stubbed)
    number = expect_update(stubbed, remote, built(), name="Traffic history (staged)")
    remote.names[number] = "Traffic history (staged)"
    remote.expect_wait(stubbed, number, ["CREATION_SUCCESSFUL"])
    applied = ok(capsys, options)
    assert applied["changed"] is True and applied["versions_created"] == 1 and remote.published == 1
    for check in (True, False):
        remote.expect_read(stubbed)
        stubbed.add_response("describe_dashboard", remote.dashboard(number), ids(VersionNumber=number))
        again = ok(capsys, options, check=check)
        assert again["changed"] is False and again["versions_created"] == 0, again
    assert len(remote.versions) == 2 and remote.published == 1


def test_latest_matching_but_unpublished_version_is_published_without_a_new_one(capsys, stubbed):
    remote = Remote(description(built()))
    changed = definition(title="Staged")
    remote.add_version(description(built(changed)))  # staged earlier with publish=false
    planned, applied = check_then_apply(capsys, stubbed, remote, args(definition=changed), lambda: expect_publish(stubbed, remote, 2))
    assert planned["versions_created"] == 0 and planned["diff"]["after"]["published_version_number"] == 2
    assert applied["versions_created"] == 0 and applied["dashboard"]["published_version_number"] == 2 and len(remote.versions) == 2


def test_published_version_matching_needs_nothing_even_when_a_newer_draft_exists(capsys, stubbed):
    remote = Remote(description(built()))
    remote.add_version("made in the console")
    for check in (True, False):
        remote.expect_read(stubbed)
        result = ok(capsys, args(), check=check)
        assert result["changed"] is False and result["dashboard"]["published_version_number"] == 1
        assert result["dashboard"]["version_number"] == 2 and result["dashboard"]["fingerprint"] is None


def test_a_version_made_elsewhere_is_replaced_by_the_definition(capsys, stubbed):
    remote = Remote("Edited in the QuickSight console")

    def apply():
        number = expect_update(stubbed, remote, built())
        remote.expect_wait(stubbed, number, ["CREATION_SUCCESSFUL"])
        expect_publish(stubbed, remote, number)

    planned, _applied = check_then_apply(capsys, stubbed, remote, args(), apply)
    assert planned["diff"]["before"]["fingerprint"] is None


def test_name_change_makes_a_new_version(capsys, stubbed):
    remote = Remote(description(built()), name="Old name")

    def apply():
        number = expect_update(stubbed, remote, built(), name="Traffic history")
        remote.name = "Traffic history"
        remote.expect_wait(stubbed, number, ["CREATION_SUCCESSFUL"])
        expect_publish(stubbed, remote, number)

    planned, applied = check_then_apply(capsys, stubbed, remote, args(), apply)
    assert planned["diff"]["before"]["name"] == "Old name" and planned["diff"]["after"]["name"] == "Traffic history"
    assert planned["diff"]["before"]["fingerprint"] == planned["diff"]["after"]["fingerprint"]
    assert applied["dashboard"]["name"] == "Traffic history"


def test_publish_options_change_makes_a_new_version(capsys, stubbed):
    remote = Remote(description(built()))
    publish_options = {"ExportToCSVOption": {"AvailabilityStatus": "DISABLED"}}

    def apply():
        number = expect_update(stubbed, remote, built(), DashboardPublishOptions=publish_options)
        remote.expect_wait(stubbed, number, ["CREATION_SUCCESSFUL"])
        expect_publish(stubbed, remote, number)

    check_then_apply(capsys, stubbed, remote, args(publish_options=publish_options), apply)


def test_version_that_failed_to_build_surfaces_its_errors_and_is_not_published(capsys, stubbed):
    remote = Remote(description(built()))
    changed = definition(measure="no_such_column")
    remote.expect_read(stubbed)
    number = expect_update(stubbed, remote, built(changed))
    remote.version(number)["Errors"] = [
        {
            "Type": "COLUMN_TYPE_MISMATCH",
            "Message": "Column no_such_column is not in data set zone_hourly",
            "ViolatedEntities": [{"Path": "sheet/overview/visual/vehicles-by-zone"}],
        },
        {"Type": "PARAMETER_NOT_FOUND", "Message": "Parameter zone not found"},
    ]
    remote.expect_wait(stubbed, number, ["CREATION_IN_PROGRESS", "CREATION_FAILED"])
    result = failed(capsys, args(definition=changed))  # no publish call is stubbed: publishing would fail differently
    assert result["msg"].startswith("waiting for version 2 to be built (QuickSight dashboard 'traffic-history') failed:")
    assert (
        "QuickSight could not build version 2 (CREATION_FAILED): COLUMN_TYPE_MISMATCH: Column no_such_column is not in data set zone_hourly "
        "(at sheet/overview/visual/vehicles-by-zone); PARAMETER_NOT_FOUND: Parameter zone not found"
    ) in result["msg"]


def test_failed_latest_version_with_the_wanted_fingerprint_is_tried_again(capsys, stubbed):
    remote = Remote(description(built()))
    changed = definition(title="Retry")
    remote.add_version(description(built(changed)), status="CREATION_FAILED", errors=[{"Type": "INTERNAL_FAILURE", "Message": "try again"}])
    remote.expect_read(stubbed)
    number = expect_update(stubbed, remote, built(changed))
    remote.expect_wait(stubbed, number, ["CREATION_SUCCESSFUL"])
    expect_publish(stubbed, remote, number)
    result = ok(capsys, args(definition=changed))
    assert result["changed"] and result["versions_created"] == 1 and result["dashboard"]["published_version_number"] == 3


def test_wait_timeout_names_the_status_and_the_option(capsys, stubbed, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    monkeypatch.setattr("time.sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    remote = Remote(description(built()))
    changed = definition(title="Slow")
    remote.expect_read(stubbed)
    number = expect_update(stubbed, remote, built(changed))
    # 0 s, 1 s, 3 s later still building; the deadline (3 s) has passed at the third look
    remote.expect_wait(stubbed, number, ["CREATION_IN_PROGRESS"] * 3)
    result = failed(capsys, args(definition=changed, wait_timeout=3))
    assert "version 2 of the QuickSight dashboard 'traffic-history' is still CREATION_IN_PROGRESS after 3 s (wait_timeout)" in result["msg"]
    assert clock[0] == 1003.0


def test_a_version_left_building_by_a_timed_out_run_is_waited_for_and_published(capsys, stubbed):
    remote = Remote(description(built()))
    changed = definition(title="Slow")
    number = remote.add_version(description(built(changed)), status="CREATION_IN_PROGRESS")
    remote.expect_read(stubbed)
    remote.expect_wait(stubbed, number, ["CREATION_SUCCESSFUL"])
    expect_publish(stubbed, remote, number)
    result = ok(capsys, args(definition=changed))
    assert result["changed"] and result["versions_created"] == 0
    assert result["dashboard"]["version_status"] == "CREATION_SUCCESSFUL" and result["dashboard"]["published_version_number"] == 2


# ---- permissions and tags ----


def test_permissions_grant_and_revoke_with_purge(capsys, stubbed):
    remote = Remote(description(built()), permissions={VIEWERS: OWNER_ACTIONS, OTHER: VIEWER_ACTIONS})
    options = args(permissions=[{"principal": "group/traffic-viewers", "level": "viewer"}, {"principal": "group/traffic-admins", "level": "owner"}])
    extra = sorted(set(OWNER_ACTIONS) - set(VIEWER_ACTIONS))

    def apply():
        stubbed.add_response(
            "update_dashboard_permissions",
            {"DashboardArn": ARN, "DashboardId": DASH, "Status": 200},
            ids(
                GrantPermissions=[{"Principal": ADMINS, "Actions": OWNER_ACTIONS}],
                RevokePermissions=[{"Principal": VIEWERS, "Actions": extra}, {"Principal": OTHER, "Actions": VIEWER_ACTIONS}],
            ),
        )
        remote.permissions = {ADMINS: OWNER_ACTIONS, VIEWERS: VIEWER_ACTIONS}

    planned, applied = check_then_apply(capsys, stubbed, remote, options, apply)
    wanted = [{"principal": ADMINS, "actions": OWNER_ACTIONS}, {"principal": VIEWERS, "actions": VIEWER_ACTIONS}]
    assert planned["diff"]["after"]["permissions"] == wanted and applied["dashboard"]["permissions"] == wanted
    assert planned["versions_created"] == 0
    assert {entry["principal"] for entry in planned["diff"]["before"]["permissions"]} == {VIEWERS, OTHER}


def test_permissions_without_purge_keep_other_principals(capsys, stubbed):
    remote = Remote(description(built()), permissions={OTHER: VIEWER_ACTIONS})
    options = args(permissions=[{"principal": VIEWERS, "actions": ["quicksight:DescribeDashboard"]}], purge_permissions=False)

    def apply():
        now = [{"Principal": OTHER, "Actions": VIEWER_ACTIONS}, {"Principal": VIEWERS, "Actions": ["quicksight:DescribeDashboard"]}]
        stubbed.add_response(
            "update_dashboard_permissions",
            {"DashboardArn": ARN, "DashboardId": DASH, "Permissions": now, "Status": 200},
            ids(GrantPermissions=[{"Principal": VIEWERS, "Actions": ["quicksight:DescribeDashboard"]}]),
        )
        remote.permissions = {OTHER: VIEWER_ACTIONS, VIEWERS: ["quicksight:DescribeDashboard"]}

    _planned, applied = check_then_apply(capsys, stubbed, remote, options, apply)
    assert applied["dashboard"]["permissions"] == [  # sorted by principal ARN
        {"principal": VIEWERS, "actions": ["quicksight:DescribeDashboard"]},
        {"principal": OTHER, "actions": VIEWER_ACTIONS},
    ]


def test_permissions_of_another_identity_region_and_namespace(capsys, stubbed):
    remote = Remote(description(built()))
    principal = f"arn:aws:quicksight:eu-west-1:{ACCOUNT}:group/city/traffic-viewers"

    def apply():
        stubbed.add_response(
            "update_dashboard_permissions", {"Status": 200}, ids(GrantPermissions=[{"Principal": principal, "Actions": VIEWER_ACTIONS}])
        )
        remote.permissions = {principal: VIEWER_ACTIONS}

    options = args(permissions=[{"principal": "group/traffic-viewers", "level": "viewer"}], identity_region="eu-west-1", namespace="city")
    check_then_apply(capsys, stubbed, remote, options, apply)


def test_tags_change_with_and_without_purge(capsys, stubbed):
    remote = Remote(description(built()), tags={"project": "smartcity", "owner": "ops"})

    def apply():
        stubbed.add_response("untag_resource", {"Status": 200}, {"ResourceArn": ARN, "TagKeys": ["owner"]})
        stubbed.add_response("tag_resource", {"Status": 200}, {"ResourceArn": ARN, "Tags": [{"Key": "env", "Value": "prod"}]})
        remote.tags = {"project": "smartcity", "env": "prod"}

    planned, applied = check_then_apply(capsys, stubbed, remote, args(tags={"project": "smartcity", "env": "prod"}), apply)
    assert planned["diff"]["before"]["tags"] == {"project": "smartcity", "owner": "ops"}
    assert planned["diff"]["after"]["tags"] == applied["dashboard"]["tags"] == {"project": "smartcity", "env": "prod"}

    def apply_without_purge():
        stubbed.add_response("tag_resource", {"Status": 200}, {"ResourceArn": ARN, "Tags": [{"Key": "stage", "Value": "2"}]})
        remote.tags = {**remote.tags, "stage": "2"}

    _planned, applied = check_then_apply(capsys, stubbed, remote, args(tags={"stage": "2"}, purge_tags=False), apply_without_purge)
    assert applied["dashboard"]["tags"] == {"project": "smartcity", "env": "prod", "stage": "2"}


# ---- delete ----


def test_delete_check_apply_then_absent_is_unchanged(capsys, stubbed):
    remote = Remote(description(built()))
    options = {"region": REGION, "dashboard_id": DASH, "state": "absent"}
    remote.expect_read(stubbed)
    planned = ok(capsys, options, check=True)
    assert planned["changed"] and planned["dashboard"] == {} and planned["diff"]["after"] == {}
    assert planned["diff"]["before"]["published_version_number"] == 1
    remote.expect_read(stubbed)
    stubbed.add_response("delete_dashboard", {"Arn": ARN, "DashboardId": DASH, "Status": 200}, ids())
    deleted = ok(capsys, options)
    assert deleted["changed"] and deleted["dashboard"] == {}
    for check in (True, False):
        expect_missing(stubbed)
        again = ok(capsys, options, check=check)
        assert again["changed"] is False and again["dashboard"] == {} and again["diff"] == {"before": {}, "after": {}}


# ---- errors ----


def test_throttled_describe_is_retried(capsys, stubbed):
    remote = Remote(description(built()))
    stubbed.add_client_error("describe_dashboard", "ThrottlingException", "Rate exceeded", 429, expected_params=ids())
    remote.expect_read(stubbed)
    result = ok(capsys, args())
    assert result["changed"] is False and result["dashboard"]["published_version_number"] == 1


@pytest.mark.parametrize(
    ("code", "message", "state"),
    [
        ("UnsupportedUserEditionException", "This operation is not supported for the STANDARD edition", "present"),
        ("ResourceNotFoundException", f"The account {ACCOUNT} is not signed up with QuickSight.", "present"),
        ("ResourceNotFoundException", f"The account {ACCOUNT} is not signed up with QuickSight.", "absent"),
    ],
)
def test_not_subscribed_says_what_to_enable(capsys, stubbed, code, message, state):
    stubbed.add_client_error("describe_dashboard", code, message, 404 if code == "ResourceNotFoundException" else 403, expected_params=ids())
    result = failed(capsys, args(state=state), check=True)
    assert result["msg"].startswith("describing the dashboard (QuickSight dashboard 'traffic-history') failed: this account is not subscribed")
    assert "Sign up for QuickSight (Enterprise edition)" in result["msg"] and "Traceback" not in result["msg"]


def test_access_denied_says_what_to_grant(capsys, stubbed):
    remote = Remote(description(built()))
    remote.expect_read(stubbed)
    stubbed.add_client_error("update_dashboard", "AccessDeniedException", "User is not authorized to perform quicksight:UpdateDashboard", 403)
    result = failed(capsys, args(definition=definition(title="New")))
    assert result["msg"].startswith("creating a new version (QuickSight dashboard 'traffic-history') failed: access denied")
    assert "quicksight:UpdateDashboard" in result["msg"] and "Security & permissions" in result["msg"]
    assert result["error"]["code"] == "AccessDeniedException"


# ---- quicksight_dashboard_info ----


def info(capsys, **options: Any) -> list[dict[str, Any]]:
    result = ok(capsys, {"region": REGION, **options}, main=quicksight_dashboard_info.main)
    assert result["changed"] is False
    return result["dashboards"]


def test_info_one_with_versions_permissions_tags_and_definition(capsys, stubbed):
    remote = Remote(description(built()), permissions={VIEWERS: VIEWER_ACTIONS}, tags={"project": "smartcity"})
    remote.add_version("made in the console")
    remote.expect_read(stubbed)
    normalized = dict(built(), Options={"WeekStart": "MONDAY"})  # what QuickSight returns is normalized
    publish_options = {"AdHocFilteringOption": {"AvailabilityStatus": "DISABLED"}}
    stubbed.add_response(
        "describe_dashboard_definition",
        {"DashboardId": DASH, "Name": "Traffic history", "Definition": normalized, "DashboardPublishOptions": publish_options, "Status": 200},
        ids(),
    )
    (found,) = info(capsys, dashboard_id=DASH, include_definition=True)
    fp = description(built()).rsplit(" ", 1)[1]
    assert found["arn"] == ARN and found["name"] == "Traffic history" and found["created_time"] == WHEN.isoformat()
    assert found["published_version_number"] == 1 and found["published_fingerprint"] == fp
    assert found["published_version"]["status"] == "CREATION_SUCCESSFUL"
    assert found["version_number"] == 2 and found["fingerprint"] is None
    assert [(v["version_number"], v["fingerprint"]) for v in found["versions"]] == [(1, fp), (2, None)]
    assert found["permissions"] == [{"principal": VIEWERS, "actions": VIEWER_ACTIONS}] and found["tags"] == {"project": "smartcity"}
    assert found["definition"] == normalized  # CamelCase, as the module takes it back
    assert found["publish_options"] == {"AdHocFilteringOption": {"AvailabilityStatus": "DISABLED"}}


def test_info_missing_dashboard_is_an_empty_list(capsys, stubbed):
    expect_missing(stubbed)
    assert info(capsys, dashboard_id=DASH) == []


def test_info_lists_every_page(capsys, stubbed):
    def summary(dashboard_id: str) -> dict[str, Any]:
        arn = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dashboard/{dashboard_id}"
        return {"Arn": arn, "DashboardId": dashboard_id, "Name": dashboard_id, "PublishedVersionNumber": 1, "CreatedTime": WHEN}

    stubbed.add_response("list_dashboards", {"DashboardSummaryList": [summary("b")], "NextToken": "page2", "Status": 200}, {"AwsAccountId": ACCOUNT})
    stubbed.add_client_error("list_dashboards", "ThrottlingException", "Rate exceeded", 429, expected_params={"AwsAccountId": ACCOUNT, "NextToken": "page2"})
    stubbed.add_response("list_dashboards", {"DashboardSummaryList": [summary("a")], "Status": 200}, {"AwsAccountId": ACCOUNT, "NextToken": "page2"})
    found = info(capsys)
    assert [d["dashboard_id"] for d in found] == ["a", "b"]
    assert found[0]["published_version_number"] == 1 and found[0]["created_time"] == WHEN.isoformat()


def test_info_access_denied_says_what_to_grant(capsys, stubbed):
    stubbed.add_client_error("list_dashboards", "AccessDeniedException", "not authorized", 403, expected_params={"AwsAccountId": ACCOUNT})
    result = failed(capsys, {"region": REGION}, main=quicksight_dashboard_info.main)
    assert result["msg"].startswith("listing the QuickSight dashboards failed: access denied")


def test_info_not_subscribed_is_no_empty_list(capsys, stubbed):
    expect_missing(stubbed, f"The account {ACCOUNT} is not signed up with QuickSight.")
    result = failed(capsys, {"region": REGION, "dashboard_id": DASH}, main=quicksight_dashboard_info.main)
    assert "not subscribed to QuickSight" in result["msg"]


# ---- the local endpoint: the one path moto serves end to end ----


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory) -> Iterator[str]:
    with local_endpoint(tmp_path_factory.mktemp("endpoint")) as url:
        yield url


def test_info_lists_dashboards_of_the_local_endpoint_with_the_account_from_sts(capsys, endpoint):
    """Account id from STS (not patched), ListDashboards over HTTP, and moto's text timestamps made ISO 8601."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
    aws = {"endpoint_url": endpoint, "region": REGION, "access_key": "local-access-key", "secret_key": "local-secret-key"}
    client = boto3.client("quicksight", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="x")
    assert ok(capsys, aws, main=quicksight_dashboard_info.main)["dashboards"] == []
    client.create_dashboard(AwsAccountId=ACCOUNT, DashboardId=DASH, Name="Traffic history", Definition=built(), VersionDescription=description(built()))
    (found,) = ok(capsys, aws, main=quicksight_dashboard_info.main)["dashboards"]
    assert found["arn"] == ARN and found["dashboard_id"] == DASH and found["name"] == "Traffic history"
    assert found["published_version_number"] == 1
    datetime.datetime.fromisoformat(found["created_time"])
