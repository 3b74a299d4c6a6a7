"""Static checks of files/iot-analytics-system.yaml: least-privilege policies, the contracts the roles, the smoke test
and the stream processor rely on, and the parts the local endpoint cannot show (it skips some resource types)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto_compat import cloudformation as compat  # the local endpoint's parameter validation (fix 4)

from conftest import ROOT

TEMPLATE_PATH = ROOT / "files" / "iot-analytics-system.yaml"
TEMPLATE: dict[str, Any] = yaml.safe_load(TEMPLATE_PATH.read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


# The only policy statements that may grant on Resource "*", each for the reason AWS gives no narrower form.
ALLOW_STAR_RESOURCE = {
    # A KMS key policy's Resource always means the key itself; KMS accepts only "*" there.
    ("DataKey", "AccountAdministration"),
    ("DataKey", "CloudWatchLogs"),  # narrowed by the kms:EncryptionContext:aws:logs:arn condition
    ("DataKey", "EventBridgeAndAlarmsToEncryptedTargets"),  # narrowed by aws:SourceAccount
    ("LiveViewViewerPolicy", "ListDashboards"),  # cloudwatch:ListDashboards has no resource type
    ("RollupStateMachineRole", "VendedLogDelivery"),  # Step Functions' log-delivery actions have no resource type
}
# The only statements that may name a wildcard action: TLS-only Deny statements, which must cover every S3 action.
ALLOW_WILDCARD_ACTION_IN_DENY = {
    ("HistoryBucketPolicy", "TlsOnly"),
    ("AccessLogBucketPolicy", "TlsOnly"),
}
# Resource types moto's CloudFormation silently skips (docs/template.md): outputs must not Ref or GetAtt them.
# (Glue databases and tables and Athena workgroups are made by launcher fix 18; state machines keep their Definition by
# launcher fix 25.)
SKIPPED_BY_MOTO = {
    "AWS::CloudWatch::Alarm", "AWS::IoT::TopicRule", "AWS::IoT::DomainConfiguration", "AWS::KinesisFirehose::DeliveryStream",
    "AWS::SNS::Subscription", "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy", "AWS::Logs::LogStream", "AWS::Events::Connection",
    "AWS::Events::ApiDestination", "AWS::Scheduler::Schedule",
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _sub_placeholders(text: str) -> str:
    return re.sub(r"\$\{[^}]+\}", "PLACEHOLDER", text)


def policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every policy statement of every resource: IAM inline policies, key, queue, topic, bucket, IoT and Logs policies."""

    def walk(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if isinstance(node.get("Statement"), list):
                yield from node["Statement"]
                return
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Logs::ResourcePolicy":  # the document is a JSON string
            document = properties["PolicyDocument"]
            text = document["Fn::Sub"] if isinstance(document, dict) else document
            properties = {"PolicyDocument": json.loads(_sub_placeholders(text))}
        for statement in walk(properties):
            yield name, statement


def violations(template: dict[str, Any]) -> list[str]:
    found = []
    for name, statement in policy_statements(template):
        key = (name, statement.get("Sid"))
        if "NotAction" in statement or "NotResource" in statement:
            found.append(f"{key}: NotAction/NotResource")
        for action in _as_list(statement.get("Action", [])):
            if isinstance(action, str) and "*" in action:
                if not (statement.get("Effect") == "Deny" and key in ALLOW_WILDCARD_ACTION_IN_DENY):
                    found.append(f"{key}: wildcard action {action}")
        if statement.get("Effect") == "Allow" and "*" in _as_list(statement.get("Resource", [])) and key not in ALLOW_STAR_RESOURCE:
            found.append(f"{key}: Resource '*'")
    return found


def test_no_wildcard_action_and_no_star_resource_outside_the_allow_list() -> None:
    assert violations(TEMPLATE) == []


def test_allow_lists_name_only_statements_that_exist() -> None:
    keys = {(name, s.get("Sid")) for name, s in policy_statements(TEMPLATE)}
    assert ALLOW_STAR_RESOURCE <= keys
    assert ALLOW_WILDCARD_ACTION_IN_DENY <= keys
    # every allowed "*" resource carries its reason in the template
    assert TEMPLATE_PATH.read_text().count("# ALLOW-STAR:") == len(ALLOW_STAR_RESOURCE)


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ({"Sid": "X", "Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"}, "wildcard action s3:Get*"),
        ({"Sid": "X", "Effect": "Allow", "Action": ["dynamodb:*"], "Resource": "arn:aws:dynamodb:::table/t"}, "wildcard action dynamodb:*"),
        ({"Sid": "X", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}, "Resource '*'"),
        ({"Sid": "X", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": ["arn:aws:sqs:::q", "*"]}, "Resource '*'"),
        ({"Sid": "X", "Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::b"}, "NotAction"),
    ],
)
def test_the_check_catches_what_it_names(statement: dict[str, Any], reason: str) -> None:
    template = copy.deepcopy(TEMPLATE)
    role = template["Resources"]["ProcessorRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    role["Statement"].append(statement)
    assert any(reason in v for v in violations(template)), violations(template)


def test_key_policy_wildcard_is_caught_when_not_allow_listed() -> None:
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["DataKey"]["Properties"]["KeyPolicy"]["Statement"][0]["Action"] = "kms:*"
    assert violations(template) == ["('DataKey', 'AccountAdministration'): wildcard action kms:*"]


def test_every_role_trusts_one_service() -> None:
    roles = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::IAM::Role"}
    services = {name: r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"] for name, r in roles.items()}
    assert services == {
        "IotRuleRole": "iot.amazonaws.com",
        "ProcessorRole": "lambda.amazonaws.com",
        "HistoryDeliveryRole": "firehose.amazonaws.com",
        "EventTargetsRole": "events.amazonaws.com",
        "AnalyticsReadRole": "quicksight.amazonaws.com",
        "LiveViewRole": "lambda.amazonaws.com",
        "RollupStateMachineRole": "states.amazonaws.com",
        "RollupScheduleRole": "scheduler.amazonaws.com",
    }


def _actions(role: str) -> dict[str, set[str]]:
    [policy] = RESOURCES[role]["Properties"]["Policies"]
    return {s["Sid"]: set(_as_list(s["Action"])) for s in policy["PolicyDocument"]["Statement"]}


def test_processor_gets_exactly_the_access_of_its_interface() -> None:
    assert _actions("ProcessorRole") == {
        "ReadTelemetry": {"kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
                          "kinesis:GetShardIterator", "kinesis:ListShards"},
        "WriteState": {
            "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
            "dynamodb:Query",
        },
        "PublishAlerts": {"events:PutEvents"},
        "QuarantineAndDeadLetters": {"sqs:SendMessage"},
        "UseDataKey": {"kms:Decrypt", "kms:GenerateDataKey"},
        "OwnLogs": {"logs:CreateLogStream", "logs:PutLogEvents"},
    }
    [policy] = RESOURCES["ProcessorRole"]["Properties"]["Policies"]
    resources = {s["Sid"]: s["Resource"] for s in policy["PolicyDocument"]["Statement"]}
    assert resources["WriteState"] == {"Fn::GetAtt": ["StateTable", "Arn"]}
    assert resources["PublishAlerts"] == {"Fn::GetAtt": ["AlertBus", "Arn"]}


def test_processor_environment_is_the_interface() -> None:
    variables = RESOURCES["StreamProcessor"]["Properties"]["Environment"]["Variables"]
    assert set(variables) == {
        "TABLE_NAME", "EVENT_BUS_NAME", "WINDOW_SECONDS", "CONGESTION_THRESHOLD", "CONGESTION_CLEAR_THRESHOLD",
        "MIN_READINGS", "STATE_TTL_DAYS", "QUARANTINE_QUEUE_URL", "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL",
    }
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "SmartCity/Traffic"
    assert variables["POWERTOOLS_SERVICE_NAME"] == RESOURCES["StreamProcessor"]["Properties"]["FunctionName"]
    assert RESOURCES["StreamProcessor"]["Properties"]["Handler"] == "lambda_handler.lambda_handler"


def test_event_source_mapping_is_bounded_and_reports_item_failures() -> None:
    mapping = RESOURCES["StreamMapping"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    parameters = TEMPLATE["Parameters"]
    assert parameters["MaximumRetryAttempts"]["MinValue"] >= 0  # -1 (infinite) is not allowed
    assert parameters["MaximumRecordAgeSeconds"]["MinValue"] >= 60  # -1 (infinite) is not allowed
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}


def test_data_resources_are_retained_and_protected_unless_throwaway() -> None:
    assert TEMPLATE["Transform"] == "AWS::LanguageExtensions"
    for name in ("StateTable", "DataKey", "HistoryBucket"):
        assert RESOURCES[name]["DeletionPolicy"] == {"Fn::If": ["DeletesDataWithStack", "Delete", "Retain"]}, name
        assert RESOURCES[name]["UpdateReplacePolicy"] == {"Fn::If": ["DeletesDataWithStack", "Delete", "Retain"]}, name
    assert RESOURCES["StateTable"]["Properties"]["DeletionProtectionEnabled"] == {"Fn::If": ["DeletesDataWithStack", False, True]}
    # env=local by its name, any other environment only by choice (the default retains)
    assert TEMPLATE["Conditions"]["DeletesDataWithStack"] == {"Fn::Or": [
        {"Fn::Equals": [{"Ref": "EnvironmentName"}, "local"]}, {"Fn::Equals": [{"Ref": "DeleteDataWithStack"}, "true"]}]}
    assert TEMPLATE["Parameters"]["DeleteDataWithStack"]["Default"] == "false"


def test_buckets_are_versioned_private_and_encrypted() -> None:
    for name in ("HistoryBucket", "AccessLogBucket"):
        properties = RESOURCES[name]["Properties"]
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
        assert all(properties["PublicAccessBlockConfiguration"].values())
        assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    history = RESOURCES["HistoryDelivery"]["Properties"]["ExtendedS3DestinationConfiguration"]
    assert history["Prefix"] == "telemetry/dh=!{timestamp:yyyy-MM-dd-HH}/"  # tests/unit/test_template_rollups.py: the same keys as HistoryTable


def test_alert_routing_covers_the_issue_types() -> None:
    for rule in ("AlertsToTopicRule", "AlertsToSlackRule"):
        pattern = RESOURCES[rule]["Properties"]["EventPattern"]
        assert pattern["source"] == ["smartcity.traffic"]
        assert {"CongestionAlert", "CongestionCleared", "SensorSilent"} <= set(pattern["detail-type"])
    assert RESOURCES["AlertsToSlackRule"]["Condition"] == "HasSlack"
    assert TEMPLATE["Parameters"]["SlackWebhookUrl"]["NoEcho"] is True
    assert TEMPLATE["Parameters"]["SlackAuthorization"]["NoEcho"] is True
    assert TEMPLATE["Parameters"]["SlackWebhookUrl"]["Default"] == ""


def test_outputs_never_ref_a_type_the_local_endpoint_skips() -> None:
    skipped = {name for name, r in RESOURCES.items() if r["Type"] in SKIPPED_BY_MOTO}
    text = json.dumps(TEMPLATE["Outputs"])
    referenced = set(re.findall(r'"Ref": "(\w+)"', text)) | set(re.findall(r'"Fn::GetAtt": \["(\w+)"', text))
    referenced |= {m.split(".")[0] for m in re.findall(r"\$\{([\w.]+)\}", text)}
    assert not referenced & skipped


def test_outputs_cover_what_the_smoke_test_reads() -> None:
    defaults = yaml.safe_load((ROOT / "roles" / "smoke_test" / "defaults" / "main.yml").read_text())
    assert set(defaults["smoke_test_required_outputs"]) <= set(TEMPLATE["Outputs"])


def test_the_live_view_reads_only_the_live_digests_and_viewers_get_only_its_widget() -> None:
    assert _actions("LiveViewRole") == {
        "ReadLiveDigests": {"dynamodb:Query"}, "DecryptWithDataKey": {"kms:Decrypt"},
        "OwnLogs": {"logs:CreateLogStream", "logs:PutLogEvents"},
    }
    [policy] = RESOURCES["LiveViewRole"]["Properties"]["Policies"]
    read = policy["PolicyDocument"]["Statement"][0]
    assert read["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}
    assert read["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["LIVE"]}}
    function = RESOURCES["LiveViewFunction"]["Properties"]
    assert function["Handler"] == "live_view_handler.lambda_handler"
    assert set(function["Environment"]["Variables"]) == {"TABLE_NAME", "WINDOW_SECONDS", "CONGESTION_THRESHOLD", "CONGESTION_CLEAR_THRESHOLD"}
    viewer = RESOURCES["LiveViewViewerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert {s["Sid"]: s["Action"] for s in viewer} == {
        "OpenTheDashboard": "cloudwatch:GetDashboard", "ListDashboards": "cloudwatch:ListDashboards",
        "DrawTheLiveWidget": "lambda:InvokeFunction",
    }
    assert viewer[2]["Resource"] == {"Fn::GetAtt": ["LiveViewFunction", "Arn"]}
    # the live widget is the dashboard's first, refreshed with the dashboard
    body = RESOURCES["OpsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(_sub_placeholders(body[0]).replace("PLACEHOLDER", "0"))["widgets"]
    assert widgets[0]["type"] == "custom" and widgets[0]["properties"]["updateOn"]["refresh"] is True
    assert body[1]["LiveView"] == {"Fn::GetAtt": ["LiveViewFunction", "Arn"]}
    assert all(w["y"] >= widgets[0]["height"] for w in widgets[1:])


def test_runtime_defaults_to_a_supported_python_and_still_allows_39() -> None:
    runtime = TEMPLATE["Parameters"]["LambdaRuntime"]
    assert runtime["Default"] in {"python3.12", "python3.13", "python3.14"}
    assert "python3.9" in runtime["AllowedValues"]
    assert TEMPLATE["Parameters"]["LambdaArchitecture"]["Default"] == "arm64"


def test_lint_exceptions_are_narrow_and_explained() -> None:
    for name, resource in RESOURCES.items():
        metadata = resource.get("Metadata", {})
        for skip in metadata.get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) >= 80, f"{name} {skip['id']} needs a reason a reviewer accepts"
        ignored = metadata.get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])
        assert ignored in ([], ["W1030"]) and (not ignored or name in {"StreamProcessor", "LiveViewFunction"}), name


@pytest.mark.parametrize("env_file", sorted((ROOT / "playbooks" / "vars" / "environments").glob("*.yml")), ids=lambda p: p.stem)
def test_every_environment_passes_valid_parameters(env_file: Path) -> None:
    """The parameters deploy.yml passes for each env satisfy the template's constraints (AWS would refuse them)."""
    env = yaml.safe_load(env_file.read_text())
    passed = {
        **{k: str(v) for k, v in env["iot_env_stack_parameters"].items()},
        "EnvironmentName": env_file.stem,
        "NamePrefix": env["iot_env_name_prefix"],
        "LambdaRuntime": env["iot_env_lambda_runtime"],
        "LambdaArchitecture": env["iot_env_lambda_architecture"],
        "CodeS3Bucket": f"{env['iot_env_name_prefix']}-artifacts-123456789012-eu-west-1",
        "CodeS3Key": "lambda/stream-processor-0123456789abcdef.zip",
        "CodeS3ObjectVersion": "",
    }
    compat.validate_parameters(TEMPLATE_PATH.read_text(), [{"ParameterKey": k, "ParameterValue": v} for k, v in passed.items()], {})


def _resolve(node: Any, values: dict[str, str]) -> Any:  # noqa: PLR0911  one return per intrinsic function
    """The intrinsic functions the DevicePolicy uses (Fn::Sub in both forms, Fn::Join, Fn::Split, Ref), evaluated."""
    if isinstance(node, list):
        return [_resolve(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Fn::Sub"}:
        text, local = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
        names = {**values, **{k: _resolve(v, values) for k, v in local.items()}}

        def substitute(match: re.Match) -> str:
            name = match.group(1)
            return "${" + name[1:] + "}" if name.startswith("!") else names[name]

        return re.sub(r"\$\{([^}]+)\}", substitute, text)
    if set(node) == {"Fn::Join"}:
        separator, items = node["Fn::Join"]
        return separator.join(_resolve(items, values))
    if set(node) == {"Fn::Split"}:
        separator, text = node["Fn::Split"]
        return _resolve(text, values).split(separator)
    if set(node) == {"Ref"}:
        return values[node["Ref"]]
    return {key: _resolve(value, values) for key, value in node.items()}


def test_device_policy_is_the_module_utils_document() -> None:
    """One device policy: the template's DevicePolicy resolves to module_utils/iot.py's device_policy_document()."""
    from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot import device_policy_document

    values = {"AWS::Partition": "aws-cn", "AWS::Region": "cn-north-1", "AWS::AccountId": "210987654321",
              "NamePrefix": "city-a", "EnvironmentName": "prod"}
    properties = RESOURCES["DevicePolicy"]["Properties"]
    resolved = _resolve(properties["PolicyDocument"], values)
    assert _resolve(properties["PolicyName"], values) == "city-a-prod-device"
    assert resolved == device_policy_document("aws-cn", "cn-north-1", "210987654321", "city_a_prod_telemetry")
    # the rotation channel is the named shadow, never IoT Jobs
    assert "jobs" not in json.dumps(resolved)
    assert {s["Sid"] for s in resolved["Statement"]} >= {"OwnRotationShadow", "SubscribeOwnRotationShadow"}
