"""Local receivers for the notifier tests: an HTTP server in a thread that records requests and
answers as the test scripts it (429 with hints, errors, hanging), and a clock tests move."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    #: the test clock's time when it arrived
    at: float

    def json(self):
        return json.loads(self.body)


Answer = tuple[int, dict[str, str], bytes]


class FakeServer:
    def __init__(self, respond: Callable[[Seen, int], Answer], clock: Callable[[], float] = lambda: 0.0) -> None:
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:
                    # the sender died mid-request (the SIGKILL tests): a real receiver never
                    # sees a truncated body as a request, so neither does this one
                    self.close_connection = True
                    return
                seen = Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body, clock())
                with outer._lock:
                    outer.requests.append(seen)
                    n = len(outer.requests)
                status, headers, out = respond(seen, n)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format, *args):  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class VirtualClock:
    """Time that jumps instead of passing: a dispatcher thread that would wait N s moves it on
    by N at once. Back-offs, hints and rate limits are then checked in this clock's time."""

    def __init__(self) -> None:
        self.t = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.t

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        if timeout is None:
            cond.wait(0.05)
            return
        with self._lock:
            self.t += timeout
        cond.notify_all()
        cond.wait(0.001)


def ok_json(body: object = None) -> Answer:
    return 200, {"Content-Type": "application/json"}, json.dumps(body if body is not None else {"ok": True}).encode()
