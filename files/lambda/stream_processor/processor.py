"""The processor: Kinesis batches in, zone windows, sensor state and alerts out; and the scheduled sweep."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

from .aggregate import Contribution, contribution
from .alerts import (
    CLEAR,
    CONGESTED,
    DROPPED,
    Alert,
    ZoneState,
    congestion_decision,
    data_drop_decision,
    silence_alert,
    silent_sensors,
)
from .config import Settings
from .live_model import WindowFigures, encode_sweep, encode_window
from .live_state import SensorStateWriter, entry_ts, forget, newest_entries
from .observability import Telemetry
from .ports import EdgeError, Publisher, Quarantine, Store, WindowResult
from .readings import Caches, ParsedBatch, Reject, parse_batch

MAX_REDELIVERY_ROUNDS = 3
# What one zone-window group came to: (zone, window start, shard), its first record, the item's totals (None when the
# write failed), the alert raised, the error.
ZoneOutcome = tuple[tuple[str, int, str], int, Optional[WindowResult], Optional[Alert], Optional[str]]


class Processor:
    """Long-lived per Lambda container: its caches (checked identifiers, zone states, sensor pages) save reads and
    writes, and its sensor-state writer keeps the newest readings until their page's turn; the table's conditional
    writes are the truth."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        publisher: Publisher,
        quarantine: Quarantine | None,
        telemetry: Telemetry,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.publisher = publisher
        self.quarantine = quarantine
        self.telemetry = telemetry
        self.clock = clock
        self.caches = Caches()
        self.zone_states: dict[str, ZoneState] = {}
        self.known_zones: set[str] = set()
        self.sensor_state = SensorStateWriter(store, settings.window_seconds)
        self._pool: ThreadPoolExecutor | None = None  # the zone writers, started with the first batch of many zones

    # -- Kinesis ------------------------------------------------------------------------------------------------
    def handle_kinesis(self, event: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
        started = self.clock()
        now_s = int(started)
        cfg = self.settings
        records = event.get("Records") or []
        self.telemetry.start()
        pages_before = self.sensor_state.pages_written
        batch = parse_batch(
            records, int(started * 1000), cfg.window_seconds, cfg.free_flow_speed_kmh, self.caches, cfg.max_future_ms
        )
        failed: list[int] = []  # record indexes that must be delivered again
        expires_at = now_s + cfg.ttl_seconds

        quarantined = self._quarantine(batch, records, failed)
        self._register_zones(batch, failed)
        live: dict[tuple[int, str], dict[str, tuple[WindowResult, int]]] = {}
        zone_index, alerts_by_type, applied, skipped = self._windows(batch, expires_at, now_s, failed, live)
        self._live_digests(live, expires_at, failed)
        self._sensor_states(batch, expires_at, failed)

        failed_from = min(failed) if failed else None
        response: list[dict[str, str]] = []
        if failed_from is not None:
            response.append({"itemIdentifier": batch.sequence_numbers[failed_from]})
        latency_ms = (self.clock() - batch.newest_arrival) * 1000 if batch.newest_arrival else None
        summary = {
            "records": len(records),
            "accepted": batch.accepted,
            "rejected": len(batch.rejects),
            "quarantined": quarantined,
            "windows_written": applied,
            "windows_already_held": skipped,
            "sensor_pages_written": self.sensor_state.pages_written - pages_before,
            "sensor_readings_pending": self.sensor_state.pending_count(),
            "failed_from": response[0]["itemIdentifier"] if response else None,
            "duration_ms": round((self.clock() - started) * 1000, 3),
        }
        self.telemetry.batch(summary, batch.rejected_by_reason(), zone_index, alerts_by_type, latency_ms)
        return {"batchItemFailures": response}

    def _quarantine(self, batch: ParsedBatch, records: list[dict], failed: list[int]) -> int:
        if not batch.rejects:
            return 0
        messages = []
        for reject in batch.rejects:
            seq = batch.sequence_numbers[reject.index]
            self.telemetry.rejected(seq, reject.reason, reject.message, reject.excerpt)
            messages.append(_quarantine_message(reject, records[reject.index], seq))
        if self.quarantine is None:
            return 0
        try:
            self.quarantine.send(messages)
        except EdgeError as exc:
            self.telemetry.error("quarantine failed", error=str(exc))
            failed.append(min(r.index for r in batch.rejects))
            return 0
        return len(messages)

    def _register_zones(self, batch: ParsedBatch, failed: list[int]) -> None:
        new = {key[0] for key in batch.groups} - self.known_zones
        if not new:
            return
        try:
            self.store.add_zones(new)
        except EdgeError as exc:
            self.telemetry.error("zone registration failed", error=str(exc))
            failed.append(min(entries[0][1] for key, entries in batch.groups.items() if key[0] in new))
            return
        self.known_zones |= new

    def _windows(
        self,
        batch: ParsedBatch,
        expires_at: int,
        now_s: int,
        failed: list[int],
        live: dict[tuple[int, str], dict[str, tuple[WindowResult, int]]],
    ) -> tuple[dict[str, float], dict[str, int], int, int]:
        """Add each zone-window group to its item and decide its alert; ``live`` gets each item's totals after the
        call (and the group's first record) for the live view's digests.

        Zones are independent: up to ``write_concurrency`` zones are written at the same time (boto3 clients are
        thread-safe), each zone's groups in window order so that its alert state moves forward in time. What the
        zones report is merged here, in one thread."""
        by_zone: dict[str, list[tuple[tuple[str, int, str], list[list]]]] = {}
        for key, entries in sorted(batch.groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            by_zone.setdefault(key[0], []).append((key, entries))
        workers = min(self.settings.write_concurrency, len(by_zone))
        if workers > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.settings.write_concurrency, thread_name_prefix="zone-writer")
            outcomes = [o for zone_outcomes in self._pool.map(lambda g: self._zone_windows(g, expires_at, now_s), by_zone.values())
                        for o in zone_outcomes]
        else:
            outcomes = [o for groups in by_zone.values() for o in self._zone_windows(groups, expires_at, now_s)]
        zone_index: dict[str, float] = {}
        alerts_by_type: dict[str, int] = {}
        applied = skipped = 0
        for (zone, window_start, shard), first, result, alert, error in outcomes:
            if result is None:
                self.telemetry.error("zone window write failed", zone=zone, window_start=window_start, error=error)
                failed.append(first)
                continue
            if result.applied:
                applied += 1
            else:
                skipped += 1
            # One digest per window and Kinesis shard; its entry per zone and lane (``<shard id>#<partition key>``,
            # the unit whose records stay in order): ``zone``, or ``zone#<partition key>`` for a zone read from
            # another key's records, so that two lanes never overwrite each other's totals.
            shard_id, _sep, key = shard.partition("#")
            live.setdefault((window_start, shard_id), {})[zone if key == zone else f"{zone}#{key}"] = (result, first)
            if result.count:
                zone_index[zone] = result.congestion_sum / result.count
            if error is not None:
                # The window is stored; delivering the records again re-evaluates it from the stored totals.
                self.telemetry.error("alert failed", zone=zone, window_start=window_start, error=error)
                failed.append(first)
            elif alert is not None:
                alerts_by_type[alert.detail_type] = alerts_by_type.get(alert.detail_type, 0) + 1
        return zone_index, alerts_by_type, applied, skipped

    def _zone_windows(
        self, groups: list[tuple[tuple[str, int, str], list[list]]], expires_at: int, now_s: int
    ) -> list[ZoneOutcome]:
        """One zone's groups, oldest window first: (key, first record, the item's totals or None when the write
        failed, the alert raised, the error)."""
        outcomes: list[ZoneOutcome] = []
        for (zone, window_start, shard), entries in groups:
            first = entries[0][1]
            try:
                result = self._add_window(zone, window_start, shard, entries, expires_at, now_s)
            except EdgeError as exc:
                outcomes.append(((zone, window_start, shard), first, None, None, str(exc)))
                continue
            try:
                alert = self._congestion(zone, window_start, result, now_s)
            except EdgeError as exc:
                outcomes.append(((zone, window_start, shard), first, result, None, str(exc)))
                continue
            outcomes.append(((zone, window_start, shard), first, result, alert, None))
        return outcomes

    def _add_window(
        self, zone: str, window_start: int, shard: str, entries: list[list], expires_at: int, now_s: int
    ) -> WindowResult:
        part: Contribution | None = contribution(entries)
        assert part is not None  # a group exists only with readings
        result = self.store.add_window(zone, window_start, shard, part, expires_at, now_s)
        for _round in range(MAX_REDELIVERY_ROUNDS):
            if result.applied:
                return result
            # A re-delivered or extended batch: keep only what the item does not hold yet.
            part = contribution(entries, above=result.last_seq)
            if part is None:
                return result
            result = self.store.add_window(zone, window_start, shard, part, expires_at, now_s)
        if not result.applied:
            raise EdgeError(f"zone window {zone}/{window_start}/{shard}: still contended after retries")
        return result

    def _zone_state(self, zone: str) -> ZoneState:
        state = self.zone_states.get(zone)
        if state is None:
            state = self.zone_states[zone] = self.store.get_zone_state(zone)
        return state

    def _congestion(self, zone: str, window_start: int, result: WindowResult, now_s: int) -> Alert | None:
        cfg = self.settings

        def decide(state: ZoneState) -> tuple[ZoneState, Alert] | None:
            return congestion_decision(
                state, zone, window_start, result.count, result.congestion_sum, now_s,
                cfg.congestion_threshold, cfg.congestion_clear_threshold, cfg.min_readings,
            )

        if decide(self._zone_state(zone)) is None:
            return None
        # A transition is rare: decide it again on the stored state (consistent read), since this container's copy
        # may be stale when another container processed the zone since (shards are not pinned to containers).
        state = self.zone_states[zone] = self.store.get_zone_state(zone)
        decision = decide(state)
        if decision is None:
            return None
        new, alert = decision
        # Publish first, then store: a failure in between repeats the alert at worst, it never loses it.
        self.publisher.publish([alert])
        if self.store.set_congestion(zone, new, state, now_s):
            self.zone_states[zone] = new
        else:  # someone else moved the state (a resharded zone): take theirs
            self.zone_states[zone] = self.store.get_zone_state(zone)
        return alert

    def _live_digests(
        self, live: dict[tuple[int, str], dict[str, tuple[WindowResult, int]]], expires_at: int, failed: list[int]
    ) -> None:
        """Copy each zone's window totals (absolute, as the item holds them after this batch: a re-delivery writes the
        same figures) and its alert state into the live view's digest of the window and shard. One update per window
        and shard touched (per 150 zones), so the view stays current within one batch at a few writes per batch."""
        now_ms = int(self.clock() * 1000)
        for (window_start, shard), zones in live.items():
            encoded = {}
            for entry, (result, _first) in zones.items():
                figures = WindowFigures(result.count, result.vehicle_sum, result.speed_sum, result.congestion_sum)
                state = self.zone_states.get(entry.split("#", 1)[0])
                encoded[entry] = encode_window(figures, state.state if state is not None else CLEAR)
            try:
                self.store.put_live_window(window_start, shard, encoded, expires_at, now_ms)
            except EdgeError as exc:
                # The window items hold the figures; delivering the records again writes the digest again.
                self.telemetry.error("live view digest write failed", window_start=window_start, error=str(exc))
                failed.append(min(first for _result, first in zones.values()))

    def _sensor_states(self, batch: ParsedBatch, expires_at: int, failed: list[int]) -> None:
        """Hand the batch's newest reading per sensor to the sensor-state writer and write the pages whose turn has
        come (``live_state``). A page that cannot be written fails the records of this batch that it holds, so that
        Lambda delivers them again; its readings stay pending for the next invocation either way."""
        writer = self.sensor_state
        now_ms = int(self.clock() * 1000)
        writer.add_batch(batch.latest, now_ms)
        not_written = writer.flush(now_ms, expires_at)
        for error in writer.errors:
            self.telemetry.error("sensor state write failed", error=error)
        for sensor_id in not_written:
            latest = batch.latest.get(sensor_id)
            if latest is not None:
                failed.append(latest[1])

    def _live_sweep(self, window_start: int, zones: dict[str, str], expires_at: int, errors: list[str]) -> None:
        """The live view's sweep digest: each zone's data-drop state and silent sensors, in one item."""
        try:
            self.store.put_live_sweep(window_start, zones, expires_at, int(self.clock() * 1000))
        except EdgeError as exc:
            errors.append(f"live view: {exc}")
            self.telemetry.error("live view sweep digest write failed", error=str(exc))

    def _sweep_sensors(self, zone: str, current: int, now_s: int, alerts_by_type: dict[str, int]) -> int:
        """Report the zone's sensors silent for two windows (once per silence), forget those silent for the state's
        TTL; the number of sensors silent now."""
        cfg = self.settings
        w = cfg.window_seconds
        pages = self.store.load_sensor_pages(zone)
        seen = {s: entry_ts(e) // cfg.window_ms * w for s, e in newest_entries(pages).items()}
        reported = self.store.get_silence(zone)
        silent = silent_sensors(seen, reported, current, w)
        if silent:
            self.publisher.publish([silence_alert(zone, s, seen[s], current, w) for s in silent])
            self.store.mark_silent(zone, {s: (seen[s], current) for s in silent}, now_s + cfg.ttl_seconds)
            alerts_by_type["SensorSilent"] = alerts_by_type.get("SensorSilent", 0) + len(silent)
        forget_before = now_s - cfg.ttl_seconds
        gone = {s for s, last in seen.items() if last < forget_before}
        if gone:
            forgotten = forget(self.store, zone, pages, gone, forget_before * 1000, now_s * 1000, now_s + cfg.ttl_seconds)
            self.store.forget_silence(zone, sorted(forgotten & set(reported)))
        return sum(1 for last in seen.values() if last < current - 2 * w)

    # -- scheduled sweep ----------------------------------------------------------------------------------------
    def sweep(self) -> dict[str, Any]:
        """Silence and data-drop detection over every known zone; idempotent, run once per window."""
        cfg = self.settings
        now_s = int(self.clock())
        w = cfg.window_seconds
        current = (now_s - cfg.sweep_grace_seconds) // w * w
        last_complete = current - w
        first = last_complete - cfg.drop_baseline_windows * w
        alerts_by_type: dict[str, int] = {}
        zones = self.store.list_zones()
        zones_in_alert = zones_dropped = sensors_silent = 0
        errors: list[str] = []
        live: dict[str, str] = {}
        for zone in zones:
            try:
                state = self.store.get_zone_state(zone)
                totals = self.store.window_totals(zone, first, last_complete)
                counts = [totals.get(ws, (0, 0.0))[0] for ws in range(first, last_complete + w, w)]
                decision = data_drop_decision(
                    state, zone, last_complete, counts, totals.get(last_complete, (0, 0.0))[1], cfg.drop_ratio,
                    cfg.min_readings,
                )
                if decision is not None:
                    new, alert = decision
                    if alert is not None:
                        self.publisher.publish([alert])
                        alerts_by_type[alert.detail_type] = alerts_by_type.get(alert.detail_type, 0) + 1
                    if self.store.set_drop(zone, new, state, now_s):
                        state = new
                zones_in_alert += state.state == CONGESTED
                zones_dropped += state.drop_state == DROPPED

                silent_now = self._sweep_sensors(zone, current, now_s, alerts_by_type)
                sensors_silent += silent_now
                live[zone] = encode_sweep(state.drop_state, silent_now)
            except EdgeError as exc:
                errors.append(f"{zone}: {exc}")
                self.telemetry.error("sweep of zone failed", zone=zone, error=str(exc))
        self._live_sweep(last_complete, live, now_s + cfg.ttl_seconds, errors)
        summary = {
            "zones": len(zones),
            "window_start": last_complete,
            "zones_in_alert": zones_in_alert,
            "zones_dropped": zones_dropped,
            "sensors_silent": sensors_silent,
            "errors": len(errors),
        }
        self.telemetry.sweep(summary, alerts_by_type)
        if errors:
            # The schedule's asynchronous invocation retries; every decision above is idempotent.
            raise EdgeError(f"sweep failed for {len(errors)} zone(s): {'; '.join(errors[:3])}")
        return dict(summary, alerts=alerts_by_type)


def _quarantine_message(reject: Reject, record: dict, sequence_number: str) -> dict[str, Any]:
    kinesis = record.get("kinesis", {}) if isinstance(record, dict) else {}
    data = kinesis.get("data") if isinstance(kinesis, dict) else None
    message: dict[str, Any] = {
        "reason": reject.reason,
        "rule": reject.message,
        "sequence_number": sequence_number,
        "event_id": record.get("eventID") if isinstance(record, dict) else None,
        "event_source_arn": record.get("eventSourceARN") if isinstance(record, dict) else None,
        "partition_key": kinesis.get("partitionKey") if isinstance(kinesis, dict) else None,
        "excerpt": reject.excerpt,
    }
    # The whole record for replay when it fits an SQS message comfortably; else the excerpt only.
    if isinstance(data, str) and len(data) <= 150_000:
        message["data"] = data
    else:
        message["data_truncated"] = True
    return message
