"""The transport on a real broker: batches, dead letters, commits, start-up errors."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from devtools.procs import free_ports
from shared.config import WorkerSettings
from shared.kafka.transport import (
    BatchConsumer,
    BatchResult,
    KafkaUnavailable,
    Outgoing,
    Producer,
    Record,
    StreamWorker,
    ensure_topics,
)
from shared.metrics import Health, TransportMetrics
from shared.schemas import DeadLetter
from tests.kafka_io import produce, read_topic

pytestmark = pytest.mark.integration


def make_worker(pipeline, processor, group="g"):
    settings = pipeline.settings(poll_timeout_ms=200)
    registry = CollectorRegistry()
    metrics = TransportMetrics(registry, "test")
    consumer = BatchConsumer(
        settings, metrics, [pipeline.topics.raw], group_id=pipeline.prefix + group, client_id="test"
    )
    producer = Producer(settings, metrics, client_id="test")
    worker = StreamWorker(
        "test", consumer, producer, processor, metrics, Health(), pipeline.topics.deadletter, poll_timeout_ms=200
    )
    return worker, registry


def run_until(worker, predicate, max_rounds=200):
    """Drive the worker loop in this thread, one poll batch at a time."""
    rounds = 0
    while rounds < max_rounds and not predicate():
        worker.run_once()
        rounds += 1
    worker._consumer.close()
    worker._producer.close()
    return rounds


def test_poison_record_is_dead_lettered_and_neighbours_flow(pipeline):
    """A processor that crashes on one record: that record alone goes to deadletter."""
    out_topic = pipeline.topics.scored
    seen: list[bytes] = []

    def processor(records):
        if any(r.value == b"poison" for r in records):
            raise RuntimeError("cannot digest poison")
        seen.extend(r.value for r in records)
        return BatchResult(outputs=[Outgoing(out_topic, r.key, r.value.upper()) for r in records])

    values = [f"rec-{i}".encode() for i in range(20)]
    produce(pipeline.bootstrap, pipeline.topics.raw, values[:10] + [b"poison"] + values[10:])
    worker, registry = make_worker(pipeline, processor)
    run_until(worker, lambda: len(seen) >= 20)

    out = read_topic(pipeline.bootstrap, out_topic, until=lambda r: len(r) >= 20)
    assert sorted(r.value for r in out) == sorted(v.upper() for v in values)
    dead = read_topic(pipeline.bootstrap, pipeline.topics.deadletter, until=lambda r: len(r) >= 1)
    assert len(dead) == 1
    dl = DeadLetter.model_validate_json(dead[0].value)
    assert dl.reason == "processing_error" and "poison" in dl.error
    assert dl.original == b"poison" and dl.source_topic == pipeline.topics.raw and dl.source_offset == 10
    assert (
        registry.get_sample_value(
            "repwatch_records_dead_lettered_total", {"worker": "test", "reason": "processing_error"}
        )
        == 1
    )
    assert registry.get_sample_value("repwatch_records_produced_total", {"worker": "test", "topic": out_topic}) == 20


def test_offsets_are_committed_after_outputs_so_a_restart_resumes(pipeline):
    out_topic = pipeline.topics.scored
    produce(pipeline.bootstrap, pipeline.topics.raw, [f"a{i}".encode() for i in range(5)])
    got: list[bytes] = []
    seen: list = []

    def processor(records):
        seen.extend(records)
        got.extend(r.value for r in records)
        return BatchResult(outputs=[Outgoing(out_topic, None, r.value) for r in records])

    worker, _ = make_worker(pipeline, processor)
    run_until(worker, lambda: len(got) >= 5)
    # processors get the transport's own Record, with the broker's timestamp, never kafka-python's type
    assert seen and all(type(r) is Record and r.timestamp_ms > 0 for r in seen)
    produce(pipeline.bootstrap, pipeline.topics.raw, [f"b{i}".encode() for i in range(5)])
    got.clear()
    worker, _ = make_worker(pipeline, processor)  # same group: resumes after the commit
    run_until(worker, lambda: len(got) >= 5)
    assert sorted(got) == sorted(f"b{i}".encode() for i in range(5))


def test_unreachable_kafka_fails_fast_with_a_clear_message():
    (port,) = free_ports(1)
    settings = WorkerSettings(kafka_bootstrap=f"127.0.0.1:{port}", kafka_startup_timeout_s=2)
    with pytest.raises(KafkaUnavailable, match=f"127.0.0.1:{port}"):
        ensure_topics(settings)


def test_ensure_topics_is_idempotent_and_uses_configured_partitions(pipeline):
    from kafka import KafkaConsumer

    settings = pipeline.settings()
    ensure_topics(settings)
    ensure_topics(settings)
    consumer = KafkaConsumer(bootstrap_servers=pipeline.bootstrap)
    try:
        for topic in pipeline.topics.all():
            assert consumer.partitions_for_topic(topic) == set(range(pipeline.partitions))
    finally:
        consumer.close()
