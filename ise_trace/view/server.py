"""The local web server of `ise-trace view`: one HTML page, its script and style, two JSON endpoints.

    GET /                       the page (static/index.html)
    GET /static/<asset>         app.js, style.css: a fixed set, never a path on disk
    GET /api/list?...           one page of the list (filters, paging, counts): `source.Query`
    GET /api/trajectory?id=...  one whole trajectory

Nothing in a URL is ever joined to a filesystem path: the assets are a fixed table and a
trajectory is looked up by its id in the source's index, so the server shows what is in PATH and
nothing else. It binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import errno
import json
import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..errors import UserError
from .source import Query, Source

log = logging.getLogger(__name__)

ASSETS = {  # URL path -> (file in ise_trace/view/static, content type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
# The page loads only its own script and style, and no inline code.
CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'"


def asset(name: str) -> bytes:
    try:
        return resources.files(__package__).joinpath("static", name).read_bytes()
    except FileNotFoundError:
        raise UserError(f"ise_trace/view/static/{name}: missing from this install of ise-trace; reinstall it") from None


class ViewHandler(BaseHTTPRequestHandler):
    server: ViewServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query))
        try:
            if url.path in ASSETS:
                name, ctype = ASSETS[url.path]
                self._send(HTTPStatus.OK, asset(name), ctype)
            elif url.path == "/api/list":
                self._json(HTTPStatus.OK, self.server.source.list(Query.from_params(params)))
            elif url.path == "/api/trajectory":
                pos = self.server.source.position(params.get("id", ""))
                if pos is None:
                    self._json(HTTPStatus.NOT_FOUND, {"error": f"no trajectory with id {params.get('id', '')!r} here"})
                else:
                    self._json(HTTPStatus.OK, self.server.source.trajectory(pos))
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"nothing at {url.path}"})
        except UserError as e:  # the source went bad under us (a bad ledger line): say so on the page
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(e)})

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def _json(self, status: HTTPStatus, data: Any) -> None:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8")

    def _send(self, status: HTTPStatus, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        log.debug("%s %s", self.address_string(), format % args)


class ViewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, source: Source, host: str, port: int):
        self.source = source
        try:
            super().__init__((host, port), ViewHandler)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise UserError(f"{host}:{port}: port already in use; stop what holds it or choose another --port") from None
            raise UserError(f"{host}:{port}: cannot listen there ({e.strerror or e}); check --host and --port") from None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"
