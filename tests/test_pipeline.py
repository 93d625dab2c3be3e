"""End to end on the real broker: synthetic incident -> ingest -> sentiment -> alerting -> alerts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.ingest.synthetic import Incident, SyntheticMentionStream
from shared.schemas import Alert, AlertKind, AlertStatus, ScoredMention
from tests.kafka_io import read_topic

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
SPIKE_AT = timedelta(minutes=3)
STREAM = {"seed": 11, "rate": 0.2, "incident": "negativity-spike@+3m", "duration": "8m"}


def test_negativity_incident_raises_an_alert_and_resolves(pipeline, workers, lexicon_model_dir):
    # The stream is dated in the past: once it ends, the idle policy moves the quiet
    # brand's clock to (wall time - 5 s), and the spike resolves after its quiet period.
    env = pipeline.env(
        REPWATCH_SENTIMENT_MODEL=str(lexicon_model_dir),
        REPWATCH_IDLE_DELAY_S="5",
        REPWATCH_IDLE_EVERY_S="1",
        # the brand is eight minutes old: skip the spike detector's 30-minute warm-up
        REPWATCH_DETECTORS='{"negativity_spike": {"warmup_minutes": 0}}',
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

    def spikes(records) -> list[Alert]:
        parsed = (Alert.model_validate_json(r.value) for r in records)
        return [a for a in parsed if a.kind is AlertKind.NEGATIVITY_SPIKE]

    def done(records) -> bool:
        return any(a.status is AlertStatus.RESOLVED for a in spikes(records))

    alerts = spikes(read_topic(pipeline.bootstrap, pipeline.topics.alerts, until=done, timeout=180))
    assert alerts, "no spike alert on the alerts topic"
    firing = [a for a in alerts if a.status is AlertStatus.FIRING]
    assert len(firing) == 1 and firing[0].brand == "acme"
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
