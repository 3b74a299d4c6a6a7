"""Loopback ports for the servers that tests, Molecule scenarios and benchmarks start.

Why not "bind to port 0, close, use the number later": such a port lies in the kernel's ephemeral range
(/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default), so any outgoing connection of any process (a boto3
call to a local endpoint, another xdist worker, a Molecule scenario) can be given that port as its source port
before the server binds it, and the server fails with "Address already in use".

Instead a port comes from a range below the ephemeral range, which the kernel never hands out on its own, and is
reserved across processes: the caller holds an exclusive flock on ``<tmp>/smartcity-test-ports/<port>.lock`` for as
long as it lives (the lock goes with the process, however it ends), so two concurrent workers never pick the same
port. A port that some unrelated server already listens on is skipped. What can still happen (a process outside the
test run binds the port between our check and our server's bind) is handled by :func:`start_on_free_port`, which
retries a start that failed with "address in use" on another port.
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# Below the default ephemeral range and above the well-known and most registered service ports.
RANGE_START = 20000
RANGE_END = 32767
LOCK_DIR = Path(tempfile.gettempdir()) / "smartcity-test-ports"

_held: dict[int, int] = {}  # port -> fd of its lock file, for the life of this process


class PortInUse(Exception):
    """A server could not bind its port (it was taken after it was reserved)."""

    def __init__(self, port: int, detail: str = "") -> None:
        super().__init__(f"127.0.0.1:{port} is already in use{': ' + detail if detail else ''}")
        self.port = port


def ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def candidate_range() -> range:
    """The ports we pick from: [RANGE_START, RANGE_END], cut below the ephemeral range if it starts lower."""
    low, _high = ephemeral_range()
    end = min(RANGE_END, low - 1)
    if end - RANGE_START < 100:
        raise RuntimeError(f"the ephemeral port range starts at {low}: no room below it for test servers")
    return range(RANGE_START, end + 1)


def _listening(port: int) -> bool:
    """True when the port cannot be bound on 127.0.0.1 right now (a server has it)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _try_lock(port: int) -> bool:
    LOCK_DIR.mkdir(mode=0o1777, exist_ok=True)
    fd = os.open(LOCK_DIR / f"{port}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EACCES):
            return False
        raise
    _held[port] = fd
    return True


def reserve_port() -> int:
    """A port on 127.0.0.1 outside the ephemeral range that no other process of the test run holds and no server
    listens on; it stays reserved until this process ends."""
    ports = candidate_range()
    for _attempt in range(500):
        port = random.choice(ports)
        if port in _held or not _try_lock(port):
            continue
        if _listening(port):
            continue  # keep the lock: a port someone else serves on is no use to us for this run either
        return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1} on 127.0.0.1 after 500 attempts")


def reserve_ports(count: int, consecutive: bool = False) -> list[int]:
    """count distinct reserved ports; consecutive=True makes them base, base + 1, ... (the local regions' MQTT ports)."""
    if not consecutive:
        return [reserve_port() for _index in range(count)]
    for _attempt in range(200):
        base = reserve_port()
        if base + count - 1 > candidate_range()[-1]:
            continue
        rest = list(range(base + 1, base + count))
        if all(p not in _held and _try_lock(p) for p in rest):
            if not any(_listening(p) for p in rest):
                return [base, *rest]
    raise RuntimeError(f"no {count} consecutive free ports on 127.0.0.1")


def start_on_free_port(start: Callable[[int], T], attempts: int = 3) -> T:
    """start(port) on a reserved port; when it raises PortInUse, again on another port (at most attempts times)."""
    last: PortInUse | None = None
    for _attempt in range(attempts):
        try:
            return start(reserve_port())
        except PortInUse as e:
            last = e
    assert last is not None
    raise last


def in_use_message(text: str) -> bool:
    """True when a server's log or an Ansible run says it could not bind its port."""
    return "Address already in use" in text or "address already in use" in text or "is already in use" in text
