"""Settings files are checked before anything runs: every invalid file fails with a message that names the file, the
key and its rule; every shipped file passes; deploy.yml and teardown.yml run that check before any endpoint starts or
AWS is called. Settings files live in a temporary directory (-e iot_env_dir=DIR); the check of all of them runs in one
ansible-playbook run (check_many), and one deploy.yml and one teardown.yml run show where the playbooks run it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT, VENV_BIN, ansible_env

PLAYBOOKS = ROOT / "playbooks"
ENVIRONMENTS = PLAYBOOKS / "vars" / "environments"
SPEC = yaml.safe_load((PLAYBOOKS / "vars" / "settings_spec.yml").read_text())
TEMPLATE = yaml.safe_load((ROOT / "files" / "iot-analytics-system.yaml").read_text())
LOCAL = yaml.safe_load((ENVIRONMENTS / "local.yml").read_text())
# capacity_plan options that deploy.yml takes from elsewhere than iot_env_capacity
CAPACITY_FROM_ELSEWHERE = {"prices", "label", "stream_mode", "shard_count", "batch_size", "max_batching_window_seconds",
                           "parallelization_factor", "window_seconds", "lambda_memory_mb", "lambda_architecture"}


def run_playbook(home: Path, env_dir: Path, env: str, playbook: str = "deploy.yml", *args: str) -> subprocess.CompletedProcess:
    environment = ansible_env(
        HOME=str(home), XDG_STATE_HOME=str(home / "state"), XDG_CACHE_HOME=str(home / "cache"),
        AWS_CONFIG_FILE=str(home / "no-aws-config"), AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-config"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), str(PLAYBOOKS / playbook), "-e", f"env={env}", "-e", f"iot_env_dir={env_dir}", *args],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300, check=False,
    )


def flat(proc: subprocess.CompletedProcess) -> str:
    """The run's output as one line: the YAML callback wraps long messages and doubles single quotes."""
    return " ".join((proc.stdout + proc.stderr).replace("''", "'").split())


def with_changes(**changes: Any) -> dict[str, Any]:
    settings = {**LOCAL, **changes}
    return {key: value for key, value in settings.items() if value is not DELETE}


DELETE = object()


def nested(key: str, **changes: Any) -> dict[str, Any]:
    return with_changes(**{key: {**LOCAL[key], **changes}})


# name: (settings file content, the rule lines the message must hold)
INVALID: dict[str, tuple[Any, list[str]]] = {
    "empty-regions": (with_changes(iot_env_regions=[]), [
        "iot_env_regions: must be a non-empty list of distinct AWS region names such as eu-west-1, in rollout order; got an empty list"]),
    "string-regions": (with_changes(iot_env_regions="us-east-1"), [
        'iot_env_regions: must be a non-empty list of distinct AWS region names such as eu-west-1, in rollout order; got the string "us-east-1"']),
    "bad-region": (with_changes(iot_env_regions=["us-east-1", "Europe"]), [
        'iot_env_regions[1]: must be an AWS region name such as eu-west-1; got the string "Europe"']),
    "twice-region": (with_changes(iot_env_regions=["us-east-1", "us-east-1"]), [
        "iot_env_regions: must be a non-empty list of distinct AWS region names"]),
    "unknown-key": (with_changes(iot_env_regoins=["us-east-1"]), [
        "iot_env_regoins: not a known setting (a typo?); known settings: iot_env_description,"]),
    "wrong-types": (with_changes(iot_env_termination_protection="maybe", iot_env_tags=["a"], iot_env_description=7), [
        'iot_env_termination_protection: must be true or false; got the string "maybe"',
        "iot_env_tags: must be a mapping (key: value); got a list (1 item)",
        "iot_env_description: must be a string; got the number 7"]),
    "undeclared-parameter": (nested("iot_env_stack_parameters", ShardCont=2), [
        "iot_env_stack_parameters.ShardCont: not a parameter of the template (a typo?); its parameters: DeleteDataWithStack, LambdaMemorySize,"]),
    "parameter-set-elsewhere": (nested("iot_env_stack_parameters", NamePrefix="city"), [
        "iot_env_stack_parameters.NamePrefix: set by the playbooks from iot_env_name_prefix; remove it here"]),
    "capacity-key": (nested("iot_env_capacity", sensor=10, zones="ten"), [
        "iot_env_capacity.sensor: not an option of the capacity plan (a typo?); its options: sensors,",
        'iot_env_capacity.zones: must be a whole number; got the string "ten"']),
    "missing-key": (with_changes(iot_env_name_prefix=DELETE), [
        "iot_env_name_prefix: missing; every settings file sets it (a string)"]),
    "runtime": (with_changes(iot_env_lambda_runtime="python2.7"), [
        'iot_env_lambda_runtime: must be one of python3.9, python3.12, python3.13, python3.14; got the string "python2.7"']),
    "prefix": (with_changes(iot_env_name_prefix="SmartCity"), [
        "iot_env_name_prefix: must be 3-20 characters, lower-case letters, digits and hyphens, starting with a letter and not "
        "ending with a hyphen (the template's NamePrefix rule)"]),
    "Bad-Name": (LOCAL, [
        "the environment's name 'Bad-Name' (-e env, the settings file's name): must be 1-20 characters, lower-case letters,"]),
}


# Shipped files and files that are no mapping, besides INVALID, checked in the same run.
NO_MAPPING = "listed"


def check_many(tmp: Path, env_dir: Path, names: list[str]) -> dict[str, str]:
    """tasks/validate_environment.yml on many settings files in ONE ansible-playbook run (one inventory host per
    file, so no file's settings reach another's check): name -> '' when the file passes, else the failure message.

    The deploy/teardown tests below show that the playbooks run this check before anything else; running it here
    once for every file keeps the suite fast (an ansible-playbook start costs seconds, per file)."""
    book = tmp / "book"
    book.mkdir()
    for part in ("tasks", "vars", "templates"):  # validate_environment.yml reads them relative to playbook_dir
        (book / part).symlink_to(PLAYBOOKS / part)
    out = tmp / "results"
    out.mkdir()
    (book / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {
        name: {"ansible_connection": "local", "select_environment__name": name} for name in names}}}))
    (book / "check.yml").write_text(yaml.safe_dump([{
        "name": "Check settings files", "hosts": "all", "gather_facts": False,
        "vars": {"select_environment__dir": str(env_dir), "stack_template": str(ROOT / "files" / "iot-analytics-system.yaml")},
        "tasks": [{"name": "Check one file", "block": [
            {"name": "Validate", "ansible.builtin.import_tasks": "tasks/validate_environment.yml"},
            {"name": "Passed", "ansible.builtin.copy": {"content": "", "dest": f"{out}/{{{{ inventory_hostname }}}}.txt", "mode": "0600"},
             "delegate_to": "localhost"}],
            "rescue": [{"name": "Failed", "delegate_to": "localhost", "ansible.builtin.copy": {
                "content": "{{ ansible_failed_result.msg if ansible_failed_result.msg is string else ansible_failed_result.msg | join(' ') }}",
                "dest": f"{out}/{{{{ inventory_hostname }}}}.txt", "mode": "0600"}}]}],
    }], sort_keys=False))
    environment = ansible_env(HOME=str(tmp), ANSIBLE_FORKS="10")
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(book / "inventory.yml"), str(book / "check.yml")],
                          cwd=book, env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    results = {path.stem: " ".join(path.read_text().replace("''", "'").split()) for path in out.glob("*.txt")}
    assert set(results) == set(names), (proc.stdout + proc.stderr)[-3000:]
    return results


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """Every INVALID file, a file that is no mapping and every shipped file: name -> (file, failure message or '')."""
    env_dir = tmp_path_factory.mktemp("environments")
    for name, (content, _rules) in INVALID.items():
        (env_dir / f"{name}.yml").write_text(yaml.safe_dump(content, sort_keys=False))
    (env_dir / f"{NO_MAPPING}.yml").write_text("- iot_env_regions: [us-east-1]\n")
    shipped = sorted(path.stem for path in ENVIRONMENTS.glob("*.yml"))
    for name in shipped:
        (env_dir / f"{name}.yml").write_text((ENVIRONMENTS / f"{name}.yml").read_text())
    results = check_many(tmp_path_factory.mktemp("check"), env_dir, [*INVALID, NO_MAPPING, *shipped])
    return {name: (env_dir / f"{name}.yml", message) for name, message in results.items()}


@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_settings_are_refused_naming_file_key_and_rule(checked, name: str) -> None:
    path, message = checked[name]
    assert message.startswith(f"Settings file {path} (env={name}) is invalid:"), message
    for rule in INVALID[name][1]:
        assert rule in message, message


def test_a_file_that_is_no_mapping_says_so(checked) -> None:
    path, message = checked[NO_MAPPING]
    assert f"Settings file {path} (env={NO_MAPPING}) is invalid: it must be a mapping of settings" in message


def test_every_shipped_settings_file_passes(checked) -> None:
    shipped = {path.stem for path in ENVIRONMENTS.glob("*.yml")}
    assert shipped >= {"local", "dev", "staging", "prod", "example-city"}
    for name in shipped:
        assert checked[name][1] == "", checked[name][1]


def test_deploy_checks_the_settings_before_anything_runs(tmp_path: Path) -> None:
    """deploy.yml fails on an invalid file with every wrong key named, before any endpoint starts or AWS is asked."""
    (tmp_path / "envs").mkdir()
    content, rules = INVALID["wrong-types"]
    (tmp_path / "envs" / "wrong-types.yml").write_text(yaml.safe_dump(content, sort_keys=False))
    home = tmp_path / "home"
    proc = run_playbook(home, tmp_path / "envs", "wrong-types")
    output = flat(proc)
    assert proc.returncode != 0
    assert f"Settings file {tmp_path / 'envs' / 'wrong-types.yml'} (env=wrong-types) is invalid:" in output, output[-3000:]
    for rule in rules:
        assert rule in output, output[-3000:]
    # nothing started and AWS was not asked: no endpoint state, no caller identity, no region host
    assert "Ask the endpoint who we are" not in output
    assert "Start the local AWS endpoint" not in output
    assert not (home / "state" / "smartcity-iot-analytics").exists()
    assert "wrong-types-us-east-1" not in output


def test_teardown_checks_the_settings_first(tmp_path: Path) -> None:
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "riverton.yml").write_text(yaml.safe_dump(with_changes(iot_env_regions="us-east-1")))
    proc = run_playbook(tmp_path, tmp_path / "envs", "riverton", "teardown.yml")
    output = flat(proc)
    assert proc.returncode != 0
    assert f"Settings file {tmp_path / 'envs' / 'riverton.yml'} (env=riverton) is invalid:" in output
    assert 'iot_env_regions: must be a non-empty list of distinct AWS region names such as eu-west-1, in rollout order; got the string "us-east-1"' in output
    assert not (tmp_path / "state" / "smartcity-iot-analytics").exists()


def test_the_example_file_documents_every_key() -> None:
    """example-city.yml is the documented starting point: every key it sets has a comment, and it sets the keys a
    city's own AWS account needs, with QuickSight off."""
    text = (ENVIRONMENTS / "example-city.yml").read_text()
    example = yaml.safe_load(text)
    required = {key for key, rule in SPEC["settings"].items() if rule.get("required")}
    assert required <= set(example)
    assert example["iot_env_local_endpoint"] is False and example["iot_env_quicksight"] is False
    lines = text.splitlines()
    for index, line in enumerate(lines):
        key = re.match(r"^( {0,2})[A-Za-z]\w*:", line)
        if not key or (key.group(1) and _parent(lines, index) == "iot_env_tags"):
            continue
        start = index  # keys of one group share the comment above the group
        while re.match(rf"^{key.group(1)}[A-Za-z]\w*:", lines[start - 1]):
            start -= 1
        assert lines[start - 1].lstrip().startswith("#"), f"example-city.yml: no comment above {line.strip()}"


def _parent(lines: list[str], index: int) -> str:
    return next(line.rstrip(":") for line in reversed(lines[:index]) if re.match(r"^\w+:$", line))


def _deploy_yml() -> str:
    return (PLAYBOOKS / "deploy.yml").read_text()


def test_the_spec_knows_every_key_the_playbooks_read() -> None:
    used = set()
    for path in [*PLAYBOOKS.glob("*.yml"), *PLAYBOOKS.glob("tasks/*.yml"), *PLAYBOOKS.glob("templates/*.j2")]:
        used |= set(re.findall(r"\b(iot_env_\w+)", path.read_text()))
    used -= {"iot_env_dir"}  # where the settings files are (-e iot_env_dir=DIR), not a setting
    assert used <= set(SPEC["settings"]), used - set(SPEC["settings"])


def test_capacity_options_are_the_capacity_plan_modules() -> None:
    """iot_env_capacity may hold exactly the capacity_plan options that deploy.yml takes from it, with their types."""
    from ansible_collections.smartcity.iot_analytics.plugins.modules.capacity_plan import ARGUMENT_SPEC

    fleet = {name: option["type"] for name, option in ARGUMENT_SPEC.items() if name not in CAPACITY_FROM_ELSEWHERE}
    assert {name: option["type"] for name, option in SPEC["settings"]["iot_env_capacity"]["options"].items()} == fleet
    for name in fleet:
        assert f'{name}: "{{{{ iot_env_capacity.{name} | default(omit) }}}}"' in _deploy_yml(), name


def test_parameters_set_by_the_playbooks_are_the_templates() -> None:
    set_by = set(SPEC["parameters_set_by"])
    assert set_by <= set(TEMPLATE["Parameters"])
    combined = re.search(r"iot_env_stack_parameters \| combine\(\{(.*?)\}\)", _deploy_yml(), re.DOTALL)
    assert combined is not None
    assert set(re.findall(r"'(\w+)':", combined.group(1))) == set_by


def test_region_rule_accepts_the_region_names() -> None:
    pattern = SPEC["settings"]["iot_env_regions"]["pattern"]
    for region in ("us-east-1", "eu-central-1", "ap-southeast-5", "us-gov-west-1", "cn-north-1", "me-central-1"):
        assert re.fullmatch(pattern, region), region
    for wrong in ("Europe", "us-east", "eu_west_1", "eu-west-1a", ""):
        assert not re.fullmatch(pattern, wrong), wrong
