"""The backtest: the worker's detectors over a JSONL export, in event time, without Kafka.

Teams tune thresholds on their own history with it, so it must give exactly
what the worker would have: the same engine (built by ``AlertEngine.build`` from
the same settings), the same decoding and dead-letter reasons
(``shared.schemas.decode``), and alerts written byte for byte as on the
``alerts`` topic. It is deterministic: the same input and settings give the same
output, and no wall clock is read.

Time. The worker's idle policy moves quiet brands forward by wall time; here
the input's own newest event time plays wall time, so an SLA or a silence timer
of a quiet brand fires when it would have live. Calling ``advance_all`` after
every event would cost (brands x events), so quiet brands are advanced only when
the newest event time has moved by at least ``idle_step`` (default one minute,
the resolution the SLA target asks for) since the last idle advance. A brand
that sent events since the previous idle advance and is still behind the target
is not advanced: it is a stream replayed behind the others (a topic dump with one
partition lagging), and moving its clock would make all its later events late
(the very bug of a shared watermark); it is advanced once it stops. At the end
of input time keeps going for ``drain`` (default 30 days) so pending timers and
quiet-period resolutions fire: in ``idle_step`` steps for the first
``DRAIN_FINE`` (SLA deadlines, quiet periods and cooldowns all fall there), then
hourly (silence timers count days), ending exactly at newest + drain. A single
jump would not do: resolving needs the condition to be seen absent and then
still absent a quiet period later.

Scoring raw ``MentionEvent`` input needs the sentiment model, which alerting
must not import: the caller (the CLI) passes a scorer in.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from services.alerting.engine import AlertEngine, FutureEvent, IdlePolicy
from shared.schemas import Alert, AlertKind, AlertStatus, InvalidRecord, MentionEvent, ScoredMention, decode

#: how far the newest event time must move before quiet brands are advanced again
#: (the worker's idle tick, REPWATCH_IDLE_EVERY_S, in event time)
IDLE_STEP = timedelta(seconds=5)
#: after the input ends, time moves in ``idle_step`` steps this long, then hourly
DRAIN_FINE = timedelta(hours=6)
DRAIN_COARSE_STEP = timedelta(hours=1)
#: MentionEvents handed to the scorer at once (the model is much faster in batches)
SCORE_BATCH = 256
#: dead letters kept whole in a result; the rest are only counted
MAX_DEAD_LETTER_EXAMPLES = 20

Scorer = Callable[[list[MentionEvent]], list[ScoredMention]]

# A ScoredMention has a top-level "mention" key; a MentionEvent has no key of that name
# at any depth. In JSON a string followed by a colon is always a key (quotes inside
# strings are escaped), so this finds the key without parsing the line twice.
_MENTION_KEY = re.compile(rb'"mention"\s*:')


@dataclass(frozen=True, slots=True)
class DeadLetterNote:
    """An input the backtest could not use, with the reason the worker would have dead-lettered it under."""

    reason: str
    detail: str
    event_id: str | None = None
    #: 1-based line of the input file, when it came from one
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        what = f" (event {self.event_id})" if self.event_id else ""
        return f"{where}{self.reason}{what}: {self.detail}"


class BacktestInputError(ValueError):
    """The input cannot be backtested as given (e.g. unscored events and no scorer)."""


def _drain_times(newest: datetime, drain: timedelta, step: timedelta) -> Iterator[datetime]:
    end = newest + drain
    t = newest
    fine_until = newest + min(drain, DRAIN_FINE)
    while t < fine_until:
        t = min(t + step, fine_until)
        yield t
    while t < end:
        t = min(t + DRAIN_COARSE_STEP, end)
        yield t


def run_backtest(
    events: Iterable[ScoredMention | DeadLetterNote],
    engine: AlertEngine,
    idle: IdlePolicy,
    *,
    drain: timedelta = timedelta(days=30),
    idle_step: timedelta = IDLE_STEP,
) -> Iterator[Alert | DeadLetterNote]:
    """Alerts (and dead-letter notes) of ``events`` in input order; see the module doc for how time moves.

    A future-dated event becomes a :class:`DeadLetterNote` instead of stopping the run;
    notes already in the input (undecodable lines) pass through in place.
    """
    if idle_step <= timedelta(0):
        raise ValueError(f"idle_step must be positive, got {idle_step}")
    newest: datetime | None = None
    idled_at: datetime | None = None
    # brands with events since the last idle advance: a brand still sending events is not quiet
    recent: set[str] = set()
    for ev in events:
        if isinstance(ev, DeadLetterNote):
            yield ev
            continue
        try:
            alerts = engine.process(ev)
        except FutureEvent as exc:
            yield DeadLetterNote(exc.reason, exc.detail, exc.event_id)
            continue
        yield from alerts
        m = ev.mention
        at = m.occurred_at
        if newest is None or at > newest:
            newest = at
            if idled_at is None or newest - idled_at >= idle_step:
                idled_at = newest
                target = idle.target(newest)
                # A brand that keeps sending events far behind the newest is a lagging stream
                # interleaved in the input (a topic dump with one partition behind), not a quiet
                # brand: moving its clock would make all its later events late.
                lagging = {b for b in recent if (wm := engine.watermark(b)) is not None and wm < target}
                recent.clear()
                yield from engine.advance_all(target, skip=lagging)
        recent.add(m.brand)
    if newest is not None and drain > timedelta(0):
        for t in _drain_times(newest, drain, idle_step):
            yield from engine.advance_all(t)


# ---------------------------------------------------------------------------------------------------------------
# files


def _numbered_records(path: str | Path) -> Iterator[tuple[int, ScoredMention | MentionEvent | DeadLetterNote]]:
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, start=1):
            raw = line.rstrip(b"\r\n")
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a BOM some editors and exporters write
                raw = raw[3:]
            if not raw.strip():
                continue  # blank lines (a trailing newline, hand-edited files) carry nothing
            model: type[ScoredMention] | type[MentionEvent] = (
                ScoredMention if _MENTION_KEY.search(raw) else MentionEvent
            )
            try:
                yield lineno, decode(model, raw)
            except InvalidRecord as exc:
                yield lineno, DeadLetterNote(exc.reason, exc.detail, None, lineno)


def read_jsonl_events(path: str | Path) -> Iterator[ScoredMention | MentionEvent | DeadLetterNote]:
    """Records of a JSONL file, each line a ScoredMention (it has a "mention" key) or a MentionEvent.

    A line that does not decode becomes a DeadLetterNote with its line number and
    the reason the workers would dead-letter it under. Blank lines are skipped.
    """
    for _, rec in _numbered_records(path):
        yield rec


def _scored_records(path: str | Path, scorer: Scorer | None, batch: int) -> Iterator[ScoredMention | DeadLetterNote]:
    pending: list[MentionEvent] = []

    def flush() -> list[ScoredMention]:
        assert scorer is not None
        out = scorer(pending)
        if len(out) != len(pending) or any(
            s.mention.event_id != m.event_id for s, m in zip(out, pending, strict=False)
        ):
            raise BacktestInputError(
                f"the scorer returned {len(out)} scored mentions for {len(pending)} events, or out of order"
            )
        pending.clear()
        return out

    for lineno, rec in _numbered_records(path):
        if isinstance(rec, MentionEvent):
            if scorer is None:
                raise BacktestInputError(
                    f"{path}:{lineno}: an unscored MentionEvent, and no sentiment model was configured to score it; "
                    "give ScoredMention JSONL (as on mentions.scored) or run with a scorer"
                )
            pending.append(rec)
            if len(pending) >= batch:
                yield from flush()
            continue
        if pending:
            yield from flush()
        yield rec
    if pending:
        yield from flush()


_STATUS_KEYS = {AlertStatus.FIRING: "firing", AlertStatus.UPDATED: "updated", AlertStatus.RESOLVED: "resolved"}


class _Tally:
    """Per kind: notifications by status, incidents (distinct alert ids) and those still open at the end."""

    def __init__(self) -> None:
        self.counts = {kind: {"firing": 0, "updated": 0, "resolved": 0} for kind in AlertKind}
        self.last_status: dict[str, tuple[AlertKind, AlertStatus]] = {}

    def add(self, alert: Alert) -> None:
        self.counts[alert.kind][_STATUS_KEYS[alert.status]] += 1
        self.last_status[alert.alert_id] = (alert.kind, alert.status)

    def summary(self) -> dict[AlertKind, dict[str, int]]:
        out = {kind: {**c, "incidents": 0, "open": 0} for kind, c in self.counts.items()}
        for kind, status in self.last_status.values():
            out[kind]["incidents"] += 1
            if status is not AlertStatus.RESOLVED:
                out[kind]["open"] += 1
        return out


def summarise(alerts: Iterable[Alert]) -> dict[AlertKind, dict[str, int]]:
    """Per kind (every kind, zeros included): firing/updated/resolved notifications, incidents, still open."""
    tally = _Tally()
    for a in alerts:
        tally.add(a)
    return tally.summary()


_COLUMNS = ("incidents", "firing", "updated", "resolved", "open")


def format_summary(summary: dict[AlertKind, dict[str, int]]) -> str:
    width = max([len("kind"), *(len(str(k)) for k in summary)])
    lines = [f"{'kind':<{width}}  " + "  ".join(f"{c:>9}" for c in _COLUMNS)]
    for kind, row in summary.items():
        lines.append(f"{str(kind):<{width}}  " + "  ".join(f"{row.get(c, 0):>9}" for c in _COLUMNS))
    return "\n".join(lines)


def print_summary(summary: dict[AlertKind, dict[str, int]], file: IO[str] | None = None) -> None:
    print(format_summary(summary), file=file or sys.stdout)


@dataclass
class BacktestResult:
    #: events that reached the engine (future-dated ones included: they were judged)
    events: int = 0
    alerts: int = 0
    summary: dict[AlertKind, dict[str, int]] = field(default_factory=dict)
    #: reason -> count, over every input the run could not use
    dead_letters: dict[str, int] = field(default_factory=dict)
    #: the first few of them, whole
    dead_letter_examples: list[DeadLetterNote] = field(default_factory=list)

    def format_dead_letters(self) -> str:
        if not self.dead_letters:
            return "no unusable input"
        total = sum(self.dead_letters.values())
        lines = [f"{total} input(s) skipped: " + ", ".join(f"{r} {n}" for r, n in sorted(self.dead_letters.items()))]
        lines += [f"  {note}" for note in self.dead_letter_examples]
        if total > len(self.dead_letter_examples):
            lines.append(f"  ... and {total - len(self.dead_letter_examples)} more")
        return "\n".join(lines)


def run_backtest_file(
    path: str | Path,
    out: str | Path | None,
    engine: AlertEngine,
    idle: IdlePolicy,
    scorer: Scorer | None = None,
    *,
    drain: timedelta = timedelta(days=30),
    idle_step: timedelta = IDLE_STEP,
    score_batch: int = SCORE_BATCH,
) -> BacktestResult:
    """Backtest a JSONL file; write ``Alert`` JSONL to ``out`` (as on the alerts topic) when given.

    ``scorer`` turns MentionEvents into ScoredMentions (the CLI composes it from the
    sentiment model); without one, a MentionEvent line raises BacktestInputError. The
    output appears only when the run completes (written aside, then renamed), so a
    failed run never leaves a half file that looks like a result.
    """
    result = BacktestResult()
    tally = _Tally()

    def counted() -> Iterator[ScoredMention | DeadLetterNote]:
        for rec in _scored_records(path, scorer, score_batch):
            if not isinstance(rec, DeadLetterNote):
                result.events += 1
            yield rec

    target = Path(out) if out is not None else None
    partial = target.with_name(target.name + ".partial") if target is not None else None
    sink = open(partial, "wb") if partial is not None else None  # closed below; renamed only on success
    try:
        for item in run_backtest(counted(), engine, idle, drain=drain, idle_step=idle_step):
            if isinstance(item, DeadLetterNote):
                result.dead_letters[item.reason] = result.dead_letters.get(item.reason, 0) + 1
                if len(result.dead_letter_examples) < MAX_DEAD_LETTER_EXAMPLES:
                    result.dead_letter_examples.append(item)
                continue
            result.alerts += 1
            tally.add(item)
            if sink is not None:
                sink.write(item.to_bytes() + b"\n")
        if sink is not None:
            sink.close()
            os.replace(partial, target)  # type: ignore[arg-type]
            sink = None
    finally:
        if sink is not None:
            sink.close()
            partial.unlink(missing_ok=True)  # type: ignore[union-attr]
    result.summary = tally.summary()
    return result
