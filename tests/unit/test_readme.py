"""README documents every template parameter and output."""

from __future__ import annotations

import pytest
import yaml

from conftest import ROOT

TEMPLATE = yaml.safe_load((ROOT / "files" / "iot-analytics-system.yaml").read_text())
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", [*TEMPLATE["Parameters"], *TEMPLATE["Outputs"]])
def test_readme_has_a_row_for(name: str) -> None:
    assert f"| `{name}` |" in README
