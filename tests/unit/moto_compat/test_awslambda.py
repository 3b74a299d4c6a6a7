"""Fix 5 (moto_compat.awslambda): a function made by CloudFormation keeps its Architectures."""

from __future__ import annotations

from compat_support import _client

FUNCTION_TEMPLATE = """
Parameters:
  Arch: {Type: String, AllowedValues: [arm64, x86_64]}
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: "sts:AssumeRole"}]
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: compat-fn
      Runtime: python3.12
      Handler: h.h
      Role: {"Fn::GetAtt": [Role, Arn]}
      Architectures: [{Ref: Arch}]
      Code: {S3Bucket: compat-code, S3Key: fn.zip}
"""


def test_functions_keep_their_architectures_on_create_and_update(cfn) -> None:
    s3 = _client(cfn, "s3")
    s3.create_bucket(Bucket="compat-code")
    s3.put_object(Bucket="compat-code", Key="fn.zip", Body=b"PK\x05\x06" + b"\x00" * 18)
    awslambda = _client(cfn, "lambda")

    cfn.create_stack(StackName="fn", TemplateBody=FUNCTION_TEMPLATE, Parameters=[{"ParameterKey": "Arch", "ParameterValue": "arm64"}])
    assert awslambda.get_function_configuration(FunctionName="compat-fn")["Architectures"] == ["arm64"]
    cfn.update_stack(StackName="fn", TemplateBody=FUNCTION_TEMPLATE, Parameters=[{"ParameterKey": "Arch", "ParameterValue": "x86_64"}])
    assert awslambda.get_function_configuration(FunctionName="compat-fn")["Architectures"] == ["x86_64"]
