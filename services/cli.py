"""The ``repwatch`` command: one entry point for every worker and tool.

Subcommands import their service lazily, so ``repwatch broker status`` does not
pay for importing torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from shared.durations import parse_duration


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _timestamp(text: str) -> datetime:
    try:
        ts = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if ts.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no timezone (add Z or +03:00)")
    return ts


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="repwatch", description="RepWatch reputation-monitoring pipeline")
    sub = p.add_subparsers(dest="command", required=True)

    from services.ingest.main import add_arguments as add_ingest_arguments

    add_ingest_arguments(sub.add_parser("ingest", help="send mentions to mentions.raw"))

    sub.add_parser(
        "poll",
        help="poll RSS/Atom feeds, YouTube, VK and Instagram (REPWATCH_POLL_SOURCES_FILE) into mentions.raw, "
        "and reconcile deletions",
    )
    sub.add_parser(
        "receive",
        help="run the webhook receiver (VK, Facebook/Instagram, Telegram, signed generic pushes -> mentions.raw)",
        description="One HTTP server for every push connector at /hooks/<platform> on REPWATCH_RECEIVER_PORT; "
        "a platform is served when its credentials are set (see the README's Webhook receiver section).",
    )
    sub.add_parser("sentiment", help="run the sentiment worker (mentions.raw -> mentions.scored)")
    sub.add_parser("alerting", help="run the alerting worker (mentions.scored -> alerts)")
    sub.add_parser(
        "notifier", help="run the notifier worker (alerts -> Alertmanager, Telegram, Slack, e-mail, webhooks)"
    )
    nt = sub.add_parser("notify-test", help="send a test message to every receiver of a route (REPWATCH_ROUTES_FILE)")
    nt.add_argument("--route", required=True, help="route name in the routes file")

    bt = sub.add_parser(
        "backtest",
        help="run the alerting detectors over a JSONL export in event time (no Kafka)",
        description="Runs the same detectors as the alerting worker, built from the same settings "
        "(REPWATCH_* and REPWATCH_BRANDS_FILE), over ScoredMention JSONL (as on mentions.scored) or "
        "MentionEvent JSONL (scored with the configured model first). Deterministic.",
    )
    bt.add_argument("input", type=Path)
    bt.add_argument("--out", type=Path, help="write Alert JSONL here (exactly as on the alerts topic)")
    bt.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a detector setting, e.g. negativity_spike.p_value=1e-5 (repeatable)",
    )
    bt.add_argument("--drain", type=_duration, default=timedelta(days=30), help="event time run on after the input")

    sc = sub.add_parser("score", help="score texts: plain lines or JSONL in, JSONL out")
    sc.add_argument("input", nargs="?", default="-", help="file of texts (default: stdin)")
    sc.add_argument("--model", help="hub id or directory (default: REPWATCH_SENTIMENT_MODEL, else the built default)")
    sc.add_argument("--text-field", default="text", help="JSONL field holding the text")

    b = sub.add_parser("broker", help="the embedded single-node Kafka broker")
    b.add_argument("action", choices=["start", "stop", "status"])

    d = sub.add_parser(
        "demo", help="broker + workers + a simulated stream staging every kind of incident, with a live view (make run)"
    )
    d.add_argument("--duration", type=_duration, help="stop after this long (default: until Ctrl-C)")
    d.add_argument("--seed", type=int, default=0, help="seed of the simulated world")
    d.add_argument(
        "--observe", action="store_true", help="also Prometheus (with the rules) and Alertmanager (make observe)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("ingest", "poll", "receive", "sentiment", "alerting", "notifier"):
        from shared.startup import exit_cleanly_on_early_signals

        exit_cleanly_on_early_signals()  # until the worker installs its own handlers
    if args.command == "ingest":
        from services.ingest.main import run_args

        return run_args(args)
    if args.command == "poll":
        from services.ingest.poll_main import main as poll_main

        return poll_main()
    if args.command == "receive":
        from services.ingest.receiver_main import main as receiver_main

        return receiver_main()
    if args.command == "sentiment":
        from services.sentiment.main import main as sentiment_main

        return sentiment_main()
    if args.command == "alerting":
        from services.alerting.main import main as alerting_main

        return alerting_main()
    if args.command == "notifier":
        from services.notifier.main import main as notifier_main

        return notifier_main()
    if args.command == "notify-test":
        from services.notifier.main import notify_test

        return notify_test(args.route)
    if args.command == "score":
        return _score(args)
    if args.command == "backtest":
        return _backtest(args)
    if args.command == "broker":
        from devtools.embedded_kafka import cli as broker_cli

        return broker_cli([args.action])
    if args.command == "demo":
        from devtools.demo import run_demo

        return run_demo(duration=args.duration, seed=args.seed, observe=args.observe)
    raise AssertionError(args.command)


def _backtest(args: argparse.Namespace) -> int:
    from services.alerting.backtest import BacktestInputError, format_summary, run_backtest_file
    from services.alerting.engine import IdlePolicy, parse_overrides
    from services.alerting.main import build_engine
    from services.alerting.settings import AlertingSettings
    from shared.brands import BrandsFileError

    if not args.input.is_file():
        print(f"repwatch backtest: no such file {args.input}", file=sys.stderr)
        return 1
    settings = AlertingSettings()
    try:
        engine = build_engine(settings, parse_overrides(args.set))
    except (BrandsFileError, ValueError) as exc:
        print(f"repwatch backtest: {exc}", file=sys.stderr)
        return 2
    scorer = _lazy_scorer()
    try:
        result = run_backtest_file(
            args.input, args.out, engine, IdlePolicy.from_settings(settings), scorer, drain=args.drain
        )
    except BacktestInputError as exc:
        print(f"repwatch backtest: {exc}", file=sys.stderr)
        return 1
    finally:
        scorer.close()
    print(f"{result.events} events, {result.alerts} alerts" + (f" -> {args.out}" if args.out else ""))
    print(format_summary(result.summary))
    print(result.format_dead_letters())
    return 0


class _lazy_scorer:  # noqa: N801 - used like a function
    """Scores MentionEvents with the configured sentiment model, loaded only if the
    input has any (a ScoredMention export needs no model). The CLI composes the two
    services here, so neither imports the other."""

    def __init__(self) -> None:
        self._engine = None

    def __call__(self, events):
        from datetime import timezone

        from shared.schemas import ScoredMention

        if self._engine is None:
            from services.sentiment.engine import SentimentEngine
            from services.sentiment.main import engine_options, resolve_model
            from services.sentiment.settings import SentimentSettings

            st = SentimentSettings()
            self._engine = SentimentEngine(resolve_model(st.sentiment_model), engine_options(st))
        now = datetime.now(timezone.utc)
        scores = iter(self._engine.score([e.text for e in events if e.is_scorable]))
        return [
            ScoredMention(mention=e, sentiment=next(scores) if e.is_scorable else None, scored_at=now) for e in events
        ]

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


def _score(args: argparse.Namespace) -> int:
    from services.sentiment import score_cli
    from services.sentiment.engine import ModelLoadError, SentimentEngine
    from services.sentiment.labels import LabelMappingError
    from services.sentiment.main import engine_options, resolve_model
    from services.sentiment.settings import SentimentSettings

    settings = SentimentSettings()
    try:
        model = resolve_model(args.model or settings.sentiment_model)
        engine = SentimentEngine(model, engine_options(settings))
    except (ModelLoadError, LabelMappingError) as exc:
        print(f"repwatch score: {exc}", file=sys.stderr)
        return 4
    with engine:
        # bytes, not text: a line that is not UTF-8 gets an error record of its own
        if args.input == "-":
            return score_cli.run(engine, sys.stdin.buffer, text_field=args.text_field)
        try:
            source = open(args.input, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            print(f"repwatch score: cannot read {args.input}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        with source:
            return score_cli.run(engine, source, text_field=args.text_field)


if __name__ == "__main__":
    sys.exit(main())
