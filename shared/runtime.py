"""Wiring every consuming worker repeats: logging, metrics endpoint, topics, signals, loop.

A worker's ``main`` builds its settings and its domain processor, then hands both
to :func:`run_consuming_worker`. Nothing here knows about sentiment or alerts.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

from kafka.errors import KafkaError
from prometheus_client import CollectorRegistry, ProcessCollector

from shared.config import WorkerSettings
from shared.kafka.transport import (
    BatchConsumer,
    DeliveryFailed,
    KafkaUnavailable,
    Processor,
    Producer,
    StreamWorker,
    ensure_topics,
)
from shared.logging import configure_logging
from shared.metrics import Health, MetricsServer, TransportMetrics

log = logging.getLogger(__name__)

#: exit code for a start-up that cannot succeed as configured: a brands or routes
#: file that does not validate, a state topic whose partitions do not match its input
#: (the same code as an unreachable Kafka: both mean "fix the set-up, then start again")
EXIT_CONFIG = 2
#: exit code when Kafka cannot be reached or topics cannot be created
EXIT_KAFKA_UNAVAILABLE = 2
#: exit code when Kafka failed mid-run: records not acknowledged, or an error no
#: retry can fix; the uncommitted batch is reprocessed after a restart
EXIT_DELIVERY_FAILED = 3


@dataclass
class WorkerContext:
    """What a worker's domain code may use: metrics registry, health, stop flag."""

    name: str
    registry: CollectorRegistry
    health: Health
    transport_metrics: TransportMetrics
    stop: threading.Event
    metrics_server: MetricsServer


def install_stop_signals(stop: threading.Event) -> None:
    """SIGTERM (Kubernetes) and SIGINT (Ctrl-C) ask the loop to finish its batch and exit."""

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():
            return
        log.info("received %s: finishing the current batch, then stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def start_context(name: str, settings: WorkerSettings) -> WorkerContext:
    """Logging, registry and the metrics/health endpoint, before anything slow happens."""
    configure_logging(settings.log_level, settings.log_format, worker=name)
    registry = CollectorRegistry()
    # the client's standard process_* series (start time, CPU, resident memory): restarts on the
    # pipeline-health dashboard, memory per worker for sizing; not RepWatch's own, so not in the catalogue
    ProcessCollector(registry=registry)
    health = Health()
    server = MetricsServer(registry, health, settings.metrics_host, settings.metrics_port).start()
    log.info("%s: /metrics /healthz /readyz on port %d", name, server.port)
    stop = threading.Event()
    install_stop_signals(stop)
    return WorkerContext(name, registry, health, TransportMetrics(registry, name), stop, server)


def fail(message: str, code: int) -> int:
    """Log why the worker cannot go on (to stderr) and return its exit code."""
    log.error("%s", message)
    return code


def kafka_unavailable(worker: str, exc: KafkaUnavailable, settings: WorkerSettings) -> int:
    return fail(
        f"{worker}: {exc}. Is the broker running? (REPWATCH_KAFKA_BOOTSTRAP={settings.kafka_bootstrap}; "
        "`repwatch broker start` runs a local one)",
        EXIT_KAFKA_UNAVAILABLE,
    )


def run_consuming_worker(
    ctx: WorkerContext,
    settings: WorkerSettings,
    *,
    source_topic: str,
    group_id: str,
    processor: Processor,
) -> int:
    """Consume ``source_topic`` with ``processor`` until stopped. Returns an exit code.

    The group id gets the topic prefix too: two pipelines sharing a cluster
    under different prefixes must not share consumer groups.
    """
    group_id = settings.topic_prefix + group_id
    try:
        ensure_topics(settings)
        ctx.health.set_ready(False, "connecting to Kafka")
        producer = Producer(settings, ctx.transport_metrics, client_id=f"repwatch-{ctx.name}")
        consumer = BatchConsumer(
            settings, ctx.transport_metrics, [source_topic], group_id=group_id, client_id=f"repwatch-{ctx.name}"
        )
    except KafkaError as exc:  # not retriable at start-up: same exit as unreachable, with the cause
        ctx.metrics_server.stop()
        return kafka_unavailable(ctx.name, KafkaUnavailable(repr(exc)), settings)
    except KafkaUnavailable as exc:
        ctx.metrics_server.stop()
        return kafka_unavailable(ctx.name, exc, settings)
    worker = StreamWorker(
        ctx.name,
        consumer,
        producer,
        processor,
        ctx.transport_metrics,
        ctx.health,
        deadletter_topic=settings.topics.deadletter,
        poll_timeout_ms=settings.poll_timeout_ms,
    )
    log.info("%s: consuming %s as group %s", ctx.name, source_topic, group_id)
    try:
        worker.run(ctx.stop)
    except DeliveryFailed as exc:
        # Offsets of the failed batch were not committed: a restart reprocesses it.
        return fail(f"{ctx.name}: {exc}", EXIT_DELIVERY_FAILED)
    except KafkaError as exc:
        # Retriable errors (broker away, leader moved, rebalances) are retried in the
        # loop; what reaches here is one no retry fixes. Exit with the code, no traceback.
        return fail(f"{ctx.name}: Kafka error that cannot be retried: {exc!r}", EXIT_DELIVERY_FAILED)
    finally:
        ctx.metrics_server.stop()
    return 0


class SourceFailed(RuntimeError):
    """A producing worker's source could not be read further (what was read was sent)."""


def run_producing_worker(
    ctx: WorkerContext,
    settings: WorkerSettings,
    produce: Callable[[Producer], int],
    producer_options: dict[str, int] | None = None,
) -> int:
    """Run ``produce(producer)`` (ingest, webhook receivers, pollers) with the same
    start-up, readiness, exit codes and shutdown as the consuming workers.
    ``producer_options``: keyword arguments for :class:`Producer` (timeouts)."""
    try:
        ensure_topics(settings)
        producer = Producer(
            settings, ctx.transport_metrics, client_id=f"repwatch-{ctx.name}", **(producer_options or {})
        )
    except KafkaUnavailable as exc:
        ctx.metrics_server.stop()
        return kafka_unavailable(ctx.name, exc, settings)
    except KafkaError as exc:
        ctx.metrics_server.stop()
        return kafka_unavailable(ctx.name, KafkaUnavailable(repr(exc)), settings)
    ctx.health.set_ready(True, "sending")
    try:
        n = produce(producer)
    except KafkaUnavailable as exc:
        return kafka_unavailable(ctx.name, exc, settings)
    except (DeliveryFailed, KafkaError) as exc:
        return fail(f"{ctx.name}: {exc}", EXIT_DELIVERY_FAILED)
    except SourceFailed as exc:
        return fail(f"{ctx.name}: {exc}", 1)
    finally:
        ctx.health.set_ready(False, "stopping")
        producer.close()
        ctx.metrics_server.stop()
    log.info("%s: %d records sent", ctx.name, n)
    return 0


def main_guard(fn: Callable[[], int]) -> int:
    """Run a worker main, turning Ctrl-C during start-up into a quiet exit."""
    try:
        return fn()
    except KeyboardInterrupt:
        return 130
