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
costs O(1) and a timer O(log channels). The earliest timer is also kept as a datetime, so an
event is checked against it by a comparison, without turning its watermark into a number.

Redelivered user mentions are recognised by a 48-bit hash of their event id (the first 12 hex
digits of RepWatch's own hex event ids, a blake2b digest of any other id): a collision costs at
most one mention in a count. The snapshot packs those hashes as bytes (8 base64 characters
each instead of a 34-character string), and the authors, last brand posts and example
mentions as zlib-compressed UTF-8 JSON; channels, timers and episodes stay readable.
``load_state`` restores channels and timers and decodes the rest when the brand is next touched
(:meth:`SilentCommunityDetector.materialise`), so restoring many brands only parses their snapshots.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import zlib
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from pydantic import Field

from services.alerting.incidents import Episode, EpisodePolicy, forgettable, resolve_now, to_alert, trigger
from services.alerting.packing import pack, unpack, utc
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
#: event ids remembered per brand against redelivery of user mentions (counted, so must not double);
#: a redelivery repeats a batch, and a brand's share of a batch is at most a few thousand records
_RECENT_IDS = 2048
#: bytes of an event id's hash (48 bits: a false "seen" among 4096 ids has odds of ~1e-11)
_HASH_BYTES = 6

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
    #: 48-bit hashes of the event ids of recent user mentions, oldest first (dedupe; between
    #: _RECENT_IDS and twice that)
    recent: dict[int, None] = field(default_factory=dict)
    #: channels not watched because max_channels was reached
    untracked: int = 0
    #: the brand config whose listed channels were last merged in; transient (an identity check per event)
    synced: BrandConfig | None = None
    #: the heap's earliest time as a datetime (None: empty heap); derived, never dumped
    due: datetime | None = None
    #: (packed mentions, packed recent ids) as restored, not decoded yet (see SilentCommunityDetector.materialise)
    packed: tuple[str | None, str] | None = None


def _key(platform: str, channel: str) -> str:
    return f"{platform}\x1f{channel}"


def _id_hash(event_id: str) -> int:
    """A stable 48-bit hash of an event id (never Python's salted hash(): it is stored)."""
    if len(event_id) >= 2 * _HASH_BYTES:
        try:
            return int(event_id[: 2 * _HASH_BYTES], 16)  # RepWatch's ids are hex digests already
        except ValueError:
            pass
    return int.from_bytes(hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=_HASH_BYTES).digest())


def _display(platform: str, channel: str) -> str:
    return channel if channel.startswith(f"{platform}:") else f"{platform}:{channel}"


def _days(seconds: float) -> str:
    d = int(seconds // _DAY)
    return "1 day" if d == 1 else f"{d} days"


class SilentCommunityDetector:
    name: ClassVar[str] = "silent_community"
    kinds: ClassVar[tuple[AlertKind, ...]] = (AlertKind.SILENT_COMMUNITY,)
    Settings: ClassVar[type[DetectorSettings]] = SilentCommunitySettings
    STATE_VERSION: ClassVar[int] = 2

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
        if state.packed is not None:
            self.materialise(state)
        w = obs.watermark
        if state.synced is not brand.config:
            self._sync(state, brand.config, w.timestamp())
        out: list[Alert] = []
        # the earliest timer as a datetime: most events pass with one comparison and no clock conversion
        due = state.due
        if due is not None and due <= w:
            self._tick(state, w.timestamp(), brand.name, out)
        m = obs.event.mention
        # only new posts count: an edit or a deletion is not the brand speaking to the community
        if m.event_type is _CREATED:
            if m.author_is_brand:
                self._on_brand_post(state, obs, brand.name, out)
            elif state.channels:
                # Platform is a StrEnum: concatenated, it is its value
                ch = state.channels.get(m.platform + "\x1f" + m.channel)
                if ch is not None:
                    self._on_user_mention(state, ch, obs)
        due = state.due
        if due is not None and due <= w:  # a very late brand post can leave a channel already due
            self._tick(state, w.timestamp(), brand.name, out)
        return out

    def advance(self, state: SilentCommunityState, now: datetime, brand: BrandView) -> list[Alert]:
        if state.packed is not None:
            self.materialise(state)
        t = now.timestamp()
        if state.synced is not brand.config:
            self._sync(state, brand.config, t)
        out: list[Alert] = []
        if state.due is not None and state.due <= now:
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

    def _on_brand_post(self, state: SilentCommunityState, obs: Observation, brand: str, out):
        m = obs.event.mention
        ck = m.platform + "\x1f" + m.channel
        t = m.occurred_at.timestamp()
        ch = state.channels.get(ck)
        if ch is None:
            if sum(1 for c in state.channels.values() if not c.listed) >= self.settings.max_channels:
                state.untracked += 1
                return
            ch = state.channels[ck] = self._channel(m.platform.value, m.channel, False, t)
        if ch.last_post is None or t >= ch.last_post[5]:
            ch.last_post = (m.mention_id, m.author_id, m.url, m.text[:_TEXT_KEEP], None, t)
        # a post older than the clock (late, or from before watching began) says nothing about the silence since
        if t > ch.since:
            ep = ch.episode
            open_ = ep is not None and ep.is_open
            # a post so late that the channel has been silent for silent_days since it does not end the incident
            if open_:
                now = obs.watermark.timestamp()
                if t + self._silent > now:
                    out.append(self._alert(ch, resolve_now(ep, now=utc(now)), now))
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
        h = _id_hash(m.event_id)
        if h in recent:
            return
        recent[h] = None
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
        if state.heap[0][0] == due:
            state.due = utc(due)

    @staticmethod
    def _retop(state: SilentCommunityState) -> None:
        state.due = utc(state.heap[0][0]) if state.heap else None

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
                    status = resolve_now(ep, now=utc(now))
                    out.append(self._alert(ch, status, now, forgotten=True))
                del state.channels[ck]
                continue
            people = bool(ch.mentions)
            if action == _FIRE:
                if ch.episode is not None and forgettable(ch.episode, now=utc(due), policy=self._policy):
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
                now=utc(due),
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
        self._retop(state)

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
                occurred_at=utc(at),
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
        return to_alert(
            ep,
            status,
            window_start=utc(ch.since),
            window_end=utc(now),
            evidence=evidence,
            message=message,
        )

    # --- state --------------------------------------------------------------------------------------------------

    def dump_state(self, state: SilentCommunityState) -> dict[str, Any]:
        channels = list(state.channels.items())
        if state.packed is not None:  # restored and untouched since: dumped as it came
            mentions, recent = state.packed
        else:
            mentions = (
                pack(
                    [
                        [
                            sorted(ch.authors),
                            list(ch.last_post) if ch.last_post is not None else None,
                            [list(e) for e in ch.examples],
                        ]
                        for _, ch in channels
                    ]  # fmt: skip
                )
                if channels
                else None
            )
            recent = base64.b64encode(b"".join(h.to_bytes(_HASH_BYTES, "big") for h in state.recent)).decode("ascii")
        return {
            "version": self.STATE_VERSION,
            "channels": [
                [
                    ck,
                    ch.platform,
                    ch.channel,
                    ch.listed,
                    ch.since,
                    ch.mentions,
                    ch.episode.to_json() if ch.episode is not None else None,
                    ch.escalated,
                    ch.queued,
                ]  # fmt: skip
                for ck, ch in channels
            ],
            # per channel: the distinct authors of its silence (up to max_authors), the brand's last post and
            # the example mentions (text snippets): bulky, so compressed
            "mentions": mentions,
            "recent": recent,
            "untracked": state.untracked,
        }

    def load_state(self, data: dict[str, Any]) -> SilentCommunityState:
        if not isinstance(data, dict) or data.get("version") != self.STATE_VERSION:
            got = data.get("version") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"silent_community state version {got!r}; this build reads {self.STATE_VERSION}")
        try:
            state = SilentCommunityState()
            rows = data["channels"]
            mentions, recent = data["mentions"], data["recent"]
            if (mentions is not None and not isinstance(mentions, str)) or not isinstance(recent, str):
                raise ValueError("mentions and recent ids must be packed strings")
            if rows and mentions is None:
                raise ValueError("channels without their mentions")
            for row in rows:
                ck, platform, channel, listed, since, mentions_n, episode, escalated, queued = row
                ch = self._channel(str(platform), str(channel), bool(listed), float(since))
                ch.mentions = int(mentions_n)
                ch.episode = Episode.from_json(episode) if episode is not None else None
                ch.escalated = bool(escalated)
                ch.queued = float(queued) if queued is not None else None
                state.channels[str(ck)] = ch
                if ch.queued is not None:
                    state.heap.append((ch.queued, str(ck)))
            heapq.heapify(state.heap)
            self._retop(state)
            state.packed = (mentions, recent)
            state.untracked = int(data["untracked"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"silent_community state is malformed: {exc!r}") from None
        return state

    def materialise(self, state: SilentCommunityState) -> SilentCommunityState:
        """Decode a restored state's authors, example mentions and recent ids now (otherwise the
        first event or tick does). Restoring only parses the snapshot (channels and their timers);
        the rest is decoded when the brand is next touched, so restoring many brands is quick.
        Raises ValueError if it does not decode (not possible for a snapshot this build wrote)."""
        packed = state.packed
        if packed is None:
            return state
        state.packed = None
        mentions, recent = packed
        try:
            rows = unpack(mentions) if mentions is not None else []
            if len(rows) != len(state.channels):
                raise ValueError("mentions do not match the channels")
            for ch, (names, last_post, examples) in zip(state.channels.values(), rows, strict=True):
                ch.authors = {str(a) for a in names}
                ch.last_post = _example_from_json(last_post) if last_post is not None else None
                ch.examples = deque((_example_from_json(e) for e in examples), maxlen=self.settings.examples)
            raw = base64.b64decode(recent, validate=True)
            if len(raw) % _HASH_BYTES:
                raise ValueError("recent ids are not whole hashes")
            state.recent = dict.fromkeys(
                int.from_bytes(raw[i : i + _HASH_BYTES], "big") for i in range(0, len(raw), _HASH_BYTES)
            )
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            raise ValueError(f"silent_community state is malformed: {exc!r}") from None
        return state
