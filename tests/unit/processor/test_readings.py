"""Field rules of the telemetry contract, decoding, and the derived congestion index (the pure core)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from processor_support import columnar, kinesis_record, reading
from stream_processor.readings import REASONS, Caches, derive_congestion, parse_batch, parse_rfc3339

NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
OK = reading("s-1", "z1", NOW_MS - 1000, vehicles=12, speed=42.5)


def parse(records: list[dict[str, Any]], now_ms: int = NOW_MS, window: int = 60):
    return parse_batch(records, now_ms, window, 60.0, Caches())


def outcome(payload: Any = None, raw: Any = None) -> str:
    batch = parse([kinesis_record(payload, 1, raw=raw)])
    if batch.accepted == 1 and not batch.rejects:
        return "ok"
    assert batch.accepted == 0 and len(batch.rejects) == 1
    return batch.rejects[0].reason


FIELD_CASES = [
    # (field, value or DELETE, expected outcome)
    ("sensor_id", "a", "ok"),
    ("sensor_id", "A" * 64, "ok"),
    ("sensor_id", "gw-01.north:7_x", "ok"),
    ("sensor_id", "", "sensor_id"),
    ("sensor_id", "A" * 65, "sensor_id"),
    ("sensor_id", "has space", "sensor_id"),
    ("sensor_id", "slash/no", "sensor_id"),
    ("sensor_id", 42, "sensor_id"),
    ("sensor_id", None, "sensor_id"),
    ("sensor_id", ["s"], "sensor_id"),
    ("sensor_id", "DELETE", "sensor_id"),
    ("zone", "Z", "ok"),
    ("zone", "z" * 32, "ok"),
    ("zone", "z" * 33, "zone"),
    ("zone", "", "zone"),
    ("zone", "north.1", "zone"),
    ("zone", "north:1", "zone"),
    ("zone", {"a": 1}, "zone"),
    ("zone", "DELETE", "zone"),
    ("ts", 0, "ok"),
    ("ts", NOW_MS + 300_000, "ok"),
    ("ts", NOW_MS + 300_001, "ts_future"),
    ("ts", -1, "ts"),
    ("ts", 1.5e12, "ts"),
    ("ts", True, "ts"),
    ("ts", "2025-12-31T23:59:59Z", "ok"),
    ("ts", "2025-12-31T23:59:59.123+01:00", "ok"),
    ("ts", "2026-01-01T00:05:01Z", "ts_future"),
    ("ts", "2025-02-30T00:00:00Z", "ts"),
    ("ts", "2025-12-31 23:59:59", "ts"),
    ("ts", "yesterday", "ts"),
    ("ts", None, "ts"),
    ("ts", "DELETE", "ts"),
    ("vehicle_count", 0, "ok"),
    ("vehicle_count", 10_000, "ok"),
    ("vehicle_count", 10_001, "vehicle_count"),
    ("vehicle_count", -1, "vehicle_count"),
    ("vehicle_count", 3.0, "vehicle_count"),
    ("vehicle_count", "3", "vehicle_count"),
    ("vehicle_count", False, "vehicle_count"),
    ("vehicle_count", "DELETE", "vehicle_count"),
    ("avg_speed_kmh", 0, "ok"),
    ("avg_speed_kmh", 300, "ok"),
    ("avg_speed_kmh", 300.01, "avg_speed_kmh"),
    ("avg_speed_kmh", -0.1, "avg_speed_kmh"),
    ("avg_speed_kmh", "50", "avg_speed_kmh"),
    ("avg_speed_kmh", True, "avg_speed_kmh"),
    ("avg_speed_kmh", "DELETE", "avg_speed_kmh"),
    ("occupancy", 0, "ok"),
    ("occupancy", 1, "ok"),
    ("occupancy", 0.5, "ok"),
    ("occupancy", None, "ok"),
    ("occupancy", 1.01, "occupancy"),
    ("occupancy", -0.01, "occupancy"),
    ("occupancy", "0.5", "occupancy"),
    ("congestion_index", 0.0, "ok"),
    ("congestion_index", 1, "ok"),
    ("congestion_index", 1.5, "congestion_index"),
    ("congestion_index", -1, "congestion_index"),
    ("congestion_index", [0.5], "congestion_index"),
]


@pytest.mark.parametrize(("field", "value", "expected"), FIELD_CASES, ids=[f"{f}={v!r}"[:60] for f, v, _expected in FIELD_CASES])
def test_field_rules(field: str, value: Any, expected: str) -> None:
    payload = dict(OK)
    if value == "DELETE":
        del payload[field]
    else:
        payload[field] = value
    assert outcome(payload) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{not json", "bad_json"),
        (b"\xff\xfe\x00", "bad_json"),
        (b"[1, 2]", "not_object"),
        (b'"text"', "not_object"),
        (b"null", "not_object"),
        (b'{"readings": []}', "bad_batch"),
        (b'{"readings": {"sensor_id": "x"}}', "bad_batch"),
        (json.dumps({"readings": [OK] * 501}).encode(), "bad_batch"),
        ("%%%not base64%%%=", "bad_base64"),
        ("abc", "bad_base64"),
        ("é", "bad_base64"),
    ],
)
def test_undecodable_records(raw: Any, expected: str) -> None:
    assert outcome(raw=raw) == expected


def test_record_without_data_is_rejected_not_raised() -> None:
    record = kinesis_record(OK, 1)
    del record["kinesis"]["data"]
    batch = parse([record])
    assert [r.reason for r in batch.rejects] == ["bad_record"]


def test_event_without_sequence_number_is_a_malformed_event() -> None:
    record = kinesis_record(OK, 1)
    del record["kinesis"]["sequenceNumber"]
    with pytest.raises(ValueError, match="sequenceNumber"):
        parse([record])


def test_every_reason_has_a_rule_that_names_its_field() -> None:
    for reason, message in REASONS.items():
        assert message, reason
    for field in ("sensor_id", "zone", "ts", "vehicle_count", "avg_speed_kmh", "occupancy", "congestion_index"):
        assert REASONS[field].startswith(field + ":")


def test_gateway_batch_accepts_good_readings_and_rejects_bad_ones_individually() -> None:
    readings = [reading(f"s{i}", "z1", NOW_MS - i) for i in range(10)]
    readings[3]["vehicle_count"] = -5
    readings[7] = "not an object"
    readings.append(reading("s99", "z2", NOW_MS))  # another zone in a one-zone batch
    batch = parse([kinesis_record({"readings": readings}, 1)])
    assert batch.accepted == 8
    assert sorted(r.reason for r in batch.rejects) == ["not_object", "vehicle_count", "zone_mismatch"]
    assert sum(e[2] for entries in batch.groups.values() for e in entries) == 8


COLUMNS_OK = columnar([reading(f"s{i}", "z1", NOW_MS - i) for i in range(3)], "z1")


def _columns_with(**changes: Any) -> dict[str, Any]:
    message = json.loads(json.dumps(COLUMNS_OK))
    for name, value in changes.items():
        if value == "DELETE":
            del message["columns"][name]
        else:
            message["columns"][name] = value
    return message


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"zone": "z1", "columns": []}, "bad_batch"),
        ({"zone": "z1", "columns": "s1"}, "bad_batch"),
        ({"zone": "z1", "columns": {}}, "bad_batch"),
        (_columns_with(sensor_id=[]), "bad_batch"),
        (_columns_with(sensor_id="s1"), "bad_batch"),
        (_columns_with(sensor_id="DELETE"), "bad_batch"),
        (_columns_with(ts=[NOW_MS, NOW_MS]), "bad_batch"),  # a column shorter than sensor_id
        (_columns_with(occupancy=[0.1, 0.2, 0.3, 0.4]), "bad_batch"),  # an optional column longer than sensor_id
        (_columns_with(congestion_index=0.5), "bad_batch"),  # a column that is not a list
        (columnar([reading(f"s{i}", "z1", NOW_MS) for i in range(501)], "z1"), "bad_batch"),
    ],
    ids=["list", "string", "empty", "no-sensors", "sensors-not-list", "sensors-missing", "short-ts", "long-occupancy", "scalar-column", "501"],
)
def test_columnar_message_that_breaks_the_batch_rule_is_rejected_whole(message: dict[str, Any], expected: str) -> None:
    assert outcome(message) == expected


def test_columnar_message_is_read_row_by_row_with_the_field_rules() -> None:
    rows = [reading(f"s{i}", "z1", NOW_MS - i, vehicles=i, speed=10.0 + i) for i in range(8)]
    rows[1]["occupancy"] = 0.5
    rows[2]["congestion_index"] = 0.9
    rows[3]["vehicle_count"] = -1  # vehicle_count
    rows[4]["ts"] = None  # ts: a null element in a required column
    rows[5]["sensor_id"] = "bad id"  # sensor_id
    rows[6]["occupancy"] = 1.5  # occupancy
    message = columnar(rows, "z1")
    message["columns"]["lane"] = [1] * 8  # a column of another name is not a reading field: ignored
    message["sensor_id"] = "top-level"  # top-level fields beside columns (but zone) are not a reading
    batch = parse([kinesis_record(message, 1)])
    assert sorted(r.reason for r in batch.rejects) == ["occupancy", "sensor_id", "ts", "vehicle_count"]
    assert batch.accepted == 4 and sorted(batch.latest) == ["s0", "s1", "s2", "s7"]
    # The same readings sent one by one or as a readings batch give the same outcome, field for field.
    for same in ({"readings": [dict(r, zone="z1") for r in rows]}, None):
        records = [kinesis_record(same, 1)] if same else [kinesis_record(r, n) for n, r in enumerate(rows, start=1)]
        other = parse(records)
        assert sorted(r.reason for r in other.rejects) == sorted(r.reason for r in batch.rejects)
        assert {s: v[:1] + v[2:] for s, v in other.latest.items()} == {s: v[:1] + v[2:] for s, v in batch.latest.items()}
    assert batch.latest["s1"][5] == 0.5 and batch.latest["s0"][5] is None  # occupancy sent / not sent
    assert batch.latest["s2"][6] == 0.9


@pytest.mark.parametrize(("zone", "expected"), [("z" * 33, "zone"), (None, "zone"), (7, "zone"), ("north-1", "ok")])
def test_columnar_message_zone_applies_to_every_row(zone: Any, expected: str) -> None:
    message = columnar([reading("s1", "ignored", NOW_MS)], zone)
    assert outcome(message) == expected


def test_readings_take_precedence_over_columns_in_one_message() -> None:
    message = dict(COLUMNS_OK, readings=[reading("r1", "z2", NOW_MS)])
    batch = parse([kinesis_record(message, 1)])
    assert batch.accepted == 1 and list(batch.latest) == ["r1"]


def test_aggregates_by_zone_window_and_shard() -> None:
    records = [
        kinesis_record(reading("a", "z1", NOW_MS - 61_000, vehicles=1, speed=10.0, congestion_index=0.2), 1),
        kinesis_record(reading("b", "z1", NOW_MS - 1_000, vehicles=2, speed=20.0, congestion_index=0.4), 2),
        kinesis_record(reading("c", "z1", NOW_MS - 2_000, vehicles=3, speed=30.0, congestion_index=0.6), 3),
        kinesis_record(reading("d", "z2", NOW_MS - 2_000, vehicles=4, speed=40.0, congestion_index=0.8), 4, shard="shardId-000000000001"),
    ]
    batch = parse(records)
    window = (NOW_MS - 1_000) // 60_000 * 60
    summed = {key: [sum(e[i] for e in entries) for i in (2, 3, 4, 5)] for key, entries in batch.groups.items()}
    assert summed == {
        ("z1", window - 60, "shardId-000000000000#zone"): [1, 1, 10.0, 0.2],
        ("z1", window, "shardId-000000000000#zone"): [2, 5, 50.0, pytest.approx(1.0)],
        ("z2", window, "shardId-000000000001#zone"): [1, 4, 40.0, 0.8],
    }
    assert batch.latest["b"][0] == NOW_MS - 1_000


def test_newest_reading_per_sensor_wins_whatever_the_order() -> None:
    records = [kinesis_record(reading("a", "z1", NOW_MS - 5_000, vehicles=5), 1), kinesis_record(reading("a", "z1", NOW_MS - 9_000, vehicles=9), 2)]
    assert parse(records).latest["a"][3] == 5


def test_rejects_carry_a_short_excerpt() -> None:
    huge = dict(OK, vehicle_count=-1, padding="x" * 10_000)
    batch = parse([kinesis_record(huge, 1)])
    assert batch.rejects[0].reason == "vehicle_count"
    assert len(batch.rejects[0].excerpt) <= 210


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("2026-01-01T00:00:00.5Z", NOW_MS + 500),
        ("2026-01-01T00:00:00.123456789Z", NOW_MS + 123),
        ("2026-01-01T01:00:00+01:00", NOW_MS),
        ("2025-12-31T23:00:00-01:00", NOW_MS),
        ("2026-01-01t00:00:00z", NOW_MS),
        ("2016-12-31T23:59:60Z", 1_483_228_799_000),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000),
        ("2023-02-29T00:00:00Z", None),
        ("2026-13-01T00:00:00Z", None),
        ("2026-01-01T24:00:00Z", None),
        ("2026-01-01T00:00:00", None),
        ("2026-01-01T00:00:00+0100", None),
        ("1969-12-31T23:59:59Z", None),
        ("", None),
    ],
)
def test_rfc3339(text: str, expected: int | None) -> None:
    assert parse_rfc3339(text) == expected


@pytest.mark.parametrize(
    ("vehicles", "speed", "occupancy", "expected"),
    [
        (10, 60.0, None, 0.0),  # free flow
        (10, 90.0, None, 0.0),  # faster than free flow is not negative
        (10, 15.0, None, 0.75),
        (10, 0.0, None, 1.0),  # standing traffic
        (10, 30.0, 0.9, 0.7),  # half speed, high occupancy
        (0, 0.0, None, 0.0),  # empty road reports speed 0: not congested
        (0, 0.0, 0.1, 0.1),
    ],
)
def test_derived_congestion(vehicles: int, speed: float, occupancy: float | None, expected: float) -> None:
    assert derive_congestion(vehicles, speed, occupancy, 60.0) == pytest.approx(expected)
    payload = reading("s", "z", NOW_MS, vehicles=vehicles, speed=speed)
    if occupancy is not None:
        payload["occupancy"] = occupancy
    batch = parse([kinesis_record(payload, 1)])
    assert batch.latest["s"][6] == pytest.approx(expected)  # the hot loop derives the same value


def test_sent_congestion_index_is_kept() -> None:
    batch = parse([kinesis_record(dict(OK, congestion_index=0.33), 1)])
    assert batch.latest["s-1"][6] == 0.33


def test_standard_library_parser_gives_the_same_result() -> None:
    records = [kinesis_record({"readings": [reading(f"s{i}", "z", NOW_MS - i, speed=float(i)) for i in range(50)]}, 1), kinesis_record(None, 2, raw=b"{")]
    fast = parse(records)
    slow = parse_batch(records, NOW_MS, 60, 60.0, Caches(), loads=json.loads)
    assert (fast.accepted, [r.reason for r in fast.rejects], fast.latest) == (slow.accepted, [r.reason for r in slow.rejects], slow.latest)


def test_base64_is_standard_alphabet() -> None:
    data = base64.b64encode(json.dumps(OK).encode()).decode()
    assert outcome(raw=data) == "ok"


def test_base64_check_without_strict_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python 3.9 and 3.10 have no strict_mode; the alphabet check then comes from a pattern."""
    import binascii

    from stream_processor import readings

    real = binascii.a2b_base64

    def old_a2b(data: str, **kwargs: Any) -> bytes:
        if kwargs:
            raise TypeError("a2b_base64() takes no keyword arguments")
        return real(data)

    monkeypatch.setattr(readings.binascii, "a2b_base64", old_a2b)
    assert outcome(raw="***") == "bad_base64"
    assert outcome(raw=base64.b64encode(json.dumps(OK).encode()).decode()) == "ok"


def test_deeply_nested_payloads_are_rejected_not_raised() -> None:
    deep = "[" * 1000 + "]" * 1000
    for raw in (f'{{"readings": [{deep}]}}', f'{{"sensor_id": "bad id", "zone": "z", "extra": {deep}}}', deep):
        batch = parse([kinesis_record(None, 1, raw=raw.encode())])
        assert batch.accepted == 0 and len(batch.rejects) == 1
        assert len(batch.rejects[0].excerpt) <= 210
