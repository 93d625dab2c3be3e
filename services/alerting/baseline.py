"""Seasonal count baselines and the gamma-Poisson (negative binomial) tail, with no I/O and no clock.

A baseline here answers "how many per minute are normal at this hour of the week, and how sure are we?".
It keeps exponentially forgotten sums of counts and of exposure (minutes observed) at three levels: flat,
hour of day (24) and hour of week (168; optional), in the brand's local time. The estimate for one hour of
the week is shrunk toward its hour of day, and that toward the flat level, with credibility weights
learned from the data (Bühlmann-Straub style: how much the hours really differ beyond Poisson noise,
against how many counts a slot has seen). So a brand in its first week rests on its daily profile, a thin
brand on its flat rate for longer, and a busy one trusts its own hour of the week after a second week.
A weak gamma prior covers the first minutes of a new brand.

The uncertainty of the estimate travels with it (a gamma on the rate), so the predictive count of a window
is negative binomial: wide while the baseline is young, close to Poisson once it has seen weeks.

Numbers are plain Python floats; every method is deterministic, so a state dumped to JSON and loaded back
gives bit-identical estimates.
"""

from __future__ import annotations

import math
import sys
from array import array
from base64 import b64decode, b64encode
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from itertools import groupby
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

HOURS_PER_WEEK = 168
HOURS_PER_DAY = 24
#: hour of day of each hour of the week
_DAY_OF_SLOT = tuple(w % HOURS_PER_DAY for w in range(HOURS_PER_WEEK))

#: levels of the hierarchy, coarsest first. ``Estimate.level`` names the finest one whose own data carry at
#: least half the weight and whose parent has other data to differ from (else the parent's name)
LEVELS = ("prior", "flat", "hour_of_day", "hour_of_week")

# A slot counts as "observed" for the seasonality estimate once it has this many minutes of exposure.
_FULL_SLOT_MINUTES = 60.0
# Before many hours are observed the spread between hours is a guess: assume this relative variance
# (a typical day/night swing of about +-30%) with the weight of this many hours, so a young baseline is
# honest that the next hour may differ from the ones seen so far.
_TAU2_PRIOR_DAY = 0.1
_TAU2_PRIOR_WEEK = 0.05
_TAU2_PRIOR_SLOTS = 4.0
# A relative variance above this between hours would mean factors beyond ~x3; clamp noise there.
_TAU2_MAX = 4.0
# A slot's own data weigh at most E / (E + this) (E its exposure minutes): the smallest credibility
# constant, a guard against a wildly overestimated spread on very thin data.
_K_MIN_MINUTES = 10.0
# Stand-in for "no shrinkage possible": the hours do not differ, use the parent level alone.
_K_INFINITE = 1e12
# The stored sums are inflated by a growing scale instead of being decayed every minute (O(1) per minute);
# rescale long before floats could overflow.
_RESCALE_AT = 1e100
# dumped doubles are little-endian whatever the machine
_BIG_ENDIAN = sys.byteorder == "big"


def epoch_minute(dt: datetime) -> int:
    """Minutes since the Unix epoch (UTC) of an aware datetime, floored."""
    return math.floor(dt.timestamp() / 60.0)


def minute_start(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, timezone.utc)


@lru_cache(maxsize=65536)
def _utc_offset_minutes(tz: str, utc_hour: int) -> int:
    # Zone offsets change only at transitions, which fall on whole UTC hours in every zone that matters
    # here (a few odd ones shift on the half hour; at worst one hour lands in the neighbouring slot).
    local = datetime.fromtimestamp(utc_hour * 3600, timezone.utc).astimezone(ZoneInfo(tz))
    off = local.utcoffset()
    return int(off.total_seconds() // 60) if off is not None else 0


def local_slot(minute: int, tz: str) -> tuple[int, int]:
    """(hour of week 0..167 with Monday 00:00 = 0, local hour's first UTC minute) of an epoch minute in ``tz``."""
    off = 0 if tz == "UTC" else _utc_offset_minutes(tz, minute // 60)
    local = minute + off
    hour = local // 60
    # 1970-01-01 was a Thursday (weekday 3)
    slot = ((hour // 24 + 3) % 7) * 24 + hour % 24
    return slot, minute - local % 60


# --- the negative binomial tail ------------------------------------------------------------------------------

#: shapes above this are treated as Poisson: the NB differs by less than 1e-10 in variance per count, and
#: lgamma differences of such huge arguments would start losing digits
_POISSON_SHAPE = 1e10
# terms summed before the rest of a tail is bounded analytically
_MAX_TERMS = 4000


def nb_logsf(k: int, mean: float, shape: float = math.inf, stop_above: float | None = None) -> float:
    """log P(X >= k) for X negative binomial with this mean and shape (gamma-Poisson; shape inf: Poisson).

    Summed from the log pmf outwards in ratios, so it stays accurate where the tail is 1e-300 and for
    counts in the millions; the remainder past a few thousand terms is bounded geometrically (the ratios
    only shrink), and the far centre of huge distributions falls back to the normal approximation, so it
    never returns NaN or a value above 0.

    ``stop_above``: a caller that only asks "is the tail at most exp(stop_above)?" may stop the sum as soon
    as its partial sum (a lower bound of the tail) is clearly above that; it then gets that bound, which
    is above ``stop_above``, instead of the tail. A tail at or below the threshold comes out exactly as
    without it, bit for bit (the same terms are summed in the same order).
    """
    if k <= 0:
        return 0.0
    if not mean > 0.0:
        return -math.inf
    if not mean < math.inf:
        return 0.0
    k = int(k)
    poisson = not shape < _POISSON_SHAPE
    if poisson:
        log_mean = math.log(mean)
        mode = math.floor(mean)
        q = log_q = log_p = lg_shape = 0.0
        var = mean
    else:
        if not shape > 0.0:
            raise ValueError(f"shape must be > 0, got {shape}")
        q = mean / (shape + mean)
        log_q = math.log(mean) - math.log(shape + mean)
        log_p = -math.log1p(mean / shape)
        lg_shape = math.lgamma(shape)
        mode = math.floor((shape - 1.0) * mean / shape) if shape > 1.0 else 0
        var = mean + mean * mean / shape
        log_mean = 0.0
    # the ratio pmf(x + 1) / pmf(x) is written out in the loops below (a closure call per term cost more
    # than the term): mean / (x + 1) for Poisson, (x + shape) / (x + 1) * q otherwise
    sd = math.sqrt(var)
    # only near-normal distributions may fall back to the normal approximation (small skew)
    near_normal = poisson or shape > 100.0
    if k > mode:
        if poisson:
            lpk = k * log_mean - mean - math.lgamma(k + 1.0)
        else:
            lpk = math.lgamma(k + shape) - lg_shape - math.lgamma(k + 1.0) + shape * log_p + k * log_q
        limit = math.inf
        if stop_above is not None and not (near_normal and (k - 0.5 - mean) / sd < 5.0):
            # (where the normal approximation may end the sum, a partial sum bounds nothing)
            gap = stop_above - lpk
            # a relative margin far above rounding, so "clearly above" never misjudges a tail at the bar
            limit = math.exp(gap) * (1.0 + 1e-9) if gap < 700.0 else math.inf
            if 1.0 > limit:
                return lpk
        total, term, x = 1.0, 1.0, k
        if poisson:
            for _ in range(_MAX_TERMS):
                term *= mean / (x + 1.0)
                x += 1
                total += term
                if term <= total * 1e-17:
                    break
                if total > limit:
                    return lpk + math.log(total)
            else:
                z = (k - 0.5 - mean) / sd
                if z < 5.0:
                    return min(0.0, math.log(max(0.5 * math.erfc(z / math.sqrt(2.0)), 1e-300)))
                rho = mean / (x + 1.0)
                total += term * rho / (1.0 - rho)
        else:
            for _ in range(_MAX_TERMS):
                term *= (x + shape) / (x + 1.0) * q
                x += 1
                total += term
                if term <= total * 1e-17:
                    break
                if total > limit:
                    return lpk + math.log(total)
            else:
                z = (k - 0.5 - mean) / sd
                if near_normal and z < 5.0:
                    # the centre of a huge distribution: ratios stay ~1 for far more terms than worth summing
                    return min(0.0, math.log(max(0.5 * math.erfc(z / math.sqrt(2.0)), 1e-300)))
                # the ratios only fall from here (for shape < 1 they rise toward q < 1): a geometric bound,
                # slightly above the true tail, never below it
                rho = (x + shape) / (x + 1.0) * q if shape >= 1.0 else q
                total += term * rho / (1.0 - rho)
        return min(0.0, lpk + math.log(total))
    # at or below the mode the tail is large: 1 - P(X <= k - 1), the lower sum taken downward
    total, term, x = 1.0, 1.0, k - 1
    converged = False
    for _ in range(_MAX_TERMS):
        if x <= 0:
            converged = True
            break
        term /= mean / ((x - 1) + 1.0) if poisson else ((x - 1) + shape) / ((x - 1) + 1.0) * q
        x -= 1
        total += term
        if term <= total * 1e-17:
            converged = True
            break
    if converged:
        j = k - 1
        if poisson:
            lpj = j * log_mean - mean - math.lgamma(j + 1.0)
        else:
            lpj = math.lgamma(j + shape) - lg_shape - math.lgamma(j + 1.0) + shape * log_p + j * log_q
        lower = math.exp(lpj + math.log(total))
    else:
        lower = 0.5 * math.erfc((mean - (k - 0.5)) / (sd * math.sqrt(2.0)))
    return math.log1p(-lower) if lower < 1.0 else math.log(1e-300)


def nb_logpmf(k: int, mean: float, shape: float = math.inf) -> float:
    """log P(X = k) for the same distribution as :func:`nb_logsf`."""
    if k < 0:
        return -math.inf
    if not mean > 0.0:
        return 0.0 if k == 0 else -math.inf
    if not shape < _POISSON_SHAPE:
        return k * math.log(mean) - mean - math.lgamma(k + 1.0)
    return (
        math.lgamma(k + shape)
        - math.lgamma(shape)
        - math.lgamma(k + 1.0)
        - shape * math.log1p(mean / shape)
        + k * (math.log(mean) - math.log(shape + mean))
    )


def binom_logsf(k: int, n: int, p: float) -> float:
    """log P(X >= k) for X ~ Binomial(n, p), summed outwards from the log pmf like :func:`nb_logsf`."""
    if k <= 0:
        return 0.0
    if k > n or not p > 0.0:
        return -math.inf
    if not p < 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)

    def logpmf(x: int) -> float:
        return math.lgamma(n + 1.0) - math.lgamma(x + 1.0) - math.lgamma(n - x + 1.0) + x * log_p + (n - x) * log_q

    odds = p / (1.0 - p)
    mode = math.floor((n + 1) * p)
    if k > mode:
        total, term = 1.0, 1.0
        for x in range(k, n):  # ratios (n - x) / (x + 1) * odds only fall past the mode
            term *= (n - x) / (x + 1.0) * odds
            total += term
            if term <= total * 1e-17:
                break
        return min(0.0, logpmf(k) + math.log(total))
    total, term = 1.0, 1.0
    for x in range(k - 1, 0, -1):  # below the mode the terms fall going down
        term *= x / ((n - x + 1.0) * odds)
        total += term
        if term <= total * 1e-17:
            break
    lower = math.exp(logpmf(k - 1) + math.log(total))
    return math.log1p(-lower) if lower < 1.0 else math.log(1e-300)


def nb_sf(k: int, mean: float, shape: float = math.inf) -> float:
    """P(X >= k); see :func:`nb_logsf`."""
    return math.exp(nb_logsf(k, mean, shape))


# --- the seasonal baseline -----------------------------------------------------------------------------------


class Estimate(NamedTuple):
    """A per-minute rate with its uncertainty, as a gamma distribution (mean, variance)."""

    mean: float
    var: float
    level: str

    @property
    def shape(self) -> float:
        """Gamma shape of the rate = negative binomial shape of any window's count."""
        return self.mean * self.mean / self.var if self.var > 0.0 else math.inf

    def upper(self, z: float) -> float:
        """A cautious rate: mean + z standard deviations (what a drift detector should compare against)."""
        return self.mean + z * math.sqrt(self.var)


@dataclass(slots=True)
class SeasonalRates:
    """Forgetting sums for ``series`` count series that share one exposure (the same minutes are learned).

    Bounded: fixed-size arrays (168 + 24 + 1 per series, plus exposure), whatever the history.
    Stored sums are inflated by ``scale`` (true value = stored / scale); ``scale`` grows by the forgetting
    factor every minute, which decays everything learned before without touching it.
    """

    series: int
    #: False: no hour-of-week level (flat and hour of day only; 7x smaller, for thin scopes such as one
    #: channel, whose weekly profile could not be learned anyway)
    weekly: bool = True
    scale: float = 1.0
    ew: list[float] = field(default_factory=list)
    ed: list[float] = field(default_factory=lambda: [0.0] * HOURS_PER_DAY)
    ef: float = 0.0
    sw: list[list[float]] = field(default_factory=list)
    sd: list[list[float]] = field(default_factory=list)
    sf: list[float] = field(default_factory=list)
    #: relative variance between hours of day around flat, and between hours of week around their hour of
    #: day, per series; refreshed now and then by :meth:`refresh` (an O(192) pass), used by every estimate
    tau_day: list[float] = field(default_factory=list)
    tau_week: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = self.series
        if not self.sd:
            week = HOURS_PER_WEEK if self.weekly else 0
            self.ew = [0.0] * week
            self.sw = [[0.0] * week for _ in range(n)]
            self.sd = [[0.0] * HOURS_PER_DAY for _ in range(n)]
            self.sf = [0.0] * n
            self.tau_day = [_TAU2_PRIOR_DAY] * n
            self.tau_week = [_TAU2_PRIOR_WEEK] * n

    # -- learning (one call per closed minute, or per run of empty minutes) --

    def learn(self, slot: int, counts: tuple[int, ...] | list[int], growth: float) -> None:
        """One minute of slot ``slot`` with ``counts[i]`` for series i; ``growth`` = 2 ** (1 / half-life minutes)."""
        g = self.scale
        d = slot % HOURS_PER_DAY
        weekly = self.weekly
        if weekly:
            self.ew[slot] += g
        self.ed[d] += g
        self.ef += g
        for i, c in enumerate(counts):
            if c:
                v = c * g
                if weekly:
                    self.sw[i][slot] += v
                self.sd[i][d] += v
                self.sf[i] += v
        self.scale = g = g * growth
        if g > _RESCALE_AT:
            self._rescale()

    def learn_empty(self, slot: int, minutes: int, growth: float) -> None:
        """``minutes`` minutes of ``slot`` in which nothing was counted (exposure only), in O(1)."""
        if minutes <= 0:
            return
        g = self.scale
        # sum of g * growth**i for i < minutes, without the loop
        add = g * minutes if growth == 1.0 else g * math.expm1(minutes * math.log(growth)) / (growth - 1.0)
        if self.weekly:
            self.ew[slot] += add
        self.ed[slot % HOURS_PER_DAY] += add
        self.ef += add
        self.scale = g = g * growth if minutes == 1 else g * growth**minutes
        if g > _RESCALE_AT:
            self._rescale()

    def skip(self, minutes: int, growth: float) -> None:
        """Time passes without learning (minutes inside an incident): older knowledge still fades."""
        if minutes > 0:
            self._grow(growth, minutes)

    def _grow(self, growth: float, minutes: int = 1) -> None:
        self.scale *= growth if minutes == 1 else growth**minutes
        if self.scale > _RESCALE_AT:
            self._rescale()

    def _rescale(self) -> None:
        inv = 1.0 / self.scale
        self.ew = [v * inv for v in self.ew]
        self.ed = [v * inv for v in self.ed]
        self.ef *= inv
        for i in range(self.series):
            self.sw[i] = [v * inv for v in self.sw[i]]
            self.sd[i] = [v * inv for v in self.sd[i]]
            self.sf[i] *= inv
        self.scale = 1.0

    # -- estimates --

    def exposure(self) -> float:
        """Minutes learned so far (forgetting applied)."""
        return self.ef / self.scale

    def estimate(self, i: int, slot: int, prior_rate: float, prior_minutes: float) -> Estimate:
        """Per-minute rate of series ``i`` at hour-of-week ``slot``, shrunk down the hierarchy."""
        inv = 1.0 / self.scale
        a0 = prior_rate * prior_minutes
        ef = self.ef * inv
        mu_f = (a0 + self.sf[i] * inv) / (prior_minutes + ef)
        var_f = mu_f / (prior_minutes + ef)
        d = slot % HOURS_PER_DAY
        mu_d, var_d, z_d = _shrink(self.sd[i][d] * inv, self.ed[d] * inv, mu_f, var_f, self.tau_day[i])
        ed = self.ed[d] * inv
        if self.weekly:
            ew = self.ew[slot] * inv
            mu_w, var_w, z_w = _shrink(self.sw[i][slot] * inv, ew, mu_d, var_d, self.tau_week[i])
        else:
            ew, mu_w, var_w, z_w = 0.0, mu_d, var_d, 0.0
        # a level is named only when it rests on its own data *and* its parent has other data it could
        # differ from (in a brand's first week, this Monday 16:00 is all there is of 16:00)
        if z_w >= 0.5 and ed - ew >= ew:
            level = "hour_of_week"
        elif z_d >= 0.5 and ef - ed >= ed:
            level = "hour_of_day"
        elif ef >= prior_minutes:
            level = "flat"
        else:
            level = "prior"
        return Estimate(mu_w, var_w, level)

    def refresh(self, prior_rates: tuple[float, ...] | list[float], prior_minutes: float) -> None:
        """Re-estimate how much hours differ (per series): method of moments, leave-one-out parents."""
        # Sums invariant over a loop are taken out of it in the same association as written inline
        # ((a + b) - c), so every value is the same float as in the plain formula.
        inv = 1.0 / self.scale
        ef = self.ef * inv
        ed = [v * inv for v in self.ed]
        ew = [v * inv for v in self.ew]
        pm_ef = prior_minutes + ef
        pm_ed = [prior_minutes + e for e in ed]
        for i in range(self.series):
            a0 = prior_rates[i] * prior_minutes
            sf = self.sf[i] * inv
            sd = [v * inv for v in self.sd[i]]
            mu_f = (a0 + sf) / pm_ef
            a0_sf = a0 + sf
            # hours of day around the flat rate of all other hours
            num = den = n_obs = 0.0
            for e, s in zip(ed, sd, strict=True):
                if e <= 0.0:
                    continue
                rest = pm_ef - e
                m = (a0_sf - s) / rest
                if m <= 0.0:
                    continue
                dev = s / e - m
                num += e * dev * dev - m * (1.0 + e / rest)
                den += e * m * m
                r = e / _FULL_SLOT_MINUTES
                n_obs += r if r < 1.0 else 1.0
            self.tau_day[i] = _blend(num, den, n_obs, _TAU2_PRIOR_DAY)
            if not self.weekly:
                continue
            # hours of week around the same hour on the other days
            pm_mu = prior_minutes * mu_f
            pm_mu_sd = [pm_mu + s for s in sd]
            num = den = n_obs = 0.0
            for e, raw, d in zip(ew, self.sw[i], _DAY_OF_SLOT, strict=True):
                if e <= 0.0:
                    continue
                s = raw * inv
                rest = pm_ed[d] - e
                m = (pm_mu_sd[d] - s) / rest
                if m <= 0.0:
                    continue
                dev = s / e - m
                num += e * dev * dev - m * (1.0 + e / rest)
                den += e * m * m
                # only hours whose weekday twin has other data say anything about weekly differences
                # (min(1, a, b) written out: the same comparisons, the same float)
                r = 1.0
                a = e / _FULL_SLOT_MINUTES
                if a < r:
                    r = a
                b = (ed[d] - e) / _FULL_SLOT_MINUTES
                if b < r:
                    r = b
                n_obs += r
            self.tau_week[i] = _blend(num, den, n_obs, _TAU2_PRIOR_WEEK)

    # -- state --

    def to_json(self) -> list[Any]:
        """``[series, weekly, runs, doubles]``, exact and compact.

        ``doubles`` is base64 of the nonzero values as little-endian IEEE 754 doubles, in the order
        scale, ef, sf[series], tau_day[series], tau_week[series], ed[24], sd[series][24], ew[168], sw[series][168]
        (no ew/sw for a daily-only baseline). ``runs`` gives the lengths of alternating runs of nonzero and
        zero values in that order, starting with a (possibly empty) nonzero run; empty when nothing is zero.
        Every float comes back bit for bit, so a loaded baseline gives the same estimates; a young baseline,
        whose unseen hours are zeros, stays small (base64 costs 10.7 characters a double, a decimal float ~19).
        """
        values = [self.scale, self.ef, *self.sf, *self.tau_day, *self.tau_week, *self.ed]
        for row in self.sd:
            values += row
        values += self.ew
        for row in self.sw:
            values += row
        runs: list[int] = []
        if 0.0 in values:
            nonzero: list[float] = []
            for is_set, group in groupby(values, bool):
                run = list(group)
                if is_set:
                    nonzero += run
                elif not runs:
                    runs.append(0)  # the runs start with a nonzero one
                runs.append(len(run))
            values = nonzero
        packed = array("d", values)
        if _BIG_ENDIAN:
            packed.byteswap()
        return [self.series, self.weekly, runs, b64encode(packed.tobytes()).decode("ascii")]

    @classmethod
    def from_json(cls, d: list[Any]) -> SeasonalRates:
        """Inverse of :meth:`to_json`; ValueError for anything it could not have written."""
        try:
            series, weekly, runs, text = d
            n, weekly = int(series), bool(weekly)
            packed = array("d")
            packed.frombytes(b64decode(text, validate=True))
        except (TypeError, ValueError) as exc:  # binascii.Error is a ValueError
            raise ValueError(f"seasonal baseline: not a dumped baseline ({exc})") from None
        if n < 1:
            raise ValueError(f"seasonal baseline: {n} series")
        if _BIG_ENDIAN:
            packed.byteswap()
        values = packed.tolist()
        if runs:
            if not (isinstance(runs, list) and set(map(type, runs)) <= {int} and min(runs) >= 0):
                raise ValueError("seasonal baseline: bad zero runs")
            nonzero, values, at, is_set = values, [], 0, True
            for run in runs:
                if is_set:
                    values += nonzero[at : at + run]
                    at += run
                else:
                    values += [0.0] * run
                is_set = not is_set
            if at != len(nonzero):
                raise ValueError("seasonal baseline: zero runs do not match the values")
        week = HOURS_PER_WEEK if weekly else 0
        if len(values) != 2 + 3 * n + (HOURS_PER_DAY + week) * (n + 1):
            raise ValueError("seasonal baseline: arrays of the wrong length")
        scale, ef = values[0], values[1]
        if not scale > 0.0:
            raise ValueError(f"seasonal baseline: scale {scale}")
        at = 2 + 3 * n
        ed = values[at : at + HOURS_PER_DAY]
        at += HOURS_PER_DAY
        sd = [values[at + i * HOURS_PER_DAY : at + (i + 1) * HOURS_PER_DAY] for i in range(n)]
        at += n * HOURS_PER_DAY
        ew = values[at : at + week]
        at += week
        sw = [values[at + i * week : at + (i + 1) * week] for i in range(n)]
        return cls(
            series=n,
            weekly=weekly,
            scale=scale,
            ew=ew,
            ed=ed,
            ef=ef,
            sw=sw,
            sd=sd,
            sf=values[2 : 2 + n],
            tau_day=values[2 + n : 2 + 2 * n],
            tau_week=values[2 + 2 * n : 2 + 3 * n],
        )


def _shrink(s: float, e: float, mu_parent: float, var_parent: float, tau2: float) -> tuple[float, float, float]:
    """Credibility-weighted rate of one slot: (mean, variance, weight of the slot's own data)."""
    spread = mu_parent * tau2
    k = max(_K_MIN_MINUTES, 1.0 / spread) if spread > 0.0 else _K_INFINITE
    mu = (s + k * mu_parent) / (e + k)
    z = e / (e + k)
    # what the slot's own data leave open, plus what the parent itself does not know
    var = mu / (e + k) + (1.0 - z) * (1.0 - z) * var_parent
    return mu, var, z


def _blend(num: float, den: float, n_obs: float, prior: float) -> float:
    est = min(_TAU2_MAX, max(0.0, num / den)) if den > 0.0 else 0.0
    return (n_obs * est + _TAU2_PRIOR_SLOTS * prior) / (n_obs + _TAU2_PRIOR_SLOTS)
