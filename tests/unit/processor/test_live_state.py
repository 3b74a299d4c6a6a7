"""Live sensor state at city scale (stream_processor.live_state): pages written once per window at their turn,
bounded in size, never moving a sensor back in time; silence reported once per episode from them."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from processor_support import Faults, MemoryStore, item_size, kinesis_event, kinesis_record, make_processor, reading
from stream_processor.live_state import (
    PAGE_SPLIT_BYTES,
    SensorPage,
    SensorStateWriter,
    decode_entry,
    encode_entry,
    entry_ts,
    merge,
    page_index,
    phase_ms,
    turn,
)

NOW = 1_767_225_600  # a window boundary
W = 60
ITEM_LIMIT = 400 * 1024


def latest(zone: str, sensor: str, ts: int, vehicles: int = 5) -> tuple:
    return (ts, 0, zone, vehicles, 42.0, None, 0.3)


def stored_ts(store: MemoryStore) -> dict[str, int]:
    return {s: r.ts for s, r in store.sensor_states().items()}


def test_entries_round_trip_and_merge_keeps_the_newest() -> None:
    encoded = encode_entry(1767225601234, 12, 42.5, 0.25, 1 / 3)
    assert encoded == "1767225601234|12|42.5|0.25|0.333"
    assert decode_entry(encoded) == (1767225601234, 12, 42.5, 0.25, 0.333)
    assert decode_entry(encode_entry(5, 0, 0.0, None, 0.0)).occupancy is None
    entries = {"a": encode_entry(200, 1, 1.0, None, 0.1)}
    assert merge(entries, {"a": encode_entry(100, 9, 9.0, None, 0.9)}) is False  # older: kept out
    assert merge(entries, {"a": encode_entry(200, 9, 9.0, None, 0.9)}) is False  # same ts: the held one stays
    assert merge(entries, {"a": encode_entry(300, 9, 9.0, None, 0.9), "b": encode_entry(1, 1, 1.0, None, 0.1)}) is True
    assert {s: entry_ts(e) for s, e in entries.items()} == {"a": 300, "b": 1}


def test_pages_take_their_turn_once_per_window_spread_over_the_window() -> None:
    window_ms = W * 1000
    phases = [phase_ms(f"zone-{z}", 0, 0, window_ms) for z in range(500)]
    assert min(phases) >= window_ms // 10 and max(phases) < window_ms  # not in the window's first tenth
    tenths = [sum(1 for p in phases if k * window_ms // 10 <= p < (k + 1) * window_ms // 10) for k in range(1, 10)]
    assert min(tenths) >= 30, tenths  # 500 zones over nine tenths: about 55 each
    for phase in phases[:20]:  # the turn changes once per window, at the page's phase
        at = NOW * 1000 + phase
        assert turn(at - 1, phase, window_ms) + 1 == turn(at, phase, window_ms) == turn(at + window_ms - 1, phase, window_ms)


def test_a_reading_is_in_its_page_within_one_window_and_writes_follow_the_turns() -> None:
    store = MemoryStore()
    writer = SensorStateWriter(store, W)
    phase = phase_ms("north", 0, 0, W * 1000)
    writes = []
    for second in range(0, 4 * W, 5):  # a sensor at 1 Hz, one invocation every 5 s
        now_ms = (NOW + second) * 1000
        writer.add_batch({"s1": latest("north", "s1", now_ms - 500)}, now_ms)
        before = store.writes
        assert writer.flush(now_ms, 99) == set()
        if store.writes > before:
            writes.append(second)
        newest = stored_ts(store).get("s1")
        if second * 1000 >= phase + 5000:  # from the first turn on, the page lags by at most one window
            assert newest is not None and now_ms - newest <= W * 1000 + 5000
    assert len(writes) in (3, 4)  # once per window, at the page's turn
    assert all(b - a == W for a, b in zip(writes, writes[1:]))


def test_a_zone_of_20000_sensors_splits_into_pages_far_below_the_item_limit() -> None:
    store = MemoryStore()
    writer = SensorStateWriter(store, W)
    sensors = [f"city-district-07-intersection-{i:06d}-loop-a" for i in range(20_000)]  # 42-character ids
    for round_ in range(3):
        now_ms = (NOW + 10 + round_ * W) * 1000
        writer.add_batch({s: (now_ms - i % 997, 0, "dense", i % 50, 33.3, 0.456, 0.789) for i, s in enumerate(sensors)}, now_ms)
        assert writer.flush(now_ms + W * 1000, 99) == set()  # a window later every page has had its turn
    sizes = [item_size(item) for item in store.pages.values()]
    levels = {item["level"]["N"] for item in store.pages.values()}
    assert len(levels) == 1 and len(sizes) == 2 ** int(levels.pop()) >= 32
    assert max(sizes) <= 1.5 * PAGE_SPLIT_BYTES < ITEM_LIMIT / 8
    states = store.sensor_states()
    assert len(states) == 20_000 and all(states[s].ts == (NOW + 10 + 2 * W) * 1000 - i % 997 for i, s in enumerate(sensors))


def test_two_containers_and_a_stale_cache_never_move_a_sensor_back() -> None:
    store = MemoryStore()
    a, b = SensorStateWriter(store, W), SensorStateWriter(store, W)
    t = NOW * 1000
    a.add_batch({"s1": latest("z", "s1", t + 5000), "s2": latest("z", "s2", t + 1000)}, t)
    assert a.flush(t + 2 * W * 1000, 99) == set()
    b.add_batch({"s1": latest("z", "s1", t + 9000)}, t)  # b has not read the zone: it reads before writing
    assert b.flush(t + 2 * W * 1000, 99) == set()
    a.add_batch({"s1": latest("z", "s1", t + 7000), "s2": latest("z", "s2", t + 2000)}, t + 3 * W * 1000)  # stale cache
    assert a.flush(t + 5 * W * 1000, 99) == set()
    assert stored_ts(store) == {"s1": t + 9000, "s2": t + 2000}


def test_a_failed_page_write_keeps_the_readings_and_fails_this_batchs_records() -> None:
    faults = Faults()
    processor = make_processor(NOW + 30, faults)
    records = [kinesis_record(reading(f"s{i}", "north", NOW * 1000 + i), i + 1) for i in range(3)]
    processor.handle_kinesis(kinesis_event(records))
    faults.fail("put_sensor_page", times=1)
    processor.clock.now = NOW + 3 * W
    late = [kinesis_record(reading("s0", "north", (NOW + 2 * W) * 1000), 4)]
    response = processor.handle_kinesis(kinesis_event(late))
    assert response["batchItemFailures"] == [{"itemIdentifier": late[0]["kinesis"]["sequenceNumber"]}]
    assert "sensor state write failed" in processor.telemetry.errors
    assert processor.telemetry.batches[-1]["sensor_readings_pending"] == 3  # s0's newer reading, s1, s2
    assert processor.handle_kinesis(kinesis_event(late)) == {"batchItemFailures": []}  # the re-delivery writes it
    assert (processor.telemetry.batches[-1]["sensor_pages_written"], processor.telemetry.batches[-1]["sensor_readings_pending"]) == (1, 0)
    assert stored_ts(processor.store) == {"s0": (NOW + 2 * W) * 1000, "s1": NOW * 1000 + 1, "s2": NOW * 1000 + 2}


# -- properties ---------------------------------------------------------------------------------------------------

events = st.lists(
    st.tuples(
        st.integers(0, 1),  # which of two containers gets the invocation (shards are not pinned)
        st.integers(0, 40),  # seconds the clock moves before it
        st.integers(0, 30),  # readings in it (before re-deliveries)
        st.integers(0, 3),  # how many earlier records it delivers again
        st.booleans(),  # its page writes are throttled
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), pattern=events, split=st.sampled_from([400, 2000, PAGE_SPLIT_BYTES]))
def test_state_never_moves_back_and_ends_at_each_sensors_newest_reading(seed: int, pattern: list, split: int) -> None:
    """Late readings, re-deliveries, two containers with their own caches, throttled writes and page splits (small
    split sizes force them): a sensor's stored ts never decreases, and once every page had its turn it is the
    sensor's newest reading."""
    rng = random.Random(seed)
    faults = Faults()
    first = make_processor(NOW, faults)
    second = make_processor(NOW, faults)
    second.store = first.store
    for processor in (first, second):
        processor.sensor_state = SensorStateWriter(first.store, W, split_bytes=split)
        second.sensor_state.store = first.store
    store = first.store
    sensors = [f"s{i:02d}-{'x' * rng.randint(0, 20)}" for i in range(25)]
    sent: list[dict[str, Any]] = []
    newest: dict[str, int] = {}
    clock = NOW
    before: dict[str, int] = {}
    for container, advance, count, redeliver, throttled in pattern:
        clock += advance
        records = list(rng.sample(sent, min(redeliver, len(sent))))
        for _i in range(count):
            sensor = rng.choice(sensors)
            ts = (clock - rng.randint(0, 150)) * 1000 + rng.randint(0, 999)  # up to 2.5 windows late
            newest[sensor] = max(newest.get(sensor, 0), ts)
            record = kinesis_record(reading(sensor, "z" if rng.random() < 0.8 else "y", ts), len(sent) + 1)
            sent.append(record)
            records.append(record)
        if throttled:
            faults.fail("put_sensor_page", times=1_000)
        processor = (first, second)[container]
        processor.clock.now = clock
        if records:
            processor.handle_kinesis(kinesis_event(records))
        faults.rules.clear()
        now = stored_ts(store)
        assert all(now.get(s, 0) >= ts for s, ts in before.items()), "a sensor's state moved back in time"
        assert all(ts <= newest[s] for s, ts in now.items())
        before = now
    for processor in (first, second):  # every page gets its turn: nothing pending is left behind
        processor.sensor_state.since = {z: 0 for z in processor.sensor_state.pending}
        for zone in processor.sensor_state.zones.values():
            zone.last_turn.clear()
            zone.next_check_ms = 0
        assert processor.sensor_state.flush((clock + 3 * W) * 1000, 99) == set()
    assert stored_ts(store) == newest
    for item in store.pages.values():
        assert item_size(item) <= split + 200 or item["level"]["N"] == "16"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=st.lists(st.lists(st.booleans(), min_size=12, max_size=12), min_size=1, max_size=6), redeliver=st.booleans())
def test_silence_is_reported_exactly_once_per_episode(plan: list[list[bool]], redeliver: bool) -> None:
    """Sensors that report in some windows and not in others (plus one that always reports, so the zone has traffic);
    one invocation every 5 s, the sweep once per window (and once more, which must add nothing). A sensor is silent
    when it sent nothing in the two windows before the sweep's window; each silence is one SensorSilent."""
    processor = make_processor(NOW)
    seq = 0
    sent_in: dict[str, set[int]] = {f"p{i}": {k for k, on in enumerate(row) if on} for i, row in enumerate(plan)}
    sent_in["keeper"] = set(range(12))
    expected: set[tuple[str, int]] = set()
    for k in range(12):
        for second in range(0, W, 5):
            records = []
            for sensor, windows in sent_in.items():
                if k in windows:
                    seq += 1
                    records.append(kinesis_record(reading(sensor, "north", (NOW + k * W + second) * 1000), seq))
            processor.clock.now = NOW + k * W + second + 1
            if records:
                processor.handle_kinesis(kinesis_event(records))
                if redeliver:
                    processor.handle_kinesis(kinesis_event(records))
        processor.clock.now = NOW + (k + 1) * W + 10  # the sweep early in window k + 1
        processor.sweep()
        processor.sweep()
        current = k + 1
        for sensor, windows in sent_in.items():
            seen = [x for x in windows if x < current]
            if seen and max(seen) < current - 2:
                expected.add((sensor, NOW + max(seen) * W))
    silent = processor.publisher.of_type("SensorSilent")
    reported = [(d["sensor_id"], d["last_window_start"]) for d in silent]
    assert len(reported) == len(set(reported)), "a silence was reported twice"
    assert set(reported) == expected
    drops = [a.detail_type for a in processor.publisher.alerts if a.detail_type.startswith("ZoneData")]
    assert all(x != y for x, y in zip(drops, drops[1:])), f"a data-drop episode was reported twice: {drops}"


def test_the_sweep_forgets_sensors_silent_for_the_state_ttl() -> None:
    processor = make_processor(NOW + 30, state_ttl_days=1)
    records = [kinesis_record(reading(s, "north", NOW * 1000), i + 1) for i, s in enumerate(["old", "new"])]
    processor.handle_kinesis(kinesis_event(records))
    processor.clock.now = NOW + 3 * W + 15
    processor.handle_kinesis(kinesis_event([]))  # the page's turn
    processor.sweep()  # nothing in the two windows before NOW + 3 W
    assert {d["sensor_id"] for d in processor.publisher.of_type("SensorSilent")} == {"old", "new"}
    processor.clock.now = NOW + 86400 - 30
    processor.handle_kinesis(kinesis_event([kinesis_record(reading("new", "north", (NOW + 86400 - 31) * 1000), 3)]))
    processor.clock.now = NOW + 86400 + 2 * W
    processor.handle_kinesis(kinesis_event([kinesis_record(reading("new", "north", (NOW + 86400 + W) * 1000), 4)]))
    processor.sweep()
    assert set(stored_ts(processor.store)) == {"new"}
    assert processor.store.get_silence("north") == {"new": (NOW, NOW + 3 * W)}  # its old episode, kept while it is known


def test_page_index_is_stable_and_splits_by_the_next_bit() -> None:
    for sensor in (f"sensor-{i}" for i in range(200)):
        low = page_index(sensor, 3)
        assert page_index(sensor, 4) in (low, low + 8)
    assert SensorPage(2, 3).sk == "STATE#02#00003"
