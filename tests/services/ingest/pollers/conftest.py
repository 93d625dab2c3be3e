"""A local HTTP server that answers like the platforms' APIs, recorded answers and failures alike."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from services.ingest.poll_main import fetch
from services.ingest.pollers import Reply, Request

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "pollers"
#: client timeout in tests; a "timeout" answer waits longer than this
CLIENT_TIMEOUT_S = 0.3


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json; charset=UTF-8"),)
    #: "timeout": answer too late; "reset": close the connection without an answer;
    #: "truncated": promise more body than is sent
    fault: str | None = None


def fixture(name: str, status: int = 200, headers: tuple[tuple[str, str], ...] | None = None) -> Answer:
    ctype = "application/atom+xml" if name.endswith(".xml") else "application/json; charset=UTF-8"
    return Answer(status, (FIXTURES / name).read_bytes(), headers or (("Content-Type", ctype),))


#: every failure an API (or the network in between) gives, none of which may ever read as a deletion
FAILURES: dict[str, Answer] = {
    "timeout": Answer(fault="timeout"),
    "reset": Answer(fault="reset"),
    "truncated": Answer(fault="truncated"),
    "429": Answer(429, b'{"error": "slow down"}', (("Retry-After", "30"),)),
    "500": Answer(500, b"Internal Server Error", (("Content-Type", "text/plain"),)),
    "502_html": Answer(502, (FIXTURES / "rss" / "not_a_feed.html").read_bytes(), (("Content-Type", "text/html"),)),
    "503": Answer(503, b"", (("Retry-After", "120"),)),
    "401": Answer(401, b'{"error": "unauthorized"}'),
    "403": Answer(403, b"forbidden"),
    "404_html": Answer(404, b"<html>not here</html>", (("Content-Type", "text/html"),)),
    "200_garbage": Answer(200, b"\x00\xff not json"),
    "200_html": Answer(200, (FIXTURES / "rss" / "not_a_feed.html").read_bytes(), (("Content-Type", "text/html"),)),
    "200_empty": Answer(200, b""),
    "200_wrong_shape": Answer(200, b'{"unexpected": [1, 2, 3]}'),
    "200_null": Answer(200, b"null"),
    "yt_quota": fixture("youtube/error_quota.json", 403),
    "yt_forbidden": fixture("youtube/error_forbidden.json", 403),
    "yt_bad_key": fixture("youtube/error_bad_key.json", 400),
    "vk_auth": fixture("vk/error_auth.json"),
    "vk_flood": fixture("vk/error_flood.json"),
    "vk_access": fixture("vk/error_access.json"),
    "vk_internal": fixture("vk/error_internal.json"),
    "ig_token": fixture("instagram/error_token.json", 400),
    "ig_rate": fixture("instagram/error_rate.json", 403),
    "ig_transient": fixture("instagram/error_transient.json", 500),
}


@dataclass
class ApiServer:
    base: str
    #: path (or ``path?name=value``: only requests with that query parameter) -> answers in
    #: order (the last one repeats)
    routes: dict[str, list[Answer]] = field(default_factory=dict)
    #: (path, query, headers) of every request, in order
    requests: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)

    def route(self, path: str, *answers: Answer) -> None:
        self.routes[path] = list(answers)

    def fetch(self, req: Request) -> Reply:
        return fetch(req, CLIENT_TIMEOUT_S)


@pytest.fixture
def api() -> Iterator[ApiServer]:
    state: dict[str, ApiServer] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            srv = state["srv"]
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            srv.requests.append((parts.path, query, {k.lower(): v for k, v in self.headers.items()}))
            by_param = (srv.routes.get(f"{parts.path}?{k}={v}") for k, v in query.items())
            queue = next((q for q in by_param if q), None) or srv.routes.get(parts.path)
            if not queue:
                self._send(Answer(404, b'{"error": "no route"}'))
                return
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            if answer.fault == "timeout":
                time.sleep(CLIENT_TIMEOUT_S * 3)
                return
            if answer.fault == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.connection.close()
                return
            if answer.fault == "truncated":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b'{"items": [')
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if_none = self.headers.get("If-None-Match")
            etag = dict(answer.headers).get("ETag")
            if etag and if_none == etag:
                self._send(Answer(304, b"", (("ETag", etag),)))
                return
            self._send(answer)

        def _send(self, a: Answer) -> None:
            self.send_response(a.status)
            for k, v in a.headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(a.body)))
            self.end_headers()
            if a.status != 304:
                self.wfile.write(a.body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state["srv"] = ApiServer(f"http://127.0.0.1:{httpd.server_address[1]}")
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield state["srv"]
    finally:
        httpd.shutdown()
        httpd.server_close()
