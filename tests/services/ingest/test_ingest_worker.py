"""``repwatch ingest file`` as a real process against the real broker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from shared.schemas import DeadLetter, MentionEvent
from tests.conftest import REPO_ROOT
from tests.factories import mention
from tests.kafka_io import read_topic

pytestmark = pytest.mark.integration


def test_file_ingest_sends_good_lines_and_dead_letters_bad_ones(pipeline, tmp_path):
    good = [mention(i, brand=("acme", "globex")[i % 2]) for i in range(10)]
    lines = [e.to_bytes() for e in good]
    lines.insert(3, b"{not json")
    lines.insert(7, json.dumps({"event_type": "created", "platform": "orkut"}).encode())
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "ingest", "file", str(path)],
        env=pipeline.env(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr

    raw = read_topic(pipeline.bootstrap, pipeline.topics.raw, until=lambda r: len(r) >= 10)
    sent = [MentionEvent.model_validate_json(r.value) for r in raw]
    assert sorted(e.event_id for e in sent) == sorted(e.event_id for e in good)
    assert {r.key for r in raw} == {b"acme", b"globex"}  # keyed by brand
    # one brand's events stay in order on one partition
    acme = [
        (r.partition, r.offset, MentionEvent.model_validate_json(r.value).mention_id) for r in raw if r.key == b"acme"
    ]
    assert len({p for p, _, _ in acme}) == 1
    assert [m for _, _, m in sorted(acme)] == [e.mention_id for e in good if e.brand == "acme"]

    dead = read_topic(pipeline.bootstrap, pipeline.topics.deadletter, until=lambda r: len(r) >= 2)
    letters = sorted((DeadLetter.model_validate_json(r.value) for r in dead), key=lambda d: d.source_offset)
    assert [(d.source_offset, d.reason) for d in letters] == [(4, "invalid_json"), (8, "unknown_platform")]
    assert letters[0].original == b"{not json" and letters[0].source_topic == f"file:{path}"


def test_unreachable_kafka_exits_with_a_clear_message(tmp_path):
    from devtools.procs import free_ports

    (port,) = free_ports(1)
    path = tmp_path / "x.jsonl"
    path.write_bytes(mention(1).to_bytes() + b"\n")
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "ingest", "file", str(path)],
        env={
            "REPWATCH_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
            "REPWATCH_KAFKA_STARTUP_TIMEOUT_S": "2",
            "REPWATCH_METRICS_PORT": "0",
            "PATH": "/usr/bin:/bin",
        },
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"127.0.0.1:{port}" in done.stderr and "Is the broker running" in done.stderr


def test_lines_the_parser_refuses_neither_stop_the_file_nor_lose_pending_lines(pipeline, tmp_path):
    """`[`×100000 used to raise RecursionError and a 5,000-digit number ValueError:
    exit 1, nothing dead-lettered, and the unsent valid lines before them lost."""
    good = [mention(i) for i in range(6)]
    lines = [e.to_bytes() for e in good]
    lines.insert(2, b"[" * 100_000 + b"]" * 100_000)
    lines.insert(5, b'{"likes": ' + b"9" * 5000 + b"}")
    path = tmp_path / "deep.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "ingest", "file", str(path)],
        env=pipeline.env(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    raw = read_topic(pipeline.bootstrap, pipeline.topics.raw, until=lambda r: len(r) >= 6)
    assert sorted(MentionEvent.model_validate_json(r.value).event_id for r in raw) == sorted(e.event_id for e in good)
    dead = read_topic(pipeline.bootstrap, pipeline.topics.deadletter, until=lambda r: len(r) >= 2)
    letters = sorted((DeadLetter.model_validate_json(r.value) for r in dead), key=lambda d: d.source_offset)
    assert [(d.source_offset, d.reason) for d in letters] == [(3, "invalid_json"), (6, "invalid_json")]
    assert letters[0].original_size == 200_000 and letters[0].original_truncated
