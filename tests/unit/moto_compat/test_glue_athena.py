"""Fix 18 (moto_compat.glue_athena): CloudFormation makes Glue databases and tables and Athena workgroups."""

from __future__ import annotations

import pytest
from compat_support import _client

# --- 18: CloudFormation makes Glue databases and tables and Athena workgroups ---------------------------------------------
GLUE_TEMPLATE = """
Parameters:
  Results: {Type: String, Default: "s3://compat-history/athena-results/"}
  Classification: {Type: String, Default: parquet}
Resources:
  Database:
    Type: AWS::Glue::Database
    Properties:
      CatalogId: {Ref: "AWS::AccountId"}
      DatabaseInput: {Name: NAME_history, Description: Telemetry history}
  Table:
    Type: AWS::Glue::Table
    Properties:
      CatalogId: {Ref: "AWS::AccountId"}
      DatabaseName: {Ref: Database}
      TableInput:
        Name: telemetry
        TableType: EXTERNAL_TABLE
        Parameters: {classification: {Ref: Classification}, projection.enabled: "true", projection.dt.type: date}
        PartitionKeys: [{Name: dt, Type: string}]
        StorageDescriptor:
          Location: s3://compat-history/telemetry/
          Columns: [{Name: sensor_id, Type: string}, {Name: vehicle_count, Type: int}]
  WorkGroup:
    Type: AWS::Athena::WorkGroup
    Properties:
      Name: NAME-analytics
      Description: Athena over the history
      State: ENABLED
      Tags: [{Key: app, Value: traffic}]
      WorkGroupConfiguration:
        EnforceWorkGroupConfiguration: true
        BytesScannedCutoffPerQuery: 10737418240
        ResultConfiguration: {OutputLocation: {Ref: Results}}
Outputs:
  DatabaseName: {Value: {Ref: Database}}
  TableName: {Value: {Ref: Table}}
  WorkGroupName: {Value: {Ref: WorkGroup}}
  EngineVersion: {Value: {"Fn::GetAtt": [WorkGroup, WorkGroupConfiguration.EngineVersion.EffectiveEngineVersion]}}
"""


def glue_stack(cfn, name: str, **parameters: str) -> dict[str, str]:
    """Create (or, when it exists, update) the stack NAME with GLUE_TEMPLATE; its outputs."""
    call = cfn.update_stack if name in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]] else cfn.create_stack
    call(StackName=name, TemplateBody=GLUE_TEMPLATE.replace("NAME", name),
         Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()])
    [stack] = cfn.describe_stacks(StackName=name)["Stacks"]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_cloudformation_makes_the_glue_database_table_and_athena_workgroup_of_the_template(cfn) -> None:
    glue, athena = _client(cfn, "glue"), _client(cfn, "athena")
    outputs = glue_stack(cfn, "glue1")
    # the Refs are the names, as on AWS (moto alone: no such resources, and these outputs are dropped)
    assert outputs == {"DatabaseName": "glue1_history", "TableName": "telemetry", "WorkGroupName": "glue1-analytics",
                       "EngineVersion": "Athena engine version 3"}
    assert glue.get_database(Name="glue1_history")["Database"]["Description"] == "Telemetry history"
    table = glue.get_table(DatabaseName="glue1_history", Name="telemetry")["Table"]
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert table["Parameters"] == {"classification": "parquet", "projection.enabled": "true", "projection.dt.type": "date"}
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["StorageDescriptor"] == {"Location": "s3://compat-history/telemetry/",
                                          "Columns": [{"Name": "sensor_id", "Type": "string"}, {"Name": "vehicle_count", "Type": "int"}]}
    group = athena.get_work_group(WorkGroup="glue1-analytics")["WorkGroup"]
    assert group["Configuration"]["ResultConfiguration"] == {"OutputLocation": "s3://compat-history/athena-results/"}
    assert group["Configuration"]["EnforceWorkGroupConfiguration"] is True
    assert group["Configuration"]["BytesScannedCutoffPerQuery"] == 10737418240
    assert (group["Description"], group["State"]) == ("Athena over the history", "ENABLED")
    arn = "arn:aws:athena:us-east-1:123456789012:workgroup/glue1-analytics"
    assert athena.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "app", "Value": "traffic"}]


def test_cloudformation_updates_the_glue_table_and_athena_workgroup_in_place(cfn) -> None:
    glue, athena = _client(cfn, "glue"), _client(cfn, "athena")
    glue_stack(cfn, "glue2")
    glue_stack(cfn, "glue2", Classification="json", Results="s3://compat-other/results/")
    table = glue.get_table(DatabaseName="glue2_history", Name="telemetry")["Table"]
    assert table["Parameters"]["classification"] == "json"
    assert table["VersionId"] == "2"  # UpdateTable, as AWS does: the table was not dropped with its database
    assert len(glue.get_table_versions(DatabaseName="glue2_history", TableName="telemetry")["TableVersions"]) == 2
    group = athena.get_work_group(WorkGroup="glue2-analytics")["WorkGroup"]
    assert group["Configuration"]["ResultConfiguration"]["OutputLocation"] == "s3://compat-other/results/"
    assert [g["Name"] for g in athena.list_work_groups()["WorkGroups"]].count("glue2-analytics") == 1


def test_cloudformation_deletes_the_glue_and_athena_resources_with_the_stack(cfn) -> None:
    glue, athena = _client(cfn, "glue"), _client(cfn, "athena")
    glue_stack(cfn, "glue3")
    cfn.delete_stack(StackName="glue3")
    [summary] = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "glue3"]
    assert summary["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_database(Name="glue3_history")
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_table(DatabaseName="glue3_history", Name="telemetry")
    assert "glue3-analytics" not in [g["Name"] for g in athena.list_work_groups()["WorkGroups"]]
