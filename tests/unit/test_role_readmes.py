"""The roles' READMEs (roles/<role>/README.md): one per role; a variable table that names only options of the role's
argument spec, with the spec's defaults, and leaves the shared aws_* variables to the aws_connection lookup; example
playbooks that pass ansible-playbook --syntax-check and call the collection's roles and modules by FQCN with options
the roles declare; relative links that resolve inside the collection."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_docs import anchors, links, table_rows

from conftest import COLLECTIONS, ROOT

COLLECTION = "smartcity.iot_analytics"
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())
README_MAX_LINES = 130
VARIABLES_SECTION = "Role variables"
# The variables every AWS role shares; documented once, in the lookup smartcity.iot_analytics.aws_connection.
AWS_VARIABLES = ("aws_region", "aws_endpoint_url", "aws_access_key", "aws_secret_key", "aws_session_token", "aws_profile")
YAML_BLOCK = re.compile(r"^```ya?ml[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
MARKUP = re.compile(r"\b[VCOIEBM]\(([^()]*)\)")  # ansible-doc markup: V(value), C(code), O(option), ...
# ansible-core's task keywords, read in a child process: importing the controller's code (ansible.playbook) here would
# mark this whole test process as a controller, and module tests that run later in it would lose their warnings.
TASK_KEYWORDS = set(subprocess.run(
    [sys.executable, "-c", "from ansible.playbook.task import Task; print(' '.join(Task.fattributes))"],
    capture_output=True, text=True, check=True).stdout.split()) | {"block", "rescue", "always"}
ROLE_ACTIONS = {"ansible.builtin.include_role", "ansible.builtin.import_role"}


def readme(role: str) -> Path:
    return ROOT / "roles" / role / "README.md"


def options(role: str) -> dict[str, dict]:
    """Every option of every entry point of the role's meta/argument_specs.yml."""
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return {name: spec for entry in specs.values() for name, spec in (entry.get("options") or {}).items()}


def variable_rows(role: str) -> dict[str, str]:
    """Variable name -> the default cell, from the README's variable table (name | default | meaning)."""
    rows = {}
    for row in table_rows(readme(role), VARIABLES_SECTION):
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        assert len(cells) == 3, f"{role}/README.md: a variable row has the columns variable, default, meaning: {row}"
        rows[cells[0].strip("`")] = cells[1]
    return rows


def plays(role: str) -> list[dict]:
    """The plays of the README's yaml blocks (a block that is a list of mappings with hosts)."""
    found = []
    for block in YAML_BLOCK.findall(readme(role).read_text()):
        data = yaml.safe_load(block)
        if isinstance(data, list) and data and all(isinstance(p, dict) and "hosts" in p for p in data):
            found += data
    return found


def tasks_of(play: dict) -> list[dict]:
    """Every task of a play, blocks opened."""
    out: list[dict] = []
    pending = [t for key in ("pre_tasks", "tasks", "post_tasks", "handlers") for t in play.get(key) or []]
    while pending:
        task = pending.pop(0)
        out.append(task)
        pending += [t for key in ("block", "rescue", "always") for t in task.get(key) or []]
    return out


def role_calls(play: dict) -> list[tuple[str, dict]]:
    """(role name, its vars and the play's) for each role a play applies, in roles: or by include/import_role."""
    calls = []
    for entry in play.get("roles") or []:
        name = entry if isinstance(entry, str) else entry.get("role", entry.get("name"))
        calls.append((name, {} if isinstance(entry, str) else entry.get("vars") or {}))
    for task in tasks_of(play):
        for action in ROLE_ACTIONS & set(task):
            calls.append((task[action]["name"], task.get("vars") or {}))
    return calls


@pytest.mark.parametrize("role", ROLES)
def test_every_role_has_a_readme_that_names_it_and_its_manual(role: str) -> None:
    assert readme(role).is_file(), f"roles/{role} has no README.md"
    text = readme(role).read_text()
    assert text.startswith(f"# {COLLECTION}.{role}\n"), f"{role}/README.md starts with the role's full name as its title"
    assert f"ansible-doc -t role {COLLECTION}.{role}" in text, f"{role}/README.md points to ansible-doc for every option"
    for section in ("Requirements", VARIABLES_SECTION, "AWS access", "Facts it sets", "Check mode and idempotence",
                    "Example playbook", "See also", "License", "Author"):
        assert re.search(rf"^## {section}$", text, re.M), f"{role}/README.md has no section {section!r}"
    assert "GNU General Public License v3.0 or later" in text
    lines = len(text.splitlines())
    assert lines <= README_MAX_LINES, f"{role}/README.md has {lines} lines; at most {README_MAX_LINES}"


def test_every_readme_is_of_a_role() -> None:
    """No README left behind by a renamed or removed role."""
    assert sorted(p.parent.name for p in (ROOT / "roles").glob("*/README.md")) == ROLES


@pytest.mark.parametrize("role", ROLES)
def test_variable_table_names_options_of_the_role_with_their_defaults(role: str) -> None:
    declared = options(role)
    rows = variable_rows(role)
    assert rows, f"{role}/README.md: the table under '{VARIABLES_SECTION}' names the role's main variables"
    shared = sorted(name for name in rows if name.startswith("aws_"))
    assert not shared, f"{role}/README.md lists {shared}: the aws_* variables are documented in the aws_connection lookup"
    unknown = sorted(set(rows) - set(declared))
    assert not unknown, f"{role}/README.md: variables that meta/argument_specs.yml does not declare: {unknown}"
    required = sorted(name for name, spec in declared.items() if spec.get("required"))
    assert set(required) <= set(rows), f"{role}/README.md: the table lists every required variable: {required}"
    for name, cell in rows.items():
        spec = declared[name]
        if spec.get("required"):
            assert cell == "required", f"{role}/README.md: {name} is required, not {cell!r}"
        elif "default" not in spec:
            assert cell == "unset", f"{role}/README.md: {name} has no default (unset), not {cell!r}"
        elif isinstance(spec["default"], str) and re.search(r"\s|[VCO]\(", spec["default"]):
            # a default the spec states in words: the README says the same, code spans for the markup
            assert cell.replace("`", "") == MARKUP.sub(r"\1", spec["default"]), f"{role}/README.md: default of {name}"
        else:
            literal = re.fullmatch(r"`([^`]*)`", cell)
            assert literal, f"{role}/README.md: the default of {name} is one code span: {cell!r}"
            value = yaml.safe_load(literal.group(1))
            assert value == spec["default"] or literal.group(1) == str(spec["default"]), (
                f"{role}/README.md: {name} defaults to {spec['default']!r} in meta/argument_specs.yml, not {cell}")


@pytest.mark.parametrize("role", ROLES)
def test_aws_variables_are_left_to_the_lookup(role: str) -> None:
    """The README points to the lookup that documents the shared aws_* variables and does not list them again."""
    prose = FENCE.sub("", readme(role).read_text())
    assert f"{COLLECTION}.aws_connection" in prose, f"{role}/README.md points to the lookup {COLLECTION}.aws_connection"
    named = {name for name in AWS_VARIABLES if re.search(rf"\b{name}\b", prose)}
    assert len(named) <= 2, f"{role}/README.md names {sorted(named)}: say 'the aws_* variables' and point to the lookup"


@pytest.mark.parametrize("role", ROLES)
def test_examples_use_the_collection_by_fqcn_with_declared_variables(role: str) -> None:
    examples = plays(role)
    assert examples, f"{role}/README.md has no example playbook (a ```yaml block of plays)"
    called = []
    for play in examples:
        for task in tasks_of(play):
            actions = [key for key in task if key not in TASK_KEYWORDS]
            assert len(actions) <= 1 and all(a.count(".") >= 2 for a in actions), (
                f"{role}/README.md: a task calls {actions}, not one module by its full name ({task.get('name')!r})")
        for name, variables in role_calls(play):
            short = name.removeprefix(f"{COLLECTION}.")
            assert name == f"{COLLECTION}.{short}" and short in ROLES, f"{role}/README.md: {name} is no role of {COLLECTION}"
            declared = options(short)
            own = [v for v in {**(play.get("vars") or {}), **variables} if v.startswith(f"{short}_")]
            unknown = sorted(v for v in own if v not in declared)
            assert not unknown, f"{role}/README.md: the example gives {short} variables it does not declare: {unknown}"
            called.append(short)
    assert role in called, f"{role}/README.md: no example applies the role itself"


def test_every_example_passes_syntax_check(tmp_path: Path) -> None:
    """All examples in one ansible-playbook --syntax-check run: one playbook per README, imported by one main file."""
    main = []
    for role in ROLES:
        (tmp_path / f"{role}.yml").write_text(yaml.safe_dump(plays(role), sort_keys=False))
        main.append({"name": f"The examples of {role}/README.md", "ansible.builtin.import_playbook": f"{role}.yml"})
    (tmp_path / "main.yml").write_text(yaml.safe_dump(main, sort_keys=False))
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false"}
    run = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check", "-i", "localhost,",
                          "main.yml"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, f"ansible-playbook --syntax-check failed:\n{run.stdout}\n{run.stderr}"


def readme_links() -> list[tuple[str, str]]:
    return [(role, target) for role in ROLES if readme(role).is_file() for target in links(readme(role))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]


@pytest.mark.parametrize(("role", "target"), readme_links())
def test_every_relative_link_resolves(role: str, target: str) -> None:
    source = readme(role)
    path, anchor = [*target.split("#", 1), ""][:2]
    resolved = (source.parent / path).resolve() if path else source
    assert resolved.is_relative_to(ROOT), f"{role}/README.md: {target} leaves the collection"
    assert resolved.exists(), f"{role}/README.md: {target}: no such file"
    if anchor:
        assert resolved.suffix == ".md", f"{role}/README.md: {target}: an anchor into a file that is not a page"
        assert anchor in anchors(resolved), f"{role}/README.md: {target}: no heading with that anchor in {resolved.name}"


@pytest.mark.parametrize("role", ROLES)
def test_readme_links_a_docs_page_and_the_license(role: str) -> None:
    targets = {target.partition("#")[0] for target in links(readme(role))}
    assert any(t.startswith("../../docs/") and t.endswith(".md") for t in targets), f"{role}/README.md links no docs/ page"
    assert "../../COPYING" in targets, f"{role}/README.md links the license, ../../COPYING"


def test_the_checks_see_tables_examples_and_links() -> None:
    """The parsers on text they must get right (a broken parser would pass everything)."""
    assert MARKUP.sub(r"\1", "V(own_ca) when C(aws_endpoint_url) is set") == "own_ca when aws_endpoint_url is set"
    play: dict[str, Any] = {"hosts": "all", "roles": [{"role": "a.b.c", "vars": {"c_x": 1}}],
                            "tasks": [{"block": [{"ansible.builtin.include_role": {"name": "a.b.d"}, "vars": {"d_y": 2}}]}]}
    assert role_calls(play) == [("a.b.c", {"c_x": 1}), ("a.b.d", {"d_y": 2})]
    assert sum(len(plays(role)) for role in ROLES) >= len(ROLES)
    assert sum(len(variable_rows(role)) for role in ROLES) >= 5 * len(ROLES)
    assert len(readme_links()) >= 3 * len(ROLES)
