"""Exactly-once effect under at-least-once delivery: property tests over re-delivery patterns.

The event source mapping may deliver a batch twice, re-deliver from the first failed record after a partial
failure, bisect a batch, or deliver an extended batch (same start, more records). Whatever the pattern, the sum
of the stored counts must equal the number of distinct accepted readings, per zone and window.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from processor_support import Faults, MemoryStore, kinesis_event, kinesis_record, make_processor, reading
from stream_processor.live_read import build_view

NOW = 1_767_225_600.0
ZONES = ["north", "south", "east"]


def stream(seed: int, size: int, gateway: bool) -> tuple[list[dict[str, Any]], dict[tuple[str, int], int]]:
    """Records of one shard, with some bad readings, and the expected count per (zone, window)."""
    rng = random.Random(seed)
    records, expected = [], {}
    for seq in range(size):
        zone = rng.choice(ZONES)
        readings = []
        for i in range(rng.randint(1, 6) if gateway else 1):
            ts = int((NOW - rng.randint(0, 240)) * 1000)
            r = reading(f"{zone}-s{rng.randint(0, 9)}", zone, ts, vehicles=rng.randint(0, 40), speed=rng.uniform(0, 120))
            if rng.random() < 0.1:
                r["vehicle_count"] = -1  # never valid: rejected, not counted
            else:
                key = (zone, ts // 60_000 * 60)
                expected[key] = expected.get(key, 0) + 1
            readings.append(r)
            del i
        payload = {"readings": readings} if gateway else readings[0]
        records.append(kinesis_record(payload, seq + 1))
    return records, expected


deliveries = st.lists(
    st.tuples(
        st.integers(0, 1_000),  # how far before the checkpoint the delivery starts (re-delivery)
        st.integers(1, 12),  # how many records it carries beyond the checkpoint (extended / bisected)
        st.sampled_from([None, *ZONES]),  # a zone whose window write is throttled throughout this delivery
        st.booleans(),  # sensor-state writes throttled in this delivery
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), size=st.integers(1, 30), gateway=st.booleans(), pattern=deliveries)
def test_counts_are_exact_under_any_redelivery(seed: int, size: int, gateway: bool, pattern: list[tuple[int, int, str | None, bool]]) -> None:
    records, expected = stream(seed, size, gateway)
    faults = Faults()
    processor = make_processor(NOW, faults)
    checkpoint = 0
    steps = 0
    while checkpoint < len(records):
        assert steps < len(pattern) + 5, f"the shard is stuck at record {checkpoint}"  # a clean delivery must finish
        back, extra, throttled_zone, throttle_sensors = pattern[steps % len(pattern)]
        steps += 1
        if steps > len(pattern):  # the pattern is used up: deliver cleanly until done
            back, extra, throttled_zone, throttle_sensors = 0, len(records), None, False
        start = max(0, checkpoint - back)
        end = min(len(records), checkpoint + extra)
        if throttled_zone:
            faults.fail("add_window", times=1_000, match=lambda key, z=throttled_zone: key[0] == z)
        if throttle_sensors:
            faults.fail("put_sensor_page", times=1_000)
        response = processor.handle_kinesis(kinesis_event(records[start:end]))
        faults.rules.clear()
        failures = response["batchItemFailures"]
        if failures:
            seq = failures[0]["itemIdentifier"]
            failed_at = next(i for i in range(start, end) if records[i]["kinesis"]["sequenceNumber"] == seq)
            checkpoint = max(checkpoint, failed_at)
        else:
            checkpoint = max(checkpoint, end)
    assert processor.store.zone_window_counts() == expected
    assert processor.store.total_count() == sum(expected.values())
    assert live_counts(processor.store) == expected  # the live view's digests carry the same exact counts

    # and one more full re-delivery changes nothing
    before = dict(processor.store.zone_window_counts())
    alerts = len(processor.publisher.alerts)
    assert processor.handle_kinesis(kinesis_event(records)) == {"batchItemFailures": []}
    assert processor.store.zone_window_counts() == before
    assert live_counts(processor.store) == before
    assert len(processor.publisher.alerts) == alerts


def live_counts(store: Any) -> dict[tuple[str, int], int]:
    """Readings per (zone, window) as the live view reads them from the digests."""
    view = build_view(store.live_items(0), 60, 0.7, 0.5)
    return {(z.zone, w): f.count for z in view.zones.values() for w, f in z.windows.items() if f.count}


def test_a_failed_digest_write_fails_the_batch_from_its_group_and_the_redelivery_repairs_it() -> None:
    records, expected = stream(3, 12, gateway=True)
    faults = Faults()
    processor = make_processor(NOW, faults)
    faults.fail("put_live_window", times=1)
    response = processor.handle_kinesis(kinesis_event(records))
    assert response["batchItemFailures"], "a digest that could not be written must be delivered again"
    assert processor.store.zone_window_counts() == expected  # the window items are complete already
    assert live_counts(processor.store) != expected
    assert processor.handle_kinesis(kinesis_event(records)) == {"batchItemFailures": []}
    assert live_counts(processor.store) == expected
    assert processor.store.zone_window_counts() == expected


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.integers(1, 40), data=st.data())
def test_order_of_records_within_a_zone_does_not_change_the_result(seed: int, size: int, data: st.DataObject) -> None:
    records, _expected = stream(seed, size, gateway=True)
    permutation = data.draw(st.permutations(range(len(records))))
    shuffled = []
    for new_seq, old in enumerate(permutation):
        record = kinesis_record(None, new_seq + 1, raw=records[old]["kinesis"]["data"])
        shuffled.append(record)

    def totals(recs: list[dict[str, Any]]) -> dict[tuple[str, int], tuple[int, int, float, float]]:
        processor = make_processor(NOW)
        processor.handle_kinesis(kinesis_event(recs))
        out = {}
        for (zone, window, _shard), item in processor.store.windows.items():
            out[(zone, window)] = (item["count"], item["vehicle_count_sum"], round(item["speed_sum"], 6), round(item["congestion_sum"], 6))
        return out

    assert totals(records) == totals(shuffled)


def test_partial_failure_points_at_the_first_unprocessed_record_and_skips_nothing() -> None:
    records = [
        kinesis_record(reading("a", "north", int(NOW * 1000) - 1000), 1),
        kinesis_record(reading("b", "south", int(NOW * 1000) - 1000), 2),
        kinesis_record(reading("c", "north", int(NOW * 1000) - 900), 3),
        kinesis_record(reading("d", "south", int(NOW * 1000) - 900), 4),
    ]
    faults = Faults()
    processor = make_processor(NOW, faults)
    faults.fail("add_window", times=1, match=lambda key: key[0] == "south")
    response = processor.handle_kinesis(kinesis_event(records))
    assert response == {"batchItemFailures": [{"itemIdentifier": records[1]["kinesis"]["sequenceNumber"]}]}
    assert processor.store.total_count() == 2  # north is stored, south is not
    # Lambda re-delivers from the reported record; north's records 3 are already held and are skipped
    assert processor.handle_kinesis(kinesis_event(records[1:])) == {"batchItemFailures": []}
    assert processor.store.total_count() == 4
    assert processor.telemetry.batches[-1]["windows_already_held"] == 1


def test_a_batch_of_only_bad_records_succeeds_and_is_quarantined() -> None:
    processor = make_processor(NOW)
    records = [kinesis_record(None, 1, raw=b"{oops"), kinesis_record({"sensor_id": "x y"}, 2), kinesis_record(None, 3, raw="***")]
    assert processor.handle_kinesis(kinesis_event(records)) == {"batchItemFailures": []}
    assert [m["reason"] for m in processor.quarantine.messages] == ["bad_json", "sensor_id", "bad_base64"]
    assert all(m["sequence_number"] == r["kinesis"]["sequenceNumber"] for m, r in zip(processor.quarantine.messages, records))
    assert processor.store.total_count() == 0


def test_quarantine_outage_is_a_transient_failure_from_the_first_bad_record() -> None:
    faults = Faults()
    processor = make_processor(NOW, faults)
    good = kinesis_record(reading("a", "north", int(NOW * 1000)), 1)
    bad = kinesis_record(None, 2, raw=b"nope")
    faults.fail("quarantine")
    response = processor.handle_kinesis(kinesis_event([good, bad]))
    assert response["batchItemFailures"] == [{"itemIdentifier": bad["kinesis"]["sequenceNumber"]}]
    assert processor.handle_kinesis(kinesis_event([bad])) == {"batchItemFailures": []}
    assert processor.store.total_count() == 1
    assert [m["reason"] for m in processor.quarantine.messages] == ["bad_json"]


def test_parallel_batches_of_one_shard_keep_counts_exact_when_payload_zone_differs_from_the_partition_key() -> None:
    """With ParallelizationFactor > 1, records of one shard are split by partition key into concurrent batches that
    each keep their own order. A reading may name another zone than its record's partition key (the topic's zone):
    the items are per partition key, so the two batches cannot shadow each other's sequence numbers."""
    ts = int(NOW * 1000) - 1000
    by_key = {
        "north": [kinesis_record(reading("a", "north", ts), 1, partition_key="north"), kinesis_record(reading("b", "north", ts), 3, partition_key="north")],
        "south": [kinesis_record(reading("c", "north", ts), 2, partition_key="south"), kinesis_record(reading("d", "north", ts), 4, partition_key="south")],
    }
    processor = make_processor(NOW)
    # the two concurrent batches complete in the "wrong" order of sequence numbers
    assert processor.handle_kinesis(kinesis_event(by_key["south"])) == {"batchItemFailures": []}
    assert processor.handle_kinesis(kinesis_event(by_key["north"])) == {"batchItemFailures": []}
    assert processor.store.zone_window_counts() == {("north", ts // 60_000 * 60): 4}
    # the live view adds the two lanes of the shard up; neither overwrote the other in the shard's digest
    assert live_counts(processor.store) == {("north", ts // 60_000 * 60): 4}
    assert len(processor.store.live) == 1


class LockedStore(MemoryStore):
    """The in-memory store with a lock, for the processor's concurrent zone writers."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.threads: set[str] = set()

    def add_window(self, *args: Any) -> Any:
        with self.lock:
            self.threads.add(threading.current_thread().name)
            return super().add_window(*args)

    def get_zone_state(self, zone: str) -> Any:
        with self.lock:
            return super().get_zone_state(zone)

    def set_congestion(self, *args: Any) -> Any:
        with self.lock:
            return super().set_congestion(*args)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), size=st.integers(5, 40), gateway=st.booleans())
def test_concurrent_zone_writers_store_and_alert_what_one_writer_does(seed: int, size: int, gateway: bool) -> None:
    """WRITE_CONCURRENCY zones at a time give the same windows, digests and alerts as one zone after another, also
    when the batch is delivered again."""
    records, expected = stream(seed, size, gateway)
    results = []
    for concurrency in (1, 8):
        processor = make_processor(NOW, write_concurrency=concurrency)
        processor.store = processor.sensor_state.store = LockedStore()
        for _round in range(2):
            assert processor.handle_kinesis(kinesis_event(records)) == {"batchItemFailures": []}
        alerts = sorted((a.detail_type, a.detail["zone"], a.detail["window_start"]) for a in processor.publisher.alerts)
        results.append((processor.store.zone_window_counts(), live_counts(processor.store), alerts, processor.store.threads))
    (one, one_live, one_alerts, one_threads), (many, many_live, many_alerts, many_threads) = results
    assert one == many == expected and one_live == many_live and one_alerts == many_alerts
    assert one_threads == {"MainThread"}
    if len({zone for zone, _window in expected}) > 1:
        assert any(name.startswith("zone-writer") for name in many_threads)
