"""Plain kafka-python helpers for tests: write raw bytes to a topic, read a topic back."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition


def produce(bootstrap: str, topic: str, values: Iterable[bytes], key: bytes | None = b"acme") -> int:
    """Send raw values under one key (acks=all), through one producer."""
    return produce_keyed(bootstrap, topic, ((key, v) for v in values))


def produce_keyed(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Send (key, value) pairs through one producer and wait until all are acknowledged."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    n = 0
    for key, value in records:
        producer.send(topic, value=value, key=key)
        n += 1
    producer.flush(30)
    producer.close()
    return n


def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list], bool] = lambda recs: False,
    timeout: float = 30.0,
) -> list:
    """All records of ``topic`` from the beginning, polled until ``until(records)`` or timeout."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        deadline = time.monotonic() + timeout
        parts = None
        while parts is None and time.monotonic() < deadline:
            parts = consumer.partitions_for_topic(topic)
            if parts is None:
                time.sleep(0.2)
        if not parts:
            return []
        consumer.assign([TopicPartition(topic, p) for p in parts])
        consumer.seek_to_beginning()
        records: list = []
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
            if until(records):
                break
        return records
    finally:
        consumer.close()
