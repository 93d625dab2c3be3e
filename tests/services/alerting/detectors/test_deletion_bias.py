"""deletion_bias: complaints removed far more often than other mentions on an owned channel."""

from __future__ import annotations

import json
import math
import random
import time
from datetime import datetime, timedelta

import pytest

from services.alerting.detectors.deletion_bias import DeletionBiasDetector, DeletionBiasSettings, removal_tail
from services.alerting.types import BrandView, Observation
from shared.brands import BrandConfig
from shared.schemas import Alert, AlertKind, AlertStatus, ScoredMention, SentimentLabel, Severity
from tests.factories import T0, mention, scored

OWNED = "vk:club_acme"
CHAT = "acme_chat"
BRAND = BrandView("acme", BrandConfig(owned_channels={"vk": [OWNED], "telegram": [CHAT]}))


class Feed:
    """What the engine does for one brand: a monotone watermark, the complaint rule, ownership."""

    def __init__(self, det: DeletionBiasDetector | None = None) -> None:
        self.det = det or DeletionBiasDetector()
        self.state = self.det.new_state()
        self.wm: datetime | None = None

    def obs(self, ev: ScoredMention) -> Observation:
        m = ev.mention
        self.wm = m.occurred_at if self.wm is None or m.occurred_at > self.wm else self.wm
        neg = ev.sentiment is not None and not m.author_is_brand and ev.sentiment.label is SentimentLabel.NEGATIVE
        return Observation(ev, neg, BRAND.owns(m.platform, m.channel), self.wm)

    def __call__(self, ev: ScoredMention) -> list[Alert]:
        return self.det.observe(self.state, self.obs(ev), BRAND)

    def many(self, events) -> list[Alert]:
        return [a for ev in events for a in self(ev)]

    def advance(self, now: datetime) -> list[Alert]:
        self.wm = now
        return self.det.advance(self.state, now, BRAND)


def M(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def appear(i: int, at: datetime, label: str = "neutral", channel: str = OWNED, **kw) -> ScoredMention:
    platform = "telegram" if channel == CHAT else "vk"
    kw.setdefault("url", f"https://vk.com/wall-1_{i}")
    kw.setdefault("text", "Where is my refund?" if label == "negative" else "Nice photo")
    return scored(mention(i, at=at, channel=channel, platform=platform, **kw), label)


def remove(
    i: int, at: datetime, actor: str | None = "brand", channel: str = OWNED, event_type: str = "deleted", **kw
) -> ScoredMention:
    platform = "telegram" if channel == CHAT else "vk"
    ev = mention(i, at=at, channel=channel, platform=platform, event_type=event_type, actor=actor, text="", **kw)
    return scored(ev, None)


def restore(i: int, at: datetime, channel: str = OWNED) -> ScoredMention:
    return scored(mention(i, at=at, channel=channel, event_type="restored", actor="brand", text=""), None)


def populate(f: Feed, negatives: int, others: int, channel: str = OWNED, start: int = 0) -> None:
    for i in range(negatives):
        f(appear(start + i, M(i / 10), "negative", channel))
    for i in range(others):
        f(appear(start + 10_000 + i, M(i / 100), "positive" if i % 3 else "neutral", channel))


# --- the rule --------------------------------------------------------------------------------------------------


def test_fires_on_the_removal_that_makes_the_pattern_with_evidence() -> None:
    f = Feed()
    populate(f, negatives=40, others=300)
    assert f(remove(10_005, M(60))) == []  # one other mention removed too
    for i in range(4):
        assert f(remove(i, M(61 + i))) == []
    (a,) = f(remove(4, M(70)))
    assert (a.kind, a.status, a.channel, a.severity) == (
        AlertKind.DELETION_BIAS,
        AlertStatus.FIRING,
        OWNED,
        Severity.WARNING,
    )
    ev = a.evidence
    assert ev.counts == {
        "removed_negative": 5,
        "appeared_negative": 40,
        "removed_other": 1,
        "appeared_other": 300,
        "window_days": 7,
    }
    assert ev.observed == 5 and ev.expected == pytest.approx(40 * 2 / 302, abs=1e-3)
    assert ev.score == pytest.approx((6 / 42) / (2 / 302), rel=1e-3)
    assert ev.p_value is not None and ev.p_value < 1e-4 and ev.baseline == "other_mentions"
    assert ev.top_channels == {OWNED: 5}
    assert [m.mention_id for m in ev.mentions] == ["m4", "m3", "m2", "m1", "m0"]
    assert all(m.role == "removed" and m.url and m.negative == pytest.approx(0.8) for m in ev.mentions)
    assert a.window_start == datetime(2026, 11, 20, tzinfo=T0.tzinfo) and a.window_end == M(70)
    assert a.message.startswith("acme removed 5 of 40 complaints (12%) on vk:club_acme in the last 7 days")
    assert "only 1 of 300 other comments (0%)" in a.message and "restore these complaints" in a.message


def test_removing_everything_alike_is_not_bias() -> None:
    f = Feed()
    populate(f, negatives=50, others=500)
    out = f.many(remove(i, M(100 + i)) for i in range(5))  # 10% of complaints
    out += f.many(remove(10_000 + i, M(200 + i)) for i in range(50))  # 10% of the rest
    assert out == [] or all(a.status is not AlertStatus.FIRING for a in out[1:])
    assert f.det.active(f.state) == 0 or out[0].status is AlertStatus.FIRING
    # with the others removed first, it never fires at all
    g = Feed()
    populate(g, negatives=50, others=500)
    assert g.many(remove(10_000 + i, M(100 + i)) for i in range(50)) == []
    assert g.many(remove(i, M(200 + i)) for i in range(5)) == []


def test_needs_min_removed_complaints() -> None:
    f = Feed()
    populate(f, negatives=4, others=100)
    assert f.many(remove(i, M(60 + i)) for i in range(4)) == []  # all four, still not five
    g = Feed(DeletionBiasDetector(DeletionBiasSettings(min_removed=2)))
    populate(g, negatives=4, others=100)
    assert len(g.many(remove(i, M(60 + i)) for i in range(2))) == 1


def test_zero_other_mentions_or_removals_do_not_divide_by_zero() -> None:
    f = Feed()
    populate(f, negatives=10, others=0)
    assert f.many(remove(i, M(60 + i)) for i in range(8)) == []  # nothing else to compare with: no claim
    g = Feed()
    populate(g, negatives=6, others=3)
    (a,) = g.many(remove(i, M(60 + i)) for i in range(5))  # 5 of 6 vs 0 of 3: (6/8) / (1/5) = 3.75
    assert a.evidence.score == pytest.approx(3.75)


def test_only_brand_side_removals_of_others_posts_count() -> None:
    f = Feed()
    populate(f, negatives=20, others=200)
    out = f.many(remove(i, M(60 + i), actor="author") for i in range(6))
    out += f.many(remove(i, M(70 + i), actor="platform") for i in range(6, 12))
    assert out == []
    # the brand removing its own posts says nothing about its moderation
    for i in range(6):
        f(scored(mention(500 + i, at=M(80), author_id="acme", author_is_brand=True, text="Sale!"), "negative"))
        assert f(remove(500 + i, M(81))) == []
    # unknown remover on an owned channel counts as the brand
    assert len(f.many(remove(i, M(90 + i), actor=None) for i in range(12, 17))) == 1


def test_channels_are_judged_separately() -> None:
    f = Feed()
    populate(f, negatives=20, others=200, channel=OWNED)
    populate(f, negatives=20, others=200, channel=CHAT, start=50_000)
    out = f.many(remove(i, M(60 + i)) for i in range(5))
    out += f.many(remove(50_000 + i, M(70 + i), channel=CHAT) for i in range(3))
    assert [a.channel for a in out] == [OWNED]
    out = f.many(remove(50_000 + i, M(80 + i), channel=CHAT) for i in range(3, 5))
    assert [a.channel for a in out] == [CHAT] and out[0].platform.value == "telegram"
    assert f.det.active(f.state) == 2


def test_not_owned_channels_are_not_judged() -> None:
    f = Feed()
    populate(f, negatives=20, others=200, channel="vk:fan_club")
    assert f.many(remove(i, M(60 + i), channel="vk:fan_club") for i in range(10)) == []


# --- duplicates, restores, escalation, resolution, flapping ---------------------------------------------------------


def test_duplicates_count_once() -> None:
    f = Feed()
    populate(f, negatives=20, others=200)
    populate(f, negatives=20, others=0)  # the same complaints redelivered
    out = []
    for i in range(4):
        out += f(remove(i, M(60 + i), event_type="hidden"))
        out += f(remove(i, M(61 + i), event_type="deleted"))
        out += f(remove(i, M(61 + i), event_type="deleted"))
    assert out == []
    ch = f.state.channels[("vk", OWNED)]
    assert ch.totals == [20, 200, 4, 0]


def test_restores_uncount_and_the_incident_resolves_after_quiet() -> None:
    f = Feed()
    populate(f, negatives=30, others=300)
    (a,) = f.many(remove(i, M(60 + i)) for i in range(5))
    assert f.many(restore(i, M(70 + i)) for i in range(2)) == []  # condition false: calm starts
    assert f.advance(M(74 + 5 * 60)) == []  # not quiet long enough
    (r,) = f.advance(M(80 + 6 * 60))
    assert (r.alert_id, r.status, r.sequence) == (a.alert_id, AlertStatus.RESOLVED, 1)
    assert "no longer removes complaints disproportionately" in r.message
    assert f.det.active(f.state) == 0


def test_removals_age_out_of_the_window_and_resolve() -> None:
    f = Feed()
    populate(f, negatives=30, others=300)
    (a,) = f.many(remove(i, M(60 + i)) for i in range(5))
    assert f.advance(T0 + timedelta(days=6, hours=10)) == []  # still inside the 7 day buckets
    (r,) = f.advance(T0 + timedelta(days=7, hours=7))
    assert (r.alert_id, r.status) == (a.alert_id, AlertStatus.RESOLVED)
    ch = f.state.channels[("vk", OWNED)]
    assert ch.totals == [0, 0, 0, 0] and ch.days == {}
    f.advance(T0 + timedelta(days=12))
    assert f.state.tracked == {} and ch.episode is None


def test_escalates_when_removed_complaints_double_and_turns_critical() -> None:
    f = Feed()
    populate(f, negatives=60, others=600)
    out = f.many(remove(i, M(100 + i)) for i in range(16))
    assert [(a.status, a.evidence.counts["removed_negative"], a.severity) for a in out] == [
        (AlertStatus.FIRING, 5, Severity.WARNING),
        (AlertStatus.UPDATED, 10, Severity.WARNING),
        (AlertStatus.UPDATED, 15, Severity.CRITICAL),
    ]
    assert len({a.alert_id for a in out}) == 1


def test_flapping_reopens_the_same_incident_within_the_cooldown() -> None:
    f = Feed()
    populate(f, negatives=30, others=300)
    (a,) = f.many(remove(i, M(60 + i)) for i in range(5))
    f(restore(0, M(70)))
    (r,) = f.advance(M(70 + 6 * 60 + 1))
    assert r.status is AlertStatus.RESOLVED
    (u,) = f(remove(0, M(70 + 8 * 60)))  # back within cooldown_hours
    assert (u.alert_id, u.status) == (a.alert_id, AlertStatus.UPDATED)
    f(restore(0, M(70 + 9 * 60)))
    f.advance(M(70 + 16 * 60))
    f.advance(M(70 + 16 * 60 + 49 * 60))  # resolved, then past the cooldown: forgotten
    (n,) = f(remove(0, M(70 + 66 * 60)))
    assert n.status is AlertStatus.FIRING and n.alert_id != a.alert_id


# --- order, restarts, bounds ---------------------------------------------------------------------------------------


def test_late_mentions_and_removals_before_creation() -> None:
    f = Feed()
    populate(f, negatives=30, others=300)
    assert f(remove(0, M(59))) == []
    assert f.many(remove(i, M(60 + i)) for i in range(100, 104)) == []  # unseen yet: waiting
    assert f.many(appear(i, M(1), "negative") for i in range(100, 103)) == []  # late arrivals, removed at once
    (a,) = f(appear(103, M(2), "negative"))
    assert a.evidence.counts["removed_negative"] == 5 and a.evidence.counts["appeared_negative"] == 34
    # a mention older than the window is not counted at all
    g = Feed()
    g(appear(1, T0 + timedelta(days=10)))
    g(appear(2, T0, "negative"))
    assert ("vk", OWNED) in g.state.channels and g.state.channels[("vk", OWNED)].totals == [0, 1, 0, 0]


def test_an_edit_into_a_complaint_reclassifies_it() -> None:
    f = Feed()
    populate(f, negatives=30, others=300)
    for i in range(4):
        f(remove(i, M(60 + i)))
    f(appear(10_007, M(70), "negative", event_type="edited", text="Actually this is a scam"))
    (a,) = f(remove(10_007, M(71)))
    assert a.evidence.counts["appeared_negative"] == 31 and a.evidence.counts["appeared_other"] == 299
    assert a.evidence.mentions[0].mention_id == "m10007" and "scam" in a.evidence.mentions[0].text


def test_shuffled_streams_never_crash_and_counts_stay_consistent() -> None:
    rng = random.Random(8)
    events = []
    for i in range(400):
        label = rng.choice(["negative", "neutral", "positive"])
        events.append(appear(i, M(i), label, channel=rng.choice([OWNED, CHAT, "vk:other"])))
        if rng.random() < 0.3:
            events.append(remove(i, M(i + rng.randint(1, 300)), actor=rng.choice(["brand", None, "author"])))
        if rng.random() < 0.05:
            events.append(restore(i, M(i + 400)))
    for _ in range(5):
        rng.shuffle(events)
        f = Feed()
        for ev in events:
            f(ev)
        for ch in f.state.channels.values():
            assert all(x >= 0 for x in ch.totals)
            assert [sum(d[i] for d in ch.days.values()) for i in range(4)] == ch.totals
            assert ch.totals[2] <= ch.totals[0] and ch.totals[3] <= ch.totals[1]


def _random_stream(seed: int, n: int) -> list[ScoredMention]:
    rng = random.Random(seed)
    out: list[ScoredMention] = []
    t = T0
    seen: list[tuple[int, str, str]] = []
    bias = 0.5
    for i in range(n):
        t += timedelta(minutes=rng.choice([1, 3, 10, 30]))
        if i % 150 == 0:
            bias = rng.choice([0.05, 0.5, 0.95])  # phases of heavy complaint removal
        r = rng.random()
        if r < 0.55:
            label = rng.choice(["negative", "neutral", "positive", "positive"])
            channel = rng.choice([OWNED, OWNED, CHAT])
            out.append(appear(i, t, label, channel))
            seen.append((i, label, channel))
        elif r < 0.85 and seen:
            j, label, channel = rng.choice(seen[-30:])
            if (label == "negative") == (rng.random() < bias):
                out.append(remove(j, t, actor=rng.choice(["brand", "brand", None, "author"]), channel=channel))
        elif r < 0.87 and seen:
            j, _, channel = rng.choice(seen[-30:])
            out.append(restore(j, t, channel))
        elif r < 0.95 and out:
            out.append(rng.choice(out[-40:]))
        else:
            out.append(appear(n + i, t - timedelta(hours=rng.randint(1, 48)), rng.choice(["negative", "neutral"])))
    return out


def _run(det: DeletionBiasDetector, events: list[ScoredMention], every: int | None) -> list[str]:
    f = Feed(det)
    got: list[str] = []
    for k, ev in enumerate(events):
        if every and k % every == 0:
            f.state = det.load_state(json.loads(json.dumps(det.dump_state(f.state))))
        got.extend(a.model_dump_json() for a in f(ev))
        if k % 61 == 0:
            got.extend(a.model_dump_json() for a in f.advance(f.wm + timedelta(hours=1)))
    got.extend(a.model_dump_json() for a in f.advance(f.wm + timedelta(days=30)))
    return got


@pytest.mark.parametrize("every", [1, 9, 131])
def test_snapshot_json_restore_every_k_events_gives_identical_alerts(every) -> None:
    det = DeletionBiasDetector(
        DeletionBiasSettings(window_days=2, max_tracked=400, quiet_hours=2, cooldown_hours=6, min_removed=3)
    )
    events = _random_stream(6, 3_000)
    plain = _run(det, events, None)
    assert sum('"status":"firing"' in a for a in plain) >= 3
    assert _run(det, events, every) == plain


def test_removal_tail_is_the_hypergeometric_tail() -> None:
    def brute(rn, an, ro, ao):
        total, k = an + ao, rn + ro
        return sum(math.comb(an, x) * math.comb(ao, k - x) for x in range(rn, min(k, an) + 1)) / math.comb(total, k)

    for args in [(5, 40, 1, 300), (5, 6, 0, 3), (3, 10, 3, 10), (0, 5, 2, 5), (10, 10, 0, 0), (7, 50, 20, 400)]:
        assert removal_tail(*args) == pytest.approx(brute(*args), rel=1e-9, abs=1e-15)
    assert removal_tail(0, 0, 0, 0) == 1.0


def test_unknown_state_version_is_refused_and_settings_validated() -> None:
    det = DeletionBiasDetector()
    dump = det.dump_state(det.new_state())
    with pytest.raises(ValueError, match="version"):
        det.load_state({**dump, "v": 7})
    with pytest.raises(ValueError):
        det.load_state({**dump, "channels": [{"platform": "vk"}]})
    with pytest.raises(ValueError):
        DeletionBiasSettings(ratio=1.0)
    with pytest.raises(ValueError):
        DeletionBiasSettings(window_days=0)


def test_p_value_can_be_required() -> None:
    strict = Feed(DeletionBiasDetector(DeletionBiasSettings(max_p_value=0.01)))
    populate(strict, negatives=6, others=3)
    assert strict.many(remove(i, M(60 + i)) for i in range(5)) == []  # p = 0.12 with so few mentions


def test_state_stays_bounded_over_100k_events_and_prints_throughput() -> None:
    settings = DeletionBiasSettings()
    det = DeletionBiasDetector(settings)
    base = _random_stream(2, 10_000)
    f = Feed(det)
    # 100k events in ~1.2 days of event time, so the caps bind before the window does
    obs = []
    for k in range(100_000):
        ev = base[k % len(base)]
        m = ev.mention
        moved = {"occurred_at": T0 + timedelta(seconds=k), "mention_id": f"{m.mention_id}.{k // 5_000}"}
        obs.append(f.obs(ev.model_copy(update={"mention": m.model_copy(update=moved)})))
    start = time.perf_counter()
    alerts = 0
    for o in obs:
        alerts += len(det.observe(f.state, o, BRAND))
    elapsed = time.perf_counter() - start
    print(f"\ndeletion_bias observe(): {len(obs) / elapsed:,.0f} events/s ({len(obs)} events, {alerts} alerts)")
    st = f.state
    assert len(st.tracked) <= settings.max_tracked and len(st.pending) <= settings.max_pending
    assert len(st.channels) <= settings.max_channels
    assert all(len(c.days) <= settings.window_days and len(c.examples) <= 5 for c in st.channels.values())
    size = len(json.dumps(det.dump_state(st)))
    print(f"deletion_bias state after 100k events: {size / 1024:.0f} KiB JSON")


# --- removals that name the remover but not the author (VK: removed_by) ------------------------------------------


def named(i: int, at: datetime, removed_by: str) -> ScoredMention:
    """A removal as VK's receiver sends it for a comment it never saw: actor null, the remover
    named, the author unknown (the factory's authors are ``u<i>``)."""
    return remove(i, at, actor=None, author_id="vk:unknown", removed_by=removed_by)


def _through_json(f: Feed) -> None:
    f.state = f.det.load_state(json.loads(json.dumps(f.det.dump_state(f.state))))


def _counts(f: Feed) -> list[int]:
    return f.state.channels[("vk", OWNED)].totals


@pytest.mark.parametrize("restart", [False, True])
def test_complaints_their_authors_named_as_removers_are_not_counted_anyone_elses_are(restart) -> None:
    """Five complaints removed, each delivered with actor null: by their own authors nothing is
    counted (as with ``actor: author``), by someone else the same alert as ``actor: brand``; also
    when a restore from JSON lies between the complaints and their removals (the durable part)."""
    feeds = {k: Feed() for k in ("author", "brand", "own", "other")}
    for f in feeds.values():
        populate(f, negatives=40, others=300)
        f(remove(10_005, M(60)))
        if restart:
            _through_json(f)
    out = {
        "author": feeds["author"].many(remove(i, M(61 + i), actor="author") for i in range(5)),
        "brand": feeds["brand"].many(remove(i, M(61 + i)) for i in range(5)),
        "own": feeds["own"].many(named(i, M(61 + i), f"u{i}") for i in range(5)),
        "other": feeds["other"].many(named(i, M(61 + i), "vk:id900001") for i in range(5)),
    }
    assert out["own"] == out["author"] == [] and _counts(feeds["own"]) == _counts(feeds["author"])
    assert _counts(feeds["own"])[2] == 0  # no complaint booked as removed by the brand
    (a,) = out["other"]
    assert out["other"] == out["brand"] and a.evidence.counts["removed_negative"] == 5


@pytest.mark.parametrize("restart", [False, True])
def test_named_removals_before_their_mentions_are_judged_when_they_arrive(restart) -> None:
    own, other = Feed(), Feed()
    for f in (own, other):
        populate(f, negatives=30, others=300)
        f(remove(0, M(59)))
    assert own.many(named(i, M(60 + i), f"u{i}") for i in range(100, 104)) == []  # unseen yet: waiting
    assert other.many(named(i, M(60 + i), "vk:id900001") for i in range(100, 104)) == []
    if restart:
        _through_json(own)
        _through_json(other)
    assert own.many(appear(i, M(1), "negative") for i in range(100, 104)) == []
    assert _counts(own)[2] == 1  # only m0, removed by the brand
    (a,) = other.many(appear(i, M(1), "negative") for i in range(100, 104))
    assert a.evidence.counts["removed_negative"] == 5


def test_a_version_2_snapshot_still_loads() -> None:
    f = Feed()
    populate(f, negatives=30, others=300)
    f(remove(0, M(59)))
    f.many(remove(i, M(60 + i)) for i in range(100, 104))  # waiting for their mentions
    dump = json.loads(json.dumps(f.det.dump_state(f.state)))
    old = {**dump, "v": 2, "pending": [row[:3] for row in dump["pending"]]}
    g = Feed()
    g.state = g.det.load_state(old)
    g.wm = f.wm
    (a,) = g.many(appear(i, M(1), "negative") for i in range(100, 104))
    assert a.evidence.counts["removed_negative"] == 5 and g.det.dump_state(g.state)["v"] == 3
