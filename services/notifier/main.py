"""The notifier worker: ``alerts`` -> routes -> receivers (+ its delivery ledger, compacted)."""

from __future__ import annotations

import logging
import sys
from functools import partial

from services.notifier.dispatch import RetryPolicy
from services.notifier.ledger import Ledger
from services.notifier.processor import NotifierProcessor
from services.notifier.receivers.web import HttpClient
from services.notifier.routes import ResolvedRoutes, RoutesFileError, load_routes
from services.notifier.settings import NotifierSettings
from services.notifier.targets import Plan, build_plan
from shared.brands import BrandsFile, BrandsFileError, load_brands
from shared.kafka.transport import KafkaUnavailable, ensure_topics, read_changelog, topic_partitions
from shared.runtime import EXIT_CONFIG, fail, kafka_unavailable, main_guard, run_consuming_worker, start_context

log = logging.getLogger(__name__)


class LedgerTopicMismatch(RuntimeError):
    """The ledger topic does not have the alerts topic's partition count."""


def load_config(settings: NotifierSettings) -> tuple[ResolvedRoutes, Plan, BrandsFile]:
    """Routes with their secrets, the delivery targets, the brands: everything that can be wrong
    in a set-up, checked before Kafka is touched. Raises RoutesFileError or BrandsFileError."""
    routes = load_routes(settings.routes_file)
    plan = build_plan(routes, HttpClient())
    return routes, plan, load_brands(settings.brands_file)


def check_ledger_topic(settings: NotifierSettings) -> None:
    alerts = topic_partitions(settings, settings.topics.alerts)
    ledger = topic_partitions(settings, settings.topics.notifier_ledger)
    if alerts != ledger:
        raise LedgerTopicMismatch(
            f"{settings.topics.notifier_ledger} has {ledger} partitions but {settings.topics.alerts} has {alerts}; "
            "they must match (an alert's ledger entries live on the partition number of the alert). Recreate the "
            "ledger topic with the same partition count, or point REPWATCH_TOPIC_PREFIX at a fresh set of topics"
        )


def run(settings: NotifierSettings) -> int:
    ctx = start_context("notifier", settings)
    try:
        routes, plan, brands = load_config(settings)
    except (RoutesFileError, BrandsFileError) as exc:
        ctx.metrics_server.stop()
        return fail(f"notifier: {exc}", EXIT_CONFIG)
    if not plan.specs:
        log.warning("notifier: no receivers configured (REPWATCH_ROUTES_FILE): alerts are read and not delivered")
    else:
        log.info("notifier: %d receivers, %d targets", len(plan.targets_of), len(plan.specs))
    try:
        ensure_topics(settings)
        check_ledger_topic(settings)
    except KafkaUnavailable as exc:
        ctx.metrics_server.stop()
        return kafka_unavailable(ctx.name, exc, settings)
    except LedgerTopicMismatch as exc:
        ctx.metrics_server.stop()
        return fail(f"notifier: {exc}", EXIT_CONFIG)
    topics = settings.topics
    ledger = Ledger(
        topics.notifier_ledger, ttl_s=settings.notifier_ledger_ttl_s, max_entries=settings.notifier_ledger_max_entries
    )
    processor = NotifierProcessor(
        routes,
        plan,
        brands,
        ledger,
        worker=ctx.name,
        registry=ctx.registry,
        max_record_bytes=settings.max_record_bytes,
        read_ledger=partial(read_changelog, settings, topics.notifier_ledger),
        dispatcher_options={
            "policy": RetryPolicy(settings.notifier_retry_base_s, settings.notifier_retry_max_s),
            "update_interval_s": settings.notifier_update_interval_s,
            "max_queued": settings.notifier_max_queued_per_target,
        },
        stop_timeout_s=settings.notifier_stop_timeout_s,
    ).start()
    return run_consuming_worker(
        ctx, settings, source_topic=topics.alerts, group_id=settings.notifier_group_id, processor=processor
    )


def main() -> int:
    return main_guard(lambda: run(NotifierSettings()))


def notify_test(route: str) -> int:
    """``repwatch notify-test --route NAME``: one test message to each receiver of the route, now.
    Exit 0 when every target took it, 1 when one did not, 2 for a bad routes file or route name."""
    from services.notifier.processor import send_test

    settings = NotifierSettings()
    try:
        routes, plan, _ = load_config(settings)
    except (RoutesFileError, BrandsFileError) as exc:
        print(f"repwatch notify-test: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        outcomes = send_test(plan, routes, route)
    except KeyError:
        known = ", ".join(r.name for r in routes.file.routes) or "none"
        print(f"repwatch notify-test: no route {route!r} in the routes file (routes: {known})", file=sys.stderr)
        return EXIT_CONFIG
    for target, outcome in outcomes.items():
        print(f"{target}: {outcome.verdict.value}" + ("" if outcome.reason == "ok" else f" ({outcome.reason})"))
    return 0 if all(o.verdict.value == "ok" for o in outcomes.values()) else 1
