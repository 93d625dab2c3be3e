"""The sentiment worker: ``mentions.raw`` -> model -> ``mentions.scored``."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from services.sentiment.defaults import default_model_path
from services.sentiment.engine import EngineOptions, ModelLoadError, SentimentEngine, configure_cpu_threads
from services.sentiment.labels import LabelMappingError, parse_label_map
from services.sentiment.processor import EngineMetrics, SentimentProcessor
from services.sentiment.settings import SentimentSettings
from shared.runtime import fail, main_guard, run_consuming_worker, start_context

log = logging.getLogger(__name__)

EXIT_MODEL = 4


def resolve_model(configured: str) -> str:
    """The configured model, or the built default; a clear error if that is not built."""
    if configured:
        return configured
    default = default_model_path()
    if not (default / "config.json").is_file():
        raise ModelLoadError(
            f"the default model is not built yet (expected in {default}); run `make model`, "
            "or set REPWATCH_SENTIMENT_MODEL to a Hugging Face model id or directory"
        )
    return str(default)


def engine_options(settings: SentimentSettings) -> EngineOptions:
    return EngineOptions(
        device=settings.sentiment_device,
        batch_size=settings.sentiment_batch_size,
        max_tokens=settings.sentiment_max_tokens,
        precision=settings.sentiment_precision,
        decision=settings.sentiment_decision,
        negative_threshold=settings.sentiment_negative_threshold,
        tokenizer_processes=settings.sentiment_tokenizer_processes,
        label_map=parse_label_map(settings.sentiment_label_map) or None,
    )


def run(settings: SentimentSettings) -> int:
    ctx = start_context("sentiment", settings)
    ctx.health.set_ready(False, "loading model")
    configure_cpu_threads(settings.sentiment_cpu_threads)
    try:
        model = resolve_model(settings.sentiment_model)
        engine = SentimentEngine(
            model,
            engine_options(settings),
            observer=EngineMetrics(ctx.registry).observe,
        )
    except (ModelLoadError, LabelMappingError) as exc:
        ctx.metrics_server.stop()
        return fail(f"sentiment: {exc}", EXIT_MODEL)
    log.info("sentiment: model %s on %s (%s)", model, engine.device, engine.precision)
    processor = SentimentProcessor(
        engine,
        settings.topics.scored,
        worker=ctx.name,
        registry=ctx.registry,
        clock=lambda: datetime.now(timezone.utc),
        max_record_bytes=settings.max_record_bytes,
    )
    try:
        return run_consuming_worker(
            ctx, settings, source_topic=settings.topics.raw, group_id=settings.sentiment_group_id, processor=processor
        )
    finally:
        engine.close()


def main() -> int:
    return main_guard(lambda: run(SentimentSettings()))
