"""The README and the docs/ pages: links that resolve inside the collection, a README that fits on a few screens, and
the fact-bearing tables (template parameters and outputs, the launcher's fixes, the modules and roles) checked
against what they describe."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import moto_compat
import pytest
import yaml

from conftest import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
TEMPLATE = yaml.safe_load((ROOT / "files" / "iot-analytics-system.yaml").read_text())
COLLECTION = "smartcity.iot_analytics"
README_MAX_LINES = 250
# The directory beside the collection that held the project's design notes: outside the collection and the tarball.
OUTSIDE = "sha" + "red/"

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


def prose(text: str) -> str:
    """The text outside fenced code blocks and code spans, where links are links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def links(page: Path) -> list[str]:
    return LINK.findall(prose(page.read_text()))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text, lowercased, punctuation but '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor, repeated headings numbered as GitHub does (-1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def relative_links() -> list[tuple[str, str]]:
    return [(page.relative_to(ROOT).as_posix(), target) for page in PAGES for target in links(page)
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]


@pytest.mark.parametrize(("page", "target"), relative_links())
def test_every_relative_link_resolves_inside_the_collection(page: str, target: str) -> None:
    source = ROOT / page
    path, anchor = [*target.split("#", 1), ""][:2]
    resolved = (source.parent / path).resolve() if path else source
    assert resolved.is_relative_to(ROOT), f"{page}: {target} leaves the collection"
    assert OUTSIDE not in target, f"{page}: {target} points outside the collection"
    assert resolved.exists(), f"{page}: {target}: no such file"
    if anchor:
        assert resolved.suffix == ".md", f"{page}: {target}: an anchor into a file that is not a page"
        assert anchor in anchors(resolved), f"{page}: {target}: no heading with that anchor in {resolved.name}"


def test_the_link_check_sees_links_and_anchors() -> None:
    """The parts of the link check, on text it must get right (a broken check would pass everything)."""
    assert LINK.findall(prose("see [a](docs/x.md#y) and ![pic](p.svg), not `[b](c.md)` or <https://e>")) == ["docs/x.md#y", "p.svg"]
    assert slug("Local data plane (env=local)") == "local-data-plane-envlocal"
    assert slug("Roles, modules and the `aws` action group") == "roles-modules-and-the-aws-action-group"
    assert slug("Runbook: scheduled rotation") == "runbook-scheduled-rotation"
    assert len(relative_links()) > 20


def tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an unpacked collection)
        skip = {".git", ".venv", ".venv-checkov", ".collections", "__pycache__", ".tox"}
        return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    return [ROOT / name for name in listed.decode().split("\0") if name]


def test_no_file_of_the_collection_names_the_directory_outside_it() -> None:
    # The Molecule scenarios' common playbooks ("_" + OUTSIDE) are inside the collection; the directory beside it is not.
    outside = re.compile(r"(?<![\w-])" + re.escape(OUTSIDE))
    naming = []
    for path in tracked_files():
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        naming += [f"{path.relative_to(ROOT)}:{n}" for n, line in enumerate(data.decode(errors="replace").splitlines(), 1)
                   if outside.search(line)]
    assert not naming, f"files that send readers outside the collection: {naming}"


def test_readme_fits_on_a_few_screens() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; at most {README_MAX_LINES}: move the detail into docs/"


def test_readme_links_every_docs_page() -> None:
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in links(README)}
    missing = [p.name for p in DOCS.glob("*.md") if p.resolve() not in linked]
    assert not missing, f"docs pages the README does not link: {missing}"


def table_rows(page: Path, section: str) -> list[str]:
    """The rows (first cell in backticks) of the table under the heading ``section`` of ``page``."""
    text = FENCE.sub("", page.read_text())
    start = re.search(rf"^#+ {re.escape(section)}[ \t]*$", text, re.M)
    assert start, f"{page.name} has no section {section!r}"
    body = text[start.end():]
    end = re.search(r"^#+ ", body, re.M)
    return [line for line in body[:end.start() if end else None].splitlines() if line.startswith("| `")]


def table_names(page: Path, section: str) -> list[str]:
    """First-column names (each in backticks) of the table under the heading ``section`` of ``page``."""
    return [name for row in table_rows(page, section) for name in re.findall(r"`([^`]+)`", row.split("|")[1])]


TEMPLATE_PAGE = DOCS / "template.md"


@pytest.mark.parametrize("name", [*TEMPLATE["Parameters"], *TEMPLATE["Outputs"]])
def test_template_page_has_a_row_for(name: str) -> None:
    assert f"| `{name}` |" in TEMPLATE_PAGE.read_text()


def test_template_page_rows_name_only_what_the_template_declares() -> None:
    assert table_names(TEMPLATE_PAGE, "Parameters") == list(TEMPLATE["Parameters"])
    assert sorted(table_names(TEMPLATE_PAGE, "Outputs")) == sorted(TEMPLATE["Outputs"])


def numbered(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"^(\d+)\. ", text, re.M)]


def test_every_launcher_fix_is_listed_on_the_local_endpoint_page() -> None:
    fixes = sorted(moto_compat.FIXES)
    assert fixes == list(range(1, len(fixes) + 1)) and len(fixes) >= 25, "the package moto_compat numbers its fixes"
    listed = numbered(FENCE.sub("", (DOCS / "local-endpoint.md").read_text()))
    assert listed == fixes, "docs/local-endpoint.md lists each numbered fix of the package moto_compat, in order"


def test_the_local_endpoint_page_says_where_each_fix_lives() -> None:
    """The layout table of docs/local-endpoint.md: each service module of moto_compat with the numbers of its fixes."""
    rows = {}
    for row in table_rows(DOCS / "local-endpoint.md", "Layout"):
        cells = row.split("|")
        name = re.findall(r"`([^`]+)`", cells[1])[0]
        if name.startswith("moto_compat/") and name.endswith(".py") and name.count("/") == 1:
            rows[name.removeprefix("moto_compat/").removesuffix(".py")] = [int(n) for n in re.findall(r"\b\d+\b", cells[2])]
    modules = {}
    for number, fix in moto_compat.FIXES.items():
        modules.setdefault(fix.module.removeprefix("moto_compat."), []).append(number)
    assert {name: numbers for name, numbers in rows.items() if name in modules or numbers} == {k: sorted(v) for k, v in modules.items()}


MODULES_PAGE = DOCS / "modules-and-roles.md"


def ansible_doc(*args: str) -> dict:
    out = subprocess.run(["ansible-doc", "-j", *args], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "ANSIBLE_NOCOLOR": "1"}).stdout
    return json.loads(out)


def test_module_table_names_every_module_and_nothing_else() -> None:
    documented = {name.removeprefix(f"{COLLECTION}.") for name in ansible_doc("-t", "module", "-l", COLLECTION)}
    on_disk = {p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__"}
    assert documented == on_disk, "ansible-doc lists the modules of plugins/modules"
    assert sorted(table_names(MODULES_PAGE, "Modules")) == sorted(on_disk)


def test_role_table_names_every_role_its_entry_points_and_real_variables() -> None:
    listed = ansible_doc("-t", "role", "-l", COLLECTION)
    on_disk = {p.name for p in (ROOT / "roles").iterdir() if p.is_dir()}
    assert {name.removeprefix(f"{COLLECTION}.") for name in listed} == on_disk, "ansible-doc -t role lists every role"
    rows = {row.split("|")[1].strip(" `"): row for row in table_rows(MODULES_PAGE, "Roles")}
    assert sorted(table_names(MODULES_PAGE, "Roles")) == sorted(on_disk)
    specs = ansible_doc("-t", "role", *sorted(listed))
    for role in sorted(on_disk):
        entry_points = specs[f"{COLLECTION}.{role}"]["entry_points"]
        options = {o for e in entry_points.values() for o in e.get("options", {})}
        variables = set(re.findall(rf"`({role}_[a-z0-9_]+)`", rows[role].split("|")[-2]))  # the last cell
        assert variables, f"the row of {role} names its main variables"
        assert variables <= options, f"{role}: variables no entry point of the role declares: {sorted(variables - options)}"
        for entry in entry_points:
            assert f"`{entry}`" in rows[role], f"the row of {role} names its entry point {entry}"


@pytest.mark.parametrize("name", list(TEMPLATE["Parameters"]))
def test_template_page_parameter_row_states_the_template_default_and_bounds(name: str) -> None:
    """The row's default is the template's, and its constraint names the allowed values (short lists) and bounds."""
    spec = TEMPLATE["Parameters"][name]
    [row] = [r for r in table_rows(TEMPLATE_PAGE, "Parameters") if r.startswith(f"| `{name}` |")]
    constraint, default = (cell.strip() for cell in row.split("|")[2:4])
    if "Default" not in spec:
        assert default == "none"
    else:
        assert default.strip('"') == str(spec["Default"]) and (default == '""') == (spec["Default"] == "")
    values = spec.get("AllowedValues", [])
    for value in values if len(values) <= 6 else []:
        assert str(value) in constraint, f"{name}: allowed value {value} not in {constraint!r}"
    for bound in ("MinValue", "MaxValue", "MinLength", "MaxLength"):
        if bound in spec:
            assert str(spec[bound]) in constraint.replace(",", ""), f"{name}: {bound} {spec[bound]} not in {constraint!r}"


def test_environments_table_is_what_the_settings_files_say() -> None:
    """docs/environments.md's sizing table and the README's table hold one row per settings file, with its values."""
    settings = {p.stem: yaml.safe_load(p.read_text()) for p in (ROOT / "playbooks" / "vars" / "environments").glob("*.yml")}
    page = FENCE.sub("", (DOCS / "environments.md").read_text())
    rows = {cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip("|").split("|")] for line in page.splitlines()
                                              if line.startswith("| ")) if cells[0] in settings}
    assert sorted(rows) == sorted(settings), "one row per file in playbooks/vars/environments"
    for env, (regions, *figures) in rows.items():
        spec = settings[env]
        params = spec.get("iot_env_stack_parameters", {})
        wanted = [params.get(k, TEMPLATE["Parameters"][k].get("Default")) for k in ("ShardCount", "StateTtlDays", "LogRetentionDays", "LambdaMemorySize")]
        assert regions == ", ".join(spec["iot_env_regions"]), env
        assert figures == [*(str(v) for v in wanted), f"{spec['iot_env_capacity']['sensors']:,}"], env
    readme_envs = re.findall(r"^\| ([a-z][a-z0-9-]*) \| ([a-z0-9, -]+) \|", README.read_text(), re.M)
    assert {env: regions for env, regions in readme_envs if env != "page"} == {env: ", ".join(s["iot_env_regions"]) for env, s in settings.items()}
