"""The alerting worker on the real broker: state survives SIGKILL and partition moves."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest

from services.alerting.main import build_engine
from services.alerting.settings import AlertingSettings
from shared.schemas import Alert, AlertKind, AlertStatus
from tests.conftest import wait_for
from tests.factories import T0, mention, scored
from tests.kafka_io import produce_keyed, read_topic

pytestmark = pytest.mark.integration
WORKER = ["-m", "services.alerting"]
BRANDS = ("acme", "globex", "initech", "umbrella", "hooli", "stark")


def send(pipeline, events) -> None:
    produce_keyed(
        pipeline.bootstrap, pipeline.topics.scored, ((e.mention.brand.encode(), e.to_bytes()) for e in events)
    )


def alerts(pipeline, until=lambda recs: False, timeout=30.0) -> list[Alert]:
    return [
        Alert.model_validate_json(r.value)
        for r in read_topic(pipeline.bootstrap, pipeline.topics.alerts, until=until, timeout=timeout)
    ]


def opening(brand: str, n: int, at) -> list:
    """The brand posts on its channel; a complaint under it; the brand hides the complaint."""
    ch = f"vk:club_{brand}"
    post = mention(n, brand=brand, channel=ch, author_id=brand, author_is_brand=True, text="New tariffs!", at=at)
    complaint = mention(
        n + 1,
        brand=brand,
        channel=ch,
        author_id=f"{brand}-u{n}",
        parent_id=post.mention_id,
        text=f"{brand} charged me twice for the {n} plan and nobody answers, shame",
        at=at + timedelta(minutes=1),
    )
    hidden = mention(
        n + 1,
        brand=brand,
        channel=ch,
        author_id=f"{brand}-u{n}",
        event_type="hidden",
        actor="brand",
        text="",
        at=at + timedelta(minutes=9),
    )
    return [scored(post, "neutral"), scored(complaint, "negative"), scored(hidden, None)]


def comeback(brand: str, n: int, at) -> list:
    """The same complaint, lightly reworded, from another account."""
    ch = f"vk:club_{brand}"
    back = mention(
        n + 50,
        brand=brand,
        channel=ch,
        author_id=f"{brand}-alt{n}",
        text=f"{brand} charged me twice for the {n} plan and NOBODY answers!! shame",
        at=at,
    )
    return [scored(back, "negative")]


def keyset(items: list[Alert]) -> set[tuple]:
    return {(a.alert_id, a.kind, a.status, a.sequence) for a in items}


def test_sigkill_mid_incident_resolves_later_under_the_same_id(pipeline, workers):
    env = pipeline.env(REPWATCH_IDLE_DELAY_S="100000")  # no idle moves: only events drive time here
    worker = workers.start("alerting", WORKER, env)
    send(pipeline, opening("acme", 0, T0))
    fired = alerts(pipeline, until=lambda r: len(r) >= 1, timeout=60)
    assert [(a.kind, a.status) for a in fired] == [(AlertKind.DELETED_COMPLAINT, AlertStatus.FIRING)]
    time.sleep(1.5)  # its snapshot and commit are through: the restart must restore, not replay
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)

    second = workers.start("alerting", WORKER, env)
    restored = mention(
        1,
        brand="acme",
        channel="vk:club_acme",
        author_id="acme-u0",
        event_type="restored",
        actor="brand",
        text="",
        at=T0 + timedelta(minutes=30),
    )
    send(pipeline, [scored(restored, None)])

    def resolved(records) -> bool:
        return any(Alert.model_validate_json(r.value).status is AlertStatus.RESOLVED for r in records)

    got = alerts(pipeline, until=resolved, timeout=90)
    assert {a.alert_id for a in got} == {fired[0].alert_id}, "a second incident appeared"
    assert "restored the state of 1 brands" in second.log_path.read_text()
    assert [a.status for a in got if a.status is AlertStatus.RESOLVED] == [AlertStatus.RESOLVED]
    # a replay may repeat a notification verbatim (at-least-once), never with another sequence
    assert {(a.status, a.sequence) for a in got} == {(AlertStatus.FIRING, 0), (AlertStatus.RESOLVED, 1)}


def test_scaling_from_one_to_two_workers_mid_stream_gives_the_same_alerts(pipeline, workers):
    env = pipeline.env(REPWATCH_IDLE_DELAY_S="100000")
    first_half = [e for i, b in enumerate(BRANDS) for e in opening(b, 10 * i, T0)]
    second_half = [e for i, b in enumerate(BRANDS) for e in comeback(b, 10 * i, T0 + timedelta(minutes=20))]

    engine = build_engine(AlertingSettings())  # the same detectors in-process, no Kafka, no crash
    expected = [a for e in first_half + second_half for a in engine.process(e)]
    assert {a.kind for a in expected} == {AlertKind.DELETED_COMPLAINT, AlertKind.RETURNING_COMPLAINANT}

    workers.start("alerting-a", WORKER, env)
    send(pipeline, first_half)
    alerts(pipeline, until=lambda r: len(r) >= len(BRANDS), timeout=60)
    b = workers.start("alerting-b", WORKER, env)
    wait_for(
        lambda: "assigned partitions: " in b.log_path.read_text() and "restored the state" in b.log_path.read_text(),
        60,
        "the second worker to take partitions and restore their state",
    )
    time.sleep(2)
    send(pipeline, second_half)
    got = alerts(
        pipeline,
        until=lambda r: len(keyset([Alert.model_validate_json(x.value) for x in r])) >= len(keyset(expected)),
        timeout=90,
    )
    assert keyset(got) == keyset(expected)
