#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: local_process
short_description: Run one long-lived local background process, tracked by a pid file
version_added: 0.1.0
author:
  - Smart City Platform Team (@smartcity)
description:
  - Starts or stops one long-running background process (a local service such as the moto AWS endpoint)
    on the host the module runs on, and tracks it with a pid file.
  - A started process runs in its own session, so it outlives the task that started it.
    Its standard output and standard error are appended to O(log_file).
  - Next to O(pid_file) the module keeps a sidecar file C(<pid_file>.json) with the command line and the kernel
    start time of the process. A pid is only treated as this module's process when its start time matches,
    so a pid reused by an unrelated process is never stopped or mistaken for the service.
  - After a start the module waits until the service is healthy (O(health_url), O(health_port) or O(health_file)). If it exits or
    does not become healthy within O(timeout) seconds, it is killed and the task fails with the end of its log.
  - If the health check already passes before a start, another process holds the port, and the task fails without
    starting anything.
  - With O(port), a port that another process holds, before the start or when the new process could not bind it,
    fails the task with a message that names the port, the process that holds it (read from C(/proc) when this user
    may read it) and O(port_variable), the setting that moves the service to another port. A re-run after the port
    was freed or moved starts the process.
  - Needs a Linux host (it reads C(/proc)).
options:
  name:
    description:
      - Label of the process, used in messages.
    type: str
    required: true
  state:
    description:
      - V(started) makes sure the process is running (and healthy, when a health check is set).
      - V(stopped) makes sure it is not running. It gets SIGTERM on its process group, and SIGKILL if it has
        not exited after O(timeout) seconds.
    type: str
    choices: [started, stopped]
    default: started
  argv:
    description:
      - The command to run, as a list of arguments. No shell is involved.
      - The first item is looked up in E(PATH) (after O(environment) is applied) unless it contains a V(/);
        a relative path is taken relative to O(chdir).
      - Required when O(state=started).
    type: list
    elements: str
  pid_file:
    description:
      - File that holds the pid of the process. Missing parent directories are created with mode V(0700).
    type: path
    required: true
  log_file:
    description:
      - File that the standard output and standard error of the process are appended to.
      - Defaults to O(pid_file) with its V(.pid) suffix replaced by V(.log).
    type: path
  chdir:
    description:
      - Working directory of the process. Defaults to the working directory of the module.
    type: path
  environment:
    description:
      - Environment variables for the process, merged over the environment of the module.
      - Values are converted to strings.
    type: dict
  health_url:
    description:
      - After a start, and for an already running process, send HTTP GET requests to this URL until one is answered
        with a status below 500. Proxies are not used.
    type: str
  health_port:
    description:
      - After a start, and for an already running process, wait until C(127.0.0.1) accepts TCP connections on this
        port. Used when O(health_url) is not set.
      - If none of O(health_url), O(health_port) and O(health_file) is set, the module only checks that a new process
        is still alive a moment after it started.
    type: int
  health_file:
    description:
      - For a process without a port of its own (a worker), it is healthy while this file exists and was modified
        less than 10 seconds ago. The process refreshes it while it works and its dependencies answer.
      - The file is removed before a start, so a stale file of an earlier run never passes for the new process.
      - Used when neither O(health_url) nor O(health_port) is set.
    type: path
  port:
    description:
      - The TCP port the process listens on (on C(127.0.0.1) or every address). Checked before a start, and after a
        start that failed, so that a port held by another process gets a message that says who holds it.
      - Defaults to O(health_port), else the port of O(health_url).
    type: int
  port_variable:
    description:
      - The setting that moves the service to another port, named in the message when O(port) is taken
        (for example V(local_endpoint_port)).
    type: str
  timeout:
    description:
      - Seconds to wait for the process to become healthy, and for it to exit after SIGTERM when stopping it.
    type: int
    default: 30
  restart_on_change:
    description:
      - When the running process was started with a different O(argv), stop it and start the new command.
      - If V(false), leave the running process alone and return a warning.
    type: bool
    default: true
notes:
  - Supports check mode and diff mode.
"""

EXAMPLES = r"""
- name: Start the local AWS endpoint
  smartcity.iot_analytics.local_process:
    name: moto
    argv:
      - moto_server
      - --host
      - 127.0.0.1
      - --port
      - "5000"
    pid_file: "{{ playbook_dir }}/.run/moto.pid"
    health_url: http://127.0.0.1:5000/moto-api/
    port_variable: moto_port
    timeout: 60

- name: Stop the local AWS endpoint
  smartcity.iot_analytics.local_process:
    name: moto
    state: stopped
    pid_file: "{{ playbook_dir }}/.run/moto.pid"
"""

RETURN = r"""
pid:
  description: Pid of the running process; V(null) when it is stopped or would be started in check mode.
  returned: always
  type: int
  sample: 41234
state:
  description: State of the process after the task, V(running) or V(stopped).
  returned: always
  type: str
  sample: running
argv:
  description: Command line of the running process (as given in O(argv)); V(null) when stopped.
  returned: always
  type: list
  elements: str
  sample: [/opt/venv/bin/moto_server, --host, 127.0.0.1, --port, "5000"]
pid_file:
  description: Path of the pid file.
  returned: always
  type: str
  sample: /srv/smartcity/.run/moto.pid
log_file:
  description: Path of the log file.
  returned: always
  type: str
  sample: /srv/smartcity/.run/moto.log
changed:
  description: Whether a process was started or stopped (or would be, in check mode).
  returned: always
  type: bool
  sample: true
"""

import json
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException

# Popen, not module.run_command: run_command waits for the command, and this module must leave it running.
from subprocess import DEVNULL, STDOUT, Popen
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

POLL_INTERVAL = 0.2
ALIVE_CHECK_SECONDS = 1.0
HEALTH_FILE_MAX_AGE = 10.0
KILL_WAIT_SECONDS = 5.0
LOG_TAIL_LINES = 20
LOG_TAIL_BYTES = 64 * 1024
TCP_LISTEN = "0A"
# What servers write when they cannot bind: Mosquitto "Address already in use", werkzeug (moto) "Port N is in use".
IN_USE_MARKERS = ("address already in use", "is in use by another program", "eaddrinuse")


class ProcessError(Exception):
    """A start, stop or health check failed; the message is meant for the user."""


@dataclass
class Paths:
    pid_file: str
    sidecar: str
    log_file: str


@dataclass
class Running:
    pid: int | None
    argv: list[str]


# --- /proc ---------------------------------------------------------------------------------------------------------

def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            data = f.read()
    except OSError:
        return None
    return data.rpartition(")")[2].split()


def is_alive(pid: int) -> bool:
    """True for a process that exists and has not exited (zombies count as exited)."""
    fields = proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def start_time(pid: int) -> int | None:
    """Start time of the process in clock ticks after boot (stat field 22): with the pid it names one process."""
    fields = proc_stat(pid)
    return int(fields[19]) if fields is not None else None


def command_line(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part) or None


def listening_inodes(port: int) -> set[str]:
    """Socket inodes of the TCP listeners on port (any address, IPv4 and IPv6), from /proc/net/tcp{,6}."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == TCP_LISTEN and int(fields[1].rpartition(":")[2], 16) == port:
                inodes.add(fields[9])
    return inodes


def port_holders(port: int) -> list[int]:
    """Pids of the processes that hold a listening socket on port, as far as this user may read /proc."""
    targets = {f"socket:[{inode}]" for inode in listening_inodes(port)}
    holders = []
    for entry in os.listdir("/proc") if targets else ():
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
            if any(os.readlink(f"/proc/{entry}/fd/{fd}") in targets for fd in fds):
                holders.append(int(entry))
        except OSError:
            continue  # gone, or another user's process
    return sorted(holders)


def port_taken(port: int) -> bool:
    """True when a server cannot bind port on 127.0.0.1 now (SO_REUSEADDR, as servers set it: TIME_WAIT is no bar)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def port_in_use_message(port: int, variable: str | None, ignore_pid: int | None = None) -> str:
    holders = [pid for pid in port_holders(port) if pid != ignore_pid]
    if holders:
        who = "; ".join(f"pid {pid} ({command_line(pid) or 'command line unreadable'})" for pid in holders)
    else:
        who = "a process this user cannot see in /proc"
    move = f"set {variable} to a free port" if variable else "give the service another port"
    return f"port {port} on 127.0.0.1 is already in use by {who}. Stop that process, or {move}"


def boot_id() -> str:
    with open("/proc/sys/kernel/random/boot_id", encoding="utf-8") as f:
        return f.read().strip()


# --- pid file and sidecar ------------------------------------------------------------------------------------------

def read_json(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_pid(path: str) -> int | None:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def find_running(paths: Paths) -> Running | None:
    """The process the pid file names, if it is alive and is the one this module started."""
    pid = read_pid(paths.pid_file)
    record = read_json(paths.sidecar)
    if pid is None or record is None or record.get("pid") != pid or not is_alive(pid):
        return None
    if record.get("start_time") != start_time(pid) or record.get("boot_id") != boot_id():
        return None
    argv = record.get("argv")
    return Running(pid, list(argv)) if isinstance(argv, list) else None


def make_dirs(path: str) -> None:
    """Create the missing directories of path, each with mode 0700."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        os.mkdir(directory, 0o700)


def write_atomic(path: str, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise


def write_records(paths: Paths, pid: int, argv: list[str]) -> None:
    """Write the sidecar first, so that a pid file is never there without its identity record."""
    record = {"pid": pid, "argv": argv, "start_time": start_time(pid), "boot_id": boot_id()}
    write_atomic(paths.sidecar, json.dumps(record) + "\n")
    write_atomic(paths.pid_file, f"{pid}\n")


def remove_records(paths: Paths) -> None:
    for path in (paths.pid_file, paths.sidecar):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


# --- starting, stopping, health ------------------------------------------------------------------------------------

def resolve_command(argv: list[str], env: dict[str, str], chdir: str | None) -> list[str]:
    command = argv[0]
    if "/" in command:
        path = os.path.abspath(os.path.join(chdir or os.getcwd(), command))
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise ProcessError(f"command {command!r} is not an executable file")
    else:
        path = shutil.which(command, path=env.get("PATH", os.defpath))
        if path is None:
            raise ProcessError(f"command {command!r} was not found in PATH ({env.get('PATH', os.defpath)})")
    return [path, *argv[1:]]


def spawn(command: list[str], log_file: str, env: dict[str, str], chdir: str | None) -> Popen:
    """Start command in a new session with output appended to log_file; it is never waited for here."""
    log_fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return Popen(  # pylint: disable=consider-using-with
            command, stdin=DEVNULL, stdout=log_fd, stderr=STDOUT,
            cwd=chdir, env=env, close_fds=True, start_new_session=True,
        )
    finally:
        os.close(log_fd)


def signal_group(pid: int, signum: int) -> None:
    """Signal the process group the process leads (a started process leads its own), or else the process alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL)


def terminate(pid: int, timeout: float) -> None:
    """SIGTERM the process group, SIGKILL it if the process has not exited after timeout seconds."""
    signal_group(pid, signal.SIGTERM)
    if wait_until(lambda: not is_alive(pid), timeout):
        return
    signal_group(pid, signal.SIGKILL)
    if not wait_until(lambda: not is_alive(pid), KILL_WAIT_SECONDS):
        raise ProcessError(f"pid {pid} is still alive after SIGKILL")


def probe(params: dict, timeout: float) -> str | None:
    """One health check: None if healthy, else why not."""
    health_url, health_port, health_file = params["health_url"], params["health_port"], params["health_file"]
    if not health_url and health_port is None:
        try:
            age = time.time() - os.stat(health_file).st_mtime
        except OSError as e:
            return f"{health_file}: {e.strerror}"
        return None if age < HEALTH_FILE_MAX_AGE else f"{health_file} is {age:.0f}s old"
    try:
        if health_url:
            open_url(health_url, method="GET", timeout=timeout, use_proxy=False, use_netrc=False).close()
        else:
            socket.create_connection(("127.0.0.1", health_port), timeout=timeout).close()
    except HTTPError as e:
        e.close()
        return None if e.code < 500 else f"{health_url} answered HTTP {e.code}"
    except (URLError, OSError, HTTPException) as e:
        target = health_url or f"127.0.0.1:{health_port}"
        return f"{target}: {getattr(e, 'reason', None) or e}"
    return None


def has_health_check(params: dict) -> bool:
    return bool(params["health_url"]) or params["health_port"] is not None or bool(params["health_file"])


def ensure_health_target_free(params: dict) -> None:
    """Fail before a start if something already answers the health check: it would pass for the wrong process."""
    if params["health_file"] and not params["health_url"] and params["health_port"] is None:
        if os.path.exists(params["health_file"]):
            os.unlink(params["health_file"])  # an earlier run's file must not pass for the new process
        return
    if has_health_check(params) and probe(params, 1.0) is None:
        target = params["health_url"] or f"127.0.0.1:{params['health_port']}"
        port = service_port(params)
        detail = port_in_use_message(port, params["port_variable"]) if port is not None else "another process holds it"
        raise ProcessError(f"{target} already answers before the process is started; {detail}")


def wait_healthy(exit_reason: Callable[[], str | None], params: dict) -> str | None:
    """Wait until the process is healthy. None when it is, else the reason; exit_reason() says if it has exited."""
    timeout = params["timeout"]
    deadline = time.monotonic() + timeout
    if not has_health_check(params):
        wait_until(lambda: exit_reason() is not None, min(ALIVE_CHECK_SECONDS, timeout))
        return exit_reason()
    last_error = "no check made"
    while True:
        reason = exit_reason()
        if reason is not None:
            return reason
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return f"not healthy after {timeout}s (last check: {last_error})"
        error = probe(params, max(0.1, min(remaining, 5.0)))
        if error is None:
            return None
        last_error = error
        time.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))


def log_tail(log_file: str, offset: int) -> str:
    """The last lines the process wrote to log_file after offset."""
    try:
        with open(log_file, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(offset if offset <= size else 0, size - LOG_TAIL_BYTES))
            data = f.read()
    except OSError as e:
        return f"(cannot read {log_file}: {e})"
    lines = data.decode("utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
    return "\n".join(lines) if lines else "(log is empty)"


def service_port(params: dict) -> int | None:
    if params["port"] is not None:
        return params["port"]
    if params["health_port"] is not None:
        return params["health_port"]
    if params["health_url"]:
        try:
            return urlsplit(params["health_url"]).port
        except ValueError:
            return None
    return None


def ensure_port_free(params: dict) -> None:
    port = service_port(params)
    if port is not None and port_taken(port):
        raise ProcessError(port_in_use_message(port, params["port_variable"]))


def start(params: dict, paths: Paths) -> int:
    """Start the process, record it and wait until it is healthy; on failure kill it and raise. Returns its pid."""
    env = dict(os.environ)
    env.update((str(k), str(v)) for k, v in (params["environment"] or {}).items())
    command = resolve_command(params["argv"], env, params["chdir"])
    ensure_health_target_free(params)
    ensure_port_free(params)
    for path in (paths.pid_file, paths.log_file):
        make_dirs(os.path.dirname(path))
    offset = os.path.getsize(paths.log_file) if os.path.exists(paths.log_file) else 0
    try:
        proc = spawn(command, paths.log_file, env, params["chdir"])
    except OSError as e:
        raise ProcessError(f"cannot run {command[0]}: {e}") from e
    write_records(paths, proc.pid, params["argv"])

    def exit_reason() -> str | None:
        code = proc.poll()
        return None if code is None else f"exited with code {code}"

    reason = wait_healthy(exit_reason, params)
    if reason is None:
        return proc.pid
    terminate(proc.pid, min(params["timeout"], KILL_WAIT_SECONDS))
    proc.poll()
    remove_records(paths)
    tail = log_tail(paths.log_file, offset)
    port = service_port(params)
    if port is not None and any(marker in tail.lower() for marker in IN_USE_MARKERS):
        # Taken between the check above and the process's own bind.
        reason = port_in_use_message(port, params["port_variable"], ignore_pid=proc.pid)
    raise ProcessError(f"{reason}. Last lines of {paths.log_file}:\n{tail}")


def check_running(running: Running, params: dict) -> None:
    def exit_reason() -> str | None:
        return None if is_alive(running.pid) else "exited"

    if has_health_check(params):
        reason = wait_healthy(exit_reason, params)
        if reason is not None:
            raise ProcessError(f"is running (pid {running.pid}) but not healthy: {reason}")


# --- states --------------------------------------------------------------------------------------------------------

def ensure_started(module: AnsibleModule, paths: Paths, running: Running | None) -> Running:
    """The process that runs after the task; its pid is None when check mode skipped a start."""
    params = module.params
    if running is not None and running.argv != params["argv"]:
        if not params["restart_on_change"]:
            module.warn(f"{params['name']} is running (pid {running.pid}) with a different command line "
                        f"{running.argv}; it is left alone because restart_on_change is false")
        else:
            if not module.check_mode:
                terminate(running.pid, params["timeout"])
            running = None
    if running is not None:
        check_running(running, params)
        return running
    if module.check_mode:
        return Running(None, params["argv"])
    remove_records(paths)
    return Running(start(params, paths), params["argv"])


def ensure_stopped(module: AnsibleModule, paths: Paths, running: Running | None) -> None:
    if module.check_mode:
        return
    if running is not None:
        terminate(running.pid, module.params["timeout"])
    remove_records(paths)


def describe(running: Running | None) -> dict:
    if running is None:
        return {"state": "stopped", "pid": None, "argv": None}
    return {"state": "running", "pid": running.pid, "argv": running.argv}


def default_log_file(pid_file: str) -> str:
    return pid_file.removesuffix(".pid") + ".log"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["started", "stopped"], "default": "started"},
            "argv": {"type": "list", "elements": "str"},
            "pid_file": {"type": "path", "required": True},
            "log_file": {"type": "path"},
            "chdir": {"type": "path"},
            "environment": {"type": "dict"},
            "health_url": {"type": "str"},
            "health_port": {"type": "int"},
            "health_file": {"type": "path"},
            "port": {"type": "int"},
            "port_variable": {"type": "str"},
            "timeout": {"type": "int", "default": 30},
            "restart_on_change": {"type": "bool", "default": True},
        },
        required_if=[("state", "started", ["argv"])],
        supports_check_mode=True,
    )
    params = module.params
    if params["state"] == "started" and not params["argv"]:
        module.fail_json(msg="argv must not be empty")
    if params["timeout"] < 0:
        module.fail_json(msg="timeout must not be negative")
    if not os.path.exists("/proc/self/stat"):
        module.fail_json(msg="local_process needs a Linux host with /proc")
    pid_file = os.path.abspath(params["pid_file"])
    paths = Paths(pid_file, pid_file + ".json", os.path.abspath(params["log_file"] or default_log_file(pid_file)))
    common = {"pid_file": paths.pid_file, "log_file": paths.log_file}

    before = find_running(paths)
    try:
        if params["state"] == "started":
            after = ensure_started(module, paths, before)
        else:
            ensure_stopped(module, paths, before)
            after = None
    except (ProcessError, OSError) as e:
        module.fail_json(msg=f"local process {params['name']}: {e}", **common)

    result = dict(changed=describe(before) != describe(after), **describe(after), **common)
    if module._diff:
        result["diff"] = {"before": describe(before), "after": describe(after)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
