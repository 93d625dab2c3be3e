"""``repwatch poll`` as a process on the real broker, SIGKILLed mid-confirmation and restarted.

The VK API is the local server of ``conftest.py`` answering with the recorded
``wall.getComments`` / ``wall.getComment`` answers (the comments' dates moved to the last
day: the watch-list takes only comments younger than its span). One comment (502) is
deleted: the first poller sees the first of the two agreeing lookups and is killed; the
restarted one must find that half-confirmed state on ``ingest.poll_state`` and confirm the
deletion exactly once, dated by the first lookup. Neither restart re-emits a comment.
The re-check schedule is seconds instead of minutes (``REPWATCH_POLL_RECHECK_AFTER``,
``REPWATCH_POLL_CONFIRM_AFTER``); the confirmation delay is long enough that the kill
always lands between the two lookups.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
from datetime import datetime, timezone
from pathlib import Path

import pytest

from shared.schemas import EventType, MentionEvent
from tests.conftest import wait_for
from tests.kafka_io import read_topic
from tests.services.ingest.pollers.conftest import FIXTURES, Answer, fixture

pytestmark = pytest.mark.integration

BRANDS_YAML = "brands:\n  acme:\n    owned_channels: {vk: [club123]}\n"
DELETED = "vk:wall-123_77/502"
STATE_KEY = f"w\x1facme-vk\x1f{DELETED}".encode()


def _recorded_comments_moved_to(now: datetime) -> tuple[bytes, bytes]:
    """The recorded wall.getComments answer, newest comment ten minutes ago; and a
    wall.getComment answer for the older comment (501), which stays visible."""
    data = json.loads((FIXTURES / "vk" / "getComments.json").read_text())
    items = data["response"]["items"]
    newest = max([c["date"] for c in items] + [r["date"] for c in items for r in c["thread"]["items"]])
    shift = int(now.timestamp()) - 600 - newest
    for c in items:
        c["date"] += shift
        for r in c["thread"]["items"]:
            r["date"] += shift
    (older,) = [c for c in items if c["id"] == 501]
    visible = {"response": {"items": [older], "profiles": [], "groups": []}}
    return json.dumps(data).encode(), json.dumps(visible).encode()


def _port(log: Path) -> int:
    found: list[int] = []

    def seen() -> bool:
        m = re.search(r"/metrics /healthz /readyz on port (\d+)", log.read_text(errors="replace"))
        if m:
            found.append(int(m.group(1)))
        return bool(found)

    wait_for(seen, 60, "the poller's metrics port in its log")
    return found[0]


def _ready(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _watch_entry(pipeline) -> dict | None:
    """The last stored watch-list entry of the deleted comment (None: none yet)."""
    recs = read_topic(pipeline.bootstrap, pipeline.topics.poll_state, timeout=2)
    mine = [r for r in recs if r.key == STATE_KEY and r.value is not None]
    return json.loads(mine[-1].value)["entry"] if mine else None


def _events(pipeline) -> list[MentionEvent]:
    recs = read_topic(pipeline.bootstrap, pipeline.topics.raw, timeout=2)
    return [MentionEvent.model_validate_json(r.value) for r in recs]


def test_a_killed_poller_resumes_from_the_compacted_topic(pipeline, workers, api, tmp_path):
    comments, visible = _recorded_comments_moved_to(datetime.now(timezone.utc))
    api.route("/vk/wall.getComments", Answer(200, comments))
    api.route("/vk/wall.getComment?comment_id=503", fixture("vk/getComment_control.json"))  # the brand's: control
    api.route("/vk/wall.getComment?comment_id=502", fixture("vk/getComment_deleted.json"))
    api.route("/vk/wall.getComment?comment_id=501", Answer(200, visible))
    brands, sources = tmp_path / "brands.yaml", tmp_path / "sources.yaml"
    brands.write_text(BRANDS_YAML)
    sources.write_text(
        "sources:\n"
        f"  - {{name: acme-vk, kind: vk, group_id: 123, post_id: 77, credential_env: VK_TOKEN,\n"
        f'     interval: 1s, api: "{api.base}/vk"}}\n'
    )
    env = pipeline.env(
        REPWATCH_BRANDS_FILE=str(brands),
        REPWATCH_POLL_SOURCES_FILE=str(sources),
        REPWATCH_POLL_CONTROLS="1",
        REPWATCH_POLL_RECHECK_AFTER="2s,7d",
        REPWATCH_POLL_CONFIRM_AFTER="20s",
        REPWATCH_POLL_HTTP_TIMEOUT_S="5",
        REPWATCH_KAFKA_STARTUP_TIMEOUT_S="60",
        VK_TOKEN="vk1.a.test-token",
    )

    def polls() -> int:
        return sum(1 for path, _, _ in api.requests if path == "/vk/wall.getComments")

    first = workers.start("poll-1", ["-m", "services.cli", "poll"], env)
    port = _port(first.log_path)
    wait_for(lambda: _ready(port), 60, "the first poller's /readyz")
    # the first of the two agreeing lookups is on the topic: the deletion is half-confirmed
    wait_for(lambda: (_watch_entry(pipeline) or {}).get("pending") == "gone", 60, "a pending deletion")
    first.kill()
    assert first.wait(10) == -signal.SIGKILL
    half = _watch_entry(pipeline)
    assert half["streak"] == 1 and half["state"] == "visible"
    assert not [e for e in _events(pipeline) if e.event_type is EventType.DELETED]

    second = workers.start("poll-2", ["-m", "services.cli", "poll"], env)
    wait_for(lambda: any(e.event_type is EventType.DELETED for e in _events(pipeline)), 90, "the confirmed deletion")
    wait_for(lambda: (_watch_entry(pipeline) or {}).get("state") == "gone", 30, "the deletion's stored state")
    second.kill()
    second.wait(10)

    third = workers.start("poll-3", ["-m", "services.cli", "poll"], env)
    port = _port(third.log_path)
    wait_for(lambda: _ready(port), 60, "the third poller's /readyz")
    before = polls()
    wait_for(lambda: polls() >= before + 3, 30, "three more polls by the restarted poller")
    third.send_signal(signal.SIGTERM)
    assert third.wait(30) == 0

    events = _events(pipeline)
    created = sorted(e.mention_id for e in events if e.event_type is EventType.CREATED)
    # three processes polled the same answer dozens of times: each comment once
    assert created == ["vk:wall-123_77/501", "vk:wall-123_77/502", "vk:wall-123_77/503"]
    deleted = [e for e in events if e.event_type is EventType.DELETED]
    assert [e.mention_id for e in deleted] == [DELETED]
    # dated by the first lookup, made by the killed process: its half of the proof survived
    assert deleted[0].occurred_at == datetime.fromisoformat(half["pending_since"])
    assert deleted[0].actor is None and deleted[0].brand == "acme"
    assert {e.event_type for e in events} == {EventType.CREATED, EventType.DELETED}
    for _, proc in workers.procs:
        assert "Traceback" not in proc.log_path.read_text(errors="replace")
