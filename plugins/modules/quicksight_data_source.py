#!/usr/bin/python
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: quicksight_data_source
short_description: Create, update and delete an Amazon QuickSight data source for Amazon Athena
version_added: 0.1.0
description:
  - "Manages one QuickSight data source of type C(ATHENA): its name, the Athena workgroup it queries, the IAM role
    QuickSight assumes for Athena, SSL, the permissions of QuickSight users and groups, and its tags."
  - "The data source is compared with what DescribeDataSource returns: name, type, the Athena parameters and the SSL
    properties. UpdateDataSource is called only when one of them differs (or when the data source is in
    C(CREATION_FAILED) or C(UPDATE_FAILED), so that a new run retries it); permissions and tags are changed with their
    own calls, only where they differ."
  - "QuickSight creates and updates data sources asynchronously: the module waits until the status is
    C(CREATION_SUCCESSFUL) or C(UPDATE_SUCCESSFUL), at most O(wait_timeout) seconds, and fails with the data source's
    C(ErrorInfo) when it ends in C(CREATION_FAILED) or C(UPDATE_FAILED)."
  - A data source of another type under the same id is an error (the module names its type); it is never converted.
  - The AWS account id comes from STS (the credentials' account); credentials, region and endpoint come from the
    standard AWS options.
author:
  - Smart City Platform Team (@smartcity)
options:
  data_source_id:
    description:
      - The id of the data source, unique in the account and region (1 to 2048 characters of C(a-z A-Z 0-9 _ -)).
    type: str
    required: true
  name:
    description:
      - The display name of the data source (1 to 128 characters). Required with O(state=present).
    type: str
  state:
    description:
      - V(present) makes sure the data source exists as described; V(absent) deletes it (of whatever type it is). A
        data source that is already absent is not an error.
    type: str
    choices: [present, absent]
    default: present
  workgroup:
    description:
      - The Athena workgroup the data source runs its queries in (1 to 128 characters of C(a-z A-Z 0-9 . _ -)).
        Required with O(state=present).
      - The workgroup's output location must be an S3 bucket that QuickSight may write to.
    type: str
  role_arn:
    description:
      - The ARN of the IAM role QuickSight assumes to run Athena queries for this data source (C(RoleArn) of the
        Athena parameters; the stack's C(AnalyticsRoleArn) output). Without it QuickSight uses its service role.
      - Omitted, the data source keeps the role it has.
    type: str
  ssl:
    description:
      - Whether QuickSight connects to Athena with SSL (C(SslProperties.DisableSsl) is the opposite).
    type: bool
    default: true
  # permissions, purge_permissions, tags, purge_tags, identity_region, namespace and wait_timeout: the doc fragments
  # smartcity.iot_analytics.quicksight and smartcity.iot_analytics.quicksight.wait_timeout, with this module's default
  wait_timeout:
    default: 300
notes:
  - Supports check mode and diff mode; the diff shows name, workgroup, role ARN, SSL, tags and (when managed)
    permissions before and after.
  - QuickSight must be subscribed (Enterprise edition) in the account, and have access to Athena and to the S3 buckets
    of the workgroup; the module's error messages say what to enable where.
attributes:
  check_mode:
    support: full
    description: In check mode nothing is created, updated, shared, tagged or deleted; the result is what it would be.
  diff_mode:
    support: full
    description: The diff shows name, workgroup, role ARN, SSL, tags and permissions (when managed) before and after.
extends_documentation_fragment:
  - smartcity.iot_analytics.quicksight
  - smartcity.iot_analytics.quicksight.wait_timeout
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The traffic history in Athena, owned by the admins and used by the viewers
  smartcity.iot_analytics.quicksight_data_source:
    data_source_id: city-prod-history
    name: City traffic history
    workgroup: city-prod-analytics
    role_arn: "{{ stack_outputs.AnalyticsRoleArn }}"
    permissions:
      - principal: group/traffic-admins
        level: owner
      - principal: group/traffic-viewers
        level: viewer
    tags:
      environment: prod
  register: data_source

- name: Share it with one more group, keeping the principals granted elsewhere
  smartcity.iot_analytics.quicksight_data_source:
    data_source_id: city-prod-history
    name: City traffic history
    workgroup: city-prod-analytics
    permissions:
      - principal: group/traffic-analysts
        level: viewer
    purge_permissions: false

- name: Delete it
  smartcity.iot_analytics.quicksight_data_source:
    data_source_id: city-prod-history
    state: absent
"""

RETURN = r"""
data_source:
  description: The data source after the task (in check mode, as it would be); empty after O(state=absent).
  returned: always
  type: dict
  contains:
    arn:
      description: The data source's ARN (in check mode, the ARN it would get).
      type: str
      sample: arn:aws:quicksight:eu-west-1:123456789012:datasource/city-prod-history
    data_source_id:
      description: The data source id.
      type: str
      sample: city-prod-history
    name:
      description: The display name.
      type: str
      sample: City traffic history
    type:
      description: The data source type.
      type: str
      sample: ATHENA
    status:
      description: The status as last read (none in check mode for a data source that would be created).
      type: str
      sample: CREATION_SUCCESSFUL
    workgroup:
      description: The Athena workgroup.
      type: str
      sample: city-prod-analytics
    role_arn:
      description: The IAM role QuickSight assumes for Athena (none when it uses its service role).
      type: str
      sample: arn:aws:iam::123456789012:role/city-prod-analytics
    ssl:
      description: Whether SSL is used.
      type: bool
      sample: true
    data_source_parameters:
      description: The data source parameters as QuickSight returns them, in snake_case.
      type: dict
      sample: {"athena_parameters": {"work_group": "city-prod-analytics"}}
    created_time:
      description: When it was created (ISO 8601).
      type: str
    last_updated_time:
      description: When it was last updated (ISO 8601).
      type: str
    error_info:
      description: Why the last creation or update failed, in snake_case (C(type), C(message)).
      type: dict
      returned: when QuickSight reports one
    permissions:
      description: The principals and their actions, sorted by principal.
      type: list
      elements: dict
      returned: when O(permissions) is given
      contains:
        principal:
          description: The ARN of the user or group.
          type: str
          sample: arn:aws:quicksight:eu-west-1:123456789012:group/default/traffic-admins
        actions:
          description: The actions, sorted.
          type: list
          elements: str
    tags:
      description: The tags.
      type: dict
      sample: {"environment": "prod"}
"""

import re

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.quicksight import (
    ACTION_SETS,
    QuickSightError,
    QuickSightResource,
    account_info,
    differs,
    permissions_and_tags,
    permissions_dict,
    principal_arn,
    quicksight_client,
    resource_id_error,
    sharing_spec,
    tags_dict,
    wait_for_status,
)
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.quicksight_views import data_source_view

TYPE = "ATHENA"
WORKGROUP = re.compile(r"[a-zA-Z0-9._-]{1,128}")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}", re.ASCII)
NAMESPACE = re.compile(r"[a-zA-Z0-9._-]{1,64}")
IN_PROGRESS = ("CREATION_IN_PROGRESS", "UPDATE_IN_PROGRESS")
FAILED = ("CREATION_FAILED", "UPDATE_FAILED")
SETTLED = ("CREATION_SUCCESSFUL", "UPDATE_SUCCESSFUL", *FAILED)
MAX_ACTIONS = 20


def validate(module):
    """Every rule the options must follow, before anything is called."""
    params = module.params
    problem = resource_id_error("data_source_id", params["data_source_id"])
    if problem:
        module.fail_json(msg=problem)
    if params["wait_timeout"] < 0:
        module.fail_json(msg=f"wait_timeout: {params['wait_timeout']} must be 0 or more seconds")
    if params["state"] == "absent":
        return
    for field in ("name", "workgroup"):
        if params[field] is None:
            module.fail_json(msg=f"{field}: required with state=present")
    if not 1 <= len(params["name"]) <= 128:
        module.fail_json(msg=f"name: must be 1 to 128 characters, got {len(params['name'])}")
    if not WORKGROUP.fullmatch(params["workgroup"]):
        module.fail_json(msg=f"workgroup: {params['workgroup']!r} breaks the Athena rule: 1 to 128 characters of a-z A-Z 0-9 . _ -")
    if params["role_arn"] is not None and not ROLE_ARN.fullmatch(params["role_arn"]):
        module.fail_json(msg=f"role_arn: {params['role_arn']!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    validate_sharing(module)


def validate_sharing(module):
    """The permissions, their namespace and the tags."""
    params = module.params
    if not NAMESPACE.fullmatch(params["namespace"]):
        module.fail_json(msg=f"namespace: {params['namespace']!r} breaks the QuickSight rule: 1 to 64 characters of a-z A-Z 0-9 . _ -")
    for index, entry in enumerate(params["permissions"] or []):
        try:
            # the form only: the account and region are not known yet
            principal_arn(entry["principal"], "aws", "region", "000000000000")
        except ValueError as error:
            module.fail_json(msg=f"permissions[{index}].principal: {error}".replace("permissions: ", ""))
        actions = ACTION_SETS["data_source"][entry["level"]] if entry.get("level") else entry["actions"]
        if not 1 <= len(actions) <= MAX_ACTIONS or not all(isinstance(action, str) and action for action in actions):
            module.fail_json(msg=f"permissions[{index}].actions: must be 1 to {MAX_ACTIONS} non-empty action names, got {actions!r}")
    for key, value in (params["tags"] or {}).items():
        if not isinstance(value, str):
            module.fail_json(msg=f"tags: the value of {key!r} must be a string (quote it), got {type(value).__name__}")


def view(source, tags, permissions):
    """The module's snake_case result for a DataSource from the API, its tags (dict, None for none) and permissions
    ({principal: actions}, or None when not managed)."""
    return data_source_view(source, tags or {}, permissions)


def diff_view(result):
    if not result:
        return {}
    keys = ("name", "workgroup", "role_arn", "ssl", "tags", "permissions")
    return {key: result[key] for key in keys if key in result}


class DataSources(QuickSightResource):
    RESOURCE_TYPE = "data_source"

    def __init__(self, module, client, account_id, partition):
        super().__init__(module, client, account_id, partition)
        self.source_id = module.params["data_source_id"]

    @property
    def ids(self):
        return {"AwsAccountId": self.account_id, "DataSourceId": self.source_id}

    # ---- reading ----

    def describe(self):
        """The DataSource, or None when there is none."""
        found = self.call(f"Describing the data source {self.source_id!r}", "describe_data_source", missing=True, **self.ids)
        return found["DataSource"] if found else None

    def tags_of(self, arn):
        return self.call(f"Listing the tags of the data source {self.source_id!r}", "list_tags_for_resource", ResourceArn=arn).get("Tags", [])

    def permissions_of(self):
        response = self.call(f"Reading the permissions of the data source {self.source_id!r}", "describe_data_source_permissions", **self.ids)
        return permissions_dict(response.get("Permissions"))

    def wait(self, what, success, failure):
        return wait_for_status(self.describe_settled, lambda source: source.get("Status"), self.params["wait_timeout"], what, success, failure)

    def describe_settled(self):
        source = self.describe()
        if source is None:
            raise QuickSightError(message=f"The data source {self.source_id!r} disappeared while waiting for it")
        return source

    # ---- wanted state ----

    def wanted_athena(self, current_athena):
        """The AthenaParameters to send: what the data source has (keys this module does not manage stay), with the
        workgroup and, when given, the role."""
        athena = dict(current_athena or {})
        athena["WorkGroup"] = self.params["workgroup"]
        if self.params["role_arn"] is not None:
            athena["RoleArn"] = self.params["role_arn"]
        return athena

    def settings_differ(self, source):
        wanted = {"Name": self.params["name"], "Type": TYPE, "DataSourceParameters": {"AthenaParameters": {"WorkGroup": self.params["workgroup"]}}}
        if self.params["role_arn"] is not None:
            wanted["DataSourceParameters"]["AthenaParameters"]["RoleArn"] = self.params["role_arn"]
        # no SslProperties means SSL on, as AWS does
        ssl_now = not (source.get("SslProperties") or {}).get("DisableSsl", False)
        return differs(wanted, source) or ssl_now != self.params["ssl"]

    # ---- the two states ----

    def present(self):
        """(changed, before, after): the Athena data source with the wanted settings, permissions and tags."""
        source = self.describe()
        if source is not None and source.get("Type") != TYPE:
            raise QuickSightError(
                message=f"The data source {self.source_id!r} exists with type {source.get('Type')}, not {TYPE}: this module manages Athena data sources "
                "only; choose another data_source_id or delete that data source"
            )
        if source is not None and source.get("Status") in IN_PROGRESS and not self.check:
            source = self.wait(f"The data source {self.source_id!r} (changed elsewhere)", SETTLED, ())
        wanted_perms = self.requested_permissions()
        if source is None:
            return True, None, self.create(wanted_perms, self.params["tags"])

        current_tag_list = self.tags_of(source["Arn"])
        current_permissions = self.permissions_of() if wanted_perms is not None else None
        before = view(source, tags_dict(current_tag_list), current_permissions)
        updated = self.settings_differ(source) or source.get("Status") in FAILED
        if updated:
            source = self.update(source)
        granted, permissions = self.sync_permissions(self.update_permissions, current_permissions, wanted_perms, read_back=self.permissions_of)
        tagged, tags = self.sync_tags(
            f"Tagging the data source {self.source_id!r}", source["Arn"], current_tag_list, read_back=lambda: tags_dict(self.tags_of(source["Arn"]))
        )
        return updated or granted or tagged, before, view(source, tags, permissions)

    def update(self, source):
        """The data source after UpdateDataSource with the wanted settings (in check mode, as it would be)."""
        athena = self.wanted_athena((source.get("DataSourceParameters") or {}).get("AthenaParameters"))
        settings = {"Name": self.params["name"], "DataSourceParameters": {"AthenaParameters": athena}, "SslProperties": {"DisableSsl": not self.params["ssl"]}}
        if self.check:
            return dict(source, **settings)
        self.call(f"Updating the data source {self.source_id!r}", "update_data_source", **settings, **self.ids)
        return self.wait(f"Updating the data source {self.source_id!r}", ("UPDATE_SUCCESSFUL",), ("UPDATE_FAILED",))

    def update_permissions(self, **changes):
        return self.call(f"Updating the permissions of the data source {self.source_id!r}", "update_data_source_permissions", **changes, **self.ids)

    def create(self, wanted_perms, tags):
        """The new data source (in check mode: as it would be)."""
        request = dict(
            Name=self.params["name"],
            Type=TYPE,
            DataSourceParameters={"AthenaParameters": self.wanted_athena(None)},
            SslProperties={"DisableSsl": not self.params["ssl"]},
            **self.ids,
        )
        if self.check:
            predicted = {key: value for key, value in request.items() if key != "AwsAccountId"}
            return view(dict(predicted, Arn=self.predicted_arn("datasource", self.source_id)), tags, wanted_perms)
        self.call(f"Creating the data source {self.source_id!r}", "create_data_source", **request, **permissions_and_tags(wanted_perms, tags))
        source = self.wait(f"Creating the data source {self.source_id!r}", ("CREATION_SUCCESSFUL",), ("CREATION_FAILED",))
        permissions = self.permissions_of() if wanted_perms is not None else None
        return view(source, tags_dict(self.tags_of(source["Arn"])), permissions)

    def absent(self):
        """(changed, before, after): the data source deleted."""
        source = self.describe()
        if source is None:
            return False, None, None
        # for the diff; permissions are read only when the task names them (state=absent never does)
        before = view(source, tags_dict(self.tags_of(source["Arn"])), None)
        if not self.check:
            self.call(f"Deleting the data source {self.source_id!r}", "delete_data_source", missing=True, **self.ids)
        return True, before, None


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            data_source_id=dict(type="str", required=True),
            name=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            workgroup=dict(type="str"),
            role_arn=dict(type="str"),
            ssl=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=300),
            **sharing_spec(),
        ),
        supports_check_mode=True,
    )
    validate(module)
    account_id, partition = account_info(module)
    sources = DataSources(module, quicksight_client(module), account_id, partition)
    try:
        changed, before, after = sources.present() if module.params["state"] == "present" else sources.absent()
    except QuickSightError as error:
        module.fail_json_aws_error(error)
    result = {"changed": changed, "data_source": after or {}}
    if module._diff:
        result["diff"] = {"before": diff_view(before), "after": diff_view(after)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
