"""The simulated world: deterministic, lazy, seasonal, and a well-behaved brand in normal times."""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from shared.schemas import Actor, EventType, Platform, ScoredMention, decode
from simulation import corpus as C
from simulation.world import (
    DAY,
    HOUR,
    BrandSpec,
    Happening,
    World,
    draw_probs,
    looks_asked,
    render,
)

START = datetime(2026, 3, 2, tzinfo=timezone.utc)  # a Monday
BRANDS = (
    BrandSpec("acme", 1.0, "Europe/Berlin", (("en", 0.6), ("ru", 0.4)), weekend=0.8, peak_hour=19.0),
    BrandSpec("tinyshop", 0.05, "Asia/Novosibirsk", (("ru", 1.0),), weekend=1.0, peak_hour=17.0),
)


def _world(days: float = 2.0, seed: int = 7) -> World:
    return World(BRANDS, start=START, duration=timedelta(days=days), seed=seed)


@pytest.fixture(scope="module")
def two_days() -> tuple[World, list[ScoredMention]]:
    w = _world()
    return w, list(w.stream())


def _digest(events) -> str:
    h = hashlib.sha256()
    for ev in events:
        h.update(ev.to_bytes())
    return h.hexdigest()


def test_same_seed_gives_a_byte_identical_stream_and_another_seed_does_not():
    a = _digest(_world(0.25, seed=3).stream())
    assert a == _digest(_world(0.25, seed=3).stream())
    assert a != _digest(_world(0.25, seed=4).stream())


def test_events_come_in_event_time_order_with_a_small_ingest_lag(two_days):
    _, events = two_days
    assert len(events) > 10_000
    last = None
    for ev in events:
        m = ev.mention
        assert last is None or m.occurred_at >= last
        last = m.occurred_at
        lag = m.ingested_at - m.occurred_at
        assert timedelta(0) < lag <= timedelta(minutes=15)
        assert ev.scored_at >= m.ingested_at
        assert (ev.sentiment is None) == (m.event_type in (EventType.DELETED, EventType.HIDDEN, EventType.RESTORED))


def test_records_survive_the_wire(two_days):
    _, events = two_days
    for ev in events[::97]:
        assert decode(ScoredMention, ev.to_bytes()) == ev


def test_mention_fields_look_like_the_platforms(two_days):
    _, events = two_days
    patterns = {
        Platform.VK: r"vk:(id\d+|club\d+)",
        Platform.TELEGRAM: r"telegram:@\S+",
        Platform.FACEBOOK: r"facebook:\d+",
        Platform.YOUTUBE: r"youtube:@\S+",
    }
    for ev in events[::13]:
        m = ev.mention
        assert m.channel.startswith(f"{m.platform.value}:")
        assert m.mention_id.startswith(f"{m.channel}/")
        assert m.url and m.url.startswith("https://")
        if m.platform in patterns:
            assert re.fullmatch(patterns[m.platform], m.author_id), m.author_id
        assert m.lang in ("en", "ru")


def test_negative_rate_per_brand_is_what_the_brand_spec_says(two_days):
    w, events = two_days
    negatives = Counter(
        ev.mention.brand
        for ev in events
        if ev.sentiment is not None
        and ev.mention.event_type is EventType.CREATED
        and not ev.mention.author_is_brand
        and ev.sentiment.label.value == "negative"
    )
    for b in BRANDS:
        expected = w.expected_negatives(b.name, 0, w.end)
        tolerance = 0.1 if expected > 1000 else 0.35
        assert negatives[b.name] == pytest.approx(expected, rel=tolerance), b.name


def test_seasonality_follows_each_brands_local_clock():
    w = _world(14)
    for b in BRANDS:
        day = [w.intensity(b.name, h * HOUR // 4 + 2 * DAY) for h in range(96)]  # Wednesday, UTC quarter hours
        peak_utc = day.index(max(day)) / 4
        local_peak = (datetime(2026, 3, 4, tzinfo=timezone.utc) + timedelta(hours=peak_utc)).astimezone(
            ZoneInfo(b.timezone)
        )
        assert abs(local_peak.hour + local_peak.minute / 60 - b.peak_hour) <= 1.0, b.name
        assert min(day) < 0.3 * max(day)
        # the week averages to 1, and a weekend hour is the weekday hour times the weekend factor
        week = [w.intensity(b.name, t) for t in range(0, 7 * DAY, HOUR // 2)]
        assert sum(week) / len(week) == pytest.approx(1.0, rel=0.03)
        wed, sat = w.intensity(b.name, 2 * DAY + 10 * HOUR), w.intensity(b.name, 5 * DAY + 10 * HOUR)
        assert sat / wed == pytest.approx(b.weekend, rel=0.05)


def test_night_is_quiet_in_the_stream_too(two_days):
    _, events = two_days
    by_hour = Counter()
    tz = ZoneInfo("Europe/Berlin")
    for ev in events:
        m = ev.mention
        if m.brand == "acme" and not m.author_is_brand and m.event_type is EventType.CREATED:
            by_hour[m.occurred_at.astimezone(tz).hour] += 1
    night = sum(by_hour[h] for h in (3, 4, 5, 6))
    evening = sum(by_hour[h] for h in (17, 18, 19, 20))
    assert night < 0.3 * evening


def test_sentiment_draws_read_complaints_mostly_right_with_borderline_cases():
    rng = random.Random(1)
    for intent in ("negative", "neutral", "positive"):
        draws = [draw_probs(rng, intent) for _ in range(20_000)]
        for p in draws:
            assert all(0.0 <= x <= 1.0 for x in p) and sum(p) == pytest.approx(1.0)
        top_neg = sum(1 for p in draws if p[0] >= p[1] and p[0] >= p[2]) / len(draws)
        if intent == "negative":
            assert 0.87 <= top_neg <= 0.93
            borderline = sum(1 for p in draws if 0.42 <= p[0] < 0.62 and p[0] >= max(p[1], p[2])) / len(draws)
            assert borderline > 0.08
        else:
            assert top_neg < 0.04
    sarcastic = [draw_probs(rng, "negative", sarcasm=True) for _ in range(3000)]
    assert sum(1 for p in sarcastic if p[2] > p[0]) / len(sarcastic) > 0.5


def _created(events):
    return {ev.mention.mention_id: ev for ev in events if ev.mention.event_type is EventType.CREATED}


def test_the_brand_answers_every_complaint_and_question_in_its_channels_within_the_sla(two_days):
    w, events = two_days
    owned = {(ch.brand, ch.key) for b in BRANDS for ch in w.channels(b.name, owned=True)}
    first_reply: dict[str, datetime] = {}
    for ev in events:
        m = ev.mention
        if m.author_is_brand and m.parent_id and m.parent_id not in first_reply:
            first_reply[m.parent_id] = m.occurred_at
    cut = START + timedelta(days=2) - timedelta(hours=1)
    owed = 0
    for mid, ev in _created(events).items():
        m, s = ev.mention, ev.sentiment
        if m.author_is_brand or (m.brand, m.channel) not in owned or m.occurred_at > cut:
            continue
        if s.label.value == "negative" or looks_asked(m.text):
            owed += 1
            assert mid in first_reply, (m.text, m.occurred_at)
            assert first_reply[mid] - m.occurred_at <= timedelta(minutes=60) * 0.85 + timedelta(seconds=1)
    assert owed > 500


def test_looks_asked_reads_questions_without_question_marks():
    assert looks_asked("Подскажите, а доставка в Казань сколько идёт")
    assert looks_asked("Интересно, будет ли у Acme распродажа к Чёрной пятнице.")
    assert looks_asked("does anyone know if the store is open")
    assert looks_asked("Is this thing on?")
    assert not looks_asked("Ordered last night, the kettle was at my door by 10am. Impressive.")


def test_the_brand_acts_only_in_owned_channels_and_keeps_each_one_alive(two_days):
    w, events = two_days
    owned = {(ch.brand, ch.key) for b in BRANDS for ch in w.channels(b.name, owned=True)}
    listed = {
        (name, key)
        for name, cfg in w.brands_file().brands.items()
        for keys in cfg.owned_channels.values()
        for key in keys
    }
    assert owned == listed
    activity = defaultdict(list)
    for ev in events:
        m = ev.mention
        if m.author_is_brand:
            assert (m.brand, m.channel) in owned
            activity[(m.brand, m.channel)].append(m.occurred_at)
    assert set(activity) == owned
    for key, times in activity.items():
        gaps = [b - a for a, b in itertools.pairwise([START, *times])]
        assert max(gaps) < timedelta(hours=40), key


def test_normal_removals_are_spam_or_the_authors_own_non_negative_posts(two_days):
    _, events = two_days
    created = _created(events)
    actors = Counter()
    for ev in events:
        m = ev.mention
        if m.event_type not in (EventType.DELETED, EventType.HIDDEN):
            continue
        original = created[m.mention_id]
        s = original.sentiment
        assert s.label.value != "negative" and s.negative < 0.3, original.mention.text
        assert m.occurred_at > original.mention.occurred_at
        actors[m.actor] += 1
    assert actors[Actor.BRAND] > 10 and actors[Actor.AUTHOR] > 0 and actors[Actor.PLATFORM] > 0


def test_the_stream_is_lazy_and_its_memory_bounded():
    w = World(BRANDS, start=START, duration=timedelta(weeks=52), seed=1)
    stream = w.stream()
    first = list(itertools.islice(stream, 200))
    assert len(first) == 200
    peak = 0
    for ev in itertools.islice(stream, 20_000):  # noqa: B007 - the last one is checked below
        peak = max(peak, w.pending)
    assert peak < 2_000
    assert ev.mention.occurred_at < START + timedelta(days=4)


def test_a_silence_keeps_the_brand_out_of_a_channel_and_its_answers_wait():
    w = _world(1.0)
    ch = w.channel("acme", "facebook:acmeofficial")
    t0, t1 = 2 * HOUR, 10 * HOUR
    w.silence("acme", ch.key, t0, t1)
    events = list(w.stream())
    inside = [
        ev
        for ev in events
        if ev.mention.channel == ch.key and ev.mention.author_is_brand and w.at(t0) < ev.mention.occurred_at < w.at(t1)
    ]
    assert inside == []
    after = [ev for ev in events if ev.mention.channel == ch.key and ev.mention.author_is_brand]
    assert any(w.at(t1) <= ev.mention.occurred_at <= w.at(t1 + 4 * HOUR) for ev in after)


def test_scripted_events_do_not_change_normal_traffic():
    plain = [ev for ev in _world(0.2, seed=5).stream()]
    w = _world(0.2, seed=5)
    rng = random.Random(0)
    ch = w.channel("acme", "vk:club_acme")
    author = w.fresh_author(rng, "acme", "ru")
    post = w.new_post(rng, ch, "ru", "negative", author, "Где мой заказ? Жду уже неделю!")
    with_one = list(w.stream([[Happening(HOUR, EventType.CREATED, post, auto=True)]]))
    ours = {post.mention_id}
    replies = {ev.mention.mention_id for ev in with_one if ev.mention.parent_id in ours}
    assert len(replies) == 1  # the brand answers it, as it answers everyone
    rest = [ev for ev in with_one if ev.mention.mention_id not in ours | replies]
    assert [ev.to_bytes() for ev in rest] == [ev.to_bytes() for ev in plain]


def test_event_id_of_a_happening_is_the_emitted_ones():
    w = _world(0.1)
    rng = random.Random(0)
    ch = w.channel("acme", "facebook:acmeofficial")
    post = w.new_post(rng, ch, "en", "negative", w.fresh_author(rng, "acme", "en"), "Where is my order #123?")
    script = [Happening(HOUR, EventType.CREATED, post), Happening(HOUR + 5, EventType.HIDDEN, post, Actor.BRAND)]
    ids = {w.event_id(h) for h in script}
    seen = {ev.mention.event_id: ev for ev in w.stream([script]) if ev.mention.mention_id == post.mention_id}
    assert set(seen) == ids
    hidden = next(ev for ev in seen.values() if ev.mention.event_type is EventType.HIDDEN)
    assert hidden.mention.actor is Actor.BRAND and hidden.mention.occurred_at == w.at(HOUR + 5)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_corpus_template_the_world_uses_renders(lang):
    pack = C.LANGUAGES[lang]
    rng = random.Random(0)
    templates = []
    for phrases in (pack.negative, pack.neutral, pack.positive, pack.brand_reply):
        templates += list(phrases.openers) + list(phrases.closers)
        templates += [b for bodies in phrases.bodies.values() for b in bodies]
    templates += list(pack.sarcasm) + list(pack.spike_questions) + list(pack.escalations)
    templates += [t for v in pack.followups.values() for t in v]
    templates += [t for v in pack.headlines.values() for t in v]
    templates += [t for v in pack.spike.values() for t in v]
    for tpl in templates:
        for gender in ("m", "f"):
            text = render(rng, pack, "acme", [tpl], gender=gender, name="Anna", version="5.1.0")
            assert "{" not in text and text
    for tpl in pack.comebacks:
        assert "original text" in render(rng, pack, "acme", [tpl], original="original text")


def test_bad_brand_specs_are_refused():
    with pytest.raises(ValueError):
        BrandSpec("x", 0.0)
    with pytest.raises(ValueError):
        BrandSpec("x", 1.0, languages=(("xx", 1.0),))
    with pytest.raises(ValueError):
        World([BRANDS[0], BRANDS[0]], start=START, duration=timedelta(days=1))
    with pytest.raises(ValueError, match="post_gap_hours"):
        BrandSpec("x", 1.0, post_gap_hours=(2.0, 1.0))


def test_others_removed_share_is_what_the_brand_really_removes(two_days):
    w, events = two_days
    owned = {ch.key: ch for ch in w.channels("acme", owned=True, social=True)}
    kept, removed = set(), 0
    for ev in events:
        m = ev.mention
        if m.brand != "acme" or m.channel not in owned or m.author_is_brand:
            continue
        if m.event_type is EventType.CREATED and ev.sentiment.label.value != "negative":
            kept.add(m.mention_id)
        elif m.event_type in (EventType.DELETED, EventType.HIDDEN) and m.actor in (Actor.BRAND, None):
            removed += m.mention_id in kept
    expected = sum(w.others_removed_share("acme", key) for key in owned) / len(owned)
    assert removed / len(kept) == pytest.approx(expected, rel=0.3)


def test_a_world_streams_once():
    w = _world(0.01)
    list(w.stream())
    with pytest.raises(RuntimeError):
        next(w.stream())


# --------------------------------------------------------------------------- every language, people, threads

ALL_LANGS = tuple((code, 1.0) for code in C.LANGUAGES)


@pytest.fixture(scope="module")
def polyglot():
    """One brand written about in every language of the corpus, for a day, with the Post behind each event."""
    w = World(
        [BrandSpec("acme", 1.5, "UTC", ALL_LANGS, peak_hour=14.0)], start=START, duration=timedelta(days=1), seed=5
    )
    return w, list(w.stream_posts())


def test_every_language_and_script_is_written(polyglot):
    _, pairs = polyglot
    people = [(p, ev.mention) for p, ev in pairs if ev.mention.event_type is EventType.CREATED and not p.is_brand]
    langs = Counter(m.lang for _, m in people)
    assert set(langs) == set(C.LANGUAGES)
    assert min(langs.values()) > 0.04 * len(people)
    texts = " ".join(m.text for _, m in people)
    assert re.search(r"[а-яё]", texts) and re.search(r"[\u0600-\u06ff]", texts)  # Cyrillic and Arabic
    assert re.search(r"[ëç]", texts) and re.search(r"[ñ¿¡]", texts) and re.search(r"[äöüß]", texts)
    assert re.search(r"[іїєґ]", texts)  # Ukrainian letters
    # mixed script: a Latin brand name or model inside Cyrillic and Arabic sentences
    assert any(re.search(r"[A-Za-z]", m.text) and re.search(r"[а-я\u0600-\u06ff]", m.text) for _, m in people)


def test_intents_topics_and_texts_are_varied(polyglot):
    _, pairs = polyglot
    people = [p for p, ev in pairs if ev.mention.event_type is EventType.CREATED and not p.is_brand]
    people = [p for p in people if p.topic != "spam"]
    mix = Counter(p.intent for p in people)
    assert 0.14 < mix["negative"] / len(people) < 0.32
    assert {p.topic for p in people if p.intent == "negative"} >= set(C.COMPLAINT_TOPICS) | {"sarcasm"}
    texts = [p.text for p in people]
    assert len(set(texts)) > 0.6 * len(texts)
    joined = "".join(texts)
    assert any(e in joined for e in C.EMOJI["negative"]) and any(e in joined for e in C.EMOJI["positive"])


def test_authors_repeat_and_reach_is_heavy_tailed(two_days):
    _, events = two_days
    users = [
        ev.mention
        for ev in events
        if ev.mention.event_type is EventType.CREATED
        and not ev.mention.author_is_brand
        and ev.mention.platform is not Platform.RSS
    ]
    per_author = Counter(m.author_id for m in users)
    assert max(per_author.values()) >= 5  # regulars
    assert sum(1 for c in per_author.values() if c == 1) > 0.5 * len(per_author)  # and many one-offs
    followers = sorted(m.author_followers for m in users if m.author_followers is not None)
    assert followers[-1] >= 100 * followers[len(followers) // 2] and followers[-1] >= 20_000  # influencers
    likes = sorted(m.engagement.likes for m in users)
    assert likes[len(likes) // 2] <= 5 and likes[-1] >= 100


def test_replies_point_to_earlier_mentions_in_the_same_channel_and_language(polyglot):
    _, pairs = polyglot
    seen: dict[str, tuple[str, str | None]] = {}
    replies = brand_replies = 0
    for _, ev in pairs:
        m = ev.mention
        if m.event_type is not EventType.CREATED:
            continue
        if m.parent_id is not None:
            assert m.parent_id in seen, m
            channel, lang = seen[m.parent_id]
            assert channel == m.channel
            replies += 1
            if m.author_is_brand:
                assert lang == m.lang
                brand_replies += 1
        seen[m.mention_id] = (m.channel, m.lang)
    assert replies > 300 and brand_replies > 100


def test_lifecycle_events_follow_their_mention(polyglot):
    _, pairs = polyglot
    first = {}
    kinds: Counter[EventType] = Counter()
    for post, ev in pairs:
        m = ev.mention
        if m.event_type is EventType.CREATED:
            first[m.mention_id] = m
            continue
        orig = first[m.mention_id]
        assert (orig.channel, orig.author_id, orig.platform) == (m.channel, m.author_id, m.platform)
        assert m.occurred_at > orig.occurred_at
        assert post.mention_id == m.mention_id
        kinds[m.event_type] += 1
        if m.event_type in (EventType.DELETED, EventType.HIDDEN):
            assert m.text == ""
            # in normal times nobody removes a complaint: spam, or an author's own non-negative post
            assert post.topic == "spam" or (post.intent != "negative" and m.actor in (Actor.AUTHOR, None))
        if m.event_type is EventType.EDITED:
            assert m.text and m.text != orig.text and m.text.startswith(orig.text)
    assert kinds[EventType.EDITED] > 20 and kinds[EventType.DELETED] > 5


def test_channel_layout_follows_the_languages():
    w = World([BrandSpec("acme", 1.0, languages=(("ru", 0.5), ("en", 0.5)))], start=START, duration=timedelta(days=1))
    vk = w.channel("acme", "vk:club_acme")
    assert set(vk.langs) == {"ru"} and vk.owned
    support = w.channel("acme", "telegram:@acme_support")  # both languages lay one out: it is shared
    assert set(support.langs) == {"ru", "en"} and support.owned
    assert sum(ch.weight for ch in w.channels("acme")) == pytest.approx(1.0)


def test_stream_posts_is_stream_with_the_posts_behind_it():
    a = [ev for ev in _world(0.05).stream()]
    pairs = list(_world(0.05).stream_posts())
    assert [ev for _, ev in pairs] == a
    assert all(p.mention_id == ev.mention.mention_id and p.brand == ev.mention.brand for p, ev in pairs)


def test_a_brand_can_post_often():
    brand = BrandSpec("acme", 1.0, "UTC", peak_hour=14.0, post_gap_hours=(0.3 / 60, 1.0 / 60))
    w = World([brand], start=START + timedelta(hours=12), duration=timedelta(minutes=30), seed=1)
    posts = Counter(
        ev.mention.channel for ev in w.stream() if ev.mention.author_is_brand and ev.mention.parent_id is None
    )
    owned = {ch.key for ch in w.channels("acme", owned=True)}
    assert set(posts) == owned and min(posts.values()) >= 25  # every 18-60 s in every owned channel
