"""The AWX job templates run the way AWX runs them, against a local endpoint, with a new environment's name.

AWX runs a job with ansible-runner in a private data dir: ``project/`` is the project's checkout (here a copy of the
repository's tracked files: no .venv, no .collections, nothing untracked), ``env/extravars`` the template's extra
variables plus the survey's answers, ``env/envvars`` what the "Amazon Web Services" credential injects, and the
collections come from the execution environment (here the built and installed collection and amazon.aws). AWX puts
the project's ansible.cfg ``collections_path`` after its own ``requirements_collections`` and before the EE's paths in
ANSIBLE_COLLECTIONS_PATH, so the project's ``./.collections`` (absent in a clean checkout) is looked at and found empty.

The job templates are those the project copy's configure_controller.yml renders (-e iot_controller_render_to), and
the extra vars follow AWX's launch rule as tests/unit/test_controller_config.py ports it. The environment is
riverton: a one-region copy of local.yml added to the project copy's playbooks/vars/environments/, as a platform team
adds its own environment to its AWX project, with no change to the template (its QuickSight dry run is off:
test_deploy runs it). The tests share one endpoint and run in order: review of the absent stack -> apply of the
set_stats artifact (the first deployment, the only full deploy.yml run); a second review made stale by a colleague's
UpdateStack and refused; the apply template launched alone, and with another env's artifact, refused; smoke test;
enroll two devices; rotate certificates; teardown. About ten jobs: keep it that way (the file is near the front of
conftest's SLOWEST_FIRST).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from awx_support import awx_launch_extra_vars, awx_survey_element_validation
from cryptography.hazmat.primitives.asymmetric import ec
from rotation_support import csr_for
from test_deploy import Deployment, installed_collection, recap, stacks  # noqa: F401  # pylint: disable=unused-import  # the fixture

from conftest import ROOT, VENV_BIN, ansible_env, reserve_port, scaled

ENV = "riverton"
REGION = "us-east-1"
STACK = f"smartcity-iot-{ENV}"


def job_templates(project: Path, out: Path) -> dict[str, dict[str, Any]]:
    """The job templates by name, as the project's configure_controller.yml renders them for a controller
    (-e iot_controller_render_to): the surveys offer the project's environment files, riverton.yml included."""
    environment = {k: v for k, v in ansible_env().items() if not k.startswith(("CONTROLLER_", "TOWER_"))}
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), str(project / "playbooks" / "configure_controller.yml"),
                           "-e", f"iot_controller_render_to={out}"], cwd=project, env=environment, capture_output=True,
                          text=True, timeout=scaled(120), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {t["name"]: t for t in json.loads(out.read_text())["controller_templates"]}


def launch_vars(template: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """What AWX passes as extra vars when the survey is answered with answers: the launch rule of
    tests/unit/test_controller_config.py (the template's extra_vars, then the survey defaults AWX accepts), each answer
    checked by AWX's answer rules, and no required question left without a value."""
    result = awx_launch_extra_vars(template)
    for question in template["survey_spec"]["spec"] if template.get("survey_enabled") else []:
        name = question["variable"]
        if name in answers:
            errors = awx_survey_element_validation(question, {name: answers[name]})
            assert not errors, f"{template['name']}: AWX refuses the answer {name}={answers[name]!r}: {errors}"
            result[name] = answers[name]
        assert name in result or not question.get("required"), f"{template['name']}: the survey needs an answer for {name}"
    return result


class Awx:
    """Private data dirs of one project copy, run with ansible-runner against one local endpoint."""

    def __init__(self, work: Path, collections_path: str) -> None:
        self.work = work
        self.project = work / "project-checkout"
        self.home = work / "home"
        self.home.mkdir()
        self.dep = Deployment(reserve_port(), self.home, collections_path)
        self.collections_path = collections_path
        self.jobs = 0
        tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.split("\0")
        for name in filter(None, tracked):
            source = ROOT / name
            if source.is_file():
                (self.project / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, self.project / name)
        settings = (self.project / "playbooks" / "vars" / "environments" / "local.yml").read_text()
        assert "  - us-east-1\n  - eu-west-1\n" in settings and "\niot_env_quicksight_dry_run: true\n" in settings
        settings = settings.replace("  - us-east-1\n  - eu-west-1\n", "  - us-east-1\n")
        self.settings_file.write_text(settings.replace("\niot_env_quicksight_dry_run: true\n", "\niot_env_quicksight_dry_run: false\n"))
        self.templates = job_templates(self.project, work / "controller.json")

    @property
    def settings_file(self) -> Path:
        return self.project / "playbooks" / "vars" / "environments" / f"{ENV}.yml"

    def run(self, template_name: str, answers: dict[str, Any] | None = None, artifacts: dict[str, Any] | None = None,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Launch a job template: the survey answered with env=riverton (and answers), the artifacts of an earlier job
        passed on as a workflow does; returns rc, stdout and the set_stats artifact."""
        template = self.templates[template_name]
        self.jobs += 1
        private = self.work / f"job-{self.jobs}"
        shutil.copytree(self.project, private / "project", symlinks=True)
        (private / "inventory").mkdir()
        # The template's inventory has no hosts: the playbooks run on the implicit localhost and add the regions.
        (private / "inventory" / "hosts.yml").write_text("all:\n  hosts: {}\n")
        (private / "env").mkdir()
        extravars = {**launch_vars(template, {"env": ENV, **(answers or {})}), **(artifacts or {}),
                     # this test's own ports
                     "local_endpoint_port": self.dep.port, "local_mqtt_port_base": self.dep.mqtt_port_base,
                     "local_view_port_base": self.dep.view_port_base, **(extra or {})}
        (private / "env" / "extravars").write_text(json.dumps(extravars))
        (private / "env" / "envvars").write_text(json.dumps({
            # the "Amazon Web Services" credential (the local endpoint takes any key)
            "AWS_ACCESS_KEY_ID": "local-endpoint", "AWS_SECRET_ACCESS_KEY": "local-endpoint",
            "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join([str(private / "requirements_collections"), "./.collections", self.collections_path]),
            "HOME": str(self.home), "XDG_STATE_HOME": str(self.home / "state"), "XDG_CACHE_HOME": str(self.home / "cache"),
        }))
        (private / "env" / "settings").write_text(json.dumps({"idle_timeout": 0, "job_timeout": int(scaled(600))}))
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
        environment.update(PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", AWS_EC2_METADATA_DISABLED="true")
        started = time.monotonic()
        proc = subprocess.run([str(VENV_BIN / "ansible-runner"), "run", str(private), "-p", template["playbook"], "--ident", "job"],
                              env=environment, capture_output=True, text=True, timeout=scaled(900), check=False)
        job = private / "artifacts" / "job"
        stdout = re.sub(r"\x1b\[[0-9;]*m", "", (job / "stdout").read_text() if (job / "stdout").exists() else proc.stdout)
        stats = [json.loads(p.read_text()) for p in (job / "job_events").glob("*.json")]
        stats = [e for e in stats if e.get("event") == "playbook_on_stats"]
        print(f"\n{template_name}: {time.monotonic() - started:.1f} s")
        return {"rc": int((job / "rc").read_text()) if (job / "rc").exists() else proc.returncode, "stdout": stdout,
                "text": " ".join(stdout.split()),  # the YAML result format folds long lines
                "artifacts": stats[0]["event_data"].get("artifact_data", {}) if stats else {}}


def explain(job: dict[str, Any]) -> str:
    return job["stdout"][-8000:]


def parameters(awx: Awx) -> dict[str, str]:
    [stack] = stacks(awx.dep, REGION)
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


@pytest.fixture(scope="module")
def awx(installed_collection, tmp_path_factory):  # noqa: F811  # pylint: disable=redefined-outer-name
    instance = Awx(tmp_path_factory.mktemp("awx"), installed_collection)
    yield instance
    instance.dep.stop_everything()


@pytest.fixture(scope="module")
def reviewed(awx: Awx) -> dict[str, Any]:
    job = awx.run("review")
    assert job["rc"] == 0, explain(job)
    return job


def test_review_of_an_absent_stack_stops_for_approval_and_hands_on_its_change_set(awx: Awx, reviewed: dict[str, Any]) -> None:
    apply = reviewed["artifacts"]["apply_change_sets"]
    assert apply["env"] == ENV and list(apply["regions"]) == [REGION]
    change_set = apply["regions"][REGION]
    assert (change_set["stack_name"], change_set["change_set_type"]) == (STACK, "CREATE")
    assert change_set["stack_revision"]["status"] == "REVIEW_IN_PROGRESS"
    [stack] = stacks(awx.dep, REGION)
    assert (stack["StackName"], stack["StackStatus"]) == (STACK, "REVIEW_IN_PROGRESS")  # waits, nothing created
    cfn = awx.dep.client("cloudformation", REGION)
    described = cfn.describe_change_set(ChangeSetName=change_set["change_set_id"])
    assert (described["Status"], described["ExecutionStatus"]) == ("CREATE_COMPLETE", "AVAILABLE")
    assert {"StateTable", "TelemetryStream", "StreamProcessor"} <= {c["ResourceChange"]["LogicalResourceId"] for c in described["Changes"]}
    assert cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"] == []
    assert awx.dep.client("dynamodb", REGION).list_tables()["TableNames"] == []
    assert f"change set waiting for approval: {change_set['change_set_id']}" in reviewed["text"]
    assert "data flows: not checked (review mode)" in reviewed["text"]
    assert not [p for p in awx.dep.data_plane_pid_files if p.exists()]  # no data plane for a stack that waits


def test_apply_executes_the_reviewed_change_set_and_deploys_the_new_environment(awx: Awx, reviewed: dict[str, Any]) -> None:
    change_set_id = reviewed["artifacts"]["apply_change_sets"]["regions"][REGION]["change_set_id"]
    job = awx.run("apply reviewed change sets", artifacts=reviewed["artifacts"])
    assert job["rc"] == 0, explain(job)
    stdout = job["stdout"]
    assert f"env={ENV}: 1 region(s), deployed (reviewed change sets applied)" in job["text"]
    assert f"applied reviewed change set: {change_set_id}" in job["text"]
    cfn = awx.dep.client("cloudformation", REGION)
    assert cfn.describe_change_set(ChangeSetName=change_set_id)["ExecutionStatus"] == "EXECUTE_COMPLETE"
    # the new environment's name everywhere, and its data goes with the stack (DeleteDataWithStack)
    [stack] = stacks(awx.dep, REGION)
    assert (stack["StackName"], stack["StackStatus"]) == (STACK, "CREATE_COMPLETE")
    assert {"EnvironmentName": ENV, "DeleteDataWithStack": "true"}.items() <= parameters(awx).items()
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]}
    assert physical["StateTable"] == f"{STACK}-state"
    assert physical["TelemetryStream"] == f"{STACK}-telemetry"
    assert physical["StreamProcessor"] == f"{STACK}-processor"
    assert stacks(awx.dep, "eu-west-1") == []
    assert_short_summary(awx, stdout)


def assert_short_summary(awx: Awx, stdout: str) -> None:
    """test_deploy's short summary, from a project checkout: status, data flowing, the live page, the next commands
    (the project's playbooks by path), the outputs file."""
    dep = awx.dep
    text = " ".join(stdout.split())  # the YAML result format folds long lines
    block = text[text.index(f"[{REGION}] stack {STACK}: "):]
    assert f"[{REGION}] stack {STACK}: CREATE_COMPLETE; package " in block
    assert re.search(r" data flows: 12 readings stored in [\d.]+s, CongestionAlert after [\d.]+s \(smoke test\)", block), block
    assert f" look: http://127.0.0.1:{dep.view_port_base}/ (live congestion page)" in block, block
    assert re.search(r" next \(from \S+/project\):", block), block
    assert re.search(rf"simulate --region {REGION} --endpoint-url {dep.url} --mqtt-port {dep.mqtt_port_base} "
                     rf"--pki-dir \S+/data-plane-{dep.port}/pki --rule-name {STACK.replace('-', '_')}_telemetry ", block), block
    passed = f"-e env={ENV} -e local_endpoint_port={dep.port} -e local_mqtt_port_base={dep.mqtt_port_base} -e local_view_port_base={dep.view_port_base}"
    assert re.search(rf" smoke test: \S*ansible-playbook playbooks/smoke_test.yml {passed}", block), block
    assert re.search(rf" tear down: \S*ansible-playbook playbooks/teardown.yml {passed}", block), block
    assert "AlertProbeQueueUrl" not in stdout
    written = yaml.safe_load((dep.home / "state" / "smartcity-iot-analytics" / f"outputs-{ENV}.yml").read_text())
    [stack] = stacks(dep, REGION)
    assert written[REGION]["outputs"] == {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert len(written[REGION]["outputs"]) >= 25


def set_state_ttl(awx: Awx, days: int) -> None:
    settings = awx.settings_file.read_text()
    awx.settings_file.write_text(re.sub(r"(?m)^  StateTtlDays: \d+$", f"  StateTtlDays: {days}", settings))


def test_a_review_made_stale_by_a_colleagues_update_is_refused_and_nothing_executes(awx: Awx) -> None:
    set_state_ttl(awx, 3)  # a change committed to the project, reviewed
    review = awx.run("review")
    assert review["rc"] == 0, explain(review)
    stale = review["artifacts"]["apply_change_sets"]["regions"][REGION]
    assert stale["change_set_type"] == "UPDATE" and stale["stack_revision"]["parameters"]["StateTtlDays"] == "2"
    assert parameters(awx)["StateTtlDays"] == "2"  # the review changed nothing
    # before the approval, a colleague updates the stack by hand (the console, the CLI): another StateTtlDays
    cfn = awx.dep.client("cloudformation", REGION)
    # (each value given, the NoEcho ones left at their empty default: moto's UsePreviousValue fails on a parameter
    # that was left at its default)
    cfn.update_stack(StackName=STACK, UsePreviousTemplate=True,
                     Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in {**parameters(awx), "StateTtlDays": "4"}.items() if v != "****"],
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"])
    assert parameters(awx)["StateTtlDays"] == "4"

    refused = awx.run("apply reviewed change sets", artifacts=review["artifacts"])
    assert refused["rc"] != 0
    message = refused["text"]
    assert (f"Refused to execute the reviewed change set: stack {STACK} changed since change set {stale['change_set_id']} was reviewed "
            "(status CREATE_COMPLETE -> UPDATE_COMPLETE, parameters). Nothing was executed; review again.") in message, explain(refused)
    assert f"{ENV}-{REGION}" not in recap(refused["stdout"])  # refused before any region started
    assert parameters(awx)["StateTtlDays"] == "4"
    # not executed (AWS would have made it OBSOLETE on the update; moto leaves it AVAILABLE)
    assert cfn.describe_change_set(ChangeSetName=stale["change_set_id"])["ExecutionStatus"] in ("AVAILABLE", "OBSOLETE")


def test_the_apply_template_alone_or_with_another_envs_change_sets_is_refused(awx: Awx, reviewed: dict[str, Any]) -> None:
    [before] = stacks(awx.dep, REGION)
    alone = awx.run("apply reviewed change sets")  # launched on its own: apply_reviewed=true without apply_change_sets
    assert alone["rc"] != 0
    assert "apply_reviewed=true needs the change sets of a review run" in alone["text"], explain(alone)
    assert f"{ENV}-{REGION}" not in recap(alone["stdout"])  # no deploy ran

    other = json.loads(json.dumps(reviewed["artifacts"]).replace(f'"env": "{ENV}"', '"env": "local"'))
    job = awx.run("apply reviewed change sets", artifacts=other)
    assert job["rc"] != 0
    assert f"The reviewed change sets are those of env=local, not of env={ENV}: refused, nothing was executed." in job["text"], explain(job)
    assert f"{ENV}-{REGION}" not in recap(job["stdout"])
    [after] = stacks(awx.dep, REGION)
    assert (after["StackStatus"], after["Parameters"]) == (before["StackStatus"], before["Parameters"])


def test_smoke_test_job(awx: Awx) -> None:
    job = awx.run("smoke test")
    assert job["rc"] == 0, explain(job)
    assert f"Data flows in {REGION}:" in job["text"], explain(job)


def test_enroll_and_rotate_jobs(awx: Awx) -> None:
    fleet = awx.project / "fleet"
    fleet.mkdir()
    names = [f"awx-z001-s000{n}" for n in (1, 2)]
    (fleet / "devices.yml").write_text(yaml.safe_dump([{"name": n, "zone": "z001", "csr": csr_for(n, ec.generate_private_key(ec.SECP256R1()))} for n in names]))
    # as the survey asks: relative to the project's root, where AWX runs the job
    job = awx.run("enroll devices", {"device_fleet_devices_file": "fleet/devices.yml"})
    assert job["rc"] == 0, explain(job)
    iot = awx.dep.client("iot", REGION)
    assert sorted(t["thingName"] for t in iot.list_things()["things"]) == names

    rotate = awx.run("rotate certificates")  # survey defaults: nothing expires within 30 days
    assert rotate["rc"] == 0, explain(rotate)
    assert all(len(iot.list_thing_principals(thingName=n)["principals"]) == 1 for n in names)


def test_teardown_job(awx: Awx) -> None:
    # the survey's confirmation left empty: a local endpoint needs none; the test keeps the endpoint to look at it
    job = awx.run("teardown", extra={"keep_endpoint": True})
    assert job["rc"] == 0, explain(job)
    assert stacks(awx.dep, REGION) == []
    assert awx.dep.client("dynamodb", REGION).list_tables()["TableNames"] == []  # the data went with the stack
    assert not [p for p in awx.dep.data_plane_pid_files if p.exists()]
