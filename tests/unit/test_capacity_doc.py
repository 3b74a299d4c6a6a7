"""docs/capacity.md is what the capacity plan's own code prints (scripts/capacity_doc.py)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys

from conftest import ROOT


def test_capacity_doc_matches_the_code() -> None:
    printed = subprocess.run([sys.executable, str(ROOT / "scripts" / "capacity_doc.py")], capture_output=True, text=True, check=True).stdout
    assert (ROOT / "docs" / "capacity.md").read_text() == printed, "run scripts/capacity_doc.py --write"
    assert "| default as share of naive |" in printed


def test_check_mode_of_the_script_flags_a_stale_doc(tmp_path, monkeypatch) -> None:
    loader = importlib.machinery.SourceFileLoader("capacity_doc", str(ROOT / "scripts" / "capacity_doc.py"))
    spec = importlib.util.spec_from_loader("capacity_doc", loader)
    script = importlib.util.module_from_spec(spec)
    loader.exec_module(script)
    stale = tmp_path / "capacity.md"
    stale.write_text(script.document().replace("| default as share of naive |", "| default share |"))
    monkeypatch.setattr(script, "DOC", stale)
    monkeypatch.setattr(script, "ROOT", tmp_path)
    assert script.main(["capacity_doc", "--check"]) == 1
    assert script.main(["capacity_doc", "--write"]) == 0
    assert script.main(["capacity_doc", "--check"]) == 0
