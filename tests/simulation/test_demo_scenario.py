"""The ``demo`` scenario (``make run``): every kind of alert fires, on the staged incidents, and the episodes resolve.

Fast and without Kafka: the scenario's events go through the alerting engine as
``repwatch backtest`` runs it (same engine, same brands file with the demo's
per-brand settings), with the world's own sentiment. That the real pipeline
shows the same on screen is ``tests/services/test_demo.py`` (real broker).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from services.alerting.backtest import run_backtest
from services.alerting.engine import AlertEngine, IdlePolicy
from services.alerting.settings import AlertingSettings
from shared.schemas import Alert, AlertKind, AlertStatus
from simulation.incidents import Expect
from simulation.scenarios import DEMO_DETECTORS, DEMO_TIMETABLE, build_scenario

LIVE = datetime(2026, 5, 14, 18, 7, 31, tzinfo=timezone.utc)
HISTORY = timedelta(minutes=15)
#: the backlog, the timetable and twenty minutes more: every episode has ended by then
WEEKS = 40 / (60 * 24 * 7)
#: kinds whose incidents are over within the demo, so their alerts must resolve too (a removal
#: pattern stays in the day's window: deletion_bias keeps firing)
EPISODES = set(AlertKind) - {AlertKind.DELETION_BIAS}


@pytest.fixture(scope="module")
def demo():
    scenario = build_scenario("demo", seed=0, weeks=WEEKS, start=LIVE)
    run = scenario.run()
    engine = AlertEngine.build(AlertingSettings(), scenario.brands_file(), {})
    alerts = [
        a
        for a in run_backtest(run.stream(), engine, IdlePolicy(delay=timedelta(seconds=30)), drain=timedelta(hours=2))
        if isinstance(a, Alert)
    ]
    return scenario, run, alerts


def test_the_live_part_begins_at_start_after_a_backlog_and_brands_live_in_the_afternoon():
    scenario = build_scenario("demo", start=LIVE)
    assert scenario.start == LIVE - HISTORY
    for b in scenario.brands:
        assert 13 <= LIVE.astimezone(ZoneInfo(b.timezone)).hour < 14
    assert set(DEMO_TIMETABLE) == {k.value for k in AlertKind}
    assert max(DEMO_TIMETABLE.values()) <= 4  # every incident begins within the first four minutes


def test_every_kind_fires_and_every_episode_resolves(demo):
    _, _, alerts = demo
    fired = {a.kind for a in alerts if a.status is AlertStatus.FIRING}
    assert fired == set(AlertKind)
    resolved = {a.kind for a in alerts if a.status is AlertStatus.RESOLVED}
    assert EPISODES <= resolved


def test_nothing_fires_in_the_backlog_and_each_kind_first_fires_on_its_staged_incident(demo):
    scenario, run, alerts = demo
    first: dict[AlertKind, Alert] = {}
    for a in alerts:
        if a.status is AlertStatus.FIRING:
            first.setdefault(a.kind, a)
    staged = {inc.kind: inc for inc in scenario.incidents}
    for kind, alert in first.items():
        inc = staged[kind]
        begins = scenario.start + inc.at
        assert alert.window_end >= LIVE, (kind, alert.message)
        if kind is AlertKind.UNANSWERED_COMPLAINT:
            # the first complaints to wait are those in the channel the brand abandoned (silent_community)
            assert alert.brand in {inc.brand, staged[AlertKind.SILENT_COMMUNITY].brand}
        else:
            assert alert.brand == inc.brand and alert.window_end >= begins, (kind, alert.message)


def test_every_required_label_is_caught_by_an_alert_of_its_kind(demo):
    _, run, alerts = demo
    by_kind = defaultdict(list)
    for a in alerts:
        if a.status is AlertStatus.FIRING:
            by_kind[(a.kind, a.brand)].append(a)
    required = [lab for lab in run.labels if lab.expect is Expect.ALERT]
    assert {lab.kind for lab in required} == set(AlertKind)
    for lab in required:
        hits = [
            a
            for a in by_kind[(lab.kind, lab.brand)]
            if (lab.channel is None or a.channel == lab.channel)
            and a.window_end >= lab.start
            and (not lab.mention_ids or set(lab.mention_ids) & set(a.evidence.mention_ids) or lab.channel is None)
        ]
        assert hits, lab


def test_normal_traffic_alone_raises_nothing():
    """The demo's settings are tight (minutes, not hours), but not so tight that a brand at work
    looks like an incident: the same world without its incidents raises no alert."""
    scenario = replace(build_scenario("demo", seed=0, weeks=WEEKS, start=LIVE), incidents=())
    engine = AlertEngine.build(AlertingSettings(), scenario.brands_file(), {})
    run = scenario.run()
    alerts = run_backtest(run.stream(), engine, IdlePolicy(delay=timedelta(seconds=30)), drain=timedelta(0))
    assert [a.message for a in alerts if isinstance(a, Alert)] == []


def test_the_brands_file_carries_the_demo_settings_and_every_owned_channel():
    bf = build_scenario("demo", start=LIVE).brands_file()
    assert set(bf.brands) == set(DEMO_DETECTORS)
    for name, cfg in bf.brands.items():
        assert cfg.detectors == DEMO_DETECTORS[name]
        assert cfg.owned_channels
    assert AlertEngine.build(AlertingSettings(), bf, {})  # every setting is a valid one


def test_the_stream_is_the_same_whenever_the_demo_starts():
    def shape(start: datetime) -> list[tuple[str, float, str]]:
        sc = build_scenario("demo", weeks=25 / (60 * 24 * 7), start=start)
        return [
            (s.mention.event_type.value, (s.mention.occurred_at - start).total_seconds(), s.mention.text)
            for s in sc.stream()
        ]

    a = shape(LIVE)
    assert a == shape(LIVE + timedelta(hours=7, minutes=13, seconds=5))
    assert len(a) > 1000


def test_demo_writes_in_english_and_russian():
    sc = build_scenario("demo", weeks=20 / (60 * 24 * 7), start=LIVE)
    langs = {s.mention.lang for s in sc.stream() if s.mention.text}
    assert {"en", "ru"} <= langs


def test_only_demo_takes_a_start():
    with pytest.raises(ValueError, match="only 'demo'"):
        build_scenario("default", start=LIVE)
    with pytest.raises(ValueError, match="timezone"):
        build_scenario("demo", start=datetime(2026, 1, 1))  # noqa: DTZ001
