"""The alerting worker: ``mentions.scored`` -> detectors -> ``alerts``."""

from __future__ import annotations

from datetime import timedelta

from services.alerting.detectors import NegativitySpikeConfig, NegativitySpikeDetector
from services.alerting.processor import AlertingProcessor
from services.alerting.settings import AlertingSettings
from shared.runtime import main_guard, run_consuming_worker, start_context


def build_detectors(settings: AlertingSettings) -> list[NegativitySpikeDetector]:
    return [
        NegativitySpikeDetector(
            NegativitySpikeConfig(
                window=timedelta(seconds=settings.spike_window_s),
                threshold=settings.spike_threshold,
                resolve_below=settings.spike_resolve_below or None,
            )
        )
    ]


def run(settings: AlertingSettings) -> int:
    ctx = start_context("alerting", settings)
    processor = AlertingProcessor(
        build_detectors(settings),
        settings.topics.alerts,
        worker=ctx.name,
        registry=ctx.registry,
        max_record_bytes=settings.max_record_bytes,
    )
    return run_consuming_worker(
        ctx, settings, source_topic=settings.topics.scored, group_id=settings.alerting_group_id, processor=processor
    )


def main() -> int:
    return main_guard(lambda: run(AlertingSettings()))
