"""Any environment name the template accepts makes valid resource names: the names built from NamePrefix and
EnvironmentName, at the longest both parameters allow, stay within the AWS limit of each resource type."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from conftest import ROOT

TEMPLATE: dict[str, Any] = yaml.safe_load((ROOT / "files" / "iot-analytics-system.yaml").read_text())
PARAMETERS = TEMPLATE["Parameters"]

# AWS's length limit of each name property the template builds from NamePrefix and EnvironmentName.
LIMITS = {
    ("AWS::KMS::Alias", "AliasName"): 256,
    ("AWS::Kinesis::Stream", "Name"): 128,
    ("AWS::Logs::LogGroup", "LogGroupName"): 512,
    ("AWS::Logs::ResourcePolicy", "PolicyName"): 255,
    ("AWS::IoT::TopicRule", "RuleName"): 128,
    ("AWS::IoT::Policy", "PolicyName"): 128,
    ("AWS::IoT::DomainConfiguration", "DomainConfigurationName"): 128,
    ("AWS::DynamoDB::Table", "TableName"): 255,
    ("AWS::SQS::Queue", "QueueName"): 80,
    ("AWS::Events::Rule", "Name"): 64,
    ("AWS::Events::EventBus", "Name"): 256,
    ("AWS::Events::Connection", "Name"): 64,
    ("AWS::Events::ApiDestination", "Name"): 64,
    ("AWS::Events::Archive", "ArchiveName"): 48,
    ("AWS::Lambda::Function", "FunctionName"): 64,
    ("AWS::SNS::Topic", "TopicName"): 256,
    ("AWS::Glue::Database", "Name"): 255,
    ("AWS::KinesisFirehose::DeliveryStream", "DeliveryStreamName"): 64,
    ("AWS::Athena::WorkGroup", "Name"): 128,
    ("AWS::StepFunctions::StateMachine", "StateMachineName"): 80,
    ("AWS::Scheduler::Schedule", "Name"): 64,
    ("AWS::CloudWatch::Alarm", "AlarmName"): 255,
    ("AWS::CloudWatch::Dashboard", "DashboardName"): 255,
    ("AWS::IAM::ManagedPolicy", "ManagedPolicyName"): 128,
}
LONGEST_REGION = "ap-southeast-5"  # 14 characters, as long as any region name today


def _longest(pattern: str) -> int:
    """The longest value a parameter's AllowedPattern of the form ^...{m,n}...$ accepts (the template's two)."""
    repeated = r"\[[^\]]+\]\{\d+,(\d+)\}"
    counted = sum(int(n) for n in re.findall(repeated, pattern))
    singles = len(re.findall(r"\[[^\]]+\]", re.sub(repeated, "", pattern)))
    return counted + singles


MAX_PREFIX = _longest(PARAMETERS["NamePrefix"]["AllowedPattern"])
MAX_ENV = _longest(PARAMETERS["EnvironmentName"]["AllowedPattern"])


def _resolve(node: Any) -> str | None:
    """A name at its longest: Fn::Sub with ${NamePrefix}, ${EnvironmentName} and ${AWS::Region}, also inside Fn::Join/Split."""
    if isinstance(node, dict) and set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
        return (node["Fn::Sub"].replace("${NamePrefix}", "p" * MAX_PREFIX).replace("${EnvironmentName}", "e" * MAX_ENV)
                .replace("${AWS::Region}", LONGEST_REGION))
    if isinstance(node, dict) and set(node) == {"Fn::Split"}:
        separator, text = node["Fn::Split"]
        resolved = _resolve(text)
        return None if resolved is None else "\0".join(resolved.split(separator))
    if isinstance(node, dict) and set(node) == {"Fn::Join"}:
        separator, parts = node["Fn::Join"]
        resolved = [part if isinstance(part, str) else _resolve(part) for part in ([parts] if isinstance(parts, dict) else parts)]
        return None if None in resolved else separator.join(resolved).replace("\0", separator)
    return None


def _derived_names() -> Iterator[tuple[str, str, str, str]]:
    """(logical id, type, property, longest value) of every resource name built from EnvironmentName."""
    for logical_id, resource in TEMPLATE["Resources"].items():
        properties = resource.get("Properties", {})
        candidates = dict(properties)
        if resource["Type"] == "AWS::Glue::Database":
            candidates = {"Name": properties["DatabaseInput"]["Name"]}
        for key, value in candidates.items():
            if key in {"Description"} or "EnvironmentName" not in str(value):
                continue
            resolved = _resolve(value)
            if resolved is not None:
                yield logical_id, resource["Type"], key, resolved


def test_the_name_parameters_have_bounded_patterns_with_a_description() -> None:
    assert "AllowedValues" not in PARAMETERS["EnvironmentName"]
    assert (MAX_PREFIX, MAX_ENV) == (20, 20)
    for name in ("EnvironmentName", "NamePrefix"):
        assert PARAMETERS[name]["ConstraintDescription"]


@pytest.mark.parametrize(("value", "valid"), [
    ("local", True), ("riverton", True), ("example-city", True), ("a", True), ("city-2", True),
    ("e" * 20, True), ("e" * 21, False), ("Riverton", False), ("river_ton", False), ("2city", False),
    ("city-", False), ("", False), ("city.north", False),
])
def test_environment_name_pattern(value: str, valid: bool) -> None:
    assert bool(re.fullmatch(PARAMETERS["EnvironmentName"]["AllowedPattern"], value)) is valid


def test_every_derived_name_fits_its_aws_limit() -> None:
    found = list(_derived_names())
    assert len(found) > 40  # the walk still finds the names
    for logical_id, resource_type, key, value in found:
        limit = LIMITS.get((resource_type, key))
        assert limit is not None, f"{logical_id}.{key} ({resource_type}) is built from EnvironmentName: add its AWS limit here"
        assert len(value) <= limit, f"{logical_id}.{key} can be {len(value)} characters, {resource_type} allows {limit}"


def test_the_longest_name_is_the_archive() -> None:
    """The budget the two patterns share is set by the archive (48): one more character would break it."""
    slack = {(t, k): LIMITS[(t, k)] - len(v) for _logical_id, t, k, v in _derived_names()}
    assert min(slack.values()) == 0
    assert min(slack, key=slack.get) == ("AWS::Events::Archive", "ArchiveName")


def test_the_artifact_bucket_fits_s3_names() -> None:
    """deploy.yml names the artifact bucket <prefix>-artifacts-<account>-<region>: S3 allows 63 characters."""
    assert len(f"{'p' * MAX_PREFIX}-artifacts-123456789012-{LONGEST_REGION}") <= 63
