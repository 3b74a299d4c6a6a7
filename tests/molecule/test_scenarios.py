"""Every Molecule scenario (one per role) against its own local endpoint and MQTT port, both free ports.

The local data plane of a scenario (molecule/local_data_plane, molecule/smoke_test) keeps its CA, pid files and logs
in SMARTCITY_ENDPOINT_STATE_DIR/data-plane; whatever a failed run left running there is stopped by its pid files.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, VENV_BIN, PortInUse, reserve_port, scaled, start_on_free_port, stop_by_pid_file, stop_data_plane

SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))


def test_every_role_has_a_scenario() -> None:
    roles = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").exists())
    assert roles == SCENARIOS


def run_scenario(scenario: str, tmp_path: Path, port: int, mqtt_port: int, view_port: int) -> str:
    """molecule test -s scenario on these ports; its output. PortInUse when a server of it could not bind its port."""
    work = tmp_path / f"ports-{port}-{mqtt_port}"
    state_dir = work / "endpoint"
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "SMARTCITY_ENDPOINT_PORT": str(port),
        "SMARTCITY_ENDPOINT_STATE_DIR": str(state_dir),
        "SMARTCITY_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "SMARTCITY_MQTT_PORT": str(mqtt_port),
        "SMARTCITY_VIEW_PORT": str(view_port),
        "MOLECULE_EPHEMERAL_DIRECTORY": str(work / "ephemeral"),
        "ANSIBLE_FORCE_COLOR": "0",
        "PY_COLORS": "0",
    }
    try:
        proc = subprocess.run(
            [str(VENV_BIN / "molecule"), "test", "-s", scenario],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=scaled(600),
            check=False,
        )
    finally:
        stop_data_plane(state_dir / "data-plane" / "us-east-1")
        stop_by_pid_file(state_dir / "moto.pid")
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 and "is already in use by" in output:
        raise PortInUse(port, f"molecule scenario {scenario}: {output[-2000:]}")
    assert proc.returncode == 0, output[-6000:]
    return output


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario: str, tmp_path: Path) -> None:
    # A port taken by another program after it was reserved fails the role with "is already in use by": run again on
    # other ports.
    output = start_on_free_port(lambda port: run_scenario(scenario, tmp_path, port, reserve_port(), reserve_port()))
    # check must run before converge, and the second converge must change nothing
    assert "idempotence" in output.lower()
