"""The metric catalogue: conventions, the README's list, and what workers really register."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.alerting.processor import AlertingMetrics
from services.ingest.poll_main import Poller
from services.ingest.receiver import ReceiverMetrics
from services.ingest.reconcile import WatchList
from services.notifier.processor import NotifierMetrics
from services.sentiment.processor import EngineMetrics, SentimentProcessor
from shared.metric_defs import CATALOGUE
from shared.metrics import TransportMetrics

README = Path(__file__).resolve().parents[2] / "README.md"

#: labels whose values are unbounded (one series per author, mention or channel would
#: blow up Prometheus): they belong in alerts and logs
UNBOUNDED_LABELS = {"author", "author_id", "mention_id", "event_id", "alert_id", "url", "text", "channel"}


def _family(name: str, kind: str) -> str:
    # client_python names a counter's family without the _total suffix
    return name.removesuffix("_total") if kind == "counter" else name


def _registered(registry: CollectorRegistry) -> set[str]:
    return {family.name for family in registry.collect()}


def test_names_follow_prometheus_conventions():
    for d in CATALOGUE.values():
        assert re.fullmatch(r"repwatch_[a-z][a-z0-9_]*", d.name), d.name
        assert d.name.endswith("_total") == (d.kind == "counter"), d.name
        assert not re.search(r"_(ms|milliseconds|minutes|hours|days|kilobytes|megabytes)(_total)?$", d.name), d.name
        if d.help.lower().startswith(("seconds", "time")):  # a duration: in seconds, and named so
            assert d.name.endswith("_seconds"), d.name
        assert not set(d.labels) & UNBOUNDED_LABELS, (d.name, d.labels)
        # brand is bounded by the brands file only where the alerting worker maps unlisted brands to
        # UNLISTED_BRAND (tests/services/alerting/test_processor_metrics.py)
        assert "brand" not in d.labels or d.exported_by == "alerting", d.name
        assert (d.buckets is not None) == (d.kind == "histogram"), d.name
        if d.buckets:
            assert list(d.buckets) == sorted(d.buckets), d.name


def test_workers_register_exactly_the_catalogue():
    registry = CollectorRegistry()
    TransportMetrics(registry, "w")
    EngineMetrics(registry)
    AlertingMetrics(registry)
    NotifierMetrics(registry)
    Poller(
        [],
        WatchList(),
        state_topic="ingest.poll_state",
        raw_topic="mentions.raw",
        fetch=lambda r: None,
        send=lambda out: None,
        clock=lambda: datetime.now(timezone.utc),
        registry=registry,
    )
    ReceiverMetrics(registry)
    SentimentProcessor(
        scorer=None,
        scored_topic="mentions.scored",
        worker="sentiment",
        registry=registry,
        clock=lambda: datetime.now(timezone.utc),
        max_record_bytes=1 << 20,
    )
    expected = {_family(d.name, d.kind) for d in CATALOGUE.values()}
    assert _registered(registry) == expected


def test_readme_lists_exactly_the_catalogue():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Metrics\n") :]
    section = section[: section.index("\n## ", 5)]
    named = set(re.findall(r"`(repwatch_[a-z0-9_]+)`", section))
    assert named == set(CATALOGUE), named ^ set(CATALOGUE)
