# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""EventBridge: an archive's EventPattern object (fix 7) and PutEvents to SNS, Lambda and Kinesis targets (fix 9)."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

from moto.core.utils import iso_8601_datetime_without_milliseconds, utcfromtimestamp
from moto.events.models import Archive, EventTemplateParser, Rule
from moto.sns.models import sns_backends
from moto.utilities.arns import parse_arn

from .cloudformation import with_json_property
from .registry import fix, patch

LOG = logging.getLogger(__name__)

_send_to_targets = Rule.send_to_targets  # moto's
# Services whose targets moto's PutEvents cannot deliver to (it raises NotImplementedError -> HTTP 500).
_UNDELIVERED_SERVICES = ("sns", "lambda", "kinesis")


@fix(7)
def archives_take_an_event_pattern_object() -> None:
    """An AWS::Events::Archive may give its EventPattern as an object.

    moto: fails with HTTP 500 unless the pattern is a string.
    AWS: CloudFormation takes the pattern as a JSON object (or text).
    Fix: CloudFormation's create and update pass an object pattern to moto as JSON text.
    """
    with_json_property(Archive, "EventPattern")


def _sns_message(target: dict[str, Any], event: dict[str, Any]) -> str:
    """The message EventBridge publishes: the target's Input, its InputTransformer's result, or the event (as for SQS)."""
    if "Input" in target:
        return target["Input"]
    transformer = target.get("InputTransformer", {})
    shaped = EventTemplateParser.parse(
        input_template=transformer.get("InputTemplate"), input_paths_map=transformer.get("InputPathsMap", {}), event=event
    )
    if isinstance(shaped, dict) and "time" in shaped:  # as moto's SQS delivery does: ISO 8601, as AWS sends it
        shaped["time"] = iso_8601_datetime_without_milliseconds(utcfromtimestamp(float(shaped["time"])))
    return shaped if isinstance(shaped, str) else json.dumps(shaped)


def send_to_targets(self: Rule, original_event: dict[str, Any], transform_input: bool = True) -> None:
    """moto's delivery for the targets it knows; SNS gets a Publish of the event; Lambda/Kinesis are acknowledged."""
    ours = [t for t in self.targets if parse_arn(t["Arn"]).service in _UNDELIVERED_SERVICES]
    if not ours:
        _send_to_targets(self, original_event, transform_input)
        return
    if not self.event_pattern.matches_event(original_event):
        return
    known = copy.copy(self)  # shallow: same backend, pattern and region, without the targets moto cannot serve
    known.targets = [t for t in self.targets if t not in ours]
    if known.targets:
        _send_to_targets(known, original_event, transform_input)
    for target in ours:
        arn = parse_arn(target["Arn"])
        if arn.service == "sns":
            # EventBridge publishes the event (or its Input/InputTransformer result) as the message body.
            message = _sns_message(target, original_event)
            sns_backends[arn.account][arn.region].publish(message=message, arn=target["Arn"])
        else:
            LOG.info("event for %s target %s not delivered: moto runs no Lambda code", arn.service, target["Arn"])


@fix(9)
def put_events_reaches_sns_and_acknowledges_lambda_and_kinesis() -> None:
    """PutEvents succeeds when a matching rule targets SNS, Lambda or Kinesis.

    moto: fails the whole call with HTTP 500, because it delivers only to SQS, Logs, archives, buses and API
    destinations.
    AWS: delivers to every target.
    Fix: SNS targets get the event (or the target's Input/InputTransformer result) published to the topic, so
    subscribers see it; Lambda and Kinesis targets are acknowledged without delivery, because moto cannot run Lambda
    code and its Kinesis event source mappings would try to (the local data plane does that instead).
    """
    patch(Rule, "send_to_targets", send_to_targets)
