# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run moto's server with AWS's CloudFormation update and change-set semantics.

moto 5.2 differs from AWS in five ways that break an idempotent, check-mode-capable deployment:

1. CreateChangeSet without ChangeSetType makes a CREATE change set (AWS: UPDATE), which registers a second
   stack under the same name. amazon.aws.cloudformation's check mode and review mode rely on the AWS default.
2. An unchanged CreateChangeSet raises "No updates are to be performed" (AWS: the change set is created in
   status FAILED with "didn't contain changes", which amazon.aws reads as "no change").
3. "Is this update a no-op?" compares the parameters as passed with the stack's resolved ones, so a parameter
   left at its default, or any Type: Number parameter, makes every update look like a change.
4. Parameter values are not checked against the template's constraints (AllowedValues, AllowedPattern,
   MinValue/MaxValue, MinLength/MaxLength, undeclared or missing parameters); AWS rejects such a
   CreateStack, UpdateStack or CreateChangeSet with a ValidationError that names the parameter.
5. An AWS::Lambda::Function made by CloudFormation ignores its Architectures property (always x86_64), so the
   deployed function would not say which platform its packaged wheels were built for.
6. An AWS::DynamoDB::Table made by CloudFormation ignores TimeToLiveSpecification and
   PointInTimeRecoverySpecification (the UpdateTimeToLive and UpdateContinuousBackups APIs work).
7. An AWS::Events::Archive whose EventPattern is a JSON object (as CloudFormation allows) fails with HTTP 500;
   moto only accepts the pattern as a string.
8. An AWS::IoT::Policy: its Ref is an object's repr instead of the policy name, GetPolicy returns its document as
   a Python repr instead of JSON, and deleting it after an update fails (DeleteConflict: non-default versions).
   AWS returns the name and JSON, and deletes the old versions with the policy.
9. PutEvents fails with HTTP 500 when a matching rule has an SNS, Lambda or Kinesis target, because moto delivers
   only to SQS, Logs, archives, buses and API destinations. SNS targets now get the event published to the topic
   (so subscribers see it); Lambda and Kinesis targets are acknowledged without delivery, because moto cannot run
   Lambda code and its Kinesis event source mappings would try to (the local data plane does that instead).

Five more changes only make moto fast enough for the data plane's rates (50,000 readings/s); they change no result
(21 to 24 below are more of this kind):

10. DynamoDB UpdateItem checks overlapping paths and clause counts on every node of the expression, each over its
    subtree, so an update with n SET clauses costs O(n^2) (100 clauses: about 0.45 s); both checks now run once,
    on the whole expression.
11. An item's 400 KB limit is checked by summing the whole item on every attribute set, so writing an item of n
    attributes costs O(n^2); the size is now kept as it changes and summed in full only near the limit.
12. Every request lists moto's package directory from disk to route it; the listing is now read once.
13. A DynamoDB Query on a table's key collects and sorts every item of the table to pick one partition: O(n log n)
    in the table's size (50,000 sensors: about 0.1 s a query), and it fails with HTTP 500 ("dictionary changed size
    during iteration") when a write lands meanwhile. It now reads only the partition it asks for.
14. Kinesis PutRecord(s) tries to run the stream's Lambda event source mappings for every record, through Docker,
    which fails here (about a third of the endpoint's time at 100 records/s, and an error line per record); and it
    finds a shard's last sequence number by listing all its records. Records are now only stored (the local data
    plane's poller is the event source mapping), and the last sequence number is read in constant time.

One more is missing API rather than different behaviour:

15. IoT ListCACertificates is not implemented (HTTP 500), though RegisterCACertificate and DescribeCACertificate
    are; registering your own CA idempotently (issuer own_ca) and the data plane's certificate-status sync need it.
    It now lists the registered CA certificates as AWS does (one page).
16. IoT DeleteCertificate checks for attachments by resolving every principal of the account while iterating the
    live attachment maps: O(all attachments) per delete, and HTTP 500 ("dictionary changed size during iteration",
    or a principal deleted meanwhile) when attachments change concurrently, as in a fleet rotation. It now checks the
    certificate's own ARN against a snapshot, with moto's errors (DeleteConflict while attached).
17. IoT CreateCertificateFromCsr certifies a fresh key that moto makes itself, not the CSR's public key, so a device
    could never use the certificate and nobody could tell which CSR it came from. The certificate now certifies the
    CSR's key and subject (still issued by "Moto", one year, as before).
18. CloudFormation has no model for AWS::Glue::Database, AWS::Glue::Table and AWS::Athena::WorkGroup: it skips them
    and still reports CREATE_COMPLETE (an Output that Refs one is dropped). AWS creates them. They are now made with
    moto's Glue CreateDatabase/CreateTable (the DatabaseInput/TableInput as given) and Athena CreateWorkGroup
    (WorkGroupConfiguration, Description, Tags, State); Ref is the name, as on AWS. An update changes them in place
    (Glue UpdateDatabase/UpdateTable, a new table version; the workgroup is made again under its name, as moto has no
    UpdateWorkGroup); a new name replaces them; they are deleted with the stack.
19. QuickSight: (a) DescribeAccountSettings says Edition STANDARD; the collection needs groups, which only Enterprise
    edition has: the local account is an Enterprise one. (b) DescribeDataSet, UpdateDataSet, DeleteDataSet and
    ListDataSets have no route (an HTML 404) and CreateDataSet keeps only the id and name; (c) no *Permissions call
    of data sources, data sets or dashboards exists; (d) nor do a data set's refresh properties and schedules. They
    now keep what the calls send and answer as AWS documents them: data set ARNs in AWS's form (dataset/ID; moto:
    data-set/ID), ResourceNotFoundException with HTTP 404 (moto: 400), ResourceExistsException (409) for an id in
    use, and AWS's InvalidParameterValueException for refresh properties of a DIRECT_QUERY data set.
20. QuickSight dashboards have one version in moto (without its DataSetArns and Sheets): UpdateDashboard, DeleteDashboard
    and DescribeIngestion fail with HTTP 500, and ListDashboardVersions, DescribeDashboardDefinition and
    UpdateDashboardPublishedVersion have no route. A dashboard now keeps each version with the request that made it
    (Name, Definition, DashboardPublishOptions, ThemeArn; DataSetArns from the data set declarations), built at once;
    only its first version is published by itself, and it shows the published version unless asked for another (AWS).
    DeleteDashboard deletes it with its versions, permissions and tags (with VersionNumber: that version, not the
    published one). CreateDashboard of an id in use is ResourceExistsException (moto replaces the dashboard). An
    ingestion started by a SPICE CreateDataSet/UpdateDataSet (fix 19) or CreateIngestion is COMPLETED at once, of no
    rows: the local endpoint runs no queries.

Four more only make moto fast enough for the data plane's rates, like 10-14; they change no result:

21. moto's server (werkzeug's development server) ends every connection after one response ("Connection: close"),
    so every AWS call opens a new TCP connection and moto starts a new thread for it: at pipeline rates a few hundred
    connections a second, each costing the client a connect and moto an accept, a thread and a shutdown. Connections
    are now kept alive between requests (HTTP/1.1, as AWS does), unless the client asks to close or sends a chunked
    body; whatever a handler leaves unread of a request body is read before the next request, and responses go out
    at once (TCP_NODELAY: werkzeug writes headers and body apart, and Nagle's algorithm would hold the body for the
    client's delayed acknowledgement, about 40 ms per request) and, up to 64 KB, in one send.
22. DynamoDB UpdateItem parses its UpdateExpression twice per request (once to check the names and values used,
    once to run it) and deep-copies the parsed tree with copy.deepcopy before validating it (about a third of an
    update's time). A parsed expression is now kept per expression text (the processor sends the same few
    expressions with new values), and the validator's private copy of the tree is made node by node.
23. Every response body is searched with a look-behind regular expression for an XML <RequestId> to replace, JSON
    bodies too: a GetRecords answer of several MB is scanned character by character (a tenth of the endpoint's time
    at pipeline rates). A body without "<RequestId>" is now left as it is without the search (the same result).
24. Kinesis GetRecords walks the shard's records from the first one ever written to find where the iterator points
    (its cost grows with everything the stream has held), and PutRecords decodes every record's base64 data only to
    measure it. GetRecords now starts at the iterator's position (sequence numbers are consecutive per shard; moto's
    walk is kept for anything else), and PutRecords takes the size from the base64 text.

One more CloudFormation difference, like 5 to 8:

25. An AWS::StepFunctions::StateMachine made by CloudFormation reads only DefinitionString: a Definition written as
    an object leaves the machine with an empty definition, DefinitionSubstitutions are not applied, and
    StateMachineType, LoggingConfiguration and TracingConfiguration are dropped (STANDARD, logging OFF). AWS
    serializes Definition to JSON, replaces each ${key} of DefinitionSubstitutions in it with the key's value, and
    applies the type, logging and tracing; the machine now gets the same.

This launcher gives moto AWS's behaviour for exactly these cases and changes nothing else. It is the
local-endpoint role's documented compatibility step (docs/local-endpoint.md);
pointed at AWS or LocalStack, the collection does not use it.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import json
import logging
import os
import re
import socket
import sys
import threading
import time
from typing import Any, Callable
from urllib.parse import unquote

import moto.backends
import moto.cloudformation.parsing as cloudformation_parsing
import moto.server
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from moto.athena.models import athena_backends
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException, ValidationError
from moto.cloudformation.responses import CloudFormationResponse
from moto.cloudformation.utils import yaml_tag_constructor
from moto.core.common_models import CloudFormationModel
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, BaseResponse
from moto.core.utils import iso_8601_datetime_without_milliseconds, utcfromtimestamp, utcnow
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodb.parsing import validators as dynamodb_validators
from moto.dynamodb.parsing.ast_nodes import Node as ExpressionNode
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.dynamodb.parsing.validators import ActionCountValidator, OverlappingPathsValidator
from moto.events.models import Archive, EventTemplateParser, Rule
from moto.glue.exceptions import EntityNotFoundException
from moto.glue.models import glue_backends
from moto.iot.exceptions import CertificateStateException, DeleteConflictException
from moto.iot.models import FakeCertificate, FakePolicy, IoTBackend, iot_backends
from moto.iot.responses import IoTResponse
from moto.kinesis.models import KinesisBackend, Shard
from moto.moto_api._internal import mock_random
from moto.moto_server.werkzeug_app import MotoRequestHandler
from moto.quicksight import urls as quicksight_urls
from moto.quicksight.data_models import QuicksightAccountSettings, QuicksightDashboard, QuicksightDataSet
from moto.quicksight.exceptions import InvalidParameterValueException
from moto.quicksight.exceptions import ResourceNotFoundException as QuickSightNotFound
from moto.quicksight.models import QuickSightBackend
from moto.quicksight.responses import QuickSightResponse
from moto.server import main
from moto.sns.models import sns_backends
from moto.stepfunctions.models import StateMachine
from moto.utilities.arns import parse_arn
from moto.utilities.aws_headers import gen_amzn_requestid_long
from moto.utilities.utils import get_partition
from werkzeug.wsgi import LimitedStream

LOG = logging.getLogger("moto_server_compat")

NO_CHANGES = "The submitted information didn't contain changes. Submit different information to create a change set."


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _declared_parameters(template_body: str) -> dict[str, Any]:
    yaml.add_multi_constructor("", yaml_tag_constructor)
    template = yaml.load(template_body, Loader=yaml.Loader)  # JSON is YAML too
    return (template or {}).get("Parameters", {}) or {}


def effective_parameters(
    template_body: str, incoming: list[dict[str, Any]], previous: dict[str, Any]
) -> dict[str, str | None]:
    """The parameter values a stack would get, as AWS resolves them: passed, previous, or the default (None: no value)."""
    passed = {p["ParameterKey"]: p for p in incoming or []}
    result = {}
    for key, slot in _declared_parameters(template_body).items():
        given = passed.get(key)
        if given is not None and given.get("UsePreviousValue"):
            value = previous.get(key)
        elif given is not None:
            value = given.get("ParameterValue")
        else:
            value = slot.get("Default", previous.get(key))
        result[key] = None if value is None else _as_text(value)
    return result


def _constraint_errors(key: str, slot: dict[str, Any], value: str) -> list[str]:
    """AWS's parameter checks, with AWS's wording."""
    if slot.get("ConstraintDescription"):
        failed = f"Parameter '{key}' failed to satisfy constraint: {slot['ConstraintDescription']}"
    else:
        failed = ""
    errors = []
    if "AllowedValues" in slot and value not in [_as_text(v) for v in slot["AllowedValues"]]:
        errors.append(failed or f"Parameter '{key}' must be one of AllowedValues")
    if "AllowedPattern" in slot and not re.fullmatch(slot["AllowedPattern"], value):
        errors.append(failed or f"Parameter '{key}' must match pattern {slot['AllowedPattern']}")
    if "MinLength" in slot and len(value) < int(slot["MinLength"]):
        errors.append(failed or f"Parameter '{key}' must contain at least {slot['MinLength']} characters")
    if "MaxLength" in slot and len(value) > int(slot["MaxLength"]):
        errors.append(failed or f"Parameter '{key}' must contain at most {slot['MaxLength']} characters")
    if slot.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return [f"Parameter '{key}' must be a number"]
        if "MinValue" in slot and number < float(slot["MinValue"]):
            errors.append(failed or f"Parameter '{key}' must be a number not less than {slot['MinValue']}")
        if "MaxValue" in slot and number > float(slot["MaxValue"]):
            errors.append(failed or f"Parameter '{key}' must be a number not greater than {slot['MaxValue']}")
    return errors


def validate_parameters(template_body: str, incoming: list[dict[str, Any]], previous: dict[str, Any]) -> None:
    declared = _declared_parameters(template_body)
    unknown = sorted({p["ParameterKey"] for p in incoming or []} - set(declared))
    if unknown:
        raise ValidationError(message=f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    values = effective_parameters(template_body, incoming, previous)
    missing = sorted(k for k, v in values.items() if v is None)
    if missing:
        raise ValidationError(message=f"Parameters: [{', '.join(missing)}] must have values")
    for key, slot in declared.items():
        errors = _constraint_errors(key, slot, values[key] or "")
        if errors:
            raise ValidationError(message=errors[0])


def _validating(action: Callable[[CloudFormationResponse], Any]) -> Callable[[CloudFormationResponse], Any]:
    def checked(self: CloudFormationResponse) -> Any:
        body = self._get_param("TemplateBody")
        previous: dict[str, Any] = {}
        name = self._get_param("StackName")
        if action.__name__ != "create_stack" and name:
            try:
                stack = self.cloudformation_backend.get_stack(name)
            except ValidationError:
                stack = None
            if stack is not None:
                previous = {k: _as_text(v) for k, v in stack.stack_parameters.items()}
                if self._get_bool_param("UsePreviousTemplate", False):
                    body = stack.template
        if body:
            validate_parameters(body, self._get_param("Parameters", []), previous)
        return action(self)

    checked.__name__ = action.__name__
    return checked


def _is_unchanged(stack: Any, incoming: list[dict[str, Any]], template_body: str) -> bool:
    if template_body is None or stack.template != template_body:
        return False
    previous = {k: _as_text(v) for k, v in stack.stack_parameters.items()}
    wanted = effective_parameters(template_body, incoming, previous)
    return all(previous.get(k) == v for k, v in wanted.items())


def _validate_different_update(self: CloudFormationResponse, incoming: Any, stack_body: str, old_stack: Any) -> None:
    if _is_unchanged(old_stack, incoming, stack_body):
        raise ValidationError(old_stack.name, message="No updates are to be performed.")


_create_change_set = CloudFormationResponse.create_change_set


def create_change_set(self: CloudFormationResponse) -> Any:
    get_param = self._get_param

    def get_param_update_default(name: str, if_none: Any = None) -> Any:
        # AWS: "By default, CloudFormation specifies UPDATE" (CreateChangeSet API reference).
        return get_param(name, "UPDATE" if name == "ChangeSetType" else if_none)

    unchanged = []

    def record_unchanged(incoming: Any, stack_body: str, old_stack: Any) -> None:
        unchanged.append(_is_unchanged(old_stack, incoming, stack_body))

    self._get_param = get_param_update_default  # type: ignore[method-assign]
    self._validate_different_update = record_unchanged  # type: ignore[method-assign]
    try:
        response = _create_change_set(self)
    finally:
        del self._get_param
        del self._validate_different_update
    change_sets = self.cloudformation_backend.change_sets
    change_set = change_sets[next(reversed(change_sets))]
    if unchanged and unchanged[0]:
        change_set.status = "FAILED"
        change_set.execution_status = "UNAVAILABLE"
        change_set.status_reason = NO_CHANGES
    elif change_set.change_set_type == "UPDATE":
        change_set.status = "CREATE_COMPLETE"
        change_set.execution_status = "AVAILABLE"
    return response


_create_function = LambdaFunction.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
_update_function = LambdaFunction.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def _with_architectures(function: LambdaFunction, cloudformation_json: dict[str, Any]) -> LambdaFunction:
    architectures = cloudformation_json.get("Properties", {}).get("Architectures")
    if architectures:
        function.architectures = architectures  # the setter validates like the API does
    return function


def _keeping_architectures(original: Callable[..., LambdaFunction], position: int) -> classmethod:
    """Wrap a CloudFormation create/update classmethod; ``position`` is where moto passes cloudformation_json."""

    def wrapped(cls: type[LambdaFunction], *args: Any, **kwargs: Any) -> LambdaFunction:
        cloudformation_json = kwargs["cloudformation_json"] if "cloudformation_json" in kwargs else args[position]
        return _with_architectures(original(cls, *args, **kwargs), cloudformation_json)

    return classmethod(wrapped)


# create(resource_name, cloudformation_json, ...) and update(original_resource, new_resource_name, cloudformation_json, ...)
LambdaFunction.create_from_cloudformation_json = _keeping_architectures(_create_function, 1)  # type: ignore[method-assign,assignment]
LambdaFunction.update_from_cloudformation_json = _keeping_architectures(_update_function, 2)  # type: ignore[method-assign,assignment]


_create_table = Table.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def _create_table_with_ttl_and_pitr(cls: type[Table], resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kwargs: Any) -> Table:
    table = _create_table(cls, resource_name, cloudformation_json, *args, **kwargs)
    properties = cloudformation_json.get("Properties", {})
    backend = dynamodb_backends[table.account_id][table.region_name]
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        backend.update_time_to_live(table.name, {"Enabled": _truthy(ttl.get("Enabled")), "AttributeName": ttl["AttributeName"]})
    pitr = properties.get("PointInTimeRecoverySpecification")
    if pitr and _truthy(pitr.get("PointInTimeRecoveryEnabled")):
        backend.update_continuous_backups(table.name, {"PointInTimeRecoveryEnabled": True})
    return table


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _with_json_property(model: type, prop: str) -> None:
    """Let ``model``'s CloudFormation create/update take ``prop`` as an object: moto gets it as JSON text.

    create(resource_name, cloudformation_json, ...) and update(original_resource, new_resource_name, cloudformation_json, ...).
    """

    def as_text(cloudformation_json: dict[str, Any]) -> dict[str, Any]:
        properties = cloudformation_json.get("Properties", {})
        if isinstance(properties.get(prop), dict):
            return {**cloudformation_json, "Properties": {**properties, prop: json.dumps(properties[prop])}}
        return cloudformation_json

    create = model.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    update = model.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def created(cls: type, resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return create(cls, resource_name, as_text(cloudformation_json), *args, **kwargs)

    # moto calls these with keyword arguments: the parameter names are moto's.
    def updated(cls: type, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return update(cls, original_resource, new_resource_name, as_text(cloudformation_json), *args, **kwargs)

    model.create_from_cloudformation_json = classmethod(created)  # type: ignore[attr-defined]
    model.update_from_cloudformation_json = classmethod(updated)  # type: ignore[attr-defined]


def _delete_iot_policy(cls: type[FakePolicy], resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> None:
    """Delete a CloudFormation-made IoT policy as AWS does: its non-default versions first, then the policy."""
    backend = iot_backends[account_id][region_name]
    # moto passes the physical id (the policy name, see physical_resource_id below) and the unresolved properties.
    name = resource_name if isinstance(resource_name, str) else cloudformation_json.get("Properties", {}).get("PolicyName")
    policy = backend.policies.get(name)
    if policy is None:
        return
    for version in list(policy.versions):
        if not version.is_default:
            backend.delete_policy_version(name, version.version_id)
    backend.delete_policy(policy_name=name)


_send_to_targets = Rule.send_to_targets
# Services whose targets moto's PutEvents cannot deliver to (it raises NotImplementedError -> HTTP 500).
_UNDELIVERED_SERVICES = ("sns", "lambda", "kinesis")


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


# --- 10-14: moto's cost per request at pipeline rates --------------------------------------------------------------
_check_for_overlapping_paths = OverlappingPathsValidator.check_for_overlapping_paths
_verify_action_counts = ActionCountValidator.verify_action_counts


def _at_the_root(name: str) -> Callable[..., Any]:
    """moto's AST node classes all derive from UpdateExpression, so these two checks run on every node and search its
    whole subtree again: O(n^2) for n clauses. The root holds every action, so checking it alone raises the same
    errors."""

    def check(self: Any, node: Any) -> Any:
        if node.parent is not None:
            return node
        return globals()[name](self, node)

    return check


ITEM_SIZE_LIMIT = 405000  # moto's own figure (AWS: 400 KB, measured between 409 and 410 KB)
ITEM_SIZE_RECHECK = 300000  # above this the size is summed in full, as moto does (nested values change in place)


def _entry_size(key: str, value: Any) -> int:
    return bytesize(key) + (value.size() if isinstance(value, DynamoType) else bytesize(str(value)))


def limited_setitem(self: LimitedSizeDict, key: str, value: Any) -> None:
    known = self.__dict__.get("_size")
    if known is None:
        known = sum(_entry_size(k, v) for k, v in self.items())
    elif key in self:
        known -= _entry_size(key, dict.__getitem__(self, key))
    new = _entry_size(key, value)
    if known + new > ITEM_SIZE_RECHECK:
        known = sum(_entry_size(k, v) for k, v in self.items() if k != key)
    if known + new > ITEM_SIZE_LIMIT:
        from moto.dynamodb.exceptions import ItemSizeTooLarge  # noqa: PLC0415  pylint: disable=import-outside-toplevel

        raise ItemSizeTooLarge
    dict.__setitem__(self, key, value)
    self.__dict__["_size"] = known + new


def _forgetting_size(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def changed(self: LimitedSizeDict, *args: Any, **kwargs: Any) -> Any:
        self.__dict__.pop("_size", None)
        return method(self, *args, **kwargs)

    return changed


@functools.lru_cache(maxsize=1)
def _moto_modules() -> tuple[str, ...]:
    return tuple(_list_of_moto_modules())


_list_of_moto_modules = moto.backends.list_of_moto_modules


_table_query = Table.query
_table_all_items = Table.all_items
_QUERY = threading.local()  # the partition that this request thread's Query reads


def table_query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name or hash_key is None or not self.range_key_attr:
        return _table_query(self, hash_key, *args, **kwargs)
    _QUERY.partition = (self, hash_key)
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        _QUERY.partition = None


def table_all_items(self: Table) -> list[Any]:
    """Inside a Query on the table's key: that partition's items, which are all that moto keeps of all_items()."""
    hint = getattr(_QUERY, "partition", None)
    if hint is None or hint[0] is not self:
        return _table_all_items(self)
    partition = self.items.get(hint[1]) or {}
    return sorted(partition.values(), key=lambda item: item.range_key)


_send_kinesis_message = LambdaBackend.send_kinesis_message


def no_kinesis_delivery(self: LambdaBackend, **kwargs: Any) -> None:
    """moto would run the function in Docker for each record; the local data plane's poller delivers instead."""


def shard_max_sequence_number(self: Shard) -> int:
    return next(reversed(self.records)) if self.records else 0


def shard_min_sequence_number(self: Shard) -> int:
    return next(iter(self.records)) if self.records else 0


Table.create_from_cloudformation_json = classmethod(_create_table_with_ttl_and_pitr)  # type: ignore[method-assign,assignment]
_with_json_property(Archive, "EventPattern")
_with_json_property(FakePolicy, "PolicyDocument")
FakePolicy.physical_resource_id = property(lambda self: self.name)  # type: ignore[attr-defined]  # Ref = the policy name
FakePolicy.delete_from_cloudformation_json = classmethod(_delete_iot_policy)  # type: ignore[method-assign,assignment]
Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
CloudFormationResponse._validate_different_update = _validate_different_update  # type: ignore[method-assign]
CloudFormationResponse.create_change_set = _validating(create_change_set)  # type: ignore[method-assign]
CloudFormationResponse.create_stack = _validating(CloudFormationResponse.create_stack)  # type: ignore[method-assign]
CloudFormationResponse.update_stack = _validating(CloudFormationResponse.update_stack)  # type: ignore[method-assign]
OverlappingPathsValidator.check_for_overlapping_paths = _at_the_root("_check_for_overlapping_paths")  # type: ignore[method-assign]
ActionCountValidator.verify_action_counts = _at_the_root("_verify_action_counts")  # type: ignore[method-assign]
LimitedSizeDict.__setitem__ = limited_setitem  # type: ignore[method-assign,assignment]
for _name in ("__delitem__", "pop", "popitem", "clear", "update", "setdefault"):
    setattr(LimitedSizeDict, _name, _forgetting_size(getattr(dict, _name)))
moto.backends.list_of_moto_modules = _moto_modules  # type: ignore[assignment]
Table.query = table_query  # type: ignore[method-assign]
Table.all_items = table_all_items  # type: ignore[method-assign]
LambdaBackend.send_kinesis_message = no_kinesis_delivery  # type: ignore[method-assign,assignment]
Shard.get_max_sequence_number = shard_max_sequence_number  # type: ignore[method-assign]
Shard.get_min_sequence_number = shard_min_sequence_number  # type: ignore[method-assign]


# --- 21: connections kept alive -------------------------------------------------------------------------------------
class _NothingLeft:
    """What werkzeug's after-response drain sees on a kept-alive connection: a socket that answers at once (an fd that
    is always readable, so its select does not wait 10 ms) and a stream with nothing in it (so it stops at once instead
    of reading the client's next request, or blocking until the client closes)."""

    _read_end, _write_end = os.pipe()
    os.write(_write_end, b"x")  # never read: the read end stays readable

    def fileno(self) -> int:
        return self._read_end

    def read(self, size: int = -1) -> bytes:
        return b""


_NOTHING_LEFT = _NothingLeft()


class KeepAliveRequestHandler(MotoRequestHandler):
    """moto's request handler without werkzeug's "Connection: close" on every response. werkzeug closes because, after
    a response, it reads whatever is left on the socket (it cannot tell where an unread request body ends); this
    handler reads exactly the rest of the request's body instead and leaves the next request on the connection."""

    timeout = 300  # an idle kept-alive connection is closed after this long (clients reconnect)
    wbufsize = 65536  # a response's headers and body leave in one send (werkzeug flushes after writing the body)
    _body: LimitedStream | None = None
    _socket: Any = None

    def setup(self) -> None:
        super().setup()
        # werkzeug writes a response's headers and its body separately: on a kept-alive connection Nagle's algorithm
        # holds the body until the client acknowledges the headers, which a client delays by up to 40 ms.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()  # wsgi.input is the connection's stream
        self._body = None
        keep = self.headers.get("Connection", "").lower() != "close" and not environ.get("wsgi.input_terminated")
        if keep and self.request_version == "HTTP/1.1":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if length >= 0:
                self._body = LimitedStream(environ["wsgi.input"], length)
                environ["wsgi.input"] = self._body
                # until the response is out, werkzeug's drain sees nothing left (see _NothingLeft)
                self._socket = (self.rfile, self.connection)
                self.rfile, self.connection = _NOTHING_LEFT, _NOTHING_LEFT  # type: ignore[assignment]
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        if self._body is not None and keyword.lower() == "connection" and value.lower() == "close":
            return  # the response is framed (Content-Length or chunked): the connection can carry the next request
        super().send_header(keyword, value)

    def run_wsgi(self) -> None:
        self._body = self._socket = None
        try:
            super().run_wsgi()
        finally:
            if self._socket is not None:
                self.rfile, self.connection = self._socket
                self._socket = None
            with contextlib.suppress(OSError, ValueError):
                self.wfile.flush()  # werkzeug writes a chunked response's last chunk without a flush
        if self._body is not None:
            self._body.exhaust()  # what the handler did not read of the body, so the next request line is found
            self._body = None


# --- 22: an UpdateExpression parsed once per text, its tree copied node by node ---------------------------------------
_parse_update_expression = UpdateExpressionParser.make.__func__  # type: ignore[attr-defined]
_deepcopy = copy.deepcopy


@functools.lru_cache(maxsize=2048)
def _parsed_update_expression(cls: type, expression: str) -> Any:
    return _parse_update_expression(cls, expression)


def parse_update_expression(cls: type, expression: str) -> Any:
    """The parsed tree of an UpdateExpression, shared by every request with the same text (a syntax error is raised
    each time: lru_cache keeps no exceptions). moto reads the tree (the names and values it uses) and validates a copy
    of it (Validator makes one), so the shared tree is never changed."""
    return _parsed_update_expression(cls, expression)


def _copy_tree(node: Any, parent: Any, memo: dict[int, Any]) -> Any:
    clone = object.__new__(type(node))
    clone.__dict__.update(node.__dict__)
    clone.parent = parent if node.parent is not None else None
    children = node.children
    if isinstance(children, list):
        clone.children = [
            _copy_tree(child, clone, memo) if isinstance(child, ExpressionNode)
            else child if isinstance(child, (str, int, float, bool, type(None)))
            else _deepcopy(child, memo)
            for child in children
        ]
    return clone


def copy_expression(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """copy.deepcopy for moto's validators: an expression tree whose nodes hold only type, children and parent is
    copied node by node (the same tree deepcopy makes, several times faster); anything else goes to deepcopy."""
    if isinstance(value, ExpressionNode) and value.parent is None and set(vars(value)) == {"type", "children", "parent"}:
        return _copy_tree(value, None, memo if memo is not None else {})
    return _deepcopy(value, memo)


UpdateExpressionParser.make = classmethod(parse_update_expression)  # type: ignore[method-assign,assignment]
dynamodb_validators.deepcopy = copy_expression  # type: ignore[attr-defined]
moto.server.MotoRequestHandler = KeepAliveRequestHandler  # type: ignore[misc]


# --- 23: the RequestId search only where there is one -----------------------------------------------------------------
_enrich_response = BaseResponse._enrich_response


def enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
    """moto's _enrich_response: the status as text, a request id in the headers and, in an XML body, in <RequestId>."""
    if isinstance(body, str) and "<RequestId>" in body:
        return _enrich_response(headers, body)
    if "status" in headers:
        headers["status"] = str(headers["status"])
    gen_amzn_requestid_long(headers)
    return headers, body  # moto's regular expression finds nothing to replace here (a bytes body makes it fail quietly)


# --- 24: Kinesis GetRecords from the iterator's position, PutRecords sizes from the base64 text ------------------------
_shard_get_records = Shard.get_records


def shard_get_records(self: Shard, last_sequence_id: str, limit: int | None) -> tuple[list[Any], int, int]:
    """The records after last_sequence_id, read from there: moto numbers a shard's records 1, 2, 3, ... and keeps them
    in order, so the next one is found by its number. Anything else (a gap) takes moto's walk from the first record."""
    records = self.records
    after = int(last_sequence_id)
    if not records:
        return [], after, 0
    first, newest = next(iter(records)), next(reversed(records))
    wanted = max(after + 1, first)
    results = []
    while wanted <= newest and (limit is None or len(results) < limit):
        record = records.get(wanted)
        if record is None:  # not consecutive: moto's own walk
            return _shard_get_records(self, last_sequence_id, limit)
        results.append(record)
        wanted += 1
    if not results:
        return [], after, 0
    behind = records[newest].created_at - results[-1].created_at
    return results, results[-1].sequence_number, int(behind * 1000)


def _decoded_size(data: str) -> int:
    """len(b64decode(data)) of the base64 text botocore sends, without decoding it."""
    text = data.rstrip("=") if isinstance(data, str) else data.decode("ascii").rstrip("=")
    return len(text) * 3 // 4


_put_records = KinesisBackend.put_records


def put_records(self: KinesisBackend, stream_arn: str, stream_name: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """moto's PutRecords, the record sizes taken from the base64 text (moto decodes each record to measure it)."""
    from moto.kinesis.exceptions import (  # noqa: PLC0415  pylint: disable=import-outside-toplevel
        RecordSizeExceedsLimit,
        TooManyRecords,
        TotalRecordsSizeExceedsLimit,
    )

    if any(not isinstance(r.get("Data", ""), (str, bytes)) or "\n" in str(r.get("Data", "")) for r in records):
        return _put_records(self, stream_arn, stream_name, records)
    stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
    if len(records) > 500:
        raise TooManyRecords
    data_sizes = [_decoded_size(r.get("Data", "")) + len(r.get("PartitionKey", "")) for r in records]
    if sum(data_sizes) > 5242880:
        raise TotalRecordsSizeExceedsLimit
    over = next((index for index, size in enumerate(data_sizes) if size > 1048576), None)
    if over is not None:
        raise RecordSizeExceedsLimit(position=over + 1)
    response: dict[str, Any] = {"FailedRecordCount": 0, "Records": []}
    for record in records:
        sequence_number, shard_id = stream.put_record(record.get("PartitionKey"), record.get("ExplicitHashKey"), record.get("Data"))
        response["Records"].append({"SequenceNumber": sequence_number, "ShardId": shard_id})
    self._send_stream_metrics(stream.stream_name, incoming_bytes=sum(data_sizes), incoming_records=len(records))  # pylint: disable=protected-access
    return response


BaseResponse._enrich_response = staticmethod(enrich_response)  # type: ignore[method-assign,assignment]
Shard.get_records = shard_get_records  # type: ignore[method-assign]
KinesisBackend.put_records = put_records  # type: ignore[method-assign]


# --- 15: IoT ListCACertificates ----------------------------------------------------------------------------------------
def list_ca_certificates(self: IoTResponse) -> Any:
    certificates = sorted(self.iot_backend.ca_certificates.values(), key=lambda c: c.creation_date)
    return ActionResult(
        {
            "certificates": [
                {"certificateArn": c.arn, "certificateId": c.certificate_id, "status": c.status, "creationDate": c.creation_date}
                for c in certificates
            ]
        }
    )


IoTResponse.list_ca_certificates = list_ca_certificates  # type: ignore[attr-defined]


# --- 16: IoT DeleteCertificate's attachment check -----------------------------------------------------------------------
def validation_delete(self: IoTBackend, cert: FakeCertificate, force_delete: bool = False) -> None:
    if cert.status == "ACTIVE":
        raise CertificateStateException("Certificate must be deactivated (not ACTIVE) before deletion.", cert.certificate_id)
    if any(key[0] == cert.arn for key in list(self.principal_things)):
        raise DeleteConflictException(f"Things must be detached before deletion (arn: {cert.arn})")
    if not force_delete and any(key[0] == cert.arn for key in list(self.principal_policies)):
        raise DeleteConflictException(f"Certificate policies must be detached before deletion (arn: {cert.arn})")


IoTBackend._validation_delete = validation_delete  # type: ignore[method-assign]


# --- 17: IoT CreateCertificateFromCsr certifies the CSR's key -------------------------------------------------------------
_MOTO_CA_KEY = ec.generate_private_key(ec.SECP256R1())  # this endpoint's stand-in for the AWS IoT CA (never stored)


def create_certificate_from_csr(self: IoTBackend, csr: str, set_as_active: bool) -> FakeCertificate:
    request = x509.load_pem_x509_csr(csr.encode("utf-8"))
    issuer = x509.Name([x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "Moto"), x509.NameAttribute(x509.NameOID.COMMON_NAME, "Moto")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(issuer)
        .public_key(request.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(_MOTO_CA_KEY, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("utf-8")
    return self.register_certificate(pem, ca_certificate_pem=None, set_as_active=set_as_active, status="INACTIVE")


IoTBackend.create_certificate_from_csr = create_certificate_from_csr  # type: ignore[method-assign]

# --- 18: CloudFormation makes Glue databases and tables and Athena workgroups ------------------------------------------
# moto has no CloudFormation model for these three types: it logs "No Moto CloudFormation support", skips them and
# still reports CREATE_COMPLETE. These models make them through moto's own Glue and Athena backends, with the Ref AWS
# gives (the name), update them, and delete them with the stack. moto finds models as CloudFormationModel's direct
# __subclasses__() (cached), and its model metaclass files each model under the service its module names.


class _MadeByStack:
    """What the three models share: Ref = the name, created at once, deleted by name, no Fn::GetAtt by default."""

    def __init__(self, account_id: str, region_name: str, name: str, **identity: str) -> None:
        self.account_id, self.region_name, self.name = account_id, region_name, name
        self.__dict__.update(identity)

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""  # the name is inside DatabaseInput / TableInput

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    def is_created(self) -> bool:
        return True

    def delete(self, account_id: str, region_name: str) -> None:
        self.delete_from_cloudformation_json(self.name, {"Properties": self._identity()}, account_id, region_name)  # type: ignore[attr-defined]

    def _identity(self) -> dict[str, Any]:
        return {}

    @classmethod
    def _replace(cls, old: Any, new_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> Any:
        """AWS's replacement: the new resource first, then the old one is deleted."""
        new = cls.create_from_cloudformation_json(new_name, cloudformation_json, account_id, region_name)  # type: ignore[attr-defined]
        old.delete(account_id, region_name)
        return new


class GlueDatabaseFromStack(_MadeByStack, CloudFormationModel):
    """AWS::Glue::Database: Glue CreateDatabase with the DatabaseInput as given."""

    __module__ = "moto.glue.compat"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Glue::Database"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any) -> Any:
        database_input = {"Name": resource_name.lower(), **cloudformation_json["Properties"]["DatabaseInput"]}
        glue_backends[account_id][region_name].create_database(database_input["Name"], database_input)
        return cls(account_id, region_name, database_input["Name"])

    @classmethod
    def update_from_cloudformation_json(  # moto passes these by keyword
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        database_input = {"Name": original_resource.name, **cloudformation_json["Properties"]["DatabaseInput"]}
        if database_input["Name"] != original_resource.name:
            return cls._replace(original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        glue_backends[account_id][region_name].update_database(original_resource.name, database_input)  # in place: its tables stay
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> None:
        with contextlib.suppress(EntityNotFoundException):
            glue_backends[account_id][region_name].delete_database(resource_name)  # with its tables, as Glue does


class GlueTableFromStack(_MadeByStack, CloudFormationModel):
    """AWS::Glue::Table: Glue CreateTable in DatabaseName with the TableInput as given."""

    __module__ = "moto.glue.compat"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Glue::Table"

    def _identity(self) -> dict[str, Any]:
        return {"DatabaseName": self.database_name}

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any) -> Any:
        properties = cloudformation_json["Properties"]
        table_input = {"Name": resource_name.lower(), **copy.deepcopy(properties["TableInput"])}
        glue_backends[account_id][region_name].create_table(
            properties["DatabaseName"], table_input["Name"], table_input, open_table_format_input=properties.get("OpenTableFormatInput")
        )
        return cls(account_id, region_name, table_input["Name"], database_name=properties["DatabaseName"])

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        properties = cloudformation_json["Properties"]
        table_input = {"Name": original_resource.name, **copy.deepcopy(properties["TableInput"])}
        if (properties["DatabaseName"], table_input["Name"]) != (original_resource.database_name, original_resource.name):
            return cls._replace(original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        glue_backends[account_id][region_name].update_table(original_resource.database_name, original_resource.name, table_input)  # a new version
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> None:
        with contextlib.suppress(EntityNotFoundException):  # the stack may have deleted its database (and so the table) first
            glue_backends[account_id][region_name].delete_table(cloudformation_json["Properties"]["DatabaseName"], resource_name)


class AthenaWorkGroupFromStack(_MadeByStack, CloudFormationModel):
    """AWS::Athena::WorkGroup: Athena CreateWorkGroup with WorkGroupConfiguration, Description, Tags and State."""

    __module__ = "moto.athena.compat"
    ATTRIBUTES = ("CreationTime", "WorkGroupConfiguration.EngineVersion.EffectiveEngineVersion")

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Athena::WorkGroup"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.ATTRIBUTES:
            raise UnformattedGetAttTemplateException()
        if attribute_name == "CreationTime":
            return self.creation_time
        return athena_backends[self.account_id][self.region_name].work_groups[self.name].configuration["EngineVersion"]["EffectiveEngineVersion"]

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any) -> Any:
        properties = cloudformation_json["Properties"]
        configuration = copy.deepcopy(properties.get("WorkGroupConfiguration", {}))
        backend = athena_backends[account_id][region_name]
        made = backend.create_work_group(resource_name, configuration, properties.get("Description", ""), properties.get("Tags", []))
        if made is None:
            raise ValidationError(message=f"WorkGroup {resource_name} already exists")
        made.state = properties.get("State", "ENABLED")
        return cls(account_id, region_name, resource_name, creation_time=kwargs.get("creation_time") or iso_8601_datetime_without_milliseconds(utcnow()))

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        if new_resource_name != original_resource.name:
            return cls._replace(original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        # AWS updates a workgroup in place; moto has no UpdateWorkGroup, so it is made again under its name (same CreationTime).
        original_resource.delete(account_id, region_name)
        created = original_resource.creation_time
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name, creation_time=created)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> None:
        backend = athena_backends[account_id][region_name]
        work_group = backend.work_groups.get(resource_name)
        if work_group is not None:
            backend.tagger.delete_all_tags_for_resource(work_group.arn)
            backend.delete_work_group(resource_name)


for _cached in (cloudformation_parsing.get_model_list, cloudformation_parsing.get_model_map, cloudformation_parsing.get_name_type_map):
    _cached.cache_clear()


# --- 25: CloudFormation's state machines: Definition, DefinitionSubstitutions, type, logging, tracing --------------------
_create_state_machine = StateMachine.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
_update_state_machine = StateMachine.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def state_machine_definition(properties: dict[str, Any]) -> str | None:
    """The definition AWS gives the machine: DefinitionString, or Definition as JSON text, with each ${key} of
    DefinitionSubstitutions replaced by the key's value (None when the properties have neither form)."""
    if "DefinitionString" in properties:
        definition = properties["DefinitionString"]
    elif "Definition" in properties:
        definition = json.dumps(properties["Definition"])
    else:
        return None
    for key, value in (properties.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + key + "}", value if isinstance(value, str) else json.dumps(value))
    return definition


def _with_definition_string(cloudformation_json: dict[str, Any]) -> dict[str, Any]:
    """The properties as moto's model reads them: the definition in DefinitionString."""
    properties = cloudformation_json.get("Properties", {})
    definition = state_machine_definition(properties)
    if definition is None:
        return cloudformation_json
    kept = {k: v for k, v in properties.items() if k not in ("Definition", "DefinitionSubstitutions")}
    return {**cloudformation_json, "Properties": {**kept, "DefinitionString": definition}}


def _configured(machine: StateMachine, properties: dict[str, Any]) -> StateMachine:
    """StateMachineType, LoggingConfiguration and TracingConfiguration, in the API's form (DescribeStateMachine)."""
    machine.type = properties.get("StateMachineType", "STANDARD")
    logging_configuration = properties.get("LoggingConfiguration") or {}
    machine.loggingConfiguration = {"level": logging_configuration.get("Level", "OFF")}
    if logging_configuration:
        machine.loggingConfiguration["includeExecutionData"] = _truthy(logging_configuration.get("IncludeExecutionData"))
        machine.loggingConfiguration["destinations"] = [
            {"cloudWatchLogsLogGroup": {"logGroupArn": d["CloudWatchLogsLogGroup"]["LogGroupArn"]}}
            for d in logging_configuration.get("Destinations", [])
        ]
    machine.tracingConfiguration = {"enabled": _truthy((properties.get("TracingConfiguration") or {}).get("Enabled"))}
    return machine


def _created_state_machine(cls: type[StateMachine], resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kwargs: Any) -> StateMachine:
    converted = _with_definition_string(cloudformation_json)
    return _configured(_create_state_machine(cls, resource_name, converted, *args, **kwargs), converted.get("Properties", {}))


# moto calls this with keyword arguments: the parameter names are moto's.
def _updated_state_machine(
    cls: type[StateMachine], original_resource: StateMachine, new_resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kwargs: Any
) -> StateMachine:
    converted = _with_definition_string(cloudformation_json)
    properties = converted.get("Properties", {})  # moto's replacement path rebinds converted["Properties"]
    return _configured(_update_state_machine(cls, original_resource, new_resource_name, converted, *args, **kwargs), properties)


StateMachine.create_from_cloudformation_json = classmethod(_created_state_machine)  # type: ignore[method-assign,assignment]
StateMachine.update_from_cloudformation_json = classmethod(_updated_state_machine)  # type: ignore[method-assign,assignment]


# --- 19: QuickSight: Enterprise edition, data sets, permissions, refresh ------------------------------------------------
# (a) moto's account settings say Edition STANDARD; the collection needs groups, which only Enterprise has.
_account_settings_init = QuicksightAccountSettings.__init__


def account_settings_init(self: QuicksightAccountSettings, *args: Any, **kwargs: Any) -> None:
    """The local account is subscribed to QuickSight Enterprise edition."""
    _account_settings_init(self, *args, **kwargs)
    self.edition = "ENTERPRISE"


QuicksightAccountSettings.__init__ = account_settings_init  # type: ignore[method-assign]
QuickSightNotFound.code = 404  # AWS answers ResourceNotFoundException with HTTP 404 (moto: 400)


class ResourceExistsException(JsonRESTError):
    code = 409

    def __init__(self, message: str) -> None:
        super().__init__("ResourceExistsException", message)


# (b)-(d) moto routes only .../data-sets (CreateDataSet, which keeps the id and name; ListDataSets: HTTP 500) and the
# ingestion paths; every other data-set path and the permissions paths answer an HTML 404. AWS keeps a data set's whole
# definition, each resource's permissions (principal -> actions), and a SPICE data set's refresh properties and
# schedules. These routes (the paths of botocore's QuickSight model) and handlers do the same.
_ACCOUNT = r"{0}/accounts/(?P<account_id>[\d]+)"
quicksight_urls.url_paths.update(
    {
        _ACCOUNT + path: QuickSightResponse.dispatch
        for path in (
            r"/data-sets/(?P<datasetid>[^/]+)$",
            r"/data-sets/(?P<datasetid>[^/]+)/permissions$",
            r"/data-sets/(?P<datasetid>[^/]+)/refresh-properties$",
            r"/data-sets/(?P<datasetid>[^/]+)/refresh-schedules$",
            r"/data-sets/(?P<datasetid>[^/]+)/refresh-schedules/(?P<scheduleid>[^/]+)$",
            r"/data-sources/(?P<datasourceid>[^/]+)/permissions$",
            r"/dashboards/(?P<dashboard_id>[^/]+)/permissions$",
        )
    }
)
# What DescribeDataSet returns of the CreateDataSet/UpdateDataSet request (Permissions, Tags and FolderArns are not in it).
_NOT_IN_DATA_SET = ("AwsAccountId", "Permissions", "Tags", "FolderArns")


def _store(backend: QuickSightBackend, name: str) -> dict[str, Any]:
    """A table of this launcher's on the backend: moto's reset (which clears the backend's __dict__) empties it."""
    return backend.__dict__.setdefault(f"compat_{name}", {})


def _uri(self: QuickSightResponse, name: str) -> str:
    return unquote(self.uri_match[name])


def _epoch(moment: datetime.datetime) -> float:
    return moment.timestamp()


def _data_set(self: QuickSightResponse) -> QuicksightDataSet:
    data_set_id = _uri(self, "DataSetId")
    data_set = self.quicksight_backend.data_sets.get(data_set_id)
    if data_set is None:
        raise QuickSightNotFound(f"Data set {data_set_id} not found")
    return data_set


def _ingestion(data_set: QuicksightDataSet) -> dict[str, str]:
    """SPICE: creating or updating a data set starts an ingestion (AWS returns its ARN and id)."""
    if data_set.definition.get("ImportMode") != "SPICE":
        return {}
    ingestion_id = str(mock_random.uuid4())
    return {"IngestionArn": f"{data_set.arn}/ingestion/{ingestion_id}", "IngestionId": ingestion_id}


def create_data_set(self: QuickSightResponse) -> Any:
    request = json.loads(self.body)
    backend = self.quicksight_backend
    data_set_id = request["DataSetId"]
    if data_set_id in backend.data_sets:
        raise ResourceExistsException(f"Data set {data_set_id} already exists")
    data_set = QuicksightDataSet(backend.account_id, backend.region_name, data_set_id, name=request["Name"])
    data_set.arn = f"arn:{get_partition(backend.region_name)}:quicksight:{backend.region_name}:{backend.account_id}:dataset/{data_set_id}"  # AWS's
    data_set.definition = {k: v for k, v in request.items() if k not in _NOT_IN_DATA_SET}
    data_set.created = data_set.updated = utcnow()
    backend.data_sets[data_set_id] = data_set
    if request.get("Tags"):
        backend.tagger.tag_resource(data_set.arn, request["Tags"])
    _store(backend, "permissions")[data_set.arn] = _granted([], request.get("Permissions") or [], [])
    return 201, {"status": 201}, json.dumps({"Arn": data_set.arn, "DataSetId": data_set_id, **_ingestion(data_set), "RequestId": "request_id"})


def describe_data_set(self: QuickSightResponse) -> str:
    data_set = _data_set(self)
    described = {"Arn": data_set.arn, **data_set.definition, "CreatedTime": _epoch(data_set.created), "LastUpdatedTime": _epoch(data_set.updated)}
    if described.get("ImportMode") == "SPICE":
        described["ConsumedSpiceCapacityInBytes"] = 0  # nothing is ever ingested here
    return json.dumps({"DataSet": described, "RequestId": "request_id"})


def update_data_set(self: QuickSightResponse) -> str:
    """AWS's UpdateDataSet replaces the definition: what the request leaves out is gone."""
    data_set = _data_set(self)
    request = json.loads(self.body)
    data_set.definition = {"DataSetId": data_set._id, **{k: v for k, v in request.items() if k not in _NOT_IN_DATA_SET}}
    data_set.name, data_set.updated = request["Name"], utcnow()
    return json.dumps({"Arn": data_set.arn, "DataSetId": data_set._id, **_ingestion(data_set), "RequestId": "request_id"})


def delete_data_set(self: QuickSightResponse) -> str:
    data_set = _data_set(self)
    backend = self.quicksight_backend
    del backend.data_sets[data_set._id]
    backend.tagger.delete_all_tags_for_resource(data_set.arn)
    for table in ("permissions", "refresh_properties", "refresh_schedules"):
        _store(backend, table).pop(data_set.arn, None)
    return json.dumps({"Arn": data_set.arn, "DataSetId": data_set._id, "RequestId": "request_id"})


def list_data_sets(self: QuickSightResponse) -> str:
    """One page, as fix 15 does."""
    summaries = [
        {
            "Arn": d.arn,
            "DataSetId": d._id,
            "Name": d.name,
            "CreatedTime": _epoch(d.created),
            "LastUpdatedTime": _epoch(d.updated),
            "ImportMode": d.definition.get("ImportMode"),
            "RowLevelPermissionTagConfigurationApplied": "RowLevelPermissionTagConfiguration" in d.definition,
            "ColumnLevelPermissionRulesApplied": bool(d.definition.get("ColumnLevelPermissionRules")),
        }
        for d in self.quicksight_backend.data_sets.values()
    ]
    return json.dumps({"DataSetSummaries": summaries, "RequestId": "request_id"})


# (c) Permissions: one table keyed by resource ARN, filled by the Create* calls' Permissions.
def _granted(current: list[dict[str, Any]], grant: list[dict[str, Any]], revoke: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """AWS's Update*Permissions: GrantPermissions adds actions to a principal, RevokePermissions removes them."""
    actions: dict[str, set[str]] = {p["Principal"]: set(p["Actions"]) for p in current}
    for permission in grant:
        actions.setdefault(permission["Principal"], set()).update(permission["Actions"])
    for permission in revoke:
        actions.get(permission["Principal"], set()).difference_update(permission["Actions"])
    return [{"Principal": principal, "Actions": sorted(granted)} for principal, granted in actions.items() if granted]


def _permissions_resource(self: QuickSightResponse, kind: str) -> tuple[str, str]:
    """(id, ARN) of the data source, data set or dashboard the request names; ResourceNotFoundException if absent."""
    if kind == "DataSet":
        data_set = _data_set(self)
        return data_set._id, data_set.arn
    resource_id = _uri(self, f"{kind}Id")
    found = (self.quicksight_backend.data_sources if kind == "DataSource" else self.quicksight_backend.dashboards).get(resource_id)
    if found is None:
        raise QuickSightNotFound(f"{kind} {resource_id} not found")
    return resource_id, found.arn


def _describing_permissions(kind: str) -> Callable[[QuickSightResponse], str]:
    def describe_permissions(self: QuickSightResponse) -> str:
        resource_id, arn = _permissions_resource(self, kind)
        permissions = _store(self.quicksight_backend, "permissions").get(arn, [])
        return json.dumps({f"{kind}Id": resource_id, f"{kind}Arn": arn, "Permissions": permissions, "RequestId": "request_id"})

    return describe_permissions


def _updating_permissions(kind: str) -> Callable[[QuickSightResponse], str]:
    def update_permissions(self: QuickSightResponse) -> str:
        resource_id, arn = _permissions_resource(self, kind)
        request = json.loads(self.body or "{}")
        table = _store(self.quicksight_backend, "permissions")
        table[arn] = _granted(table.get(arn, []), request.get("GrantPermissions") or [], request.get("RevokePermissions") or [])
        answer = {f"{kind}Id": resource_id, f"{kind}Arn": arn, "RequestId": "request_id"}
        if kind == "Dashboard":
            answer["Permissions"] = table[arn]  # UpdateDashboardPermissions (only) returns them
        return json.dumps(answer)

    return update_permissions


def _recording_permissions(create: Callable[[QuickSightResponse], Any], kind: str) -> Callable[[QuickSightResponse], Any]:
    """moto's CreateDataSource/CreateDashboard, which drop the request's Permissions: they are kept here."""

    def created(self: QuickSightResponse) -> Any:
        response = create(self)
        resource_id = self._get_param(f"{kind}Id")
        found = (self.quicksight_backend.data_sources if kind == "DataSource" else self.quicksight_backend.dashboards)[resource_id]
        _store(self.quicksight_backend, "permissions")[found.arn] = _granted([], self._get_param("Permissions") or [], [])
        return response

    created.__name__ = create.__name__
    return created


# (d) Refresh properties and schedules of a data set.
def _refreshable(self: QuickSightResponse) -> QuicksightDataSet:
    data_set = _data_set(self)
    if data_set.definition.get("ImportMode") != "SPICE":  # AWS's answer for a DIRECT_QUERY data set
        raise InvalidParameterValueException(f"The dataset {data_set._id} is not a SPICE dataset and is not supported for incremental refresh.")
    return data_set


def describe_data_set_refresh_properties(self: QuickSightResponse) -> str:
    data_set = _refreshable(self)
    properties = _store(self.quicksight_backend, "refresh_properties").get(data_set.arn)
    if properties is None:
        raise QuickSightNotFound(f"Refresh properties of data set {data_set._id} not found")
    return json.dumps({"DataSetRefreshProperties": properties, "RequestId": "request_id"})


def put_data_set_refresh_properties(self: QuickSightResponse) -> str:
    data_set = _refreshable(self)
    _store(self.quicksight_backend, "refresh_properties")[data_set.arn] = json.loads(self.body)["DataSetRefreshProperties"]
    return json.dumps({"RequestId": "request_id"})


def delete_data_set_refresh_properties(self: QuickSightResponse) -> str:
    data_set = _data_set(self)
    if _store(self.quicksight_backend, "refresh_properties").pop(data_set.arn, None) is None:
        raise QuickSightNotFound(f"Refresh properties of data set {data_set._id} not found")
    return json.dumps({"RequestId": "request_id"})


def _schedules(self: QuickSightResponse) -> tuple[QuicksightDataSet, dict[str, dict[str, Any]]]:
    data_set = _data_set(self)
    return data_set, _store(self.quicksight_backend, "refresh_schedules").setdefault(data_set.arn, {})


def _schedule_answer(data_set: QuicksightDataSet, schedule_id: str) -> str:
    return json.dumps({"ScheduleId": schedule_id, "Arn": f"{data_set.arn}/refresh-schedule/{schedule_id}", "RequestId": "request_id"})


def create_refresh_schedule(self: QuickSightResponse) -> str:
    data_set, schedules = _schedules(self)
    schedule = json.loads(self.body)["Schedule"]
    if schedule["ScheduleId"] in schedules:
        raise ResourceExistsException(f"Refresh schedule {schedule['ScheduleId']} already exists")
    schedules[schedule["ScheduleId"]] = {**schedule, "Arn": f"{data_set.arn}/refresh-schedule/{schedule['ScheduleId']}"}
    return _schedule_answer(data_set, schedule["ScheduleId"])


def update_refresh_schedule(self: QuickSightResponse) -> str:
    data_set, schedules = _schedules(self)
    schedule = json.loads(self.body)["Schedule"]
    if schedule["ScheduleId"] not in schedules:
        raise QuickSightNotFound(f"Refresh schedule {schedule['ScheduleId']} not found")
    schedules[schedule["ScheduleId"]] = {**schedule, "Arn": f"{data_set.arn}/refresh-schedule/{schedule['ScheduleId']}"}
    return _schedule_answer(data_set, schedule["ScheduleId"])


def _known_schedule(self: QuickSightResponse) -> tuple[QuicksightDataSet, dict[str, dict[str, Any]], str]:
    data_set, schedules = _schedules(self)
    schedule_id = _uri(self, "ScheduleId")
    if schedule_id not in schedules:
        raise QuickSightNotFound(f"Refresh schedule {schedule_id} not found")
    return data_set, schedules, schedule_id


def describe_refresh_schedule(self: QuickSightResponse) -> str:
    _data_set, schedules, schedule_id = _known_schedule(self)
    return json.dumps({"RefreshSchedule": schedules[schedule_id], "Arn": schedules[schedule_id]["Arn"], "RequestId": "request_id"})


def delete_refresh_schedule(self: QuickSightResponse) -> str:
    data_set, schedules, schedule_id = _known_schedule(self)
    del schedules[schedule_id]
    return _schedule_answer(data_set, schedule_id)


def list_refresh_schedules(self: QuickSightResponse) -> str:
    _data_set, schedules = _schedules(self)
    return json.dumps({"RefreshSchedules": list(schedules.values()), "RequestId": "request_id"})


QuickSightResponse.create_data_source = _recording_permissions(QuickSightResponse.create_data_source, "DataSource")  # type: ignore[method-assign]
QuickSightResponse.create_dashboard = _recording_permissions(QuickSightResponse.create_dashboard, "Dashboard")  # type: ignore[method-assign]
for _handler in (create_data_set, describe_data_set, update_data_set, delete_data_set, list_data_sets, describe_data_set_refresh_properties,
                 put_data_set_refresh_properties, delete_data_set_refresh_properties, create_refresh_schedule, update_refresh_schedule,
                 describe_refresh_schedule, delete_refresh_schedule, list_refresh_schedules):
    setattr(QuickSightResponse, _handler.__name__, _handler)
for _kind, _snake in (("DataSource", "data_source"), ("DataSet", "data_set"), ("Dashboard", "dashboard")):
    setattr(QuickSightResponse, f"describe_{_snake}_permissions", _describing_permissions(_kind))
    setattr(QuickSightResponse, f"update_{_snake}_permissions", _updating_permissions(_kind))


# --- 20: QuickSight dashboard versions, DeleteDashboard, DescribeIngestion ----------------------------------------------
# moto keeps one version of a dashboard (CreateDashboard's Name, VersionDescription and ThemeArn, not its DataSetArns or
# Sheets), answers UpdateDashboard, DeleteDashboard and DescribeIngestion with HTTP 500 and has no route for the versions
# list, the definition or the published version. AWS keeps every version with the request that made it (Name, Definition,
# DashboardPublishOptions, ThemeArn), shows the published one unless asked for another, and creates a version with every
# UpdateDashboard without publishing it. moto already routes .../dashboards/ID (so UpdateDashboard and DeleteDashboard
# need only handlers) and .../data-sets/ID/ingestions/ID; these are the other paths of botocore's model.
quicksight_urls.url_paths.update(
    {
        _ACCOUNT + path: QuickSightResponse.dispatch
        for path in (
            r"/dashboards/(?P<dashboard_id>[^/]+)/versions$",
            r"/dashboards/(?P<dashboard_id>[^/]+)/versions/(?P<version_number>[^/]+)$",
            r"/dashboards/(?P<dashboard_id>[^/]+)/definition$",
        )
    }
)


class ConflictException(JsonRESTError):
    code = 409

    def __init__(self, message: str) -> None:
        super().__init__("ConflictException", message)


def _dashboard(self: QuickSightResponse) -> QuicksightDashboard:
    dashboard_id = _uri(self, "DashboardId")
    dashboard = self.quicksight_backend.dashboards.get(dashboard_id)
    if dashboard is None:
        raise QuickSightNotFound(f"Dashboard {dashboard_id} not found")  # moto's wording
    return dashboard


def _history(dashboard: QuicksightDashboard) -> dict[str, Any]:
    """A dashboard's versions (number -> {"version": DashboardVersion, "source": what made it}), the published one and
    its times; kept on moto's dashboard object, so it goes with it."""
    return dashboard.__dict__.setdefault("compat_history", {"versions": {}, "last": 0, "published": None})


def _add_version(dashboard: QuicksightDashboard, request: dict[str, Any]) -> dict[str, Any]:
    """A new version from a CreateDashboard/UpdateDashboard request; built at once (this endpoint validates nothing)."""
    history = _history(dashboard)
    history["last"] += 1  # as on AWS, a deleted version's number is not given again
    number, now = history["last"], time.time()
    definition = request.get("Definition") or {}
    template = (request.get("SourceEntity") or {}).get("SourceTemplate") or {}
    declared = definition.get("DataSetIdentifierDeclarations") or template.get("DataSetReferences") or []
    version = {
        "VersionNumber": number,
        "Status": "CREATION_SUCCESSFUL",
        "Arn": f"{dashboard.arn}/version/{number}",
        "CreatedTime": now,
        "Errors": [],
        "DataSetArns": [entry["DataSetArn"] for entry in declared if "DataSetArn" in entry],
        "Sheets": [{k: sheet[k] for k in ("SheetId", "Name") if k in sheet} for sheet in definition.get("Sheets") or []],
        "Description": request.get("VersionDescription"),
        "ThemeArn": request.get("ThemeArn"),
        "SourceEntityArn": template.get("Arn"),
    }
    source = {k: request.get(k) for k in ("Name", "Definition", "DashboardPublishOptions", "ThemeArn")}
    history["versions"][number] = {"version": {k: v for k, v in version.items() if v is not None}, "source": source}
    history["updated"] = now
    return history["versions"][number]


def _publish(dashboard: QuicksightDashboard, number: int) -> None:
    history = _history(dashboard)
    history["published"], history["published_time"] = number, time.time()
    dashboard.name, dashboard.version_number = history["versions"][number]["source"]["Name"], number  # what moto's own code shows


def _version_number(self: QuickSightResponse) -> int | None:
    """The VersionNumber of the request: in the path (UpdateDashboardPublishedVersion) or the query string (version-number)."""
    given = self.uri_match.get("VersionNumber") or self.querystring.get("version-number", [None])[0]
    if given is None:
        return None
    try:
        return int(given)
    except ValueError:
        raise InvalidParameterValueException(f"VersionNumber {given!r} is not a number") from None


def _version(dashboard: QuicksightDashboard, number: int | None = None) -> dict[str, Any]:
    """Version ``number`` of the dashboard (ResourceNotFoundException if it has none such); None: the published one,
    as DescribeDashboard and DescribeDashboardDefinition without VersionNumber answer on AWS."""
    history = _history(dashboard)
    number = history["published"] if number is None else number
    if number not in history["versions"]:
        raise QuickSightNotFound(f"Version {number} of dashboard {dashboard.dashboard_id} not found")
    return history["versions"][number]


_create_dashboard = QuickSightResponse.create_dashboard  # moto's, as fix 19 wraps it (keeping the Permissions)


def create_dashboard(self: QuickSightResponse) -> Any:
    dashboard_id = self._get_param("DashboardId")
    if dashboard_id in self.quicksight_backend.dashboards:
        raise ResourceExistsException(f"Dashboard {dashboard_id} already exists")  # moto: replaced without a word
    _create_dashboard(self)  # moto's, with fix 19's permissions; its tags
    dashboard = self.quicksight_backend.dashboards[dashboard_id]
    made = _add_version(dashboard, json.loads(self.body))
    _publish(dashboard, 1)  # QuickSight publishes a new dashboard's first version
    _history(dashboard)["created"] = _history(dashboard)["published_time"] = made["version"]["CreatedTime"]
    return _version_answer(dashboard, made)


def _version_answer(dashboard: QuicksightDashboard, made: dict[str, Any]) -> Any:
    """CreateDashboard's and UpdateDashboard's answer: 202 Accepted, as AWS (the version is built asynchronously there).
    UpdateDashboard's model reads Status from the body, CreateDashboard's from the HTTP status: both are given."""
    answer = {"Arn": dashboard.arn, "VersionArn": made["version"]["Arn"], "DashboardId": dashboard.dashboard_id,
              "CreationStatus": made["version"]["Status"], "Status": 202, "RequestId": "request_id"}
    return 202, {"status": 202}, json.dumps(answer)


def update_dashboard(self: QuickSightResponse) -> Any:
    """A new version, not published (UpdateDashboardPublishedVersion does that)."""
    dashboard = _dashboard(self)
    return _version_answer(dashboard, _add_version(dashboard, json.loads(self.body)))


def _described(dashboard: QuicksightDashboard, kept: dict[str, Any]) -> dict[str, Any]:
    history = _history(dashboard)
    return {
        "DashboardId": dashboard.dashboard_id,
        "Arn": dashboard.arn,
        "Name": kept["source"]["Name"],  # each version has its own (AWS: DescribeDashboard of an older version shows its name)
        "Version": kept["version"],
        "CreatedTime": history["created"],
        "LastPublishedTime": history["published_time"],
        "LastUpdatedTime": history["updated"],
    }


def describe_dashboard(self: QuickSightResponse) -> str:
    dashboard = _dashboard(self)
    return json.dumps({"Dashboard": _described(dashboard, _version(dashboard, _version_number(self))), "RequestId": "request_id"})


def describe_dashboard_definition(self: QuickSightResponse) -> str:
    dashboard = _dashboard(self)
    kept = _version(dashboard, _version_number(self))
    answer = {
        "DashboardId": dashboard.dashboard_id,
        "Name": kept["source"]["Name"],
        "Errors": kept["version"]["Errors"],
        "ResourceStatus": kept["version"]["Status"],
        **{k: v for k, v in kept["source"].items() if k != "Name" and v is not None},
        "RequestId": "request_id",
    }
    return json.dumps(answer)


def list_dashboard_versions(self: QuickSightResponse) -> str:
    """One page, as fix 15 does."""
    history = _history(_dashboard(self))
    fields = ("Arn", "CreatedTime", "VersionNumber", "Status", "SourceEntityArn", "Description")
    versions = [history["versions"][number]["version"] for number in sorted(history["versions"])]
    summaries = [{k: version[k] for k in fields if k in version} for version in versions]
    return json.dumps({"DashboardVersionSummaryList": summaries, "RequestId": "request_id"})


def update_dashboard_published_version(self: QuickSightResponse) -> str:
    dashboard = _dashboard(self)
    number = _version_number(self)
    _version(dashboard, number)  # an unknown version: ResourceNotFoundException
    _publish(dashboard, number)  # type: ignore[arg-type]  # in the path: never None (LastUpdatedTime stays, as on AWS)
    return json.dumps({"DashboardId": dashboard.dashboard_id, "DashboardArn": dashboard.arn, "RequestId": "request_id"})


def list_dashboards(self: QuickSightResponse) -> str:
    """One page; the name and number of each dashboard's published version."""
    summaries = []
    for dashboard in self.quicksight_backend.dashboards.values():
        described = _described(dashboard, _version(dashboard))
        summaries.append({"Arn": dashboard.arn, "DashboardId": dashboard.dashboard_id, "Name": described["Name"],
                          "PublishedVersionNumber": described["Version"]["VersionNumber"],
                          **{k: described[k] for k in ("CreatedTime", "LastUpdatedTime", "LastPublishedTime")}})
    return json.dumps({"DashboardSummaryList": summaries, "RequestId": "request_id"})


def delete_dashboard(self: QuickSightResponse) -> str:
    """The dashboard with its versions, permissions and tags; with VersionNumber only that version."""
    dashboard = _dashboard(self)
    backend = self.quicksight_backend
    number = _version_number(self)
    if number is not None:
        _version(dashboard, number)
        history = _history(dashboard)
        if number == history["published"]:  # AWS documents no answer for this; its ConflictException says "inconsistent state"
            raise ConflictException(f"Version {number} of dashboard {dashboard.dashboard_id} is published: publish another version first")
        del history["versions"][number]
    else:
        del backend.dashboards[dashboard.dashboard_id]
        backend.tagger.delete_all_tags_for_resource(dashboard.arn)
        _store(backend, "permissions").pop(dashboard.arn, None)
    return json.dumps({"Arn": dashboard.arn, "DashboardId": dashboard.dashboard_id, "RequestId": "request_id"})


# Ingestions: the SPICE CreateDataSet/UpdateDataSet of fix 19 and CreateIngestion start one; it is COMPLETED at once, of
# no rows (this endpoint runs no queries). Kept on moto's data set object, so they go with it.
def _ingestions(data_set: QuicksightDataSet) -> dict[str, dict[str, Any]]:
    return data_set.__dict__.setdefault("compat_ingestions", {})


def _record_ingestion(data_set: QuicksightDataSet, arn: str, ingestion_id: str, request_type: str) -> None:
    _ingestions(data_set)[ingestion_id] = {
        "Arn": arn,
        "IngestionId": ingestion_id,
        "IngestionStatus": "COMPLETED",
        "RowInfo": {"RowsIngested": 0, "RowsDropped": 0, "TotalRowsInDataset": 0},
        "CreatedTime": time.time(),
        "IngestionTimeInSeconds": 0,
        "IngestionSizeInBytes": 0,
        "RequestSource": "MANUAL",
        "RequestType": request_type,
    }


def _recording_ingestion(handler: Callable[[QuickSightResponse], Any], request_type: str) -> Callable[[QuickSightResponse], Any]:
    """Fix 19's CreateDataSet/UpdateDataSet, whose answer names the ingestion they start (SPICE): it is recorded."""

    def handled(self: QuickSightResponse) -> Any:
        response = handler(self)
        answer = json.loads(response[2] if isinstance(response, tuple) else response)
        if answer.get("IngestionId"):
            data_set = self.quicksight_backend.data_sets[answer["DataSetId"]]
            _record_ingestion(data_set, answer["IngestionArn"], answer["IngestionId"], request_type)
        return response

    handled.__name__ = handler.__name__
    return handled


def create_ingestion(self: QuickSightResponse) -> Any:
    """moto's answers INITIALIZED for any data set, with an ARN of moto's form, and keeps nothing."""
    data_set = _data_set(self)
    ingestion_id = _uri(self, "IngestionId")
    if ingestion_id in _ingestions(data_set):
        raise ResourceExistsException(f"Ingestion {ingestion_id} already exists")
    arn = f"{data_set.arn}/ingestion/{ingestion_id}"
    request_type = json.loads(self.body or "{}").get("IngestionType") or "FULL_REFRESH"
    _record_ingestion(data_set, arn, ingestion_id, request_type)
    answer = {"Arn": arn, "IngestionId": ingestion_id, "IngestionStatus": "INITIALIZED", "RequestId": "request_id"}
    return 201, {"status": 201}, json.dumps(answer)


def describe_ingestion(self: QuickSightResponse) -> str:
    data_set = _data_set(self)
    ingestion = _ingestions(data_set).get(_uri(self, "IngestionId"))
    if ingestion is None:
        raise QuickSightNotFound(f"Ingestion {_uri(self, 'IngestionId')} of data set {data_set._id} not found")
    return json.dumps({"Ingestion": ingestion, "RequestId": "request_id"})


QuickSightResponse.create_data_set = _recording_ingestion(QuickSightResponse.create_data_set, "INITIAL_INGESTION")  # type: ignore[method-assign]
QuickSightResponse.update_data_set = _recording_ingestion(QuickSightResponse.update_data_set, "EDIT")  # type: ignore[method-assign]
for _handler in (create_dashboard, update_dashboard, describe_dashboard, describe_dashboard_definition, list_dashboard_versions,
                 update_dashboard_published_version, list_dashboards, delete_dashboard, create_ingestion, describe_ingestion):
    setattr(QuickSightResponse, _handler.__name__, _handler)


if __name__ == "__main__":
    main(sys.argv[1:])
