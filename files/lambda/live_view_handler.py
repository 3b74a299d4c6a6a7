"""Live congestion view: handler ``live_view_handler.lambda_handler``, the CloudWatch custom widget's function.

CloudWatch calls it with ``{"describe": true}`` (the widget's documentation, Markdown) or with a ``widgetContext``
(``width``, ``height`` in pixels, ``theme`` light/dark, ``timeRange``, ``params`` from the widget definition) and
shows the HTML it returns. It reads the live view's digests with one Query (``stream_processor.live_read``) and
draws them with the renderer the env=local page uses too (``stream_processor.live_render``).

Configuration through environment variables: ``TABLE_NAME``, ``WINDOW_SECONDS``, ``CONGESTION_THRESHOLD``,
``CONGESTION_CLEAR_THRESHOLD`` (as the processor's), and ``ZONES_GEOJSON`` (optional: a GeoJSON file in the package
with each zone's polygon in ``properties.zone``; zones without one get a grid cell). Widget params (all optional):
``top`` (zones in the heat strip, 1-100, default 20), ``windows`` (heat strip windows, 2-60, default 10), ``title``.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the package beside this file, however imported

import boto3
from stream_processor.aws import client_config
from stream_processor.config import ConfigError, env_number
from stream_processor.live_read import read_view
from stream_processor.live_render import render

DESCRIBE = """## Live congestion

The city's zones coloured by the current window's congestion index, from the live state the stream processor keeps
in DynamoDB (at most one processor batch old; the dashboard's auto-refresh reloads it every 10 s at the fastest).
Zones in alert, in data drop, and with silent sensors are marked; hover a zone or a heat-strip cell for its figures.

Widget parameters (all optional):

```yaml
top: 20       # zones in the heat strip, most congested first (1-100)
windows: 10   # windows in the heat strip (2-60)
title: Live congestion
```
"""


@functools.lru_cache(maxsize=1)
def settings() -> dict[str, Any]:
    env = os.environ
    table = env.get("TABLE_NAME", "").strip()
    if not table:
        raise ConfigError("TABLE_NAME: required (the stack sets it)")
    geometry = None
    path = env.get("ZONES_GEOJSON", "").strip()
    if path:
        full = path if os.path.isabs(path) else os.path.join(os.path.dirname(os.path.abspath(__file__)), path)
        with open(full, encoding="utf-8") as handle:
            geometry = json.load(handle)
    return {
        "table": table,
        "window_seconds": env_number(env, "WINDOW_SECONDS", 60, 10, 3600),
        "congestion_threshold": env_number(env, "CONGESTION_THRESHOLD", 0.7, 0.0, 1.0),
        "clear_threshold": env_number(env, "CONGESTION_CLEAR_THRESHOLD", 0.5, 0.0, 1.0),
        "geometry": geometry,
    }


@functools.lru_cache(maxsize=1)
def dynamodb() -> Any:
    return boto3.session.Session().client("dynamodb", config=client_config())


def _param(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    """A widget parameter as an integer within low..high; the default when it is missing or not a number."""
    try:
        value = int(params.get(name, default))
    except (TypeError, ValueError):
        return default
    return min(max(value, low), high)


def page(client: Any, cfg: dict[str, Any], context: dict[str, Any], now: float) -> tuple[str, int]:
    """The widget's HTML for a widgetContext, and the DynamoDB requests it took."""
    params = context.get("params") if isinstance(context.get("params"), dict) else {}
    windows = _param(params, "windows", 10, 2, 60)
    result = read_view(
        client, cfg["table"], cfg["window_seconds"], windows, now, cfg["congestion_threshold"], cfg["clear_threshold"]
    )
    html = render(
        result.view,
        width=_param(context, "width", 800, 200, 4000),
        height=_param(context, "height", 600, 150, 4000),
        theme="dark" if context.get("theme") == "dark" else "light",
        top_n=_param(params, "top", 20, 1, 100),
        strip_windows=windows,
        geometry=cfg["geometry"],
        title=str(params.get("title") or "Live congestion")[:120],
        now_ms=int(now * 1000),
    )
    return html, result.requests


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    if isinstance(event, dict) and event.get("describe"):
        return DESCRIBE
    widget = event.get("widgetContext") if isinstance(event, dict) else None
    html, _requests = page(dynamodb(), settings(), widget if isinstance(widget, dict) else {}, time.time())
    return html
