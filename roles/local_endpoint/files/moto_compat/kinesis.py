# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kinesis: PutRecord(s) without running mappings (fix 14); GetRecords and PutRecords at pipeline rates (fix 24)."""

from __future__ import annotations

from typing import Any

from moto.awslambda.models import LambdaBackend
from moto.kinesis.exceptions import RecordSizeExceedsLimit, TooManyRecords, TotalRecordsSizeExceedsLimit
from moto.kinesis.models import KinesisBackend, Shard

from .registry import fix, patch

# moto's own, as the fixes found them (the tests put them back to compare with moto alone).
_send_kinesis_message = LambdaBackend.send_kinesis_message
_shard_get_records = Shard.get_records
_put_records = KinesisBackend.put_records


# --- 14 -----------------------------------------------------------------------------------------------------------------
def no_kinesis_delivery(self: LambdaBackend, **kwargs: Any) -> None:
    """moto would run the function in Docker for each record; the local data plane's poller delivers instead."""


def shard_max_sequence_number(self: Shard) -> int:
    return next(reversed(self.records)) if self.records else 0


def shard_min_sequence_number(self: Shard) -> int:
    return next(iter(self.records)) if self.records else 0


@fix(14)
def records_are_only_stored() -> None:
    """Kinesis PutRecord(s) stores records without running the stream's event source mappings.

    moto: tries to run the stream's Lambda event source mappings for every record, through Docker, which fails here
    (about a third of the endpoint's time at 100 records/s, and an error line per record); and it finds a shard's
    last sequence number by listing all its records.
    AWS: (the local data plane's poller is the event source mapping here) records are stored.
    Fix: records are only stored, and a shard's first and last sequence numbers are read in constant time.
    """
    patch(LambdaBackend, "send_kinesis_message", no_kinesis_delivery)
    patch(Shard, "get_max_sequence_number", shard_max_sequence_number)
    patch(Shard, "get_min_sequence_number", shard_min_sequence_number)


# --- 24 -----------------------------------------------------------------------------------------------------------------
def shard_get_records(self: Shard, last_sequence_id: str, limit: int | None) -> tuple[list[Any], int, int]:
    """The records after last_sequence_id, read from there: moto numbers a shard's records 1, 2, 3, ... and keeps them
    in order, so the next one is found by its number. Anything else (a gap) takes moto's walk from the first record."""
    records = self.records
    after = int(last_sequence_id)
    if not records:
        return [], after, 0
    first, newest = next(iter(records)), next(reversed(records))
    wanted = max(after + 1, first)
    results = []
    while wanted <= newest and (limit is None or len(results) < limit):
        record = records.get(wanted)
        if record is None:  # not consecutive: moto's own walk
            return _shard_get_records(self, last_sequence_id, limit)
        results.append(record)
        wanted += 1
    if not results:
        return [], after, 0
    behind = records[newest].created_at - results[-1].created_at
    return results, results[-1].sequence_number, int(behind * 1000)


def _decoded_size(data: str) -> int:
    """len(b64decode(data)) of the base64 text botocore sends, without decoding it."""
    text = data.rstrip("=") if isinstance(data, str) else data.decode("ascii").rstrip("=")
    return len(text) * 3 // 4


def put_records(self: KinesisBackend, stream_arn: str, stream_name: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """moto's PutRecords, the record sizes taken from the base64 text (moto decodes each record to measure it)."""
    if any(not isinstance(r.get("Data", ""), (str, bytes)) or "\n" in str(r.get("Data", "")) for r in records):
        return _put_records(self, stream_arn, stream_name, records)
    stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
    if len(records) > 500:
        raise TooManyRecords
    data_sizes = [_decoded_size(r.get("Data", "")) + len(r.get("PartitionKey", "")) for r in records]
    if sum(data_sizes) > 5242880:
        raise TotalRecordsSizeExceedsLimit
    over = next((index for index, size in enumerate(data_sizes) if size > 1048576), None)
    if over is not None:
        raise RecordSizeExceedsLimit(position=over + 1)
    response: dict[str, Any] = {"FailedRecordCount": 0, "Records": []}
    for record in records:
        sequence_number, shard_id = stream.put_record(record.get("PartitionKey"), record.get("ExplicitHashKey"), record.get("Data"))
        response["Records"].append({"SequenceNumber": sequence_number, "ShardId": shard_id})
    self._send_stream_metrics(stream.stream_name, incoming_bytes=sum(data_sizes), incoming_records=len(records))  # pylint: disable=protected-access
    return response


@fix(24)
def records_are_read_from_the_iterator_position() -> None:
    """Kinesis GetRecords starts at the iterator's position; PutRecords measures the base64 text.

    moto: GetRecords walks the shard's records from the first one ever written to find where the iterator points (its
    cost grows with everything the stream has held), and PutRecords decodes every record's base64 data only to
    measure it.
    AWS: (speed only) the same records and limits.
    Fix: GetRecords starts at the iterator's position (sequence numbers are consecutive per shard; moto's walk is kept
    for anything else), and PutRecords takes the size from the base64 text.
    """
    patch(Shard, "get_records", shard_get_records)
    patch(KinesisBackend, "put_records", put_records)
