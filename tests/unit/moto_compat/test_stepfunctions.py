"""Fix 25 (moto_compat.stepfunctions): state machines made by CloudFormation keep their definition, type, logging and tracing."""

from __future__ import annotations

import json

from compat_support import _client
from moto_compat import stepfunctions as compat

# --- 25: CloudFormation's state machines: Definition, DefinitionSubstitutions, type, logging, tracing ----------------------
MACHINE_TEMPLATE = """
Parameters:
  Bucket: {Type: String, Default: compat-history}
  MachineName: {Type: String, Default: NAME-rollups}
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Principal: {Service: states.amazonaws.com}, Action: "sts:AssumeRole"}]
  Logs:
    Type: AWS::Logs::LogGroup
    Properties: {LogGroupName: /aws/vendedlogs/states/NAME}
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      StateMachineName: {Ref: MachineName}
      StateMachineType: EXPRESS
      RoleArn: {"Fn::GetAtt": [Role, Arn]}
      LoggingConfiguration:
        Level: ERROR
        IncludeExecutionData: true
        Destinations: [{CloudWatchLogsLogGroup: {LogGroupArn: {"Fn::GetAtt": [Logs, Arn]}}}]
      TracingConfiguration: {Enabled: true}
      DefinitionSubstitutions: {Bucket: {Ref: Bucket}, Times: 3}
      Definition:
        QueryLanguage: JSONata
        StartAt: Only
        States:
          Only:
            Type: Pass
            Output: {location: "s3://${Bucket}/rollups/", again: "s3://${Bucket}/", times: "${Times}", other: "${Other}",
                     resource: {"Fn::Sub": "arn:${AWS::Partition}:states:::athena:startQueryExecution.sync"}}
            End: true
  Plain:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      StateMachineName: NAME-plain
      RoleArn: {"Fn::GetAtt": [Role, Arn]}
      DefinitionString: '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}'
Outputs:
  MachineArn: {Value: {Ref: Machine}}
  PlainArn: {Value: {Ref: Plain}}
"""


def machine_stack(cfn, name: str, **parameters: str) -> dict[str, str]:
    """Create (or, when it exists, update) the stack NAME with MACHINE_TEMPLATE; its outputs."""
    call = cfn.update_stack if name in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]] else cfn.create_stack
    call(StackName=name, TemplateBody=MACHINE_TEMPLATE.replace("NAME", name), Capabilities=["CAPABILITY_IAM"],
         Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()])
    [stack] = cfn.describe_stacks(StackName=name)["Stacks"]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_state_machine_definition_is_the_definition_string_or_the_object_with_substitutions() -> None:
    assert compat.state_machine_definition({"DefinitionString": '{"a": "${X}"}', "Definition": {"b": 1}}) == '{"a": "${X}"}'
    assert compat.state_machine_definition({"DefinitionString": '{"a": "${X}"}', "DefinitionSubstitutions": {"X": "y"}}) == '{"a": "y"}'
    assert json.loads(compat.state_machine_definition({"Definition": {"a": "${X}-${X}", "b": "${N}", "c": "${Z}"},
                                                       "DefinitionSubstitutions": {"X": "y", "N": 2}})) == {"a": "y-y", "b": "2", "c": "${Z}"}
    assert compat.state_machine_definition({"RoleArn": "arn"}) is None


def test_cloudformation_state_machine_keeps_its_definition_type_logging_and_tracing(cfn) -> None:
    sfn = _client(cfn, "stepfunctions")
    outputs = machine_stack(cfn, "machine1")
    machine = sfn.describe_state_machine(stateMachineArn=outputs["MachineArn"])
    # moto alone: definition "", type STANDARD, logging OFF, tracing off
    assert json.loads(machine["definition"]) == {"QueryLanguage": "JSONata", "StartAt": "Only", "States": {"Only": {
        "Type": "Pass", "End": True, "Output": {"location": "s3://compat-history/rollups/", "again": "s3://compat-history/", "times": "3",
                                                "other": "${Other}", "resource": "arn:aws:states:::athena:startQueryExecution.sync"}}}}
    assert machine["type"] == "EXPRESS"
    [destination] = machine["loggingConfiguration"].pop("destinations")
    assert machine["loggingConfiguration"] == {"level": "ERROR", "includeExecutionData": True}
    assert destination["cloudWatchLogsLogGroup"]["logGroupArn"].startswith("arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/machine1")
    assert machine["tracingConfiguration"] == {"enabled": True}
    plain = sfn.describe_state_machine(stateMachineArn=outputs["PlainArn"])  # DefinitionString, as moto always took it
    assert json.loads(plain["definition"]) == {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    assert (plain["type"], plain["loggingConfiguration"], plain["tracingConfiguration"]) == ("STANDARD", {"level": "OFF"}, {"enabled": False})


def test_cloudformation_state_machine_updates_in_place_and_is_replaced_under_a_new_name(cfn) -> None:
    sfn = _client(cfn, "stepfunctions")
    first = machine_stack(cfn, "machine2")
    created = sfn.describe_state_machine(stateMachineArn=first["MachineArn"])["creationDate"]
    updated = machine_stack(cfn, "machine2", Bucket="compat-other")
    assert updated == first  # the same machine
    machine = sfn.describe_state_machine(stateMachineArn=first["MachineArn"])
    assert machine["creationDate"] == created
    assert json.loads(machine["definition"])["States"]["Only"]["Output"]["location"] == "s3://compat-other/rollups/"
    assert (machine["type"], machine["loggingConfiguration"]["level"]) == ("EXPRESS", "ERROR")
    renamed = machine_stack(cfn, "machine2", Bucket="compat-other", MachineName="machine2-renamed")
    assert renamed["MachineArn"].endswith(":stateMachine:machine2-renamed")
    machine = sfn.describe_state_machine(stateMachineArn=renamed["MachineArn"])
    assert json.loads(machine["definition"])["States"]["Only"]["Output"]["location"] == "s3://compat-other/rollups/"
    assert (machine["type"], machine["loggingConfiguration"]["level"]) == ("EXPRESS", "ERROR")
    names = {m["name"] for m in sfn.list_state_machines()["stateMachines"]}
    assert "machine2-rollups" not in names and {"machine2-renamed", "machine2-plain"} <= names
    cfn.delete_stack(StackName="machine2")
    assert not {"machine2-renamed", "machine2-plain"} & {m["name"] for m in sfn.list_state_machines()["stateMachines"]}
