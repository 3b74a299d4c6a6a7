"""Reading the live view: one Query on the digests (``live_model``), folded into a ``LiveView``.

``build_view`` is pure (DynamoDB-JSON items in, a ``LiveView`` out); ``read_view`` is the edge, given a boto3
DynamoDB client (the caller makes it: the widget function, or the local page). At 500 zones and the heat strip's
windows the digests are a few hundred KB: one or two Query pages, never more than ``MAX_REQUESTS``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .live_model import (
    LIVE_PK,
    SK_WIDTH,
    SWEEP_SK,
    ZONE_PREFIX,
    LiveView,
    WindowFigures,
    ZoneLive,
    decode_sweep,
    decode_window,
    zone_of,
)

MAX_REQUESTS = 5
# The smoke test's probe zones (the template routes their alerts to the probe queue): not part of the city.
PROBE_PREFIX = "smoke-"


class ReadResult(NamedTuple):
    view: LiveView
    requests: int
    truncated: bool  # more digests than MAX_REQUESTS pages held: the oldest windows are incomplete


def first_window(now_s: float, window_seconds: int, windows: int) -> int:
    """The oldest window start the view reads: ``windows`` windows back from the current one, plus one more so that
    a zone without readings yet in the current window still shows the previous one."""
    current = int(now_s) // window_seconds * window_seconds
    return current - windows * window_seconds


def build_view(
    items: list[dict[str, Any]], window_seconds: int, congestion_threshold: float, clear_threshold: float
) -> LiveView:
    zones: dict[str, ZoneLive] = {}
    newest_state: dict[str, int] = {}  # zone -> window whose digest gave its state
    current = -1
    as_of = 0

    def zone_entries(item: dict[str, Any]) -> list[tuple[ZoneLive, str]]:
        """The item's zone entries (the smoke test's probe zones left out), each with its zone's view."""
        entries = []
        for name, value in item.items():
            if name.startswith(ZONE_PREFIX) and not zone_of(name).startswith(PROBE_PREFIX):
                zone_id = zone_of(name)
                entries.append((zones.setdefault(zone_id, ZoneLive(zone_id)), value["S"]))
        return entries

    for item in items:
        if item["sk"]["S"] == SWEEP_SK:
            for zone, text in zone_entries(item):
                zone.drop_state, zone.silent_sensors = decode_sweep(text)
            continue
        window_start = int(item["window_start"]["N"])
        as_of = max(as_of, int(item.get("updated_ms", {}).get("N", "0")))
        for zone, text in zone_entries(item):
            figures, state = decode_window(text)
            held = zone.windows.get(window_start)
            zone.windows[window_start] = figures if held is None else held.plus(figures)  # shards and lanes add up
            if window_start >= newest_state.get(zone.zone, -1):
                newest_state[zone.zone] = window_start
                zone.state = state
            if figures.count:
                current = max(current, window_start)
    return LiveView(zones, window_seconds, current, as_of, congestion_threshold, clear_threshold)


def read_view(
    client: Any,
    table: str,
    window_seconds: int,
    windows: int,
    now_s: float,
    congestion_threshold: float,
    clear_threshold: float,
) -> ReadResult:
    """Query the digests of the last ``windows`` windows (and the sweep digest, whose key sorts after them);
    eventually consistent reads (half the cost; a view a fraction of a second older is still within one batch)."""
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND sk >= :first",
        "ScanIndexForward": False,  # the sweep digest and the newest windows first: a cut drops the oldest
        "ExpressionAttributeValues": {
            ":pk": {"S": LIVE_PK},
            ":first": {"S": f"{first_window(now_s, window_seconds, windows):0{SK_WIDTH}d}"},
        },
    }
    items: list[dict[str, Any]] = []
    requests = 0
    while True:
        response = client.query(**request)
        requests += 1
        items.extend(response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            truncated = False
            break
        if requests == MAX_REQUESTS:
            truncated = True
            break
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return ReadResult(build_view(items, window_seconds, congestion_threshold, clear_threshold), requests, truncated)


__all__ = ["MAX_REQUESTS", "ReadResult", "WindowFigures", "build_view", "first_window", "read_view"]
