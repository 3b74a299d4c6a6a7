"""Render docs/architecture.svg from docs/architecture.dot with Graphviz (Debian's `graphviz`, installed by scripts/setup --test).

  .venv/bin/python scripts/architecture_svg.py            print the SVG that the source renders to
  .venv/bin/python scripts/architecture_svg.py --write    rewrite docs/architecture.svg
  .venv/bin/python scripts/architecture_svg.py --check    exit 1 when docs/architecture.svg is not what the source renders
                                                          (scripts/test runs it; tests/unit/test_architecture.py too)

The check compares what the picture says, not its bytes: Graphviz versions and the installed fonts move every
coordinate, so a byte comparison would fail on a machine that renders the same picture. What is compared: the
graph's label and every cluster, node and edge (by its id), its SVG classes, its text lines with
their font and size, its fill and stroke colours, and whether it is dashed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "docs" / "architecture.dot"
SVG = ROOT / "docs" / "architecture.svg"
NS = "{http://www.w3.org/2000/svg}"
KINDS = ("graph", "cluster", "node", "edge")


class RenderError(Exception):
    """Graphviz is missing or refused the source."""


def render(source: Path) -> str:
    dot = shutil.which("dot")
    if dot is None:
        raise RenderError("Graphviz `dot` is missing: scripts/setup --test installs it (apt-get install graphviz)")
    result = subprocess.run([dot, "-Tsvg", str(source)], capture_output=True, text=True, check=False)
    # dot warns (an unknown attribute, a rank it cannot keep) and still renders: its warnings are errors here. Other
    # libraries' messages (fontconfig on an unusual locale) are not.
    own = [line for line in result.stderr.splitlines() if line.startswith(("Warning", "Error"))]
    if result.returncode != 0 or own:
        raise RenderError(f"dot -Tsvg {source.name} failed (exit {result.returncode}): {result.stderr.strip()}")
    return result.stdout


def content(svg: str) -> list[tuple]:
    """What the picture says, independent of layout: one sorted entry for the graph and each cluster, node and edge."""
    entries = []
    for group in ET.fromstring(svg).iter(f"{NS}g"):
        classes = group.get("class", "").split()
        if not classes or classes[0] not in KINDS:
            continue
        title = group.findtext(f"{NS}title", default="")
        # the graph's own label is its direct text; every other group holds only its own texts
        lines = group.findall(f"{NS}text") if classes[0] == "graph" else group.iter(f"{NS}text")
        texts = tuple(((t.text or "").strip(), t.get("font-family"), t.get("font-size")) for t in lines)
        shapes = [el for el in group if el.tag in {f"{NS}polygon", f"{NS}path", f"{NS}ellipse"}]
        # the dash pattern's numbers differ between Graphviz versions; whether a line is dashed does not
        style = tuple((s.get("fill"), s.get("stroke"), bool(s.get("stroke-dasharray"))) for s in shapes)
        if classes[0] == "graph":
            style = ()  # the page's background, which Graphviz versions write differently
        entries.append((classes[0], title, tuple(sorted(classes[1:])), texts, style))
    return sorted(entries)


def differences(committed: str, fresh: str) -> list[str]:
    old, new = content(committed), content(fresh)
    return [f"- {entry}" for entry in old if entry not in new] + [f"+ {entry}" for entry in new if entry not in old]


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else ""
    if mode not in {"", "--write", "--check"}:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        fresh = render(SOURCE)
    except RenderError as exc:
        print(f"architecture_svg: {exc}", file=sys.stderr)
        return 1
    if mode == "--write":
        SVG.write_text(fresh)
        return 0
    if mode == "--check":
        committed = SVG.read_text() if SVG.exists() else "<svg xmlns='http://www.w3.org/2000/svg'/>"
        diff = differences(committed, fresh)
        if diff:
            print(f"{shown(SVG)} is not what {shown(SOURCE)} renders to "
                  "(run .venv/bin/python scripts/architecture_svg.py --write); - committed, + rendered:", file=sys.stderr)
            print("\n".join(diff), file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
