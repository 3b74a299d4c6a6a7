# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for smartcity.iot_analytics.local_process, run against real child processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.smartcity.iot_analytics.plugins.modules import local_process
from conftest import reserve_port

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="local_process reads /proc")

PYTHON = sys.executable
NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_server(port: int) -> list[str]:
    return [PYTHON, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def alive(pid: int) -> bool:
    """True if pid runs and has not exited; reaps it first if it is a child of this test process."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def answers(port: int) -> bool:
    try:
        with NO_PROXY_OPENER.open(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def kill(pid: int) -> None:
    for send in (os.killpg, os.kill):
        try:
            send(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    wait_for(lambda: not alive(pid), 5)


@pytest.fixture
def tracked():
    """Pids to kill when the test ends, whatever happened."""
    pids: set[int] = set()
    yield pids
    for pid in pids:
        if pid != os.getpid():
            kill(pid)


@pytest.fixture
def run(tracked, capsys) -> Callable[..., dict]:
    """Run the module's main() with these args and return its JSON result; started pids get tracked."""

    def _run(check_mode: bool = False, diff: bool = False, **args: Any) -> dict:
        args.update(_ansible_check_mode=check_mode, _ansible_diff=diff)
        with patch_module_args(args), pytest.raises(SystemExit):
            local_process.main()
        result = json.loads(capsys.readouterr().out)
        if result.get("pid"):
            tracked.add(result["pid"])
        pid_file = Path(args["pid_file"])
        if pid_file.is_file() and pid_file.read_text().strip().isdigit():
            tracked.add(int(pid_file.read_text()))
        return result

    return _run


@pytest.fixture
def service(tmp_path: Path) -> dict:
    """Module args for a real http.server on a free port, with its pid file in directories still to be made."""
    port = reserve_port()
    return {
        "name": "web",
        "argv": http_server(port),
        "pid_file": str(tmp_path / "run" / "sub" / "web.pid"),
        "chdir": str(tmp_path),
        "health_url": f"http://127.0.0.1:{port}/",
        "timeout": 10,
    }


def port_of(args: dict) -> int:
    return int(args["argv"][3])


def read_pid(args: dict) -> int:
    return int(Path(args["pid_file"]).read_text())


def dead_pid() -> int:
    proc = subprocess.run([PYTHON, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(proc.stdout)


@pytest.mark.parametrize("path", ["/", "/missing-answers-404"])
def test_start_spawns_healthy_process_with_records(run, service, tmp_path, path):
    result = run(**dict(service, health_url=service["health_url"].rstrip("/") + path))

    assert result["changed"] is True
    assert result["state"] == "running"
    assert result["argv"] == service["argv"]
    pid = result["pid"]
    assert alive(pid)
    assert os.getpgid(pid) == pid, "the service must lead its own process group / session"
    assert answers(port_of(service))
    assert read_pid(service) == pid
    assert json.loads(Path(service["pid_file"] + ".json").read_text())["argv"] == service["argv"]
    assert result["log_file"] == str(tmp_path / "run" / "sub" / "web.log")
    assert Path(result["log_file"]).is_file()
    for directory in (tmp_path / "run", tmp_path / "run" / "sub"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_start_again_is_unchanged_and_keeps_pid(run, service):
    first = run(**service)
    second = run(**service)

    assert second["changed"] is False
    assert second["pid"] == first["pid"]
    assert alive(first["pid"])


def test_running_but_unhealthy_fails_without_killing(run, service):
    first = run(**service)
    other_port = reserve_port()

    result = run(**dict(service, health_url=None, health_port=other_port, timeout=1))

    assert result["failed"] is True
    assert "not healthy" in result["msg"] and "web" in result["msg"]
    assert alive(first["pid"])


def test_stop_kills_process_and_removes_pid_file(run, service):
    pid = run(**service)["pid"]

    result = run(name="web", state="stopped", pid_file=service["pid_file"], diff=True)

    assert result["changed"] is True
    assert result["state"] == "stopped"
    assert result["pid"] is None
    assert result["diff"] == {
        "before": {"state": "running", "pid": pid, "argv": service["argv"]},
        "after": {"state": "stopped", "pid": None, "argv": None},
    }
    assert wait_for(lambda: not alive(pid), 2)
    assert not Path(service["pid_file"]).exists()
    assert not Path(service["pid_file"] + ".json").exists()


def test_stop_when_not_running_is_unchanged(run, service):
    result = run(name="web", state="stopped", pid_file=service["pid_file"])

    assert result["changed"] is False
    assert result["state"] == "stopped"
    assert result["pid"] is None


def test_check_mode_start_starts_nothing(run, service):
    result = run(check_mode=True, diff=True, **service)

    assert result["changed"] is True
    assert result["state"] == "running"
    assert result["diff"]["before"]["state"] == "stopped"
    assert result["diff"]["after"]["state"] == "running"
    assert not Path(service["pid_file"]).exists()
    assert not answers(port_of(service))


def test_check_mode_stop_leaves_process_running(run, service):
    pid = run(**service)["pid"]

    result = run(check_mode=True, name="web", state="stopped", pid_file=service["pid_file"])

    assert result["changed"] is True
    assert result["state"] == "stopped"
    assert alive(pid)
    assert read_pid(service) == pid
    assert answers(port_of(service))


def test_stale_pid_file_is_replaced(run, service):
    stale = dead_pid()
    pid_file = Path(service["pid_file"])
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{stale}\n")
    Path(f"{pid_file}.json").write_text(json.dumps({"pid": stale, "argv": service["argv"]}))

    result = run(**service)

    assert result["changed"] is True
    assert result["pid"] != stale
    assert alive(result["pid"])
    assert read_pid(service) == result["pid"]


@pytest.mark.parametrize("sidecar", [
    pytest.param(False, id="pid-file-only"),
    pytest.param(True, id="sidecar-claims-pid-with-other-start-time"),
])
@pytest.mark.parametrize("state", ["started", "stopped"])
def test_pid_file_of_unrelated_process_is_not_ours(run, service, state, sidecar):
    unrelated = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        pid_file = Path(service["pid_file"])
        pid_file.parent.mkdir(parents=True)
        pid_file.write_text(f"{unrelated.pid}\n")
        if sidecar:
            record = {"pid": unrelated.pid, "argv": service["argv"], "start_time": 1,
                      "boot_id": local_process.boot_id()}
            Path(f"{pid_file}.json").write_text(json.dumps(record))
        args = service if state == "started" else {"name": "web", "state": "stopped", "pid_file": str(pid_file)}

        result = run(**args)

        assert unrelated.poll() is None, "an unrelated process was killed"
        assert result.get("failed") is not True, result
        if state == "started":
            assert result["changed"] is True
            assert result["pid"] not in (unrelated.pid, None)
            assert read_pid(service) == result["pid"]
        else:
            assert result["changed"] is False
            assert not pid_file.exists()
    finally:
        unrelated.kill()
        unrelated.wait()


def test_own_pid_in_pid_file_is_not_signalled(run, service):
    pid_file = Path(service["pid_file"])
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{os.getpid()}\n")

    result = run(name="web", state="stopped", pid_file=str(pid_file))

    assert result["changed"] is False
    assert not pid_file.exists()


def test_changed_argv_restarts_process(run, service):
    old = run(**service)
    new_port = reserve_port()
    new_args = dict(service, argv=http_server(new_port), health_url=f"http://127.0.0.1:{new_port}/")

    result = run(diff=True, **new_args)

    assert result["changed"] is True
    assert result["pid"] != old["pid"]
    assert result["argv"] == new_args["argv"]
    assert result["diff"]["before"] == {"state": "running", "pid": old["pid"], "argv": service["argv"]}
    assert result["diff"]["after"] == {"state": "running", "pid": result["pid"], "argv": new_args["argv"]}
    assert wait_for(lambda: not alive(old["pid"]), 2)
    assert answers(new_port)
    assert read_pid(service) == result["pid"]


def test_changed_argv_without_restart_on_change_warns(run, service):
    old = run(**service)
    new_args = dict(service, argv=http_server(reserve_port()), restart_on_change=False)

    result = run(**new_args)

    assert result["changed"] is False
    assert result["pid"] == old["pid"]
    assert result["argv"] == service["argv"]
    assert "restart_on_change" in json.dumps(result.get("warnings"))
    assert alive(old["pid"])
    assert read_pid(service) == old["pid"]


@pytest.mark.parametrize("with_health_port", [False, True], ids=["alive-check", "health-port"])
def test_command_exiting_at_once_fails_with_log_tail(run, tmp_path, with_health_port):
    pid_file = tmp_path / "boom.pid"
    args = {"name": "boomer", "pid_file": str(pid_file), "timeout": 10,
            "argv": [PYTHON, "-c", "import sys; print('boom'); sys.exit(3)"]}
    if with_health_port:
        args["health_port"] = reserve_port()

    result = run(**args)

    assert result["failed"] is True
    assert "boomer" in result["msg"]
    assert "exited with code 3" in result["msg"]
    assert "boom" in result["msg"].split("Last lines of")[1]
    assert not pid_file.exists()
    assert (tmp_path / "boom.log").read_text().strip() == "boom"


def test_server_error_is_not_healthy(run, tmp_path):
    port = reserve_port()
    code = (
        "import http.server as h\n"
        "class H(h.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_error(503)\n"
        f"h.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\n"
    )
    args = {"name": "broken", "pid_file": str(tmp_path / "broken.pid"), "argv": [PYTHON, "-c", code],
            "health_url": f"http://127.0.0.1:{port}/", "timeout": 1}

    result = run(**args)

    assert result["failed"] is True
    assert "HTTP 503" in result["msg"]
    assert not (tmp_path / "broken.pid").exists()
    assert not answers(port)


def test_health_check_answered_by_another_process_fails_before_start(run, service):
    squatter = subprocess.Popen(http_server(port_of(service)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: answers(port_of(service)))

        result = run(**service)

        assert result["failed"] is True
        assert "already answers" in result["msg"]
        assert not Path(service["pid_file"]).exists()
        assert squatter.poll() is None
    finally:
        squatter.kill()
        squatter.wait()


def listen_on(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def test_port_held_by_another_process_names_holder_and_setting_then_rerun_converges(run, service):
    squatter = listen_on(port_of(service))  # accepts TCP but answers no HTTP: only the port check can see it
    try:
        result = run(**dict(service, port_variable="web_port"))

        assert result["failed"] is True
        assert f"port {port_of(service)} on 127.0.0.1 is already in use by pid {os.getpid()}" in result["msg"]
        assert "pytest" in result["msg"] or sys.executable in result["msg"], "the holder's command line"
        assert "set web_port to a free port" in result["msg"]
        assert not Path(service["pid_file"]).exists()
    finally:
        squatter.close()

    again = run(**dict(service, port_variable="web_port"))
    assert again["changed"] is True and again["state"] == "running"


def test_port_taken_between_check_and_bind_names_holder(run, service, monkeypatch):
    """The race the check cannot close: the port is free when checked and taken before the server binds it."""
    squatter = listen_on(port_of(service))
    monkeypatch.setattr(local_process, "port_taken", lambda port: False)
    try:
        result = run(**dict(service, health_url=None, health_port=None, port=port_of(service), port_variable="web_port"))

        assert result["failed"] is True
        assert f"already in use by pid {os.getpid()}" in result["msg"] and "web_port" in result["msg"]
        assert "Address already in use" in result["msg"], "the server's own words, from its log"
    finally:
        squatter.close()


def test_port_holders_reads_proc(service):
    assert local_process.port_holders(port_of(service)) == []
    squatter = listen_on(port_of(service))
    try:
        assert local_process.port_holders(port_of(service)) == [os.getpid()]
        assert local_process.port_taken(port_of(service))
    finally:
        squatter.close()
    assert not local_process.port_taken(port_of(service))


def test_health_timeout_kills_child(run, tmp_path):
    child_pid_file = tmp_path / "child-wrote-this"
    code = f"import os, time; open({str(child_pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    args = {"name": "sleeper", "pid_file": str(tmp_path / "sleeper.pid"), "argv": [PYTHON, "-c", code],
            "health_port": reserve_port(), "timeout": 2}

    started = time.monotonic()
    result = run(**args)

    assert result["failed"] is True
    assert "sleeper" in result["msg"] and "not healthy after 2s" in result["msg"]
    assert time.monotonic() - started < 8
    assert wait_for(child_pid_file.exists, 1)
    child = int(child_pid_file.read_text())
    assert not alive(child)
    assert not (tmp_path / "sleeper.pid").exists()


def test_environment_chdir_and_log_file(run, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    log_file = tmp_path / "logs" / "custom.log"
    code = "import os, sys, time; print(os.environ['GREETING'], os.getcwd(), flush=True); time.sleep(60)"
    args = {"name": "env", "pid_file": str(tmp_path / "env.pid"), "log_file": str(log_file), "chdir": str(workdir),
            "environment": {"GREETING": "hello"}, "argv": [PYTHON, "-c", code]}

    result = run(**args)

    assert result["changed"] is True
    assert result["log_file"] == str(log_file)
    assert wait_for(lambda: log_file.is_file() and log_file.read_text().strip() != "", 2)
    assert log_file.read_text().split() == ["hello", str(workdir)]


def test_argv0_is_looked_up_in_path(run, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "pyalias").symlink_to(PYTHON)
    args = {"name": "lookup", "pid_file": str(tmp_path / "lookup.pid"), "environment": {"PATH": str(bindir)},
            "argv": ["pyalias", "-c", "import time; time.sleep(60)"]}

    result = run(**args)

    assert result["changed"] is True
    with open(f"/proc/{result['pid']}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == str(bindir / "pyalias").encode()


@pytest.mark.parametrize("command, reason", [
    ("no-such-command-smartcity", "was not found in PATH"),
    ("./no/such/file", "is not an executable file"),
])
def test_command_not_found_fails_clearly(run, tmp_path, command, reason):
    pid_file = tmp_path / "missing.pid"

    result = run(name="missing", pid_file=str(pid_file), argv=[command, "--help"])

    assert result["failed"] is True
    assert "missing" in result["msg"] and command in result["msg"] and reason in result["msg"]
    assert not pid_file.exists()


def test_started_requires_argv(run, tmp_path):
    result = run(name="x", pid_file=str(tmp_path / "x.pid"))

    assert result["failed"] is True
    assert "argv" in result["msg"]
