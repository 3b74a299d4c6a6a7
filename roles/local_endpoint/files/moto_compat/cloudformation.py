# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CloudFormation: change sets, no-op updates and parameter validation (fixes 1-4), executed change sets (fix 26);
helpers for the resource fixes."""

from __future__ import annotations

import json
import re
from typing import Any, Callable

import yaml
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend
from moto.cloudformation.responses import CloudFormationResponse
from moto.cloudformation.utils import yaml_tag_constructor

from .registry import fix, patch

NO_CHANGES = "The submitted information didn't contain changes. Submit different information to create a change set."


def as_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def truthy(value: Any) -> bool:
    """A template's boolean: true, or "true" in any case (CloudFormation passes parameters as text)."""
    return value is True or str(value).lower() == "true"


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
        result[key] = None if value is None else as_text(value)
    return result


def _constraint_errors(key: str, slot: dict[str, Any], value: str) -> list[str]:
    """AWS's parameter checks, with AWS's wording."""
    if slot.get("ConstraintDescription"):
        failed = f"Parameter '{key}' failed to satisfy constraint: {slot['ConstraintDescription']}"
    else:
        failed = ""
    errors = []
    if "AllowedValues" in slot and value not in [as_text(v) for v in slot["AllowedValues"]]:
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
                previous = {k: as_text(v) for k, v in stack.stack_parameters.items()}
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
    previous = {k: as_text(v) for k, v in stack.stack_parameters.items()}
    wanted = effective_parameters(template_body, incoming, previous)
    return all(previous.get(k) == v for k, v in wanted.items())


def _validate_different_update(self: CloudFormationResponse, incoming: Any, stack_body: str, old_stack: Any) -> None:
    if _is_unchanged(old_stack, incoming, stack_body):
        raise ValidationError(old_stack.name, message="No updates are to be performed.")


def _newest_change_set(self: CloudFormationResponse) -> Any:
    change_sets = self.cloudformation_backend.change_sets
    return change_sets[next(reversed(change_sets))]


@fix(1)
def change_sets_default_to_update() -> None:
    """CreateChangeSet without ChangeSetType makes an UPDATE change set.

    moto: a CREATE change set, which registers a second stack under the same name.
    AWS: "By default, CloudFormation specifies UPDATE" (CreateChangeSet API reference); amazon.aws.cloudformation's
    check mode and review mode rely on it.
    Fix: CreateChangeSet reads a missing ChangeSetType as UPDATE, and an UPDATE change set is CREATE_COMPLETE and
    AVAILABLE for execution.
    """
    create_change_set = CloudFormationResponse.create_change_set

    def created(self: CloudFormationResponse) -> Any:
        get_param = self._get_param

        def get_param_update_default(name: str, if_none: Any = None) -> Any:
            return get_param(name, "UPDATE" if name == "ChangeSetType" else if_none)

        self._get_param = get_param_update_default  # type: ignore[method-assign]
        try:
            response = create_change_set(self)
        finally:
            del self._get_param
        change_set = _newest_change_set(self)
        if change_set.change_set_type == "UPDATE":
            change_set.status = "CREATE_COMPLETE"
            change_set.execution_status = "AVAILABLE"
        return response

    created.__name__ = "create_change_set"
    patch(CloudFormationResponse, "create_change_set", created)


@fix(2)
def unchanged_change_sets_fail() -> None:
    """An unchanged CreateChangeSet makes a FAILED change set "didn't contain changes".

    moto: raises "No updates are to be performed".
    AWS: creates the change set in status FAILED with the reason "The submitted information didn't contain changes",
    which amazon.aws reads as "no change".
    Fix: the change set is made, and when the update would change nothing (compared as fix 3 does) it is FAILED and
    UNAVAILABLE with AWS's reason.
    """
    create_change_set = CloudFormationResponse.create_change_set

    def created(self: CloudFormationResponse) -> Any:
        unchanged = []

        def record_unchanged(incoming: Any, stack_body: str, old_stack: Any) -> None:
            unchanged.append(_is_unchanged(old_stack, incoming, stack_body))

        self._validate_different_update = record_unchanged  # type: ignore[method-assign]
        try:
            response = create_change_set(self)
        finally:
            del self._validate_different_update
        if unchanged and unchanged[0]:
            change_set = _newest_change_set(self)
            change_set.status = "FAILED"
            change_set.execution_status = "UNAVAILABLE"
            change_set.status_reason = NO_CHANGES
        return response

    created.__name__ = "create_change_set"
    patch(CloudFormationResponse, "create_change_set", created)


@fix(3)
def no_op_updates_compare_effective_parameters() -> None:
    """"Is this update a no-op?" compares the effective parameters.

    moto: compares the parameters as passed with the stack's resolved ones, so a parameter left at its default, or
    any Type: Number parameter, makes every update look like a change.
    AWS: compares the values the stack would get (passed, previous or default) with the stack's.
    Fix: UpdateStack (and fix 2's change sets) resolve the parameters as AWS does before comparing.
    """
    patch(CloudFormationResponse, "_validate_different_update", _validate_different_update)


@fix(4)
def parameters_are_validated() -> None:
    """Parameter values are checked against the template's constraints.

    moto: accepts any value (AllowedValues, AllowedPattern, MinValue/MaxValue, MinLength/MaxLength, undeclared or
    missing parameters are not checked).
    AWS: rejects such a CreateStack, UpdateStack or CreateChangeSet with a ValidationError that names the parameter.
    Fix: the three calls validate the effective parameters first, with AWS's wording.
    """
    for action in ("create_change_set", "create_stack", "update_stack"):
        patch(CloudFormationResponse, action, _validating(getattr(CloudFormationResponse, action)))


@fix(26)
def executed_change_sets_update_the_stack() -> None:
    """ExecuteChangeSet gives the stack the change set's template, outputs and tags, and deletes its other change sets.

    moto: applies the change set's resources but leaves the stack's parsed template, description, outputs and tags as
    they were: the stack of an executed CREATE change set (a first deployment that waited for approval) has no
    outputs at all; and the stack's other change sets stay AVAILABLE.
    AWS: the stack gets the change set's template, parameters, tags and outputs, and "When you execute a change set,
    CloudFormation deletes all other change sets associated with the stack because they aren't valid for the updated
    stack" (ExecuteChangeSet API reference).
    Fix: after moto's ExecuteChangeSet the stack re-reads its template (description, outputs and the region's exports
    with it), takes the change set's parameters and tags, and the stack's other change sets are deleted.
    """
    execute_change_set = CloudFormationBackend.execute_change_set

    def executed(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> Any:
        change_set = self.describe_change_set(change_set_name)
        result = execute_change_set(self, change_set_name, stack_name)
        stack = self.stacks[change_set.stack_id]
        for export in stack.exports:  # the region's export names follow the stack's outputs (deleting it pops them)
            self.exports.pop(export.name, None)
        stack._parse_template()  # pylint: disable=protected-access
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()  # pylint: disable=protected-access
        for export in stack.exports:
            self.exports[export.name] = export
        if change_set.parameters:
            stack.parameters = change_set.parameters
        if change_set.tags:
            stack.tags = change_set.tags
        for other in [key for key, item in self.change_sets.items() if item.stack_id == stack.stack_id and item is not change_set]:
            del self.change_sets[other]
        return result

    executed.__name__ = "execute_change_set"
    patch(CloudFormationBackend, "execute_change_set", executed)


def with_json_property(model: type, prop: str) -> None:
    """Let ``model``'s CloudFormation create/update take ``prop`` as an object: moto gets it as JSON text.

    create(resource_name, cloudformation_json, ...) and update(original_resource, new_resource_name, cloudformation_json, ...).
    """

    def as_json_text(cloudformation_json: dict[str, Any]) -> dict[str, Any]:
        properties = cloudformation_json.get("Properties", {})
        if isinstance(properties.get(prop), dict):
            return {**cloudformation_json, "Properties": {**properties, prop: json.dumps(properties[prop])}}
        return cloudformation_json

    create = model.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    update = model.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def created(cls: type, resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return create(cls, resource_name, as_json_text(cloudformation_json), *args, **kwargs)

    # moto calls these with keyword arguments: the parameter names are moto's.
    def updated(cls: type, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return update(cls, original_resource, new_resource_name, as_json_text(cloudformation_json), *args, **kwargs)

    patch(model, "create_from_cloudformation_json", classmethod(created))
    patch(model, "update_from_cloudformation_json", classmethod(updated))
