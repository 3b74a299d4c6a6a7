# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: state_dir
author:
  - Smart City Platform Team (@smartcity)
version_added: 0.1.0
short_description: Where this collection keeps its state on the controller
description:
  - Returns C($XDG_STATE_HOME/smartcity-iot-analytics) (C(~/.local/state/smartcity-iot-analytics) when
    E(XDG_STATE_HOME) is not set), joined with the terms as path parts.
  - The one definition of that directory. The local endpoint's pid file and log, the local data plane's CA and
    processes, rotation reports and each environment's stack outputs live under it.
  - With O(local_pki), returns the local data plane's CA directory for that endpoint URL
    (C(data-plane-PORT/pki) under the state directory), or an empty string when the URL is empty (AWS, which has no
    local CA to default to).
options:
  _terms:
    description: Path parts below the state directory.
    type: list
    elements: str
    required: false
  local_pki:
    description: A local endpoint URL whose data plane CA directory to return; empty for none.
    type: str
"""

EXAMPLES = r"""
- name: Where rotation reports go
  ansible.builtin.debug:
    msg: "{{ lookup('smartcity.iot_analytics.state_dir', 'rotation-reports') }}"

- name: The local data plane's CA for the role's endpoint, or '' against AWS
  ansible.builtin.debug:
    msg: "{{ lookup('smartcity.iot_analytics.state_dir', local_pki=aws_endpoint_url | default('')) }}"
"""

RETURN = r"""
_raw:
  description: The directory (one path), or an empty string for O(local_pki) without a URL.
  type: list
  elements: path
"""

import os
from urllib.parse import urlsplit

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

NAME = "smartcity-iot-analytics"


def state_dir(*parts: str, environ=None) -> str:
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_STATE_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, NAME, *parts)


def local_pki_dir(endpoint_url: str, environ=None) -> str:
    if not endpoint_url:
        return ""
    try:
        port = urlsplit(endpoint_url).port
    except ValueError as error:
        raise AnsibleError(f"local_pki: {endpoint_url!r} is not an endpoint URL with a port ({error})") from error
    if port is None:
        raise AnsibleError(f"local_pki: {endpoint_url!r} is not an endpoint URL with a port, such as http://127.0.0.1:5000")
    return state_dir(f"data-plane-{port}", "pki", environ=environ)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        local_pki = self.get_option("local_pki")
        if local_pki is not None:
            if terms:
                raise AnsibleError("state_dir: give either path parts or local_pki, not both")
            return [local_pki_dir(local_pki)]
        return [state_dir(*(str(term) for term in terms))]
