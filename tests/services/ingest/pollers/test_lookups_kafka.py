"""Instagram @mentions end to end on the real broker: webhook -> receiver -> ``ingest.lookups``
-> poller -> Graph API -> ``mentions.raw``, with a failing fetch and a SIGKILLed poller.

The Graph API is played by the local HTTP server of ``conftest.py``, answering the
documented ``mentioned_comment`` / ``mentioned_media`` reads with the fixture files of
``tests/fixtures/pollers/instagram`` (and plain 500s where it fails). Both processes run as
``repwatch receive`` and ``repwatch poll``; one partition, so the two lookups' offsets are
ordered: the caption's lookup (first) keeps failing while the comment's (second) fails once
and then succeeds, so the comment's event is written while the commit still waits for the
caption. The poller is SIGKILLed then; the restarted one reads both lookups again, fetches
the comment a second time (the same event id) and the caption once the API answers, and
commits both. Back-off is a second instead of 30.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from services.ingest.connectors.meta import instagram_mention_id
from services.ingest.pollers import instagram
from shared.schemas import EventType, LookupKind, MentionEvent, MentionLookup
from tests.conftest import Pipeline, wait_for
from tests.kafka_io import read_topic
from tests.services.ingest.connectors.payloads import META_APP_SECRET, META_VERIFY_TOKEN, meta_signature
from tests.services.ingest.pollers.conftest import Answer, fixture

pytestmark = pytest.mark.integration

ACCOUNT = "17841400000000001"
COMMENT, COMMENT_MEDIA, CAPTION_MEDIA = "17900000000000099", "18000000000000077", "18000000000000078"
BRANDS_YAML = f'brands:\n  acme:\n    owned_channels: {{instagram: ["instagram:{ACCOUNT}"]}}\n'
FAIL = Answer(500, b'{"error": {"message": "An unknown error occurred", "code": 1, "is_transient": true}}')


def _log_port(log: Path, pattern: str) -> int:
    found: list[int] = []

    def seen() -> bool:
        m = re.search(pattern, log.read_text(errors="replace"))
        if m:
            found.append(int(m.group(1)))
        return bool(found)

    wait_for(seen, 60, f"{pattern!r} in {log.name}")
    return found[0]


def _mention_webhook(value: dict) -> bytes:
    at = int(datetime.now(timezone.utc).timestamp())
    entry = {"id": ACCOUNT, "time": at, "changes": [{"field": "mentions", "value": value}]}
    return json.dumps({"object": "instagram", "entry": [entry]}).encode()


def _post(port: int, body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/hooks/meta", body, {"X-Hub-Signature-256": meta_signature(body)})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _fields(kind: LookupKind, object_id: str) -> str:
    lk = MentionLookup.model_validate(
        {
            "platform": "instagram",
            "kind": kind,
            "brand": "acme",
            "channel": f"instagram:{ACCOUNT}",
            "account_id": ACCOUNT,
            "media_id": object_id if kind is LookupKind.MENTIONED_MEDIA else COMMENT_MEDIA,
            "comment_id": object_id if kind is LookupKind.MENTIONED_COMMENT else None,
            "seen_at": datetime.now(timezone.utc),
            "received_at": datetime.now(timezone.utc),
        }
    )
    return f"/ig/{ACCOUNT}?fields={dict(instagram.mention_request(lk, '', 't').params)['fields']}"


def _events(p: Pipeline) -> list[MentionEvent]:
    return [MentionEvent.model_validate_json(r.value) for r in read_topic(p.bootstrap, p.topics.raw, timeout=2)]


def test_mentions_are_fetched_once_each_through_a_failing_api_and_a_killed_poller(kafka_broker, workers, api, tmp_path):
    p = Pipeline(kafka_broker, f"lk-{uuid.uuid4().hex[:6]}.", partitions=1)
    comment_route, caption_route = (
        _fields(LookupKind.MENTIONED_COMMENT, COMMENT),
        _fields(LookupKind.MENTIONED_MEDIA, CAPTION_MEDIA),
    )
    api.route(caption_route, FAIL)  # fails until the test says otherwise
    api.route(comment_route, FAIL, fixture("instagram/mention_comment.json"))  # fails once, then answers
    brands, sources = tmp_path / "brands.yaml", tmp_path / "sources.yaml"
    brands.write_text(BRANDS_YAML)
    sources.write_text(
        "sources:\n"
        f'  - {{name: acme-ig-mentions, kind: instagram_mentions, account_id: "{ACCOUNT}",\n'
        f'     credential_env: IG_TOKEN, api: "{api.base}/ig"}}\n'
    )
    env = p.env(
        REPWATCH_BRANDS_FILE=str(brands),
        REPWATCH_KAFKA_STARTUP_TIMEOUT_S="60",
        REPWATCH_RECEIVER_HOST="127.0.0.1",
        REPWATCH_RECEIVER_PORT="0",
        REPWATCH_RECEIVER_META_APP_SECRETS=META_APP_SECRET,
        REPWATCH_RECEIVER_META_VERIFY_TOKEN=META_VERIFY_TOKEN,
        REPWATCH_POLL_SOURCES_FILE=str(sources),
        REPWATCH_POLL_HTTP_TIMEOUT_S="5",
        REPWATCH_POLL_LOOKUP_BACKOFF_S="1",
        REPWATCH_POLL_LOOKUP_ATTEMPTS="12",  # the caption must outlast the kill, not be dead-lettered
        IG_TOKEN="IGQV-test-token",
    )
    receiver = workers.start("receiver", ["-m", "services.cli", "receive"], env)
    port = _log_port(receiver.log_path, r"/hooks/\S+ on 127\.0\.0\.1:(\d+)")
    # the caption first, so its (failing) lookup holds the lower offset
    assert _post(port, _mention_webhook({"media_id": CAPTION_MEDIA})) == 200
    assert _post(port, _mention_webhook({"media_id": COMMENT_MEDIA, "comment_id": COMMENT})) == 200
    lookups = read_topic(p.bootstrap, p.topics.lookups, until=lambda rs: len(rs) >= 2, timeout=30)
    assert [MentionLookup.model_validate_json(r.value).kind for r in lookups] == [
        LookupKind.MENTIONED_MEDIA,
        LookupKind.MENTIONED_COMMENT,
    ]
    assert [r.offset for r in lookups] == [0, 1]

    def calls(path: str) -> int:
        return sum(1 for path_, query, _ in api.requests if f"{path_}?fields={query.get('fields')}" == path)

    first = workers.start("poll-1", ["-m", "services.cli", "poll"], env)
    # the failing-then-succeeding fetch: one event, written while the caption still fails
    wait_for(lambda: any(e.mention_id == instagram_mention_id(COMMENT) for e in _events(p)), 90, "the comment")
    assert calls(comment_route) == 2 and calls(caption_route) >= 1
    first.kill()
    assert first.wait(10) == -signal.SIGKILL
    assert not any(e.mention_id == instagram_mention_id(CAPTION_MEDIA) for e in _events(p))

    api.route(caption_route, fixture("instagram/mention_media.json"))  # the API answers again
    second = workers.start("poll-2", ["-m", "services.cli", "poll"], env)
    wait_for(lambda: any(e.mention_id == instagram_mention_id(CAPTION_MEDIA) for e in _events(p)), 90, "the caption")
    # the restarted poller read both lookups again: the comment was fetched a second time
    wait_for(lambda: calls(comment_route) >= 3, 30, "the comment's re-fetch")
    group = f"{p.prefix}repwatch-poll-lookups"

    def committed() -> int | None:
        # asks the group coordinator only: reading the commit does not join the group
        reader = KafkaConsumer(bootstrap_servers=p.bootstrap, group_id=group, enable_auto_commit=False)
        try:
            return reader.committed(TopicPartition(p.topics.lookups, 0))
        finally:
            reader.close(autocommit=False)

    wait_for(lambda: committed() == 2, 30, "both lookups committed")
    second.send_signal(signal.SIGTERM)
    assert second.wait(30) == 0

    events = _events(p)
    ids: dict[str, set[str]] = defaultdict(set)
    for e in events:
        ids[e.mention_id].add(e.event_id)
    assert set(ids) == {instagram_mention_id(COMMENT), instagram_mention_id(CAPTION_MEDIA)}
    assert all(len(v) == 1 for v in ids.values()), ids  # the re-fetch wrote the same event
    assert sum(e.mention_id == instagram_mention_id(COMMENT) for e in events) == 2  # and really was one
    assert {e.event_type for e in events} == {EventType.CREATED}
    by_id = {e.mention_id: e for e in events}
    assert by_id[instagram_mention_id(COMMENT)].author_id == "instagram:@jane.doe"
    assert by_id[instagram_mention_id(CAPTION_MEDIA)].url == "https://www.instagram.com/p/C7zyxwVUts2/"
    assert read_topic(p.bootstrap, p.topics.deadletter, timeout=2) == []
    for _, proc in workers.procs:
        text = proc.log_path.read_text(errors="replace")
        assert "Traceback" not in text and "IGQV-test-token" not in text
