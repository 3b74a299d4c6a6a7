"""Shared test helpers: the checkout as an importable collection, reserved ports, and local endpoints stopped by pid."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ports import PortInUse, in_use_message, reserve_port, reserve_ports, start_on_free_port  # noqa: F401  # pylint: disable=unused-import  # re-exported

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "roles" / "local_endpoint" / "files" / "moto_server_compat.py"
# The launcher's directory holds the package of its moto fixes, moto_compat (tests/unit/moto_compat test it).
MOTO_COMPAT_DIR = LAUNCHER.parent
COLLECTIONS = ROOT / ".collections"
VENV_BIN = Path(sys.executable).parent

# scripts/setup links this checkout as .collections/ansible_collections/smartcity/iot_analytics.
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
if str(MOTO_COMPAT_DIR) not in sys.path:
    sys.path.append(str(MOTO_COMPAT_DIR))


def time_factor() -> float:
    """SMARTCITY_TEST_TIME_FACTOR (default 1): every timeout of a test's wait is multiplied by it, so that a slow or
    busy CI machine can raise them all at once without touching a test."""
    try:
        factor = float(os.environ.get("SMARTCITY_TEST_TIME_FACTOR", "1"))
    except ValueError as e:
        raise RuntimeError("SMARTCITY_TEST_TIME_FACTOR must be a number, e.g. 2") from e
    if factor <= 0:
        raise RuntimeError("SMARTCITY_TEST_TIME_FACTOR must be greater than 0")
    return factor


def scaled(seconds: float) -> float:
    """A test timeout in seconds, multiplied by SMARTCITY_TEST_TIME_FACTOR."""
    return seconds * time_factor()


def ansible_env(**extra: str) -> dict[str, str]:
    """The environment of an ansible-playbook (or ansible-runner) that a test starts: this process's without its AWS_
    and ANSIBLE_ variables, the venv first on PATH, .collections as the collections path, no colours; extra on top."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "ANSIBLE_"))}
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_NOCOLOR="1")
    env.update(extra)
    return env


def wait_for(condition, timeout: float, what: str, interval: float = 0.1):
    """Poll condition() until it returns something truthy (returned) or scaled(timeout) seconds pass (AssertionError
    naming what was awaited)."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {scaled(timeout):.0f}s waiting for {what}")
        time.sleep(interval)


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


DATA_PLANE_PROCESSES = ("view", "poller", "bridge", "gate", "mosquitto")


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


def _start_endpoint(state_dir: Path, port: int) -> tuple[subprocess.Popen, str]:
    """Start the launcher on port and wait until it answers; PortInUse when it could not bind."""
    pid_file = state_dir / "moto.pid"
    log_path = state_dir / "moto.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, str(LAUNCHER), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + scaled(30)
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            pass
        if proc.poll() is not None:
            with log_path.open("rb") as log:
                log.seek(offset)
                tail = log.read().decode(errors="replace")
            if in_use_message(tail):
                raise PortInUse(port, "the local endpoint could not bind it")
            raise AssertionError(f"local endpoint exited with code {proc.returncode}:\n{tail[-2000:]}")
        if time.monotonic() >= deadline:
            stop_by_pid_file(pid_file)
            raise AssertionError("local endpoint did not start")
        time.sleep(0.2)


@contextlib.contextmanager
def local_endpoint(state_dir: Path) -> Iterator[str]:
    """The moto compat launcher, as the local_endpoint role runs it, on a reserved loopback port (retried on another
    port if it was taken before the launcher bound it); yields its URL.

    Its log stays in state_dir for a failing test's post-mortem; it is stopped by its pid file."""
    proc, url = start_on_free_port(lambda port: _start_endpoint(state_dir, port))
    try:
        yield url
    finally:
        stop_by_pid_file(state_dir / "moto.pid")
        with contextlib.suppress(ChildProcessError, subprocess.TimeoutExpired):
            proc.wait(timeout=10)


@pytest.fixture(autouse=True)
def _module_warnings_start_empty() -> Iterator[None]:
    """Each test starts with no module warnings or deprecations. Ansible keeps them in process-wide lists that a real
    module process never outlives; tests run modules' main() in one process, so a warning of one test (local_process's
    "running with a different command line") would otherwise reach the result of whichever module test ran next."""
    from ansible.module_utils.common import warnings as module_warnings  # only the tests that run modules need it

    module_warnings._global_warnings.clear()  # pylint: disable=protected-access
    module_warnings._global_deprecations.clear()  # pylint: disable=protected-access
    yield


@pytest.fixture
def port() -> int:
    return reserve_port()


# --- scheduling over xdist's workers (scripts/test runs pytest -n 2 --dist loadfile) --------------------------------
# Every file's tests stay together on one worker, in order (most files share a module-scoped endpoint or deployment and
# some run in sequence), except the files listed here, whose tests are independent and long: those are spread one by
# one. Files listed in SLOWEST_FIRST start first (slowest first, from `--durations` of a full run), so that the two
# workers finish at about the same time instead of one worker starting a long file last.
# (xdist's own "loadgroup" cannot do this with pytest 9.2: it renames node ids through Node._nodeid, which pytest 9.2
# no longer reads, so every test became its own group.)
SPREAD = ("tests/molecule/test_scenarios.py",)
SLOWEST_FIRST = (
    "tests/e2e/test_rotation.py",
    "tests/e2e/test_awx_jobs.py",
    "tests/e2e/test_deploy.py",
    "tests/e2e/test_live_page.py",
    "tests/molecule/test_scenarios.py",
    "tests/integration/test_data_plane.py",
    "tests/integration/",
    "tests/benchmarks/",
)


def _rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return next((i for i, prefix in enumerate(SLOWEST_FIRST) if path.startswith(prefix)), len(SLOWEST_FIRST))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: each file keeps its own order


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """One unit of work per file, in collection order, except the files in SPREAD: one per test."""
    from xdist.scheduler import LoadFileScheduling  # pylint: disable=import-outside-toplevel

    class FilesInOrder(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return nodeid if path in SPREAD else path

    return FilesInOrder(config, log)


@pytest.fixture(scope="module")
def cfn(tmp_path_factory):
    """A CloudFormation client of the launcher itself, as the local_endpoint role runs it, on a free loopback port: one
    endpoint per test module (tests/unit/moto_compat)."""
    import boto3  # pylint: disable=import-outside-toplevel

    with local_endpoint(tmp_path_factory.mktemp("compat")) as url:
        yield boto3.client("cloudformation", region_name="us-east-1", endpoint_url=url,
                           aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture(scope="session")
def moto_compat_applied() -> None:
    """The launcher's fixes applied to moto in this process too, for tests that run moto in-process (mock_aws)."""
    import moto_compat  # pylint: disable=import-outside-toplevel

    moto_compat.apply()
