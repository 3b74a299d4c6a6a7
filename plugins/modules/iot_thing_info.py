#!/usr/bin/python
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iot_thing_info
short_description: List AWS IoT things by name, thing type or attribute, with their principals
version_added: 0.1.0
description:
  - Returns AWS IoT things with their attributes, thing type and version, and the principals (certificates) attached
    to each.
  - "Select by O(names) (a named thing that does not exist is left out of the list, it is not an error), or by the
    ListThings filters O(thing_type) and/or O(attribute_name) with O(attribute_value). With no selection, every thing
    in the region is listed."
  - Credentials, region and endpoint come from the standard AWS options.
author:
  - Smart City Platform Team (@smartcity)
options:
  names:
    description:
      - Thing names. Mutually exclusive with O(thing_type), O(attribute_name) and O(attribute_value).
    type: list
    elements: str
    aliases: [name]
  thing_type:
    description:
      - Only things of this thing type.
    type: str
  attribute_name:
    description:
      - Only things whose attribute of this name has the value O(attribute_value) (both are needed).
    type: str
  attribute_value:
    description:
      - The attribute value that O(attribute_name) must have.
    type: str
  include_principals:
    description:
      - Return each thing's principals (one ListThingPrincipals call per thing; turn it off for large fleets).
    type: bool
    default: true
notes:
  - Read only; supports check mode.
attributes:
  check_mode:
    support: full
    description: Read only; check mode runs the same reads.
  diff_mode:
    support: none
    description: Not supported.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Two named sensors (one of them may not exist)
  smartcity.iot_analytics.iot_thing_info:
    names: [z001-s0001, z001-s0002]
  register: sensors

- name: Every sensor of zone z001 of the production thing type, without principals
  smartcity.iot_analytics.iot_thing_info:
    thing_type: city-prod-sensor
    attribute_name: zone
    attribute_value: z001
    include_principals: false
  register: zone_sensors

- name: Things that have no certificate attached
  ansible.builtin.debug:
    msg: "{{ sensors.things | rejectattr('principals') | map(attribute='thing_name') | list }}"
"""

RETURN = r"""
things:
  description: The things found, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    thing_name:
      description: The thing name.
      type: str
      sample: z001-s0001
    thing_arn:
      description: The thing's ARN.
      type: str
      sample: arn:aws:iot:eu-west-1:123456789012:thing/z001-s0001
    thing_type_name:
      description: The thing type, none when the thing has none.
      type: str
      sample: city-prod-sensor
    attributes:
      description: The thing's attributes.
      type: dict
      sample: {"zone": "z001"}
    version:
      description: The thing's version.
      type: int
      sample: 2
    principals:
      description: ARNs of the principals (certificates) attached to the thing, sorted.
      type: list
      elements: str
      returned: when O(include_principals=true)
    certificate_ids:
      description: The certificate ids of those principals that are certificates.
      type: list
      elements: str
      returned: when O(include_principals=true)
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot import (
    IoTError,
    IoTErrorHandler,
    certificate_id_from_arn,
    iot_client,
    paginate,
    thing_name_error,
    thing_principals,
)


def facts(thing):
    return {
        "thing_name": thing["thingName"],
        "thing_arn": thing.get("thingArn"),
        "thing_type_name": thing.get("thingTypeName"),
        "attributes": dict(thing.get("attributes") or {}),
        "version": thing.get("version"),
    }


class ThingInfo:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params

    @IoTErrorHandler.list_error_handler("describe a thing")
    def _describe(self, name):
        return self.client.describe_thing(thingName=name, aws_retry=True)

    @IoTErrorHandler.common_error_handler("list the things")
    def _list(self):
        filters = {}
        if self.params["thing_type"]:
            filters["thingTypeName"] = self.params["thing_type"]
        if self.params["attribute_name"]:
            filters["attributeName"] = self.params["attribute_name"]
            filters["attributeValue"] = self.params["attribute_value"]
        return paginate(self.client, "list_things", "things", **filters)

    @IoTErrorHandler.common_error_handler("list a thing's principals")
    def _principals(self, name):
        return thing_principals(self.client, name)

    @IoTErrorHandler.task_error_handler("listing the IoT things")
    def things(self):
        if self.params["names"] is not None:
            found = [self._describe(name) for name in dict.fromkeys(self.params["names"])]
            things = [facts(thing) for thing in found if thing is not None]
        else:
            things = [facts(thing) for thing in self._list()]
        result = []
        for thing in sorted(things, key=lambda t: t["thing_name"]):
            if self.params["include_principals"]:
                principals = self._principals(thing["thing_name"])
                if principals is None:  # deleted since it was listed
                    continue
                thing["principals"] = principals
                thing["certificate_ids"] = [cid for cid in map(certificate_id_from_arn, principals) if cid]
            result.append(thing)
        return result


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            names=dict(type="list", elements="str", aliases=["name"]),
            thing_type=dict(type="str"),
            attribute_name=dict(type="str"),
            attribute_value=dict(type="str"),
            include_principals=dict(type="bool", default=True),
        ),
        mutually_exclusive=[("names", "thing_type"), ("names", "attribute_name"), ("names", "attribute_value")],
        required_together=[("attribute_name", "attribute_value")],
        supports_check_mode=True,
    )
    errors = [f"names: {message}" for message in map(thing_name_error, module.params["names"] or []) if message]
    if errors:
        module.fail_json(msg="; ".join(errors))
    info = ThingInfo(module, iot_client(module))
    try:
        things = info.things()
    except IoTError as error:
        module.fail_json_aws_error(error)
    module.exit_json(changed=False, things=things)


if __name__ == "__main__":
    main()
