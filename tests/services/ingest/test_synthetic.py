"""Tests of the seeded synthetic mention stream (pure domain code, no Kafka).

The ground truth the assertions need (what a text was written to express,
which incident produced it) comes from ``SyntheticMentionStream.labeled()``,
the generator's side channel; the events themselves are checked as a consumer
would see them.
"""

from __future__ import annotations

import collections
import difflib
import gc
import itertools
import random
import re
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.ingest import corpus as C
from services.ingest.synthetic import (
    INCIDENT_KINDS,
    Incident,
    LabeledMention,
    SyntheticMentionStream,
    _Author,
    _Run,
    _Slots,
)
from shared.schemas import MAX_TEXT_CHARS, EventType, MentionEvent, Platform, decode

START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
LIFECYCLE = (EventType.EDITED, EventType.DELETED, EventType.HIDDEN, EventType.RESTORED)


def labeled(n: int | None = None, **kw: object) -> list[LabeledMention]:
    args: dict = {"seed": 11, "start": START} | kw
    stream = SyntheticMentionStream(**args)
    it = stream.labeled()
    return list(it if n is None else itertools.islice(it, n))


@pytest.fixture(scope="module")
def sample() -> list[LabeledMention]:
    """About 25 minutes of background traffic at the default rate (the spike has its own tests)."""
    return labeled(7_000, incidents=[Incident.parse("deleted-complaint@+5m")])


def created(items: list[LabeledMention]) -> list[LabeledMention]:
    return [i for i in items if i.event.event_type is EventType.CREATED]


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_events() -> None:
    a = list(itertools.islice(SyntheticMentionStream(seed=5, start=START), 1000))
    b = list(itertools.islice(SyntheticMentionStream(seed=5, start=START), 1000))
    assert a == b
    assert [e.event_id for e in a] == [e.event_id for e in b]


def test_different_seed_different_events() -> None:
    a = list(itertools.islice(SyntheticMentionStream(seed=5, start=START), 500))
    b = list(itertools.islice(SyntheticMentionStream(seed=6, start=START), 500))
    assert {e.event_id for e in a}.isdisjoint({e.event_id for e in b})
    assert [e.text for e in a] != [e.text for e in b]


def test_iterating_twice_replays_the_stream() -> None:
    stream = SyntheticMentionStream(seed=9, start=START, incidents=[Incident.parse("deleted-complaint@+1m")])
    first = list(itertools.islice(stream, 500))
    assert first == list(itertools.islice(stream, 500))
    assert [i.event for i in itertools.islice(stream.labeled(), 500)] == first


def test_duration_stops_the_stream_and_is_a_prefix_of_the_endless_one() -> None:
    end = START + timedelta(minutes=5)
    finite = list(SyntheticMentionStream(seed=3, start=START, rate_per_s=3, duration=timedelta(minutes=5)))
    endless = SyntheticMentionStream(seed=3, start=START, rate_per_s=3)
    prefix = list(itertools.takewhile(lambda e: e.occurred_at < end, endless))
    assert finite == prefix
    assert all(START <= e.occurred_at < end for e in finite)
    assert finite[-1].occurred_at > end - timedelta(seconds=30)
    assert 700 < len(finite) < 1100  # ~3/s for 300 s, plus follow-ups


def test_zero_duration_is_empty_and_incidents_after_the_end_never_happen() -> None:
    assert list(SyntheticMentionStream(seed=1, start=START, duration=timedelta(0))) == []
    items = labeled(
        seed=1, rate_per_s=2, duration=timedelta(minutes=3), incidents=[Incident.parse("negativity-spike@+5m")]
    )
    assert items and all(i.source == "background" for i in items)


# --------------------------------------------------------------------------- schema and ordering


def test_events_are_valid_ordered_and_utc(sample: list[LabeledMention]) -> None:
    events = [i.event for i in sample]
    assert all(a.occurred_at <= b.occurred_at for a, b in itertools.pairwise(events))
    assert events[0].occurred_at >= START
    for e in events:
        assert e.occurred_at.utcoffset() == timedelta(0)
        assert e.ingested_at == e.occurred_at
        assert e.channel and e.mention_id and e.author_id and e.brand == "acme"
        assert len(e.text) <= MAX_TEXT_CHARS
        assert e.event_type in LIFECYCLE or e.text.strip()
    for e in events[::25]:
        assert decode(MentionEvent, e.to_bytes()) == e


def test_start_in_another_timezone_is_normalised_to_utc() -> None:
    moscow = timezone(timedelta(hours=3))
    local = SyntheticMentionStream(seed=2, start=START.astimezone(moscow))
    utc = SyntheticMentionStream(seed=2, start=START)
    a, b = list(itertools.islice(local, 50)), list(itertools.islice(utc, 50))
    assert a == b and a[0].occurred_at.tzinfo == UTC


def test_ingested_at_can_be_replaced_by_the_caller() -> None:
    e = next(iter(SyntheticMentionStream(seed=2, start=START)))
    later = e.model_copy(update={"ingested_at": START + timedelta(hours=1)})
    assert later.event_id == e.event_id and later.ingested_at != later.occurred_at


# --------------------------------------------------------------------------- content


def test_languages_and_scripts_present(sample: list[LabeledMention]) -> None:
    langs = collections.Counter(i.event.lang for i in created(sample))
    assert {"ru", "en", "sq", "es", "ar", "uk", "de"} <= set(langs)
    for big in ("ru", "en", "sq", "es"):
        assert langs[big] > 0.08 * len(created(sample))
    texts = " ".join(i.event.text for i in created(sample))
    assert re.search(r"[а-яё]", texts) and re.search(r"[\u0600-\u06ff]", texts)
    assert re.search(r"[ëç]", texts) and re.search(r"[ñ¿¡]", texts)
    # mixed script: Latin brand names in Cyrillic and Arabic sentences
    assert any(
        re.search(r"[A-Za-z]", i.event.text) and re.search(r"[а-я\u0600-\u06ff]", i.event.text) for i in created(sample)
    )


def test_baseline_intent_mix(sample: list[LabeledMention]) -> None:
    user = [i for i in created(sample) if i.source == "background" and not i.event.author_is_brand]
    mix = collections.Counter(i.intent for i in user)
    n = len(user)
    assert 0.14 < mix["negative"] / n < 0.30
    assert 0.38 < mix["neutral"] / n < 0.60
    assert 0.22 < mix["positive"] / n < 0.40
    assert {i.topic for i in user if i.intent == "negative"} >= set(C.COMPLAINT_TOPICS) | {"sarcasm"}


def test_texts_are_varied(sample: list[LabeledMention]) -> None:
    texts = [i.event.text for i in created(sample) if i.source == "background"]
    assert len(set(texts)) > 0.6 * len(texts) and len(set(texts)) > 3000
    joined = "".join(texts)
    assert any(e in joined for e in C.EMOJI["negative"]) and any(e in joined for e in C.EMOJI["positive"])


def test_platforms_channels_and_urls(sample: list[LabeledMention]) -> None:
    events = [i.event for i in sample]
    by_platform: dict[Platform, set[str]] = collections.defaultdict(set)
    for e in events:
        by_platform[e.platform].add(e.channel)
        assert e.channel.startswith(f"{e.platform.value}:")
        assert e.mention_id.startswith(e.channel + "/")
    # schema v2 added ok and x; the synthetic world does not stage them (yet)
    assert set(by_platform) == set(Platform) - {Platform.OK, Platform.X}
    for p, chans in by_platform.items():
        assert len(chans) >= 2, (p, chans)
    assert {"vk:club_acme", "telegram:@acme_support"} <= by_platform[Platform.VK] | by_platform[Platform.TELEGRAM]
    assert any(re.fullmatch(r"youtube:acme_official/[\w-]{11}", c) for c in by_platform[Platform.YOUTUBE])
    hosts = {
        Platform.VK: "https://vk.com/",
        Platform.TELEGRAM: "https://t.me/",
        Platform.FACEBOOK: "https://www.facebook.com/",
        Platform.INSTAGRAM: "https://www.instagram.com/p/",
        Platform.YOUTUBE: "https://www.youtube.com/watch?v=",
    }
    for e in events:
        assert e.url is not None and e.url.startswith(hosts.get(e.platform, "https://"))


def test_authors_repeat_and_counts_are_heavy_tailed(sample: list[LabeledMention]) -> None:
    users = [i.event for i in created(sample) if not i.event.author_is_brand and i.event.platform is not Platform.RSS]
    per_author = collections.Counter(e.author_id for e in users)
    assert max(per_author.values()) >= 5  # regulars
    assert sum(1 for c in per_author.values() if c == 1) > 0.5 * len(per_author)  # and many one-offs
    followers = sorted(e.author_followers for e in users if e.author_followers is not None)
    assert followers[-1] >= 100 * followers[len(followers) // 2]
    assert followers[-1] >= 20_000  # influencers exist
    likes = sorted(e.engagement.likes for e in users)
    assert likes[len(likes) // 2] <= 5 and likes[-1] >= 100


# --------------------------------------------------------------------------- structure


def test_replies_point_to_earlier_mentions_in_the_same_channel(sample: list[LabeledMention]) -> None:
    seen: dict[str, tuple[str, str | None]] = {}  # mention_id -> (channel, lang)
    replies = brand_replies = 0
    for i in sample:
        e = i.event
        if e.event_type is not EventType.CREATED:
            continue
        if e.parent_id is not None:
            assert e.parent_id in seen, e
            channel, lang = seen[e.parent_id]
            assert channel == e.channel
            replies += 1
            if e.author_is_brand:
                assert lang == e.lang
                brand_replies += 1
        seen[e.mention_id] = (e.channel, e.lang)
    assert replies > 400 and brand_replies > 100


def test_brand_replies_are_polite_support_answers(sample: list[LabeledMention]) -> None:
    replies = [i for i in sample if i.event.author_is_brand]
    assert replies and all(i.actor == "brand" and i.intent == "neutral" for i in replies)
    assert all(i.event.author_id == "brand:acme" and i.event.parent_id for i in replies)
    assert {i.event.lang for i in replies} >= {"ru", "en", "sq", "es"}


def test_lifecycle_events_follow_their_mention(sample: list[LabeledMention]) -> None:
    first: dict[str, MentionEvent] = {}
    last_type: dict[str, EventType] = {}
    kinds = collections.Counter()
    for i in sample:
        e = i.event
        if e.event_type is EventType.CREATED:
            first[e.mention_id] = e
        else:
            orig = first[e.mention_id]
            assert (orig.channel, orig.author_id, orig.platform) == (e.channel, e.author_id, e.platform)
            assert e.occurred_at > orig.occurred_at
            kinds[e.event_type] += 1
            if e.event_type in (EventType.DELETED, EventType.HIDDEN):
                assert e.text == ""
            if e.event_type is EventType.HIDDEN:
                assert i.actor == "brand" and i.intent == "negative"
            if e.event_type is EventType.EDITED:
                assert e.text and e.text != orig.text
            if e.event_type is EventType.RESTORED:
                assert last_type[e.mention_id] in (EventType.DELETED, EventType.HIDDEN)
                assert e.text == orig.text
        last_type[e.mention_id] = e.event_type
    assert kinds[EventType.EDITED] > 30 and kinds[EventType.DELETED] > 5 and kinds[EventType.HIDDEN] > 3
    assert kinds[EventType.RESTORED] >= 1


# --------------------------------------------------------------------------- incidents


def negatives_between(items: list[LabeledMention], brand: str, lo: datetime, hi: datetime) -> list[MentionEvent]:
    return [
        i.event
        for i in items
        if i.event.event_type is EventType.CREATED
        and i.intent == "negative"
        and i.event.brand == brand
        and lo <= i.event.occurred_at < hi
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_negativity_spike_triples_negative_mentions(seed: int) -> None:
    at = START + timedelta(minutes=5)
    items = labeled(
        seed=seed, rate_per_s=2, duration=timedelta(minutes=10), incidents=[Incident.parse("negativity-spike@+5m")]
    )
    assert all(a.event.occurred_at <= b.event.occurred_at for a, b in itertools.pairwise(items))
    five = timedelta(minutes=5)
    before = negatives_between(items, "acme", at - five, at)
    after = negatives_between(items, "acme", at, at + five)
    assert len(after) >= 3 * len(before)
    spike = [i for i in items if i.source == "negativity-spike" and not i.event.author_is_brand]
    # about 2 minutes at ~5x the base rate
    assert 0.7 * 5 * 2 * 120 < len(spike) < 1.3 * 5 * 2 * 120
    assert all(at <= i.event.occurred_at < at + timedelta(seconds=150) for i in spike)
    assert len({i.topic for i in spike if i.intent == "negative"}) == 1  # one concrete issue
    # mostly in one or two channels, in several languages
    per_channel = collections.Counter(i.event.channel for i in spike).most_common()
    assert (per_channel[0][1] + per_channel[1][1]) >= 0.7 * len(spike)
    assert len({i.event.lang for i in spike}) >= 3
    # even a per-channel "10 negative mentions in 5 minutes" rule fires
    top = per_channel[0][0]
    assert sum(1 for e in after if e.channel == top) >= 10


def test_spike_for_another_brand_and_brand_answers() -> None:
    items = labeled(
        seed=4,
        rate_per_s=1,
        brands=["acme", "globex"],
        duration=timedelta(minutes=9),
        incidents=[Incident.parse("negativity-spike@+3m:globex")],
    )
    spike = [i for i in items if i.source == "negativity-spike"]
    assert spike and all(i.event.brand == "globex" for i in spike)
    hub = collections.Counter(i.event.channel for i in spike).most_common(1)[0][0]
    assert "globex" in hub
    answers = [i for i in spike if i.event.author_is_brand]
    assert answers and all(i.event.author_id == "brand:globex" and i.topic == "incident-reply" for i in answers)
    assert {i.event.brand for i in items} == {"acme", "globex"}


def test_deleted_complaint() -> None:
    at = START + timedelta(minutes=3)
    items = labeled(
        seed=8, rate_per_s=1, duration=timedelta(minutes=12), incidents=[Incident.parse("deleted-complaint@+3m")]
    )
    events = [i.event for i in items]
    gone = [e for e in events if e.event_type in (EventType.DELETED, EventType.HIDDEN)]
    created_by_id = {e.mention_id: e for e in events if e.event_type is EventType.CREATED}
    # found without the side channel: the complaint created at +3m disappears within 90 s
    matches = [
        (created_by_id[g.mention_id], g)
        for g in gone
        if g.mention_id in created_by_id and created_by_id[g.mention_id].occurred_at == at
    ]
    assert len(matches) == 1
    orig, removal = matches[0]
    assert timedelta(seconds=30) <= removal.occurred_at - orig.occurred_at <= timedelta(seconds=90)
    assert (removal.author_id, removal.channel) == (orig.author_id, orig.channel)
    assert not orig.author_is_brand and orig.channel.split(":")[0] != "reviews"
    # later, the same complaint from another account, saying it was deleted
    later = [
        e
        for e in events
        if e.event_type is EventType.CREATED
        and e.occurred_at > removal.occurred_at
        and e.channel == orig.channel
        and e.author_id != orig.author_id
        and not e.author_is_brand
        and e.lang == orig.lang
        and e.parent_id is None
        and _common(e.text, orig.text) >= 25
    ]
    assert later and later[0].occurred_at - removal.occurred_at <= timedelta(minutes=6)
    src = [i for i in items if i.source == "deleted-complaint"]
    assert {i.topic for i in src} >= {"comeback", "censorship"}
    assert all(i.intent == "negative" for i in src if not i.event.author_is_brand)


def _common(a: str, b: str) -> int:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).find_longest_match().size


# --------------------------------------------------------------------------- Incident


@pytest.mark.parametrize(
    ("spec", "kind", "at", "brand"),
    [
        ("negativity-spike@+2m", "negativity-spike", timedelta(minutes=2), None),
        ("deleted-complaint@+3m", "deleted-complaint", timedelta(minutes=3), None),
        ("negativity-spike@+90s", "negativity-spike", timedelta(seconds=90), None),
        ("negativity-spike@+1h30m", "negativity-spike", timedelta(hours=1, minutes=30), None),
        ("negativity-spike@+1h2m3s", "negativity-spike", timedelta(hours=1, minutes=2, seconds=3), None),
        ("negativity-spike@+0s", "negativity-spike", timedelta(0), None),
        ("negativity-spike@+2m:acme", "negativity-spike", timedelta(minutes=2), "acme"),
        ("  deleted-complaint@+45s:Globex Ltd ", "deleted-complaint", timedelta(seconds=45), "Globex Ltd"),
    ],
)
def test_incident_parse(spec: str, kind: str, at: timedelta, brand: str | None) -> None:
    assert Incident.parse(spec) == Incident(kind, at, brand)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "negativity-spike",
        "negativity-spike@",
        "negativity-spike@2m",
        "negativity-spike@+",
        "negativity-spike@+2x",
        "negativity-spike@+m",
        "negativity-spike@+30s1m",
        "negativity-spike@+2m2m",
        "negativity-spike@+1.5m",
        "negativity-spike@-2m",
        "negativity-spike@+2m:",
        "negativity-spike@+2m:  ",
        "@+2m",
        "spike@+2m",
    ],
)
def test_incident_parse_rejects(spec: str) -> None:
    with pytest.raises(ValueError):
        Incident.parse(spec)


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="negativity-spike.*deleted-complaint"):
        Incident.parse("outage@+2m")
    with pytest.raises(ValueError, match="known kinds"):
        Incident("outage", timedelta(minutes=1))
    with pytest.raises(ValueError):
        Incident("negativity-spike", timedelta(seconds=-1))
    assert INCIDENT_KINDS == ("negativity-spike", "deleted-complaint")


def test_stream_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SyntheticMentionStream(seed=1, start=datetime(2024, 1, 1))
    with pytest.raises(ValueError):
        SyntheticMentionStream(seed=1, start=START, rate_per_s=0)
    with pytest.raises(ValueError):
        SyntheticMentionStream(seed=1, start=START, rate_per_s=float("nan"))
    with pytest.raises(ValueError):
        SyntheticMentionStream(seed=1, start=START, brands=[])
    with pytest.raises(TypeError):
        SyntheticMentionStream(seed=1, start=START, brands="acme")
    with pytest.raises(ValueError, match="not one of"):
        SyntheticMentionStream(seed=1, start=START, incidents=[Incident.parse("negativity-spike@+1m:globex")])
    with pytest.raises(ValueError):
        SyntheticMentionStream(seed=1, start=START, duration=timedelta(seconds=-1))


# --------------------------------------------------------------------------- laziness


def test_endless_stream_is_lazy_and_bounded() -> None:
    stream = SyntheticMentionStream(seed=21, start=START, incidents=[Incident.parse("deleted-complaint@+3m")])
    it = iter(stream)
    next(it)
    collections.deque(itertools.islice(it, 2_000), maxlen=0)
    gc.collect()
    before = len(gc.get_objects())
    last = collections.deque(itertools.islice(it, 8_000), maxlen=1)
    gc.collect()
    grown = len(gc.get_objects()) - before
    assert last[0].occurred_at > START + timedelta(minutes=28)  # ~10,000 events at ~5.6/s
    # keeping the 8,000 events would add >30,000 tracked objects; the pending heap adds a few thousand at most
    assert grown < 8_000


def test_incidents_are_generated_lazily_too() -> None:
    # 2 minutes at 5 x 50,000/s would be millions of events if it were built up front
    stream = SyntheticMentionStream(
        seed=2, start=START, rate_per_s=50_000, incidents=[Incident.parse("negativity-spike@+0s")]
    )
    tracemalloc.start()
    try:
        items = list(itertools.islice(stream.labeled(), 400))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # built up front, millions of events would take gigabytes
    assert {i.source for i in items} == {"background", "negativity-spike"}
    assert all(a.event.occurred_at <= b.event.occurred_at for a, b in itertools.pairwise(items))


# --------------------------------------------------------------------------- corpus


@pytest.mark.parametrize("code", list(C.LANGUAGES))
def test_every_template_renders(code: str) -> None:
    """Catches a misspelt slot or a gender form missing for one gender."""
    pack = C.LANGUAGES[code]
    assert set(pack.genders) == {"m", "f"} and set(pack.genders["m"]) == set(pack.genders["f"])
    assert set(pack.negative.bodies) >= set(C.COMPLAINT_TOPICS)
    assert set(pack.brand_reply.bodies) >= set(C.COMPLAINT_TOPICS) | {"question", "praise", "generic"}
    assert set(pack.spike) == set(pack.incident_reply) == set(C.SPIKE_ISSUES)
    templates: list[str] = list(pack.sarcasm) + list(pack.spike_questions) + list(pack.escalations)
    templates += list(pack.comebacks) + list(pack.censorship)
    for phrases in (pack.negative, pack.neutral, pack.positive, pack.brand_reply):
        templates += list(phrases.openers) + list(phrases.closers)
        templates += [t for ts in phrases.bodies.values() for t in ts]
    for group in (pack.followups, pack.headlines, pack.edits, pack.spike, pack.incident_reply):
        templates += [t for ts in group.values() for t in ts]
    rng = random.Random(0)
    for gender in ("m", "f"):
        author = _Author("x", 1, "Ana", gender, code, 10)
        for item, city in itertools.product(pack.items, pack.cities):
            slots = _Slots(
                rng,
                pack,
                "acme",
                author=author,
                platform=Platform.VK,
                formal=False,
                name="Ana",
                original="…",
                item=item,
                city=city,
            )
            for t in templates:
                out = t.format_map(slots)
                assert out and "{" not in out and "}" not in out, (code, t)


def test_channel_layout_matches_language() -> None:
    run = _Run(SyntheticMentionStream(seed=1, start=START))
    vk = run.channels["vk:club_acme"]
    assert set(vk.langs) == {"ru"} and vk.owned
    support = run.channels["telegram:@acme_support"]
    assert len(support.langs) >= 4 and abs(sum(support.langs.values()) - 1) < 1e-9
