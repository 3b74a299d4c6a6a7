"""Test and benchmark support for the stream processor: in-memory edges and Kinesis event builders.

The in-memory store keeps the table's semantics that exactly-once depends on (one item per zone, window and
shard that remembers the highest sequence number it absorbed; conditional alert-state writes), and counts every
item written, so tests and the benchmark can compare writes per 1,000 readings. The DynamoDB edge itself is
tested against the local AWS endpoint in test_processor_endpoint.py.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

LAMBDA_DIR = Path(__file__).resolve().parents[1] / "files" / "lambda"
if str(LAMBDA_DIR) not in sys.path:
    sys.path.insert(0, str(LAMBDA_DIR))

from stream_processor.aggregate import SEQ_WIDTH, Contribution  # noqa: E402
from stream_processor.alerts import Alert, ZoneState  # noqa: E402
from stream_processor.aws import DynamoStore  # noqa: E402
from stream_processor.config import Settings  # noqa: E402
from stream_processor.live_model import LIVE_PK, SK_WIDTH, SWEEP_SK, ZONE_PREFIX, window_sk  # noqa: E402
from stream_processor.live_state import SensorPage, SensorReading, decode_entry, merge, page_from_item, page_item_attributes  # noqa: E402
from stream_processor.observability import NAMESPACE, Telemetry  # noqa: E402
from stream_processor.ports import EdgeError, Publisher, Quarantine, Store, WindowResult  # noqa: E402
from stream_processor.processor import Processor  # noqa: E402
from stream_processor.readings import COLUMN_FIELDS  # noqa: E402

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/smartcity-iot-local-telemetry"
SHARD = "shardId-000000000000"
SEQ_BASE = 49590338271490256608559692538361571095921575989136588898


class Faults:
    """Fail named operations: ``faults.fail("add_window", times=2, match=lambda key: ...)``."""

    def __init__(self) -> None:
        self.rules: list[list[Any]] = []

    def fail(self, op: str, times: int = 1, match: Callable[[Any], bool] | None = None) -> None:
        self.rules.append([op, times, match])

    def check(self, op: str, key: Any = None) -> None:
        for rule in self.rules:
            if rule[0] == op and rule[1] > 0 and (rule[2] is None or rule[2](key)):
                rule[1] -= 1
                raise EdgeError(f"{op}: injected ThrottlingException")


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it, near enough for string and number attributes: names plus values."""
    return sum(len(name) + len(next(iter(value.values()))) for name, value in item.items())


def plain_size(attributes: dict[str, Any]) -> int:
    """The same for an item held as plain Python values (str, int, float): names plus values, a number as the
    digits DynamoDB stores (about one byte per two digits, plus one)."""
    size = 0
    for name, value in attributes.items():
        if isinstance(value, str):
            size += len(name) + len(value.encode())
        else:
            digits = len(str(value).replace("-", "").replace(".", "").lstrip("0")) or 1
            size += len(name) + (digits + 1) // 2 + 1
    return size


def write_units(before: int, after: int) -> int:
    """Write units as DynamoDB on-demand bills a write: 1 per started KB of the larger of the item's size before and
    after the write (at least 1)."""
    return max(1, -(-max(before, after) // 1024))


class MemoryStore(Store):
    def __init__(self, faults: Faults | None = None) -> None:
        self.windows: dict[tuple[str, int, str], dict[str, Any]] = {}
        self.pages: dict[tuple[str, str], dict[str, Any]] = {}  # (zone, sk) -> sensor page as a DynamoDB-JSON item
        self.silence: dict[str, dict[str, tuple[int, int]]] = {}  # zone -> sensor -> (last window seen, report window)
        self.zone_states: dict[str, ZoneState] = {}
        self.zones: set[str] = set()
        self.live: dict[str, dict[str, Any]] = {}  # the live view's digests by sort key, as DynamoDB-JSON items
        self.faults = faults or Faults()
        self.writes = 0
        self.requests = 0
        self.live_writes = 0  # of self.writes: the live view's digests
        self.live_reads = 0  # Query requests on the live view's digests
        self.units = 0  # write units as DynamoDB on-demand bills them (write_units)

    def bill(self, before: int, after: int) -> None:
        self.units += write_units(before, after)

    def add_window(self, zone: str, window_start: int, shard: str, contribution: Contribution, expires_at: int, now_s: int) -> WindowResult:
        self.faults.check("add_window", (zone, window_start, shard))
        self.requests += 1
        item = self.windows.get((zone, window_start, shard))
        if item is not None and item["last_seq"] >= contribution.low_seq:
            return self._result(False, item)
        if item is None:
            item = self.windows[(zone, window_start, shard)] = {
                "count": 0, "vehicle_count_sum": 0, "speed_sum": 0.0, "congestion_sum": 0.0, "last_seq": -1,
            }
        before = self._window_size(zone, window_start, shard, item) if item["last_seq"] >= 0 else 0
        item["count"] += contribution.count
        item["vehicle_count_sum"] += contribution.vehicles
        item["speed_sum"] += contribution.speed
        item["congestion_sum"] += contribution.congestion
        item["last_seq"] = contribution.high_seq
        item["expires_at"] = expires_at
        item["updated_at"] = now_s
        self.writes += 1
        self.bill(before, self._window_size(zone, window_start, shard, item))
        return self._result(True, item)

    @staticmethod
    def _window_size(zone: str, window_start: int, shard: str, item: dict[str, Any]) -> int:
        """The size of the zone-window item the DynamoDB edge writes (its sequence number padded to 130 digits)."""
        return plain_size(dict(
            item, pk="ZONE#" + zone, sk=f"W#{window_start}#{shard}", zone=zone, window_start=window_start, shard=shard,
            last_seq="0" * SEQ_WIDTH,
        ))

    @staticmethod
    def _result(applied: bool, item: dict[str, Any]) -> WindowResult:
        return WindowResult(applied, item["count"], item["congestion_sum"], item["last_seq"], item["vehicle_count_sum"], item["speed_sum"])

    def put_live_window(self, window_start: int, shard: str, zones: dict[str, str], expires_at: int, now_ms: int) -> None:
        self.faults.check("put_live_window", (window_start, shard))
        sk = window_sk(window_start, shard)
        item = self.live.setdefault(sk, {"pk": {"S": LIVE_PK}, "sk": {"S": sk}})
        before = item_size(item) if len(item) > 2 else 0
        item.update({ZONE_PREFIX + zone: {"S": value} for zone, value in zones.items()})
        item.update(window_start={"N": str(window_start)}, expires_at={"N": str(expires_at)}, updated_ms={"N": str(now_ms)})
        updates = -(-len(zones) // DynamoStore.LIVE_ZONES_PER_UPDATE)  # as many requests as the DynamoDB edge makes
        self.writes += updates
        self.requests += updates
        self.live_writes += updates
        for _update in range(updates):  # each update is billed by the whole item
            self.bill(before, item_size(item))

    def put_live_sweep(self, window_start: int, zones: dict[str, str], expires_at: int, now_ms: int) -> None:
        self.faults.check("put_live_sweep", window_start)
        item = {ZONE_PREFIX + zone: {"S": value} for zone, value in zones.items()}
        item.update(pk={"S": LIVE_PK}, sk={"S": SWEEP_SK}, window_start={"N": str(window_start)}, expires_at={"N": str(expires_at)},
                    updated_ms={"N": str(now_ms)})
        before = item_size(self.live[SWEEP_SK]) if SWEEP_SK in self.live else 0
        self.live[SWEEP_SK] = item
        self.bill(before, item_size(item))
        self.writes += 1
        self.requests += 1
        self.live_writes += 1

    def query(self, **request: Any) -> dict[str, Any]:
        """DynamoDB's Query over the live digests as the live view asks for them (pk LIVE, sk >= first, newest first),
        in pages of at most 1 MB of item data as DynamoDB returns them; counts requests in ``live_reads``."""
        self.live_reads += 1
        items = self._live_from(request["ExpressionAttributeValues"][":first"]["S"])
        start = int(request.get("ExclusiveStartKey", {}).get("offset", {}).get("N", "0"))
        page, size = [], 0
        for item in items[start:]:
            if page and size + item_size(item) > 1_048_576:
                return {"Items": page, "LastEvaluatedKey": {"offset": {"N": str(start + len(page))}}}
            page.append(item)
            size += item_size(item)
        return {"Items": page}

    def _live_from(self, first_sk: str) -> list[dict[str, Any]]:
        return [item for sk, item in sorted(self.live.items(), reverse=True) if sk >= first_sk]

    def live_items(self, first_window: int) -> list[dict[str, Any]]:
        """What the live view's Query returns: the digests from first_window on, and the sweep digest."""
        return self._live_from(f"{first_window:0{SK_WIDTH}d}")

    def load_sensor_pages(self, zone: str) -> list[SensorPage]:
        self.faults.check("load_sensor_pages", zone)
        return [page_from_item(item) for (z, _sk), item in sorted(self.pages.items()) if z == zone]

    def put_sensor_page(self, zone: str, page: SensorPage, expected_version: int, expires_at: int) -> bool:
        self.faults.check("put_sensor_page", (zone, page.sk))
        self.requests += 1
        held = self.pages.get((zone, page.sk))
        if (int(held["v"]["N"]) if held else 0) != expected_version:
            return False
        item = page_item_attributes(zone, page, expires_at)
        self.pages[(zone, page.sk)] = item
        self.writes += 1
        self.bill(item_size(held) if held else 0, item_size(item))
        return True

    def delete_sensor_page(self, zone: str, page: SensorPage, expected_version: int) -> bool:
        self.faults.check("delete_sensor_page", (zone, page.sk))
        self.requests += 1
        held = self.pages.get((zone, page.sk))
        if held is None or int(held["v"]["N"]) != expected_version:
            return False
        del self.pages[(zone, page.sk)]
        self.writes += 1
        self.bill(item_size(held), 0)
        return True

    def sensor_states(self) -> dict[str, SensorReading]:
        """Each sensor's newest state over every zone's pages (what the tests assert on)."""
        entries: dict[str, str] = {}
        for item in self.pages.values():
            merge(entries, page_from_item(item).entries)
        return {s: decode_entry(e) for s, e in entries.items()}

    def add_zones(self, zones: Iterable[str]) -> None:
        self.faults.check("add_zones", zones)
        before = plain_size({"pk": "META", "sk": "ZONES", "zones": "".join(self.zones)}) if self.zones else 0
        self.zones.update(zones)
        self.bill(before, plain_size({"pk": "META", "sk": "ZONES", "zones": "".join(self.zones)}))
        self.writes += 1
        self.requests += 1

    def list_zones(self) -> list[str]:
        return sorted(self.zones)

    def get_zone_state(self, zone: str) -> ZoneState:
        self.faults.check("get_zone_state", zone)
        return self.zone_states.get(zone, ZoneState())

    def set_congestion(self, zone: str, new: ZoneState, expected: ZoneState, now_s: int) -> bool:
        self.faults.check("set_congestion", zone)
        current = self.zone_states.get(zone, ZoneState())
        if (current.state, current.window_start) != (expected.state, expected.window_start):
            return False
        self.zone_states[zone] = current._replace(state=new.state, since=new.since, window_start=new.window_start)
        self.bill(0, 200)  # the zone's ALERT item: well under 1 KB
        self.writes += 1
        self.requests += 1
        return True

    def set_drop(self, zone: str, new: ZoneState, expected: ZoneState, now_s: int) -> bool:
        self.faults.check("set_drop", zone)
        current = self.zone_states.get(zone, ZoneState())
        if current.drop_window != expected.drop_window:
            return False
        self.zone_states[zone] = current._replace(
            drop_state=new.drop_state, drop_window=new.drop_window, drop_baseline=new.drop_baseline
        )
        self.bill(0, 200)
        self.writes += 1
        self.requests += 1
        return True

    def window_totals(self, zone: str, first_window: int, last_window: int) -> dict[int, tuple[int, float]]:
        totals: dict[int, tuple[int, float]] = {}
        for (z, window_start, _shard), item in self.windows.items():
            if z == zone and first_window <= window_start <= last_window:
                count, congestion = totals.get(window_start, (0, 0.0))
                totals[window_start] = (count + item["count"], congestion + item["congestion_sum"])
        return totals

    def get_silence(self, zone: str) -> dict[str, tuple[int, int]]:
        return dict(self.silence.get(zone, {}))

    def mark_silent(self, zone: str, reported: dict[str, tuple[int, int]], expires_at: int) -> None:
        self.faults.check("mark_silent", zone)
        self.silence.setdefault(zone, {}).update(reported)
        self.requests += -(-len(reported) // 25)
        for _sensor in reported:
            self.writes += 1
            self.bill(0, 60)

    def forget_silence(self, zone: str, sensor_ids: list[str]) -> None:
        for sensor_id in sensor_ids:
            if self.silence.get(zone, {}).pop(sensor_id, None) is not None:
                self.writes += 1
                self.bill(60, 0)

    # what the tests assert on
    def total_count(self) -> int:
        return sum(item["count"] for item in self.windows.values())

    def zone_window_counts(self) -> dict[tuple[str, int], int]:
        counts: dict[tuple[str, int], int] = {}
        for (zone, window_start, _shard), item in self.windows.items():
            counts[(zone, window_start)] = counts.get((zone, window_start), 0) + item["count"]
        return counts


class NullTelemetry(Telemetry):
    """Records what would be logged and measured, instead of writing through Powertools."""

    def __init__(self) -> None:
        self.service = "test"
        self.namespace = NAMESPACE
        self.batches: list[dict[str, Any]] = []
        self.sweeps: list[dict[str, Any]] = []
        self.rejects: list[dict[str, str]] = []
        self.errors: list[str] = []
        self._reject_logs = 0

    def rejected(self, sequence_number: str, reason: str, message: str, excerpt: str) -> None:
        self.rejects.append({"sequence_number": sequence_number, "reason": reason, "excerpt": excerpt})

    def error(self, message: str, **fields: Any) -> None:
        self.errors.append(message)

    def batch(self, summary, rejected_by_reason, zone_index, alerts_by_type, latency_ms) -> None:
        self.batches.append(dict(summary, zone_index=zone_index, alerts=alerts_by_type, latency_ms=latency_ms))

    def sweep(self, summary, alerts_by_type) -> None:
        self.sweeps.append(dict(summary, alerts=alerts_by_type))


class MemoryPublisher(Publisher):
    def __init__(self, faults: Faults | None = None) -> None:
        self.alerts: list[Alert] = []
        self.faults = faults or Faults()

    def publish(self, alerts: list[Alert]) -> None:
        self.faults.check("publish", alerts)
        self.alerts.extend(alerts)

    def of_type(self, detail_type: str) -> list[dict[str, Any]]:
        return [a.detail for a in self.alerts if a.detail_type == detail_type]


class MemoryQuarantine(Quarantine):
    def __init__(self, faults: Faults | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.faults = faults or Faults()

    def send(self, messages: list[dict[str, Any]]) -> None:
        self.faults.check("quarantine", messages)
        self.messages.extend(messages)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def settings(**overrides: Any) -> Settings:
    # One zone writer: the in-memory store's counters and the fault rules are not made for threads (the concurrent
    # writers are tested in test_exactly_once.py against a store that locks).
    values: dict[str, Any] = {"table_name": "state", "event_bus_name": "alerts", "quarantine_queue_url": "q", "write_concurrency": 1}
    values.update(overrides)
    return Settings(**values)


def make_processor(now: float, faults: Faults | None = None, telemetry: Any = None, **overrides: Any) -> Processor:
    faults = faults or Faults()
    return Processor(
        settings(**overrides),
        MemoryStore(faults),
        MemoryPublisher(faults),
        MemoryQuarantine(faults),
        telemetry if telemetry is not None else NullTelemetry(),
        clock=Clock(now),
    )


def reading(sensor: str, zone: str, ts: Any, vehicles: int = 10, speed: float = 50.0, **extra: Any) -> dict[str, Any]:
    return dict({"sensor_id": sensor, "zone": zone, "ts": ts, "vehicle_count": vehicles, "avg_speed_kmh": speed}, **extra)


def columnar(readings: list[dict[str, Any]], zone: Any) -> dict[str, Any]:
    """The columnar gateway message of ``readings`` (docs/contracts.md): zone once, each field a column, a field that a
    reading does not have a null element (a column that no reading has is left out)."""
    names = [name for name in COLUMN_FIELDS if any(name in r for r in readings)]
    return {"zone": zone, "columns": {name: [r.get(name) for r in readings] for name in names}}


def kinesis_record(
    payload: Any, seq: int, *, shard: str = SHARD, partition_key: str = "zone", arrival: float = 1_700_000_000.0, raw: bytes | str | None = None
) -> dict[str, Any]:
    """A record as AWS documents the Kinesis event for Lambda."""
    if raw is None:
        data = base64.b64encode(json.dumps(payload).encode()).decode()
    elif isinstance(raw, bytes):
        data = base64.b64encode(raw).decode()
    else:
        data = raw
    seq_text = str(SEQ_BASE + seq)
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": seq_text,
            "data": data,
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard}:{seq_text}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/smartcity-iot-local-processor",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM_ARN,
    }


def kinesis_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": records}
