"""Fixes 6, 10, 11, 13 and 22 (moto_compat.dynamodb): a table's TTL and recovery from CloudFormation; UpdateItem and Query
at pipeline rates, with moto's results."""

from __future__ import annotations

import re

import boto3
import pytest
from botocore.exceptions import ClientError
from compat_support import _client, routing_stack
from moto_compat import dynamodb as compat

pytestmark = pytest.mark.usefixtures("moto_compat_applied")  # the in-process tests (mock_aws) need the fixes here too


def test_cloudformation_table_gets_ttl_and_recovery(cfn) -> None:
    routing_stack(cfn)  # as test_events.py's PutEvents test creates it (each test module has its own endpoint)
    ddb = _client(cfn, "dynamodb")
    assert ddb.describe_time_to_live(TableName="compat-table")["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    recovery = ddb.describe_continuous_backups(TableName="compat-table")["ContinuousBackupsDescription"]
    assert recovery["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


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
