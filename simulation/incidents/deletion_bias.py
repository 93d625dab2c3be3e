"""A brand that quietly removes criticism in one of its channels, complaint after complaint.

Over ``duration`` extra ``complaints`` arrive in the channel; the brand
removes ``removed_share`` of them within minutes (hidden or deleted, actor
brand or unknown) and answers the rest as usual. Its normal spam clean-up goes
on, so "other mentions removed" is not zero: the detector has to see that
negatives vanish far more often than the rest.

Every removal is also a ``deleted_complaint`` label (each one is a complaint
the brand removed). The ``deletion_bias`` label is detectable from the first
removal at which the pattern is plain by the issue's rule over a rolling
``window``: at least ``min_removed`` complaints removed, and the share of the
channel's complaints removed (the expected background complaints of the
window plus the extra ones so far) at least ``ratio`` times the share of other
mentions the brand removes in normal times. When the staged pattern never gets
there, the label is only tolerated (and says so).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from shared.schemas import Actor, AlertKind, EventType
from simulation.incidents import Expect, Incident, Label, Plan, clear_negative, complaint_text, owned_social
from simulation.world import MINUTE, Happening, World


@dataclass(frozen=True)
class DeletionBias(Incident):
    kind = AlertKind.DELETION_BIAS

    channel: str | None = None
    duration: timedelta = timedelta(hours=24)
    complaints: int = 20
    removed_share: float = 0.85
    #: the issue's rule for a pattern (the deletion_bias detector's defaults)
    min_removed: int = 5
    ratio: float = 3.0
    window: timedelta = timedelta(days=7)
    #: the brand removes each one this long after it was posted (uniform between the two)
    removal_delay: tuple[timedelta, timedelta] = (timedelta(minutes=2), timedelta(minutes=40))

    def footprint(self) -> timedelta:
        return self.duration + timedelta(hours=3)

    def plan(self, world: World, rng: random.Random, name: str) -> Plan:
        plan = Plan()
        ch = owned_social(world, self.brand, self.channel, rng)
        t0 = world.t_of(self.at)
        span = world.t_of(self.duration)
        removed_at: list[int] = []
        posted_at: list[int] = []
        for t in sorted(t0 + int(rng.random() * span) for _ in range(self.complaints)):
            posted_at.append(t)
            lang = world.pick_lang(rng, ch)
            author = world.pick_author(rng, self.brand, lang)
            if rng.random() >= self.removed_share:
                text, topic = world.compose(rng, ch, lang, "negative", author)
                post = world.new_post(rng, ch, lang, "negative", author, text, topic=topic, probs=clear_negative(rng))
                plan.add(Happening(t, EventType.CREATED, post, auto=True))
                continue
            text, topic = complaint_text(rng, world, ch, lang, author)
            post = world.new_post(rng, ch, lang, "negative", author, text, topic=topic, probs=clear_negative(rng))
            plan.add(Happening(t, EventType.CREATED, post))
            lo, hi = (d / timedelta(minutes=1) for d in self.removal_delay)
            t_gone = t + int(rng.uniform(lo, hi) * MINUTE)
            how = EventType.HIDDEN if rng.random() < 0.6 else EventType.DELETED
            actor = Actor.BRAND if rng.random() < 0.8 else None
            removal = plan.add(Happening(t_gone, how, post, actor))
            removed_at.append(t_gone)
            plan.labels.append(
                Label(
                    kind=AlertKind.DELETED_COMPLAINT,
                    brand=self.brand,
                    channel=ch.key,
                    start=world.at(t),
                    detectable_from=world.at(t_gone),
                    end=world.at(t_gone),
                    incident=name,
                    mention_ids=(post.mention_id,),
                    detect_event_id=world.event_id(removal),
                    note=f"{how.value} by {actor.value if actor else 'unknown actor'}, part of a removal pattern",
                )
            )
        removed_at.sort()
        if not removed_at:
            return plan
        plain = self._plain_from(world, ch.key, posted_at, removed_at)
        note = f"{len(removed_at)} of {self.complaints} extra complaints removed over {self.duration}"
        plan.labels.append(
            Label(
                kind=self.kind,
                brand=self.brand,
                channel=ch.key,
                start=world.at(t0),
                detectable_from=world.at(plain if plain is not None else removed_at[-1]),
                end=world.at(removed_at[-1]),
                incident=name,
                expect=Expect.ALERT if plain is not None else Expect.TOLERATE,
                size=float(len(removed_at)),
                note=note if plain is not None else f"{note}; too weak for the ratio rule",
            )
        )
        return plan

    def _plain_from(self, world: World, channel: str, posted: list[int], removed: list[int]) -> int | None:
        """The first removal at which min count and ratio both hold (see the module docs)."""
        others = world.others_removed_share(self.brand, channel)
        window = world.t_of(self.window)
        for k, t in enumerate(removed, start=1):
            if k < self.min_removed:
                continue
            complaints = world.expected_negatives(self.brand, max(0, t - window), t, channel)
            complaints += sum(1 for p in posted if t - window < p <= t)
            if complaints > 0 and k / complaints >= self.ratio * others:
                return t
        return None
