# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""iot_policy: stateful flows against the local endpoint (main() driven as Ansible would), request shapes and error
paths against botocore's Stubber."""

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
from ansible_collections.smartcity.iot_analytics.plugins.module_utils import iot
from ansible_collections.smartcity.iot_analytics.plugins.modules import iot_policy
from conftest import local_endpoint

REGION = "us-east-1"
POLICY = "bench-connect"
ARN = f"arn:aws:iot:{REGION}:123456789012:policy/{POLICY}"


def document(resource: str = "*") -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": resource}]}


def run(capsys, args: dict[str, Any], check: bool = False, diff: bool = True) -> dict[str, Any]:
    with patch_module_args({**args, "_ansible_check_mode": check, "_ansible_diff": diff}), pytest.raises(SystemExit) as exit_info:
        iot_policy.main()
    result = json.loads(capsys.readouterr().out)
    assert (exit_info.value.code != 0) == bool(result.get("failed")), result
    return result


def ok(capsys, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    result = run(capsys, args, check=check)
    assert not result.get("failed"), result.get("msg")
    return result


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory) -> Iterator[str]:
    with local_endpoint(tmp_path_factory.mktemp("endpoint")) as url:
        yield url


@pytest.fixture
def env(endpoint: str) -> dict[str, Any]:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
    client = boto3.client("iot", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="x")
    return {"iot": client, "aws": {"endpoint_url": endpoint, "region": REGION, "access_key": "local-access-key", "secret_key": "local-secret-key"}}


def policy_args(env: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**env["aws"], "name": POLICY, **extra}


def versions(env: dict[str, Any]) -> list[dict[str, Any]]:
    return env["iot"].list_policy_versions(policyName=POLICY)["policyVersions"]


# ---- against the local endpoint ----


def test_create_check_apply_check_apply(capsys, env):
    args = policy_args(env, policy_document=document())
    planned = ok(capsys, args, check=True)
    assert planned["changed"] is True and planned["policy"]["policy_document"] == document()
    assert planned["diff"] == {"before": {}, "after": {"policy_name": POLICY, "policy_document": document()}}
    assert env["iot"].list_policies()["policies"] == []

    applied = ok(capsys, args)
    policy = applied["policy"]
    assert applied["changed"] is True
    assert policy["policy_arn"] == ARN and policy["default_version_id"] == "1" and policy["policy_document"] == document()
    assert [(v["version_id"], v["is_default_version"]) for v in policy["versions"]] == [("1", True)]
    assert json.loads(env["iot"].get_policy(policyName=POLICY)["policyDocument"]) == document()

    again = ok(capsys, args, check=True)
    assert again["changed"] is False and again["policy"] == policy and again["diff"]["before"] == again["diff"]["after"]
    again = ok(capsys, args)
    assert again["changed"] is False and len(versions(env)) == 1


def test_json_text_with_other_key_order_and_spacing_is_the_same_document(capsys, env):
    ok(capsys, policy_args(env, policy_document=document()))
    text = '{ "Statement": [ {"Resource": "*", "Action": "iot:Connect", "Effect": "Allow"} ],\n  "Version": "2012-10-17" }'
    result = ok(capsys, policy_args(env, policy_document=text))
    assert result["changed"] is False and len(versions(env)) == 1


def test_changed_document_becomes_the_new_default_version(capsys, env):
    ok(capsys, policy_args(env, policy_document=document()))
    args = policy_args(env, policy_document=document("arn:aws:iot:us-east-1:123456789012:client/a"))
    planned = ok(capsys, args, check=True)
    assert planned["changed"] and planned["diff"]["before"]["policy_document"] == document()
    assert planned["diff"]["after"]["policy_document"] == args["policy_document"]
    assert len(versions(env)) == 1  # check mode made no version

    updated = ok(capsys, args)
    assert updated["changed"] and updated["policy"]["default_version_id"] == "2"
    assert updated["policy"]["policy_document"] == args["policy_document"]
    assert updated["diff"]["before"]["policy_document"] == document()
    assert [(v["version_id"], v["is_default_version"]) for v in updated["policy"]["versions"]] == [("1", False), ("2", True)]
    assert env["iot"].get_policy(policyName=POLICY)["defaultVersionId"] == "2"
    assert ok(capsys, args, check=True)["changed"] is False
    assert ok(capsys, args)["changed"] is False


def test_six_changes_keep_at_most_five_versions_newest_default(capsys, env):
    ok(capsys, policy_args(env, policy_document=document("r0")))
    for n in range(1, 7):
        result = ok(capsys, policy_args(env, policy_document=document(f"r{n}")))
        assert result["changed"] and result["policy"]["policy_document"] == document(f"r{n}")
        listed = versions(env)
        assert len(listed) <= 5
    ids = sorted(int(v["versionId"]) for v in listed)
    assert ids == [3, 4, 5, 6, 7]  # the oldest ones were pruned, one per change
    default = [v["versionId"] for v in listed if v["isDefaultVersion"]]
    assert default == ["7"] and env["iot"].get_policy(policyName=POLICY)["defaultVersionId"] == "7"
    assert json.loads(env["iot"].get_policy(policyName=POLICY)["policyDocument"]) == document("r6")
    assert len(result["policy"]["versions"]) == 5


def test_pruning_never_deletes_the_default_version(capsys, env):
    """Version 1 is made the default again: the oldest NON-default (2) is the one pruned."""
    ok(capsys, policy_args(env, policy_document=document("r0")))
    for n in range(1, 5):
        ok(capsys, policy_args(env, policy_document=document(f"r{n}")))
    env["iot"].set_default_policy_version(policyName=POLICY, policyVersionId="1")
    result = ok(capsys, policy_args(env, policy_document=document("r9")))
    ids = sorted(int(v["versionId"]) for v in versions(env))
    assert ids == [1, 3, 4, 5, 6] and result["policy"]["default_version_id"] == "6"


def test_absent_detaches_deletes_versions_and_policy(capsys, env):
    ok(capsys, policy_args(env, policy_document=document("r0")))
    ok(capsys, policy_args(env, policy_document=document("r1")))
    cert = env["iot"].create_keys_and_certificate(setAsActive=True)
    env["iot"].attach_policy(policyName=POLICY, target=cert["certificateArn"])

    args = policy_args(env, state="absent")
    planned = ok(capsys, args, check=True)
    assert planned["changed"] and planned["diff"]["after"] == {} and planned["diff"]["before"]["policy_document"] == document("r1")
    assert env["iot"].list_targets_for_policy(policyName=POLICY)["targets"] == [cert["certificateArn"]]

    removed = ok(capsys, args)
    assert removed["changed"] and removed["policy"] == {}
    with pytest.raises(env["iot"].exceptions.ResourceNotFoundException):
        env["iot"].get_policy(policyName=POLICY)
    assert env["iot"].list_attached_policies(target=cert["certificateArn"])["policies"] == []
    assert env["iot"].describe_certificate(certificateId=cert["certificateId"])["certificateDescription"]["status"] == "ACTIVE"

    assert ok(capsys, args, check=True)["changed"] is False
    assert ok(capsys, args)["changed"] is False


# ---- validation: nothing is called ----


@pytest.fixture
def no_aws(monkeypatch):
    def refuse(module):
        raise AssertionError("no AWS client may be made for invalid input")

    monkeypatch.setattr(iot_policy, "iot_client", refuse)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"policy_document": "{not json"}, "policy_document: not valid JSON"),
        ({"policy_document": "[1, 2]"}, "policy_document: must be a JSON object, got list"),
        ({}, "policy_document: required with state=present"),
        ({"name": "bad name", "policy_document": document()}, "name: 'bad name' breaks the IoT rule"),
        ({"name": "p" * 129, "state": "absent"}, "breaks the IoT rule"),
    ],
)
def test_invalid_input_fails_before_any_call(capsys, no_aws, options, expected):
    result = run(capsys, {"region": REGION, "name": POLICY, **options})
    assert result["failed"] and expected in result["msg"], result["msg"]


# ---- request shapes and error paths, against the Stubber ----


@pytest.fixture
def stubbed(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    client = boto3.client("iot", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        monkeypatch.setattr(iot_policy, "iot_client", lambda module: RetryingBotoClientWrapper(client, iot.iot_retry()))
        yield stubber
        stubber.assert_no_pending_responses()


def got(doc: dict[str, Any], default: str) -> dict[str, Any]:
    return {"policyName": POLICY, "policyArn": ARN, "policyDocument": json.dumps(doc), "defaultVersionId": default}


def listed(ids: list[str], default: str, dates: dict[str, int] | None = None) -> dict[str, Any]:
    base = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    return {
        "policyVersions": [
            {"versionId": i, "isDefaultVersion": i == default, "createDate": base + datetime.timedelta(days=(dates or {}).get(i, int(i)))} for i in ids
        ]
    }


def test_prune_by_creation_date_then_create_default_version(capsys, stubbed):
    # version 9 is older than 5..8 (dates, not ids, decide); 5 is the default
    stubbed.add_response("get_policy", got(document("old"), "5"), {"policyName": POLICY})
    stubbed.add_response("list_policy_versions", listed(["5", "6", "7", "8", "9"], "5", {"9": 0}), {"policyName": POLICY})
    stubbed.add_response("delete_policy_version", {}, {"policyName": POLICY, "policyVersionId": "9"})
    stubbed.add_response(
        "create_policy_version",
        {"policyVersionId": "10", "isDefaultVersion": True},
        {"policyName": POLICY, "policyDocument": json.dumps(document("new")), "setAsDefault": True},
    )
    stubbed.add_response("get_policy", got(document("new"), "10"), {"policyName": POLICY})
    stubbed.add_response("list_policy_versions", listed(["5", "6", "7", "8", "10"], "10"), {"policyName": POLICY})
    result = ok(capsys, {"region": REGION, "name": POLICY, "policy_document": document("new")})
    assert result["changed"] and result["policy"]["default_version_id"] == "10"


def test_throttled_get_policy_is_retried(capsys, stubbed):
    stubbed.add_client_error("get_policy", "ThrottlingException", "slow down", 400)
    stubbed.add_response("get_policy", got(document(), "1"), {"policyName": POLICY})
    stubbed.add_response("list_policy_versions", listed(["1"], "1"), {"policyName": POLICY})
    result = ok(capsys, {"region": REGION, "name": POLICY, "policy_document": json.dumps(document())})
    assert result["changed"] is False and result["policy"]["versions"][0]["is_default_version"] is True


def test_malformed_policy_from_aws_fails_with_what_was_done(capsys, stubbed):
    stubbed.add_client_error("get_policy", "ResourceNotFoundException", "no such policy", 404)
    stubbed.add_client_error("create_policy", "MalformedPolicyException", "Policy document is malformed", 400)
    result = run(capsys, {"region": REGION, "name": POLICY, "policy_document": document()})
    assert result["failed"] and result["msg"].startswith("Failed to create the policy")
    assert result["error"]["code"] == "MalformedPolicyException"


def test_absent_retries_delete_conflict_after_detach(capsys, stubbed):
    cert = f"arn:aws:iot:{REGION}:123456789012:cert/{'c' * 64}"
    stubbed.add_response("get_policy", got(document(), "2"), {"policyName": POLICY})
    stubbed.add_response("list_policy_versions", listed(["1", "2"], "2"), {"policyName": POLICY})
    stubbed.add_response("list_targets_for_policy", {"targets": [cert]}, {"policyName": POLICY})
    stubbed.add_response("detach_policy", {}, {"policyName": POLICY, "target": cert})
    stubbed.add_response("delete_policy_version", {}, {"policyName": POLICY, "policyVersionId": "1"})
    stubbed.add_client_error("delete_policy", "DeleteConflictException", "still attached", 409)
    stubbed.add_response("delete_policy", {}, {"policyName": POLICY})
    result = ok(capsys, {"region": REGION, "name": POLICY, "state": "absent"})
    assert result["changed"] and result["policy"] == {}


def test_absent_on_missing_policy_is_unchanged(capsys, stubbed):
    stubbed.add_client_error("get_policy", "ResourceNotFoundException", "no such policy", 404)
    result = ok(capsys, {"region": REGION, "name": POLICY, "state": "absent"})
    assert result["changed"] is False and result["policy"] == {}
