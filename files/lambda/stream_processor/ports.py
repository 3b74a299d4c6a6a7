"""What the processor needs from its edges. The AWS edges live in ``aws``; tests and the benchmark use in-memory
implementations of the same methods."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from .aggregate import Contribution
from .alerts import Alert, ZoneState


class EdgeError(Exception):
    """An AWS call failed after its retries (or failed in a way that retrying cannot fix)."""


class WindowResult(NamedTuple):
    applied: bool  # False: the item already held these records (a re-delivery)
    count: int  # the item's totals after the call
    congestion_sum: float
    last_seq: int
    vehicle_sum: int = 0
    speed_sum: float = 0.0


class SensorState(NamedTuple):
    sensor_id: str
    zone: str
    ts: int
    vehicle_count: int
    avg_speed_kmh: float
    occupancy: float | None
    congestion_index: float
    window_start: int


class Store:  # pragma: no cover - interface
    def add_window(
        self, zone: str, window_start: int, shard: str, contribution: Contribution, expires_at: int, now_s: int
    ) -> WindowResult:
        """Add the contribution unless the item already holds a record at or above its first sequence number."""
        raise NotImplementedError

    def put_sensor_states(self, states: list[SensorState], expires_at: int) -> list[str]:
        """Write the states; return the sensor ids that could not be written."""
        raise NotImplementedError

    def record_seen(self, zone: str, seen: dict[str, int], expires_at: int) -> None:
        """Remember, in the zone's sensor registry, the newest window each sensor was seen in."""
        raise NotImplementedError

    def add_zones(self, zones: Iterable[str]) -> None:
        raise NotImplementedError

    def put_live_window(self, window_start: int, shard: str, zones: dict[str, str], expires_at: int, now_ms: int) -> None:
        """Set the zones' encoded figures (``live_model.encode_window``) on the live view's digest of this window and
        shard, leaving the digest's other zones as they are."""
        raise NotImplementedError

    def put_live_sweep(self, window_start: int, zones: dict[str, str], expires_at: int, now_ms: int) -> None:
        """Replace the live view's sweep digest (``live_model.encode_sweep`` per zone)."""
        raise NotImplementedError

    def list_zones(self) -> list[str]:
        raise NotImplementedError

    def get_zone_state(self, zone: str) -> ZoneState:
        raise NotImplementedError

    def set_congestion(self, zone: str, new: ZoneState, expected: ZoneState, now_s: int) -> bool:
        """Store the congestion part of the zone state if it is still ``expected``; False when it was not."""
        raise NotImplementedError

    def set_drop(self, zone: str, new: ZoneState, expected: ZoneState, now_s: int) -> bool:
        raise NotImplementedError

    def window_totals(self, zone: str, first_window: int, last_window: int) -> dict[int, tuple[int, float]]:
        """Readings and congestion sum per window start, summed over the window's items."""
        raise NotImplementedError

    def get_registry(self, zone: str) -> tuple[dict[str, int], dict[str, int]]:
        """(last window seen per sensor, last window reported silent per sensor)."""
        raise NotImplementedError

    def mark_silent(self, zone: str, reported: dict[str, int]) -> None:
        raise NotImplementedError

    def forget_sensors(self, zone: str, sensor_ids: list[str]) -> None:
        raise NotImplementedError


class Publisher:  # pragma: no cover - interface
    def publish(self, alerts: list[Alert]) -> None:
        """Put the alerts on the bus; raise EdgeError when some could not be put."""
        raise NotImplementedError


class Quarantine:  # pragma: no cover - interface
    def send(self, messages: list[dict]) -> None:
        """Queue the messages; raise EdgeError when some could not be queued."""
        raise NotImplementedError
