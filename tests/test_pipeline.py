"""End to end on the real broker: synthetic incident -> ingest -> sentiment -> alerting -> alerts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.ingest.synthetic import Incident, SyntheticMentionStream
from shared.schemas import Alert, AlertStatus, ScoredMention
from tests.kafka_io import read_topic

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
SPIKE_AT = timedelta(minutes=3)
STREAM = {"seed": 11, "rate": 0.2, "incident": "negativity-spike@+3m", "duration": "8m"}


def test_negativity_incident_raises_an_alert_and_resolves(pipeline, workers, lexicon_model_dir):
    env = pipeline.env(
        REPWATCH_SENTIMENT_MODEL=str(lexicon_model_dir),
        REPWATCH_SPIKE_WINDOW_S="60",
        REPWATCH_SPIKE_THRESHOLD="20",
    )
    workers.start("sentiment", ["-m", "services.sentiment"], env)
    workers.start("alerting", ["-m", "services.alerting"], env)
    ingest = workers.start(
        "ingest",
        [
            "-m",
            "services.cli",
            "ingest",
            "synthetic",
            "--seed",
            str(STREAM["seed"]),
            "--rate",
            str(STREAM["rate"]),
            "--incident",
            STREAM["incident"],
            "--duration",
            STREAM["duration"],
            "--speed",
            "0",
            "--start",
            START.isoformat(),
        ],
        env,
    )
    assert ingest.wait(timeout=120) == 0, "ingest failed"

    def done(records) -> bool:
        return any(Alert.model_validate_json(r.value).status is AlertStatus.RESOLVED for r in records)

    alerts = [
        Alert.model_validate_json(r.value)
        for r in read_topic(pipeline.bootstrap, pipeline.topics.alerts, until=done, timeout=180)
    ]
    assert alerts, "no alert on the alerts topic"
    firing = [a for a in alerts if a.status is AlertStatus.FIRING]
    assert len(firing) == 1 and firing[0].brand == "acme" and firing[0].kind == "negativity_spike"
    # it fired because of the incident, not before it...
    assert START + SPIKE_AT <= firing[0].window_end <= START + SPIKE_AT + timedelta(minutes=2)
    # ...on the incident's own mentions
    truth = SyntheticMentionStream(
        seed=STREAM["seed"],
        start=START,
        rate_per_s=STREAM["rate"],
        incidents=[Incident.parse(STREAM["incident"])],
        duration=timedelta(minutes=8),
    )
    source = {item.event.mention_id: item.source for item in truth.labeled()}
    evidence = firing[0].evidence.mention_ids
    assert sum(source[m] == "negativity-spike" for m in evidence) >= 0.6 * len(evidence)
    # and it resolved after the incident, under the same id
    resolved = [a for a in alerts if a.status is AlertStatus.RESOLVED]
    assert resolved[0].alert_id == firing[0].alert_id
    assert resolved[0].window_end > START + SPIKE_AT + timedelta(minutes=2)

    # every event went through sentiment with a label; lifecycle events passed through unscored
    scored = [
        ScoredMention.model_validate_json(r.value)
        for r in read_topic(
            pipeline.bootstrap, pipeline.topics.scored, until=lambda recs: len(recs) >= len(source), timeout=60
        )
    ]
    assert {s.mention.event_id for s in scored} == {item.event.event_id for item in truth.labeled()}
    assert all((s.sentiment is None) != s.mention.is_scorable for s in scored)
