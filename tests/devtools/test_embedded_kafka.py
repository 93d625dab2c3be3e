"""Integration tests for the embedded Kafka broker (devtools/embedded_kafka.py).

These start the real Apache Kafka JVM (jars fetched once by Maven into the user
cache), so they need Java 17+ and, on the very first run, Maven Central. Each test
owns its broker and data dir; the project-wide session broker lives in conftest.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from devtools.embedded_kafka import (
    PID_FILE_NAME,
    STATE_FILE_NAME,
    EmbeddedKafka,
    PortInUseError,
    broker_status,
    cli,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
TOPIC = "repwatch.test.mentions"
GROUP = "repwatch-test-group"


def _pid_gone(pid: int) -> bool:
    """True if no live process has this pid (a zombie awaiting its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _pid_gone(pid):
            return True
        time.sleep(0.1)
    return _pid_gone(pid)


def _poll_values(consumer: KafkaConsumer, expected: int, timeout: float = 30.0) -> set[bytes]:
    """Poll until ``expected`` records arrived (or ``timeout``); iterating a consumer would
    instead block for consumer_timeout_ms after the last record."""
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(values) < expected and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            values.extend(record.value for record in records)
    return set(values)


@pytest.fixture
def brokers() -> Iterator[list[EmbeddedKafka]]:
    """Collects the brokers a test creates and stops them whatever happens in the test."""
    created: list[EmbeddedKafka] = []
    yield created
    for broker in created:
        broker.stop()


@pytest.mark.integration
def _retry(fn, timeout: float = 30.0):
    """Call ``fn`` until it stops raising a retriable Kafka error (coordinator moving/loading)."""
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except KafkaError as exc:
            if not getattr(exc, "retriable", False) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_restart_keeps_ports_topics_records_and_offsets(tmp_path: Path, brokers: list[EmbeddedKafka]) -> None:
    data_dir = tmp_path / "broker"
    broker = EmbeddedKafka(data_dir, heap="256m")
    brokers.append(broker)
    broker.start()
    bootstrap = broker.bootstrap
    first_pid = broker.pid
    assert first_pid is not None and broker.is_running()

    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        admin.create_topics({TOPIC: {"num_partitions": 2, "replication_factor": 1}}, wait_for_metadata=True)

    sent = {f"mention-{i}".encode() for i in range(20)}
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for i, value in enumerate(sorted(sent)):
            producer.send(TOPIC, key=str(i % 4).encode(), value=value).get(timeout=30)
        producer.flush()
    finally:
        producer.close()

    # A classic-protocol group (what kafka-python speaks) with a 6 s session timeout,
    # i.e. above the broker's lowered group.min.session.timeout.ms.
    consumer = KafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id=GROUP,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    try:
        assert _poll_values(consumer, len(sent)) == sent
        _retry(consumer.commit)
    finally:
        consumer.close(autocommit=False)

    broker.stop()
    assert not broker.is_running()
    assert _pid_gone(first_pid), "the broker JVM must be gone after stop()"
    assert not (data_dir / PID_FILE_NAME).exists()

    restarted = EmbeddedKafka(data_dir, heap="256m")
    brokers.append(restarted)
    restarted.start()
    assert restarted.bootstrap == bootstrap, "ports are persisted so clients keep their bootstrap"

    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        assert TOPIC in admin.list_topics()
        [topic] = admin.describe_topics([TOPIC])
        assert len(topic["partitions"]) == 2
        # Right after a restart the group coordinator may still be loading
        # __consumer_offsets and answer NotCoordinator: a retriable state, not a loss.
        committed = _retry(lambda: admin.list_group_offsets({GROUP: None})[GROUP])
    assert sum(meta.offset for tp, meta in committed.items() if tp.topic == TOPIC) == len(sent)

    reader = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(TOPIC, p) for p in range(2)]
        reader.assign(partitions)
        reader.seek_to_beginning(*partitions)
        after_restart = _poll_values(reader, len(sent))
    finally:
        reader.close()
    assert after_restart == sent

    second_pid = restarted.pid
    assert second_pid is not None
    restarted.stop()
    assert _pid_gone(second_pid)


@pytest.mark.integration
def test_jvm_dies_when_python_parent_is_sigkilled(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: no orphan JVM even when atexit never gets to run."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from devtools.embedded_kafka import EmbeddedKafka
        broker = EmbeddedKafka(Path({str(tmp_path / "broker")!r}), heap="256m").start()
        print(broker.pid, flush=True)
        time.sleep(600)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    jvm_pid: int | None = None
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip().isdigit(), f"child did not start the broker: {line!r}"
        jvm_pid = int(line)
        assert not _pid_gone(jvm_pid)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert _wait_gone(jvm_pid, 30), "JVM outlived its SIGKILLed parent"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if jvm_pid is not None and not _pid_gone(jvm_pid):
            os.kill(jvm_pid, signal.SIGKILL)


@pytest.mark.integration
def test_detached_cli_start_status_stop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "detached"
    args = ["--data-dir", str(data_dir)]
    try:
        assert cli(["start", *args]) == 0
        bootstrap = capsys.readouterr().out.strip()
        status = broker_status(data_dir)
        assert status is not None and status["answering"] and status["bootstrap"] == bootstrap
        pid = status["pid"]

        assert cli(["start", *args]) == 0  # second start: reports the running broker
        captured = capsys.readouterr()
        assert captured.out.strip() == bootstrap and "already running" in captured.err

        assert cli(["status", "--json", *args]) == 0
        assert json.loads(capsys.readouterr().out)["pid"] == pid
    finally:
        assert cli(["stop", *args]) == 0
    assert _pid_gone(pid)
    assert cli(["status", *args]) == 3
    assert broker_status(data_dir) is None


def test_persisted_port_taken_by_someone_else_is_a_clear_error(tmp_path: Path) -> None:
    """No JVM needed: the port check runs before anything is fetched or started."""
    data_dir = tmp_path / "broker"
    data_dir.mkdir()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        (data_dir / STATE_FILE_NAME).write_text(json.dumps({"port": taken}))
        with pytest.raises(PortInUseError, match=rf"127\.0\.0\.1:{taken} is persisted in .*another process"):
            EmbeddedKafka(data_dir).start()
