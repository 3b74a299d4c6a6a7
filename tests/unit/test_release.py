"""The collection is releasable: galaxy.yml's version, the plugins' version_added, the changelog and the execution
environment's tarball name agree, and the built tarball installs and runs its playbooks by FQCN (tests/e2e)."""

from __future__ import annotations

import re

import yaml
from ansible.module_utils.compat.version import LooseVersion

from conftest import ROOT

GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
CHANGES = yaml.safe_load((ROOT / "changelogs" / "changelog.yaml").read_text())


def plugins() -> dict[tuple[str, str], str]:
    """(type, name) -> version_added of every module and plugin (modules, lookups, ...)."""
    found = {}
    for path in sorted((ROOT / "plugins").glob("*/*.py")):
        kind = path.parent.name
        if kind in ("module_utils", "doc_fragments") or path.stem == "__init__":
            continue
        text = path.read_text()
        doc = yaml.safe_load(text.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0])
        found[("module" if kind == "modules" else kind, path.stem)] = str(doc["version_added"])
    return found


def released() -> list[str]:
    return sorted(CHANGES.get("releases", {}), key=LooseVersion)


def test_galaxy_version_is_the_last_release_or_the_next_one() -> None:
    version = GALAXY["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    releases = released()
    assert releases, "changelogs/changelog.yaml has a release (antsibull-changelog release)"
    assert LooseVersion(version) >= LooseVersion(releases[-1]), (version, releases[-1])


def test_no_plugin_is_newer_than_the_collection() -> None:
    version = LooseVersion(GALAXY["version"])
    for (kind, name), added in plugins().items():
        assert LooseVersion(added) <= version, f"{kind} {name}: version_added {added} > galaxy.yml's {GALAXY['version']}"


def test_each_released_plugin_is_listed_as_new_in_its_release() -> None:
    """antsibull-changelog lists a plugin under "New Modules"/"New Plugins" of the release that equals its
    version_added; a plugin added after the last release carries the next version (galaxy.yml's)."""
    releases = released()
    listed: dict[tuple[str, str], str] = {}
    for version, release in CHANGES["releases"].items():
        for module in release.get("modules", []):
            listed[("module", module["name"])] = version
        for kind, entries in release.get("plugins", {}).items():
            for plugin in entries:
                listed[(kind, plugin["name"])] = version
    for key, added in plugins().items():
        if added in releases:
            assert listed.get(key) == added, f"{key} (version_added {added}) is not listed as new in release {added}"
        else:
            assert added == GALAXY["version"] and LooseVersion(added) > LooseVersion(releases[-1]), (key, added)


def test_the_changelog_is_generated_from_the_changes_file() -> None:
    text = (ROOT / "CHANGELOG.rst").read_text()
    for version in released():
        assert f"v{version}\n" in text, f"CHANGELOG.rst has no section for {version}: run antsibull-changelog generate"
