#!/usr/bin/python
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: quicksight_dashboard_info
short_description: Describe one QuickSight dashboard (versions, permissions, tags, definition) or list them all
version_added: 0.1.0
description:
  - "With O(dashboard_id), describes that dashboard: its published version, all its versions, its permissions, its
    tags and, with O(include_definition=true), the published version's definition. A dashboard that does not exist
    gives an empty list."
  - Without O(dashboard_id), lists every dashboard of the account in the region (ListDashboards, all pages), as
    summaries.
  - The fingerprints are those that M(smartcity.iot_analytics.quicksight_dashboard) writes into the version
    descriptions (none for a version another tool made).
  - The account id comes from STS. Credentials, region and endpoint come from the standard AWS options.
author:
  - Smart City Platform Team (@smartcity)
options:
  dashboard_id:
    description:
      - The dashboard to describe. Omitted lists all dashboards.
    type: str
  include_definition:
    description:
      - Also return the published version's definition and publish options (DescribeDashboardDefinition), in the
        API's CamelCase, so that they can be saved as a definition file. Only with O(dashboard_id).
    type: bool
    default: false
extends_documentation_fragment:
  - smartcity.iot_analytics.quicksight.info
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: One dashboard with its definition
  smartcity.iot_analytics.quicksight_dashboard_info:
    dashboard_id: smartcity-traffic-history
    include_definition: true
  register: found

- name: Save the published definition (for example after a change made in the console)
  ansible.builtin.copy:
    content: "{{ found.dashboards[0].definition | to_nice_yaml }}"
    dest: traffic_history.from_console.yml
    mode: "0644"
  when: found.dashboards | length == 1

- name: All dashboards of the region
  smartcity.iot_analytics.quicksight_dashboard_info:
  register: all_dashboards
"""

RETURN = r"""
dashboards:
  description: The dashboard asked for (a list of one, or empty when it does not exist), or all dashboards.
  returned: always
  type: list
  elements: dict
  contains:
    arn:
      description: The dashboard's ARN.
      type: str
      sample: arn:aws:quicksight:eu-west-1:123456789012:dashboard/smartcity-traffic-history
    dashboard_id:
      description: The dashboard id.
      type: str
      sample: smartcity-traffic-history
    name:
      description: The display name.
      type: str
      sample: Traffic history
    created_time:
      description: When it was created (ISO 8601).
      type: str
    last_updated_time:
      description: When it last changed (ISO 8601).
      type: str
    last_published_time:
      description: When a version was last published (ISO 8601).
      type: str
    published_version_number:
      description: The published version's number.
      type: int
      sample: 3
    published_fingerprint:
      description: The published version's fingerprint.
      type: str
      returned: with O(dashboard_id)
      sample: 3f2a9c0d1e4b5a67
    published_version:
      description: The published version as DescribeDashboard returns it (snake_case).
      type: dict
      returned: with O(dashboard_id)
      contains:
        version_number:
          description: Its number.
          type: int
        status:
          description: Its status.
          type: str
          sample: CREATION_SUCCESSFUL
        description:
          description: Its version description.
          type: str
        errors:
          description: What QuickSight found wrong with it (C(type), C(message), C(violated_entities)).
          type: list
          elements: dict
        data_set_arns:
          description: The data sets it uses.
          type: list
          elements: str
        sheets:
          description: Its sheets (C(sheet_id), C(name)).
          type: list
          elements: dict
    version_number:
      description: The latest version's number.
      type: int
      returned: with O(dashboard_id)
      sample: 4
    version_status:
      description: The latest version's status.
      type: str
      returned: with O(dashboard_id)
      sample: CREATION_SUCCESSFUL
    fingerprint:
      description: The latest version's fingerprint.
      type: str
      returned: with O(dashboard_id)
    versions:
      description: All versions, oldest first (C(version_number), C(status), C(description), C(fingerprint),
        C(created_time), C(arn)).
      type: list
      elements: dict
      returned: with O(dashboard_id)
    permissions:
      description: Who has which actions (C(principal), C(actions)).
      type: list
      elements: dict
      returned: with O(dashboard_id)
    tags:
      description: The dashboard's tags.
      type: dict
      returned: with O(dashboard_id)
    definition:
      description: The published version's definition, in the API's CamelCase (as QuickSight normalized it).
      type: dict
      returned: with O(include_definition=true)
    publish_options:
      description: The published version's C(DashboardPublishOptions), in the API's CamelCase.
      type: dict
      returned: with O(include_definition=true)
"""

import datetime

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.transformation import camel_dict_to_snake_dict
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.quicksight import (
    QuickSightError,
    QuickSightErrorHandler,
    account_info,
    permissions_dict,
    quicksight_client,
    resource_id_error,
)
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.quicksight_views import (
    dashboard_versions_view,
    permissions_view,
    version_fingerprint,
)


def plain(value):
    """Timestamps as ISO 8601 text, recursively."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


class Reader:
    def __init__(self, client, account_id):
        self.client = client
        self.account_id = account_id

    def call(self, step, method, missing=False, **kwargs):
        """One call under QuickSightErrorHandler, ``step`` saying what it does; with ``missing``, None when the
        dashboard does not exist."""
        return QuickSightErrorHandler.run(step, getattr(self.client, method), missing=missing, aws_retry=True, **kwargs)

    def pages(self, step, method, key, missing=False, **kwargs):
        items, token = [], None
        while True:
            page = self.call(step, method, missing=missing, **kwargs, **({"NextToken": token} if token else {}))
            if page is None:
                return None
            items.extend(page.get(key, []))
            token = page.get("NextToken")
            if not token:
                return items

    def all(self):
        summaries = self.pages("listing the QuickSight dashboards", "list_dashboards", "DashboardSummaryList", AwsAccountId=self.account_id)
        return [plain(camel_dict_to_snake_dict(summary)) for summary in sorted(summaries, key=lambda summary: summary.get("DashboardId", ""))]

    def one(self, dashboard_id, include_definition):
        ids = dict(AwsAccountId=self.account_id, DashboardId=dashboard_id)
        what = f"QuickSight dashboard {dashboard_id!r}"
        found = self.call(f"describing the {what}", "describe_dashboard", missing=True, **ids)
        versions = found and self.pages(f"listing the versions of the {what}", "list_dashboard_versions", "DashboardVersionSummaryList", missing=True, **ids)
        if versions is None:  # no such dashboard, or deleted between the two reads
            return []
        dashboard = found["Dashboard"]
        versions.sort(key=lambda version: version.get("VersionNumber") or 0)
        published = dashboard.get("Version") or {}
        permissions = self.call(f"describing the permissions of the {what}", "describe_dashboard_permissions", **ids).get("Permissions")
        tags = self.call(f"listing the tags of the {what}", "list_tags_for_resource", ResourceArn=dashboard["Arn"]).get("Tags", [])
        found = {
            "arn": dashboard["Arn"],
            "dashboard_id": dashboard.get("DashboardId", dashboard_id),
            "name": dashboard.get("Name"),
            "created_time": dashboard.get("CreatedTime"),
            "last_updated_time": dashboard.get("LastUpdatedTime"),
            "last_published_time": dashboard.get("LastPublishedTime"),
            **dashboard_versions_view(published, versions),
            "published_version": camel_dict_to_snake_dict(published),
            "versions": [
                dict(camel_dict_to_snake_dict(version), fingerprint=version_fingerprint(version.get("Description"))) for version in versions
            ],
            "permissions": permissions_view(permissions_dict(permissions)),
            "tags": boto3_tag_list_to_ansible_dict(tags),
        }
        if include_definition:
            described = self.call(f"describing the definition of the {what}", "describe_dashboard_definition", **ids)
            # CamelCase on purpose: the definition is what quicksight_dashboard takes back.
            found["definition"] = described.get("Definition")
            found["publish_options"] = described.get("DashboardPublishOptions")
        return [plain(found)]


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            dashboard_id=dict(type="str"),
            include_definition=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["dashboard_id"] is not None:
        problem = resource_id_error("dashboard_id", params["dashboard_id"])
        if problem:
            module.fail_json(msg=problem)
    elif params["include_definition"]:
        module.fail_json(msg="include_definition: needs dashboard_id (definitions are described one dashboard at a time)")
    account_id, _partition = account_info(module)
    reader = Reader(quicksight_client(module), account_id)
    try:
        if params["dashboard_id"] is not None:
            dashboards = reader.one(params["dashboard_id"], params["include_definition"])
        else:
            dashboards = reader.all()
    except QuickSightError as error:
        module.fail_json_aws_error(error)
    module.exit_json(changed=False, dashboards=dashboards)


if __name__ == "__main__":
    main()
