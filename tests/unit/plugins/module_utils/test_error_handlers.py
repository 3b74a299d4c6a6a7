# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one error path: each service's handler knows its "not found", and every other AWS error reaches
module.fail_json_aws_error with a message that says what was being done."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.smartcity.iot_analytics.plugins.module_utils import errors
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot import IoTError, IoTErrorHandler, missing_ok


def client_error(code: str, message: str = "no", operation: str = "DescribeThing") -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


def raising(error: Exception):
    def call(*_args, **_kwargs):
        raise error

    return call


def fail_with(capsys, error: Exception) -> dict:
    """What a module's main() reports for ``error`` through module.fail_json_aws_error."""
    with patch_module_args({"region": "eu-west-1"}), pytest.raises(SystemExit):
        AnsibleAWSModule(argument_spec={}).fail_json_aws_error(error)
    return json.loads(capsys.readouterr().out)


def test_error_code_and_message_of_a_client_error_and_of_the_error_that_wraps_it() -> None:
    error = client_error("ThrottlingException", "Rate exceeded")
    wrapped = IoTError(message="Failed to list the things", exception=error)
    assert errors.error_code(error) == errors.error_code(wrapped) == "ThrottlingException"
    assert errors.error_message(error) == errors.error_message(wrapped) == "Rate exceeded"
    assert errors.error_code(ValueError("x")) == errors.error_message(IoTError(message="plain")) == ""


def test_missing_resource_is_none_for_a_read_and_false_for_a_deletion() -> None:
    gone = client_error("ResourceNotFoundException")
    assert IoTErrorHandler.list_error_handler("describe the thing")(raising(gone))() is None
    assert IoTErrorHandler.list_error_handler("list the targets", default_value=[])(raising(gone))() == []
    assert IoTErrorHandler.deletion_error_handler("delete the thing")(raising(gone))() is False
    assert missing_ok(raising(gone), default="absent") == "absent"
    assert IoTErrorHandler.run("describe the thing", raising(gone), missing=True) is None


@pytest.mark.parametrize("code", ["ThrottlingException", "AccessDeniedException"])
def test_other_errors_fail_the_module_with_the_description(capsys, code: str) -> None:
    error = client_error(code, "not now")
    with pytest.raises(IoTError) as raised:
        IoTErrorHandler.list_error_handler("describe the thing")(raising(error))()
    assert raised.value.message == "Failed to describe the thing" and raised.value.exception is error
    with pytest.raises(botocore.exceptions.ClientError):
        missing_ok(raising(error))  # not "missing": raised as it is, for the caller's handler
    result = fail_with(capsys, raised.value)
    assert result["failed"] and result["msg"].startswith("Failed to describe the thing: ") and "not now" in result["msg"]
    assert result["error"]["code"] == code


def test_a_task_handler_names_the_task_and_lets_described_errors_through() -> None:
    @IoTErrorHandler.task_error_handler("managing the IoT certificate")
    def task(error):
        raise error

    with pytest.raises(IoTError) as raised:
        task(client_error("AccessDeniedException"))
    assert raised.value.message == "managing the IoT certificate failed"
    described = IoTError(message="Failed to create the thing", exception=client_error("LimitExceededException"))
    with pytest.raises(IoTError) as passed:
        task(described)
    assert passed.value is described


def test_a_botocore_error_without_response_is_described_too(capsys) -> None:
    error = botocore.exceptions.EndpointConnectionError(endpoint_url="https://iot.eu-west-1.amazonaws.com")
    with pytest.raises(IoTError) as raised:
        IoTErrorHandler.common_error_handler("list the things")(raising(error))()
    result = fail_with(capsys, raised.value)
    assert result["msg"].startswith("Failed to list the things: Could not connect")


def test_quicksight_missing_resource_is_none_but_an_account_without_quicksight_fails(capsys) -> None:
    from ansible_collections.smartcity.iot_analytics.plugins.module_utils.quicksight import (
        ACCESS_HINT,
        SUBSCRIBE_HINT,
        QuickSightError,
        QuickSightErrorHandler,
    )

    gone = client_error("ResourceNotFoundException", "Data set foo not found", "DescribeDataSet")
    assert QuickSightErrorHandler.run("reading the data set", raising(gone), missing=True) is None
    unsubscribed = client_error("ResourceNotFoundException", "Your account is not signed up for QuickSight", "DescribeDataSet")
    with pytest.raises(QuickSightError) as raised:
        QuickSightErrorHandler.run("reading the data set", raising(unsubscribed), missing=True)
    assert raised.value.message.startswith("reading the data set failed: this account is not subscribed") and SUBSCRIBE_HINT in raised.value.message
    with pytest.raises(QuickSightError) as denied:
        QuickSightErrorHandler.common_error_handler("creating the data set")(raising(client_error("AccessDeniedException", "nope")))()
    result = fail_with(capsys, denied.value)
    assert result["msg"].startswith("creating the data set failed: access denied (nope)") and ACCESS_HINT in result["msg"]
    assert result["error"]["code"] == "AccessDeniedException"
