"""The execution environment: `ansible-builder create` turns execution-environment/execution-environment.yml into a
build context (no container runtime needed) that holds every dependency and the collection's tarball, the tarball is
installable from where the Containerfile installs it, and `ansible-builder introspect` finds the collection's own
requirements (meta/execution-environment.yml, requirements.txt, bindep.txt) in an installed copy, as it does when the
collection goes into someone else's execution environment. Also collections/requirements.yml, which AWX project sync
installs from the project's root."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

BIN = Path(sys.executable).parent
EE_DIR = ROOT / "execution-environment"
DEFINITION = yaml.safe_load((EE_DIR / "execution-environment.yml").read_text())
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
TARBALL = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result


def requirement_names(lines: list[str]) -> set[str]:
    """Distribution names of pip requirement lines (comments and annotations dropped), lower case."""
    names = set()
    for line in lines:
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            names.add(re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower())
    return names


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The collection's tarball (ansible-galaxy collection build), the EE definition beside it as the README says,
    the build context of `ansible-builder create`, and the tarball installed from the context's _build directory."""
    work = tmp_path_factory.mktemp("ee")
    ee_dir = work / "execution-environment"
    ee_dir.mkdir()
    shutil.copy(EE_DIR / "execution-environment.yml", ee_dir)
    run([str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(ee_dir), str(ROOT)], cwd=work)
    context = work / "context"
    definition = str(ee_dir / "execution-environment.yml")
    run([str(BIN / "ansible-builder"), "create", "-f", definition, "-c", str(context), "--output-filename", "Containerfile"], cwd=work)
    return {"work": work, "ee_dir": ee_dir, "context": context}


def test_the_tarball_named_in_the_definition_is_the_one_the_build_makes(build: dict[str, Path]) -> None:
    galaxy_names = [c["name"] for c in DEFINITION["dependencies"]["galaxy"]["collections"]]
    assert f"collections/{TARBALL}" in galaxy_names, "bump the tarball's version in execution-environment.yml with galaxy.yml's"
    assert (build["ee_dir"] / TARBALL).is_file()


def test_the_build_context_holds_every_dependency(build: dict[str, Path]) -> None:
    context = build["context"]
    containerfile = (context / "Containerfile").read_text()
    # The base image is a build argument with the definition's default; the galaxy stage installs from /build.
    assert f'ARG EE_BASE_IMAGE="{DEFINITION["images"]["base_image"]["name"]}"' in containerfile
    assert "COPY _build /build" in containerfile and "WORKDIR /build" in containerfile
    assert "pip_install" in containerfile and "install-from-bindep" in containerfile
    assert "ansible-core==2.19.14" in containerfile and "ansible-runner==2.4.3" in containerfile
    assert "epel-release" in containerfile

    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    pinned = {c["name"]: c.get("version") for c in galaxy["collections"]}
    assert pinned["amazon.aws"] == "10.1.2"
    assert (context / "_build" / "collections" / TARBALL).is_file()

    python = requirement_names((context / "_build" / "requirements.txt").read_text().splitlines())
    assert {"moto", "aws-lambda-powertools", "orjson"} <= python
    assert "mosquitto" in (context / "_build" / "bindep.txt").read_text()


def test_env_local_python_pins_match_the_toolchain_and_the_lambda() -> None:
    """moto's version is the one roles/local_endpoint's compatibility layer is written for (requirements/dev.in), and
    the processor's packages are files/lambda/requirements.txt's pins: the EE runs env=local with what CI tests."""
    pins = {line.split("#", 1)[0].strip() for line in (ROOT / "requirements" / "dev.in").read_text().splitlines()}
    pins |= {line.strip() for line in (ROOT / "files" / "lambda" / "requirements.txt").read_text().splitlines()}
    for requirement in DEFINITION["dependencies"]["python"]:
        assert requirement in pins, f"{requirement} differs from requirements/dev.in and files/lambda/requirements.txt"


@pytest.fixture(scope="module")
def installed(build: dict[str, Path]) -> Path:
    """The tarball installed as the Containerfile does (from /build, here the context's _build), amazon.aws left out
    (no Galaxy here)."""
    build_dir = build["context"] / "_build"
    galaxy = yaml.safe_load((build_dir / "requirements.yml").read_text())
    only_ours = {"collections": [c for c in galaxy["collections"] if c["name"] != "amazon.aws"]}
    (build_dir / "ours.yml").write_text(yaml.safe_dump(only_ours))
    target = build["work"] / "installed"
    run(
        [str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-r", "ours.yml", "-p", str(target)],
        cwd=build_dir,
        env={"ANSIBLE_COLLECTIONS_PATH": str(target)},
    )
    assert (target / "ansible_collections" / "smartcity" / "iot_analytics" / "MANIFEST.json").is_file()
    return target


def test_introspect_finds_the_collections_requirements(installed: Path) -> None:
    result = run([str(BIN / "ansible-builder"), "introspect", str(installed)], cwd=installed)
    found = yaml.safe_load(result.stdout)
    ours = "smartcity.iot_analytics"
    python = [line for line in found["python"] if line.endswith(f"# from collection {ours}")]
    system = [line for line in found["system"] if line.endswith(f"# from collection {ours}")]
    assert requirement_names(python) == {"boto3", "botocore", "cryptography", "paho-mqtt", "orjson"}
    assert system == [f"mosquitto [local]  # from collection {ours}"]


def test_the_collections_python_requirements_cover_what_its_code_imports() -> None:
    """Every third-party package that the modules, module_utils and the data-plane tools import at the controller is
    in requirements.txt (moto, the stream processor's packages: env=local only, from the EE definition)."""
    import_to_package = {"boto3": "boto3", "botocore": "botocore", "cryptography": "cryptography", "paho": "paho-mqtt", "orjson": "orjson"}
    env_local_only = {"moto", "aws_lambda_powertools", "werkzeug", "flask"}
    stdlib = set(sys.stdlib_module_names)
    first_party = {"ansible", "ansible_collections", "iot_dataplane", "stream_processor", "lambda_handler", "yaml"}
    imported = set()
    for base in ("plugins", "files/dataplane"):
        for path in (ROOT / base).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imported.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    imported.add(node.module.split(".")[0])
    third_party = imported - stdlib - first_party - env_local_only - {"__future__"}
    declared = requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    unknown = third_party - import_to_package.keys()
    assert not unknown, f"imported but not mapped to a requirement: {sorted(unknown)}"
    assert {import_to_package[name] for name in third_party} <= declared


def test_bindep_profiles_keep_mosquitto_out_of_an_aws_only_image() -> None:
    bindep = shutil.which("bindep", path=str(BIN))
    assert bindep
    default = run([bindep, "-l", "newline", "-f", str(ROOT / "bindep.txt")], cwd=ROOT).stdout.split()
    local = subprocess.run([bindep, "-l", "newline", "-f", str(ROOT / "bindep.txt"), "local"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert "mosquitto" not in default
    assert "mosquitto" in local.stdout.split()


def test_project_sync_installs_this_checkout_from_collections_requirements(tmp_path: Path) -> None:
    """AWX runs `ansible-galaxy collection install -r collections/requirements.yml` in the project's root (awx
    playbooks/project_update.yml); the entry "." must install this checkout as smartcity.iot_analytics. amazon.aws
    comes from Galaxy there; offline it is taken as installed from .collections."""
    requirements = yaml.safe_load((ROOT / "collections" / "requirements.yml").read_text())
    assert {"name": "amazon.aws", "version": "10.1.2"} in requirements["collections"]
    target = tmp_path / "requirements_collections"
    others = tmp_path / "others" / "ansible_collections" / "amazon"
    others.mkdir(parents=True)
    (others / "aws").symlink_to(ROOT / ".collections" / "ansible_collections" / "amazon" / "aws")
    result = run(
        [str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "-r", "collections/requirements.yml", "-p", str(target)],
        cwd=ROOT,
        env={"ANSIBLE_COLLECTIONS_PATH": f"{target}{os.pathsep}{tmp_path / 'others'}"},
    )
    installed = target / "ansible_collections" / "smartcity" / "iot_analytics"
    assert (installed / "playbooks" / "deploy.yml").is_file(), result.stdout
    assert not (installed / ".collections").exists() and not (installed / "execution-environment").exists()
