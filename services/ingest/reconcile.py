"""Reconciliation: re-check what the pollers saw, and report removals only when sure.

Platforms push no deletion for most of what the pollers read (YouTube, Instagram), and
VK's push can be missed. So mentions a poller saw are put on a watch-list and looked up
again on a back-off schedule (``SCHEDULE`` after they were first seen). Pure: the time
comes in with every call, the lookups are done by the caller, and the state is plain
data (``to_json``) the poll loop keeps on a compacted topic.

What is watched. Every comment on an owned channel that is not the brand's own, for
``SCHEDULE``'s span: ingest runs before sentiment, so "looks negative" is not known here,
and a keyword guess misses most complaints in Russian and English alike; the alerting
engine's deleted-complaint detector decides later whether what vanished was a complaint
(it has the score of the ``created`` event). The brand's own comments are watched only as
controls. ``max_per_source`` bounds the list; the oldest subjects go first.

Controls. Up to ``controls`` mentions per source (the brand's own comments first, then
the longest-known others) are looked up in every round. A round is *healthy* when at
least one control came back ``present``: the token still reads, the API still finds
things. Without that, "not found" may mean "cannot see" (a revoked permission, a
throttled key answering empty pages), so the round decides nothing.

The rule. An entry changes state (visible -> deleted/hidden, or back: restored) only when
``confirmations`` (2) successful, definitive checks in healthy rounds agreed on the new
state, with no definitive check in between saying otherwise. A failed check (timeout,
429, 5xx, auth, quota, malformed) is no evidence either way: it neither counts nor
resets, and only moves the next check later (exponential back-off). A ``deleted``
carries ``actor`` null (a lookup shows that a comment went, not who took it); a
``hidden`` carries ``brand`` (only the page can hide). Event ids depend only on the
mention, the event type and how many state changes came before, so a report repeated
after a crash is the same event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from services.ingest.pollers import Check, Seen, Verdict
from shared.schemas import Actor, EventType, InvalidRecord, MentionEvent, validate_obj

#: when an entry is looked up, counted from when it was first seen
SCHEDULE: tuple[timedelta, ...] = (
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=24),
    timedelta(hours=72),
    timedelta(days=7),
)
#: a definitive check that disagrees with the reported state is confirmed this soon
CONFIRM_AFTER = timedelta(minutes=5)
FAILURE_BACKOFF = timedelta(minutes=2)
MAX_FAILURE_BACKOFF = timedelta(hours=6)


class State(StrEnum):
    VISIBLE = "visible"
    GONE = "gone"
    HIDDEN = "hidden"


_TARGET = {Verdict.PRESENT: State.VISIBLE, Verdict.GONE: State.GONE, Verdict.HIDDEN: State.HIDDEN}
_EVENT = {State.GONE: EventType.DELETED, State.HIDDEN: EventType.HIDDEN, State.VISIBLE: EventType.RESTORED}


@dataclass(frozen=True, slots=True)
class Entry:
    source: str
    seen: Seen
    first_seen: datetime
    next_at: datetime
    subject: bool = True
    control: bool = False
    step: int = 0
    state: State = State.VISIBLE
    pending: State | None = None
    streak: int = 0
    pending_since: datetime | None = None
    failures: int = 0
    #: state changes reported so far (part of the event id)
    changes: int = 0

    @property
    def key(self) -> str:
        return self.seen.mention_id

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "seen": self.seen.to_json(),
            "first_seen": self.first_seen.isoformat(),
            "next_at": self.next_at.isoformat(),
            "subject": self.subject,
            "control": self.control,
            "step": self.step,
            "state": self.state.value,
            "pending": self.pending.value if self.pending else None,
            "streak": self.streak,
            "pending_since": self.pending_since.isoformat() if self.pending_since else None,
            "failures": self.failures,
            "changes": self.changes,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Entry:
        return cls(
            source=d["source"],
            seen=Seen.from_json(d["seen"]),
            first_seen=datetime.fromisoformat(d["first_seen"]),
            next_at=datetime.fromisoformat(d["next_at"]),
            subject=bool(d.get("subject", True)),
            control=bool(d.get("control", False)),
            step=int(d.get("step", 0)),
            state=State(d.get("state", "visible")),
            pending=State(d["pending"]) if d.get("pending") else None,
            streak=int(d.get("streak", 0)),
            pending_since=datetime.fromisoformat(d["pending_since"]) if d.get("pending_since") else None,
            failures=int(d.get("failures", 0)),
            changes=int(d.get("changes", 0)),
        )


@dataclass(frozen=True, slots=True)
class Round:
    """What to look up now for one source: the due subjects and every control."""

    source: str
    subjects: tuple[str, ...]
    controls: tuple[str, ...]

    @property
    def lookups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.controls + self.subjects))


@dataclass(slots=True)
class Outcome:
    events: list[MentionEvent] = field(default_factory=list)
    #: entries whose stored form changed (to be written), and keys to forget (tombstones)
    changed: list[Entry] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    healthy: bool = False


def _event_id(mention_id: str, event_type: EventType, changes: int) -> str:
    h = hashlib.sha256()
    for part in ("reconcile", mention_id, event_type.value, str(changes)):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()[:32]


class WatchList:
    def __init__(
        self,
        *,
        schedule: tuple[timedelta, ...] = SCHEDULE,
        confirmations: int = 2,
        controls: int = 3,
        max_per_source: int = 5000,
        max_checks_per_round: int = 50,
        confirm_after: timedelta = CONFIRM_AFTER,
    ) -> None:
        if confirmations < 2:
            raise ValueError("a removal needs at least two agreeing checks")
        if not schedule or schedule[0] <= timedelta(0) or list(schedule) != sorted(set(schedule)):
            raise ValueError("the re-check schedule must be positive and increasing")
        if confirm_after <= timedelta(0):
            raise ValueError("the confirmation delay must be positive")
        self.schedule = schedule
        self.confirm_after = confirm_after
        self.confirmations = confirmations
        self.controls = controls
        self.max_per_source = max_per_source
        self.max_checks = max_checks_per_round
        self.entries: dict[str, dict[str, Entry]] = {}

    # ---------------------------------------------------------------- taking mentions in

    def admit(self, source: str, seen: Iterable[Seen], now: datetime) -> list[Entry]:
        """Watch what a poll saw; returns the entries added or changed (to be stored)."""
        book = self.entries.setdefault(source, {})
        changed: list[Entry] = []
        span = self.schedule[-1]
        for s in seen:
            if s.mention_id in book:
                continue
            if not s.author_is_brand and now - s.occurred_at > span:
                # older than the watch span: past its schedule already (or evicted after
                # it), and a poll that lists it again must not start it over
                continue
            e = Entry(
                source=source,
                seen=s,
                first_seen=now,
                next_at=now + self.schedule[0],
                subject=not s.author_is_brand,
            )
            book[s.mention_id] = e
            changed.append(e)
        changed.extend(self._pick_controls(source))
        return changed

    def _pick_controls(self, source: str) -> list[Entry]:
        book = self.entries.get(source, {})
        have = [e for e in book.values() if e.control and e.state is State.VISIBLE]
        if len(have) >= self.controls:
            return []
        # the brand's own comments first (least likely to be removed), then the oldest known
        pool = sorted(
            (e for e in book.values() if not e.control and e.state is State.VISIBLE),
            key=lambda e: (not e.seen.author_is_brand, e.first_seen, e.key),
        )
        picked = []
        for e in pool[: self.controls - len(have)]:
            book[e.key] = replace(e, control=True)
            picked.append(book[e.key])
        return picked

    def evict(self, source: str, now: datetime) -> list[str]:
        """Keys beyond ``max_per_source`` (oldest subjects first) and finished entries."""
        book = self.entries.get(source, {})
        span = self.schedule[-1]
        gone = [
            k
            for k, e in book.items()
            if not e.control and (e.step >= len(self.schedule) or (not e.subject and now - e.first_seen > span))
        ]
        extra = len(book) - len(gone) - self.max_per_source
        if extra > 0:
            rest = sorted((e for e in book.values() if not e.control and e.key not in gone), key=lambda e: e.first_seen)
            gone.extend(e.key for e in rest[:extra])
        for k in gone:
            book.pop(k, None)
        return gone

    # ---------------------------------------------------------------- rounds

    def due(self, source: str, now: datetime) -> Round | None:
        book = self.entries.get(source, {})
        subjects = sorted(
            (e for e in book.values() if e.subject and e.next_at <= now), key=lambda e: (e.next_at, e.key)
        )[: self.max_checks]
        if not subjects:
            return None
        controls = sorted((e for e in book.values() if e.control), key=lambda e: e.key)
        return Round(source, tuple(e.key for e in subjects), tuple(e.key for e in controls))

    def apply(self, rnd: Round, checks: Mapping[str, Check], now: datetime) -> Outcome:
        """Fold one round's lookups in. ``checks`` by mention id; a lookup not made is a failure."""
        book = self.entries.get(rnd.source, {})
        out = Outcome()
        control_checks = [checks.get(k) for k in rnd.controls]
        out.healthy = any(c is not None and c.verdict is Verdict.PRESENT for c in control_checks)
        for k in rnd.controls:
            e = book.get(k)
            c = checks.get(k)
            if e is None or c is None:
                continue
            if c.verdict in (Verdict.GONE, Verdict.HIDDEN) and out.healthy:
                # another control read fine, so this one really went: it stops being a probe
                book[k] = replace(e, control=False)
                out.changed.append(book[k])
        for k in rnd.subjects:
            e = book.get(k)
            if e is None:
                continue
            new, event = self._step(e, checks.get(k), out.healthy, now)
            book[k] = new
            out.changed.append(new)
            if event is not None:
                out.events.append(event)
        out.changed.extend(self._pick_controls(rnd.source))
        out.dropped.extend(self.evict(rnd.source, now))
        return out

    def _advance(self, e: Entry) -> Entry:
        step = e.step + 1
        at = e.first_seen + self.schedule[min(step, len(self.schedule) - 1)]
        return replace(e, step=step, next_at=at, failures=0)

    def _step(self, e: Entry, c: Check | None, healthy: bool, now: datetime) -> tuple[Entry, MentionEvent | None]:
        if c is None or c.verdict is Verdict.FAILED:
            failures = e.failures + 1
            wait = min(FAILURE_BACKOFF * (2 ** min(failures - 1, 16)), MAX_FAILURE_BACKOFF)
            if c is not None and c.retry_after_s:
                wait = max(wait, timedelta(seconds=c.retry_after_s))
            return replace(e, failures=failures, next_at=now + wait), None
        target = _TARGET[c.verdict]
        if target is not State.VISIBLE and not healthy:
            # "not found" without a control that was found: maybe we cannot see, not gone
            return replace(e, next_at=now + self.confirm_after), None
        if target is e.state:
            return self._advance(replace(e, pending=None, streak=0, pending_since=None)), None
        if not healthy:
            # a return to visible is judged by the same rule as a removal
            return replace(e, next_at=now + self.confirm_after), None
        if e.pending is target:
            streak, since = e.streak + 1, e.pending_since or now
        else:
            streak, since = 1, now
        if streak < self.confirmations:
            return (
                replace(e, pending=target, streak=streak, pending_since=since, next_at=now + self.confirm_after),
                None,
            )
        event = self._event(e, target, since, now)
        moved = replace(e, state=target, pending=None, streak=0, pending_since=None, changes=e.changes + 1)
        return self._advance(moved), event

    def _event(self, e: Entry, target: State, since: datetime, now: datetime) -> MentionEvent | None:
        s = e.seen
        etype = _EVENT[target]
        actor = (
            Actor.BRAND
            if etype in (EventType.HIDDEN,) or (e.state is State.HIDDEN and etype is EventType.RESTORED)
            else None
        )
        try:
            return validate_obj(
                MentionEvent,
                {
                    "event_id": _event_id(s.mention_id, etype, e.changes),
                    "event_type": etype,
                    "platform": s.platform,
                    "brand": s.brand,
                    "channel": s.channel,
                    "mention_id": s.mention_id,
                    "parent_id": s.parent_id,
                    "author_id": s.author_id,
                    "author_is_brand": s.author_is_brand,
                    "url": s.url,
                    "actor": actor,
                    # dated by the first check that saw the change: it happened between
                    # the last check that saw it as it was and that one
                    "occurred_at": since,
                },
                context={"ingested_at": now},
            )
        except InvalidRecord:
            return None

    # ---------------------------------------------------------------- persistence

    def restore(self, entries: Iterable[Entry]) -> None:
        for e in entries:
            self.entries.setdefault(e.source, {})[e.key] = e

    def size(self, role: str) -> int:
        return sum(
            1
            for book in self.entries.values()
            for e in book.values()
            if (e.control if role == "control" else e.subject)
        )
