"""A small simulated world: brands, their channels, people, and what happens there, as scored mentions.

Why a world of its own and not the ingest demo stream: measuring detection
quality needs weeks of *normal* traffic whose rates are known exactly (so that
"3x the baseline" means something), several brands of very different volume,
seasonality in each brand's local time, and a brand that behaves like a good
support team (answers complaints within the SLA, posts in its communities,
cleans up spam) — so that every alert the detectors raise on it is either
caused by a staged incident or a false alarm.

Shape of the world:

* :class:`BrandSpec` says how loud a brand is (``negatives_per_min``: people's
  mentions the model scores negative, averaged over a week), where it lives
  (its IANA time zone drives the daily and weekly curve) and in which languages
  people write about it. Channels come from the ingest corpus' channel layout
  of those languages; the owned ones are where the brand answers and moderates.
* People's mentions are a non-homogeneous Poisson process per brand, its rate
  following the seasonal curve minute by minute. Each one gets a text from the corpus'
  phrases, sentiment probabilities drawn so that ~90% of complaints have
  negative as argmax (some of them borderline) and a few other texts look
  negative to the model, an author from a heavy-tailed pool, engagement, a URL.
* What the brand does in normal times: it answers every complaint and question
  in its owned channels well within the SLA, thanks some people, posts in every
  owned channel at least daily, deletes or hides spam. People delete some of
  their own non-negative posts and edit a few. The platform removes spam too.
  The brand never removes a complaint in normal times: that is an incident.
* Incidents (see :mod:`simulation.incidents`) hand the world their own events
  (:class:`Happening`) and silences (a channel where the brand stops posting).

Time is integer microseconds from the world's start (exact, so a label's
deletion time equals the event's ``occurred_at`` bit for bit). Every random draw
comes from a :class:`random.Random` seeded from the world seed and a purpose
string, never from the global one or from ``hash()``: the same seed gives a
byte-identical stream. The stream is lazy: one heap of pending things (the next
arrival per brand, the next brand post per channel, replies and deletions due
within hours, the next event of each incident), so memory stays bounded however
many weeks are generated.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import re
from bisect import bisect
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from shared.brands import BrandConfig, BrandsFile
from shared.schemas import (
    Actor,
    Engagement,
    EventType,
    MentionEvent,
    Platform,
    ScoredMention,
    Sentiment,
    SentimentLabel,
    mention_event_id,
)
from simulation import corpus as C

__all__ = [
    "DAY",
    "HOUR",
    "MINUTE",
    "SECOND",
    "Author",
    "BrandSpec",
    "Channel",
    "Happening",
    "Post",
    "World",
    "draw_probs",
    "looks_asked",
    "needs_answer",
]

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

NEG, NEU, POS = "negative", "neutral", "positive"
_LABELS = (SentimentLabel.NEGATIVE, SentimentLabel.NEUTRAL, SentimentLabel.POSITIVE)

#: the model name written into every simulated Sentiment
MODEL = "simulation"

# --------------------------------------------------------------------------- how people behave
# Module constants (plain numbers), so the shape of normal traffic reads in one place.

#: intent mix (negative, neutral, positive) of people's mentions per platform; review
#: sites are polarised, news is mostly neutral
_INTENT_MIX: Mapping[Platform | None, tuple[float, float, float]] = MappingProxyType(
    {
        None: (0.22, 0.48, 0.30),
        Platform.REVIEWS: (0.32, 0.18, 0.50),
        Platform.RSS: (0.15, 0.70, 0.15),
    }
)
#: P(the model's argmax is negative | intent): complaints are mostly caught, sarcasm
#: and mild wording are not; a few neutral texts read as negative to the model
_P_NEG_ARGMAX = MappingProxyType({NEG: 0.90, NEU: 0.025, POS: 0.005})
_SPAM_SHARE = 0.03  # of people's mentions in social channels (bots selling things)
#: who removes spam in an owned channel: (brand, platform, unnamed) — and in others (platform, unnamed, nobody)
_SPAM_REMOVAL_OWNED = (0.75, 0.15, 0.10)
_SPAM_REMOVAL_ELSEWHERE = (0.3, 0.2, 0.5)
_REPLY_SHARE = 0.18  # of people's mentions that answer an earlier one in the channel
_SARCASM_SHARE = 0.12  # of complaints, written as sarcasm (then mostly missed by the model)
_RECENT_PER_CHANNEL = 30  # how far back a reply may reach in a channel
_EDIT_P = 0.02
_AUTHOR_DELETE_P = 0.01  # people deleting their own (non-negative) post
_THANKS_P = 0.25  # the brand thanking a positive post in its channel
_INFLUENCER_SHARE = 0.02
_REGULARS = 40  # the most active authors of a brand and language
_REGULAR_SHARE = 0.12  # share of mentions written by the regulars

#: the brand answers a complaint or question after a log-normal delay (median, sigma),
#: clamped well inside the SLA: in normal times nothing breaches it
_REPLY_MEDIAN_S = 9 * 60.0
_REPLY_SIGMA = 0.8
_REPLY_MIN_S = 40.0
#: the latest normal answer, as a share of the SLA (leaves room for ingest lag)
_REPLY_MAX_SLA_SHARE = 0.85
#: the brand's own posts per owned channel: one every few hours, only in local daytime
_BRAND_POST_GAP_H = (3.0, 20.0)
_BRAND_POST_HOURS = (8.0, 22.0)

#: ingest lag: streamed platforms push within seconds, review sites and news are polled
_POLLED = frozenset({Platform.REVIEWS, Platform.RSS})

#: what spam bots write (the corpus has none): never negative, removed by brand or platform
_SPAM: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "ru": (
            "Заработок от 5000 в день без вложений, пиши в лс 💰",
            "Продам аккаунт со скидкой 90% на всё, подробности в профиле",
            "Лучшие копии брендовых часов, доставка по всей России. Пиши!",
            "Накрутка подписчиков недорого, t.me/nakrutka_top",
        ),
        "en": (
            "Make $500 a day from home!!! DM me to learn how 💰",
            "Free gift cards here, just click the link in my bio",
            "Best replica watches, worldwide shipping. Message me!",
            "Get 10k followers fast, cheap and safe, check my profile",
        ),
    }
)

#: what the brand itself posts in its channels, besides the corpus' neutral/positive headlines
_BRAND_POSTS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "ru": (
            "Новинки недели уже в каталоге! Рассказываем, что стоит посмотреть.",
            "Напоминаем: до воскресенья действует скидка 15% на аксессуары.",
            "Отвечаем на ваши вопросы о доставке в праздничные дни.",
            "Спасибо, что вы с нами! Делитесь в комментариях, что улучшить.",
        ),
        "en": (
            "New arrivals are in! Here's what our team loves this week.",
            "Reminder: 15% off accessories until Sunday.",
            "Your questions about holiday delivery times, answered.",
            "Thanks for being with us! Tell us in the comments what we should improve.",
        ),
    }
)

_WORD_RE = re.compile(r"[^\W\d_]{4,}")


# --------------------------------------------------------------------------- the world's nouns


@dataclass(frozen=True)
class BrandSpec:
    """One brand of the world and how loud it is."""

    name: str
    #: people's mentions the model scores negative, per minute, averaged over a week
    negatives_per_min: float
    #: IANA zone: the daily and weekly curve follow the brand's local time
    timezone: str = "UTC"
    #: (language, share) of what people write about the brand; en/ru have spam and brand-post texts
    languages: tuple[tuple[str, float], ...] = (("en", 1.0),)
    #: traffic on Saturday and Sunday relative to a weekday
    weekend: float = 0.85
    #: local hour of the evening peak of the daily curve
    peak_hour: float = 19.0
    #: hours between the brand's own posts in each owned channel (uniform between the two; in local
    #: daytime only). The demo's brands post every minute or so, so a channel falls silent only when
    #: an incident silences it
    post_gap_hours: tuple[float, float] = _BRAND_POST_GAP_H
    #: the brand answers every person's mention in its channels (spam aside), not only what the
    #: simulated model reads as a complaint or a question: then whatever model scores the stream
    #: again (the demo's real one reads some chatter as complaints), nothing waits for an answer
    #: unless an incident makes it wait
    answers_all: bool = False

    def __post_init__(self) -> None:
        if self.negatives_per_min <= 0:
            raise ValueError(f"brand {self.name!r}: negatives_per_min must be > 0")
        ZoneInfo(self.timezone)
        lo, hi = self.post_gap_hours
        if not 0 < lo <= hi:
            raise ValueError(f"brand {self.name!r}: post_gap_hours must be 0 < low <= high")
        for lang, share in self.languages:
            if lang not in C.LANGUAGES:
                raise ValueError(f"brand {self.name!r}: no corpus for language {lang!r}")
            if share <= 0:
                raise ValueError(f"brand {self.name!r}: language share must be > 0")


@dataclass(eq=False)
class Channel:
    """A page, community, chat or thread where a brand is mentioned."""

    brand: str
    key: str  # MentionEvent.channel, e.g. "vk:club_acme"
    platform: Platform
    path: str
    owned: bool
    #: numeric id of the page's owner on the platform (VK wall ids, Facebook posts)
    owner_num: int
    #: the brand's own author id in this channel
    brand_account: str
    #: share of the brand's traffic that lands here
    weight: float = 0.0
    #: language -> P(language | this channel)
    langs: dict[str, float] = field(default_factory=dict)
    next_n: int = 0
    recent: deque[Post] = field(default_factory=lambda: deque(maxlen=_RECENT_PER_CHANNEL))
    _lang_codes: tuple[str, ...] = ()
    _lang_cum: list[float] = field(default_factory=list)

    @property
    def social(self) -> bool:
        """People converse here (not a review site or a news feed)."""
        return self.platform not in _POLLED


@dataclass(frozen=True, slots=True)
class Author:
    """A person (one account of theirs)."""

    lang: str
    num: int
    handle: str
    name: str
    gender: str
    followers: int

    def author_id(self, platform: Platform) -> str:
        """How the platform names this account: vk and facebook use numbers, the rest handles."""
        if platform is Platform.VK:
            return f"vk:id{self.num}"
        if platform in (Platform.FACEBOOK, Platform.OK):
            return f"{platform.value}:{self.num}"
        if platform in (Platform.TELEGRAM, Platform.YOUTUBE, Platform.X):
            return f"{platform.value}:@{self.handle}"
        return f"{platform.value}:{self.handle}"

    def followers_on(self, platform: Platform) -> int | None:
        """Telegram chats, review sites and news feeds report no follower counts."""
        return None if platform in (Platform.TELEGRAM, Platform.REVIEWS, Platform.RSS) else self.followers


@dataclass(eq=False, slots=True)
class Post:
    """One mention as it was created; later events (replies, edits, removals) refer to it."""

    channel: Channel
    mention_id: str
    parent_id: str | None
    author_id: str
    is_brand: bool
    followers: int | None
    text: str
    lang: str
    url: str
    engagement: Engagement
    intent: str
    topic: str
    #: (negative, neutral, positive) as the simulated model scored the text
    probs: tuple[float, float, float]
    author: Author | None = None
    #: made by an incident (its followups draw from the incidents' generator, not normal traffic's)
    scripted: bool = False
    #: removed by someone (the world stops scheduling things for it)
    gone: bool = False

    @property
    def brand(self) -> str:
        return self.channel.brand

    @property
    def model_negative(self) -> bool:
        neg, neu, pos = self.probs
        return neg >= neu and neg >= pos


@dataclass(slots=True)
class Happening:
    """One event to emit: something that happens to a post at time ``t`` (µs from the world's start).

    ``auto`` lets the world add what normally follows a new post (a brand answer,
    spam clean-up, an edit). Incidents set it False on posts whose fate they
    script themselves.
    """

    t: int
    etype: EventType
    post: Post
    actor: Actor | None = None
    auto: bool = False
    #: the text of an edit (the post's text otherwise)
    text: str | None = None

    def event_text(self) -> str:
        """What the event carries as text: removals carry none (platforms report only the id)."""
        if self.etype in (EventType.DELETED, EventType.HIDDEN, EventType.RESTORED):
            return ""
        return self.text if self.text is not None else self.post.text


#: how questions open when people leave out the question mark (generous: answering a
#: non-question costs the support team a minute, missing a question costs a customer)
_QUESTION_WORDS = frozenset(
    "how what when where why who which whose is are can could does do did will would should anyone any "
    "как что когда где почему зачем кто какой какая какие сколько можно подскажите есть ли".split()
)
_WORD_SPLIT = re.compile(r"[^\w]+")


def looks_asked(text: str) -> bool:
    """A question, as a support team reads one: a question mark, a question word up front,
    or the Russian particle "ли" ("будет ли распродажа")."""
    if "?" in text or "？" in text:
        return True
    head = [w for w in _WORD_SPLIT.split(text[:120].lower()) if w]
    return "ли" in head or any(w in _QUESTION_WORDS for w in head[:2])


def needs_answer(post: Post) -> bool:
    """What a support team answers in its own channels: complaints (by the model's reading,
    generously) and questions. Brand posts and spam never."""
    if post.is_brand or not post.channel.owned or post.topic == "spam":
        return False
    return post.model_negative or post.probs[0] >= 0.3 or looks_asked(post.text)


# --------------------------------------------------------------------------- small pure helpers


def _cum(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _pick(rng: random.Random, items: Sequence[Any], cum: Sequence[float]) -> Any:
    return items[min(bisect(cum, rng.random() * cum[-1]), len(items) - 1)]


def _mix64(x: int) -> int:
    """splitmix64's finaliser: a cheap, well-spread hash of an integer (authors are a pure
    function of their index without materialising a Random per person)."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def _seed_int(*parts: object) -> int:
    """A stable 64-bit seed from a purpose path (``hash()`` is salted per process)."""
    return random.Random("/".join(str(p) for p in parts)).getrandbits(64)


def _slug(brand: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", brand.lower()).strip("_") or "brand"


def _display(brand: str) -> str:
    return brand if any(c.isupper() for c in brand) else brand[:1].upper() + brand[1:]


def _b64id(n: int, width: int = 11) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
    out = []
    for _ in range(width):
        n, r = divmod(n, 64)
        out.append(alphabet[r])
    return "".join(out)


def _probs(neg: float, neu: float) -> tuple[float, float, float]:
    """(negative, neutral, positive) that sum to one, with float dust clamped away."""
    pos = max(0.0, 1.0 - neg - neu)
    return neg, neu, pos


def draw_probs(rng: random.Random, intent: str, *, sarcasm: bool = False) -> tuple[float, float, float]:
    """Sentiment probabilities (negative, neutral, positive) a decent model would give a text.

    Complaints: 75% clearly negative, 15% negative but borderline, 10% (and most
    sarcasm) missed — neutral or positive wins. Neutral and positive texts are
    read right almost always, with a thin tail the model reads as negative.
    """
    r = rng.random()
    if intent == NEG:
        if sarcasm:
            r = 0.85 + 0.15 * r  # sarcasm: mostly missed, sometimes borderline
        if r < 0.75:
            neg = rng.uniform(0.70, 0.97)
            neu = (1.0 - neg) * rng.uniform(0.4, 0.9)
            return _probs(neg, neu)
        if r < 0.90:
            neg = rng.uniform(0.42, 0.62)
            neu = min((1.0 - neg) * rng.uniform(0.55, 0.85), neg - 0.02)
            return _probs(neg, neu)
        neg = rng.uniform(0.20, 0.40)
        top = max((1.0 - neg) * rng.uniform(0.6, 0.95), neg + 0.02)
        other = 1.0 - neg - top
        return _probs(neg, other) if sarcasm else _probs(neg, top)
    if intent == NEU:
        if r < 0.025:  # reads as a complaint to the model
            neg = rng.uniform(0.42, 0.52)
            neu = min((1.0 - neg) * rng.uniform(0.75, 0.95), neg - 0.01)
            return _probs(neg, neu)
        if r < 0.04:
            pos = rng.uniform(0.5, 0.7)
            neg = (1.0 - pos) * rng.uniform(0.05, 0.3)
            return _probs(neg, 1.0 - pos - neg)
        neu = rng.uniform(0.55, 0.95)
        neg = (1.0 - neu) * rng.uniform(0.1, 0.5)
        return _probs(neg, neu)
    if r < 0.005:
        neg = rng.uniform(0.42, 0.5)
        pos = min((1.0 - neg) * rng.uniform(0.75, 0.95), neg - 0.01)
        return _probs(neg, 1.0 - neg - pos)
    if r < 0.03:
        neu = rng.uniform(0.5, 0.7)
        neg = (1.0 - neu) * rng.uniform(0.02, 0.2)
        return _probs(neg, neu)
    pos = rng.uniform(0.6, 0.97)
    neg = (1.0 - pos) * rng.uniform(0.02, 0.3)
    return _probs(neg, 1.0 - pos - neg)


def _p_model_negative(mix: tuple[float, float, float]) -> float:
    """P(argmax negative) of one people's mention drawn with intent ``mix`` (sarcasm included)."""
    p_neg_given_complaint = (1 - _SARCASM_SHARE) * _P_NEG_ARGMAX[NEG]
    # sarcasm lands in draw_probs' last 15% of r: a third of it borderline-negative, the rest missed
    p_neg_given_complaint += _SARCASM_SHARE * (0.90 - 0.85) / 0.15
    return mix[0] * p_neg_given_complaint + mix[1] * _P_NEG_ARGMAX[NEU] + mix[2] * _P_NEG_ARGMAX[POS]


class _Fill(dict[str, Any]):
    """Template slot values, drawn the first time a template asks (one text stays consistent)."""

    def __init__(self, rng: random.Random, pack: C.LanguagePack, brand: str, gender: str, **fixed: Any) -> None:
        super().__init__(fixed)
        self._rng, self._pack, self._brand, self._gender = rng, pack, brand, gender

    def __missing__(self, key: str) -> Any:
        rng, pack = self._rng, self._pack
        if key == "brand":
            r = rng.random()
            slug = _slug(self._brand)
            value: Any = _display(self._brand) if r < 0.6 else self._brand.lower() if r < 0.85 else "#" + slug
        elif key == "item":
            value = rng.choice(pack.items)
        elif key == "city":
            value = rng.choice(pack.cities)
        elif key == "model":
            value = rng.choice(C.MODELS)
        elif key == "order":
            value = str(rng.randint(1_000_000, 99_999_999))
        elif key == "version":
            value = f"{rng.randint(3, 9)}.{rng.randint(0, 24)}.{rng.randint(0, 9)}"
        elif key == "name":
            value = rng.choice(pack.names[self._gender])[0]
        elif key in pack.genders.get(self._gender, {}):
            value = pack.genders[self._gender][key]
        elif key in pack.slots:
            value = rng.choice(pack.slots[key])
        else:
            raise KeyError(f"template slot {{{key}}} is not defined for language {pack.code!r}")
        self[key] = value
        return value


def render(
    rng: random.Random, pack: C.LanguagePack, brand: str, parts: Iterable[str], *, gender: str = "m", **fixed: Any
) -> str:
    """Fill corpus templates and glue them as people do ("Короче," runs on in lower case)."""
    fill = _Fill(rng, pack, brand, gender, **fixed)
    out = ""
    for part in parts:
        piece = part.format_map(fill)
        if not piece:
            continue
        if not out:
            out = piece[:1].upper() + piece[1:]
        elif out[-1] in ",:" and pack.lower_after_comma:
            out = f"{out} {piece[:1].lower()}{piece[1:]}"
        elif out[-1] in ".!?":
            out = f"{out} {piece[:1].upper()}{piece[1:]}"
        else:
            out = f"{out} {piece}"
    return out


def typo(rng: random.Random, text: str) -> str:
    """One fast-typing slip: two neighbouring letters swapped in a longer word."""
    words = list(_WORD_RE.finditer(text))
    if not words:
        return text
    m = rng.choice(words)
    i = rng.randrange(m.start(), m.end() - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


# --------------------------------------------------------------------------- the world


_ARRIVAL, _BRAND_POST, _EMIT, _FEED = range(4)


class World:
    """The brands, channels and people of one simulation, and the stream of what they do.

    Incidents use the public methods to build their own posts (with their own
    random generator, so adding an incident never reshuffles normal traffic),
    then hand the events to :meth:`stream`. A World is single-use: stream it once.
    """

    def __init__(
        self,
        brands: Sequence[BrandSpec],
        *,
        start: datetime,
        duration: timedelta,
        seed: int = 0,
        sla: timedelta = timedelta(minutes=60),
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if not brands:
            raise ValueError("a world needs at least one brand")
        names = [b.name for b in brands]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate brand names in {names}")
        self.seed = seed
        self.start = start.astimezone(timezone.utc)
        self.end = int(duration / timedelta(microseconds=1))
        self.sla = int(sla / timedelta(microseconds=1))
        self.brands: dict[str, BrandSpec] = {b.name: b for b in brands}
        self._epoch_s = self.start.timestamp()
        self._zones = {b.name: ZoneInfo(b.timezone) for b in brands}
        self._offsets: dict[tuple[str, int], float] = {}
        self._channels: dict[str, list[Channel]] = {}
        self._channel_cum: dict[str, list[float]] = {}
        self._week_norm: dict[str, float] = {}
        self._p_neg: dict[str, float] = {}
        self._pool: dict[str, int] = {}
        self._silences: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self._author_seeds: dict[tuple[str, str], int] = {}
        self._streamed = False
        self._engagements: dict[tuple[int, int, int, int | None], Engagement] = {}
        #: per brand: (end of the minute, people's mentions per µs in it)
        self._minute_rate: dict[str, tuple[int, float]] = {}
        self._casual = {code: str.maketrans(dict(p.casual)) for code, p in C.LANGUAGES.items()}
        for b in brands:
            self._lay_out(b)

    # ---------------------------------------------------------------- layout

    def _lay_out(self, b: BrandSpec) -> None:
        """Concrete channels of one brand, and which languages are written where."""
        rng = random.Random(f"{self.seed}/layout/{b.name}")
        slug = _slug(b.name)
        video = _b64id(rng.getrandbits(64))
        by_key: dict[str, Channel] = {}
        total_share = sum(s for _, s in b.languages)
        for lang, share in b.languages:
            pack = C.LANGUAGES[lang]
            tw = sum(t.weight for t in pack.channels)
            for tpl in pack.channels:
                path = tpl.path.format(slug=slug, video=video)
                key = f"{tpl.platform}:{path}"
                ch = by_key.get(key)
                if ch is None:
                    platform = Platform(tpl.platform)
                    owner = rng.randint(10_000_000, 239_999_999)
                    ch = Channel(
                        brand=b.name,
                        key=key,
                        platform=platform,
                        path=path,
                        owned=tpl.owned,
                        owner_num=owner,
                        brand_account=self._brand_account(platform, slug, owner),
                        next_n=rng.randint(10_000, 900_000),
                    )
                    by_key[key] = ch
                w = share / total_share * tpl.weight / tw
                ch.weight += w
                ch.langs[lang] = ch.langs.get(lang, 0.0) + w
        channels = list(by_key.values())
        for ch in channels:
            ch._lang_codes = tuple(ch.langs)
            ch._lang_cum = _cum([ch.langs[c] for c in ch._lang_codes])
        self._channels[b.name] = channels
        self._channel_cum[b.name] = _cum([ch.weight for ch in channels])
        self._week_norm[b.name] = (5.0 + 2.0 * b.weekend) / 7.0
        p_neg = 0.0
        for ch in channels:
            spam = _SPAM_SHARE if ch.social else 0.0
            p_neg += ch.weight * (1.0 - spam) * _p_model_negative(_INTENT_MIX.get(ch.platform, _INTENT_MIX[None]))
        self._p_neg[b.name] = p_neg
        # enough people that a brand's regulars write a minority of its mentions
        self._pool[b.name] = max(2_000, int(self.mentions_per_min(b.name) * 60 * 24 * 3))

    @staticmethod
    def _brand_account(platform: Platform, slug: str, owner: int) -> str:
        if platform is Platform.VK:
            return f"vk:club{owner}"
        if platform in (Platform.FACEBOOK, Platform.OK):
            return f"{platform.value}:{owner}"
        return f"{platform.value}:@{slug}"

    # ---------------------------------------------------------------- time and rates

    def at(self, t: int) -> datetime:
        """Event time of world time ``t`` (µs from the start)."""
        return self.start + timedelta(microseconds=t)

    def t_of(self, when: datetime | timedelta) -> int:
        if isinstance(when, timedelta):
            return int(when / timedelta(microseconds=1))
        return int((when - self.start) / timedelta(microseconds=1))

    def local(self, brand: str, t: int) -> tuple[float, int]:
        """(local hour of day as a float, weekday with Monday 0) of the brand at ``t``."""
        epoch = self._epoch_s + t / SECOND
        hour_idx = int(epoch // 3600)
        off = self._offsets.get((brand, hour_idx))
        if off is None:
            if len(self._offsets) > 4096:  # time only moves forward: old hours are not asked again
                self._offsets.clear()
            off = datetime.fromtimestamp(hour_idx * 3600, self._zones[brand]).utcoffset().total_seconds()  # type: ignore[union-attr]
            self._offsets[(brand, hour_idx)] = off
        local = epoch + off
        day, sec = divmod(local, 86400.0)
        return sec / 3600.0, (int(day) + 3) % 7  # 1970-01-01 was a Thursday

    @staticmethod
    def _daily(b: BrandSpec, hour: float) -> float:
        """Daily curve in local time: deep night trough, evening peak; averages ~1 over a day."""
        x = 2.0 * math.pi * (hour - b.peak_hour) / 24.0
        return max(0.08, 1.0 + 0.75 * math.cos(x) + 0.15 * math.cos(2.0 * x + math.pi / 3.0))

    def intensity(self, brand: str, t: int) -> float:
        """Seasonal multiplier of the brand's traffic at ``t`` (mean ~1 over a week)."""
        b = self.brands[brand]
        hour, weekday = self.local(brand, t)
        week = b.weekend if weekday >= 5 else 1.0
        return self._daily(b, hour) * week / self._week_norm[brand]

    def mentions_per_min(self, brand: str, t: int | None = None) -> float:
        """People's mentions of the brand per minute: weekly mean, or the seasonal rate at ``t``."""
        base = self.brands[brand].negatives_per_min / self._p_neg[brand]
        return base if t is None else base * self.intensity(brand, t)

    def negatives_per_min(self, brand: str, t: int | None = None, channel: str | None = None) -> float:
        """People's mentions the model scores negative, per minute (brand-wide or in one channel)."""
        rate = self.brands[brand].negatives_per_min * (1.0 if t is None else self.intensity(brand, t))
        if channel is None:
            return rate
        ch = self.channel(brand, channel)
        spam = _SPAM_SHARE if ch.social else 0.0
        share = ch.weight * (1.0 - spam) * _p_model_negative(_INTENT_MIX.get(ch.platform, _INTENT_MIX[None]))
        return rate * share / self._p_neg[brand]

    def others_removed_share(self, brand: str, channel: str) -> float:
        """Share of people's other (not model-negative) mentions in an owned channel that the brand,
        or an unnamed actor, removes in normal times: its spam clean-up. What a removal-bias
        test compares the share of removed complaints against."""
        ch = self.channel(brand, channel)
        if not (ch.owned and ch.social):
            return 0.0
        p_neg = (1.0 - _SPAM_SHARE) * _p_model_negative(_INTENT_MIX.get(ch.platform, _INTENT_MIX[None]))
        brand_share, _, unnamed = _SPAM_REMOVAL_OWNED
        return _SPAM_SHARE * (brand_share + unnamed) / (1.0 - p_neg)

    def expected_negatives(self, brand: str, t0: int, t1: int, channel: str | None = None) -> float:
        """Integral of :meth:`negatives_per_min` over [t0, t1] (midpoint rule: one-minute steps,
        ten-minute ones over spans of days, where the smooth daily curve allows it)."""
        if t1 <= t0:
            return 0.0
        base = MINUTE if t1 - t0 <= 2 * HOUR else 10 * MINUTE
        total, t = 0.0, t0
        while t < t1:
            step = min(base, t1 - t)
            total += self.negatives_per_min(brand, t + step // 2, channel) * step / MINUTE
            t += step
        return total

    # ---------------------------------------------------------------- channels and people

    def channels(self, brand: str, *, owned: bool | None = None, social: bool | None = None) -> list[Channel]:
        return [
            ch
            for ch in self._channels[brand]
            if (owned is None or ch.owned == owned) and (social is None or ch.social == social)
        ]

    def channel(self, brand: str, key: str) -> Channel:
        for ch in self._channels[brand]:
            if ch.key == key:
                return ch
        raise KeyError(f"brand {brand!r} has no channel {key!r}")

    def busiest(self, brand: str, *, owned: bool = True, rank: int = 0) -> Channel:
        """The brand's ``rank``-th busiest (social) channel, for incidents that need a lively one."""
        chans = sorted(self.channels(brand, owned=owned, social=True), key=lambda c: (-c.weight, c.key))
        return chans[min(rank, len(chans) - 1)]

    def pick_lang(self, rng: random.Random, ch: Channel) -> str:
        return _pick(rng, ch._lang_codes, ch._lang_cum)

    def author(self, brand: str, lang: str, index: int) -> Author:
        """Person ``index`` of a brand's audience in one language: a pure function of the seed."""
        base = self._author_seeds.get((brand, lang))
        if base is None:
            base = self._author_seeds[(brand, lang)] = _seed_int(self.seed, "author", brand, lang)
        h = _mix64(base ^ index)
        pack = C.LANGUAGES[lang]
        gender = "m" if h & 1 else "f"
        names = pack.names[gender]
        name, first = names[(h >> 1) % len(names)]
        sur = pack.surnames[(h >> 9) % len(pack.surnames)] + (pack.female_surname_suffix if gender == "f" else "")
        style = (h >> 17) % 4
        tail = (h >> 20) % 1000
        handle = (f"{first}_{sur}", f"{first}.{sur}{tail % 100}", f"{first}{tail}", f"{sur}_{first[0]}{tail % 10}")[
            style
        ]
        u1 = ((h >> 30) & 0xFFFFF) / float(1 << 20)
        u2 = (((h >> 50) & 0x3FFF) + 0.5) / float(1 << 14)
        if u1 < _INFLUENCER_SHARE:
            followers = min(5_000_000, int(15_000 / u2 ** (1 / 1.1)))
        else:
            # log-normal(4.2, 1.4) from one uniform via a logistic approximation of the normal quantile
            z = math.log(u2 / (1.0 - u2)) / 1.702
            followers = min(50_000, int(math.exp(4.2 + 1.4 * z)))
        return Author(
            lang=lang,
            num=1_000_000 + (h >> 8) % 899_000_000,
            handle=f"{handle}{index % 7 if style == 0 else ''}",
            name=name,
            gender=gender,
            followers=followers,
        )

    def pick_author(self, rng: random.Random, brand: str, lang: str) -> Author:
        """A few regulars write a lot; most people appear once or twice."""
        if rng.random() < _REGULAR_SHARE:
            return self.author(brand, lang, rng.randrange(_REGULARS))
        pool = self._pool[brand]
        return self.author(brand, lang, _REGULARS + int((pool - _REGULARS) * rng.random() ** 2))

    def fresh_author(self, rng: random.Random, brand: str, lang: str, *, like: Author | None = None) -> Author:
        """Someone outside the usual audience (a spike's crowd), or ``like``'s second account:
        same person and name, a new handle and id, few followers."""
        if like is None:
            return self.author(brand, lang, self._pool[brand] + rng.randrange(10_000_000))
        suffix = rng.choice(("2", "_new", "_real", "x", "_again", "1"))
        return Author(
            lang=lang,
            num=1_000_000 + (like.num + rng.randint(1_000, 9_999_999)) % 899_000_000,
            handle=f"{like.handle}{suffix}",
            name=like.name,
            gender=like.gender,
            followers=rng.randint(0, 40),
        )

    # ---------------------------------------------------------------- writing

    def compose(
        self,
        rng: random.Random,
        ch: Channel,
        lang: str,
        intent: str,
        author: Author | None,
        *,
        body: str | None = None,
        opener_p: float = 0.3,
        closer_p: float = 0.35,
        humanize: bool = True,
        **fixed: Any,
    ) -> tuple[str, str]:
        """A person's text of one intent, ``[opener] body [closer]``, and its topic."""
        pack = C.LANGUAGES[lang]
        phrases: C.Phrases = getattr(pack, intent)
        topic = "custom"
        if body is None:
            if intent == NEG and pack.sarcasm and rng.random() < _SARCASM_SHARE:
                topic, body = "sarcasm", rng.choice(pack.sarcasm)
                opener_p = closer_p = 0.0
            else:
                topic = rng.choice(tuple(phrases.bodies))
                body = rng.choice(phrases.bodies[topic])
        parts = []
        if rng.random() < opener_p:
            parts.append(rng.choice(phrases.openers))
        parts.append(body)
        if rng.random() < closer_p:
            parts.append(rng.choice(phrases.closers))
        gender = author.gender if author is not None else "m"
        text = render(rng, pack, ch.brand, parts, gender=gender, **fixed)
        if humanize:
            text = self.humanize(rng, lang, text, intent)
        return text, topic

    def humanize(self, rng: random.Random, lang: str, text: str, intent: str) -> str:
        """Write like a person on a phone: skipped diacritics, a typo, no final period, emoji."""
        pack = C.LANGUAGES[lang]
        if pack.casual and rng.random() < pack.casual_rate:
            text = text.translate(self._casual[lang])
        if rng.random() < 0.1:
            text = typo(rng, text)
        if rng.random() < 0.3 and text.endswith(".") and not text.endswith(".."):
            text = text[:-1]
        if intent == NEG and rng.random() < 0.03:
            text = text.upper()
        if rng.random() < {NEG: 0.3, NEU: 0.08, POS: 0.4}[intent]:
            text = f"{text} {rng.choice(C.EMOJI[intent])}"
        return text

    # ---------------------------------------------------------------- posts

    def _new_id(self, rng: random.Random, ch: Channel, scripted: bool) -> tuple[str, str]:
        """A platform id in a channel and its URL. Scripted posts (incidents) draw ids from a
        range of their own, so they never collide with or renumber normal traffic."""
        if scripted:
            n = rng.randrange(600_000_000, 999_999_999)
        else:
            ch.next_n += rng.randint(1, 4)
            n = ch.next_n
        p = ch.platform
        if p is Platform.VK:
            url = f"https://vk.com/{ch.path}?w=wall-{ch.owner_num}_{n}"
        elif p is Platform.TELEGRAM:
            url = f"https://t.me/{ch.path.lstrip('@')}/{n}"
        elif p is Platform.FACEBOOK:
            url = f"https://www.facebook.com/{ch.path}/posts/{ch.owner_num}?comment_id={n}"
        elif p is Platform.INSTAGRAM:
            url = f"https://www.instagram.com/p/{_b64id(n * 2_654_435_761 + ch.owner_num)}/"
        elif p is Platform.YOUTUBE:
            url = f"https://www.youtube.com/watch?v={ch.path.rsplit('/', 1)[-1]}&lc=Ugx{_b64id(n, 8)}"
        elif p is Platform.REVIEWS:
            url = f"https://{ch.path}#review-{n}"
        else:
            url = f"https://{ch.path}/news/{n}"
        return f"{ch.key}/{n}", url

    def _engagement(
        self, rng: random.Random, followers: int | None, intent: str, ch: Channel, reply: bool
    ) -> Engagement:
        """Heavy-tailed counts: most mentions get nothing, an influencer's get thousands."""
        reach = 1.0 + math.sqrt(followers if followers is not None else 60) / 4.0
        likes = int((rng.paretovariate(1.5) - 1.0) * reach * (0.4 if reply else 1.0))
        replies = 0 if reply else int((rng.paretovariate(1.8) - 1.0) * (2.0 if intent == NEG else 0.8))
        shares = int((rng.paretovariate(2.0) - 1.0) * reach / 8.0)
        views = likes * rng.randint(15, 60) + rng.randint(20, 400) if ch.platform is Platform.TELEGRAM else None
        cap = 10_000_000
        key = (min(likes, cap), min(replies, cap), min(shares, cap), views)
        # most mentions get the same few small counts: share those (frozen) records
        cached = self._engagements.get(key)
        if cached is None:
            cached = Engagement(likes=key[0], replies=key[1], shares=key[2], views=views)
            if views is None and max(key[:3]) < 16:
                self._engagements[key] = cached
        return cached

    def new_post(
        self,
        rng: random.Random,
        ch: Channel,
        lang: str,
        intent: str,
        author: Author,
        text: str,
        *,
        topic: str = "custom",
        parent: Post | None = None,
        probs: tuple[float, float, float] | None = None,
        scripted: bool = True,
    ) -> Post:
        """A person's post in ``ch`` (scored by the simulated model unless ``probs`` is given)."""
        mention_id, url = self._new_id(rng, ch, scripted)
        followers = author.followers_on(ch.platform)
        return Post(
            channel=ch,
            mention_id=mention_id,
            parent_id=parent.mention_id if parent is not None else None,
            author_id=author.author_id(ch.platform),
            is_brand=False,
            followers=followers,
            text=text,
            lang=lang,
            url=url,
            engagement=self._engagement(rng, followers, intent, ch, parent is not None),
            intent=intent,
            topic=topic,
            probs=probs if probs is not None else draw_probs(rng, intent, sarcasm=topic == "sarcasm"),
            author=author,
            scripted=scripted,
        )

    def brand_reply(self, rng: random.Random, to: Post, *, body: str | None = None, scripted: bool = True) -> Post:
        """The brand's public answer to ``to``, in its channel, on the topic complained about."""
        ch = to.channel
        pack = C.LANGUAGES[to.lang]
        phrases = pack.brand_reply
        if body is None:
            topic = to.topic if to.topic in phrases.bodies else None
            if topic is None:
                topic = "question" if "?" in to.text else "praise" if to.intent == POS else "generic"
            body = rng.choice(phrases.bodies[topic])
        parts = [body]
        name = to.author.name if to.author is not None else ""
        if name and rng.random() < 0.7:
            parts.insert(0, rng.choice(phrases.openers))
        if rng.random() < 0.4:
            parts.append(rng.choice(phrases.closers))
        text = render(rng, pack, ch.brand, parts, name=name)
        mention_id, url = self._new_id(rng, ch, scripted)
        return Post(
            channel=ch,
            mention_id=mention_id,
            parent_id=to.mention_id,
            author_id=ch.brand_account,
            is_brand=True,
            followers=None,
            text=text,
            lang=to.lang,
            url=url,
            engagement=Engagement(likes=rng.randint(0, 5)),
            intent=NEU,
            topic="brand-reply",
            probs=draw_probs(rng, NEU),
            scripted=scripted,
        )

    def brand_post(self, rng: random.Random, ch: Channel, *, text: str | None = None, scripted: bool = True) -> Post:
        """The brand's own post (news, promo) in one of its channels."""
        lang = self.pick_lang(rng, ch)
        if lang not in _BRAND_POSTS:
            lang = "en"
        pack = C.LANGUAGES[lang]
        if text is None:
            if rng.random() < 0.5:
                text = rng.choice(_BRAND_POSTS[lang])
            else:
                text = render(rng, pack, ch.brand, [rng.choice(pack.headlines[rng.choice((NEU, POS))])])
        mention_id, url = self._new_id(rng, ch, scripted)
        return Post(
            channel=ch,
            mention_id=mention_id,
            parent_id=None,
            author_id=ch.brand_account,
            is_brand=True,
            followers=None,
            text=text,
            lang=lang,
            url=url,
            engagement=self._engagement(rng, 5_000, POS, ch, False),
            intent=POS,
            topic="brand-post",
            probs=draw_probs(rng, POS),
            scripted=scripted,
        )

    def background_post(self, rng: random.Random, brand: str, *, scripted: bool = True) -> Post:
        """A people's mention drawn exactly as normal traffic draws them (a campaign's extra volume)."""
        ch = _pick(rng, self._channels[brand], self._channel_cum[brand])
        return self._people_post(rng, ch, scripted=scripted)

    def _people_post(self, rng: random.Random, ch: Channel, *, scripted: bool) -> Post:
        lang = self.pick_lang(rng, ch)
        pack = C.LANGUAGES[lang]
        if ch.social and lang in _SPAM and rng.random() < _SPAM_SHARE:
            author = self.fresh_author(rng, ch.brand, lang)
            text = rng.choice(_SPAM[lang])
            mention_id, url = self._new_id(rng, ch, scripted)
            followers = rng.randint(0, 30) if author.followers_on(ch.platform) is not None else None
            neu = rng.uniform(0.6, 0.9)
            neg = (1.0 - neu) * rng.uniform(0.05, 0.25)
            return Post(
                ch, mention_id, None, author.author_id(ch.platform), False, followers, text, lang, url,
                Engagement(), NEU, "spam", (neg, neu, 1.0 - neu - neg), author, scripted,
            )  # fmt: skip
        mix = _INTENT_MIX.get(ch.platform, _INTENT_MIX[None])
        r = rng.random()
        intent = NEG if r < mix[0] else NEU if r < mix[0] + mix[1] else POS
        if ch.platform is Platform.RSS:
            author = self.fresh_author(rng, ch.brand, lang)
            text = render(rng, pack, ch.brand, [rng.choice(pack.headlines[intent])])
            return self.new_post(rng, ch, lang, intent, author, text, topic="news", scripted=scripted)
        author = self.pick_author(rng, ch.brand, lang)
        parent = None
        if ch.social and ch.recent and rng.random() < _REPLY_SHARE:
            parent = ch.recent[max(0, len(ch.recent) - 1 - int(rng.expovariate(0.3)))]
            text, topic = self.compose(
                rng, ch, lang, intent, author, body=rng.choice(pack.followups[intent]), opener_p=0.0, closer_p=0.0
            )
            topic = "followup"
        else:
            text, topic = self.compose(rng, ch, lang, intent, author)
        return self.new_post(rng, ch, lang, intent, author, text, topic=topic, parent=parent, scripted=scripted)

    # ---------------------------------------------------------------- silences

    def silence(self, brand: str, channel: str, t0: int, t1: int) -> None:
        """The brand neither posts nor replies in ``channel`` during (t0, t1): answers due then
        wait until it is back, its own posts are skipped."""
        self.channel(brand, channel)
        self._silences.setdefault((brand, channel), []).append((t0, t1))

    def _silent_until(self, ch: Channel, t: int) -> int | None:
        for t0, t1 in self._silences.get((ch.brand, ch.key), ()):
            if t0 < t < t1:
                return t1
        return None

    # ---------------------------------------------------------------- the stream

    def stream(self, scripts: Iterable[Iterable[Happening]] = ()) -> Iterator[ScoredMention]:
        """Every event of the world in event-time order, lazily: normal traffic of every brand
        merged with the incidents' ``scripts`` (each one in time order)."""
        for _, event in self.stream_posts(scripts):
            yield event

    def stream_posts(self, scripts: Iterable[Iterable[Happening]] = ()) -> Iterator[tuple[Post, ScoredMention]]:
        """:meth:`stream` with the :class:`Post` behind each event: what it was meant as
        (``intent``, ``topic``), which the event itself does not say. The stand-in lexicon
        model learns its word lists from it."""
        if self._streamed:
            raise RuntimeError("a World streams once (its channels and people move on): build a new one")
        self._streamed = True
        heap: list[tuple[int, int, int, Any]] = []
        seq = itertools.count()
        self._heap, self._seq = heap, seq
        self._bg_rng = {b: random.Random(f"{self.seed}/background/{b}") for b in self.brands}
        # followups of scripted posts draw from a generator of their own: an incident then
        # never changes what normal traffic does
        self._scripted_rng = {b: random.Random(f"{self.seed}/scripted-followups/{b}") for b in self.brands}
        for b in self.brands:
            self._schedule_arrival(b, 0)
            post_rng = random.Random(f"{self.seed}/brand-posts/{b}")
            for ch in self.channels(b, owned=True):
                first = int(post_rng.uniform(0.0, min(6.0, self.brands[b].post_gap_hours[1])) * HOUR)
                heapq.heappush(heap, (self._daytime(b, first, post_rng), next(seq), _BRAND_POST, (ch, post_rng)))
        for script in scripts:
            self._feed(iter(script))
        end = self.end
        while heap:
            t, _, what, item = heapq.heappop(heap)
            if t >= end:
                break
            if what == _ARRIVAL:
                rng = self._bg_rng[item]
                self._schedule_arrival(item, t)
                ch = _pick(rng, self._channels[item], self._channel_cum[item])
                post = self._people_post(rng, ch, scripted=False)
                if ch.social:
                    ch.recent.append(post)
                yield post, self._emit(Happening(t, EventType.CREATED, post, auto=True), rng)
            elif what == _BRAND_POST:
                ch, rng = item
                gap = int(rng.uniform(*self.brands[ch.brand].post_gap_hours) * HOUR)
                heapq.heappush(heap, (self._daytime(ch.brand, t + gap, rng), next(seq), _BRAND_POST, item))
                if self._silent_until(ch, t) is not None:
                    continue
                post = self.brand_post(rng, ch, scripted=False)
                ch.recent.append(post)
                yield post, self._emit(Happening(t, EventType.CREATED, post), rng)
            elif what == _EMIT:
                h: Happening = item
                if h.post.gone and h.etype in (EventType.DELETED, EventType.HIDDEN, EventType.EDITED):
                    continue
                yield h.post, self._emit(h, self._rng_for(h.post))
            else:
                h, script = item
                self._feed(script)
                yield h.post, self._emit(h, self._rng_for(h.post))

    @property
    def pending(self) -> int:
        """Things scheduled but not yet emitted (bounded: replies and removals due within
        hours, one arrival per brand, one brand-post timer per channel, one event per incident)."""
        return len(getattr(self, "_heap", ()))

    def _rng_for(self, post: Post) -> random.Random:
        return (self._scripted_rng if post.scripted else self._bg_rng)[post.brand]

    def _feed(self, script: Iterator[Happening]) -> None:
        """Only the next event of each incident waits on the heap; the rest stays in its script."""
        h = next(script, None)
        if h is not None:
            heapq.heappush(self._heap, (h.t, next(self._seq), _FEED, (h, script)))

    def _schedule_arrival(self, brand: str, t: int) -> None:
        """The next people's mention after ``t``: a Poisson process whose rate is held constant
        within each minute (the seasonal curve at the minute's middle). Exponential gaps are
        memoryless, so a gap that crosses a minute boundary is simply drawn again from there."""
        rng = self._bg_rng[brand]
        while t < self.end:
            minute_end = (t // MINUTE + 1) * MINUTE
            known = self._minute_rate.get(brand)
            if known is not None and known[0] == minute_end:
                rate = known[1]
            else:
                rate = self.mentions_per_min(brand) / MINUTE * self.intensity(brand, minute_end - MINUTE // 2)
                self._minute_rate[brand] = (minute_end, rate)
            nxt = t + int(rng.expovariate(rate)) + 1
            if nxt < minute_end:
                heapq.heappush(self._heap, (nxt, next(self._seq), _ARRIVAL, brand))
                return
            t = minute_end

    def _daytime(self, brand: str, t: int, rng: random.Random) -> int:
        """``t``, or the next local morning when ``t`` falls at night (brands post in office hours)."""
        hour, _ = self.local(brand, t)
        lo, hi = _BRAND_POST_HOURS
        if lo <= hour < hi:
            return t
        wait_h = (lo - hour) % 24.0
        return t + int((wait_h + rng.uniform(0.0, 2.0)) * HOUR)

    def _later(self, h: Happening) -> None:
        if h.t < self.end:
            heapq.heappush(self._heap, (h.t, next(self._seq), _EMIT, h))

    def _followups(self, h: Happening, rng: random.Random) -> None:
        """What normally follows a new post: an answer, spam clean-up, an edit, its author deleting it."""
        post = h.post
        ch = post.channel
        t = h.t
        if post.is_brand:
            return
        if post.topic == "spam":
            r = rng.random()
            if ch.owned:
                brand, platform, _ = _SPAM_REMOVAL_OWNED
                actor = Actor.BRAND if r < brand else Actor.PLATFORM if r < brand + platform else None
                etype = EventType.DELETED if rng.random() < 0.7 else EventType.HIDDEN
            else:
                platform, unnamed, _ = _SPAM_REMOVAL_ELSEWHERE
                if r >= platform + unnamed:
                    return
                actor, etype = (Actor.PLATFORM if r < platform else None), EventType.DELETED
            self._later(Happening(t + int(rng.uniform(2.0, 90.0) * MINUTE), etype, post, actor))
            return
        answer = needs_answer(post) or (self.brands[post.brand].answers_all and ch.owned and post.topic != "spam")
        if answer or (ch.owned and post.intent == POS and rng.random() < _THANKS_P):
            delay = rng.lognormvariate(math.log(_REPLY_MEDIAN_S), _REPLY_SIGMA)
            delay = min(max(delay, _REPLY_MIN_S), _REPLY_MAX_SLA_SHARE * self.sla / SECOND)
            when = t + int(delay * SECOND)
            back = self._silent_until(ch, when)
            if back is not None:
                when = back + int(rng.uniform(5.0, 180.0) * MINUTE)
            reply = self.brand_reply(rng, post, scripted=post.scripted)
            self._later(Happening(when, EventType.CREATED, reply))
        if ch.platform is not Platform.RSS and rng.random() < _EDIT_P:
            pack = C.LANGUAGES[post.lang]
            upd = rng.choice(pack.edits.get(post.intent) or pack.edits[NEU])
            when = t + int(rng.uniform(1.0, 30.0) * MINUTE)
            self._later(Happening(when, EventType.EDITED, post, text=f"{post.text}\n{upd}"))
        elif not answer and post.probs[0] < 0.25 and rng.random() < _AUTHOR_DELETE_P:
            delay = min(max(rng.lognormvariate(math.log(20 * 60.0), 1.5), 30.0), 2 * 86400.0)
            actor = Actor.AUTHOR if rng.random() < 0.7 else None
            self._later(Happening(t + int(delay * SECOND), EventType.DELETED, post, actor))

    def _emit(self, h: Happening, rng: random.Random) -> ScoredMention:
        post = h.post
        ch = post.channel
        if h.auto and h.etype is EventType.CREATED:
            self._followups(h, rng)
        if h.etype in (EventType.DELETED, EventType.HIDDEN):
            post.gone = True
        elif h.etype is EventType.RESTORED:
            post.gone = False
        when = self.at(h.t)
        if ch.platform in _POLLED:
            lag = rng.uniform(60.0, 900.0)
        else:
            lag = min(max(rng.lognormvariate(math.log(2.0), 1.0), 0.2), 120.0)
        ingested = when + timedelta(seconds=lag)
        text = h.event_text()
        removal = h.etype in (EventType.DELETED, EventType.HIDDEN, EventType.RESTORED)
        event = MentionEvent(
            event_type=h.etype,
            platform=ch.platform,
            brand=ch.brand,
            channel=ch.key,
            mention_id=post.mention_id,
            parent_id=post.parent_id,
            author_id=post.author_id,
            author_is_brand=post.is_brand,
            author_followers=post.followers,
            text=text,
            lang=post.lang,
            url=post.url,
            engagement=Engagement() if removal else post.engagement,
            actor=h.actor,
            occurred_at=when,
            ingested_at=ingested,
        )
        sentiment = None
        if not removal:
            neg, neu, pos = post.probs
            top = 0 if neg >= neu and neg >= pos else 1 if neu >= pos else 2
            sentiment = Sentiment(
                label=_LABELS[top], negative=neg, neutral=neu, positive=pos, model=MODEL, lang=post.lang
            )
        return ScoredMention(
            mention=event, sentiment=sentiment, scored_at=ingested + timedelta(seconds=rng.uniform(0.05, 0.8))
        )

    def event_id(self, h: Happening) -> str:
        """The ``event_id`` the emitted event of ``h`` will carry (labels point at events by it)."""
        ch = h.post.channel
        return mention_event_id(ch.platform.value, h.post.mention_id, h.etype.value, self.at(h.t), h.event_text())

    # ---------------------------------------------------------------- the brands file

    def brands_file(self, detectors: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None) -> BrandsFile:
        """The brands file a team would write for this world: zones, languages, owned channels."""
        brands = {}
        for name, b in self.brands.items():
            owned: dict[Platform, list[str]] = {}
            for ch in self.channels(name, owned=True):
                owned.setdefault(ch.platform, []).append(ch.key)
            brands[name] = BrandConfig(
                timezone=b.timezone,
                language=max(b.languages, key=lambda ls: ls[1])[0],
                owned_channels=owned,
                detectors={k: dict(v) for k, v in (detectors or {}).get(name, {}).items()},
            )
        return BrandsFile(brands=brands)
