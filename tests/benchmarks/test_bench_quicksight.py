"""The QuickSight benchmark's command: both runs complete, the re-run changes nothing, and it prints its figures."""

from __future__ import annotations

import re

import bench_quicksight


def test_quicksight_benchmark_creates_then_changes_nothing_and_prints_its_figures(capsys) -> None:
    assert bench_quicksight.main(["--regions", "2"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^create: \d+ requests, [\d.]+ s, 6 of 6 resources changed$", out, re.M), out
    assert re.search(r"^no change: \d+ requests, [\d.]+ s, 0 of 6 resources changed$", out, re.M), out
    assert re.search(r"^  dashboard +\d+ requests +[\d.]+ s  changed$", out, re.M), out
    assert "NOT IDEMPOTENT" not in out
    no_change = int(re.search(r"^no change: (\d+) requests", out, re.M).group(1))
    assert f"sends {2 * no_change} QuickSight/AWS requests for 2 regions" in out
