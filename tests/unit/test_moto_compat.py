"""The local endpoint's compatibility launcher: AWS's parameter resolution and validation, and its change sets."""

from __future__ import annotations

import importlib.util
import json
import re
import time

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.cloudformation.exceptions import ValidationError

from conftest import LAUNCHER, local_endpoint, scaled

_spec = importlib.util.spec_from_file_location("moto_server_compat", LAUNCHER)
compat = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compat)

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


@pytest.fixture(scope="module")
def cfn(tmp_path_factory):
    """The launcher itself, as the local_endpoint role runs it, on a free loopback port."""
    with local_endpoint(tmp_path_factory.mktemp("compat")) as url:
        yield boto3.client("cloudformation", region_name="us-east-1", endpoint_url=url,
                           aws_access_key_id="x", aws_secret_access_key="x")


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
    endpoint = cfn.meta.endpoint_url
    kwargs = {"region_name": "us-east-1", "endpoint_url": endpoint, "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    s3 = boto3.client("s3", **kwargs)
    s3.create_bucket(Bucket="compat-code")
    s3.put_object(Bucket="compat-code", Key="fn.zip", Body=b"PK\x05\x06" + b"\x00" * 18)
    awslambda = boto3.client("lambda", **kwargs)

    cfn.create_stack(StackName="fn", TemplateBody=FUNCTION_TEMPLATE, Parameters=[{"ParameterKey": "Arch", "ParameterValue": "arm64"}])
    assert awslambda.get_function_configuration(FunctionName="compat-fn")["Architectures"] == ["arm64"]
    cfn.update_stack(StackName="fn", TemplateBody=FUNCTION_TEMPLATE, Parameters=[{"ParameterKey": "Arch", "ParameterValue": "x86_64"}])
    assert awslambda.get_function_configuration(FunctionName="compat-fn")["Architectures"] == ["x86_64"]


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


def _client(cfn, service: str):
    return boto3.client(service, region_name="us-east-1", endpoint_url=cfn.meta.endpoint_url,
                        aws_access_key_id="x", aws_secret_access_key="x")


def test_put_events_with_sns_lambda_and_kinesis_targets_succeeds_and_reaches_the_topic(cfn) -> None:
    cfn.create_stack(StackName="routing", TemplateBody=ROUTING_TEMPLATE.replace("ACTION", "iot:Connect"))
    sqs, sns, events = _client(cfn, "sqs"), _client(cfn, "sns"), _client(cfn, "events")
    url = sqs.create_queue(QueueName="compat-sub")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn="arn:aws:sns:us-east-1:123456789012:compat-topic", Protocol="sqs", Endpoint=arn)

    result = events.put_events(Entries=[{"Source": "compat.test", "DetailType": "T", "Detail": '{"a": 1}', "EventBusName": "compat-bus"}])
    assert result["FailedEntryCount"] == 0  # moto alone: HTTP 500 (NotImplementedError for SNS/Lambda/Kinesis)
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    event = json.loads(json.loads(message["Body"])["Message"])
    assert event["detail"] == {"a": 1} and event["source"] == "compat.test"
    assert isinstance(event["time"], str)  # the event as EventBridge shapes it, as for SQS targets


def test_sns_message_honours_input_and_input_transformer() -> None:
    event = {"source": "s", "detail-type": "CongestionAlert", "detail": {"zone": "z1"}, "id": "1", "time": 0.0,
             "region": "us-east-1", "account": "123456789012", "resources": [], "version": "0", "ingestion-time": 0.0}
    assert compat._sns_message({"Input": '{"action": "sweep"}'}, event) == '{"action": "sweep"}'
    shaped = compat._sns_message({"InputTransformer": {"InputPathsMap": {"z": "$.detail.zone"}, "InputTemplate": '"zone <z>"'}}, event)
    assert "zone z1" in shaped


def test_cloudformation_table_gets_ttl_and_recovery(cfn) -> None:
    ddb = _client(cfn, "dynamodb")
    assert ddb.describe_time_to_live(TableName="compat-table")["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    recovery = ddb.describe_continuous_backups(TableName="compat-table")["ContinuousBackupsDescription"]
    assert recovery["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_iot_policy_ref_json_document_and_delete_after_update(cfn) -> None:
    iot = _client(cfn, "iot")
    [stack] = cfn.describe_stacks(StackName="routing")["Stacks"]
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]} == {"PolicyName": "compat-device"}
    document = json.loads(iot.get_policy(policyName="compat-device")["policyDocument"])
    assert document["Statement"][0]["Resource"] == "arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}"

    cfn.update_stack(StackName="routing", TemplateBody=ROUTING_TEMPLATE.replace("ACTION", "iot:Publish"))
    assert len(iot.list_policy_versions(policyName="compat-device")["policyVersions"]) == 2
    assert _client(cfn, "events").list_archives()["Archives"]  # made from an EventPattern object
    cfn.delete_stack(StackName="routing")
    [summary] = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "routing"]
    assert summary["StackStatus"] == "DELETE_COMPLETE"
    assert iot.list_policies()["policies"] == []


# --- 10-12: moto's cost per request at pipeline rates, with the same results ------------------------------------------
@pytest.fixture
def ddb():
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        client.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}])
        yield client


KEY = {"pk": {"S": "ZONE#z"}, "sk": {"S": "SENSORS"}}


def set_many(ddb, names: list[str], value: str = "60") -> None:
    ddb.update_item(TableName="t", Key=KEY, UpdateExpression="SET " + ", ".join(f"#s{i} = :w" for i in range(len(names))),
                    ExpressionAttributeNames={f"#s{i}": n for i, n in enumerate(names)},
                    ExpressionAttributeValues={":w": {"N": value}})


def test_long_update_expressions_are_checked_once_with_the_same_errors(ddb, monkeypatch) -> None:
    calls = []
    original = compat._check_for_overlapping_paths

    def counting(self, node):
        calls.append(node)
        return original(self, node)

    monkeypatch.setattr(compat, "_check_for_overlapping_paths", counting)
    set_many(ddb, [f"L#s{i}" for i in range(100)])
    # once per validation of the whole expression (moto validates twice); moto alone: once per node (606), each over its subtree
    assert len(calls) <= 2
    item = ddb.get_item(TableName="t", Key=KEY)["Item"]
    assert len(item) == 102 and item["L#s99"] == {"N": "60"}
    # the errors AWS gives are still raised, wherever the clash is in a long expression
    with pytest.raises(ClientError, match="Two document paths overlap"):
        set_many(ddb, ["a", *[f"b{i}" for i in range(50)], "a"])
    with pytest.raises(ClientError, match="Two document paths overlap"):
        ddb.update_item(TableName="t", Key=KEY, UpdateExpression="SET x = :w, " + ", ".join(f"c{i} = :w" for i in range(40)) + ", x.y = :w",
                        ExpressionAttributeValues={":w": {"N": "1"}})


def test_the_item_size_limit_holds_as_items_grow_shrink_and_change(ddb) -> None:
    big = "x" * 1000
    for start in range(0, 390, 30):  # ~390 KB in 13 updates of 30 attributes of 1 KB
        ddb.update_item(TableName="t", Key=KEY, UpdateExpression="SET " + ", ".join(f"#a{i} = :v" for i in range(30)),
                        ExpressionAttributeNames={f"#a{i}": f"a{start + i:04d}" for i in range(30)},
                        ExpressionAttributeValues={":v": {"S": big}})
    with pytest.raises(ClientError, match=r"Item size has exceeded the maximum allowed size|Item size to update has exceeded"):
        ddb.update_item(TableName="t", Key=KEY, UpdateExpression="SET #n = :v", ExpressionAttributeNames={"#n": "more"},
                        ExpressionAttributeValues={":v": {"S": "y" * 20000}})
    # overwriting an attribute with a value of the same size stays within the limit
    ddb.update_item(TableName="t", Key=KEY, UpdateExpression="SET a0000 = :v", ExpressionAttributeValues={":v": {"S": "z" * 1000}})
    # after a REMOVE there is room again
    ddb.update_item(TableName="t", Key=KEY, UpdateExpression="REMOVE " + ", ".join(f"a{i:04d}" for i in range(30)))
    ddb.update_item(TableName="t", Key=KEY, UpdateExpression="SET #n = :v", ExpressionAttributeNames={"#n": "more"},
                    ExpressionAttributeValues={":v": {"S": "y" * 20000}})
    item = ddb.get_item(TableName="t", Key=KEY)["Item"]
    assert len(item) == 2 + 390 - 30 + 1 and item["a0000" if "a0000" in item else "a0030"]


def test_limited_size_dict_counts_like_moto(monkeypatch) -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict

    monkeypatch.setattr(compat, "ITEM_SIZE_RECHECK", 10**9)  # the incremental count alone, never the full sum
    d = LimitedSizeDict()
    d["a"] = DynamoType({"S": "x" * 200000})
    d["a"] = DynamoType({"S": "x" * 400000})  # replaces: the old value no longer counts
    with pytest.raises(ItemSizeTooLarge):
        d["b"] = DynamoType({"S": "x" * 5000})
    del d["a"]
    d["b"] = DynamoType({"S": "x" * 5000})
    assert set(d) == {"b"}


def test_a_query_reads_its_partition_only_with_moto_s_results(ddb, monkeypatch) -> None:
    for pk in ("ZONE#a", "ZONE#b", "SENSOR#x"):
        for sk in ("W#100#s0", "W#160#s0", "W#160#s1", "ALERT", "SENSORS"):
            ddb.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": sk}, "n": {"N": str(len(pk + sk))}})
    queries = [
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "ZONE#a"}}},
        {"KeyConditionExpression": "pk = :p AND begins_with(sk, :w)", "ExpressionAttributeValues": {":p": {"S": "ZONE#b"}, ":w": {"S": "W#"}}},
        {"KeyConditionExpression": "pk = :p AND sk BETWEEN :l AND :h", "ScanIndexForward": False,
         "ExpressionAttributeValues": {":p": {"S": "ZONE#a"}, ":l": {"S": "W#100"}, ":h": {"S": "W#161"}}},
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "ZONE#none"}}},
    ]

    def run(query: dict) -> list:
        pages, kwargs = [], dict(query)
        while True:
            page = ddb.query(TableName="t", Limit=2, ConsistentRead=True, **kwargs)
            pages.append(page["Items"])
            if "LastEvaluatedKey" not in page:
                return pages
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    whole_table_reads = []
    original = compat._table_all_items
    monkeypatch.setattr(compat, "_table_all_items", lambda table: whole_table_reads.append(table) or original(table))
    ours = [run(q) for q in queries]
    assert whole_table_reads == []
    from moto.dynamodb.models.table import Table

    monkeypatch.setattr(Table, "all_items", original)  # what moto alone does
    assert ours == [run(q) for q in queries]
    assert [sum(len(page) for page in p) for p in ours] == [5, 3, 3, 0]
    assert len(ddb.scan(TableName="t")["Items"]) == 15  # a Scan still reads every partition


UPDATES = [
    ("SET #c = if_not_exists(#c, :z) + :n, speed_sum = speed_sum + :s, seq.#sh = :q", {"#c": "count", "#sh": "shardId-1"}),
    ("SET tags = list_append(if_not_exists(tags, :empty), :t) REMOVE gone", {}),
    ("ADD #c :n, members :set SET nested.deep.#sh = :q", {"#c": "count", "#sh": "s2"}),
    ("SET #c = #c - :n DELETE members :set", {"#c": "count"}),
]
VALUES = {":z": {"N": "0"}, ":n": {"N": "3"}, ":s": {"N": "1.5"}, ":q": {"S": "0001"}, ":empty": {"L": []},
          ":t": {"L": [{"S": "a"}]}, ":set": {"SS": ["x", "y"]}}


def run_updates(ddb) -> list[dict]:
    ddb.put_item(TableName="t", Item={**KEY, "count": {"N": "1"}, "speed_sum": {"N": "0"}, "seq": {"M": {}}, "gone": {"S": "x"},
                                      "nested": {"M": {"deep": {"M": {}}}}})
    seen = []
    for _round in range(2):  # the second round takes the parsed expressions from the cache
        for expression, names in UPDATES:
            used = {k: VALUES[k] for k in re.findall(r":\w+", expression)}
            ddb.update_item(TableName="t", Key=KEY, UpdateExpression=expression, ExpressionAttributeValues=used,
                            **({"ExpressionAttributeNames": names} if names else {}))
            seen.append(ddb.get_item(TableName="t", Key=KEY)["Item"])
    for bad in ("SET a = :n, a = :n", "SET = :n", "SET pk = :n"):  # moto's errors, every time, cached or not
        for _round in range(2):
            with pytest.raises(ClientError) as error:
                ddb.update_item(TableName="t", Key=KEY, UpdateExpression=bad, ExpressionAttributeValues={":n": {"N": "1"}})
            seen.append(error.value.response["Error"])
    return seen


def test_update_expressions_are_parsed_once_and_copied_node_by_node_with_moto_s_results(ddb, monkeypatch) -> None:
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    # This module's parser in place: another test module of the same worker (test_template) loads the launcher too,
    # and its copy's patch would take the calls (and its cache the hits).
    monkeypatch.setattr(UpdateExpressionParser, "make", classmethod(compat.parse_update_expression))
    compat._parsed_update_expression.cache_clear()
    ours = run_updates(ddb)
    assert compat._parsed_update_expression.cache_info().hits >= len(UPDATES) * 3  # parsed once per text, not per use
    tree = UpdateExpressionParser.make(UPDATES[0][0])
    assert tree is UpdateExpressionParser.make(UPDATES[0][0])
    copied = compat.copy_expression(tree)
    assert copied is not tree and repr(vars(copied)) != "" and copied.parent is None

    def shape(node):  # type, leaves and parent links of a tree, compared with what copy.deepcopy makes
        children = node.children if isinstance(node.children, list) else []
        return (node.type, [shape(c) if isinstance(c, compat.ExpressionNode) else c for c in children],
                all(c.parent is node for c in children if isinstance(c, compat.ExpressionNode)))

    assert shape(copied) == shape(compat._deepcopy(tree)) == shape(tree)
    monkeypatch.setattr(UpdateExpressionParser, "make", classmethod(compat._parse_update_expression))  # moto alone
    monkeypatch.setattr(validators, "deepcopy", compat._deepcopy)
    ddb.delete_item(TableName="t", Key=KEY)
    assert run_updates(ddb) == ours


def test_connections_are_kept_alive_and_unread_bodies_do_not_break_the_next_request(cfn) -> None:
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(cfn.meta.endpoint_url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    body = "Action=ListStacks&Version=2010-05-15"
    signed = "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/cloudformation/aws4_request, SignedHeaders=host, Signature=x"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": signed}
    for _request in range(3):  # one connection, three requests
        conn.request("POST", "/", body=body, headers=headers)
        response = conn.getresponse()
        assert response.status == 200 and b"ListStacksResponse" in response.read()
        assert (response.getheader("Connection") or "").lower() != "close"
    sock = conn.sock
    took = []
    for _request in range(9):  # responses leave at once: Nagle's algorithm would hold each body ~40 ms for the client's ACK
        started = time.monotonic()
        conn.request("POST", "/", body=body, headers=headers)
        conn.getresponse().read()
        took.append(time.monotonic() - started)
    assert sorted(took)[4] < scaled(0.03), took
    conn.request("GET", "/moto-api/data.json", body="x" * 5000)  # a body the handler never reads (it answers 500)
    response = conn.getresponse()
    response.read()
    conn.request("POST", "/", body=body, headers=headers)
    response = conn.getresponse()
    assert response.status == 200 and b"ListStacksResponse" in response.read()
    assert conn.sock is sock  # still the first connection
    conn.request("POST", "/", body=body, headers={**headers, "Connection": "close"})  # a client that asks to close
    response = conn.getresponse()
    assert response.status == 200 and (response.getheader("Connection") or "").lower() == "close"
    response.read()
    conn.close()


def test_kinesis_records_are_stored_in_order_without_running_the_mapping(monkeypatch) -> None:
    import io
    import zipfile

    from moto import mock_aws
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    invoked = []
    monkeypatch.setattr(LambdaFunction, "invoke", lambda self, *a, **k: invoked.append(a) or "")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as zf:
        zf.writestr("lambda_handler.py", "def lambda_handler(event, context):\n    return {}\n")
    with mock_aws():
        kw = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
        kinesis, lam, iam = boto3.client("kinesis", **kw), boto3.client("lambda", **kw), boto3.client("iam", **kw)
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        kinesis.create_stream(StreamName="s", ShardCount=1)
        arn = kinesis.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]["StreamARN"]
        lam.create_function(FunctionName="f", Runtime="python3.12", Role=role, Handler="lambda_handler.lambda_handler",
                            Code={"ZipFile": code.getvalue()})
        lam.create_event_source_mapping(FunctionName="f", EventSourceArn=arn, StartingPosition="TRIM_HORIZON")

        def put_and_read() -> list:
            kinesis.put_records(StreamName="s", Records=[{"Data": f"r{i}".encode(), "PartitionKey": "z"} for i in range(3)])
            kinesis.put_record(StreamName="s", Data=b"r3", PartitionKey="z")
            it = kinesis.get_shard_iterator(StreamName="s", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")
            return [(r["SequenceNumber"], r["Data"]) for r in kinesis.get_records(ShardIterator=it["ShardIterator"])["Records"]]

        assert put_and_read() == [(str(n), f"r{n - 1}".encode()) for n in range(1, 5)]
        assert invoked == []  # the local data plane's poller is the mapping; moto would try Docker per record
        monkeypatch.setattr(LambdaBackend, "send_kinesis_message", compat._send_kinesis_message)  # moto alone
        put_and_read()
        assert invoked  # which is what the launcher turns off


def test_kinesis_reads_from_the_iterators_position_and_measures_base64_as_moto_does(monkeypatch) -> None:
    from moto import mock_aws
    from moto.kinesis.models import KinesisBackend, Shard

    with mock_aws():
        kinesis = boto3.client("kinesis", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        kinesis.create_stream(StreamName="s", ShardCount=1)
        shard = {"StreamName": "s", "ShardId": "shardId-000000000000"}
        for start in range(0, 40, 10):
            kinesis.put_records(StreamName="s", Records=[{"Data": bytes([i]) * (i + 1), "PartitionKey": "z"} for i in range(start, start + 10)])

        def reads() -> list:
            out = []
            for kind, extra in (("TRIM_HORIZON", {}), ("AFTER_SEQUENCE_NUMBER", {"StartingSequenceNumber": "7"}),
                                ("AT_SEQUENCE_NUMBER", {"StartingSequenceNumber": "39"}), ("LATEST", {})):
                iterator = kinesis.get_shard_iterator(ShardIteratorType=kind, **shard, **extra)["ShardIterator"]
                for limit in (3, 100):
                    page = kinesis.get_records(ShardIterator=iterator, Limit=limit)
                    following = kinesis.get_records(ShardIterator=page["NextShardIterator"], Limit=limit)
                    out.append([(r["SequenceNumber"], r["Data"]) for r in page["Records"] + following["Records"]])
            return out

        ours = reads()
        assert [len(r) for r in ours] == [6, 40, 6, 33, 2, 2, 0, 0]
        assert ours[1] == [(str(n), bytes([n - 1]) * n) for n in range(1, 41)]
        for bad, error in (([{"Data": b"x" * 1048577, "PartitionKey": "z"}], "RecordSizeExceedsLimit|1 MB|1048576|exceeds"),
                           ([{"Data": b"x" * 900000, "PartitionKey": "z"}] * 6, "TotalRecordsSizeExceedsLimit|5 MB|5242880|exceed")):
            with pytest.raises(ClientError, match=error):
                kinesis.put_records(StreamName="s", Records=bad)
        assert [compat._decoded_size(t) for t in ("", "QQ==", "QUI=", "QUJD", "QUJDRA==")] == [0, 1, 2, 3, 4]
        monkeypatch.setattr(Shard, "get_records", compat._shard_get_records)  # moto alone
        monkeypatch.setattr(KinesisBackend, "put_records", compat._put_records)
        assert reads() == ours


def test_responses_keep_their_request_ids_without_the_body_search() -> None:
    headers, body = compat.enrich_response({"status": 200}, '{"Records": []}')
    assert headers["status"] == "200" and len(headers["x-amzn-requestid"]) == 52 and body == '{"Records": []}'
    headers, body = compat.enrich_response({}, "<R><RequestId>old</RequestId></R>")
    assert body == f"<R><RequestId>{headers['x-amzn-requestid']}</RequestId></R>"
    assert compat.enrich_response({}, b"<RequestId>x</RequestId>")[1] == b"<RequestId>x</RequestId>"  # as moto: bytes untouched


def test_iot_lists_registered_ca_certificates(cfn) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    iot = _client(cfn, "iot")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "compat test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    pem = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM).decode()
    )
    registered = iot.register_ca_certificate(caCertificate=pem, setAsActive=True)
    listed = iot.list_ca_certificates()["certificates"]
    mine = [c for c in listed if c["certificateId"] == registered["certificateId"]]
    assert mine and mine[0]["status"] == "ACTIVE" and mine[0]["certificateArn"] == registered["certificateArn"]
    assert iot.describe_ca_certificate(certificateId=registered["certificateId"])["certificateDescription"]["certificatePem"] == pem


def test_iot_delete_certificate_checks_its_own_attachments_as_moto_does(cfn) -> None:
    iot = _client(cfn, "iot")
    iot.create_thing(thingName="compat-delete")
    iot.create_policy(policyName="compat-delete", policyDocument='{"Version": "2012-10-17", "Statement": []}')
    keep = iot.create_keys_and_certificate(setAsActive=True)  # another attached certificate must not matter
    iot.attach_thing_principal(thingName="compat-delete", principal=keep["certificateArn"])
    cert = iot.create_keys_and_certificate(setAsActive=True)
    iot.attach_thing_principal(thingName="compat-delete", principal=cert["certificateArn"])
    iot.attach_policy(policyName="compat-delete", target=cert["certificateArn"])
    with pytest.raises(iot.exceptions.CertificateStateException):
        iot.delete_certificate(certificateId=cert["certificateId"])
    iot.update_certificate(certificateId=cert["certificateId"], newStatus="INACTIVE")
    with pytest.raises(iot.exceptions.DeleteConflictException, match="Things must be detached"):
        iot.delete_certificate(certificateId=cert["certificateId"])
    iot.detach_thing_principal(thingName="compat-delete", principal=cert["certificateArn"])
    with pytest.raises(iot.exceptions.DeleteConflictException, match="policies must be detached"):
        iot.delete_certificate(certificateId=cert["certificateId"])
    iot.detach_policy(policyName="compat-delete", target=cert["certificateArn"])
    iot.delete_certificate(certificateId=cert["certificateId"])
    assert [c["certificateId"] for c in iot.list_certificates()["certificates"] if c["certificateId"] == cert["certificateId"]] == []
    assert iot.list_thing_principals(thingName="compat-delete")["principals"] == [keep["certificateArn"]]


def test_iot_certificate_from_csr_certifies_the_csr_key(cfn) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    iot = _client(cfn, "iot")
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "compat-csr")]))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    made = iot.create_certificate_from_csr(certificateSigningRequest=csr, setAsActive=True)
    cert = x509.load_pem_x509_certificate(made["certificatePem"].encode())
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "compat-csr"
    assert iot.describe_certificate(certificateId=made["certificateId"])["certificateDescription"]["status"] == "ACTIVE"


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


# --- 19: QuickSight: Enterprise edition, data sets, permissions, refresh --------------------------------------------------
ACCOUNT = "123456789012"
ADMINS = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:group/default/admins"
VIEWERS = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:group/default/viewers"


def data_source(qs, data_source_id: str, permissions: list | None = None) -> str:
    return qs.create_data_source(AwsAccountId=ACCOUNT, DataSourceId=data_source_id, Name=data_source_id, Type="ATHENA",
                                 DataSourceParameters={"AthenaParameters": {"WorkGroup": "analytics"}},
                                 **({"Permissions": permissions} if permissions else {}))["Arn"]


def data_set_request(qs, data_set_id: str, import_mode: str = "SPICE") -> dict:
    columns = [{"Name": "zone", "Type": "STRING"}, {"Name": "hour", "Type": "DATETIME"}, {"Name": "readings", "Type": "INTEGER"}]
    return {
        "AwsAccountId": ACCOUNT, "DataSetId": data_set_id, "Name": f"{data_set_id} history", "ImportMode": import_mode,
        "PhysicalTableMap": {"history": {"CustomSql": {"DataSourceArn": data_source(qs, f"{data_set_id}-source"), "Name": "zone_hourly",
                                                       "SqlQuery": "SELECT zone, hour, readings FROM zone_hourly", "Columns": columns}}},
        "LogicalTableMap": {"history": {"Alias": "zone_hourly", "Source": {"PhysicalTableId": "history"}}},
        "DataSetUsageConfiguration": {"DisableUseAsDirectQuerySource": False, "DisableUseAsImportedSource": False},
        "Permissions": [{"Principal": ADMINS, "Actions": ["quicksight:DescribeDataSet", "quicksight:UpdateDataSet"]}],
        "Tags": [{"Key": "app", "Value": "traffic"}],
    }


def test_quicksight_account_is_enterprise(cfn) -> None:
    settings = _client(cfn, "quicksight").describe_account_settings(AwsAccountId=ACCOUNT)["AccountSettings"]
    assert settings["Edition"] == "ENTERPRISE"  # moto alone: STANDARD, which has no groups
    assert settings["DefaultNamespace"] == "default"


def test_quicksight_data_set_keeps_the_create_request(cfn) -> None:
    qs = _client(cfn, "quicksight")
    request = data_set_request(qs, "ds-keep")
    created = qs.create_data_set(**request)
    arn = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dataset/ds-keep"  # AWS's form (moto alone: data-set/)
    assert (created["Status"], created["Arn"], created["DataSetId"]) == (201, arn, "ds-keep")
    assert created["IngestionArn"] == f"{arn}/ingestion/{created['IngestionId']}"  # SPICE: creation starts an ingestion
    data_set = qs.describe_data_set(AwsAccountId=ACCOUNT, DataSetId="ds-keep")["DataSet"]
    sent = {k: v for k, v in request.items() if k not in ("AwsAccountId", "Permissions", "Tags")}
    assert {k: data_set[k] for k in sent} == sent
    assert data_set["Arn"] == arn and data_set["CreatedTime"] == data_set["LastUpdatedTime"]
    assert "Permissions" not in data_set and "Tags" not in data_set  # not part of a DataSet, as on AWS
    assert qs.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "app", "Value": "traffic"}]
    with pytest.raises(qs.exceptions.ResourceExistsException):
        qs.create_data_set(**request)


def test_quicksight_unknown_data_set_is_resource_not_found_with_http_404(cfn) -> None:
    qs = _client(cfn, "quicksight")
    for call in (lambda: qs.describe_data_set(AwsAccountId=ACCOUNT, DataSetId="absent"),
                 lambda: qs.update_data_set(AwsAccountId=ACCOUNT, DataSetId="absent", Name="n", ImportMode="SPICE", PhysicalTableMap={}),
                 lambda: qs.delete_data_set(AwsAccountId=ACCOUNT, DataSetId="absent"),
                 lambda: qs.describe_data_source(AwsAccountId=ACCOUNT, DataSourceId="absent")):
        with pytest.raises(qs.exceptions.ResourceNotFoundException) as error:  # moto alone: an HTML 404 page (or HTTP 400)
            call()
        response = error.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ResourceNotFoundException"
        assert "absent" in response["Error"]["Message"]


def test_quicksight_data_set_update_list_and_delete(cfn) -> None:
    qs = _client(cfn, "quicksight")
    request = data_set_request(qs, "ds-change")
    qs.create_data_set(**request)
    changed = {"Name": "renamed", "ImportMode": "DIRECT_QUERY", "PhysicalTableMap": request["PhysicalTableMap"]}
    updated = qs.update_data_set(AwsAccountId=ACCOUNT, DataSetId="ds-change", **changed)
    assert updated["Arn"].endswith(":dataset/ds-change") and "IngestionId" not in updated  # no ingestion for DIRECT_QUERY
    data_set = qs.describe_data_set(AwsAccountId=ACCOUNT, DataSetId="ds-change")["DataSet"]
    assert {k: data_set[k] for k in changed} == changed
    assert "LogicalTableMap" not in data_set  # UpdateDataSet replaces the definition, as on AWS
    assert data_set["LastUpdatedTime"] > data_set["CreatedTime"]
    [summary] = [s for s in qs.list_data_sets(AwsAccountId=ACCOUNT)["DataSetSummaries"] if s["DataSetId"] == "ds-change"]
    assert (summary["Name"], summary["ImportMode"], summary["Arn"]) == ("renamed", "DIRECT_QUERY", updated["Arn"])
    schedule = {"ScheduleId": "daily", "ScheduleFrequency": {"Interval": "DAILY"}, "RefreshType": "FULL_REFRESH"}
    qs.create_refresh_schedule(AwsAccountId=ACCOUNT, DataSetId="ds-change", Schedule=schedule)
    deleted = qs.delete_data_set(AwsAccountId=ACCOUNT, DataSetId="ds-change")
    assert (deleted["Arn"], deleted["DataSetId"]) == (updated["Arn"], "ds-change")
    assert "ds-change" not in [s["DataSetId"] for s in qs.list_data_sets(AwsAccountId=ACCOUNT)["DataSetSummaries"]]
    with pytest.raises(qs.exceptions.ResourceNotFoundException):
        qs.describe_data_set(AwsAccountId=ACCOUNT, DataSetId="ds-change")
    qs.create_data_set(**request)  # the id is free again
    assert qs.describe_data_set(AwsAccountId=ACCOUNT, DataSetId="ds-change")["DataSet"]["Name"] == "ds-change history"
    assert qs.list_refresh_schedules(AwsAccountId=ACCOUNT, DataSetId="ds-change")["RefreshSchedules"] == []  # gone with the old one


def test_quicksight_permissions_come_from_create_and_change_by_grant_and_revoke(cfn) -> None:
    qs = _client(cfn, "quicksight")
    resources = {  # kind: (id parameter, id, the owner actions the Create call grants)
        "data_source": ("DataSourceId", "perm-source", ["quicksight:DescribeDataSource", "quicksight:UpdateDataSource"]),
        "data_set": ("DataSetId", "perm-set", ["quicksight:DescribeDataSet", "quicksight:UpdateDataSet"]),
        "dashboard": ("DashboardId", "perm-board", ["quicksight:DescribeDashboard", "quicksight:UpdateDashboard"]),
    }
    data_source(qs, "perm-source", [{"Principal": ADMINS, "Actions": resources["data_source"][2]}])
    qs.create_data_set(**{**data_set_request(qs, "perm-set"), "Permissions": [{"Principal": ADMINS, "Actions": resources["data_set"][2]}]})
    qs.create_dashboard(AwsAccountId=ACCOUNT, DashboardId="perm-board", Name="Traffic",
                        SourceEntity={"SourceTemplate": {"Arn": f"arn:aws:quicksight:us-east-1:{ACCOUNT}:template/t", "DataSetReferences": []}},
                        Permissions=[{"Principal": ADMINS, "Actions": resources["dashboard"][2]}])
    for kind, (key, resource_id, (describe, update)) in resources.items():
        def permissions(kind=kind, key=key, resource_id=resource_id) -> dict:
            return getattr(qs, f"describe_{kind}_permissions")(AwsAccountId=ACCOUNT, **{key: resource_id})

        assert permissions()["Permissions"] == [{"Principal": ADMINS, "Actions": [describe, update]}], kind  # moto alone: no route
        answer = getattr(qs, f"update_{kind}_permissions")(
            AwsAccountId=ACCOUNT,
            **{key: resource_id},
            GrantPermissions=[{"Principal": VIEWERS, "Actions": [describe]}],
            RevokePermissions=[{"Principal": ADMINS, "Actions": [update]}],
        )
        now = permissions()
        arn_key = key.replace("Id", "Arn")
        assert now[key] == resource_id and now[arn_key] == answer[arn_key] and now[arn_key].endswith(f"/{resource_id}")
        assert now["Permissions"] == [{"Principal": ADMINS, "Actions": [describe]}, {"Principal": VIEWERS, "Actions": [describe]}], kind
        if kind == "dashboard":
            assert answer["Permissions"] == now["Permissions"]  # only UpdateDashboardPermissions returns them
        # revoking a principal's last action removes the principal
        getattr(qs, f"update_{kind}_permissions")(AwsAccountId=ACCOUNT, **{key: resource_id},
                                                  RevokePermissions=[{"Principal": ADMINS, "Actions": [describe]}])
        assert permissions()["Permissions"] == [{"Principal": VIEWERS, "Actions": [describe]}], kind
        for verb in ("describe", "update"):
            with pytest.raises(qs.exceptions.ResourceNotFoundException):
                getattr(qs, f"{verb}_{kind}_permissions")(AwsAccountId=ACCOUNT, **{key: "absent"})


def test_quicksight_data_set_refresh_properties(cfn) -> None:
    qs = _client(cfn, "quicksight")
    qs.create_data_set(**data_set_request(qs, "refresh-props"))
    qs.create_data_set(**data_set_request(qs, "refresh-direct", import_mode="DIRECT_QUERY"))
    with pytest.raises(qs.exceptions.ResourceNotFoundException):  # none set yet
        qs.describe_data_set_refresh_properties(AwsAccountId=ACCOUNT, DataSetId="refresh-props")
    properties = {"RefreshConfiguration": {"IncrementalRefresh": {"LookbackWindow": {"ColumnName": "hour", "Size": 1, "SizeUnit": "DAY"}}}}
    qs.put_data_set_refresh_properties(AwsAccountId=ACCOUNT, DataSetId="refresh-props", DataSetRefreshProperties=properties)
    assert qs.describe_data_set_refresh_properties(AwsAccountId=ACCOUNT, DataSetId="refresh-props")["DataSetRefreshProperties"] == properties
    qs.delete_data_set_refresh_properties(AwsAccountId=ACCOUNT, DataSetId="refresh-props")
    with pytest.raises(qs.exceptions.ResourceNotFoundException):
        qs.describe_data_set_refresh_properties(AwsAccountId=ACCOUNT, DataSetId="refresh-props")
    with pytest.raises(qs.exceptions.InvalidParameterValueException, match="not a SPICE dataset"):  # AWS's answer for DIRECT_QUERY
        qs.describe_data_set_refresh_properties(AwsAccountId=ACCOUNT, DataSetId="refresh-direct")
    with pytest.raises(qs.exceptions.ResourceNotFoundException):
        qs.put_data_set_refresh_properties(AwsAccountId=ACCOUNT, DataSetId="absent", DataSetRefreshProperties=properties)


def test_quicksight_refresh_schedules(cfn) -> None:
    qs = _client(cfn, "quicksight")
    arn = qs.create_data_set(**data_set_request(qs, "refresh-sched"))["Arn"]
    hourly = {"ScheduleId": "hourly", "ScheduleFrequency": {"Interval": "HOURLY", "Timezone": "Europe/Berlin"}, "RefreshType": "INCREMENTAL_REFRESH"}
    made = qs.create_refresh_schedule(AwsAccountId=ACCOUNT, DataSetId="refresh-sched", Schedule=hourly)
    assert (made["ScheduleId"], made["Arn"]) == ("hourly", f"{arn}/refresh-schedule/hourly")
    with pytest.raises(qs.exceptions.ResourceExistsException):
        qs.create_refresh_schedule(AwsAccountId=ACCOUNT, DataSetId="refresh-sched", Schedule=hourly)
    assert qs.list_refresh_schedules(AwsAccountId=ACCOUNT, DataSetId="refresh-sched")["RefreshSchedules"] == [{**hourly, "Arn": made["Arn"]}]

    daily = {"ScheduleId": "hourly", "ScheduleFrequency": {"Interval": "DAILY", "TimeOfTheDay": "03:00"}, "RefreshType": "FULL_REFRESH"}
    qs.update_refresh_schedule(AwsAccountId=ACCOUNT, DataSetId="refresh-sched", Schedule=daily)
    described = qs.describe_refresh_schedule(AwsAccountId=ACCOUNT, DataSetId="refresh-sched", ScheduleId="hourly")
    assert described["RefreshSchedule"] == {**daily, "Arn": made["Arn"]} and described["Arn"] == made["Arn"]
    with pytest.raises(qs.exceptions.ResourceNotFoundException):
        qs.update_refresh_schedule(AwsAccountId=ACCOUNT, DataSetId="refresh-sched", Schedule={**daily, "ScheduleId": "other"})

    assert qs.delete_refresh_schedule(AwsAccountId=ACCOUNT, DataSetId="refresh-sched", ScheduleId="hourly")["ScheduleId"] == "hourly"
    assert qs.list_refresh_schedules(AwsAccountId=ACCOUNT, DataSetId="refresh-sched")["RefreshSchedules"] == []
    for call in (lambda: qs.delete_refresh_schedule(AwsAccountId=ACCOUNT, DataSetId="refresh-sched", ScheduleId="hourly"),
                 lambda: qs.list_refresh_schedules(AwsAccountId=ACCOUNT, DataSetId="absent")):
        with pytest.raises(qs.exceptions.ResourceNotFoundException):
            call()


# --- 20: QuickSight dashboard versions, DeleteDashboard, DescribeIngestion ------------------------------------------------
ZONE_HOURLY = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dataset/zone_hourly"
READINGS = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dataset/readings"
THEME = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:theme/traffic"
PUBLISH_OPTIONS = {"AdHocFilteringOption": {"AvailabilityStatus": "DISABLED"}, "ExportToCSVOption": {"AvailabilityStatus": "ENABLED"}}


def board_definition(sheet_name: str = "Overview", data_sets: dict | None = None) -> dict:
    declared = {"zone_hourly": ZONE_HOURLY, "readings": READINGS} if data_sets is None else data_sets
    return {"DataSetIdentifierDeclarations": [{"Identifier": k, "DataSetArn": v} for k, v in declared.items()],
            "Sheets": [{"SheetId": "overview", "Name": sheet_name}]}


def board(qs, dashboard_id: str, **extra) -> dict:
    return qs.create_dashboard(AwsAccountId=ACCOUNT, DashboardId=dashboard_id, Name="Traffic", Definition=board_definition(),
                               VersionDescription="first", **extra)


def test_quicksight_dashboard_keeps_versions_and_shows_the_published_one(cfn) -> None:
    qs = _client(cfn, "quicksight")
    ids = {"AwsAccountId": ACCOUNT, "DashboardId": "versions"}
    arn = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dashboard/versions"
    created = board(qs, "versions", ThemeArn=THEME, DashboardPublishOptions=PUBLISH_OPTIONS)
    assert (created["Status"], created["Arn"], created["VersionArn"], created["CreationStatus"]) == (202, arn, f"{arn}/version/1", "CREATION_SUCCESSFUL")
    first = qs.describe_dashboard(**ids)["Dashboard"]
    assert (first["Name"], first["Arn"], first["DashboardId"]) == ("Traffic", arn, "versions")
    assert first["LastPublishedTime"] == first["CreatedTime"]  # QuickSight publishes the first version itself
    version = first["Version"]
    assert (version["VersionNumber"], version["Status"], version["Description"], version["Arn"]) == (1, "CREATION_SUCCESSFUL", "first", f"{arn}/version/1")
    assert version["DataSetArns"] == [ZONE_HOURLY, READINGS]  # moto alone: none, from the definition's declarations
    assert (version["Errors"], version["ThemeArn"], version["Sheets"]) == ([], THEME, [{"SheetId": "overview", "Name": "Overview"}])
    described = qs.describe_dashboard_definition(**ids)  # moto alone: no route
    assert described["Definition"] == board_definition() and described["DashboardPublishOptions"] == PUBLISH_OPTIONS
    assert (described["Name"], described["ResourceStatus"], described["Errors"], described["ThemeArn"]) == ("Traffic", "CREATION_SUCCESSFUL", [], THEME)

    changed = board_definition("Zones", {"zone_hourly": ZONE_HOURLY})
    updated = qs.update_dashboard(**ids, Name="Traffic zones", Definition=changed, VersionDescription="second")  # moto alone: HTTP 500
    assert (updated["Status"], updated["VersionArn"], updated["CreationStatus"]) == (202, f"{arn}/version/2", "CREATION_SUCCESSFUL")
    shown = qs.describe_dashboard(**ids)["Dashboard"]
    assert (shown["Name"], shown["Version"]) == (first["Name"], first["Version"])  # a new version is not published
    second = qs.describe_dashboard(**ids, VersionNumber=2)["Dashboard"]
    assert (second["Name"], second["Version"]["Status"], second["Version"]["DataSetArns"]) == ("Traffic zones", "CREATION_SUCCESSFUL", [ZONE_HOURLY])
    assert "ThemeArn" not in second["Version"] and second["LastUpdatedTime"] > first["LastUpdatedTime"]
    assert qs.describe_dashboard(**ids, VersionNumber=1)["Dashboard"]["Name"] == "Traffic"  # each version has its name
    summaries = qs.list_dashboard_versions(**ids)["DashboardVersionSummaryList"]  # moto alone: no route
    assert [(s["VersionNumber"], s["Status"], s["Description"], s["Arn"]) for s in summaries] == [
        (1, "CREATION_SUCCESSFUL", "first", f"{arn}/version/1"), (2, "CREATION_SUCCESSFUL", "second", f"{arn}/version/2")]
    assert summaries[1]["CreatedTime"] > summaries[0]["CreatedTime"]
    assert qs.describe_dashboard_definition(**ids, VersionNumber=2)["Definition"] == changed
    assert "DashboardPublishOptions" not in qs.describe_dashboard_definition(**ids, VersionNumber=2)  # not sent with version 2
    [listed] = [s for s in qs.list_dashboards(AwsAccountId=ACCOUNT)["DashboardSummaryList"] if s["DashboardId"] == "versions"]
    assert (listed["Name"], listed["PublishedVersionNumber"]) == ("Traffic", 1)

    assert qs.update_dashboard_published_version(**ids, VersionNumber=2)["DashboardArn"] == arn  # moto alone: no route
    now = qs.describe_dashboard(**ids)["Dashboard"]
    assert (now["Name"], now["Version"]["VersionNumber"]) == ("Traffic zones", 2)
    assert now["LastPublishedTime"] > first["LastPublishedTime"] and now["LastUpdatedTime"] == second["LastUpdatedTime"]
    assert qs.describe_dashboard_definition(**ids)["Definition"] == changed
    [listed] = [s for s in qs.list_dashboards(AwsAccountId=ACCOUNT)["DashboardSummaryList"] if s["DashboardId"] == "versions"]
    assert (listed["Name"], listed["PublishedVersionNumber"], listed["LastPublishedTime"]) == ("Traffic zones", 2, now["LastPublishedTime"])
    for call in (lambda: qs.update_dashboard_published_version(**ids, VersionNumber=9), lambda: qs.describe_dashboard(**ids, VersionNumber=9),
                 lambda: qs.describe_dashboard_definition(**ids, VersionNumber=9)):
        with pytest.raises(qs.exceptions.ResourceNotFoundException) as error:
            call()
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404 and "Version 9" in error.value.response["Error"]["Message"]
    assert qs.describe_dashboard(**ids)["Dashboard"]["Version"]["VersionNumber"] == 2  # unchanged by the refused call


def test_quicksight_dashboard_delete_takes_its_versions_permissions_and_tags(cfn) -> None:
    qs = _client(cfn, "quicksight")
    ids = {"AwsAccountId": ACCOUNT, "DashboardId": "doomed"}
    board(qs, "doomed", Tags=[{"Key": "app", "Value": "traffic"}], Permissions=[{"Principal": ADMINS, "Actions": ["quicksight:DescribeDashboard"]}])
    for n in (2, 3):
        qs.update_dashboard(**ids, Name="Traffic", Definition=board_definition(f"v{n}"), VersionDescription=f"v{n}")
    assert qs.delete_dashboard(**ids, VersionNumber=2)["DashboardId"] == "doomed"  # that version only
    assert [s["VersionNumber"] for s in qs.list_dashboard_versions(**ids)["DashboardVersionSummaryList"]] == [1, 3]
    with pytest.raises(qs.exceptions.ConflictException):  # the published one stays
        qs.delete_dashboard(**ids, VersionNumber=1)
    with pytest.raises(qs.exceptions.ResourceNotFoundException):
        qs.delete_dashboard(**ids, VersionNumber=2)
    qs.delete_dashboard(**ids, VersionNumber=3)
    made = qs.update_dashboard(**ids, Name="Traffic", Definition=board_definition("v4"))
    assert made["VersionArn"].endswith("/version/4")  # a deleted version's number is not given again

    arn = qs.describe_dashboard(**ids)["Dashboard"]["Arn"]
    deleted = qs.delete_dashboard(**ids)  # moto alone: HTTP 500
    assert (deleted["Status"], deleted["Arn"], deleted["DashboardId"]) == (200, arn, "doomed")
    assert "doomed" not in [s["DashboardId"] for s in qs.list_dashboards(AwsAccountId=ACCOUNT)["DashboardSummaryList"]]
    for call in (lambda: qs.describe_dashboard(**ids), lambda: qs.list_dashboard_versions(**ids), lambda: qs.describe_dashboard_permissions(**ids),
                 lambda: qs.delete_dashboard(**ids)):
        with pytest.raises(qs.exceptions.ResourceNotFoundException):
            call()
    board(qs, "doomed")  # the id is free again, and nothing of the old dashboard comes back
    assert qs.list_tags_for_resource(ResourceArn=arn)["Tags"] == []
    assert qs.describe_dashboard_permissions(**ids)["Permissions"] == []
    assert [s["VersionNumber"] for s in qs.list_dashboard_versions(**ids)["DashboardVersionSummaryList"]] == [1]


def test_quicksight_unknown_dashboard_is_resource_not_found_and_a_used_id_is_refused(cfn) -> None:
    qs = _client(cfn, "quicksight")
    ids = {"AwsAccountId": ACCOUNT, "DashboardId": "absent"}
    calls = (lambda: qs.describe_dashboard(**ids), lambda: qs.describe_dashboard(**ids, VersionNumber=1), lambda: qs.describe_dashboard_definition(**ids),
             lambda: qs.list_dashboard_versions(**ids), lambda: qs.update_dashboard(**ids, Name="n", Definition=board_definition()),
             lambda: qs.update_dashboard_published_version(**ids, VersionNumber=1), lambda: qs.delete_dashboard(**ids))
    for call in calls:
        with pytest.raises(qs.exceptions.ResourceNotFoundException) as error:
            call()
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert "absent" in error.value.response["Error"]["Message"]
    board(qs, "taken")
    with pytest.raises(qs.exceptions.ResourceExistsException) as error:  # moto alone: the dashboard is replaced
        qs.create_dashboard(AwsAccountId=ACCOUNT, DashboardId="taken", Name="Other", Definition=board_definition("other"))
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert qs.describe_dashboard(AwsAccountId=ACCOUNT, DashboardId="taken")["Dashboard"]["Name"] == "Traffic"


def test_quicksight_ingestions_of_spice_data_sets_complete_at_once(cfn) -> None:
    qs = _client(cfn, "quicksight")
    request = data_set_request(qs, "ingested")
    created = qs.create_data_set(**request)
    key = {"AwsAccountId": ACCOUNT, "DataSetId": "ingested"}
    ingestion = qs.describe_ingestion(**key, IngestionId=created["IngestionId"])["Ingestion"]  # moto alone: HTTP 500
    assert (ingestion["Arn"], ingestion["IngestionId"], ingestion["IngestionStatus"]) == (created["IngestionArn"], created["IngestionId"], "COMPLETED")
    assert ingestion["RowInfo"] == {"RowsIngested": 0, "RowsDropped": 0, "TotalRowsInDataset": 0}
    assert (ingestion["RequestType"], ingestion["RequestSource"]) == ("INITIAL_INGESTION", "MANUAL")
    updated = qs.update_data_set(**key, Name="renamed", ImportMode="SPICE", PhysicalTableMap=request["PhysicalTableMap"])
    assert updated["IngestionId"] != created["IngestionId"]
    assert qs.describe_ingestion(**key, IngestionId=updated["IngestionId"])["Ingestion"]["RequestType"] == "EDIT"
    started = qs.create_ingestion(**key, IngestionId="manual-1", IngestionType="INCREMENTAL_REFRESH")
    assert (started["Status"], started["IngestionStatus"], started["Arn"]) == (201, "INITIALIZED", f"{created['Arn']}/ingestion/manual-1")
    assert qs.describe_ingestion(**key, IngestionId="manual-1")["Ingestion"]["RequestType"] == "INCREMENTAL_REFRESH"
    with pytest.raises(qs.exceptions.ResourceExistsException):
        qs.create_ingestion(**key, IngestionId="manual-1")
    for call in (lambda: qs.describe_ingestion(**key, IngestionId="unknown"), lambda: qs.describe_ingestion(**{**key, "DataSetId": "absent"}, IngestionId="x"),
                 lambda: qs.create_ingestion(**{**key, "DataSetId": "absent"}, IngestionId="x")):
        with pytest.raises(qs.exceptions.ResourceNotFoundException) as error:
            call()
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    qs.delete_data_set(**key)
    qs.create_data_set(**request)
    with pytest.raises(qs.exceptions.ResourceNotFoundException):  # gone with the deleted data set
        qs.describe_ingestion(**key, IngestionId=created["IngestionId"])
    assert "IngestionId" not in qs.create_data_set(**data_set_request(qs, "not-ingested", import_mode="DIRECT_QUERY"))


def test_quicksight_tags_of_dashboards_and_data_sets(cfn) -> None:
    qs = _client(cfn, "quicksight")
    arns = [board(qs, "tagged", Tags=[{"Key": "app", "Value": "traffic"}])["Arn"], qs.create_data_set(**data_set_request(qs, "tagged"))["Arn"]]
    for arn in arns:
        qs.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "local"}, {"Key": "app", "Value": "city"}])
        assert sorted((t["Key"], t["Value"]) for t in qs.list_tags_for_resource(ResourceArn=arn)["Tags"]) == [("app", "city"), ("env", "local")]
        qs.untag_resource(ResourceArn=arn, TagKeys=["app"])
        assert qs.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "local"}]


# The modules' own runs against the endpoint: quicksight_data_set (with wait: the ingestion) and quicksight_dashboard
# (create, no-op, a changed definition published as a new version, delete), through main() as Ansible runs them.
def run_module(capsys, module, args: dict) -> dict:
    from ansible.module_utils.testing import patch_module_args

    with patch_module_args({**args, "_ansible_diff": True}), pytest.raises(SystemExit):
        module.main()
    result = json.loads(capsys.readouterr().out)
    assert not result.get("failed"), result.get("msg")
    return result


def test_quicksight_modules_run_end_to_end(cfn, capsys) -> None:
    from ansible_collections.smartcity.iot_analytics.plugins.modules import quicksight_dashboard, quicksight_data_set

    qs = _client(cfn, "quicksight")
    aws = {"endpoint_url": cfn.meta.endpoint_url, "region": "us-east-1", "access_key": "local-access-key", "secret_key": "local-secret-key"}
    data_set = {**aws, "data_set_id": "e2e_zone_hourly", "name": "Zone hourly", "data_source_arn": data_source(qs, "e2e-source"),
                "custom_sql": "SELECT zone, hour FROM zone_hourly", "columns": [{"name": "zone", "type": "STRING"}, {"name": "hour", "type": "DATETIME"}],
                "tags": {"app": "traffic"}, "wait": True, "wait_timeout": 10}
    made = run_module(capsys, quicksight_data_set, data_set)
    assert made["changed"] and made["data_set"]["ingestion"]["status"] == "COMPLETED"  # DescribeIngestion, as the module waits
    assert not run_module(capsys, quicksight_data_set, data_set)["changed"]
    edited = run_module(capsys, quicksight_data_set, {**data_set, "custom_sql": "SELECT zone, hour FROM zone_hourly WHERE zone <> ''"})
    assert edited["changed"] and edited["data_set"]["ingestion"]["status"] == "COMPLETED"
    assert edited["data_set"]["ingestion"]["ingestion_id"] != made["data_set"]["ingestion"]["ingestion_id"]

    sheets = [{"SheetId": "overview", "Name": "Overview"}]
    dashboard = {**aws, "dashboard_id": "e2e-board", "name": "Traffic history", "definition": {"Sheets": sheets},
                 "data_sets": {"zone_hourly": made["data_set"]["arn"]}, "tags": {"app": "traffic"},
                 "permissions": [{"principal": "group/traffic-viewers", "level": "viewer"}], "wait_timeout": 10}
    ids = {"AwsAccountId": ACCOUNT, "DashboardId": "e2e-board"}
    created = run_module(capsys, quicksight_dashboard, dashboard)
    assert created["changed"] and created["versions_created"] == 1 and created["dashboard"]["published_version_number"] == 1
    assert qs.describe_dashboard(**ids)["Dashboard"]["Version"]["DataSetArns"] == [made["data_set"]["arn"]]
    again = run_module(capsys, quicksight_dashboard, dashboard)
    assert (again["changed"], again["versions_created"]) == (False, 0)

    changed = run_module(capsys, quicksight_dashboard, {**dashboard, "definition": {"Sheets": [{**sheets[0], "Name": "Zones"}]}})
    assert changed["changed"] and changed["versions_created"] == 1
    assert (changed["dashboard"]["version_number"], changed["dashboard"]["published_version_number"]) == (2, 2)
    published = qs.describe_dashboard(**ids)["Dashboard"]["Version"]
    assert (published["VersionNumber"], published["Sheets"]) == (2, [{"SheetId": "overview", "Name": "Zones"}])
    assert changed["diff"]["before"]["fingerprint"] != changed["diff"]["after"]["fingerprint"]
    assert not run_module(capsys, quicksight_dashboard, {**dashboard, "definition": {"Sheets": [{**sheets[0], "Name": "Zones"}]}})["changed"]

    assert run_module(capsys, quicksight_dashboard, {**aws, "dashboard_id": "e2e-board", "state": "absent"})["changed"]
    with pytest.raises(qs.exceptions.ResourceNotFoundException):
        qs.describe_dashboard(**ids)
    assert not run_module(capsys, quicksight_dashboard, {**aws, "dashboard_id": "e2e-board", "state": "absent"})["changed"]
    assert run_module(capsys, quicksight_data_set, {**aws, "data_set_id": "e2e_zone_hourly", "state": "absent"})["changed"]
