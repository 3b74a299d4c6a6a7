# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""moto's server itself, for every service: routing (fix 12), kept-alive connections (21), request ids (23)."""

from __future__ import annotations

import contextlib
import functools
import os
import socket
from typing import Any

import moto.backends
import moto.server
from moto.core.responses import BaseResponse
from moto.moto_server.werkzeug_app import MotoRequestHandler
from moto.utilities.aws_headers import gen_amzn_requestid_long
from werkzeug.wsgi import LimitedStream

from .registry import fix, patch

# moto's own, as the fixes found them.
_list_of_moto_modules = moto.backends.list_of_moto_modules
_enrich_response = BaseResponse._enrich_response


# --- 12 -----------------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _moto_modules() -> tuple[str, ...]:
    return tuple(_list_of_moto_modules())


@fix(12)
def moto_modules_are_listed_once() -> None:
    """moto's list of its service modules is read from disk once.

    moto: lists its package directory from disk for every request, to route it.
    AWS: (speed only) the same routing.
    Fix: the listing is read once and kept.
    """
    patch(moto.backends, "list_of_moto_modules", _moto_modules)


# --- 21 -----------------------------------------------------------------------------------------------------------------
class _NothingLeft:
    """What werkzeug's after-response drain sees on a kept-alive connection: a socket that answers at once (an fd that
    is always readable, so its select does not wait 10 ms) and a stream with nothing in it (so it stops at once instead
    of reading the client's next request, or blocking until the client closes)."""

    def __init__(self) -> None:
        self._read_end, write_end = os.pipe()
        os.write(write_end, b"x")  # never read: the read end stays readable

    def fileno(self) -> int:
        return self._read_end

    def read(self, size: int = -1) -> bytes:
        return b""


@functools.lru_cache(maxsize=1)
def _nothing_left() -> _NothingLeft:
    return _NothingLeft()


class KeepAliveRequestHandler(MotoRequestHandler):
    """moto's request handler without werkzeug's "Connection: close" on every response. werkzeug closes because, after
    a response, it reads whatever is left on the socket (it cannot tell where an unread request body ends); this
    handler reads exactly the rest of the request's body instead and leaves the next request on the connection."""

    timeout = 300  # an idle kept-alive connection is closed after this long (clients reconnect)
    wbufsize = 65536  # a response's headers and body leave in one send (werkzeug flushes after writing the body)
    _body: LimitedStream | None = None
    _socket: Any = None

    def setup(self) -> None:
        super().setup()
        # werkzeug writes a response's headers and its body separately: on a kept-alive connection Nagle's algorithm
        # holds the body until the client acknowledges the headers, which a client delays by up to 40 ms.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()  # wsgi.input is the connection's stream
        self._body = None
        keep = self.headers.get("Connection", "").lower() != "close" and not environ.get("wsgi.input_terminated")
        if keep and self.request_version == "HTTP/1.1":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if length >= 0:
                self._body = LimitedStream(environ["wsgi.input"], length)
                environ["wsgi.input"] = self._body
                # until the response is out, werkzeug's drain sees nothing left (see _NothingLeft)
                self._socket = (self.rfile, self.connection)
                self.rfile, self.connection = _nothing_left(), _nothing_left()  # type: ignore[assignment]
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        if self._body is not None and keyword.lower() == "connection" and value.lower() == "close":
            return  # the response is framed (Content-Length or chunked): the connection can carry the next request
        super().send_header(keyword, value)

    def run_wsgi(self) -> None:
        self._body = self._socket = None
        try:
            super().run_wsgi()
        finally:
            if self._socket is not None:
                self.rfile, self.connection = self._socket
                self._socket = None
            with contextlib.suppress(OSError, ValueError):
                self.wfile.flush()  # werkzeug writes a chunked response's last chunk without a flush
        if self._body is not None:
            self._body.exhaust()  # what the handler did not read of the body, so the next request line is found
            self._body = None


@fix(21)
def connections_are_kept_alive() -> None:
    """moto's server keeps connections alive between requests, and responses leave at once.

    moto: its server (werkzeug's development server) ends every connection after one response ("Connection: close"),
    so every AWS call opens a new TCP connection and moto starts a new thread for it: at pipeline rates a few hundred
    connections a second, each costing the client a connect and moto an accept, a thread and a shutdown.
    AWS: keeps HTTP/1.1 connections alive.
    Fix: connections are kept alive unless the client asks to close or sends a chunked body; whatever a handler
    leaves unread of a request body is read before the next request, and responses go out at once (TCP_NODELAY:
    werkzeug writes headers and body apart, and Nagle's algorithm would hold the body for the client's delayed
    acknowledgement, about 40 ms per request) and, up to 64 KB, in one send.
    """
    patch(moto.server, "MotoRequestHandler", KeepAliveRequestHandler)


# --- 23 -----------------------------------------------------------------------------------------------------------------
def enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
    """moto's _enrich_response: the status as text, a request id in the headers and, in an XML body, in <RequestId>."""
    if isinstance(body, str) and "<RequestId>" in body:
        return _enrich_response(headers, body)
    if "status" in headers:
        headers["status"] = str(headers["status"])
    gen_amzn_requestid_long(headers)
    return headers, body  # moto's regular expression finds nothing to replace here (a bytes body makes it fail quietly)


@fix(23)
def request_ids_without_the_body_search() -> None:
    """A response body without "<RequestId>" is not searched for one.

    moto: searches every response body with a look-behind regular expression for an XML <RequestId> to replace, JSON
    bodies too: a GetRecords answer of several MB is scanned character by character (a tenth of the endpoint's time
    at pipeline rates).
    AWS: (speed only) the same headers and bodies.
    Fix: a body without "<RequestId>" gets its request id header without the search (the same result).
    """
    patch(BaseResponse, "_enrich_response", staticmethod(enrich_response))
