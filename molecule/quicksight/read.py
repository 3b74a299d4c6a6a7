"""Reads the stack's QuickSight resources back from the endpoint as JSON (for verify.yml): not the role's result."""

from __future__ import annotations

import json
import os
import sys

import boto3

ACCOUNT = "123456789012"


def main(prefix: str) -> None:
    client = boto3.client("quicksight", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    out: dict = {"data_sources": {}, "data_sets": {}, "dashboards": {}}
    for source in client.list_data_sources(AwsAccountId=ACCOUNT)["DataSources"]:
        if source["DataSourceId"].startswith(prefix):
            perms = client.describe_data_source_permissions(AwsAccountId=ACCOUNT, DataSourceId=source["DataSourceId"])["Permissions"]
            out["data_sources"][source["DataSourceId"]] = {
                "type": source["Type"],
                "workgroup": source["DataSourceParameters"]["AthenaParameters"].get("WorkGroup"),
                "role_arn": source["DataSourceParameters"]["AthenaParameters"].get("RoleArn"),
                "permissions": {p["Principal"].rsplit("/", 1)[1]: sorted(p["Actions"]) for p in perms},
            }
    for summary in client.list_data_sets(AwsAccountId=ACCOUNT)["DataSetSummaries"]:
        if summary["DataSetId"].startswith(prefix):
            data_set = client.describe_data_set(AwsAccountId=ACCOUNT, DataSetId=summary["DataSetId"])["DataSet"]
            [table] = data_set["PhysicalTableMap"].values()
            sql = table.get("CustomSql", {})
            perms = client.describe_data_set_permissions(AwsAccountId=ACCOUNT, DataSetId=summary["DataSetId"])["Permissions"]
            out["data_sets"][summary["DataSetId"]] = {
                "name": data_set["Name"],
                "import_mode": data_set["ImportMode"],
                "data_source_arn": sql.get("DataSourceArn"),
                "sql": sql.get("SqlQuery", ""),
                "columns": [c["Name"] for c in sql.get("Columns", [])],
                "permissions": {p["Principal"].rsplit("/", 1)[1]: sorted(p["Actions"]) for p in perms},
            }
    for summary in client.list_dashboards(AwsAccountId=ACCOUNT)["DashboardSummaryList"]:
        if summary["DashboardId"].startswith(prefix):
            dashboard = client.describe_dashboard(AwsAccountId=ACCOUNT, DashboardId=summary["DashboardId"])["Dashboard"]
            perms = client.describe_dashboard_permissions(AwsAccountId=ACCOUNT, DashboardId=summary["DashboardId"])["Permissions"]
            out["dashboards"][summary["DashboardId"]] = {
                "name": dashboard["Name"],
                "version": dashboard["Version"].get("VersionNumber"),
                "status": dashboard["Version"].get("Status"),
                "description": dashboard["Version"].get("Description"),
                "data_set_arns": dashboard["Version"].get("DataSetArns", []),
                "permissions": {p["Principal"].rsplit("/", 1)[1]: sorted(p["Actions"]) for p in perms},
            }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
