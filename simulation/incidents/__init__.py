"""Staged incidents, one module per alert kind (mirroring the detectors), and their labels.

An incident is a frozen description (brand, when, how big) whose :meth:`Incident.plan`
turns it, with the world's help and a generator of its own, into a :class:`Plan`:
the events it adds to the world (in time order), the silences it imposes on
the brand, and :class:`Label` records that say what a perfect alerting system
would report — and from which event time detection is possible at all (for a
spike, its start; for an SLA breach, the deadline; for a removal, the removal
event itself).

Labels can also say "tolerated" (an alert here is fine but not required, e.g.
the unanswered complaints of a channel the brand abandoned) or "none" (an
alert here is a mistake, e.g. an author deleting their own praise).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar
from weakref import WeakKeyDictionary

from shared.schemas import AlertKind, Severity
from simulation import corpus as C
from simulation.world import Author, Channel, Happening, Post, World, render, typo

__all__ = [
    "Expect",
    "Incident",
    "Label",
    "Plan",
    "complaint_text",
    "shingle_similarity",
]


class Expect(StrEnum):
    """What a label asks of the alerts."""

    ALERT = "alert"  # an alert is required: missing it is a miss
    TOLERATE = "tolerate"  # an alert is fine here (not false), none is fine too
    NONE = "none"  # an alert here is a mistake


@dataclass(frozen=True)
class Label:
    """Ground truth of one incident (or one part of it) as the evaluation matches alerts to it."""

    kind: AlertKind
    brand: str
    #: the channel the incident is in; None when it is brand-wide
    channel: str | None
    #: when the incident began (a spike's first extra complaint, the first unanswered complaint)
    start: datetime
    #: the event time from which detection is possible; delays are measured from here
    detectable_from: datetime
    #: when the incident is over (a spike's end, the late answer, the removal itself)
    end: datetime
    #: "<kind>#<n>" of the staging incident, shared by all its labels
    incident: str
    expect: Expect = Expect.ALERT
    #: how big: a spike's or surge's multiplier, a breach's or bias' complaint count
    size: float | None = None
    #: the baseline negatives per minute at ``start`` (spikes), brand-wide or in the channel
    baseline_per_min: float | None = None
    #: spikes: the first moment the injected complainants clear the statistical floor
    #: (p <= 1e-4, >= 3 distinct, >= 2x expected, against the true baseline)
    floor_at: datetime | None = None
    #: mentions the alert's evidence should name (when its evidence names any)
    mention_ids: tuple[str, ...] = ()
    #: event_id of the event that makes detection possible (removals, comebacks)
    detect_event_id: str | None = None
    #: tolerated labels: the most severe alert that is still acceptable
    max_severity: Severity | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "brand": self.brand,
            "channel": self.channel,
            "start": self.start.isoformat(),
            "detectable_from": self.detectable_from.isoformat(),
            "end": self.end.isoformat(),
            "incident": self.incident,
            "expect": self.expect.value,
            "size": self.size,
            "baseline_per_min": self.baseline_per_min,
            "floor_at": self.floor_at.isoformat() if self.floor_at else None,
            "mention_ids": list(self.mention_ids),
            "detect_event_id": self.detect_event_id,
            "max_severity": self.max_severity.value if self.max_severity else None,
            "note": self.note,
        }


@dataclass
class Plan:
    """What one incident adds to the world."""

    happenings: list[Happening] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)

    def add(self, h: Happening) -> Happening:
        self.happenings.append(h)
        return h

    def sorted_happenings(self) -> list[Happening]:
        # stable: events at the same microsecond keep their causal order (a post before its removal)
        return sorted(self.happenings, key=lambda h: h.t)


@dataclass(frozen=True)
class Incident:
    """Base of every staged incident: which brand, and when (an offset from the world's start)."""

    kind: ClassVar[AlertKind]

    brand: str
    at: timedelta

    def plan(self, world: World, rng: random.Random, name: str) -> Plan:
        raise NotImplementedError

    def footprint(self) -> timedelta:
        """How long the incident occupies its brand (scenarios keep incidents of one brand apart)."""
        return timedelta(hours=2)

    def preferred_hours(self) -> tuple[float, float] | None:
        """Local hours the incident should start in (None: any time)."""
        return None


# --------------------------------------------------------------------------- shared writing helpers


# Long, personal complaints, written for the simulation (not in the ingest corpus). A story is
# one sentence from each part (what was bought, what went wrong, what support did, what it cost
# the person), each full of its own details. Why so elaborate: the complaints incidents remove
# must not be near-duplicates of anything else in the stream — not of everyday one-liners, not of
# each other (a removal pattern removes dozens) — or every such pair would "return". Two stories
# share a part with probability 1/8 and differ in its details anyway, so only a real comeback
# (the same text re-posted) looks like one.
_PARTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "en": (
        (
            "On {date} I ordered a {item} {model} for {amount} (order #{order}).",
            "Bought the {model} {item} from your {city} store on {date}, receipt {order}.",
            "My order #{order} from {date}, a {item} {model} for {amount}, is the problem.",
            "Back on {date} I paid {amount} for the {model} {item}, order number {order}.",
            "I placed order {order} on {date}: one {item}, {model}, {amount}.",
            "Got a {model} {item} delivered to {city} on {date}, order {order}.",
            "{date}: order #{order}, {item} {model}, paid {amount} upfront.",
            "I've been a customer for {years} years and on {date} I ordered a {model} {item} (#{order}).",
        ),
        (
            "It arrived with a cracked {part} and the box had clearly been opened before.",
            "The courier marked it delivered at {hour} but nobody ever came to {street}.",
            "After {days} days the {part} stopped working completely.",
            "You charged {amount} twice and the second payment is still not refunded.",
            "The app cancelled the order on its own and kept my money.",
            "What came was a different model, an old {model2} with scratches all over the {part}.",
            "The parcel has been stuck at the {city} depot since {date2}.",
            "Half of the accessories were missing and the {part} rattles when you pick it up.",
        ),
        (
            "Support ticket {ticket} was closed without a single answer.",
            "I called the hotline {calls} times; {staff} promised a callback that never came.",
            "Your chat agent {staff} told me to wait {days} more days and disconnected.",
            "Three emails to support and all I got was a template about 'high volume'.",
            "The manager at the store, {staff}, refused to even look at it.",
            "Case {ticket}: every time a new person asks me to start from scratch.",
            "I was on hold for {minutes} minutes before the line went dead.",
            "{staff} from support said it's 'not a warranty case' without checking anything.",
        ),
        (
            "It was a birthday present for my {relative}.",
            "I took {days2} days off work to wait for deliveries.",
            "I need it for work and had to buy another one elsewhere.",
            "That was most of my monthly budget.",
            "My {relative} has been without a working {item} for weeks now.",
            "I recommended you to {count} friends, never again.",
            "I paid extra for express delivery, for nothing.",
            "Now I have to drive to {city} again to sort this out.",
        ),
    ),
    "ru": (
        (
            "{date} заказал{a} {item_acc} {model} за {amount}, заказ №{order}.",
            "Купил{a} {item_acc} {model} в вашем магазине {city_in} {date}, чек №{order}.",
            "Мой заказ №{order} от {date}: {item_nom} {model} за {amount}.",
            "Ещё {date} оплатил{a} {amount} за {item_acc} {model}, номер заказа {order}.",
            "Оформил{a} заказ {order} {date}, {item_nom} {model}, {amount}.",
            "{date} привезли {item_acc} {model}, заказ {order}.",
            "{date}: заказ №{order}, {item_nom} {model}, оплачено {amount} сразу.",
            "Покупаю у вас уже {years} года, и вот {date} заказал{a} {item_acc} {model} (№{order}).",
        ),
        (
            "Пришло с треснувшим корпусом, коробку явно вскрывали до меня.",
            "Курьер отметил доставку в {hour}, но на улицу {street} никто не приезжал.",
            "Через {days} дней всё перестало работать.",
            "Списали {amount} дважды, второй платёж до сих пор не вернули.",
            "Приложение само отменило заказ, а деньги оставило себе.",
            "Пришла другая модель, старая {model2}, вся в царапинах.",
            "Посылка висит на складе {city_in} с {date2}.",
            "Половины комплектации нет, а внутри что-то гремит.",
        ),
        (
            "Обращение {ticket} закрыли без единого ответа.",
            "Звонил{a} на горячую линию {calls} раз, оператор {staff} обещал перезвонить — тишина.",
            "Оператор в чате ({staff}) сказал ждать ещё {days} дней и отключился.",
            "Написал{a} в поддержку три письма, в ответ только шаблон про «высокую нагрузку».",
            "Менеджер магазина, {staff}, отказался даже посмотреть.",
            "По обращению {ticket} каждый раз новый сотрудник просит рассказать всё заново.",
            "Провисел{a} на линии {minutes} минут, потом звонок оборвался.",
            "Сотрудник поддержки {staff} заявил, что это «не гарантийный случай», ничего не проверив.",
        ),
        (
            "Это был подарок на день рождения {relative}.",
            "Я {days2} дня сидел{a} дома в ожидании курьера.",
            "Мне это нужно для работы, пришлось купить в другом месте.",
            "Для меня это большие деньги.",
            "У {relative} уже несколько недель ничего не работает.",
            "Я советовал{a} вас {count} друзьям, больше никогда.",
            "Доплатил{a} за срочную доставку — зря.",
            "Теперь снова ехать {city_to}, чтобы с этим разбираться.",
        ),
    ),
}
#: the topic each "what went wrong" sentence is about (the brand's reply answers that topic)
_TOPICS = ("broken", "delivery", "broken", "billing", "refund", "broken", "delivery", "broken")
_DETAILS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "month": ("January", "February", "March", "April", "May", "June"),
        "street": ("High Street", "Baker Street", "Oxford Road", "Main Street", "King's Road", "Elm Avenue"),
        "part": ("screen", "battery", "hinge", "charger", "power button", "lid", "cable", "handle"),
        "relative": ("sister", "dad", "mum", "son", "grandmother", "daughter", "brother"),
        "city": ("Leeds", "Dublin", "Austin", "Toronto", "Glasgow", "Bristol", "Denver"),
    },
    "ru": {
        "month": ("января", "февраля", "марта", "апреля", "мая", "июня"),
        "street": ("Ленина", "Гагарина", "Мира", "Пушкина", "Садовую", "Профсоюзную", "Лесную"),
        "relative": ("сестры", "папы", "мамы", "сына", "бабушки", "дочки", "брата"),
    },
}


#: per world and brand, the shingles of every story already told: a new one must not resemble
#: any of them (only within a brand: detectors compare a brand's texts with its own)
_TOLD: WeakKeyDictionary[World, dict[str, list[set[str]]]] = WeakKeyDictionary()
#: the most a new story may resemble an earlier one (a comeback is ~0.6-0.8; a detector's bar ~0.45)
_MAX_LIKENESS = 0.3


def complaint_text(rng: random.Random, world: World, ch: Channel, lang: str, author: Author) -> tuple[str, str]:
    """A long, personal complaint (a story with its own order and ticket numbers, names and a
    threat), and its topic, unlike every story told before in this world. See ``_PARTS``."""
    told = _TOLD.setdefault(world, {}).setdefault(ch.brand, [])
    for _ in range(100):
        text, topic = _story(rng, ch, lang, author)
        sh = _shingles(text)
        n = len(sh)
        if all((c := len(sh & other)) <= _MAX_LIKENESS * (n + len(other) - c) for other in told):
            break
    told.append(sh)
    return text, topic


def _story(rng: random.Random, ch: Channel, lang: str, author: Author) -> tuple[str, str]:
    story_lang = lang if lang in _PARTS else "en"
    pack = C.LANGUAGES[story_lang]
    detail = _DETAILS[story_lang]
    parts = _PARTS[story_lang]
    wrong = rng.randrange(len(parts[1]))
    chosen = [rng.choice(parts[0]), parts[1][wrong], rng.choice(parts[2])]
    if rng.random() < 0.75:
        chosen.append(rng.choice(parts[3]))
    item = rng.choice(pack.items)
    city = rng.choice(pack.cities)
    month = rng.choice(detail["month"])
    day, day2 = rng.randint(1, 27), rng.randint(1, 27)
    letters = "ABCDEFGHKMNPRSTX"
    values = {
        "a": ("а" if author.gender == "f" else "") if story_lang == "ru" else "",
        "date": f"{day} {month}" if story_lang == "ru" else f"{month} {day}",
        "date2": f"{day2} {month}" if story_lang == "ru" else f"{month} {day2}",
        "item": item.get("n", ""),
        "item_acc": item.get("acc", ""),
        "item_nom": item.get("nom", ""),
        "model": rng.choice(C.MODELS),
        "model2": rng.choice(C.MODELS),
        "amount": rng.choice(pack.slots["amount"]),
        "order": rng.randint(10_000_000, 99_999_999),
        "ticket": f"{rng.choice(letters)}{rng.choice(letters)}-{rng.randint(100_000, 999_999)}",
        "days": rng.randint(3, 25),
        "days2": rng.randint(2, 4),
        "years": rng.randint(2, 4),
        "calls": rng.randint(3, 9),
        "minutes": rng.randint(25, 90),
        "count": rng.randint(3, 12),
        "hour": f"{rng.randint(9, 20)}:{rng.choice(('05', '20', '35', '50', '15'))}",
        "street": rng.choice(detail["street"]),
        "part": rng.choice(detail.get("part", ("",))),
        "relative": rng.choice(detail["relative"]),
        "city": city.get("in", "").removeprefix("in ") if story_lang == "en" else "",
        "city_in": city.get("in", ""),
        "city_to": city.get("to", ""),
        "staff": rng.choice(pack.names[rng.choice(("m", "f"))])[0],
    }
    if story_lang == "en":
        values["city"] = rng.choice(detail["city"])
    story = " ".join(c.format(**values) for c in chosen)
    head = [rng.choice(pack.negative.openers)] if rng.random() < 0.4 else []
    tail = rng.choice(pack.escalations) if rng.random() < 0.6 else rng.choice(pack.negative.closers)
    text = render(rng, pack, ch.brand, [*head, story.replace("{", "{{").replace("}", "}}"), tail], gender=author.gender)
    if rng.random() < 0.4:
        text = f"{text} {rng.choice(C.EMOJI['negative']) * rng.randint(1, 3)}"
    return text, _TOPICS[wrong]


def clear_negative(rng: random.Random) -> tuple[float, float, float]:
    """Probabilities of a complaint the model has no doubt about."""
    neg = rng.uniform(0.8, 0.97)
    neu = (1.0 - neg) * rng.uniform(0.5, 0.9)
    return neg, neu, max(0.0, 1.0 - neg - neu)


_SPACE_RE = re.compile(r"\s+")


def _shingles(text: str, k: int = 4) -> set[str]:
    t = _SPACE_RE.sub(" ", text.lower()).strip()
    return {t[i : i + k] for i in range(max(1, len(t) - k + 1))}


def shingle_similarity(a: str, b: str, k: int = 4) -> float:
    """Jaccard similarity of character k-shingles (what a MinHash estimates), for label notes."""
    sa, sb = _shingles(a, k), _shingles(b, k)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


def scripted_post(
    world: World,
    rng: random.Random,
    ch: Channel,
    lang: str,
    intent: str,
    author: Author,
    text: str,
    *,
    topic: str = "custom",
    probs: tuple[float, float, float] | None = None,
    parent: Post | None = None,
) -> Post:
    return world.new_post(rng, ch, lang, intent, author, text, topic=topic, probs=probs, parent=parent)


def pick_lang(rng: random.Random, ch: Channel, wanted: str | None) -> str:
    """``wanted`` when people write in it in ``ch``, else the channel's own mix."""
    if wanted is not None and wanted in ch.langs:
        return wanted
    codes = sorted(ch.langs, key=lambda c: -ch.langs[c])
    return codes[0] if rng.random() < 0.7 else rng.choice(codes)


def owned_social(
    world: World, brand: str, channel: str | None, rng: random.Random, *, lang: str | None = None
) -> Channel:
    """The named channel, or an owned social channel picked by traffic (in ``lang`` when asked)."""
    if channel is not None:
        return world.channel(brand, channel)
    chans: Sequence[Channel] = world.channels(brand, owned=True, social=True)
    if lang is not None:
        chans = [c for c in chans if lang in c.langs] or chans
    weights = [c.weight for c in chans]
    return rng.choices(list(chans), weights=weights)[0]


def edit_a_little(rng: random.Random, text: str, *, typos: int = 1) -> str:
    """Small edits people make when re-posting: slips, lost emoji, punctuation."""
    out = text
    for _ in range(typos):
        out = typo(rng, out)
    out = re.sub(r"\s*[\U0001F300-\U0001FAFF\u2600-\u27BF]+\s*$", "", out)
    if rng.random() < 0.5 and out.endswith("."):
        out = out[:-1]
    return out
