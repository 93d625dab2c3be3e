"""The sentiment worker as a real process on the real broker."""

from __future__ import annotations

import signal

import pytest

from shared.schemas import DeadLetter, ScoredMention
from tests.conftest import wait_for
from tests.factories import mention
from tests.kafka_io import produce, produce_keyed, read_topic

pytestmark = pytest.mark.integration

WORKER = ["-m", "services.sentiment"]


def event_ids(records) -> set[str]:
    return {ScoredMention.model_validate_json(r.value).mention.event_id for r in records}


def events(n, start=0, brands=("acme", "globex", "initech", "umbrella", "hooli", "stark")):
    return [
        mention(i, brand=brands[i % len(brands)], text=f"comment {i} about the delivery")
        for i in range(start, start + n)
    ]


def latest_assignment(log: str) -> set[str]:
    lines = [line for line in log.splitlines() if "assigned partitions:" in line]
    if not lines:
        return set()
    tail = lines[-1].split("assigned partitions:", 1)[1].split()
    return set() if tail == ["none"] else set(tail)


def produce_events(pipeline, evs):
    """Events keyed by brand, as ingest sends them."""
    produce_keyed(pipeline.bootstrap, pipeline.topics.raw, ((e.brand.encode(), e.to_bytes()) for e in evs))


def test_bad_records_go_to_deadletter_and_the_flow_continues(pipeline, workers, random_model_dir):
    good = events(6)
    raw = pipeline.topics.raw
    produce(pipeline.bootstrap, raw, [good[0].to_bytes(), b"{this is not json", good[1].to_bytes()])
    produce(pipeline.bootstrap, raw, [good[2].to_bytes().replace(b'"vk"', b'"myspace"')])
    produce(pipeline.bootstrap, raw, [b'{"event_type": "created", "brand": "acme"}', good[3].to_bytes()])
    produce(pipeline.bootstrap, raw, [b"x" * 300_000, good[4].to_bytes(), good[5].to_bytes()])
    workers.start(
        "sentiment",
        WORKER,
        pipeline.env(REPWATCH_SENTIMENT_MODEL=str(random_model_dir), REPWATCH_MAX_RECORD_BYTES="200000"),
    )
    expected = {e.event_id for e in good} - {good[2].event_id}
    scored = read_topic(pipeline.bootstrap, pipeline.topics.scored, until=lambda r: len(r) >= 5, timeout=90)
    assert event_ids(scored) == expected
    dead = read_topic(pipeline.bootstrap, pipeline.topics.deadletter, until=lambda r: len(r) >= 4, timeout=30)
    reasons = sorted(DeadLetter.model_validate_json(r.value).reason for r in dead)
    assert reasons == ["invalid_json", "oversized", "schema_invalid", "unknown_platform"]
    big = [DeadLetter.model_validate_json(r.value) for r in dead if b"oversized" in r.value][0]
    assert big.original_size == 300_000 and big.original_truncated and big.original == b"x" * 65536
    # the worker is still alive and consuming
    produce_events(pipeline, [mention(100, text="still there?")])
    scored = read_topic(pipeline.bootstrap, pipeline.topics.scored, until=lambda r: len(r) >= 6, timeout=60)
    assert mention(100, text="still there?").event_id in event_ids(scored)
    assert all(p.poll() is None for _, p in workers.procs)


def test_sigterm_mid_stream_then_restart_loses_nothing(pipeline, workers, random_model_dir):
    # small batches, many records: the stop lands mid-stream, with batches in flight
    env = pipeline.env(REPWATCH_SENTIMENT_MODEL=str(random_model_dir), REPWATCH_MAX_POLL_RECORDS="10")
    evs = events(4000)
    produce(pipeline.bootstrap, pipeline.topics.raw, [e.to_bytes() for e in evs], key=b"acme")
    first = workers.start("sentiment-1", WORKER, env)
    wait_for(
        lambda: len(read_topic(pipeline.bootstrap, pipeline.topics.scored, timeout=1)) >= 50,
        90,
        "the first worker to score some records",
    )
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0  # clean exit: batch finished, flushed, committed
    partial = len(read_topic(pipeline.bootstrap, pipeline.topics.scored, timeout=2))
    assert partial < len(evs), "stopped too late to prove anything; produce more records"
    workers.start("sentiment-2", WORKER, env)
    scored = read_topic(
        pipeline.bootstrap,
        pipeline.topics.scored,
        until=lambda r: event_ids(r) >= {e.event_id for e in evs},
        timeout=120,
    )
    assert event_ids(scored) == {e.event_id for e in evs}


def test_two_workers_split_partitions_and_survive_sigkill(pipeline, workers, random_model_dir):
    env = pipeline.env(REPWATCH_SENTIMENT_MODEL=str(random_model_dir))
    a = workers.start("sentiment-a", WORKER, env)
    b = workers.start("sentiment-b", WORKER, env)
    all_partitions = {f"{pipeline.topics.raw}[{i}]" for i in range(pipeline.partitions)}

    def split() -> list[set[str]]:
        return [latest_assignment(p.log_path.read_text()) for p in (a, b)]

    # the group settles: both members own partitions, together all of them
    wait_for(lambda: all(split()) and split()[0] | split()[1] == all_partitions, 60, "the group to split")
    first = events(60)
    produce_events(pipeline, first)
    scored = read_topic(
        pipeline.bootstrap,
        pipeline.topics.scored,
        until=lambda r: event_ids(r) >= {e.event_id for e in first},
        timeout=120,
    )
    assert event_ids(scored) >= {e.event_id for e in first}
    # the two members split the partitions between them, without overlap
    owned = split()
    assert owned[0] and owned[1], workers.logs()
    assert not owned[0] & owned[1]
    assert owned[0] | owned[1] == all_partitions
    a.kill()  # SIGKILL: no goodbye to the group; the session timeout moves its partitions
    a.wait(timeout=10)
    second = events(60, start=1000)
    produce_events(pipeline, second)
    scored = read_topic(
        pipeline.bootstrap,
        pipeline.topics.scored,
        until=lambda r: event_ids(r) >= {e.event_id for e in first + second},
        timeout=120,
    )
    assert event_ids(scored) >= {e.event_id for e in first + second}
    assert b.poll() is None
    wait_for(
        lambda: len(latest_assignment(b.log_path.read_text())) == pipeline.partitions,
        30,
        "the survivor to own every partition",
    )


CLEAR_CASES = [
    ("Terrible service, I want my money back. Never again!", "negative"),
    ("Thank you so much, the support team fixed it in five minutes, great job!", "positive"),
    ("Ужасная доставка, заказ потеряли и никто не отвечает", "negative"),
    ("Спасибо, всё отлично, очень довольна покупкой!", "positive"),
    ("El pedido llegó roto y nadie me devuelve el dinero. Vergüenza.", "negative"),
    ("Shërbim shumë i mirë, faleminderit shumë!", "positive"),
]


@pytest.mark.model
def test_worker_with_the_default_model(pipeline, workers, default_model_dir):
    """The shipped model through the real worker: unset REPWATCH_SENTIMENT_MODEL means the default."""
    evs = [mention(i, text=text) for i, (text, _) in enumerate(CLEAR_CASES)]
    produce_events(pipeline, evs)
    env = pipeline.env()
    env.pop("REPWATCH_SENTIMENT_MODEL", None)
    workers.start("sentiment", WORKER, env)
    scored = read_topic(pipeline.bootstrap, pipeline.topics.scored, until=lambda r: len(r) >= len(evs), timeout=120)
    by_id = {s.mention.event_id: s for s in (ScoredMention.model_validate_json(r.value) for r in scored)}
    got = [by_id[e.event_id].sentiment for e in evs]
    assert [s.label.value for s in got] == [label for _, label in CLEAR_CASES]
    assert [s.lang for s in got] == ["en", "en", "ru", "ru", "es", "sq"]
    assert all(s.model == str(default_model_dir) for s in got)
