"""The ingest worker: files or the synthetic generator -> ``mentions.raw``.

Invalid input lines go to ``deadletter`` with the reason and line number; they
never stop the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kafka.errors import KafkaError

from services.ingest.pacing import Pacer
from services.ingest.settings import IngestSettings
from services.ingest.sources import InvalidLine, ParsedLine, detect_format, read_file
from shared.kafka.transport import DeliveryFailed, KafkaUnavailable, Outgoing, Producer, ensure_topics
from shared.runtime import (
    EXIT_DELIVERY_FAILED,
    WorkerContext,
    fail,
    kafka_unavailable,
    start_context,
)
from shared.schemas import DeadLetter, MentionEvent, dead_letter_payload

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_outgoing(item: ParsedLine, settings: IngestSettings, source: str, ctx: WorkerContext) -> Outgoing:
    topics = settings.topics
    if isinstance(item, InvalidLine):
        ctx.transport_metrics.count_dead_letter(item.error.reason)
        log.warning("%s line %d dead-lettered: %s", source, item.line_no, item.error)
        dl = DeadLetter(
            reason=item.error.reason,
            error=item.error.detail[:2000],
            source_topic=source,
            source_offset=item.line_no,
            worker=ctx.name,
            failed_at=_utcnow(),
            **dead_letter_payload(item.raw),
        )
        return Outgoing(topics.deadletter, None, dl.to_bytes())
    return Outgoing(topics.raw, item.brand.encode("utf-8"), item.to_bytes())


class SourceFailed(RuntimeError):
    """The source could not be read further; what was read before was sent."""


def pump(
    items: Iterable[ParsedLine],
    producer: Producer,
    settings: IngestSettings,
    ctx: WorkerContext,
    source: str,
    pacer: Pacer,
    limit: int | None = None,
) -> int:
    """Send items paced by ``pacer``; flush before every pause so latency stays low."""
    pending: list[Outgoing] = []
    sent = 0
    source_items = iter(items)
    while True:
        try:
            item = next(source_items)
        except StopIteration:
            break
        except Exception as exc:  # noqa: BLE001 - the reader itself broke (I/O error, a bug)
            # Bad lines never get here (they are InvalidLine items); whatever this is,
            # the valid lines read before it still reach Kafka.
            producer.send_all(pending)
            raise SourceFailed(f"{source}: reading stopped after {sent} records: {exc!r}") from exc
        if ctx.stop.is_set() or (limit is not None and sent >= limit):
            break
        if isinstance(item, MentionEvent):
            wait = pacer.delay_for(item.occurred_at)
            if wait > 0:
                producer.send_all(pending)
                pending.clear()
                ctx.health.tick()
                ctx.stop.wait(wait)
                if ctx.stop.is_set():
                    break
        pending.append(to_outgoing(item, settings, source, ctx))
        sent += 1
        if len(pending) >= settings.ingest_send_batch:
            producer.send_all(pending)
            pending.clear()
            ctx.health.tick()
    producer.send_all(pending)
    return sent


def _run(settings: IngestSettings, items: Iterable[ParsedLine], source: str, pacer: Pacer, limit: int | None) -> int:
    ctx = start_context("ingest", settings)
    try:
        ensure_topics(settings)
        producer = Producer(settings, ctx.transport_metrics, client_id="repwatch-ingest")
    except KafkaUnavailable as exc:
        ctx.metrics_server.stop()
        return kafka_unavailable(ctx.name, exc, settings)
    ctx.health.set_ready(True, "sending")
    started = time.monotonic()
    try:
        n = pump(items, producer, settings, ctx, source, pacer, limit)
    except (DeliveryFailed, KafkaError) as exc:
        return fail(f"ingest: {exc}", EXIT_DELIVERY_FAILED)
    except SourceFailed as exc:
        return fail(f"ingest: {exc}", 1)
    finally:
        producer.close()
        ctx.metrics_server.stop()
    log.info("ingest: %d records from %s in %.1fs", n, source, time.monotonic() - started)
    return 0


def run_file(
    settings: IngestSettings,
    path: Path,
    fmt: str | None,
    rate: float | None,
    speed: float | None,
    limit: int | None = None,
) -> int:
    if not path.is_file():
        return fail(f"ingest: no such file {path}", 1)
    try:
        fmt = fmt or detect_format(path)
    except ValueError as exc:
        return fail(f"ingest: {exc}", 1)
    items = read_file(path, fmt, _utcnow, settings.max_record_bytes)
    return _run(settings, items, f"file:{path}", Pacer(rate=rate, speed=speed, clock=time.monotonic), limit)


def run_synthetic(
    settings: IngestSettings,
    *,
    seed: int,
    rate: float,
    brands: list[str],
    incidents: list[str],
    duration: timedelta | None,
    speed: float | None,
    limit: int | None = None,
    start: datetime | None = None,
) -> int:
    from services.ingest.synthetic import Incident, SyntheticMentionStream

    try:
        parsed = [Incident.parse(spec) for spec in incidents]
    except ValueError as exc:
        return fail(f"ingest: {exc}", 1)
    stream = SyntheticMentionStream(
        seed=seed,
        start=start or _utcnow(),
        rate_per_s=rate,
        brands=brands,
        incidents=parsed,
        duration=duration,
    )
    pacer = Pacer(rate=None, speed=speed, clock=time.monotonic)
    return _run(settings, stream, f"synthetic:seed={seed}", pacer, limit)
