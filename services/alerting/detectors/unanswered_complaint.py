"""``unanswered_complaint``: complaints and questions on the brand's own channels that wait too long for an answer.

A complaint (``obs.negative``) or a question (:func:`looks_like_question`) created on an owned
channel by someone other than the brand starts waiting. It is answered by a brand event
(``author_is_brand``) whose ``parent_id`` is the complaint's ``mention_id``, or by a brand reply
in the same thread (the same ``parent_id`` as the complaint) made after the complaint. It stops
waiting when it is deleted or hidden (the removal detectors judge that). Edits change nothing.

One incident per (brand, channel): it fires when the first complaint passes the SLA
(``sla_minutes``), is re-notified when the number overdue doubles or when one has waited
``failure_hours`` (critical: a day is a failure), and resolves as soon as every overdue
complaint of the episode was answered, removed or given up on. A wave of 300 complaints is
therefore one alert and a handful of updates, each listing the oldest overdue complaints with
links, so a team can work through them.

Deadlines live in one heap per brand (``(due, channel, mention_id, stage)``), so an SLA passes
within the step of whatever moves the brand's clock: an event of any kind, or ``advance`` on a
quiet partition. Entries are never removed in place; a popped entry is acted on only if it still
matches its complaint (lazy deletion), and the heap is rebuilt when stale entries outnumber live
ones, which keeps every operation O(log n) amortised.

Out of order: a brand reply can arrive before the complaint it answers (two pollers, a
redelivered batch). Brand replies' parent ids are remembered for ``memory_hours``, and a
complaint that arrives after its answer is counted as answered (its reply time goes to the
histogram) instead of waiting forever. Complaints that were answered or removed are remembered
as long, so a redelivered ``created`` cannot make them wait again.

Reply times (complaint -> first brand answer, in seconds) are collected for a histogram metric;
they are transient (not part of the dumped state) and drained by :meth:`take_measurements`.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from pydantic import Field, model_validator

from services.alerting.incidents import Episode, EpisodePolicy, resolve_now, to_alert, trigger
from services.alerting.types import BrandView, DetectorSettings, Observation
from shared.schemas import (
    Alert,
    AlertEvidence,
    AlertKind,
    AlertStatus,
    EventType,
    EvidenceMention,
    Platform,
    Severity,
)

_UTC = timezone.utc
_CREATED = EventType.CREATED
_EDITED = EventType.EDITED
_DELETED = EventType.DELETED
_HIDDEN = EventType.HIDDEN
_RESTORED = EventType.RESTORED

# heap entry stages: what happens when the entry's time comes
_SLA = 0  # the complaint becomes overdue
_FAILURE = 1  # it has waited failure_hours: the incident turns critical
_EXPIRE = 2  # it has waited pending_ttl_days: stop tracking it
_FORGET = 3  # a resolved episode's cooldown is over: drop it (mention_id "" for these)

#: text kept per complaint for the evidence; the notification shows a snippet, not the essay
_TEXT_KEEP = 200
#: overdue complaints kept per episode with what became of them, for the resolution's evidence
_SETTLED_KEEP = 20
#: transient reply latencies kept between two drains (the engine drains every batch; this only
#: bounds memory if nobody drains, e.g. a test or a tool that never asks)
_MEASURE_CAP = 10_000

# --- questions --------------------------------------------------------------------------------------------------

#: question marks of the scripts RepWatch sees: Latin, Spanish opening, Arabic/Persian/Urdu,
#: full-width (CJK), Greek (U+037E), Armenian (U+055E)
_QUESTION_MARKS = ("?", "¿", "؟", "？", "\u037e", "\u055e")

#: first words that open a question without a question mark (people often drop it in comments).
#: Words that also open exclamations or statements ("what a ...", "do not ...") are left out or
#: only count as pairs (_QUESTION_PAIRS).
_QUESTION_OPENERS = frozenset(
    {
        # en
        "how", "why", "when", "where", "who", "whom", "whose", "which", "can", "could", "does", "did",
        "is", "are", "will", "would", "should", "anyone", "anybody",
        # ru
        "как", "почему", "зачем", "когда", "где", "куда", "откуда", "кто", "сколько", "какой", "какая",
        "какое", "какие", "каким", "что", "чего", "можно", "подскажите", "скажите", "объясните",
        # uk
        "як", "чому", "коли", "де", "хто", "скільки", "який", "яка", "які", "чи", "підкажіть",
        # de
        "wie", "warum", "wann", "wo", "wer", "welche", "welcher", "gibt", "kann", "können",
        # fr
        "comment", "pourquoi", "quand", "où", "quel", "quelle", "est-ce",
        # es (usually written with ¿, but not always)
        "cómo", "qué", "cuándo", "dónde", "quién", "cuál",
    }
)  # fmt: skip
#: two-word openers for first words that are questions only in company ("do you", not "do not")
_QUESTION_PAIRS = frozenset(
    {
        "do you", "do i", "do they", "do we", "what is", "what's", "what are", "what about", "what happened",
        "any update", "any updates", "any news", "was ist", "what time", "por qué",
    }
)  # fmt: skip
#: a yes/no particle that turns any Russian sentence into a question ("работает ли доставка")
_RU_PARTICLE = " ли "
_STRIP = ",.:;!…\"'«»()-—"
#: only the start of a long text is read for openers: a question is asked up front
_HEAD_CHARS = 200


def looks_like_question(text: str) -> bool:
    """Whether ``text`` reads as a question: a question mark of any common script, or a question opener.

    Deliberately small and cheap (it runs on every non-negative comment on an owned channel):
    a question mark anywhere, or a first word (or first two words) from a short en/ru/uk/de/fr/es
    list, or the Russian particle "ли". An opener does not count when the text ends in "!"
    ("How nice!"). False positives cost little: a question wrongly taken for one only waits
    for an answer the brand would give anyway.
    """
    for mark in _QUESTION_MARKS:
        if mark in text:
            return True
    head = text[:_HEAD_CHARS].strip().lower()
    if not head or head.endswith("!"):
        return False
    words = head.split(None, 2)
    first = words[0].strip(_STRIP)
    if first in _QUESTION_OPENERS:
        return True
    if len(words) > 1 and f"{first} {words[1].strip(_STRIP)}" in _QUESTION_PAIRS:
        return True
    return first in _QUESTION_PAIRS or _RU_PARTICLE in f" {head} "


# --- settings ---------------------------------------------------------------------------------------------------


class UnansweredComplaintSettings(DetectorSettings):
    #: minutes a complaint may wait for the brand's answer (the seed's rule: one hour)
    sla_minutes: float = Field(default=60.0, gt=0)
    #: hours after which waiting is a failure, not a delay: the incident turns critical
    failure_hours: float = Field(default=24.0, gt=0)
    #: questions wait for an answer too, not only negative mentions
    questions: bool = True
    #: days after which an unanswered complaint is no longer tracked (bounds the state; the alert says so)
    pending_ttl_days: float = Field(default=7.0, gt=0)
    #: complaints tracked per channel; beyond it the oldest is dropped and counted (bounds a flood)
    max_pending_per_channel: int = Field(default=2000, ge=1)
    #: owned channels with waiting complaints tracked per brand; complaints on more are counted, not tracked
    max_channels: int = Field(default=500, ge=1)
    #: hours brand replies (for complaints that arrive after their answer) and answered/removed complaint
    #: ids (against redelivery) are remembered
    memory_hours: float = Field(default=24.0, gt=0)
    #: entries in each of those memories per brand (oldest dropped first)
    max_memory: int = Field(default=5000, ge=1)
    #: overdue complaints listed in an alert's evidence (the schema allows 20)
    evidence_mentions: int = Field(default=20, ge=1, le=20)
    #: re-notify when the number overdue has grown by this factor since the last notification
    escalate_factor: float = Field(default=2.0, gt=1.0)
    #: minutes after resolution during which new overdue complaints reopen the same incident (no re-page)
    cooldown_minutes: float = Field(default=30.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> UnansweredComplaintSettings:
        if self.failure_hours * 60 <= self.sla_minutes:
            raise ValueError(
                f"failure_hours ({self.failure_hours}) must be longer than sla_minutes ({self.sla_minutes})"
            )
        if self.pending_ttl_days * 24 <= self.failure_hours:
            raise ValueError(
                f"pending_ttl_days ({self.pending_ttl_days}) must be longer than failure_hours ({self.failure_hours})"
            )
        return self


# --- state ------------------------------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Pending:
    """One complaint waiting for its answer. Times are UTC epoch seconds (cheap to compare, exact in JSON)."""

    mention_id: str
    parent_id: str | None
    author_id: str
    url: str | None
    text: str
    negative: float | None
    at: float
    #: time of this complaint's live heap entry
    due: float
    #: stage of that entry (_SLA, _FAILURE or _EXPIRE); >= _FAILURE means overdue
    stage: int

    def to_json(self) -> list[Any]:
        return [self.mention_id, self.parent_id, self.author_id, self.url, self.text, self.negative, self.at,
                self.due, self.stage]  # fmt: skip

    @classmethod
    def from_json(cls, d: list[Any]) -> _Pending:
        mid, parent, author, url, text, neg, at, due, stage = d
        return cls(str(mid), parent, str(author), url, str(text), neg, float(at), float(due), int(stage))


@dataclass(slots=True, eq=False)
class _Channel:
    platform: str
    channel: str
    #: waiting complaints by mention_id, in arrival order (the cap drops the first)
    pending: dict[str, _Pending] = field(default_factory=dict)
    #: the overdue ones, in the order they became overdue
    overdue: dict[str, _Pending] = field(default_factory=dict)
    #: parent_id -> waiting complaints in that thread (an index over ``pending``; rebuilt on load)
    threads: dict[str, dict[str, _Pending]] = field(default_factory=dict)
    #: overdue complaints that have waited failure_hours
    failed: int = 0
    episode: Episode | None = None
    # per episode, reset when a new one fires
    answered_late: int = 0
    removed: int = 0
    expired: int = 0
    dropped: int = 0
    #: the last few overdue complaints that stopped waiting, with how: answered, removed, given_up, dropped
    settled: list[tuple[str, _Pending]] = field(default_factory=list)

    def settle(self, how: str, p: _Pending) -> None:
        if p.stage >= _FAILURE:
            self.settled.append((how, p))
            if len(self.settled) > _SETTLED_KEEP:
                del self.settled[0]

    def empty(self) -> bool:
        return not self.pending and self.episode is None


@dataclass(slots=True, eq=False)
class UnansweredComplaintState:
    channels: dict[str, _Channel] = field(default_factory=dict)
    #: (due, channel key, mention_id, stage); lazily cleaned (see module doc)
    heap: list[tuple[float, str, str, int]] = field(default_factory=list)
    #: the latest time ticked to: deadlines of late complaints are never set before it
    clock: float = float("-inf")
    #: "channel key \x1f parent_id" -> latest brand reply time there (bounded: memory_hours, max_memory)
    replied: OrderedDict[str, float] = field(default_factory=OrderedDict)
    #: "channel key \x1f mention_id" -> when it was answered (bounded: memory_hours, max_memory)
    closed: OrderedDict[str, float] = field(default_factory=OrderedDict)
    #: "channel key \x1f mention_id" -> (removed at, the complaint) so a restore puts it back (same bounds)
    removed: OrderedDict[str, tuple[float, _Pending]] = field(default_factory=OrderedDict)
    #: complaints not tracked because the brand already had max_channels channels with waiting complaints
    untracked: int = 0
    #: reply latencies in seconds since the last drain; transient, never dumped (bounded: _MEASURE_CAP)
    measurements: list[float] = field(default_factory=list)
    #: heap size at which _compact next looks; transient (compaction never changes what the heap yields)
    next_compact: int = 256


def _key(platform: str, channel: str) -> str:
    return f"{platform}\x1f{channel}"


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, _UTC)


def _display(platform: str, channel: str) -> str:
    return channel if channel.startswith(f"{platform}:") else f"{platform}:{channel}"


def _span(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 90:
        return f"{max(1, round(minutes))} min"
    hours = minutes / 60
    if hours < 48:
        return f"{round(hours)} h"
    return f"{round(hours / 24)} days"


def _expire_front(memory: OrderedDict[str, Any], cut: float, cap: int, stamp) -> None:
    # insertion order is (nearly) time order, so only the front can be stale; OrderedDict makes the
    # front O(1) to reach (a plain dict's next(iter()) crawls over the holes front deletes leave)
    while memory:
        k = next(iter(memory))
        if len(memory) > cap or stamp(memory[k]) < cut:
            memory.popitem(last=False)
        else:
            return


def _float_stamp(v: float) -> float:
    return v


def _removed_stamp(v: tuple[float, _Pending]) -> float:
    return v[0]


class UnansweredComplaintDetector:
    name: ClassVar[str] = "unanswered_complaint"
    kinds: ClassVar[tuple[AlertKind, ...]] = (AlertKind.UNANSWERED_COMPLAINT,)
    Settings: ClassVar[type[DetectorSettings]] = UnansweredComplaintSettings
    STATE_VERSION: ClassVar[int] = 1

    def __init__(self, settings: UnansweredComplaintSettings | None = None) -> None:
        self.settings = s = settings or UnansweredComplaintSettings()
        self._sla = s.sla_minutes * 60
        self._failure = s.failure_hours * 3600
        self._ttl = s.pending_ttl_days * 86400
        self._memory = s.memory_hours * 3600
        self._cooldown = s.cooldown_minutes * 60
        # quiet=0: resolution is explicit (resolve_now) once nothing is overdue
        self._policy = EpisodePolicy(
            quiet=timedelta(0), cooldown=timedelta(seconds=self._cooldown), escalate_factor=s.escalate_factor
        )

    # --- protocol -----------------------------------------------------------------------------------------------

    def new_state(self) -> UnansweredComplaintState:
        return UnansweredComplaintState()

    def observe(self, state: UnansweredComplaintState, obs: Observation, brand: BrandView) -> list[Alert]:
        now = obs.watermark.timestamp()
        out: list[Alert] = []
        heap = state.heap
        # deadlines up to this event's watermark pass first: an alert owed before the event is owed
        # whatever the event is (the same alerts whether or not advance() ran in between)
        if heap and heap[0][0] <= now:
            self._tick(state, now, brand.name, out)
        if now > state.clock:
            state.clock = now
        m = obs.event.mention
        et = m.event_type
        if m.author_is_brand:
            if m.parent_id is not None and (et is _CREATED or et is _EDITED):
                self._on_reply(state, obs, now, brand.name, out)
        elif et is _CREATED:
            if obs.owned and (obs.negative or (self.settings.questions and looks_like_question(m.text))):
                self._on_complaint(state, obs, now)
        elif et is _DELETED or et is _HIDDEN:
            if state.channels:
                self._on_removed(state, obs, now, brand.name, out)
        elif et is _RESTORED and state.removed:
            self._on_restored(state, obs, now)
        # a late complaint may already be past its deadline: it fires now, not at the next event
        heap = state.heap  # the event may have compacted the heap into a new list
        if heap and heap[0][0] <= now:
            self._tick(state, now, brand.name, out)
        return out

    def advance(self, state: UnansweredComplaintState, now: datetime, brand: BrandView) -> list[Alert]:
        t = now.timestamp()
        out: list[Alert] = []
        if state.heap and state.heap[0][0] <= t:
            self._tick(state, t, brand.name, out)
        if t > state.clock:
            state.clock = t
        self._expire_memories(state, t)
        return out

    def active(self, state: UnansweredComplaintState) -> int:
        return sum(1 for ch in state.channels.values() if ch.episode is not None and ch.episode.is_open)

    def take_measurements(self, state: UnansweredComplaintState) -> list[tuple[str, float]]:
        """Reply latencies (seconds) since the last call, for the ``reply_seconds`` histogram; clears them."""
        if not state.measurements:
            return []
        got = [("reply_seconds", s) for s in state.measurements]
        state.measurements = []
        return got

    # --- events -------------------------------------------------------------------------------------------------

    def _on_complaint(self, state: UnansweredComplaintState, obs: Observation, now: float) -> None:
        m = obs.event.mention
        ck = _key(m.platform.value, m.channel)
        ch = state.channels.get(ck)
        mid = m.mention_id
        if ch is not None and mid in ch.pending:
            return  # redelivered
        k = f"{ck}\x1f{mid}"
        if k in state.closed or k in state.removed:
            return  # redelivered after it was answered or removed
        at = m.occurred_at.timestamp()
        if at <= now - self._ttl:
            return  # so late that it would be given up on at once
        self._expire_memories(state, now)
        reply = state.replied.get(k)
        if reply is None and m.parent_id is not None:
            in_thread = state.replied.get(f"{ck}\x1f{m.parent_id}")
            if in_thread is not None and in_thread >= at:
                reply = in_thread
        if reply is not None:  # its answer came first (out of order)
            self._measure(state, reply - at)
            self._remember(state.closed, k, now)
            return
        if ch is None:
            if len(state.channels) >= self.settings.max_channels:
                state.untracked += 1
                return
            ch = state.channels[ck] = _Channel(m.platform.value, m.channel)
        s = obs.event.sentiment
        p = _Pending(mid, m.parent_id, m.author_id, m.url, m.text[:_TEXT_KEEP], s.negative if s else None, at, 0.0, 0)
        if len(ch.pending) >= self.settings.max_pending_per_channel:
            oldest = ch.pending[next(iter(ch.pending))]
            ch.settle("dropped", oldest)
            self._drop(ch, oldest)
            ch.dropped += 1
        self._add(state, ck, ch, p)

    def _on_reply(self, state: UnansweredComplaintState, obs: Observation, now: float, brand: str, out: list[Alert]):
        m = obs.event.mention
        ck = _key(m.platform.value, m.channel)
        parent = m.parent_id
        t = m.occurred_at.timestamp()
        self._expire_memories(state, now)
        rk = f"{ck}\x1f{parent}"
        prev = state.replied.pop(rk, None)
        self._remember(state.replied, rk, t if prev is None or t > prev else prev)
        ch = state.channels.get(ck)
        if ch is None:
            return
        closed = False
        p = ch.pending.get(parent)  # a direct reply answers whenever it is dated
        if p is not None:
            self._answer(state, ck, ch, p, t, now)
            closed = True
        thread = ch.threads.get(parent)
        if thread:
            # a reply in the thread answers the complaints written before it, not later ones
            for q in [q for q in thread.values() if q.at <= t]:
                self._answer(state, ck, ch, q, t, now)
                closed = True
        if closed:
            self._settle(state, ck, ch, now, brand, out)

    def _on_removed(self, state: UnansweredComplaintState, obs: Observation, now: float, brand: str, out: list[Alert]):
        m = obs.event.mention
        ck = _key(m.platform.value, m.channel)
        ch = state.channels.get(ck)
        if ch is None:
            return
        p = ch.pending.get(m.mention_id)
        if p is None:
            return
        if p.stage >= _FAILURE:
            ch.removed += 1
        ch.settle("removed", p)
        self._drop(ch, p)
        self._expire_memories(state, now)
        self._remember(state.removed, f"{ck}\x1f{p.mention_id}", (now, p))
        self._settle(state, ck, ch, now, brand, out)

    def _on_restored(self, state: UnansweredComplaintState, obs: Observation, now: float) -> None:
        m = obs.event.mention
        ck = _key(m.platform.value, m.channel)
        got = state.removed.pop(f"{ck}\x1f{m.mention_id}", None)
        if got is None:
            return
        p = got[1]
        ch = state.channels.get(ck)
        if ch is None:
            if len(state.channels) >= self.settings.max_channels:
                state.untracked += 1
                return
            ch = state.channels[ck] = _Channel(m.platform.value, m.channel)
        if p.mention_id in ch.pending:
            return
        # visible again and still unanswered: it waits from when it was written, as before
        p.stage = _SLA
        if len(ch.pending) >= self.settings.max_pending_per_channel:
            oldest = ch.pending[next(iter(ch.pending))]
            ch.settle("dropped", oldest)
            self._drop(ch, oldest)
            ch.dropped += 1
        self._add(state, ck, ch, p)

    # --- bookkeeping --------------------------------------------------------------------------------------------

    def _push(self, state: UnansweredComplaintState, ck: str, p: _Pending, due: float, stage: int) -> None:
        # never in the past: a late complaint's deadline passes at the next tick, not retroactively
        p.due = due if due > state.clock else state.clock
        p.stage = stage
        heapq.heappush(state.heap, (p.due, ck, p.mention_id, stage))

    def _add(self, state: UnansweredComplaintState, ck: str, ch: _Channel, p: _Pending) -> None:
        ch.pending[p.mention_id] = p
        if p.parent_id is not None:
            ch.threads.setdefault(p.parent_id, {})[p.mention_id] = p
        self._push(state, ck, p, p.at + self._sla, _SLA)
        self._compact(state)

    def _drop(self, ch: _Channel, p: _Pending) -> None:
        """Stop tracking ``p`` (its heap entry goes stale and is skipped when it comes up)."""
        del ch.pending[p.mention_id]
        if p.parent_id is not None:
            thread = ch.threads.get(p.parent_id)
            if thread is not None:
                thread.pop(p.mention_id, None)
                if not thread:
                    del ch.threads[p.parent_id]
        if ch.overdue.pop(p.mention_id, None) is not None and p.stage >= _EXPIRE:
            ch.failed -= 1

    def _answer(self, state: UnansweredComplaintState, ck: str, ch: _Channel, p: _Pending, t: float, now: float):
        self._measure(state, t - p.at)
        if p.stage >= _FAILURE:
            ch.answered_late += 1
        ch.settle("answered", p)
        self._drop(ch, p)
        self._remember(state.closed, f"{ck}\x1f{p.mention_id}", now)

    def _measure(self, state: UnansweredComplaintState, seconds: float) -> None:
        if len(state.measurements) < _MEASURE_CAP:
            state.measurements.append(seconds if seconds > 0 else 0.0)

    def _remember(self, memory: OrderedDict[str, Any], k: str, v: Any) -> None:
        memory[k] = v
        memory.move_to_end(k)
        if len(memory) > self.settings.max_memory:
            memory.popitem(last=False)

    def _expire_memories(self, state: UnansweredComplaintState, now: float) -> None:
        cut = now - self._memory
        cap = self.settings.max_memory
        _expire_front(state.replied, cut, cap, _float_stamp)
        _expire_front(state.closed, cut, cap, _float_stamp)
        _expire_front(state.removed, cut, cap, _removed_stamp)

    def _compact(self, state: UnansweredComplaintState) -> None:
        # counting the live entries costs O(channels), so it is done once per 256 pushes at most
        if len(state.heap) < state.next_compact:
            return
        live = sum(len(ch.pending) for ch in state.channels.values()) + len(state.channels)
        if len(state.heap) > 2 * live + 256:
            state.heap = self._live_heap(state)
        state.next_compact = len(state.heap) + 256

    def _live_heap(self, state: UnansweredComplaintState) -> list[tuple[float, str, str, int]]:
        heap = [(p.due, ck, p.mention_id, p.stage) for ck, ch in state.channels.items() for p in ch.pending.values()]
        for ck, ch in state.channels.items():
            ep = ch.episode
            if ep is not None and ep.resolved_at is not None:
                heap.append((ep.resolved_at.timestamp() + self._cooldown, ck, "", _FORGET))
        heapq.heapify(heap)
        return heap

    # --- time ---------------------------------------------------------------------------------------------------

    def _tick(self, state: UnansweredComplaintState, now: float, brand: str, out: list[Alert]) -> None:
        heap = state.heap
        #: channel key -> the earliest deadline that changed it in this tick
        touched: dict[str, float] = {}
        #: complaints past their TTL, given up on only after the others are notified: after a long jump
        #: in time (an outage, the end of a backtest) a complaint that passed its SLA and its TTL in the
        #: same tick is still reported before it is dropped
        #: keyed, because a complaint removed and restored can have two identical live entries
        expired: dict[tuple[str, str], _Pending] = {}
        while heap and heap[0][0] <= now:
            ts, ck, mid, stage = heapq.heappop(heap)
            ch = state.channels.get(ck)
            if ch is None:
                continue
            if stage == _FORGET:
                ep = ch.episode
                if ep is not None and ep.resolved_at is not None:
                    if ep.resolved_at.timestamp() + self._cooldown <= ts:
                        ch.episode = None
                        if ch.empty():
                            del state.channels[ck]
                continue
            p = ch.pending.get(mid)
            if p is None or p.stage != stage or p.due != ts:
                continue  # stale: answered, removed or re-added since
            if stage == _SLA:
                ch.overdue[mid] = p
                self._push(state, ck, p, p.at + self._failure, _FAILURE)
            elif stage == _FAILURE:
                ch.failed += 1
                self._push(state, ck, p, p.at + self._ttl, _EXPIRE)
            else:
                expired[(ck, mid)] = p
            if ck not in touched:
                touched[ck] = ts
        for ck, first in touched.items():
            ch = state.channels.get(ck)
            if ch is not None and ch.overdue:
                self._notify(state, ck, ch, first, now, brand, out)
        if not expired:
            return
        for (ck, _), p in expired.items():
            ch = state.channels[ck]  # a channel with a pending complaint is never deleted
            ch.settle("given_up", p)
            self._drop(ch, p)
            ch.expired += 1
            self._remember(state.closed, f"{ck}\x1f{p.mention_id}", now)
        for ck in dict.fromkeys(ck for ck, _ in expired):
            self._settle(state, ck, state.channels[ck], now, brand, out)

    def _notify(
        self, state: UnansweredComplaintState, ck: str, ch: _Channel, first: float, now: float, brand: str,
        out: list[Alert],
    ) -> None:  # fmt: skip
        n = len(ch.overdue)
        severity = Severity.CRITICAL if ch.failed else Severity.WARNING
        old = ch.episode
        # the episode starts at the deadline that made it fire, not at whenever the clock was looked at,
        # so its alert_id does not depend on how often the idle policy advances time
        ep, status = trigger(
            old,
            now=_dt(first),
            kind=AlertKind.UNANSWERED_COMPLAINT,
            brand=brand,
            channel=ch.channel,
            platform=Platform(ch.platform),
            severity=severity,
            level=float(n),
            policy=self._policy,
        )
        if ep is not old:
            ch.answered_late = ch.removed = ch.expired = ch.dropped = 0
            ch.settled = []
            ch.episode = ep
        if status is not None:
            out.append(self._alert(ch, status, now))

    def _settle(self, state: UnansweredComplaintState, ck: str, ch: _Channel, now: float, brand: str, out):
        """Resolve the episode once nothing is overdue; forget the channel once nothing is left."""
        ep = ch.episode
        if ep is not None and ep.is_open and not ch.overdue:
            status = resolve_now(ep, now=_dt(now))
            out.append(self._alert(ch, status, now))
            heapq.heappush(state.heap, (ep.resolved_at.timestamp() + self._cooldown, ck, "", _FORGET))
        if ch.empty():
            del state.channels[ck]

    # --- alerts -------------------------------------------------------------------------------------------------

    def _alert(self, ch: _Channel, status: AlertStatus, now: float) -> Alert:
        s = self.settings
        ep = ch.episode
        assert ep is not None
        where = _display(ch.platform, ch.channel)
        sla = f"{s.sla_minutes:g} min"
        platform = Platform(ch.platform)
        overdue = sorted(ch.overdue.values(), key=lambda p: (p.at, p.mention_id))
        n = len(overdue)
        if status is AlertStatus.RESOLVED:
            shown = list(reversed(ch.settled))
        else:
            shown = [("unanswered", p) for p in overdue]
        mentions = [
            EvidenceMention(
                mention_id=p.mention_id,
                platform=platform,
                channel=ch.channel,
                url=p.url,
                author_id=p.author_id,
                occurred_at=_dt(p.at),
                text=p.text,
                negative=p.negative,
                role=role,
            )
            for role, p in shown[: s.evidence_mentions]
        ]
        longest = now - overdue[0].at if overdue else 0.0
        counts = {
            "overdue": n,
            "answered_late": ch.answered_late,
            "pending": len(ch.pending) - n,
            "failed": ch.failed,
            "removed": ch.removed,
            "expired": ch.expired,
            "dropped": ch.dropped,
        }
        evidence = AlertEvidence(
            mention_ids=[p.mention_id for _, p in shown[:100]],
            counts=counts,
            mentions=mentions,
            observed=float(n),
            expected=0.0,
            # the longest wait, in minutes: how far past the promise the worst case is
            score=round(longest / 60, 1),
            baseline=f"sla_{s.sla_minutes:g}m",
            top_channels={ch.channel: n} if n else {},
        )
        if status is AlertStatus.RESOLVED:
            gone = []
            if ch.answered_late:
                gone.append(f"{ch.answered_late} answered late")
            if ch.removed:
                gone.append(f"{ch.removed} removed")
            if ch.expired:
                gone.append(f"{ch.expired} given up on after {s.pending_ttl_days:g} days unanswered")
            if ch.dropped:
                gone.append(f"{ch.dropped} dropped unanswered in a flood of over {s.max_pending_per_channel}")
            detail = f" ({', '.join(gone)})" if gone else ""
            if ch.expired or ch.dropped:
                message = (
                    f"{ep.brand}: no complaint on {where} is tracked as overdue any more{detail}. "
                    "The ones given up on or dropped were never answered: check them if they still matter."
                )
            else:
                message = f"{ep.brand}: every overdue complaint on {where} has been dealt with{detail}. Nothing to do."
            window_start = ep.started_at
        else:
            noun = "complaint" if n == 1 else "complaints"
            verb = "has" if n == 1 else "have"
            failed = ""
            if ch.failed:
                who = "It has" if n == 1 else f"{ch.failed} of them have"
                failed = f" {who} waited over {s.failure_hours:g} h, which counts as a failure."
            action = "Answer it." if n == 1 else f"Answer these {n} complaints."
            message = (
                f"{ep.brand}: {n} {noun} on {where} {verb} waited over {sla} for an answer "
                f"(longest {_span(longest)}).{failed} {action}"
            )
            window_start = _dt(overdue[0].at)
        return to_alert(ep, status, window_start=window_start, window_end=_dt(now), evidence=evidence, message=message)

    # --- state --------------------------------------------------------------------------------------------------

    def dump_state(self, state: UnansweredComplaintState) -> dict[str, Any]:
        return {
            "version": self.STATE_VERSION,
            "clock": state.clock if state.clock != float("-inf") else None,
            "channels": [
                {
                    "key": ck,
                    "platform": ch.platform,
                    "channel": ch.channel,
                    "pending": [p.to_json() for p in ch.pending.values()],
                    "overdue": list(ch.overdue),
                    "episode": ch.episode.to_json() if ch.episode is not None else None,
                    "answered_late": ch.answered_late,
                    "removed": ch.removed,
                    "expired": ch.expired,
                    "dropped": ch.dropped,
                    "settled": [[how, p.to_json()] for how, p in ch.settled],
                }
                for ck, ch in state.channels.items()
            ],
            "replied": [[k, v] for k, v in state.replied.items()],
            "closed": [[k, v] for k, v in state.closed.items()],
            "removed": [[k, at, p.to_json()] for k, (at, p) in state.removed.items()],
            "untracked": state.untracked,
        }

    def load_state(self, data: dict[str, Any]) -> UnansweredComplaintState:
        if not isinstance(data, dict) or data.get("version") != self.STATE_VERSION:
            got = data.get("version") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"unanswered_complaint state version {got!r}; this build reads {self.STATE_VERSION}")
        try:
            state = UnansweredComplaintState()
            clock = data["clock"]
            state.clock = float(clock) if clock is not None else float("-inf")
            for d in data["channels"]:
                ch = _Channel(str(d["platform"]), str(d["channel"]))
                for raw in d["pending"]:
                    p = _Pending.from_json(raw)
                    ch.pending[p.mention_id] = p
                    if p.parent_id is not None:
                        ch.threads.setdefault(p.parent_id, {})[p.mention_id] = p
                for mid in d["overdue"]:
                    p = ch.pending[mid]
                    ch.overdue[mid] = p
                    if p.stage >= _EXPIRE:
                        ch.failed += 1
                ch.episode = Episode.from_json(d["episode"]) if d["episode"] is not None else None
                ch.answered_late = int(d["answered_late"])
                ch.removed = int(d["removed"])
                ch.expired = int(d["expired"])
                ch.dropped = int(d["dropped"])
                ch.settled = [(str(how), _Pending.from_json(raw)) for how, raw in d["settled"]]
                state.channels[str(d["key"])] = ch
            state.replied = OrderedDict((str(k), float(v)) for k, v in data["replied"])
            state.closed = OrderedDict((str(k), float(v)) for k, v in data["closed"])
            state.removed = OrderedDict((str(k), (float(at), _Pending.from_json(p))) for k, at, p in data["removed"])
            state.untracked = int(data["untracked"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"unanswered_complaint state is malformed: {exc!r}") from None
        # the heap is derived: live entries only (stale ones would be skipped anyway)
        state.heap = self._live_heap(state)
        return state
