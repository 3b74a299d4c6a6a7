"""deploy.yml / teardown.yml end to end, by FQCN from the built and installed collection, against a local endpoint.

The tests of this file share one endpoint and run in order: deploy, re-deploy without change, check mode,
review mode, teardown, and a failing rollout on a fresh endpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import yaml

from conftest import COLLECTIONS, DATA_PLANE_PROCESSES, ROOT, VENV_BIN, ansible_env, reserve_port, reserve_ports, scaled, stop_by_pid_file, stop_data_plane

REGIONS = ("us-east-1", "eu-west-1")
STACK = "smartcity-iot-local"
TEMPLATE = ROOT / "files" / "iot-analytics-system.yaml"


def port_pair() -> int:
    """Two reserved consecutive ports for the two local regions (base, base + 1): their MQTT ports, or their live pages."""
    return reserve_ports(len(REGIONS), consecutive=True)[0]


@dataclass
class Deployment:
    port: int
    home: Path
    collections_path: str
    mqtt_port_base: int = field(default_factory=port_pair)
    view_port_base: int = field(default_factory=port_pair)  # the regions' live pages, base and base + 1
    runs: int = 0
    env_dir: Path | None = None  # -e iot_env_dir: settings files of environments besides the collection's

    @property
    def data_plane_dir(self) -> Path:
        return self.home / "state" / "smartcity-iot-analytics" / f"data-plane-{self.port}"

    @property
    def data_plane_pid_files(self) -> list[Path]:
        return [self.data_plane_dir / region / f"{name}.pid" for region in REGIONS for name in DATA_PLANE_PROCESSES]

    def stop_everything(self) -> None:
        for region in REGIONS:
            stop_data_plane(self.data_plane_dir / region)
        stop_by_pid_file(self.pid_file)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "state" / "smartcity-iot-analytics" / f"local-endpoint-{self.port}" / "moto.pid"

    def client(self, service: str, region: str):
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="local-endpoint",
            aws_secret_access_key="local-endpoint",
        )

    def environment(self, env: dict[str, str] | None = None) -> dict[str, str]:
        return ansible_env(
            ANSIBLE_COLLECTIONS_PATH=self.collections_path,
            ANSIBLE_FORCE_COLOR="0",
            # HOME is not the passwd home, as in AWX execution environments and CI containers (async jobs must
            # still be found), and nothing of the run lands in the real home.
            HOME=str(self.home),
            XDG_STATE_HOME=str(self.home / "state"),
            XDG_CACHE_HOME=str(self.home / "cache"),
            AWS_EC2_METADATA_DISABLED="true",
            **(env or {}),
        )

    def argv(self, playbook: str, *args: str) -> list[str]:
        return [str(VENV_BIN / "ansible-playbook"), f"smartcity.iot_analytics.{playbook}",
                *(["-e", f"iot_env_dir={self.env_dir}"] if self.env_dir else []),
                "-e", f"local_endpoint_port={self.port}", "-e", f"local_mqtt_port_base={self.mqtt_port_base}",
                "-e", f"local_view_port_base={self.view_port_base}", *args]

    def run(self, playbook: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        for _attempt in range(3):
            started = time.monotonic()
            proc = subprocess.run(
                self.argv(playbook, *args),
                cwd=self.home,  # away from the checkout's ansible.cfg: only the installed collection is used
                env=self.environment(env),
                capture_output=True,
                text=True,
                timeout=scaled(600),
                check=False,
            )
            proc.wall_seconds = time.monotonic() - started  # type: ignore[attr-defined]
            first_run, self.runs = self.runs == 0, self.runs + 1
            if not (first_run and proc.returncode != 0 and "is already in use by" in proc.stdout + proc.stderr):
                return proc
            # A port reserved for this deployment was taken by another program before its server bound it (the
            # role said who holds it): start this deployment over on other ports.
            self.stop_everything()
            self.port, self.mqtt_port_base, self.view_port_base, self.runs = reserve_port(), port_pair(), port_pair(), 0
        return proc


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP lines as {host: {"ok": n, "changed": n, "failed": n, ...}}."""
    result = {}
    for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.MULTILINE):
        result[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counters)}
    return result


def explain(proc: subprocess.CompletedProcess) -> str:
    return (proc.stdout + proc.stderr)[-8000:]


@pytest.fixture(scope="module")
def installed_collection(tmp_path_factory) -> str:
    """Build the collection tarball, install it, and return a collections path that resolves it by FQCN."""
    work = tmp_path_factory.mktemp("build")
    subprocess.run(
        [str(VENV_BIN / "ansible-galaxy"), "collection", "build", str(ROOT), "--output-path", str(work)],
        check=True, capture_output=True, text=True,
    )
    tarball = next(work.glob("smartcity-iot_analytics-*.tar.gz"))
    installed = work / "collections"
    subprocess.run(
        # --force: the checkout itself is linked as the collection in .collections, which ansible-galaxy would
        # otherwise take as "already installed".
        [str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--force", "--no-deps", "-p", str(installed),
         str(tarball)],
        check=True, capture_output=True, text=True,
    )
    assert (installed / "ansible_collections" / "smartcity" / "iot_analytics" / "playbooks" / "deploy.yml").is_file()
    # amazon.aws comes from the project's own install (scripts/setup); the installed tarball is found first.
    amazon_only = work / "deps"
    (amazon_only / "ansible_collections").mkdir(parents=True)
    (amazon_only / "ansible_collections" / "amazon").symlink_to(COLLECTIONS / "ansible_collections" / "amazon")
    return f"{installed}{os.pathsep}{amazon_only}"


@contextlib.contextmanager
def deployed(installed_collection: str, home: Path, extra_vars: str) -> Iterator[tuple[Deployment, subprocess.CompletedProcess]]:
    """deploy.yml -e env=local with extra_vars (a JSON object) on reserved ports in home; everything it started is
    stopped by pid afterwards, whatever happened."""
    dep = Deployment(reserve_port(), home, installed_collection)
    try:
        proc = dep.run("deploy", "-e", "env=local", "-e", extra_vars)
        assert proc.returncode == 0, explain(proc)
        yield dep, proc
    finally:
        dep.stop_everything()


@pytest.fixture(scope="module")
def deployment(installed_collection, tmp_path_factory):
    dep = Deployment(reserve_port(), tmp_path_factory.mktemp("home"), installed_collection)
    yield dep
    dep.stop_everything()


def stacks(dep: Deployment, region: str) -> list[dict]:
    return dep.client("cloudformation", region).describe_stacks()["Stacks"]


def test_deploy_two_regions_then_rerun_changes_nothing(deployment: Deployment) -> None:
    first = deployment.run("deploy", "-e", "env=local")
    assert first.returncode == 0, explain(first)
    # the capacity and cost plan of the env comes first, from the env's fleet and stack parameters
    assert "Capacity and cost plan for env=local (per region): 200 sensors" in first.stdout
    assert first.stdout.index("Capacity and cost plan") < first.stdout.index("ok: [local-us-east-1]")
    for region in REGIONS:
        [stack] = stacks(deployment, region)
        assert stack["StackName"] == STACK
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        assert {o["OutputKey"] for o in stack["Outputs"]} >= {"StreamName", "TableName", "FunctionName"}
        assert f"[{region}] stack {STACK}: CREATE_COMPLETE; package uploaded" in first.stdout
        # the smoke test published through the region's broker and saw its readings, alert and quarantine
        assert re.search(rf"Data flows in {region}: 12 readings stored in [\d.]+s, CongestionAlert after", first.stdout), explain(first)
        # QuickSight is off for env=local: the role ran as a dry run, planned every resource and created none
        planned = (
            f"QuickSight dry run (off in this environment): would create or update 6 of 6 resources (data source "
            f"{STACK}-athena, 4 data sets, dashboard {STACK}-traffic-history)"
        )
        assert first.stdout.count(planned) == len(REGIONS), explain(first)
        for data_set in ("readings", "zone-hourly", "sensor-daily", "zone-alerts"):  # the role's own report, per resource
            assert first.stdout.count(f"data set {STACK}-{data_set} (") == len(REGIONS), explain(first)
        quicksight = deployment.client("quicksight", region)
        assert quicksight.list_data_sources(AwsAccountId="123456789012")["DataSources"] == []
        assert quicksight.list_data_sets(AwsAccountId="123456789012")["DataSetSummaries"] == []
        assert quicksight.list_dashboards(AwsAccountId="123456789012")["DashboardSummaryList"] == []
    for pid_file in deployment.data_plane_pid_files:  # broker, bridge and poller of both regions keep running
        os.kill(int(pid_file.read_text()), 0)
    smoke_command = assert_short_summary(deployment, first.stdout, "local", REGIONS)
    # the summary's smoke-test command is a real one: it runs as printed
    smoke = subprocess.run(shlex.split(smoke_command), cwd=deployment.home, env=deployment.environment(),
                           capture_output=True, text=True, timeout=scaled(300), check=False)
    assert smoke.returncode == 0, explain(smoke)
    assert all(f"Data flows in {region}:" in smoke.stdout for region in REGIONS), explain(smoke)
    # us-east-1 completes (smoke test included) before eu-west-1 starts
    assert first.stdout.index("ok: [local-us-east-1]") < first.stdout.index("ok: [local-eu-west-1]")
    assert first.stdout.rindex("[local-us-east-1]") < first.stdout.index("[local-eu-west-1]")

    versions_before = {
        r: deployment.client("s3", r).list_object_versions(
            Bucket=f"smartcity-iot-artifacts-123456789012-{r}")["Versions"] for r in REGIONS
    }
    second = deployment.run("deploy", "-e", "env=local", "-v")
    assert second.returncode == 0, explain(second)
    # with -v every stack output is on screen as well
    assert second.stdout.count("AlertProbeQueueUrl: https://") == len(REGIONS), explain(second)
    counts = recap(second.stdout)
    assert set(counts) == {"localhost", "local-us-east-1", "local-eu-west-1"}
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in counts.values()), counts
    print(f"\nno-change re-run of deploy.yml on env=local: {second.wall_seconds:.1f} s")
    for region in REGIONS:
        [stack] = stacks(deployment, region)
        assert stack["StackStatus"] == "CREATE_COMPLETE"  # never updated
        assert "LastUpdatedTime" not in stack or stack["LastUpdatedTime"] == stack["CreationTime"]
        versions = deployment.client("s3", region).list_object_versions(
            Bucket=f"smartcity-iot-artifacts-123456789012-{region}")["Versions"]
        assert [v["VersionId"] for v in versions] == [v["VersionId"] for v in versions_before[region]]
        assert f"[{region}] stack {STACK}: CREATE_COMPLETE; package unchanged" in second.stdout


def assert_short_summary(dep: Deployment, stdout: str, env: str, regions: tuple[str, ...]) -> str:
    """The summary's short form per region: status and changes, data flowing, the live page, the next commands; the
    full outputs only in the outputs file. Returns the printed smoke-test command."""
    stack = f"smartcity-iot-{env}"
    passed = (f"-e env={env}" + (f" -e iot_env_dir={dep.env_dir}" if dep.env_dir else "")
              + f" -e local_endpoint_port={dep.port} -e local_mqtt_port_base={dep.mqtt_port_base} -e local_view_port_base={dep.view_port_base}")
    playbook = f"{VENV_BIN / 'ansible-playbook'} smartcity.iot_analytics"
    for index, region in enumerate(regions):
        block = stdout[stdout.index(f'"[{region}] stack {stack}: '):]
        block = block[:block.index('"[', 1)] if '"[' in block[1:] else block
        assert f"[{region}] stack {stack}: CREATE_COMPLETE; package " in block
        assert re.search(r'"  data flows: 12 readings stored in [\d.]+s, CongestionAlert after [\d.]+s \(smoke test\)"', block), block
        assert f'"  look: http://127.0.0.1:{dep.view_port_base + index}/ (live congestion page)"' in block, block
        assert '"  next:"' in block, block
        assert '"    simulate an incident: AWS_ACCESS_KEY_ID=local-endpoint AWS_SECRET_ACCESS_KEY=local-endpoint ' in block, block
        assert re.search(rf"simulate --region {region} --endpoint-url {dep.url} --mqtt-port {dep.mqtt_port_base + index} "
                         rf"--pki-dir \S+/data-plane-{dep.port}/pki --rule-name {stack.replace('-', '_')}_telemetry ", block), block
        assert f'"    smoke test: {playbook}.smoke_test {passed}"' in block, block
        assert f'"    tear down: {playbook}.teardown {passed}"' in block, block
    # the full outputs are not on screen, but in the outputs file that the summary names
    assert "AlertProbeQueueUrl" not in stdout
    outputs_file = dep.home / "state" / "smartcity-iot-analytics" / f"outputs-{env}.yml"
    assert f"Every stack output: ~/state/smartcity-iot-analytics/outputs-{env}.yml (or run with -v)" in stdout
    written = yaml.safe_load(outputs_file.read_text())
    assert sorted(written) == sorted(regions)
    for region in regions:
        [stack_description] = stacks(dep, region)
        assert written[region]["status"] == "CREATE_COMPLETE"
        assert written[region]["outputs"] == {o["OutputKey"]: o["OutputValue"] for o in stack_description["Outputs"]}
        assert len(written[region]["outputs"]) >= 25
    return re.search(r'"    smoke test: ([^"]+)"', stdout).group(1)


def changed_template(tmp_path: Path) -> Path:
    body = TEMPLATE.read_text()
    assert "RetentionPeriodHours: 24" in body
    path = tmp_path / "changed.yaml"
    path.write_text(body.replace("RetentionPeriodHours: 24", "RetentionPeriodHours: 48"))
    return path


def test_check_mode_reports_changes_and_changes_nothing(deployment: Deployment, tmp_path: Path) -> None:
    unchanged = deployment.run("deploy", "-e", "env=local", "--check")
    assert unchanged.returncode == 0, explain(unchanged)
    assert all(c["changed"] == 0 for c in recap(unchanged.stdout).values()), recap(unchanged.stdout)

    template = changed_template(tmp_path)
    proc = deployment.run("deploy", "-e", "env=local", "--check", "-e", f"stack_template={template}")
    assert proc.returncode == 0, explain(proc)
    assert "check mode (nothing changed)" in proc.stdout
    assert proc.stdout.count("would modify TelemetryStream (AWS::Kinesis::Stream") == len(REGIONS)
    counts = recap(proc.stdout)
    assert counts["local-us-east-1"]["changed"] >= 1 and counts["local-eu-west-1"]["changed"] >= 1
    for region in REGIONS:
        cfn = deployment.client("cloudformation", region)
        assert cfn.get_template(StackName=STACK)["TemplateBody"] == TEMPLATE.read_text().rstrip("\n")  # the file lookup drops the final newline
        assert cfn.list_change_sets(StackName=STACK)["Summaries"] == []
        [stack] = cfn.describe_stacks(StackName=STACK)["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        stream = deployment.client("kinesis", region).describe_stream_summary(StreamName="smartcity-iot-local-telemetry")
        assert stream["StreamDescriptionSummary"]["RetentionPeriodHours"] == 24


def test_review_mode_creates_change_sets_and_waits(deployment: Deployment, tmp_path: Path) -> None:
    template = changed_template(tmp_path)
    proc = deployment.run("deploy", "-e", "env=local", "-e", "review=true", "-e", f"stack_template={template}")
    assert proc.returncode == 0, explain(proc)
    assert "review mode" in proc.stdout
    assert proc.stdout.count("change set waiting for approval: arn:aws:cloudformation:") == len(REGIONS)
    for region in REGIONS:
        cfn = deployment.client("cloudformation", region)
        [summary] = cfn.list_change_sets(StackName=STACK)["Summaries"]
        assert summary["Status"] == "CREATE_COMPLETE"
        assert summary["ExecutionStatus"] == "AVAILABLE"
        assert cfn.get_template(StackName=STACK)["TemplateBody"] == TEMPLATE.read_text().rstrip("\n")  # the file lookup drops the final newline
        changes = cfn.describe_change_set(ChangeSetName=summary["ChangeSetId"])["Changes"]
        assert [c["ResourceChange"]["LogicalResourceId"] for c in changes] == ["TelemetryStream"]
        cfn.delete_change_set(ChangeSetName=summary["ChangeSetId"])


def test_teardown_removes_every_region_and_stops_the_endpoint(deployment: Deployment) -> None:
    proc = deployment.run("teardown", "-e", "env=local", "-e", "keep_endpoint=true")
    assert proc.returncode == 0, explain(proc)
    # reverse rollout order
    assert proc.stdout.index("[local-eu-west-1]") < proc.stdout.index("[local-us-east-1]")
    for region in REGIONS:
        assert stacks(deployment, region) == []
        assert deployment.client("s3", region).list_buckets()["Buckets"] == []
    assert [p for p in deployment.data_plane_pid_files if p.exists()] == []  # broker, bridge, poller stopped
    assert deployment.pid_file.exists()

    again = deployment.run("teardown", "-e", "env=local")
    assert again.returncode == 0, explain(again)
    counts = recap(again.stdout)
    assert counts["local-us-east-1"]["changed"] == 0 and counts["local-eu-west-1"]["changed"] == 0, counts
    assert counts["localhost"]["changed"] == 1  # the endpoint was stopped
    assert not deployment.pid_file.exists()


def test_invalid_parameter_fails_first_region_and_leaves_the_second_untouched(deployment: Deployment) -> None:
    proc = deployment.run(
        "deploy", "-e", "env=local",
        "-e", json.dumps({"iot_env_stack_parameters": {"ShardCount": 0}}),
    )
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "Stack smartcity-iot-local in us-east-1 failed" in output, explain(proc)
    assert "Parameter 'ShardCount' must be a number not less than 1" in output
    assert "local-eu-west-1" not in recap(proc.stdout)
    assert stacks(deployment, "us-east-1") == []
    assert stacks(deployment, "eu-west-1") == []
    buckets = deployment.client("s3", "eu-west-1").list_buckets()["Buckets"]
    assert [b["Name"] for b in buckets] == ["smartcity-iot-artifacts-123456789012-us-east-1"]


def test_unknown_env_fails_listing_the_known_ones(installed_collection: str, tmp_path: Path) -> None:
    dep = Deployment(reserve_port(), tmp_path, installed_collection)
    proc = dep.run("deploy", "-e", "env=nope")
    assert proc.returncode != 0
    assert "Unknown env 'nope'. Known environments: dev, example-city, local, prod, staging" in proc.stdout + proc.stderr
    assert not dep.pid_file.exists()  # nothing was started


def test_real_env_without_credentials_says_so(installed_collection: str, tmp_path: Path) -> None:
    dep = Deployment(reserve_port(), tmp_path, installed_collection)
    missing = tmp_path / "no-such-aws-config"
    proc = dep.run("deploy", "-e", "env=dev",
                   env={"AWS_CONFIG_FILE": str(missing), "AWS_SHARED_CREDENTIALS_FILE": str(missing)})
    assert proc.returncode != 0
    output = " ".join((proc.stdout + proc.stderr).split())
    assert "env=dev (AWS (dev)) needs working AWS credentials" in output, explain(proc)
    assert "AWS_PROFILE" in output


def test_real_env_teardown_needs_confirmation(installed_collection: str, tmp_path: Path) -> None:
    dep = Deployment(reserve_port(), tmp_path, installed_collection)
    proc = dep.run("teardown", "-e", "env=prod")
    assert proc.returncode != 0
    assert "-e confirm=prod" in proc.stdout + proc.stderr


def test_no_stray_files_in_the_build(installed_collection: str) -> None:
    installed = Path(installed_collection.split(os.pathsep, 1)[0]) / "ansible_collections" / "smartcity" / "iot_analytics"
    names = {p.name for p in installed.rglob("*")}
    assert not names & {".venv", ".collections", ".git", "__pycache__", ".ci"}
    assert {"deploy.yml", "teardown.yml", "iot-analytics-system.yaml", "lambda_handler.py", "runtime.yml"} <= names
