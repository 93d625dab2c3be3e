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

The memories of answered and removed complaints are stamped with the brand's clock to the whole
second (they are only ever expired by it), and an expiry pass is skipped outright until the
oldest stamp at the front of a memory can be stale, so the hot path does not touch them.

Snapshot: channels with their episode and counters stay readable; the bulky parts (waiting and
settled complaints, the three memories) go as columns into one zlib-compressed UTF-8 JSON
document in base64, channels as indexes into a table, times as exact microsecond deltas.
``load_state`` restores the channels and their incidents (what the active gauge needs) and keeps
the document as it came, decoding it when the brand is next touched
(:meth:`UnansweredComplaintDetector.materialise`), so restoring many brands only parses their snapshots.
"""

from __future__ import annotations

import heapq
import math
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from pydantic import Field, model_validator

from services.alerting.incidents import Episode, EpisodePolicy, resolve_now, to_alert, trigger
from services.alerting.packing import dec_times, deltas, enc_times, pack, undeltas, unpack, utc
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
    #: entries in each of those memories per brand (oldest dropped first). Out-of-order replies and
    #: redeliveries are minutes apart; 2000 covers ~2 hours of the busiest simulated brand's owned channels
    #: (~10 bytes each in a snapshot)
    max_memory: int = Field(default=2000, ge=1)
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
    #: (channel key, parent_id) -> latest brand reply time there (bounded: memory_hours, max_memory)
    replied: OrderedDict[tuple[str, str], float] = field(default_factory=OrderedDict)
    #: (channel key, mention_id) -> when it was answered, whole seconds (bounded: memory_hours, max_memory)
    closed: OrderedDict[tuple[str, str], int] = field(default_factory=OrderedDict)
    #: (channel key, mention_id) -> (removed at, whole seconds; the complaint) so a restore puts it back (same bounds)
    removed: OrderedDict[tuple[str, str], tuple[int, _Pending]] = field(default_factory=OrderedDict)
    #: no memory entry can be stale before this time (the oldest front stamp + memory_hours); derived, never dumped
    expire_at: float = float("-inf")
    #: waiting complaints and memories as restored, not decoded yet (see UnansweredComplaintDetector.materialise)
    packed: str | None = None
    #: complaints not tracked because the brand already had max_channels channels with waiting complaints
    untracked: int = 0
    #: reply latencies in seconds since the last drain; transient, never dumped (bounded: _MEASURE_CAP)
    measurements: list[float] = field(default_factory=list)
    #: heap size at which _compact next looks; transient (compaction never changes what the heap yields)
    next_compact: int = 256


_SEP = "\x1f"


def _key(platform: str, channel: str) -> str:
    return f"{platform}{_SEP}{channel}"


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


def _removed_stamp(v: tuple[int, _Pending]) -> float:
    return v[0]


class UnansweredComplaintDetector:
    name: ClassVar[str] = "unanswered_complaint"
    kinds: ClassVar[tuple[AlertKind, ...]] = (AlertKind.UNANSWERED_COMPLAINT,)
    Settings: ClassVar[type[DetectorSettings]] = UnansweredComplaintSettings
    STATE_VERSION: ClassVar[int] = 2

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
        if state.packed is not None:
            self.materialise(state)
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
            if m.parent_id is None or not (et is _CREATED or et is _EDITED):
                return out
            self._on_reply(state, obs, now, brand.name, out)
        elif et is _CREATED:
            if not (obs.owned and (obs.negative or (self.settings.questions and looks_like_question(m.text)))):
                return out  # most events: nothing of ours changed, so nothing new can be due
            self._on_complaint(state, obs, now)
        elif et is _DELETED or et is _HIDDEN:
            if not state.channels:
                return out
            self._on_removed(state, obs, now, brand.name, out)
        elif et is _RESTORED and state.removed:
            self._on_restored(state, obs, now)
        # a late complaint may already be past its deadline (and a resolution's forget timer is due at
        # once without a cooldown): it fires now, not at the next event
        heap = state.heap  # the event may have compacted the heap into a new list
        if heap and heap[0][0] <= now:
            self._tick(state, now, brand.name, out)
        return out

    def advance(self, state: UnansweredComplaintState, now: datetime, brand: BrandView) -> list[Alert]:
        if state.packed is not None:
            self.materialise(state)
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
        ck = m.platform + _SEP + m.channel  # Platform is a StrEnum: concatenated, it is its value
        ch = state.channels.get(ck)
        mid = m.mention_id
        if ch is not None and mid in ch.pending:
            return  # redelivered
        k = (ck, mid)
        if k in state.closed or k in state.removed:
            return  # redelivered after it was answered or removed
        at = now if m.occurred_at is obs.watermark else m.occurred_at.timestamp()
        if at <= now - self._ttl:
            return  # so late that it would be given up on at once
        if now >= state.expire_at:
            self._expire_memories(state, now)
        reply = state.replied.get(k)
        if reply is None and m.parent_id is not None:
            in_thread = state.replied.get((ck, m.parent_id))
            if in_thread is not None and in_thread >= at:
                reply = in_thread
        if reply is not None:  # its answer came first (out of order)
            self._measure(state, reply - at)
            self._remember(state, state.closed, k, int(now))
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
        ck = m.platform + _SEP + m.channel  # Platform is a StrEnum: concatenated, it is its value
        parent = m.parent_id
        # in order, the event is the watermark: no second clock conversion
        t = now if m.occurred_at is obs.watermark else m.occurred_at.timestamp()
        if now >= state.expire_at:
            self._expire_memories(state, now)
        rk = (ck, parent)
        prev = self._forget(state, state.replied, rk)
        self._remember(state, state.replied, rk, t if prev is None or t > prev else prev)
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
        ck = m.platform + _SEP + m.channel  # Platform is a StrEnum: concatenated, it is its value
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
        self._remember(state, state.removed, (ck, p.mention_id), (int(now), p), _removed_stamp)
        self._settle(state, ck, ch, now, brand, out)

    def _on_restored(self, state: UnansweredComplaintState, obs: Observation, now: float) -> None:
        m = obs.event.mention
        ck = m.platform + _SEP + m.channel  # Platform is a StrEnum: concatenated, it is its value
        got = self._forget(state, state.removed, (ck, m.mention_id))
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
        self._remember(state, state.closed, (ck, p.mention_id), int(now))

    def _measure(self, state: UnansweredComplaintState, seconds: float) -> None:
        if len(state.measurements) < _MEASURE_CAP:
            state.measurements.append(seconds if seconds > 0 else 0.0)

    def _remember(
        self, state: UnansweredComplaintState, memory: OrderedDict[Any, Any], k: Any, v: Any, stamp=_float_stamp
    ) -> None:
        front = next(iter(memory), None)
        memory[k] = v
        memory.move_to_end(k)
        if len(memory) > self.settings.max_memory:
            memory.popitem(last=False)
        new = next(iter(memory))
        if new != front or new == k:
            # a new front (first entry, moved, or popped by the cap): the next pass is due no later
            # than when it can turn stale
            due = stamp(memory[new]) + self._memory
            if due < state.expire_at:
                state.expire_at = due

    @staticmethod
    def _forget(state: UnansweredComplaintState, memory: OrderedDict[Any, Any], k: Any) -> Any:
        if memory and next(iter(memory)) == k:
            state.expire_at = float("-inf")
        return memory.pop(k, None)

    def _expire_memories(self, state: UnansweredComplaintState, now: float) -> None:
        # nothing can be stale before the oldest front stamp is memory_hours old; a front that
        # changes (an insertion into an empty memory, a move, a pop) resets this to "look now"
        if now < state.expire_at:
            return
        cut = now - self._memory
        cap = self.settings.max_memory
        _expire_front(state.replied, cut, cap, _float_stamp)
        _expire_front(state.closed, cut, cap, _float_stamp)
        _expire_front(state.removed, cut, cap, _removed_stamp)
        nxt = math.inf
        for memory, stamp in ((state.replied, _float_stamp), (state.closed, _float_stamp),
                              (state.removed, _removed_stamp)):  # fmt: skip
            if memory:
                nxt = min(nxt, stamp(memory[next(iter(memory))]))
        state.expire_at = nxt + self._memory

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
            self._remember(state, state.closed, (ck, p.mention_id), int(now))
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
            now=utc(first),
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
            status = resolve_now(ep, now=utc(now))
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
                occurred_at=utc(p.at),
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
            window_start = utc(overdue[0].at)
        return to_alert(ep, status, window_start=window_start, window_end=utc(now), evidence=evidence, message=message)

    # --- state --------------------------------------------------------------------------------------------------

    def dump_state(self, state: UnansweredComplaintState) -> dict[str, Any]:
        channels = list(state.channels.items())
        memory = state.packed  # restored and untouched since: dumped as it came
        if memory is None and (channels or state.replied or state.closed or state.removed):
            memory = pack(self._memory_doc(state))
        return {
            "version": self.STATE_VERSION,
            "clock": state.clock if state.clock != float("-inf") else None,
            "channels": [
                [
                    ck,
                    ch.platform,
                    ch.channel,
                    ch.episode.to_json() if ch.episode is not None else None,
                    ch.answered_late,
                    ch.removed,
                    ch.expired,
                    ch.dropped,
                ]  # fmt: skip
                for ck, ch in channels
            ],
            "memory": memory,
            "untracked": state.untracked,
        }

    @staticmethod
    def _memory_doc(state: UnansweredComplaintState) -> dict[str, Any]:
        keys: dict[str, int] = {}

        def ki(ck: str) -> int:
            i = keys.get(ck)
            if i is None:
                i = keys[ck] = len(keys)
            return i

        def columns(ps: list[_Pending]) -> list[list[Any]]:
            return [
                [p.mention_id for p in ps], [p.parent_id for p in ps], [p.author_id for p in ps], [p.url for p in ps],
                [p.text for p in ps], [p.negative for p in ps], enc_times([p.at for p in ps]),
                enc_times([p.due for p in ps]), [p.stage for p in ps],
            ]  # fmt: skip

        chans = state.channels.values()
        removed = list(state.removed.items())
        return {
            "pending": [columns(list(ch.pending.values())) for ch in chans],
            "overdue": [list(ch.overdue) for ch in chans],
            "settled": [[[how for how, _ in ch.settled], columns([p for _, p in ch.settled])] for ch in chans],
            "replied": [
                [ki(ck) for ck, _ in state.replied],
                [mid for _, mid in state.replied],
                enc_times(list(state.replied.values())),
            ],  # fmt: skip
            "closed": [
                [ki(ck) for ck, _ in state.closed],
                [mid for _, mid in state.closed],
                deltas(list(state.closed.values())),
            ],  # fmt: skip
            "removed": [
                [ki(ck) for (ck, _), _ in removed],
                [mid for (_, mid), _ in removed],
                deltas([at for _, (at, _) in removed]),
                columns([p for _, (_, p) in removed]),
            ],  # fmt: skip
            "keys": list(keys),
        }

    def load_state(self, data: dict[str, Any]) -> UnansweredComplaintState:
        if not isinstance(data, dict) or data.get("version") != self.STATE_VERSION:
            got = data.get("version") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"unanswered_complaint state version {got!r}; this build reads {self.STATE_VERSION}")
        try:
            state = UnansweredComplaintState()
            clock = data["clock"]
            state.clock = float(clock) if clock is not None else float("-inf")
            rows = data["channels"]
            if data["memory"] is not None and not isinstance(data["memory"], str):
                raise ValueError("memory is not a packed string")
            if rows and data["memory"] is None:
                raise ValueError("channels without their memory")
            for ck, platform, channel, episode, answered_late, removed, expired, dropped in rows:
                ch = _Channel(str(platform), str(channel))
                ch.episode = Episode.from_json(episode) if episode is not None else None
                ch.answered_late, ch.removed = int(answered_late), int(removed)
                ch.expired, ch.dropped = int(expired), int(dropped)
                state.channels[str(ck)] = ch
            state.untracked = int(data["untracked"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"unanswered_complaint state is malformed: {exc!r}") from None
        state.packed = data["memory"]
        return state

    def materialise(self, state: UnansweredComplaintState) -> UnansweredComplaintState:
        """Decode a restored state's waiting complaints and memories now (otherwise the first event
        or tick does).

        Restoring only parses the snapshot (channels and their incidents, enough for the active
        gauge); the bulky part is decoded when the brand is next touched, so restoring many brands
        is quick and a brand that stays quiet never pays for it. Raises ValueError if it does not
        decode (not possible for a snapshot this build wrote).
        """
        packed = state.packed
        if packed is None:
            return state
        state.packed = None
        try:
            self._load_memory(state, unpack(packed))
        except (KeyError, TypeError, ValueError, IndexError, zlib.error) as exc:
            raise ValueError(f"unanswered_complaint state is malformed: {exc!r}") from None
        # the heap is derived: live entries only (stale ones would be skipped anyway)
        state.heap = self._live_heap(state)
        return state

    def _load_memory(self, state: UnansweredComplaintState, mem: dict[str, Any]) -> None:
        if len(mem["pending"]) != len(state.channels):
            raise ValueError("waiting complaints do not match the channels")
        for i, ch in enumerate(state.channels.values()):
            for p in self._pendings(mem["pending"][i]):
                ch.pending[p.mention_id] = p
                if p.parent_id is not None:
                    ch.threads.setdefault(p.parent_id, {})[p.mention_id] = p
            for mid in mem["overdue"][i]:
                p = ch.pending[mid]
                ch.overdue[mid] = p
                if p.stage >= _EXPIRE:
                    ch.failed += 1
            hows, settled = mem["settled"][i]
            ch.settled = list(zip(map(str, hows), self._pendings(settled), strict=True))
        keys = [str(k) for k in mem["keys"]]
        kis, mids, times = mem["replied"]
        state.replied = OrderedDict(
            ((keys[k], str(mid)), t) for k, mid, t in zip(kis, mids, dec_times(times), strict=True)
        )
        kis, mids, stamps = mem["closed"]
        state.closed = OrderedDict(
            ((keys[k], str(mid)), t) for k, mid, t in zip(kis, mids, undeltas(stamps), strict=True)
        )
        kis, mids, stamps, removed_cols = mem["removed"]
        state.removed = OrderedDict(
            ((keys[k], str(mid)), (t, p))
            for k, mid, t, p in zip(kis, mids, undeltas(stamps), self._pendings(removed_cols), strict=True)
        )

    @staticmethod
    def _pendings(cols: list[list[Any]]) -> list[_Pending]:
        mids, parents, authors, urls, texts, negs, ats, dues, stages = cols
        return [
            _Pending(str(mid), parent, str(author), url, str(text), neg, at, due, int(stage))
            for mid, parent, author, url, text, neg, at, due, stage in zip(
                mids,
                parents,
                authors,
                urls,
                texts,
                negs,
                dec_times(ats),
                dec_times(dues),
                stages,
                strict=True,
            )
        ]
