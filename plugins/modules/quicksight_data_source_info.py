#!/usr/bin/python
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: quicksight_data_source_info
short_description: Describe one Amazon QuickSight data source, or list all of them
version_added: 0.1.0
description:
  - With O(data_source_id), returns that data source with its permissions and tags (an empty list when there is no
    such data source); without it, every data source of the account in the region (ListDataSources, all pages), of
    every type, without permissions and tags.
  - Read-only; the AWS account id comes from STS (the credentials' account).
author:
  - Smart City Platform Team (@smartcity)
options:
  data_source_id:
    description:
      - The id of the data source to describe (1 to 2048 characters of C(a-z A-Z 0-9 _ -)). Omitted, all data
        sources are listed.
    type: str
notes:
  - QuickSight must be subscribed in the account; the error messages say what to enable where.
extends_documentation_fragment:
  - smartcity.iot_analytics.quicksight.info
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The history data source, with its permissions and tags
  smartcity.iot_analytics.quicksight_data_source_info:
    data_source_id: city-prod-history
  register: found

- name: Its ARN, for the data sets
  ansible.builtin.set_fact:
    history_source_arn: "{{ found.data_sources[0].arn }}"
  when: found.data_sources | length > 0

- name: Every data source of the account in this region
  smartcity.iot_analytics.quicksight_data_source_info:
  register: all_sources
"""

RETURN = r"""
data_sources:
  description: The data source asked for (an empty list when it does not exist), or all data sources.
  returned: always
  type: list
  elements: dict
  contains:
    arn:
      description: The data source's ARN.
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
      description: The status.
      type: str
      sample: CREATION_SUCCESSFUL
    workgroup:
      description: The Athena workgroup (none for other types).
      type: str
      sample: city-prod-analytics
    role_arn:
      description: The IAM role QuickSight assumes for Athena (none when it uses its service role, or for other types).
      type: str
    ssl:
      description: Whether SSL is used.
      type: bool
      sample: true
    data_source_parameters:
      description: The data source parameters as QuickSight returns them, in snake_case (any type).
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
      returned: with O(data_source_id)
      contains:
        principal:
          description: The ARN of the user or group.
          type: str
        actions:
          description: The actions, sorted.
          type: list
          elements: str
    tags:
      description: The tags.
      type: dict
      returned: with O(data_source_id)
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.quicksight import (
    QuickSightError,
    QuickSightErrorHandler,
    account_info,
    permissions_dict,
    quicksight_client,
    quicksight_retry,
    resource_id_error,
    tags_dict,
)
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.quicksight_views import data_source_view


class Reader:
    def __init__(self, client, account_id):
        self.client = client
        self.account_id = account_id

    def one(self, source_id):
        """[the data source with permissions and tags], or [] when there is none."""
        ids = {"AwsAccountId": self.account_id, "DataSourceId": source_id}

        @QuickSightErrorHandler.list_error_handler(f"Describing the data source {source_id!r}", default_value=[])  # missing: also deleted between the calls
        def read():
            source = self.client.describe_data_source(aws_retry=True, **ids)["DataSource"]
            tags = self.client.list_tags_for_resource(ResourceArn=source["Arn"], aws_retry=True).get("Tags")
            permissions = self.client.describe_data_source_permissions(aws_retry=True, **ids).get("Permissions")
            return [data_source_view(source, tags_dict(tags), permissions_dict(permissions))]

        return read()

    def every(self):
        @QuickSightErrorHandler.common_error_handler("Listing the data sources")
        @quicksight_retry()
        def pages():
            found = []
            for page in self.client.get_paginator("list_data_sources").paginate(AwsAccountId=self.account_id):
                found.extend(page.get("DataSources", []))
            return found

        sources = pages()
        return [data_source_view(source) for source in sorted(sources, key=lambda source: source.get("DataSourceId", ""))]


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(data_source_id=dict(type="str")),
        supports_check_mode=True,
    )
    source_id = module.params["data_source_id"]
    if source_id is not None:
        problem = resource_id_error("data_source_id", source_id)
        if problem:
            module.fail_json(msg=problem)
    account_id, _partition = account_info(module)
    reader = Reader(quicksight_client(module), account_id)
    try:
        sources = reader.one(source_id) if source_id is not None else reader.every()
    except QuickSightError as error:
        module.fail_json_aws_error(error)
    module.exit_json(changed=False, data_sources=sources)


if __name__ == "__main__":
    main()
