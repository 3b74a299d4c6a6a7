"""Fixes 14 and 24 (moto_compat.kinesis): records stored without running mappings, read from the iterator's position."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto_compat import kinesis as compat

pytestmark = pytest.mark.usefixtures("moto_compat_applied")  # in-process (mock_aws): the fixes here too


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
