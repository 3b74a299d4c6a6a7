"""Stream processor benchmark: readings/s on one core and DynamoDB writes per 1,000 readings.

Not a timed test: it prints figures. Run it with ``scripts/bench-processor`` (``--help`` for the knobs).

It simulates the fleet (sensors in zones, one reading per sensor per second) and the Lambda event source mapping
(records per shard, partition key = zone, one invocation per shard per batching window, at most ``--batch-records``
records each), feeds the real handler core with the AWS edges replaced by in-memory fakes, and measures CPU time of
the handler calls only (time.process_time; generating the records is not counted). Three shapes:

  (a) gateway batches: one record = ``{"readings": [...]}`` with one reading per sensor of a zone (100 by default);
  (c) columnar gateway messages: the same readings as ``{"zone": ..., "columns": {"sensor_id": [...], ...}}``;
  (b) single readings: one record = one reading.

Side by side, a naive handler (``json.loads`` per record, one ``put_item`` per reading) runs over the same records.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import random
import sys
import time
import zlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
from boto3.dynamodb.types import TypeSerializer
from processor_support import SEQ_BASE, MemoryPublisher, MemoryQuarantine, MemoryStore, columnar, item_size, settings
from stream_processor.observability import Telemetry
from stream_processor.processor import Processor

START = 1_767_225_600  # 2026-01-01T00:00:00Z, a window boundary for every window length that divides a day


class Fleet:
    def __init__(self, sensors: int, zones: int, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.zones = [f"zone-{z:04d}" for z in range(zones)]
        self.members: dict[str, list[str]] = {z: [] for z in self.zones}
        for s in range(sensors):
            self.members[self.zones[s % zones]].append(f"sensor-{s:06d}")
        # zone 0 is congested all the time (alert path exercised); the rest flows
        self.speed = {z: (8.0 if i == 0 else rng.uniform(35.0, 70.0)) for i, z in enumerate(self.zones)}
        self.rng = rng

    def readings(self, zone: str, second: int) -> list[dict[str, Any]]:
        base = (START + second) * 1000
        speed = self.speed[zone]
        rng = self.rng
        return [
            {
                "sensor_id": sensor,
                "zone": zone,
                "ts": base + (i * 7) % 1000,
                "vehicle_count": rng.randint(0, 30),
                "avg_speed_kmh": round(speed + rng.uniform(-5, 5), 1) if speed > 5 else 3.0,
                "occupancy": round(rng.uniform(0.05, 0.6), 3),
            }
            for i, sensor in enumerate(self.members[zone])
        ]


SHAPES = {"gateway": "(a) gateway batches", "columns": "(c) columnar gateway", "single": "(b) single readings"}


def shard_of(zone: str, shards: int) -> int:
    return zlib.crc32(zone.encode()) % shards


def lambda_batches(fleet: Fleet, seconds: int, shape: str, shards: int, window_s: int, batch_records: int) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(simulated now, Kinesis records) per invocation, in the order the event source mapping would invoke. Each
    shard's batching window closes every ``window_s`` seconds, the shards' spread over those seconds (their pollers
    are not in step), so that what a second of simulated time writes is what one second would write on AWS."""
    seq = [0] * shards
    pending: list[list[dict[str, Any]]] = [[] for _shard in range(shards)]
    for second in range(seconds + window_s):  # the last seconds only drain what the shards still hold
        for zone in fleet.zones if second < seconds else ():
            shard = shard_of(zone, shards)
            readings = fleet.readings(zone, second)
            if shape == "gateway":
                payloads = [{"readings": readings}]
            elif shape == "columns":
                payloads = [columnar(readings, zone)]
            else:
                payloads = readings
            for payload in payloads:
                seq[shard] += 1
                seq_text = str(SEQ_BASE + seq[shard])
                pending[shard].append(
                    {
                        "kinesis": {
                            "partitionKey": zone,
                            "sequenceNumber": seq_text,
                            "data": base64.b64encode(orjson.dumps(payload)).decode(),
                            "approximateArrivalTimestamp": START + second + 0.5,
                        },
                        "eventID": f"shardId-{shard:012d}:{seq_text}",
                        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/bench",
                    }
                )
        for shard in range(shards):
            if (second + 1 + shard * window_s // shards) % window_s == 0:
                records = pending[shard]
                for start in range(0, len(records), batch_records):
                    yield START + second + 1, records[start : start + batch_records]
                pending[shard] = []


class NaiveTable:
    """Stands in for boto3's ``Table`` resource: serialises the item as boto3 does, then keeps it in memory."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.serializer = TypeSerializer()
        self.writes = 0

    def put_item(self, Item: dict[str, Any]) -> None:
        wire = {key: self.serializer.serialize(value) for key, value in Item.items()}
        self.items[(Item["pk"], Item["sk"])] = wire
        self.writes += 1


def naive_handler(records: list[dict[str, Any]], table: NaiveTable) -> None:
    """What a first version often looks like: json.loads per record, one put_item per reading."""
    for record in records:
        payload = json.loads(base64.b64decode(record["kinesis"]["data"]), parse_float=Decimal)
        columns = payload.get("columns")
        if columns is not None:
            payload = {"readings": [dict(zip(columns, row), zone=payload["zone"]) for row in zip(*columns.values())]}
        for r in payload.get("readings", [payload]):
            table.put_item(Item={"pk": "SENSOR#" + r["sensor_id"], "sk": str(r["ts"]), **r})


def run(args: argparse.Namespace, shape: str, shards: int, devnull: Any) -> dict[str, float]:
    fleet = Fleet(args.sensors, args.zones)
    with contextlib.redirect_stdout(devnull):
        telemetry = Telemetry(service="bench", namespace="Bench")
    store, publisher = MemoryStore(), MemoryPublisher()
    clock_now = [float(START)]
    processor = Processor(settings(window_seconds=args.window), store, publisher, MemoryQuarantine(), telemetry, clock=lambda: clock_now[0])
    naive_table = NaiveTable()
    units_by_second: dict[int, int] = {}
    requests_by_second: dict[int, int] = {}
    cpu = naive_cpu = 0.0
    readings = invocations = naive_readings = payload_bytes = 0
    with contextlib.redirect_stdout(devnull):
        for now, records in lambda_batches(fleet, args.seconds, shape, shards, args.batching_window, args.batch_records):
            clock_now[0] = float(now)
            payload_bytes += sum(len(data) * 3 // 4 - data.count("=", -2) for data in (r["kinesis"]["data"] for r in records))
            units_before, requests_before = store.units, store.requests
            before = time.process_time()
            response = processor.handle_kinesis({"Records": records})
            cpu += time.process_time() - before
            units_by_second[now] = units_by_second.get(now, 0) + store.units - units_before
            requests_by_second[now] = requests_by_second.get(now, 0) + store.requests - requests_before
            assert not response["batchItemFailures"], response
            invocations += 1
            if naive_readings < args.naive_readings:
                before = time.process_time()
                naive_handler(records, naive_table)
                naive_cpu += time.process_time() - before
                naive_readings = naive_table.writes
    readings = store.total_count()
    expected = args.sensors * args.seconds
    if readings != expected:
        raise SystemExit(f"lost or double-counted readings: stored {readings}, sent {expected}")
    with contextlib.redirect_stdout(devnull):
        processor.sweep()  # the sweep's digest is part of what the view reads
    return {
        "readings": readings,
        "invocations": invocations,
        "payload_bytes_per_reading": payload_bytes / readings,
        "cpu_s": cpu,
        "rate": readings / cpu,
        "writes_per_1000": store.writes * 1000 / readings,
        "live_writes_per_1000": store.live_writes * 1000 / readings,
        "store": store,
        "now": clock_now[0],
        "requests_per_1000": store.requests * 1000 / readings,
        "units_per_1000": store.units * 1000 / readings,
        # the busiest second of simulated time against the average second (write units)
        "peak_ratio": max(units_by_second.values()) * args.seconds / sum(units_by_second.values()),
        "peak_units": max(units_by_second.values()),
        "peak_requests": max(requests_by_second.values()),
        "average_units": sum(units_by_second.values()) / args.seconds,
        "average_requests": sum(requests_by_second.values()) / args.seconds,
        "alerts": len(publisher.alerts),
        "naive_rate": naive_readings / naive_cpu if naive_cpu else 0.0,
        "naive_writes_per_1000": naive_table.writes * 1000 / naive_readings if naive_readings else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sensors", type=int, default=50_000)
    parser.add_argument("--zones", type=int, default=500, help="zones; a gateway batch carries one zone's readings")
    parser.add_argument("--seconds", type=int, default=120, help="simulated seconds at 1 reading per sensor per second")
    parser.add_argument("--window", type=int, default=60, help="WINDOW_SECONDS")
    parser.add_argument("--batching-window", type=int, default=5, help="MaximumBatchingWindowInSeconds of the mapping")
    parser.add_argument("--batch-records", type=int, default=10_000, help="BatchSize of the mapping")
    parser.add_argument("--gateway-shards", type=int, default=8, help="shards for (a): ~6 MB/s of gateway batches")
    parser.add_argument("--single-shards", type=int, default=50, help="shards for (b): 1,000 records/s per shard")
    parser.add_argument("--naive-readings", type=int, default=1_000_000, help="readings the naive handler processes")
    parser.add_argument("--shape", choices=[*SHAPES, "all"], default="all")
    parser.add_argument("--renders", type=int, default=20, help="live view renders to time after the first shape")
    args = parser.parse_args(argv)
    print(
        f"fleet: {args.sensors:,} sensors in {args.zones:,} zones at 1 Hz for {args.seconds} s; "
        f"WINDOW_SECONDS={args.window}; mapping: batching window {args.batching_window} s, batch size {args.batch_records}"
    )
    header = (
        f"{'shape':<22}{'readings':>11}{'inv.':>7}{'readings/s/core':>17}{'writes/1k':>11}{'live w/1k':>11}{'requests/1k':>13}"
        f"{'naive r/s':>12}{'naive w/1k':>12}{'speed-up':>10}{'units/1k':>10}{'peak/avg':>10}"
    )
    print(header)
    shapes = list(SHAPES) if args.shape == "all" else [args.shape]
    # Powertools writes logs and metrics to stdout: they are produced (and cost CPU) but not shown.
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        _table(args, shapes, devnull)
    return 0


def _table(args: argparse.Namespace, shapes: list[str], devnull: Any) -> None:
    peaks: list[str] = []
    for shape in shapes:
        shards = args.single_shards if shape == "single" else args.gateway_shards
        result = run(args, shape, shards, devnull)
        label = SHAPES[shape]
        ratio = result["rate"] / result["naive_rate"] if result["naive_rate"] else float("nan")
        print(
            f"{label:<22}{result['readings']:>11,}{result['invocations']:>7,}{result['rate']:>17,.0f}"
            f"{result['writes_per_1000']:>11.2f}{result['live_writes_per_1000']:>11.3f}{result['requests_per_1000']:>13.2f}{result['naive_rate']:>12,.0f}"
            f"{result['naive_writes_per_1000']:>12.0f}{ratio:>9.2f}x{result['units_per_1000']:>10.2f}{result['peak_ratio']:>10.2f}"
        )
        peaks.append(
            f"{label}: busiest second of simulated time {result['peak_units']:,} write units and {result['peak_requests']:,} write "
            f"requests; average second {result['average_units']:,.0f} units, {result['average_requests']:,.0f} requests; "
            f"{result['payload_bytes_per_reading']:.0f} payload bytes per reading"
        )
        if shape == shapes[0]:
            live = live_view_figures(result["store"], result["now"], args.window, args.renders)
    print("\n".join(peaks))
    print(
        f"live view at {live['zones']} zones (from the table this run filled): {live['requests']} DynamoDB request(s) "
        f"per render ({live['bytes'] / 1024:.0f} KB of digests), render CPU p50 {live['p50_ms']:.1f} ms, "
        f"max {live['max_ms']:.1f} ms over {args.renders} renders (read + fold + draw, 1200x800)"
    )
    print("live w/1k: of writes/1k, the live view's digest updates (one per window and shard a batch touches, per 150 zones)")
    print("requests/1k: DynamoDB write requests (a BatchWriteItem of 25 items is one); units/1k: write units as on-demand")
    print("bills them (1 per started KB of the larger of the item before and after the write); peak/avg: write units in the")
    print("busiest second of simulated time over the average second")


def live_view_figures(store: MemoryStore, now: float, window: int, renders: int) -> dict[str, Any]:
    """One render as the widget function does it: Query the digests (the store answers DynamoDB's Query in 1 MB
    pages), fold them into the view, draw it; CPU time per render and requests per render."""
    from stream_processor.live_read import read_view
    from stream_processor.live_render import render

    times, requests = [], 0
    for _render in range(renders):
        before_requests = store.live_reads
        before = time.process_time()
        result = read_view(store, "bench", window, 10, now, 0.7, 0.5)
        render(result.view, width=1200, height=800, now_ms=int(now * 1000))
        times.append((time.process_time() - before) * 1000)
        requests = store.live_reads - before_requests
    times.sort()
    size = sum(item_size(item) for item in store.live_items(0))
    return {"zones": len(result.view.zones), "requests": requests, "p50_ms": times[len(times) // 2], "max_ms": times[-1], "bytes": size}


if __name__ == "__main__":
    sys.exit(main())
