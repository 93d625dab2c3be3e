"""The sentiment worker: ``mentions.raw`` -> model -> ``mentions.scored``."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

from services.sentiment.engine import ModelLoadError, SentimentEngine, configure_cpu_threads
from services.sentiment.labels import LabelMappingError, parse_label_map
from services.sentiment.processor import SentimentProcessor
from services.sentiment.settings import SentimentSettings
from shared.runtime import fail, main_guard, run_consuming_worker, start_context

log = logging.getLogger(__name__)

EXIT_MODEL = 4


def default_model_dir() -> str:
    """Where ``make model`` puts the default model (see services.sentiment.model_build)."""
    from services.sentiment.defaults import default_model_path

    return str(default_model_path())


def run(settings: SentimentSettings) -> int:
    ctx = start_context("sentiment", settings)
    ctx.health.set_ready(False, "loading model")
    configure_cpu_threads(settings.sentiment_cpu_threads)
    model = settings.sentiment_model or default_model_dir()
    if not settings.sentiment_model and not (Path(model) / "config.json").is_file():
        ctx.metrics_server.stop()
        return fail(
            f"sentiment: the default model is not built yet (expected in {model}); run `make model`, "
            "or set REPWATCH_SENTIMENT_MODEL to a Hugging Face model id or directory",
            EXIT_MODEL,
        )
    try:
        engine = SentimentEngine(
            model,
            device=settings.sentiment_device,
            batch_size=settings.sentiment_batch_size,
            max_tokens=settings.sentiment_max_tokens,
            label_map=parse_label_map(settings.sentiment_label_map) or None,
        )
    except (ModelLoadError, LabelMappingError) as exc:
        ctx.metrics_server.stop()
        return fail(f"sentiment: {exc}", EXIT_MODEL)
    log.info("sentiment: model %s on %s", model, engine.device)
    processor = SentimentProcessor(
        engine,
        settings.topics.scored,
        worker=ctx.name,
        registry=ctx.registry,
        clock=lambda: datetime.now(timezone.utc),
        max_record_bytes=settings.max_record_bytes,
    )
    return run_consuming_worker(
        ctx, settings, source_topic=settings.topics.raw, group_id=settings.sentiment_group_id, processor=processor
    )


def main() -> int:
    return main_guard(lambda: run(SentimentSettings()))
