"""A wedged Kafka client is noticed and replaced, on a real broker.

The two wedges CI met cannot be produced on demand (they depend on timing inside
kafka-python), so these tests put the client into the same states by hand, through
the pinned kafka-python's private attributes: a member that stops heartbeating while
it believes it is a stable member (the coordinator drops it and it never finds out),
a fetcher that never sends another fetch, and a group leader whose metadata is never
refreshed again. What is tested is BatchConsumer's side:
it notices from outside the client, replaces it, and nothing is lost.
"""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry

from shared.kafka.stall import REASONS
from shared.kafka.transport import BatchConsumer, ensure_topics
from shared.metrics import TransportMetrics
from tests.kafka_io import produce

pytestmark = pytest.mark.integration


def consumer(pipeline, group: str, name: str, topics=None, **overrides):
    settings = pipeline.settings(session_timeout_ms=6000, **overrides)
    registry = CollectorRegistry()
    c = BatchConsumer(
        settings,
        TransportMetrics(registry, name),
        topics or [pipeline.topics.raw],
        group_id=pipeline.prefix + group,
        client_id=name,
    )
    return c, registry


def rebuilds(registry, worker: str, reason: str) -> float:
    sample = registry.get_sample_value("repwatch_consumer_rebuilds_total", {"worker": worker, "reason": reason})
    return sample or 0


def poll_all(members, until, timeout_s: float, got: list | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for m in members:
            records = m.poll(200)
            if got is not None:
                got.extend(records)
        if until():
            return
    raise AssertionError("timed out")


def owned(c: BatchConsumer) -> set[int]:
    return {tp.partition for tp in c.assignment()}


def test_a_member_dropped_from_its_group_without_noticing_is_replaced(pipeline):
    a, _ = consumer(pipeline, "g", "a")
    b, b_metrics = consumer(pipeline, "g", "b")
    everything = set(range(pipeline.partitions))
    try:
        poll_all([a, b], lambda: owned(a) and owned(b) and owned(a) | owned(b) == everything, 60)
        b_before = owned(b)
        b.partition_events.clear()
        # the wedge: b stops heartbeating yet still believes it is a stable member
        b._consumer._coordinator._disable_heartbeat()
        # the coordinator drops b after its session timeout and gives a everything
        poll_all([a, b], lambda: owned(a) == everything, 60)
        assert owned(b) == b_before, "kafka-python noticed by itself: the wedge was not reproduced"
        # b's watch asks the coordinator, finds itself missing twice, and rejoins as a new member
        poll_all([a, b], lambda: owned(a) and owned(b) and not owned(a) & owned(b), 90)
        assert owned(a) | owned(b) == everything
        assert rebuilds(b_metrics, "b", "expelled") == 1
        # the processor heard that b's old partitions are no longer its own, then what it owns now
        kinds = [e.kind for e in b.partition_events]
        assert kinds[0] == "lost" and {tp.partition for tp in b.partition_events[0].partitions} == b_before
        assert kinds[-1] == "assigned"
    finally:
        a.close()
        b.close()


def test_a_fetcher_that_never_sends_again_is_replaced_and_resumes_from_the_commit(pipeline):
    c, metrics = consumer(pipeline, "g", "c", kafka_fetch_stall_s=5.0)
    try:
        produce(pipeline.bootstrap, pipeline.topics.raw, [f"first-{i}".encode() for i in range(10)])
        got: list = []
        poll_all([c], lambda: len(got) >= 10, 60, got)
        c.commit(got)
        # the wedge: the fetcher never builds another request
        c._consumer._fetcher._create_fetch_requests = lambda: {}
        produce(pipeline.bootstrap, pipeline.topics.raw, [f"second-{i}".encode() for i in range(10)])
        later: list = []
        poll_all([c], lambda: len(later) >= 10, 90, later)
        assert sorted(r.value for r in later) == sorted(f"second-{i}".encode() for i in range(10))
        assert rebuilds(metrics, "c", "fetch_stalled") == 1
        assert [e.kind for e in c.partition_events][-2:] == ["lost", "assigned"]
    finally:
        c.close()


def test_a_group_that_leaves_its_partitions_unowned_is_replaced(pipeline):
    """The notifier's CI failure: the group's only member joined before the topic's
    partitions were in its metadata, was assigned nothing, and never looked again. Here
    its metadata refresh loop is stopped before the topic exists (one way the pinned
    kafka-python gets there: that loop ends on an error nobody reads)."""
    late = pipeline.prefix + "late"
    c, metrics = consumer(pipeline, "g", "n", topics=[late])
    try:
        c._consumer._cluster.close()  # the wedge: this client refreshes its metadata no more
        assert _poll_for(c, 3) == [] and not c.assignment()
        ensure_topics(pipeline.settings(), [late])
        produce(pipeline.bootstrap, late, [f"late-{i}".encode() for i in range(10)])
        # kafka-python would have rebalanced by now (metadata every 15 s), had it looked
        assert _poll_for(c, 20) == []
        assert not c.assignment(), "kafka-python noticed by itself: the wedge was not reproduced"
        assert rebuilds(metrics, "n", "partitions_unassigned") == 0  # 30 s of polling first
        got: list = []
        poll_all([c], lambda: len(got) >= 10, 90, got)
        assert sorted(r.value for r in got) == sorted(f"late-{i}".encode() for i in range(10))
        assert rebuilds(metrics, "n", "partitions_unassigned") == 1
        assert owned(c) == set(range(pipeline.partitions))
    finally:
        c.close()


def test_a_quiet_or_paused_consumer_is_left_alone(pipeline):
    """No records to read, or records held back on purpose: neither is a stall."""
    c, metrics = consumer(pipeline, "g", "q", kafka_fetch_stall_s=5.0)
    try:
        poll_all([c], lambda: bool(c.assignment()), 60)
        # quiet: at the end of every partition for several stall periods
        assert _poll_for(c, 20) == []
        c.pause(True)
        produce(pipeline.bootstrap, pipeline.topics.raw, [f"held-{i}".encode() for i in range(10)])
        got = _poll_for(c, 20)
        assert got == []
        assert sum(rebuilds(metrics, "q", r) for r in REASONS) == 0
        c.pause(False)
        resumed: list = []
        poll_all([c], lambda: len(resumed) >= 10, 60, resumed)
    finally:
        c.close()


def _poll_for(c: BatchConsumer, seconds: float) -> list:
    got: list = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got.extend(c.poll(200))
    return got
