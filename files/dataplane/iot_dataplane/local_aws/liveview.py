"""The live congestion page of env=local: the CloudWatch custom widget's stand-in, on 127.0.0.1 only.

It reads the live view's digests from the local endpoint with the same one Query as the widget function
(``stream_processor.live_read``) and draws them with the same renderer (``stream_processor.live_render``), so what a
user sees here is what the dashboard shows on AWS. The page itself is a small shell that asks for a new fragment
every second (the fragment has no JavaScript, as CloudWatch requires; only this shell has), keeps the last picture
when a request fails and says so, and adapts the fragment to the window's size and the browser's colour scheme.

Routes: ``/`` the page; ``/fragment?width=&height=&theme=light|dark&top=&windows=`` the widget's HTML, exactly what
the widget function returns for that widgetContext; ``/healthz`` 200 while the endpoint answers.
The function's configuration (table, window, thresholds) is read from the deployed function at the endpoint, as the
poller does, so the page follows the stack.
"""

from __future__ import annotations

import html
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..shared import LOG, DependencyError

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 html, body {{ margin: 0; font-family: system-ui, sans-serif; }}
 body {{ background: #ffffff; color: #16191f; }}
 body.dark {{ background: #0f1b2a; color: #d1d5db; }}
 #status {{ font-size: 12px; padding: 4px 12px; opacity: 0.8; }}
 #status.stale {{ color: #d13212; opacity: 1; }}
 #view {{ padding: 0 12px 12px; }}
</style></head>
<body><div id="status">{region}: connecting</div><div id="view" data-updated="0"></div>
<noscript><meta http-equiv="refresh" content="2"><p>Without JavaScript this page reloads every 2 s.</p>{first}</noscript>
<script>
(function () {{
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  var theme = new URLSearchParams(location.search).get("theme") || (dark ? "dark" : "light");
  if (theme === "dark") document.body.className = "dark";
  var view = document.getElementById("view"), status = document.getElementById("status");
  var updates = 0, last = 0;
  function tick() {{
    var w = Math.max(300, document.documentElement.clientWidth - 30), h = Math.max(200, window.innerHeight - 48);
    var q = new URLSearchParams(location.search); q.set("width", w); q.set("height", h); q.set("theme", theme);
    fetch("/fragment?" + q.toString(), {{cache: "no-store"}}).then(function (r) {{
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.text();
    }}).then(function (text) {{
      view.innerHTML = text; updates += 1; last = Date.now();
      view.setAttribute("data-updated", String(updates));
      status.className = ""; status.textContent = "{region}: updated " + new Date(last).toISOString().slice(11, 19) + " UTC, every {every} s";
    }}).catch(function (e) {{
      status.className = "stale";
      var shown = last ? new Date(last).toISOString().slice(11, 19) + " UTC" : "nothing yet";
      status.textContent = "{region}: no answer (" + e.message + ") - showing the picture of " + shown;
    }}).finally(function () {{ setTimeout(tick, {every_ms}); }});
  }}
  tick();
}})();
</script></body></html>
"""


def _int(query: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(query.get(name, [default])[0]), low), high)
    except ValueError:
        return default


class LiveView:
    """Reads and renders; one instance shared by the server's threads (boto3 clients are thread-safe)."""

    def __init__(self, lambda_client: Any, dynamodb: Any, function_name: str, region: str, lambda_dir: str,
                 geometry: dict | None = None, every_seconds: float = 1.0) -> None:
        if lambda_dir not in sys.path:
            sys.path.insert(0, lambda_dir)
        from stream_processor.config import env_number  # noqa: PLC0415  pylint: disable=import-outside-toplevel,import-error
        from stream_processor.live_read import read_view  # noqa: PLC0415  pylint: disable=import-outside-toplevel,import-error
        from stream_processor.live_render import render  # noqa: PLC0415  pylint: disable=import-outside-toplevel,import-error

        self.read_view, self.render, self.env_number = read_view, render, env_number
        self.lambda_client = lambda_client
        self.dynamodb = dynamodb
        self.function_name = function_name
        self.region = region
        self.geometry = geometry
        self.every_seconds = every_seconds
        self.lock = threading.Lock()
        self.config: dict[str, Any] | None = None
        self.renders = 0
        self.requests = 0

    def settings(self) -> dict[str, Any]:
        """The function's table, window and thresholds (read once; a redeploy restarts this process)."""
        with self.lock:
            if self.config is None:
                try:
                    function = self.lambda_client.get_function_configuration(FunctionName=self.function_name)
                except Exception as exc:
                    raise DependencyError(f"cannot read function {self.function_name}: {exc}. Deploy the stack first.") from exc
                # as Lambda gives them to the function: strings (the local endpoint keeps a Number parameter's int)
                env = {k: str(v) for k, v in ((function.get("Environment") or {}).get("Variables") or {}).items()}
                self.config = {  # the processor's own rules and defaults for these variables
                    "table": env["TABLE_NAME"],
                    "window_seconds": self.env_number(env, "WINDOW_SECONDS", 60, 10, 3600),
                    "congestion_threshold": self.env_number(env, "CONGESTION_THRESHOLD", 0.7, 0.0, 1.0),
                    "clear_threshold": self.env_number(env, "CONGESTION_CLEAR_THRESHOLD", 0.5, 0.0, 1.0),
                }
            return self.config

    def fragment(self, query: dict[str, list[str]]) -> str:
        cfg = self.settings()
        windows = _int(query, "windows", 10, 2, 60)
        now = time.time()
        result = self.read_view(self.dynamodb, cfg["table"], cfg["window_seconds"], windows, now,
                                cfg["congestion_threshold"], cfg["clear_threshold"])
        with self.lock:
            self.renders += 1
            self.requests += result.requests
        return self.render(
            result.view,
            width=_int(query, "width", 800, 200, 4000),
            height=_int(query, "height", 600, 150, 4000),
            theme="dark" if query.get("theme", ["light"])[0] == "dark" else "light",
            top_n=_int(query, "top", 20, 1, 100),
            strip_windows=windows,
            geometry=self.geometry,
            title=f"Live congestion - {self.region}",
            now_ms=int(now * 1000),
        )

    def page(self, query: dict[str, list[str]]) -> str:
        try:
            first = self.fragment(query)
        except Exception as exc:  # the shell still loads; its first fetch shows the reason
            first = f"<p>{html.escape(str(exc))}</p>"
        every = self.every_seconds
        return PAGE.format(title=html.escape(f"Live congestion - {self.region}"), region=html.escape(self.region),
                           every=f"{every:g}", every_ms=int(every * 1000), first=first)


def make_handler(view: LiveView) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "smartcity-live-view"

        def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin
            LOG.debug("%s %s", self.address_string(), format % args)

        def _send(self, status: int, body: str, content_type: str = "text/html; charset=utf-8") -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            # The page loads nothing from elsewhere and nothing may frame it.
            self.send_header("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                                        "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # pylint: disable=invalid-name
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            try:
                if url.path == "/":
                    self._send(200, view.page(query))
                elif url.path == "/fragment":
                    self._send(200, view.fragment(query))
                elif url.path == "/healthz":
                    view.settings()
                    self._send(200, json.dumps({"renders": view.renders, "requests": view.requests}), "application/json")
                else:
                    self._send(404, "not found", "text/plain; charset=utf-8")
            except Exception as exc:
                LOG.warning("%s failed: %s", url.path, exc)
                self._send(503, html.escape(f"live view unavailable: {exc}"), "text/plain; charset=utf-8")

    return Handler


def serve(view: LiveView, host: str, port: int, max_seconds: float | None = None) -> None:
    """Serve until SIGTERM (the caller's signal handler raises SystemExit) or max_seconds."""
    server = ThreadingHTTPServer((host, port), make_handler(view))
    server.daemon_threads = True
    LOG.info("live view of %s on http://%s:%s/", view.region, host, port)
    if max_seconds is not None:
        threading.Timer(max_seconds, server.shutdown).start()
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()


def load_geometry(path: str | None) -> dict | None:
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DependencyError(f"zones GeoJSON {path}: {exc}") from exc
