"""QuickSight publishing benchmark: HTTP requests and seconds per resource for a first run (create) and a re-run
(no change), against the local endpoint.

Not a timed test: it prints figures. Run it with ``scripts/bench-quicksight``.

It starts its own local endpoint (the moto launcher on a free loopback port, stopped by pid at the end), deploys the
template (its Glue table, Athena workgroup, history bucket and analytics role), creates two QuickSight groups and then
runs the role's module sequence twice, in-process, with the collection's definition files: the prerequisite check,
the data source, the four data sets and the dashboard. Every HTTP request the modules send is counted (botocore's
``before-send``), so the figures say what one region costs in QuickSight API calls, which AWS throttles per account.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".collections"))

import boto3
import botocore.endpoint
import jinja2
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.smartcity.iot_analytics.plugins.modules import (
    quicksight_account_info,
    quicksight_dashboard,
    quicksight_data_set,
    quicksight_data_source,
)
from conftest import ROOT, local_endpoint

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "bench-local"
DATA_SETS = ("readings", "zone_hourly", "sensor_daily", "zone_alerts")
REQUESTS: Counter = Counter()


def count_requests() -> None:
    """Count every HTTP request botocore sends, per service (the modules make their own clients)."""
    original = botocore.endpoint.Endpoint._send

    def send(self: Any, request: Any) -> Any:
        REQUESTS[self._endpoint_prefix] += 1
        return original(self, request)

    botocore.endpoint.Endpoint._send = send


def run_module(module: Any, args: dict[str, Any]) -> tuple[dict[str, Any], int, float]:
    before = sum(REQUESTS.values())
    started = time.perf_counter()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), patch_module_args(args), contextlib.suppress(SystemExit):
        module.main()
    seconds = time.perf_counter() - started
    result = json.loads(out.getvalue())
    if result.get("failed"):
        raise SystemExit(f"{module.__name__} failed: {result.get('msg')}")
    return result, sum(REQUESTS.values()) - before, seconds


def deploy(url: str) -> dict[str, str]:
    session = boto3.Session(region_name=REGION, aws_access_key_id="bench", aws_secret_access_key="bench-secret")
    s3 = session.client("s3", endpoint_url=url)
    s3.create_bucket(Bucket="bench-code")
    s3.put_object(Bucket="bench-code", Key="processor.zip", Body=b"PK\x05\x06" + b"\x00" * 18)
    cfn = session.client("cloudformation", endpoint_url=url)
    params = {"EnvironmentName": "local", "NamePrefix": "bench", "CodeS3Bucket": "bench-code", "CodeS3Key": "processor.zip"}
    cfn.create_stack(
        StackName=STACK,
        TemplateBody=(ROOT / "files" / "iot-analytics-system.yaml").read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    [stack] = cfn.describe_stacks(StackName=STACK)["Stacks"]
    quicksight = session.client("quicksight", endpoint_url=url)
    for group in ("traffic-admins", "traffic-viewers"):
        quicksight.create_group(AwsAccountId=ACCOUNT, Namespace="default", GroupName=group)
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def data_set_definition(key: str, outputs: dict[str, str]) -> dict[str, Any]:
    text = (ROOT / "files" / "quicksight" / "data_sets" / f"{key}.yml").read_text()
    rendered = jinja2.Template(text, undefined=jinja2.StrictUndefined).render(
        quicksight_glue_database=outputs["GlueDatabaseName"], quicksight_glue_table=outputs["GlueTableName"]
    )
    return yaml.safe_load(rendered)


def publish(aws: dict[str, Any], outputs: dict[str, str]) -> list[tuple[str, int, float, bool]]:
    """One run of the role's module sequence; (resource, requests, seconds, changed) per step."""
    owners = [{"principal": "group/traffic-admins", "level": "owner"}]
    steps = []
    result, requests, seconds = run_module(
        quicksight_account_info,
        {
            **aws,
            "athena_workgroup": outputs["AthenaWorkGroupName"],
            "glue_database": outputs["GlueDatabaseName"],
            "glue_table": outputs["GlueTableName"],
            "s3_bucket": outputs["HistoryBucketName"],
            "role_arn": outputs["AnalyticsRoleArn"],
            "groups": ["traffic-admins", "traffic-viewers"],
        },
    )
    if not result["ready"]:
        raise SystemExit(f"prerequisites: {result['problems']}")
    steps.append(("prerequisite check", requests, seconds, False))
    result, requests, seconds = run_module(
        quicksight_data_source,
        {**aws, "data_source_id": f"{STACK}-athena", "name": "bench history", "workgroup": outputs["AthenaWorkGroupName"],
         "role_arn": outputs["AnalyticsRoleArn"], "permissions": owners},
    )
    steps.append(("data source", requests, seconds, result["changed"]))
    source_arn = result["data_source"]["arn"]
    arns = {}
    for key in DATA_SETS:
        definition = data_set_definition(key, outputs)
        result, requests, seconds = run_module(
            quicksight_data_set,
            {**aws, **definition, "data_set_id": f"{STACK}-{key.replace('_', '-')}", "data_source_arn": source_arn, "permissions": owners},
        )
        arns[key] = result["data_set"]["arn"]
        steps.append((f"data set {key}", requests, seconds, result["changed"]))
    dashboard = yaml.safe_load((ROOT / "files" / "quicksight" / "dashboards" / "traffic_history.yml").read_text())
    result, requests, seconds = run_module(
        quicksight_dashboard,
        {**aws, "dashboard_id": f"{STACK}-traffic-history", "name": "bench traffic history", "definition": dashboard, "data_sets": arns,
         "permissions": [*owners, {"principal": "group/traffic-viewers", "level": "viewer"}]},
    )
    steps.append(("dashboard", requests, seconds, result["changed"]))
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--regions", type=int, default=3, help="regions of the projection (prod has 3)")
    args = parser.parse_args(argv)
    count_requests()
    with tempfile.TemporaryDirectory() as state, local_endpoint(Path(state)) as url:
        outputs = deploy(url)
        aws = {"region": REGION, "endpoint_url": url, "access_key": "bench", "secret_key": "bench-secret"}
        runs = {"create": publish(aws, outputs), "no change": publish(aws, outputs)}
    for name, steps in runs.items():
        total_requests = sum(s[1] for s in steps)
        total_seconds = sum(s[2] for s in steps)
        changed = sum(1 for s in steps if s[3])
        print(f"{name}: {total_requests} requests, {total_seconds:.2f} s, {changed} of {len(steps) - 1} resources changed")
        for resource, requests, seconds, was_changed in steps:
            print(f"  {resource:<24} {requests:>3} requests {seconds:6.2f} s{'  changed' if was_changed else ''}")
    no_change = sum(s[1] for s in runs["no change"])
    print(f"projection: a deploy.yml re-run with QuickSight on sends {no_change * args.regions} QuickSight/AWS requests for {args.regions} regions")
    if any(s[3] for s in runs["no change"]):
        print("NOT IDEMPOTENT: the re-run changed something")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
