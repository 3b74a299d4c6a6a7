"""Geometry for the live congestion view: text metrics, line flow, the hex layout of zones without a shape, and the
projection of GeoJSON zone polygons (lon/lat) into a box.

Pure Python 3.9+, standard library only; ``live_render`` draws what this module places.
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

SQRT3 = math.sqrt(3.0)
CHAR_EM = 0.6  # estimated advance of one character in em (sans-serif, with a margin: digits are 0.56)
BOLD_EM = 0.64
ELLIPSIS = "\u2026"

Point = tuple[float, float]
Ring = list[Point]
Polygon = list[Ring]  # outer ring first, then holes


class Box(NamedTuple):
    x: float
    y: float
    w: float
    h: float


class Shape(NamedTuple):
    """A zone polygon projected into its box: the SVG path, where its label or badge goes, and its size."""

    path: str
    cx: float
    cy: float
    w: float
    h: float


class HexLayout(NamedTuple):
    radius: float
    centres: list[Point]


# -- text ---------------------------------------------------------------------------------------------------------

def text_width(text: str, size: float, bold: bool = False) -> float:
    return len(text) * size * (BOLD_EM if bold else CHAR_EM)


def truncate(text: str, max_width: float, size: float, bold: bool = False) -> str:
    """``text`` cut to fit ``max_width`` at font ``size``, ending in an ellipsis when it was cut."""
    max_chars = int(max_width // (size * (BOLD_EM if bold else CHAR_EM))) if size > 0 else 0
    if len(text) <= max_chars:
        return text
    if max_chars <= 1:
        return ELLIPSIS if max_chars == 1 else ""
    return text[: max_chars - 1] + ELLIPSIS


def truncate_middle(text: str, max_width: float, size: float) -> str:
    """Like ``truncate``, but the ellipsis goes in the middle and the end is kept: ids that share a prefix
    (``zone-101``, ``zone-102``) stay told apart."""
    max_chars = int(max_width // (size * CHAR_EM)) if size > 0 else 0
    if len(text) <= max_chars:
        return text
    if max_chars <= 2:
        return truncate(text, max_width, size)
    head = (max_chars - 1) // 3
    tail = max_chars - 1 - head
    return text[:head] + ELLIPSIS + text[len(text) - tail:]


def flow(widths: list[float], max_width: float, gap: float) -> list[list[tuple[int, float]]]:
    """Place items of the given widths left to right in lines no wider than ``max_width``: lines of (index, x)."""
    lines: list[list[tuple[int, float]]] = []
    line: list[tuple[int, float]] = []
    x = 0.0
    for index, width in enumerate(widths):
        if line and x + width > max_width:
            lines.append(line)
            line, x = [], 0.0
        line.append((index, x))
        x += width + gap
    if line:
        lines.append(line)
    return lines


_NATURAL = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[tuple[int, Any], ...], str]:
    """Sort key that puts ``zone-2`` before ``zone-10``; the raw text breaks ties, so the order is total."""
    parts = tuple((1, int(part)) if part.isdigit() else (0, part) for part in _NATURAL.split(text) if part)
    return parts, text


# -- hex layout ---------------------------------------------------------------------------------------------------

def hex_layout(count: int, box: Box, max_radius: float) -> HexLayout:
    """Pointy-top hexagons, row by row (odd rows shifted half a cell), as large as fit ``count`` cells into ``box``
    (but no larger than ``max_radius``), the grid centred in the box. Cell i's centre is ``centres[i]``."""
    if count <= 0 or box.w <= 0 or box.h <= 0:
        return HexLayout(0.0, [])
    best_r, best_cols = 0.0, 1
    for cols in range(1, count + 1):
        rows = -(-count // cols)
        by_width = box.w / (SQRT3 * (cols + (0.5 if rows > 1 else 0.0)))
        if by_width <= best_r:
            break  # more columns only make cells narrower
        radius = min(by_width, box.h / (1.5 * (rows - 1) + 2.0))
        if radius > best_r:
            best_r, best_cols = radius, cols
    radius = min(best_r, max_radius)
    cols = best_cols
    rows = -(-count // cols)
    step_x = SQRT3 * radius
    total_w = step_x * (cols + (0.5 if rows > 1 else 0.0))
    total_h = radius * (1.5 * (rows - 1) + 2.0)
    x0 = box.x + (box.w - total_w) / 2 + step_x / 2
    y0 = box.y + (box.h - total_h) / 2 + radius
    centres = []
    for i in range(count):
        row, col = divmod(i, cols)
        centres.append((x0 + col * step_x + (step_x / 2 if row % 2 else 0.0), y0 + row * 1.5 * radius))
    return HexLayout(radius, centres)


def hex_points(cx: float, cy: float, radius: float) -> str:
    """The ``points`` attribute of a pointy-top hexagon."""
    half_w = SQRT3 / 2 * radius
    half_r = radius / 2
    return (
        f"{cx:.1f},{cy - radius:.1f} {cx + half_w:.1f},{cy - half_r:.1f} {cx + half_w:.1f},{cy + half_r:.1f} "
        f"{cx:.1f},{cy + radius:.1f} {cx - half_w:.1f},{cy + half_r:.1f} {cx - half_w:.1f},{cy - half_r:.1f}"
    )


# -- GeoJSON ------------------------------------------------------------------------------------------------------

def _ring(raw: Any) -> Ring | None:
    if not isinstance(raw, (list, tuple)):
        return None
    ring: Ring = []
    for position in raw:
        if not isinstance(position, (list, tuple)) or len(position) < 2:
            return None
        lon, lat = position[0], position[1]
        if isinstance(lon, bool) or isinstance(lat, bool) or not isinstance(lon, (int, float)) or not isinstance(lat, (int, float)):
            return None
        if not (math.isfinite(lon) and math.isfinite(lat) and -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            return None
        ring.append((float(lon), float(lat)))
    return ring if len(ring) >= 3 else None


def _polygon(raw: Any) -> Polygon | None:
    if not isinstance(raw, (list, tuple)) or not raw:
        return None
    outer = _ring(raw[0])
    if outer is None:
        return None
    holes = [ring for ring in (_ring(item) for item in raw[1:]) if ring is not None]
    return [outer, *holes]


def zone_polygons(geometry: Any) -> dict[str, list[Polygon]]:
    """The polygons of each zone named by a GeoJSON FeatureCollection (``properties.zone``; Polygon or MultiPolygon
    in lon/lat). Whatever does not fit that shape is skipped; several features of one zone are merged."""
    zones: dict[str, list[Polygon]] = {}
    features = geometry.get("features") if isinstance(geometry, dict) else None
    if not isinstance(features, list):
        return zones
    for feature in features:
        if not isinstance(feature, dict):
            continue
        properties, shape = feature.get("properties"), feature.get("geometry")
        zone = properties.get("zone") if isinstance(properties, dict) else None
        if isinstance(zone, bool) or not isinstance(zone, (str, int)) or zone == "" or not isinstance(shape, dict):
            continue
        kind, coordinates = shape.get("type"), shape.get("coordinates")
        if kind == "Polygon":
            polygons = [_polygon(coordinates)]
        elif kind == "MultiPolygon" and isinstance(coordinates, (list, tuple)):
            polygons = [_polygon(item) for item in coordinates]
        else:
            continue
        found = [polygon for polygon in polygons if polygon is not None]
        if found:
            zones.setdefault(str(zone), []).extend(found)
    return zones


def _ring_area(ring: Ring) -> float:
    area = 0.0
    x0, y0 = ring[-1]
    for x1, y1 in ring:
        area += x0 * y1 - x1 * y0
        x0, y0 = x1, y1
    return area / 2


def _ring_centroid(ring: Ring) -> Point:
    area = _ring_area(ring)
    if abs(area) < 1e-12:
        return sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring)
    cx = cy = 0.0
    x0, y0 = ring[-1]
    for x1, y1 in ring:
        cross = x0 * y1 - x1 * y0
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
        x0, y0 = x1, y1
    return cx / (6 * area), cy / (6 * area)


def project_zones(polygons: dict[str, list[Polygon]], box: Box) -> dict[str, Shape]:
    """Fit all zones' polygons into ``box`` (equirectangular, longitudes scaled by the cosine of the middle
    latitude, aspect kept, centred): each zone's SVG path and the centroid of its largest polygon."""
    if not polygons or box.w <= 0 or box.h <= 0:
        return {}
    lons = [p[0] for polys in polygons.values() for poly in polys for p in poly[0]]
    lats = [p[1] for polys in polygons.values() for poly in polys for p in poly[0]]
    kx = max(math.cos(math.radians((min(lats) + max(lats)) / 2)), 0.01)
    min_x, max_x = min(lons) * kx, max(lons) * kx
    min_y, max_y = -max(lats), -min(lats)
    span_x, span_y = max_x - min_x, max_y - min_y
    if span_x <= 0 and span_y <= 0:
        scale = 1.0
    elif span_x <= 0:
        scale = box.h / span_y
    elif span_y <= 0:
        scale = box.w / span_x
    else:
        scale = min(box.w / span_x, box.h / span_y)
    off_x = box.x + (box.w - span_x * scale) / 2 - min_x * scale
    off_y = box.y + (box.h - span_y * scale) / 2 - min_y * scale

    def xy(point: Point) -> Point:
        return point[0] * kx * scale + off_x, -point[1] * scale + off_y

    shapes: dict[str, Shape] = {}
    for zone, polys in polygons.items():
        parts: list[str] = []
        largest, largest_area = polys[0][0], -1.0
        xs: list[float] = []
        ys: list[float] = []
        for poly in polys:
            for ring in poly:
                points = [xy(p) for p in ring]
                parts.append("M" + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + "Z")
            outer = [xy(p) for p in poly[0]]
            xs.extend(p[0] for p in outer)
            ys.extend(p[1] for p in outer)
            area = abs(_ring_area(outer))
            if area > largest_area:
                largest, largest_area = outer, area
        cx, cy = _ring_centroid(largest)
        shapes[zone] = Shape("".join(parts), cx, cy, max(xs) - min(xs), max(ys) - min(ys))
    return shapes


def split_box(box: Box, share: float, gap: float) -> tuple[Box, Box]:
    """Cut ``box`` along its longer side: the first part gets ``share`` of it, the second the rest (minus ``gap``)."""
    if box.w >= box.h:
        first = max(0.0, (box.w - gap) * share)
        return Box(box.x, box.y, first, box.h), Box(box.x + first + gap, box.y, max(0.0, box.w - first - gap), box.h)
    first = max(0.0, (box.h - gap) * share)
    return Box(box.x, box.y, box.w, first), Box(box.x, box.y + first + gap, box.w, max(0.0, box.h - first - gap))
