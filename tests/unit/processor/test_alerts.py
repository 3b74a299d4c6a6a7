"""Alert decisions (pure) and the processor's alert flow: hysteresis, MIN_READINGS, one alert per episode,
sensor silence and zone data drops from the scheduled sweep."""

from __future__ import annotations

import pytest
from processor_support import Faults, kinesis_event, kinesis_record, make_processor, reading
from stream_processor.alerts import (
    CLEAR,
    CONGESTED,
    DROPPED,
    NORMAL,
    ZoneState,
    congestion_decision,
    data_drop_decision,
    silent_sensors,
)
from stream_processor.live_read import build_view

NOW = 1_767_225_600  # a window boundary


def decide(state: ZoneState, index: float, count: int = 10, window: int = NOW):
    return congestion_decision(state, "z", window, count, index * count, NOW, 0.7, 0.5, 5)


@pytest.mark.parametrize(
    ("state", "index", "count", "expected"),
    [
        (CLEAR, 0.70, 10, "CongestionAlert"),  # at the threshold
        (CLEAR, 0.69, 10, None),
        (CLEAR, 0.95, 4, None),  # below MIN_READINGS
        (CLEAR, 0.95, 5, "CongestionAlert"),
        (CONGESTED, 0.95, 10, None),  # already in alert: one per episode
        (CONGESTED, 0.60, 10, None),  # between the thresholds: hysteresis holds
        (CONGESTED, 0.50, 10, "CongestionCleared"),  # at the clear threshold
        (CONGESTED, 0.10, 4, None),
        (CLEAR, 0.10, 10, None),
    ],
)
def test_congestion_hysteresis(state: str, index: float, count: int, expected: str | None) -> None:
    result = decide(ZoneState(state=state, window_start=NOW - 60), index, count)
    if expected is None:
        assert result is None
    else:
        new, alert = result
        assert alert.detail_type == expected
        assert new.state == (CONGESTED if expected == "CongestionAlert" else CLEAR)
        assert new.window_start == NOW
        assert set(alert.detail) >= {"zone", "window_start", "congestion_index", "threshold", "readings"}
        assert alert.detail["readings"] == count


def test_a_window_older_than_the_last_transition_changes_nothing() -> None:
    assert decide(ZoneState(state=CLEAR, window_start=NOW), 0.9, window=NOW - 60) is None
    assert decide(ZoneState(state=CONGESTED, window_start=NOW), 0.1, window=NOW - 60) is None


def congested(sensor: str, zone: str, ts_ms: int, seq: int, speed: float = 3.0):
    return kinesis_record(reading(sensor, zone, ts_ms, vehicles=20, speed=speed), seq)


def test_one_alert_per_episode_however_often_windows_are_processed() -> None:
    processor = make_processor(NOW + 30)
    ts = NOW * 1000 + 1000
    records = [congested(f"s{i}", "north", ts + i, i + 1) for i in range(8)]
    for _unused in range(3):
        processor.handle_kinesis(kinesis_event(records))
    processor.handle_kinesis(kinesis_event(records[:4]))
    more = [congested(f"s{i}", "north", ts + 100 + i, 20 + i) for i in range(8)]  # same window, still congested
    processor.handle_kinesis(kinesis_event(records + more))  # extended batch
    assert [a.detail_type for a in processor.publisher.alerts] == ["CongestionAlert"]
    assert processor.store.zone_states["north"].state == CONGESTED
    # the zone clears in the next window, and the episode closes once
    clear = [congested(f"s{i}", "north", ts + 60_000 + i, 40 + i, speed=60.0) for i in range(8)]
    processor.clock.now = NOW + 90
    for _unused in range(2):
        processor.handle_kinesis(kinesis_event(clear))
    assert [a.detail_type for a in processor.publisher.alerts] == ["CongestionAlert", "CongestionCleared"]
    # late data for the old, congested window does not reopen the episode
    late = [congested(f"s{i}", "north", ts + 500 + i, 60 + i) for i in range(8)]
    processor.handle_kinesis(kinesis_event(late))
    assert len(processor.publisher.alerts) == 2


def test_a_cold_container_reads_the_stored_state_and_does_not_repeat_the_alert() -> None:
    processor = make_processor(NOW + 30)
    ts = NOW * 1000 + 1000
    processor.handle_kinesis(kinesis_event([congested(f"s{i}", "north", ts + i, i + 1) for i in range(8)]))
    cold = make_processor(NOW + 30)
    cold.store, cold.publisher = processor.store, processor.publisher
    cold.handle_kinesis(kinesis_event([congested(f"s{i}", "north", ts + 50 + i, 30 + i) for i in range(8)]))
    assert len(processor.publisher.alerts) == 1


def test_an_alert_that_could_not_be_published_is_published_on_redelivery() -> None:
    faults = Faults()
    processor = make_processor(NOW + 30, faults)
    records = [congested(f"s{i}", "north", NOW * 1000 + i, i + 1) for i in range(8)]
    faults.fail("publish", times=1)
    response = processor.handle_kinesis(kinesis_event(records))
    assert response["batchItemFailures"] == [{"itemIdentifier": records[0]["kinesis"]["sequenceNumber"]}]
    assert processor.publisher.alerts == []
    assert processor.store.total_count() == 8  # the data is stored all the same
    assert processor.handle_kinesis(kinesis_event(records)) == {"batchItemFailures": []}
    assert [a.detail_type for a in processor.publisher.alerts] == ["CongestionAlert"]
    assert processor.store.total_count() == 8


def test_data_drop_and_recovery() -> None:
    state = ZoneState()
    # a steady zone: no event, the window is decided
    new, alert = data_drop_decision(state, "z", NOW, [100, 100, 100, 100, 100, 90], 9.0, 0.5, 5)
    assert alert is None and new.drop_window == NOW and new.drop_state == NORMAL
    # the same window again: nothing more
    assert data_drop_decision(new, "z", NOW, [100, 100, 100, 100, 100, 10], 1.0, 0.5, 5) is None
    # below half of the average: a drop
    new, alert = data_drop_decision(new, "z", NOW + 60, [100, 100, 100, 100, 90, 40], 4.0, 0.5, 5)
    assert alert.detail_type == "ZoneDataDrop" and new.drop_state == DROPPED
    assert alert.detail["baseline"] == 98.0 and alert.detail["readings"] == 40
    # still low (the rolling average falls, the stored baseline does not): no repeat
    new, alert = data_drop_decision(new, "z", NOW + 120, [100, 100, 100, 90, 40, 45], 4.5, 0.5, 5)
    assert alert is None and new.drop_state == DROPPED
    # back to half of the baseline it dropped from: recovered
    new, alert = data_drop_decision(new, "z", NOW + 180, [100, 100, 90, 40, 45, 95], 9.5, 0.5, 5)
    assert alert.detail_type == "ZoneDataRecovered" and new.drop_state == NORMAL


@pytest.mark.parametrize(
    "counts",
    [
        [0, 0, 0, 0, 100, 0],  # a new zone: not enough history
        [2, 3, 2, 3, 2, 0],  # a baseline below MIN_READINGS
        [100, 100],  # too few windows
    ],
)
def test_no_drop_without_a_baseline(counts: list[int]) -> None:
    result = data_drop_decision(ZoneState(), "z", NOW, counts, 0.0, 0.5, 5)
    assert result is None or result[1] is None


def test_silent_sensors() -> None:
    w = 60
    seen = {"fresh": NOW, "one-window": NOW - w, "two-windows": NOW - 2 * w, "gone": NOW - 3 * w, "reported": NOW - 5 * w}
    report = (NOW - 5 * w, NOW - 2 * w)  # last seen 5 windows ago, reported by the sweep of 2 windows ago
    assert silent_sensors(seen, {"reported": report}, NOW, w) == ["gone"]
    # a sensor that came back (seen in or after the report's window) and went silent again is a new episode
    assert silent_sensors({"reported": NOW - 2 * w}, {"reported": report}, NOW + w, w) == ["reported"]
    # a sensor page that caught up after the report, with a reading from before it, is the same silence
    assert silent_sensors({"reported": NOW - 4 * w}, {"reported": report}, NOW + w, w) == []


def test_sweep_reports_silence_once_and_data_drops() -> None:
    w = 60
    processor = make_processor(NOW)
    seq = 0

    def send(second_offset: int, sensors: list[str]) -> None:
        nonlocal seq
        records = []
        for sensor in sensors:
            seq += 1
            records.append(kinesis_record(reading(sensor, "north", (NOW + second_offset) * 1000, speed=50.0), seq))
        processor.clock.now = NOW + second_offset + 1
        assert processor.handle_kinesis(kinesis_event(records)) == {"batchItemFailures": []}

    sensors = [f"s{i}" for i in range(20)]
    for window in range(6):  # six steady windows, 20 readings each
        send(window * w + 5, sensors)
    send(6 * w + 5, sensors[:5])  # window 6: s5..s19 go quiet, the zone's readings drop to a quarter
    processor.clock.now = NOW + 7 * w + 15  # the sweep in window 7 decides window 6
    summary = processor.sweep()
    assert summary["alerts"] == {"ZoneDataDrop": 1}
    # the live view shows the drop from the sweep's digest, and the zone's figures from the window digests
    view = build_view(processor.store.live_items(0), w, 0.7, 0.5)
    assert (view.zones["north"].drop_state, view.zones["north"].silent_sensors) == ("DROPPED", 0)
    assert view.current_window == NOW + 6 * w and view.zones["north"].windows[NOW + 6 * w].count == 5
    send(7 * w + 5, sensors[:5])
    send(8 * w + 5, sensors[:5])
    processor.clock.now = NOW + 9 * w + 15  # s5..s19 last seen in window 5: nothing in 6, 7, 8
    summary = processor.sweep()
    assert summary["alerts"] == {"SensorSilent": 15}
    assert summary["sensors_silent"] == 15
    assert build_view(processor.store.live_items(0), w, 0.7, 0.5).zones["north"].silent_sensors == 15
    silent = processor.publisher.of_type("SensorSilent")
    assert sorted(d["sensor_id"] for d in silent) == sorted(sensors[5:])
    assert all(d["zone"] == "north" and d["last_window_start"] == NOW + 5 * w for d in silent)
    processor.clock.now += 5
    assert processor.sweep()["alerts"] == {}  # idempotent: no repeat
    # they come back: data recovers, and a later silence is a new episode
    send(9 * w + 20, sensors)
    processor.clock.now = NOW + 10 * w + 15
    assert processor.sweep()["alerts"] == {"ZoneDataRecovered": 1}
    assert build_view(processor.store.live_items(0), w, 0.7, 0.5).zones["north"].drop_state == "NORMAL"
    assert [a.detail_type for a in processor.publisher.alerts].count("SensorSilent") == 15


def test_sweep_failure_of_one_zone_raises_after_the_others() -> None:
    faults = Faults()
    processor = make_processor(NOW, faults)
    processor.store.zones.update({"a", "b"})
    faults.fail("get_zone_state", times=1, match=lambda zone: zone == "a")
    with pytest.raises(Exception, match="sweep failed for 1 zone"):
        processor.sweep()
    assert processor.telemetry.sweeps[-1]["zones"] == 2


def test_a_warm_container_with_a_stale_zone_state_does_not_repeat_the_alert() -> None:
    """Shards are not pinned to containers: B cached CLEAR, then A raised the alert; B must not raise it again."""
    a, b = make_processor(NOW + 30), make_processor(NOW + 30)
    b.store, b.publisher = a.store, a.publisher
    ts = NOW * 1000 + 1000
    b.handle_kinesis(kinesis_event([congested(f"s{i}", "north", ts + i, i + 1, speed=60.0) for i in range(8)]))
    assert b.zone_states["north"].state == CLEAR
    a.handle_kinesis(kinesis_event([congested(f"s{i}", "north", ts + 100 + i, 100 + i) for i in range(40)]))
    b.handle_kinesis(kinesis_event([congested(f"s{i}", "north", ts + 200 + i, 200 + i) for i in range(16)]))
    assert [x.detail_type for x in a.publisher.alerts] == ["CongestionAlert"]


def test_the_live_view_shows_a_zone_in_alert_and_cleared() -> None:
    processor = make_processor(NOW + 30)
    jam = [kinesis_record(reading(f"s{i}", "core", NOW * 1000 + i, speed=3.0, occupancy=0.95), i + 1) for i in range(6)]
    assert processor.handle_kinesis(kinesis_event(jam)) == {"batchItemFailures": []}
    view = build_view(processor.store.live_items(0), 60, 0.7, 0.5)
    assert view.zones["core"].state == "CONGESTED" and view.zones["core"].windows[NOW].congestion_index >= 0.7
    processor.clock.now = NOW + 90
    flow = [kinesis_record(reading(f"s{i}", "core", (NOW + 60) * 1000 + i, speed=70.0, occupancy=0.05), i + 7) for i in range(6)]
    assert processor.handle_kinesis(kinesis_event(flow)) == {"batchItemFailures": []}
    view = build_view(processor.store.live_items(0), 60, 0.7, 0.5)
    assert view.zones["core"].state == "CLEAR" and view.current_window == NOW + 60
    assert view.zones["core"].windows[NOW].count == 6 == view.zones["core"].windows[NOW + 60].count


def test_the_live_view_leaves_out_the_smoke_tests_probe_zones() -> None:
    processor = make_processor(NOW + 30)
    records = [kinesis_record(reading(f"s{i}", zone, NOW * 1000 + i), i + 1) for i, zone in enumerate(["smoke-20260101-z001", "core"] * 3)]
    assert processor.handle_kinesis(kinesis_event(records)) == {"batchItemFailures": []}
    processor.clock.now = NOW + 75
    processor.sweep()
    assert set(build_view(processor.store.live_items(0), 60, 0.7, 0.5).zones) == {"core"}
