"""A seeded generator of believable multilingual mention streams.

Why it exists: the demo and the tests need traffic that looks like what a
brand-monitoring pipeline really sees — complaints, questions, praise and
sarcasm in several languages, threads and brand replies, edits and deletions —
and they need the *same* traffic every time, so that a failing test or a demo
incident can be replayed.

Design:

* Pure domain code. No Kafka, no clock, no sleeping: the caller passes the
  stream's ``start`` and consumes an iterator; event time (``occurred_at``) is
  invented here and only ever moves forward. Pacing in wall-clock time is the
  caller's business (see :mod:`services.ingest.pacing`).
* Determinism. Every random draw comes from a :class:`random.Random` seeded
  from ``seed`` (never the global one), so the same arguments give the same
  events and therefore the same ``event_id`` values. The background, the
  author pools, the channel layout and each incident draw from separate
  generators, so that adding an incident does not reshuffle the names and
  channels of everything else.
* Laziness. Background traffic is a Poisson process generated one arrival at a
  time; things that happen *later* to a mention (a brand reply, an edit, a
  deletion) are pushed onto a heap keyed by event time and released when the
  background clock passes them. Incidents are generators of their own, merged
  through the same heap one event at a time (a spike at a high base rate is
  hundreds of thousands of events). Memory therefore stays bounded however
  long an endless stream runs and however fast it is.
* Phrase material lives in :mod:`services.ingest.corpus`; this module only
  decides *what* happens and *who* says it.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import math
import random
import re
from bisect import bisect
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from services.ingest import corpus as C
from shared.schemas import Engagement, EventType, MentionEvent, Platform

__all__ = [
    "INCIDENT_KINDS",
    "INTENTS",
    "Incident",
    "LabeledMention",
    "SyntheticMentionStream",
]

#: the incident kinds :class:`Incident` knows how to stage
INCIDENT_KINDS = ("negativity-spike", "deleted-complaint")

#: what the author of a text meant, as written by this generator (not a model's guess)
INTENTS = ("negative", "neutral", "positive")

NEG, NEU, POS = INTENTS

# --------------------------------------------------------------------------- tunables
# Kept as module constants (immutable numbers) so that a reader can see the
# shape of the simulated world in one place.

#: top-level intent mix (negative, neutral, positive) per platform; everything
#: not listed uses the default. Reviews are polarised, news is mostly neutral.
_INTENT_MIX: Mapping[Platform | None, tuple[float, float, float]] = MappingProxyType(
    {
        None: (0.20, 0.50, 0.30),
        Platform.REVIEWS: (0.32, 0.18, 0.50),
        Platform.RSS: (0.15, 0.70, 0.15),
    }
)
#: a reply's intent given its parent's: complaints attract pile-ons
_REPLY_MIX: Mapping[str, tuple[float, float, float]] = MappingProxyType(
    {
        NEG: (0.60, 0.30, 0.10),
        NEU: (0.15, 0.65, 0.20),
        POS: (0.10, 0.30, 0.60),
    }
)
_REPLY_SHARE = 0.18  # share of background mentions that answer an earlier one
_SARCASM_SHARE = 0.12  # share of complaints written as sarcasm
_TYPO_RATE = 0.12
_INFLUENCER_SHARE = 0.025
_EMOJI_P: Mapping[str, float] = MappingProxyType({NEG: 0.30, NEU: 0.08, POS: 0.40})
_AUTHOR_POOL = 50_000  # authors per language (materialised on demand)
_REGULARS = 40  # the most active authors of each language
_REGULAR_SHARE = 0.15  # share of a language's mentions written by its regulars
_RECENT_PER_CHANNEL = 40  # how far back a reply may reach in a channel
_VIDEOS_PER_CHANNEL = 3

# brand behaviour in channels it can answer in (owned ones, review sites)
_BRAND_REPLY_P: Mapping[str, float] = MappingProxyType({NEG: 0.45, NEU: 0.30, POS: 0.08})
_BRAND_MODERATION_P = 0.08  # negative comments hidden/deleted in owned channels
_BRAND_RESTORE_P = 0.35
_AUTHOR_DELETE_P = 0.012
_EDIT_P = 0.03
_EDIT_TYPO_P = 0.30  # people fix their own typos more often than they add an UPD

# negativity spike: ~2 minutes at 5x the base rate, ramping up and down
_SPIKE_MULTIPLIER = 5.0
_SPIKE_RAMP_S, _SPIKE_PLATEAU_END_S, _SPIKE_END_S = 15.0, 100.0, 150.0
_SPIKE_NOMINAL_S = 120.0


# --------------------------------------------------------------------------- incidents

_SPEC_RE = re.compile(r"^(?P<kind>[^@:]+)@(?P<offset>[^:]*)(?::(?P<brand>.*))?$")
_OFFSET_RE = re.compile(r"\+(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")
_SPEC_HELP = "expected KIND@+OFFSET[:BRAND], e.g. 'negativity-spike@+2m', 'deleted-complaint@+1h30m:acme'"


def _unknown_kind(kind: str) -> ValueError:
    return ValueError(f"unknown incident kind {kind!r}; known kinds: {', '.join(INCIDENT_KINDS)}")


@dataclass(frozen=True)
class Incident:
    """A scripted event staged on top of the background traffic.

    ``at`` is an offset from the stream's start, so one incident list can be
    reused with any start time (and a demo can say "a spike two minutes in").
    """

    kind: str
    at: timedelta
    brand: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in INCIDENT_KINDS:
            raise _unknown_kind(self.kind)
        if not isinstance(self.at, timedelta):
            raise TypeError(f"Incident.at must be a timedelta, not {type(self.at).__name__}")
        if self.at < timedelta(0):
            raise ValueError(f"Incident.at must not be negative, got {self.at}")
        if self.brand is not None and not self.brand.strip():
            raise ValueError("Incident.brand must be a non-empty name or None")

    @classmethod
    def parse(cls, spec: str) -> Incident:
        """Parse ``KIND@+OFFSET[:BRAND]``, e.g. ``negativity-spike@+1h30m:acme``.

        OFFSET is one or more of ``<n>h``, ``<n>m``, ``<n>s`` in that order.
        The leading ``+`` is required: it says "after the stream starts", which
        is the only kind of offset there is.
        """
        if not isinstance(spec, str):
            raise TypeError(f"incident spec must be a string, not {type(spec).__name__}")
        m = _SPEC_RE.match(spec.strip())
        if m is None:
            raise ValueError(f"bad incident spec {spec!r}: {_SPEC_HELP}")
        kind = m["kind"].strip()
        if kind not in INCIDENT_KINDS:
            raise _unknown_kind(kind)
        offset = m["offset"].strip()
        om = _OFFSET_RE.fullmatch(offset)
        if om is None or not any(om.group(u) for u in "hms"):
            raise ValueError(
                f"bad offset {offset!r} in incident spec {spec!r}: use '+' then hours/minutes/seconds "
                f"in that order, e.g. '+90s', '+2m', '+1h30m'"
            )
        at = timedelta(hours=int(om["h"] or 0), minutes=int(om["m"] or 0), seconds=int(om["s"] or 0))
        brand = m["brand"]
        if brand is not None:
            brand = brand.strip()
            if not brand:
                raise ValueError(f"empty brand after ':' in incident spec {spec!r}")
        return cls(kind=kind, at=at, brand=brand)


@dataclass(frozen=True)
class LabeledMention:
    """An event plus what the generator knows about it and a classifier would not.

    This is the side channel the tests (and a demo's "ground truth" view) use:
    ``intent`` is what the text was written to express, ``source`` says
    whether it is background traffic or part of an incident, ``actor`` who
    caused the event (for a ``hidden`` event it is the brand, although the
    event carries the mention's author, as the platform reports it).
    """

    event: MentionEvent
    intent: str  # "negative" | "neutral" | "positive"
    source: str  # "background" | one of INCIDENT_KINDS
    topic: str  # "delivery", "question", "outage", "brand-reply", "comeback", ...
    actor: str  # "author" | "brand"


# --------------------------------------------------------------------------- run-time records


@dataclass(frozen=True)
class _Author:
    handle: str
    num: int
    name: str
    gender: str
    lang: str
    followers: int

    def author_id(self, platform: Platform) -> str:
        """How the platform identifies this person: vk and facebook use numbers, the rest handles."""
        if platform is Platform.VK:
            return f"vk:id{self.num}"
        if platform is Platform.FACEBOOK:
            return f"facebook:{self.num}"
        if platform in (Platform.TELEGRAM, Platform.YOUTUBE):
            return f"{platform.value}:@{self.handle}"
        return f"{platform.value}:{self.handle}"

    def followers_on(self, platform: Platform) -> int | None:
        """Telegram chats and review sites have no follower counts."""
        if platform in (Platform.TELEGRAM, Platform.REVIEWS, Platform.RSS):
            return None
        return self.followers


@dataclass(eq=False)
class _Channel:
    key: str  # "vk:club_acme" — MentionEvent.channel
    platform: Platform
    path: str
    brand: str
    owned: bool
    owner_num: int
    next_n: int
    #: language -> P(language | this channel), filled once the layout is known
    langs: dict[str, float] = field(default_factory=dict)
    recent: deque[_Post] = field(default_factory=lambda: deque(maxlen=_RECENT_PER_CHANNEL))


@dataclass(frozen=True)
class _Post:
    """One mention as it was created: what later events (edits, replies) refer to."""

    mention_id: str
    channel: _Channel
    author: _Author | None  # None for brand posts and news items
    author_id: str
    is_brand: bool
    followers: int | None
    lang: str
    intent: str
    topic: str
    text: str
    url: str
    engagement: Engagement
    parent_id: str | None


@dataclass(frozen=True)
class _Text:
    text: str
    #: the same text without the injected typo (what an edit "fixes" it to)
    clean: str
    had_typo: bool


def _display(brand: str) -> str:
    """The brand as its own staff write it: 'acme' -> 'Acme', 'eBay' stays."""
    return brand if any(c.isupper() for c in brand) else brand[:1].upper() + brand[1:]


def _slug(brand: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", brand.lower()).strip("_") or "brand"


def _to_cyrillic(slug: str) -> str:
    out: list[str] = []
    i = 0
    table = C.LATIN_TO_CYRILLIC
    while i < len(slug):
        pair = slug[i : i + 2]
        if len(pair) == 2 and pair in table:
            out.append(table[pair])
            i += 2
            continue
        ch = slug[i]
        out.append(table.get(ch, "" if ch == "_" else ch))
        i += 1
    word = "".join(out)
    return word[:1].upper() + word[1:]


def _b62(n: int, width: int = 11) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
    out = []
    for _ in range(width):
        n, r = divmod(n, 64)
        out.append(alphabet[r])
    return "".join(out)


def _cum(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _pick(rng: random.Random, items: Sequence[Any], cum: Sequence[float]) -> Any:
    """Weighted choice with precomputed cumulative weights (bisect: O(log n))."""
    return items[bisect(cum, rng.random() * cum[-1])]


def _pick_intent(rng: random.Random, mix: tuple[float, float, float]) -> str:
    r = rng.random()
    if r < mix[0]:
        return NEG
    return NEU if r < mix[0] + mix[1] else POS


def _minutes(rng: random.Random, median: float, lo: float, hi: float, sigma: float = 0.8) -> float:
    """A log-normal delay in seconds: most replies come fast, some take hours."""
    return 60.0 * min(hi, max(lo, median * math.exp(rng.gauss(0.0, sigma))))


_WORD_RE = re.compile(r"[^\W\d_]{4,}")


class _Slots(dict[str, Any]):
    """Template slot values, drawn the first time a template asks for one.

    Drawing lazily keeps one text's slots consistent (the same product in
    opener, body and closer) and spends no randomness on slots nobody uses.
    """

    def __init__(
        self,
        rng: random.Random,
        pack: C.LanguagePack,
        brand: str,
        *,
        author: _Author | None,
        platform: Platform | None,
        formal: bool,
        **fixed: Any,
    ) -> None:
        super().__init__(fixed)
        self._rng = rng
        self._pack = pack
        self._brand = brand
        self._author = author
        self._platform = platform
        self._formal = formal

    def __missing__(self, key: str) -> Any:
        value = self._draw(key)
        self[key] = value
        return value

    def _draw(self, key: str) -> Any:
        rng, pack = self._rng, self._pack
        if key == "brand":
            return self._brand_variant()
        if key == "item":
            return rng.choice(pack.items)
        if key == "city":
            return rng.choice(pack.cities)
        if key == "model":
            return rng.choice(C.MODELS)
        if key == "order":
            return str(rng.randint(1_000_000, 99_999_999))
        if key == "version":
            return f"{rng.randint(3, 9)}.{rng.randint(0, 24)}.{rng.randint(0, 9)}"
        gender = self._author.gender if self._author is not None else "m"
        gendered = pack.genders.get(gender, {})
        if key in gendered:
            return gendered[key]
        if key in pack.slots:
            return rng.choice(pack.slots[key])
        raise KeyError(f"template slot {{{key}}} is not defined for language {pack.code!r}")

    def _brand_variant(self) -> str:
        """People spell a brand many ways; a monitoring system must still find it."""
        formal = _display(self._brand)
        if self._formal:
            return formal
        r = self._rng.random()
        slug = _slug(self._brand)
        if self._pack.code in ("ru", "uk") and r < 0.2:
            return _to_cyrillic(slug)
        if r < 0.55:
            return formal
        if r < 0.8:
            return self._brand.lower()
        if r < 0.9 and self._platform in (Platform.INSTAGRAM, Platform.TELEGRAM):
            return "@" + slug
        if r < 0.95:
            return "#" + slug
        return formal.upper()


# --------------------------------------------------------------------------- the stream


class SyntheticMentionStream:
    """An iterable of :class:`MentionEvent` in non-decreasing ``occurred_at`` order.

    Iterating twice replays the same events: the object is a description of a
    stream, all run-time state lives in the iterator. ``duration=None`` makes
    the stream endless (consume it with :func:`itertools.islice` or a limit);
    otherwise events with ``occurred_at < start + duration`` are produced.
    ``ingested_at`` equals ``occurred_at``; a caller that ingests in real time
    may replace it with ``event.model_copy(update=...)``.
    """

    def __init__(
        self,
        *,
        seed: int,
        start: datetime,
        rate_per_s: float = 5.0,
        brands: Sequence[str] = ("acme",),
        incidents: Sequence[Incident] = (),
        duration: timedelta | None = None,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, not {type(seed).__name__}")
        if not isinstance(start, datetime):
            raise TypeError(f"start must be a datetime, not {type(start).__name__}")
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("start must be timezone-aware (e.g. datetime.now(UTC))")
        rate = float(rate_per_s)
        if not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"rate_per_s must be a positive number, got {rate_per_s!r}")
        if isinstance(brands, str):
            raise TypeError("brands must be a sequence of names, not one string")
        names = [b.strip() if isinstance(b, str) else b for b in brands]
        if not names or any(not isinstance(b, str) or not b or len(b) > 200 for b in names):
            raise ValueError("brands must be one or more non-empty names of at most 200 characters")
        slugs = [_slug(b) for b in names]
        if len(set(slugs)) != len(slugs):
            raise ValueError(f"brands must be distinct (after normalising to channel names): {names}")
        if duration is not None:
            if not isinstance(duration, timedelta):
                raise TypeError(f"duration must be a timedelta or None, not {type(duration).__name__}")
            if duration < timedelta(0):
                raise ValueError(f"duration must not be negative, got {duration}")
        resolved: list[Incident] = []
        for inc in incidents:
            if not isinstance(inc, Incident):
                raise TypeError(f"incidents must be Incident objects, got {type(inc).__name__}")
            brand = names[0] if inc.brand is None else inc.brand.strip()
            if brand not in names:
                raise ValueError(f"incident {inc.kind}@{inc.at} names brand {brand!r}, which is not one of {names}")
            resolved.append(Incident(inc.kind, inc.at, brand))

        self.seed = seed
        self.start = start.astimezone(UTC)
        self.rate_per_s = rate
        self.brands: tuple[str, ...] = tuple(names)
        self.incidents: tuple[Incident, ...] = tuple(resolved)
        self.duration = duration

    def __iter__(self) -> Iterator[MentionEvent]:
        return (item.event for item in self.labeled())

    def labeled(self) -> Iterator[LabeledMention]:
        """The same stream as ``iter(self)``, each event with its ground truth.

        A side channel rather than a lookup table: an ``intent_of(event_id)``
        dict would grow without bound on an endless stream.
        """
        return _Run(self).events()


class _Run:
    """The state of one pass over a :class:`SyntheticMentionStream`."""

    def __init__(self, spec: SyntheticMentionStream) -> None:
        self.spec = spec
        self.seed = spec.seed
        self.start = spec.start
        self.rate = spec.rate_per_s
        self.end_s = math.inf if spec.duration is None else spec.duration.total_seconds()
        self.rng = random.Random(spec.seed)
        self._seq = itertools.count()
        #: (event time, tie-breaker, item, the incident iterator it came from, if any)
        self.heap: list[tuple[float, int, LabeledMention, Iterator[tuple[float, LabeledMention]] | None]] = []
        self._authors: dict[tuple[str, int], _Author] = {}
        self._casual_tables = {code: str.maketrans(dict(p.casual)) for code, p in C.LANGUAGES.items()}

        self.lang_codes = tuple(C.LANGUAGES)
        self.lang_cum = _cum([C.LANGUAGES[c].share for c in self.lang_codes])
        # the first brand is the one a demo is about; the others get less traffic
        self.brand_cum = _cum([1.0 / math.sqrt(i + 1) for i in range(len(spec.brands))])
        self.brand_followers: dict[str, int] = {}
        self.channels: dict[str, _Channel] = {}
        self.by_brand: dict[str, list[_Channel]] = {}
        self.by_brand_lang: dict[tuple[str, str], tuple[list[_Channel], list[float]]] = {}
        for brand in spec.brands:
            self._lay_out(brand)
        for i, inc in enumerate(spec.incidents):
            builder = _SpikeBuilder if inc.kind == "negativity-spike" else _DeletedComplaintBuilder
            irng = random.Random(f"{spec.seed}/incident/{i}/{inc.kind}/{inc.brand}")
            self._feed(builder(self, inc, irng).events())

    # ---------------------------------------------------------------- layout

    def _lay_out(self, brand: str) -> None:
        """Concrete channels of one brand, and which languages are written where."""
        lrng = random.Random(f"{self.seed}/layout/{brand}")
        slug = _slug(brand)
        self.brand_followers[brand] = lrng.randint(20_000, 600_000)
        videos: dict[str, list[str]] = {}
        channels: list[_Channel] = []
        for code in self.lang_codes:
            pack = C.LANGUAGES[code]
            chosen: list[_Channel] = []
            weights: list[float] = []
            for tpl in pack.channels:
                if "{video}" in tpl.path:
                    ids = videos.setdefault(tpl.path, [_b62(lrng.getrandbits(64)) for _ in range(_VIDEOS_PER_CHANNEL)])
                    paths = [tpl.path.format(slug=slug, video=v) for v in ids]
                else:
                    paths = [tpl.path.format(slug=slug)]
                for path in paths:
                    key = f"{tpl.platform}:{path}"
                    ch = self.channels.get(key)
                    if ch is None:
                        ch = _Channel(
                            key=key,
                            platform=Platform(tpl.platform),
                            path=path,
                            brand=brand,
                            owned=tpl.owned,
                            owner_num=lrng.randint(10_000_000, 239_999_999),
                            next_n=lrng.randint(10_000, 900_000),
                        )
                        self.channels[key] = ch
                        channels.append(ch)
                    chosen.append(ch)
                    weights.append(tpl.weight / len(paths))
            total = sum(weights)
            for ch, w in zip(chosen, weights, strict=True):
                ch.langs[code] = ch.langs.get(code, 0.0) + pack.share * w / total
            self.by_brand_lang[(brand, code)] = (chosen, _cum(weights))
        for ch in channels:
            norm = sum(ch.langs.values())
            ch.langs = {k: v / norm for k, v in ch.langs.items()}
        self.by_brand[brand] = channels

    # ---------------------------------------------------------------- shared helpers

    def push(
        self, t: float, item: LabeledMention, source: Iterator[tuple[float, LabeledMention]] | None = None
    ) -> None:
        heapq.heappush(self.heap, (t, next(self._seq), item, source))

    def _feed(self, incident: Iterator[tuple[float, LabeledMention]]) -> None:
        """Put an incident's next event on the heap; the rest stays unbuilt until it is due.

        Incidents are lazy too: a spike at a high base rate is hundreds of
        thousands of events, and only one of them needs to exist at a time.
        """
        nxt = next(incident, None)
        if nxt is not None:
            self.push(nxt[0], nxt[1], incident)

    def at(self, t: float) -> datetime:
        return self.start + timedelta(seconds=t)

    def author(self, lang: str, index: int) -> _Author:
        """Author ``index`` of a language: a pure function of (seed, lang, index).

        Authors are materialised on demand, so a pool of tens of thousands
        costs nothing until someone speaks; only the regulars are kept.
        """
        key = (lang, index)
        a = self._authors.get(key)
        if a is not None:
            return a
        r = random.Random(f"{self.seed}/author/{lang}/{index}")
        pack = C.LANGUAGES[lang]
        gender = "m" if r.random() < 0.5 else "f"
        name, first = r.choice(pack.names[gender])
        sur = r.choice(pack.surnames) + (pack.female_surname_suffix if gender == "f" else "")
        handle = r.choice(
            (
                f"{first}_{sur}",
                f"{first}.{sur}",
                f"{first}{r.randint(70, 99)}",
                f"{sur}_{first[0]}",
                f"{first}_{sur}{r.randint(1, 999)}",
                f"{first}{sur[:3]}",
                f"{first}.{sur[0]}{r.randint(1, 99)}",
            )
        )
        if r.random() < _INFLUENCER_SHARE:
            followers = min(5_000_000, int(15_000 * r.paretovariate(1.1)))
        else:
            followers = min(50_000, int(r.lognormvariate(4.2, 1.4)))
        a = _Author(
            handle=handle,
            num=r.randint(1_000_000, 899_999_999),
            name=name,
            gender=gender,
            lang=lang,
            followers=followers,
        )
        if index < _REGULARS:
            self._authors[key] = a
        return a

    def pick_author(self, rng: random.Random, lang: str) -> _Author:
        """A few regulars write a lot; most people appear once or twice."""
        if rng.random() < _REGULAR_SHARE:
            return self.author(lang, rng.randrange(_REGULARS))
        return self.author(lang, _REGULARS + int((_AUTHOR_POOL - _REGULARS) * rng.random() ** 2))

    def pick_lang_for(self, rng: random.Random, ch: _Channel) -> str:
        codes = list(ch.langs)
        return _pick(rng, codes, _cum([ch.langs[c] for c in codes]))

    def next_mention(self, rng: random.Random, ch: _Channel) -> tuple[str, str]:
        """A new platform id in a channel (ids grow with gaps: other people post too) and its URL."""
        ch.next_n += rng.randint(1, 6)
        n = ch.next_n
        p = ch.platform
        if p is Platform.VK:
            url = f"https://vk.com/{ch.path}?w=wall-{ch.owner_num}_{n}"
        elif p is Platform.TELEGRAM:
            url = f"https://t.me/{ch.path.lstrip('@')}/{n}"
        elif p is Platform.FACEBOOK:
            url = f"https://www.facebook.com/{ch.path}/posts/{ch.owner_num}?comment_id={n}"
        elif p is Platform.INSTAGRAM:
            url = f"https://www.instagram.com/p/{_b62(n * 2_654_435_761 + ch.owner_num)}/"
        elif p is Platform.YOUTUBE:
            url = f"https://www.youtube.com/watch?v={ch.path.rsplit('/', 1)[-1]}&lc=Ugx{_b62(n, 8)}"
        elif p is Platform.REVIEWS:
            url = f"https://{ch.path}#review-{n}"
        else:
            url = f"https://{ch.path}/news/{n}"
        return f"{ch.key}/{n}", url

    @staticmethod
    def engagement(
        rng: random.Random, followers: int | None, intent: str, platform: Platform, is_reply: bool
    ) -> Engagement:
        """Heavy-tailed counts: most mentions get nothing, an influencer's get thousands."""
        reach = 1.0 + math.sqrt(followers if followers is not None else 60) / 4.0
        likes = int((rng.paretovariate(1.5) - 1.0) * reach * (0.4 if is_reply else 1.0))
        replies = 0 if is_reply else int((rng.paretovariate(1.8) - 1.0) * (2.0 if intent == NEG else 0.8))
        shares = int((rng.paretovariate(2.0) - 1.0) * reach / 8.0)
        views = likes * rng.randint(15, 60) + rng.randint(20, 400) if platform is Platform.TELEGRAM else None
        cap = 10_000_000
        return Engagement(likes=min(likes, cap), replies=min(replies, cap), shares=min(shares, cap), views=views)

    def event(
        self, post: _Post, t: float, event_type: EventType, text: str, engagement: Engagement | None = None
    ) -> MentionEvent:
        when = self.at(t)
        return MentionEvent(
            event_type=event_type,
            platform=post.channel.platform,
            brand=post.channel.brand,
            channel=post.channel.key,
            mention_id=post.mention_id,
            parent_id=post.parent_id,
            author_id=post.author_id,
            author_is_brand=post.is_brand,
            author_followers=post.followers,
            text=text,
            lang=post.lang,
            url=post.url,
            engagement=engagement if engagement is not None else Engagement(),
            occurred_at=when,
            ingested_at=when,
        )

    # ---------------------------------------------------------------- writing

    def render(
        self, rng: random.Random, pack: C.LanguagePack, parts: Sequence[str], slots: _Slots, *, letter: bool = False
    ) -> str:
        """Fill the templates and glue them the way people do.

        "Короче," / "Buenas," run on in lower case; a new sentence starts with a
        capital. ``letter`` (brand replies) keeps the capital after "Hola, Ana:",
        as support staff write.
        """
        out = ""
        for part in parts:
            piece = part.format_map(slots)
            if not piece:
                continue
            if not out:
                out = _first_letter(piece, upper=True)
                continue
            if letter and out[-1] in ",:":
                out = f"{out}\n{_first_letter(piece, upper=True)}"
                continue
            if pack.lower_after_comma and out[-1] in ",:":
                piece = _first_letter(piece, upper=False)
            elif out[-1] in ".!?":
                piece = _first_letter(piece, upper=True)
            out = f"{out} {piece}"
        return out

    def humanize(
        self, rng: random.Random, pack: C.LanguagePack, text: str, intent: str, *, typos: bool = True
    ) -> _Text:
        """Write like a person on a phone: skipped diacritics, a typo, no final period, shouting."""
        if pack.casual and rng.random() < pack.casual_rate:
            text = text.translate(self._casual_tables[pack.code])
        typo_text = text
        if typos and rng.random() < _TYPO_RATE:
            typo_text = _typo(rng, text)
        lower_first = rng.random() < 0.2
        drop_period = rng.random() < 0.35
        bang = intent == NEG and rng.random() < 0.15
        shout = intent == NEG and rng.random() < 0.04

        def finish(s: str) -> str:
            if lower_first and s[:1].isupper() and s[1:2].islower():
                s = s[:1].lower() + s[1:]
            if drop_period and s.endswith(".") and not s.endswith(".."):
                s = s[:-1]
            if bang and s.endswith("!"):
                s += "!!"
            if shout:
                s = s.upper()
            return s

        return _Text(text=finish(typo_text), clean=finish(text), had_typo=typo_text != text)

    @staticmethod
    def emoji(rng: random.Random, text: str, intent: str) -> str:
        p = _EMOJI_P[intent]
        if rng.random() >= p:
            return text
        e = rng.choice(C.EMOJI[intent]) * (1 if rng.random() < 0.7 else rng.randint(2, 3))
        return f"{text}{' ' if rng.random() < 0.75 else ''}{e}"

    def compose(
        self,
        rng: random.Random,
        pack: C.LanguagePack,
        intent: str,
        author: _Author,
        ch: _Channel,
        *,
        body: str | None = None,
        topic: str | None = None,
        opener_p: float = 0.3,
        closer_p: float = 0.35,
        closers: Sequence[str] | None = None,
        typos: bool = True,
        **fixed: Any,
    ) -> tuple[_Text, str]:
        """A user's text of one intent: [opener] body [closer], humanised, maybe with emoji."""
        phrases: C.Phrases = getattr(pack, {NEG: "negative", NEU: "neutral", POS: "positive"}[intent])
        parts: list[str] = []
        if body is None:
            if intent == NEG and pack.sarcasm and rng.random() < _SARCASM_SHARE:
                topic, body = "sarcasm", rng.choice(pack.sarcasm)
                opener_p = closer_p = 0.0
            else:
                topic = rng.choice(tuple(phrases.bodies))
                body = rng.choice(phrases.bodies[topic])
        if rng.random() < opener_p:
            parts.append(rng.choice(phrases.openers))
        parts.append(body)
        if rng.random() < closer_p:
            parts.append(rng.choice(closers if closers is not None else phrases.closers))
        slots = _Slots(rng, pack, ch.brand, author=author, platform=ch.platform, formal=False, **fixed)
        text = self.humanize(rng, pack, self.render(rng, pack, parts, slots), intent, typos=typos)
        with_emoji = self.emoji(rng, text.text, intent)
        if with_emoji != text.text:
            suffix = with_emoji[len(text.text) :]
            text = _Text(with_emoji, text.clean + suffix, text.had_typo)
        return text, topic or "other"

    def user_post(
        self,
        rng: random.Random,
        t: float,
        ch: _Channel,
        lang: str,
        intent: str,
        author: _Author,
        text: str,
        topic: str,
        parent: _Post | None,
    ) -> _Post:
        mention_id, url = self.next_mention(rng, ch)
        followers = author.followers_on(ch.platform)
        return _Post(
            mention_id=mention_id,
            channel=ch,
            author=author,
            author_id=author.author_id(ch.platform),
            is_brand=False,
            followers=followers,
            lang=lang,
            intent=intent,
            topic=topic,
            text=text,
            url=url,
            engagement=self.engagement(rng, followers, intent, ch.platform, parent is not None),
            parent_id=parent.mention_id if parent is not None else None,
        )

    def brand_post(
        self, rng: random.Random, ch: _Channel, lang: str, text: str, topic: str, parent: _Post | None
    ) -> _Post:
        mention_id, url = self.next_mention(rng, ch)
        followers = None if ch.platform in (Platform.TELEGRAM, Platform.REVIEWS) else self.brand_followers[ch.brand]
        return _Post(
            mention_id=mention_id,
            channel=ch,
            author=None,
            author_id=f"brand:{ch.brand}",
            is_brand=True,
            followers=followers,
            lang=lang,
            intent=NEU,
            topic=topic,
            text=text,
            url=url,
            engagement=self.engagement(rng, 200, NEU, ch.platform, True),
            parent_id=parent.mention_id if parent is not None else None,
        )

    def brand_reply(
        self, rng: random.Random, parent: _Post, *, body: str | None = None, greet_p: float = 0.8, **fixed: Any
    ) -> _Post:
        """A polite support answer, in the language of the mention it answers."""
        pack = C.LANGUAGES[parent.lang]
        bodies = pack.brand_reply.bodies
        if body is None:
            if parent.intent == POS:
                key = "praise"
            elif parent.intent == NEU:
                key = "question"
            else:
                key = parent.topic if parent.topic in bodies else "generic"
            body = rng.choice(bodies[key])
        parts = []
        name = parent.author.name if parent.author is not None else ""
        if name and rng.random() < greet_p:
            parts.append(rng.choice(pack.brand_reply.openers))
        parts.append(body)
        if rng.random() < 0.5:
            parts.append(rng.choice(pack.brand_reply.closers))
        slots = _Slots(
            rng,
            pack,
            parent.channel.brand,
            author=None,
            platform=parent.channel.platform,
            formal=True,
            name=name,
            **fixed,
        )
        text = self.render(rng, pack, parts, slots, letter=True)
        return self.brand_post(rng, parent.channel, parent.lang, text, "brand-reply", parent)

    # ---------------------------------------------------------------- background

    def events(self) -> Iterator[LabeledMention]:
        """Merge the lazily generated background with everything scheduled on the heap."""
        rng, heap, end = self.rng, self.heap, self.end_s
        next_bg = rng.expovariate(self.rate)
        while True:
            if heap and heap[0][0] <= next_bg:
                t, _, item, incident = heapq.heappop(heap)
                if t >= end:
                    return
                if incident is not None:
                    self._feed(incident)
                yield item
            else:
                if next_bg >= end:
                    return
                item = self.background(next_bg)
                next_bg += rng.expovariate(self.rate)
                yield item

    def background(self, t: float) -> LabeledMention:
        rng = self.rng
        brand = _pick(rng, self.spec.brands, self.brand_cum)
        lang = _pick(rng, self.lang_codes, self.lang_cum)
        chans, cum = self.by_brand_lang[(brand, lang)]
        ch: _Channel = _pick(rng, chans, cum)
        pack = C.LANGUAGES[lang]
        if ch.platform is Platform.RSS:
            return self.headline(rng, t, ch, pack)
        parent: _Post | None = None
        if ch.recent and ch.platform is not Platform.REVIEWS and rng.random() < _REPLY_SHARE:
            # people answer what is near the top of the thread
            parent = ch.recent[max(0, len(ch.recent) - 1 - int(rng.expovariate(0.25)))]
            if rng.random() < 0.85:
                lang, pack = parent.lang, C.LANGUAGES[parent.lang]
            intent = _pick_intent(rng, _REPLY_MIX[parent.intent])
        else:
            intent = _pick_intent(rng, _INTENT_MIX.get(ch.platform, _INTENT_MIX[None]))
        author = self.pick_author(rng, lang)
        if parent is not None and rng.random() < 0.7:
            body = rng.choice(pack.followups[intent])
            topic = parent.topic if intent == parent.intent else "reply"
            text, topic = self.compose(
                rng, pack, intent, author, ch, body=body, topic=topic, opener_p=0.0, closer_p=0.0
            )
        else:
            text, topic = self.compose(rng, pack, intent, author, ch)
        post = self.user_post(rng, t, ch, lang, intent, author, text.text, topic, parent)
        ch.recent.append(post)
        self.schedule_followups(rng, post, t, text)
        return LabeledMention(
            self.event(post, t, EventType.CREATED, post.text, post.engagement), intent, "background", topic, "author"
        )

    def headline(self, rng: random.Random, t: float, ch: _Channel, pack: C.LanguagePack) -> LabeledMention:
        intent = _pick_intent(rng, _INTENT_MIX[Platform.RSS])
        slots = _Slots(rng, pack, ch.brand, author=None, platform=ch.platform, formal=True)
        text = rng.choice(pack.headlines[intent]).format_map(slots)
        mention_id, url = self.next_mention(rng, ch)
        post = _Post(
            mention_id=mention_id,
            channel=ch,
            author=None,
            author_id=f"rss:{ch.path}",
            is_brand=False,
            followers=None,
            lang=pack.code,
            intent=intent,
            topic="news",
            text=text,
            url=url,
            engagement=Engagement(shares=int(rng.paretovariate(1.3) * 3) - 3),
            parent_id=None,
        )
        return LabeledMention(
            self.event(post, t, EventType.CREATED, text, post.engagement), intent, "background", "news", "author"
        )

    def schedule_followups(
        self, rng: random.Random, post: _Post, t: float, text: _Text, source: str = "background"
    ) -> None:
        """Decide now what will happen to this mention later, and put it on the heap."""
        ch = post.channel
        if ch.owned or ch.platform is Platform.REVIEWS:
            p = _BRAND_REPLY_P[post.intent]
            if post.intent == NEU and post.topic not in ("question", "promo"):
                p = 0.03
            if rng.random() < p:
                dt = _minutes(rng, 14.0 if post.intent == NEG else 25.0, 1.5, 240.0)
                reply = self.brand_reply(rng, post)
                self.push(
                    t + dt,
                    LabeledMention(
                        self.event(reply, t + dt, EventType.CREATED, reply.text, reply.engagement),
                        NEU,
                        source,
                        "brand-reply",
                        "brand",
                    ),
                )
        r = rng.random()
        # an "UPD:" follows a complaint (still nothing / sorted out) or a question (found it)
        can_update = post.intent == NEG or (post.intent == NEU and post.topic in ("question", "promo"))
        edit_p = _EDIT_TYPO_P if text.had_typo else _EDIT_P if can_update else 0.0
        if r < edit_p:
            dt = rng.uniform(30.0, 1200.0)
            if text.had_typo:
                new_text, new_intent = text.clean, post.intent
            else:
                new_intent = NEU if post.intent == NEU else NEG if rng.random() < 0.6 else POS
                pack = C.LANGUAGES[post.lang]
                new_text = f"{text.text}\n{rng.choice(pack.edits[new_intent])}"
            self.push(
                t + dt,
                LabeledMention(
                    self.event(post, t + dt, EventType.EDITED, new_text, post.engagement),
                    new_intent,
                    source,
                    post.topic,
                    "author",
                ),
            )
        elif r < edit_p + _AUTHOR_DELETE_P:
            dt = _minutes(rng, 6.0, 0.5, 180.0)
            self.push(
                t + dt,
                LabeledMention(
                    self.event(post, t + dt, EventType.DELETED, ""), post.intent, source, post.topic, "author"
                ),
            )
        elif post.intent == NEG and ch.owned and r < edit_p + _AUTHOR_DELETE_P + _BRAND_MODERATION_P:
            dt = _minutes(rng, 8.0, 1.0, 60.0)
            kind = EventType.HIDDEN if rng.random() < 0.6 else EventType.DELETED
            self.push(
                t + dt, LabeledMention(self.event(post, t + dt, kind, ""), post.intent, source, post.topic, "brand")
            )
            if rng.random() < _BRAND_RESTORE_P:
                dt2 = dt + _minutes(rng, 12.0, 3.0, 240.0)
                self.push(
                    t + dt2,
                    LabeledMention(
                        self.event(post, t + dt2, EventType.RESTORED, post.text, post.engagement),
                        post.intent,
                        source,
                        post.topic,
                        "brand",
                    ),
                )


def _first_letter(s: str, *, upper: bool) -> str:
    """Change the case of the first letter, looking past "¿", "¡", quotes.

    Lower-casing leaves acronyms and shouting alone ("UPD", "ACME").
    """
    for i, ch in enumerate(s):
        if ch.isalpha():
            if upper:
                return s[:i] + ch.upper() + s[i + 1 :]
            if s[i + 1 : i + 2].islower():
                return s[:i] + ch.lower() + s[i + 1 :]
            return s
        if ch not in "¿¡«\"'(":
            return s
    return s


def _typo(rng: random.Random, text: str) -> str:
    """One slip of the thumb in one word: swapped, dropped or doubled letter."""
    words = [m for m in _WORD_RE.finditer(text)]
    if not words:
        return text
    w = rng.choice(words)
    s, e = w.span()
    word = text[s:e]
    i = rng.randrange(1, len(word) - 1)
    op = rng.randrange(3)
    if op == 0:
        new = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    elif op == 1:
        new = word[:i] + word[i + 1 :]
    else:
        new = word[:i] + word[i] + word[i:]
    return text[:s] + new + text[e:]


# --------------------------------------------------------------------------- incidents


class _SpikeBuilder:
    """A burst of complaints about one concrete issue, mostly in one or two channels.

    Arrivals are a non-homogeneous Poisson process (thinning) whose intensity
    ramps up over 15 s, holds, and fades out by 150 s, so the total is what
    ~2 minutes at 5x the base rate would give — on top of the background.
    """

    def __init__(self, run: _Run, inc: Incident, rng: random.Random) -> None:
        self.run, self.inc, self.rng = run, inc, rng
        assert inc.brand is not None
        self.brand = inc.brand

    @staticmethod
    def _shape(dt: float) -> float:
        if dt < _SPIKE_RAMP_S:
            return dt / _SPIKE_RAMP_S
        if dt < _SPIKE_PLATEAU_END_S:
            return 1.0
        return max(0.0, (_SPIKE_END_S - dt) / (_SPIKE_END_S - _SPIKE_PLATEAU_END_S))

    def events(self) -> Iterator[tuple[float, LabeledMention]]:
        """The spike's events in time order, generated one at a time."""
        run, rng = self.run, self.rng
        issue = rng.choice(C.SPIKE_ISSUES)
        version = f"{rng.randint(4, 9)}.{rng.randint(0, 24)}.{rng.randint(0, 9)}"
        social = [ch for ch in run.by_brand[self.brand] if ch.platform not in (Platform.RSS, Platform.REVIEWS)]
        owned = [ch for ch in social if ch.owned]
        # hubs: where the crowd gathers — busy, multilingual channels
        primary = _pick(rng, owned, _cum([len(ch.langs) ** 2 for ch in owned]))
        others = [ch for ch in social if ch.platform is not primary.platform]
        secondary = _pick(rng, others, _cum([len(ch.langs) ** 2 for ch in others]))
        area = _SPIKE_RAMP_S / 2 + (_SPIKE_PLATEAU_END_S - _SPIKE_RAMP_S) + (_SPIKE_END_S - _SPIKE_PLATEAU_END_S) / 2
        peak = _SPIKE_MULTIPLIER * run.rate * _SPIKE_NOMINAL_S / area
        t0 = self.inc.at.total_seconds()
        recent: dict[str, deque[_Post]] = {}
        per_channel: collections.Counter[str] = collections.Counter()
        # the first complaint per (owned channel, language): whom the brand will answer
        to_answer: dict[tuple[str, str], _Post] = {}
        dt = 0.0
        while True:
            dt += rng.expovariate(peak)
            if dt >= _SPIKE_END_S:
                break
            if rng.random() >= self._shape(dt):
                continue
            r = rng.random()
            ch = primary if r < 0.65 else secondary if r < 0.88 else rng.choice(social)
            lang = run.pick_lang_for(rng, ch)
            pack = C.LANGUAGES[lang]
            author = run.pick_author(rng, lang)
            earlier = recent.get(ch.key)
            parent: _Post | None = None
            if earlier and rng.random() < 0.2:
                parent = earlier[max(0, len(earlier) - 1 - int(rng.expovariate(0.3)))]
                intent, topic = NEG, issue
                # a pile-on: "+1", "same here" — not a story of its own
                pile_on = [f for f in pack.followups[NEG] if "{" not in f] or list(pack.spike_questions)
                text, _ = run.compose(
                    rng, pack, NEG, author, ch, body=rng.choice(pile_on), topic=issue, opener_p=0.0, closer_p=0.0
                )
            elif rng.random() < 0.1:
                intent, topic = NEU, "spike-question"
                text, _ = run.compose(
                    rng,
                    pack,
                    NEU,
                    author,
                    ch,
                    body=rng.choice(pack.spike_questions),
                    topic=topic,
                    opener_p=0.0,
                    closer_p=0.0,
                )
            else:
                intent, topic = NEG, issue
                text, _ = run.compose(
                    rng,
                    pack,
                    NEG,
                    author,
                    ch,
                    body=rng.choice(pack.spike[issue]),
                    topic=issue,
                    opener_p=0.25,
                    closer_p=0.25,
                    version=version,
                )
            post = run.user_post(rng, t0 + dt, ch, lang, intent, author, text.text, topic, parent)
            recent.setdefault(ch.key, deque(maxlen=_RECENT_PER_CHANNEL)).append(post)
            per_channel[ch.key] += 1
            if ch.owned and intent == NEG and parent is None:
                to_answer.setdefault((ch.key, lang), post)
            yield (
                t0 + dt,
                LabeledMention(
                    run.event(post, t0 + dt, EventType.CREATED, post.text, post.engagement),
                    intent,
                    self.inc.kind,
                    topic,
                    "author",
                ),
            )
        # a few minutes in, the brand answers a handful of complaints publicly,
        # in the busiest channels, at most once per channel and language
        budget = rng.randint(3, 5)
        t_reply = t0 + rng.uniform(150.0, 330.0)
        for (_, lang), post in sorted(to_answer.items(), key=lambda kv: -per_channel[kv[0][0]])[:budget]:
            pack = C.LANGUAGES[lang]
            t_reply += rng.uniform(5.0, 40.0)
            reply = run.brand_reply(
                rng, post, body=rng.choice(pack.incident_reply[issue]), greet_p=0.0, version=version
            )
            yield (
                t_reply,
                LabeledMention(
                    run.event(reply, t_reply, EventType.CREATED, reply.text, reply.engagement),
                    NEU,
                    self.inc.kind,
                    "incident-reply",
                    "brand",
                ),
            )


class _DeletedComplaintBuilder:
    """A furious complaint the brand makes disappear, and its author coming back.

    Timeline: the complaint at ``at``; 30-60 s later the brand hides or deletes
    it; 2.5-5 minutes after that the same person posts it again from another
    account, saying it was deleted; others chime in; the brand may answer.
    """

    def __init__(self, run: _Run, inc: Incident, rng: random.Random) -> None:
        self.run, self.inc, self.rng = run, inc, rng
        assert inc.brand is not None
        self.brand = inc.brand

    def events(self) -> Iterator[tuple[float, LabeledMention]]:
        """A handful of events, built together (they refer to each other) and released in time order."""
        run, rng, kind = self.run, self.rng, self.inc.kind
        owned = [
            ch for ch in run.by_brand[self.brand] if ch.owned and ch.platform not in (Platform.RSS, Platform.REVIEWS)
        ]
        ch = _pick(rng, owned, _cum([len(ch.langs) for ch in owned]))
        lang = run.pick_lang_for(rng, ch)
        pack = C.LANGUAGES[lang]
        author = run.author(lang, _REGULARS + rng.randrange(_AUTHOR_POOL - _REGULARS))
        topic = rng.choice([t for t in C.COMPLAINT_TOPICS if t in pack.negative.bodies])
        slots = _Slots(rng, pack, self.brand, author=author, platform=ch.platform, formal=False)
        body = run.render(rng, pack, [rng.choice(pack.negative.bodies[topic])], slots)
        parts = [rng.choice(pack.negative.openers)] if rng.random() < 0.5 else []
        parts += [body.replace("{", "{{").replace("}", "}}"), rng.choice(pack.escalations)]
        text = run.render(rng, pack, parts, slots)
        text = f"{text} {rng.choice(C.EMOJI[NEG]) * rng.randint(1, 3)}"
        out: list[tuple[float, LabeledMention]] = []

        t0 = self.inc.at.total_seconds()
        post = run.user_post(rng, t0, ch, lang, NEG, author, text, topic, None)
        out.append(
            (
                t0,
                LabeledMention(
                    run.event(post, t0, EventType.CREATED, text, post.engagement), NEG, kind, topic, "author"
                ),
            )
        )
        t1 = t0 + rng.uniform(30.0, 60.0)
        gone = EventType.HIDDEN if rng.random() < 0.5 else EventType.DELETED
        out.append((t1, LabeledMention(run.event(post, t1, gone, ""), NEG, kind, topic, "brand")))

        # same person, second account: same name, a new handle and id, few followers
        alt = _Author(
            handle=f"{author.handle}_{rng.choice(('2', 'new', 'real', 'x', 'again'))}",
            num=author.num + rng.randint(1_000, 9_999_999),
            name=author.name,
            gender=author.gender,
            lang=lang,
            followers=rng.randint(0, 40),
        )
        t2 = t1 + rng.uniform(150.0, 300.0)
        comeback = rng.choice(pack.comebacks).format_map(
            _Slots(rng, pack, self.brand, author=alt, platform=ch.platform, formal=False, original=body)
        )
        again = run.user_post(rng, t2, ch, lang, NEG, alt, comeback, "comeback", None)
        out.append(
            (
                t2,
                LabeledMention(
                    run.event(again, t2, EventType.CREATED, comeback, again.engagement), NEG, kind, "comeback", "author"
                ),
            )
        )
        t = t2
        for _ in range(rng.randint(1, 3)):
            t += rng.uniform(15.0, 120.0)
            other = run.pick_author(rng, lang)
            txt, _ = run.compose(
                rng,
                pack,
                NEG,
                other,
                ch,
                body=rng.choice(pack.censorship),
                topic="censorship",
                opener_p=0.0,
                closer_p=0.0,
            )
            reply = run.user_post(rng, t, ch, lang, NEG, other, txt.text, "censorship", again)
            out.append(
                (
                    t,
                    LabeledMention(
                        run.event(reply, t, EventType.CREATED, reply.text, reply.engagement),
                        NEG,
                        kind,
                        "censorship",
                        "author",
                    ),
                )
            )
        if rng.random() < 0.6:
            tb = t2 + rng.uniform(240.0, 900.0)
            answer = run.brand_reply(rng, _replace_topic(again, topic))
            out.append(
                (
                    tb,
                    LabeledMention(
                        run.event(answer, tb, EventType.CREATED, answer.text, answer.engagement),
                        NEU,
                        kind,
                        "brand-reply",
                        "brand",
                    ),
                )
            )
        out.sort(key=lambda ti: ti[0])
        yield from out


def _replace_topic(post: _Post, topic: str) -> _Post:
    """The brand answers the substance of a comeback, not the word "comeback"."""
    return replace(post, topic=topic)
