"""The live congestion view drawn as an HTML fragment with inline SVG: one renderer for the CloudWatch custom
widget and the local page.

``render(view, width=, height=, theme=, ...)`` lays everything out from the pixel size it is given: a header (data
as of, age, readings in the current window, zones in alert), the city view (one shape per zone coloured by its
congestion index: the zone's GeoJSON polygon when ``geometry`` names it, else a hex cell in natural zone-id order)
with its legend, and a heat strip of the most congested zones over the last windows. Marks: a thick outline for a
zone in alert, hatching and a dashed outline for a data drop, a dot for silent sensors.

What CloudWatch keeps: no JavaScript, no event handlers, no ``<use>``, no ``<iframe>``, nothing fetched (no URL,
font or image). Every text that comes from data is escaped, and the output is ASCII (character references) and
well-formed XML. Pure Python 3.9+, standard library only.
"""

from __future__ import annotations

import html
import math
import re
import time
from typing import NamedTuple

from .live_layout import (
    Box,
    Shape,
    flow,
    hex_layout,
    hex_points,
    natural_key,
    project_zones,
    split_box,
    text_width,
    truncate,
    truncate_middle,
    zone_polygons,
)
from .live_model import LiveView, WindowFigures, ZoneLive

CONGESTED = "CONGESTED"
DROPPED = "DROPPED"
MIN_WIDTH = 160
MIN_HEIGHT = 100
FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
EN_DASH = "\u2013"


class Theme(NamedTuple):
    name: str
    background: str
    text: str
    muted: str
    grid: str
    no_data: str
    outline: str  # alert outline
    drop: str  # data-drop outline
    hatch: str  # data-drop hatching
    silent: str  # silent-sensor dot
    warn: str  # stale data, no data (text)
    alert_text: str  # the count of zones in alert (text)
    scale: tuple[str, str, str, str]  # free flow, at the clear threshold, at the alert threshold, jammed


LIGHT = Theme(
    name="light",
    background="#ffffff",
    text="#1f2328",
    muted="#59636e",
    grid="#d1d9e0",
    no_data="#c5cbd3",
    outline="#111418",
    drop="#6e40c9",
    hatch="#111418",
    silent="#0969da",
    warn="#8a5a00",
    alert_text="#c4122f",
    scale=("#1a9850", "#fee08b", "#f46d43", "#a50026"),
)
DARK = Theme(
    name="dark",
    background="#161d26",
    text="#e6edf3",
    muted="#a5afbb",
    grid="#3a4452",
    no_data="#59626e",
    outline="#ffffff",
    drop="#c9a4ff",
    hatch="#ffffff",
    silent="#58b4ff",
    warn="#e3b341",
    alert_text="#ff8a80",
    scale=("#2fb457", "#f2d45c", "#f47a45", "#ff3d6e"),
)
THEMES = {"light": LIGHT, "dark": DARK}

_XML_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def esc(text: object) -> str:
    """Text from data as inert XML/HTML text or attribute value: characters XML cannot carry become U+FFFD, then
    ``html.escape(quote=True)``."""
    return html.escape(_XML_INVALID.sub("\ufffd", str(text)), quote=True)


def theme_for(theme: object) -> Theme:
    return THEMES.get(theme, LIGHT) if isinstance(theme, str) else LIGHT


# -- colour -------------------------------------------------------------------------------------------------------

def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def luminance(colour: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    channels = []
    for value in _rgb(colour):
        c = value / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio (1 to 21)."""
    a, b = sorted((luminance(first), luminance(second)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def ink_on(fill: str) -> str:
    """Black or white, whichever reads better on ``fill`` (at least 4.5:1 either way)."""
    return "#000000" if contrast(fill, "#000000") >= contrast(fill, "#ffffff") else "#ffffff"


def scale_stops(clear_threshold: float, congestion_threshold: float) -> tuple[float, float, float, float]:
    """Where the scale's four colours sit: 0, the clear threshold, the alert threshold, 1 (kept in order)."""
    clear = min(max(float(clear_threshold), 0.01), 0.98)
    alert = min(max(float(congestion_threshold), clear + 0.01), 0.99)
    return 0.0, clear, alert, 1.0


def congestion_colour(index: float, clear_threshold: float, congestion_threshold: float, theme: object = "light") -> str:
    """The colour of a congestion index: free flow (0) through the clear threshold and the alert threshold to
    jammed (1), interpolated in RGB between the theme's four scale colours."""
    colours = (theme if isinstance(theme, Theme) else theme_for(theme)).scale
    stops = scale_stops(clear_threshold, congestion_threshold)
    value = min(max(float(index), 0.0), 1.0) if math.isfinite(index) else 0.0
    segment = 0 if value <= stops[1] else (1 if value <= stops[2] else 2)
    low, high = stops[segment], stops[segment + 1]
    t = (value - low) / (high - low) if high > low else 0.0
    a, b = _rgb(colours[segment]), _rgb(colours[segment + 1])
    return "#{:02x}{:02x}{:02x}".format(*(round(a[i] + (b[i] - a[i]) * t) for i in range(3)))


# -- text of the figures ------------------------------------------------------------------------------------------

def utc(epoch_s: float, seconds: bool = True) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M", time.gmtime(epoch_s)) + " UTC"


def _clock(epoch_s: int, seconds: bool) -> str:
    return time.strftime("%H:%M:%S" if seconds else "%H:%M", time.gmtime(epoch_s))


def _window_text(window: int, window_seconds: int) -> str:
    return f"{utc(window, seconds=window_seconds % 60 != 0)} ({window_seconds} s)"


def tooltip(zone: str, live: ZoneLive | None, figures: WindowFigures | None, window: int, window_seconds: int, note: str = "") -> str:
    """The escaped text of a zone's <title>: its numbers in ``window`` (or that it had none) and its states."""
    lines = [f"zone {zone}"]
    if window >= 0:
        lines.append(f"window {_window_text(window, window_seconds)}{note}")
    if figures is not None and figures.count > 0:
        lines.append(f"congestion index {figures.congestion_index:.2f}")
        lines.append(f"readings {figures.count:,}")
        lines.append(f"average speed {figures.avg_speed_kmh:.1f} km/h")
        lines.append(f"vehicles {figures.vehicle_sum:,}")
    else:
        lines.append("no readings" + ("" if window >= 0 else " in the current or previous window"))
    if live is not None:
        lines.append(f"state {live.state}")
        lines.append(f"drop state {live.drop_state}")
        lines.append(f"silent sensors {live.silent_sensors}")
    else:
        lines.append("no live state (zone only in the geometry)")
    return esc("\n".join(lines))


# -- the view's figures -------------------------------------------------------------------------------------------

class ZoneShown(NamedTuple):
    """What the city view shows of one zone: the current window's figures, else the previous window's."""

    zone: str
    live: ZoneLive | None
    figures: WindowFigures | None  # None: no readings in either window
    window: int  # the window of ``figures``; -1 when None
    current: WindowFigures | None  # the current window's figures when it has readings


def _with_readings(live: ZoneLive, window: int) -> WindowFigures | None:
    figures = live.windows.get(window)
    return figures if figures is not None and figures.count > 0 else None


def shown_zones(view: LiveView, extra: tuple[str, ...] = ()) -> list[ZoneShown]:
    """Every zone of the view (and the ``extra`` zone ids, which have no live state) in natural id order."""
    current, previous = view.current_window, view.current_window - view.window_seconds
    shown = []
    for zone in sorted({*view.zones, *extra}, key=natural_key):
        live = view.zones.get(zone)
        now = _with_readings(live, current) if live is not None and current >= 0 else None
        figures, window = now, current
        if now is None:
            figures = _with_readings(live, previous) if live is not None and current >= 0 else None
            window = previous if figures is not None else -1
        shown.append(ZoneShown(zone, live, figures, window, now))
    return shown


def ranked(zones: list[ZoneShown]) -> list[ZoneShown]:
    """Most congested first by the current window's index; zones without readings in it last; ties by zone id."""
    return sorted(
        (z for z in zones if z.live is not None),
        key=lambda z: (0, -z.current.congestion_index, natural_key(z.zone)) if z.current else (1, 0.0, natural_key(z.zone)),
    )


# -- drawing ------------------------------------------------------------------------------------------------------

class _Ctx(NamedTuple):
    view: LiveView
    theme: Theme
    font: float
    pad: float

    def colour(self, figures: WindowFigures | None) -> str:
        if figures is None or figures.count <= 0:
            return self.theme.no_data
        return congestion_colour(figures.congestion_index, self.view.clear_threshold, self.view.congestion_threshold, self.theme)


def _f(value: float) -> str:
    return f"{value:.1f}"


def _text(x: float, y: float, content: str, size: float, fill: str, anchor: str = "start", bold: bool = False, extra: str = "") -> str:
    """A <text>; ``content`` must already be escaped."""
    weight = ' font-weight="bold"' if bold else ""
    return f'<text x="{_f(x)}" y="{_f(y)}" font-size="{_f(size)}" fill="{fill}" text-anchor="{anchor}"{weight}{extra}>{content}</text>'


def _svg_open(css_class: str, box: Box, ctx: _Ctx) -> str:
    w, h = round(box.w), round(box.h)
    return (
        f'<svg class="{css_class}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'font-family="{FONT_FAMILY}" style="position:absolute;left:{round(box.x)}px;top:{round(box.y)}px;display:block">'
        f'<rect class="sc-bg" x="0" y="0" width="{w}" height="{h}" fill="{ctx.theme.background}"/>'
    )


class _Item(NamedTuple):
    """One header item: its text (raw, escaped when drawn), a shorter form for narrow widgets, bold, colour."""

    text: str
    short: str
    bold: bool
    colour: str


def _header_items(view: LiveView, title: str, now_ms: int, theme: Theme) -> list[_Item]:
    zones = view.zones.values()
    in_alert = sum(1 for z in zones if z.state == CONGESTED)
    items = [_Item(str(title), str(title), True, theme.text)]
    if view.current_window < 0:
        items.append(_Item("no data yet: no readings in the live view", "no data yet", True, theme.warn))
        items.append(_Item(f"zones {len(view.zones):,}", f"zones {len(view.zones):,}", False, theme.muted))
        return items
    age_s = (now_ms - view.as_of_ms) // 1000
    stale = age_s > 2 * view.window_seconds and view.as_of_ms > 0
    readings = sum(f.count for f in (z.windows.get(view.current_window) for z in zones) if f is not None)
    window_clock = _clock(view.current_window, view.window_seconds % 60 != 0)
    if view.as_of_ms > 0:
        as_of = (f"data as of {utc(view.as_of_ms / 1000)}", f"data as of {_clock(view.as_of_ms // 1000, True)} UTC")
    else:
        as_of = ("data as of (unknown)", "data as of (unknown)")
    age = f"age {age_s:,} s" + (" (stale)" if stale else "") if view.as_of_ms > 0 else "age unknown"
    alert_colour = theme.alert_text if in_alert else theme.text
    items += [
        _Item(*as_of, False, theme.text),
        _Item(age, age, stale, theme.warn if stale else theme.text),
        _Item(f"readings {readings:,} in window {window_clock}", f"{readings:,} readings", False, theme.text),
        _Item(f"zones in alert {in_alert:,} of {len(view.zones):,}", f"in alert {in_alert:,}/{len(view.zones):,}", in_alert > 0, alert_colour),
    ]
    dropped = sum(1 for z in zones if z.drop_state == DROPPED)
    silent = sum(z.silent_sensors for z in zones if z.silent_sensors > 0)
    if dropped:
        items.append(_Item(f"data drop {dropped:,}", f"drop {dropped:,}", False, theme.text))
    if silent:
        items.append(_Item(f"silent sensors {silent:,}", f"silent {silent:,}", False, theme.text))
    return items


def _header_fit(items: list[_Item], width: float, height: float, ctx: _Ctx) -> tuple[list[str], float, list[list[tuple[int, float]]]]:
    """The texts, font size and lines of the header: the long forms when they fit in two lines, else the short
    forms, in a smaller font until the header takes at most 30 % of the height."""
    room = width - 2 * ctx.pad
    texts = [item.text for item in items]
    lines = flow([text_width(t, ctx.font, item.bold) for t, item in zip(texts, items)], room, ctx.font * 1.4)
    if len(lines) <= 2 and len(lines) * ctx.font * 1.35 + ctx.pad <= height * 0.3:
        return texts, ctx.font, lines
    texts = [item.short for item in items]
    size = ctx.font
    while True:
        lines = flow([text_width(t, size, item.bold) for t, item in zip(texts, items)], room, size * 1.4)
        if len(lines) * size * 1.35 + ctx.pad <= height * 0.3 or size <= 8:
            return texts, size, lines
        size -= 0.5


def _header(view: LiveView, title: str, now_ms: int, width: float, height: float, ctx: _Ctx) -> tuple[str, float]:
    items = _header_items(view, title, now_ms, ctx.theme)
    texts, size, lines = _header_fit(items, width, height, ctx)
    line_h = size * 1.35
    header_h = len(lines) * line_h + ctx.pad
    parts = [_svg_open("sc-header", Box(0, 0, width, header_h), ctx)]
    for number, line in enumerate(lines):
        baseline = ctx.pad / 2 + number * line_h + line_h / 2 + size * 0.35
        for index, x in line:
            item = items[index]
            # an item alone wider than the header is cut visibly
            text = truncate(texts[index], width - 2 * ctx.pad - x, size, item.bold)
            parts.append(_text(ctx.pad + x, baseline, esc(text), size, item.colour, bold=item.bold))
    parts.append("</svg>")
    return "".join(parts), header_h


# -- legend -------------------------------------------------------------------------------------------------------

def _legend_items(ctx: _Ctx, size: float) -> list[tuple[float, str, str]]:
    """(width, swatch markup at x=0..swatch, label) for the marks' legend; swatches are drawn at y 0..size."""
    theme, s = ctx.theme, size
    mid = congestion_colour(0.3, ctx.view.clear_threshold, ctx.view.congestion_threshold, theme)
    swatches = [
        (f'<rect x="0" y="0" width="{_f(s)}" height="{_f(s)}" fill="{theme.no_data}"/>', "no data"),
        (
            f'<rect x="1" y="1" width="{_f(s - 2)}" height="{_f(s - 2)}" fill="{mid}" stroke="{theme.outline}" stroke-width="2"/>',
            "alert",
        ),
        (
            f'<rect x="0.5" y="0.5" width="{_f(s - 1)}" height="{_f(s - 1)}" fill="{mid}"/>'
            f'<rect x="0.5" y="0.5" width="{_f(s - 1)}" height="{_f(s - 1)}" fill="url(#sc-hatch-{theme.name}) none" '
            f'stroke="{theme.drop}" stroke-width="1.2" stroke-dasharray="2 1.5"/>',
            "data drop",
        ),
        (
            f'<circle cx="{_f(s / 2)}" cy="{_f(s / 2)}" r="{_f(s * 0.32)}" fill="{theme.silent}" stroke="{theme.background}" stroke-width="1"/>',
            "silent sensors",
        ),
    ]
    return [(s * 1.3 + text_width(label, s), swatch, label) for swatch, label in swatches]


def _legend(box: Box, ctx: _Ctx, draw: bool) -> tuple[float, list[str]]:
    """The legend at the top of ``box``: its height, and its markup when ``draw``."""
    theme, view = ctx.theme, ctx.view
    size = max(8.0, ctx.font * 0.85)
    parts: list[str] = []
    end_w = text_width("jammed", size) * 1.15  # wide letters: keep the bar clear of its end labels
    bar_x = box.x + text_width("free flow", size) * 1.1 + size * 0.6
    bar_w = box.w - (bar_x - box.x) - end_w - size * 0.6
    bar_h = size * 0.9
    y = box.y
    items = _legend_items(ctx, size)
    lines = flow([w for w, _s, _l in items], box.w, size * 1.0)
    height = bar_h + size * 1.5 + len(lines) * size * 1.45
    if not draw:
        return height, parts
    steps = 48
    for i in range(steps):
        colour = congestion_colour((i + 0.5) / steps, view.clear_threshold, view.congestion_threshold, theme)
        parts.append(f'<rect x="{_f(bar_x + bar_w * i / steps)}" y="{_f(y)}" width="{_f(bar_w / steps + 0.4)}" height="{_f(bar_h)}" fill="{colour}"/>')
    baseline = y + bar_h / 2 + size * 0.35
    parts.append(_text(box.x, baseline, "free flow", size, theme.muted))
    parts.append(_text(box.x + box.w, baseline, "jammed", size, theme.muted, anchor="end"))
    _stops_0, clear, alert, _stops_1 = scale_stops(view.clear_threshold, view.congestion_threshold)
    x_clear, x_alert = bar_x + bar_w * clear, bar_x + bar_w * alert
    for x in (x_clear, x_alert):
        parts.append(f'<line x1="{_f(x)}" y1="{_f(y - 1)}" x2="{_f(x)}" y2="{_f(y + bar_h + size * 0.3)}" stroke="{theme.text}" stroke-width="1.5"/>')
    clear_label, alert_label = f"clear \u2264{view.clear_threshold:.2f}", f"alert \u2265{view.congestion_threshold:.2f}"
    left_end = max(box.x + text_width(clear_label, size), x_clear)
    right_start = min(box.x + box.w - text_width(alert_label, size), x_alert + 2)
    if left_end + size * 0.5 > right_start:
        clear_label, alert_label = f"\u2264{view.clear_threshold:.2f}", f"\u2265{view.congestion_threshold:.2f}"
        left_end = max(box.x + text_width(clear_label, size), x_clear)
        right_start = min(box.x + box.w - text_width(alert_label, size), x_alert + 2)
    label_y = y + bar_h + size * 1.2
    parts.append(_text(left_end, label_y, esc(clear_label), size, theme.text, anchor="end"))
    parts.append(_text(right_start, label_y, esc(alert_label), size, theme.text))
    top = y + bar_h + size * 1.5
    for number, line in enumerate(lines):
        line_y = top + number * size * 1.45 + size * 0.2
        for index, x in line:
            _width, swatch, label = items[index]
            parts.append(f'<g class="sc-legend-mark" transform="translate({_f(box.x + x)},{_f(line_y)})">{swatch}</g>')
            parts.append(_text(box.x + x + size * 1.3, line_y + size * 0.85, label, size, theme.muted))
    return height, parts


# -- city view ----------------------------------------------------------------------------------------------------

def _hatch_pattern(theme: Theme) -> str:
    return (
        f'<defs><pattern id="sc-hatch-{theme.name}" patternUnits="userSpaceOnUse" width="5" height="5" '
        f'patternTransform="rotate(45)"><rect x="0" y="0" width="1.6" height="5" fill="{theme.hatch}" fill-opacity="0.8"/>'
        "</pattern></defs>"
    )


class _Cell(NamedTuple):
    """Where one zone is drawn: a hex (``radius`` > 0) or a projected polygon (``shape``)."""

    shown: ZoneShown
    cx: float
    cy: float
    radius: float
    shape: Shape | None


def _place(zones: list[ZoneShown], shapes_box: Box, polygons: dict, ctx: _Ctx) -> list[_Cell]:
    """Zones named by the geometry get their projected polygon, the others a hex cell; the area is shared when
    there are both."""
    geo = [z for z in zones if z.zone in polygons]
    grid = [z for z in zones if z.zone not in polygons]
    geo_box, grid_box = shapes_box, shapes_box
    if geo and grid:
        share = min(max(len(geo) / len(zones), 0.4), 0.75)
        geo_box, grid_box = split_box(shapes_box, share, ctx.pad * 2)
    cells = []
    if geo:
        shapes = project_zones({z.zone: polygons[z.zone] for z in geo}, geo_box)
        cells.extend(_Cell(z, shapes[z.zone].cx, shapes[z.zone].cy, 0.0, shapes[z.zone]) for z in geo)
    if grid:
        layout = hex_layout(len(grid), grid_box, max(12.0, min(grid_box.w, grid_box.h) / 5))
        cells.extend(_Cell(z, x, y, layout.radius, None) for z, (x, y) in zip(grid, layout.centres))
    return cells


def _zone_markup(cell: _Cell, ctx: _Ctx, tip: str, fill: str) -> tuple[str, list[str]]:
    """The zone's shape (with its <title>) and its marks."""
    z, theme = cell.shown, ctx.theme
    live = z.live
    zone_attr = esc(z.zone)
    marks: list[str] = []
    if cell.shape is None:
        base_r = cell.radius * 0.93
        points = hex_points(cell.cx, cell.cy, base_r)
        shape = f'<polygon class="sc-zone" data-zone="{zone_attr}" points="{points}" fill="{fill}"><title>{tip}</title></polygon>'
        outline_w = min(max(1.5, cell.radius * 0.16), 4.0)
        alert_geom = f'points="{hex_points(cell.cx, cell.cy, base_r - outline_w / 2)}"'
        drop_geom = f'points="{points}"'
        tag = "polygon"
        dot = (cell.cx + cell.radius * 0.42, cell.cy - cell.radius * 0.42, min(max(2.2, cell.radius * 0.2), 5.0))
    else:
        shape = (
            f'<path class="sc-zone" data-zone="{zone_attr}" d="{cell.shape.path}" fill="{fill}" fill-rule="evenodd" '
            f'stroke="{theme.background}" stroke-width="0.8"><title>{tip}</title></path>'
        )
        outline_w = max(1.5, ctx.font * 0.2)
        alert_geom = drop_geom = f'd="{cell.shape.path}" fill-rule="evenodd"'
        tag = "path"
        dot = (cell.cx, cell.cy - ctx.font * 0.9, max(2.5, ctx.font * 0.3))  # above the label
    if live is not None and live.state == CONGESTED:
        marks.append(
            f'<{tag} class="sc-mark-alert" data-zone="{zone_attr}" {alert_geom} fill="none" stroke="{theme.outline}" '
            f'stroke-width="{_f(outline_w)}" stroke-linejoin="round"/>'
        )
    if live is not None and live.drop_state == DROPPED:
        marks.append(
            f'<{tag} class="sc-mark-drop" data-zone="{zone_attr}" {drop_geom} fill="url(#sc-hatch-{theme.name}) none" '
            f'stroke="{theme.drop}" stroke-width="{_f(max(1.2, outline_w * 0.7))}" stroke-dasharray="3 2"/>'
        )
    if live is not None and live.silent_sensors > 0:
        marks.append(
            f'<circle class="sc-mark-silent" data-zone="{zone_attr}" cx="{_f(dot[0])}" cy="{_f(dot[1])}" r="{_f(dot[2])}" '
            f'fill="{theme.silent}" stroke="{theme.background}" stroke-width="1"/>'
        )
    return shape, marks


def _zone_label(cell: _Cell, ctx: _Ctx, fill: str) -> str:
    """The zone id inside its shape when there is room for a readable one, else nothing."""
    if cell.shape is None:
        size = min(ctx.font * 0.85, cell.radius * 0.42)
        room, height = cell.radius * 1.5, cell.radius
    else:
        size = ctx.font * 0.85
        room, height = cell.shape.w * 0.8, cell.shape.h * 0.6
    if size < 7.5 or height < size * 1.2:
        return ""
    label = truncate_middle(cell.shown.zone, room, size)
    if len(label) < min(4, len(cell.shown.zone)):
        return ""
    return _text(cell.cx, cell.cy + size * 0.35, esc(label), size, ink_on(fill), anchor="middle", extra=' pointer-events="none"')


def _city(zones: list[ZoneShown], polygons: dict, box: Box, ctx: _Ctx) -> str:
    theme, view = ctx.theme, ctx.view
    inner = Box(ctx.pad, ctx.pad, box.w - 2 * ctx.pad, box.h - 2 * ctx.pad)
    legend_h, _none = _legend(inner, ctx, draw=False)
    shapes_box = Box(inner.x, inner.y, inner.w, max(0.0, inner.h - legend_h - ctx.pad))
    parts = [_svg_open("sc-city", box, ctx), _hatch_pattern(theme)]
    cells = _place(zones, shapes_box, polygons, ctx)
    shapes, marks, labels = ['<g class="sc-zones">'], ['<g class="sc-marks" pointer-events="none">'], ['<g class="sc-labels">']
    for cell in cells:
        z = cell.shown
        fill = ctx.colour(z.figures)
        note = " (previous window: no readings in the current one)" if z.figures is not None and z.window != view.current_window else ""
        tip = tooltip(z.zone, z.live, z.figures, z.window if z.figures is not None else view.current_window, view.window_seconds, note)
        shape, zone_marks = _zone_markup(cell, ctx, tip, fill)
        shapes.append(shape)
        marks.extend(zone_marks)
        labels.append(_zone_label(cell, ctx, fill))
    if not cells:
        parts.append(_text(box.w / 2, shapes_box.y + shapes_box.h / 2, "no zones yet", ctx.font, theme.muted, anchor="middle"))
    parts.extend(shapes)
    parts.append("</g>")
    parts.extend(marks)
    parts.append("</g>")
    parts.extend(labels)
    parts.append("</g>")
    _height, legend = _legend(Box(inner.x, inner.y + inner.h - legend_h, inner.w, legend_h), ctx, draw=True)
    parts.append('<g class="sc-legend">')
    parts.extend(legend)
    parts.append("</g></svg>")
    return "".join(parts)


# -- heat strip ---------------------------------------------------------------------------------------------------

def _strip_rows(ranked_zones: list[ZoneShown], top_n: int, room: float, size: float) -> tuple[list[ZoneShown], float, float]:
    """The rows that fit: (rows, row height, row font size). Rows never get shorter than a readable 9 px."""
    wanted = min(max(top_n, 0), len(ranked_zones))
    if wanted == 0 or room <= 0:
        return [], 0.0, size
    fits = int(room // 9.0)
    rows = ranked_zones[: min(wanted, fits)]
    if not rows:
        return [], 0.0, size
    row_h = min(room / len(rows), size * 1.7)
    return rows, row_h, min(size, row_h * 0.78)


def _time_axis(windows: list[int], grid_x: float, cell_w: float, y: float, box: Box, ctx: _Ctx) -> list[str]:
    """Clock labels over the strip's columns, newest first, every few columns so that none overlap or overflow."""
    seconds = ctx.view.window_seconds % 60 != 0
    size = ctx.font * 0.8
    label_w = text_width("00:00:00" if seconds else "00:00", size)
    stride = max(1, int(-(-(label_w + size) // cell_w)))
    parts: list[str] = []
    left_of_previous = box.w
    for i in range(len(windows) - 1, -1, -stride):
        x = min(max(grid_x + (i + 0.5) * cell_w, ctx.pad + label_w / 2), box.w - ctx.pad - label_w / 2)
        if x + label_w / 2 + size * 0.5 > left_of_previous:
            continue
        parts.append(_text(x, y, _clock(windows[i], seconds), size, ctx.theme.muted, anchor="middle"))
        left_of_previous = x - label_w / 2
    return parts


def _strip(zones: list[ZoneShown], box: Box, top_n: int, strip_windows: int, ctx: _Ctx) -> str:
    theme, view, pad = ctx.theme, ctx.view, ctx.pad
    size = ctx.font
    parts = [_svg_open("sc-strip", box, ctx)]
    windows = view.windows(max(1, strip_windows))
    order = ranked(zones)
    title_y = pad + size
    if not windows or not order:
        message = "No windows yet" if not windows else "No zones yet"
        parts.append(_text(pad, title_y, esc(truncate(message, box.w - 2 * pad, size)), size, theme.muted))
        parts.append("</svg>")
        return "".join(parts)
    axis_y = title_y + size * 1.5
    rows_top = axis_y + size * 0.6
    rows, row_h, row_size = _strip_rows(order, top_n, box.h - pad - rows_top, size * 0.9)
    heading = f"Most congested: top {len(rows)} of {len(order)} zones, last {len(windows)} windows"
    if text_width(heading, size, bold=True) > box.w - 2 * pad:
        heading = f"Top {len(rows)} of {len(order)}, {len(windows)} windows"
    if text_width(heading, size, bold=True) > box.w - 2 * pad:
        heading = f"Top {len(rows)}/{len(order)}"
    parts.append(_text(pad, title_y, esc(truncate(heading, box.w - 2 * pad, size, bold=True)), size, theme.text, bold=True))
    value_w = text_width("0.00", row_size) + pad if box.w >= 220 else 0.0
    longest = max((len(z.zone) for z in rows), default=1)
    label_w = min(text_width("m" * max(longest, 4), row_size, bold=True) + pad, (box.w - 2 * pad) * 0.38)
    grid_x = pad + label_w
    grid_w = max(1.0, box.w - pad - value_w - grid_x)
    cell_w = grid_w / len(windows)
    gap = 1.0 if cell_w > 5 else 0.0
    parts.extend(_time_axis(windows, grid_x, cell_w, axis_y, box, ctx))
    for r, z in enumerate(rows):
        y = rows_top + r * row_h
        live = z.live
        bold = live is not None and live.state == CONGESTED
        label = esc(truncate(z.zone, label_w - pad, row_size, bold=bold))
        weight = ' font-weight="bold"' if bold else ""
        parts.append(
            f'<text class="sc-row-label" x="{_f(pad)}" y="{_f(y + row_h / 2 + row_size * 0.35)}" font-size="{_f(row_size)}" '
            f'fill="{theme.alert_text if bold else theme.text}"{weight}><title>{esc(z.zone)}</title>{label}</text>'
        )
        for i, window in enumerate(windows):
            figures = live.windows.get(window) if live is not None else None
            figures = figures if figures is not None and figures.count > 0 else None
            parts.append(
                f'<rect class="sc-cell" data-zone="{esc(z.zone)}" data-window="{window}" x="{_f(grid_x + i * cell_w)}" '
                f'y="{_f(y + (gap if row_h > 6 else 0) / 2)}" width="{_f(max(0.5, cell_w - gap))}" height="{_f(max(0.5, row_h - (gap if row_h > 6 else 0)))}" '
                f'fill="{ctx.colour(figures)}"><title>{tooltip(z.zone, live, figures, window, view.window_seconds)}</title></rect>'
            )
        if value_w:
            value = f"{z.current.congestion_index:.2f}" if z.current else EN_DASH
            parts.append(_text(box.w - pad, y + row_h / 2 + row_size * 0.35, value, row_size, theme.muted, anchor="end"))
    parts.append("</svg>")
    return "".join(parts)


# -- entry point --------------------------------------------------------------------------------------------------

def _body_boxes(width: float, top: float, height: float) -> tuple[Box, Box]:
    """City view and heat strip side by side when the body is wide, else stacked."""
    body_h = max(1.0, height - top)
    if width >= 1.15 * body_h:
        city_w = round(width * 0.56)
        return Box(0, top, city_w, body_h), Box(city_w, top, width - city_w, body_h)
    city_h = round(body_h * 0.6)
    return Box(0, top, width, city_h), Box(0, top + city_h, width, body_h - city_h)


def render(
    view: LiveView,
    *,
    width: int = 800,
    height: int = 600,
    theme: str = "light",
    top_n: int = 20,
    strip_windows: int = 10,
    geometry: dict | None = None,
    title: str = "Live congestion",
    now_ms: int | None = None,
) -> str:
    """The live view as an HTML fragment (a <div> of inline SVGs) exactly ``width`` x ``height`` pixels (at least
    160 x 100). Deterministic for the same arguments and ``now_ms`` (default: the clock)."""
    width, height = max(MIN_WIDTH, int(width)), max(MIN_HEIGHT, int(height))
    now = int(time.time() * 1000) if now_ms is None else int(now_ms)
    ctx = _Ctx(view, theme_for(theme), min(max(min(width, height * 1.6) / 60, 9.0), 15.0), 6.0)
    polygons = zone_polygons(geometry) if geometry else {}
    zones = shown_zones(view, tuple(polygons))
    header, header_h = _header(view, title, now, width, height, ctx)
    city_box, strip_box = _body_boxes(width, round(header_h), height)
    parts = [
        f'<div class="sc-live sc-theme-{ctx.theme.name}" style="position:relative;width:{width}px;height:{height}px;'
        f"overflow:hidden;background:{ctx.theme.background};color:{ctx.theme.text};font-family:{FONT_FAMILY}\">",
        header,
        _city(zones, polygons, city_box, ctx),
        _strip(zones, strip_box, top_n, strip_windows, ctx),
        "</div>",
    ]
    return "".join(parts).encode("ascii", "xmlcharrefreplace").decode("ascii")
