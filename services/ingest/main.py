"""The ingest worker: files (and, through :func:`run_source`, any iterable of events) -> ``mentions.raw``.

Invalid input lines go to ``deadletter`` with the reason and line number; they
never stop the run. The simulated world's stream (``make run``, the pipeline
tests) is sent by ``python -m devtools.feed``, which calls :func:`run_source`:
a production service does not import the simulation.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from services.ingest.pacing import Pacer, UntilDue
from services.ingest.settings import IngestSettings
from services.ingest.sources import InvalidLine, ParsedLine, detect_format, read_file
from shared.kafka.transport import Outgoing, Producer
from shared.runtime import SourceFailed, WorkerContext, fail, main_guard, run_producing_worker, start_context
from shared.schemas import DeadLetter, MentionEvent

log = logging.getLogger(__name__)

#: what paces a source: a fixed rate or event-time replay, or each event at its own time
PacerLike = Pacer | UntilDue


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_outgoing(item: ParsedLine, settings: IngestSettings, source: str, ctx: WorkerContext) -> Outgoing:
    topics = settings.topics
    if isinstance(item, InvalidLine):
        ctx.transport_metrics.count_dead_letter(item.error.reason)
        log.warning("%s line %d dead-lettered: %s", source, item.line_no, item.error)
        dl = DeadLetter.build(
            reason=item.error.reason,
            error=item.error.detail,
            source_topic=source,
            source_offset=item.line_no,
            original=item.raw,
            worker=ctx.name,
            failed_at=_utcnow(),
        )
        return Outgoing(topics.deadletter, None, dl.to_bytes())
    return Outgoing(topics.raw, item.brand.encode("utf-8"), item.to_bytes())


def pump(
    items: Iterable[ParsedLine],
    producer: Producer,
    settings: IngestSettings,
    ctx: WorkerContext,
    source: str,
    pacer: PacerLike,
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


def run_source(
    settings: IngestSettings, items: Iterable[ParsedLine], source: str, pacer: PacerLike, limit: int | None = None
) -> int:
    """Send ``items`` to ``mentions.raw`` (invalid lines to ``deadletter``) as a worker: start-up,
    signals, metrics and exit codes as for every other worker; ``source`` names it in logs and
    dead letters."""
    ctx = start_context("ingest", settings)
    started = time.monotonic()

    def produce(producer: Producer) -> int:
        n = pump(items, producer, settings, ctx, source, pacer, limit)
        log.info("ingest: %d records from %s in %.1fs", n, source, time.monotonic() - started)
        return n

    return run_producing_worker(ctx, settings, produce)


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
    return run_source(settings, items, f"file:{path}", Pacer(rate=rate, speed=speed, clock=time.monotonic), limit)


def add_arguments(ingest: argparse.ArgumentParser) -> None:
    """``ingest file …`` (used by ``repwatch ingest`` too)."""
    isub = ingest.add_subparsers(dest="source", required=True)
    f = isub.add_parser("file", help="a JSONL or CSV export of mention events")
    f.add_argument("path", type=Path)
    f.add_argument("--format", choices=["jsonl", "csv"], help="default: from the file suffix")
    f.add_argument("--rate", type=float, help="at most this many events per second")
    f.add_argument("--speed", type=float, help="replay event time this many times faster (1 = real time)")
    f.add_argument("--limit", type=int, help="stop after this many records")


def run_args(args: argparse.Namespace) -> int:
    settings = IngestSettings()
    if args.source == "file":
        return run_file(settings, args.path, args.format, args.rate, args.speed, args.limit)
    raise AssertionError(args.source)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.ingest", description="send mentions to mentions.raw")
    add_arguments(parser)
    return main_guard(lambda: run_args(parser.parse_args(argv)))
