"""What the tests of tests/unit/moto_compat share: a client of the test module's endpoint (the fixture ``cfn`` of
tests/conftest.py) and the stack that fixes 6 to 9 are tested with."""

from __future__ import annotations

import boto3


def _client(cfn, service: str):
    return boto3.client(service, region_name="us-east-1", endpoint_url=cfn.meta.endpoint_url,
                        aws_access_key_id="x", aws_secret_access_key="x")


ROUTING_TEMPLATE = """
Resources:
  Bus:
    Type: AWS::Events::EventBus
    Properties: {Name: compat-bus}
  Topic:
    Type: AWS::SNS::Topic
    Properties: {TopicName: compat-topic}
  ToTopic:
    Type: AWS::Events::Rule
    Properties:
      EventBusName: {"Fn::GetAtt": [Bus, Name]}
      EventPattern: {source: [compat.test]}
      Targets: [{Id: topic, Arn: {Ref: Topic}}]
  ToNowhere:
    Type: AWS::Events::Rule
    Properties:
      EventBusName: {"Fn::GetAtt": [Bus, Name]}
      EventPattern: {source: [compat.test]}
      Targets:
        - {Id: fn, Arn: "arn:aws:lambda:us-east-1:123456789012:function:absent"}
        - {Id: stream, Arn: "arn:aws:kinesis:us-east-1:123456789012:stream/absent"}
  Archive:
    Type: AWS::Events::Archive
    Properties:
      SourceArn: {"Fn::GetAtt": [Bus, Arn]}
      EventPattern: {source: [compat.test]}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: compat-table
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}
  Policy:
    Type: AWS::IoT::Policy
    Properties:
      PolicyName: compat-device
      PolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Action: ACTION, Resource: {"Fn::Sub": "arn:aws:iot:us-east-1:123456789012:client/${!iot:ClientId}"}}]
Outputs:
  PolicyName: {Value: {Ref: Policy}}
"""


def routing_stack(cfn) -> None:
    """The stack "routing" of ROUTING_TEMPLATE in this test module's endpoint, created unless it exists (as the PutEvents
    test of test_events.py creates it)."""
    if "routing" not in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]:
        cfn.create_stack(StackName="routing", TemplateBody=ROUTING_TEMPLATE.replace("ACTION", "iot:Connect"))
