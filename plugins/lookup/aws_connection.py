# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: aws_connection
author:
  - Smart City Platform Team (@smartcity)
version_added: 0.1.0
short_description: The AWS connection every role of this collection gives its AWS modules
description:
  - Returns the connection options for C(module_defaults) of C(group/smartcity.iot_analytics.aws) (this collection's
    AWS modules and amazon.aws's), built from the variables below. A variable that is not set, or set to null or an
    empty string, is left out, so the modules fall back to boto3's own chain (environment variables such as
    E(AWS_ACCESS_KEY_ID) that an AWX credential injects, E(AWS_PROFILE), an instance role).
  - "The variables, shared by every role that calls AWS:
    V(aws_region) (region), V(aws_endpoint_url) (endpoint_url: another endpoint, such as env=local's local endpoint),
    V(aws_access_key), V(aws_secret_key), V(aws_session_token) (access_key, secret_key, session_token) and
    V(aws_profile) (profile). deploy.yml and the other playbooks set them per region host from the environment's
    settings file."
  - "The one place the roles' connection is defined: each role's AWS tasks run in a block whose C(module_defaults)
    maps C(group/smartcity.iot_analytics.aws) to this lookup (see the example)."
options: {}
seealso:
  - name: amazon.aws module_defaults group
    description: The action group C(group/amazon.aws.aws), which C(group/smartcity.iot_analytics.aws) extends.
    link: https://docs.ansible.com/ansible/latest/collections/amazon/aws/docsite/guide_aws.html
"""

EXAMPLES = r"""
- name: Read a stack with the role's connection
  module_defaults:
    group/smartcity.iot_analytics.aws: "{{ lookup('smartcity.iot_analytics.aws_connection') }}"
  amazon.aws.cloudformation_info:
    stack_name: smartcity-iot-local
"""

RETURN = r"""
_raw:
  description: The connection options that are set, by module option name (region, endpoint_url, access_key,
    secret_key, session_token, profile).
  type: list
  elements: dict
"""

from ansible.plugins.lookup import LookupBase

try:  # ansible-core 2.19+: a variable that templates to omit raises this
    from ansible.errors import AnsibleValueOmittedError
except ImportError:  # ansible-core 2.17/2.18: it templates to the omit placeholder string
    AnsibleValueOmittedError = None

# module option <- variable
CONNECTION = {
    "region": "aws_region",
    "endpoint_url": "aws_endpoint_url",
    "access_key": "aws_access_key",
    "secret_key": "aws_secret_key",
    "session_token": "aws_session_token",
    "profile": "aws_profile",
}


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        connection = {}
        for option, name in CONNECTION.items():
            if name not in variables:
                continue
            try:
                value = self._templar.template(variables[name])
            except Exception as error:  # pylint: disable=broad-exception-caught
                if AnsibleValueOmittedError is not None and isinstance(error, AnsibleValueOmittedError):
                    continue
                raise
            if value not in (None, "", variables.get("omit")):
                connection[option] = value
        return [connection]
