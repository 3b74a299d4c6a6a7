# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""quicksight_account_info: every prerequisite and its message against botocore's Stubber (one stub per service),
and against the local endpoint a stack's history outputs that pass."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.smartcity.iot_analytics.plugins.module_utils import quicksight
from ansible_collections.smartcity.iot_analytics.plugins.modules import quicksight_account_info
from conftest import ROOT, local_endpoint

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/analytics-read"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "quicksight.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
AWS_ARGS = {"region": REGION, "access_key": "local-access-key", "secret_key": "local-secret-key"}


def run(capsys, args: dict[str, Any]) -> dict[str, Any]:
    with patch_module_args({**args, "_ansible_check_mode": True}), pytest.raises(SystemExit) as exit_info:
        quicksight_account_info.main()
    result = json.loads(capsys.readouterr().out)
    assert (exit_info.value.code != 0) == bool(result.get("failed")), result
    return result


@pytest.fixture
def stubs(monkeypatch) -> Iterator[dict[str, Stubber]]:
    """One stubbed client per service; module.client(service, region=...) hands them out and records the region."""
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    monkeypatch.setattr(quicksight_account_info, "account_info", lambda module: (ACCOUNT, "aws"))
    clients = {
        name: boto3.client(name, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y") for name in ("quicksight", "athena", "glue", "s3", "iam")
    }
    stubbers = {name: Stubber(client) for name, client in clients.items()}
    regions: list[tuple[str, str]] = []

    def client(self, service, region=None, retry_decorator=None, **kwargs):
        regions.append((service, region))
        return RetryingBotoClientWrapper(clients[service], retry_decorator or quicksight.quicksight_retry())

    monkeypatch.setattr(quicksight_account_info.AnsibleAWSModule, "client", client)
    for stubber in stubbers.values():
        stubber.activate()
    stubbers["regions"] = regions  # type: ignore[assignment]
    yield stubbers
    for name, stubber in stubbers.items():
        if name != "regions":
            stubber.assert_no_pending_responses()
            stubber.deactivate()


def settings(edition: str = "ENTERPRISE") -> dict[str, Any]:
    return {
        "AccountSettings": {"AccountName": "city", "Edition": edition, "DefaultNamespace": "default", "NotificationEmail": "ops@example.org"},
        "Status": 200,
    }


def workgroup(state: str = "ENABLED", location: str | None = "s3://history/athena-results/") -> dict[str, Any]:
    configuration: dict[str, Any] = {"EnforceWorkGroupConfiguration": True}
    if location:
        configuration["ResultConfiguration"] = {"OutputLocation": location}
    return {"WorkGroup": {"Name": "analytics", "State": state, "Configuration": configuration}}


def table() -> dict[str, Any]:
    return {
        "Table": {
            "Name": "telemetry",
            "DatabaseName": "history",
            "StorageDescriptor": {"Columns": [{"Name": "sensor_id", "Type": "string"}, {"Name": "vehicle_count", "Type": "int"}]},
            "PartitionKeys": [{"Name": "dt", "Type": "string"}],
        }
    }


def role(trust: dict[str, Any]) -> dict[str, Any]:
    return {
        "Role": {
            "Path": "/",
            "RoleName": "analytics-read",
            "RoleId": "AROAEXAMPLEEXAMPLE123",
            "Arn": ROLE_ARN,
            "CreateDate": "2026-01-01T00:00:00Z",
            "AssumeRolePolicyDocument": json.dumps(trust),
        }
    }


ALL_ARGS = {
    **AWS_ARGS,
    "athena_workgroup": "analytics",
    "glue_database": "history",
    "glue_table": "telemetry",
    "s3_bucket": "history",
    "role_arn": ROLE_ARN,
    "groups": ["traffic-admins", "traffic-viewers"],
    "identity_region": "us-east-1",
}


def add_all(stubs: dict[str, Stubber], edition: str = "ENTERPRISE", trust: dict[str, Any] | None = None, viewers_exist: bool = True) -> None:
    stubs["quicksight"].add_response("describe_account_settings", settings(edition), {"AwsAccountId": ACCOUNT})
    stubs["athena"].add_response("get_work_group", workgroup(), {"WorkGroup": "analytics"})
    stubs["glue"].add_response("get_table", table(), {"DatabaseName": "history", "Name": "telemetry"})
    stubs["s3"].add_response("head_bucket", {}, {"Bucket": "history"})
    stubs["iam"].add_response("get_role", role(TRUST if trust is None else trust), {"RoleName": "analytics-read"})
    group = {"Group": {"Arn": f"arn:aws:quicksight:us-east-1:{ACCOUNT}:group/default/traffic-admins", "GroupName": "traffic-admins"}, "Status": 200}
    stubs["quicksight"].add_response("describe_group", group, {"AwsAccountId": ACCOUNT, "Namespace": "default", "GroupName": "traffic-admins"})
    if viewers_exist:
        stubs["quicksight"].add_response("describe_group", group, {"AwsAccountId": ACCOUNT, "Namespace": "default", "GroupName": "traffic-viewers"})
    else:
        stubs["quicksight"].add_client_error("describe_group", "ResourceNotFoundException", "Group traffic-viewers not found", 404)


def test_everything_in_place_is_ready(capsys, stubs):
    add_all(stubs)
    result = run(capsys, ALL_ARGS)
    assert result["ready"] is True and result["problems"] == [] and result["changed"] is False
    assert result["account_id"] == ACCOUNT
    assert result["subscription"] == {"subscribed": True, "edition": "ENTERPRISE", "default_namespace": "default", "notification_email": "ops@example.org"}
    assert result["workgroup"]["output_location"] == "s3://history/athena-results/" and result["workgroup"]["enforced"] is True
    assert result["glue_table"]["columns"] == [
        {"name": "sensor_id", "type": "string"},
        {"name": "vehicle_count", "type": "int"},
        {"name": "dt", "type": "string"},
    ]
    assert result["bucket"]["reachable"] is True and result["role"]["trusts_quicksight"] is True
    assert result["groups"] == {"traffic-admins": True, "traffic-viewers": True}
    # groups are looked up in the identity region, the rest in the module's region
    assert ("quicksight", "us-east-1") in stubs["regions"] and ("athena", REGION) in stubs["regions"]


def test_not_subscribed_says_where_to_sign_up(capsys, stubs):
    stubs["quicksight"].add_client_error(
        "describe_account_settings", "ResourceNotFoundException", f"The account {ACCOUNT} is not signed up with QuickSight", 404
    )
    result = run(capsys, {**AWS_ARGS, "groups": ["traffic-admins"]})
    assert result["ready"] is False and result["subscription"]["subscribed"] is False
    assert len(result["problems"]) == 1
    assert "not subscribed to QuickSight" in result["problems"][0] and "Sign up for QuickSight" in result["problems"][0]
    assert result["groups"] == {}  # not asked: there is no QuickSight to ask


def test_standard_edition_missing_pieces_and_untrusting_role_each_named(capsys, stubs):
    stubs["quicksight"].add_response("describe_account_settings", settings("STANDARD"), {"AwsAccountId": ACCOUNT})
    stubs["athena"].add_response("get_work_group", workgroup(state="DISABLED", location=None), {"WorkGroup": "analytics"})
    stubs["glue"].add_client_error("get_table", "EntityNotFoundException", "Table telemetry not found", 400)
    stubs["s3"].add_client_error("head_bucket", "404", "Not Found", 404)
    stubs["iam"].add_response(
        "get_role",
        role({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        {"RoleName": "analytics-read"},
    )
    stubs["quicksight"].add_response(
        "describe_group",
        {"Group": {"GroupName": "traffic-admins"}, "Status": 200},
        {"AwsAccountId": ACCOUNT, "Namespace": "default", "GroupName": "traffic-admins"},
    )
    stubs["quicksight"].add_client_error("describe_group", "ResourceNotFoundException", "Group traffic-viewers not found", 404)
    result = run(capsys, ALL_ARGS)
    problems = "\n".join(result["problems"])
    assert result["ready"] is False
    assert "STANDARD edition" in problems and "Your subscriptions" in problems
    assert "is DISABLED" in problems and "no query result location" in problems
    assert "Glue table history.telemetry does not exist" in problems
    assert "S3 bucket 'history' does not exist" in problems
    assert "does not trust quicksight.amazonaws.com" in problems
    assert (
        "traffic-viewers do not exist" in problems
        and "create-group" in problems
        and "traffic-admins" not in problems.split("traffic-viewers do not exist", maxsplit=1)[0].rsplit("\n", 1)[-1]
    )
    assert len(result["problems"]) == 7


def test_access_denied_fails_with_what_to_grant(capsys, stubs):
    stubs["quicksight"].add_client_error(
        "describe_account_settings", "AccessDeniedException", "User is not authorized to perform quicksight:DescribeAccountSettings", 403
    )
    result = run(capsys, AWS_ARGS)
    assert result["failed"] is True
    assert "access denied" in result["msg"] and "Security & permissions" in result["msg"]
    assert "Traceback" not in json.dumps(result)


def test_throttled_call_is_retried(capsys, stubs):
    stubs["quicksight"].add_client_error("describe_account_settings", "ThrottlingException", "Rate exceeded", 429)
    stubs["quicksight"].add_response("describe_account_settings", settings(), {"AwsAccountId": ACCOUNT})
    result = run(capsys, AWS_ARGS)
    assert result["ready"] is True


def test_bad_role_arn_fails_before_any_call(capsys, stubs):
    result = run(capsys, {**AWS_ARGS, "role_arn": "analytics-read"})
    assert result["failed"] is True and result["msg"].startswith("role_arn:")


@pytest.mark.parametrize(
    ("document", "trusted"),
    [
        (TRUST, True),
        (
            {"Statement": [{"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "quicksight.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}]},
            True,
        ),
        ({"Statement": [{"Effect": "Deny", "Principal": {"Service": "quicksight.amazonaws.com"}, "Action": "sts:AssumeRole"}]}, False),
        ({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]}, False),
        (
            urllib.parse.quote(json.dumps(TRUST)),
            True,
        ),
    ],
)
def test_trusts_service(document, trusted):
    assert quicksight_account_info.trusts_service(document, "quicksight.amazonaws.com") is trusted


# ---- against the local endpoint: the template's history resources pass ----


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory) -> Iterator[str]:
    with local_endpoint(tmp_path_factory.mktemp("endpoint")) as url:
        yield url


def test_deployed_stack_history_passes_on_the_local_endpoint(capsys, endpoint):
    """The template deployed into the endpoint (Glue and Athena through launcher fix 18, Enterprise through fix 19)."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    cfn = session.client("cloudformation", endpoint_url=endpoint)
    s3 = session.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="code")
    s3.put_object(Bucket="code", Key="processor.zip", Body=b"PK\x05\x06" + b"\x00" * 18)
    cfn.create_stack(
        StackName="qs-local",
        TemplateBody=(ROOT / "files" / "iot-analytics-system.yaml").read_text(),
        Parameters=[
            {"ParameterKey": "EnvironmentName", "ParameterValue": "local"},
            {"ParameterKey": "NamePrefix", "ParameterValue": "qsx"},
            {"ParameterKey": "CodeS3Bucket", "ParameterValue": "code"},
            {"ParameterKey": "CodeS3Key", "ParameterValue": "processor.zip"},
        ],
        Capabilities=["CAPABILITY_NAMED_IAM", "CAPABILITY_IAM"],
    )
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="qs-local")["Stacks"][0]["Outputs"]}
    quicksight_client = session.client("quicksight", endpoint_url=endpoint)
    quicksight_client.create_group(AwsAccountId=ACCOUNT, Namespace="default", GroupName="traffic-admins")
    result = run(
        capsys,
        {
            "region": "us-east-1",
            "endpoint_url": endpoint,
            "access_key": "local-access-key",
            "secret_key": "local-secret-key",
            "athena_workgroup": outputs["AthenaWorkGroupName"],
            "glue_database": outputs["GlueDatabaseName"],
            "glue_table": outputs["GlueTableName"],
            "s3_bucket": outputs["HistoryBucketName"],
            "role_arn": outputs["AnalyticsRoleArn"],
            "groups": ["traffic-admins", "traffic-viewers"],
        },
    )
    assert result["problems"] == [
        "QuickSight group(s) traffic-viewers do not exist in namespace 'default' of identity region us-east-1: create them (QuickSight > Manage "
        f"QuickSight > Manage groups, or aws quicksight create-group --aws-account-id {ACCOUNT} --namespace default --region us-east-1 "
        "--group-name NAME) and add the users."
    ]
    assert result["workgroup"]["output_location"] == f"s3://{outputs['HistoryBucketName']}/athena-results/"
    columns = {c["name"] for c in result["glue_table"]["columns"]}
    assert {"sensor_id", "zone", "ts", "vehicle_count", "readings", "columns", "dh"} <= columns
    assert result["role"]["trusts_quicksight"] is True and result["subscription"]["edition"] == "ENTERPRISE"
