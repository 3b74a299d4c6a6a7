"""Decode, validate and aggregate a batch of Kinesis records: the hot path, pure Python over plain data.

One pass over the records does everything that is per reading: base64 and JSON decoding, the field rules of the
telemetry contract, the congestion index when the sensor does not send one, the running sums per zone and window,
and the newest reading per sensor. Everything after that (stores, alerts) is per zone, window or sensor, not per
reading. Readings of one record are accepted or rejected one by one, and the outcome depends only on the record
and on ``now_ms`` (the future-timestamp rule), so a re-delivered record yields the same readings.
"""

from __future__ import annotations

import binascii
import re
from datetime import date
from typing import Any, Callable, Optional

try:  # the compiled parser ships in the zip; the standard library is the fallback
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - exercised only without orjson
    from json import loads as _loads

MAX_BATCH_READINGS = 500
MAX_EXCERPT = 200

REASONS: dict[str, str] = {
    "bad_record": "record has no kinesis.data string",
    "bad_base64": "kinesis.data is not valid base64",
    "bad_json": "payload is not valid UTF-8 JSON",
    "not_object": "payload or reading is not a JSON object",
    "bad_batch": (
        "readings: must be a list of 1 to 500 objects; columns: must be an object whose sensor_id is a list of 1 to 500"
        " and whose other reading fields are lists of the same length"
    ),
    "sensor_id": "sensor_id: required string of 1-64 characters [A-Za-z0-9_.:-]",
    "zone": "zone: required string of 1-32 characters [A-Za-z0-9_-]",
    "zone_mismatch": "zone: a gateway batch carries one zone and this reading's zone differs from the first one's",
    "ts": "ts: required integer epoch milliseconds >= 0, or an RFC 3339 date-time",
    "ts_future": "ts: more than 5 minutes in the future",
    "vehicle_count": "vehicle_count: required integer 0..10000",
    "avg_speed_kmh": "avg_speed_kmh: required number 0..300",
    "occupancy": "occupancy: optional number 0..1",
    "congestion_index": "congestion_index: optional number 0..1",
}

_SENSOR_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_ZONE_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))"
)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_BASE64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_VALID_CACHE_LIMIT = 200_000
# The reading fields a columnar gateway message may carry as columns (zone is once per message, not a column).
COLUMN_FIELDS = ("sensor_id", "ts", "vehicle_count", "avg_speed_kmh", "occupancy", "congestion_index")


def parse_rfc3339(value: str) -> int | None:
    """Epoch milliseconds of an RFC 3339 date-time, or None when it is not one."""
    m = _RFC3339_RE.fullmatch(value)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, sign, off_h, off_m = m.groups()
    try:
        days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None
    h, mi, s = int(hour), int(minute), int(second)
    if h > 23 or mi > 59 or s > 60:
        return None
    s = min(s, 59)  # a leap second counts as the last second of its minute
    seconds = days * 86400 + h * 3600 + mi * 60 + s
    if sign is not None:
        oh, om = int(off_h), int(off_m)
        if oh > 23 or om > 59:
            return None
        offset = oh * 3600 + om * 60
        seconds += -offset if sign == "+" else offset
    millis = int((frac or "0")[:3].ljust(3, "0"))
    result = seconds * 1000 + millis
    return result if result >= 0 else None


def derive_congestion(vehicle_count: int, speed: float, occupancy: float | None, free_flow: float) -> float:
    """Congestion index 0..1 from speed and occupancy, for sensors that do not send one.

    Slow traffic counts only when there is traffic: an empty road reports speed 0 and is not congested.
    """
    if vehicle_count == 0:
        return occupancy if occupancy is not None else 0.0
    slow = max(1.0 - speed / free_flow, 0.0)
    if occupancy is None:
        return slow
    return 0.5 * slow + 0.5 * occupancy


class Caches:
    """Identifiers already checked against their pattern; they recur every second, so checking once pays."""

    __slots__ = ("sensors", "zones")

    def __init__(self) -> None:
        self.sensors: set = set()
        self.zones: set = set()

    def trim(self) -> None:
        if len(self.sensors) > _VALID_CACHE_LIMIT:
            self.sensors.clear()
        if len(self.zones) > _VALID_CACHE_LIMIT:
            self.zones.clear()


class Reject:
    """A record or reading that can never be valid."""

    __slots__ = ("excerpt", "index", "reason")

    def __init__(self, index: int, reason: str, excerpt: str) -> None:
        self.index = index
        self.reason = reason
        self.excerpt = excerpt

    @property
    def message(self) -> str:
        return REASONS[self.reason]


def _excerpt(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value[: MAX_EXCERPT + 1]).decode("utf-8", "replace")
    else:
        try:
            text = repr(value)
        except RecursionError:  # deeply nested JSON: its repr would overflow the stack
            text = f"<{type(value).__name__} nested too deeply to show>"
    return text if len(text) <= MAX_EXCERPT else text[:MAX_EXCERPT] + "..."


# Group entry layout: [sequence number (int), record index, readings, vehicle_count sum, speed sum, congestion sum]
SEQ, REC, COUNT, VEHICLES, SPEED, CONGESTION = range(6)
GroupKey = tuple[str, int, str]  # zone, window_start (epoch s), "<shard id>#<partition key>"
SensorLatest = tuple[int, int, str, int, float, Optional[float], float]  # ts, record, zone, count, speed, occ, ci


class ParsedBatch:
    """What one pass over a batch yields."""

    __slots__ = ("accepted", "groups", "latest", "newest_arrival", "rejects", "sequence_numbers")

    def __init__(self) -> None:
        # (zone, window_start, shard) -> entries in record order, one per record that has readings there
        self.groups: dict[GroupKey, list[list]] = {}
        # sensor_id -> newest accepted reading
        self.latest: dict[str, SensorLatest] = {}
        self.rejects: list[Reject] = []
        self.accepted = 0
        self.sequence_numbers: list[str] = []
        self.newest_arrival = 0.0

    def rejected_by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for reject in self.rejects:
            counts[reject.reason] = counts.get(reject.reason, 0) + 1
        return counts


def _strict_base64(data: str) -> bytes:
    """Decode standard base64, refusing characters outside the alphabet (a2b_base64 alone skips them)."""
    try:
        return binascii.a2b_base64(data, strict_mode=True)  # novermin - Python 3.11+; older ones take the fallback
    except TypeError:  # Python 3.9 and 3.10: no strict_mode
        if _BASE64_RE.fullmatch(data) is None:
            raise binascii.Error("characters outside the base64 alphabet") from None
        return binascii.a2b_base64(data)


def _stream_of(record: dict, kinesis: dict) -> str:
    """``<shard id>#<partition key>``: the unit within which Kinesis (and the mapping, whatever its
    ParallelizationFactor) keeps records in sequence order. A zone-window item per stream unit keeps the
    absorbed-prefix property even when a reading's zone differs from the record's partition key."""
    shard = "shard"
    event_id = record.get("eventID")
    if isinstance(event_id, str):
        head, sep, _rest = event_id.partition(":")
        if sep:
            shard = head
    key = kinesis.get("partitionKey")
    return f"{shard}#{key}" if isinstance(key, str) else shard


def parse_batch(  # noqa: PLR0912, PLR0915 - one flat loop: a call per reading would cost a third of the throughput
    records: list[dict],
    now_ms: int,
    window_seconds: int,
    free_flow_kmh: float,
    caches: Caches,
    max_future_ms: int = 300_000,
    loads: Callable[[Any], Any] = _loads,
) -> ParsedBatch:
    """Decode, check and aggregate Kinesis event records (the ``Records`` list of a Kinesis event).

    A record without a ``kinesis.sequenceNumber`` is a malformed event, not bad data, and raises ValueError.
    """
    # pylint: disable=unidiomatic-typecheck
    # ``type(x) is int`` on purpose: it refuses bool (JSON true is not a count) and is the cheapest test per field.
    batch = ParsedBatch()
    groups = batch.groups
    latest = batch.latest
    rejects = batch.rejects
    seqs = batch.sequence_numbers
    ok_sensors = caches.sensors
    ok_zones = caches.zones
    sensor_match = _SENSOR_RE.fullmatch
    zone_match = _ZONE_RE.fullmatch
    window_ms = window_seconds * 1000
    max_ts = now_ms + max_future_ms
    a2b = _strict_base64
    accepted = 0
    newest_arrival = 0.0

    for index, record in enumerate(records):
        kinesis = record.get("kinesis") if type(record) is dict else None
        if type(kinesis) is not dict or type(kinesis.get("sequenceNumber")) is not str:
            raise ValueError(f"Records[{index}]: not a Kinesis event record (no kinesis.sequenceNumber)")
        seq_text = kinesis["sequenceNumber"]
        seqs.append(seq_text)
        seq = int(seq_text)
        arrival = kinesis.get("approximateArrivalTimestamp")
        if type(arrival) is float and arrival > newest_arrival:
            newest_arrival = arrival
        data = kinesis.get("data")
        if type(data) is not str:
            rejects.append(Reject(index, "bad_record", _excerpt(data)))
            continue
        try:
            raw = a2b(data)
        except (binascii.Error, ValueError):
            rejects.append(Reject(index, "bad_base64", _excerpt(data)))
            continue
        try:
            payload = loads(raw)
        except ValueError:  # orjson.JSONDecodeError and json.JSONDecodeError (and UnicodeDecodeError) subclass it
            rejects.append(Reject(index, "bad_json", _excerpt(raw)))
            continue
        if type(payload) is not dict:
            rejects.append(Reject(index, "not_object", _excerpt(raw)))
            continue
        readings = payload.get("readings")
        if readings is None:
            columns = payload.get("columns")
            readings = (payload,) if columns is None else _from_columns(columns, payload.get("zone"))
            if readings is None:
                rejects.append(Reject(index, "bad_batch", _excerpt(raw)))
                continue
        elif type(readings) is not list or not readings or len(readings) > MAX_BATCH_READINGS:
            rejects.append(Reject(index, "bad_batch", _excerpt(raw)))
            continue
        shard = _stream_of(record, kinesis)
        batch_zone = None
        last_zone = None
        last_ws = -1
        entry: list = []

        for r in readings:
            if type(r) is not dict:
                rejects.append(Reject(index, "not_object", _excerpt(r)))
                continue
            sid = r.get("sensor_id")
            if type(sid) is not str or (sid not in ok_sensors and not _remember(sid, sensor_match, ok_sensors)):
                rejects.append(Reject(index, "sensor_id", _excerpt(r)))
                continue
            zone = r.get("zone")
            if type(zone) is not str or (zone not in ok_zones and not _remember(zone, zone_match, ok_zones)):
                rejects.append(Reject(index, "zone", _excerpt(r)))
                continue
            if batch_zone is None:
                batch_zone = zone
            elif zone != batch_zone:
                rejects.append(Reject(index, "zone_mismatch", _excerpt(r)))
                continue
            ts = r.get("ts")
            if type(ts) is int:
                if ts < 0:
                    rejects.append(Reject(index, "ts", _excerpt(r)))
                    continue
            elif type(ts) is str:
                ts = parse_rfc3339(ts)
                if ts is None:
                    rejects.append(Reject(index, "ts", _excerpt(r)))
                    continue
            else:
                rejects.append(Reject(index, "ts", _excerpt(r)))
                continue
            if ts > max_ts:
                rejects.append(Reject(index, "ts_future", _excerpt(r)))
                continue
            vc = r.get("vehicle_count")
            if type(vc) is not int or not 0 <= vc <= 10000:
                rejects.append(Reject(index, "vehicle_count", _excerpt(r)))
                continue
            sp = r.get("avg_speed_kmh")
            t = type(sp)
            if (t is not float and t is not int) or not 0 <= sp <= 300:  # NaN fails the range test
                rejects.append(Reject(index, "avg_speed_kmh", _excerpt(r)))
                continue
            occ = r.get("occupancy")
            if occ is not None:
                t = type(occ)
                if (t is not float and t is not int) or not 0 <= occ <= 1:
                    rejects.append(Reject(index, "occupancy", _excerpt(r)))
                    continue
            ci = r.get("congestion_index")
            if ci is None:
                if vc == 0:
                    ci = occ if occ is not None else 0.0
                else:
                    ci = 1.0 - sp / free_flow_kmh
                    if ci < 0.0:  # noqa: PLR1730 - an inline test is cheaper than max() in the per-reading loop
                        ci = 0.0
                    if occ is not None:
                        ci = 0.5 * ci + 0.5 * occ
            else:
                t = type(ci)
                if (t is not float and t is not int) or not 0 <= ci <= 1:
                    rejects.append(Reject(index, "congestion_index", _excerpt(r)))
                    continue

            accepted += 1
            ws = ts // window_ms * window_seconds
            if ws != last_ws or zone != last_zone:
                key = (zone, ws, shard)
                entries = groups.get(key)
                if entries is None:
                    entry = [seq, index, 0, 0, 0.0, 0.0]
                    groups[key] = [entry]
                else:
                    entry = entries[-1]
                    if entry[REC] != index:
                        entry = [seq, index, 0, 0, 0.0, 0.0]
                        entries.append(entry)
                last_ws = ws
                last_zone = zone
            entry[2] += 1
            entry[3] += vc
            entry[4] += sp
            entry[5] += ci
            prev = latest.get(sid)
            if prev is None or ts >= prev[0]:
                latest[sid] = (ts, index, zone, vc, sp, occ, ci)

    batch.accepted = accepted
    batch.newest_arrival = newest_arrival
    caches.trim()
    return batch


def _from_columns(columns: Any, zone: Any) -> list | None:
    """The readings of a columnar gateway message, one dict per row, or None when its columns break the batch rule.

    Row i is element i of every column, with the message's zone; a null element, like an absent column, is a field the
    sensor did not send (each reading is then judged by the field rules as any other).
    """
    # pylint: disable=unidiomatic-typecheck
    if type(columns) is not dict:
        return None
    sensors = columns.get("sensor_id")
    if type(sensors) is not list or not sensors or len(sensors) > MAX_BATCH_READINGS:
        return None
    size = len(sensors)
    present = []
    for name in COLUMN_FIELDS:
        values = columns.get(name)
        if values is None:
            continue
        if type(values) is not list or len(values) != size:
            return None
        present.append((name, values))
    rows = [{"zone": zone} for _row in range(size)]
    for name, values in present:
        for row, value in zip(rows, values):
            if value is not None:
                row[name] = value
    return rows


def _remember(value: str, match: Callable[[str], Any], cache: set) -> bool:
    if match(value) is None:
        return False
    cache.add(value)
    return True
