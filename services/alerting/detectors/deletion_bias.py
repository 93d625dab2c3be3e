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

Bounded: ``max_tracked`` mentions (the ids needed to classify a later removal; the oldest go
first, and they also leave when their day leaves the window), ``max_channels`` channels,
``max_pending`` waiting removals, ``window_days`` day buckets per channel, five examples.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from pydantic import Field

from services.alerting.incidents import Episode, EpisodePolicy, calm, forgettable, to_alert, trigger
from services.alerting.types import BrandView, DetectorSettings, Observation
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
_DAY = 86400.0
#: event-time seconds between housekeeping passes (expiry, quiet resolution)
_SWEEP_S = 60.0
#: removed complaints kept per channel as examples for the evidence
_EXAMPLES = 5
#: text of a complaint kept for an example
_TEXT_KEEP = 200

# indexes into a day bucket / a channel's totals
_AN, _AO, _RN, _RO = 0, 1, 2, 3


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
class _Tracked:
    platform: str
    channel: str
    day: int
    negative: bool
    removed: bool
    #: brand watermark when first seen: monotone, so the dict is in expiry order
    kept: float
    #: for complaints only, what an example needs: [author, url, text, at, P(negative)]
    info: list[Any] | None = None

    def to_json(self) -> list[Any]:
        return [self.platform, self.channel, self.day, self.negative, self.removed, self.kept, self.info]

    @classmethod
    def from_json(cls, row: list[Any]) -> _Tracked:
        p, ch, day, neg, removed, kept, info = row
        return cls(str(p), str(ch), int(day), bool(neg), bool(removed), float(kept), list(info) if info else None)


@dataclass(slots=True)
class _Channel:
    platform: str
    channel: str
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

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "channel": self.channel,
            "days": [[d, *c] for d, c in self.days.items()],
            "rolled": self.rolled,
            "examples": self.examples,
            "episode": self.episode.to_json() if self.episode else None,
            "touched": self.touched,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> _Channel:
        ch = cls(str(d["platform"]), str(d["channel"]), rolled=int(d["rolled"]), touched=float(d["touched"]))
        for day, *counts in d["days"]:
            if len(counts) != 4:
                raise ValueError(f"bad day bucket {counts!r}")
            ch.days[int(day)] = [int(x) for x in counts]
            for i in range(4):
                ch.totals[i] += int(counts[i])
        ch.examples = [list(e) for e in d["examples"]]
        ch.episode = Episode.from_json(d["episode"]) if d["episode"] else None
        return ch


@dataclass(slots=True)
class DeletionBiasState:
    #: mention_id -> what it was (max_tracked, and window_days + 1 after it was first seen)
    tracked: OrderedDict[str, _Tracked] = field(default_factory=OrderedDict)
    #: (platform, channel) -> counts and incident (max_channels)
    channels: dict[tuple[str, str], _Channel] = field(default_factory=dict)
    #: removals of unseen mentions -> [removal time, time kept] (pending_hours, max_pending)
    pending: OrderedDict[str, list[float]] = field(default_factory=OrderedDict)
    next_sweep: float = 0.0


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, _UTC)


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
    STATE_VERSION: ClassVar[int] = 1

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
        return {
            "v": self.STATE_VERSION,
            "tracked": [[k, *t.to_json()] for k, t in state.tracked.items()],
            "channels": [c.to_json() for c in state.channels.values()],
            "pending": [[k, *v] for k, v in state.pending.items()],
            "next_sweep": state.next_sweep,
        }

    def load_state(self, data: dict[str, Any]) -> DeletionBiasState:
        if not isinstance(data, dict) or data.get("v") != self.STATE_VERSION:
            got = data.get("v") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"deletion_bias state version {got!r}; this build reads {self.STATE_VERSION}")
        try:
            st = DeletionBiasState(next_sweep=float(data["next_sweep"]))
            for k, *row in data["tracked"]:
                st.tracked[str(k)] = _Tracked.from_json(row)
            for d in data["channels"]:
                ch = _Channel.from_json(d)
                st.channels[(ch.platform, ch.channel)] = ch
            st.pending = OrderedDict((str(k), [float(a), float(b)]) for k, a, b in data["pending"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"deletion_bias state does not load: {exc}") from None
        return st

    def active(self, state: DeletionBiasState) -> int:
        return sum(1 for c in state.channels.values() if c.episode is not None and c.episode.is_open)

    # --- events --------------------------------------------------------------------------------------------

    def observe(self, state: DeletionBiasState, obs: Observation, brand: BrandView) -> list[Alert]:
        m = obs.event.mention
        alerts: list[Alert] = []
        wm = obs.watermark.timestamp()
        if wm >= state.next_sweep:
            self._sweep(state, wm, brand, alerts)
        if m.author_is_brand:
            return alerts
        et = m.event_type
        if et is _CREATED or et is _EDITED:
            if obs.event.sentiment is None:
                return alerts
            t = state.tracked.get(m.mention_id)
            if t is not None:
                if t.negative != obs.negative:
                    self._reclassify(state, t, obs, wm, brand, alerts)
                return alerts
            if obs.owned:
                self._appeared(state, obs, wm, brand, alerts)
        elif et is _DELETED or et is _HIDDEN:
            if m.actor is _BRAND or (m.actor is None and obs.owned):
                t = state.tracked.get(m.mention_id)
                if t is not None:
                    if not t.removed:
                        self._set_removed(state, m.mention_id, t, True, wm, brand, alerts)
                elif obs.owned and self.settings.max_pending and m.mention_id not in state.pending:
                    state.pending[m.mention_id] = [m.occurred_at.timestamp(), wm]
                    while len(state.pending) > self.settings.max_pending:
                        state.pending.popitem(last=False)
        elif et is _RESTORED:
            state.pending.pop(m.mention_id, None)
            t = state.tracked.get(m.mention_id)
            if t is not None and t.removed:
                self._set_removed(state, m.mention_id, t, False, wm, brand, alerts)
        return alerts

    def advance(self, state: DeletionBiasState, now: datetime, brand: BrandView) -> list[Alert]:
        alerts: list[Alert] = []
        self._sweep(state, now.timestamp(), brand, alerts)
        return alerts

    def _channel(
        self, state: DeletionBiasState, platform: str, channel: str, wm: float, brand: BrandView, alerts: list[Alert]
    ) -> _Channel:
        key = (platform, channel)
        ch = state.channels.get(key)
        if ch is None:
            ch = state.channels[key] = _Channel(platform, channel, rolled=int(wm // _DAY), touched=wm)
            if len(state.channels) > self.settings.max_channels:
                victims = [c for c in state.channels.values() if c is not ch and not (c.episode and c.episode.is_open)]
                if victims:
                    v = min(victims, key=lambda c: c.touched)
                    del state.channels[(v.platform, v.channel)]
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

    def _appeared(
        self, state: DeletionBiasState, obs: Observation, wm: float, brand: BrandView, alerts: list[Alert]
    ) -> None:
        m = obs.event.mention
        at = m.occurred_at.timestamp()
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
        info = None
        if obs.negative:
            s = obs.event.sentiment
            info = [m.author_id, m.url, m.text[:_TEXT_KEEP], at, s.negative if s else 1.0]
        t = _Tracked(platform, m.channel, day, obs.negative, False, wm, info)
        tracked = state.tracked
        tracked[m.mention_id] = t
        while len(tracked) > self.settings.max_tracked:
            tracked.popitem(last=False)
        bucket = ch.days.get(day)
        if bucket is None:
            bucket = ch.days[day] = [0, 0, 0, 0]
        i = _AN if obs.negative else _AO
        bucket[i] += 1
        ch.totals[i] += 1
        waiting = state.pending.pop(m.mention_id, None)
        if waiting is not None:
            self._set_removed(state, m.mention_id, t, True, wm, brand, alerts)
        elif ch.episode is not None:
            self._evaluate(ch, wm, brand, alerts)  # more kept mentions can lower the share

    def _reclassify(
        self, state: DeletionBiasState, t: _Tracked, obs: Observation, wm: float, brand: BrandView, alerts: list[Alert]
    ) -> None:
        m = obs.event.mention
        ch = self._channel(state, t.platform, t.channel, wm, brand, alerts)
        bucket = ch.days.get(t.day)
        if bucket is not None:
            old, new = (_AN, _AO) if t.negative else (_AO, _AN)
            bucket[old] -= 1
            ch.totals[old] -= 1
            bucket[new] += 1
            ch.totals[new] += 1
            if t.removed:
                bucket[old + 2] -= 1
                ch.totals[old + 2] -= 1
                bucket[new + 2] += 1
                ch.totals[new + 2] += 1
        t.negative = obs.negative
        if obs.negative:
            s = obs.event.sentiment
            t.info = [m.author_id, m.url, m.text[:_TEXT_KEEP], m.occurred_at.timestamp(), s.negative if s else 1.0]
        if bucket is not None:
            self._evaluate(ch, wm, brand, alerts)

    def _set_removed(
        self,
        state: DeletionBiasState,
        mid: str,
        t: _Tracked,
        removed: bool,
        wm: float,
        brand: BrandView,
        alerts: list[Alert],
    ) -> None:
        t.removed = removed
        ch = self._channel(state, t.platform, t.channel, wm, brand, alerts)
        bucket = ch.days.get(t.day)
        if bucket is None:
            return  # its day left the window: the removal no longer counts
        i = _RN if t.negative else _RO
        step = 1 if removed else -1
        bucket[i] += step
        ch.totals[i] += step
        if removed and t.negative and t.info is not None:
            ch.examples.append([mid, *t.info])
            if len(ch.examples) > _EXAMPLES:
                del ch.examples[0]
        elif not removed and t.negative:
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
                now=_dt(now),
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
            status = calm(ch.episode, now=_dt(now), policy=self._policy)
            if status is not None:
                alerts.append(self._alert(ch, status, now, brand))

    # --- housekeeping --------------------------------------------------------------------------------------

    def _sweep(self, state: DeletionBiasState, now: float, brand: BrandView, alerts: list[Alert]) -> None:
        state.next_sweep = now + _SWEEP_S
        today = int(now // _DAY)
        # a mention whose day left the window can no longer count; first-seen order is expiry order
        horizon = now - (self.settings.window_days + 1) * _DAY
        tracked = state.tracked
        while tracked:
            k, t = next(iter(tracked.items()))
            if t.kept >= horizon:
                break
            del tracked[k]
        pending_horizon = now - self._pending_s
        while state.pending:
            k, (_, kept) = next(iter(state.pending.items()))
            if kept >= pending_horizon:
                break
            del state.pending[k]
        now_dt = _dt(now)
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
                    occurred_at=_dt(e[4]),
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
        window_start = _dt(first_day * _DAY)
        return to_alert(
            ep,
            status,
            window_start=window_start,
            window_end=max(_dt(now), window_start),
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
