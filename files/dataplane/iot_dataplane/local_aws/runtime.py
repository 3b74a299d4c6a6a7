"""What the stand-ins' long-running components share: telling a lost endpoint from a passing failure, the error code of
an AWS error, the outage clock that stops a component, and its health and stats files."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from ..shared import LOG, DependencyError


def is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, (EndpointConnectionError, ConnectionError)) or (isinstance(exc, BotoCoreError) and "Could not connect" in str(exc))


def endpoint_hint(exc: BaseException) -> str:
    """What to check when a call to the local endpoint failed: nothing to add unless it did not answer at all."""
    return "Is the local AWS endpoint running? deploy.yml starts it." if is_connection_error(exc) else ""


def stream_gone(stream_name: str, detail: str = "") -> DependencyError:
    """The stream is missing at the endpoint: it lost its state (moto keeps it in memory) or the stack was deleted."""
    return DependencyError(
        f"Kinesis stream {stream_name} does not exist at the AWS endpoint: the endpoint lost its state (restarted?) or "
        f"the stack is gone. Run deploy.yml again.{detail}"
    )


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "")
    return ""


class Outage:
    """Tracks how long a dependency has been failing; raises DependencyError when it passes the allowed time.

    Every failure is logged (never a silent loop); recovery is logged once."""

    def __init__(self, name: str, allowed_seconds: float) -> None:
        self.name = name
        self.allowed = allowed_seconds
        self.since: float | None = None
        self.failures = 0

    def failed(self, exc: BaseException, hint: str = "") -> None:
        now = time.monotonic()
        if self.since is None:
            self.since = now
        self.failures += 1
        down = now - self.since
        LOG.warning("%s failing for %.0fs (attempt %d): %s", self.name, down, self.failures, exc)
        if down >= self.allowed:
            raise DependencyError(f"{self.name} has failed for {down:.0f}s (limit {self.allowed:.0f}s), last error: {exc}. {hint}".strip()) from exc

    def ok(self) -> None:
        if self.since is not None:
            LOG.info("%s recovered after %.1fs and %d failed attempt(s)", self.name, time.monotonic() - self.since, self.failures)
        self.since = None
        self.failures = 0


class Beacon:
    """Health file (its mtime says the component is alive and its dependencies answer) and a stats file (JSON)."""

    def __init__(self, health_file: str | None, stats_file: str | None, every: float = 1.0) -> None:
        self.health = Path(health_file) if health_file else None
        self.stats = Path(stats_file) if stats_file else None
        self.every = every
        self.last = 0.0
        if self.health and self.health.exists():
            self.health.unlink()

    def beat(self, stats: dict[str, Any], healthy: bool = True, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        if self.stats:
            write_json(self.stats, stats)
        if self.health and healthy:
            self.health.parent.mkdir(parents=True, exist_ok=True)
            self.health.write_text(str(os.getpid()))

    def clear(self) -> None:
        if self.health and self.health.exists():
            self.health.unlink()


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True, default=str))
    tmp.replace(path)
