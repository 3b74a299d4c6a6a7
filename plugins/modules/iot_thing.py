#!/usr/bin/python
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iot_thing
short_description: Create, update and delete an AWS IoT thing, its attributes, thing type and thing groups
version_added: 0.1.0
description:
  - Manages one AWS IoT thing, its thing type, its attributes and its membership of static thing groups.
  - "Attributes are checked against the IoT rules before anything is called: names of 1 to 128 characters of
    C(a-z A-Z 0-9 _ . , @ / : # -), string values of at most 800 characters of C(a-z A-Z 0-9 _ . , @ / : # = [ ] -),
    at most 3 attributes on a thing without a thing type and at most 50 on a thing with one. An attribute that breaks
    a rule fails the task with a message that names the attribute and the rule, and nothing is changed."
  - "A thing type or a thing group that does not exist fails the task (naming the option and the missing name)
    unless O(create_thing_type) or O(create_thing_groups) says to create it. All of this is checked before the first
    change."
  - Updates are sent with the thing's version as C(expectedVersion), so a change made by someone else between the
    read and the write is not overwritten; the module then reads the thing again and recomputes its update (three
    attempts in all).
  - "O(state=absent) first detaches every principal (certificate) from the thing and then deletes the thing. The
    principals themselves are left alone: certificates stay in AWS IoT with their status and policies; delete them with
    M(smartcity.iot_analytics.iot_certificate). Detaching is eventually consistent in AWS IoT, so the deletion is
    retried for a short while when AWS still reports the thing as attached."
  - Credentials, region and endpoint come from the standard AWS options.
author:
  - Smart City Platform Team (@smartcity)
options:
  name:
    description:
      - "The thing name (1 to 128 characters of C(a-z A-Z 0-9 : _ -))."
    type: str
    required: true
    aliases: [thing_name]
  state:
    description:
      - V(present) makes sure the thing exists as described; V(absent) makes sure it does not exist.
      - A thing that is already absent is not an error (the task reports no change).
    type: str
    choices: [present, absent]
    default: present
  thing_type:
    description:
      - The thing type of the thing. It must exist unless O(create_thing_type=true).
      - Not set, the thing's current type (or none, for a new thing) is kept. An empty string removes the type.
      - A deprecated thing type cannot be given to a thing; the task fails for it.
    type: str
  create_thing_type:
    description:
      - Create O(thing_type) when it does not exist, with the searchable attribute C(zone).
    type: bool
    default: false
  attributes:
    description:
      - Thing attributes, names to string values (quote numbers in YAML).
      - Only the attributes listed here are managed; others stay unless O(purge_attributes=true).
      - An empty string as a value removes that attribute (as in the IoT API).
    type: dict
  purge_attributes:
    description:
      - Remove the attributes that are not in O(attributes). Without O(attributes), nothing is removed.
    type: bool
    default: false
  thing_groups:
    description:
      - Names of static thing groups the thing is a member of. They must exist unless O(create_thing_groups=true).
      - Groups not listed keep the thing as a member unless O(purge_thing_groups=true).
    type: list
    elements: str
  create_thing_groups:
    description:
      - Create the groups of O(thing_groups) that do not exist (top-level groups without properties).
    type: bool
    default: false
  purge_thing_groups:
    description:
      - Remove the thing from groups that are not in O(thing_groups). Without O(thing_groups), nothing is removed.
      - Membership of a dynamic thing group cannot be removed this way (AWS IoT refuses it).
    type: bool
    default: false
notes:
  - Supports check mode and diff mode. In check mode nothing is created or changed, and a thing that would be created
    has no ARN and no version in the result.
attributes:
  check_mode:
    support: full
    description: In check mode nothing is created or changed; the result shows the thing as it would be.
  diff_mode:
    support: full
    description: The diff shows the thing (type, attributes, groups, principals) before and after.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: A sensor of zone z001, of a thing type created when missing, in its zone's group
  smartcity.iot_analytics.iot_thing:
    name: z001-s0001
    thing_type: city-prod-sensor
    create_thing_type: true
    attributes:
      zone: z001
      model: tc-400
      firmware: "2.4.1"
    thing_groups: [zone-z001]
    create_thing_groups: true
  register: sensor

- name: Exactly these attributes (others are removed) and only this group
  smartcity.iot_analytics.iot_thing:
    name: z001-s0001
    attributes:
      zone: z001
    purge_attributes: true
    thing_groups: [zone-z001]
    purge_thing_groups: true

- name: Remove one attribute and keep the others
  smartcity.iot_analytics.iot_thing:
    name: z001-s0001
    attributes:
      firmware: ""

- name: Delete the thing (its certificates are detached, not deleted)
  smartcity.iot_analytics.iot_thing:
    name: z001-s0001
    state: absent
"""

RETURN = r"""
thing:
  description: The thing after the task (in check mode, as it would be); empty after O(state=absent).
  returned: always
  type: dict
  contains:
    thing_name:
      description: The thing name.
      type: str
      sample: z001-s0001
    thing_arn:
      description: The thing's ARN (none in check mode for a thing that would be created).
      type: str
      sample: arn:aws:iot:eu-west-1:123456789012:thing/z001-s0001
    thing_type_name:
      description: The thing type, none when the thing has none.
      type: str
      sample: city-prod-sensor
    attributes:
      description: The thing's attributes.
      type: dict
      sample: {"zone": "z001", "model": "tc-400"}
    version:
      description: The thing's version, which AWS IoT increases with every update.
      type: int
      sample: 3
    thing_groups:
      description: Names of the thing groups the thing is a member of, sorted.
      type: list
      elements: str
      sample: [zone-z001]
    principals:
      description: ARNs of the principals (certificates) attached to the thing, sorted.
      type: list
      elements: str
      sample: ["arn:aws:iot:eu-west-1:123456789012:cert/4f0ba7..."]
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot import (
    IoTError,
    IoTErrorHandler,
    attribute_errors,
    attribute_limit,
    iot_client,
    missing_ok,
    paginate,
    thing_name_error,
    thing_principals,
)

UPDATE_ATTEMPTS = 3
ZONE_ATTRIBUTE = "zone"

# DetachThingPrincipal is asynchronous in AWS IoT: DeleteThing right after it may still see the attachment.
delete_after_detach_retry = AWSRetry.jittered_backoff(retries=8, delay=2, max_delay=10, catch_extra_error_codes=["InvalidRequestException"])


def validate(module):
    """Everything that can be checked without AWS; fails before the first call."""
    params = module.params
    errors = []
    name_error = thing_name_error(params["name"])
    if name_error:
        errors.append("name: " + name_error)
    if params["state"] == "present" and params["attributes"]:
        errors.extend("attributes: " + message for message in attribute_errors(params["attributes"]))
        given = sum(1 for value in params["attributes"].values() if value != "")
        has_type = bool(params["thing_type"]) if params["thing_type"] is not None else True  # the limit known before reading
        limit = attribute_limit(has_type)
        if given > limit:
            errors.append(f"attributes: {given} attributes given; {limit_rule(has_type, limit)}")
    for group in params["thing_groups"] or []:
        if not group or not isinstance(group, str):
            errors.append(f"thing_groups: {group!r} is not a thing group name")
    if errors:
        module.fail_json(msg="; ".join(errors), errors=errors)


def limit_rule(has_type, limit):
    if has_type:
        return f"the IoT rule allows at most {limit} attributes on a thing with a thing type"
    return f"the IoT rule allows at most {limit} attributes on a thing without a thing type (give it a thing_type for up to 50)"


class Things:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.name = module.params["name"]
        self.check = module.check_mode

    # ---- reading ----

    @IoTErrorHandler.list_error_handler("describe the thing")
    def _describe(self):
        return self.client.describe_thing(thingName=self.name, aws_retry=True)

    @IoTErrorHandler.common_error_handler("list the thing's groups and principals")
    def _memberships(self):
        groups = missing_ok(paginate, self.client, "list_thing_groups_for_thing", "thingGroups", thingName=self.name)
        if groups is None:
            return None
        principals = thing_principals(self.client, self.name)
        if principals is None:
            return None
        return sorted(group["groupName"] for group in groups), principals

    def read(self):
        """The thing as facts (snake_case), or None when it does not exist."""
        description = self._describe()
        if description is None:
            return None
        memberships = self._memberships()
        if memberships is None:  # deleted between the two reads
            return None
        groups, principals = memberships
        return {
            "thing_name": description["thingName"],
            "thing_arn": description.get("thingArn"),
            "thing_type_name": description.get("thingTypeName"),
            "attributes": dict(description.get("attributes") or {}),
            "version": description.get("version"),
            "thing_groups": groups,
            "principals": principals,
        }

    @IoTErrorHandler.list_error_handler("describe the thing type")
    def _describe_thing_type(self, name):
        return self.client.describe_thing_type(thingTypeName=name, aws_retry=True)

    @IoTErrorHandler.list_error_handler("describe the thing group")
    def _describe_thing_group(self, name):
        return self.client.describe_thing_group(thingGroupName=name, aws_retry=True)

    # ---- what is wanted ----

    def desired_type(self, current):
        wanted = self.params["thing_type"]
        if wanted is None:
            return current["thing_type_name"] if current else None
        return wanted or None

    def desired_attributes(self, current):
        have = dict(current["attributes"]) if current else {}
        given = self.params["attributes"]
        if given is None:
            return have
        wanted = {} if self.params["purge_attributes"] else have
        for name, value in given.items():
            if value == "":
                wanted.pop(name, None)
            else:
                wanted[name] = value
        return wanted

    def desired_groups(self, current):
        have = set(current["thing_groups"]) if current else set()
        given = self.params["thing_groups"]
        if given is None:
            return sorted(have)
        if self.params["purge_thing_groups"]:
            return sorted(set(given))
        return sorted(have | set(given))

    def check_references(self, current, thing_type, attributes, groups):
        """Thing type, groups and the attribute count against AWS, before the first change.

        Returns the thing type (if any) and the groups that must be created."""
        create_type = None
        if thing_type and thing_type != (current or {}).get("thing_type_name"):
            described = self._describe_thing_type(thing_type)
            if described is None:
                if not self.params["create_thing_type"]:
                    self.module.fail_json(msg=f"thing_type: the thing type {thing_type!r} does not exist (set create_thing_type: true to create it)")
                create_type = thing_type
            elif (described.get("thingTypeMetadata") or {}).get("deprecated"):
                self.module.fail_json(msg=f"thing_type: the thing type {thing_type!r} is deprecated; AWS IoT gives it to no thing")
        limit = attribute_limit(bool(thing_type))
        unchanged = current is not None and (current["thing_type_name"], current["attributes"]) == (thing_type, attributes)
        if len(attributes) > limit and not unchanged:
            self.module.fail_json(
                msg=f"attributes: thing {self.name!r} would have {len(attributes)} attributes ({', '.join(sorted(attributes))}); "
                + limit_rule(bool(thing_type), limit)
            )
        missing_groups = []
        for group in groups:
            if current and group in current["thing_groups"]:
                continue
            if self._describe_thing_group(group) is None:
                missing_groups.append(group)
        if missing_groups and not self.params["create_thing_groups"]:
            self.module.fail_json(
                msg=f"thing_groups: the thing group(s) {', '.join(repr(g) for g in missing_groups)} do not exist (set create_thing_groups: true to create them)"
            )
        return create_type, missing_groups

    # ---- changing ----

    @IoTErrorHandler.common_error_handler("create the thing type")
    def _create_thing_type(self, name):
        self.client.create_thing_type(thingTypeName=name, thingTypeProperties={"searchableAttributes": [ZONE_ATTRIBUTE]}, aws_retry=True)

    @IoTErrorHandler.common_error_handler("create the thing group")
    def _create_thing_group(self, name):
        try:
            self.client.create_thing_group(thingGroupName=name, aws_retry=True)
        except is_boto3_error_code("ResourceAlreadyExistsException"):
            pass  # made by another task since it was described

    @IoTErrorHandler.common_error_handler("create the thing")
    def _create_thing(self, thing_type, attributes):
        params = {"thingName": self.name, "attributePayload": {"attributes": attributes}}
        if thing_type:
            params["thingTypeName"] = thing_type
        self.client.create_thing(**params, aws_retry=True)

    @IoTErrorHandler.common_error_handler("update the thing")
    def _update_thing(self, current, thing_type, attributes):
        """One UpdateThing at the version read; False on a version conflict (someone else changed the thing)."""
        params = {"thingName": self.name}
        if current.get("version") is not None:
            params["expectedVersion"] = current["version"]
        have = current["attributes"]
        changes = {name: value for name, value in attributes.items() if have.get(name) != value}
        changes.update({name: "" for name in have if name not in attributes})
        if changes:
            params["attributePayload"] = {"attributes": changes, "merge": True}
        if thing_type != current["thing_type_name"]:
            if thing_type:
                params["thingTypeName"] = thing_type
            else:
                params["removeThingType"] = True
        try:
            self.client.update_thing(**params, aws_retry=True)
        except is_boto3_error_code("VersionConflictException"):
            return False
        return True

    @IoTErrorHandler.common_error_handler("change the thing's group membership")
    def _set_groups(self, have, want):
        for group in sorted(set(want) - set(have)):
            self.client.add_thing_to_thing_group(thingGroupName=group, thingName=self.name, aws_retry=True)
        for group in sorted(set(have) - set(want)):
            self.client.remove_thing_from_thing_group(thingGroupName=group, thingName=self.name, aws_retry=True)

    @IoTErrorHandler.common_error_handler("detach a principal from the thing")
    def _detach(self, principal):
        missing_ok(self.client.detach_thing_principal, thingName=self.name, principal=principal, aws_retry=True)

    @IoTErrorHandler.deletion_error_handler("delete the thing")
    def _delete(self):
        @delete_after_detach_retry
        def delete():
            self.client.delete_thing(thingName=self.name, aws_retry=True)

        delete()
        return True

    # ---- the two states ----

    def present(self):
        """(changed, before, after): the thing as wanted, created or updated (in check mode: as it would be)."""
        attempts = 0
        while True:
            attempts += 1
            current = self.read()
            thing_type = self.desired_type(current)
            attributes = self.desired_attributes(current)
            groups = self.desired_groups(current)
            create_type, create_groups = self.check_references(current, thing_type, attributes, groups)
            wanted = {
                "thing_name": self.name,
                "thing_arn": current["thing_arn"] if current else None,
                "thing_type_name": thing_type,
                "attributes": attributes,
                "version": current["version"] if current else None,
                "thing_groups": groups,
                "principals": current["principals"] if current else [],
            }
            thing_changes = current is None or (current["thing_type_name"], current["attributes"]) != (thing_type, attributes)
            group_changes = (current["thing_groups"] if current else []) != groups
            if not thing_changes and not group_changes:
                return False, current, current
            if self.check:
                return True, current, wanted
            if create_type:
                self._create_thing_type(create_type)
            for group in create_groups:
                self._create_thing_group(group)
            if current is None:
                self._create_thing(thing_type, attributes)
                self._set_groups([], groups)
                break
            if thing_changes and not self._update_thing(current, thing_type, attributes):
                if attempts >= UPDATE_ATTEMPTS:
                    raise IoTError(
                        message=f"Failed to update the thing {self.name!r}: its version changed {attempts} times between "
                        "reading and updating it (someone else is changing it); run the task again"
                    )
                continue
            self._set_groups(current["thing_groups"], groups)
            break
        after = self.read()
        if after is None:
            raise IoTError(message=f"the thing {self.name!r} was deleted while it was being changed")
        return True, current, after

    def absent(self):
        """(changed, before, after): the thing and its principal attachments gone."""
        current = self.read()
        if current is None:
            return False, None, None
        if not self.check:
            for principal in current["principals"]:
                self._detach(principal)
            self._delete()
        return True, current, None


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True, aliases=["thing_name"]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            thing_type=dict(type="str"),
            create_thing_type=dict(type="bool", default=False),
            attributes=dict(type="dict"),
            purge_attributes=dict(type="bool", default=False),
            thing_groups=dict(type="list", elements="str"),
            create_thing_groups=dict(type="bool", default=False),
            purge_thing_groups=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    validate(module)
    things = Things(module, iot_client(module))
    try:
        converge = things.present if module.params["state"] == "present" else things.absent
        changed, before, after = IoTErrorHandler.task_error_handler(f"managing the IoT thing {module.params['name']!r}")(converge)()
    except IoTError as error:
        module.fail_json_aws_error(error)
    result = {"changed": changed, "thing": after or {}}
    if module._diff:
        result["diff"] = {"before": before or {}, "after": after or {}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
