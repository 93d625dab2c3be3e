"""The seasonal gamma-Poisson baseline and the negative binomial tail (pure statistics, no detector)."""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timezone

import pytest

from services.alerting.baseline import (
    HOURS_PER_WEEK,
    SeasonalRates,
    binom_logsf,
    epoch_minute,
    local_slot,
    minute_start,
    nb_logpmf,
    nb_logsf,
    nb_sf,
)

GROWTH_3W = 2.0 ** (1.0 / (21 * 1440))


def poisson_tail(k: int, mean: float) -> float:
    """Reference: direct sum of pmf terms, each from lgamma (independent of the ratio recurrence)."""
    if k <= mean:
        return 1.0 - sum(math.exp(x * math.log(mean) - mean - math.lgamma(x + 1)) for x in range(k))
    return sum(math.exp(x * math.log(mean) - mean - math.lgamma(x + 1)) for x in range(k, k + 5000))


def binomial_upper(n: int, p: float, k: int) -> float:
    """P(Bin(n, p) >= k), exact in integers + floats (for the NB identity)."""
    return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))


# --- the tail ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "mean"),
    [(50, 25.0), (3, 0.167), (4, 0.167), (10, 2.0), (1, 1.0), (30, 10.0), (200, 100.0), (5, 30.0), (40, 40.0)],
)
def test_poisson_tail_matches_direct_summation(k, mean):
    assert nb_sf(k, mean) == pytest.approx(poisson_tail(k, mean), rel=1e-9)


@pytest.mark.parametrize(("r", "q", "k"), [(1, 0.5, 5), (3, 0.6, 10), (5, 0.2, 4), (10, 0.9, 120), (2, 0.05, 3)])
def test_negative_binomial_tail_matches_the_binomial_identity(r, q, k):
    # failures before the r-th success >= k  <=>  at least k failures in the first k + r - 1 trials
    mean = r * q / (1 - q)
    assert nb_sf(k, mean, float(r)) == pytest.approx(binomial_upper(k + r - 1, q, k), rel=1e-9)


def test_geometric_tail_is_closed_form():
    mean = 3.0
    q = mean / (1 + mean)
    for k in (1, 7, 50, 400):
        assert nb_sf(k, mean, 1.0) == pytest.approx(q**k, rel=1e-10)


def test_fractional_shape_tail_against_direct_summation():
    mean, shape = 2.0, 0.5
    q = mean / (shape + mean)

    def pmf(x):
        return math.exp(
            math.lgamma(x + shape) - math.lgamma(shape) - math.lgamma(x + 1) + shape * math.log(1 - q) + x * math.log(q)
        )

    for k in (1, 5, 30):
        direct = sum(pmf(x) for x in range(k, k + 20000))
        assert nb_sf(k, mean, shape) == pytest.approx(direct, rel=1e-8)
        assert math.exp(nb_logpmf(k, mean, shape)) == pytest.approx(pmf(k), rel=1e-12)


def test_tail_is_accurate_far_out_where_plain_summation_underflows():
    # P(Pois(1) >= 200) ~ 1e-375 is below double range: the log stays exact
    expected = 200 * math.log(1.0) - 1.0 - math.lgamma(201) + math.log(1 + 1 / 201 + 1 / (201 * 202))
    assert nb_logsf(200, 1.0) == pytest.approx(expected, rel=1e-9)
    assert nb_sf(200, 1.0) == 0.0


def test_negative_binomial_is_wider_than_poisson_and_tends_to_it():
    assert nb_sf(40, 20.0, 5.0) > nb_sf(40, 20.0, 500.0) > nb_sf(40, 20.0)
    assert nb_sf(40, 20.0, 1e9) == pytest.approx(nb_sf(40, 20.0), rel=1e-4)
    assert nb_sf(40, 20.0, 1e12) == nb_sf(40, 20.0)  # past the Poisson switch


@pytest.mark.parametrize(
    ("k", "mean", "shape"),
    [
        (10**6, 1e6, math.inf),
        (10**12 + 10**6, 1e12, math.inf),
        (10**9, 1e3, 5.0),
        (2 * 10**6, 1e6, 2.0),
        (10**6, 1e6, 2.0),
        (5 * 10**5, 1e6, 2.0),
        (10**15, 1.0, math.inf),
        (3, 1e-300, math.inf),
        (10**7, 1.01e7, 1e9),
        (10**6, 1e6, 0.3),
    ],
)
def test_tail_never_returns_garbage_for_huge_counts(k, mean, shape):
    v = nb_logsf(k, mean, shape)
    assert math.isfinite(v) or v == -math.inf
    assert v <= 0.0


def test_tail_of_huge_distributions_is_close_where_it_can_be_checked():
    # Poisson(1e12) one sd above the mean: ~0.1587 (normal limit)
    assert math.exp(nb_logsf(10**12 + 10**6, 1e12)) == pytest.approx(0.1587, abs=2e-3)
    # Gamma(2) tail for NB with shape 2 and a huge mean: P(X >= 2 mean) -> 5 e^-4 = 0.0916 (the bound is close)
    assert math.exp(nb_logsf(2 * 10**6, 1e6, 2.0)) == pytest.approx(0.0916, rel=0.1)


def test_tail_is_monotone_in_k_and_edge_cases():
    vals = [nb_logsf(k, 12.0, 7.0) for k in range(0, 80)]
    assert all(a >= b for a, b in zip(vals, vals[1:], strict=False))
    assert nb_logsf(0, 5.0) == 0.0 and nb_logsf(-3, 5.0) == 0.0
    assert nb_logsf(1, 0.0) == -math.inf
    assert nb_sf(1, math.inf) == 1.0
    with pytest.raises(ValueError):
        nb_logsf(3, 1.0, -1.0)


@pytest.mark.parametrize(
    ("k", "n", "p"),
    [(4, 4, 0.5), (3, 10, 0.2), (42, 90, 0.2), (1, 1, 0.3), (5, 100, 0.05), (50, 100, 0.5), (30, 40, 0.9)],
)
def test_binomial_tail_matches_exact_sums(k, n, p):
    assert math.exp(binom_logsf(k, n, p)) == pytest.approx(binomial_upper(n, p, k), rel=1e-9)


def test_binomial_tail_edges():
    assert binom_logsf(0, 10, 0.3) == 0.0
    assert binom_logsf(11, 10, 0.3) == -math.inf
    assert binom_logsf(3, 10, 0.0) == -math.inf
    assert binom_logsf(3, 10, 1.0) == 0.0
    assert math.isfinite(binom_logsf(5000, 10_000, 0.2)) and binom_logsf(5000, 10_000, 0.2) < -1000


# --- time ----------------------------------------------------------------------------------------------------


def test_local_slot_follows_the_brand_time_zone_and_dst():
    monday_noon_utc = epoch_minute(datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc))
    assert local_slot(monday_noon_utc, "UTC") == (12, monday_noon_utc)
    # Moscow is UTC+3 all year: Monday 15:00
    assert local_slot(monday_noon_utc, "Europe/Moscow")[0] == 15
    # Sunday 23:30 UTC is Monday 02:30 in Moscow: hour of week 2, its local hour began at 23:00 UTC
    m = epoch_minute(datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc))
    assert local_slot(m, "Europe/Moscow") == (2, m - 30)
    # Berlin: 12:00 UTC is 13:00 in winter, 14:00 in summer (DST from 2026-03-29)
    winter = epoch_minute(datetime(2026, 3, 27, 12, 0, tzinfo=timezone.utc))  # Friday
    summer = epoch_minute(datetime(2026, 4, 3, 12, 0, tzinfo=timezone.utc))  # Friday
    assert local_slot(winter, "Europe/Berlin")[0] == 4 * 24 + 13
    assert local_slot(summer, "Europe/Berlin")[0] == 4 * 24 + 14
    # half-hour zones: 12:00 UTC is 17:30 in Kolkata, the local hour began at 11:30 UTC
    assert local_slot(monday_noon_utc, "Asia/Kolkata") == (17, monday_noon_utc - 30)
    assert minute_start(monday_noon_utc) == datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


# --- the seasonal rates --------------------------------------------------------------------------------------


def learn_days(rates: SeasonalRates, days: int, rate_of, rng: random.Random, growth: float = GROWTH_3W) -> None:
    """Learn ``days`` of minutes where series 0 is Poisson(rate_of(hour_of_week)) and series 1 is 4x that."""
    for minute in range(days * 1440):
        slot = (minute // 60) % HOURS_PER_WEEK
        lam = rate_of(slot)
        x = _poisson(rng, lam)
        rates.learn(slot, (x, x + _poisson(rng, 3 * lam)), growth)
    rates.refresh((0.2, 1.0), 10.0)


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method is fine for the small rates used here
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def daily(slot: int) -> float:
    hour = slot % 24
    return 2.0 * (1 + 0.6 * math.sin(2 * math.pi * (hour - 10) / 24))


def weekly(slot: int) -> float:
    return daily(slot) * (0.4 if slot >= 5 * 24 else 1.0)  # quiet weekends


def test_cold_start_is_the_prior():
    rates = SeasonalRates(2)
    est = rates.estimate(0, 10, 0.2, 10.0)
    assert est.level == "prior"
    assert est.mean == pytest.approx(0.2)
    # a weak prior: its variance is that of a gamma with 2 pseudo-counts
    assert est.var == pytest.approx(0.2 / 10.0 * (1 + 2 * 0.1), rel=0.5)


def test_one_day_learns_the_daily_profile_and_says_so():
    rates = SeasonalRates(2)
    learn_days(rates, 1, daily, random.Random(1))
    peak, trough = rates.estimate(0, 16, 0.2, 10.0), rates.estimate(0, 4, 0.2, 10.0)
    assert peak.level == "hour_of_day"
    assert peak.mean == pytest.approx(daily(16), rel=0.2)
    assert trough.mean == pytest.approx(daily(4), rel=0.35)
    # the series of all authors learns its own rate from the same minutes
    assert rates.estimate(1, 16, 1.0, 10.0).mean == pytest.approx(4 * daily(16), rel=0.2)
    # next Monday's hour has no data of its own yet: it leans on the hour of day
    assert rates.estimate(0, 16 + 24, 0.2, 10.0).level == "hour_of_day"


def test_weeks_learn_the_weekly_profile_and_shrinkage_fades():
    rates = SeasonalRates(2)
    learn_days(rates, 21, weekly, random.Random(2))
    saturday, tuesday = 5 * 24 + 16, 24 + 16
    est_sat, est_tue = rates.estimate(0, saturday, 0.2, 10.0), rates.estimate(0, tuesday, 0.2, 10.0)
    assert est_sat.level == est_tue.level == "hour_of_week"
    assert est_sat.mean == pytest.approx(weekly(saturday), rel=0.15)
    assert est_tue.mean == pytest.approx(weekly(tuesday), rel=0.15)
    # three weeks of data: the predictive is close to Poisson (shape in the hundreds)
    assert est_tue.shape > 100


def test_a_flat_brand_learns_no_seasonality():
    rates = SeasonalRates(2)
    learn_days(rates, 14, lambda _slot: 1.0, random.Random(3))
    assert rates.tau_day[0] < 0.02 and rates.tau_week[0] < 0.02
    est = rates.estimate(0, 77, 0.2, 10.0)
    assert est.mean == pytest.approx(1.0, rel=0.05)
    assert est.level in ("flat", "hour_of_day")


def test_a_small_brand_leans_on_coarser_levels():
    # 2 complaints an hour: an hour of week has seen ~4 complaints in two weeks, far too few to trust alone
    rates = SeasonalRates(2)
    learn_days(rates, 14, lambda s: daily(s) / 60.0, random.Random(4))
    est = rates.estimate(0, 16, 0.2, 10.0)
    assert est.level in ("flat", "hour_of_day")
    assert est.mean == pytest.approx(daily(16) / 60, rel=0.5)


def test_forgetting_halves_old_knowledge_per_half_life():
    growth = 2.0 ** (1.0 / 1440)  # one-day half-life
    rates = SeasonalRates(1)
    for m in range(1440):
        rates.learn(m // 60, (1,), growth)
    e0 = rates.exposure()
    rates.skip(1440, growth)  # a day inside an incident: nothing learned, old data fade
    assert rates.exposure() == pytest.approx(e0 / 2, rel=1e-9)
    rates.learn_empty(0, 1440, growth)  # a quiet day: exposure without counts lowers the rate
    # (the old half fades by half again; the new day adds what the first one added)
    assert rates.exposure() == pytest.approx(e0 / 4 + e0, rel=1e-6)
    assert rates.estimate(0, 5, 0.2, 10.0).mean < 0.5


def test_learn_empty_equals_minute_by_minute_learning():
    a, b = SeasonalRates(2), SeasonalRates(2)
    for _ in range(97):
        a.learn(30, (0, 0), GROWTH_3W)
    b.learn_empty(30, 97, GROWTH_3W)
    assert a.scale == pytest.approx(b.scale, rel=1e-12)
    assert a.ew[30] == pytest.approx(b.ew[30], rel=1e-12)
    assert a.ef == pytest.approx(b.ef, rel=1e-12)


def test_rescaling_keeps_estimates():
    growth = 2.0 ** (1.0 / 30)  # half-life of 30 minutes: the scale overflows the rescale bound quickly
    rates = SeasonalRates(1)
    rng = random.Random(5)
    for m in range(30 * 400):
        rates.learn((m // 60) % HOURS_PER_WEEK, (_poisson(rng, 3.0),), growth)
    assert rates.scale < 1e100
    # with a 30-minute memory only the last hour or so counts, against the prior's 10 minutes
    ef = rates.exposure()
    assert 30 < ef < 60
    est = rates.estimate(0, 5, 0.2, 10.0)
    assert math.isfinite(est.mean) and est.mean == pytest.approx((2.0 + 3.0 * ef) / (10.0 + ef), rel=0.3)


def test_json_round_trip_is_exact_and_checked():
    rates = SeasonalRates(2)
    learn_days(rates, 3, weekly, random.Random(6))
    back = SeasonalRates.from_json(json.loads(json.dumps(rates.to_json())))
    for slot in (0, 16, 77, 130):
        assert back.estimate(0, slot, 0.2, 10.0) == rates.estimate(0, slot, 0.2, 10.0)
        assert back.estimate(1, slot, 1.0, 10.0) == rates.estimate(1, slot, 1.0, 10.0)
    # compact: base64 of the doubles, not decimal text
    assert len(json.dumps(rates.to_json())) < 11 * (2 + 3 * 2 + 25 * 3 + 168 * 3)
    series, weekly_flag, runs, doubles = rates.to_json()
    for broken in (
        [series, weekly_flag, runs, doubles[:-8]],  # values cut short
        [series, False, runs, doubles],  # a weekly baseline read as daily-only
        [series, weekly_flag, [*runs, 3], doubles],  # zero runs that do not fit the values
        [series, weekly_flag, runs, "not base64!"],
        {"series": 2},
    ):
        with pytest.raises(ValueError):
            SeasonalRates.from_json(broken)  # type: ignore[arg-type]
    # unseen hours are zeros: a young baseline dumps little more than what it has seen
    young = SeasonalRates(2)
    young.learn(16, (1, 3), 2.0 ** (1 / 1440))
    assert len(json.dumps(young.to_json())) < 250
    back = SeasonalRates.from_json(json.loads(json.dumps(young.to_json())))
    assert back.estimate(0, 16, 0.2, 10.0) == young.estimate(0, 16, 0.2, 10.0)
    assert back.sw == young.sw and back.ew == young.ew and back.scale == young.scale


def test_a_daily_only_baseline_is_small_and_never_claims_the_hour_of_week():
    rates = SeasonalRates(2, weekly=False)
    learn_days(rates, 21, weekly, random.Random(7))
    est = rates.estimate(0, 5 * 24 + 16, 0.2, 10.0)
    assert est.level == "hour_of_day"
    # Saturday and Tuesday share one 16:00 slot: it learns their blend
    blend = (5 * weekly(24 + 16) + 2 * weekly(5 * 24 + 16)) / 7
    assert est.mean == pytest.approx(blend, rel=0.15)
    data = rates.to_json()
    # no hour-of-week arrays: 2 + 3 x 2 + 24 x 3 doubles, against 584 for a weekly baseline
    assert len(json.dumps(data)) < 11 * 80 + 40
    back = SeasonalRates.from_json(json.loads(json.dumps(data)))
    assert back.estimate(0, 16, 0.2, 10.0) == rates.estimate(0, 16, 0.2, 10.0)
