#!/usr/bin/python
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: quicksight_data_set_info
short_description: Describe one QuickSight data set (with permissions, refresh and tags) or list the account's data sets
version_added: 0.1.0
description:
  - With O(data_set_id), describes that data set (DescribeDataSet) with its permissions, tags and, for a SPICE data set,
    its refresh schedules and refresh properties. A data set that does not exist gives an empty list.
  - Without it, lists every data set of the account in the region (ListDataSets, all pages) as summaries.
  - The account id comes from STS. Credentials, region and endpoint come from the standard AWS options.
author:
  - Smart City Platform Team (@smartcity)
options:
  data_set_id:
    description:
      - The id of the data set to describe. Omitted, all data sets are listed.
    type: str
extends_documentation_fragment:
  - smartcity.iot_analytics.quicksight.info
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: One data set, with its refresh schedules
  smartcity.iot_analytics.quicksight_data_set_info:
    data_set_id: smartcity-prod-zone-hourly
  register: zone_hourly

- name: Every data set of the account in this region
  smartcity.iot_analytics.quicksight_data_set_info:
  register: all_data_sets
"""

RETURN = r"""
data_sets:
  description:
    - With O(data_set_id), a list of that one data set (empty when it does not exist), with every key below. Without
      it, one summary per data set (C(arn), C(data_set_id), C(name), C(import_mode), C(created_time),
      C(last_updated_time)), sorted by id.
  returned: always
  type: list
  elements: dict
  contains:
    arn:
      description: The data set's ARN.
      type: str
    data_set_id:
      description: The data set's id.
      type: str
    name:
      description: The display name.
      type: str
    import_mode:
      description: C(SPICE) or C(DIRECT_QUERY).
      type: str
    created_time:
      description: When it was created (ISO 8601).
      type: str
    last_updated_time:
      description: When it was last changed (ISO 8601).
      type: str
    columns:
      description: The input columns of its first physical table, C({name, type}).
      type: list
      elements: dict
    output_columns:
      description: The columns the data set offers to analyses, C({name, type}).
      type: list
      elements: dict
    physical_table_map:
      description: Its physical tables by id, snake_case.
      type: dict
    logical_table_map:
      description: Its logical tables by id, snake_case.
      type: dict
    consumed_spice_capacity_in_bytes:
      description: The SPICE capacity it uses.
      type: int
    permissions:
      description: Its permissions, C({principal, actions}).
      type: list
      elements: dict
    tags:
      description: Its tags.
      type: dict
    refresh_schedules:
      description:
        - Its refresh schedules (SPICE only), each with the keys of the C(refresh_schedule) option of
          M(smartcity.iot_analytics.quicksight_data_set), C(start_after) and C(arn).
      type: list
      elements: dict
    incremental_refresh:
      description: The look-back window of its refresh properties, C({column, size, unit}) (none when not set).
      type: dict
"""

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.quicksight import (
    QuickSightError,
    QuickSightErrorHandler,
    account_info,
    list_tags,
    permissions_dict,
    quicksight_client,
    resource_id_error,
)
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.quicksight_views import incremental_view, iso, permissions_view, schedule_view


def summary_view(data_set):
    """What a DataSet and a ListDataSets summary both have."""
    return {
        "arn": data_set.get("Arn"),
        "data_set_id": data_set.get("DataSetId"),
        "name": data_set.get("Name"),
        "import_mode": data_set.get("ImportMode"),
        "created_time": iso(data_set.get("CreatedTime")),
        "last_updated_time": iso(data_set.get("LastUpdatedTime")),
    }


def input_columns(data_set):
    for table in (data_set.get("PhysicalTableMap") or {}).values():
        for spec in table.values():
            columns = spec.get("Columns") or spec.get("InputColumns")
            if columns:
                return [{"name": column.get("Name"), "type": column.get("Type")} for column in columns]
    return []


class Reader:
    def __init__(self, client, account_id):
        self.client = client
        self.account_id = account_id

    def call(self, doing, method, missing=True, **kwargs):
        """One call under QuickSightErrorHandler ("QuickSight: <doing> failed: ..."); a missing data set gives None."""
        return QuickSightErrorHandler.run(f"QuickSight: {doing}", getattr(self.client, method), missing=missing, aws_retry=True, **kwargs)

    def one(self, data_set_id):
        key = {"AwsAccountId": self.account_id, "DataSetId": data_set_id}
        found = self.call(f"reading the data set {data_set_id!r}", "describe_data_set", **key)
        if not found:
            return []
        data_set = found["DataSet"]
        found_permissions = self.call(f"reading the permissions of the data set {data_set_id!r}", "describe_data_set_permissions", **key) or {}
        permissions = permissions_dict(found_permissions.get("Permissions"))
        tags = QuickSightErrorHandler.run(f"QuickSight: reading the tags of the data set {data_set_id!r}", list_tags, self.client, data_set["Arn"])
        schedules, properties = [], None
        if data_set.get("ImportMode") == "SPICE":
            found_properties = self.call(f"reading the refresh properties of the data set {data_set_id!r}", "describe_data_set_refresh_properties", **key)
            properties = (found_properties or {}).get("DataSetRefreshProperties")
            found_schedules = self.call(f"listing the refresh schedules of the data set {data_set_id!r}", "list_refresh_schedules", **key)
            schedules = (found_schedules or {}).get("RefreshSchedules", [])
        return [
            {
                **summary_view(data_set),
                "columns": input_columns(data_set),
                "output_columns": [{"name": column.get("Name"), "type": column.get("Type")} for column in data_set.get("OutputColumns") or []],
                "physical_table_map": {table_id: camel_dict_to_snake_dict(table) for table_id, table in (data_set.get("PhysicalTableMap") or {}).items()},
                "logical_table_map": {table_id: camel_dict_to_snake_dict(table) for table_id, table in (data_set.get("LogicalTableMap") or {}).items()},
                "consumed_spice_capacity_in_bytes": data_set.get("ConsumedSpiceCapacityInBytes"),
                "permissions": permissions_view(permissions),
                "tags": tags,
                "refresh_schedules": sorted(
                    (dict(schedule_view(schedule), start_after=iso(schedule.get("StartAfterDateTime")), arn=schedule.get("Arn")) for schedule in schedules),
                    key=lambda view: view["schedule_id"] or "",
                ),
                "incremental_refresh": incremental_view(properties),
            }
        ]

    def all(self):
        summaries, token = [], None
        while True:
            more = {"NextToken": token} if token else {}
            page = self.call("listing the data sets", "list_data_sets", missing=False, AwsAccountId=self.account_id, **more)
            summaries.extend(page.get("DataSetSummaries", []))
            token = page.get("NextToken")
            if not token:
                break
        return sorted((summary_view(summary) for summary in summaries), key=lambda view: view["data_set_id"] or "")


def main():
    module = AnsibleAWSModule(argument_spec=dict(data_set_id=dict(type="str")), supports_check_mode=True)
    data_set_id = module.params["data_set_id"]
    if data_set_id is not None:
        problem = resource_id_error("data_set_id", data_set_id)
        if problem:
            module.fail_json(msg=problem)
    account_id = account_info(module)[0]
    reader = Reader(quicksight_client(module), account_id)
    try:
        data_sets = reader.one(data_set_id) if data_set_id is not None else reader.all()
    except QuickSightError as error:
        module.fail_json_aws_error(error)
    module.exit_json(changed=False, data_sets=data_sets)


if __name__ == "__main__":
    main()
