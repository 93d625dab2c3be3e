"""``silent_community``: an owned channel where the brand has not posted or replied for ``silent_days``.

Channels watched: those the brands file lists for the brand (``owned_channels``) and those
where the brand was seen posting (``author_is_brand``). A listed channel the stream has never
shown starts its clock the first time this brand's state sees anything (an event or an
``advance``): RepWatch cannot know what happened before it started watching.

One incident per (brand, channel) silence episode: it fires after ``silent_days`` without a
brand post or reply, escalates once at ``critical_factor`` x ``silent_days`` (14 days by
default), and resolves at the brand's next post or reply in the channel. The severity says
whether anyone is waiting: warning when people wrote in the channel during the silence
(critical at the escalation), info when nobody did (warning at the escalation) -- a dead
channel is a housekeeping matter, a live one with no brand voice is a reputation risk.

A channel learned from the stream (not listed) that stays silent for ``forget_days`` is no
longer watched: the brand has left it, and an incident open forever helps nobody (the
resolution says so). Listed channels are watched for as long as they are listed.

Each channel has at most one timer in a small heap; a brand post only moves the channel's clock,
and a timer that comes up early is pushed back to the channel's real due time, so a brand post
costs O(1) and a timer O(log channels).
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from pydantic import Field

from services.alerting.incidents import Episode, EpisodePolicy, forgettable, resolve_now, to_alert, trigger
from services.alerting.types import BrandView, DetectorSettings, Observation
from shared.brands import BrandConfig
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
_DAY = 86400.0

#: text kept per example mention; the notification shows a snippet
_TEXT_KEEP = 200
#: event ids remembered per brand against redelivery of user mentions (counted, so must not double)
_RECENT_IDS = 2048

# what a channel's timer does when it comes up
_FIRE = "fire"
_ESCALATE = "escalate"
_FORGET = "forget"


class SilentCommunitySettings(DetectorSettings):
    #: days without a brand post or reply in an owned channel before it counts as silent
    silent_days: float = Field(default=7.0, gt=0)
    #: escalate at this multiple of silent_days (0: never escalate)
    critical_factor: float = Field(default=2.0, ge=0)
    #: days of silence after which a channel learned from the stream (not listed) stops being watched
    forget_days: float = Field(default=90.0, gt=0)
    #: channels watched per brand beyond the listed ones (learned from brand posts; new ones beyond are ignored)
    max_channels: int = Field(default=500, ge=1)
    #: distinct authors counted per silence; beyond it the message says "more than N"
    max_authors: int = Field(default=1000, ge=1)
    #: recent user mentions kept as examples in the evidence
    examples: int = Field(default=5, ge=0, le=19)


#: a mention kept for the evidence: (mention_id, author_id, url, text, P(negative), epoch seconds). A plain tuple,
#: not a class: one is made for every user mention in a watched channel, so it must cost next to nothing
_Example = tuple[str, str, str | None, str, float | None, float]


def _example_from_json(d: list[Any]) -> _Example:
    mid, author, url, text, neg, at = d
    return (str(mid), str(author), url, str(text), None if neg is None else float(neg), float(at))


@dataclass(slots=True, eq=False)
class _Channel:
    platform: str
    channel: str
    #: listed in the brands file (never forgotten, not counted against max_channels)
    listed: bool
    #: the silence clock: the brand's last post here, or when watching began (epoch seconds)
    since: float
    #: the brand's latest post or reply seen here (for the evidence), if any
    last_post: _Example | None = None
    #: user mentions and distinct authors since ``since``
    mentions: int = 0
    authors: set[str] = field(default_factory=set)
    #: the latest few user mentions since ``since`` (bounded by the examples setting)
    examples: deque[_Example] = field(default_factory=deque)
    episode: Episode | None = None
    #: the open episode has had its one escalation
    escalated: bool = False
    #: time of this channel's one heap entry (None when it has none)
    queued: float | None = None


@dataclass(slots=True, eq=False)
class SilentCommunityState:
    channels: dict[str, _Channel] = field(default_factory=dict)
    #: (due, channel key); at most one entry per channel (``_Channel.queued``)
    heap: list[tuple[float, str]] = field(default_factory=list)
    #: event ids of recent user mentions, oldest first (dedupe; between _RECENT_IDS and twice that)
    recent: dict[str, None] = field(default_factory=dict)
    #: channels not watched because max_channels was reached
    untracked: int = 0
    #: the brand config whose listed channels were last merged in; transient (an identity check per event)
    synced: BrandConfig | None = None


def _key(platform: str, channel: str) -> str:
    return f"{platform}\x1f{channel}"


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, _UTC)


def _display(platform: str, channel: str) -> str:
    return channel if channel.startswith(f"{platform}:") else f"{platform}:{channel}"


def _days(seconds: float) -> str:
    d = int(seconds // _DAY)
    return "1 day" if d == 1 else f"{d} days"


class SilentCommunityDetector:
    name: ClassVar[str] = "silent_community"
    kinds: ClassVar[tuple[AlertKind, ...]] = (AlertKind.SILENT_COMMUNITY,)
    Settings: ClassVar[type[DetectorSettings]] = SilentCommunitySettings
    STATE_VERSION: ClassVar[int] = 1

    def __init__(self, settings: SilentCommunitySettings | None = None) -> None:
        self.settings = s = settings or SilentCommunitySettings()
        self._silent = s.silent_days * _DAY
        self._critical = s.critical_factor * self._silent if s.critical_factor > 1 else None
        # forgetting comes after the last alert a silence can raise, never before it
        self._forget = max(s.forget_days * _DAY, self._critical or self._silent)
        # resolution is explicit (the brand's post); a new silence needs silent_days, far beyond any cooldown
        self._policy = EpisodePolicy(quiet=timedelta(0), cooldown=timedelta(hours=1), escalate_factor=2.0)

    # --- protocol -----------------------------------------------------------------------------------------------

    def new_state(self) -> SilentCommunityState:
        return SilentCommunityState()

    def observe(self, state: SilentCommunityState, obs: Observation, brand: BrandView) -> list[Alert]:
        now = obs.watermark.timestamp()
        if state.synced is not brand.config:
            self._sync(state, brand.config, now)
        out: list[Alert] = []
        if state.heap and state.heap[0][0] <= now:
            self._tick(state, now, brand.name, out)
        m = obs.event.mention
        # only new posts count: an edit or a deletion is not the brand speaking to the community
        if m.event_type is _CREATED:
            if m.author_is_brand:
                self._on_brand_post(state, obs, now, brand.name, out)
            elif state.channels:
                ch = state.channels.get(_key(m.platform.value, m.channel))
                if ch is not None:
                    self._on_user_mention(state, ch, obs)
        if state.heap and state.heap[0][0] <= now:  # a very late brand post can leave a channel already due
            self._tick(state, now, brand.name, out)
        return out

    def advance(self, state: SilentCommunityState, now: datetime, brand: BrandView) -> list[Alert]:
        t = now.timestamp()
        if state.synced is not brand.config:
            self._sync(state, brand.config, t)
        out: list[Alert] = []
        if state.heap and state.heap[0][0] <= t:
            self._tick(state, t, brand.name, out)
        return out

    def active(self, state: SilentCommunityState) -> int:
        return sum(1 for ch in state.channels.values() if ch.episode is not None and ch.episode.is_open)

    # --- events -------------------------------------------------------------------------------------------------

    def _channel(self, platform: str, channel: str, listed: bool, since: float) -> _Channel:
        return _Channel(platform, channel, listed, since, examples=deque(maxlen=self.settings.examples))

    def _sync(self, state: SilentCommunityState, config: BrandConfig, now: float) -> None:
        """Watch every listed channel; one never seen starts its clock now (idempotent)."""
        for platform, names in config.owned_channels.items():
            for name in names:
                ck = _key(platform.value, name)
                ch = state.channels.get(ck)
                if ch is None:
                    ch = state.channels[ck] = self._channel(platform.value, name, True, now)
                    self._queue(state, ck, ch, now + self._silent)
                else:
                    ch.listed = True
        state.synced = config

    def _on_brand_post(self, state: SilentCommunityState, obs: Observation, now: float, brand: str, out):
        m = obs.event.mention
        ck = _key(m.platform.value, m.channel)
        t = m.occurred_at.timestamp()
        ch = state.channels.get(ck)
        if ch is None:
            if sum(1 for c in state.channels.values() if not c.listed) >= self.settings.max_channels:
                state.untracked += 1
                return
            ch = state.channels[ck] = self._channel(m.platform.value, m.channel, False, t)
        post = (m.mention_id, m.author_id, m.url, m.text[:_TEXT_KEEP], None, t)
        if ch.last_post is None or t >= ch.last_post[5]:
            ch.last_post = post
        # a post older than the clock (late, or from before watching began) says nothing about the silence since
        if t > ch.since:
            ep = ch.episode
            open_ = ep is not None and ep.is_open
            # a post so late that the channel has been silent for silent_days since it does not end the incident
            if open_ and t + self._silent > now:
                out.append(self._alert(ch, resolve_now(ep, now=_dt(now)), now))
                open_ = False
            ch.since = t
            if not open_:
                ch.mentions = 0
                ch.authors = set()
                ch.examples = deque(maxlen=self.settings.examples)
        if ch.queued is None:
            self._queue(state, ck, ch, ch.since + self._silent)

    def _on_user_mention(self, state: SilentCommunityState, ch: _Channel, obs: Observation) -> None:
        m = obs.event.mention
        at = m.occurred_at.timestamp()
        if at < ch.since:
            return  # late: written before the brand's last post, not during the silence
        recent = state.recent
        if m.event_id in recent:
            return
        recent[m.event_id] = None
        if len(recent) > 2 * _RECENT_IDS:
            # evicting in bulk keeps a dict a cheap FIFO (one-by-one front deletes make next(iter()) crawl)
            state.recent = dict.fromkeys(list(recent)[-_RECENT_IDS:])
        ch.mentions += 1
        if len(ch.authors) < self.settings.max_authors:
            ch.authors.add(m.author_id)
        if self.settings.examples:
            s = obs.event.sentiment
            ch.examples.append((m.mention_id, m.author_id, m.url, m.text[:_TEXT_KEEP], s.negative if s else None, at))

    # --- time ---------------------------------------------------------------------------------------------------

    def _queue(self, state: SilentCommunityState, ck: str, ch: _Channel, due: float) -> None:
        ch.queued = due
        heapq.heappush(state.heap, (due, ck))

    def _next(self, ch: _Channel) -> tuple[float, str] | None:
        """The channel's real next timer: when and what."""
        ep = ch.episode
        if ep is None or not ep.is_open:
            return ch.since + self._silent, _FIRE
        if self._critical is not None and not ch.escalated:
            return ch.since + self._critical, _ESCALATE
        if not ch.listed:
            return ch.since + self._forget, _FORGET
        return None

    def _tick(self, state: SilentCommunityState, now: float, brand: str, out: list[Alert]) -> None:
        heap = state.heap
        while heap and heap[0][0] <= now:
            ts, ck = heapq.heappop(heap)
            ch = state.channels.get(ck)
            if ch is None or ch.queued != ts:
                continue
            ch.queued = None
            nxt = self._next(ch)
            if nxt is None:
                continue  # open and escalated on a listed channel: nothing more until the brand posts
            due, action = nxt
            if due > ts:  # the brand posted since this timer was set
                self._queue(state, ck, ch, due)
                continue
            if action == _FORGET:
                ep = ch.episode
                if ep is not None and ep.is_open:
                    status = resolve_now(ep, now=_dt(now))
                    out.append(self._alert(ch, status, now, forgotten=True))
                del state.channels[ck]
                continue
            people = bool(ch.mentions)
            if action == _FIRE:
                if ch.episode is not None and forgettable(ch.episode, now=_dt(due), policy=self._policy):
                    ch.episode = None
                # after a long jump in time the escalation may be due already: one alert at its level, not two
                if self._critical is not None and ch.since + self._critical <= now:
                    action = _ESCALATE
            if action == _FIRE:
                severity = Severity.WARNING if people else Severity.INFO
            else:
                severity = Severity.CRITICAL if people else Severity.WARNING
            old = ch.episode
            # the incident starts at the due time, whenever the clock happened to be looked at
            ep, status = trigger(
                old,
                now=_dt(due),
                kind=AlertKind.SILENT_COMMUNITY,
                brand=brand,
                channel=ch.channel,
                platform=Platform(ch.platform),
                severity=severity,
                level=(due - ch.since) / _DAY,
                policy=self._policy,
            )
            ch.episode = ep
            # one escalation per silence (a reopened incident is a new silence too)
            ch.escalated = action == _ESCALATE
            if status is not None:
                out.append(self._alert(ch, status, now))
            nxt = self._next(ch)
            if nxt is not None:
                self._queue(state, ck, ch, nxt[0])

    # --- alerts -------------------------------------------------------------------------------------------------

    def _alert(self, ch: _Channel, status: AlertStatus, now: float, *, forgotten: bool = False) -> Alert:
        ep = ch.episode
        assert ep is not None
        s = self.settings
        where = _display(ch.platform, ch.channel)
        platform = Platform(ch.platform)
        silent = now - ch.since
        authors = len(ch.authors)
        people = f"more than {authors}" if authors >= s.max_authors else str(authors)
        shown = [(ch.last_post, "last_brand_post")] if ch.last_post is not None else []
        shown.extend((e, "example") for e in reversed(ch.examples))
        mentions = [
            EvidenceMention(
                mention_id=mid,
                platform=platform,
                channel=ch.channel,
                url=url,
                author_id=author,
                occurred_at=_dt(at),
                text=text,
                negative=neg,
                role=role,
            )  # fmt: skip
            for (mid, author, url, text, neg, at), role in shown
        ]
        evidence = AlertEvidence(
            mention_ids=[m.mention_id for m in mentions],
            counts={
                "days_silent": int(silent // _DAY),
                "mentions_since": ch.mentions,
                "authors_since": authors,
                "never_posted": int(ch.last_post is None),
            },
            mentions=mentions,
            observed=round(silent / _DAY, 2),
            expected=s.silent_days,
            score=round(silent / _DAY, 2),
            baseline="last_brand_post" if ch.last_post is not None else "watch_start",
            top_channels={ch.channel: ch.mentions} if ch.mentions else {},
        )
        if status is AlertStatus.RESOLVED:
            if forgotten:
                message = (
                    f"{ep.brand} has not posted or replied in {where} for {_days(silent)}; RepWatch stops watching "
                    "this channel. List it in the brands file if it is still the brand's own."
                )
            else:
                message = f"{ep.brand} posted in {where} again after {_days(silent)} of silence. Nothing to do."
        else:
            if ch.last_post is not None:
                span = f"for {_days(silent)}"
            else:
                span = f"in the {_days(silent)} since RepWatch started watching it"
            if authors:
                noun = "person" if authors == 1 else "people"
                message = (
                    f"{ep.brand} has not posted or replied in {where} {span} while {people} {noun} wrote there. "
                    "Post an update or answer the open questions."
                )
            else:
                message = (
                    f"{ep.brand} has not posted or replied in {where} {span}, and nobody else wrote there either. "
                    "Post an update to keep the community alive, or stop listing it."
                )
        return to_alert(ep, status, window_start=_dt(ch.since), window_end=_dt(now), evidence=evidence, message=message)

    # --- state --------------------------------------------------------------------------------------------------

    def dump_state(self, state: SilentCommunityState) -> dict[str, Any]:
        return {
            "version": self.STATE_VERSION,
            "channels": [
                {
                    "key": ck,
                    "platform": ch.platform,
                    "channel": ch.channel,
                    "listed": ch.listed,
                    "since": ch.since,
                    "last_post": list(ch.last_post) if ch.last_post is not None else None,
                    "mentions": ch.mentions,
                    "authors": sorted(ch.authors),
                    "examples": [list(e) for e in ch.examples],
                    "episode": ch.episode.to_json() if ch.episode is not None else None,
                    "escalated": ch.escalated,
                    "queued": ch.queued,
                }
                for ck, ch in state.channels.items()
            ],
            "recent": list(state.recent),
            "untracked": state.untracked,
        }

    def load_state(self, data: dict[str, Any]) -> SilentCommunityState:
        if not isinstance(data, dict) or data.get("version") != self.STATE_VERSION:
            got = data.get("version") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"silent_community state version {got!r}; this build reads {self.STATE_VERSION}")
        try:
            state = SilentCommunityState()
            for d in data["channels"]:
                ch = self._channel(str(d["platform"]), str(d["channel"]), bool(d["listed"]), float(d["since"]))
                ch.last_post = _example_from_json(d["last_post"]) if d["last_post"] is not None else None
                ch.mentions = int(d["mentions"])
                ch.authors = {str(a) for a in d["authors"]}
                ch.examples = deque((_example_from_json(e) for e in d["examples"]), maxlen=self.settings.examples)
                ch.episode = Episode.from_json(d["episode"]) if d["episode"] is not None else None
                ch.escalated = bool(d["escalated"])
                ch.queued = float(d["queued"]) if d["queued"] is not None else None
                ck = str(d["key"])
                state.channels[ck] = ch
                if ch.queued is not None:
                    state.heap.append((ch.queued, ck))
            heapq.heapify(state.heap)
            state.recent = dict.fromkeys(str(k) for k in data["recent"])
            state.untracked = int(data["untracked"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"silent_community state is malformed: {exc!r}") from None
        return state
