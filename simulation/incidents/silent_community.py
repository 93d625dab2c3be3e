"""An owned channel the brand abandons: no post and no reply from it for ``duration``.

The brand posts one last time at the start, then the world suppresses its
posts and replies in that channel until the end (answers that fall due meanwhile
wait until it is back), when it posts again. People keep writing there, so
their complaints pile up unanswered: an ``unanswered_complaint`` alert on that
channel is tolerated (not required, not false) while it lasts.

Detectable from ``quiet`` after the last brand activity (the detector's N days).
When the silence runs past the end of the world, the label's end is put a day
after that point, so an alert raised while the backtest drains its timers
still counts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from shared.schemas import AlertKind, EventType
from simulation.incidents import Expect, Incident, Label, Plan, owned_social
from simulation.world import DAY, HOUR, Happening, World


@dataclass(frozen=True)
class SilentCommunity(Incident):
    kind = AlertKind.SILENT_COMMUNITY

    channel: str | None = None
    duration: timedelta = timedelta(days=8)
    #: the detector's "no brand activity for N days"
    quiet: timedelta = timedelta(days=7)

    def footprint(self) -> timedelta:
        return self.duration + timedelta(hours=6)

    def preferred_hours(self) -> tuple[float, float] | None:
        return (10.0, 18.0)

    def plan(self, world: World, rng: random.Random, name: str) -> Plan:
        plan = Plan()
        ch = owned_social(world, self.brand, self.channel, rng)
        t0 = world.t_of(self.at)
        t1 = t0 + world.t_of(self.duration)
        plan.add(Happening(t0, EventType.CREATED, world.brand_post(rng, ch)))
        world.silence(self.brand, ch.key, t0, t1)
        if t1 < world.end:
            back = world.brand_post(rng, ch, text=None)
            plan.add(Happening(t1, EventType.CREATED, back))
        detectable = t0 + world.t_of(self.quiet)
        end = t1 if t1 < world.end else max(world.end, detectable) + DAY
        plan.labels.append(
            Label(
                kind=self.kind,
                brand=self.brand,
                channel=ch.key,
                start=world.at(t0),
                detectable_from=world.at(detectable),
                end=world.at(end),
                incident=name,
                size=self.duration / timedelta(days=1),
                note=f"no brand post or reply for {self.duration}"
                + ("" if t1 < world.end else " (runs past the end of the input)"),
            )
        )
        plan.labels.append(
            Label(
                kind=AlertKind.UNANSWERED_COMPLAINT,
                brand=self.brand,
                channel=ch.key,
                start=world.at(t0),
                detectable_from=world.at(t0),
                end=world.at(min(t1, world.end) + 4 * HOUR),
                incident=name,
                expect=Expect.TOLERATE,
                note="complaints pile up unanswered while the brand is away",
            )
        )
        return plan
