"""What the processor needs from its edges. The AWS edges live in ``aws``; tests and the benchmark use in-memory
implementations of the same methods."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

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


class Store:  # pragma: no cover - interface
    def add_window(
        self, zone: str, window_start: int, shard: str, contribution: Contribution, expires_at: int, now_s: int
    ) -> WindowResult:
        """Add the contribution unless the item already holds a record at or above its first sequence number."""
        raise NotImplementedError

    def load_sensor_pages(self, zone: str) -> list[Any]:
        """The zone's sensor pages (``live_state.SensorPage``), read consistently."""
        raise NotImplementedError

    def put_sensor_page(self, zone: str, page: Any, expected_version: int, expires_at: int) -> bool:
        """Write the whole page if the stored page still has ``expected_version`` (0: no page stored); False when it
        has not."""
        raise NotImplementedError

    def delete_sensor_page(self, zone: str, page: Any, expected_version: int) -> bool:
        """Delete the page if it still has ``expected_version``; False when it has not."""
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

    def get_silence(self, zone: str) -> dict[str, tuple[int, int]]:
        """The silences reported per sensor: (the last window the sensor was seen in, the window of the report)."""
        raise NotImplementedError

    def mark_silent(self, zone: str, reported: dict[str, tuple[int, int]], expires_at: int) -> None:
        """Remember the silences reported (sensor -> (last window seen, window of the report))."""
        raise NotImplementedError

    def forget_silence(self, zone: str, sensor_ids: list[str]) -> None:
        raise NotImplementedError


class Publisher:  # pragma: no cover - interface
    def publish(self, alerts: list[Alert]) -> None:
        """Put the alerts on the bus; raise EdgeError when some could not be put."""
        raise NotImplementedError


class Quarantine:  # pragma: no cover - interface
    def send(self, messages: list[dict]) -> None:
        """Queue the messages; raise EdgeError when some could not be queued."""
        raise NotImplementedError
