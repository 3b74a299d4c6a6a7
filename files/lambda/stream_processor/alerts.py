"""Alert decisions: pure functions of the stored state and the new figures.

Each decision returns the new state to store (conditionally) and the event to publish, or None. The processor
publishes first and then stores, so a crash in between can repeat an alert but never lose one; the stored state
is what makes re-processing a window raise nothing new.
"""

from __future__ import annotations

from typing import Any, NamedTuple

CLEAR = "CLEAR"
CONGESTED = "CONGESTED"
NORMAL = "NORMAL"
DROPPED = "DROPPED"

SOURCE = "smartcity.traffic"
CONGESTION_ALERT = "CongestionAlert"
CONGESTION_CLEARED = "CongestionCleared"
SENSOR_SILENT = "SensorSilent"
ZONE_DATA_DROP = "ZoneDataDrop"
ZONE_DATA_RECOVERED = "ZoneDataRecovered"


class ZoneState(NamedTuple):
    """The ``ZONE#<zone>`` / ``ALERT`` item."""

    state: str = CLEAR
    since: int = 0  # epoch s of the last congestion transition
    window_start: int = -1  # window of the last congestion transition
    drop_state: str = NORMAL
    drop_window: int = -1  # last window the data-drop check decided on
    drop_baseline: float = 0.0


class Alert(NamedTuple):
    detail_type: str
    detail: dict[str, Any]


def congestion_decision(
    state: ZoneState,
    zone: str,
    window_start: int,
    count: int,
    congestion_sum: float,
    now_s: int,
    threshold: float,
    clear_threshold: float,
    min_readings: int,
) -> tuple[ZoneState, Alert] | None:
    """Hysteresis: alert at ``threshold`` or above, clear at ``clear_threshold`` or below, nothing in between.

    A window older than the one of the last transition never changes the state, so late or re-delivered data for
    an old window cannot reopen an episode that a newer window closed.
    """
    if count < min_readings or window_start < state.window_start:
        return None
    index = congestion_sum / count
    if state.state != CONGESTED and index >= threshold:
        new, detail_type, limit = CONGESTED, CONGESTION_ALERT, threshold
    elif state.state == CONGESTED and index <= clear_threshold:
        new, detail_type, limit = CLEAR, CONGESTION_CLEARED, clear_threshold
    else:
        return None
    detail = {
        "zone": zone,
        "window_start": window_start,
        "congestion_index": round(index, 4),
        "threshold": limit,
        "readings": count,
    }
    return state._replace(state=new, since=now_s, window_start=window_start), Alert(detail_type, detail)


def data_drop_decision(
    state: ZoneState,
    zone: str,
    window_start: int,
    counts: list[int],
    congestion_sum: float,
    ratio: float,
    min_readings: int,
) -> tuple[ZoneState, Alert | None] | None:
    """Decide on the complete window ``window_start`` from ``counts``: the baseline windows before it, oldest first,
    then the window itself (0 for a window with no readings).

    A drop is a window below ``ratio`` of the baseline average; the zone recovers when a window reaches ``ratio``
    of the baseline it dropped from. Each window is decided once (``drop_window``). A baseline below
    ``min_readings`` per window, or with fewer than half of its windows holding data (a new zone), decides nothing.
    """
    if window_start <= state.drop_window or len(counts) < 3:
        return None
    baseline_counts, current = counts[:-1], counts[-1]
    decided = state._replace(drop_window=window_start)  # this window is decided, with or without an event
    detail = {
        "zone": zone,
        "window_start": window_start,
        "readings": current,
        "congestion_index": round(congestion_sum / current, 4) if current else None,
    }
    if state.drop_state == DROPPED:
        limit = ratio * state.drop_baseline
        if current > 0 and current >= limit:
            detail.update(threshold=round(limit, 2), baseline=round(state.drop_baseline, 2))
            return decided._replace(drop_state=NORMAL, drop_baseline=0.0), Alert(ZONE_DATA_RECOVERED, detail)
        return decided, None
    baseline = sum(baseline_counts) / len(baseline_counts)
    with_data = sum(1 for c in baseline_counts if c > 0)
    limit = ratio * baseline
    if with_data * 2 >= len(baseline_counts) and baseline >= min_readings and current < limit:
        detail.update(threshold=round(limit, 2), baseline=round(baseline, 2))
        return decided._replace(drop_state=DROPPED, drop_baseline=baseline), Alert(ZONE_DATA_DROP, detail)
    return decided, None


def silent_sensors(
    last_seen: dict[str, int], alerted: dict[str, tuple[int, int]], current_window: int, window_seconds: int
) -> list[str]:
    """Known sensors with nothing in the two windows before ``current_window`` (nor in it so far) that have not
    been reported for this silence yet. ``alerted`` holds, per sensor reported, (the last window it was seen in, the
    window of the sweep that reported it). A reported sensor is reported again only once it has been seen in or
    after the window of that report: it came back and fell silent again. (Judged by the report's window, not by the
    last window seen: a sensor page that catches up after the report, with readings from before it, does not make
    the same silence a new one.)
    """
    cutoff = current_window - 2 * window_seconds
    return sorted(
        sensor
        for sensor, seen in last_seen.items()
        if seen < cutoff and (sensor not in alerted or seen >= alerted[sensor][1])
    )


def silence_alert(zone: str, sensor_id: str, last_window: int, current_window: int, window_seconds: int) -> Alert:
    detail = {
        "zone": zone,
        "sensor_id": sensor_id,
        "window_start": current_window,
        "last_window_start": last_window,
        "congestion_index": None,
        "threshold": 2,
        "readings": 0,
        "silent_windows": (current_window - last_window) // window_seconds - 1,
    }
    return Alert(SENSOR_SILENT, detail)
