"""Complaints in an owned channel that nobody from the brand answers within the SLA.

``complaints`` people complain (or ask, with ``question``) within ``spread``;
the brand misses them: it answers each one ``late_by`` after its deadline, or
never (``late_by`` None). The label is detectable from the first deadline
(first complaint + the world's SLA) and lasts until the last late answer —
one alert per (brand, channel) episode is what the detector should raise.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from shared.schemas import AlertKind, EventType
from simulation import corpus as C
from simulation.incidents import Incident, Label, Plan, clear_negative, owned_social, pick_lang
from simulation.world import MINUTE, Happening, World

_MIN = timedelta(minutes=1)


@dataclass(frozen=True)
class UnansweredComplaint(Incident):
    kind = AlertKind.UNANSWERED_COMPLAINT

    channel: str | None = None
    lang: str | None = None
    complaints: int = 1
    spread: timedelta = timedelta(minutes=10)
    #: how long after its deadline each one is answered; None: never
    late_by: timedelta | None = timedelta(hours=2)
    #: questions instead of complaints (a question is owed an answer too)
    question: bool = False
    #: each late answer comes up to this much later still (spread at random)
    answer_jitter: timedelta = timedelta(minutes=10)

    def footprint(self) -> timedelta:
        late = self.late_by if self.late_by is not None else timedelta(hours=12)
        return self.spread + timedelta(hours=1) + late + timedelta(hours=2)

    def preferred_hours(self) -> tuple[float, float] | None:
        return (9.0, 21.0)

    def plan(self, world: World, rng: random.Random, name: str) -> Plan:
        if self.complaints < 1:
            raise ValueError(f"{name}: needs at least one complaint")
        plan = Plan()
        ch = owned_social(world, self.brand, self.channel, rng, lang=self.lang)
        t0 = world.t_of(self.at)
        spread = world.t_of(self.spread)
        times = sorted([t0] + [t0 + int(rng.random() * spread) for _ in range(self.complaints - 1)])
        ids, last_answer = [], None
        for t in times:
            lang = pick_lang(rng, ch, self.lang)
            pack = C.LANGUAGES[lang]
            author = world.pick_author(rng, self.brand, lang)
            if self.question:
                body = rng.choice(pack.neutral.bodies["question"])
                text, _ = world.compose(rng, ch, lang, "neutral", author, body=body, closer_p=0.0)
                if "?" not in text:
                    text += "?"
                neu = rng.uniform(0.7, 0.92)
                neg = (1.0 - neu) * rng.uniform(0.1, 0.4)
                post = world.new_post(
                    rng, ch, lang, "neutral", author, text, topic="question", probs=(neg, neu, 1.0 - neu - neg)
                )
            else:
                text, topic = world.compose(rng, ch, lang, "negative", author, opener_p=0.5)
                post = world.new_post(rng, ch, lang, "negative", author, text, topic=topic, probs=clear_negative(rng))
            plan.add(Happening(t, EventType.CREATED, post))
            ids.append(post.mention_id)
            if self.late_by is not None:
                t_ans = (
                    t + world.sla + world.t_of(self.late_by) + int(rng.uniform(0.0, self.answer_jitter / _MIN) * MINUTE)
                )
                plan.add(Happening(t_ans, EventType.CREATED, world.brand_reply(rng, post)))
                last_answer = t_ans if last_answer is None else max(last_answer, t_ans)
        end = last_answer if last_answer is not None else world.end
        what = "questions" if self.question else "complaints"
        late = f"answered {self.late_by} late" if self.late_by is not None else "never answered"
        plan.labels.append(
            Label(
                kind=self.kind,
                brand=self.brand,
                channel=ch.key,
                start=world.at(times[0]),
                detectable_from=world.at(times[0] + world.sla),
                end=world.at(end),
                incident=name,
                size=float(self.complaints),
                mention_ids=tuple(ids),
                note=f"{self.complaints} {what} within {self.spread}, {late}",
            )
        )
        return plan
