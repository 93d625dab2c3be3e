"""``deletion_bias``: on one of its own channels, the brand removes complaints far more often than anything else.

A single removal is ``deleted_complaint``'s business; this detector judges the pattern.
Per owned channel, over a rolling window of ``window_days`` day buckets (UTC days of event
time), it counts the mentions that appeared (by people other than the brand: the brand
removing its own posts says nothing) split into complaints (``obs.negative``) and the rest,
and how many of each the brand then removed (``actor`` brand, or unknown on an owned
channel). A removal is booked on the day its mention appeared (a cohort), so each share is
"of the complaints posted in the window, how many are gone" and never exceeds one.

It fires when ``min_removed`` complaints were removed and the smoothed share of complaints
removed is at least ``ratio`` times the smoothed share of other mentions removed. Smoothing
adds ``smoothing`` removed and ``smoothing`` kept pseudo-mentions to each share, so a
channel where no other mention was removed yet does not divide by zero, and a handful of
mentions cannot make an extreme ratio on its own. The evidence reports both shares and
counts, the removals expected at the other mentions' rate, the hypergeometric tail
probability of so many of the removals being complaints if removals ignored sentiment
(``max_p_value`` can make it a condition too; off by default, the count and the ratio are
the issue's rule), and examples of removed complaints with links.

One incident per (brand, channel): re-notified when the number of removed complaints
doubles (or it turns critical), resolved once the condition has stayed false for
``quiet_hours`` (removals age out of the window, or the brand stops), reopened instead of
re-paged within ``cooldown_hours``.

Out of order: a removal that arrives before its mention waits ``pending_hours`` for it; a
mention older than the window is not counted; a removal is counted once however often it is
redelivered (hidden, then deleted, counts once; restored un-counts it).

A removal whose source named the remover but not whether that is the author (``actor`` null,
``removed_by`` set: VK's deletion events) is judged against the author remembered for a complaint
(:func:`~services.alerting.types.removal_actor`): the author's own removal is not the brand's and
is not counted. Only complaints keep their author here, so such a removal of a tracked
non-complaint still counts as the brand's (as any unknown removal on an owned channel does),
which can only lower the ratio. A waiting removal keeps ``removed_by`` and is judged against the
author of the mention when it arrives.

Bounded: ``max_tracked`` mentions (the ids needed to classify a later removal; the oldest go
first, and they also leave when their day leaves the window), ``max_channels`` channels,
``max_pending`` waiting removals, ``window_days`` day buckets per channel, five examples.

What is kept, and how it is dumped: the counts live in the day buckets; a tracked mention is only
what booking its later removal needs (channel, day, complaint or not, removed or not, when it was
first seen) plus, for a complaint, what an example needs (author, link, a 200-character snippet,
time, P(negative)). The snapshot stores the tracked mentions as columns (channel as an index into
a table of channels, days relative to the newest, first-seen times as deltas in whole seconds,
event times as exact microseconds), and the columns, bulky for a busy brand, as one zlib-compressed
UTF-8 JSON document in base64; channels, episodes and waiting removals stay readable JSON.
``load_state`` keeps that document as it came and decodes it when the brand is next touched
(:meth:`DeletionBiasDetector.materialise`), so restoring many brands only parses their snapshots.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from pydantic import Field

from services.alerting.incidents import Episode, EpisodePolicy, calm, forgettable, to_alert, trigger
from services.alerting.packing import dec_time, enc_time, pack, unpack, utc
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
)

_UTC = timezone.utc
_KIND = AlertKind.DELETION_BIAS
_CREATED = EventType.CREATED
_EDITED = EventType.EDITED
_DELETED = EventType.DELETED
_HIDDEN = EventType.HIDDEN
_RESTORED = EventType.RESTORED
_BRAND = Actor.BRAND
_AUTHOR = Actor.AUTHOR
_DAY = 86400.0
#: event-time seconds between housekeeping passes (expiry, quiet resolution)
_SWEEP_S = 60.0
_SWEEP = timedelta(seconds=_SWEEP_S)
#: before any event: the first one runs a housekeeping pass
_NEVER = datetime.min.replace(tzinfo=_UTC)
#: removed complaints kept per channel as examples for the evidence
_EXAMPLES = 5
#: text of a complaint kept for an example
_TEXT_KEEP = 200

# indexes into a day bucket / a channel's totals
_AN, _AO, _RN, _RO = 0, 1, 2, 3

# indexes into a tracked mention: a plain list, because one is made for every mention on an owned
# channel and a list costs a fifth of a slotted object to build
_T_KEY, _T_DAY, _T_NEG, _T_REMOVED, _T_KEPT, _T_INFO = 0, 1, 2, 3, 4, 5


class DeletionBiasSettings(DetectorSettings):
    #: rolling window, in day buckets: a week evens out weekday moderation habits
    window_days: int = Field(default=7, ge=1, le=90)
    #: smoothed share of complaints removed must be at least this multiple of the share of others removed
    ratio: float = Field(default=3.0, gt=1.0)
    #: complaints removed in the window before anything is said: fewer is each one's own alert
    min_removed: int = Field(default=5, ge=1)
    #: pseudo-mentions (removed and kept, each) added to both shares; 1 is Laplace's rule
    smoothing: float = Field(default=1.0, gt=0.0)
    #: also require the hypergeometric tail probability to be at most this (1.0: not required)
    max_p_value: float = Field(default=1.0, gt=0.0, le=1.0)
    #: hours the condition must stay false before the incident resolves
    quiet_hours: float = Field(default=6.0, gt=0)
    #: hours after a resolution within which the condition back reopens the same incident
    cooldown_hours: float = Field(default=48.0, ge=0)
    #: mentions on owned channels remembered (to classify a later removal), per brand: ~80 bytes
    #: each in a snapshot (~300 for a complaint, which keeps an example's text). Removals come
    #: within hours, so a day or two of a busy brand's owned channels is enough; a removal of
    #: a mention no longer remembered is not counted either way
    max_tracked: int = Field(default=10_000, ge=1)
    #: owned channels tracked per brand (the least recently active without an open incident goes first)
    max_channels: int = Field(default=100, ge=1)
    #: hours a removal of a not-yet-seen mention waits for its late ``created``
    pending_hours: float = Field(default=24.0, gt=0)
    #: removals waiting for their mention, per brand
    max_pending: int = Field(default=500, ge=0)


@dataclass(slots=True)
class _Channel:
    platform: str
    channel: str
    #: (platform, channel), shared by every tracked mention of the channel
    key: tuple[str, str] = ("", "")
    #: day -> [appeared negative, appeared other, removed negative, removed other]
    days: dict[int, list[int]] = field(default_factory=dict)
    totals: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    #: the newest day the window was rolled to
    rolled: int = 0
    #: recently removed complaints: [mention_id, author, url, text, appeared at, P(negative)]
    examples: list[list[Any]] = field(default_factory=list)
    episode: Episode | None = None
    #: brand watermark of the last event on the channel (eviction order)
    touched: float = 0.0

    def to_json(self) -> list[Any]:
        episode = self.episode.to_json() if self.episode else None
        days = [[d, *c] for d, c in self.days.items()]
        return [self.platform, self.channel, self.rolled, self.touched, days, self.examples, episode]

    @classmethod
    def from_json(cls, row: list[Any]) -> _Channel:
        platform, channel, rolled, touched, days, examples, episode = row
        ch = cls(str(platform), str(channel), (str(platform), str(channel)), rolled=int(rolled), touched=float(touched))
        for day, *counts in days:
            if len(counts) != 4:
                raise ValueError(f"bad day bucket {counts!r}")
            ch.days[int(day)] = [int(x) for x in counts]
            for i in range(4):
                ch.totals[i] += int(counts[i])
        ch.examples = [list(e) for e in examples]
        ch.episode = Episode.from_json(episode) if episode else None
        return ch


@dataclass(slots=True)
class DeletionBiasState:
    #: mention_id -> [channel key, day, complaint?, removed?, first seen (brand watermark, whole
    #: seconds: only expiry reads it), example info for a complaint: [author, url, text, at, P(negative)]
    #: or None]; first-seen order (max_tracked, and window_days + 1 days after it was first seen)
    tracked: OrderedDict[str, list[Any]] = field(default_factory=OrderedDict)
    #: (platform, channel) -> counts and incident (max_channels)
    channels: dict[tuple[str, str], _Channel] = field(default_factory=dict)
    #: removals of unseen mentions -> [removal time, time kept, removed_by or None] (pending_hours, max_pending)
    pending: OrderedDict[str, list[Any]] = field(default_factory=OrderedDict)
    #: brand watermark of the next housekeeping pass (a datetime: the hot path compares, never converts)
    next_sweep: datetime = _NEVER
    #: the tracked mentions as restored, not decoded yet (see :meth:`DeletionBiasDetector.materialise`)
    packed: str | None = None


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def removal_tail(removed_negative: int, appeared_negative: int, removed_other: int, appeared_other: int) -> float:
    """P(at least ``removed_negative`` of all removals are complaints) if the brand removed
    mentions without regard to sentiment: the hypergeometric upper tail (one-sided Fisher test)."""
    total = appeared_negative + appeared_other
    removals = removed_negative + removed_other
    if removals == 0 or total == 0:
        return 1.0
    hi = min(removals, appeared_negative)
    if removed_negative > hi:
        return 0.0
    base = _log_choose(total, removals)
    p = 0.0
    for x in range(removed_negative, hi + 1):
        term = math.exp(_log_choose(appeared_negative, x) + _log_choose(appeared_other, removals - x) - base)
        p += term
        if term < p * 1e-12:  # past the mode the terms fall geometrically
            break
    return min(1.0, p)


class DeletionBiasDetector:
    name: ClassVar[str] = "deletion_bias"
    kinds: ClassVar[tuple[AlertKind, ...]] = (_KIND,)
    Settings: ClassVar[type[DetectorSettings]] = DeletionBiasSettings
    #: 3: waiting removals keep ``removed_by`` (a fourth element); 2 still loads (three)
    STATE_VERSION: ClassVar[int] = 3
    _READS: ClassVar[frozenset[int]] = frozenset({2, 3})

    def __init__(self, settings: DeletionBiasSettings | None = None) -> None:
        s = settings if settings is not None else DeletionBiasSettings()
        self.settings = s
        self._pending_s = s.pending_hours * 3600.0
        self._policy = EpisodePolicy(
            quiet=timedelta(hours=s.quiet_hours), cooldown=timedelta(hours=s.cooldown_hours), escalate_factor=2.0
        )

    # --- state ---------------------------------------------------------------------------------------------

    def new_state(self) -> DeletionBiasState:
        return DeletionBiasState()

    def dump_state(self, state: DeletionBiasState) -> dict[str, Any]:
        tracked = state.packed if state.packed is not None else self._tracked_doc(state)
        return {
            "v": self.STATE_VERSION,
            "tracked": tracked,
            "channels": [c.to_json() for c in state.channels.values()],
            "pending": [[k, *v] for k, v in state.pending.items()],
            "next_sweep": state.next_sweep.timestamp() if state.next_sweep is not _NEVER else None,
        }

    @staticmethod
    def _tracked_doc(state: DeletionBiasState) -> str | None:
        if not state.tracked:
            return None
        keys: dict[tuple[str, str], int] = {}
        ids: list[str] = []
        chans: list[int] = []
        days: list[int] = []
        flags: list[int] = []
        kept: list[int] = []
        info: list[list[Any]] = [[], [], [], [], [], []]  # columns: row, author, url, text, at, P(negative)
        newest = max((t[_T_DAY] for t in state.tracked.values()), default=0)
        last = 0
        for i, (mid, t) in enumerate(state.tracked.items()):
            key = t[_T_KEY]
            c = keys.get(key)
            if c is None:
                c = keys[key] = len(keys)
            chans.append(c)
            # an id that starts with its channel's name (most platforms' do) is stored without it
            channel = key[1]
            short = mid.startswith(channel)
            ids.append(mid[len(channel) :] if short else mid)
            days.append(newest - t[_T_DAY])
            flags.append(4 * short + 2 * t[_T_NEG] + t[_T_REMOVED])
            kept.append(t[_T_KEPT] - last)
            last = t[_T_KEPT]
            x = t[_T_INFO]
            if x is not None:
                author, url, text, at, p_neg = x
                for col, v in zip(info, (i, author, url, text, enc_time(at, 1_000_000 * last), p_neg), strict=True):
                    col.append(v)
        return pack({"keys": [list(k) for k in keys], "id": ids, "c": chans, "day": newest, "d": days, "f": flags,
                      "k": kept, "x": info})  # fmt: skip

    def load_state(self, data: dict[str, Any]) -> DeletionBiasState:
        if not isinstance(data, dict) or data.get("v") not in self._READS:
            got = data.get("v") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"deletion_bias state version {got!r}; this build reads {sorted(self._READS)}")
        try:
            st = DeletionBiasState()
            if data["next_sweep"] is not None:
                st.next_sweep = utc(float(data["next_sweep"]))
            for row in data["channels"]:
                ch = _Channel.from_json(row)
                st.channels[ch.key] = ch
            if data["tracked"] is not None:
                if not isinstance(data["tracked"], str):
                    raise ValueError("tracked is not a packed string")
                st.packed = data["tracked"]
            for row in data["pending"]:
                if data["v"] == 2:
                    row = [*row, None]
                k, a, b, by = row
                st.pending[str(k)] = [float(a), float(b), None if by is None else str(by)]
        except (KeyError, TypeError, ValueError, IndexError, zlib.error) as exc:
            raise ValueError(f"deletion_bias state does not load: {exc}") from None
        return st

    def materialise(self, state: DeletionBiasState) -> DeletionBiasState:
        """Decode a restored state's tracked mentions now (otherwise the first event or tick does).

        Restoring only parses the snapshot; the bulky part is decoded when the brand is next
        touched, so restoring many brands is quick and a brand that stays quiet never pays for it.
        Raises ValueError if it does not decode (not possible for a snapshot this build wrote).
        """
        packed = state.packed
        if packed is not None:
            state.packed = None
            try:
                self._load_tracked(state, unpack(packed))
            except (KeyError, TypeError, ValueError, IndexError, zlib.error) as exc:
                raise ValueError(f"deletion_bias tracked mentions do not load: {exc}") from None
        return state

    @staticmethod
    def _load_tracked(st: DeletionBiasState, cols: dict[str, Any]) -> None:
        # tracked mentions share their channel's key tuple (the channel may have been evicted since)
        keys = [st.channels[k].key if k in st.channels else k for k in ((str(p), str(c)) for p, c in cols["keys"])]
        ids, chans, days, flags, kept = cols["id"], cols["c"], cols["d"], cols["f"], cols["k"]
        if not len(ids) == len(chans) == len(days) == len(flags) == len(kept):
            raise ValueError("tracked columns of different lengths")
        newest = int(cols["day"])
        rows: list[list[Any]] = []
        full: list[str] = []
        last = 0
        for mid, c, d, f, k in zip(ids, chans, days, flags, kept, strict=True):
            last += k
            key = keys[c]
            full.append(key[1] + mid if f & 4 else str(mid))
            rows.append([key, newest - d, bool(f & 2), bool(f & 1), last, None])
        for i, author, url, text, at, p_neg in zip(*cols["x"], strict=True):
            row = rows[i]
            row[_T_INFO] = [author, url, str(text), dec_time(at, 1_000_000 * row[_T_KEPT]), float(p_neg)]
        st.tracked = OrderedDict(zip(full, rows, strict=True))

    def active(self, state: DeletionBiasState) -> int:
        return sum(1 for c in state.channels.values() if c.episode is not None and c.episode.is_open)

    # --- events --------------------------------------------------------------------------------------------

    def observe(self, state: DeletionBiasState, obs: Observation, brand: BrandView) -> list[Alert]:
        if state.packed is not None:
            self.materialise(state)
        alerts: list[Alert] = []
        w = obs.watermark
        # a datetime comparison: the watermark is turned into a number only where something is booked
        if w >= state.next_sweep:
            self._sweep(state, w, brand, alerts)
        m = obs.event.mention
        if m.author_is_brand:
            return alerts
        et = m.event_type
        if et is _CREATED or et is _EDITED:
            if obs.event.sentiment is None:
                return alerts
            t = state.tracked.get(m.mention_id)
            if t is not None:
                if t[_T_NEG] != obs.negative:
                    self._reclassify(state, t, obs, w.timestamp(), brand, alerts)
                return alerts
            if obs.owned:
                self._appeared(state, obs, brand, alerts)
        elif et is _DELETED or et is _HIDDEN:
            actor = m.actor
            t = state.tracked.get(m.mention_id)
            if actor is None and t is not None and t[_T_INFO] is not None:
                actor = removal_actor(None, m.removed_by, t[_T_INFO][0])  # a complaint's author is kept
            if actor is _BRAND or (actor is None and obs.owned):
                if t is not None:
                    if not t[_T_REMOVED]:
                        self._set_removed(state, m.mention_id, t, True, w.timestamp(), brand, alerts)
                elif obs.owned and self.settings.max_pending and m.mention_id not in state.pending:
                    state.pending[m.mention_id] = [m.occurred_at.timestamp(), w.timestamp(), m.removed_by]
                    while len(state.pending) > self.settings.max_pending:
                        state.pending.popitem(last=False)
        elif et is _RESTORED:
            state.pending.pop(m.mention_id, None)
            t = state.tracked.get(m.mention_id)
            if t is not None and t[_T_REMOVED]:
                self._set_removed(state, m.mention_id, t, False, w.timestamp(), brand, alerts)
        return alerts

    def advance(self, state: DeletionBiasState, now: datetime, brand: BrandView) -> list[Alert]:
        if state.packed is not None:
            self.materialise(state)
        alerts: list[Alert] = []
        self._sweep(state, now, brand, alerts)
        return alerts

    def _channel(
        self, state: DeletionBiasState, platform: str, channel: str, wm: float, brand: BrandView, alerts: list[Alert]
    ) -> _Channel:
        key = (platform, channel)
        ch = state.channels.get(key)
        if ch is None:
            ch = state.channels[key] = _Channel(platform, channel, key, rolled=int(wm // _DAY), touched=wm)
            if len(state.channels) > self.settings.max_channels:
                victims = [c for c in state.channels.values() if c is not ch and not (c.episode and c.episode.is_open)]
                if victims:
                    v = min(victims, key=lambda c: c.touched)
                    del state.channels[v.key]
        ch.touched = wm
        self._roll(ch, int(wm // _DAY), brand, alerts)
        return ch

    def _roll(self, ch: _Channel, today: int, brand: BrandView, alerts: list[Alert]) -> None:
        if today <= ch.rolled:
            return
        ch.rolled = today
        cutoff = today - self.settings.window_days + 1
        dropped = False
        for day in [d for d in ch.days if d < cutoff]:
            counts = ch.days.pop(day)
            for i in range(4):
                ch.totals[i] -= counts[i]
            dropped = True
        if dropped and ch.episode is not None and ch.episode.is_open:
            # judged at the moment the old day left the window, so the quiet period counts from
            # then, not from whenever the next event or tick happens to come
            self._evaluate(ch, today * _DAY, brand, alerts)

    def _appeared(self, state: DeletionBiasState, obs: Observation, brand: BrandView, alerts: list[Alert]) -> None:
        m = obs.event.mention
        at = m.occurred_at.timestamp()
        # in order, the event is the watermark: one conversion serves both
        wm = at if m.occurred_at is obs.watermark else obs.watermark.timestamp()
        day = int(at // _DAY)
        today = int(wm // _DAY)
        if day <= today - self.settings.window_days:
            return  # older than the window: it can no longer count
        # Platform is a str enum: as a key it equals its value, without the enum's slow .value
        platform = m.platform
        ch = state.channels.get((platform, m.channel))
        if ch is None or today > ch.rolled:
            ch = self._channel(state, platform, m.channel, wm, brand, alerts)
        else:
            ch.touched = wm
        negative = obs.negative
        info = None
        if negative:
            s = obs.event.sentiment
            info = [m.author_id, m.url, m.text[:_TEXT_KEEP], at, s.negative if s else 1.0]
        t = [ch.key, day, negative, False, int(wm), info]
        tracked = state.tracked
        tracked[m.mention_id] = t
        if len(tracked) > self.settings.max_tracked:
            tracked.popitem(last=False)
        bucket = ch.days.get(day)
        if bucket is None:
            bucket = ch.days[day] = [0, 0, 0, 0]
        i = _AN if negative else _AO
        bucket[i] += 1
        ch.totals[i] += 1
        waiting = state.pending.pop(m.mention_id, None)
        if waiting is not None and removal_actor(None, waiting[2], m.author_id) is not _AUTHOR:
            self._set_removed(state, m.mention_id, t, True, wm, brand, alerts)
        elif ch.episode is not None:
            self._evaluate(ch, wm, brand, alerts)  # more kept mentions can lower the share

    def _reclassify(
        self, state: DeletionBiasState, t: list[Any], obs: Observation, wm: float, brand: BrandView, alerts: list[Alert]
    ) -> None:
        m = obs.event.mention
        ch = self._channel(state, *t[_T_KEY], wm, brand, alerts)
        bucket = ch.days.get(t[_T_DAY])
        if bucket is not None:
            old, new = (_AN, _AO) if t[_T_NEG] else (_AO, _AN)
            bucket[old] -= 1
            ch.totals[old] -= 1
            bucket[new] += 1
            ch.totals[new] += 1
            if t[_T_REMOVED]:
                bucket[old + 2] -= 1
                ch.totals[old + 2] -= 1
                bucket[new + 2] += 1
                ch.totals[new + 2] += 1
        t[_T_NEG] = obs.negative
        if obs.negative:
            s = obs.event.sentiment
            t[_T_INFO] = [m.author_id, m.url, m.text[:_TEXT_KEEP], m.occurred_at.timestamp(), s.negative if s else 1.0]
        if bucket is not None:
            self._evaluate(ch, wm, brand, alerts)

    def _set_removed(
        self,
        state: DeletionBiasState,
        mid: str,
        t: list[Any],
        removed: bool,
        wm: float,
        brand: BrandView,
        alerts: list[Alert],
    ) -> None:
        t[_T_REMOVED] = removed
        ch = self._channel(state, *t[_T_KEY], wm, brand, alerts)
        bucket = ch.days.get(t[_T_DAY])
        if bucket is None:
            return  # its day left the window: the removal no longer counts
        negative = t[_T_NEG]
        i = _RN if negative else _RO
        step = 1 if removed else -1
        bucket[i] += step
        ch.totals[i] += step
        info = t[_T_INFO]
        if removed and negative and info is not None:
            ch.examples.append([mid, *info])
            if len(ch.examples) > _EXAMPLES:
                del ch.examples[0]
        elif not removed and negative:
            ch.examples = [e for e in ch.examples if e[0] != mid]
        self._evaluate(ch, wm, brand, alerts)

    # --- the rule ------------------------------------------------------------------------------------------

    def _shares(self, totals: list[int]) -> tuple[float, float]:
        a = self.settings.smoothing
        an, ao, rn, ro = totals
        return (rn + a) / (an + 2 * a), (ro + a) / (ao + 2 * a)

    def _holds(self, ch: _Channel) -> tuple[bool, float]:
        """Whether the rule holds now, and the smoothed ratio of shares (0 below min_removed)."""
        s = self.settings
        an, ao, rn, ro = ch.totals
        if rn < s.min_removed:
            return False, 0.0
        share_neg, share_other = self._shares(ch.totals)
        ratio = share_neg / share_other
        if ratio < s.ratio:
            return False, ratio
        return s.max_p_value >= 1.0 or removal_tail(rn, an, ro, ao) <= s.max_p_value, ratio

    def _evaluate(self, ch: _Channel, now: float, brand: BrandView, alerts: list[Alert]) -> None:
        holds, ratio = self._holds(ch)
        s = self.settings
        if holds:
            rn = ch.totals[_RN]
            critical = rn >= 3 * s.min_removed and ratio >= 2 * s.ratio
            episode, status = trigger(
                ch.episode,
                now=utc(now),
                kind=_KIND,
                brand=brand.name,
                channel=ch.channel,
                platform=Platform(ch.platform),
                severity=Severity.CRITICAL if critical else Severity.WARNING,
                level=float(rn),
                policy=self._policy,
            )
            ch.episode = episode
            if status is not None:
                alerts.append(self._alert(ch, status, now, brand))
        elif ch.episode is not None and ch.episode.is_open:
            status = calm(ch.episode, now=utc(now), policy=self._policy)
            if status is not None:
                alerts.append(self._alert(ch, status, now, brand))

    # --- housekeeping --------------------------------------------------------------------------------------

    def _sweep(self, state: DeletionBiasState, now_dt: datetime, brand: BrandView, alerts: list[Alert]) -> None:
        # dated from the brand's own watermark, so it shares its tzinfo (datetime's fast comparison)
        state.next_sweep = now_dt + _SWEEP
        now = now_dt.timestamp()
        today = int(now // _DAY)
        # a mention whose day left the window can no longer count; first-seen order is expiry order
        horizon = now - (self.settings.window_days + 1) * _DAY
        tracked = state.tracked
        while tracked:
            k, t = next(iter(tracked.items()))
            if t[_T_KEPT] >= horizon:
                break
            del tracked[k]
        pending_horizon = now - self._pending_s
        while state.pending:
            k, (_, kept, _) = next(iter(state.pending.items()))
            if kept >= pending_horizon:
                break
            del state.pending[k]
        for ch in list(state.channels.values()):
            self._roll(ch, today, brand, alerts)
            ep = ch.episode
            if ep is None:
                continue
            if ep.is_open:
                self._evaluate(ch, now, brand, alerts)
            elif forgettable(ep, now=now_dt, policy=self._policy):
                ch.episode = None

    # --- alerts --------------------------------------------------------------------------------------------

    def _alert(self, ch: _Channel, status: AlertStatus, now: float, brand: BrandView) -> Alert:
        ep = ch.episode
        assert ep is not None
        an, ao, rn, ro = ch.totals
        share_neg, share_other = self._shares(ch.totals)
        ratio = share_neg / share_other
        p = removal_tail(rn, an, ro, ao)
        days = self.settings.window_days
        first_day = ch.rolled - days + 1
        examples = list(reversed(ch.examples))
        evidence = AlertEvidence(
            mention_ids=[e[0] for e in examples],
            counts={
                "removed_negative": rn,
                "appeared_negative": an,
                "removed_other": ro,
                "appeared_other": ao,
                "window_days": days,
            },
            mentions=[
                EvidenceMention(
                    mention_id=e[0],
                    platform=Platform(ch.platform),
                    channel=ch.channel,
                    author_id=e[1],
                    url=e[2],
                    text=e[3],
                    occurred_at=utc(e[4]),
                    negative=min(1.0, max(0.0, e[5])),
                    role="removed",
                )
                for e in examples
            ],
            observed=float(rn),
            expected=round(an * share_other, 3),
            p_value=min(1.0, max(0.0, p)),
            score=round(ratio, 3),
            baseline="other_mentions",
            top_channels={ch.channel: rn},
        )
        window_start = utc(first_day * _DAY)
        return to_alert(
            ep,
            status,
            window_start=window_start,
            window_end=max(utc(now), window_start),
            evidence=evidence,
            message=self._message(ch, status, ratio, p, brand),
        )

    def _message(self, ch: _Channel, status: AlertStatus, ratio: float, p: float, brand: BrandView) -> str:
        an, ao, rn, ro = ch.totals
        days = self.settings.window_days
        pn = 100 * rn / an if an else 0.0
        po = 100 * ro / ao if ao else 0.0
        if status is AlertStatus.RESOLVED:
            return (
                f"{brand.name} no longer removes complaints disproportionately on {ch.channel}: {rn} of {an} "
                f"complaints and {ro} of {ao} other comments removed in the last {days} days."
            )
        return (
            f"{brand.name} removed {rn} of {an} complaints ({pn:.0f}%) on {ch.channel} in the last {days} days but "
            f"only {ro} of {ao} other comments ({po:.0f}%): complaints are {ratio:.1f}x as likely to vanish "
            f"(p={p:.2g}). Stop removing criticism: restore these complaints and answer them publicly."
        )
