# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one error path of the collection's AWS modules, as amazon.aws has it.

A service's handler (``IoTErrorHandler``, ``QuickSightErrorHandler``) subclasses ``ErrorHandler`` and knows the
service's "not found" (``_is_missing``); its decorators turn a botocore error into the service's ``AnsibleAWSError``
with a message saying what was being done, and ``main()`` hands that to ``module.fail_json_aws_error``:

    @IoTErrorHandler.list_error_handler("describe the thing")      # missing: None
    @IoTErrorHandler.common_error_handler("create the thing")      # "Failed to create the thing: <AWS error>"
    @IoTErrorHandler.deletion_error_handler("delete the thing")    # missing: False
    @IoTErrorHandler.task_error_handler("managing the IoT certificate")  # "managing the IoT certificate failed: ..."

``ErrorHandler`` is amazon.aws's ``AWSErrorHandler`` with the message made by one class method, so that a service can
say more than "Failed to" (QuickSight names what to enable where), and with ``task_error_handler`` for a whole task
whose calls are made by shared code (certificate and rotation helpers) that has no description of its own.
"""

from __future__ import annotations

import functools

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.errors import AWSErrorHandler


def _client_error(error):
    """The ClientError that ``error`` is, or that the AnsibleAWSError ``error`` wraps; None for anything else."""
    if not isinstance(error, botocore.exceptions.ClientError):
        error = getattr(error, "exception", None)
    return error if isinstance(error, botocore.exceptions.ClientError) else None


def error_code(error):
    """The AWS error code of a ClientError (or of the one an AnsibleAWSError wraps); "" for anything else."""
    client_error = _client_error(error)
    return client_error.response.get("Error", {}).get("Code", "") if client_error is not None else ""


def error_message(error):
    """The AWS error message of a ClientError (or of the one an AnsibleAWSError wraps); "" for anything else."""
    client_error = _client_error(error)
    return client_error.response.get("Error", {}).get("Message", "") if client_error is not None else ""


class ErrorHandler(AWSErrorHandler):
    """``AWSErrorHandler`` whose messages come from ``failure_message`` (a call) and ``task_failure_message`` (a whole
    task); ``list_error_handler`` and ``deletion_error_handler`` are amazon.aws's, built on ``common_error_handler``."""

    @classmethod
    def failure_message(cls, description, error):  # pylint: disable=unused-argument  # services may read the error
        return f"Failed to {description}"

    @classmethod
    def task_failure_message(cls, doing, error):  # pylint: disable=unused-argument  # services may read the error
        return f"{doing} failed"

    @classmethod
    def _handler(cls, message):
        def wrapper(func):
            @functools.wraps(func)
            def handler(*args, **kwargs):
                try:
                    return func(*args, **kwargs)
                except botocore.exceptions.WaiterError as e:
                    raise cls._CUSTOM_EXCEPTION(message=f"Timeout trying to {message(None)}", exception=e) from e
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                    raise cls._CUSTOM_EXCEPTION(message=message(e), exception=e) from e

            return handler

        return wrapper

    @classmethod
    def common_error_handler(cls, description):
        """A botocore error of the call becomes ``_CUSTOM_EXCEPTION`` with ``failure_message(description, error)``
        (a waiter's timeout: "Timeout trying to {description}", as amazon.aws says)."""
        return cls._handler(lambda error: description if error is None else cls.failure_message(description, error))

    @classmethod
    def task_error_handler(cls, doing):
        """A botocore error anywhere in the task becomes ``_CUSTOM_EXCEPTION`` with ``task_failure_message(doing,
        error)``; the service's exceptions raised inside (with their own description) pass unchanged."""
        return cls._handler(lambda error: doing if error is None else cls.task_failure_message(doing, error))

    @classmethod
    def run(cls, description, call, *args, missing=False, **kwargs):
        """``call(*args, **kwargs)`` under ``common_error_handler(description)``, or under ``list_error_handler`` (a
        missing resource gives None) with ``missing=True``: for descriptions that name the resource at run time."""
        handler = cls.list_error_handler(description) if missing else cls.common_error_handler(description)
        return handler(call)(*args, **kwargs)
