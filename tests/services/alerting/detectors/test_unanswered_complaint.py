"""unanswered_complaint: SLA timers, one incident per channel, answers, removals, restore, bounds."""

from __future__ import annotations

import json
import random
import time
from datetime import datetime, timedelta

import pytest

from services.alerting.detectors.unanswered_complaint import (
    UnansweredComplaintDetector,
    UnansweredComplaintSettings,
    looks_like_question,
)
from services.alerting.types import BrandView, Observation
from shared.brands import BrandConfig
from shared.schemas import Alert, AlertKind, AlertStatus, ScoredMention, SentimentLabel, Severity
from tests.factories import T0, mention, scored

CHANNEL = "vk:club_acme"
CONFIG = BrandConfig(owned_channels={"vk": [CHANNEL]})
SLA = timedelta(minutes=60)


class Run:
    """Drives one brand's state the way the engine does: a monotone watermark, owned channels, the complaint rule."""

    def __init__(self, detector: UnansweredComplaintDetector | None = None, config: BrandConfig = CONFIG) -> None:
        self.det = detector or UnansweredComplaintDetector()
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
        obs = Observation(ev, negative, self.view.owns(m.platform, m.channel), self.wm)
        out = self.det.observe(self.state, obs, self.view)
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


def complaint(i: int, at: datetime, **kw) -> ScoredMention:
    return scored(mention(i, at=at, text=kw.pop("text", f"terrible service, order {i} lost"), **kw), "negative")


def reply(i: int, parent: str, at: datetime, **kw) -> ScoredMention:
    return scored(
        mention(i, at=at, author_id="acme_official", author_is_brand=True, parent_id=parent, text="We are on it", **kw),
        "neutral",
    )


def noise(i: int, at: datetime) -> ScoredMention:
    """An ordinary event of the brand elsewhere: it only moves the brand's clock."""
    return scored(mention(i, at=at, channel="news_site", platform="rss", text="acme mentioned"), "neutral")


def advance_by(run: Run, start: datetime, end: datetime, step: timedelta) -> list[tuple[datetime, list[Alert]]]:
    got = []
    t = start
    while t <= end:
        out = run.advance(t)
        if out:
            got.append((t, out))
        t += step
    return got


# --- cold start, basic rule ---------------------------------------------------------------------------------------


def test_cold_start_and_a_fresh_state_round_trips():
    run = Run()
    assert run.advance(T0) == []
    assert run.det.active(run.state) == 0
    run.restore()
    assert run.advance(T0 + timedelta(days=3)) == []
    assert run.det.take_measurements(run.state) == []


def test_fires_within_one_minute_of_the_deadline_on_a_quiet_channel():
    run = Run()
    assert run.feed(complaint(0, T0, url="https://vk.com/wall-1_5?reply=0")) == []
    fired = advance_by(run, T0 + timedelta(seconds=30), T0 + timedelta(hours=2), timedelta(seconds=30))
    (when, alerts), *rest = fired
    assert rest == []
    assert T0 + SLA <= when <= T0 + SLA + timedelta(minutes=1)
    (a,) = alerts
    assert a.kind is AlertKind.UNANSWERED_COMPLAINT and a.status is AlertStatus.FIRING
    assert a.severity is Severity.WARNING and a.channel == CHANNEL and a.platform.value == "vk"
    assert a.started_at == T0 + SLA  # the deadline, not whenever the clock was looked at
    assert a.window_start == T0 and a.window_end == when
    ev = a.evidence
    assert ev.counts["overdue"] == 1 and ev.counts["pending"] == 0 and ev.counts["answered_late"] == 0
    assert ev.mention_ids == ["m0"]
    (em,) = ev.mentions
    assert em.mention_id == "m0" and em.url == "https://vk.com/wall-1_5?reply=0" and em.author_id == "u0"
    assert em.role == "unanswered" and em.occurred_at == T0 and em.negative == pytest.approx(0.8)
    assert ev.observed == 1 and ev.expected == 0 and ev.baseline == "sla_60m" and ev.top_channels == {CHANNEL: 1}
    assert "1 complaint on vk:club_acme has waited over 60 min for an answer" in a.message
    assert "Answer it." in a.message
    assert run.det.active(run.state) == 1


def test_fires_from_other_events_of_the_brand_moving_time():
    run = Run()
    run.feed(complaint(0, T0))
    fired_at = None
    for k in range(1, 400):
        at = T0 + timedelta(seconds=17 * k)
        out = run.feed(noise(1000 + k, at))
        if out:
            fired_at = at
            (a,) = out
            assert a.status is AlertStatus.FIRING
            break
    assert fired_at is not None and T0 + SLA <= fired_at < T0 + SLA + timedelta(minutes=1)


def test_answered_just_before_the_deadline_raises_nothing():
    run = Run()
    run.feed(complaint(0, T0))
    assert run.feed(reply(1, "m0", T0 + SLA - timedelta(seconds=1))) == []
    assert advance_by(run, T0 + SLA, T0 + timedelta(days=2), timedelta(minutes=5)) == []
    assert run.det.take_measurements(run.state) == [("reply_seconds", 3599.0)]
    assert run.det.take_measurements(run.state) == []  # drained
    assert run.state.channels == {}  # nothing left to track


def test_a_reply_in_the_same_thread_answers_earlier_complaints_only():
    run = Run()
    run.feed(complaint(0, T0, parent_id="post1"))
    run.feed(complaint(1, T0 + timedelta(minutes=1), parent_id="post1"))
    run.feed(reply(2, "post1", T0 + timedelta(minutes=10)))
    run.feed(complaint(3, T0 + timedelta(minutes=11), parent_id="post1"))  # after the brand's reply
    out = [a for _, al in advance_by(run, T0 + timedelta(minutes=30), T0 + timedelta(hours=2), timedelta(minutes=1))
           for a in al]  # fmt: skip
    (a,) = out
    assert a.evidence.mention_ids == ["m3"]
    assert sorted(s for _, s in run.det.take_measurements(run.state)) == [540.0, 600.0]


def test_questions_count_and_statements_do_not():
    run = Run()
    run.feed(scored(mention(0, at=T0, text="Когда откроется новый магазин"), "neutral"))
    run.feed(scored(mention(1, at=T0, text="Great shop, love it!"), "positive"))
    run.feed(scored(mention(2, at=T0, text="what is the delivery time to Kazan"), "neutral"))
    (a,) = [a for _, al in advance_by(run, T0, T0 + timedelta(hours=2), timedelta(minutes=1)) for a in al]
    assert sorted(a.evidence.mention_ids) == ["m0", "m2"]
    d = UnansweredComplaintDetector(UnansweredComplaintSettings(questions=False))
    run = Run(d)
    run.feed(scored(mention(0, at=T0, text="When do you open?"), "neutral"))
    assert advance_by(run, T0, T0 + timedelta(hours=2), timedelta(minutes=10)) == []


@pytest.mark.parametrize(
    "text",
    ["Is it open today", "when do you open?", "¿Dónde está mi pedido", "أين طلبي؟", "Почему не отвечаете",
     "Работает ли доставка в выходные", "Підкажіть, будь ласка, адресу", "Wie lange dauert die Lieferung",
     "do you ship abroad", "any update on my refund", "注文はどこ？", "Pourquoi c'est si cher"],
)  # fmt: skip
def test_looks_like_question(text):
    assert looks_like_question(text)


@pytest.mark.parametrize(
    "text", ["", "Great product", "How nice!", "Do not buy here", "what a great day", "Спасибо за помощь", "ok"]
)
def test_looks_like_a_statement(text):
    assert not looks_like_question(text)


def test_only_owned_channels_and_never_the_brand_itself():
    run = Run()
    run.feed(complaint(0, T0, channel="someone_elses_group"))
    run.feed(scored(mention(1, at=T0, author_is_brand=True, text="Sorry, our site is down?"), "negative"))
    assert advance_by(run, T0, T0 + timedelta(hours=3), timedelta(minutes=10)) == []


def test_a_channel_where_the_brand_posts_counts_as_owned():
    run = Run(config=BrandConfig())
    run.feed(reply(0, "x", T0, channel="tg_chat", platform="telegram"))
    run.feed(complaint(1, T0 + timedelta(minutes=1), channel="tg_chat", platform="telegram"))
    (a,) = [a for _, al in advance_by(run, T0, T0 + timedelta(hours=2), timedelta(minutes=1)) for a in al]
    assert a.channel == "tg_chat" and "telegram:tg_chat" in a.message


# --- waves, escalation, resolution ----------------------------------------------------------------------------------


def _wave(run: Run, n: int, step_s: float, noise_every: bool) -> None:
    for i in range(n):
        at = T0 + timedelta(seconds=i * step_s)
        run.feed(complaint(i, at, url=f"https://vk.com/c/{i}"))
    if noise_every:  # the worst case for updates: the clock moves in small steps
        for k in range(int((n * step_s + SLA.total_seconds()) / 2) + 60):
            run.feed(noise(10_000 + k, T0 + timedelta(seconds=2 * k)))


@pytest.mark.parametrize("fine_clock", [False, True])
def test_a_wave_of_300_is_one_incident_with_a_handful_of_updates(fine_clock):
    run = Run()
    _wave(run, 300, 1.0, fine_clock)
    advance_by(run, T0 + SLA, T0 + SLA + timedelta(minutes=10), timedelta(seconds=30))
    alerts = list(run.alerts)
    assert len({a.alert_id for a in alerts}) == 1
    assert alerts[0].status is AlertStatus.FIRING
    assert all(a.status is AlertStatus.UPDATED for a in alerts[1:])
    assert 1 <= len(alerts) <= 10  # doubling: log2(300) + 1 at most
    assert [a.sequence for a in alerts] == list(range(len(alerts)))
    last = alerts[-1]
    assert last.evidence.counts["overdue"] >= 150
    assert len(last.evidence.mentions) == 20 and len(last.evidence.mention_ids) == 100
    assert [m.mention_id for m in last.evidence.mentions[:3]] == ["m0", "m1", "m2"]  # longest waiting first
    assert all(m.url and m.url.startswith("https://vk.com/c/") for m in last.evidence.mentions)
    assert run.state.channels[next(iter(run.state.channels))].overdue  # still open
    before = len(run.alerts)
    t = T0 + SLA + timedelta(minutes=11)
    for i in range(300):
        run.feed(reply(1000 + i, f"m{i}", t + timedelta(seconds=i)))
    after = run.alerts[before:]
    (res,) = after  # answering 299 of 300 changes nothing a person needs to hear; the last one resolves
    assert res.status is AlertStatus.RESOLVED and res.alert_id == alerts[0].alert_id
    assert res.evidence.counts["overdue"] == 0 and res.evidence.counts["answered_late"] == 300
    assert res.evidence.mentions and all(m.role == "answered" for m in res.evidence.mentions)
    assert "every overdue complaint on vk:club_acme has been dealt with (300 answered late)" in res.message
    assert len(run.det.take_measurements(run.state)) == 300
    assert run.det.active(run.state) == 0


def test_message_lists_count_and_longest_wait():
    run = Run()
    for i in range(4):
        run.feed(complaint(i, T0 + timedelta(minutes=i)))
    advance_by(run, T0, T0 + timedelta(hours=4), timedelta(hours=4))
    (a,) = run.alerts
    assert a.message == (
        "acme: 4 complaints on vk:club_acme have waited over 60 min for an answer (longest 4 h). "
        "Answer these 4 complaints."
    )
    assert a.evidence.score == 240.0


def test_a_day_without_an_answer_is_critical():
    run = Run()
    run.feed(complaint(0, T0))
    fired = advance_by(run, T0, T0 + timedelta(hours=30), timedelta(minutes=1))
    (t1, (a1,)), (t2, (a2,)) = fired
    assert a1.status is AlertStatus.FIRING and a1.severity is Severity.WARNING
    assert a2.status is AlertStatus.UPDATED and a2.severity is Severity.CRITICAL and a2.alert_id == a1.alert_id
    assert T0 + timedelta(hours=24) <= t2 <= T0 + timedelta(hours=24, minutes=1)
    assert a2.evidence.counts["failed"] == 1 and "It has waited over 24 h, which counts as a failure." in a2.message
    (res,) = run.feed(reply(1, "m0", T0 + timedelta(hours=31)))
    assert res.status is AlertStatus.RESOLVED and res.severity is Severity.CRITICAL


def test_removed_complaints_stop_waiting_and_a_restore_brings_them_back():
    run = Run()
    run.feed(complaint(0, T0))
    run.feed(complaint(1, T0))
    advance_by(run, T0, T0 + timedelta(minutes=61), timedelta(minutes=61))
    (a,) = run.alerts
    assert a.evidence.counts["overdue"] == 2
    at = T0 + timedelta(minutes=62)
    assert run.feed(scored(mention(0, at=at, event_type="deleted", actor="brand"), None)) == []
    (res,) = run.feed(scored(mention(1, at=at, event_type="hidden"), None))
    assert res.status is AlertStatus.RESOLVED and res.evidence.counts["removed"] == 2
    assert [(m.mention_id, m.role) for m in res.evidence.mentions] == [("m1", "removed"), ("m0", "removed")]
    # hidden by mistake and shown again: it is still unanswered
    (back,) = run.feed(scored(mention(1, at=at + timedelta(minutes=1), event_type="restored", actor="brand"), None))
    assert back.status is AlertStatus.UPDATED and back.alert_id == a.alert_id  # within the cooldown: same incident
    assert back.evidence.mention_ids == ["m1"]


def test_edits_keep_a_complaint_pending_and_never_create_one():
    run = Run()
    run.feed(complaint(0, T0))
    run.feed(scored(mention(0, at=T0 + timedelta(minutes=5), event_type="edited", text="still waiting"), "neutral"))
    run.feed(scored(mention(1, at=T0 + timedelta(minutes=5), event_type="edited", text="awful"), "negative"))
    (a,) = [a for _, al in advance_by(run, T0, T0 + timedelta(hours=2), timedelta(minutes=1)) for a in al]
    assert a.evidence.mention_ids == ["m0"]


def test_flapping_reopens_the_same_incident_within_the_cooldown():
    run = Run()
    run.feed(complaint(0, T0))
    run.feed(complaint(2, T0 + timedelta(minutes=30)))
    run.advance(T0 + SLA)
    (res,) = run.feed(reply(1, "m0", T0 + SLA + timedelta(minutes=1)))
    assert res.status is AlertStatus.RESOLVED
    (again,) = run.advance(T0 + timedelta(minutes=90))  # 29 min after resolution: inside the cooldown
    assert again.status is AlertStatus.UPDATED and again.alert_id == res.alert_id and again.sequence == 2
    run.feed(reply(3, "m2", T0 + 2 * SLA + timedelta(minutes=3)))
    run.feed(complaint(4, T0 + 3 * SLA))
    (new,) = run.advance(T0 + 4 * SLA)  # long after: a new incident
    assert new.status is AlertStatus.FIRING and new.alert_id != res.alert_id and new.sequence == 0


# --- late, out of order, duplicates ---------------------------------------------------------------------------------


def test_a_reply_that_arrives_before_its_complaint_answers_it():
    run = Run()
    run.feed(reply(1, "m0", T0 + timedelta(minutes=10)))
    run.feed(complaint(0, T0 + timedelta(minutes=5)))  # late
    run.feed(reply(3, "thread9", T0 + timedelta(minutes=20)))
    run.feed(complaint(2, T0 + timedelta(minutes=15), parent_id="thread9"))  # late, before the thread reply
    assert advance_by(run, T0, T0 + timedelta(hours=3), timedelta(minutes=1)) == []
    assert sorted(s for _, s in run.det.take_measurements(run.state)) == [300.0, 300.0]


def test_a_late_complaint_already_past_its_deadline_fires_at_once():
    run = Run()
    run.feed(noise(100, T0 + timedelta(hours=3)))
    (a,) = run.feed(complaint(0, T0))
    assert a.status is AlertStatus.FIRING and a.window_end == T0 + timedelta(hours=3)
    assert "longest 3 h" in a.message


def test_a_late_reply_after_the_deadline_resolves():
    run = Run()
    run.feed(complaint(0, T0))
    run.feed(noise(100, T0 + timedelta(minutes=70)))
    assert len(run.alerts) == 1
    # dated within the SLA but delivered after the clock passed it: the alert stands, the answer resolves it
    (res,) = run.feed(reply(1, "m0", T0 + timedelta(minutes=50)))
    assert res.status is AlertStatus.RESOLVED
    assert run.det.take_measurements(run.state) == [("reply_seconds", 3000.0)]


def test_duplicates_do_not_double_count():
    run = Run()
    c = complaint(0, T0)
    run.feed(c)
    run.feed(c)
    run.feed(complaint(1, T0))
    run.feed(complaint(1, T0))
    run.advance(T0 + SLA)
    (a,) = run.alerts
    assert a.evidence.counts["overdue"] == 2
    r = reply(2, "m0", T0 + SLA + timedelta(minutes=1))
    run.feed(r)
    run.feed(r)
    assert len(run.det.take_measurements(run.state)) == 1
    run.feed(c)  # redelivered after it was answered: does not wait again
    run.feed(reply(3, "m1", T0 + SLA + timedelta(minutes=2)))
    assert run.alerts[-1].status is AlertStatus.RESOLVED
    assert advance_by(run, T0 + SLA * 2, T0 + timedelta(hours=5), timedelta(minutes=5)) == []


# --- state ------------------------------------------------------------------------------------------------------------


def _random_stream(seed: int, n: int) -> list[tuple[str, object]]:
    rng = random.Random(seed)
    ops: list[tuple[str, object]] = []
    t = T0
    mids: list[str] = []
    for i in range(n):
        t += timedelta(seconds=rng.choice([1, 5, 30, 60, 300, 900]))
        r = rng.random()
        channel = rng.choice([CHANNEL, CHANNEL, "vk:club_acme_2"])
        if r < 0.35:
            parent = rng.choice([None, None, "p1", "p2"])
            ops.append(("feed", complaint(i, t, channel=channel, parent_id=parent, url=f"https://x/{i}")))
            mids.append(f"m{i}")
        elif r < 0.42:
            ops.append(("feed", scored(mention(i, at=t, channel=channel, text="how do I return this"), "neutral")))
            mids.append(f"m{i}")
        elif r < 0.62 and mids:
            parent = rng.choice(mids + ["p1", "p2"])
            late = timedelta(minutes=rng.choice([0, 0, 0, 3]))
            ops.append(("feed", reply(i, parent, t - late, channel=channel)))
        elif r < 0.67 and mids:
            et = rng.choice(["deleted", "hidden", "restored"])
            ops.append(("feed", scored(mention(int(rng.choice(mids)[1:]), at=t, channel=channel, event_type=et), None)))
        elif r < 0.72 and ops:
            ops.append(rng.choice(ops))  # redelivery
        elif r < 0.80:
            t += timedelta(minutes=rng.choice([10, 45, 120, 60 * 26]))
            ops.append(("advance", t))
        else:
            ops.append(("feed", noise(i, t)))
    return ops


def _play(ops, k: int | None, settings: UnansweredComplaintSettings | None = None) -> list[dict]:
    run = Run(UnansweredComplaintDetector(settings))
    for j, (op, arg) in enumerate(ops):
        if op == "feed":
            run.feed(arg)
        else:
            run.advance(arg)
        if k and j % k == k - 1:
            run.restore()
    run.advance(T0 + timedelta(days=60))
    return [a.model_dump(mode="json") for a in run.alerts]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_restore_every_k_events_gives_the_same_alerts(seed):
    ops = _random_stream(seed, 1500)
    small = UnansweredComplaintSettings(max_pending_per_channel=40, max_memory=50)
    for settings in (None, small):
        base = _play(ops, None, settings)
        assert len(base) > 5
        assert len({a["alert_id"] for a in base}) > 1
        for k in (1, 7, 101):
            assert _play(ops, k, settings) == base


def test_unknown_state_version_is_refused():
    d = UnansweredComplaintDetector()
    dump = d.dump_state(d.new_state())
    with pytest.raises(ValueError, match="version"):
        d.load_state({**dump, "version": 99})
    with pytest.raises(ValueError, match="malformed"):
        d.load_state({"version": 2, "channels": "nope"})


def test_state_is_bounded():
    s = UnansweredComplaintSettings(max_pending_per_channel=100, max_memory=300, max_channels=3)
    run = Run(UnansweredComplaintDetector(s), config=BrandConfig(owned_channels={"vk": [f"c{j}" for j in range(5)]}))
    for i in range(5000):
        run.feed(complaint(i, T0 + timedelta(seconds=i), channel=f"c{i % 5}"))
    st = run.state
    assert len(st.channels) == 3 and st.untracked == 2000
    assert all(len(ch.pending) <= 100 for ch in st.channels.values())
    assert all(ch.dropped == 900 for ch in st.channels.values())
    # answered complaints leave stale heap entries behind: compaction keeps the heap near the live size
    for i in range(5000, 20000):
        at = T0 + timedelta(seconds=i)
        run.feed(complaint(i, at, channel="c0"))
        run.feed(reply(100_000 + i, f"m{i}", at))
    live = sum(len(ch.pending) for ch in st.channels.values())
    assert len(run.state.heap) <= 2 * (live + len(st.channels)) + 512  # checked every 256 pushes
    assert len(st.closed) <= 300 and len(st.replied) <= 300
    # after the TTL nothing is tracked any more, and the incidents say so when they resolve
    run.advance(T0 + timedelta(days=8))
    assert all(not ch.pending for ch in run.state.channels.values())
    resolved = [a for a in run.alerts if a.status is AlertStatus.RESOLVED]
    assert resolved and "given up on after 7 days unanswered" in resolved[-1].message
    assert {m.role for m in resolved[-1].evidence.mentions} == {"given_up"}
    run.advance(T0 + timedelta(days=9))
    assert run.state.channels == {}
    assert len(json.dumps(run.det.dump_state(run.state))) < 100_000


def test_settings_are_validated():
    with pytest.raises(ValueError):
        UnansweredComplaintSettings(sla_minutes=120, failure_hours=1)
    with pytest.raises(ValueError):
        UnansweredComplaintSettings(pending_ttl_days=0.5)
    with pytest.raises(ValueError):
        UnansweredComplaintSettings(unknown=1)


def test_observe_throughput(capsys):
    run = Run()
    events = []
    for i in range(20_000):
        at = T0 + timedelta(seconds=i)
        r = i % 10
        if r == 0:
            events.append(complaint(i, at))
        elif r == 5:
            events.append(reply(i, f"m{i - 5}", at))
        elif r in (1, 2):
            events.append(scored(mention(i, at=at, text="nice post"), "positive"))
        else:
            events.append(noise(i, at))
    obs = []
    wm = None
    for ev in events:
        wm = ev.mention.occurred_at if wm is None or ev.mention.occurred_at > wm else wm
        m = ev.mention
        neg = ev.sentiment is not None and ev.sentiment.label is SentimentLabel.NEGATIVE and not m.author_is_brand
        obs.append(Observation(ev, neg, m.channel == CHANNEL, wm))
    d, state, view = run.det, run.state, run.view
    start = time.perf_counter()
    for o in obs:
        d.observe(state, o, view)
    took = time.perf_counter() - start
    with capsys.disabled():
        print(f"\nunanswered_complaint observe(): {len(obs) / took:,.0f} events/s")


def test_a_long_jump_in_time_still_reports_before_giving_up():
    run = Run()
    run.feed(complaint(0, T0))
    run.feed(complaint(1, T0 + timedelta(minutes=1)))
    fired, resolved = run.advance(T0 + timedelta(days=30))  # an outage, or the end of a backtest
    assert fired.status is AlertStatus.FIRING and fired.severity is Severity.CRITICAL
    assert fired.evidence.counts["overdue"] == 2 and fired.evidence.counts["failed"] == 2
    assert resolved.status is AlertStatus.RESOLVED and resolved.alert_id == fired.alert_id
    assert resolved.evidence.counts["expired"] == 2 and "never answered" in resolved.message
