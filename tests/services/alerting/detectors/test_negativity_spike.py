"""negativity_spike: distinct complainants against a learned seasonal baseline, windows + CUSUMs + share guard.

Unit tests use real ``ScoredMention`` events. The traffic tests (weeks of Poisson background with a daily
and weekly profile, seeded) feed hundreds of thousands of events, so they use light stand-ins with the
same attributes: building that many pydantic models would cost more than the detector itself.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from services.alerting.baseline import local_slot
from services.alerting.detectors.negativity_spike import (
    RING,
    NegativitySpikeDetector,
    NegativitySpikeSettings,
    NegativitySpikeState,
)
from services.alerting.types import BrandView, Observation
from shared.brands import BrandConfig
from shared.schemas import Alert, AlertKind, AlertStatus, EventType, Platform, Severity
from tests.factories import mention, scored

MONDAY = datetime(2026, 3, 2, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)
SPIKE, SURGE = AlertKind.NEGATIVITY_SPIKE, AlertKind.VOLUME_SURGE


# --- feeding -------------------------------------------------------------------------------------------------


def brand_view(tz: str = "UTC", name: str = "acme") -> BrandView:
    return BrandView(name, BrandConfig(timezone=tz, owned_channels={Platform.VK: ["vk:club_acme"]}))


class Feed:
    """One brand through one detector, with the engine's watermark rule (max event time so far)."""

    def __init__(self, det: NegativitySpikeDetector | None = None, tz: str = "UTC", **settings: Any) -> None:
        self.det = det or NegativitySpikeDetector(NegativitySpikeSettings(**settings))
        self.state: NegativitySpikeState = self.det.new_state()
        self.view = brand_view(tz)
        self.wm: datetime | None = None
        self.alerts: list[Alert] = []
        self.n = 0

    def event(self, obs_event: Any, *, negative: bool, owned: bool) -> list[Alert]:
        at = obs_event.mention.occurred_at
        self.wm = at if self.wm is None or at > self.wm else self.wm
        out = self.det.observe(self.state, Observation(obs_event, negative, owned, self.wm), self.view)
        self.alerts.extend(out)
        self.n += 1
        return out

    def post(
        self,
        at: datetime,
        author: str,
        *,
        negative: bool = True,
        channel: str = "vk:club_acme",
        owned: bool = True,
        mention_id: str | None = None,
        **kw: Any,
    ) -> list[Alert]:
        self.n += 1
        mid = mention_id or f"m{self.n}"
        m = mention(
            self.n,
            at=at,
            author_id=author,
            channel=channel,
            mention_id=mid,
            url=f"https://vk.com/{channel}?w={mid}",
            text=f"{'awful, nothing works' if negative else 'thanks'} ({author})",
            **kw,
        )
        label = "negative" if negative else "neutral"
        return self.event(scored(m, label), negative=negative and not m.author_is_brand, owned=owned)

    def advance(self, at: datetime) -> list[Alert]:
        if self.wm is not None and at <= self.wm:
            return []
        self.wm = at
        out = self.det.advance(self.state, at, self.view)
        self.alerts.extend(out)
        return out

    def firing(self, kind: AlertKind | None = None) -> list[Alert]:
        return [a for a in self.alerts if a.status is AlertStatus.FIRING and (kind is None or a.kind is kind)]


def quiet_history(feed: Feed, start: datetime, minutes: int, every: int = 6, neg_every: int = 4) -> datetime:
    """A calm stretch: one post every ``every`` minutes, every ``neg_every``-th of them negative."""
    for i in range(0, minutes, every):
        feed.post(start + i * MIN, f"calm{start.timestamp():.0f}-{i}", negative=(i // every) % neg_every == 0)
    return start + minutes * MIN


# --- light events for the traffic tests ----------------------------------------------------------------------


@dataclass(slots=True)
class _M:
    mention_id: str
    author_id: str
    platform: Platform
    channel: str
    occurred_at: datetime
    url: str
    text: str
    event_type: EventType = EventType.CREATED
    author_is_brand: bool = False


@dataclass(slots=True)
class _S:
    negative: float


@dataclass(slots=True)
class _E:
    mention: _M
    sentiment: _S


@dataclass(frozen=True)
class Profile:
    #: mean distinct complainants and other posts per minute over the week
    neg: float
    other: float
    #: daily swing (peak at 16:00 local) and weekend factor
    amp: float = 0.5
    weekend: float = 0.8
    #: share of posts by someone who already posted in the last hour
    repeat: float = 0.1
    #: (platform, channel, share, owned)
    channels: tuple[tuple[str, str, float, bool], ...] = (
        ("vk", "vk:club_acme", 0.5, True),
        ("telegram", "tg:acme_chat", 0.2, True),
        ("reviews", "otzovik:acme", 0.3, False),
    )

    def factor(self, minute: float) -> float:
        hour = (minute / 60.0) % 24
        day = int(minute // 1440) % 7
        f = 1 + self.amp * math.sin(2 * math.pi * (hour - 10) / 24)
        return f * (self.weekend if day >= 5 else 1.0)


BIG = Profile(neg=5.0, other=10.0)
SMALL = Profile(neg=2 / 60, other=6 / 60)


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:  # normal approximation is plenty for a background this busy
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def traffic(
    profile: Profile,
    start: float,
    end: float,
    seed: int,
    *,
    extra: tuple[float, float, float] | None = None,
    all_up: tuple[float, float, float] | None = None,
    tag: str = "",
) -> list[tuple[_E, bool, bool]]:
    """(event, negative, owned) for minutes [start, end) since MONDAY.

    ``extra=(from, to, multiplier)`` adds distinct complainants at (multiplier - 1) x the baseline rate;
    ``all_up=(from, to, multiplier)`` multiplies all volume, negative share unchanged.
    """
    rng = random.Random(seed)
    chans = profile.channels
    weights = [c[2] for c in chans]
    recent: list[str] = []
    out = []
    n = 0
    minute = start
    while minute < end:
        fac = profile.factor(minute)
        neg_rate, other_rate, add = profile.neg * fac, profile.other * fac, 0.0
        if extra and extra[0] <= minute < extra[1]:
            add = neg_rate * (extra[2] - 1)
        if all_up and all_up[0] <= minute < all_up[1]:
            neg_rate, other_rate = neg_rate * all_up[2], other_rate * all_up[2]
        batch = []
        for kind, lam in ((1, neg_rate), (0, other_rate), (2, add)):
            for _ in range(poisson(rng, lam)):
                n += 1
                if kind != 2 and recent and rng.random() < profile.repeat:
                    author = recent[rng.randrange(len(recent))]
                else:
                    author = f"{tag}s{seed}a{n}"
                    recent.append(author)
                    if len(recent) > 100:
                        del recent[0]
                platform, channel, _, owned = rng.choices(chans, weights)[0]
                batch.append((minute + rng.random(), kind != 0, author, platform, channel, owned, n))
        batch.sort()
        for t, neg, author, platform, channel, owned, i in batch:
            at = MONDAY + timedelta(minutes=t)
            mid = f"{tag}s{seed}m{i}"
            m = _M(mid, author, Platform(platform), channel, at, f"https://{platform}.example/{mid}", "text")
            out.append((_E(m, _S(0.9 if neg else 0.1)), neg, owned))
        minute += 1
    return out


def calm_until(feed: Feed, minutes: int, profile: Profile | None = None) -> datetime:
    """Continue the small brand's ordinary traffic for ``minutes`` after the history; the time it ends."""
    play(feed, traffic(profile or SMALL, HISTORY_END, HISTORY_END + minutes, seed=3, tag="c"))
    end = MONDAY + (HISTORY_END + minutes) * MIN
    feed.advance(end)
    return end


def merged(*streams: list[tuple[_E, bool, bool]]) -> list[tuple[_E, bool, bool]]:
    return sorted((e for st in streams for e in st), key=lambda x: x[0].mention.occurred_at)


def play(feed: Feed, events: list[tuple[_E, bool, bool]]) -> list[Alert]:
    out = []
    for e, neg, owned in events:
        out.extend(feed.event(e, negative=neg, owned=owned))
    return out


def snapshot(feed: Feed) -> dict[str, Any]:
    return json.loads(json.dumps(feed.det.dump_state(feed.state)))


def restored(data: dict[str, Any], det: NegativitySpikeDetector | None = None, wm: datetime | None = None) -> Feed:
    f = Feed(det or NegativitySpikeDetector())
    f.state = f.det.load_state(data)
    f.wm = wm
    return f


HISTORY_DAYS = 14
#: the histories run on to 10:00 on the third Monday, where the tests' own traffic continues them (a gap of
#: silence would itself be news to the baseline)
HISTORY_END = HISTORY_DAYS * 1440 + 10 * 60


@pytest.fixture(scope="module")
def big_history() -> tuple[dict[str, Any], list[Alert], datetime]:
    """Two weeks of a brand with ~5 complaints a minute, from a cold start."""
    feed = Feed()
    play(feed, traffic(BIG, 0, HISTORY_END, seed=1))
    feed.advance(MONDAY + HISTORY_END * MIN)
    return snapshot(feed), feed.alerts, MONDAY + HISTORY_END * MIN


@pytest.fixture(scope="module")
def small_history() -> tuple[dict[str, Any], list[Alert], datetime]:
    """Two weeks of a brand with ~2 complaints an hour, from a cold start."""
    feed = Feed()
    play(feed, traffic(SMALL, 0, HISTORY_END, seed=2))
    feed.advance(MONDAY + HISTORY_END * MIN)
    return snapshot(feed), feed.alerts, MONDAY + HISTORY_END * MIN


# --- settings and contract -----------------------------------------------------------------------------------


def test_settings_defaults_and_validation():
    s = NegativitySpikeSettings()
    assert s.p_value == 1e-4 and s.min_authors == 3 and s.min_ratio == 2.0
    assert s.windows_minutes == (2, 5, 15, 60)
    assert NegativitySpikeSettings(windows_minutes=(60, 5, 5)).windows_minutes == (5, 60)
    with pytest.raises(ValueError):
        NegativitySpikeSettings(windows_minutes=(90,))
    with pytest.raises(ValueError):
        NegativitySpikeSettings(p_valu=1e-3)  # typo: unknown keys are refused
    det = NegativitySpikeDetector()
    assert det.name == "negativity_spike"
    assert det.kinds == (AlertKind.NEGATIVITY_SPIKE, AlertKind.VOLUME_SURGE)
    assert det.Settings is NegativitySpikeSettings


def test_load_state_refuses_unknown_versions_and_garbage():
    det = NegativitySpikeDetector()
    feed = Feed(det)
    quiet_history(feed, MONDAY, 30)
    data = snapshot(feed)
    assert det.load_state(data) is not None
    with pytest.raises(ValueError, match="version"):
        det.load_state({**data, "version": 99})
    with pytest.raises(ValueError):
        det.load_state({**data, "brand": {"neg": [1, 2]}})
    with pytest.raises(ValueError):
        det.load_state("nope")  # type: ignore[arg-type]
    # the parts that point into each other must agree
    for broken in (
        {**data, "authors": []},  # the brand's authors are the table's start: none left to point at
        {**data, "examples": []} if any(data["brand"][17]) else {**data, "brand": data["brand"][:-1]},
        {**data, "brand": [*data["brand"][:15], [[0] * 60] * 3, *data["brand"][16:]]},  # 3 rings of 4
    ):
        with pytest.raises(ValueError):
            det.load_state(broken)
    empty = det.dump_state(det.new_state())
    assert det.load_state(json.loads(json.dumps(empty))).cur is None


def test_disabled_detector_stays_silent():
    feed = Feed(enabled=False, warmup_minutes=0)
    for i in range(30):
        feed.post(MONDAY + i * timedelta(seconds=2), f"u{i}")
    assert feed.alerts == [] and feed.state.cur is None


# --- cold start ----------------------------------------------------------------------------------------------


def test_a_new_brand_learns_before_it_alerts():
    feed = Feed()
    # a big brand's ordinary first half hour: 8 complainants a minute
    for minute in range(29):
        for j in range(8):
            feed.post(MONDAY + minute * MIN + j * 7 * timedelta(seconds=1), f"a{minute}-{j}")
    assert feed.alerts == []  # no prior can tell this from a wave: the warm-up only learns
    # ...after which the same rate is normal, not a spike
    for minute in range(29, 90):
        for j in range(8):
            feed.post(MONDAY + minute * MIN + j * 7 * timedelta(seconds=1), f"a{minute}-{j}")
    assert feed.firing() == []


def test_cold_start_uses_a_weak_prior_not_a_threshold():
    # without a warm-up the prior (0.2 complainants a minute, weight of 10 minutes) is all there is
    feed = Feed(warmup_minutes=0)
    for i in range(3):
        feed.post(MONDAY + i * 4 * timedelta(seconds=1), f"u{i}")
    assert feed.firing() == []  # 3 people in 10 seconds where the prior says 0.2 a minute: could be chance
    for i in range(3, 8):
        feed.post(MONDAY + i * 4 * timedelta(seconds=1), f"u{i}")
    fired = feed.firing(SPIKE)
    assert len(fired) == 1
    assert fired[0].evidence.baseline == "prior"
    assert 5 <= fired[0].evidence.observed <= 8
    # the prior is weak: minutes like these quickly become what is expected
    feed2 = Feed(warmup_minutes=0)
    for minute in range(20):
        for j in range(4):
            feed2.post(MONDAY + minute * MIN + j * 15 * timedelta(seconds=1), f"v{minute}-{j}")
    b = feed2.state.brand
    assert b is not None and b.est.mean > 2.0


# --- distinct people -----------------------------------------------------------------------------------------


def test_one_furious_customer_posting_ten_times_is_one_complainant():
    feed = Feed()
    t = quiet_history(feed, MONDAY, 180)
    for i in range(10):
        feed.post(t + i * 30 * timedelta(seconds=1), "angry")
    for i in range(10):  # and again, spread over ten minutes
        feed.post(t + 5 * MIN + i * MIN, "angry")
    feed.advance(t + 60 * MIN)
    assert feed.alerts == []
    b = feed.state.brand
    assert b is not None and max(b.neg) == 1  # one person, in the minute they were last seen


def test_many_people_posting_together_fire_with_evidence():
    feed = Feed()
    t = quiet_history(feed, MONDAY + 8 * 60 * MIN, 180)
    out = []
    for i in range(12):
        out += feed.post(t + i * 8 * timedelta(seconds=1), f"wave{i}", channel="vk:club_acme")
        out += feed.post(t + i * 8 * timedelta(seconds=1) + timedelta(seconds=1), f"wave{i}")  # same person again
    fired = [a for a in out if a.status is AlertStatus.FIRING]
    assert len(fired) == 1
    a = fired[0]
    assert a.kind is SPIKE and a.brand == "acme" and a.channel is None and a.sequence == 0
    ev = a.evidence
    assert ev.p_value is not None and ev.p_value <= 1e-4
    assert ev.observed is not None and ev.expected is not None and ev.observed >= 2 * ev.expected
    assert ev.baseline in ("flat", "hour_of_day")
    assert ev.counts["distinct_negative_authors"] == int(ev.observed)
    assert ev.counts["negative_mentions"] >= ev.counts["distinct_negative_authors"]
    assert ev.counts["window_minutes"] in (1, 2, 5)
    assert ev.top_channels and next(iter(ev.top_channels)) == "vk:club_acme"
    assert 3 <= len(ev.mentions) <= 10
    assert len({m.author_id for m in ev.mentions}) == len(ev.mentions)  # one example per person
    assert all(m.url and m.url.startswith("https://vk.com/") for m in ev.mentions)
    assert ev.mention_ids == [m.mention_id for m in ev.mentions]
    assert a.window_start <= a.started_at <= a.window_end
    assert (a.window_end - a.window_start) <= timedelta(minutes=ev.counts["window_minutes"] + 1)
    assert "people complained" in a.message and "expected" in a.message and "p < 1e-" in a.message
    assert "answer publicly" in a.message


def test_the_brand_s_own_posts_and_lifecycle_events_never_count():
    feed = Feed(warmup_minutes=0)
    t = MONDAY
    for i in range(20):
        feed.post(t + i * 3 * timedelta(seconds=1), "brand", author_is_brand=True)
    for i in range(20):
        feed.post(t + i * 3 * timedelta(seconds=1), f"gone{i}", event_type="deleted")
    assert feed.alerts == []
    b = feed.state.brand
    assert b is not None and sum(b.neg) == 0 and sum(b.allb) == 0


# --- duplicates, late and out-of-order events ----------------------------------------------------------------


def spike_scenario(feed: Feed, deliver: int = 1) -> None:
    t = quiet_history(feed, MONDAY + 9 * 60 * MIN, 240)
    events = []
    for i in range(30):
        at = t + i * 6 * timedelta(seconds=1)
        m = mention(10_000 + i, at=at, author_id=f"w{i}", channel="vk:club_acme", url=f"https://vk.com/w{i}")
        events.append(scored(m, "negative"))
    for e in events:
        for _ in range(deliver):
            feed.event(e, negative=True, owned=True)
    for e in events[:10]:  # a redelivery of part of the batch, later
        feed.event(e, negative=True, owned=True)
    feed.advance(t + 120 * MIN)


def test_duplicate_events_change_nothing():
    once, twice = Feed(), Feed()
    spike_scenario(once, 1)
    spike_scenario(twice, 2)
    assert once.firing(SPIKE)
    assert [a.model_dump() for a in once.alerts] == [a.model_dump() for a in twice.alerts]


def test_late_events_within_the_hour_count_and_older_ones_are_ignored():
    feed = Feed()
    t = quiet_history(feed, MONDAY + 9 * 60 * MIN, 240)
    # three complainants now: not enough at this brand
    for i in range(3):
        feed.post(t + i * 10 * timedelta(seconds=1), f"now{i}")
    assert feed.firing() == []
    # more people's posts arrive late (dated a minute earlier, behind the watermark): they count
    fired = []
    for i in range(3):
        late = feed.post(t - MIN + (30 + i) * timedelta(seconds=1), f"late{i}", mention_id=f"late-{i}")
        fired = [a for a in late if a.status is AlertStatus.FIRING]
        if fired:
            break
    assert len(fired) == 1 and fired[0].evidence.observed == 4 + i
    assert f"late-{i}" in fired[0].evidence.mention_ids
    assert fired[0].window_start <= t - MIN
    # an event from two hours ago changes nothing (older than every window)
    before = snapshot(feed)
    feed.post(t - 120 * MIN, "ancient")
    after = snapshot(feed)
    after["seen"] = before["seen"]
    assert after == before


def test_out_of_order_within_the_window_counts_each_person_once():
    feed = Feed()
    t = quiet_history(feed, MONDAY + 9 * 60 * MIN, 240)
    order = [3, 1, 4, 0, 2, 5, 7, 6]
    for k in order:
        feed.post(t + k * 7 * timedelta(seconds=1), f"p{k}")
        feed.post(t + (k * 7 - 3) * timedelta(seconds=1), f"p{k}")  # the same person a bit earlier, late
    fired = feed.firing(SPIKE)
    assert len(fired) == 1
    b = feed.state.brand
    assert b is not None and sum(b.neg) <= 8 + 60  # at most one bucket entry per person


# --- the incident's life -------------------------------------------------------------------------------------


def burst(feed: Feed, at: datetime, n: int, tag: str, spacing_s: int = 5) -> list[Alert]:
    out = []
    for i in range(n):
        out += feed.post(at + i * spacing_s * timedelta(seconds=1), f"{tag}{i}")
    return out


def test_an_incident_resolves_after_the_quiet_period_on_idle_time():
    feed = Feed()
    t = quiet_history(feed, MONDAY + 9 * 60 * MIN, 240)
    during = burst(feed, t, 12, "b")
    fired = feed.firing(SPIKE)
    assert len(fired) == 1
    assert all(a.status is not AlertStatus.RESOLVED for a in during)
    # nothing more arrives: only the idle policy moves time
    for k in range(1, 60):
        feed.advance(t + k * MIN)
    resolved = [a for a in feed.alerts if a.status is AlertStatus.RESOLVED]
    assert len(resolved) == 1
    r = resolved[0]
    assert r.alert_id == fired[0].alert_id and r.sequence > fired[0].sequence
    # the wave's windows drain within 15 minutes, then 15 quiet minutes
    assert timedelta(minutes=15) <= r.window_end - t <= timedelta(minutes=32)
    assert "back to normal" in r.message
    assert feed.det.active(feed.state) == 0
    # one big jump of idle time resolves it the same way
    jump = Feed()
    t2 = quiet_history(jump, MONDAY + 9 * 60 * MIN, 240)
    burst(jump, t2, 12, "b")
    k = len(jump.alerts)
    jump.advance(t2 + 3 * 60 * MIN)
    assert [a.status for a in jump.alerts[k:]] == [AlertStatus.RESOLVED]
    assert jump.alerts[-1].window_end == r.window_end - t + t2  # resolved at the same minute


def test_flapping_reopens_the_same_incident_and_a_later_wave_is_a_new_one():
    feed = Feed()
    t = quiet_history(feed, MONDAY + 9 * 60 * MIN, 240)
    burst(feed, t, 12, "a")
    feed.advance(t + 40 * MIN)
    first = [a for a in feed.alerts if a.kind is SPIKE]
    assert first[0].status is AlertStatus.FIRING and first[-1].status is AlertStatus.RESOLVED
    assert len({a.alert_id for a in first}) == 1
    # back within the 30-minute cooldown: the same incident, reopened
    again = burst(feed, t + 45 * MIN, 12, "b")
    reopened = [a for a in again if a.kind is SPIKE]
    assert reopened and all(a.status is AlertStatus.UPDATED for a in reopened)
    assert {a.alert_id for a in reopened} == {first[0].alert_id}
    assert reopened[0].sequence == first[-1].sequence + 1
    feed.advance(t + 200 * MIN)
    # long after: a new incident with its own id
    later = burst(feed, t + 300 * MIN, 12, "c")
    new = [a for a in later if a.status is AlertStatus.FIRING]
    assert len(new) == 1 and new[0].alert_id != first[0].alert_id
    ids = {a.alert_id for a in feed.alerts}
    assert len(ids) == 2


def test_escalation_re_notifies_only_when_the_wave_doubles_or_turns_critical():
    feed = Feed()
    t = quiet_history(feed, MONDAY + 9 * 60 * MIN, 240)
    out = []
    # a wave that keeps growing: 1, 2, 4, 8 ... people every few seconds
    n = 0
    for step in range(6):
        for _ in range(2**step):
            out += feed.post(t + n * 2 * timedelta(seconds=1), f"g{n}")
            n += 1
    statuses = [(a.status, a.severity) for a in out]
    assert statuses[0][0] is AlertStatus.FIRING
    updates = [s for s in statuses if s[0] is AlertStatus.UPDATED]
    assert 1 <= len(updates) <= 5  # a few notifications for 63 people, not one per post
    assert statuses[-1][1] is Severity.CRITICAL
    assert len({a.alert_id for a in out}) == 1
    # a plateau at the same level brings no news
    k = len(feed.alerts)
    for i in range(20):
        feed.post(t + 3 * MIN + i * 9 * timedelta(seconds=1), f"plateau{i}")
    assert all(a.status is not AlertStatus.UPDATED for a in feed.alerts[k:])


# --- scopes --------------------------------------------------------------------------------------------------


def test_a_wave_on_an_owned_channel_alerts_on_that_channel():
    feed = Feed()
    t = MONDAY + 9 * 60 * MIN
    # the brand is busy elsewhere (a review site: 3 complaints a minute), its own VK club is calm
    for minute in range(240):
        for j in range(3):
            feed.post(
                t + minute * MIN + j * 19 * timedelta(seconds=1), f"r{minute}-{j}", channel="otzovik:acme", owned=False
            )
        if minute % 20 == 0:
            feed.post(t + minute * MIN + timedelta(seconds=30), f"vk{minute}", channel="vk:club_acme")
    t += 240 * MIN
    out = []
    for i in range(8):
        out += feed.post(t + i * 6 * timedelta(seconds=1), f"club{i}", channel="vk:club_acme")
        for j in range(1):
            out += feed.post(t + i * 6 * timedelta(seconds=1), f"rr{i}-{j}", channel="otzovik:acme", owned=False)
    fired = [a for a in out if a.status is AlertStatus.FIRING]
    assert len(fired) == 1
    a = fired[0]
    assert a.channel == "vk:club_acme" and a.platform is Platform.VK
    assert a.evidence.top_channels == {"vk:club_acme": a.evidence.counts["negative_mentions"]}
    assert all(m.channel == "vk:club_acme" for m in a.evidence.mentions)
    assert "acme on vk:club_acme" in a.message


def test_a_brand_wide_incident_covers_its_channels():
    feed = Feed()
    t = quiet_history(feed, MONDAY + 9 * 60 * MIN, 240)
    burst(feed, t, 25, "x")  # all on the owned channel: both scopes see it
    assert [(a.kind, a.channel) for a in feed.firing()] == [(SPIKE, None)]
    feed.advance(t + 180 * MIN)
    assert {a.channel for a in feed.alerts} == {None}


def test_tracked_channels_are_capped_least_recently_active_first():
    feed = Feed(max_channels=3)
    for i, ch in enumerate(["c1", "c2", "c3", "c4", "c1", "c5"]):
        feed.post(MONDAY + i * MIN, f"u{i}", channel=ch, negative=False)
    chans = feed.state.channels
    assert len(chans) == 3
    assert {k.split(":", 1)[1] for k in chans} == {"c4", "c1", "c5"}


def test_the_baseline_runs_on_the_brand_s_local_hours():
    feed = Feed(tz="Asia/Tokyo")
    feed.post(MONDAY + 3 * 60 * MIN, "u1", negative=False)  # 03:00 UTC is 12:00 in Tokyo
    b = feed.state.brand
    assert b is not None and b.slot == 12
    assert local_slot(b.cur, "Asia/Tokyo")[0] == 12


# --- bounded state -------------------------------------------------------------------------------------------


def test_state_stays_bounded_under_heavy_traffic():
    feed = Feed(max_authors=500, max_channels=5)
    rng = random.Random(9)
    t = MONDAY
    for minute in range(200):
        for j in range(40):
            ch = f"ch{rng.randrange(12)}"
            feed.post(
                t + minute * MIN + j * timedelta(seconds=1), f"u{minute}-{j}", channel=ch, negative=rng.random() < 0.3
            )
    st = feed.state
    assert len(st.channels) <= 5
    assert len(st.seen) <= 500
    # authors seen only long ago leave the maps (within two hours), not only when they fill up
    loose = Feed()
    for minute in range(300):
        loose.post(t + minute * MIN, f"once{minute}", negative=minute % 2 == 0)
    assert loose.state.brand is not None and len(loose.state.brand.all_last) <= 120
    for sc in [st.brand, *st.channels.values()]:
        assert sc is not None
        assert len(sc.neg_last) <= 500 and len(sc.all_last) <= 500
        assert len(sc.examples) <= 20 and len(sc.episodes) <= 2
        assert all(len(r) == RING for r in (sc.neg, sc.new, sc.ment, sc.allb))
        assert all(v >= 0 for v in sc.neg)
    assert len(json.dumps(feed.det.dump_state(st))) < 2_000_000
    # resolved episodes leave the state once their cooldown is over
    feed.advance(t + 24 * 60 * MIN)
    assert all(not sc.episodes for sc in [st.brand, *st.channels.values()] if sc is not None)


def test_snapshots_are_compact(small_history, big_history):
    # two weeks: the baseline's floats (exact) are most of a small brand's snapshot; a busy one adds the hour's
    # authors and examples (the state of v1 of this format was 24 KB and 116 KB)
    assert len(json.dumps(small_history[0])) < 12_000
    assert len(json.dumps(big_history[0])) < 60_000


def test_authors_gone_for_an_hour_leave_the_snapshot_and_count_the_same_when_back():
    feed = Feed()
    t = quiet_history(feed, MONDAY, 120)  # 02:00
    # last seen at 02:30: stale from 03:30, yet still in memory until the sweep at 04:00
    feed.post(t + 30 * MIN, "old-timer")
    feed.post(t + 30 * MIN + 30 * timedelta(seconds=1), "old-timer", negative=False)
    for i in range(62):
        feed.post(t + (31 + i) * MIN, f"other{i}", negative=i % 3 == 0)
    data = snapshot(feed)
    table = data["authors"] if isinstance(data["authors"], list) else data["authors"].split(" ")
    assert "vk:old-timer" not in table and "vk:other61" in table
    assert feed.state.brand is not None and "vk:old-timer" in feed.state.brand.all_last
    back = restored(data, wm=feed.wm)
    for f in (feed, back):
        f.post(t + 92 * MIN + 10 * timedelta(seconds=1), "old-timer", mention_id="back-1")
        f.post(t + 92 * MIN + 15 * timedelta(seconds=1), "newcomer", mention_id="new-1")
    assert back.state.brand is not None and feed.state.brand is not None
    assert back.state.brand.neg == feed.state.brand.neg and back.state.brand.new == feed.state.brand.new
    # the maps grow alike, so the next snapshots are the same too
    assert snapshot(back) == snapshot(feed)


def test_a_restored_state_shares_nothing_with_its_snapshot(big_history):
    data, _, wm = big_history
    before = json.dumps(data)
    feed = restored(data, wm=wm)
    play(feed, traffic(BIG, HISTORY_END, HISTORY_END + 30, seed=21, tag="u"))
    assert json.dumps(data) == before


# --- traffic: false alarms, detection, share guard, build-ups ------------------------------------------------


def test_two_weeks_of_a_busy_brand_raise_at_most_half_a_false_alert_per_week(big_history):
    _, alerts, _ = big_history
    fired = [a for a in alerts if a.status is AlertStatus.FIRING]
    assert len(fired) / (HISTORY_END / 1440 / 7) <= 0.5, [a.message for a in fired]


def test_two_weeks_of_a_small_brand_raise_at_most_half_a_false_alert_per_week(small_history):
    _, alerts, _ = small_history
    fired = [a for a in alerts if a.status is AlertStatus.FIRING]
    assert len(fired) / (HISTORY_END / 1440 / 7) <= 0.5, [a.message for a in fired]


def test_3x_waves_at_a_busy_brand_are_caught_within_about_two_minutes(big_history):
    # 5-7.5 complaints a minute at these hours. Telling 3x from chance with under 0.1 false alarms a week
    # takes ~12 nats of evidence, which such a wave gathers in ~1.3-1.8 minutes on average: most waves are
    # caught within 2 minutes, the unlucky ones a little later.
    data, _, wm = big_history
    delays = []
    for k, hour in enumerate([11, 12, 13, 14, 15, 16, 17]):
        feed = restored(data, wm=wm)
        start = HISTORY_DAYS * 1440 + hour * 60  # the third Monday
        wave = traffic(BIG, HISTORY_END, start + 40, seed=100 + k, extra=(start, start + 30, 3.0), tag="w")
        alerts = play(feed, wave)
        fired = [a for a in alerts if a.status is AlertStatus.FIRING]
        assert fired, f"missed the wave at {hour}:00"
        assert len(fired) == 1 and fired[0].kind is SPIKE and fired[0].channel is None
        assert fired[0].started_at >= MONDAY + start * MIN, "fired before the wave"
        delays.append((fired[0].started_at - (MONDAY + start * MIN)) / MIN)
        # it resolves once the wave is over, under the same id
        feed.advance(MONDAY + (start + 120) * MIN)
        resolved = [a for a in feed.alerts if a.status is AlertStatus.RESOLVED]
        assert resolved and resolved[-1].alert_id == fired[0].alert_id
    print(f"\n3x waves at 11:00..17:00, minutes to the first alert: {[round(d, 2) for d in delays]}")
    assert sorted(delays)[len(delays) // 2] <= 2.0
    assert sum(d <= 2.0 for d in delays) >= 5
    assert max(delays) <= 3.5


def test_a_small_brand_s_burst_of_four_people_is_caught(small_history):
    data, _, wm = small_history
    feed = restored(data, wm=wm)
    t = calm_until(feed, 30)  # 10:30 on the third Monday
    out = burst(feed, t, 4, "b", spacing_s=20)  # four people within a minute, on the brand's VK club
    fired = [a for a in out if a.status is AlertStatus.FIRING]
    # one incident: the club's (three people there are already rare), which the brand scope defers to
    assert len(fired) == 1, [a.message for a in fired]
    assert 3 <= fired[0].evidence.observed <= 4
    assert fired[0].evidence.expected is not None and fired[0].evidence.expected < 0.2


def test_a_small_brand_s_three_people_are_below_the_statistical_floor(small_history):
    # ~2 complaints an hour: three people within five minutes happen several times a week by chance
    data, _, wm = small_history
    feed = restored(data, wm=wm)
    t = calm_until(feed, 30)
    assert burst(feed, t, 3, "b", spacing_s=60) == []


def test_ten_posts_by_one_author_do_not_fire_at_a_small_brand(small_history):
    data, _, wm = small_history
    feed = restored(data, wm=wm)
    t = calm_until(feed, 30)
    for i in range(10):
        feed.post(t + i * 15 * timedelta(seconds=1), "one")
    feed.advance(t + 90 * MIN)
    assert feed.alerts == []


def test_all_volume_tripling_with_a_steady_negative_share_is_a_volume_surge(big_history):
    data, _, wm = big_history
    feed = restored(data, wm=wm)
    start = HISTORY_DAYS * 1440 + 14 * 60
    alerts = play(feed, traffic(BIG, HISTORY_END, start + 40, seed=7, all_up=(start, start + 30, 3.0), tag="v"))
    fired = [a for a in alerts if a.status is AlertStatus.FIRING]
    assert fired and {a.kind for a in fired} == {SURGE}, [a.message for a in fired]
    surge = fired[0]
    assert surge.severity in (Severity.INFO, Severity.WARNING)
    assert surge.evidence.counts["distinct_authors"] > surge.evidence.counts["distinct_negative_authors"]
    assert "not a wave of complaints" in surge.message
    feed.advance(MONDAY + (start + 150) * MIN)
    assert [a.status for a in feed.alerts if a.kind is SURGE][-1] is AlertStatus.RESOLVED


def test_a_slow_1_6x_build_up_is_caught_by_the_cusum_sooner_than_by_the_windows(big_history):
    # 1.6x never reaches the windows' 2x on average; at this volume they only catch it when noise lifts one
    # window to 2x, which takes a while. The CUSUM adds the evidence up.
    data, _, wm = big_history
    start = HISTORY_DAYS * 1440 + 12 * 60
    windows_only = NegativitySpikeDetector(NegativitySpikeSettings(fast_cusum_ratio=0, cusum_h=1e9))
    late: dict[str, list[float]] = {"windows": [], "full": []}
    by_cusum = 0
    for seed in range(20, 26):
        wave = traffic(BIG, HISTORY_END, start + 90, seed=seed, extra=(start, start + 90, 1.6), tag="s")
        for name, det in (("windows", windows_only), ("full", None)):
            feed = restored(data, det, wm)
            fired = [a for a in play(feed, wave) if a.status is AlertStatus.FIRING]
            assert all(a.started_at >= MONDAY + start * MIN for a in fired), "fired before the wave"
            delay = (fired[0].started_at - (MONDAY + start * MIN)) / MIN if fired else 120.0
            late[name].append(delay)
            if name == "full" and fired and fired[0].evidence.score is not None:
                a = fired[0]
                by_cusum += 1
                assert a.kind is SPIKE and a.evidence.p_value is None and a.evidence.score >= 12.0
                assert a.evidence.observed is not None and a.evidence.expected is not None
                assert 1.2 < a.evidence.observed / a.evidence.expected < 2.5
                assert "building up" in a.message
    print(f"\n1.6x for 90 min, minutes to the first alert: windows only {late['windows']}, with CUSUMs {late['full']}")
    assert max(late["full"]) <= 60
    assert by_cusum >= 3  # most of them found by the CUSUM, not by a lucky window
    assert sum(late["full"]) < sum(late["windows"])


def test_minutes_inside_an_incident_are_not_learned(big_history):
    data, _, wm = big_history
    start = HISTORY_DAYS * 1440 + 11 * 60
    wave = traffic(BIG, HISTORY_END, start + 120, seed=12, extra=(start, start + 120, 4.0), tag="k")
    runs = {}
    for name, det in (
        ("guarded", None),
        ("learning", NegativitySpikeDetector(NegativitySpikeSettings(learn_after_minutes=1))),
    ):
        feed = restored(data, det, wm)
        play(feed, wave)
        b = feed.state.brand
        assert b is not None
        runs[name] = (b.rates.estimate(0, b.slot, 0.2, 10.0).mean, feed)
    guarded, learning = runs["guarded"], runs["learning"]
    # two hours of a 4x wave: kept out of the baseline, the incident holds; learned, the wave starts
    # to look normal
    assert learning[0] > 1.3 * guarded[0]
    spikes = [a for a in guarded[1].alerts if a.kind is SPIKE]
    assert spikes[0].status is AlertStatus.FIRING
    assert all(a.status is not AlertStatus.RESOLVED for a in spikes)
    assert spikes[-1].severity is Severity.CRITICAL  # 4x over two hours: far more than 50 extra people


def test_a_wave_local_to_one_channel_of_a_busy_brand_is_that_channel_s_incident(big_history):
    data, _, wm = big_history
    feed = restored(data, wm=wm)
    start = HISTORY_DAYS * 1440 + 11 * 60
    chat_only = Profile(neg=3.0, other=0.0, channels=(("telegram", "tg:acme_chat", 1.0, True),))
    alerts = play(
        feed,
        merged(traffic(BIG, HISTORY_END, start + 30, seed=13, tag="l"), traffic(chat_only, start, start + 15, seed=14)),
    )
    fired = [a for a in alerts if a.status is AlertStatus.FIRING]
    assert fired and fired[0].channel == "tg:acme_chat" and fired[0].platform is Platform.TELEGRAM
    assert all(m.channel == "tg:acme_chat" for m in fired[0].evidence.mentions)


# --- restore -------------------------------------------------------------------------------------------------


def dumped_alerts(alerts: list[Alert]) -> list[dict[str, Any]]:
    return [a.model_dump(mode="json") for a in alerts]


@pytest.mark.parametrize("every", [97, 1000])
def test_snapshot_json_restore_every_k_events_gives_the_same_alerts(every):
    # a day and a half of a mid-size brand, a wave, a volume surge, a slow build-up and idle stretches
    profile = Profile(neg=1.0, other=3.0)
    events = traffic(profile, 0, 2160, seed=5)
    events += traffic(profile, 2160, 2400, seed=6, extra=(2200, 2230, 4.0), tag="x")
    events += traffic(profile, 2400, 2640, seed=7, all_up=(2450, 2480, 4.0), tag="y")
    # a wave on the Telegram chat alone, on top of ordinary traffic
    chat_only = Profile(neg=0.2, other=0.0, channels=(("telegram", "tg:acme_chat", 1.0, True),))
    events += merged(traffic(profile, 2640, 2700, seed=9, tag="q"), traffic(chat_only, 2660, 2680, seed=10, tag="r"))
    events += traffic(profile, 2700, 2900, seed=8, extra=(2720, 2880, 1.8), tag="z")
    straight = Feed()
    chopped = Feed()
    for i, (e, neg, owned) in enumerate(events):
        straight.event(e, negative=neg, owned=owned)
        chopped.event(e, negative=neg, owned=owned)
        if i % every == every - 1:
            chopped.state = chopped.det.load_state(snapshot(chopped))
        if i % 2000 == 0:  # idle ticks now and then
            at = e.mention.occurred_at + timedelta(seconds=20)
            straight.advance(at)
            chopped.advance(at)
    end = MONDAY + 3000 * MIN
    straight.advance(end)
    chopped.state = chopped.det.load_state(snapshot(chopped))
    chopped.advance(end)
    assert straight.firing(SPIKE), "the scenario must raise alerts to compare"
    assert any(a.channel == "tg:acme_chat" for a in straight.alerts), "and a channel incident"
    assert straight.firing(SURGE), "and a volume surge"
    assert dumped_alerts(straight.alerts) == dumped_alerts(chopped.alerts)
    assert snapshot(straight) == snapshot(chopped)


# --- speed (printed, not asserted) ---------------------------------------------------------------------------


def test_observe_throughput_is_printed(big_history):
    data, _, wm = big_history
    start = HISTORY_DAYS * 1440
    events = traffic(BIG, start, start + 9 * 1440, seed=11, tag="t")[:200_000]
    feed = restored(data, wm=wm)
    obs = []
    for e, neg, owned in events:
        feed.wm = e.mention.occurred_at if e.mention.occurred_at > feed.wm else feed.wm
        obs.append(Observation(e, neg, owned, feed.wm))  # type: ignore[arg-type]
    det, state, view = feed.det, feed.state, feed.view
    t0 = time.process_time()
    for o in obs:
        det.observe(state, o, view)
    dt = time.process_time() - t0
    print(
        f"\nnegativity_spike.observe: {len(obs)} events in {dt:.2f} s CPU = {len(obs) / dt:,.0f} events/s "
        f"({dt / len(obs) * 1e6:.1f} us/event; brand ~5 complaints + 10 posts a minute, 2 owned channels)"
    )


def test_a_channel_s_long_wave_is_not_paged_again_brand_wide_once_it_ends(small_history):
    # Six hours of a wave in the brand's Telegram chat: the chat's incident reports it and the brand scope
    # defers to it. The brand's CUSUMs counted the same people; kept, they stayed above the alarm level after
    # the wave ended, and once the chat no longer held most of the last hour the brand paged the same wave
    # again as a "build-up" at 18:58, 2.5 h after it ended (make eval-alerts counted two such false alerts,
    # at tinyshop and fjord). Restarted at each deferral, they do not.
    data, _, wm = small_history
    feed = restored(data, wm=wm)
    start = HISTORY_END + 30
    club = Profile(neg=0.3, other=0.0, amp=0.0, channels=(("telegram", "tg:acme_chat", 1.0, True),))
    play(
        feed,
        merged(
            traffic(SMALL, HISTORY_END, start + 600, seed=31, tag="w"),
            traffic(club, start, start + 360, seed=32, tag="club"),
        ),
    )
    feed.advance(MONDAY + (start + 720) * MIN)
    fired = feed.firing(SPIKE)
    assert [a.channel for a in fired] == ["tg:acme_chat"], [a.message for a in fired]
    assert fired[0].started_at < MONDAY + (start + 60) * MIN
    # and the chat's incident ends with its wave: its own capped CUSUM, falling by the chat's tiny expected
    # rate a minute, used to keep it open for the rest of the day
    resolved = [a for a in feed.alerts if a.status is AlertStatus.RESOLVED]
    assert [a.alert_id for a in resolved] == [fired[0].alert_id]
    assert MONDAY + (start + 360) * MIN <= resolved[0].window_end <= MONDAY + (start + 360 + 90) * MIN


def test_a_gentle_wave_s_incident_stays_open_while_it_runs_and_resolves_after_it(big_history):
    """1.6x for three hours at a busy brand sits near the CUSUM's break-even: its statistic random-walks to
    zero and the windows need 2x, so nothing held for 15 minutes now and then and the incident resolved
    mid-wave, reopening minutes later (5 of these 6 seeds did). An open incident now stays open while its
    last hour and last half hour still run at >= 1.4x expected, significantly (the two tests below bound
    what that costs a burst and a plateau)."""
    data, _, wm = big_history
    start = HISTORY_DAYS * 1440 + 12 * 60
    end = start + 180
    after: list[float] = []
    for seed in range(40, 46):
        # the ordinary traffic goes on for two hours after the wave
        feed = restored(data, None, wm)
        play(feed, traffic(BIG, HISTORY_END, end + 120, seed=seed, extra=(start, end, 1.6), tag="g"))
        feed.advance(MONDAY + (end + 120) * MIN)
        brand_wide = [a for a in feed.alerts if a.kind is SPIKE and a.channel is None]
        assert brand_wide and brand_wide[0].status is AlertStatus.FIRING, f"seed {seed}: not caught"
        assert brand_wide[0].started_at >= MONDAY + start * MIN
        resolved = [a for a in brand_wide if a.status is AlertStatus.RESOLVED]
        assert len(resolved) == 1 and len({a.alert_id for a in brand_wide}) == 1, f"seed {seed}: flapped"
        assert resolved[0].window_end > MONDAY + end * MIN, f"seed {seed}: resolved while the wave ran"
        after.append((resolved[0].window_end - MONDAY - end * MIN) / MIN)
    print(f"\n1.6x for 3 h: minutes from the wave's end to the resolution: {after}")
    assert max(after) <= 60


def _brand_spikes(data, wm, phases: list[tuple[int, int, float]], until: int, seed: int) -> list[Alert]:
    """The brand-wide spike alerts of traffic made of ``phases`` (from, to, multiplier of the complaints)."""
    feed = restored(data, None, wm)
    streams = [
        traffic(BIG, a, b, seed=seed * 10 + i, extra=(a, b, m), tag=f"p{i}") for i, (a, b, m) in enumerate(phases)
    ]
    play(feed, merged(*streams))
    feed.advance(MONDAY + until * MIN)
    return [a for a in feed.alerts if a.kind is SPIKE and a.channel is None]


def test_a_twenty_minute_burst_still_resolves_within_the_hour_after_it(big_history):
    """The hold looks at the last half hour, so a burst that fills much of it holds its incident a while
    after it ends (about 43 minutes here, against about 27 without the hold); bounded, never hours."""
    data, _, wm = big_history
    s = HISTORY_DAYS * 1440 + 12 * 60
    for seed in range(3):
        out = _brand_spikes(data, wm, [(HISTORY_END, s, 1.0), (s, s + 20, 5.0), (s + 20, s + 180, 1.0)], s + 180, seed)
        resolved = [a for a in out if a.status is AlertStatus.RESOLVED]
        assert out[0].status is AlertStatus.FIRING and len(resolved) == 1
        assert MONDAY + (s + 20) * MIN < resolved[0].window_end <= MONDAY + (s + 20 + 50) * MIN


def test_a_plateau_just_above_normal_after_a_spike_does_not_hold_its_incident(big_history):
    """3x for half an hour, then 1.3x for twelve hours: the spike's incident ends within the hour after
    the 3x part, as it did before the hold; a plateau must not hold it (and swallow later news) for hours."""
    data, _, wm = big_history
    s = HISTORY_DAYS * 1440 + 12 * 60
    phases = [(HISTORY_END, s, 1.0), (s, s + 30, 3.0), (s + 30, s + 750, 1.3)]
    for seed in range(2):
        out = _brand_spikes(data, wm, phases, s + 750, seed)
        assert out[0].status is AlertStatus.FIRING and out[0].started_at < MONDAY + (s + 30) * MIN
        first_end = next(a for a in out if a.status is AlertStatus.RESOLVED and a.alert_id == out[0].alert_id)
        assert first_end.window_end <= MONDAY + (s + 30 + 60) * MIN
