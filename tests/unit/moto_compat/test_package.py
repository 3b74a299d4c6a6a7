"""The package moto_compat itself: the moto version it was reviewed against, its numbered fixes, and apply() as the only
way it changes moto."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys

import moto
import moto_compat
import pytest

from conftest import LAUNCHER, MOTO_COMPAT_DIR, ROOT

PACKAGE = MOTO_COMPAT_DIR / "moto_compat"


def test_the_pinned_moto_is_the_one_requirements_install() -> None:
    """Bumping moto in requirements/dev.txt without reviewing the fixes (and bumping MOTO_VERSION) fails here."""
    pins = re.findall(r"^moto==(\S+)", (ROOT / "requirements" / "dev.txt").read_text(), re.M)
    assert pins == [moto_compat.MOTO_VERSION], "requirements/dev.txt pins the moto the fixes were reviewed against (moto_compat.MOTO_VERSION)"
    assert re.findall(r"^moto\[server\]==(\S+)", (ROOT / "requirements" / "dev.in").read_text(), re.M) == [moto_compat.MOTO_VERSION]


def test_the_installed_moto_is_the_pinned_one() -> None:
    assert moto.__version__ == moto_compat.MOTO_VERSION


def test_apply_refuses_another_moto_before_changing_anything(monkeypatch) -> None:
    monkeypatch.setattr(moto, "__version__", "5.3.0")
    monkeypatch.setattr(moto_compat, "FIXES", {})  # had apply() gone on, it would have found nothing to apply
    with pytest.raises(moto_compat.MotoVersionError) as error:
        moto_compat.apply()
    message = str(error.value)
    assert f"reviewed against moto {moto_compat.MOTO_VERSION}" in message and "moto 5.3.0 is installed" in message
    assert "review each fix against moto 5.3.0" in message and f"moto[server]=={moto_compat.MOTO_VERSION}" in message
    assert "MOTO_VERSION" in message


def fix_numbers_in_the_source() -> list[int]:
    """Every @fix(N) decorator in the package's modules."""
    numbers = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                numbers += [d.args[0].value for d in node.decorator_list
                            if isinstance(d, ast.Call) and getattr(d.func, "id", None) == "fix"]
    return numbers


def test_every_fix_number_is_registered_once_in_its_services_module() -> None:
    numbers = fix_numbers_in_the_source()
    assert sorted(numbers) == list(range(1, len(numbers) + 1)) and len(numbers) >= 25, "fixes are numbered 1..N, each once"
    assert sorted(moto_compat.FIXES) == sorted(numbers)
    modules = {f"moto_compat.{service}" for service in moto_compat.SERVICES}
    assert {f.module for f in moto_compat.FIXES.values()} == modules, "each service module of SERVICES holds fixes, and only they do"
    assert {p.stem for p in PACKAGE.glob("*.py")} == {*moto_compat.SERVICES, "__init__", "registry"}


@pytest.mark.parametrize("number", sorted(moto_compat.FIXES))
def test_each_fix_says_what_moto_does_what_aws_does_and_what_it_does(number: int) -> None:
    doc = moto_compat.FIXES[number].function.__doc__ or ""
    assert moto_compat.FIXES[number].title, f"fix {number}: a one-line title"
    for part in ("\n    moto: ", "\n    AWS: ", "\n    Fix: "):
        assert part in doc, f"fix {number}'s docstring has no {part.strip()!r} paragraph"


def test_registering_a_number_twice_fails() -> None:
    from moto_compat import registry  # pylint: disable=import-outside-toplevel

    with pytest.raises(ValueError, match="fix 1 is registered twice"):
        registry.fix(1)(lambda: None)
    assert moto_compat.FIXES[1].function.__name__ == "change_sets_default_to_update"


# Run in a fresh interpreter: this worker may have applied the fixes already (moto_compat_applied).
IMPORT_THEN_APPLY = r"""
import json, sys
sys.path.append(sys.argv[1])
import moto.cloudformation.parsing as parsing

def compat_code():
    # moto's attributes (module level and class level) that hold this package's code
    found = set()
    for name, module in list(sys.modules.items()):
        if not name.startswith("moto.") or module is None:
            continue
        for owner in [module, *[v for v in vars(module).values() if isinstance(v, type) and v.__module__.startswith("moto.")]]:
            for attr, value in list(vars(owner).items()):
                value = getattr(value, "__func__", getattr(value, "fget", value))
                if str(getattr(value, "__module__", "")).startswith("moto_compat"):
                    found.add(f"{getattr(owner, '__name__', owner)}.{attr}")
    return sorted(found)

import moto_compat
from moto.quicksight.exceptions import ResourceNotFoundException
from moto.quicksight.urls import url_paths
before = {"code": compat_code(), "quicksight_404": ResourceNotFoundException.code, "quicksight_paths": len(url_paths),
          "glue_model": "AWS::Glue::Database" in parsing.get_model_map(),
          "applied": [n for n, f in moto_compat.FIXES.items() if f.applied]}
applied = moto_compat.apply()
chains = {}
for number in applied:
    for change in moto_compat.FIXES[number].changes:
        chains.setdefault(change.where, []).append((number, change))
after = {"applied": applied, "code": compat_code(), "quicksight_404": ResourceNotFoundException.code,
         "glue_model": "AWS::Glue::Database" in parsing.get_model_map(),
         "changes": {n: len(f.changes) for n, f in moto_compat.FIXES.items()},
         "originals_of_compat": [w for w, chain in chains.items()
                                 if str(getattr(getattr(chain[0][1].original, "__func__", chain[0][1].original), "__module__", "")).startswith("moto_compat")],
         "not_in_place": [w for w, chain in chains.items() if not chain[-1][1].in_place()],
         "wrapped": {w: [n for n, _c in chain] for w, chain in chains.items() if len(chain) > 1},
         "broken_wraps": [w for w, chain in chains.items() if any(a[1].value is not b[1].original for a, b in zip(chain, chain[1:]))]}
again = moto_compat.apply()
after["again"] = again
after["changes_again"] = {n: len(f.changes) for n, f in moto_compat.FIXES.items()}
print(json.dumps({"before": before, "after": after}))
"""


@pytest.fixture(scope="module")
def fresh() -> dict:
    out = subprocess.run([sys.executable, "-c", IMPORT_THEN_APPLY, str(MOTO_COMPAT_DIR)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_importing_the_package_changes_nothing_in_moto(fresh) -> None:
    before = fresh["before"]
    assert before["code"] == [], "moto holds moto_compat's code before apply()"
    assert (before["quicksight_404"], before["glue_model"], before["applied"]) == (400, False, [])


def test_apply_applies_every_fix_once_in_number_order(fresh) -> None:
    after = fresh["after"]
    assert after["applied"] == list(range(1, len(moto_compat.FIXES) + 1))
    assert all(count > 0 for count in after["changes"].values()), "each fix changed moto"
    assert after["code"], "moto holds moto_compat's code after apply()"
    assert (after["quicksight_404"], after["glue_model"]) == (404, True)
    assert after["originals_of_compat"] == [], "what a fix replaced was moto's own at import (nothing was patched before apply())"
    assert after["not_in_place"] == [] and after["broken_wraps"] == []
    # a later fix that replaces an earlier fix's change wraps it (the chain is intact above)
    assert after["wrapped"] == {
        "moto.cloudformation.responses.CloudFormationResponse.create_change_set": [1, 2, 4],
        "moto.quicksight.responses.QuickSightResponse.create_dashboard": [19, 20],
        "moto.quicksight.responses.QuickSightResponse.create_data_set": [19, 20],
        "moto.quicksight.responses.QuickSightResponse.update_data_set": [19, 20],
    }
    assert after["again"] == after["applied"] and after["changes_again"] == after["changes"], "a second apply() changes nothing"


def test_the_launcher_refuses_another_moto_with_the_message() -> None:
    # as `python moto_server_compat.py -p 1` runs it (its directory first on sys.path), with another moto's version
    run = ("import os, runpy, sys, moto; moto.__version__ = '5.3.0'; sys.argv = [sys.argv[1], '-p', '1']; "
           "sys.path.insert(0, os.path.dirname(sys.argv[0])); runpy.run_path(sys.argv[0], run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", run, str(LAUNCHER)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert f"were reviewed against moto {moto_compat.MOTO_VERSION}, but moto 5.3.0 is installed" in done.stderr
