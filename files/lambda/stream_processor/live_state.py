"""Live sensor state at city scale: each zone's sensors in a few pages, each page written once per window at a
moment of its own, no page near DynamoDB's item limit, no sensor's state ever moved back in time.

Why pages: one item per sensor written once per window is 50,000 writes a minute at the seed's scale, all in the
first seconds of each window (every sensor enters the new window at once), and a per-zone registry of the sensors
seen grows past 400 KB at about 5,000 sensors. Here a zone's sensors share pages; a page is rewritten (one PutItem,
billed by its size) at most once per window, at an offset within the window taken from a hash of the page, so the
writes of a window are spread over the whole window. Cost grows with the bytes of state (about 50 per sensor) per
window, not with writes per sensor.

Items (table ``TABLE_NAME``):

- sensor page: ``pk = ZONE#<zone>``, ``sk = STATE#<level, 2 digits>#<index, 5 digits>``; ``zone``, ``level``, ``v``
  (version: every write is conditional on the version it read), ``flushed_ms`` (the writer's clock at the write),
  ``expires_at``, and per sensor ``S#<sensor_id>`` =
  ``"<ts epoch ms>|<vehicle_count>|<avg_speed_kmh>|<occupancy, empty when not sent>|<congestion_index>"``.
  A sensor lives in page ``crc32(sensor_id) mod 2**level``. A zone starts at level 0 (one page); when a page would
  grow past ``PAGE_SPLIT_BYTES`` the zone moves up a level (each page splits in two by the next bit of the hash).
  Pages of an older level can stay for a moment during a split: readers take each sensor's newest entry over all
  pages of the zone.
- silence reported: ``pk = ZONE#<zone>``, ``sk = SILENT#<sensor_id>``; ``window_start`` (the last window the sensor
  was seen in when the sweep reported it: the silence episode), ``expires_at``. Written once per episode.

Writes and ordering: a writer merges what it has (keeping for each sensor the entry with the newest ``ts``) into the
page as it last read or wrote it and puts the page on condition that its version is unchanged; a failed condition
means someone else wrote the page, so it reads the page again and merges again. A re-delivered batch or a late
reading therefore never moves a sensor's ``ts`` back.

Freshness: a reading is in its page at the page's next turn, at most one window (plus the batching window) later.

Pure Python 3.9+, no AWS imports: the processor, the sweep, the tests and the benchmark share it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .ports import EdgeError

PAGE_PREFIX = "STATE#"
SILENT_PREFIX = "SILENT#"
ENTRY_PREFIX = "S#"
PAGE_SPLIT_BYTES = 32 * 1024  # a page splits before it passes this: 8 % of DynamoDB's 400 KB item limit
PAGE_OVERHEAD_BYTES = 120  # pk, sk, zone, level, v, flushed_ms, expires_at
MAX_LEVEL = 16  # 65,536 pages per zone; past it a page is written as it is, up to PAGE_LIMIT_BYTES
PAGE_LIMIT_BYTES = 350 * 1024  # never write a page near DynamoDB's 400 KB item limit
MAX_CACHED_ENTRIES = 250_000  # a container's page cache (about 50 MB); beyond it the cache starts again from the table
MAX_ROUNDS = 3  # conditional-write conflicts resolved per flush before the page waits for the next invocation


class SensorReading(NamedTuple):
    ts: int
    vehicle_count: int
    avg_speed_kmh: float
    occupancy: float | None
    congestion_index: float


@dataclass
class SensorPage:
    level: int
    index: int
    version: int = 0  # 0: not stored yet
    entries: dict[str, str] = field(default_factory=dict)  # sensor id -> encoded entry
    flushed_ms: int = 0

    @property
    def sk(self) -> str:
        return page_sk(self.level, self.index)


def page_sk(level: int, index: int) -> str:
    return f"{PAGE_PREFIX}{level:02d}#{index:05d}"


def parse_page_sk(sk: str) -> tuple[int, int]:
    level, index = sk[len(PAGE_PREFIX) :].split("#")
    return int(level), int(index)


def sensor_hash(sensor_id: str) -> int:
    return zlib.crc32(sensor_id.encode())


def page_index(sensor_id: str, level: int) -> int:
    return sensor_hash(sensor_id) & ((1 << level) - 1)


def _short(value: float) -> str:
    text = format(round(value, 3), "g")
    return "0" if text == "-0" else text


def encode_entry(ts: int, vehicle_count: int, avg_speed_kmh: float, occupancy: float | None, congestion: float) -> str:
    occ = "" if occupancy is None else _short(occupancy)
    return f"{ts}|{vehicle_count}|{_short(avg_speed_kmh)}|{occ}|{_short(congestion)}"


def entry_ts(encoded: str) -> int:
    return int(encoded[: encoded.index("|")])


def decode_entry(encoded: str) -> SensorReading:
    ts, vehicles, speed, occupancy, congestion = encoded.split("|")
    return SensorReading(int(ts), int(vehicles), float(speed), float(occupancy) if occupancy else None, float(congestion))


def merge(entries: dict[str, str], updates: dict[str, str]) -> bool:
    """Merge ``updates`` into ``entries``, keeping each sensor's newest entry; True when something changed."""
    changed = False
    for sensor_id, encoded in updates.items():
        held = entries.get(sensor_id)
        if held is None or entry_ts(encoded) > entry_ts(held):
            entries[sensor_id] = encoded
            changed = True
    return changed


def newest_entries(pages: list[SensorPage]) -> dict[str, str]:
    """Each sensor's newest entry over the pages (of any level)."""
    entries: dict[str, str] = {}
    for page in pages:
        merge(entries, page.entries)
    return entries


def page_bytes(entries: dict[str, str]) -> int:
    """The page item's size as DynamoDB counts it (attribute names plus values), near enough."""
    return PAGE_OVERHEAD_BYTES + sum(len(ENTRY_PREFIX) + len(s) + len(e) for s, e in entries.items())


def distribute(entries: dict[str, str], level: int) -> dict[int, dict[str, str]]:
    pages: dict[int, dict[str, str]] = {}
    for sensor_id, encoded in entries.items():
        pages.setdefault(page_index(sensor_id, level), {})[sensor_id] = encoded
    return pages


def level_for(entries: dict[str, str], level: int, split_bytes: int = PAGE_SPLIT_BYTES) -> int:
    """The lowest level at or above ``level`` (at most MAX_LEVEL) at which no page passes ``split_bytes``."""
    level = min(level, MAX_LEVEL)
    while level < MAX_LEVEL and any(page_bytes(e) > split_bytes for e in distribute(entries, level).values()):
        level += 1
    return level


def phase_ms(zone: str, level: int, index: int, window_ms: int) -> int:
    """The page's moment within each window, spread evenly over pages and over all of the window but its first
    tenth: there the batches that straddle the window boundary write two zone-window items per zone (one per
    window), and page writes on top would make those seconds the busiest of the window."""
    guard = window_ms // 10
    return guard + zlib.crc32(f"{zone}#{level}#{index}".encode()) % (window_ms - guard)


def turn(now_ms: int, phase: int, window_ms: int) -> int:
    """The page's turn number at ``now_ms``: it changes once per window, at the page's phase."""
    return (now_ms - phase) // window_ms


def page_item_attributes(zone: str, page: SensorPage, expires_at: int) -> dict[str, Any]:
    """The page as a DynamoDB item (low-level attribute values)."""
    item: dict[str, Any] = {ENTRY_PREFIX + s: {"S": e} for s, e in page.entries.items()}
    item.update({
        "pk": {"S": "ZONE#" + zone}, "sk": {"S": page.sk}, "zone": {"S": zone}, "level": {"N": str(page.level)},
        "v": {"N": str(page.version)}, "flushed_ms": {"N": str(page.flushed_ms)}, "expires_at": {"N": str(expires_at)},
    })
    return item


def page_from_item(item: dict[str, Any]) -> SensorPage:
    level, index = parse_page_sk(item["sk"]["S"])
    entries = {name[len(ENTRY_PREFIX) :]: value["S"] for name, value in item.items() if name.startswith(ENTRY_PREFIX)}
    return SensorPage(level, index, int(item.get("v", {}).get("N", "0")), entries, int(item.get("flushed_ms", {}).get("N", "0")))


def encode_reading(reading: tuple) -> str:
    """Encode a batch's newest reading of a sensor (``readings.SensorLatest``: ts, record, zone, vehicle_count,
    avg_speed_kmh, occupancy, congestion_index)."""
    return encode_entry(reading[0], reading[3], reading[4], reading[5], reading[6])


def merge_readings(entries: dict[str, str], readings: dict[str, tuple]) -> bool:
    """Merge newest readings (``SensorLatest``) into a page's entries, keeping each sensor's newest; True when
    something changed."""
    changed = False
    for sensor_id, reading in readings.items():
        held = entries.get(sensor_id)
        if held is None or reading[0] > entry_ts(held):
            entries[sensor_id] = encode_reading(reading)
            changed = True
    return changed


@dataclass
class _Zone:
    level: int
    pages: dict[int, SensorPage]  # index -> page at ``level``, as last read or written
    last_turn: dict[int, int] = field(default_factory=dict)  # index -> the page's turn when this container wrote it
    next_check_ms: int = 0  # no page with pending readings has its turn before this


class SensorStateWriter:
    """Keeps the sensors' newest readings between a container's invocations and writes each page at its turn.

    ``add_batch`` takes a batch's newest reading per sensor; ``flush`` (called once per invocation) writes every
    page whose turn has come since this container last wrote it and that has newer readings, and returns the sensors
    it could not write (they stay pending: the processor reports the records of the current batch among them as
    failed, so that Lambda delivers them again, and the next invocation tries again). The page cache is a hint: the
    conditional writes are the truth. A zone this container has not read yet is read (consistently) at its first
    page's turn, and all its pages with readings are written then.

    The pending readings are the one copy of a sensor's newest readings until their page's turn: their records are
    acknowledged to Kinesis already. A container that Lambda retires (or stops invoking) with readings pending
    leaves those sensors' pages up to one window behind until they report again. Making them durable before the
    acknowledgement would cost a write per batch and zone of every sensor's reading, the cost the pages remove.
    """

    def __init__(self, store: Any, window_seconds: int, split_bytes: int = PAGE_SPLIT_BYTES) -> None:
        self.store = store
        self.window_ms = window_seconds * 1000
        self.split_bytes = split_bytes
        self.zones: dict[str, _Zone] = {}
        self.pending: dict[str, dict[str, tuple]] = {}  # zone -> sensor -> newest reading not written yet
        self.since: dict[str, int] = {}  # zone not read yet -> when its first pending reading came
        self.cached_entries = 0
        self.pages_written = 0  # pages this container has written (the processor logs them per batch)
        self.errors: list[str] = []

    def add_batch(self, latest: dict[str, tuple], now_ms: int) -> None:
        """Take a batch's newest reading per sensor (``readings.SensorLatest``)."""
        pending = self.pending
        for sensor_id, reading in latest.items():
            zone = reading[2]
            held_zone = pending.get(zone)
            if held_zone is None:
                held_zone = pending[zone] = {}
                if zone not in self.zones:
                    self.since.setdefault(zone, now_ms)
            held = held_zone.get(sensor_id)
            if held is None or reading[0] > held[0]:
                held_zone[sensor_id] = reading

    def pending_count(self) -> int:
        return sum(len(p) for p in self.pending.values())

    def flush(self, now_ms: int, expires_at: int) -> set[str]:
        """Write the pages whose turn has come; the sensors whose pages could not be written."""
        self.errors = []
        failed: set[str] = set()
        for zone in list(self.pending):
            try:
                self._flush_zone(zone, now_ms, expires_at)
            except EdgeError as exc:
                self.errors.append(f"{zone}: {exc}")
                self._drop(zone)  # read the zone again, at the next invocation
                self.since[zone] = now_ms - self.window_ms
                failed.update(self.pending.get(zone, {}))
        if self.cached_entries > MAX_CACHED_ENTRIES:
            self.zones.clear()
            self.cached_entries = 0
            self.since.update((zone, now_ms) for zone in self.pending)
        return failed

    def _drop(self, zone: str) -> _Zone | None:
        """Forget the zone's cached pages (it is read again before its next write)."""
        known = self.zones.pop(zone, None)
        if known is not None:
            self.cached_entries -= sum(len(p.entries) for p in known.pages.values())
        return known

    def _turn(self, zone: str, level: int, index: int, at_ms: int) -> int:
        return turn(at_ms, phase_ms(zone, level, index, self.window_ms), self.window_ms)

    def _group(self, zone: str, level: int) -> dict[int, dict[str, tuple]]:
        pending = self.pending.get(zone, {})
        if level == 0:
            return {0: dict(pending)} if pending else {}
        groups: dict[int, dict[str, tuple]] = {}
        for sensor_id, reading in pending.items():
            groups.setdefault(page_index(sensor_id, level), {})[sensor_id] = reading
        return groups

    def _flush_zone(self, zone: str, now_ms: int, expires_at: int) -> None:
        known = self.zones.get(zone)
        if known is None:
            if self._turn(zone, 0, 0, now_ms) <= self._turn(zone, 0, 0, self.since.setdefault(zone, now_ms)):
                return  # a zone not read yet takes its first page's turn
            self.since.pop(zone, None)
            if not self._load(zone, now_ms, expires_at):
                return  # the zone was rebuilt (and everything pending written) while it was read
            self._flush_all(zone, now_ms, expires_at)
            return
        if now_ms < known.next_check_ms:
            return
        level = known.level
        next_check = None
        for index, readings in sorted(self._group(zone, level).items()):
            current = self._turn(zone, level, index, now_ms)
            last = self.zones[zone].last_turn.get(index)
            if last is None or current > last:
                if not self._flush_page(zone, index, readings, now_ms, expires_at):
                    if zone in self.zones:  # read again at another level: its pages with readings are due now
                        self._flush_all(zone, now_ms, expires_at)
                    return
                continue
            due = (last + 1) * self.window_ms + phase_ms(zone, level, index, self.window_ms)
            next_check = due if next_check is None else min(next_check, due)
        self.zones[zone].next_check_ms = next_check if next_check is not None else 0

    def _flush_all(self, zone: str, now_ms: int, expires_at: int) -> None:
        """Write every page of the zone that has readings (the zone has just been read)."""
        known = self.zones[zone]
        for index, readings in sorted(self._group(zone, known.level).items()):
            if not self._flush_page(zone, index, readings, now_ms, expires_at):
                return  # read again (another writer is busy with the zone): the rest waits for the next invocation

    def _written(self, zone: str, readings: dict[str, tuple]) -> None:
        pending = self.pending.get(zone, {})
        for sensor_id, reading in readings.items():
            if pending.get(sensor_id) is reading:
                del pending[sensor_id]
        if not pending:
            self.pending.pop(zone, None)

    def _load(self, zone: str, now_ms: int, expires_at: int) -> bool:
        """Read the zone's pages (consistently); rebuild it when pages of two levels are stored. False when the
        rebuild wrote everything pending for the zone."""
        pages = self.store.load_sensor_pages(zone)
        levels = {p.level for p in pages}
        if len(levels) > 1:
            self._rebuild(zone, pages, max(levels), now_ms, expires_at)
            return zone in self.pending
        self.zones[zone] = _Zone(levels.pop() if levels else 0, {p.index: p for p in pages})
        self.cached_entries += sum(len(p.entries) for p in pages)
        return True

    def _flush_page(self, zone: str, index: int, readings: dict[str, tuple], now_ms: int, expires_at: int) -> bool:
        """Write the page with the readings merged in; False when the zone had to be read again (the readings stay
        pending for the pages of what was read)."""
        for _round in range(MAX_ROUNDS):
            known = self.zones[zone]
            page = known.pages.get(index) or SensorPage(known.level, index)
            entries = dict(page.entries)
            if not merge_readings(entries, readings):
                self._written(zone, readings)
                return True
            size = page_bytes(entries)
            if size > self.split_bytes and known.level < MAX_LEVEL:
                self._rebuild(zone, self.store.load_sensor_pages(zone), known.level + 1, now_ms, expires_at)
                return False
            if size > PAGE_LIMIT_BYTES:  # only sensor ids whose hashes share their low 16 bits get here
                raise EdgeError(f"sensor page {zone}/{page.sk}: {size} bytes at the highest level ({MAX_LEVEL}); not written")
            new = SensorPage(known.level, index, page.version + 1, entries, now_ms)
            if self.store.put_sensor_page(zone, new, page.version, expires_at):
                self.pages_written += 1
                known.pages[index] = new
                known.last_turn[index] = self._turn(zone, known.level, index, now_ms)
                self.cached_entries += len(entries) - len(page.entries)
                self._written(zone, readings)
                return True
            # Someone else wrote the page (another container, the sweep, a split): read the zone again, merge again.
            self._drop(zone)
            if not self._load(zone, now_ms, expires_at) or self.zones[zone].level != known.level:
                return False
            # the same level: the turns this container has taken stand (the pages are written once per turn)
            self.zones[zone].last_turn.update(known.last_turn)
        raise EdgeError(f"sensor page {zone}/{index}: still contended after {MAX_ROUNDS} rounds")

    def _rebuild(self, zone: str, pages: list[SensorPage], min_level: int, now_ms: int, expires_at: int) -> None:
        """Write the zone's sensors (stored and pending) at the level its pages need, then delete the pages of other
        levels. Used when a page would pass ``split_bytes`` and to finish a split that another writer began."""
        self._drop(zone)
        pending = dict(self.pending.get(zone, {}))
        entries = newest_entries(pages)
        merge_readings(entries, pending)
        level = level_for(entries, max([min_level] + [p.level for p in pages]), self.split_bytes)
        stored = {(p.level, p.index): p for p in pages}
        written: dict[int, SensorPage] = {}
        for index, page_entries in sorted(distribute(entries, level).items()):
            old = stored.get((level, index))
            if old is not None and old.entries == page_entries:
                written[index] = old
                continue
            version = old.version if old is not None else 0
            new = SensorPage(level, index, version + 1, page_entries, now_ms)
            if not self.store.put_sensor_page(zone, new, version, expires_at):
                raise EdgeError(f"sensor pages of {zone}: another writer changed them during a split")
            self.pages_written += 1
            written[index] = new
        for page in pages:
            if page.level != level and not self.store.delete_sensor_page(zone, page, page.version):
                raise EdgeError(f"sensor pages of {zone}: another writer changed level {page.level} during a split")
        self.zones[zone] = _Zone(level, written, {i: self._turn(zone, level, i, now_ms) for i in written})
        self.cached_entries += len(entries)
        self._written(zone, pending)


def forget(store: Any, zone: str, pages: list[SensorPage], sensor_ids: set[str], before_ms: int, now_ms: int, expires_at: int) -> set[str]:
    """Remove the sensors' entries whose newest reading is older than ``before_ms`` from the zone's pages (each page
    conditionally on its version: a page written meanwhile is left for the next sweep). Returns the sensors that are
    gone from every page that held them."""
    kept: set[str] = set()
    held: set[str] = set()
    for page in pages:
        gone = {s for s in sensor_ids if s in page.entries and entry_ts(page.entries[s]) < before_ms}
        if not gone:
            continue
        held |= gone
        entries = {s: e for s, e in page.entries.items() if s not in gone}
        if entries:
            done = store.put_sensor_page(zone, SensorPage(page.level, page.index, page.version + 1, entries, now_ms), page.version, expires_at)
        else:
            done = store.delete_sensor_page(zone, page, page.version)
        if not done:
            kept |= gone
    return held - kept
