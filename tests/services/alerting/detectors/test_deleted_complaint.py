"""deleted_complaint: brand-side removals of complaints, within one event, once per removal."""

from __future__ import annotations

import json
import random
import time
from datetime import datetime, timedelta

import pytest

from services.alerting.detectors.deleted_complaint import (
    DeletedComplaintDetector,
    DeletedComplaintSettings,
    risk_score,
)
from services.alerting.packing import pack, unpack
from services.alerting.types import BrandView, Observation
from shared.brands import BrandConfig
from shared.schemas import Alert, AlertKind, AlertStatus, ScoredMention, SentimentLabel, Severity
from tests.factories import T0, mention, scored

OWNED = "vk:club_acme"
BRAND = BrandView("acme", BrandConfig(owned_channels={"vk": [OWNED]}))


class Feed:
    """What the engine does for one brand: a monotone watermark, the complaint rule, ownership."""

    def __init__(self, det: DeletedComplaintDetector | None = None) -> None:
        self.det = det or DeletedComplaintDetector()
        self.state = self.det.new_state()
        self.wm: datetime | None = None

    def obs(self, ev: ScoredMention) -> Observation:
        m = ev.mention
        self.wm = m.occurred_at if self.wm is None or m.occurred_at > self.wm else self.wm
        neg = ev.sentiment is not None and not m.author_is_brand and ev.sentiment.label is SentimentLabel.NEGATIVE
        return Observation(ev, neg, BRAND.owns(m.platform, m.channel), self.wm)

    def __call__(self, ev: ScoredMention) -> list[Alert]:
        return self.det.observe(self.state, self.obs(ev), BRAND)

    def advance(self, now: datetime) -> list[Alert]:
        self.wm = now
        return self.det.advance(self.state, now, BRAND)


def complaint(i: int, at: datetime, **kw) -> ScoredMention:
    kw.setdefault("text", f"Your courier broke my parcel number {i} and support does not answer")
    kw.setdefault("url", f"https://vk.com/wall-1_{i}")
    label = kw.pop("label", "negative")
    return scored(mention(i, at=at, **kw), label)


def removal(i: int, at: datetime, actor: str | None = "brand", event_type: str = "hidden", **kw) -> ScoredMention:
    kw.setdefault("author_id", f"u{i}")
    return scored(mention(i, at=at, event_type=event_type, actor=actor, text="", **kw), None)


def brand_reply(i: int, parent: str, at: datetime, channel: str = OWNED) -> ScoredMention:
    ev = mention(i, at=at, author_id="acme", author_is_brand=True, parent_id=parent, channel=channel, text="Sorry!")
    return scored(ev, "neutral")


def M(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --- the cases ---------------------------------------------------------------------------------------------


def test_brand_hiding_a_complaint_fires_at_once_with_evidence() -> None:
    f = Feed()
    assert f(complaint(1, M(0), author_id="u123", author_followers=12_000)) == []
    alerts = f(removal(1, M(40), author_id="u123"))
    assert len(alerts) == 1
    a = alerts[0]
    assert (a.kind, a.status, a.channel, a.sequence) == (AlertKind.DELETED_COMPLAINT, AlertStatus.FIRING, OWNED, 0)
    assert a.message.startswith("acme hid a complaint by u123 (12k followers) on vk:club_acme after 40 min")
    assert "Restore it and reply publicly" in a.message
    assert a.started_at == M(40) and a.window_start == M(0) and a.window_end == M(40)
    ev = a.evidence
    assert ev.mention_ids == ["m1"]
    (removed,) = ev.mentions
    assert removed.role == "removed" and removed.url == "https://vk.com/wall-1_1" and removed.author_id == "u123"
    assert "courier broke my parcel" in removed.text and removed.negative == pytest.approx(0.8)
    assert ev.counts["followers"] == 12_000 and ev.counts["visible_minutes"] == 40 and ev.counts["brand_replied"] == 0
    assert ev.score is not None and 0 < ev.score <= 1
    assert a.severity is (Severity.CRITICAL if ev.score >= 0.55 else Severity.WARNING)
    assert f.det.active(f.state) == 1


@pytest.mark.parametrize("actor", ["brand", None])
@pytest.mark.parametrize("event_type", ["deleted", "hidden"])
def test_every_brand_side_removal_of_a_complaint_is_flagged_within_one_event(actor, event_type) -> None:
    rng = random.Random(7)
    f = Feed()
    ids = []
    for i in range(60):
        f(complaint(i, M(i), author_followers=rng.choice([None, 0, 50, 3_000, 250_000])))
        if rng.random() < 0.5:
            f(scored(mention(1000 + i, at=M(i), text="love it"), "positive"))
    for i in range(60):
        # a poller reports many removals with one timestamp: each is its own incident
        out = f(removal(i, M(120 + i // 10), actor=actor, event_type=event_type))
        assert [(a.status, a.evidence.mention_ids) for a in out] == [(AlertStatus.FIRING, [f"m{i}"])]
        assert out[0].severity in (Severity.WARNING, Severity.CRITICAL)
        ids.append(out[0].alert_id)
    assert len(set(ids)) == 60


@pytest.mark.parametrize("label", ["neutral", "positive"])
@pytest.mark.parametrize("actor", ["author", None, "brand", "platform"])
def test_no_alert_when_a_non_negative_post_is_removed(label, actor) -> None:
    f = Feed()
    f(complaint(1, M(0), label=label, text="Thanks, great service"))
    assert f(removal(1, M(5), actor=actor, event_type="deleted")) == []
    assert f.advance(M(60 * 48)) == []


def test_author_deleting_own_complaint_is_info_or_nothing() -> None:
    f = Feed()
    f(complaint(1, M(0)))
    f(brand_reply(2, "m1", M(10)))
    (a,) = f(removal(1, M(30), actor="author", event_type="deleted"))
    assert a.severity is Severity.INFO and a.status is AlertStatus.FIRING
    assert "deleted their own complaint" in a.message and "after acme replied" in a.message
    quiet = Feed(DeletedComplaintDetector(DeletedComplaintSettings(own_deletion="ignore")))
    quiet(complaint(1, M(0)))
    assert quiet(removal(1, M(30), actor="author", event_type="deleted")) == []


def test_platform_moderation_is_info() -> None:
    f = Feed()
    f(complaint(1, M(0)))
    (a,) = f(removal(1, M(3), actor="platform"))
    assert a.severity is Severity.INFO and "moderation" in a.message


def test_unknown_actor_off_owned_channel_is_nothing_but_brand_actor_on_a_reply_to_the_brand_fires() -> None:
    f = Feed()
    other = "x:acme_news"
    f(scored(mention(1, at=M(0), channel=other, text="x")))  # a complaint elsewhere: not addressed to the brand
    assert f(removal(1, M(5), actor=None, channel=other)) == []
    # a reply to the brand's own post on a channel not listed as owned
    post = scored(mention(50, at=M(0), channel=other, author_id="acme", author_is_brand=True, text="News"), "neutral")
    f(post)
    # the test feed's ownership comes from the brands file only, so this channel stays not owned
    f(complaint(2, M(1), channel=other, parent_id="m50"))
    assert f(removal(3, M(2), actor=None, channel=other)) == []
    assert f(removal(2, M(6), actor=None, channel=other)) == []  # unknown remover, not owned: nobody can tell
    f(complaint(4, M(7), channel=other, parent_id="m50"))
    (a,) = f(removal(4, M(9), actor="brand", channel=other))
    assert a.channel == other and a.severity is not Severity.INFO


def test_brand_removing_unseen_mentions_is_one_info_incident_per_channel() -> None:
    f = Feed()
    (a,) = f(removal(1, M(0), actor="brand"))
    assert a.severity is Severity.INFO and "never saw" in a.message and a.evidence.counts == {"removed": 1}
    assert f(removal(1, M(0), actor="brand")) == []  # redelivered
    (b,) = f(removal(2, M(1), actor="brand"))  # doubled: 1 -> 2
    assert b.alert_id == a.alert_id and b.status is AlertStatus.UPDATED and b.evidence.counts == {"removed": 2}
    assert f(removal(3, M(2), actor="brand")) == []  # 3 < 4
    assert f(removal(4, M(3), actor=None)) == []  # unknown remover and unknown content: nothing to act on
    (r,) = f.advance(M(3 + 24 * 60))
    assert r.alert_id == a.alert_id and r.status is AlertStatus.RESOLVED
    ignore = Feed(DeletedComplaintDetector(DeletedComplaintSettings(unknown_content="ignore")))
    assert ignore(removal(1, M(0), actor="brand")) == []


def test_known_non_complaint_removed_by_brand_is_not_unknown_content() -> None:
    f = Feed()
    f(scored(mention(1, at=M(0), text="spam spam"), "neutral"))
    assert f(removal(1, M(1), actor="brand")) == []


def test_complaint_edited_into_praise_then_removed_raises_nothing() -> None:
    f = Feed()
    f(complaint(1, M(0)))
    f(scored(mention(1, at=M(5), event_type="edited", text="Sorted now, thank you!"), "positive"))
    assert f(removal(1, M(9), actor="brand")) == []


def test_duplicates_raise_one_incident() -> None:
    f = Feed()
    c = complaint(1, M(0))
    f(c)
    f(c)  # redelivered created
    (a,) = f(removal(1, M(10), event_type="hidden"))
    assert f(removal(1, M(10), event_type="hidden")) == []  # redelivered
    assert f(removal(1, M(12), event_type="deleted")) == []  # hidden, then deleted: one removal
    assert f(c) == []  # a late redelivery of the complaint does not make it visible again
    assert f(removal(1, M(13), event_type="deleted")) == []
    assert f.det.active(f.state) == 1
    assert a.status is AlertStatus.FIRING


def test_restore_resolves_and_a_second_removal_reopens_then_starts_anew() -> None:
    f = Feed()
    f(complaint(1, M(0)))
    (a,) = f(removal(1, M(10)))
    (r,) = f(scored(mention(1, at=M(20), event_type="restored", actor="brand", text=""), None))
    assert (r.alert_id, r.status, r.sequence) == (a.alert_id, AlertStatus.RESOLVED, 1)
    assert "restored" in r.message
    assert f.det.active(f.state) == 0
    (u,) = f(removal(1, M(30)))  # within reopen_minutes: same incident
    assert (u.alert_id, u.status, u.sequence) == (a.alert_id, AlertStatus.UPDATED, 2)
    f(scored(mention(1, at=M(40), event_type="restored", actor="brand", text=""), None))
    (n,) = f(removal(1, M(40 + 7 * 60)))  # long after: a new removal, a new incident
    assert n.status is AlertStatus.FIRING and n.alert_id != a.alert_id


def test_unrestored_incident_resolves_after_resolve_after_via_advance_and_events() -> None:
    f = Feed()
    f(complaint(1, M(0)))
    (a,) = f(removal(1, M(10)))
    assert f.advance(M(10 + 23 * 60)) == []
    (r,) = f.advance(M(10 + 24 * 60 + 1))
    assert (r.alert_id, r.status) == (a.alert_id, AlertStatus.RESOLVED)
    assert "not restored within 24 h" in r.message
    assert f.det.active(f.state) == 0
    # and from an ordinary event when time moves by events
    g = Feed()
    g(complaint(1, M(0)))
    g(removal(1, M(10)))
    out = g(scored(mention(99, at=M(10 + 25 * 60), text="hello"), "neutral"))
    assert [x.status for x in out] == [AlertStatus.RESOLVED]
    # resolved incidents leave the state after the reopen window
    g.advance(M(10 + 40 * 60))
    assert g.state.incidents == {}


def test_risk_score_grows_with_each_factor() -> None:
    base = risk_score(0.8, None, 0, 5, False)
    assert 0 < base < risk_score(0.95, None, 0, 5, False)
    assert base < risk_score(0.8, 20_000, 0, 5, False)
    assert base < risk_score(0.8, None, 40, 5, False)
    assert base < risk_score(0.8, None, 0, 600, False)
    assert base < risk_score(0.8, None, 0, 5, True)
    assert risk_score(1.0, 10**9, 10**9, 10**9, True) == 1.0
    assert risk_score(0.0, 0, 0, 0, False) == 0.0


def test_reply_then_delete_is_worse_and_says_so() -> None:
    plain, answered = Feed(), Feed()
    for f in (plain, answered):
        f(complaint(1, M(0), author_followers=300))
    answered(brand_reply(2, "m1", M(5)))
    (p,) = plain(removal(1, M(20), event_type="deleted"))
    (q,) = answered(removal(1, M(20), event_type="deleted"))
    assert q.evidence.score > p.evidence.score and q.evidence.counts["brand_replied"] == 1
    assert "replied to a complaint" in q.message and "and then deleted it" in q.message


def test_big_accounts_and_long_visibility_are_critical_small_quick_ones_warning() -> None:
    f = Feed()
    f(complaint(1, M(0), author_followers=80_000, engagement={"likes": 200, "replies": 40, "shares": 12}))
    (big,) = f(removal(1, M(300)))
    f(complaint(2, M(301), author_followers=12))
    (small,) = f(removal(2, M(302)))
    assert big.severity is Severity.CRITICAL and small.severity is Severity.WARNING


# --- order, time, restarts, bounds ------------------------------------------------------------------------------


def test_deletion_before_its_creation_fires_when_the_complaint_arrives() -> None:
    f = Feed()
    assert f(removal(1, M(10), actor=None)) == []  # unknown remover, unseen: wait for the mention
    (a,) = f(complaint(1, M(0)))  # late: the created event comes after its deletion
    assert a.status is AlertStatus.FIRING and a.started_at == M(10) and a.evidence.counts["visible_minutes"] == 10
    g = Feed()
    (u,) = g(removal(1, M(10), actor="brand"))  # brand removed something unseen: info now...
    (a2,) = g(complaint(1, M(0)))  # ...and the complaint incident once it turns out to be one
    assert u.severity is Severity.INFO and a2.severity is not Severity.INFO and a2.alert_id != u.alert_id


def test_late_and_shuffled_streams_never_crash_and_flag_each_removal_once() -> None:
    rng = random.Random(3)
    events = []
    for i in range(300):
        t = M(i)
        events.append(complaint(i, t))
        events.append(removal(i, t + timedelta(minutes=rng.randint(1, 90)), actor=rng.choice(["brand", None])))
    for _ in range(5):
        shuffled = events[:]
        rng.shuffle(shuffled)
        f = Feed()
        fired: dict[str, int] = {}
        for ev in shuffled:
            for a in f(ev):
                if a.status is AlertStatus.FIRING and a.severity is not Severity.INFO:
                    fired[a.evidence.mention_ids[0]] = fired.get(a.evidence.mention_ids[0], 0) + 1
        assert fired == {f"m{i}": 1 for i in range(300)}


def _random_stream(seed: int, n: int) -> list[ScoredMention]:
    rng = random.Random(seed)
    out: list[ScoredMention] = []
    t = T0
    live: list[int] = []
    for i in range(n):
        t += timedelta(seconds=rng.choice([1, 5, 30, 120, 600]))
        r = rng.random()
        channel = rng.choice([OWNED, OWNED, "vk:club_acme_2", "telegram:acme_chat"])
        if r < 0.45:
            label = rng.choice(["negative", "negative", "neutral", "positive"])
            out.append(
                scored(
                    mention(i, at=t, channel=channel, author_followers=rng.choice([None, 10, 5_000, 90_000])),
                    label,
                )
            )
            live.append(i)
        elif r < 0.55 and live:
            j = rng.choice(live)
            out.append(brand_reply(n + i, f"m{j}", t))
        elif r < 0.8 and live:
            j = rng.choice(live[-200:])
            et = rng.choice(["deleted", "hidden"])
            actor = rng.choice(["brand", "brand", None, "author", "platform"])
            out.append(removal(j, t, actor=actor, event_type=et, channel=rng.choice([OWNED, channel])))
        elif r < 0.88 and live:
            j = rng.choice(live[-200:])
            out.append(scored(mention(j, at=t, event_type="restored", actor="brand", text=""), None))
        elif r < 0.95 and out:
            out.append(rng.choice(out[-50:]))  # redelivery
        else:
            # late: dated up to an hour back
            out.append(complaint(n * 2 + i, t - timedelta(minutes=rng.randint(1, 60)), channel=channel))
    return out


def _run(det: DeletedComplaintDetector, events: list[ScoredMention], every: int | None) -> list[str]:
    f = Feed(det)
    got: list[str] = []
    for k, ev in enumerate(events):
        if every and k % every == 0:
            f.state = det.load_state(json.loads(json.dumps(det.dump_state(f.state))))
        got.extend(a.model_dump_json() for a in f(ev))
        if k % 97 == 0:
            got.extend(a.model_dump_json() for a in f.advance(f.wm + timedelta(minutes=3)))
    got.extend(a.model_dump_json() for a in f.advance(f.wm + timedelta(days=30)))
    return got


@pytest.mark.parametrize("every", [1, 7, 101])
def test_snapshot_json_restore_every_k_events_gives_identical_alerts(every) -> None:
    det = DeletedComplaintDetector(DeletedComplaintSettings(max_complaints=150, max_others=100, max_incidents=40))
    events = _random_stream(11, 2_500)
    plain = _run(det, events, None)
    assert len(plain) > 100
    assert _run(det, events, every) == plain


def test_unknown_state_version_is_refused() -> None:
    det = DeletedComplaintDetector()
    dump = det.dump_state(det.new_state())
    dump["v"] = 99
    with pytest.raises(ValueError, match="version"):
        det.load_state(dump)
    with pytest.raises(ValueError):
        det.load_state({"v": 1, "complaints": [[1, 2]]})


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        DeletedComplaintSettings(own_deletion="shout")
    with pytest.raises(ValueError):
        DeletedComplaintSettings(max_complaints=0)
    assert DeletedComplaintSettings().resolve_after_hours == 24.0


def test_state_stays_bounded_over_100k_events_and_prints_throughput() -> None:
    settings = DeletedComplaintSettings()
    det = DeletedComplaintDetector(settings)
    events = _random_stream(5, 20_000)
    f = Feed(det)
    # 100k events in ~2 days of event time, so the caps bind before any TTL does
    obs = []
    for k in range(100_000):
        ev = events[k % len(events)]
        m = ev.mention
        rep = k // 2_000  # ids are reused within a stretch of the base stream, fresh across stretches
        moved = {
            "occurred_at": T0 + timedelta(seconds=2 * k),
            "mention_id": f"{m.mention_id}.{rep}",
            "parent_id": f"{m.parent_id}.{rep}" if m.parent_id else None,
        }
        obs.append(f.obs(ev.model_copy(update={"mention": m.model_copy(update=moved)})))
    start = time.perf_counter()
    alerts = 0
    for o in obs:
        alerts += len(det.observe(f.state, o, BRAND))
    elapsed = time.perf_counter() - start
    print(f"\ndeleted_complaint observe(): {len(obs) / elapsed:,.0f} events/s ({len(obs)} events, {alerts} alerts)")
    st = f.state
    assert len(st.complaints) == settings.max_complaints  # the cap binds
    assert len(st.others) <= settings.max_others
    assert len(st.brand_posts) <= settings.max_brand_posts
    assert len(st.pending) <= settings.max_pending
    assert len(st.incidents) <= settings.max_incidents
    size = len(json.dumps(det.dump_state(st)))
    print(f"deleted_complaint state after 100k events: {size / 1024:.0f} KiB JSON")
    assert size < 3_000_000


# --- removals that name the remover but not the author (VK: removed_by) ------------------------------------------


def named(i: int, at: datetime, removed_by: str, event_type: str = "deleted") -> ScoredMention:
    """A removal as VK's receiver sends it for a comment it never saw: actor null, the remover
    named, the author unknown."""
    return removal(i, at, actor=None, event_type=event_type, author_id="vk:unknown", removed_by=removed_by)


def _seen(alerts: list[Alert]) -> list[tuple]:
    return [(a.alert_id, a.status, a.severity, a.sequence, a.message, a.evidence) for a in alerts]


def _through_json(f: Feed) -> None:
    f.state = f.det.load_state(json.loads(json.dumps(f.det.dump_state(f.state))))


@pytest.mark.parametrize("restart", [False, True])
def test_the_author_named_as_remover_of_their_own_complaint_is_their_own_deletion(restart) -> None:
    """Deleted by its author, seen by a receiver that never saw the comment: at most what an
    ``actor: author`` removal raises, also when a restore from JSON lies between (the durable part)."""
    for settings in (DeletedComplaintSettings(), DeletedComplaintSettings(own_deletion="ignore")):
        want, got = Feed(DeletedComplaintDetector(settings)), Feed(DeletedComplaintDetector(settings))
        for f in (want, got):
            f(complaint(1, M(0), author_id="vk:id700300"))
            if restart:
                _through_json(f)
        expected = want(removal(1, M(30), actor="author", event_type="deleted", author_id="vk:unknown"))
        assert _seen(got(named(1, M(30), "vk:id700300"))) == _seen(expected)
        assert all(a.severity is Severity.INFO for a in expected)
        assert got.det.active(got.state) == want.det.active(want.state)


@pytest.mark.parametrize("restart", [False, True])
def test_anyone_else_named_as_remover_is_the_brand(restart) -> None:
    want, got = Feed(), Feed()
    for f in (want, got):
        f(complaint(1, M(0), author_id="vk:id700300"))
        if restart:
            _through_json(f)
    expected = want(removal(1, M(30), actor="brand", event_type="deleted", author_id="vk:unknown"))
    (a,) = got(named(1, M(30), "vk:id900001"))
    assert _seen([a]) == _seen(expected) and a.severity is not Severity.INFO and "deleted" in a.message


@pytest.mark.parametrize("restart", [False, True])
def test_a_named_removal_before_its_complaint_is_judged_when_the_complaint_arrives(restart) -> None:
    for remover, actor in (("vk:id700300", "author"), ("vk:id900001", "brand")):
        want, got = Feed(), Feed()
        want(removal(1, M(10), actor=actor, event_type="deleted", author_id="vk:unknown"))
        assert got(named(1, M(10), remover)) == []  # nobody to judge it against yet
        if restart:
            _through_json(got)
        expected = want(complaint(1, M(0), author_id="vk:id700300"))
        (a,) = got(complaint(1, M(0), author_id="vk:id700300"))
        assert _seen([a]) == _seen(expected) and a.started_at == M(10)
        assert (a.severity is Severity.INFO) == (actor == "author")


def test_a_version_2_snapshot_still_loads() -> None:
    """Waiting removals got a removed_by column in version 3; a brand snapshotted by the previous
    build is restored, not rebuilt from scratch."""
    f = Feed()
    f(complaint(1, M(0)))
    f(removal(2, M(5), actor=None))  # waits for its mention
    dump = f.det.dump_state(f.state)
    mem = unpack(dump["memory"])
    mem["pending"] = mem["pending"][:6]
    old = {**dump, "v": 2, "memory": pack(mem)}
    g = Feed()
    g.state = g.det.load_state(json.loads(json.dumps(old)))
    (a,) = g(complaint(2, M(1)))
    assert a.severity is not Severity.INFO and a.started_at == M(5)
    assert g.det.dump_state(g.state)["v"] == 3
