"""All of a brand's traffic multiplied (a campaign, a viral post), with its usual mix of moods.

Complaints rise with everything else, so their *count* looks like a spike,
but their *share* does not move: the detector's share guard should call it a
``volume_surge`` (lower severity), not a ``negativity_spike``. The extra
mentions are drawn exactly as normal traffic is (same channels, languages,
intents, spam), at ``(multiplier - 1)`` times the seasonal rate, and the brand
answers them as usual.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from shared.schemas import AlertKind, EventType
from simulation.incidents import Incident, Label, Plan
from simulation.world import MINUTE, Happening, World


@dataclass(frozen=True)
class VolumeSurge(Incident):
    kind = AlertKind.VOLUME_SURGE

    multiplier: float = 3.0
    duration: timedelta = timedelta(hours=1)
    ramp: timedelta = timedelta(minutes=3)

    def footprint(self) -> timedelta:
        return self.duration + 2 * self.ramp + timedelta(hours=2)

    def preferred_hours(self) -> tuple[float, float] | None:
        return (11.0, 19.0)

    def plan(self, world: World, rng: random.Random, name: str) -> Plan:
        if self.multiplier <= 1.0:
            raise ValueError(f"{name}: a surge's multiplier must be > 1")
        plan = Plan()
        t0 = world.t_of(self.at)
        ramp = max(1, int(self.ramp / timedelta(microseconds=1)))
        plateau = int(self.duration / timedelta(microseconds=1))
        length = 2 * ramp + plateau
        t, extra = t0, 0
        while t < t0 + length:
            minute_end = min((t // MINUTE + 1) * MINUTE, t0 + length)
            mid = (t + minute_end) // 2
            dt = mid - t0
            shape = dt / ramp if dt < ramp else 1.0 if dt < ramp + plateau else max(0.0, (length - dt) / ramp)
            rate = (self.multiplier - 1.0) * world.mentions_per_min(self.brand, mid) * shape / MINUTE
            gap = int(rng.expovariate(rate)) + 1 if rate > 0 else minute_end - t
            if t + gap >= minute_end:
                t = minute_end
                continue
            t += gap
            plan.add(Happening(t, EventType.CREATED, world.background_post(rng, self.brand), auto=True))
            extra += 1
        plan.labels.append(
            Label(
                kind=self.kind,
                brand=self.brand,
                channel=None,
                start=world.at(t0),
                detectable_from=world.at(t0),
                end=world.at(t0 + length),
                incident=name,
                size=self.multiplier,
                baseline_per_min=world.negatives_per_min(self.brand, t0),
                note=f"{extra} extra mentions over {self.duration}, negative share unchanged",
            )
        )
        return plan
