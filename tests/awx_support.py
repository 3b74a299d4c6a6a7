"""AWX's survey rules and launch rule, ported from ansible/awx, for the tests that check the controller configuration
(tests/unit/test_controller_config.py) and that run its job templates as AWX would (tests/e2e/test_awx_jobs.py)."""

from __future__ import annotations

from copy import copy
from typing import Any

# --- AWX's survey rules, ported -----------------------------------------------------------------------------------
# From ansible/awx (commit e21dd0a, 2024-10-23): awx/main/constants.py SURVEY_TYPE_MAPPING,
# awx/api/views/__init__.py JobTemplateSurveySpec._validate_spec_data (what POST .../survey_spec/ accepts; the
# workflow's survey uses the same view), and awx/main/models/mixins.py SurveyJobTemplateMixin._survey_element_validation
# (what a launch accepts; _update_unified_job_kwargs applies a default only when it passes this validation).

SURVEY_TYPE_MAPPING = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str, "integer": int, "float": (float, int)}


def awx_validate_spec_data(new_spec: Any) -> str | None:  # noqa: PLR0911, PLR0912  (AWX's shape, kept to compare)
    """_validate_spec_data: the error AWX answers with (HTTP 400), or None. The $encrypted$ handling of password
    defaults is left out (no password questions here)."""
    schema_errors = None
    for field, expect_type, type_label in [("name", str, "string"), ("description", str, "string"), ("spec", list, "list of items")]:
        if field not in new_spec:
            schema_errors = f"Field '{field}' is missing from survey spec."
        elif not isinstance(new_spec[field], expect_type):
            schema_errors = f"Expected {type_label} for field '{field}', received {type(new_spec[field]).__name__} type."
    if isinstance(new_spec.get("spec"), list) and len(new_spec["spec"]) < 1:
        schema_errors = "'spec' doesn't contain any items."
    if schema_errors:
        return schema_errors

    variable_set = set()
    for idx, survey_item in enumerate(new_spec["spec"]):
        if not isinstance(survey_item, dict):
            return f"Survey question {idx} is not a json object."
        for field_name in ["type", "question_name", "variable", "required"]:
            if field_name not in survey_item:
                return f"'{field_name}' missing from survey question {idx}"
            allow_types, type_label = (bool, "boolean") if field_name == "required" else (str, "string")
            if not isinstance(survey_item[field_name], allow_types):
                return f"'{field_name}' in survey question {idx} expected to be {type_label}."
        if survey_item["variable"] in variable_set:
            return f"'variable' '{survey_item['variable']}' duplicated in survey question {idx}."
        variable_set.add(survey_item["variable"])

        qtype = survey_item["type"]
        if qtype not in SURVEY_TYPE_MAPPING:
            return f"'{qtype}' in survey question {idx} is not one of '{', '.join(SURVEY_TYPE_MAPPING)}' allowed question types."
        if "default" in survey_item and survey_item["default"] != "":
            if not isinstance(survey_item["default"], SURVEY_TYPE_MAPPING[qtype]):
                type_label = qtype if qtype in ["integer", "float"] else "string"
                return f"Default value {survey_item['default']} in survey question {idx} expected to be {type_label}."
        for key in ["min", "max"]:
            if key in survey_item and survey_item[key] is not None and not isinstance(survey_item[key], int):
                return f"The {key} limit in survey question {idx} expected to be integer."
        if qtype in ("multiselect", "multiplechoice"):
            if "choices" not in survey_item:
                return f"Survey question {idx} of type {qtype} must specify choices."
            choices = survey_item["choices"]
            if isinstance(choices, str):
                choices = "\n".join(choice for choice in choices.splitlines() if choice.strip() != "")
            if "default" in survey_item:
                if isinstance(survey_item["default"], str):
                    default = "\n".join(choice for choice in survey_item["default"].splitlines() if choice.strip() != "")
                    list_of_defaults = default.splitlines()
                else:
                    list_of_defaults = survey_item["default"]
                if qtype == "multiplechoice" and len(list_of_defaults) > 1:
                    return "Multiple Choice (Single Select) can only have one default value."
                if any(item not in choices for item in list_of_defaults):
                    return "Default choice must be answered from the choices listed."
        if "default" in survey_item and isinstance(survey_item["default"], str) and survey_item["default"].startswith("$encrypted$"):
            return "$encrypted$ is a reserved keyword"
    return None


def awx_survey_element_validation(survey_element: dict[str, Any], data: dict[str, Any]) -> list[str]:  # noqa: PLR0912  (AWX's shape)
    """_survey_element_validation (validate_required=True), password placeholder handling left out."""
    errors: list[str] = []
    variable = survey_element["variable"]
    if variable not in data and survey_element["required"]:
        errors.append(f"'{variable}' value missing")
    elif survey_element["type"] in ["textarea", "text", "password"]:
        if variable in data:
            value = data[variable]
            if not isinstance(value, str):
                return [f"Value {value} for '{variable}' expected to be a string."]
            if survey_element.get("min") not in ["", None] and len(value) < int(survey_element["min"]):
                errors.append(f"'{variable}' value {value} is too small")
            if survey_element.get("max") not in ["", None] and len(value) > int(survey_element["max"]):
                errors.append(f"'{variable}' value {value} is too large")
    elif survey_element["type"] == "integer":
        if variable in data:
            value = data[variable]
            if type(value) is not int:  # pylint: disable=unidiomatic-typecheck  # AWX: a bool is no integer answer
                return [f"Value {value} for '{variable}' expected to be an integer."]
            if survey_element.get("min") not in ["", None] and value < int(survey_element["min"]):
                errors.append(f"'{variable}' value {value} is too small")
            if survey_element.get("max") not in ["", None] and value > int(survey_element["max"]):
                errors.append(f"'{variable}' value {value} is too large")
    elif survey_element["type"] == "float":
        if variable in data:
            value = data[variable]
            if type(value) not in (float, int):
                return [f"Value {value} for '{variable}' expected to be a numeric type."]
            if survey_element.get("min") not in ["", None] and value < float(survey_element["min"]):
                errors.append(f"'{variable}' value {value} is too small")
            if survey_element.get("max") not in ["", None] and value > float(survey_element["max"]):
                errors.append(f"'{variable}' value {value} is too large")
    elif survey_element["type"] == "multiselect":
        if variable in data:
            if type(data[variable]) is not list:  # pylint: disable=unidiomatic-typecheck  # as AWX
                errors.append(f"'{variable}' value is expected to be a list.")
            else:
                choice_list = copy(survey_element["choices"])
                if isinstance(choice_list, str):
                    choice_list = [choice for choice in choice_list.splitlines() if choice.strip() != ""]
                errors.extend(f"Value {val} for '{variable}' expected to be one of {choice_list}." for val in data[variable] if val not in choice_list)
    elif survey_element["type"] == "multiplechoice":
        choice_list = copy(survey_element["choices"])
        if isinstance(choice_list, str):
            choice_list = [choice for choice in choice_list.splitlines() if choice.strip() != ""]
        if variable in data and data[variable] not in choice_list:
            errors.append(f"Value {data[variable]} for '{variable}' expected to be one of {choice_list}.")
    return errors


def awx_launch_extra_vars(template: dict[str, Any]) -> dict[str, Any]:
    """The extra vars of a launch with no answers: the template's extra_vars, then each survey default that passes
    _survey_element_validation (SurveyJobTemplateMixin._update_unified_job_kwargs)."""
    extra_vars = dict(template.get("extra_vars") or {})
    if template.get("survey_enabled"):
        for element in template["survey_spec"]["spec"]:
            default = element.get("default")
            if default is not None and not awx_survey_element_validation(element, {element["variable"]: default}):
                extra_vars[element["variable"]] = default
    return extra_vars
