#!/usr/bin/python
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudformation_change_set
short_description: Create a CloudFormation change set for review, or execute exactly a reviewed one
version_added: 0.1.0
description:
  - "O(state=present) creates a change set of O(stack_name) from O(template_body), O(parameters), O(tags) and
    O(capabilities), waits until CloudFormation has computed it and returns it with the stack's revision at that
    moment (RV(stack_revision)), without executing it. A stack that does not exist yet gets a C(CREATE) change set:
    CloudFormation then holds the stack in C(REVIEW_IN_PROGRESS) until the change set is executed, so a first
    deployment can wait for approval too. A change set that would change nothing is deleted and the result says
    so (RV(change_set) is empty)."
  - "O(state=executed) executes the change set O(change_set_name) of O(stack_name) and waits until the stack
    operation completes, after checking that it is still exactly what was reviewed: the change set exists and
    belongs to O(stack_name), it is C(AVAILABLE), the stack was not updated after the change set was created
    (C(LastUpdatedTime)), and, with O(expected_revision), the stack's id, status, template, parameters and tags are
    those recorded at review. Otherwise the module fails with the reason and executes nothing."
  - O(state=absent) deletes the change set O(change_set_name); one that is already gone is not an error.
  - amazon.aws.cloudformation can create a change set (C(create_changeset)) but neither execute a named one nor
    create one for a stack that does not exist yet (it creates the stack at once).
  - Credentials, region and endpoint come from the standard AWS options.
author:
  - Smart City Platform Team (@smartcity)
options:
  stack_name:
    description:
      - Name of the stack.
    type: str
    required: true
  state:
    description:
      - V(present) creates a change set for review; V(executed) executes a reviewed change set; V(absent) deletes
        one.
    type: str
    choices: [present, executed, absent]
    default: present
  change_set_name:
    description:
      - The change set's name or ARN. Required with O(state=executed) and O(state=absent).
      - With O(state=present) the default is C(review-) and a hash of what the change set is made of; an earlier
        change set of that name is replaced.
    type: str
  template_body:
    description:
      - The template text. Required with O(state=present).
    type: str
  parameters:
    description:
      - Template parameters, name to value (O(state=present)).
    type: dict
    default: {}
  tags:
    description:
      - Stack tags, name to value (O(state=present)).
    type: dict
    default: {}
  capabilities:
    description:
      - Capabilities acknowledged for the template (O(state=present)).
    type: list
    elements: str
    default: []
  description:
    description:
      - Description of the change set (O(state=present)).
    type: str
  on_stack_failure:
    description:
      - What CloudFormation does when the creation of a new stack through a C(CREATE) change set fails
        (O(state=present); ignored for an existing stack).
    type: str
    choices: [DO_NOTHING, ROLLBACK, DELETE]
    default: DELETE
  expected_revision:
    description:
      - With O(state=executed), the stack's revision recorded when the change set was reviewed (RV(stack_revision)
        of O(state=present)). The change set is refused when the stack's id, status, template, parameters or tags
        differ from it.
    type: dict
  termination_protection:
    description:
      - With O(state=executed), termination protection set on the stack once the change set has been executed.
        Unset leaves it as it is.
    type: bool
  wait_timeout:
    description:
      - Seconds to wait for CloudFormation to compute the change set (O(state=present)) or to finish executing it
        (O(state=executed)).
    type: int
    default: 1800
  wait_delay:
    description:
      - Seconds between two looks at the change set or the stack while waiting.
    type: int
    default: 5
notes:
  - Supports check mode. O(state=present) then reports that it would create a change set, O(state=executed) makes
    every check and reports the change set it would execute and its changes, and nothing is created or executed.
  - On AWS, executing a change set deletes the stack's other change sets, and an update of the stack by other
    means makes them C(OBSOLETE).
attributes:
  check_mode:
    support: full
    description: Nothing is created, executed or deleted in check mode.
  diff_mode:
    support: none
    description: The changes are in RV(change_set.changes).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Create a change set for review (a CREATE change set when the stack does not exist yet)
  smartcity.iot_analytics.cloudformation_change_set:
    stack_name: smartcity-iot-prod
    template_body: "{{ lookup('ansible.builtin.file', 'iot-analytics-system.yaml') }}"
    parameters:
      EnvironmentName: prod
    tags:
      environment: prod
    capabilities: [CAPABILITY_IAM, CAPABILITY_AUTO_EXPAND]
  register: review

- name: Pass the reviewed change set on to the job that executes it after approval
  ansible.builtin.set_stats:
    data:
      reviewed: "{{ review.change_set | combine({'stack_revision': review.stack_revision}) }}"
    per_host: false
    aggregate: false

- name: Execute exactly the reviewed change set, refused if the stack changed since the review
  smartcity.iot_analytics.cloudformation_change_set:
    stack_name: smartcity-iot-prod
    state: executed
    change_set_name: "{{ reviewed.change_set_id }}"
    expected_revision: "{{ reviewed.stack_revision }}"
    termination_protection: true

- name: Throw a change set away
  smartcity.iot_analytics.cloudformation_change_set:
    stack_name: smartcity-iot-prod
    state: absent
    change_set_name: "{{ reviewed.change_set_id }}"
"""

RETURN = r"""
change_set:
  description:
    - The change set created, executed or deleted; empty when O(state=present) found nothing to change, or in check
      mode with O(state=present).
  returned: always
  type: dict
  contains:
    change_set_id:
      description: ARN of the change set.
      type: str
      sample: arn:aws:cloudformation:us-east-1:123456789012:changeSet/review-1a2b/8f0e0c6e-2b3c-4d5e-9f00-0123456789ab
    change_set_name:
      description: Name of the change set.
      type: str
    change_set_type:
      description: C(CREATE) for a stack that did not exist, C(UPDATE) otherwise.
      type: str
    stack_id:
      description: ARN of the stack the change set belongs to.
      type: str
    stack_name:
      description: Name of that stack.
      type: str
    creation_time:
      description: When the change set was created (ISO 8601).
      type: str
    status:
      description: The change set's status (C(CREATE_COMPLETE) once computed).
      type: str
    execution_status:
      description: C(AVAILABLE) while it can be executed; C(EXECUTE_COMPLETE), C(OBSOLETE), ... afterwards.
      type: str
    changes:
      description: The resource changes.
      type: list
      elements: dict
      contains:
        action:
          description: C(Add), C(Modify), C(Remove), C(Import) or C(Dynamic).
          type: str
        logical_resource_id:
          description: Logical id of the resource in the template.
          type: str
        resource_type:
          description: Resource type.
          type: str
        replacement:
          description: C(True), C(False), C(Conditional), or C(n/a) where it does not apply.
          type: str
stack_revision:
  description:
    - What the stack was when the change set was created (O(state=present)) or executed (O(state=executed)); pass
      it to O(expected_revision) to refuse a change set whose stack changed in between.
  returned: when the stack exists
  type: dict
  contains:
    stack_id:
      description: ARN of the stack.
      type: str
    status:
      description: Stack status (C(REVIEW_IN_PROGRESS) for a stack that waits for its first change set).
      type: str
    last_updated_time:
      description: When the stack was last updated (ISO 8601), empty if never.
      type: str
    template_sha256:
      description: SHA-256 of the stack's current template.
      type: str
    parameters:
      description: The stack's parameters, name to value (C(****) for C(NoEcho) ones).
      type: dict
    tags:
      description: The stack's tags, name to value.
      type: dict
stack_status:
  description: Status of the stack after the operation (C(ABSENT) when it does not exist).
  returned: always
  type: str
  sample: UPDATE_COMPLETE
msg:
  description: What was done, or why nothing was.
  returned: always
  type: str
"""

import datetime
import hashlib
import json
from typing import Any

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code, is_boto3_error_message
from ansible_collections.amazon.aws.plugins.module_utils.errors import AWSErrorHandler
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

NO_CHANGES = ("The submitted information didn't contain changes", "No updates are to be performed")
# Stack statuses in which CloudFormation accepts no change set but a CREATE one (the stack does not exist as such).
NOT_CREATED = ("REVIEW_IN_PROGRESS",)


class CloudFormationErrorHandler(AWSErrorHandler):
    @classmethod
    def _is_missing(cls):
        # AWS: ChangeSetNotFound for a change set; ValidationError "... does not exist" for a stack (and, on some
        # endpoints, for a change set).
        return (is_boto3_error_code("ChangeSetNotFound"), is_boto3_error_message("does not exist"))


class Refused(Exception):
    """The reviewed change set cannot be executed any more; the message says why."""


def _iso(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).isoformat()
    return str(value or "")


def _pairs(items: list[dict[str, Any]] | None, key: str, value: str) -> dict[str, str]:
    return {item[key]: str(item.get(value, "")) for item in items or []}


def _template_text(body: Any) -> str:
    # boto3 returns a JSON template as a parsed dictionary and a YAML one as text.
    return body if isinstance(body, str) else json.dumps(body, sort_keys=True, separators=(",", ":"))


@CloudFormationErrorHandler.list_error_handler("describe the stack")
def describe_stack(client, name: str) -> dict[str, Any] | None:
    stacks = client.describe_stacks(aws_retry=True, StackName=name)["Stacks"]
    return stacks[0] if stacks and stacks[0]["StackStatus"] != "DELETE_COMPLETE" else None


@CloudFormationErrorHandler.common_error_handler("read the stack's template")
def template_sha256(client, stack_id: str) -> str:
    body = client.get_template(aws_retry=True, StackName=stack_id, TemplateStage="Original")["TemplateBody"]
    return hashlib.sha256(_template_text(body).encode()).hexdigest()


def stack_revision(client, stack: dict[str, Any]) -> dict[str, Any]:
    return {
        "stack_id": stack["StackId"],
        "status": stack["StackStatus"],
        "last_updated_time": _iso(stack.get("LastUpdatedTime")),
        "template_sha256": template_sha256(client, stack["StackId"]),
        "parameters": _pairs(stack.get("Parameters"), "ParameterKey", "ParameterValue"),
        "tags": _pairs(stack.get("Tags"), "Key", "Value"),
    }


@CloudFormationErrorHandler.list_error_handler("describe the change set")
def describe_change_set(client, name: str, stack_name: str) -> dict[str, Any] | None:
    args = {"ChangeSetName": name} if name.startswith("arn:") else {"ChangeSetName": name, "StackName": stack_name}
    description = client.describe_change_set(aws_retry=True, **args)
    changes = list(description.get("Changes", []))
    while description.get("NextToken"):
        description = client.describe_change_set(aws_retry=True, NextToken=description["NextToken"], **args)
        changes.extend(description.get("Changes", []))
    description["Changes"] = changes
    return description


def change_set_facts(description: dict[str, Any]) -> dict[str, Any]:
    changes = []
    for change in description.get("Changes", []):
        resource = change.get("ResourceChange", {})
        changes.append({
            "action": resource.get("Action", ""),
            "logical_resource_id": resource.get("LogicalResourceId", ""),
            "resource_type": resource.get("ResourceType", ""),
            "replacement": resource.get("Replacement", "n/a"),
        })
    return {
        "change_set_id": description["ChangeSetId"],
        "change_set_name": description["ChangeSetName"],
        # DescribeChangeSet does not return the type: a stack that waits for review was never created.
        "change_set_type": description.get("_type", "UPDATE"),
        "stack_id": description["StackId"],
        "stack_name": description["StackName"],
        "creation_time": _iso(description.get("CreationTime")),
        "status": description.get("Status", ""),
        "execution_status": description.get("ExecutionStatus", ""),
        "changes": changes,
    }


def default_change_set_name(params: dict[str, Any]) -> str:
    material = {k: params[k] for k in ("template_body", "parameters", "tags", "capabilities", "description")}
    digest = hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return f"review-{digest}"


def waiter_config(module: AnsibleAWSModule) -> dict[str, int]:
    delay = max(1, module.params["wait_delay"])
    return {"Delay": delay, "MaxAttempts": max(1, module.params["wait_timeout"] // delay)}


@CloudFormationErrorHandler.deletion_error_handler("delete the change set")
def delete_change_set(client, change_set_id: str) -> bool:
    client.delete_change_set(aws_retry=True, ChangeSetName=change_set_id)
    return True


def create(module: AnsibleAWSModule, client) -> dict[str, Any]:
    params = module.params
    name = params["stack_name"]
    stack = describe_stack(client, name)
    change_set_type = "CREATE" if stack is None or stack["StackStatus"] in NOT_CREATED else "UPDATE"
    change_set_name = params["change_set_name"] or default_change_set_name(params)
    if module.check_mode:
        return {"changed": True, "change_set": {}, "stack_status": stack["StackStatus"] if stack else "ABSENT",
                "msg": f"Would create the {change_set_type} change set {change_set_name} of stack {name}."}
    earlier = describe_change_set(client, change_set_name, name) if stack is not None else None
    if earlier is not None:
        delete_change_set(client, earlier["ChangeSetId"])  # a new review of the same content replaces the old one
    request: dict[str, Any] = {
        "StackName": name,
        "ChangeSetName": change_set_name,
        "ChangeSetType": change_set_type,
        "TemplateBody": params["template_body"],
        "Parameters": [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in params["parameters"].items()],
        "Tags": [{"Key": k, "Value": str(v)} for k, v in params["tags"].items()],
        "Capabilities": params["capabilities"],
    }
    if params["description"]:
        request["Description"] = params["description"]
    if change_set_type == "CREATE":
        request["OnStackFailure"] = params["on_stack_failure"]
    try:
        created = client.create_change_set(aws_retry=True, **request)
    except is_boto3_error_message("No updates are to be performed"):
        return {"changed": False, "change_set": {}, "stack_status": stack["StackStatus"] if stack else "ABSENT",
                "stack_revision": stack_revision(client, stack) if stack else {},
                "msg": f"Stack {name} is up to date: no change set created."}
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        raise AnsibleAWSError(message=f"Failed to create a change set of stack {name}", exception=e) from e
    try:
        client.get_waiter("change_set_create_complete").wait(ChangeSetName=created["Id"], WaiterConfig=waiter_config(module))
    except botocore.exceptions.WaiterError:
        pass  # FAILED, or still computing: the description below says which
    description = describe_change_set(client, created["Id"], name) or {}
    reason = description.get("StatusReason") or ""
    if description.get("Status") == "FAILED" and any(text in reason for text in NO_CHANGES):
        delete_change_set(client, created["Id"])
        after = describe_stack(client, name)
        return {"changed": False, "change_set": {}, "stack_status": after["StackStatus"] if after else "ABSENT",
                "stack_revision": stack_revision(client, after) if after else {},
                "msg": f"Stack {name} is up to date: the change set contained no changes and was deleted."}
    if description.get("Status") != "CREATE_COMPLETE":
        raise AnsibleAWSError(message=(
            f"Change set {created['Id']} of stack {name} is {description.get('Status', 'gone')} after "
            f"{params['wait_timeout']}s: {reason or 'no reason given'}"))
    description["_type"] = change_set_type
    after = describe_stack(client, created["StackId"])
    return {"changed": True, "change_set": change_set_facts(description), "stack_status": after["StackStatus"],
            "stack_revision": stack_revision(client, after),
            "msg": f"Created the {change_set_type} change set {created['Id']} of stack {name}; it waits to be executed."}


def check_reviewed(module: AnsibleAWSModule, client, description: dict[str, Any] | None) -> dict[str, Any]:
    """The stack the change set may still be executed on; Refused with the reason otherwise."""
    name = module.params["stack_name"]
    wanted = module.params["change_set_name"]
    if description is None:
        raise Refused(f"change set {wanted} of stack {name} does not exist any more (deleted, executed by someone "
                      "else, or its stack was deleted since the review)")
    if description["StackName"] != name:
        raise Refused(f"change set {wanted} belongs to stack {description['StackName']}, not to {name}")
    if description.get("Status") != "CREATE_COMPLETE" or description.get("ExecutionStatus") != "AVAILABLE":
        reason = description.get("StatusReason") or ""
        raise Refused(f"change set {wanted} of stack {name} is {description.get('Status')}/"
                      f"{description.get('ExecutionStatus')}, not AVAILABLE{': ' + reason if reason else ''}")
    stack = describe_stack(client, name)
    if stack is None or stack["StackId"] != description["StackId"]:
        raise Refused(f"stack {name} was deleted{' and created again' if stack else ''} since change set {wanted} "
                      "was reviewed")
    created, updated = description.get("CreationTime"), stack.get("LastUpdatedTime")
    if isinstance(created, datetime.datetime) and isinstance(updated, datetime.datetime) and updated > created:
        raise Refused(f"stack {name} was updated at {_iso(updated)}, after change set {wanted} was created at "
                      f"{_iso(created)}")
    expected = module.params["expected_revision"]
    if expected:
        current = stack_revision(client, stack)
        differ = [key for key in ("stack_id", "status", "last_updated_time", "template_sha256", "parameters", "tags")
                  if key in expected and expected[key] != current[key]]
        if differ:
            detail = ", ".join(
                f"{key} {expected[key]} -> {current[key]}" if key in ("status", "last_updated_time") else key
                for key in differ)
            raise Refused(f"stack {name} changed since change set {wanted} was reviewed ({detail})")
    return stack


@CloudFormationErrorHandler.common_error_handler("set the stack's termination protection")
def set_termination_protection(client, stack_id: str, enabled: bool) -> None:
    client.update_termination_protection(aws_retry=True, StackName=stack_id, EnableTerminationProtection=enabled)


def execute(module: AnsibleAWSModule, client) -> dict[str, Any]:
    name = module.params["stack_name"]
    wanted = module.params["change_set_name"]
    description = describe_change_set(client, wanted, name)
    if description is not None and description.get("ExecutionStatus") == "EXECUTE_COMPLETE":
        stack = describe_stack(client, name)
        if stack and stack.get("ChangeSetId") == description["ChangeSetId"]:
            return {"changed": False, "change_set": change_set_facts(description), "stack_status": stack["StackStatus"],
                    "stack_revision": stack_revision(client, stack),
                    "msg": f"Change set {wanted} is already the last one executed on stack {name}."}
    try:
        stack = check_reviewed(module, client, description)
    except Refused as e:
        module.fail_json(msg=f"Refused to execute the reviewed change set: {e}. Nothing was executed; review again.",
                         refused=True)
    description["_type"] = "CREATE" if stack["StackStatus"] in NOT_CREATED else "UPDATE"
    facts = change_set_facts(description)
    if module.check_mode:
        return {"changed": True, "change_set": facts, "stack_status": stack["StackStatus"],
                "stack_revision": stack_revision(client, stack),
                "msg": f"Would execute the {facts['change_set_type']} change set {facts['change_set_id']} of stack {name}."}
    try:
        client.execute_change_set(aws_retry=True, ChangeSetName=description["ChangeSetId"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        raise AnsibleAWSError(message=f"Failed to execute change set {wanted} of stack {name}", exception=e) from e
    waiter = "stack_create_complete" if facts["change_set_type"] == "CREATE" else "stack_update_complete"
    try:
        client.get_waiter(waiter).wait(StackName=stack["StackId"], WaiterConfig=waiter_config(module))
    except botocore.exceptions.WaiterError:
        after = describe_stack(client, stack["StackId"]) or {}
        module.fail_json(msg=(
            f"Executing change set {facts['change_set_id']} left stack {name} in "
            f"{after.get('StackStatus', 'DELETE_COMPLETE')}: {after.get('StackStatusReason') or 'see its events'}"),
            change_set=facts, stack_status=after.get("StackStatus", "ABSENT"))
    after = describe_stack(client, stack["StackId"])
    protection = module.params["termination_protection"]
    if protection is not None and bool(after.get("EnableTerminationProtection")) != protection:
        set_termination_protection(client, stack["StackId"], protection)
    return {"changed": True, "change_set": facts, "stack_status": after["StackStatus"],
            "stack_revision": stack_revision(client, after),
            "msg": f"Executed the {facts['change_set_type']} change set {facts['change_set_id']} of stack {name}."}


def absent(module: AnsibleAWSModule, client) -> dict[str, Any]:
    name = module.params["stack_name"]
    description = describe_change_set(client, module.params["change_set_name"], name)
    if description is None:
        return {"changed": False, "change_set": {}, "stack_status": "", "msg": "The change set does not exist."}
    facts = change_set_facts(description)
    if not module.check_mode:
        delete_change_set(client, description["ChangeSetId"])
    return {"changed": True, "change_set": facts, "stack_status": "",
            "msg": f"{'Would delete' if module.check_mode else 'Deleted'} change set {facts['change_set_id']}."}


def cloudformation_client(module: AnsibleAWSModule):
    return module.client("cloudformation", retry_decorator=AWSRetry.jittered_backoff())


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "stack_name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "executed", "absent"], "default": "present"},
            "change_set_name": {"type": "str"},
            "template_body": {"type": "str"},
            "parameters": {"type": "dict", "default": {}},
            "tags": {"type": "dict", "default": {}},
            "capabilities": {"type": "list", "elements": "str", "default": []},
            "description": {"type": "str"},
            "on_stack_failure": {"type": "str", "choices": ["DO_NOTHING", "ROLLBACK", "DELETE"], "default": "DELETE"},
            "expected_revision": {"type": "dict"},
            "termination_protection": {"type": "bool"},
            "wait_timeout": {"type": "int", "default": 1800},
            "wait_delay": {"type": "int", "default": 5},
        },
        required_if=[
            ("state", "present", ["template_body"]),
            ("state", "executed", ["change_set_name"]),
            ("state", "absent", ["change_set_name"]),
        ],
        supports_check_mode=True,
    )
    client = cloudformation_client(module)
    try:
        result = {"present": create, "executed": execute, "absent": absent}[module.params["state"]](module, client)
    except AnsibleAWSError as e:
        module.fail_json_aws_error(e)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
