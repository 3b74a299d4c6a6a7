# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every smartcity.iot_analytics IoT module shares: the client, the one error path, pagination, the device policy.

amazon.aws has no IoT modules; these follow its habits (``AnsibleAWSModule``, ``AWSRetry.jittered_backoff``,
``aws_retry=True``, an ``AWSErrorHandler`` that knows the service's "not found").
"""

from __future__ import annotations

import json
import re

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.errors import ErrorHandler

# IoT control-plane errors worth retrying besides the standard throttling codes.
RETRY_CODES = ["ThrottlingException", "ServiceUnavailableException", "InternalFailureException", "LimitExceededException"]

# The name of the thing's named shadow that carries the certificate rotation (device <-> controller).
ROTATION_SHADOW = "cert-rotation"


class IoTError(AnsibleAWSError):
    pass


class IoTErrorHandler(ErrorHandler):
    """IoT's "not found" is ResourceNotFoundException; messages are amazon.aws's ("Failed to describe the thing: ...")."""

    _CUSTOM_EXCEPTION = IoTError

    @classmethod
    def _is_missing(cls):
        return is_boto3_error_code("ResourceNotFoundException")


def iot_retry():
    return AWSRetry.jittered_backoff(retries=10, delay=1, max_delay=30, catch_extra_error_codes=RETRY_CODES)


def iot_client(module, service="iot", **extra_params):
    """An IoT client whose calls retry with jitter when given ``aws_retry=True`` (region and endpoint: AWS options;
    ``extra_params`` such as ``endpoint`` for the iot-data plane override them)."""
    return module.client(service, retry_decorator=iot_retry(), **extra_params)


def paginate(client, operation, result_key, **params):
    """Every item of a paginated IoT list call; a throttled call is retried as a whole, with jitter."""

    @iot_retry()
    def _all():
        items = []
        for page in client.get_paginator(operation).paginate(**params):
            items.extend(page.get(result_key, []))
        return items

    return _all()


def missing_ok(call, *args, default=None, **kwargs):
    """``call(*args, **kwargs)``, or ``default`` when IoT answers that the resource does not exist (gone is the
    outcome); other errors are raised as they are, for the caller's handler to describe."""
    try:
        return call(*args, **kwargs)
    except IoTErrorHandler._is_missing():  # pylint: disable=protected-access  # the handler's one "not found"
        return default


def normalize_document(document):
    """A policy document (dict or JSON text) as a dict with a canonical JSON form for comparison."""
    if isinstance(document, str):
        document = json.loads(document)
    return document


def canonical_json(document):
    return json.dumps(normalize_document(document), sort_keys=True, separators=(",", ":"))


def device_policy_document(partition, region, account_id, rule_name, shadow_name=ROTATION_SHADOW):
    """The one device policy of the data contract (docs/contracts.md, "Device identity and policy").

    The template's ``DevicePolicy`` is the same document; ``tests/unit/test_template.py`` compares the two.
    """
    arn = f"arn:{partition}:iot:{region}:{account_id}:"
    thing = "${iot:Connection.Thing.ThingName}"
    shadow = f"$aws/things/{thing}/shadow/name/{shadow_name}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConnectAsOwnThing",
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": arn + "client/" + thing,
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {
                "Sid": "PublishOwnTelemetry",
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": [
                    arn + f"topic/traffic/*/{thing}/telemetry",
                    arn + f"topic/$aws/rules/{rule_name}/traffic/*/{thing}/telemetry",
                ],
            },
            {
                "Sid": "OwnRotationShadow",
                "Effect": "Allow",
                "Action": ["iot:Publish", "iot:Receive"],
                "Resource": arn + "topic/" + shadow + "/*",
            },
            {
                "Sid": "SubscribeOwnRotationShadow",
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": arn + "topicfilter/" + shadow + "/*",
            },
        ],
    }


# ---- things and their attributes (the IoT rules, checked before anything is called) ----

THING_NAME_RULE = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
ATTRIBUTE_NAME_RULE = re.compile(r"[a-zA-Z0-9_.,@/:#-]{1,128}")
ATTRIBUTE_VALUE_RULE = re.compile(r"[a-zA-Z0-9_.,@/:#=\[\]-]{0,800}")
MAX_ATTRIBUTES_WITHOUT_TYPE = 3
MAX_ATTRIBUTES_WITH_TYPE = 50


def thing_name_error(name):
    """Why ``name`` is not a valid thing name, or None."""
    if not isinstance(name, str) or not THING_NAME_RULE.fullmatch(name):
        return f"thing name {name!r} breaks the IoT rule: 1 to 128 characters of a-z A-Z 0-9 : _ -"
    return None


def attribute_errors(attributes):
    """Messages (one per broken rule, naming the attribute) for a dict of thing attributes; empty when valid."""
    errors = []
    for name, value in attributes.items():
        if not isinstance(name, str) or not ATTRIBUTE_NAME_RULE.fullmatch(name):
            errors.append(f"attribute name {name!r} breaks the IoT rule: 1 to 128 characters of a-z A-Z 0-9 _ . , @ / : # -")
            continue
        if not isinstance(value, str):
            errors.append(f"attribute {name!r}: the value must be a string, got {type(value).__name__} (quote it)")
        elif len(value) > 800:
            errors.append(f"attribute {name!r}: the value has {len(value)} characters, the IoT rule allows at most 800")
        elif not ATTRIBUTE_VALUE_RULE.fullmatch(value):
            bad = sorted({c for c in value if not ATTRIBUTE_VALUE_RULE.fullmatch(c)})
            errors.append(
                f"attribute {name!r}: the value {value!r} breaks the IoT rule (only a-z A-Z 0-9 _ . , @ / : # = [ ] -); "
                f"not allowed: {' '.join(repr(c) for c in bad)}"
            )
    return errors


def attribute_limit(has_thing_type):
    return MAX_ATTRIBUTES_WITH_TYPE if has_thing_type else MAX_ATTRIBUTES_WITHOUT_TYPE


def certificate_id_from_arn(arn):
    """The certificate id of a ``...:cert/<id>`` principal ARN, or None for other principals."""
    if isinstance(arn, str) and ":cert/" in arn:
        return arn.rsplit("/", 1)[1]
    return None


def thing_principals(client, thing_name):
    """The principal ARNs attached to a thing (sorted); None when the thing does not exist."""
    principals = missing_ok(paginate, client, "list_thing_principals", "principals", thingName=thing_name)
    return None if principals is None else sorted(principals)


def parse_policy_document(text):
    """A policy document read from IoT as a dict; text that is not a JSON object stays text."""
    try:
        document = json.loads(text)
    except (TypeError, ValueError):
        return text
    return document if isinstance(document, dict) else text
