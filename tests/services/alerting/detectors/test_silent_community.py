"""silent_community: silence timers per owned channel, escalation, resolution, never-seen channels, restore, bounds."""

from __future__ import annotations

import json
import random
import time
from datetime import datetime, timedelta

import pytest

from services.alerting.detectors.silent_community import SilentCommunityDetector, SilentCommunitySettings
from services.alerting.types import BrandView, Observation
from shared.brands import BrandConfig
from shared.schemas import Alert, AlertKind, AlertStatus, ScoredMention, SentimentLabel, Severity
from tests.factories import T0, mention, scored

DAY = timedelta(days=1)
CONFIG = BrandConfig(owned_channels={"telegram": ["acme_chat"]})


class Run:
    """Drives one brand's state the way the engine does: a monotone watermark and owned channels."""

    def __init__(self, detector: SilentCommunityDetector | None = None, config: BrandConfig = CONFIG) -> None:
        self.det = detector or SilentCommunityDetector()
        self.state = self.det.new_state()
        self.config = config
        self.learned: set[tuple[str, str]] = set()
        self.view = BrandView("acme", config)
        self.wm: datetime | None = None
        self.alerts: list[Alert] = []

    def feed(self, ev: ScoredMention) -> list[Alert]:
        m = ev.mention
        if m.author_is_brand and m.event_type.value in ("created", "edited"):
            self.learned.add((m.platform.value, m.channel))
            self.view = BrandView("acme", self.config, frozenset(self.learned))
        if self.wm is None or m.occurred_at > self.wm:
            self.wm = m.occurred_at
        negative = ev.sentiment is not None and ev.sentiment.label is SentimentLabel.NEGATIVE and not m.author_is_brand
        out = self.det.observe(self.state, Observation(ev, negative, self.view.owns(m.platform, m.channel), self.wm),
                               self.view)  # fmt: skip
        self.alerts.extend(out)
        return out

    def advance(self, now: datetime) -> list[Alert]:
        if self.wm is not None and now <= self.wm:
            return []
        self.wm = now
        out = self.det.advance(self.state, now, self.view)
        self.alerts.extend(out)
        return out

    def restore(self) -> None:
        self.state = self.det.load_state(json.loads(json.dumps(self.det.dump_state(self.state))))


def post(i: int, at: datetime, channel: str = "acme_chat", platform: str = "telegram", **kw) -> ScoredMention:
    return scored(
        mention(i, at=at, channel=channel, platform=platform, author_id="acme", author_is_brand=True,
                text=kw.pop("text", "Weekly update"), url=kw.pop("url", f"https://t.me/acme_chat/{i}"), **kw),
        "positive",
    )  # fmt: skip


def user(i: int, at: datetime, channel: str = "acme_chat", platform: str = "telegram", **kw) -> ScoredMention:
    return scored(
        mention(i, at=at, channel=channel, platform=platform, url=f"https://t.me/acme_chat/{i}", **kw),
        kw.pop("label", "neutral"),
    )


def elsewhere(i: int, at: datetime) -> ScoredMention:
    return scored(mention(i, at=at, channel="news", platform="rss"), "neutral")


def step(run: Run, start: datetime, end: datetime, every: timedelta) -> list[tuple[datetime, Alert]]:
    got = []
    t = start
    while t <= end:
        got.extend((t, a) for a in run.advance(t))
        t += every
    return got


def test_cold_start_nothing_listed_nothing_seen():
    run = Run(config=BrandConfig())
    assert run.advance(T0) == []
    assert step(run, T0, T0 + 30 * DAY, DAY) == []
    run.restore()
    assert run.state.channels == {}


def test_a_listed_channel_never_seen_starts_its_clock_at_the_first_event():
    run = Run()
    run.feed(elsewhere(0, T0))  # the first thing this brand's state sees
    assert step(run, T0 + DAY, T0 + 7 * DAY - timedelta(minutes=1), timedelta(hours=6)) == []
    (t, a), *more = step(run, T0 + 7 * DAY - timedelta(minutes=1), T0 + 8 * DAY, timedelta(minutes=1))
    assert more == []
    assert T0 + 7 * DAY <= t <= T0 + 7 * DAY + timedelta(minutes=1)
    assert a.kind is AlertKind.SILENT_COMMUNITY and a.status is AlertStatus.FIRING
    assert a.channel == "acme_chat" and a.platform.value == "telegram"
    assert a.started_at == T0 + 7 * DAY and a.window_start == T0
    assert a.severity is Severity.INFO  # nobody wrote there either
    assert a.evidence.counts["never_posted"] == 1 and a.evidence.counts["mentions_since"] == 0
    assert a.evidence.baseline == "watch_start"
    assert a.message == (
        "acme has not posted or replied in telegram:acme_chat in the 7 days since RepWatch started watching it, "
        "and nobody else wrote there either. Post an update to keep the community alive, or stop listing it."
    )


def test_advance_alone_starts_the_clock_of_listed_channels():
    run = Run()
    run.advance(T0)
    ((t, a),) = step(run, T0 + DAY, T0 + 9 * DAY, timedelta(hours=1))
    assert a.started_at == T0 + 7 * DAY


def test_fires_with_people_waiting_then_resolves_on_the_next_brand_post():
    run = Run()
    run.feed(post(0, T0, url="https://t.me/acme_chat/0"))
    for i in range(1, 41):
        run.feed(user(i, T0 + timedelta(hours=i), author_id=f"u{i % 37}", text=f"hello? question {i}"))
    fired = step(run, T0 + 2 * DAY, T0 + 8 * DAY, timedelta(minutes=30))
    ((t, a),) = fired
    assert T0 + 7 * DAY <= t <= T0 + 7 * DAY + timedelta(minutes=30)
    assert a.severity is Severity.WARNING
    assert a.message == (
        "acme has not posted or replied in telegram:acme_chat for 7 days while 37 people wrote there. "
        "Post an update or answer the open questions."
    )
    ev = a.evidence
    assert ev.counts == {"days_silent": 7, "mentions_since": 40, "authors_since": 37, "never_posted": 0}
    last, *examples = ev.mentions
    assert last.role == "last_brand_post" and last.url == "https://t.me/acme_chat/0" and last.occurred_at == T0
    assert [e.mention_id for e in examples] == ["m40", "m39", "m38", "m37", "m36"]  # latest first
    assert ev.observed == pytest.approx(7.0, abs=0.03) and ev.expected == 7.0 and ev.top_channels == {"acme_chat": 40}
    assert run.det.active(run.state) == 1
    (res,) = run.feed(post(100, T0 + 8 * DAY + timedelta(hours=1)))
    assert res.status is AlertStatus.RESOLVED and res.alert_id == a.alert_id and res.sequence == 1
    assert "posted in telegram:acme_chat again after 8 days" in res.message
    assert run.det.active(run.state) == 0
    # the next silence is a new incident, 7 days after that post
    ((t2, b),) = step(run, T0 + 9 * DAY, T0 + 16 * DAY, timedelta(hours=1))
    assert b.status is AlertStatus.FIRING and b.alert_id != a.alert_id
    assert b.started_at == T0 + 15 * DAY + timedelta(hours=1)
    assert b.evidence.counts["mentions_since"] == 0 and b.severity is Severity.INFO


def test_escalates_once_at_twice_the_silence_and_stays_quiet_after():
    run = Run()
    run.feed(post(0, T0))
    run.feed(user(1, T0 + DAY, text="anyone here?"))
    got = step(run, T0, T0 + 40 * DAY, timedelta(hours=2))
    (t1, a1), (t2, a2) = got
    assert a1.severity is Severity.WARNING and a1.status is AlertStatus.FIRING
    assert a2.severity is Severity.CRITICAL and a2.status is AlertStatus.UPDATED and a2.alert_id == a1.alert_id
    assert T0 + 14 * DAY <= t2 <= T0 + 14 * DAY + timedelta(hours=2)
    assert "for 14 days while 1 person wrote there" in a2.message


def test_a_long_jump_in_time_fires_once_at_the_escalated_level():
    run = Run()
    run.feed(post(0, T0))
    run.feed(user(1, T0 + DAY))
    (a,) = run.advance(T0 + 20 * DAY)
    assert a.status is AlertStatus.FIRING and a.severity is Severity.CRITICAL and a.sequence == 0
    assert a.started_at == T0 + 7 * DAY and a.evidence.counts["days_silent"] == 20
    assert run.advance(T0 + 60 * DAY) == []


def test_timers_fire_from_other_events_moving_time():
    run = Run()
    run.feed(post(0, T0))
    out = []
    for k in range(1, 200):
        at = T0 + timedelta(hours=k)
        out = run.feed(elsewhere(k, at))
        if out:
            break
    (a,) = out
    assert a.status is AlertStatus.FIRING and at == T0 + 7 * DAY


def test_a_brand_reply_keeps_the_channel_alive():
    run = Run()
    run.feed(post(0, T0))
    run.feed(post(1, T0 + 6 * DAY, parent_id="m0", text="Thanks for asking!"))
    assert step(run, T0, T0 + 13 * DAY - timedelta(minutes=1), timedelta(hours=1)) == []
    ((_, a),) = step(run, T0 + 13 * DAY, T0 + 13 * DAY + timedelta(hours=1), timedelta(minutes=1))
    assert a.started_at == T0 + 13 * DAY


def test_channels_learned_from_brand_posts_and_forgotten_after_long_silence():
    run = Run(SilentCommunityDetector(SilentCommunitySettings(forget_days=30)), config=BrandConfig())
    run.feed(post(0, T0, channel="club9", platform="vk"))
    got = step(run, T0, T0 + 40 * DAY, timedelta(hours=6))
    kinds = [(a.status, a.severity) for _, a in got]
    assert kinds == [
        (AlertStatus.FIRING, Severity.INFO),
        (AlertStatus.UPDATED, Severity.WARNING),
        (AlertStatus.RESOLVED, Severity.WARNING),
    ]
    assert "stops watching this channel" in got[-1][1].message
    assert run.state.channels == {}


def test_listed_channels_are_never_forgotten():
    run = Run(SilentCommunityDetector(SilentCommunitySettings(forget_days=30)))
    run.feed(elsewhere(0, T0))
    step(run, T0, T0 + 100 * DAY, DAY)
    assert len(run.alerts) == 2 and run.det.active(run.state) == 1
    (res,) = run.feed(post(1, T0 + 101 * DAY))
    assert res.status is AlertStatus.RESOLVED


def test_late_and_duplicated_events():
    run = Run()
    run.feed(post(0, T0))
    run.feed(post(1, T0 + 2 * DAY))
    run.feed(post(2, T0 + DAY))  # late: older than the clock, changes nothing
    u = user(3, T0 + 3 * DAY, author_id="ann")
    run.feed(u)
    run.feed(u)  # redelivered
    run.feed(user(4, T0 + DAY + timedelta(hours=1), author_id="bob"))  # late: before the last brand post
    ((_, a),) = step(run, T0 + 3 * DAY, T0 + 10 * DAY, timedelta(hours=1))
    assert a.started_at == T0 + 9 * DAY
    assert a.evidence.counts["mentions_since"] == 1 and a.evidence.counts["authors_since"] == 1
    assert a.evidence.mentions[0].mention_id == "m1"  # the latest brand post, not the late one


def test_a_very_late_brand_post_does_not_end_a_silence_it_does_not_break():
    run = Run()
    run.feed(post(0, T0))
    step(run, T0, T0 + 20 * DAY, DAY)
    assert len(run.alerts) == 2
    # dated 19 days ago (after the old clock), but the channel has still been silent for more than 7 days since
    assert run.feed(post(1, T0 + DAY)) == []
    assert run.det.active(run.state) == 1
    (res,) = run.feed(post(2, T0 + 20 * DAY + timedelta(hours=1)))
    assert res.status is AlertStatus.RESOLVED


def _ops(seed: int, n: int) -> list[tuple[str, object]]:
    rng = random.Random(seed)
    t = T0
    ops: list[tuple[str, object]] = []
    for i in range(n):
        t += timedelta(hours=rng.choice([1, 3, 12, 24, 24 * 5]))
        r = rng.random()
        ch = rng.choice(["acme_chat", "acme_chat", "side_chat", "other"])
        if r < 0.1:
            ops.append(("feed", post(i, t - timedelta(hours=rng.choice([0, 0, 30])), channel=ch)))
        elif r < 0.6:
            ops.append(("feed", user(i, t, channel=ch, author_id=f"u{rng.randrange(30)}")))
        elif r < 0.7 and ops:
            ops.append(rng.choice(ops))
        elif r < 0.85:
            ops.append(("advance", t))
        else:
            ops.append(("feed", elsewhere(i, t)))
    return ops


def _play(ops, k: int | None) -> list[dict]:
    run = Run(SilentCommunityDetector(SilentCommunitySettings(forget_days=40)))
    for j, (op, arg) in enumerate(ops):
        if op == "feed":
            run.feed(arg)
        else:
            run.advance(arg)
        if k and j % k == k - 1:
            run.restore()
    run.advance(T0 + 10_000 * DAY)
    return [a.model_dump(mode="json") for a in run.alerts]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_restore_every_k_events_gives_the_same_alerts(seed):
    ops = _ops(seed, 600)
    base = _play(ops, None)
    assert len(base) > 5 and {a["status"] for a in base} == {"firing", "updated", "resolved"}
    for k in (1, 7, 60):
        assert _play(ops, k) == base


def test_unknown_state_version_is_refused():
    d = SilentCommunityDetector()
    dump = d.dump_state(d.new_state())
    with pytest.raises(ValueError, match="version"):
        d.load_state({**dump, "version": 99})
    with pytest.raises(ValueError, match="malformed"):
        d.load_state({**dump, "channels": [{"key": "x"}]})
    with pytest.raises(ValueError, match="malformed"):
        d.materialise(d.load_state({**dump, "recent": "AAAA"}))  # 3 bytes: not whole 6-byte hashes


def test_state_is_bounded():
    s = SilentCommunitySettings(max_channels=10, max_authors=50, examples=3)
    run = Run(SilentCommunityDetector(s))
    for i in range(100):
        run.feed(post(i, T0 + timedelta(minutes=i), channel=f"c{i}"))
    assert len(run.state.channels) == 11  # 10 learned + the listed one, which never counts against the cap
    assert run.state.untracked == 90
    for i in range(10_000):
        run.feed(user(1000 + i, T0 + timedelta(hours=2, seconds=i), channel="c0", author_id=f"a{i}"))
    ch = run.state.channels["telegram\x1fc0"]
    assert ch.mentions == 10_000 and len(ch.authors) == 50 and len(ch.examples) == 3
    assert len(run.state.recent) <= 2 * 2048
    assert len(run.state.heap) <= len(run.state.channels)
    (a,) = [a for _, a in step(run, T0 + 7 * DAY, T0 + 7 * DAY + timedelta(hours=3), timedelta(hours=1))
            if a.channel == "c0"]  # fmt: skip
    assert "while more than 50 people wrote there" in a.message


def test_observe_throughput(capsys):
    run = Run()
    run.feed(post(0, T0))
    events = []
    for i in range(1, 20_001):
        at = T0 + timedelta(seconds=i)
        r = i % 10
        if r == 0:
            events.append(post(i, at))
        elif r < 5:
            events.append(user(i, at))
        else:
            events.append(elsewhere(i, at))
    obs = []
    for ev in events:
        m = ev.mention
        obs.append(Observation(ev, False, m.channel == "acme_chat", m.occurred_at))
    d, state, view = run.det, run.state, run.view
    start = time.perf_counter()
    for o in obs:
        d.observe(state, o, view)
    took = time.perf_counter() - start
    with capsys.disabled():
        print(f"\nsilent_community observe(): {len(obs) / took:,.0f} events/s")
