# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Step Functions: state machines made by CloudFormation (fix 25)."""

from __future__ import annotations

import json
from typing import Any

from moto.stepfunctions.models import StateMachine

from .cloudformation import truthy
from .registry import fix, patch

# moto's own, as the fix found them.
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
        machine.loggingConfiguration["includeExecutionData"] = truthy(logging_configuration.get("IncludeExecutionData"))
        machine.loggingConfiguration["destinations"] = [
            {"cloudWatchLogsLogGroup": {"logGroupArn": d["CloudWatchLogsLogGroup"]["LogGroupArn"]}}
            for d in logging_configuration.get("Destinations", [])
        ]
    machine.tracingConfiguration = {"enabled": truthy((properties.get("TracingConfiguration") or {}).get("Enabled"))}
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


@fix(25)
def state_machines_keep_definition_type_logging_and_tracing() -> None:
    """An AWS::StepFunctions::StateMachine made by CloudFormation keeps its Definition, type, logging and tracing.

    moto: reads only DefinitionString: a Definition written as an object leaves the machine with an empty definition,
    DefinitionSubstitutions are not applied, and StateMachineType, LoggingConfiguration and TracingConfiguration are
    dropped (STANDARD, logging OFF).
    AWS: serializes Definition to JSON, replaces each ${key} of DefinitionSubstitutions in it with the key's value, and
    applies the type, logging and tracing.
    Fix: the machine gets the same, on create and on update (in place, or replaced under a new name).
    """
    patch(StateMachine, "create_from_cloudformation_json", classmethod(_created_state_machine))
    patch(StateMachine, "update_from_cloudformation_json", classmethod(_updated_state_machine))
