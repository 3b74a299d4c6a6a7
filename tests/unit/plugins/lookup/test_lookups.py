"""The collection's lookups: aws_connection (the roles' AWS connection, one definition) and state_dir (where state
lives on the controller, one definition). Run through ansible-core's lookup loader, as a template calls them."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, lookup_loader
from ansible.template import Templar, trust_as_template

from conftest import COLLECTIONS


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
