"""The collection's lookups: aws_connection (the roles' AWS connection, one definition) and state_dir (where state
lives on the controller, one definition), rendered by ansible-playbook as a role's template renders them."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, VENV_BIN, ansible_env

# name -> (template, environment variables); each is rendered by ansible-playbook, as a role's template renders it
# (in a subprocess: loading plugins in the test process would change ansible-core's process-wide state for later tests)
CASES = {
    "all_set": ("{{ lookup('smartcity.iot_analytics.aws_connection') }}", {}),
    "unset": ("{{ lookup('smartcity.iot_analytics.aws_connection') }}", {}),
    "state": ("{{ lookup('smartcity.iot_analytics.state_dir') }}", {"XDG_STATE_HOME": "/srv/state"}),
    "state_parts": ("{{ lookup('smartcity.iot_analytics.state_dir', 'rotation-reports') }}", {"XDG_STATE_HOME": "/srv/state"}),
    "state_home": ("{{ lookup('smartcity.iot_analytics.state_dir', 'a', 'b') }}", {"XDG_STATE_HOME": "", "HOME": "/home/ops"}),
    "pki": ("{{ lookup('smartcity.iot_analytics.state_dir', local_pki='http://127.0.0.1:5123') }}", {"XDG_STATE_HOME": "/s"}),
    "pki_aws": ("{{ lookup('smartcity.iot_analytics.state_dir', local_pki=aws_endpoint_url | default('', true)) }}", {}),
    "pki_no_port": ("{{ lookup('smartcity.iot_analytics.state_dir', local_pki='http://127.0.0.1') }}", {}),
    "pki_and_parts": ("{{ lookup('smartcity.iot_analytics.state_dir', 'x', local_pki='http://127.0.0.1:5000') }}", {}),
}
HOST_VARS = {
    "all_set": {"aws_region": "eu-west-1", "aws_endpoint_url": "http://127.0.0.1:5000", "aws_access_key": "AKIA",
                "aws_secret_key": "s", "aws_session_token": "t", "aws_profile": "city", "unrelated": 1},
    "unset": {"aws_region": "{{ 'us-' ~ 'east-1' }}", "aws_endpoint_url": "", "aws_profile": None,
              "aws_secret_key": "{{ nothing | default(omit) }}"},
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, str]:
    """Every case rendered on its own inventory host in one ansible-playbook run: name -> result or 'ERROR: message'."""
    tmp = tmp_path_factory.mktemp("lookups")
    out = tmp / "out"
    out.mkdir()
    hosts = {name: {"ansible_connection": "local", "case": template, **HOST_VARS.get(name, {})} for name, (template, _env) in CASES.items()}
    (tmp / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    (tmp / "play.yml").write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [{"block": [
        {"ansible.builtin.copy": {"content": "{{ case | to_json }}", "dest": f"{out}/{{{{ inventory_hostname }}}}", "mode": "0600"},
         "delegate_to": "localhost"}],
        "rescue": [{"ansible.builtin.copy": {"content": "{{ ('ERROR: ' ~ ansible_failed_result.msg) | to_json }}",
                                             "dest": f"{out}/{{{{ inventory_hostname }}}}", "mode": "0600"}, "delegate_to": "localhost"}]}]}]))
    results = {}
    # lookups run in the controller's process: one run per environment, the cases that share it together
    for env in {json.dumps(env, sort_keys=True) for _t, env in CASES.values()}:
        names = [name for name, (_t, e) in CASES.items() if json.dumps(e, sort_keys=True) == env]
        environment = ansible_env(**json.loads(env), ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"))
        proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(tmp / "inventory.yml"), "--limit", ",".join(names),
                               str(tmp / "play.yml")], cwd=tmp, env=environment, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        results.update({name: json.loads((out / name).read_text()) for name in names})
    return results


def test_aws_connection_maps_the_role_variables_to_module_options(rendered) -> None:
    assert rendered["all_set"] == {"region": "eu-west-1", "endpoint_url": "http://127.0.0.1:5000", "access_key": "AKIA",
                                   "secret_key": "s", "session_token": "t", "profile": "city"}


def test_aws_connection_leaves_out_what_is_not_set_so_boto3_chooses(rendered) -> None:
    assert rendered["unset"] == {"region": "us-east-1"}  # templated; empty, null and omitted ones left out


def test_state_dir_follows_xdg_state_home(rendered) -> None:
    assert rendered["state"] == "/srv/state/smartcity-iot-analytics"
    assert rendered["state_parts"] == "/srv/state/smartcity-iot-analytics/rotation-reports"
    assert rendered["state_home"] == "/home/ops/.local/state/smartcity-iot-analytics/a/b"


def test_state_dir_local_pki_is_the_endpoints_data_plane_ca_or_nothing(rendered) -> None:
    assert rendered["pki"] == "/s/smartcity-iot-analytics/data-plane-5123/pki"
    assert rendered["pki_aws"] == ""  # AWS: no local CA to default to
    assert rendered["pki_no_port"].startswith("ERROR") and "not an endpoint URL with a port" in rendered["pki_no_port"]
    assert rendered["pki_and_parts"].startswith("ERROR") and "either path parts or local_pki" in rendered["pki_and_parts"]


def _yaml_sources() -> list[Path]:
    return sorted([*ROOT.glob("roles/*/tasks/*.yml"), *ROOT.glob("roles/*/defaults/*.yml"), *ROOT.glob("playbooks/*.yml"),
                   *ROOT.glob("playbooks/tasks/*.yml"), *ROOT.glob("molecule/*/*.yml")])


def test_every_aws_connection_comes_from_the_lookup() -> None:
    """No role or playbook spells the connection out again: each module_defaults entry for the aws group is the lookup."""
    for path in _yaml_sources():
        for match in re.finditer(r"group/smartcity\.iot_analytics\.aws:(.*)", path.read_text()):
            assert match.group(1).strip() == "\"{{ lookup('smartcity.iot_analytics.aws_connection') }}\"", (
                f"{path.relative_to(ROOT)}: module_defaults for the aws group must be the aws_connection lookup")


def test_the_state_directory_is_spelled_out_only_in_the_lookup() -> None:
    for path in [*_yaml_sources(), *ROOT.glob("playbooks/templates/*.j2"), *ROOT.glob("roles/*/templates/*.j2")]:
        assert "XDG_STATE_HOME')" not in path.read_text(), f"{path.relative_to(ROOT)}: use lookup('smartcity.iot_analytics.state_dir')"
