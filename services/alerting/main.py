"""The alerting worker: ``mentions.scored`` -> detectors -> ``alerts`` (+ its state changelog)."""

from __future__ import annotations

from functools import partial

from services.alerting.engine import AlertEngine, IdlePolicy
from services.alerting.processor import AlertingProcessor
from services.alerting.settings import AlertingSettings
from services.alerting.state_store import StateTopicMismatch, check_state_topic
from shared.brands import BrandsFileError, load_brands
from shared.kafka.transport import KafkaUnavailable, ensure_topics, read_changelog, read_range
from shared.runtime import EXIT_CONFIG, fail, kafka_unavailable, main_guard, run_consuming_worker, start_context


def build_engine(settings: AlertingSettings, overrides: dict[str, str] | None = None) -> AlertEngine:
    """The same engine for the worker and ``repwatch backtest``: same code, same settings."""
    return AlertEngine.build(settings, load_brands(settings.brands_file), overrides or {})


def run(settings: AlertingSettings) -> int:
    ctx = start_context("alerting", settings)
    try:
        engine = build_engine(settings)
    except (BrandsFileError, ValueError) as exc:
        ctx.metrics_server.stop()
        return fail(f"alerting: {exc}", EXIT_CONFIG)
    try:
        ensure_topics(settings)
        check_state_topic(settings)
    except KafkaUnavailable as exc:
        ctx.metrics_server.stop()
        return kafka_unavailable(ctx.name, exc, settings)
    except StateTopicMismatch as exc:
        ctx.metrics_server.stop()
        return fail(f"alerting: {exc}", EXIT_CONFIG)
    topics = settings.topics
    processor = AlertingProcessor(
        engine,
        alerts_topic=topics.alerts,
        state_topic=topics.alerting_state,
        worker=ctx.name,
        registry=ctx.registry,
        max_record_bytes=settings.max_record_bytes,
        read_changelog=partial(read_changelog, settings, topics.alerting_state),
        read_range=partial(read_range, settings, topics.scored),
        scored_topic=topics.scored,
        idle=IdlePolicy.from_settings(settings),
        idle_every_s=settings.idle_every_s,
        snapshot_every_s=settings.snapshot_every_s,
    )
    return run_consuming_worker(
        ctx, settings, source_topic=topics.scored, group_id=settings.alerting_group_id, processor=processor
    )


def main() -> int:
    return main_guard(lambda: run(AlertingSettings()))
