"""Prometheus metrics and the /metrics, /healthz, /readyz endpoint of a worker.

Every metric lives in a registry the worker creates and passes around (no
default global registry), so tests can build as many workers as they like in
one process. The metrics themselves are declared once, in
:mod:`shared.metric_defs`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from shared import metric_defs as M


class TransportMetrics:
    """What the Kafka transport counts for any worker."""

    def __init__(self, registry: CollectorRegistry, worker: str) -> None:
        self.consumed = M.RECORDS_CONSUMED.create(registry)
        self.produced = M.RECORDS_PRODUCED.create(registry)
        self.dead_lettered = M.RECORDS_DEAD_LETTERED.create(registry)
        self.batch_seconds = M.BATCH_PROCESSING_SECONDS.create(registry)
        self.lag = M.CONSUMER_LAG.create(registry)
        self.rebuilds = M.CONSUMER_REBUILDS.create(registry)
        self.worker = worker

    def count_consumed(self, topic: str, n: int = 1) -> None:
        self.consumed.labels(self.worker, topic).inc(n)

    def count_produced(self, topic: str, n: int = 1) -> None:
        self.produced.labels(self.worker, topic).inc(n)

    def count_dead_letter(self, reason: str) -> None:
        self.dead_lettered.labels(self.worker, reason).inc()

    def count_rebuild(self, reason: str) -> None:
        self.rebuilds.labels(self.worker, reason).inc()


class Health:
    """Liveness and readiness as the worker's loop reports them.

    Liveness fails when the main loop has not ticked for ``stall_after_s``
    (a wedged worker should be restarted); readiness is whatever the worker
    last declared (broker reachable, topics present, model loaded).
    """

    def __init__(self, stall_after_s: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._stall_after_s = stall_after_s
        self._last_tick = clock()
        self._ready = False
        self._reason = "starting"
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            self._last_tick = self._clock()

    def set_ready(self, ready: bool, reason: str = "") -> None:
        with self._lock:
            self._ready = ready
            self._reason = reason

    def live(self) -> tuple[bool, str]:
        with self._lock:
            idle = self._clock() - self._last_tick
        if idle > self._stall_after_s:
            return False, f"main loop stalled for {idle:.0f}s"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        with self._lock:
            return self._ready, self._reason or ("ok" if self._ready else "not ready")


class MetricsServer:
    """A small HTTP server: /metrics (Prometheus text), /healthz, /readyz."""

    def __init__(self, registry: CollectorRegistry, health: Health, host: str = "0.0.0.0", port: int = 0) -> None:
        handler = _make_handler(registry, health)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _make_handler(registry: CollectorRegistry, health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/readyz"):
                ok, reason = health.live() if path == "/healthz" else health.ready()
                body = json.dumps({"ok": ok, "reason": reason}).encode()
                self._send(200 if ok else 503, body, "application/json")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            # Prometheus scrapes every few seconds; access logs would drown the worker's own.
            pass

    return Handler
