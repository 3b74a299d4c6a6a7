"""The live view's read model: what the congestion view shows, as plain data, and its encoding in the table.

The processor keeps, per window and shard, one small digest item that copies each zone's totals for that window from
the zone-window item it has just written (absolute values, so a re-delivered batch writes the same figures again),
and the zone's congestion state after the batch. The sweep keeps one item with each zone's data-drop state and its
silent sensors. One Query on ``pk = LIVE`` reads everything the view shows for the last windows:

- window digest: ``pk = LIVE``, ``sk = <window_start, 10 digits>#<shard id>``; ``window_start``, ``updated_ms``,
  ``expires_at``, and per zone ``Z#<zone>`` = ``"count|vehicle_sum|speed_sum|congestion_sum|state"`` (a zone whose
  readings came in records of another partition key, a gateway's say, has ``Z#<zone>#<partition key>`` for them:
  each lane of a shard keeps its own totals, and the view adds them up);
- sweep digest: ``pk = LIVE``, ``sk = SWEEP``; ``window_start``, ``updated_ms``, ``expires_at``, and per zone
  ``Z#<zone>`` = ``"drop_state|silent_sensors"``.

Pure Python 3.9+, nothing from AWS: the widget function, the local page and the tests share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

LIVE_PK = "LIVE"
SWEEP_SK = "SWEEP"
ZONE_PREFIX = "Z#"
SK_WIDTH = 10  # epoch seconds: 10 digits until the year 2286, so string order is time order


class WindowFigures(NamedTuple):
    """One zone's totals in one window, summed over the shards' items."""

    count: int
    vehicle_sum: int
    speed_sum: float
    congestion_sum: float

    @property
    def congestion_index(self) -> float:
        return self.congestion_sum / self.count if self.count else 0.0

    @property
    def avg_speed_kmh(self) -> float:
        return self.speed_sum / self.count if self.count else 0.0

    def plus(self, other: WindowFigures) -> WindowFigures:
        return WindowFigures(
            self.count + other.count,
            self.vehicle_sum + other.vehicle_sum,
            self.speed_sum + other.speed_sum,
            self.congestion_sum + other.congestion_sum,
        )


@dataclass
class ZoneLive:
    zone: str
    windows: dict[int, WindowFigures] = field(default_factory=dict)  # window_start (epoch s) -> figures
    state: str = "CLEAR"  # congestion alert state: CLEAR or CONGESTED
    drop_state: str = "NORMAL"  # data-drop state: NORMAL or DROPPED
    silent_sensors: int = 0


@dataclass
class LiveView:
    """Everything one render shows."""

    zones: dict[str, ZoneLive]
    window_seconds: int
    current_window: int  # window_start of the newest window with data (epoch s); -1 when there is none
    as_of_ms: int  # when the newest figures were written (epoch ms); 0 when there is none
    congestion_threshold: float
    clear_threshold: float

    def windows(self, count: int) -> list[int]:
        """The last ``count`` window starts, oldest first, ending at the current window."""
        if self.current_window < 0:
            return []
        return [self.current_window - i * self.window_seconds for i in range(count - 1, -1, -1)]


# -- encoding -----------------------------------------------------------------------------------------------------

def zone_of(attribute: str) -> str:
    """The zone of a digest attribute ``Z#<zone>`` or ``Z#<zone>#<partition key>`` (zone ids have no '#')."""
    return attribute[len(ZONE_PREFIX) :].split("#", 1)[0]


def window_sk(window_start: int, shard: str) -> str:
    return f"{window_start:0{SK_WIDTH}d}#{shard}"


def encode_window(figures: WindowFigures, state: str) -> str:
    return f"{figures.count}|{figures.vehicle_sum}|{figures.speed_sum:.3f}|{figures.congestion_sum:.4f}|{state}"


def decode_window(text: str) -> tuple[WindowFigures, str]:
    count, vehicles, speed, congestion, state = text.split("|")
    return WindowFigures(int(count), int(vehicles), float(speed), float(congestion)), state


def encode_sweep(drop_state: str, silent_sensors: int) -> str:
    return f"{drop_state}|{silent_sensors}"


def decode_sweep(text: str) -> tuple[str, int]:
    drop_state, silent = text.split("|")
    return drop_state, int(silent)
