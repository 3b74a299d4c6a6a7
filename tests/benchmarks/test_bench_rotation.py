"""The rotation benchmark's command at small scale: every device rotated, and the figures it prints."""

from __future__ import annotations

import re

import bench_rotation


def test_rotation_benchmark_rotates_every_device_and_prints_its_figures(capsys) -> None:
    assert bench_rotation.main(["--devices", "12", "--workers", "4"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"rotation: +[\d.]+ s, 12 rotated, [\d,]+ devices/min, [\d.]+ control-plane and [\d.]+ shadow requests/device", out)
    assert re.search(r"projection: rotation of 50,000 devices at 8 requests/s on AWS: [\d.]+ h", out)
