"""Ports for the servers the tests start: outside the ephemeral range, reserved across processes, and a start that
lost its port to another process between selection and bind is retried on another port."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import ports
import pytest

from conftest import ROOT, local_endpoint

# Every place that starts servers for tests, scenarios, benchmarks and the smoke/bench commands.
SCANNED = ("tests", "molecule", "scripts", "files", "plugins", "roles", "playbooks")
# "bind to port 0, close, use the number later", in Python (bind(("127.0.0.1", 0)), bind(('', 0))) or read back.
BIND_ZERO = re.compile(r"""\.bind\(\(\s*(?:["'][^"']*["']|\w+)\s*,\s*0\s*\)\)|getsockname\(\)\[1\]""")


def test_reserved_port_is_below_the_ephemeral_range_and_bindable() -> None:
    low, _high = ports.ephemeral_range()
    port = ports.reserve_port()
    assert ports.RANGE_START <= port < low
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_reserved_port_is_refused_to_another_process() -> None:
    port = ports.reserve_port()
    code = f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); import ports; print(ports._try_lock({port}))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30)
    assert other.stdout.strip() == "False"
    # and this process never hands it out twice
    assert port not in ports.reserve_ports(20)


def test_a_port_with_a_listener_is_skipped(monkeypatch) -> None:
    busy = ports.reserve_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", busy))
        squatter.listen()
        ports._held.pop(busy)  # as if another program, not a test worker, served on it
        picks = iter([busy, busy + 1 if busy + 1 <= ports.candidate_range()[-1] else busy - 1])
        monkeypatch.setattr(ports.random, "choice", lambda seq: next(picks))
        assert ports.reserve_port() != busy


def test_consecutive_ports() -> None:
    first, second = ports.reserve_ports(2, consecutive=True)
    assert second == first + 1
    assert {first, second} <= set(ports._held)


def test_no_bind_to_zero_anywhere() -> None:
    offenders = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            if path == Path(__file__) or not path.is_file() or path.suffix not in ("", ".py", ".yml", ".yaml", ".j2", ".sh"):
                continue
            text = path.read_text(errors="replace")
            offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in BIND_ZERO.finditer(text)]
    assert offenders == [], "pick ports with tests/ports.py (reserve_port), never by binding to port 0"


def test_the_pattern_finds_what_it_names() -> None:
    """The grep above must be able to fail."""
    assert BIND_ZERO.search('sock.bind(("127.0.0.1", 0))')
    assert BIND_ZERO.search("s.bind(('', 0))")
    assert BIND_ZERO.search("port = sock.getsockname()[1]")
    assert not BIND_ZERO.search('sock.bind(("127.0.0.1", port))')


def test_endpoint_start_retries_when_its_port_is_taken_between_selection_and_bind(monkeypatch, tmp_path: Path) -> None:
    """The race: the port is free when picked and taken (here by a listener opened right after the pick) before the
    server binds it. The start fails with "address in use" and is retried on another port."""
    squatters: list[socket.socket] = []
    picked: list[int] = []
    real_reserve = ports.reserve_port

    def reserve_then_lose_the_first() -> int:
        port = real_reserve()
        picked.append(port)
        if len(picked) == 1:
            squatter = socket.socket()
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            squatters.append(squatter)
        return port

    monkeypatch.setattr(ports, "reserve_port", reserve_then_lose_the_first)
    try:
        with local_endpoint(tmp_path) as url:
            assert len(picked) == 2
            assert url == f"http://127.0.0.1:{picked[1]}"
        assert ports.in_use_message((tmp_path / "moto.log").read_text())
    finally:
        for squatter in squatters:
            squatter.close()


def test_start_on_free_port_gives_up_after_its_attempts() -> None:
    tried: list[int] = []

    def always_taken(port: int) -> None:
        tried.append(port)
        raise ports.PortInUse(port)

    with pytest.raises(ports.PortInUse):
        ports.start_on_free_port(always_taken, attempts=3)
    assert len(set(tried)) == 3
