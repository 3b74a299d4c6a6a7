"""docs/architecture.svg: rendered from docs/architecture.dot, and naming what the template and the data plane's roles run.

The picture's AWS side must name every AWS service whose resource types the template declares (and no service the
template has dropped); its env=local side must name every process that roles/local_data_plane and
roles/local_endpoint start, each with a "stands in for" edge to the AWS part it replaces. A node declares what it
shows with SVG classes in the source: ``svc-<Service>`` (the ``AWS::<Service>::*`` prefix) and ``proc-<name>`` (the
``<name>.pid`` the role writes); the label must then also name it, so that a reader sees it.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

TEMPLATE = ROOT / "files" / "iot-analytics-system.yaml"
LOCAL_ROLES = (ROOT / "roles" / "local_data_plane", ROOT / "roles" / "local_endpoint")

# The name the picture uses for each AWS::<Service>:: prefix. A prefix the template gains that is missing here fails
# test_picture_names_every_service_of_the_template: draw the service, then add it.
SERVICE_NAMES = {
    "Athena": "Athena",
    "CloudWatch": "CloudWatch",
    "DynamoDB": "DynamoDB",
    "Events": "EventBridge",
    "Glue": "Glue",
    "IAM": "IAM",
    "IoT": "IoT",
    "KMS": "KMS",
    "Kinesis": "Kinesis",
    "KinesisFirehose": "Firehose",
    "Lambda": "Lambda",
    "Logs": "CloudWatch Logs",
    "S3": "S3",
    "SNS": "SNS",
    "SQS": "SQS",
    "Scheduler": "Scheduler",
    "StepFunctions": "Step Functions",
}
# Services the collection deploys outside the template, with the role that does it.
OUTSIDE_TEMPLATE = {"QuickSight": ("QuickSight", ROOT / "roles" / "quicksight")}
# The name the picture uses for each local process (the stem of its pid file).
PROCESS_NAMES = {"view": "live view", "moto": "moto", "mosquitto": "Mosquitto", "gate": "gate", "bridge": "bridge", "poller": "poller"}

_loader = importlib.machinery.SourceFileLoader("architecture_svg", str(ROOT / "scripts" / "architecture_svg.py"))
_spec = importlib.util.spec_from_loader("architecture_svg", _loader)
script = importlib.util.module_from_spec(_spec)
_loader.exec_module(script)


@dataclass(frozen=True)
class Part:
    """A node or cluster of the picture: its id (dot name), its SVG classes and its label's text."""

    kind: str
    ident: str
    classes: frozenset[str]
    text: str


@dataclass(frozen=True)
class Picture:
    parts: dict[str, Part]
    edges: list[tuple[str, str, frozenset[str]]]

    def tagged(self, prefix: str) -> dict[str, list[Part]]:
        """Tag (after prefix) -> the parts that carry the class prefix + tag."""
        found: dict[str, list[Part]] = {}
        for part in self.parts.values():
            for cls in part.classes:
                if cls.startswith(prefix):
                    found.setdefault(cls[len(prefix):], []).append(part)
        return found


def read_picture(svg: str) -> Picture:
    parts, edges = {}, []
    for group in ET.fromstring(svg).iter(f"{script.NS}g"):
        classes = group.get("class", "").split()
        if not classes or classes[0] not in script.KINDS or classes[0] == "graph":
            continue
        title = group.findtext(f"{script.NS}title", default="")
        if classes[0] == "edge":
            tail, head = title.split("->")
            edges.append((tail, head, frozenset(classes[1:])))
        else:
            text = " ".join((t.text or "").strip() for t in group.iter(f"{script.NS}text"))
            parts[title] = Part(classes[0], title, frozenset(classes[1:]), text)
    return Picture(parts, edges)


def template_services(template_text: str) -> set[str]:
    resources = yaml.safe_load(template_text)["Resources"]
    return {body["Type"].split("::")[1] for body in resources.values() if body["Type"].startswith("AWS::")}


def local_processes(roles: tuple[Path, ...]) -> set[str]:
    """The processes the roles start: each one's local_process task has a pid_file <dir>/<name>.pid."""
    names = set()
    for role in roles:
        for tasks in sorted((role / "tasks").glob("*.yml")):
            names |= set(re.findall(r"pid_file:\s*\"?[^\n\"]*/([\w-]+)\.pid\"?\s*$", tasks.read_text(), flags=re.MULTILINE))
    return names


def service_problems(picture: Picture, services: set[str]) -> list[str]:
    """What keeps the picture's AWS side from naming exactly the template's services (and those deployed beside it)."""
    problems = [f"the template declares AWS::{s}::* and SERVICE_NAMES has no name for it: draw it, then add it" for s in sorted(services - set(SERVICE_NAMES))]
    drawn = picture.tagged("svc-")
    for service in sorted(services & set(SERVICE_NAMES)):
        name = SERVICE_NAMES[service]
        if service not in drawn:
            problems.append(f"the template declares AWS::{service}::* and no node of the picture has class svc-{service}")
        for part in drawn.get(service, []):
            if name.lower() not in part.text.lower():
                problems.append(f"{part.ident} has class svc-{service} and its label does not say {name!r}: {part.text!r}")
    for service in sorted(set(drawn) - services):
        if service in OUTSIDE_TEMPLATE:
            continue
        problems.append(f"the picture shows svc-{service} ({[p.ident for p in drawn[service]]}) and the template declares no AWS::{service}::*")
    for part in (p for parts in drawn.values() for p in parts):
        if not part.ident.startswith("aws_"):
            problems.append(f"{part.ident} names an AWS service and is not on the AWS side (aws_*)")
    return problems


def process_problems(picture: Picture, processes: set[str]) -> list[str]:
    """What keeps the env=local side from naming exactly the roles' processes, each standing in for an AWS part."""
    problems = []
    drawn = picture.tagged("proc-")
    for name in sorted(processes - set(drawn)):
        problems.append(f"a local role starts {name!r} ({name}.pid) and no node or cluster of the picture has class proc-{name}")
    for name in sorted(set(drawn) - processes):
        problems.append(f"the picture shows proc-{name} and no role of {[r.name for r in LOCAL_ROLES]} starts it")
    standins = [(tail, head) for tail, head, classes in picture.edges if "standin" in classes]
    for name, parts in sorted(drawn.items()):
        for part in parts:
            label = PROCESS_NAMES.get(name, name)
            if label.lower() not in part.text.lower():
                problems.append(f"{part.ident} has class proc-{name} and its label does not say {label!r}: {part.text!r}")
            # a cluster (moto) stands in through its nodes, which are named local_<name>_*
            tails = {edge[0] for edge in standins}
            own = {part.ident} if part.kind == "node" else {tail for tail in tails if tail.startswith(f"local_{name}_")}
            if not own & tails:
                problems.append(f"{part.ident} (proc-{name}) has no dashed 'stands in for' edge (class standin) to an AWS part")
    for tail, head in standins:
        if not (tail.startswith("local_") and head.startswith("aws_")):
            problems.append(f"the stand-in edge {tail} -> {head} must go from a local_* node to an aws_* node")
    return problems


@pytest.fixture(scope="module")
def picture() -> Picture:
    return read_picture(script.SVG.read_text())


def test_svg_is_what_the_source_renders() -> None:
    """A stale docs/architecture.svg fails here (and in scripts/test's own step)."""
    try:
        fresh = script.render(script.SOURCE)
    except script.RenderError as exc:
        pytest.fail(str(exc))
    assert script.differences(script.SVG.read_text(), fresh) == [], "run .venv/bin/python scripts/architecture_svg.py --write"


def test_picture_names_every_service_of_the_template(picture: Picture) -> None:
    services = template_services(TEMPLATE.read_text())
    assert services >= {"IoT", "Kinesis", "Lambda", "DynamoDB", "Events"}, "the template's resource types were not read"
    assert service_problems(picture, services) == []


def test_services_deployed_beside_the_template_are_deployed_by_their_role(picture: Picture) -> None:
    drawn = picture.tagged("svc-")
    for service, (name, role) in OUTSIDE_TEMPLATE.items():
        tasks = "".join(p.read_text() for p in (role / "tasks").glob("*.yml"))
        assert f"smartcity.iot_analytics.{service.lower()}_" in tasks, f"{role.name} no longer deploys {service}: take it off the picture"
        assert service in drawn and all(name in p.text for p in drawn[service])


def test_picture_names_every_local_stand_in(picture: Picture) -> None:
    processes = local_processes(LOCAL_ROLES)
    assert {"mosquitto", "gate", "bridge", "poller", "moto"} <= processes, f"the roles' processes were not read: {processes}"
    assert process_problems(picture, processes) == []


def test_a_service_the_template_gains_fails(picture: Picture) -> None:
    text = TEMPLATE.read_text().replace("\nResources:\n", "\nResources:\n  Api:\n    Type: AWS::ApiGateway::RestApi\n", 1)
    problems = service_problems(picture, template_services(text))
    assert any("AWS::ApiGateway::*" in p for p in problems), problems


def test_a_service_the_template_drops_fails(picture: Picture) -> None:
    services = template_services(TEMPLATE.read_text()) - {"StepFunctions"}
    assert any("svc-StepFunctions" in p and "declares no" in p for p in service_problems(picture, services))


def test_a_process_the_roles_gain_or_drop_fails(picture: Picture) -> None:
    processes = local_processes(LOCAL_ROLES)
    assert any("'shadowd'" in p for p in process_problems(picture, processes | {"shadowd"}))
    assert any("proc-poller" in p for p in process_problems(picture, processes - {"poller"}))


def test_a_stand_in_without_its_edge_fails(picture: Picture) -> None:
    edges = [edge for edge in picture.edges if edge[:2] != ("local_poller", "aws_lambda")]
    problems = process_problems(Picture(picture.parts, edges), local_processes(LOCAL_ROLES))
    assert problems == ["local_poller (proc-poller) has no dashed 'stands in for' edge (class standin) to an AWS part"]


def test_a_label_that_does_not_name_its_service_fails(picture: Picture) -> None:
    parts = dict(picture.parts)
    parts["aws_kinesis"] = Part("node", "aws_kinesis", frozenset({"svc-Kinesis"}), "Data Streams")
    problems = service_problems(Picture(parts, picture.edges), template_services(TEMPLATE.read_text()))
    assert any("aws_kinesis" in p and "'Kinesis'" in p for p in problems), problems


def test_check_mode_of_the_script_flags_a_stale_svg(tmp_path, monkeypatch) -> None:
    try:
        fresh = script.render(script.SOURCE)
    except script.RenderError as exc:
        pytest.fail(str(exc))
    stale = tmp_path / "architecture.svg"
    stale.write_text(fresh.replace(">Kinesis Data Streams<", ">Kinesis<"))
    monkeypatch.setattr(script, "SVG", stale)
    monkeypatch.setattr(script, "ROOT", tmp_path.parent)
    assert script.main(["architecture_svg", "--check"]) == 1
    assert script.main(["architecture_svg", "--write"]) == 0
    assert script.main(["architecture_svg", "--check"]) == 0
