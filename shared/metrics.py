"""Prometheus metrics and the /metrics, /healthz, /readyz endpoint of a worker.

Every metric lives in a registry the worker creates and passes around (no
default global registry), so tests can build as many workers as they like in
one process. Naming follows Prometheus conventions: ``repwatch_`` prefix,
``_total`` counters, base units, histograms rather than summaries, and no
per-mention or per-user labels.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# Batches are sub-second normally; the long tail matters when a model stalls.
BATCH_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class TransportMetrics:
    """What the Kafka transport counts for any worker."""

    def __init__(self, registry: CollectorRegistry, worker: str) -> None:
        self.consumed = Counter(
            "repwatch_records_consumed_total",
            "Records read from Kafka",
            ["worker", "topic"],
            registry=registry,
        )
        self.produced = Counter(
            "repwatch_records_produced_total",
            "Records acknowledged by Kafka (acks=all)",
            ["worker", "topic"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "repwatch_records_dead_lettered_total",
            "Records sent to the dead-letter topic, by reason",
            ["worker", "reason"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "repwatch_batch_processing_seconds",
            "Time from a poll returning to its batch being produced and committed",
            ["worker"],
            buckets=BATCH_SECONDS_BUCKETS,
            registry=registry,
        )
        self.lag = Gauge(
            "repwatch_consumer_lag_records",
            "Records between the consumer position and the partition end",
            ["worker", "topic", "partition"],
            registry=registry,
        )
        self.worker = worker

    def count_consumed(self, topic: str, n: int = 1) -> None:
        self.consumed.labels(self.worker, topic).inc(n)

    def count_produced(self, topic: str, n: int = 1) -> None:
        self.produced.labels(self.worker, topic).inc(n)

    def count_dead_letter(self, reason: str) -> None:
        self.dead_lettered.labels(self.worker, reason).inc()


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
