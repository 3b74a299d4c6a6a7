"""Every Molecule scenario (one per role) against its own local endpoint and MQTT port, both free ports.

The local data plane of a scenario (molecule/local_data_plane, molecule/smoke_test) keeps its CA, pid files and logs
in SMARTCITY_ENDPOINT_STATE_DIR/data-plane; whatever a failed run left running there is stopped by its pid files.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import ROOT, VENV_BIN, reserve_port, stop_by_pid_file, stop_data_plane

SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))


def test_every_role_has_a_scenario() -> None:
    roles = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").exists())
    assert roles == SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario: str, tmp_path) -> None:
    port, mqtt_port = reserve_port(), reserve_port()
    state_dir = tmp_path / "endpoint"
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "SMARTCITY_ENDPOINT_PORT": str(port),
        "SMARTCITY_ENDPOINT_STATE_DIR": str(state_dir),
        "SMARTCITY_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "SMARTCITY_MQTT_PORT": str(mqtt_port),
        "MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path / "ephemeral"),
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
            timeout=600,
            check=False,
        )
    finally:
        stop_data_plane(state_dir / "data-plane" / "us-east-1")
        stop_by_pid_file(state_dir / "moto.pid")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    # check must run before converge, and the second converge must change nothing
    assert "idempotence" in output.lower()
