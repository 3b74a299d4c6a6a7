"""Fixes 1-4 and 26 (moto_compat.cloudformation): AWS's change sets, no-op updates, parameter validation and executed
change sets."""

from __future__ import annotations

import boto3
import moto_compat
import pytest
from botocore.exceptions import ClientError
from moto.cloudformation.exceptions import ValidationError
from moto_compat import cloudformation as compat

TEMPLATE = """
Parameters:
  Env: {Type: String, AllowedValues: [local, prod]}
  Name: {Type: String, Default: abc, AllowedPattern: "^[a-z]+$", MinLength: 2, MaxLength: 5}
  Count: {Type: Number, Default: 1, MinValue: 1, MaxValue: 10}
  Tag: {Type: String, Default: x, AllowedPattern: "^x$", ConstraintDescription: only x}
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "q-${Env}-${Name}"
"""


def params(**values: str) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in {"Env": "local", **values}.items()]


def test_effective_parameters_resolve_defaults_previous_values_and_numbers() -> None:
    incoming = [*params(Count="3"), {"ParameterKey": "Name", "UsePreviousValue": True}]
    resolved = compat.effective_parameters(TEMPLATE, incoming, {"Name": "old"})
    assert resolved == {"Env": "local", "Name": "old", "Count": "3", "Tag": "x"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"Env": "nope"}, "Parameter 'Env' must be one of AllowedValues"),
        ({"Name": "ABC"}, "Parameter 'Name' must match pattern ^[a-z]+$"),
        ({"Name": "a"}, "Parameter 'Name' must contain at least 2 characters"),
        ({"Name": "abcdef"}, "Parameter 'Name' must contain at most 5 characters"),
        ({"Count": "many"}, "Parameter 'Count' must be a number"),
        ({"Count": "0"}, "Parameter 'Count' must be a number not less than 1"),
        ({"Count": "11"}, "Parameter 'Count' must be a number not greater than 10"),
        ({"Tag": "y"}, "Parameter 'Tag' failed to satisfy constraint: only x"),
        ({"Other": "1"}, "Parameters: [Other] do not exist in the template"),
    ],
)
def test_invalid_parameters_are_refused_with_awss_wording(values: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        compat.validate_parameters(TEMPLATE, params(**values), {})
    assert message in str(error.value.message)


def test_missing_required_parameter_is_refused() -> None:
    with pytest.raises(ValidationError) as error:
        compat.validate_parameters(TEMPLATE, [], {})
    assert "Parameters: [Env] must have values" in str(error.value.message)


@pytest.mark.parametrize("values", [{}, {"Count": "10", "Name": "ab"}, {"Env": "prod", "Tag": "x"}])
def test_valid_parameters_pass(values: dict[str, str]) -> None:
    compat.validate_parameters(TEMPLATE, params(**values), {})


def test_unchanged_update_is_refused_even_with_defaults_and_numbers(cfn) -> None:
    cfn.create_stack(StackName="s1", TemplateBody=TEMPLATE, Parameters=params(Count="1"))
    for incoming in (params(), params(Count="1"), params(Count="1", Name="abc")):
        with pytest.raises(ClientError, match="No updates are to be performed"):
            cfn.update_stack(StackName="s1", TemplateBody=TEMPLATE, Parameters=incoming)
    cfn.update_stack(StackName="s1", TemplateBody=TEMPLATE, Parameters=params(Count="2"))
    [stack] = cfn.describe_stacks(StackName="s1")["Stacks"]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"


def test_change_sets_default_to_update_and_report_no_changes_as_aws_does(cfn) -> None:
    cfn.create_stack(StackName="s2", TemplateBody=TEMPLATE, Parameters=params())
    same = cfn.create_change_set(StackName="s2", ChangeSetName="same", TemplateBody=TEMPLATE, Parameters=params())
    described = cfn.describe_change_set(ChangeSetName=same["Id"])
    assert described["Status"] == "FAILED"
    assert "didn't contain changes" in described["StatusReason"]

    changed = TEMPLATE.replace("QueueName:", "DelaySeconds: 5\n      QueueName:")
    cs = cfn.create_change_set(StackName="s2", ChangeSetName="changed", TemplateBody=changed, Parameters=params())
    described = cfn.describe_change_set(ChangeSetName=cs["Id"])
    assert described["Status"] == "CREATE_COMPLETE"
    assert [c["ResourceChange"]["Action"] for c in described["Changes"]] == ["Modify"]
    # no second stack appeared under the same name (moto's CREATE default would add one)
    assert [s["StackName"] for s in cfn.list_stacks()["StackSummaries"]].count("s2") == 1


def test_invalid_parameters_are_refused_over_http(cfn) -> None:
    with pytest.raises(ClientError, match="Parameter 'Env' must be one of AllowedValues"):
        cfn.create_stack(StackName="s3", TemplateBody=TEMPLATE, Parameters=params(Env="nope"))
    assert "s3" not in [s["StackName"] for s in cfn.list_stacks()["StackSummaries"]]


OUTPUT_TEMPLATE = TEMPLATE + """
Description: queue of ${Env}
Outputs:
  QueueUrl: {Value: !Ref Q, Export: {Name: !Sub "${AWS::StackName}-QueueUrl"}}
"""


def approved_deployments(cfn, stack: str) -> tuple[dict, dict, list[str]]:
    """A first deployment that waited for approval (a CREATE change set executed), then two UPDATE change sets
    reviewed and one of them executed: the stack after each execution and the change sets left."""
    first = cfn.create_change_set(StackName=stack, ChangeSetName="one", ChangeSetType="CREATE", TemplateBody=OUTPUT_TEMPLATE,
                                  Parameters=params(Name="one"), Tags=[{"Key": "env", "Value": "local"}])
    cfn.execute_change_set(ChangeSetName=first["Id"])
    [created] = cfn.describe_stacks(StackName=stack)["Stacks"]
    created["exports"] = [e["Name"] for e in cfn.list_exports()["Exports"] if e["Name"].startswith(f"{stack}-")]
    changed = OUTPUT_TEMPLATE.replace("QueueUrl: {Value: !Ref Q,", "QueueArn: {Value: !GetAtt Q.Arn,").replace("-QueueUrl", "-QueueArn")
    second = cfn.create_change_set(StackName=stack, ChangeSetName="two", TemplateBody=changed, Parameters=params(Name="one"),
                                   Tags=[{"Key": "env", "Value": "two"}])
    cfn.create_change_set(StackName=stack, ChangeSetName="three", TemplateBody=OUTPUT_TEMPLATE, Parameters=params(Name="three"))
    cfn.execute_change_set(ChangeSetName=second["Id"])
    [updated] = cfn.describe_stacks(StackName=stack)["Stacks"]
    updated["exports"] = [e["Name"] for e in cfn.list_exports()["Exports"] if e["Name"].startswith(f"{stack}-")]
    summaries = cfn.list_change_sets(StackName=stack)["Summaries"]
    return created, updated, sorted(s["ChangeSetName"] for s in summaries if s["StackName"] == stack)


def test_an_executed_change_set_gives_the_stack_its_outputs_and_tags_and_deletes_the_others(cfn) -> None:
    created, updated, change_sets = approved_deployments(cfn, "s4")
    assert created["StackStatus"] == "CREATE_COMPLETE"
    assert [(o["OutputKey"], o["OutputValue"].rsplit("/", 1)[-1]) for o in created["Outputs"]] == [("QueueUrl", "q-local-one")]
    assert created["Description"] == "queue of ${Env}"
    assert created["Tags"] == [{"Key": "env", "Value": "local"}]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in created["Parameters"]}["Name"] == "one"
    # an UPDATE change set executed later takes over the template's outputs and the change set's tags too
    assert updated["StackStatus"] == "UPDATE_COMPLETE" and [o["OutputKey"] for o in updated["Outputs"]] == ["QueueArn"]
    assert updated["Tags"] == [{"Key": "env", "Value": "two"}]
    assert change_sets == ["two"], "the stack's other change sets are deleted, as AWS does"
    assert (created["exports"], updated["exports"]) == (["s4-QueueUrl"], ["s4-QueueArn"])
    cfn.delete_stack(StackName="s4")  # its exports go with it
    assert [e["Name"] for e in cfn.list_exports()["Exports"] if e["Name"].startswith("s4-")] == []


@pytest.mark.usefixtures("moto_compat_applied")
def test_moto_alone_leaves_the_stack_without_outputs_and_the_others_available(monkeypatch) -> None:
    from moto import mock_aws  # pylint: disable=import-outside-toplevel
    from moto.cloudformation.models import CloudFormationBackend  # pylint: disable=import-outside-toplevel

    [change] = moto_compat.FIXES[26].changes
    monkeypatch.setattr(CloudFormationBackend, "execute_change_set", change.original)  # what moto alone does
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        created, updated, change_sets = approved_deployments(cfn, "s5")
    assert created["StackStatus"] == "CREATE_COMPLETE" and "Outputs" not in created
    assert "Outputs" not in updated and updated["Tags"] == [{"Key": "env", "Value": "local"}]
    assert created["exports"] == updated["exports"] == []
    assert change_sets == ["one", "three", "two"]
