"""Settings from environment variables, checked once at cold start."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """An environment variable is missing or outside its rule; the message names both."""


@dataclass(frozen=True)
class Settings:
    table_name: str
    event_bus_name: str
    window_seconds: int = 60
    congestion_threshold: float = 0.7
    congestion_clear_threshold: float = 0.5
    min_readings: int = 5
    state_ttl_days: int = 7
    quarantine_queue_url: str | None = None
    # Not in the stack's contract; tunable without a template change.
    drop_ratio: float = 0.5
    drop_baseline_windows: int = 5
    sweep_grace_seconds: int = 10
    free_flow_speed_kmh: float = 60.0
    max_future_ms: int = 300_000
    write_concurrency: int = 8  # zones whose window items are written at the same time within one invocation

    @property
    def window_ms(self) -> int:
        return self.window_seconds * 1000

    @property
    def ttl_seconds(self) -> int:
        return self.state_ttl_days * 86400


_NAME_RE = re.compile(r"^[A-Za-z0-9_.:/-]{1,256}$")


def env_number(env: Mapping[str, str], name: str, default: Any, low: Any, high: Any) -> Any:
    """The variable as the type of its default (int or float), within low..high; the default when unset."""
    raw = env.get(name, "")
    if raw.strip() == "":
        return default
    kind = type(default)
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not {'an integer' if kind is int else 'a number'}") from None
    if not low <= value <= high:  # also refuses NaN
        raise ConfigError(f"{name}: {value} is outside {low}..{high}")
    return value


def _name(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name}: required (the stack sets it)")
    if not _NAME_RE.match(value):
        raise ConfigError(f"{name}: {value!r} is not a valid name or ARN")
    return value


def from_env(env: Mapping[str, str]) -> Settings:
    """Build and check the settings; raise ConfigError naming the variable and its rule."""
    settings = Settings(
        table_name=_name(env, "TABLE_NAME"),
        event_bus_name=_name(env, "EVENT_BUS_NAME"),
        window_seconds=env_number(env, "WINDOW_SECONDS", 60, 10, 3600),
        congestion_threshold=env_number(env, "CONGESTION_THRESHOLD", 0.7, 0.0, 1.0),
        congestion_clear_threshold=env_number(env, "CONGESTION_CLEAR_THRESHOLD", 0.5, 0.0, 1.0),
        min_readings=env_number(env, "MIN_READINGS", 5, 1, 1_000_000),
        state_ttl_days=env_number(env, "STATE_TTL_DAYS", 7, 1, 3650),
        quarantine_queue_url=env.get("QUARANTINE_QUEUE_URL", "").strip() or None,
        drop_ratio=env_number(env, "DROP_RATIO", 0.5, 0.0, 1.0),
        drop_baseline_windows=env_number(env, "DROP_BASELINE_WINDOWS", 5, 2, 60),
        sweep_grace_seconds=env_number(env, "SWEEP_GRACE_SECONDS", 10, 0, 3600),
        free_flow_speed_kmh=env_number(env, "FREE_FLOW_SPEED_KMH", 60.0, 5.0, 300.0),
        write_concurrency=env_number(env, "WRITE_CONCURRENCY", 8, 1, 16),
    )
    if settings.congestion_clear_threshold >= settings.congestion_threshold:
        raise ConfigError(
            "CONGESTION_CLEAR_THRESHOLD: must be below CONGESTION_THRESHOLD "
            f"({settings.congestion_clear_threshold} >= {settings.congestion_threshold}); the gap is the hysteresis"
        )
    if 86400 % settings.window_seconds:
        raise ConfigError(f"WINDOW_SECONDS: {settings.window_seconds} must divide a day (86400) so windows align")
    return settings
