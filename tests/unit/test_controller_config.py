"""The AWX / Automation Controller configuration (playbooks/vars/controller/, applied by
playbooks/configure_controller.yml), checked as the controller would check it, without a controller.

The configuration is rendered by the playbook itself (-e iot_controller_render_to=FILE: what it would send). Then:
- every survey passes AWX's server-side survey rules and its defaults pass AWX's answer rules, so AWX applies them
  (ported below from ansible/awx; failing cases show that each ported rule rejects bad input);
- the rrules pass AWX's schedule rules (ported, with failing cases);
- every module argument of the playbook and every value it takes from the data passes the awx.awx module's own
  argument spec (ansible-lint's args rule cannot see through the loops), and no data key is silently ignored;
- every template's playbook exists and reads each survey variable; the environment choices are the settings files;
  the workflow runs review -> approval (with a timeout) -> apply; the schedule starts the rotation template.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from awx_support import awx_launch_extra_vars, awx_survey_element_validation, awx_validate_spec_data
from dateutil import parser as dateutil_parser
from dateutil import rrule as dateutil_rrule
from dateutil.tz import tzutc

from conftest import ROOT

PLAYBOOK = ROOT / "playbooks" / "configure_controller.yml"
BIN = Path(sys.executable).parent
ENVIRONMENTS = sorted(p.stem for p in (ROOT / "playbooks" / "vars" / "environments").glob("*.yml"))


def render(tmp_path: Path, *extra: str) -> dict[str, Any]:
    out = tmp_path / "controller.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONTROLLER_", "TOWER_"))}
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), str(PLAYBOOK), "-e", f"iot_controller_render_to={out}", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return render(tmp_path_factory.mktemp("controller"))


# AWX's survey and launch rules, ported: tests/awx_support.py.


GOOD_QUESTION = {"question_name": "Q", "required": True, "type": "integer", "variable": "n", "min": 1, "max": 10, "default": 5}


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"description": "", "spec": [GOOD_QUESTION]}, "Field 'name' is missing"),
        ({"name": "s", "description": "", "spec": []}, "doesn't contain any items"),
        ({"name": "s", "description": "", "spec": [{**GOOD_QUESTION, "required": "yes"}]}, "'required' in survey question 0 expected to be boolean"),
        ({"name": "s", "description": "", "spec": [{k: v for k, v in GOOD_QUESTION.items() if k != "variable"}]}, "'variable' missing"),
        ({"name": "s", "description": "", "spec": [GOOD_QUESTION, GOOD_QUESTION]}, "duplicated"),
        ({"name": "s", "description": "", "spec": [{**GOOD_QUESTION, "type": "boolean"}]}, "allowed question types"),
        ({"name": "s", "description": "", "spec": [{**GOOD_QUESTION, "default": "5"}]}, "expected to be integer"),
        ({"name": "s", "description": "", "spec": [{**GOOD_QUESTION, "max": 10.5}]}, "max limit in survey question 0 expected to be integer"),
        ({"name": "s", "description": "", "spec": [{**GOOD_QUESTION, "type": "multiplechoice", "default": "a"}]}, "must specify choices"),
        ({"name": "s", "description": "", "spec": [{**GOOD_QUESTION, "type": "multiplechoice", "choices": ["a", "b"], "default": "c"}]}, "Default choice"),
        ({"name": "s", "description": "", "spec": [{**GOOD_QUESTION, "type": "multiplechoice", "choices": ["a", "b"], "default": "a\nb"}]}, "only have one"),
    ],
)
def test_the_ported_survey_rules_reject_bad_specs(spec: dict[str, Any], error: str) -> None:
    assert error in (awx_validate_spec_data(spec) or "")
    assert awx_validate_spec_data({"name": "s", "description": "", "spec": [GOOD_QUESTION]}) is None


@pytest.mark.parametrize(
    ("element", "value"),
    [
        (GOOD_QUESTION, 11),
        (GOOD_QUESTION, "5"),
        ({**GOOD_QUESTION, "type": "float", "min": 0, "max": 100}, "x"),
        ({**GOOD_QUESTION, "type": "text", "min": 0, "max": 3}, "four"),
        ({**GOOD_QUESTION, "type": "multiplechoice", "choices": ["a", "b"]}, "c"),
    ],
)
def test_the_ported_answer_rules_reject_bad_answers(element: dict[str, Any], value: Any) -> None:
    assert awx_survey_element_validation(element, {element["variable"]: value})
    assert awx_survey_element_validation(element, {}) == ["'n' value missing"]


def surveys(config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(t["name"], t["survey_spec"]) for t in config["controller_templates"] + config["controller_workflows"] if t.get("survey_enabled")]


def test_every_survey_passes_awx_and_applies_its_defaults(config: dict[str, Any]) -> None:
    assert len(surveys(config)) == 8
    for name, spec in surveys(config):
        assert awx_validate_spec_data(spec) is None, name
        for element in spec["spec"]:
            if "default" in element:
                # a default AWX would drop silently (it fails the answer rules) is a mistake
                assert not awx_survey_element_validation(element, {element["variable"]: element["default"]}), (name, element)
    # A launch without answers fails only where the operator must say something: which devices to enroll.
    unanswerable = {(name, e["variable"]) for name, spec in surveys(config) for e in spec["spec"] if e["required"] and "default" not in e}
    assert unanswerable == {("enroll devices", "device_fleet_devices_file")}


def test_env_is_a_choice_of_the_environment_files_with_a_harmless_default(config: dict[str, Any]) -> None:
    assert config["iot_controller_env_choices"] == ENVIRONMENTS
    for name, spec in surveys(config):
        env = next(e for e in spec["spec"] if e["variable"] == "env")
        assert env["type"] == "multiplechoice" and env["choices"] == ENVIRONMENTS and env["required"], name
        assert env["default"] == "local", name
    settings = yaml.safe_load((ROOT / "playbooks" / "vars" / "environments" / "local.yml").read_text())
    assert settings["iot_env_termination_protection"] is False


def test_a_protected_default_environment_is_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONTROLLER_", "TOWER_"))}
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), str(PLAYBOOK), "-e", "iot_controller_env_default=prod", "-e", f"iot_controller_render_to={tmp_path / 'x.json'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "without termination protection" in result.stdout
    assert not (tmp_path / "x.json").exists()


def test_without_a_controller_the_playbook_says_how_to_set_one() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONTROLLER_", "TOWER_"))}
    result = subprocess.run([str(BIN / "ansible-playbook"), str(PLAYBOOK)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert "No controller to configure: set CONTROLLER_HOST" in result.stdout


# --- what each playbook reads ---------------------------------------------------------------------------------------


def variables_read_by(playbook: Path) -> str:
    """The text a playbook's survey variables must appear in: the playbook, the task files it imports, and the
    argument specs of the collection roles it includes (role variables pass through as extra vars)."""
    text = playbook.read_text()
    for task_file in re.findall(r"import_tasks: (\S+)", text):
        text += (playbook.parent / task_file).read_text()
    for role in re.findall(r"name: smartcity\.iot_analytics\.(\w+)", text):
        spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
        text += "\n".join(spec["argument_specs"]["main"]["options"])
    return text


def test_every_template_runs_an_existing_playbook_that_reads_its_variables(config: dict[str, Any]) -> None:
    names = {t["name"] for t in config["controller_templates"]}
    assert names == {"deploy", "review", "apply reviewed change sets", "teardown", "smoke test", "enroll devices", "rotate certificates"}
    for template in config["controller_templates"]:
        playbook = ROOT / template["playbook"]
        assert playbook.is_file(), template["name"]
        read = variables_read_by(playbook)
        variables = [e["variable"] for e in template["survey_spec"]["spec"]] + list(template["extra_vars"])
        for variable in variables:
            assert re.search(rf"\b{re.escape(variable)}\b", read), f"{template['name']}: {playbook.name} never reads {variable}"
        assert template["allow_simultaneous"] is False and template["ask_variables_on_launch"] is False
        assert template["credentials"] == ["smartcity.iot_analytics AWS"]
    review = next(t for t in config["controller_templates"] if t["name"] == "review")
    assert awx_launch_extra_vars(review) == {"review": True, "env": "local"}
    teardown = next(t for t in config["controller_templates"] if t["name"] == "teardown")
    assert awx_launch_extra_vars(teardown) == {"env": "local", "confirm": ""}


def test_the_teardown_question_is_the_confirmation_teardown_checks() -> None:
    select = (ROOT / "playbooks" / "tasks" / "select_environment.yml").read_text()
    assert "(confirm | default('')) == select_environment__name" in select


def test_the_approval_workflow_runs_review_then_approval_then_apply(config: dict[str, Any]) -> None:
    (workflow,) = config["controller_workflows"]
    assert workflow["name"] == "deploy with approval"
    nodes = {n["identifier"]: n for n in workflow["workflow_nodes"]}
    templates = {t["name"] for t in config["controller_templates"]}
    for node in nodes.values():
        ujt = node["unified_job_template"]
        assert ujt["type"] in ("job_template", "workflow_approval")
        if ujt["type"] == "job_template":
            assert ujt["name"] in templates
        for kind in ("success_nodes", "failure_nodes", "always_nodes"):
            assert all(n["identifier"] in nodes for n in node.get("related", {}).get(kind, []))
    assert nodes["review"]["unified_job_template"]["name"] == "review"
    assert [n["identifier"] for n in nodes["review"]["related"]["success_nodes"]] == ["approve"]
    approval = nodes["approve"]["unified_job_template"]
    assert approval["type"] == "workflow_approval" and isinstance(approval["timeout"], int) and approval["timeout"] > 0
    assert [n["identifier"] for n in nodes["approve"]["related"]["success_nodes"]] == ["apply"]
    assert nodes["apply"]["unified_job_template"]["name"] == "apply reviewed change sets"
    assert "related" not in nodes["apply"]
    # Workflow extra vars outrank the artifacts AWX passes on (WorkflowJobNode.get_job_kwargs): none may shadow them.
    assert "apply_change_sets" not in workflow["extra_vars"]


# --- AWX's schedule rules, ported -----------------------------------------------------------------------------------
# From ansible/awx (commit e21dd0a): awx/api/serializers.py SchedulePreviewSerializer.validate_rrule and
# awx/main/models/schedules.py Schedule.rrulestr (dateutil's rrulestr with forceset, UTC names as tzutc, and no
# naive DTSTART). coerce_naive_until is left out (no UNTIL here).

UTC_TIMEZONES = {x: tzutc() for x in dateutil_parser.parserinfo().UTCZONE}


def awx_validate_rrule(value: str) -> list[str]:  # noqa: PLR0912  (AWX's shape)
    by_day_with_numeric_prefix = r".*?BYDAY[\:\=][0-9]+[a-zA-Z]{2}"
    match_multiple_dtstart = re.findall(r".*?(DTSTART(;[^:]+)?\:[0-9]+T[0-9]+Z?)", value)
    match_native_dtstart = re.findall(r".*?(DTSTART:[0-9]+T[0-9]+) ", value)
    match_multiple_rrule = re.findall(r".*?(RULE\:[^\s]*)", value)
    errors = []
    if not len(match_multiple_dtstart):
        errors.append("Valid DTSTART required in rrule. Value should start with: DTSTART:YYYYMMDDTHHMMSSZ")
    if len(match_native_dtstart):
        errors.append("DTSTART cannot be a naive datetime.  Specify ;TZINFO= or YYYYMMDDTHHMMSSZZ.")
    if len(match_multiple_dtstart) > 1:
        errors.append("Multiple DTSTART is not supported.")
    if "rrule:" not in value.lower():
        errors.append("One or more rule required in rrule.")
    if "exdate:" in value.lower():
        return ["EXDATE not allowed in rrule."]
    if "rdate:" in value.lower():
        return ["RDATE not allowed in rrule."]
    for a_rule in match_multiple_rrule:
        if "interval" not in a_rule.lower():
            errors.append(f"INTERVAL required in rrule: {a_rule}")
        elif "secondly" in a_rule.lower():
            errors.append(f"SECONDLY is not supported: {a_rule}")
        if re.match(by_day_with_numeric_prefix, a_rule):
            errors.append(f"BYDAY with numeric prefix not supported: {a_rule}")
        if "COUNT" in a_rule and "UNTIL" in a_rule:
            errors.append(f"RRULE may not contain both COUNT and UNTIL: {a_rule}")
        match_count = re.match(r".*?(COUNT\=[0-9]+)", a_rule)
        if match_count and int(match_count.groups()[0].strip().split("=")[1]) > 999:
            errors.append(f"COUNT > 999 is unsupported: {a_rule}")
    try:
        ruleset = dateutil_rrule.rrulestr(value, tzinfos=UTC_TIMEZONES, forceset=True)
        for r in ruleset._rrule:
            if r._dtstart and r._dtstart.tzinfo is None:
                raise ValueError("A valid TZID must be provided (e.g., America/New_York)")
    except (ValueError, TypeError) as exc:
        errors.append(f"rrule parsing failed validation: {exc}")
    return errors


@pytest.mark.parametrize(
    ("rrule", "error"),
    [
        ("RRULE:FREQ=DAILY;INTERVAL=1", "Valid DTSTART required"),
        ("DTSTART:20260101T030000 RRULE:FREQ=DAILY;INTERVAL=1", "naive datetime"),
        ("DTSTART:20260101T030000Z DTSTART:20260102T030000Z RRULE:FREQ=DAILY;INTERVAL=1", "Multiple DTSTART"),
        ("DTSTART:20260101T030000Z", "One or more rule required"),
        ("DTSTART:20260101T030000Z RRULE:FREQ=DAILY", "INTERVAL required"),
        ("DTSTART:20260101T030000Z RRULE:FREQ=SECONDLY;INTERVAL=1", "SECONDLY"),
        ("DTSTART:20260101T030000Z RRULE:FREQ=MONTHLY;INTERVAL=1;BYDAY=1MO", "BYDAY with numeric prefix"),
        ("DTSTART:20260101T030000Z RRULE:FREQ=DAILY;INTERVAL=1;COUNT=1000", "COUNT > 999"),
        ("DTSTART:20260101T030000Z RRULE:FREQ=DAILY;INTERVAL=1;COUNT=5;UNTIL=20270101T000000Z", "both COUNT and UNTIL"),
        ("DTSTART:20260101T030000Z RRULE:FREQ=DAILY;INTERVAL=1 EXDATE:20260102T030000Z", "EXDATE"),
        ("DTSTART;TZID=Nowhere/City:20260101T030000 RRULE:FREQ=DAILY;INTERVAL=1", "TZID"),
    ],
)
def test_the_ported_rrule_rules_reject_bad_rrules(rrule: str, error: str) -> None:
    assert any(error in message for message in awx_validate_rrule(rrule)), awx_validate_rrule(rrule)


def test_the_rotation_schedule_runs_daily_in_utc_without_overlap(config: dict[str, Any]) -> None:
    (schedule,) = config["controller_schedules"]
    assert awx_validate_rrule(schedule["rrule"]) == []
    ruleset = dateutil_rrule.rrulestr(schedule["rrule"], tzinfos=UTC_TIMEZONES, forceset=True)
    first, second = ruleset[0], ruleset[1]
    assert first.utcoffset() == datetime.timedelta(0)
    assert second - first == datetime.timedelta(days=1)
    rotate = next(t for t in config["controller_templates"] if t["name"] == schedule["unified_job_template"])
    assert rotate["playbook"] == "playbooks/rotate_certificates.yml"
    assert rotate["allow_simultaneous"] is False
    # The schedule's extra data must pass the template's survey, as a scheduled launch does.
    env = next(e for e in rotate["survey_spec"]["spec"] if e["variable"] == "env")
    assert not awx_survey_element_validation(env, schedule["extra_data"])
    assert set(schedule["extra_data"]) <= {e["variable"] for e in rotate["survey_spec"]["spec"]}


# --- the awx.awx modules' own argument specs -------------------------------------------------------------------------


class _Captured(Exception):
    pass


def module_argument_spec(module_name: str) -> dict[str, Any]:
    """The full argument spec of an awx.awx module: its main()'s argument_spec and the controller auth options."""
    module = importlib.import_module(f"ansible_collections.awx.awx.plugins.modules.{module_name}")
    api = importlib.import_module("ansible_collections.awx.awx.plugins.module_utils.controller_api")
    captured: dict[str, Any] = {}

    class Capture:
        def __init__(self, argument_spec: dict[str, Any], **_: Any) -> None:
            captured.update(api.ControllerModule.AUTH_ARGSPEC)
            captured.update(argument_spec)
            raise _Captured

    original = module.ControllerAPIModule
    module.ControllerAPIModule = Capture
    try:
        with pytest.raises(_Captured):
            module.main()
    finally:
        module.ControllerAPIModule = original
    return captured


def playbook_tasks() -> list[dict[str, Any]]:
    (play,) = yaml.safe_load(PLAYBOOK.read_text())
    return [t for t in play["tasks"] if any(k.startswith("awx.awx.") for k in t)]


def test_every_module_argument_and_data_value_passes_the_module_spec(config: dict[str, Any]) -> None:
    seen = set()
    for task in playbook_tasks():
        module_name = next(k for k in task if k.startswith("awx.awx.")).split(".")[-1]
        args = task[f"awx.awx.{module_name}"]
        spec = module_argument_spec(module_name)
        unknown = set(args) - set(spec)
        assert not unknown, f"{task['name']}: {module_name} has no option {sorted(unknown)}"
        data_name = re.fullmatch(r"\{\{ (\w+) \}\}", task["loop"]).group(1)
        seen.add(data_name)
        for item in config[data_name]:
            # every key of the data reaches the module: none is silently dropped
            dropped = set(item) - set(args)
            assert not dropped, f"{data_name} item {item['name']}: the playbook does not pass {sorted(dropped)}"
            params = {k: v for k, v in item.items() if v != "" and k != "credentials"}
            params["credentials"] = [c for c in item.get("credentials", []) if c]
            if module_name != "job_template":
                params.pop("credentials")
            result = ArgumentSpecValidator(spec).validate(params)
            assert not result.error_messages, f"{data_name} item {item['name']}: {result.error_messages}"
    assert seen == {k for k in config if k.startswith("controller_")}


def documented_spec(options: dict[str, Any]) -> dict[str, Any]:
    """An argument spec from a module's documented options (the awx.awx modules validate workflow_nodes only as
    dicts; their DOCUMENTATION has the suboptions)."""
    spec = {}
    for name, doc in options.items():
        entry = {k: doc[k] for k in ("type", "elements", "choices", "required", "aliases") if k in doc}
        if "suboptions" in doc:
            entry["options"] = documented_spec(doc["suboptions"])
        spec[name] = entry
    return spec


def workflow_node_spec() -> dict[str, Any]:
    module = importlib.import_module("ansible_collections.awx.awx.plugins.modules.workflow_job_template")
    return documented_spec(yaml.safe_load(module.DOCUMENTATION)["options"]["workflow_nodes"]["suboptions"])


def test_every_workflow_node_passes_the_documented_node_options(config: dict[str, Any]) -> None:
    validator = ArgumentSpecValidator(workflow_node_spec())
    for workflow in config["controller_workflows"]:
        for node in workflow["workflow_nodes"]:
            result = validator.validate(node)
            assert not result.error_messages, (node["identifier"], result.error_messages)


@pytest.mark.parametrize(
    ("module_name", "change"),
    [
        ("workflow_job_template", {"allow_simultaneous": "sometimes"}),
        ("workflow_job_template", {"bogus_option": 1}),
        ("job_template", {"job_type": "deploy"}),
        ("schedule", {"enabled": "daily"}),
    ],
)
def test_the_module_spec_check_catches_a_wrong_value(module_name: str, change: dict[str, Any]) -> None:
    params = {"name": "x", "unified_job_template": "y", "rrule": "z"} if module_name == "schedule" else {"name": "x"}
    assert not ArgumentSpecValidator(module_argument_spec(module_name)).validate(params).error_messages
    assert ArgumentSpecValidator(module_argument_spec(module_name)).validate({**params, **change}).error_messages


def test_the_node_check_catches_a_wrong_node() -> None:
    validator = ArgumentSpecValidator(workflow_node_spec())
    node = {"identifier": "a", "unified_job_template": {"name": "x", "type": "workflow_approval", "timeout": 60}}
    assert not validator.validate(node).error_messages
    assert validator.validate({**node, "unified_job_template": {"name": "x", "timeout": "an hour"}}).error_messages
    assert validator.validate({"unified_job_template": {"name": "x"}}).error_messages  # no identifier
