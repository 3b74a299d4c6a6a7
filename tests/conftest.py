"""Shared test helpers: the checkout as an importable collection, free ports, and local endpoints stopped by pid."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "roles" / "local_endpoint" / "files" / "moto_server_compat.py"
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
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # our own child: reap it, or it stays a zombie that kill(pid, 0) still finds
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)


DATA_PLANE_PROCESSES = ("poller", "bridge", "mosquitto")


def stop_data_plane(region_dir: Path) -> None:
    """Stop the data plane processes whose pid files local_process left in a region's state directory, when the pid
    is still the process it started (the sidecar's kernel start time matches): poller and bridge first, the broker
    last, as the role stops them."""
    for name in DATA_PLANE_PROCESSES:
        pid_file = region_dir / f"{name}.pid"
        try:
            pid = int(pid_file.read_text().strip())
            record = json.loads((region_dir / f"{name}.pid.json").read_text())
            stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except (OSError, ValueError):
            continue
        if record.get("pid") == pid and record.get("start_time") == int(stat[19]):
            stop_by_pid_file(pid_file)


@contextlib.contextmanager
def local_endpoint(state_dir: Path) -> Iterator[str]:
    """The moto compat launcher, as the local_endpoint role runs it, on a free loopback port; yields its URL.

    Its log stays in state_dir for a failing test's post-mortem; it is stopped by its pid file."""
    port = free_port()
    pid_file = state_dir / "moto.pid"
    with (state_dir / "moto.log").open("ab") as log:
        proc = subprocess.Popen([sys.executable, str(LAUNCHER), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        pid_file.write_text(str(proc.pid))
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
                    break
                except OSError:
                    assert time.monotonic() < deadline and proc.poll() is None, "local endpoint did not start"
                    time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_by_pid_file(pid_file)
            with contextlib.suppress(ChildProcessError, subprocess.TimeoutExpired):
                proc.wait(timeout=10)


@pytest.fixture
def port() -> int:
    return free_port()
