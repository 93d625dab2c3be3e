"""End to end on the real broker: the demo scenario -> ingest -> sentiment -> alerting -> alerts.

The simulated world's ``demo`` scenario (what ``make run`` streams) is fed as fast
as possible, dated an hour ago, through ``python -m devtools.feed``; the sentiment
worker scores it again with the stand-in lexicon model; the alerting worker reads
the scenario's brands file. A subset of the kinds keeps it short: the spike and
the hidden-then-restored complaint fire on the staged mentions and resolve under
their own ids (every kind is checked without Kafka in tests/simulation/test_demo_scenario.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devtools.feed import write_brands_file
from shared.schemas import Alert, AlertKind, AlertStatus, ScoredMention
from simulation.incidents.negativity_spike import NegativitySpike
from simulation.scenarios import build_scenario
from tests.kafka_io import read_topic

pytestmark = pytest.mark.integration

#: the live part of the demo scenario (its backlog is 15 minutes before), dated in the past: once
#: the input is in, the idle policy moves the quiet brands to wall time and every episode ends
START = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
#: after the backlog: the spike (2.5-6.2 min) and the removed complaint (1-5.7 min) and a little more
WEEKS = 8 / (60 * 24 * 7)
SEED = 3


def test_staged_incidents_raise_alerts_that_resolve(pipeline, workers, lexicon_model_dir, tmp_path):
    scenario = build_scenario("demo", seed=SEED, weeks=WEEKS, start=START)
    brands = write_brands_file(scenario, tmp_path / "brands.yaml")
    env = pipeline.env(
        REPWATCH_SENTIMENT_MODEL=str(lexicon_model_dir),
        REPWATCH_BRANDS_FILE=str(brands),
        # The input is an hour old. A quiet brand's clock is paced from its last event at wall
        # speed, so a sentiment pause mid-backlog (seconds under load) cannot jump it ahead of its
        # queued events (which would then read as a spike); once the input is in and the brands
        # have been quiet for a minute, they jump to the present and every episode ends
        REPWATCH_IDLE_DELAY_S="10",
        REPWATCH_IDLE_JUMP_AFTER_S="60",
        REPWATCH_IDLE_EVERY_S="1",
    )
    workers.start("sentiment", ["-m", "services.sentiment"], env)
    workers.start("alerting", ["-m", "services.alerting"], env)
    ingest = workers.start(
        "ingest",
        [
            "-m", "devtools.feed", "--scenario", "demo", "--seed", str(SEED), "--weeks", str(WEEKS),
            "--start", START.isoformat(), "--speed", "0",
        ],
        env,
    )  # fmt: skip
    assert ingest.wait(timeout=120) == 0, "ingest failed"

    run = scenario.run()
    staged = {type(inc): script for inc, script in zip(scenario.incidents, run.scripts, strict=True)}
    spike_ids = {h.post.mention_id for h in staged[NegativitySpike]}
    hidden = next(lab for lab in run.labels if lab.incident.startswith(f"{AlertKind.DELETED_COMPLAINT.value}#"))
    wanted = (AlertKind.NEGATIVITY_SPIKE, AlertKind.DELETED_COMPLAINT)

    def alerts_of(records) -> list[Alert]:
        parsed = (Alert.model_validate_json(r.value) for r in records)
        return [a for a in parsed if a.kind in wanted]

    def done(records) -> bool:
        alerts = alerts_of(records)
        firing = {a.alert_id for a in alerts if a.status is AlertStatus.FIRING}
        resolved = {a.alert_id for a in alerts if a.status is AlertStatus.RESOLVED}
        return {a.kind for a in alerts if a.status is AlertStatus.FIRING} == set(wanted) and firing <= resolved

    alerts = alerts_of(read_topic(pipeline.bootstrap, pipeline.topics.alerts, until=done, timeout=240))
    firing = [a for a in alerts if a.status is AlertStatus.FIRING]
    assert {a.kind for a in firing} == set(wanted), [a.message for a in alerts]

    spikes = [a for a in firing if a.kind is AlertKind.NEGATIVITY_SPIKE]
    spike_start = scenario.start + next(i.at for i in scenario.incidents if isinstance(i, NegativitySpike))
    for a in spikes:
        assert a.brand == "acme" and a.window_end >= spike_start, a.message
        # ...on the incident's own mentions
        evidence = a.evidence.mention_ids
        assert sum(m in spike_ids for m in evidence) >= 0.6 * len(evidence), a.message

    # the complaint acme hid (and restored): its alert names it
    removed = [a for a in firing if a.kind is AlertKind.DELETED_COMPLAINT and a.channel == hidden.channel]
    assert any(set(hidden.mention_ids) <= set(a.evidence.mention_ids) for a in removed), [a.message for a in removed]

    # every incident resolved, under the id it fired with, once
    resolved = [a for a in alerts if a.status is AlertStatus.RESOLVED]
    assert sorted(a.alert_id for a in resolved) == sorted(a.alert_id for a in firing)

    # every event went through sentiment with a label; lifecycle events passed through unscored
    truth = {s.mention.event_id for s in build_scenario("demo", seed=SEED, weeks=WEEKS, start=START).stream()}
    scored = [
        ScoredMention.model_validate_json(r.value)
        for r in read_topic(
            pipeline.bootstrap, pipeline.topics.scored, until=lambda recs: len(recs) >= len(truth), timeout=60
        )
    ]
    assert {s.mention.event_id for s in scored} == truth
    assert all((s.sentiment is None) != s.mention.is_scorable for s in scored)
