"""The alerting processor around the engine: dead letters, state snapshots, restore,
skipping covered events, rollback, the idle policy. No Kafka: a fake changelog."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from services.alerting.engine import IdlePolicy
from services.alerting.main import build_engine
from services.alerting.processor import AlertingProcessor
from services.alerting.settings import AlertingSettings
from shared.kafka.transport import PartitionEvent, Record
from shared.schemas import Alert, AlertKind, AlertStatus
from tests.factories import T0, mention, scored

SCORED, STATE, ALERTS = "mentions.scored", "alerting.state", "alerts"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(
    changelog: list[Record] | None = None,
    clock: Clock | None = None,
    inputs: list[Record] | None = None,
    snapshot_every_s: float = 0.0,
    idle: IdlePolicy | None = None,
    **settings,
) -> AlertingProcessor:
    """A processor over fakes: ``changelog`` plays alerting.state, ``inputs`` mentions.scored."""
    log = changelog if changelog is not None else []
    topic = inputs if inputs is not None else []
    return AlertingProcessor(
        build_engine(AlertingSettings(**settings)),
        alerts_topic=ALERTS,
        state_topic=STATE,
        worker="alerting",
        registry=CollectorRegistry(),
        max_record_bytes=100_000,
        read_changelog=lambda parts: [r for r in log if r.partition in parts],
        read_range=lambda p, start, end: [r for r in topic if r.partition == p and start <= r.offset < end],
        scored_topic=SCORED,
        idle=idle or IdlePolicy(timedelta(minutes=2)),
        idle_every_s=0.0,
        snapshot_every_s=snapshot_every_s,
        monotonic=clock or Clock(),
    )


def rec(event, offset: int, partition: int = 0) -> Record:
    return Record(SCORED, partition, offset, event.mention.brand.encode(), event.to_bytes())


def alerts_of(result) -> list[Alert]:
    return [Alert.model_validate_json(o.value) for o in result.outputs if o.topic == ALERTS]


def as_changelog(result, partition: int = 0) -> list[Record]:
    return [Record(STATE, partition, i, o.key, o.value) for i, o in enumerate(result.outputs) if o.topic == STATE]


def test_garbage_and_future_events_are_dead_lettered_and_move_no_clock():
    proc = make()
    future = mention(1, at=T0 + timedelta(days=3650), ingested_at=T0)
    ok = scored(mention(2), "neutral")
    result = proc([Record(SCORED, 0, 0, b"acme", b"{oops"), rec(scored(future, "negative"), 1), rec(ok, 2)])
    assert [(d.reason, d.source_offset) for d in result.dead_letters] == [("invalid_json", 0), ("future_event", 1)]
    assert proc._engine.watermark("acme") == ok.mention.occurred_at


def test_every_touched_brand_is_snapshotted_with_the_offset_it_covers():
    proc = make()
    result = proc([rec(scored(mention(1)), 5), rec(scored(mention(2, brand="globex")), 6)])
    states = {o.key: json.loads(o.value) for o in result.outputs if o.topic == STATE}
    assert set(states) == {b"acme", b"globex"}
    assert states[b"acme"]["offset"] == 5 and states[b"globex"]["offset"] == 6
    assert states[b"acme"]["partition"] == 0 and states[b"acme"]["snapshot"]["brand"] == "acme"


def brand_wave(n: int = 40, start: int = 0) -> list:
    """A brand posts on its channel, then complaints arrive that it never answers."""
    out = [scored(mention(start, author_id="acme", author_is_brand=True, text="Our new tariffs"), "neutral")]
    for i in range(1, n):
        m = mention(start + i, author_id=f"u{i}", channel="vk:club_acme", at=T0 + timedelta(seconds=20 * i))
        out.append(scored(m, "negative"))
    return out


def test_restore_then_replay_of_covered_events_changes_nothing():
    """Crash after the snapshots were acknowledged but before the commit: the batch is
    read again, but the restored state covers it, so nothing is counted twice."""
    events = brand_wave(60)
    first = make()
    r1 = first([rec(e, i) for i, e in enumerate(events[:30])])
    changelog = as_changelog(r1)
    uninterrupted = make()
    expected = alerts_of(uninterrupted([rec(e, i) for i, e in enumerate(events[:30])]))
    expected += alerts_of(uninterrupted([rec(e, 30 + i) for i, e in enumerate(events[30:])]))

    second = make(changelog)
    second.on_partitions(PartitionEvent("assigned", frozenset({TopicPartition(SCORED, 0)})))
    replayed = second([rec(e, i) for i, e in enumerate(events)])  # offsets 0..29 again, then new ones
    got = alerts_of(r1) + alerts_of(replayed)
    assert [(a.alert_id, a.status, a.sequence) for a in got] == [(a.alert_id, a.status, a.sequence) for a in expected]
    assert second.metrics.skipped._value.get() == 30


def test_a_restored_brand_is_paced_from_its_snapshot_as_if_just_heard_from():
    """A restart mid-backlog is a pause too: the restored clock moves at wall speed at first."""
    clock = Clock()
    question = scored(mention(1, channel="vk:club_acme", text="Why is my order late again?"), "negative")
    first = make(clock=clock)
    changelog = as_changelog(first([rec(question, 0)]))
    idle = IdlePolicy(timedelta(seconds=30), jump_after=timedelta(minutes=10))
    second = make(changelog, clock=clock, idle=idle)
    part = frozenset({TopicPartition(SCORED, 0)})
    second.on_partitions(PartitionEvent("assigned", part))
    clock.t += 60
    second.on_idle(question.mention.occurred_at + timedelta(hours=3), part)
    assert second._engine.watermark("acme") == question.mention.occurred_at + timedelta(seconds=30)


def test_a_snapshot_of_an_older_state_version_is_ignored_and_the_brand_starts_afresh(caplog):
    """After an upgrade that bumped a detector's STATE_VERSION, the changelog still holds the old
    snapshots: each is refused (load_state raises ValueError), logged, and the brand re-learns
    from its next events instead of the worker failing its assignment."""
    events = brand_wave(30)
    first = make()
    changelog = []
    for r in as_changelog(first([rec(e, i) for i, e in enumerate(events[:10])])):
        body = json.loads(r.value)
        body["snapshot"]["detectors"]["negativity_spike"]["version"] = 1  # as an older build wrote it
        changelog.append(Record(r.topic, r.partition, r.offset, r.key, json.dumps(body).encode()))
    upgraded = make(changelog)
    with caplog.at_level("ERROR"):
        upgraded.on_partitions(PartitionEvent("assigned", frozenset({TopicPartition(SCORED, 0)})))
    assert "could not be restored" in caplog.text and "version 1" in caplog.text
    assert upgraded._engine.known_brands() == []
    fresh = make()
    want = alerts_of(fresh([rec(e, 10 + i) for i, e in enumerate(events[10:])]))
    got = alerts_of(upgraded([rec(e, 10 + i) for i, e in enumerate(events[10:])]))
    assert [(a.alert_id, a.status, a.sequence) for a in got] == [(a.alert_id, a.status, a.sequence) for a in want]
    assert upgraded.metrics.skipped._value.get() == 0  # nothing counted as covered by the refused snapshot


def test_rollback_after_an_upgrade_rebuilds_from_the_events_not_the_refused_snapshot(caplog):
    """The old snapshot is refused at assignment and the brand starts afresh; a call that then
    raises must not reload that snapshot (it would raise again and end the worker): the brand
    is rebuilt from the events it folded since, and the retry gives a clean run's alerts."""
    events = brand_wave(40)
    recs = [rec(e, i) for i, e in enumerate(events)]
    changelog = []
    for r in as_changelog(make()(recs[:10])):
        body = json.loads(r.value)
        body["snapshot"]["detectors"]["negativity_spike"]["version"] = 1
        changelog.append(Record(r.topic, r.partition, r.offset, r.key, json.dumps(body).encode()))
    proc = make(changelog, inputs=recs, snapshot_every_s=3600)
    proc.on_partitions(PartitionEvent("assigned", frozenset({TopicPartition(SCORED, 0)})))
    fresh = make()
    want = alerts_of(fresh(recs[10:20])) + alerts_of(fresh(recs[20:]))
    second = proc(recs[10:20])  # folded since the fresh start, not yet in a snapshot
    proc._call_start = {0: 20}
    for e in events[20:25]:
        proc._engine.process(e)
    proc._dirty.add("acme")
    with caplog.at_level("ERROR"):
        proc.rollback()
    assert "rebuilt from its events" in caplog.text
    got = alerts_of(second) + alerts_of(proc(recs[20:]))
    assert [(a.alert_id, a.status, a.sequence) for a in got] == [(a.alert_id, a.status, a.sequence) for a in want]
    assert proc._engine.snapshot("acme") == fresh._engine.snapshot("acme")


def test_revoked_partitions_drop_their_brands():
    proc = make()
    proc([rec(scored(mention(1)), 0, partition=0), rec(scored(mention(2, brand="globex")), 0, partition=1)])
    proc.on_partitions(PartitionEvent("revoked", frozenset({TopicPartition(SCORED, 1)})))
    assert proc._engine.known_brands() == ["acme"]


def test_rollback_returns_to_the_last_snapshot_and_replays_so_a_retry_counts_once():
    """A call raised half-way through: its brand goes back to its last snapshot, the
    events since (not yet in a snapshot) are replayed from the topic, and the retried
    records then give exactly the alerts of a run that never failed."""
    events = brand_wave(40)
    recs = [rec(e, i) for i, e in enumerate(events)]
    clean = make()
    want = alerts_of(clean(recs[:10])) + alerts_of(clean(recs[10:20])) + alerts_of(clean(recs[20:]))

    changelog: list[Record] = []
    clock = Clock()
    proc = make(changelog, clock=clock, inputs=recs, snapshot_every_s=3600)  # snapshots only when due
    first = proc(recs[:10])
    changelog += as_changelog(first)
    second = proc(recs[10:20])  # folded in memory, no snapshot yet
    assert not [o for o in second.outputs if o.topic == STATE]
    # the third call saw five events and then raised
    proc._call_start = {0: 20}
    for e in events[20:25]:
        proc._engine.process(e)
    proc._dirty.add("acme")
    proc.rollback()
    got = alerts_of(first) + alerts_of(second) + alerts_of(proc(recs[20:]))
    assert [(a.alert_id, a.status, a.sequence) for a in got] == [(a.alert_id, a.status, a.sequence) for a in want]
    assert proc._engine.snapshot("acme") == clean._engine.snapshot("acme")


def test_commits_wait_for_the_snapshot_that_holds_the_events():
    clock = Clock()
    proc = make(clock=clock, snapshot_every_s=5)
    tp = TopicPartition(SCORED, 0)
    out = proc([rec(scored(mention(i), "neutral"), 100 + i) for i in range(3)])
    assert not [o for o in out.outputs if o.topic == STATE]
    assert proc.committable({tp: 103}) == {tp: 100}  # nothing of acme is in a snapshot yet
    clock.t += 6
    flushed = proc.on_idle(T0, frozenset())
    states = [o for o in flushed.outputs if o.topic == STATE]
    assert len(states) == 1 and states[0].partition == 0
    assert proc.committable({tp: 103}) == {tp: 103}


def test_idle_policy_fires_an_sla_on_a_quiet_caught_up_partition_only():
    clock = Clock()
    proc = make(clock=clock)
    post = scored(mention(0, author_id="acme", author_is_brand=True, channel="vk:club_acme", text="News"), "neutral")
    question = scored(mention(1, channel="vk:club_acme", text="Why is my order late again?"), "negative")
    proc([rec(post, 0), rec(question, 1)])
    wall = question.mention.occurred_at + timedelta(minutes=70)
    clock.t += 600  # the brand has been quiet for ten wall minutes
    assert alerts_of(proc.on_idle(wall, frozenset())) == []  # partition not caught up: a backlog may be coming
    fired = alerts_of(proc.on_idle(wall, frozenset({TopicPartition(SCORED, 0)})))
    assert [(a.kind, a.status) for a in fired] == [(AlertKind.UNANSWERED_COMPLAINT, AlertStatus.FIRING)]
    assert datetime.now(timezone.utc) > wall  # the test's wall time is in the past: nothing reads the real clock


def test_idle_policy_paces_a_brand_from_its_last_event_so_a_pause_mid_backlog_expires_no_sla():
    # The brand's events come from a backlog three hours behind wall time. The sentiment worker
    # pauses for 90 s after the question; the brand's answer is still queued behind the pause.
    clock = Clock()
    proc = make(clock=clock, idle=IdlePolicy(timedelta(seconds=30), jump_after=timedelta(minutes=10)))
    part = frozenset({TopicPartition(SCORED, 0)})
    post = scored(mention(0, author_id="acme", author_is_brand=True, channel="vk:club_acme", text="News"), "neutral")
    question = scored(mention(1, channel="vk:club_acme", text="Why is my order late again?"), "negative")
    asked = question.mention.occurred_at
    wall = asked + timedelta(hours=3)
    out = alerts_of(proc([rec(post, 0), rec(question, 1)]))
    clock.t += 90
    out += alerts_of(proc.on_idle(wall + timedelta(seconds=90), part))
    # moved at wall speed from where its last event left it, not to wall time - delay
    assert proc._engine.watermark("acme") == asked + timedelta(seconds=90 - 30)
    reply = scored(
        mention(2, at=asked + timedelta(minutes=50), author_id="acme", author_is_brand=True, parent_id="m1"), "neutral"
    )
    out += alerts_of(proc([rec(reply, 2)]))
    for _ in range(3):  # then the backlog is done and the brand stays quiet past jump_after
        clock.t += 300
        out += alerts_of(proc.on_idle(wall + timedelta(seconds=clock.t - 1000), part))
    assert proc._engine.watermark("acme") >= wall  # it caught up with wall time in the end
    assert [a for a in out if a.kind is AlertKind.UNANSWERED_COMPLAINT] == []


def test_idle_policy_moves_a_brand_quiet_for_jump_after_straight_to_wall_time():
    clock = Clock()
    proc = make(clock=clock, idle=IdlePolicy(timedelta(seconds=30), jump_after=timedelta(minutes=10)))
    part = frozenset({TopicPartition(SCORED, 0)})
    post = scored(mention(0, author_id="acme", author_is_brand=True, channel="vk:club_acme", text="News"), "neutral")
    question = scored(mention(1, channel="vk:club_acme", text="Why is my order late again?"), "negative")
    proc([rec(post, 0), rec(question, 1)])
    wall = question.mention.occurred_at + timedelta(hours=3)  # an export replayed three hours late
    clock.t += 599
    assert alerts_of(proc.on_idle(wall, part)) == []  # paced: 569 s past the question, SLA not due
    clock.t += 1
    fired = alerts_of(proc.on_idle(wall, part))
    assert [(a.kind, a.status) for a in fired] == [(AlertKind.UNANSWERED_COMPLAINT, AlertStatus.FIRING)]
    assert proc._engine.watermark("acme") == wall - timedelta(seconds=30)
