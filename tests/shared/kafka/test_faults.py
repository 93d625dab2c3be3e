"""Faults an operator meets in normal life, on real brokers: rebalances during a
commit, and a broker that goes away while a worker starts."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from shared.config import WorkerSettings
from shared.kafka.transport import BatchConsumer, BatchResult, Outgoing, Producer, StreamWorker, ensure_topics
from shared.metrics import Health, TransportMetrics
from shared.schemas import DeadLetter
from tests.conftest import Pipeline, wait_for
from tests.kafka_io import produce_keyed, read_topic

pytestmark = pytest.mark.integration


def _consumer(pipeline: Pipeline, group: str, name: str) -> BatchConsumer:
    settings = pipeline.settings(session_timeout_ms=6000, max_poll_records=50, batch_max_wait_ms=0)
    return BatchConsumer(
        settings, TransportMetrics(CollectorRegistry(), name), [pipeline.topics.raw], group_id=group, client_id=name
    )


def _committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int | None]:
    # a consumer that never subscribes does not join the group: it only reads offsets
    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {p: reader.committed(TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        reader.close()


def test_commit_during_a_rebalance_rejoins_and_commits_what_it_still_owns(pipeline):
    """A second member joins while the first holds an uncommitted batch. kafka-python
    raises RebalanceInProgressError (marked non-retriable) at that commit; it used to
    end the worker. Now the member rejoins and commits the partitions it kept."""
    group = pipeline.prefix + "g-rebalance"
    produce_keyed(pipeline.bootstrap, pipeline.topics.raw, ((f"k{i}".encode(), b"v") for i in range(300)))
    first = _consumer(pipeline, group, "first")
    batch: list = []
    wait_for(lambda: bool(batch.extend(first.poll(500)) or batch), 30, "a first batch")

    second = _consumer(pipeline, group, "second")
    stop = threading.Event()

    def keep_polling() -> None:  # the joining member drives its side of the rebalance
        while not stop.is_set():
            second.poll(200)

    joiner = threading.Thread(target=keep_polling, daemon=True)
    joiner.start()
    try:
        time.sleep(5)  # > one heartbeat interval (session/3): the first member now knows
        # A poll too short to finish the rejoin leaves the member mid-rebalance: the
        # state in which kafka-python refuses a commit with RebalanceInProgressError.
        assert first._consumer.poll(timeout_ms=0) == {}
        first.commit(batch)  # must not raise
        owned = first.assignment()
        assert owned and len(owned) < pipeline.partitions  # the group really did split
        committed = _committed(pipeline.bootstrap, group, pipeline.topics.raw, pipeline.partitions)
        batch_end: dict[int, int] = {}
        for r in batch:
            batch_end[r.partition] = max(batch_end.get(r.partition, 0), r.offset + 1)
        for p, end in batch_end.items():
            if TopicPartition(pipeline.topics.raw, p) in owned:
                assert committed.get(p) == end, (p, committed, batch_end)
        # what it polls next for a partition it kept starts after the committed batch
        later = first.poll(2000)
        for r in later:
            assert r.offset >= batch_end.get(r.partition, 0)
    finally:
        stop.set()
        joiner.join(10)
        second.close()
        first.close()


def test_scaling_out_and_in_repeatedly_loses_nothing_and_kills_nobody(pipeline):
    """What KEDA or a rolling update does all day: members join and leave a group
    that is consuming a steady stream. Every record reaches the output."""
    out_topic = pipeline.topics.scored
    group = pipeline.prefix + "g-scale"

    def processor(records):
        return BatchResult(outputs=[Outgoing(out_topic, r.key, r.value) for r in records])

    def member(name: str) -> StreamWorker:
        settings = pipeline.settings(session_timeout_ms=6000, max_poll_records=20, batch_max_wait_ms=0)
        metrics = TransportMetrics(CollectorRegistry(), name)
        consumer = BatchConsumer(settings, metrics, [pipeline.topics.raw], group_id=group, client_id=name)
        producer = Producer(settings, metrics, client_id=name)
        return StreamWorker(name, consumer, producer, processor, metrics, Health(), pipeline.topics.deadletter, 100)

    errors: list[BaseException] = []

    def run(worker: StreamWorker, stop: threading.Event) -> None:
        try:
            worker.run(stop)
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    total = 0
    steady_stop = threading.Event()
    steady = threading.Thread(target=run, args=(member("steady"), steady_stop), daemon=True)
    steady.start()
    for cycle in range(6):
        values = [(f"k{i}".encode(), f"c{cycle}-{i}".encode()) for i in range(100)]
        total += produce_keyed(pipeline.bootstrap, pipeline.topics.raw, values)
        extra_stop = threading.Event()
        extra = threading.Thread(target=run, args=(member(f"extra{cycle}"), extra_stop), daemon=True)
        extra.start()
        time.sleep(3)
        extra_stop.set()  # SIGTERM-like: finish the batch, commit, leave the group
        extra.join(30)
        assert not extra.is_alive()
    out = read_topic(pipeline.bootstrap, out_topic, until=lambda r: len({x.value for x in r}) >= total, timeout=60)
    steady_stop.set()
    steady.join(30)
    assert not errors, errors
    assert len({r.value for r in out}) == total  # nothing lost (duplicates allowed: at-least-once)


@pytest.fixture
def private_broker(tmp_path: Path):
    """A broker of this test's own, since the test stops and restarts it."""
    from devtools.embedded_kafka import EmbeddedKafka

    broker = EmbeddedKafka(tmp_path / "broker", heap="256m")
    broker.start()
    yield broker
    broker.stop()


def _garbage_to(bootstrap: str, topic: str, tag: str, n: int = 5) -> None:
    produce_keyed(bootstrap, topic, ((b"acme", f"not json {tag} {i}".encode()) for i in range(n)))


def test_worker_survives_a_broker_outage_during_its_first_polls_and_one_before_start(private_broker, workers):
    """Seen before: KafkaConnectionError out of poll() (exit 1, traceback), or exit 2
    although the broker was back after 11 s (reconnect back-off grown to ~23 s)."""
    p = Pipeline(private_broker.bootstrap, "faults.", partitions=2)
    ensure_topics(WorkerSettings(kafka_bootstrap=p.bootstrap, topic_prefix=p.prefix, topic_partitions=2))
    env = p.env(REPWATCH_KAFKA_STARTUP_TIMEOUT_S="30")

    # 1. the broker stops about a second after the worker started, and is back 12 s later
    first = workers.start("alerting", ["-m", "services.alerting"], env)
    time.sleep(1.0)
    private_broker.stop()
    time.sleep(12)
    private_broker.start()
    _garbage_to(p.bootstrap, p.topics.scored, "one")
    dead = read_topic(p.bootstrap, p.topics.deadletter, until=lambda r: len(r) >= 5, timeout=60)
    assert len(dead) >= 5, workers.logs()
    assert first.poll() is None, workers.logs()

    # 2. a worker starting while the broker is down waits for it (within its budget)
    private_broker.stop()
    second = workers.start("alerting-late", ["-m", "services.alerting"], p.env(REPWATCH_KAFKA_STARTUP_TIMEOUT_S="30"))
    time.sleep(11)
    private_broker.start()
    time.sleep(3)
    assert second.poll() is None, workers.logs()
    _garbage_to(p.bootstrap, p.topics.scored, "two")
    dead = read_topic(p.bootstrap, p.topics.deadletter, until=lambda r: len(r) >= 10, timeout=60)
    letters = [DeadLetter.model_validate_json(r.value) for r in dead]
    assert sum(b"two" in d.original for d in letters) >= 5

    for proc in (first, second):
        proc.send_signal(signal.SIGTERM)
    for proc in (first, second):
        assert proc.wait(30) == 0, workers.logs()
    assert "Traceback" not in workers.logs()
