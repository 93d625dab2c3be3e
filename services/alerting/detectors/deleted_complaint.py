"""``deleted_complaint``: the brand removed a complaint.

A complaint is a negative created/edited mention (``obs.negative``) by someone other
than the brand, on an owned channel (``obs.owned``) or addressed to the brand (a reply
to one of the brand's own posts or replies). The detector remembers recent complaints
with what scoring and evidence need (P(negative), the author's followers, engagement,
when it appeared, whether the brand replied to it, link and a text snippet), because
the ``deleted``/``hidden`` event that matters later usually carries none of that.

When a remembered complaint is deleted or hidden:

* by the brand (``actor`` brand), or by someone unknown (``actor`` null) on an owned
  channel, where the brand's moderators are by far the likeliest remover: an incident
  fires at once, in the same ``observe`` call. Severity comes from a risk score in
  [0, 1] (see :func:`risk_score`): warning, critical from ``critical_score``.
* by its author: at most info (``own_deletion``, default ``info``: the team should
  know the complaint is gone, often because it was settled, sometimes because the
  author was pressed to remove it). An author deleting a post that was not a complaint
  raises nothing: such posts are not remembered as complaints at all.
* by the platform's automatic moderation: info (``platform_removal``), because the
  author will usually blame the brand.
* by someone unknown on a channel the brand does not own: nothing (nobody can say the
  brand did it).

A removal whose source named the remover but not whether that is the author (``actor`` null,
``removed_by`` set: VK's deletion events) is judged against the complaint's remembered author
(:func:`~services.alerting.types.removal_actor`): the author is ``author``, anyone else ``brand``.
A waiting removal (below) keeps ``removed_by`` and is judged when its complaint arrives.

A removal by the brand (``actor`` brand) of a mention never seen, so with no known
sentiment, is one info incident per channel ("unknown content", ``unknown_content``),
updated as the count doubles: without content nothing says it was a complaint, but a
team wants to know its moderators remove things RepWatch cannot see (typically posts
from before monitoring started). Removals of mentions seen as non-complaints are left
to ``deletion_bias``; their ids are remembered (bounded) to tell them from unseen ones.
An unknown-actor removal of an unseen mention raises nothing: no content, no remover,
nothing to act on.

One incident per removed complaint: ``alert_id`` is derived from the channel, the
removal's event time and the mention id, so two complaints removed in the same poll (the
same ``occurred_at``) are two incidents, and a redelivered deletion (or ``hidden`` then
``deleted``) is recognised from the complaint's own removed flag and raises nothing. A
``restored`` event resolves the incident; otherwise it resolves ``resolve_after_hours``
after the removal (also from ``advance``), so none stays open forever. Removed again
within ``reopen_minutes`` of a restore, the same incident reopens.

Out of order: a deletion can arrive before the ``created`` it removes (two pollers, a
replayed export). Such removals wait ``pending_hours`` for their mention; when it shows
up and is a complaint, the incident fires then, dated at the removal.

State per brand is bounded: complaints, other ids and brand posts by ``memory_hours``
and a cap each (oldest first), pending removals by ``pending_hours`` and a cap,
incidents by ``max_incidents`` (resolved ones leave after ``reopen_minutes``).

Expiry reads when an entry was remembered only to the housekeeping pass: every entry carries
the (whole-second) time of the last pass, at most ``_SWEEP_S`` behind the brand's clock, so
remembering something costs no clock conversion, and a TTL ends within a pass of its nominal
length, as it did when entries carried exact times (expiry only ever ran at a pass).

Snapshot: incidents (a few, each with its removed complaint) as readable positional lists; the
bulky memories (complaints, other ids, brand posts, waiting removals) as columns (channels as an
index into a table, remembered-at times as deltas in seconds, event times as exact microseconds
relative to them, the text cut to a 300-character snippet) in one zlib-compressed UTF-8 JSON
document in base64. A busy brand's complaints cost ~60 bytes each that way instead of ~700.
``load_state`` keeps that document as it came and decodes it when the brand is next touched
(:meth:`DeletedComplaintDetector.materialise`): restoring a partition's brands only parses their
snapshots, and a restored brand that stays quiet is dumped again without ever being decoded.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Literal

from pydantic import Field

from services.alerting.incidents import Episode, EpisodePolicy, forgettable, resolve_now, to_alert, trigger
from services.alerting.packing import dec_time, deltas, enc_time, pack, undeltas, unpack, utc
from services.alerting.types import BrandView, DetectorSettings, Observation, removal_actor
from shared.schemas import (
    Actor,
    Alert,
    AlertEvidence,
    AlertKind,
    AlertStatus,
    EventType,
    EvidenceMention,
    Platform,
    Severity,
    alert_id,
)

_UTC = timezone.utc
_KIND = AlertKind.DELETED_COMPLAINT
_CREATED = EventType.CREATED
_EDITED = EventType.EDITED
_DELETED = EventType.DELETED
_HIDDEN = EventType.HIDDEN
_RESTORED = EventType.RESTORED

#: text kept per complaint: enough for a notification snippet, not the whole essay (300 is what
#: alerts have always quoted; a shorter cut would change the evidence of existing incidents)
_TEXT_KEEP = 300
#: removed ids listed in an "unknown content" incident (the count keeps going)
_UNKNOWN_KEEP = 20
#: event-time seconds between housekeeping passes (expiry, resolution timers); a timer
#: therefore fires at most this late, and the per-event cost stays O(1) amortised
_SWEEP_S = 60.0
_SWEEP = timedelta(seconds=_SWEEP_S)
#: before any event: the first one runs a housekeeping pass
_NEVER = datetime.min.replace(tzinfo=_UTC)

# Risk score weights (they sum to 1). Negativity carries most: it is what was removed.
# Reach and engagement say how many people saw it or will hear about it. A brand reply
# before the removal looks like a cover-up: the reply stays, points at nothing, and the
# author was notified of it. Time visible: the longer it stood, the more people saw it,
# screenshotted it and will notice it is gone.
_W_NEG = 0.30
_W_REACH = 0.25
_W_ENGAGE = 0.15
_W_VISIBLE = 0.15
_W_REPLIED = 0.15
#: followers at which reach counts in full (log scale): a 100k account is a small medium
_REACH_FULL = math.log10(1 + 100_000)
#: weighted engagement (likes + 2 replies + 3 shares) counted in full: a visible thread
_ENGAGE_FULL = math.log10(1 + 1_000)
#: minutes visible counted in full: a day (log scale: the first hour matters most)
_VISIBLE_FULL = math.log10(1 + 24 * 60)


class DeletedComplaintSettings(DetectorSettings):
    #: hours a complaint (and the id of a non-complaint on an owned channel) is remembered
    #: after it appeared: removals come within days; 14 days covers a slow moderator
    memory_hours: float = Field(default=14 * 24.0, gt=0)
    #: complaints remembered per brand (oldest go first); far above what an owned channel
    #: receives in 14 days for all but the largest brands (the busiest simulated brand fills
    #: it in ~6 hours), ~60 bytes each in a snapshot (compressed; ~180 for real, less repetitive text)
    max_complaints: int = Field(default=2_000, ge=1)
    #: ids of non-complaints remembered per brand, only to tell "seen, not a complaint"
    #: from "never seen" when the brand removes one; ~5 bytes each in a snapshot (compressed)
    max_others: int = Field(default=5_000, ge=0)
    #: the brand's own post/reply ids remembered, to recognise replies addressed to it
    max_brand_posts: int = Field(default=1_000, ge=0)
    #: risk score from which a brand-side removal is critical rather than a warning:
    #: a strong complaint by a 10k+ account, or one the brand answered and then removed
    critical_score: float = Field(default=0.55, ge=0.0, le=1.0)
    #: hours after the removal that an unrestored incident resolves: after a day the team has
    #: acted or decided not to, and a page that never closes is noise
    resolve_after_hours: float = Field(default=24.0, gt=0)
    #: minutes after a restore (or resolution) within which a new removal of the same mention
    #: reopens the same incident instead of paging again under a new id
    reopen_minutes: float = Field(default=360.0, ge=0)
    #: an author deleting their own complaint: "info" (the team learns it is gone) or "ignore"
    own_deletion: Literal["info", "ignore"] = "info"
    #: the platform's automatic moderation removing a complaint: "info" or "ignore"
    platform_removal: Literal["info", "ignore"] = "info"
    #: the brand removing mentions RepWatch never saw: "info" (one incident per channel) or "ignore"
    unknown_content: Literal["info", "ignore"] = "info"
    #: hours a removal of a not-yet-seen mention waits for its late ``created`` event
    pending_hours: float = Field(default=24.0, gt=0)
    #: removals waiting for their mention, per brand
    max_pending: int = Field(default=1_000, ge=1)
    #: incidents (open or recently resolved) per brand; beyond it the oldest is closed with a
    #: note (a brand removing hundreds of complaints at once is deletion_bias's pattern)
    max_incidents: int = Field(default=200, ge=1)


@dataclass(slots=True)
class _Complaint:
    mention_id: str
    platform: str
    channel: str
    author_id: str
    url: str | None
    text: str
    negative: float
    followers: int | None
    likes: int
    replies: int
    shares: int
    #: event time it appeared (became a complaint), epoch seconds
    appeared: float
    #: the housekeeping pass it was remembered after (whole seconds): monotone, so the dict is in expiry order
    kept: int
    #: event time of the brand's first reply to it
    replied: float | None = None
    #: event time it was removed (None while visible)
    removed: float | None = None

    def to_json(self) -> list[Any]:
        """Positional, for an incident's copy (the memory dumps complaints as columns)."""
        return [self.mention_id, self.platform, self.channel, self.author_id, self.url, self.text, self.negative,
                self.followers, self.likes, self.replies, self.shares, self.appeared, self.kept, self.replied,
                self.removed]  # fmt: skip

    @classmethod
    def from_json(cls, row: list[Any]) -> _Complaint:
        if not isinstance(row, list) or len(row) != 15:
            raise ValueError(f"bad complaint record {row!r}")
        return cls(*row)


@dataclass(slots=True)
class _Removal:
    """A removal of a mention not seen yet, waiting for its late ``created``."""

    at: float
    event_type: str
    actor: str | None
    owned: bool
    #: the housekeeping pass it was remembered after (whole seconds)
    kept: int
    #: who the source says removed it (``MentionEvent.removed_by``), judged when the mention arrives
    removed_by: str | None = None


@dataclass(slots=True)
class _Incident:
    episode: Episode
    #: "m:<mention_id>" for a removed complaint, "u:<platform>:<channel>" for unknown content
    key: str
    #: what the alert says happened: "brand", "unknown", "author", "platform", "unseen"
    cause: str
    event_type: str
    removed_at: float
    #: open incidents resolve at this event time
    deadline: float
    score: float = 0.0
    #: the complaint as it was when removed (an own copy: the remembered record may change or expire)
    complaint: _Complaint | None = None
    #: unknown content: removed mentions [mention_id, url, at] (first few) and their count
    removed: list[list[Any]] = field(default_factory=list)
    count: int = 0

    def to_json(self) -> list[Any]:
        complaint = self.complaint.to_json() if self.complaint else None
        return [self.key, self.cause, self.event_type, self.removed_at, self.deadline, self.score, complaint,
                self.removed, self.count, self.episode.to_json()]  # fmt: skip

    @classmethod
    def from_json(cls, row: list[Any]) -> _Incident:
        key, cause, event_type, removed_at, deadline, score, complaint, removed, count, episode = row
        return cls(
            episode=Episode.from_json(episode),
            key=str(key),
            cause=str(cause),
            event_type=str(event_type),
            removed_at=float(removed_at),
            deadline=float(deadline),
            score=float(score),
            complaint=_Complaint.from_json(complaint) if complaint is not None else None,
            removed=[list(r) for r in removed],
            count=int(count),
        )


@dataclass(slots=True)
class DeletedComplaintState:
    #: mention_id -> complaint, oldest first (bounded by memory_hours and max_complaints)
    complaints: OrderedDict[str, _Complaint] = field(default_factory=OrderedDict)
    #: ids of non-complaints seen on owned channels -> pass remembered after (memory_hours, max_others)
    others: OrderedDict[str, int] = field(default_factory=OrderedDict)
    #: the brand's own posts and replies -> pass remembered after (memory_hours, max_brand_posts)
    brand_posts: OrderedDict[str, int] = field(default_factory=OrderedDict)
    #: removals of unseen mentions -> the removal (pending_hours, max_pending)
    pending: OrderedDict[str, _Removal] = field(default_factory=OrderedDict)
    #: incident key -> incident, oldest first (max_incidents; resolved ones leave after reopen_minutes)
    incidents: OrderedDict[str, _Incident] = field(default_factory=OrderedDict)
    #: brand watermark of the next housekeeping pass (a datetime: the hot path compares, never converts)
    next_sweep: datetime = _NEVER
    #: time of the last housekeeping pass, whole epoch seconds: what new entries are remembered at
    tick: int = 0
    #: the memories as restored, not decoded yet (see :meth:`DeletedComplaintDetector.materialise`)
    packed: str | None = None


def risk_score(
    negative: float,
    followers: int | None,
    engagement: int,
    visible_minutes: float,
    brand_replied: bool,
) -> float:
    """How much a removed complaint can hurt, in [0, 1] (weights: see the module constants).

    ``engagement`` is likes + 2 x replies + 3 x shares. Unknown followers count as none:
    the score should not rise on what nobody knows.
    """
    reach = min(1.0, math.log10(1 + max(0, followers or 0)) / _REACH_FULL)
    engage = min(1.0, math.log10(1 + max(0, engagement)) / _ENGAGE_FULL)
    visible = min(1.0, math.log10(1 + max(0.0, visible_minutes)) / _VISIBLE_FULL)
    score = (
        _W_NEG * min(1.0, max(0.0, negative))
        + _W_REACH * reach
        + _W_ENGAGE * engage
        + _W_VISIBLE * visible
        + _W_REPLIED * (1.0 if brand_replied else 0.0)
    )
    return round(min(1.0, score), 4)


def _duration(seconds: float) -> str:
    minutes = max(0.0, seconds) / 60
    if minutes < 1:
        return "less than a minute"
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    if hours < 36:
        return f"{hours:.0f} h"
    return f"{hours / 24:.0f} days"


def _followers(n: int | None) -> str:
    if n is None:
        return ""
    if n >= 1_000_000:
        return f" ({n / 1_000_000:.1f}M followers)".replace(".0M", "M")
    if n >= 10_000:
        return f" ({n / 1000:.0f}k followers)"
    if n >= 1_000:
        return f" ({n / 1000:.1f}k followers)".replace(".0k", "k")
    return f" ({n} follower{'' if n == 1 else 's'})"


class DeletedComplaintDetector:
    name: ClassVar[str] = "deleted_complaint"
    kinds: ClassVar[tuple[AlertKind, ...]] = (_KIND,)
    Settings: ClassVar[type[DetectorSettings]] = DeletedComplaintSettings
    #: 3: waiting removals keep ``removed_by`` (a seventh pending column); 2 still loads (six columns)
    STATE_VERSION: ClassVar[int] = 3
    _READS: ClassVar[frozenset[int]] = frozenset({2, 3})

    def __init__(self, settings: DeletedComplaintSettings | None = None) -> None:
        s = settings if settings is not None else DeletedComplaintSettings()
        self.settings = s
        # derived once: the hot path reads plain floats
        self._memory = s.memory_hours * 3600.0
        self._pending_s = s.pending_hours * 3600.0
        self._resolve_s = s.resolve_after_hours * 3600.0
        # quiet is unused here (an incident resolves on restore or on its deadline)
        self._policy = EpisodePolicy(quiet=timedelta(0), cooldown=timedelta(minutes=s.reopen_minutes))

    # --- state ---------------------------------------------------------------------------------------------

    def new_state(self) -> DeletedComplaintState:
        return DeletedComplaintState()

    def dump_state(self, state: DeletedComplaintState) -> dict[str, Any]:
        memory = state.packed  # restored and untouched since: dumped as it came
        if memory is None and (state.complaints or state.others or state.brand_posts or state.pending):
            memory = pack(self._memory_columns(state))
        return {
            "v": self.STATE_VERSION,
            "memory": memory,
            "incidents": [i.to_json() for i in state.incidents.values()],
            "next_sweep": state.next_sweep.timestamp() if state.next_sweep is not _NEVER else None,
            "tick": state.tick,
        }

    @staticmethod
    def _memory_columns(state: DeletedComplaintState) -> dict[str, Any]:
        chans: dict[tuple[str, str], int] = {}
        rows = []
        for c in state.complaints.values():
            key = (c.platform, c.channel)
            ci = chans.get(key)
            if ci is None:
                ci = chans[key] = len(chans)
            base = 1_000_000 * c.kept
            rows.append([
                c.mention_id, ci, c.author_id, c.url, c.text, c.negative, c.followers, c.likes, c.replies, c.shares,
                enc_time(c.appeared, base), c.kept,
                None if c.replied is None else enc_time(c.replied, base),
                None if c.removed is None else enc_time(c.removed, base),
            ])  # fmt: skip
        cols = [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(14)]
        cols[11] = deltas(cols[11])
        pending = [
            [k, r.at, r.event_type, r.actor, int(r.owned), r.kept, r.removed_by] for k, r in state.pending.items()
        ]
        pcols = [list(col) for col in zip(*pending, strict=True)] if pending else [[] for _ in range(7)]
        pcols[5] = deltas(pcols[5])
        return {
            "channels": [list(k) for k in chans],
            "complaints": cols,
            "others": [list(state.others), deltas(list(state.others.values()))],
            "brand_posts": [list(state.brand_posts), deltas(list(state.brand_posts.values()))],
            "pending": pcols,
        }

    def load_state(self, data: dict[str, Any]) -> DeletedComplaintState:
        if not isinstance(data, dict) or data.get("v") not in self._READS:
            got = data.get("v") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"deleted_complaint state version {got!r}; this build reads {sorted(self._READS)}")
        try:
            st = DeletedComplaintState(tick=int(data["tick"]))
            if data["next_sweep"] is not None:
                st.next_sweep = utc(float(data["next_sweep"]))
            if data["memory"] is not None:
                if not isinstance(data["memory"], str):
                    raise ValueError("memory is not a packed string")
                st.packed = data["memory"]
            for row in data["incidents"]:
                inc = _Incident.from_json(row)
                st.incidents[inc.key] = inc
        except (KeyError, TypeError, ValueError, IndexError, zlib.error) as exc:
            raise ValueError(f"deleted_complaint state does not load: {exc}") from None
        return st

    def materialise(self, state: DeletedComplaintState) -> DeletedComplaintState:
        """Decode a restored state's memories now (otherwise the first event or tick does).

        Restoring a partition's brands only parses their snapshots; the bulky part of each is
        decoded when the brand is next touched, so a worker assigned 10,000 brands starts at once
        and pays for a brand's memories only if it hears from that brand. Raises ValueError if
        the packed memories do not decode (not possible for a snapshot this build wrote).
        """
        packed = state.packed
        if packed is not None:
            state.packed = None
            try:
                self._load_memory(state, unpack(packed))
            except (KeyError, TypeError, ValueError, IndexError, zlib.error) as exc:
                raise ValueError(f"deleted_complaint memory does not load: {exc}") from None
        return state

    @staticmethod
    def _load_memory(st: DeletedComplaintState, mem: dict[str, Any]) -> None:
        chans = [(str(p), str(c)) for p, c in mem["channels"]]
        cols = mem["complaints"]
        if len(cols) != 14:
            raise ValueError("bad complaint columns")
        cols[11] = undeltas(cols[11])
        for mid, ci, author, url, text, neg, fol, likes, replies, shares, at, kept, replied, removed in zip(
            *cols, strict=True
        ):
            base = 1_000_000 * kept
            platform, channel = chans[ci]
            st.complaints[str(mid)] = _Complaint(
                str(mid), platform, channel, str(author), url, str(text), float(neg), fol, int(likes), int(replies),
                int(shares), dec_time(at, base), kept,
                None if replied is None else dec_time(replied, base),
                None if removed is None else dec_time(removed, base),
            )  # fmt: skip
        for name in ("others", "brand_posts"):
            ids, kept = mem[name]
            setattr(st, name, OrderedDict(zip(map(str, ids), undeltas(kept), strict=True)))
        pcols = mem["pending"]
        # six columns: written by version 2 (or a version 2 snapshot dumped again untouched), no removed_by
        if len(pcols) == 6:
            pcols.append([None] * len(pcols[0]))
        if len(pcols) != 7:
            raise ValueError("bad pending columns")
        pcols[5] = undeltas(pcols[5])
        for mid, at, et, actor, owned, kept, by in zip(*pcols, strict=True):
            st.pending[str(mid)] = _Removal(float(at), str(et), actor, bool(owned), kept, by)

    def active(self, state: DeletedComplaintState) -> int:
        return sum(1 for i in state.incidents.values() if i.episode.is_open)

    # --- events --------------------------------------------------------------------------------------------

    def observe(self, state: DeletedComplaintState, obs: Observation, brand: BrandView) -> list[Alert]:
        if state.packed is not None:
            self.materialise(state)
        alerts: list[Alert] = []
        # a datetime comparison, not a clock conversion per event: the watermark is only turned into
        # a number when a pass runs, and new entries are stamped with that pass's time
        if obs.watermark >= state.next_sweep:
            self._sweep(state, obs.watermark, brand, alerts)
        m = obs.event.mention
        et = m.event_type
        if m.author_is_brand:
            if et is _CREATED or et is _EDITED:
                self._brand_post(state, m)
            return alerts
        if et is _CREATED or et is _EDITED:
            self._mention(state, obs, brand, alerts)
        elif et is _DELETED or et is _HIDDEN:
            self._removal(state, obs, brand, alerts)
        elif et is _RESTORED:
            self._restore(state, obs, brand, alerts)
        return alerts

    def advance(self, state: DeletedComplaintState, now: datetime, brand: BrandView) -> list[Alert]:
        if state.packed is not None:
            self.materialise(state)
        alerts: list[Alert] = []
        self._sweep(state, now, brand, alerts)
        return alerts

    def _brand_post(self, state: DeletedComplaintState, m: Any) -> None:
        mid = m.mention_id
        cap = self.settings.max_brand_posts
        if cap:
            posts = state.brand_posts
            if mid not in posts:
                posts[mid] = state.tick
                while len(posts) > cap:
                    posts.popitem(last=False)
        parent = m.parent_id
        if parent is not None:
            c = state.complaints.get(parent)
            if c is not None:
                at = m.occurred_at.timestamp()
                if c.replied is None or at < c.replied:
                    c.replied = at

    def _mention(self, state: DeletedComplaintState, obs: Observation, brand: BrandView, alerts: list[Alert]) -> None:
        m = obs.event.mention
        mid = m.mention_id
        complaints = state.complaints
        c = complaints.get(mid)
        if obs.negative:
            # once remembered, a complaint stays addressed to the brand even if a later event's
            # channel judgement differs (learned channels can be evicted)
            if c is None and not obs.owned and (m.parent_id is None or m.parent_id not in state.brand_posts):
                return  # a complaint elsewhere, not addressed to the brand
            s = obs.event.sentiment
            p_neg = s.negative if s is not None else 1.0
            e = m.engagement
            if c is None:
                c = _Complaint(
                    mid,
                    m.platform.value,
                    m.channel,
                    m.author_id,
                    m.url,
                    m.text[:_TEXT_KEEP],
                    p_neg,
                    m.author_followers,
                    e.likes,
                    e.replies,
                    e.shares,
                    appeared=m.occurred_at.timestamp(),
                    kept=state.tick,
                )
                complaints[mid] = c
                if state.others:
                    state.others.pop(mid, None)
                while len(complaints) > self.settings.max_complaints:
                    complaints.popitem(last=False)
            else:
                # an edit (or a redelivery): the latest text and counts are what people see
                c.text = m.text[:_TEXT_KEEP]
                c.negative = p_neg
                c.url = m.url or c.url
                c.followers = m.author_followers if m.author_followers is not None else c.followers
                c.likes, c.replies, c.shares = e.likes, e.replies, e.shares
            if state.pending:
                waiting = state.pending.pop(mid, None)
                if waiting is not None and c.removed is None:
                    actor = waiting.actor
                    if actor is None and waiting.removed_by is not None:
                        resolved = removal_actor(None, waiting.removed_by, c.author_id)
                        actor = resolved.value if resolved is not None else None
                    self._removed(state, c, waiting.at, waiting.event_type, actor, waiting.owned, brand, alerts)
            return
        if c is not None:
            if m.event_type is _EDITED and c.removed is None and obs.event.sentiment is not None:
                # edited into something that is no longer a complaint: removing it now is not censorship
                del complaints[mid]
                self._other(state, mid)
            return
        if obs.owned:
            if state.pending:
                state.pending.pop(mid, None)  # a late non-complaint: its removal is deletion_bias's business
            self._other(state, mid)

    def _other(self, state: DeletedComplaintState, mid: str) -> None:
        cap = self.settings.max_others
        if not cap:
            return
        others = state.others
        if mid not in others:
            others[mid] = state.tick
            while len(others) > cap:
                others.popitem(last=False)

    def _removal(self, state: DeletedComplaintState, obs: Observation, brand: BrandView, alerts: list[Alert]) -> None:
        m = obs.event.mention
        mid = m.mention_id
        c = state.complaints.get(mid)
        if c is not None:
            if c.removed is None:  # else: redelivered, or hidden and then deleted: one removal
                resolved = removal_actor(m.actor, m.removed_by, c.author_id)
                actor = resolved.value if resolved is not None else None
                at = m.occurred_at.timestamp()
                self._removed(state, c, at, m.event_type.value, actor, obs.owned, brand, alerts)
            return
        actor = m.actor.value if m.actor is not None else None
        if mid in state.others or mid in state.pending:
            return
        # remembered also when nothing fires now: its complaint may arrive late, and a redelivery is not new
        state.pending[mid] = _Removal(
            m.occurred_at.timestamp(), m.event_type.value, actor, obs.owned, state.tick, m.removed_by
        )
        while len(state.pending) > self.settings.max_pending:
            state.pending.popitem(last=False)
        if actor == Actor.BRAND.value and self.settings.unknown_content == "info":
            self._unknown(state, obs, brand, alerts)

    def _removed(
        self,
        state: DeletedComplaintState,
        c: _Complaint,
        at: float,
        event_type: str,
        actor: str | None,
        owned: bool,
        brand: BrandView,
        alerts: list[Alert],
    ) -> None:
        c.removed = at
        if actor == Actor.BRAND.value:
            cause = "brand"
        elif actor is None:
            if not owned:
                return
            cause = "unknown"
        elif actor == Actor.AUTHOR.value:
            if self.settings.own_deletion != "info":
                return
            cause = "author"
        else:
            if self.settings.platform_removal != "info":
                return
            cause = "platform"
        replied = c.replied is not None and c.replied <= at
        score = risk_score(
            c.negative, c.followers, c.likes + 2 * c.replies + 3 * c.shares, (at - c.appeared) / 60, replied
        )
        if cause in ("brand", "unknown"):
            severity = Severity.CRITICAL if score >= self.settings.critical_score else Severity.WARNING
        else:
            severity = Severity.INFO
        key = "m:" + c.mention_id
        inc = state.incidents.get(key)
        episode, status = trigger(
            inc.episode if inc is not None else None,
            now=utc(at),
            kind=_KIND,
            brand=brand.name,
            channel=c.channel,
            platform=Platform(c.platform),
            severity=severity,
            level=score,
            policy=self._policy,
        )
        if inc is None or inc.episode is not episode:
            # first removal, or the last one resolved longer than reopen_minutes ago: a new incident
            state.incidents.pop(key, None)
            inc = _Incident(episode, key, cause, event_type, at, at + self._resolve_s)
            state.incidents[key] = inc
        else:
            # reopened within reopen_minutes: same incident, this removal's facts
            episode.severity = severity
            episode.level = score
            inc.cause, inc.event_type, inc.removed_at, inc.deadline = cause, event_type, at, at + self._resolve_s
        inc.score = score
        inc.complaint = replace(c)
        if status is not None:
            alerts.append(self._alert(inc, status, brand, self._removed_message(inc, brand)))
        self._cap_incidents(state, brand, alerts)

    def _unknown(self, state: DeletedComplaintState, obs: Observation, brand: BrandView, alerts: list[Alert]) -> None:
        m = obs.event.mention
        at = m.occurred_at.timestamp()
        key = f"u:{m.platform.value}:{m.channel}"
        inc = state.incidents.get(key)
        if inc is not None and not inc.episode.is_open and forgettable(inc.episode, now=utc(at), policy=self._policy):
            del state.incidents[key]
            inc = None
        count = (inc.count if inc is not None else 0) + 1
        episode, status = trigger(
            inc.episode if inc is not None else None,
            now=utc(at),
            kind=_KIND,
            brand=brand.name,
            channel=m.channel,
            platform=m.platform,
            severity=Severity.INFO,
            level=float(count),
            policy=self._policy,
        )
        if inc is None:
            inc = _Incident(episode, key, "unseen", m.event_type.value, at, at + self._resolve_s)
            state.incidents[key] = inc
        inc.count = count
        inc.removed_at = max(inc.removed_at, at)
        inc.deadline = max(inc.deadline, at + self._resolve_s)
        if len(inc.removed) < _UNKNOWN_KEEP:
            inc.removed.append([m.mention_id, m.url, at])
        if status is not None:
            alerts.append(self._alert(inc, status, brand, self._unknown_message(inc, brand)))
        self._cap_incidents(state, brand, alerts)

    def _restore(self, state: DeletedComplaintState, obs: Observation, brand: BrandView, alerts: list[Alert]) -> None:
        mid = obs.event.mention.mention_id
        state.pending.pop(mid, None)
        c = state.complaints.get(mid)
        if c is not None:
            c.removed = None
        inc = state.incidents.get("m:" + mid)
        if inc is not None and inc.episode.is_open:
            at = max(obs.event.mention.occurred_at.timestamp(), inc.removed_at)
            status = resolve_now(inc.episode, now=utc(at))
            who = inc.complaint.author_id if inc.complaint else "?"
            where = inc.episode.channel
            msg = f"The complaint by {who} on {where} was restored. Reply to it publicly if nobody has yet."
            alerts.append(self._alert(inc, status, brand, msg))

    # --- housekeeping --------------------------------------------------------------------------------------

    def _sweep(self, state: DeletedComplaintState, now_dt: datetime, brand: BrandView, alerts: list[Alert]) -> None:
        # the next pass is dated from the brand's own watermark, so it shares its tzinfo and the
        # per-event comparison stays on datetime's fast path
        state.next_sweep = now_dt + _SWEEP
        now = now_dt.timestamp()
        state.tick = int(now)
        horizon = now - self._memory
        for store in (state.complaints, state.others, state.brand_posts):
            while store:
                k, v = next(iter(store.items()))
                if (v.kept if isinstance(v, _Complaint) else v) >= horizon:
                    break
                del store[k]
        pending_horizon = now - self._pending_s
        while state.pending:
            k, r = next(iter(state.pending.items()))
            if r.kept >= pending_horizon:
                break
            del state.pending[k]
        if not state.incidents:
            return
        gone = []
        for key, inc in state.incidents.items():
            ep = inc.episode
            if ep.is_open:
                if now >= inc.deadline:
                    status = resolve_now(ep, now=utc(inc.deadline))
                    alerts.append(self._alert(inc, status, brand, self._timeout_message(inc)))
            elif forgettable(ep, now=now_dt, policy=self._policy):
                gone.append(key)
        for key in gone:
            del state.incidents[key]

    def _cap_incidents(self, state: DeletedComplaintState, brand: BrandView, alerts: list[Alert]) -> None:
        incidents = state.incidents
        while len(incidents) > self.settings.max_incidents:
            victim = next((k for k, i in incidents.items() if not i.episode.is_open), None)
            if victim is None:
                victim = next(iter(incidents))
                inc = incidents[victim]
                status = resolve_now(inc.episode, now=utc(inc.removed_at))
                msg = (
                    f"{brand.name} has more than {self.settings.max_incidents} removals open at once; RepWatch "
                    "stopped tracking this one. A pattern like this is what deletion_bias reports."
                )
                alerts.append(self._alert(inc, status, brand, msg))
            del incidents[victim]

    # --- alerts --------------------------------------------------------------------------------------------

    def _alert(self, inc: _Incident, status: AlertStatus, brand: BrandView, message: str) -> Alert:
        ep = inc.episode
        c = inc.complaint
        if c is not None:
            visible = max(0.0, inc.removed_at - c.appeared)
            replied = c.replied is not None and c.replied <= inc.removed_at
            counts = {
                "likes": c.likes,
                "replies": c.replies,
                "shares": c.shares,
                "visible_minutes": int(visible // 60),
                "brand_replied": int(replied),
            }
            if c.followers is not None:
                counts["followers"] = c.followers
            evidence = AlertEvidence(
                mention_ids=[c.mention_id],
                counts=counts,
                mentions=[
                    EvidenceMention(
                        mention_id=c.mention_id,
                        platform=Platform(c.platform),
                        channel=c.channel,
                        url=c.url,
                        author_id=c.author_id,
                        occurred_at=utc(c.appeared),
                        text=c.text,
                        negative=min(1.0, max(0.0, c.negative)),
                        role="removed",
                    )
                ],
                score=inc.score,
                top_channels={c.channel: 1},
            )
            window_start = utc(min(c.appeared, inc.removed_at))
        else:
            ids = [r[0] for r in inc.removed]
            evidence = AlertEvidence(
                mention_ids=ids,
                counts={"removed": inc.count},
                mentions=[
                    EvidenceMention(
                        mention_id=r[0],
                        platform=ep.platform if ep.platform is not None else Platform.VK,
                        channel=ep.channel or "",
                        url=r[1],
                        occurred_at=utc(r[2]),
                        role="removed",
                    )
                    for r in inc.removed
                ],
                observed=float(inc.count),
                top_channels={ep.channel or "": inc.count},
            )
            window_start = ep.started_at
        alert = to_alert(
            ep,
            status,
            window_start=window_start,
            window_end=utc(max(inc.removed_at, window_start.timestamp())),
            evidence=evidence,
            message=message,
        )
        # Episode's own id is (kind, brand, channel, start): two complaints removed in one poll
        # share all four, so the mention (or "unknown content") joins the key.
        return alert.model_copy(
            update={"alert_id": alert_id(_KIND.value, ep.brand, f"{ep.channel}\x1f{inc.key}", ep.started_at)}
        )

    def _removed_message(self, inc: _Incident, brand: BrandView) -> str:
        c = inc.complaint
        assert c is not None
        who = f"{c.author_id}{_followers(c.followers)}"
        after = _duration(inc.removed_at - c.appeared)
        verb = "hid" if inc.event_type == _HIDDEN.value else "deleted"
        replied = c.replied is not None and c.replied <= inc.removed_at
        advice = "Restore it and reply publicly — removed criticism tends to come back louder."
        if inc.cause == "brand":
            if replied:
                return (
                    f"{brand.name} replied to a complaint by {who} on {c.channel} and then {verb} it after {after} "
                    f"(risk {inc.score:.2f} of 1). {advice}"
                )
            return (
                f"{brand.name} {verb} a complaint by {who} on {c.channel} after {after} "
                f"(risk {inc.score:.2f} of 1). {advice}"
            )
        if inc.cause == "unknown":
            return (
                f"A complaint by {who} disappeared from {brand.name}'s channel {c.channel} after {after}; the "
                "platform does not say who removed it, on an owned channel usually the brand's moderators "
                f"(risk {inc.score:.2f} of 1). If your team removed it, restore it and reply publicly — removed "
                "criticism tends to come back louder."
            )
        if inc.cause == "author":
            note = f" after {brand.name} replied" if replied else ""
            return (
                f"{c.author_id} deleted their own complaint on {c.channel}{note}, {after} after posting it. Nothing to "
                "undo; check that the problem was really solved."
            )
        return (
            f"{c.platform} moderation {verb} a complaint by {who} on {c.channel} after {after}. The author may blame "
            f"{brand.name}: reply publicly or ask the platform to review it."
        )

    def _unknown_message(self, inc: _Incident, brand: BrandView) -> str:
        n = inc.count
        what = "a comment" if n == 1 else f"{n} comments"
        return (
            f"{brand.name} removed {what} on {inc.episode.channel} that RepWatch never saw, so their content is "
            "unknown (often posts from before monitoring started). Check what was removed; if it was a complaint, "
            "restore it and reply publicly."
        )

    def _timeout_message(self, inc: _Incident) -> str:
        hours = self.settings.resolve_after_hours
        if inc.complaint is None:
            return f"No more removals of unseen content on {inc.episode.channel} for {hours:g} h; closing the incident."
        return (
            f"The complaint by {inc.complaint.author_id} on {inc.complaint.channel} was not restored within "
            f"{hours:g} h; closing the incident. Watch for it coming back from the same or another account."
        )
