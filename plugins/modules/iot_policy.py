#!/usr/bin/python
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iot_policy
short_description: Create, update (as a new default version) and delete an AWS IoT policy
version_added: 0.1.0
description:
  - Manages one AWS IoT policy and its document.
  - "The document is compared canonically (parsed JSON, key order and white space do not matter) with the policy's
    default version. A different document becomes a new policy version (CreatePolicyVersion) that is made the default
    at once. AWS IoT keeps at most five versions of a policy: when five exist, the oldest version that is not the
    default is deleted first."
  - "O(state=absent) detaches the policy from every target it is attached to (certificates, thing groups, Cognito
    identities; ListTargetsForPolicy), deletes its non-default versions and then the policy. The targets themselves
    are left alone."
  - Credentials, region and endpoint come from the standard AWS options.
author:
  - Smart City Platform Team (@smartcity)
options:
  name:
    description:
      - The policy name (1 to 128 characters of C(a-z A-Z 0-9 _ + = , . @ -)).
    type: str
    required: true
    aliases: [policy_name]
  state:
    description:
      - V(present) makes sure the policy exists with O(policy_document) as its default version; V(absent) makes sure
        it does not exist. A policy that is already absent is not an error.
    type: str
    choices: [present, absent]
    default: present
  policy_document:
    description:
      - The policy document, as a dictionary or as JSON text (it must be a JSON object). Required with
        O(state=present).
    type: json
notes:
  - Supports check mode and diff mode; the diff shows the policy document before and after.
  - A policy version that is pruned is gone for good; keep policy documents in version control.
attributes:
  check_mode:
    support: full
    description: In check mode nothing is created, changed, detached or deleted.
  diff_mode:
    support: full
    description: The diff shows the policy document before and after.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: A policy from a dictionary
  smartcity.iot_analytics.iot_policy:
    name: bench-connect
    policy_document:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Action: iot:Connect
          Resource: "arn:aws:iot:eu-west-1:123456789012:client/${iot:Connection.Thing.ThingName}"
  register: policy

- name: A policy from a JSON file
  smartcity.iot_analytics.iot_policy:
    name: city-prod-device
    policy_document: "{{ lookup('ansible.builtin.file', 'policies/device.json') }}"

- name: Delete a policy (detached from its certificates first)
  smartcity.iot_analytics.iot_policy:
    name: bench-connect
    state: absent
"""

RETURN = r"""
policy:
  description: The policy after the task (in check mode, as it would be); empty after O(state=absent).
  returned: always
  type: dict
  contains:
    policy_name:
      description: The policy name.
      type: str
      sample: city-prod-device
    policy_arn:
      description: The policy's ARN (none in check mode for a policy that would be created).
      type: str
      sample: arn:aws:iot:eu-west-1:123456789012:policy/city-prod-device
    default_version_id:
      description: The id of the default version (none in check mode for a version that would be created).
      type: str
      sample: "3"
    policy_document:
      description: The document of the default version, parsed.
      type: dict
      sample: {"Version": "2012-10-17", "Statement": []}
    versions:
      description: The policy's versions, oldest first.
      type: list
      elements: dict
      contains:
        version_id:
          description: The version id.
          type: str
        is_default_version:
          description: Whether it is the default version.
          type: bool
        create_date:
          description: When it was created (ISO 8601).
          type: str
"""

import json
import re

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot import (
    IoTError,
    IoTErrorHandler,
    canonical_json,
    iot_client,
    missing_ok,
    paginate,
    parse_policy_document,
)

POLICY_NAME = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
MAX_VERSIONS = 5

# DetachPolicy is eventually consistent in AWS IoT: DeletePolicy right after it may still see the attachment.
delete_after_detach_retry = AWSRetry.jittered_backoff(retries=8, delay=2, max_delay=10, catch_extra_error_codes=["DeleteConflictException"])


def validate(module):
    """The name and the document, before anything is called; returns the document as a dict (or None)."""
    params = module.params
    if not POLICY_NAME.fullmatch(params["name"]):
        module.fail_json(msg=f"name: {params['name']!r} breaks the IoT rule: 1 to 128 characters of a-z A-Z 0-9 _ + = , . @ -")
    if params["state"] == "absent":
        return None
    if params["policy_document"] is None:
        module.fail_json(msg="policy_document: required with state=present")
    try:
        document = json.loads(params["policy_document"])
    except ValueError as error:
        module.fail_json(msg=f"policy_document: not valid JSON ({error})")
    if not isinstance(document, dict):
        module.fail_json(msg=f"policy_document: must be a JSON object, got {type(document).__name__}")
    return document


def version_order(version):
    """Oldest first: by creation date, then by the (numeric) version id."""
    version_id = version["version_id"]
    return (version.get("create_date") or "", int(version_id) if version_id.isdigit() else 0, version_id)


class Policies:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.name = module.params["name"]
        self.check = module.check_mode

    # ---- reading ----

    @IoTErrorHandler.list_error_handler("get the policy")
    def _get(self):
        return self.client.get_policy(policyName=self.name, aws_retry=True)

    @IoTErrorHandler.list_error_handler("list the policy's versions")
    def _versions(self):
        versions = self.client.list_policy_versions(policyName=self.name, aws_retry=True)["policyVersions"]
        return sorted(
            (
                {
                    "version_id": version["versionId"],
                    "is_default_version": bool(version.get("isDefaultVersion")),
                    "create_date": version["createDate"].isoformat() if version.get("createDate") else None,
                }
                for version in versions
            ),
            key=version_order,
        )

    def read(self):
        policy = self._get()
        if policy is None:
            return None
        versions = self._versions()
        if versions is None:  # deleted between the two reads
            return None
        return {
            "policy_name": policy["policyName"],
            "policy_arn": policy.get("policyArn"),
            "default_version_id": policy.get("defaultVersionId"),
            "policy_document": parse_policy_document(policy.get("policyDocument")),
            "versions": versions,
        }

    # ---- changing ----

    @IoTErrorHandler.common_error_handler("create the policy")
    def _create(self, document):
        self.client.create_policy(policyName=self.name, policyDocument=json.dumps(document), aws_retry=True)

    @IoTErrorHandler.common_error_handler("create a policy version")
    def _create_version(self, document):
        self.client.create_policy_version(policyName=self.name, policyDocument=json.dumps(document), setAsDefault=True, aws_retry=True)

    @IoTErrorHandler.deletion_error_handler("delete a policy version")
    def _delete_version(self, version_id):
        self.client.delete_policy_version(policyName=self.name, policyVersionId=version_id, aws_retry=True)
        return True

    @IoTErrorHandler.list_error_handler("list the policy's targets", default_value=[])
    def _targets(self):
        return paginate(self.client, "list_targets_for_policy", "targets", policyName=self.name)

    @IoTErrorHandler.common_error_handler("detach the policy from a target")
    def _detach(self, target):
        missing_ok(self.client.detach_policy, policyName=self.name, target=target, aws_retry=True)

    @IoTErrorHandler.deletion_error_handler("delete the policy")
    def _delete(self):
        @delete_after_detach_retry
        def delete():
            self.client.delete_policy(policyName=self.name, aws_retry=True)

        delete()
        return True

    # ---- the two states ----

    def present(self, document):
        """(changed, before, after): the policy with ``document`` as its default version."""
        current = self.read()
        if current is not None and canonical_json(current["policy_document"]) == canonical_json(document):
            return False, current, current
        if self.check:
            versions = list(current["versions"]) if current else []
            if len(versions) >= MAX_VERSIONS:
                versions.remove(self.oldest_non_default(versions))
            versions = [dict(version, is_default_version=False) for version in versions]
            versions.append({"version_id": None, "is_default_version": True, "create_date": None})
            wanted = {
                "policy_name": self.name,
                "policy_arn": current["policy_arn"] if current else None,
                "default_version_id": None,
                "policy_document": document,
                "versions": versions,
            }
            return True, current, wanted
        if current is None:
            self._create(document)
        else:
            if len(current["versions"]) >= MAX_VERSIONS:
                self._delete_version(self.oldest_non_default(current["versions"])["version_id"])
            self._create_version(document)
        return True, current, self.read()

    def oldest_non_default(self, versions):
        for version in sorted(versions, key=version_order):
            if not version["is_default_version"]:
                return version
        raise IoTError(message=f"the policy {self.name!r} has {len(versions)} versions and none of them is not the default")

    def absent(self):
        """(changed, before, after): the policy detached from its targets and deleted with its versions."""
        current = self.read()
        if current is None:
            return False, None, None
        if not self.check:
            for target in self._targets():
                self._detach(target)
            for version in current["versions"]:
                if not version["is_default_version"]:
                    self._delete_version(version["version_id"])
            self._delete()
        return True, current, None


def diff_view(policy):
    if not policy:
        return {}
    return {"policy_name": policy["policy_name"], "policy_document": policy["policy_document"]}


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True, aliases=["policy_name"]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            policy_document=dict(type="json"),
        ),
        supports_check_mode=True,
    )
    document = validate(module)
    policies = Policies(module, iot_client(module))
    converge = IoTErrorHandler.task_error_handler(f"managing the IoT policy {module.params['name']!r}")(
        lambda: policies.present(document) if module.params["state"] == "present" else policies.absent()
    )
    try:
        changed, before, after = converge()
    except IoTError as error:
        module.fail_json_aws_error(error)
    result = {"changed": changed, "policy": after or {}}
    if module._diff:
        result["diff"] = {"before": diff_view(before), "after": diff_view(after)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
