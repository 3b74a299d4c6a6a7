"""The data plane's layout (files/dataplane/iot_dataplane): the device side and the probes import no stand-in for AWS,
statically (any import anywhere in their files) and at run time (``smoke --transport iot-data``, the smoke role's
path on AWS, loads no module of ``local_aws``); what the three packages share imports no stand-in either; the
local_data_plane role's code hash covers every subpackage."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

PLANE = ROOT / "files" / "dataplane"
PACKAGE = PLANE / "iot_dataplane"
STAND_INS = "iot_dataplane.local_aws"
SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PLANE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, source: str | None = None) -> set[str]:
    """Every module an import statement of the file (or of ``source`` as if it were that file) names, at top level or
    inside a function, relative ones resolved; ``from X import Y`` counts as X and X.Y (Y may be a submodule)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source, str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def stand_in_imports(path: Path, source: str | None = None) -> list[str]:
    return sorted(m for m in imported_modules(path, source) if m == STAND_INS or m.startswith(STAND_INS + "."))


NOT_STAND_INS = sorted(
    [*(PACKAGE / "devices").glob("*.py"), *(PACKAGE / "probes").glob("*.py"), PACKAGE / "shared.py", PACKAGE / "topics.py", PACKAGE / "__init__.py"]
)


def test_the_three_packages_are_there() -> None:
    assert SUBPACKAGES == ["devices", "local_aws", "probes"]
    assert (PACKAGE / "probes" / "smoke.py").is_file() and (PACKAGE / "devices" / "rotation_agent.py").is_file()


@pytest.mark.parametrize("path", NOT_STAND_INS, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_device_side_the_probes_and_what_they_share_import_no_stand_in(path: Path) -> None:
    assert stand_in_imports(path) == [], f"{path.relative_to(ROOT)} imports the stand-ins for AWS; hand them in from the CLI instead"


@pytest.mark.parametrize(
    "source",
    [
        "from ..local_aws import gate\n",
        "from ..local_aws.local_ca import LocalCA\n",
        "import iot_dataplane.local_aws.local_ca\n",
        "def f():\n    from ..local_aws import local_ca\n",
    ],
)
def test_the_static_check_sees_relative_absolute_and_late_imports(source: str) -> None:
    assert stand_in_imports(PACKAGE / "probes" / "smoke.py", source)


def test_the_static_check_lets_the_probes_import_the_device_side() -> None:
    assert not stand_in_imports(PACKAGE / "probes" / "smoke.py", "from ..devices import simulator\nfrom ..shared import LOG\n")


# A fresh interpreter runs the CLI's smoke command as the smoke role does on AWS (--transport iot-data), with AWS
# replaced by a stand-in client that answers the stack's outputs, the IoT endpoint and the publishes; it prints the
# data plane's modules that got loaded and what the fake AWS saw.
SMOKE_ON_AWS = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from iot_dataplane import shared

calls = []

class FakeAws:
    def __init__(self, service):
        self.service = service

    def __getattr__(self, name):
        def call(**kwargs):
            calls.append(f"{self.service}.{name}")
            if name == "describe_stacks":
                outputs = {"TableName": "t", "AlertProbeQueueUrl": "q1", "QuarantineQueueUrl": "q2", "TopicRuleName": "r"}
                return {"Stacks": [{"Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]}]}
            if name == "describe_endpoint":
                return {"endpointAddress": "example-ats.iot.us-east-1.amazonaws.com"}
            return {}
        return call

shared.aws_client = lambda service, region, endpoint_url, retries=2: FakeAws(service)
from iot_dataplane import cli
code = cli.main(sys.argv[2:])
print(json.dumps({"code": code, "calls": sorted(set(calls)), "publishes": calls.count("iot-data.publish"),
                  "modules": sorted(m for m in sys.modules if m.startswith("iot_dataplane"))}))
"""


def run_smoke(*argv: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SMOKE_ON_AWS, str(PLANE), *argv], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_smoke_probe_on_aws_loads_no_stand_in() -> None:
    seen = run_smoke("smoke", "--region", "us-east-1", "--stack-name", "s", "--transport", "iot-data", "--basic-ingest", "--timeout", "0.2")
    assert seen["code"] == 1  # the fake AWS stores nothing: the probe reports what is missing
    assert {"cloudformation.describe_stacks", "iot.describe_endpoint", "iot-data.publish", "dynamodb.query"} <= set(seen["calls"])
    assert seen["publishes"] >= 6
    assert {"iot_dataplane.probes.commands", "iot_dataplane.probes.smoke", "iot_dataplane.devices.simulator"} <= set(seen["modules"])
    assert [m for m in seen["modules"] if m.startswith(STAND_INS)] == []


def test_the_smoke_probe_over_local_mqtt_does_load_the_stand_ins(tmp_path: Path) -> None:
    """The contrast: the mqtt transport without a key store gets the local CA's identity, so the check above can see
    stand-in modules when they are loaded (the local CA does not exist: the command fails, exit 2)."""
    seen = run_smoke("smoke", "--region", "us-east-1", "--stack-name", "s", "--mqtt-port", "1", "--pki-dir", str(tmp_path / "pki"), "--timeout", "0.2")
    assert seen["code"] == 2
    assert {"iot_dataplane.local_aws.local_ca", "iot_dataplane.local_aws.gate"} <= set(seen["modules"])


@pytest.mark.parametrize(("command", "package"), [(["gate", "--help"], "local_aws"), (["simulate", "--help"], "devices"), (["smoke", "--help"], "probes")])
def test_the_parser_loads_no_subcommand_package(command: list[str], package: str) -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from iot_dataplane import cli; cli.parser(); "
        "print(sorted(m for m in sys.modules if m.startswith('iot_dataplane')))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(PLANE)], capture_output=True, text=True, timeout=60, check=True)
    loaded = out.stdout.strip()
    assert "iot_dataplane.local_aws" not in loaded and "iot_dataplane.probes" not in loaded and "iot_dataplane.devices." not in loaded, loaded
    help_text = subprocess.run([sys.executable, str(PLANE / "dataplane.py"), *command], capture_output=True, text=True, timeout=60, check=True).stdout
    assert help_text.startswith(f"usage: iot-dataplane {command[0]}"), package


def test_the_cli_vocabulary_matches_the_device_code() -> None:
    sys.path.insert(0, str(PLANE))
    from iot_dataplane import devices  # pylint: disable=import-outside-toplevel,import-error
    from iot_dataplane.devices import simulator  # pylint: disable=import-outside-toplevel,import-error

    assert sorted(devices.MALFORMED) == sorted(simulator.MALFORMED_KINDS)


def test_no_data_plane_module_shares_a_name_with_a_controller_module() -> None:
    controller = {p.stem for p in (ROOT / "plugins" / "module_utils").glob("*.py")}
    controller |= {stem.removeprefix("iot_") for stem in controller}
    plane = {p.stem for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert plane & controller == set()


def test_the_local_data_plane_role_hashes_every_subpackage() -> None:
    tasks = (ROOT / "roles" / "local_data_plane" / "tasks" / "main.yml").read_text()
    listed = re.search(r"\*\(\[''((?:, '/\w+')*)\]", tasks)
    assert listed, "the role's list of the package's folders"
    assert sorted(re.findall(r"'/(\w+)'", listed.group(1))) == SUBPACKAGES
