# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""cloudformation_change_set: review (create) and execute against the local endpoint, main() driven as Ansible would;
what the local endpoint does not model (LastUpdatedTime, OBSOLETE change sets, the stack's last change set id, a
failed execution) against botocore's Stubber."""

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

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.smartcity.iot_analytics.plugins.modules import cloudformation_change_set
from conftest import local_endpoint

REGION = "us-east-1"
STACK = "review-test"


def template(queue: str) -> str:
    return (
        "Parameters:\n  Suffix:\n    Type: String\n    Default: a\n"
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n"
        f"      QueueName: !Sub '{queue}-${{Suffix}}'\n"
    )


def run(capsys, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    with patch_module_args({**args, "_ansible_check_mode": check}), pytest.raises(SystemExit) as exit_info:
        cloudformation_change_set.main()
    result = json.loads(capsys.readouterr().out)
    assert (exit_info.value.code != 0) == bool(result.get("failed")), result
    return result


def ok(capsys, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    result = run(capsys, args, check=check)
    assert not result.get("failed"), result.get("msg")
    return result


def refused(capsys, args: dict[str, Any], check: bool = False) -> str:
    result = run(capsys, args, check=check)
    assert result.get("failed") and result.get("refused"), result
    assert result["msg"].startswith("Refused to execute the reviewed change set: ")
    assert result["msg"].endswith(". Nothing was executed; review again.")
    return result["msg"]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory) -> Iterator[str]:
    with local_endpoint(tmp_path_factory.mktemp("endpoint")) as url:
        yield url


@pytest.fixture
def env(endpoint: str) -> dict[str, Any]:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
    cfn = boto3.client("cloudformation", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="x")
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="x")
    return {"cfn": cfn, "sqs": sqs,
            "aws": {"endpoint_url": endpoint, "region": REGION, "access_key": "local-access-key", "secret_key": "local-secret-key"}}


def review_args(env: dict[str, Any], body: str, **extra: Any) -> dict[str, Any]:
    return {**env["aws"], "stack_name": STACK, "template_body": body, "tags": {"environment": "test"}, "wait_delay": 1, **extra}


def execute_args(env: dict[str, Any], reviewed: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**env["aws"], "stack_name": STACK, "state": "executed", "change_set_name": reviewed["change_set"]["change_set_id"],
            "expected_revision": reviewed["stack_revision"], "wait_delay": 1, **extra}


def queues(env: dict[str, Any]) -> list[str]:
    return [url.rsplit("/", 1)[1] for url in env["sqs"].list_queues().get("QueueUrls", [])]


def stack(env: dict[str, Any]) -> dict[str, Any]:
    return env["cfn"].describe_stacks(StackName=STACK)["Stacks"][0]


# ---- against the local endpoint ----


def test_first_deploy_waits_for_review_then_executes_exactly_the_reviewed_change_set(capsys, env):
    args = review_args(env, template("q1"))
    planned = ok(capsys, args, check=True)
    assert planned["changed"] is True and "Would create the CREATE change set review-" in planned["msg"]
    assert env["cfn"].describe_stacks()["Stacks"] == []

    reviewed = ok(capsys, args)
    change_set = reviewed["change_set"]
    assert reviewed["changed"] is True and change_set["change_set_type"] == "CREATE"
    assert (change_set["status"], change_set["execution_status"], change_set["stack_name"]) == ("CREATE_COMPLETE", "AVAILABLE", STACK)
    assert change_set["changes"] == [{"action": "Add", "logical_resource_id": "Queue", "resource_type": "AWS::SQS::Queue", "replacement": "n/a"}]
    # the stack waits for approval and nothing of it exists yet
    assert stack(env)["StackStatus"] == "REVIEW_IN_PROGRESS" == reviewed["stack_status"] == reviewed["stack_revision"]["status"]
    assert queues(env) == []

    would = ok(capsys, execute_args(env, reviewed), check=True)
    assert would["changed"] is True and would["msg"].startswith(f"Would execute the CREATE change set {change_set['change_set_id']}")
    assert stack(env)["StackStatus"] == "REVIEW_IN_PROGRESS" and queues(env) == []

    # termination protection already as asked: no call (the local endpoint has no UpdateTerminationProtection)
    executed = ok(capsys, execute_args(env, reviewed, termination_protection=False))
    assert executed["changed"] is True and executed["stack_status"] == "CREATE_COMPLETE"
    assert queues(env) == ["q1-a"]

    # executed once: the local endpoint does not say which change set last updated the stack, so a second run is
    # refused (on AWS it is a no-op: see test_an_executed_change_set_is_not_executed_twice)
    assert "is CREATE_COMPLETE/EXECUTE_COMPLETE, not AVAILABLE" in refused(capsys, execute_args(env, reviewed))


def test_an_update_is_reviewed_then_executed_with_its_parameters(capsys, env):
    ok(capsys, execute_args(env, ok(capsys, review_args(env, template("q1")))))
    reviewed = ok(capsys, review_args(env, template("q1"), parameters={"Suffix": "b"}))
    assert reviewed["change_set"]["change_set_type"] == "UPDATE"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack(env)["Parameters"]} == {"Suffix": "a"}  # not executed yet
    executed = ok(capsys, execute_args(env, reviewed))
    assert executed["stack_status"] == "UPDATE_COMPLETE"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack(env)["Parameters"]} == {"Suffix": "b"}
    assert executed["stack_revision"]["parameters"] == {"Suffix": "b"}


def test_nothing_to_change_leaves_no_change_set(capsys, env):
    ok(capsys, execute_args(env, ok(capsys, review_args(env, template("q1")))))
    again = ok(capsys, review_args(env, template("q1")))
    assert again["changed"] is False and again["change_set"] == {} and "is up to date" in again["msg"]
    assert again["stack_revision"]["status"] == "CREATE_COMPLETE"
    assert env["cfn"].list_change_sets(StackName=STACK)["Summaries"] == [
        s for s in env["cfn"].list_change_sets(StackName=STACK)["Summaries"] if s["ExecutionStatus"] == "EXECUTE_COMPLETE"]


def test_a_stack_updated_since_the_review_is_refused_and_nothing_executes(capsys, env):
    ok(capsys, execute_args(env, ok(capsys, review_args(env, template("q1")))))
    reviewed = ok(capsys, review_args(env, template("q2")))
    env["cfn"].update_stack(StackName=STACK, TemplateBody=template("q3"), Tags=[{"Key": "environment", "Value": "test"}])
    message = refused(capsys, execute_args(env, reviewed))
    change_set_id = reviewed["change_set"]["change_set_id"]
    assert f"stack {STACK} changed since change set {change_set_id} was reviewed (status CREATE_COMPLETE -> UPDATE_COMPLETE, template_sha256)" in message
    assert refused(capsys, execute_args(env, reviewed), check=True) == message  # check mode refuses the same way
    assert env["cfn"].get_template(StackName=STACK)["TemplateBody"] == template("q3")  # nothing executed
    assert env["cfn"].describe_change_set(ChangeSetName=reviewed["change_set"]["change_set_id"])["ExecutionStatus"] == "AVAILABLE"


def test_changed_parameters_and_tags_are_named(capsys, env):
    ok(capsys, execute_args(env, ok(capsys, review_args(env, template("q1")))))
    reviewed = ok(capsys, review_args(env, template("q2")))
    env["cfn"].update_stack(StackName=STACK, UsePreviousTemplate=True, Parameters=[{"ParameterKey": "Suffix", "ParameterValue": "z"}],
                            Tags=[{"Key": "environment", "Value": "other"}])
    assert "(status CREATE_COMPLETE -> UPDATE_COMPLETE, parameters, tags)" in refused(capsys, execute_args(env, reviewed))


def test_a_change_set_of_another_stack_or_gone_is_refused(capsys, env):
    reviewed = ok(capsys, review_args(env, template("q1")))
    other = {**execute_args(env, reviewed), "stack_name": "another-stack"}
    assert f"belongs to stack {STACK}, not to another-stack" in refused(capsys, other)
    env["cfn"].delete_change_set(ChangeSetName=reviewed["change_set"]["change_set_id"])
    assert "does not exist any more" in refused(capsys, execute_args(env, reviewed))


def test_a_second_review_of_the_same_content_replaces_the_first(capsys, env):
    ok(capsys, execute_args(env, ok(capsys, review_args(env, template("q1")))))
    first = ok(capsys, review_args(env, template("q2")))
    second = ok(capsys, review_args(env, template("q2")))
    assert first["change_set"]["change_set_name"] == second["change_set"]["change_set_name"]
    assert first["change_set"]["change_set_id"] != second["change_set"]["change_set_id"]
    available = [s for s in env["cfn"].list_change_sets(StackName=STACK)["Summaries"] if s["ExecutionStatus"] == "AVAILABLE"]
    assert [s["ChangeSetId"] for s in available] == [second["change_set"]["change_set_id"]]
    assert "does not exist any more" in refused(capsys, execute_args(env, first))


def test_absent_deletes_a_change_set_and_is_idempotent(capsys, env):
    reviewed = ok(capsys, review_args(env, template("q1")))
    args = {**env["aws"], "stack_name": STACK, "state": "absent", "change_set_name": reviewed["change_set"]["change_set_id"]}
    assert ok(capsys, args, check=True)["changed"] is True
    assert env["cfn"].describe_change_set(ChangeSetName=args["change_set_name"])["ExecutionStatus"] == "AVAILABLE"
    assert ok(capsys, args)["changed"] is True
    assert ok(capsys, args)["changed"] is False


# ---- what the local endpoint does not model, against the Stubber ----

ARN = f"arn:aws:cloudformation:{REGION}:123456789012:changeSet/review-1/abc"
STACK_ID = f"arn:aws:cloudformation:{REGION}:123456789012:stack/{STACK}/def"
CREATED = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture
def stubbed(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    client = boto3.client("cloudformation", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        monkeypatch.setattr(cloudformation_change_set, "cloudformation_client",
                            lambda module: RetryingBotoClientWrapper(client, AWSRetry.jittered_backoff()))
        yield stubber
        stubber.assert_no_pending_responses()


def change_set(**extra: Any) -> dict[str, Any]:
    return {"ChangeSetId": ARN, "ChangeSetName": "review-1", "StackId": STACK_ID, "StackName": STACK, "CreationTime": CREATED,
            "Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE",
            "Changes": [{"Type": "Resource", "ResourceChange": {
                "Action": "Modify", "LogicalResourceId": "Queue", "ResourceType": "AWS::SQS::Queue", "Replacement": "False"}}],
            **extra}


def described(status: str = "UPDATE_COMPLETE", **extra: Any) -> dict[str, Any]:
    return {"Stacks": [{"StackId": STACK_ID, "StackName": STACK, "CreationTime": CREATED - datetime.timedelta(days=1),
                        "StackStatus": status, **extra}]}


def stub_args() -> dict[str, Any]:
    return {"region": REGION, "stack_name": STACK, "state": "executed", "change_set_name": ARN, "wait_delay": 1}


def test_stack_updated_after_the_change_set_was_created_is_refused(capsys, stubbed):
    stubbed.add_response("describe_change_set", change_set(), {"ChangeSetName": ARN})
    stubbed.add_response("describe_stacks", described(LastUpdatedTime=CREATED + datetime.timedelta(minutes=5)), {"StackName": STACK})
    message = refused(capsys, stub_args())
    assert f"stack {STACK} was updated at 2026-12-01T10:05:00+00:00, after change set {ARN} was created at 2026-12-01T10:00:00+00:00" in message


def test_an_obsolete_change_set_is_refused_with_its_reason(capsys, stubbed):
    obsolete = change_set(ExecutionStatus="OBSOLETE", StatusReason="The stack was updated by another execution.")
    stubbed.add_response("describe_change_set", obsolete, {"ChangeSetName": ARN})
    message = refused(capsys, stub_args())
    assert "is CREATE_COMPLETE/OBSOLETE, not AVAILABLE: The stack was updated by another execution" in message


def test_an_executed_change_set_is_not_executed_twice(capsys, stubbed):
    stubbed.add_response("describe_change_set", change_set(ExecutionStatus="EXECUTE_COMPLETE"), {"ChangeSetName": ARN})
    stubbed.add_response("describe_stacks", described(ChangeSetId=ARN), {"StackName": STACK})
    stubbed.add_response("get_template", {"TemplateBody": template("q1")}, {"StackName": STACK_ID, "TemplateStage": "Original"})
    result = ok(capsys, stub_args())
    assert result["changed"] is False and "already the last one executed" in result["msg"]


def test_a_failed_execution_fails_with_the_stack_status_and_reason(capsys, stubbed):
    stubbed.add_response("describe_change_set", change_set(), {"ChangeSetName": ARN})
    stubbed.add_response("describe_stacks", described("CREATE_COMPLETE"), {"StackName": STACK})
    stubbed.add_response("execute_change_set", {}, {"ChangeSetName": ARN})
    stubbed.add_response("describe_stacks", described("UPDATE_ROLLBACK_COMPLETE"), {"StackName": STACK_ID})
    stubbed.add_response("describe_stacks", described("UPDATE_ROLLBACK_COMPLETE", StackStatusReason="Queue: limit exceeded"), {"StackName": STACK_ID})
    result = run(capsys, stub_args())
    assert result["failed"] and not result.get("refused")
    assert result["msg"] == f"Executing change set {ARN} left stack {STACK} in UPDATE_ROLLBACK_COMPLETE: Queue: limit exceeded"


def test_termination_protection_is_set_after_the_execution(capsys, stubbed):
    stubbed.add_response("describe_change_set", change_set(), {"ChangeSetName": ARN})
    stubbed.add_response("describe_stacks", described("REVIEW_IN_PROGRESS"), {"StackName": STACK})
    stubbed.add_response("execute_change_set", {}, {"ChangeSetName": ARN})
    stubbed.add_response("describe_stacks", described("CREATE_COMPLETE"), {"StackName": STACK_ID})
    stubbed.add_response("describe_stacks", described("CREATE_COMPLETE", EnableTerminationProtection=False), {"StackName": STACK_ID})
    stubbed.add_response("update_termination_protection", {"StackId": STACK_ID}, {"StackName": STACK_ID, "EnableTerminationProtection": True})
    stubbed.add_response("get_template", {"TemplateBody": template("q1")}, {"StackName": STACK_ID, "TemplateStage": "Original"})
    result = ok(capsys, {**stub_args(), "termination_protection": True})
    assert result["changed"] is True and result["change_set"]["change_set_type"] == "CREATE"
    assert result["stack_status"] == "CREATE_COMPLETE"


def test_throttling_is_retried_and_other_errors_say_what_was_done(capsys, stubbed):
    stubbed.add_client_error("describe_change_set", "Throttling", "Rate exceeded", expected_params={"ChangeSetName": ARN})
    stubbed.add_client_error("describe_change_set", "AccessDenied", "not allowed", expected_params={"ChangeSetName": ARN})
    result = run(capsys, stub_args())
    assert result["failed"] and result["msg"].startswith("Failed to describe the change set")
    assert result["error"]["code"] == "AccessDenied"
