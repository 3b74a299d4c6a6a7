# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""iot_thing and iot_thing_info: stateful flows against the local endpoint (main() driven as Ansible would), request
shapes and error paths against botocore's Stubber."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.smartcity.iot_analytics.plugins.module_utils import iot
from ansible_collections.smartcity.iot_analytics.plugins.modules import iot_thing, iot_thing_info
from conftest import local_endpoint

REGION = "us-east-1"
THING = "z001-s0001"
TYPE = "city-sensor"


def run(module: Any, capsys, args: dict[str, Any], check: bool = False, diff: bool = True) -> dict[str, Any]:
    with patch_module_args({**args, "_ansible_check_mode": check, "_ansible_diff": diff}), pytest.raises(SystemExit) as exit_info:
        module.main()
    result = json.loads(capsys.readouterr().out)
    assert (exit_info.value.code != 0) == bool(result.get("failed")), result
    return result


def ok(module: Any, capsys, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    result = run(module, capsys, args, check=check)
    assert not result.get("failed"), result.get("msg")
    return result


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory) -> Iterator[str]:
    with local_endpoint(tmp_path_factory.mktemp("endpoint")) as url:
        yield url


@pytest.fixture
def env(endpoint: str) -> dict[str, Any]:
    """A fresh region: the endpoint's state reset, a boto3 client to look at it, the AWS options for the modules."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
    client = boto3.client("iot", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="x")
    return {"iot": client, "aws": {"endpoint_url": endpoint, "region": REGION, "access_key": "local-access-key", "secret_key": "local-secret-key"}}


def thing_args(env: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**env["aws"], "name": THING, **extra}


def groups_of(env: dict[str, Any], name: str = THING) -> list[str]:
    return sorted(g["groupName"] for g in env["iot"].list_thing_groups_for_thing(thingName=name)["thingGroups"])


# ---- iot_thing against the local endpoint ----


def test_create_check_apply_check_apply(capsys, env):
    args = thing_args(
        env,
        thing_type=TYPE,
        create_thing_type=True,
        attributes={"zone": "z001", "model": "tc-400"},
        thing_groups=["zone-z001"],
        create_thing_groups=True,
    )
    planned = ok(iot_thing, capsys, args, check=True)
    assert planned["changed"] is True
    assert planned["thing"]["attributes"] == {"zone": "z001", "model": "tc-400"} and planned["thing"]["thing_arn"] is None
    assert planned["diff"]["before"] == {} and planned["diff"]["after"]["thing_groups"] == ["zone-z001"]
    assert env["iot"].list_things()["things"] == []  # check mode created nothing
    assert env["iot"].list_thing_types()["thingTypes"] == [] and env["iot"].list_thing_groups()["thingGroups"] == []

    applied = ok(iot_thing, capsys, args)
    assert applied["changed"] is True
    described = env["iot"].describe_thing(thingName=THING)
    assert described["thingTypeName"] == TYPE and described["attributes"] == {"zone": "z001", "model": "tc-400"}
    searchable = env["iot"].describe_thing_type(thingTypeName=TYPE)["thingTypeProperties"]["searchableAttributes"]
    assert searchable == ["zone"]
    assert groups_of(env) == ["zone-z001"]
    thing = applied["thing"]
    assert thing["thing_arn"] == described["thingArn"] and thing["thing_type_name"] == TYPE
    assert thing["thing_groups"] == ["zone-z001"] and thing["principals"] == [] and isinstance(thing["version"], int)

    again = ok(iot_thing, capsys, args, check=True)
    assert again["changed"] is False and again["thing"] == thing
    assert again["diff"]["before"] == again["diff"]["after"]
    again = ok(iot_thing, capsys, args)
    assert again["changed"] is False and again["thing"] == thing


def test_attribute_update_merge_then_purge(capsys, env):
    ok(iot_thing, capsys, thing_args(env, thing_type=TYPE, create_thing_type=True, attributes={"zone": "z1", "model": "a", "fw": "1"}))

    # a listed attribute changes, unlisted ones stay (purge_attributes defaults to false)
    args = thing_args(env, attributes={"fw": "2"})
    planned = ok(iot_thing, capsys, args, check=True)
    assert planned["changed"] and planned["diff"]["before"]["attributes"]["fw"] == "1" and planned["diff"]["after"]["attributes"]["fw"] == "2"
    assert env["iot"].describe_thing(thingName=THING)["attributes"]["fw"] == "1"
    updated = ok(iot_thing, capsys, args)
    assert updated["changed"] and env["iot"].describe_thing(thingName=THING)["attributes"] == {"zone": "z1", "model": "a", "fw": "2"}
    assert updated["thing"]["thing_type_name"] == TYPE  # thing_type not given: kept
    assert ok(iot_thing, capsys, args, check=True)["changed"] is False
    assert ok(iot_thing, capsys, args)["changed"] is False

    # an empty value removes one attribute
    ok(iot_thing, capsys, thing_args(env, attributes={"model": ""}))
    assert env["iot"].describe_thing(thingName=THING)["attributes"] == {"zone": "z1", "fw": "2"}

    # purge: only the listed attributes remain
    args = thing_args(env, attributes={"zone": "z2"}, purge_attributes=True)
    assert ok(iot_thing, capsys, args, check=True)["diff"]["after"]["attributes"] == {"zone": "z2"}
    assert ok(iot_thing, capsys, args)["changed"] is True
    assert env["iot"].describe_thing(thingName=THING)["attributes"] == {"zone": "z2"}
    assert ok(iot_thing, capsys, args, check=True)["changed"] is False
    assert ok(iot_thing, capsys, args)["changed"] is False


def test_purge_attributes_without_attributes_changes_nothing(capsys, env):
    ok(iot_thing, capsys, thing_args(env, attributes={"zone": "z1"}))
    result = ok(iot_thing, capsys, thing_args(env, purge_attributes=True, purge_thing_groups=True))
    assert result["changed"] is False and env["iot"].describe_thing(thingName=THING)["attributes"] == {"zone": "z1"}


def test_thing_type_change_and_removal(capsys, env):
    env["iot"].create_thing_type(thingTypeName="other")
    ok(iot_thing, capsys, thing_args(env, thing_type=TYPE, create_thing_type=True))
    assert ok(iot_thing, capsys, thing_args(env, thing_type="other"))["thing"]["thing_type_name"] == "other"
    assert env["iot"].describe_thing(thingName=THING)["thingTypeName"] == "other"
    removed = ok(iot_thing, capsys, thing_args(env, thing_type=""))
    assert removed["changed"] and removed["thing"]["thing_type_name"] is None
    assert "thingTypeName" not in env["iot"].describe_thing(thingName=THING)
    assert ok(iot_thing, capsys, thing_args(env, thing_type=""))["changed"] is False


def test_missing_thing_type_fails_naming_the_field(capsys, env):
    for check in (True, False):
        result = run(iot_thing, capsys, thing_args(env, thing_type="nope", attributes={"zone": "z1"}), check=check)
        assert result["failed"] and result["msg"].startswith("thing_type:") and "'nope'" in result["msg"]
        assert "create_thing_type" in result["msg"]
    assert env["iot"].list_things()["things"] == []


def test_missing_group_fails_before_anything_is_created(capsys, env):
    result = run(iot_thing, capsys, thing_args(env, thing_type=TYPE, create_thing_type=True, thing_groups=["g-missing"]))
    assert result["failed"] and result["msg"].startswith("thing_groups:") and "'g-missing'" in result["msg"]
    # the thing type would have been created: the failure came before any change
    assert env["iot"].list_things()["things"] == [] and env["iot"].list_thing_types()["thingTypes"] == []


def test_group_membership_and_purge(capsys, env):
    for group in ("g1", "g2", "g3"):
        env["iot"].create_thing_group(thingGroupName=group)
    ok(iot_thing, capsys, thing_args(env, thing_groups=["g1", "g2"]))
    assert groups_of(env) == ["g1", "g2"]
    args = thing_args(env, thing_groups=["g3"])
    result = ok(iot_thing, capsys, args)
    assert result["changed"] and groups_of(env) == ["g1", "g2", "g3"] and result["thing"]["thing_groups"] == ["g1", "g2", "g3"]
    assert ok(iot_thing, capsys, args)["changed"] is False

    args = thing_args(env, thing_groups=["g3"], purge_thing_groups=True)
    planned = ok(iot_thing, capsys, args, check=True)
    assert planned["changed"] and planned["diff"]["after"]["thing_groups"] == ["g3"] and groups_of(env) == ["g1", "g2", "g3"]
    assert ok(iot_thing, capsys, args)["changed"] is True and groups_of(env) == ["g3"]
    assert ok(iot_thing, capsys, args, check=True)["changed"] is False
    assert ok(iot_thing, capsys, args)["changed"] is False


def test_attribute_count_without_type_is_checked_against_the_merged_thing(capsys, env):
    ok(iot_thing, capsys, thing_args(env, attributes={"a": "1", "b": "2", "c": "3"}))
    result = run(iot_thing, capsys, thing_args(env, attributes={"d": "4"}))
    assert result["failed"] and "would have 4 attributes" in result["msg"] and "at most 3" in result["msg"]
    assert env["iot"].describe_thing(thingName=THING)["attributes"] == {"a": "1", "b": "2", "c": "3"}
    # replacing one keeps the count at 3: allowed
    assert ok(iot_thing, capsys, thing_args(env, attributes={"d": "4", "a": ""}))["thing"]["attributes"] == {"b": "2", "c": "3", "d": "4"}


def test_absent_detaches_principals_and_leaves_them(capsys, env):
    ok(iot_thing, capsys, thing_args(env, attributes={"zone": "z1"}))
    cert = env["iot"].create_keys_and_certificate(setAsActive=True)
    env["iot"].attach_thing_principal(thingName=THING, principal=cert["certificateArn"])
    present = ok(iot_thing, capsys, thing_args(env))
    assert present["thing"]["principals"] == [cert["certificateArn"]]

    args = thing_args(env, state="absent")
    planned = ok(iot_thing, capsys, args, check=True)
    assert planned["changed"] is True and planned["diff"]["before"]["principals"] == [cert["certificateArn"]]
    assert planned["diff"]["after"] == {} and env["iot"].describe_thing(thingName=THING)["thingName"] == THING

    removed = ok(iot_thing, capsys, args)
    assert removed["changed"] is True and removed["thing"] == {}
    with pytest.raises(env["iot"].exceptions.ResourceNotFoundException):
        env["iot"].describe_thing(thingName=THING)
    certificate = env["iot"].describe_certificate(certificateId=cert["certificateId"])["certificateDescription"]
    assert certificate["status"] == "ACTIVE"  # the principal itself is left alone

    assert ok(iot_thing, capsys, args, check=True)["changed"] is False
    assert ok(iot_thing, capsys, args)["changed"] is False


# ---- iot_thing_info against the local endpoint ----


def test_info_by_names_filters_and_principals(capsys, env):
    env["iot"].create_thing_type(thingTypeName=TYPE)
    env["iot"].create_thing(thingName="t-a", thingTypeName=TYPE, attributePayload={"attributes": {"zone": "z1"}})
    env["iot"].create_thing(thingName="t-b", thingTypeName=TYPE, attributePayload={"attributes": {"zone": "z2"}})
    env["iot"].create_thing(thingName="t-c", attributePayload={"attributes": {"zone": "z1"}})
    cert = env["iot"].create_keys_and_certificate(setAsActive=True)
    env["iot"].attach_thing_principal(thingName="t-a", principal=cert["certificateArn"])

    named = ok(iot_thing_info, capsys, {**env["aws"], "names": ["t-b", "missing", "t-a"]}, check=True)
    assert named["changed"] is False
    assert [t["thing_name"] for t in named["things"]] == ["t-a", "t-b"]  # the missing one is left out
    a = named["things"][0]
    assert a["attributes"] == {"zone": "z1"} and a["thing_type_name"] == TYPE and isinstance(a["version"], int)
    assert a["principals"] == [cert["certificateArn"]] and a["certificate_ids"] == [cert["certificateId"]]
    assert named["things"][1]["principals"] == []

    by_type = ok(iot_thing_info, capsys, {**env["aws"], "thing_type": TYPE})["things"]
    assert [t["thing_name"] for t in by_type] == ["t-a", "t-b"]
    by_attribute = ok(iot_thing_info, capsys, {**env["aws"], "attribute_name": "zone", "attribute_value": "z1"})["things"]
    assert [t["thing_name"] for t in by_attribute] == ["t-a", "t-c"]
    both = ok(iot_thing_info, capsys, {**env["aws"], "thing_type": TYPE, "attribute_name": "zone", "attribute_value": "z1"})
    assert [t["thing_name"] for t in both["things"]] == ["t-a"]
    everything = ok(iot_thing_info, capsys, {**env["aws"], "include_principals": False})["things"]
    assert [t["thing_name"] for t in everything] == ["t-a", "t-b", "t-c"] and all("principals" not in t for t in everything)


def test_info_filter_options_need_each_other_and_exclude_names(capsys, env):
    result = run(iot_thing_info, capsys, {**env["aws"], "attribute_name": "zone"})
    assert result["failed"] and "attribute_value" in result["msg"]
    result = run(iot_thing_info, capsys, {**env["aws"], "names": ["a"], "thing_type": TYPE})
    assert result["failed"] and "mutually exclusive" in result["msg"]


# ---- validation: nothing is called ----


@pytest.fixture
def no_aws(monkeypatch):
    def refuse(module):
        raise AssertionError("no AWS client may be made for invalid input")

    monkeypatch.setattr(iot_thing, "iot_client", refuse)
    monkeypatch.setattr(iot_thing_info, "iot_client", refuse)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"attributes": {"bad name": "x"}}, ["attribute name 'bad name'", "1 to 128"]),
        ({"attributes": {"n" * 129: "x"}}, ["attribute name", "1 to 128"]),
        ({"attributes": {"zone": "z 1"}}, ["attribute 'zone'", "breaks the IoT rule", "' '"]),
        ({"attributes": {"note": "a;b"}}, ["attribute 'note'", "';'"]),
        ({"attributes": {"blob": "x" * 801}}, ["attribute 'blob'", "801 characters", "at most 800"]),
        ({"attributes": {"floor": 3}}, ["attribute 'floor'", "must be a string"]),
        ({"attributes": {"a": "1", "b": "2", "c": "3", "d": "4"}, "thing_type": ""}, ["4 attributes given", "at most 3", "without a thing type"]),
        ({"attributes": {f"a{i}": "v" for i in range(51)}, "thing_type": TYPE}, ["51 attributes given", "at most 50"]),
        ({"attributes": {f"a{i}": "v" for i in range(51)}}, ["51 attributes given", "at most 50"]),
        ({"name": "has space"}, ["name: thing name 'has space'", "1 to 128"]),
        ({"name": "x" * 129}, ["name: thing name"]),
    ],
)
def test_invalid_input_fails_before_any_call(capsys, no_aws, options, expected):
    result = run(iot_thing, capsys, {"region": REGION, "name": THING, **options})
    assert result["failed"]
    for text in expected:
        assert text in result["msg"], result["msg"]


def test_valid_edge_values_pass_validation(capsys, monkeypatch):
    values = {"a": "", "b": "x" * 800, "c": "a_b.c,d@e/f:g#h=i[j]k-l"}
    errors = iot.attribute_errors({**values, "n" * 128: "v", "a_b.c,d@e/f:g#h-": "v"})
    assert errors == []


def test_info_invalid_name_fails_before_any_call(capsys, no_aws):
    result = run(iot_thing_info, capsys, {"region": REGION, "names": ["ok-name", "bad/name"]})
    assert result["failed"] and "'bad/name'" in result["msg"]


# ---- request shapes and error paths, against the Stubber ----

ARN = f"arn:aws:iot:{REGION}:123456789012:thing/{THING}"
CERT = f"arn:aws:iot:{REGION}:123456789012:cert/{'c' * 64}"


@pytest.fixture
def stubbed(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    client = boto3.client("iot", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        wrapped = RetryingBotoClientWrapper(client, iot.iot_retry())
        monkeypatch.setattr(iot_thing, "iot_client", lambda module: wrapped)
        monkeypatch.setattr(iot_thing_info, "iot_client", lambda module: wrapped)
        yield stubber
        stubber.assert_no_pending_responses()


def described(version: int, attributes: dict[str, str], thing_type: str | None = TYPE) -> dict[str, Any]:
    response = {"thingName": THING, "thingArn": ARN, "thingId": "id-1", "attributes": attributes, "version": version}
    if thing_type:
        response["thingTypeName"] = thing_type
    return response


def expect_read(stubber: Stubber, version: int, attributes: dict[str, str], groups=(), principals=()) -> None:
    stubber.add_response("describe_thing", described(version, attributes), {"thingName": THING})
    stubber.add_response(
        "list_thing_groups_for_thing",
        {"thingGroups": [{"groupName": g, "groupArn": f"arn:aws:iot:{REGION}:123456789012:thinggroup/{g}"} for g in groups]},
        {"thingName": THING},
    )
    stubber.add_response("list_thing_principals", {"principals": list(principals)}, {"thingName": THING})


def test_update_sends_expected_version_and_only_the_changes(capsys, stubbed):
    expect_read(stubbed, 7, {"zone": "z1", "fw": "1", "old": "x"})
    stubbed.add_response(
        "update_thing",
        {},
        {"thingName": THING, "expectedVersion": 7, "attributePayload": {"attributes": {"fw": "2", "old": ""}, "merge": True}},
    )
    expect_read(stubbed, 8, {"zone": "z1", "fw": "2"})
    result = ok(iot_thing, capsys, {"region": REGION, "name": THING, "attributes": {"fw": "2", "old": ""}})
    assert result["changed"] and result["thing"]["version"] == 8
    assert result["diff"]["before"]["version"] == 7 and result["diff"]["before"]["attributes"]["old"] == "x"


def test_version_conflict_rereads_and_recomputes(capsys, stubbed):
    expect_read(stubbed, 3, {"zone": "z1"})
    stubbed.add_client_error("update_thing", "VersionConflictException", "version mismatch", 409)
    # someone else set fw meanwhile: the second update does not overwrite their zone change
    expect_read(stubbed, 4, {"zone": "z9", "fw": "1"})
    stubbed.add_response("update_thing", {}, {"thingName": THING, "expectedVersion": 4, "attributePayload": {"attributes": {"fw": "2"}, "merge": True}})
    expect_read(stubbed, 5, {"zone": "z9", "fw": "2"})
    result = ok(iot_thing, capsys, {"region": REGION, "name": THING, "attributes": {"fw": "2"}})
    assert result["changed"] and result["thing"]["attributes"] == {"zone": "z9", "fw": "2"}


def test_version_conflict_three_times_fails_clearly(capsys, stubbed):
    for version in (1, 2, 3):
        expect_read(stubbed, version, {"zone": "z1"})
        stubbed.add_client_error("update_thing", "VersionConflictException", "version mismatch", 409)
    result = run(iot_thing, capsys, {"region": REGION, "name": THING, "attributes": {"zone": "z2"}})
    assert result["failed"] and "version changed 3 times" in result["msg"] and THING in result["msg"]


def test_throttled_describe_is_retried(capsys, stubbed):
    stubbed.add_client_error("describe_thing", "ThrottlingException", "slow down", 400)
    expect_read(stubbed, 1, {"zone": "z1"})
    result = ok(iot_thing, capsys, {"region": REGION, "name": THING, "attributes": {"zone": "z1"}})
    assert result["changed"] is False


def test_absent_detaches_then_deletes_retrying_while_still_attached(capsys, stubbed):
    expect_read(stubbed, 2, {"zone": "z1"}, principals=[CERT])
    stubbed.add_response("detach_thing_principal", {}, {"thingName": THING, "principal": CERT})
    stubbed.add_client_error("delete_thing", "InvalidRequestException", "still attached to one or more principals", 400)
    stubbed.add_response("delete_thing", {}, {"thingName": THING})
    result = ok(iot_thing, capsys, {"region": REGION, "name": THING, "state": "absent"})
    assert result["changed"] and result["thing"] == {}


def test_absent_on_missing_thing_is_unchanged(capsys, stubbed):
    stubbed.add_client_error("describe_thing", "ResourceNotFoundException", "no such thing", 404)
    result = ok(iot_thing, capsys, {"region": REGION, "name": THING, "state": "absent"})
    assert result["changed"] is False and result["thing"] == {}


def test_deprecated_thing_type_is_refused(capsys, stubbed):
    stubbed.add_client_error("describe_thing", "ResourceNotFoundException", "no such thing", 404)
    stubbed.add_response("describe_thing_type", {"thingTypeName": "old", "thingTypeMetadata": {"deprecated": True}}, {"thingTypeName": "old"})
    result = run(iot_thing, capsys, {"region": REGION, "name": THING, "thing_type": "old"})
    assert result["failed"] and result["msg"].startswith("thing_type:") and "deprecated" in result["msg"]


def test_access_denied_names_what_was_done(capsys, stubbed):
    stubbed.add_client_error("describe_thing", "AccessDeniedException", "not allowed", 403)
    result = run(iot_thing, capsys, {"region": REGION, "name": THING})
    assert result["failed"] and result["msg"].startswith("Failed to describe the thing")
    assert result["error"]["code"] == "AccessDeniedException"


def test_info_missing_name_and_throttled_principals(capsys, stubbed):
    stubbed.add_client_error("describe_thing", "ResourceNotFoundException", "no such thing", 404, expected_params={"thingName": "gone"})
    stubbed.add_response("describe_thing", described(1, {"zone": "z1"}), {"thingName": THING})
    stubbed.add_client_error("list_thing_principals", "ThrottlingException", "slow down", 400)
    stubbed.add_response("list_thing_principals", {"principals": [CERT]}, {"thingName": THING})
    things = ok(iot_thing_info, capsys, {"region": REGION, "names": ["gone", THING]})["things"]
    assert [t["thing_name"] for t in things] == [THING] and things[0]["certificate_ids"] == ["c" * 64]
