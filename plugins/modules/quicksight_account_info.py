#!/usr/bin/python
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: quicksight_account_info
short_description: Check that QuickSight can serve the telemetry history (subscription, Athena, Glue, S3, role, groups)
version_added: 0.1.0
description:
  - Reads, and changes nothing, what the QuickSight data sets and dashboards of this collection need in one region
    and reports every missing piece as a problem that says exactly what to enable and where.
  - "The account: subscribed to QuickSight (DescribeAccountSettings), in Enterprise edition (groups, incremental
    refresh and forecasts need it). The account id comes from STS."
  - "With O(athena_workgroup): the workgroup exists, is enabled and has a query result location (and whether the
    workgroup enforces it)."
  - With O(glue_database) and O(glue_table), the Glue table exists; its columns are returned.
  - With O(s3_bucket), the history bucket answers HeadBucket with these credentials.
  - "With O(role_arn), the IAM role the data source assumes exists and trusts C(quicksight.amazonaws.com)."
  - With O(groups), which of the QuickSight groups exist in O(identity_region).
  - The module does not fail when something is missing; it returns RV(problems) and RV(ready). Only errors that stop
    it from asking (no credentials, say) fail it.
author:
  - Smart City Platform Team (@smartcity)
options:
  athena_workgroup:
    description: The Athena workgroup the data source queries through (the stack's C(AthenaWorkGroupName) output).
    type: str
  glue_database:
    description: The Glue database of the history (the stack's C(GlueDatabaseName) output).
    type: str
  glue_table:
    description: The Glue table of the history (the stack's C(GlueTableName) output). Needs O(glue_database).
    type: str
  s3_bucket:
    description: The history bucket (the stack's C(HistoryBucketName) output).
    type: str
  role_arn:
    description: The IAM role the QuickSight data source assumes for Athena (the stack's C(AnalyticsRoleArn) output).
    type: str
  groups:
    description: QuickSight group names that will be granted access.
    type: list
    elements: str
    default: []
  identity_region:
    description:
      - The region where the account's QuickSight users and groups live (its identity region). Defaults to O(region).
    type: str
  namespace:
    description: The QuickSight namespace of the groups.
    type: str
    default: default
extends_documentation_fragment:
  - smartcity.iot_analytics.quicksight.info
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Check the QuickSight prerequisites of a region
  smartcity.iot_analytics.quicksight_account_info:
    region: eu-west-1
    athena_workgroup: smartcity-iot-prod-analytics
    glue_database: smartcity_iot_prod_history
    glue_table: telemetry
    s3_bucket: "{{ stack_outputs.HistoryBucketName }}"
    role_arn: "{{ stack_outputs.AnalyticsRoleArn }}"
    groups: [traffic-admins, traffic-viewers]
  register: quicksight_account

- name: Stop with what to enable
  ansible.builtin.assert:
    that: quicksight_account.ready
    fail_msg: "{{ quicksight_account.problems | join(' ') }}"
"""

RETURN = r"""
account_id:
  description: The account of the credentials (from STS).
  returned: always
  type: str
  sample: "123456789012"
partition:
  description: The AWS partition.
  returned: always
  type: str
  sample: aws
ready:
  description: True when RV(problems) is empty.
  returned: always
  type: bool
problems:
  description: One message per missing piece, each saying what to enable and where.
  returned: always
  type: list
  elements: str
subscription:
  description: The account's QuickSight subscription.
  returned: always
  type: dict
  contains:
    subscribed:
      description: Whether the account is signed up for QuickSight.
      type: bool
    edition:
      description: C(STANDARD), C(ENTERPRISE) or C(ENTERPRISE_AND_Q) (none when not subscribed).
      type: str
    default_namespace:
      description: The default namespace.
      type: str
    notification_email:
      description: Where QuickSight sends account notices.
      type: str
workgroup:
  description: The Athena workgroup (when O(athena_workgroup) is given).
  returned: when O(athena_workgroup) is given
  type: dict
  contains:
    name:
      description: Its name.
      type: str
    exists:
      description: Whether it exists.
      type: bool
    state:
      description: C(ENABLED) or C(DISABLED).
      type: str
    output_location:
      description: The query result location (s3://...).
      type: str
    enforced:
      description: Whether the workgroup's settings override the client's.
      type: bool
glue_table:
  description: The Glue table (when O(glue_table) is given).
  returned: when O(glue_table) is given
  type: dict
  contains:
    exists:
      description: Whether it exists.
      type: bool
    columns:
      description: Its columns and partition keys, C({name, type}).
      type: list
      elements: dict
bucket:
  description: The history bucket (when O(s3_bucket) is given).
  returned: when O(s3_bucket) is given
  type: dict
  contains:
    name:
      description: The bucket.
      type: str
    reachable:
      description: Whether HeadBucket answered.
      type: bool
role:
  description: The data source's role (when O(role_arn) is given).
  returned: when O(role_arn) is given
  type: dict
  contains:
    arn:
      description: The role ARN.
      type: str
    exists:
      description: Whether it exists.
      type: bool
    trusts_quicksight:
      description: Whether its trust policy lets quicksight.amazonaws.com assume it.
      type: bool
groups:
  description: Per group name, whether it exists in the identity region.
  returned: always
  type: dict
  sample: {"traffic-admins": true, "traffic-viewers": false}
"""

import json
import urllib.parse

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.errors import error_code
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.quicksight import (
    SUBSCRIBE_HINT,
    QuickSightError,
    QuickSightErrorHandler,
    account_info,
    quicksight_retry,
)

NOT_SUBSCRIBED_CODES = ("ResourceNotFoundException", "UnsupportedUserEditionException", "UnsupportedPricingPlanException")
MISSING_CODES = ("ResourceNotFoundException", "EntityNotFoundException", "NoSuchEntity", "InvalidRequestException", "404", "NoSuchBucket", "NotFound")


def missing(error):
    return error_code(error) in MISSING_CODES


class Checks:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.region = module.region
        self.identity_region = self.params["identity_region"] or module.region
        self.account_id, self.partition = account_info(module)
        self.problems = []

    def client(self, service, region=None):
        return self.module.client(service, region=region or self.region, retry_decorator=quicksight_retry())

    def subscription(self):
        client = self.client("quicksight")
        try:
            settings = client.describe_account_settings(AwsAccountId=self.account_id, aws_retry=True)["AccountSettings"]
        except botocore.exceptions.ClientError as error:
            if error_code(error) not in NOT_SUBSCRIBED_CODES:
                raise
            self.problems.append(f"Account {self.account_id} is not subscribed to QuickSight ({error_code(error)}). {SUBSCRIBE_HINT}.")
            return {"subscribed": False, "edition": None, "default_namespace": None, "notification_email": None}
        edition = settings.get("Edition")
        if edition not in ("ENTERPRISE", "ENTERPRISE_AND_Q"):
            self.problems.append(
                f"Account {self.account_id} has QuickSight {edition} edition; groups, incremental refresh and forecasts need Enterprise: "
                "upgrade in QuickSight > Manage QuickSight > Your subscriptions."
            )
        return {
            "subscribed": True,
            "edition": edition,
            "default_namespace": settings.get("DefaultNamespace"),
            "notification_email": settings.get("NotificationEmail"),
        }

    def workgroup(self, name):
        try:
            group = self.client("athena").get_work_group(WorkGroup=name, aws_retry=True)["WorkGroup"]
        except botocore.exceptions.ClientError as error:
            if not missing(error):
                raise
            self.problems.append(f"Athena workgroup {name!r} does not exist in {self.region}: deploy the stack (deploy.yml) or set the workgroup.")
            return {"name": name, "exists": False, "state": None, "output_location": None, "enforced": None}
        configuration = group.get("Configuration", {})
        location = configuration.get("ResultConfiguration", {}).get("OutputLocation")
        if group.get("State") != "ENABLED":
            self.problems.append(f"Athena workgroup {name!r} in {self.region} is {group.get('State')}: enable it (Athena > Workgroups > {name} > Enable).")
        if not location:
            self.problems.append(
                f"Athena workgroup {name!r} in {self.region} has no query result location: set one in the history bucket (s3://<bucket>/athena-results/)."
            )
        return {
            "name": name,
            "exists": True,
            "state": group.get("State"),
            "output_location": location,
            "enforced": bool(configuration.get("EnforceWorkGroupConfiguration")),
        }

    def glue_table(self, database, table):
        try:
            found = self.client("glue").get_table(DatabaseName=database, Name=table, aws_retry=True)["Table"]
        except botocore.exceptions.ClientError as error:
            if not missing(error):
                raise
            self.problems.append(f"Glue table {database}.{table} does not exist in {self.region}: deploy the stack (deploy.yml), which creates it.")
            return {"database": database, "name": table, "exists": False, "columns": []}
        columns = found.get("StorageDescriptor", {}).get("Columns", []) + found.get("PartitionKeys", [])
        return {"database": database, "name": table, "exists": True, "columns": [{"name": c["Name"], "type": c.get("Type")} for c in columns]}

    def bucket(self, name):
        try:
            self.client("s3").head_bucket(Bucket=name, aws_retry=True)
        except botocore.exceptions.ClientError as error:
            code = error_code(error)
            if code in ("403", "AccessDenied"):
                self.problems.append(
                    f"S3 bucket {name!r} answers access denied to the credentials of this run: give them s3:ListBucket on it "
                    "(docs/quicksight.md, IAM actions of the deploying role)."
                )
            elif missing(error):
                self.problems.append(f"S3 bucket {name!r} does not exist: deploy the stack (deploy.yml), which creates the history bucket.")
            else:
                raise
            return {"name": name, "reachable": False}
        return {"name": name, "reachable": True}

    def role(self, arn):
        name = arn.rsplit("/", 1)[-1]
        try:
            role = self.client("iam").get_role(RoleName=name, aws_retry=True)["Role"]
        except botocore.exceptions.ClientError as error:
            if not missing(error):
                raise
            self.problems.append(f"IAM role {arn} does not exist: deploy the stack (deploy.yml), which creates the analytics read role.")
            return {"arn": arn, "exists": False, "trusts_quicksight": False}
        trusts = trusts_service(role.get("AssumeRolePolicyDocument"), "quicksight.amazonaws.com")
        if not trusts:
            self.problems.append(f"IAM role {arn} does not trust quicksight.amazonaws.com: add it as the principal of the role's trust policy.")
        return {"arn": arn, "exists": True, "trusts_quicksight": trusts}

    def groups(self, names):
        client = self.client("quicksight", region=self.identity_region)
        found = {}
        for name in names:
            try:
                client.describe_group(AwsAccountId=self.account_id, Namespace=self.params["namespace"], GroupName=name, aws_retry=True)
                found[name] = True
            except botocore.exceptions.ClientError as error:
                if error_code(error) != "ResourceNotFoundException":
                    raise
                found[name] = False
        absent = [name for name, exists in found.items() if not exists]
        if absent:
            self.problems.append(
                f"QuickSight group(s) {', '.join(absent)} do not exist in namespace {self.params['namespace']!r} of identity region {self.identity_region}: "
                f"create them (QuickSight > Manage QuickSight > Manage groups, or aws quicksight create-group --aws-account-id {self.account_id} "
                f"--namespace {self.params['namespace']} --region {self.identity_region} --group-name NAME) and add the users."
            )
        return found


def trusts_service(document, service):
    """Whether a trust policy (dict, JSON or URL-encoded JSON text) allows ``service`` to assume the role."""
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    for statement in (document or {}).get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        services = statement.get("Principal", {}).get("Service", []) if isinstance(statement.get("Principal"), dict) else []
        services = [services] if isinstance(services, str) else services
        if service in services and any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            return True
    return False


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            athena_workgroup=dict(type="str"),
            glue_database=dict(type="str"),
            glue_table=dict(type="str"),
            s3_bucket=dict(type="str"),
            role_arn=dict(type="str"),
            groups=dict(type="list", elements="str", default=[]),
            identity_region=dict(type="str"),
            namespace=dict(type="str", default="default"),
        ),
        required_by={"glue_table": "glue_database"},
        supports_check_mode=True,
    )
    params = module.params
    if params["role_arn"] and ":role/" not in params["role_arn"]:
        module.fail_json(msg=f"role_arn: {params['role_arn']!r} is not an IAM role ARN (arn:<partition>:iam::<account>:role/<name>)")
    checks = Checks(module)

    @QuickSightErrorHandler.task_error_handler("checking the QuickSight prerequisites")
    def check_all():
        result = {"subscription": checks.subscription()}
        if params["athena_workgroup"]:
            result["workgroup"] = checks.workgroup(params["athena_workgroup"])
        if params["glue_table"]:
            result["glue_table"] = checks.glue_table(params["glue_database"], params["glue_table"])
        if params["s3_bucket"]:
            result["bucket"] = checks.bucket(params["s3_bucket"])
        if params["role_arn"]:
            result["role"] = checks.role(params["role_arn"])
        result["groups"] = checks.groups(params["groups"]) if result["subscription"]["subscribed"] else {}
        return result

    try:
        result = check_all()
    except QuickSightError as error:
        module.fail_json_aws_error(error)
    module.exit_json(
        changed=False,
        account_id=checks.account_id,
        partition=checks.partition,
        problems=checks.problems,
        ready=not checks.problems,
        **result,
    )


if __name__ == "__main__":
    main()
