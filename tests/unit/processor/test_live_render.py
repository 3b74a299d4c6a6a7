"""The live view's renderer: header figures, colours across the thresholds, marks, heat strip, geometry and hex
layout, escaping of hostile data, themes, sizing, the empty view, and 500 zones."""

from __future__ import annotations

import math
import re
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

LAMBDA_DIR = Path(__file__).resolve().parents[3] / "files" / "lambda"
if str(LAMBDA_DIR) not in sys.path:
    sys.path.insert(0, str(LAMBDA_DIR))

from stream_processor.live_layout import BOLD_EM, CHAR_EM  # noqa: E402
from stream_processor.live_model import LiveView, WindowFigures, ZoneLive  # noqa: E402
from stream_processor.live_render import DARK, LIGHT, congestion_colour, contrast, ink_on, render  # noqa: E402

W0 = 1_767_225_600  # 2026-01-01 00:00:00 UTC, a window boundary
AS_OF = W0 * 1000 + 42_000
NOW = AS_OF + 12_345
CLEAR_T, ALERT_T = 0.5, 0.7


def figures(index: float, count: int = 10, speed: float = 40.0, vehicles: int = 50) -> WindowFigures:
    return WindowFigures(count, vehicles, speed * count, index * count)


def zone(name: str, index: float | None = 0.3, *, state: str = "CLEAR", drop: str = "NORMAL", silent: int = 0,
         history: dict[int, WindowFigures] | None = None) -> ZoneLive:
    windows = dict(history or {})
    if index is not None:
        windows[W0] = figures(index)
    return ZoneLive(name, windows, state, drop, silent)


def view_of(*zones: ZoneLive, current: int = W0, as_of: int = AS_OF) -> LiveView:
    return LiveView({z.zone: z for z in zones}, 60, current, as_of, ALERT_T, CLEAR_T)


def parse(out: str) -> ET.Element:
    return ET.fromstring(out)  # the fragment is one well-formed <div>


def svg(root: ET.Element, name: str) -> ET.Element:
    found = [e for e in root.iter("svg") if e.get("class") == name]
    assert len(found) == 1, name
    return found[0]


def by_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if name in (e.get("class") or "").split()]


def texts(element: ET.Element) -> str:
    """The visible text of <text> elements (not their tooltips), joined by |."""
    return "|".join((e.text or "") + "".join((c.tail or "") for c in e) for e in element.iter("text"))


def zone_fills(root: ET.Element) -> dict[str, str]:
    shapes = by_class(svg(root, "sc-city"), "sc-zone")
    return {e.get("data-zone"): e.get("fill") for e in shapes}


def title_of(element: ET.Element) -> str:
    found = element.find("title")
    assert found is not None, f"{element.tag} {element.attrib} has no <title>"
    return found.text or ""


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def distance(a: str, b: str) -> float:
    return math.dist(rgb(a), rgb(b))


# -- header -------------------------------------------------------------------------------------------------------

def test_header_figures() -> None:
    view = view_of(
        zone("a", 0.8, state="CONGESTED"),
        ZoneLive("b", {W0: figures(0.2, count=5)}),
        zone("c", None, history={W0 - 60: figures(0.4, count=100)}),  # readings only in the previous window
        zone("d", 0.75, state="CONGESTED"),
    )
    header = texts(svg(parse(render(view, now_ms=NOW)), "sc-header"))
    assert "data as of 2026-01-01 00:00:42 UTC" in header
    assert "age 12 s" in header  # (NOW - AS_OF) // 1000
    assert "readings 25 in window 00:00" in header  # 10 + 5 + 10: the previous window's 100 do not count
    assert "zones in alert 2 of 4" in header


def test_header_age_follows_now_and_stale_data_is_said() -> None:
    view = view_of(zone("a"))
    assert "age 0 s" in texts(svg(parse(render(view, now_ms=AS_OF + 999)), "sc-header"))
    old = texts(svg(parse(render(view, now_ms=AS_OF + 600_000)), "sc-header"))
    assert "age 600 s (stale)" in old
    unknown = texts(svg(parse(render(view_of(zone("a"), as_of=0), now_ms=NOW)), "sc-header"))
    assert "age unknown" in unknown and "stale" not in unknown


def test_header_age_defaults_to_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: (AS_OF + 7_500) / 1000)
    assert "age 7 s" in texts(svg(parse(render(view_of(zone("a")))), "sc-header"))


def test_empty_view_says_so() -> None:
    out = render(LiveView({}, 60, -1, 0, ALERT_T, CLEAR_T), now_ms=NOW)
    root = parse(out)
    assert "no data yet" in texts(svg(root, "sc-header"))
    assert "No windows yet" in texts(svg(root, "sc-strip"))
    assert not by_class(root, "sc-zone")
    assert not by_class(root, "sc-cell")


def test_zones_without_windows_are_grey() -> None:
    view = LiveView({"a": ZoneLive("a"), "b": ZoneLive("b", state="CONGESTED")}, 60, -1, 0, ALERT_T, CLEAR_T)
    root = parse(render(view, now_ms=NOW))
    assert zone_fills(root) == {"a": LIGHT.no_data, "b": LIGHT.no_data}
    assert "no data yet" in texts(svg(root, "sc-header"))


# -- colours ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("theme", [LIGHT, DARK])
def test_scale_ends_and_thresholds(theme) -> None:
    scale = theme.scale
    assert congestion_colour(0.0, CLEAR_T, ALERT_T, theme.name) == scale[0]
    assert congestion_colour(CLEAR_T, CLEAR_T, ALERT_T, theme.name) == scale[1]
    assert congestion_colour(ALERT_T, CLEAR_T, ALERT_T, theme.name) == scale[2]
    assert congestion_colour(1.0, CLEAR_T, ALERT_T, theme.name) == scale[3]
    # the stops follow the configured thresholds
    assert congestion_colour(0.3, 0.3, 0.4, theme.name) == scale[1]
    assert congestion_colour(0.4, 0.3, 0.4, theme.name) == scale[2]


def test_colours_follow_the_index_across_the_thresholds() -> None:
    view = view_of(zone("free", 0.1), zone("mid", 0.6), zone("jam", 0.9), zone("none", None),
                   zone("prev", None, history={W0 - 60: figures(0.95)}))
    fills = zone_fills(parse(render(view, now_ms=NOW)))
    free_end, jam_end = LIGHT.scale[0], LIGHT.scale[3]
    assert distance(fills["free"], free_end) < distance(fills["free"], jam_end)
    assert distance(fills["jam"], jam_end) < distance(fills["jam"], free_end)
    red, green, _blue = rgb(fills["free"])
    assert green > red
    red, green, _blue = rgb(fills["jam"])
    assert red > 2 * green
    assert fills["mid"] == congestion_colour(0.6, CLEAR_T, ALERT_T)
    assert len({fills["free"], fills["mid"], fills["jam"]}) == 3
    assert fills["none"] == LIGHT.no_data
    assert fills["prev"] == congestion_colour(0.95, CLEAR_T, ALERT_T)  # falls back to the previous window


def test_legend_marks_both_thresholds() -> None:
    view = LiveView({"a": zone("a")}, 60, W0, AS_OF, 0.8, 0.4)
    legend = by_class(svg(parse(render(view, now_ms=NOW)), "sc-city"), "sc-legend")[0]
    words = texts(legend)
    assert "0.40" in words and "0.80" in words
    assert "free flow" in words and "jammed" in words


# -- marks --------------------------------------------------------------------------------------------------------

def test_alert_drop_and_silent_marks_exactly_for_those_zones() -> None:
    view = view_of(
        zone("plain"),
        zone("alert", 0.9, state="CONGESTED"),
        zone("drop", drop="DROPPED"),
        zone("silent", silent=3),
        zone("all", 0.8, state="CONGESTED", drop="DROPPED", silent=1),
    )
    city = svg(parse(render(view, now_ms=NOW)), "sc-city")

    def marked(name: str) -> list[str]:
        return sorted(e.get("data-zone") for e in by_class(city, name))

    assert marked("sc-mark-alert") == ["alert", "all"]
    assert marked("sc-mark-drop") == ["all", "drop"]
    assert marked("sc-mark-silent") == ["all", "silent"]
    alert = by_class(city, "sc-mark-alert")[0]
    drop = by_class(city, "sc-mark-drop")[0]
    silent = by_class(city, "sc-mark-silent")[0]
    # three different looks: solid thick outline, hatched with a dashed outline, a dot
    assert alert.get("stroke") == LIGHT.outline and alert.get("stroke-dasharray") is None and alert.get("fill") == "none"
    assert drop.get("stroke-dasharray") and drop.get("fill", "").startswith("url(#")
    hatch_id = drop.get("fill")[len("url(#"):].split(")")[0]
    assert [p for p in city.iter("pattern") if p.get("id") == hatch_id]
    assert silent.tag == "circle" and silent.get("fill") == LIGHT.silent
    assert float(alert.get("stroke-width")) >= 1.5


def test_tooltips_carry_the_zone_numbers() -> None:
    view = view_of(ZoneLive("z-7", {W0: WindowFigures(12, 84, 12 * 33.5, 12 * 0.62)}, "CONGESTED", "DROPPED", 2))
    root = parse(render(view, now_ms=NOW))
    tip = title_of(by_class(svg(root, "sc-city"), "sc-zone")[0])
    for part in ("zone z-7", "congestion index 0.62", "readings 12", "average speed 33.5 km/h", "vehicles 84",
                 "state CONGESTED", "drop state DROPPED", "silent sensors 2", "2026-01-01 00:00 UTC"):
        assert part in tip
    cells = by_class(svg(root, "sc-strip"), "sc-cell")
    assert cells and all(title_of(c).startswith("zone z-7") for c in cells)
    assert "congestion index 0.62" in title_of(cells[-1])
    assert "no readings" in title_of(cells[0])
    assert "2025-12-31 23:51 UTC" in title_of(cells[0])


# -- heat strip ---------------------------------------------------------------------------------------------------

def test_strip_order_top_n_and_windows() -> None:
    zones = [zone(f"z{i:02d}", i / 40) for i in range(30)]
    zones.append(zone("tie-a", 0.5))  # ties with z20 (0.5): id order
    zones.append(zone("quiet", None, history={W0 - 60: figures(0.99)}))  # nothing now: last, whatever before
    view = view_of(*zones)
    strip = svg(parse(render(view, now_ms=NOW, top_n=12, strip_windows=7)), "sc-strip")
    labels = [e.find("title").text for e in by_class(strip, "sc-row-label")]
    assert labels == ["z29", "z28", "z27", "z26", "z25", "z24", "z23", "z22", "z21", "tie-a", "z20", "z19"]
    cells = by_class(strip, "sc-cell")
    assert len(cells) == 12 * 7
    windows = [int(c.get("data-window")) for c in cells if c.get("data-zone") == "z29"]
    assert windows == view.windows(7) == [W0 - 360 + 60 * i for i in range(7)]

    everything = svg(parse(render(view, now_ms=NOW, top_n=100, strip_windows=3)), "sc-strip")
    labels = [e.find("title").text for e in by_class(everything, "sc-row-label")]
    assert len(labels) == 32 and labels[-1] == "quiet"


def test_strip_cells_follow_each_window_and_grey_without_readings() -> None:
    history = {W0 - 60: figures(0.9), W0 - 120: figures(0.1)}
    view = view_of(zone("a", 0.6, history=history))
    cells = by_class(svg(parse(render(view, now_ms=NOW, strip_windows=4)), "sc-strip"), "sc-cell")
    fills = [c.get("fill") for c in cells]
    expected = [LIGHT.no_data] + [congestion_colour(i, CLEAR_T, ALERT_T) for i in (0.1, 0.9, 0.6)]
    assert fills == expected


def test_strip_truncates_long_zone_ids_visibly() -> None:
    long_id = "downtown-north-east-corridor-" * 2
    view = view_of(zone(long_id, 0.9), zone("short", 0.1))
    strip = svg(parse(render(view, now_ms=NOW, width=600, height=300)), "sc-strip")
    label = next(e for e in by_class(strip, "sc-row-label") if e.find("title").text == long_id)
    shown = label.find("title").tail
    assert shown.endswith("\u2026") and long_id.startswith(shown[:-1]) and len(shown) < len(long_id)
    assert any(e.find("title").tail == "short" for e in by_class(strip, "sc-row-label"))


# -- geometry and layout ------------------------------------------------------------------------------------------

def square(lon: float, lat: float, dlon: float, dlat: float) -> list[list[float]]:
    return [[lon, lat], [lon + dlon, lat], [lon + dlon, lat + dlat], [lon, lat + dlat], [lon, lat]]


def numbers(text: str) -> list[float]:
    return [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", text)]


def extent(element: ET.Element) -> tuple[float, float, float, float]:
    values = numbers(element.get("d") or element.get("points"))
    xs, ys = values[0::2], values[1::2]
    return min(xs), min(ys), max(xs), max(ys)


GEOMETRY = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "properties": {"zone": "west"}, "geometry": {"type": "Polygon", "coordinates": [square(10.0, 60.0, 0.02, 0.01)]}},
        {"type": "Feature", "properties": {"zone": "east"}, "geometry": {
            "type": "MultiPolygon", "coordinates": [[square(10.03, 60.0, 0.02, 0.01)], [square(10.03, 60.02, 0.01, 0.005)]]}},
        {"type": "Feature", "properties": {"zone": "elsewhere"}, "geometry": {"type": "Point", "coordinates": [1.0, 2.0]}},
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [square(0, 0, 1, 1)]}},
    ],
}


def test_geometry_for_named_zones_hex_cells_for_the_rest() -> None:
    view = view_of(zone("west"), zone("east"), zone("elsewhere"), zone("grid-1"), zone("grid-2"))
    out = render(view, now_ms=NOW, geometry=GEOMETRY)
    shapes = {e.get("data-zone"): e for e in by_class(svg(parse(out), "sc-city"), "sc-zone")}
    assert shapes["west"].tag == "path" and shapes["east"].tag == "path"
    assert {shapes[z].tag for z in ("elsewhere", "grid-1", "grid-2")} == {"polygon"}
    assert shapes["east"].get("d").count("M") == 2  # both parts of the MultiPolygon
    west, east = extent(shapes["west"]), extent(shapes["east"])
    assert west[2] < east[0]  # east of it on the page too
    assert east[1] < west[1]  # the northern part is drawn higher up
    # cos(60 deg) = 0.5: 0.02 deg of longitude is as long as 0.01 deg of latitude there
    width, height = west[2] - west[0], west[3] - west[1]
    assert width == pytest.approx(height, rel=0.05)
    assert out == render(view, now_ms=NOW, geometry=GEOMETRY)


def test_geometry_only_zone_is_drawn_without_data() -> None:
    view = view_of(zone("grid-1"))
    shapes = {e.get("data-zone"): e for e in by_class(svg(parse(render(view, now_ms=NOW, geometry=GEOMETRY)), "sc-city"), "sc-zone")}
    assert set(shapes) == {"west", "east", "grid-1"}
    assert shapes["west"].get("fill") == LIGHT.no_data
    assert "no live state" in title_of(shapes["west"])


def test_hex_layout_is_deterministic_and_in_zone_order() -> None:
    names = [f"zone-{i}" for i in range(1, 13)]
    forward = view_of(*(zone(n, i / 12) for i, n in enumerate(names)))
    backward = view_of(*reversed([zone(n, i / 12) for i, n in enumerate(names)]))
    out = render(forward, now_ms=NOW)
    assert out == render(backward, now_ms=NOW)
    shapes = by_class(svg(parse(out), "sc-city"), "sc-zone")
    assert [e.get("data-zone") for e in shapes] == names  # natural order: zone-2 before zone-10
    centres = [(round((extent(e)[1] + extent(e)[3]) / 2), (extent(e)[0] + extent(e)[2]) / 2) for e in shapes]
    assert centres == sorted(centres)  # row by row, left to right


def test_geometry_garbage_is_ignored() -> None:
    junk = {"features": [None, {"properties": {"zone": "a"}, "geometry": {"type": "Polygon", "coordinates": [[[1, "x"], [2, 2], [3, 3]]]}},
                         {"properties": {"zone": "b"}, "geometry": {"type": "Polygon", "coordinates": [[[float("nan"), 1], [2, 2], [3, 3]]]}}]}
    shapes = by_class(svg(parse(render(view_of(zone("a"), zone("b")), now_ms=NOW, geometry=junk)), "sc-city"), "sc-zone")
    assert {e.tag for e in shapes} == {"polygon"} and len(shapes) == 2


# -- escaping -----------------------------------------------------------------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "' onmouseover='alert(3)",
    "javascript:alert(4)",
    '<use href="https://evil.example/x.svg#a"/>',
    "<iframe src=//evil.example></iframe>",
    "&amp;&lt;\x00\x1b\ud800",
]
HOSTILE_TITLE = '</svg><script>alert("t")</script><a href="javascript:alert(5)">x</a>'
ALLOWED_TAGS = {"div", "svg", "g", "rect", "polygon", "path", "circle", "line", "text", "title", "defs", "pattern"}
URL_ATTRIBUTES = {"href", "src", "xlink:href", "{http://www.w3.org/1999/xlink}href", "action", "formaction"}


def structure(root: ET.Element) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((e.tag, tuple(sorted(e.attrib))) for e in root.iter())


def hostile_view(names: list[str]) -> LiveView:
    return view_of(*(zone(n, 0.9, state="CONGESTED", drop="DROPPED", silent=1) for n in names))


def test_hostile_zone_ids_and_title_are_inert_text() -> None:
    geometry = {"features": [{"properties": {"zone": HOSTILE[0]}, "geometry": {"type": "Polygon", "coordinates": [square(1, 1, 1, 1)]}}]}
    out = render(hostile_view(HOSTILE), now_ms=NOW, title=HOSTILE_TITLE, geometry=geometry)
    root = parse(out)  # well-formed: nothing broke out of an attribute or element
    lowered = out.lower()
    for needle in ("<script", "<img", "<use", "<iframe", "<a "):  # every "<" from the data is escaped
        assert needle not in lowered
    for element in root.iter():
        assert element.tag in ALLOWED_TAGS
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on") and name not in URL_ATTRIBUTES
            if name not in ("data-zone",):  # the zone id itself, as an inert attribute value
                assert "javascript:" not in value.lower() and "//" not in value
            if "url(" in value:
                assert value.startswith("url(#")
    # the same structure as with harmless ids of the same length: no element or attribute came from the data
    harmless = render(hostile_view(["x" * len(n) for n in HOSTILE]), now_ms=NOW, title="t" * len(HOSTILE_TITLE), geometry={
        "features": [{"properties": {"zone": "x" * len(HOSTILE[0])}, "geometry": {"type": "Polygon", "coordinates": [square(1, 1, 1, 1)]}}]})
    assert structure(root) == structure(parse(harmless))
    # and the text survives as text
    tips = [title_of(e) for e in by_class(root, "sc-zone")]
    for name in HOSTILE[:6]:
        assert any(t.startswith(f"zone {name}\n") for t in tips)
    assert HOSTILE_TITLE[:20] in texts(svg(root, "sc-header"))
    assert out.isascii()


def test_no_external_resources() -> None:
    out = render(view_of(*(zone(f"z{i}", i / 10, silent=i % 2, drop="DROPPED" if i == 3 else "NORMAL") for i in range(10))),
                 now_ms=NOW, geometry=GEOMETRY, theme="dark")
    for needle in ("http://", "https://", "javascript:", "<script", "<use", "<iframe", "<img", "<image", "<foreignobject",
                   "@import", "@font-face", "url(http"):
        assert needle not in out.lower()
    for element in parse(out).iter():
        assert element.tag in ALLOWED_TAGS
        assert not [name for name in element.attrib if name.lower().startswith("on") or name in URL_ATTRIBUTES]


# -- themes -------------------------------------------------------------------------------------------------------

def background(root: ET.Element) -> str:
    return by_class(svg(root, "sc-city"), "sc-bg")[0].get("fill")


def text_fills(root: ET.Element) -> set[str]:
    return {e.get("fill") for e in svg(root, "sc-header").iter("text")}


def test_light_and_dark_differ_and_unknown_is_light() -> None:
    view = view_of(zone("a", 0.2), zone("b", 0.9, state="CONGESTED"))
    light, dark = parse(render(view, now_ms=NOW)), parse(render(view, now_ms=NOW, theme="dark"))
    assert background(light) == LIGHT.background and background(dark) == DARK.background
    assert LIGHT.text in text_fills(light) and DARK.text in text_fills(dark)
    assert not text_fills(light) & text_fills(dark)
    assert render(view, now_ms=NOW, theme="sepia") == render(view, now_ms=NOW, theme="light")


@pytest.mark.parametrize("theme", [LIGHT, DARK])
def test_theme_contrast(theme) -> None:
    for colour in (theme.text, theme.muted, theme.warn, theme.alert_text):
        assert contrast(colour, theme.background) >= 4.5
    samples = [congestion_colour(i / 20, CLEAR_T, ALERT_T, theme) for i in range(21)]
    for colour in samples:  # zone labels drawn on a cell read well whatever its colour
        assert contrast(ink_on(colour), colour) >= 4.5
        assert distance(colour, theme.no_data) > 60 and distance(colour, theme.background) > 60
    assert distance(samples[0], samples[-1]) > 150  # free flow and jammed stay far apart
    assert contrast(theme.outline, theme.background) >= 4.5  # the alert outline shows against the page


# -- size ---------------------------------------------------------------------------------------------------------

def inside(element: ET.Element, width: float, height: float) -> list[str]:
    """What of ``element`` lies outside 0..width x 0..height (text by the renderer's own width estimate)."""
    tag, get = element.tag, element.get
    boxes = []
    if tag in ("polygon", "path"):
        boxes.append(extent(element))
    elif tag == "rect" and get("x") is not None:
        x, y = float(get("x")), float(get("y"))
        boxes.append((x, y, x + float(get("width")), y + float(get("height"))))
    elif tag == "circle":
        cx, cy, r = float(get("cx")), float(get("cy")), float(get("r"))
        boxes.append((cx - r, cy - r, cx + r, cy + r))
    elif tag == "line":
        boxes.append((float(get("x1")), float(get("y1")), float(get("x2")), float(get("y2"))))
    elif tag == "text":
        size, x, y = float(get("font-size")), float(get("x")), float(get("y"))
        content = (element.text or "") + "".join(c.tail or "" for c in element)
        w = len(content) * size * (BOLD_EM if get("font-weight") == "bold" else CHAR_EM)
        left = {"start": x, "middle": x - w / 2, "end": x - w}[get("text-anchor") or "start"]
        boxes.append((left, y - size * 0.8, left + w, y + size * 0.25))
    return [f"{tag} {b}" for b in boxes if b[0] < -0.5 or b[1] < -0.5 or b[2] > width + 0.5 or b[3] > height + 0.5]


def within_groups(root: ET.Element) -> list[tuple[ET.Element, float, float]]:
    """Elements with the offset of their translate()d group (the legend's swatches)."""
    found = []
    for element in root.iter():
        if element.tag == "g" and element.get("transform"):
            dx, dy = numbers(element.get("transform"))
            found.extend((child, dx, dy) for child in element.iter() if child is not element)
    return found


def assert_inside(root: ET.Element, width: int, height: int) -> None:
    """Every SVG sits inside width x height, its viewBox is its size, and everything drawn stays inside it."""
    translated = {id(e): (dx, dy) for e, dx, dy in within_groups(root)}
    for element in root.iter("svg"):
        w, h = int(element.get("width")), int(element.get("height"))
        assert element.get("viewBox") == f"0 0 {w} {h}"
        left, top = numbers(element.get("style"))[:2]
        assert 0 <= left and left + w <= width and 0 <= top and top + h <= height
        outside = []
        for child in element.iter():
            if id(child) in translated:
                dx, dy = translated[id(child)]
                outside += inside(child, w - dx, h - dy)
            else:
                outside += inside(child, w, h)
        assert not outside, (element.get("class"), outside[:5])


@pytest.mark.parametrize(("width", "height"), [(300, 200), (800, 600), (2000, 1200), (500, 900), (1200, 260)])
def test_sized_from_width_and_height(width: int, height: int) -> None:
    view = view_of(*(zone(f"zone-{i:03d}-{'long' * (i % 3)}", (i % 11) / 10, state="CONGESTED" if i % 7 == 0 else "CLEAR",
                          drop="DROPPED" if i % 13 == 0 else "NORMAL", silent=i % 5 == 0) for i in range(60)))
    out = render(view, width=width, height=height, now_ms=NOW, geometry=GEOMETRY, title="Live congestion, city centre " * 4)
    root = parse(out)
    assert f"width:{width}px;height:{height}px" in root.get("style")
    assert {s.get("class") for s in root.iter("svg")} == {"sc-header", "sc-city", "sc-strip"}
    assert_inside(root, width, height)
    wide = svg(root, "sc-city")
    assert int(wide.get("width")) + (int(svg(root, "sc-strip").get("width")) if width > height else 0) <= width


@pytest.mark.parametrize(("clear", "alert"), [(0.05, 0.1), (0.9, 0.95), (0.5, 0.52)])
def test_legend_labels_stay_inside_for_any_thresholds(clear: float, alert: float) -> None:
    view = LiveView({"a": zone("a")}, 60, W0, AS_OF, alert, clear)
    root = parse(render(view, width=300, height=200, now_ms=NOW))
    assert_inside(root, 300, 200)
    words = texts(by_class(root, "sc-legend")[0])
    assert f"{clear:.2f}" in words and f"{alert:.2f}" in words


# -- scale --------------------------------------------------------------------------------------------------------

def test_500_zones_each_once_inside_and_fast() -> None:
    zones = [zone(f"zone-{i:03d}", (i * 37 % 100) / 100, state="CONGESTED" if i % 9 == 0 else "CLEAR",
                  history={W0 - 60 * k: figures((i + k) % 10 / 10) for k in range(1, 10)}) for i in range(500)]
    view = view_of(*zones)
    start = time.process_time()
    out = render(view, now_ms=NOW)
    spent = time.process_time() - start
    city = svg(parse(out), "sc-city")
    shapes = by_class(city, "sc-zone")
    assert sorted(e.get("data-zone") for e in shapes) == sorted(view.zones)  # every zone exactly once
    w, h = int(city.get("width")), int(city.get("height"))
    assert not [bad for e in shapes for bad in inside(e, w, h)]
    centres = [((extent(e)[0] + extent(e)[2]) / 2, (extent(e)[1] + extent(e)[3]) / 2) for e in shapes]
    radius = (extent(shapes[0])[3] - extent(shapes[0])[1]) / 2
    assert radius >= 7  # still a readable cell in 800 x 600
    nearest = min(math.dist(a, b) for i, a in enumerate(centres) for b in centres[i + 1: i + 40])
    assert nearest >= radius * 1.6  # cells do not overlap
    assert spent < 1.0  # generous: the benchmark measures it properly (about 15 ms here)
