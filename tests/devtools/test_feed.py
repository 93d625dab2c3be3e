"""``python -m devtools.feed``: a simulated scenario as a source of MentionEvents, and its brands file."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

from devtools.feed import build_parser, mention_events, write_brands_file
from services.alerting.engine import AlertEngine
from services.alerting.settings import AlertingSettings
from shared.brands import load_brands
from shared.schemas import MentionEvent
from simulation.scenarios import build_scenario

START = datetime(2026, 5, 14, 18, 0, tzinfo=timezone.utc)


def test_events_are_the_worlds_mentions_without_sentiment():
    scenario = build_scenario("demo", start=START, weeks=0.001)
    events = list(itertools.islice(mention_events(scenario), 500))
    scored = list(itertools.islice(build_scenario("demo", start=START, weeks=0.001).stream(), 500))
    assert all(isinstance(e, MentionEvent) for e in events)
    assert [e.to_bytes() for e in events] == [s.mention.to_bytes() for s in scored]


def test_the_brands_file_round_trips_and_builds_the_engine(tmp_path):
    scenario = build_scenario("demo", start=START)
    path = write_brands_file(scenario, tmp_path / "brands.yaml")
    loaded = load_brands(path)
    assert loaded == scenario.brands_file()
    AlertEngine.build(AlertingSettings(), loaded, {})


def test_arguments():
    args = build_parser().parse_args(["--start", "now", "--live"])
    assert args.scenario == "demo" and args.live and args.start.tzinfo is not None
    args = build_parser().parse_args(["--scenario", "smoke", "--speed", "0", "--limit", "10"])
    assert args.speed == 0 and args.limit == 10 and args.start is None
