"""Send a simulated scenario's mentions to ``mentions.raw``, as the ingest worker would send an export.

``python -m devtools.feed [--scenario demo] [--seed N] [--weeks W] [--start ISO|now] [--live | --speed X]
[--limit N] [--brands-out brands.yaml]``

The events are the simulation world's (:mod:`simulation.scenarios`): each
``ScoredMention.mention`` of the scenario's stream, as a platform would report it;
the sentiment worker scores them again with the real model. They go through the
ingest worker's own loop (:func:`services.ingest.main.run_source`: the same
batching, metrics, signals and exit codes as ``repwatch ingest file``), so this is
ingest with a simulated source, kept out of ``services/`` because a production
service does not import the simulation.

Pacing: ``--live`` sends each event when the wall clock reaches its ``occurred_at``
(a backlog dated in the past goes at once): what ``make run`` uses, with ``--start
now``. ``--speed X`` replays event time X times faster from the first event, ``0``
as fast as possible (the pipeline tests). ``--brands-out`` writes the brands file the
scenario implies (its owned channels and per-brand detector settings) for the
alerting worker's ``REPWATCH_BRANDS_FILE``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

import yaml

from services.ingest.main import run_source
from services.ingest.pacing import Pacer, UntilDue
from services.ingest.settings import IngestSettings
from shared.runtime import main_guard
from shared.schemas import MentionEvent
from simulation.scenarios import SCENARIOS, Scenario, build_scenario


def mention_events(scenario: Scenario) -> Iterator[MentionEvent]:
    """The scenario's events as sources report them: the world's mentions without its sentiment."""
    for scored in scenario.stream():
        yield scored.mention


def write_brands_file(scenario: Scenario, path: Path) -> Path:
    data = scenario.brands_file().model_dump(mode="json", exclude_defaults=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=True), encoding="utf-8")
    return path


def _start_arg(text: str) -> datetime:
    if text == "now":
        return datetime.now(timezone.utc)
    try:
        ts = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if ts.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no timezone (add Z or +03:00)")
    return ts


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m devtools.feed", description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default="demo", choices=sorted(SCENARIOS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weeks", type=float, default=None, help="length of the scenario (default: its own)")
    p.add_argument(
        "--start",
        type=_start_arg,
        default=None,
        help="demo only: when its live part begins, ISO 8601 with zone or 'now' (default: a fixed date); "
        "the same start and seed give the same event ids",
    )
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--live", action="store_true", help="send each event when the wall clock reaches it")
    pace.add_argument("--speed", type=float, default=0.0, help="event time per wall second (0: as fast as possible)")
    p.add_argument("--limit", type=int, help="stop after this many events")
    p.add_argument("--brands-out", type=Path, help="also write the scenario's brands file here")
    return p


def run(args: argparse.Namespace) -> int:
    try:
        scenario = build_scenario(args.scenario, seed=args.seed, weeks=args.weeks, start=args.start)
    except ValueError as exc:
        print(f"feed: {exc}", file=sys.stderr)
        return 1
    if args.brands_out is not None:
        write_brands_file(scenario, args.brands_out)
    if args.live:
        pacer: Pacer | UntilDue = UntilDue(now=lambda: datetime.now(timezone.utc))
    else:
        pacer = Pacer(rate=None, speed=args.speed, clock=time.monotonic)
    source = f"simulation:{scenario.name}:seed={scenario.seed}"
    return run_source(IngestSettings(), mention_events(scenario), source, pacer, args.limit)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    return main_guard(lambda: run(parser.parse_args(argv)))


if __name__ == "__main__":
    from shared.startup import exit_cleanly_on_early_signals

    exit_cleanly_on_early_signals()
    sys.exit(main())
