"""Shared test helpers: the checkout as an importable collection, free ports, and local endpoints stopped by pid."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".collections"
VENV_BIN = Path(sys.executable).parent

# scripts/setup links this checkout as .collections/ansible_collections/smartcity/iot_analytics.
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_by_pid_file(pid_file: Path, timeout: float = 10.0) -> None:
    """Stop whatever a test left running under pid_file; tests never expect anything left running."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def port() -> int:
    return free_port()
