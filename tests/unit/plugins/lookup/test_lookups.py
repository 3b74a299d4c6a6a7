"""The collection's lookups: aws_connection (the roles' AWS connection, one definition) and state_dir (where state
lives on the controller, one definition). Run through ansible-core's lookup loader, as a template calls them."""

from __future__ import annotations

import re

import pytest
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, lookup_loader
from ansible.template import Templar, trust_as_template

from conftest import COLLECTIONS, ROOT


@pytest.fixture(scope="module", autouse=True)
def collection_loader() -> None:
    """Plugins by FQCN from .collections (where this checkout is smartcity.iot_analytics), as ansible-playbook finds them."""
    init_plugin_loader([str(COLLECTIONS)])


def lookup(name: str, variables: dict, *terms, **kwargs):
    loader = DataLoader()
    templar = Templar(loader=loader, variables=variables)
    plugin = lookup_loader.get(f"smartcity.iot_analytics.{name}", loader=loader, templar=templar)
    assert plugin is not None, f"lookup smartcity.iot_analytics.{name} not found in {COLLECTIONS}"
    return plugin.run(list(terms), variables=variables, **kwargs)


def test_aws_connection_maps_the_role_variables_to_module_options() -> None:
    variables = {"aws_region": "eu-west-1", "aws_endpoint_url": "http://127.0.0.1:5000", "aws_access_key": "AKIA",
                 "aws_secret_key": "s", "aws_session_token": "t", "aws_profile": "city", "unrelated": 1}
    assert lookup("aws_connection", variables) == [{
        "region": "eu-west-1", "endpoint_url": "http://127.0.0.1:5000", "access_key": "AKIA", "secret_key": "s",
        "session_token": "t", "profile": "city"}]


def test_aws_connection_leaves_out_what_is_not_set_so_boto3_chooses() -> None:
    # templated values, as variables from a playbook are (2.19 templates only trusted strings)
    variables = {"aws_region": trust_as_template("{{ 'us-' ~ 'east-1' }}"), "aws_endpoint_url": "", "aws_profile": None,
                 "aws_secret_key": trust_as_template("{{ nothing | default(omit) }}")}
    assert lookup("aws_connection", variables) == [{"region": "us-east-1"}]
    assert lookup("aws_connection", {}) == [{}]


def test_state_dir_follows_xdg_state_home(monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/srv/state")
    assert lookup("state_dir", {}) == ["/srv/state/smartcity-iot-analytics"]
    assert lookup("state_dir", {}, "rotation-reports") == ["/srv/state/smartcity-iot-analytics/rotation-reports"]
    monkeypatch.setenv("XDG_STATE_HOME", "")
    monkeypatch.setenv("HOME", "/home/ops")
    assert lookup("state_dir", {}, "a", "b") == ["/home/ops/.local/state/smartcity-iot-analytics/a/b"]


def test_state_dir_local_pki_is_the_endpoints_data_plane_ca_or_nothing(monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/s")
    assert lookup("state_dir", {}, local_pki="http://127.0.0.1:5123") == ["/s/smartcity-iot-analytics/data-plane-5123/pki"]
    assert lookup("state_dir", {}, local_pki="") == [""]  # AWS: no local CA to default to
    with pytest.raises(AnsibleError, match="not an endpoint URL with a port"):
        lookup("state_dir", {}, local_pki="http://127.0.0.1")
    with pytest.raises(AnsibleError, match="either path parts or local_pki"):
        lookup("state_dir", {}, "x", local_pki="http://127.0.0.1:5000")


def _yaml_sources() -> list:
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
