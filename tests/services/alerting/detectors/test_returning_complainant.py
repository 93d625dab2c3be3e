"""returning_complainant: a removed complaint that comes back, paraphrased, from any account."""

from __future__ import annotations

import json
import random
import time
from datetime import datetime, timedelta

import pytest

from services.alerting.detectors.returning_complainant import (
    ReturningComplainantDetector,
    ReturningComplainantSettings,
)
from services.alerting.packing import pack, unpack
from services.alerting.types import BrandView, Observation
from shared.brands import BrandConfig
from shared.schemas import Alert, AlertKind, AlertStatus, ScoredMention, SentimentLabel, Severity
from tests.factories import T0, mention, scored
from tests.services.alerting.test_similarity import PARAPHRASES, UNRELATED

OWNED = "vk:club_acme"
ELSEWHERE = "x:search_acme"
BRAND = BrandView("acme", BrandConfig(owned_channels={"vk": [OWNED]}))


class Feed:
    """What the engine does for one brand: a monotone watermark, the complaint rule, ownership."""

    def __init__(self, det: ReturningComplainantDetector | None = None) -> None:
        self.det = det or ReturningComplainantDetector()
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


def post(mid: str, text: str, at: datetime, author: str = "u1", channel: str = OWNED, label="negative", **kw):
    ev = mention(
        0, at=at, mention_id=mid, author_id=author, channel=channel, text=text, url=f"https://example.com/{mid}", **kw
    )
    return scored(ev, label)


def removal(
    mid: str, at: datetime, actor: str | None = "brand", event_type: str = "deleted", channel: str = OWNED, **kw
) -> ScoredMention:
    ev = mention(0, at=at, mention_id=mid, event_type=event_type, actor=actor, channel=channel, text="", **kw)
    return scored(ev, None)


def H(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


# --- the target: every returning complainant caught --------------------------------------------------------


@pytest.mark.parametrize("k", range(len(PARAPHRASES)))
def test_every_paraphrased_return_from_another_account_is_caught(k) -> None:
    removed_text, returned_text = PARAPHRASES[k]
    f = Feed()
    assert f(post("c1", removed_text, H(0), author="u1")) == []
    assert f(removal("c1", H(1))) == []
    (a,) = f(post("c2", returned_text, H(3), author="u2", channel=ELSEWHERE))
    assert (a.kind, a.status, a.severity) == (AlertKind.RETURNING_COMPLAINANT, AlertStatus.FIRING, Severity.CRITICAL)
    roles = {(e.mention_id, e.role) for e in a.evidence.mentions}
    assert roles == {("c1", "removed"), ("c2", "returned")}
    urls = {e.mention_id: e.url for e in a.evidence.mentions}
    assert urls == {"c1": "https://example.com/c1", "c2": "https://example.com/c2"}
    assert a.evidence.mention_ids == ["c1", "c2"]
    assert a.evidence.counts["accounts"] == 1 and a.evidence.counts["other_accounts"] == 1
    assert a.evidence.score >= 0.45 and a.channel == OWNED
    assert a.window_start == H(1) and a.window_end == H(3) and a.started_at == H(3)
    assert "another account (u2)" in a.message and "do not remove it again" in a.message


def test_unrelated_complaints_never_match_a_removed_one() -> None:
    f = Feed()
    for i, (removed_text, _) in enumerate(PARAPHRASES):
        f(post(f"c{i}", removed_text, H(0), author=f"a{i}"))
        f(removal(f"c{i}", H(1)))
    out = []
    for i, text in enumerate(UNRELATED):
        out += f(post(f"n{i}", text, H(2 + i / 10), author=f"b{i}"))
    assert out == []


def test_paraphrase_of_one_removed_complaint_matches_only_that_one() -> None:
    f = Feed()
    for i, (removed_text, _) in enumerate(PARAPHRASES):
        f(post(f"c{i}", removed_text, H(0), author=f"a{i}"))
        f(removal(f"c{i}", H(1)))
    for i, (_, returned_text) in enumerate(PARAPHRASES):
        (a,) = f(post(f"r{i}", returned_text, H(2 + i), author=f"b{i}"))
        assert [e.mention_id for e in a.evidence.mentions if e.role == "removed"] == [f"c{i}"]


def test_same_account_coming_back_is_caught_too() -> None:
    f = Feed()
    f(post("c1", PARAPHRASES[7][0], H(0), author="u9"))
    f(removal("c1", H(0.5), actor=None))  # unknown remover on an owned channel counts as the brand
    (a,) = f(post("c2", PARAPHRASES[7][1], H(0.6), author="u9"))
    assert "from the same account" in a.message and a.evidence.counts["other_accounts"] == 0


def test_only_brand_side_removals_are_watched() -> None:
    for actor, channel in (("author", OWNED), ("platform", OWNED), (None, ELSEWHERE)):
        f = Feed()
        # on ELSEWHERE the complaint must be addressed to the brand to be remembered at all
        f(
            post(
                "p",
                "Our new store opens today",
                H(0),
                author="acme",
                channel=channel,
                author_is_brand=True,
                label="neutral",
            )
        )
        f(post("c1", PARAPHRASES[0][0], H(0), channel=channel, parent_id="p"))
        f(removal("c1", H(1), actor=actor, channel=channel))
        assert f(post("c2", PARAPHRASES[0][1], H(2), author="u2")) == [], actor
    # the brand removing a reply to its own post on a channel it does not list as owned is watched
    f = Feed()
    f(
        post(
            "p",
            "Our new store opens today",
            H(0),
            author="acme",
            channel=ELSEWHERE,
            author_is_brand=True,
            label="neutral",
        )
    )
    f(post("c1", PARAPHRASES[0][0], H(0), channel=ELSEWHERE, parent_id="p"))
    f(removal("c1", H(1), actor="brand", channel=ELSEWHERE))
    assert len(f(post("c2", PARAPHRASES[0][1], H(2), author="u2"))) == 1


def test_a_copy_posted_before_the_removal_is_a_double_post_not_a_return() -> None:
    f = Feed()
    f(post("c1", PARAPHRASES[1][0], H(0)))
    f(post("c2", PARAPHRASES[1][1], H(0.2), author="u2"))
    assert f(removal("c1", H(1))) == []
    assert f(post("c3", "Unrelated: the app logs me out every hour, very annoying", H(2), author="u3")) == []
    # and a late copy dated before the removal is not one either
    assert f(post("c4", PARAPHRASES[1][1], H(0.5), author="u4")) == []


def test_returns_after_the_horizon_are_history() -> None:
    f = Feed()
    f(post("c1", PARAPHRASES[2][0], H(0)))
    f(removal("c1", H(1)))
    assert f(post("c2", PARAPHRASES[2][1], H(1 + 14 * 24 + 1), author="u2")) == []
    g = Feed(ReturningComplainantDetector(ReturningComplainantSettings(horizon_days=30)))
    g(post("c1", PARAPHRASES[2][0], H(0)))
    g(removal("c1", H(1)))
    assert len(g(post("c2", PARAPHRASES[2][1], H(1 + 14 * 24 + 1), author="u2"))) == 1


def test_non_negative_or_brand_posts_are_not_returns() -> None:
    f = Feed()
    f(post("c1", PARAPHRASES[3][0], H(0)))
    f(removal("c1", H(1)))
    assert f(post("c2", PARAPHRASES[3][1], H(2), author="u2", label="neutral")) == []
    brand_quote = post("c3", PARAPHRASES[3][1], H(2), author="acme", author_is_brand=True, label="negative")
    assert f(brand_quote) == []


def test_short_generic_texts_are_not_compared() -> None:
    f = Feed()
    f(post("c1", "Ужас!!!", H(0)))
    f(removal("c1", H(1)))
    assert f(post("c2", "Ужас", H(2), author="u2")) == []
    assert f.state.members == {}


def test_restored_complaint_is_no_longer_watched() -> None:
    f = Feed()
    f(post("c1", PARAPHRASES[4][0], H(0)))
    f(removal("c1", H(1), event_type="hidden"))
    f(scored(mention(0, at=H(1.5), mention_id="c1", event_type="restored", actor="brand", text=""), None))
    assert f(post("c2", PARAPHRASES[4][1], H(2), author="u2")) == []


def test_text_comes_from_the_latest_edit_before_the_removal() -> None:
    f = Feed()
    f(post("c1", "Everything fine so far, waiting for my order", H(0)))
    f(post("c1", PARAPHRASES[5][0], H(0.5), event_type="edited"))
    f(removal("c1", H(1)))
    assert len(f(post("c2", PARAPHRASES[5][1], H(2), author="u2"))) == 1


# --- one incident, escalation, resolution --------------------------------------------------------------------------


def test_more_accounts_escalate_the_same_incident_and_duplicates_do_not() -> None:
    f = Feed()
    f(post("c1", PARAPHRASES[6][0], H(0)))
    f(removal("c1", H(1)))
    (a,) = f(post("r1", PARAPHRASES[6][1], H(2), author="u2"))
    r1 = post("r1", PARAPHRASES[6][1], H(2), author="u2")
    assert f(r1) == []  # redelivered
    assert f(post("r1", PARAPHRASES[6][1] + "!", H(2.1), author="u2", event_type="edited")) == []  # edited
    assert f(post("r2", PARAPHRASES[6][1], H(3), author="u2")) == []  # same account again: no new page
    (b,) = f(post("r3", PARAPHRASES[6][0], H(4), author="u3"))  # 1 -> 2 accounts
    (c,) = f(post("r4", PARAPHRASES[6][1], H(5), author="u4"))  # 2 -> 3
    assert f(post("r5", PARAPHRASES[6][1], H(6), author="u5")) == []  # 4 < 3 x 1.5
    (d,) = f(post("r6", PARAPHRASES[6][1], H(7), author="u6"))  # 5
    assert {x.alert_id for x in (a, b, c, d)} == {a.alert_id}
    assert [x.status for x in (b, c, d)] == [AlertStatus.UPDATED] * 3
    assert [x.sequence for x in (a, b, c, d)] == [0, 1, 2, 3]
    assert d.evidence.counts["accounts"] == 5 and d.evidence.counts["returned"] == 6
    assert "from 5 accounts" in d.message
    assert f.det.active(f.state) == 1


def test_reposts_removed_again_stay_one_incident() -> None:
    f = Feed()
    f(post("c1", PARAPHRASES[8][0], H(0), author="u1"))
    f(removal("c1", H(1)))
    (a,) = f(post("c2", PARAPHRASES[8][1], H(2), author="u1"))
    f(removal("c2", H(2.5)))  # the brand makes the same mistake twice
    (b,) = f(post("c3", PARAPHRASES[8][1] + " Опять удалили!", H(3), author="u7"))
    assert b.alert_id == a.alert_id and b.status is AlertStatus.UPDATED
    assert b.evidence.counts["removed_again"] == 1 and b.evidence.counts["removed"] == 2
    assert len(f.state.clusters) == 1


def test_quiet_resolves_and_later_returns_reopen_the_same_incident() -> None:
    f = Feed()
    f(post("c1", PARAPHRASES[9][0], H(0)))
    f(removal("c1", H(1)))
    (a,) = f(post("r1", PARAPHRASES[9][1], H(2), author="u2"))
    assert f.advance(H(25)) == []
    (r,) = f.advance(H(26.5))
    assert (r.alert_id, r.status) == (a.alert_id, AlertStatus.RESOLVED) and "closing" in r.message
    assert f.det.active(f.state) == 0
    (u,) = f(post("r2", PARAPHRASES[9][1], H(50), author="u3"))
    assert (u.alert_id, u.status) == (a.alert_id, AlertStatus.UPDATED)
    # once the removal is past the horizon and the incident resolved, nothing is left
    f.advance(H(1 + 14 * 24 + 30))
    assert f.state.clusters == {} and f.state.members == {} and len(f.state.index) == 0


def test_two_clusters_returning_in_one_poll_get_distinct_ids() -> None:
    f = Feed()
    for i in (0, 1):
        f(post(f"c{i}", PARAPHRASES[i][0], H(0), author=f"a{i}"))
        f(removal(f"c{i}", H(1)))
    (a,) = f(post("r0", PARAPHRASES[0][1], H(2), author="b0"))
    (b,) = f(post("r1", PARAPHRASES[1][1], H(2), author="b1"))
    assert a.alert_id != b.alert_id


# --- order, restarts, bounds ---------------------------------------------------------------------------------------


def test_removal_before_creation_is_matched_when_the_text_arrives() -> None:
    f = Feed()
    assert f(removal("c1", H(1))) == []
    assert f(post("c1", PARAPHRASES[10][0], H(0))) == []  # late created, already removed
    (a,) = f(post("c2", PARAPHRASES[10][1], H(2), author="u2"))
    assert a.status is AlertStatus.FIRING


def test_late_and_shuffled_events_never_crash() -> None:
    rng = random.Random(2)
    events = []
    for i, (removed_text, returned_text) in enumerate(PARAPHRASES):
        events += [
            post(f"c{i}", removed_text, H(i)),
            removal(f"c{i}", H(i + 0.5), actor=rng.choice(["brand", None])),
            post(f"r{i}", returned_text, H(i + 1), author=f"x{i}"),
        ]
    events += [post(f"n{i}", t, H(i / 3), author=f"n{i}") for i, t in enumerate(UNRELATED)]
    for _ in range(20):
        rng.shuffle(events)
        f = Feed()
        for ev in events:
            for a in f(ev):
                assert a.kind is AlertKind.RETURNING_COMPLAINANT
    # in order, every return is caught
    f = Feed()
    ordered = sorted(events, key=lambda e: (e.mention.occurred_at, e.mention.mention_id))
    fired = [a for ev in ordered for a in f(ev) if a.status is AlertStatus.FIRING]
    assert len(fired) == len(PARAPHRASES)


def _random_stream(seed: int, n: int) -> list[ScoredMention]:
    rng = random.Random(seed)
    texts = [t for p in PARAPHRASES for t in p] + UNRELATED
    out: list[ScoredMention] = []
    t = T0
    posted: list[str] = []
    for i in range(n):
        t += timedelta(minutes=rng.choice([1, 10, 60, 240]))
        r = rng.random()
        if r < 0.5:
            base = rng.choice(texts)
            text = base if rng.random() < 0.7 else base + rng.choice([" !!!", " 😡", " ещё раз", " again"])
            label = rng.choice(["negative", "negative", "negative", "neutral"])
            mid = f"m{i}"
            out.append(
                post(mid, text, t, author=f"u{rng.randint(0, 30)}", channel=rng.choice([OWNED, ELSEWHERE]), label=label)
            )
            posted.append(mid)
        elif r < 0.75 and posted:
            out.append(removal(rng.choice(posted[-40:]), t, actor=rng.choice(["brand", "brand", None, "author"])))
        elif r < 0.8 and posted:
            mid = rng.choice(posted[-40:])
            out.append(scored(mention(0, at=t, mention_id=mid, event_type="restored", actor="brand", text=""), None))
        elif r < 0.9 and out:
            out.append(rng.choice(out[-30:]))  # redelivery
        else:
            out.append(
                post(
                    f"late{i}",
                    rng.choice(texts),
                    t - timedelta(hours=rng.randint(1, 30)),
                    author=f"u{rng.randint(0, 30)}",
                )
            )
    return out


def _run(det: ReturningComplainantDetector, events: list[ScoredMention], every: int | None) -> list[str]:
    f = Feed(det)
    got: list[str] = []
    for k, ev in enumerate(events):
        if every and k % every == 0:
            f.state = det.load_state(json.loads(json.dumps(det.dump_state(f.state))))
        got.extend(a.model_dump_json() for a in f(ev))
        if k % 53 == 0:
            got.extend(a.model_dump_json() for a in f.advance(f.wm + timedelta(hours=2)))
    got.extend(a.model_dump_json() for a in f.advance(f.wm + timedelta(days=40)))
    return got


@pytest.mark.parametrize("every", [1, 5, 89])
def test_snapshot_json_restore_every_k_events_gives_identical_alerts(every) -> None:
    det = ReturningComplainantDetector(ReturningComplainantSettings(max_texts=60, max_removed=12, quiet_hours=6))
    events = _random_stream(4, 1_500)
    plain = _run(det, events, None)
    assert sum('"status":"firing"' in a for a in plain) >= 5
    assert _run(det, events, every) == plain


def test_restore_with_a_smaller_cap_loads_consistently() -> None:
    det = ReturningComplainantDetector()
    f = Feed(det)
    for i, (removed_text, _) in enumerate(PARAPHRASES):
        f(post(f"c{i}", removed_text, H(0), author=f"a{i}"))
        f(removal(f"c{i}", H(1 + i / 60)))
    small = ReturningComplainantDetector(ReturningComplainantSettings(max_removed=3))
    st = small.materialise(small.load_state(json.loads(json.dumps(det.dump_state(f.state)))))
    assert len(st.index) == 3 and set(st.members) == set(st.index.items)
    assert sum(len(c.live) for c in st.clusters.values()) == 3


def test_unknown_state_version_is_refused_and_settings_validated() -> None:
    det = ReturningComplainantDetector()
    dump = det.dump_state(det.new_state())
    with pytest.raises(ValueError, match="version"):
        det.load_state({**dump, "v": 99})
    with pytest.raises(ValueError):
        det.materialise(det.load_state({**dump, "memory": "bm90IHpsaWI="}))  # base64, but not zlib
    with pytest.raises(ValueError):
        det.load_state({**dump, "memory": [1, 2]})
    with pytest.raises(ValueError):
        ReturningComplainantSettings(similarity=0)
    with pytest.raises(ValueError):
        ReturningComplainantSettings(escalate_factor=1.0)


def _bulk_stream(seed: int, n: int) -> list[ScoredMention]:
    """Mostly distinct complaints (as in life), brand removals, restores, redeliveries and a few comebacks."""
    rng = random.Random(seed)
    words = sorted({w for t in [x for p in PARAPHRASES for x in p] + UNRELATED for w in t.split()})
    out: list[ScoredMention] = []
    complaints: list[tuple[str, str]] = []
    removed: list[tuple[str, str]] = []
    for k in range(n):
        t = T0 + timedelta(seconds=3 * k)
        r = rng.random()
        if r < 0.45 or not complaints:
            text = " ".join(rng.choice(words) for _ in range(rng.randint(6, 30)))
            mid = f"m{k}"
            out.append(post(mid, text, t, author=f"u{rng.randint(0, 5_000)}", channel=rng.choice([OWNED, ELSEWHERE])))
            complaints.append((mid, text))
        elif r < 0.6:
            out.append(post(f"p{k}", "Thanks, all good now", t, author=f"u{k}", label="positive"))
        elif r < 0.75:
            mid, text = rng.choice(complaints[-300:])
            out.append(removal(mid, t, actor=rng.choice(["brand", None])))
            removed.append((mid, text))
        elif r < 0.78 and removed:
            out.append(
                scored(
                    mention(
                        0, at=t, mention_id=rng.choice(removed[-300:])[0], event_type="restored", actor="brand", text=""
                    ),
                    None,
                )
            )
        elif r < 0.8 and removed:
            _, text = rng.choice(removed[-100:])
            out.append(post(f"back{k}", text.upper() + " !!!", t, author=f"z{k}", channel=ELSEWHERE))
        else:
            out.append(out[-rng.randint(1, min(len(out), 40))])  # redelivery
    return out


def test_state_stays_bounded_over_100k_events_and_prints_throughput() -> None:
    settings = ReturningComplainantSettings()
    det = ReturningComplainantDetector(settings)
    f = Feed(det)
    # 100k events in ~3.5 days of event time, so the caps bind before any TTL does
    obs = [f.obs(ev) for ev in _bulk_stream(9, 100_000)]
    start = time.perf_counter()
    alerts = 0
    for o in obs:
        alerts += len(det.observe(f.state, o, BRAND))
    elapsed = time.perf_counter() - start
    print(
        f"\nreturning_complainant observe(): {len(obs) / elapsed:,.0f} events/s ({len(obs)} events, {alerts} alerts;"
        f" {settings.max_removed} removed complaints watched, so every negative is compared)"
    )
    st = f.state
    assert alerts > 100
    assert len(st.texts) == settings.max_texts and 0.9 * settings.max_removed <= len(st.index) <= settings.max_removed
    assert len(st.members) == len(st.index) and len(st.clusters) <= settings.max_removed + settings.max_incidents
    assert len(st.open) <= settings.max_incidents
    assert len(st.pending) <= settings.max_pending and len(st.brand_posts) <= settings.max_brand_posts
    size = len(json.dumps(det.dump_state(st)))
    print(f"returning_complainant state after 100k events: {size / 1024:.0f} KiB JSON")
    # ordinary events of a brand with nothing removed cost a dict lookup or two
    quiet = Feed(det)
    plain = [
        quiet.obs(post(f"q{i}", UNRELATED[i % len(UNRELATED)], T0 + timedelta(seconds=i), channel=ELSEWHERE))
        for i in range(20_000)
    ]
    start = time.perf_counter()
    for o in plain:
        det.observe(quiet.state, o, BRAND)
    elapsed = time.perf_counter() - start
    print(f"returning_complainant observe(), nothing removed: {len(plain) / elapsed:,.0f} events/s")


def test_a_comeback_removed_before_it_was_seen_still_counts() -> None:
    f = Feed()
    f(post("c1", PARAPHRASES[11][0], H(0)))
    f(removal("c1", H(1)))
    assert f(removal("c2", H(2.5))) == []  # the brand removed the comeback; its created is late
    (a,) = f(post("c2", PARAPHRASES[11][1], H(2), author="u2"))
    assert a.status is AlertStatus.FIRING
    (cluster,) = f.state.clusters.values()
    assert cluster.removed_again == 1 and set(cluster.live) == {"c1", "c2"}


# --- removals that name the remover but not the author (VK: removed_by) ------------------------------------------


def named(mid: str, at: datetime, removed_by: str) -> ScoredMention:
    """A removal as VK's receiver sends it for a comment it never saw: actor null, the remover
    named, the author unknown."""
    return removal(mid, at, actor=None, author_id="vk:unknown", removed_by=removed_by)


def _through_json(f: Feed) -> None:
    f.state = f.det.load_state(json.loads(json.dumps(f.det.dump_state(f.state))))


@pytest.mark.parametrize("restart", [False, True])
def test_a_complaint_its_author_named_as_remover_is_not_watched_anyone_elses_is(restart) -> None:
    """The author deleting their own complaint and posting it again is no comeback (as with
    ``actor: author``); removed by someone else it is the brand's removal, and the repost from
    another account is critical, also when a restore from JSON lies between the complaint and its
    removal (the durable part)."""
    out = {}
    for case, remove in (
        ("author", removal("c1", H(1), actor="author")),
        ("own", named("c1", H(1), "u1")),
        ("brand", removal("c1", H(1))),
        ("other", named("c1", H(1), "vk:id900001")),
    ):
        f = Feed()
        f(post("c1", PARAPHRASES[3][0], H(0), author="u1"))
        if restart:
            _through_json(f)
        assert f(remove) == []
        out[case] = f(post("c2", PARAPHRASES[3][1], H(2), author="u2"))
    assert out["own"] == out["author"] == []
    (a,) = out["other"]
    assert out["other"] == out["brand"] and a.severity is Severity.CRITICAL


@pytest.mark.parametrize("restart", [False, True])
def test_a_named_removal_before_its_complaint_is_judged_when_the_complaint_arrives(restart) -> None:
    for remover, fires in (("u1", False), ("vk:id900001", True)):
        f = Feed()
        assert f(named("c1", H(1), remover)) == []  # unseen yet: waiting
        if restart:
            _through_json(f)
        assert f(post("c1", PARAPHRASES[10][0], H(0), author="u1")) == []  # late created
        got = f(post("c2", PARAPHRASES[10][1], H(2), author="u2"))
        assert len(got) == int(fires), remover
        assert ("c1" in f.state.members) == fires


def test_a_version_2_snapshot_still_loads() -> None:
    f = Feed()
    assert f(removal("c1", H(1))) == []  # waits for its complaint
    dump = f.det.dump_state(f.state)
    mem = unpack(dump["memory"])
    mem["pending"] = mem["pending"][:3]
    g = Feed()
    g.state = g.det.materialise(g.det.load_state(json.loads(json.dumps({**dump, "v": 2, "memory": pack(mem)}))))
    g.wm = f.wm
    assert g(post("c1", PARAPHRASES[10][0], H(0))) == []
    (a,) = g(post("c2", PARAPHRASES[10][1], H(2), author="u2"))
    assert a.status is AlertStatus.FIRING and g.det.dump_state(g.state)["v"] == 3
