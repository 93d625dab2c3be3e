"""A wave of complaints: ``multiplier`` times the brand's seasonal negative rate, from distinct people.

The extra complaints arrive as a Poisson process at ``(multiplier - 1)`` times
the world's baseline negative rate at that moment (so the total is the
multiplier times the baseline), ramping up over ``ramp``, holding for
``duration`` and fading over ``ramp``. Each extra complaint comes from a
different person (the detector counts distinct complainants); on top of that a
few of them post twice and a few people ask "is it down for everyone?" — those
do not count towards the size. Brand-wide waves gather in the brand's busiest
channels; a ``channel`` wave stays in one owned channel (and is measured
against that channel's own baseline).

The label also carries ``floor_at``: the first moment the injected
complainants alone, on top of the *expected* background, clear the detector's
statistical bar (p <= 1e-4 under a Poisson baseline, >= 3 distinct, >= 2x
expected) in a 5, 15 or 60-minute window or since the wave began. No detector
can do better than that on average, so small brands' delays are judged against it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.schemas import AlertKind, EventType
from simulation import corpus as C
from simulation.incidents import Incident, Label, Plan, clear_negative
from simulation.world import HOUR, MINUTE, Channel, Happening, World

#: the statistical bar of the oracle (the issue's defaults for negativity_spike)
FLOOR_P = 1e-4
FLOOR_MIN_DISTINCT = 3
FLOOR_MIN_RATIO = 2.0
FLOOR_WINDOWS_MIN = (5, 15, 60)


def poisson_sf(n: int, mu: float) -> float:
    """P(X >= n) for X ~ Poisson(mu), summed from n upwards (accurate far in the tail)."""
    if n <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    term = math.exp(-mu + n * math.log(mu) - math.lgamma(n + 1))
    total, k = term, n
    while k < n + 10_000:
        k += 1
        term *= mu / k
        total += term
        if term < total * 1e-12 and k > mu:
            break
    return min(1.0, total)


def floor_time(times: list[int], world: World, brand: str, channel: str | None, t0: int) -> int | None:
    """The first injected complaint at which the oracle's test passes (see module docs)."""
    windows = [w * MINUTE for w in FLOOR_WINDOWS_MIN]
    lo = [0] * len(windows)
    for i, t in enumerate(times):
        candidates = []
        for j, w in enumerate(windows):
            while times[lo[j]] <= t - w:
                lo[j] += 1
            candidates.append((w, i - lo[j] + 1))
        if t - t0 > windows[-1]:
            candidates.append((t - t0, i + 1))  # since the wave began: what a CUSUM accumulates
        for w, k in candidates:
            mu = world.negatives_per_min(brand, t - w // 2, channel) * w / MINUTE
            n = k + int(round(mu))
            if n >= FLOOR_MIN_DISTINCT and n >= FLOOR_MIN_RATIO * mu and poisson_sf(n, mu) <= FLOOR_P:
                return t
    return None


@dataclass(frozen=True, slots=True)
class RealisedFloor:
    """What the stream really held during a wave, judged by the oracle's bar (see :func:`realised_floor`)."""

    #: the first complaint at which the bar was cleared (None: never, in this realisation)
    at: datetime | None
    #: the strongest evidence seen: distinct complainants, expected under the true baseline, Poisson P(X >= n)
    best_count: int
    best_expected: float
    best_p: float


def realised_floor(
    complaints: list[tuple[int, str]], world: World, brand: str, channel: str | None, t0: int
) -> RealisedFloor:
    """The oracle's test on what the stream really holds, not on the injected complaints plus the mean.

    ``complaints`` are (time, author) of every negative mention in the wave's scope from ``t0`` on, in
    time order: the injected ones and the background as it actually fell. They are counted as the
    detector counts them: distinct authors in a trailing window, and, since the wave began, authors new
    in the hour (one who comes back after an hour away counts again). :func:`floor_time` adds the
    injected complainants to the background's *mean*; when the background happens to run low during a
    gentle wave, the wave's complainants may never clear p <= 1e-4 against the true baseline at all. No
    detector can be asked to catch that, so the evaluation reports such a wave instead of judging it.
    """
    windows = [w * MINUTE for w in FLOOR_WINDOWS_MIN]
    lo = [0] * len(windows)
    #: per window: author -> mentions inside it
    inside: list[dict[str, int]] = [{} for _ in windows]
    last_seen: dict[str, int] = {}
    new_in_hour = 0
    since, last = 0.0, t0
    best = (0, 0.0, 1.0)
    for t, author in complaints:
        since += world.expected_negatives(brand, last, t, channel)
        last = t
        seen = last_seen.get(author)
        fresh = seen is None or seen <= t - HOUR
        last_seen[author] = t
        new_in_hour += fresh
        candidates = [(new_in_hour, since)] if fresh else []
        for j, w in enumerate(windows):
            counts = inside[j]
            while complaints[lo[j]][0] <= t - w:
                gone = complaints[lo[j]][1]
                counts[gone] -= 1
                if not counts[gone]:
                    del counts[gone]
                lo[j] += 1
            before = len(counts)
            counts[author] = counts.get(author, 0) + 1
            if len(counts) > before:
                candidates.append((len(counts), world.expected_negatives(brand, max(t0, t - w), t, channel)))
        for k, mu in candidates:
            if mu <= 0.0 or k < FLOOR_MIN_DISTINCT or k < FLOOR_MIN_RATIO * mu:
                continue
            p = poisson_sf(k, mu)
            if p < best[2]:
                best = (k, mu, p)
            if p <= FLOOR_P:
                return RealisedFloor(world.at(t), k, mu, p)
    return RealisedFloor(None, *best)


@dataclass(frozen=True)
class NegativitySpike(Incident):
    kind = AlertKind.NEGATIVITY_SPIKE

    #: total negatives during the plateau vs the seasonal baseline
    multiplier: float = 5.0
    #: the plateau
    duration: timedelta = timedelta(minutes=30)
    #: an owned channel when the wave is local to it; None: brand-wide
    channel: str | None = None
    ramp: timedelta = timedelta(minutes=1)
    #: extra posts by people already complaining, and "is it down?" questions, as shares of the wave
    repeat_share: float = 0.1
    question_share: float = 0.08

    def footprint(self) -> timedelta:
        return self.duration + 2 * self.ramp + timedelta(hours=2)

    def preferred_hours(self) -> tuple[float, float] | None:
        return (10.0, 20.0)

    def _shape(self, dt: int) -> float:
        ramp = max(1, int(self.ramp / timedelta(microseconds=1)))
        plateau = int(self.duration / timedelta(microseconds=1))
        if dt < ramp:
            return dt / ramp
        if dt < ramp + plateau:
            return 1.0
        return max(0.0, (2 * ramp + plateau - dt) / ramp)

    def _hubs(self, world: World, rng: random.Random) -> tuple[list[Channel], list[float]]:
        if self.channel is not None:
            return [world.channel(self.brand, self.channel)], [1.0]
        social = world.channels(self.brand, social=True)
        # the crowd gathers where the brand is: its busiest owned channel takes the most
        hub = world.busiest(self.brand)
        weights = [c.weight * (6.0 if c is hub else 1.0) for c in social]
        return social, weights

    def plan(self, world: World, rng: random.Random, name: str) -> Plan:
        if self.multiplier <= 1.0:
            raise ValueError(f"{name}: a spike's multiplier must be > 1")
        plan = Plan()
        t0 = world.t_of(self.at)
        length = int((self.duration + 2 * self.ramp) / timedelta(microseconds=1))
        issue = rng.choice(C.SPIKE_ISSUES)
        version = f"{rng.randint(4, 9)}.{rng.randint(0, 24)}.{rng.randint(0, 9)}"
        chans, weights = self._hubs(world, rng)
        seen_authors: set[str] = set()
        complainants = []  # (post, author) of distinct people, for repeats
        distinct_times: list[int] = []
        t = t0
        while t < t0 + length:
            minute_end = min((t // MINUTE + 1) * MINUTE, t0 + length)
            mid = (t + minute_end) // 2
            rate = (self.multiplier - 1.0) * world.negatives_per_min(self.brand, mid, self.channel)
            rate *= self._shape(mid - t0) / MINUTE
            gap = int(rng.expovariate(rate)) + 1 if rate > 0 else minute_end - t
            if t + gap >= minute_end:
                t = minute_end
                continue
            t += gap
            ch = rng.choices(chans, weights=weights)[0]
            lang = world.pick_lang(rng, ch)
            pack = C.LANGUAGES[lang]
            author = world.fresh_author(rng, self.brand, lang)
            if author.author_id(ch.platform) in seen_authors:
                continue
            seen_authors.add(author.author_id(ch.platform))
            text, _ = world.compose(
                rng, ch, lang, "negative", author, body=rng.choice(pack.spike[issue]), opener_p=0.25,
                closer_p=0.25, version=version,
            )  # fmt: skip
            probs = clear_negative(rng) if rng.random() < 0.9 else _borderline(rng)
            post = world.new_post(rng, ch, lang, "negative", author, text, topic=issue, probs=probs)
            plan.add(Happening(t, EventType.CREATED, post, auto=True))
            complainants.append((post, author))
            distinct_times.append(t)
            if rng.random() < self.repeat_share:
                # the same person again, a bit later: not a new complainant
                again, _ = world.compose(
                    rng, ch, lang, "negative", author, body=rng.choice(pack.followups["negative"]),
                    opener_p=0.0, closer_p=0.0,
                )  # fmt: skip
                later = t + int(rng.uniform(0.5, 8.0) * MINUTE)
                repeat = world.new_post(
                    rng, ch, lang, "negative", author, again, topic=issue, probs=clear_negative(rng)
                )
                plan.add(Happening(later, EventType.CREATED, repeat, auto=True))
            if rng.random() < self.question_share:
                asker = world.fresh_author(rng, self.brand, lang)
                q, _ = world.compose(
                    rng, ch, lang, "neutral", asker, body=rng.choice(pack.spike_questions), opener_p=0.0, closer_p=0.0
                )
                qpost = world.new_post(rng, ch, lang, "neutral", asker, q, topic="spike-question")
                plan.add(Happening(t + int(rng.uniform(0.2, 3.0) * MINUTE), EventType.CREATED, qpost, auto=True))
        floor = floor_time(distinct_times, world, self.brand, self.channel, t0)
        plan.labels.append(
            Label(
                kind=self.kind,
                brand=self.brand,
                channel=self.channel,
                start=world.at(t0),
                detectable_from=world.at(t0),
                end=world.at(t0 + length),
                incident=name,
                size=self.multiplier,
                baseline_per_min=world.negatives_per_min(self.brand, t0, self.channel),
                floor_at=world.at(floor) if floor is not None else None,
                note=f"{issue}, {len(distinct_times)} extra complainants over {self.duration}",
            )
        )
        return plan


def _borderline(rng: random.Random) -> tuple[float, float, float]:
    """Still a complaint to the model, but only just."""
    neg = rng.uniform(0.45, 0.6)
    neu = min((1.0 - neg) * rng.uniform(0.6, 0.9), neg - 0.02)
    return neg, neu, max(0.0, 1.0 - neg - neu)
