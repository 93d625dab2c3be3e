"""The webhook receiver's answers, over the connectors' fixture bodies, without Kafka.

The ASGI app is called directly (scope, receive, send), with a publisher that records
what would go to Kafka or refuses like an unavailable Kafka: status codes, bodies,
what is published where, metrics. The real broker and the real HTTP server are in
``test_receiver_kafka.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from services.ingest.connectors import Delivery, Push
from services.ingest.receiver import (
    KafkaPublisher,
    NotAcknowledged,
    Receiver,
    ReceiverMetrics,
    RecentAuthors,
    Route,
)
from services.ingest.receiver_main import ReceiverConfigError, build_routes
from services.ingest.settings import ReceiverSettings
from shared import standard_webhooks
from shared.config import TopicNames
from shared.kafka.transport import Outgoing
from shared.metrics import Health, TransportMetrics
from shared.schemas import Actor, DeadLetter, EventType, LookupKind, MentionEvent, MentionLookup
from tests.services.ingest.connectors.payloads import (
    BRANDS,
    GENERIC_SECRET,
    META_APP_SECRET,
    META_VERIFY_TOKEN,
    TELEGRAM_TOKEN,
    VK_CONFIRMATION,
    VK_SECRET,
    X_CONSUMER_SECRET,
    fixture,
    fixture_json,
    meta_signature,
    x_signature,
)

TOPICS = TopicNames.with_prefix("")
NOW = datetime(2024, 6, 1, 18, 0, tzinfo=timezone.utc)


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[list[Outgoing]] = []
        self.unavailable = False

    async def publish(self, records: Sequence[Outgoing]) -> None:
        if self.unavailable:
            raise NotAcknowledged("test: Kafka away")
        self.published.append(list(records))

    def on(self, topic: str) -> list[Outgoing]:
        return [r for batch in self.published for r in batch if r.topic == topic]


def settings(**over: object) -> ReceiverSettings:
    base: dict[str, object] = {
        "receiver_vk_secrets": VK_SECRET,
        "receiver_vk_confirmations": f"123={VK_CONFIRMATION}",
        "receiver_meta_app_secrets": META_APP_SECRET,
        "receiver_meta_verify_token": META_VERIFY_TOKEN,
        "receiver_telegram_secret_tokens": TELEGRAM_TOKEN,
        "receiver_generic_secrets": GENERIC_SECRET,
        "receiver_x_consumer_secret": X_CONSUMER_SECRET,
    }
    base.update(over)
    return ReceiverSettings(_env_file=None, **base)  # type: ignore[arg-type]


class App:
    """A receiver over every fixture platform, with its publisher and metrics at hand."""

    def __init__(self, routes: dict[str, Route] | None = None, **receiver_options: object) -> None:
        self.registry = CollectorRegistry()
        self.publisher = FakePublisher()
        self.authors = RecentAuthors(1000)
        self.metrics = ReceiverMetrics(self.registry)
        self.app = Receiver(
            routes if routes is not None else build_routes(settings(), BRANDS, self.authors),
            self.publisher,
            TOPICS,
            metrics=self.metrics,
            transport_metrics=TransportMetrics(self.registry, "receiver"),
            clock=lambda: NOW,
            on_published=self.authors.remember,
            **receiver_options,  # type: ignore[arg-type]
        )

    def call(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        query: str = "",
        chunks: list[bytes] | None = None,
        declare_length: bool = True,
    ) -> tuple[int, dict[str, str], bytes]:
        hdrs = {k.lower(): v for k, v in (headers or {}).items()}
        if declare_length and chunks is None:
            hdrs.setdefault("content-length", str(len(body)))
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "query_string": query.encode(),
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in hdrs.items()],
        }
        parts = chunks if chunks is not None else [body]
        messages = [
            {"type": "http.request", "body": part, "more_body": i < len(parts) - 1} for i, part in enumerate(parts)
        ]
        sent: list[dict] = []

        async def receive() -> dict:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        asyncio.run(self.app(scope, receive, send))
        start, body_msg = sent
        return (
            start["status"],
            {k.decode(): v.decode() for k, v in start["headers"]},
            body_msg["body"],
        )

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def raw_events(self) -> list[MentionEvent]:
        return [MentionEvent.model_validate_json(r.value) for r in self.publisher.on(TOPICS.raw)]

    def dead_letters(self) -> list[DeadLetter]:
        return [DeadLetter.model_validate_json(r.value) for r in self.publisher.on(TOPICS.deadletter)]


def vk(case: str, **changes: object) -> bytes:
    data = fixture_json("vk", case)
    data.update(changes)
    return json.dumps(data, ensure_ascii=False).encode()


def generic_headers(body: bytes, msg_id: str = "msg_1") -> dict[str, str]:
    ts = int(NOW.timestamp())
    return {
        standard_webhooks.HEADER_ID: msg_id,
        standard_webhooks.HEADER_TIMESTAMP: str(ts),
        standard_webhooks.HEADER_SIGNATURE: standard_webhooks.sign(GENERIC_SECRET, msg_id, ts, body),
    }


# ------------------------------------------------------------------------------------ accepted pushes


def test_vk_comment_is_published_keyed_by_brand_then_acknowledged_with_ok():
    a = App()
    status, headers, body = a.call("POST", "/hooks/vk", fixture("vk", "wall_reply_new"))
    assert (status, body) == (200, b"ok")
    (record,) = a.publisher.on(TOPICS.raw)
    assert record.key == b"acme"
    (event,) = a.raw_events()
    assert event.event_type is EventType.CREATED and event.mention_id == "vk:wall-123_4522/4530"
    assert event.ingested_at == NOW
    assert a.metric("repwatch_receiver_requests_total", platform="vk", status="200") == 1
    assert a.metric("repwatch_receiver_events_total", platform="vk", event_type="created") == 1
    assert a.metric("repwatch_receiver_request_seconds_count", platform="vk") == 1
    assert a.metric("repwatch_receiver_requests_in_flight") == 0


def test_vk_confirmation_is_answered_with_the_code_and_publishes_nothing():
    a = App()
    status, _, body = a.call("POST", "/hooks/vk", fixture("vk", "confirmation"))
    assert (status, body) == (200, VK_CONFIRMATION.encode())
    assert a.publisher.published == []


def test_vk_deletion_names_the_author_as_actor_when_the_receiver_saw_the_comment():
    a = App()
    a.call("POST", "/hooks/vk", fixture("vk", "wall_reply_new"))
    # the same person (700300) removes their own comment
    own = fixture_json("vk", "wall_reply_delete")
    own["object"]["deleter_id"] = 700300
    a.call("POST", "/hooks/vk", json.dumps(own).encode())
    # a manager (900001, the fixture's remover) removes it
    a.call("POST", "/hooks/vk", fixture("vk", "wall_reply_delete"))
    created, by_author, by_manager = a.raw_events()
    assert by_author.event_type is EventType.DELETED and by_author.mention_id == created.mention_id
    assert by_author.author_id == created.author_id
    assert by_author.actor is Actor.AUTHOR
    assert by_manager.actor is Actor.BRAND
    assert a.metric("repwatch_receiver_events_total", platform="vk", event_type="deleted") == 2


def test_vk_deletion_of_a_comment_never_seen_has_no_actor():
    a = App()
    a.call("POST", "/hooks/vk", fixture("vk", "wall_reply_delete"))
    (event,) = a.raw_events()
    assert event.event_type is EventType.DELETED and event.actor is None


def test_meta_batch_publishes_its_events_and_dead_letters_its_bad_parts_together():
    a = App()
    body = fixture("facebook", "batched")
    status, _, reply = a.call("POST", "/hooks/meta", body, {"X-Hub-Signature-256": meta_signature(body)})
    assert (status, reply) == (200, b"EVENT_RECEIVED")
    assert len(a.publisher.published) == 1  # one acknowledgement covers the whole request
    events, dead = a.raw_events(), a.dead_letters()
    assert events and dead
    assert {d.source_topic for d in dead} == {"webhook:meta"}
    reasons = {d.reason for d in dead}
    assert reasons <= {"unknown_channel", "schema_invalid", "unsupported_event"}
    for d in dead:  # each part alone, in Meta's envelope, so it can be replayed
        assert json.loads(d.original)["object"] == "page"
    assert a.metric("repwatch_receiver_skipped_total", platform="meta", reason="reaction") == 1
    for reason in reasons:
        assert a.metric("repwatch_records_dead_lettered_total", worker="receiver", reason=reason) >= 1


def test_meta_subscription_handshake_echoes_the_challenge():
    a = App()
    q = f"hub.mode=subscribe&hub.verify_token={META_VERIFY_TOKEN}&hub.challenge=1158201444"
    status, _, body = a.call("GET", "/hooks/meta", query=q)
    assert (status, body) == (200, b"1158201444")
    status, _, _ = a.call("GET", "/hooks/meta", query="hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1")
    assert status == 401


def test_telegram_service_message_is_acknowledged_and_counted_not_published():
    a = App()
    status, _, body = a.call(
        "POST",
        "/hooks/telegram",
        fixture("telegram", "new_chat_members"),
        {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_TOKEN},
    )
    assert (status, body) == (200, b"")
    assert a.publisher.published == []
    assert a.metric("repwatch_receiver_skipped_total", platform="telegram", reason="service_message") == 1


def test_instagram_mentions_are_handed_to_the_lookups_topic_before_the_answer():
    a = App()
    body = fixture("instagram", "mentions")
    status, _, reply = a.call("POST", "/hooks/meta", body, {"X-Hub-Signature-256": meta_signature(body)})
    assert (status, reply) == (200, b"EVENT_RECEIVED")
    assert len(a.publisher.published) == 1  # acknowledged by Kafka like events, in the same request
    records = a.publisher.on(TOPICS.lookups)
    lookups = [MentionLookup.model_validate_json(r.value) for r in records]
    assert [(x.kind, x.media_id, x.comment_id) for x in lookups] == [
        (LookupKind.MENTIONED_COMMENT, "18000000000000077", "17900000000000099"),
        (LookupKind.MENTIONED_MEDIA, "18000000000000078", None),
    ]
    assert all(x.account_id == "17841400000000001" and x.brand == "acme" and x.received_at == NOW for x in lookups)
    assert [r.key for r in records] == [x.key.encode() for x in lookups]  # keyed by the mention
    assert a.raw_events() == [] and a.dead_letters() == []
    assert a.metric("repwatch_receiver_lookups_total", platform="meta", kind="mentioned_comment") == 1
    assert a.metric("repwatch_receiver_lookups_total", platform="meta", kind="mentioned_media") == 1
    assert a.metric("repwatch_receiver_skipped_total", platform="meta", reason="lookup") == 0


def test_a_retried_mentions_webhook_gives_the_same_lookup_keys_and_waits_for_kafka():
    a = App()
    body = fixture("instagram", "mentions")
    headers = {"X-Hub-Signature-256": meta_signature(body)}
    a.publisher.unavailable = True
    assert a.call("POST", "/hooks/meta", body, headers)[0] == 503  # Meta retries: nothing lost
    assert a.metric("repwatch_receiver_lookups_total", platform="meta", kind="mentioned_media") == 0
    a.publisher.unavailable = False
    assert a.call("POST", "/hooks/meta", body, headers)[0] == 200
    assert a.call("POST", "/hooks/meta", body, headers)[0] == 200
    keys = [r.key for r in a.publisher.on(TOPICS.lookups)]
    assert keys[:2] == keys[2:] and len(set(keys)) == 2


def x_headers(body: bytes) -> dict[str, str]:
    return {"x-twitter-webhooks-signature": x_signature(body)}


def test_x_crc_is_answered_as_json_with_the_hmac_of_the_token():
    a = App()
    status, headers, body = a.call("GET", "/hooks/x", query="crc_token=challenge_string")
    assert status == 200 and headers["content-type"] == "application/json"
    # base64(HMAC-SHA256(X_CONSUMER_SECRET, "challenge_string")), computed with openssl
    assert json.loads(body) == {"response_token": "sha256=2DR34odcnarWjGz7KA+03c3HxLJBYhSrntZIrn6FV1M="}
    assert a.publisher.published == []
    assert a.call("GET", "/hooks/x")[0] == 401  # no crc_token: nothing to answer, nothing kept
    assert a.publisher.published == []


def test_x_mention_is_published_keyed_by_brand_and_a_retry_is_the_same_event():
    a = App()
    body = fixture("x", "tweet_create_mention")
    for _ in range(2):  # X retries up to three times when it gets no 200
        status, _, reply = a.call("POST", "/hooks/x", body, x_headers(body))
        assert (status, reply) == (200, b"")
    first, again = a.raw_events()
    assert first.mention_id == "x:1796974261342425088" and first.event_id == again.event_id
    assert {r.key for r in a.publisher.on(TOPICS.raw)} == {b"acme"}
    assert a.metric("repwatch_receiver_events_total", platform="x", event_type="created") == 2


def test_x_deletion_and_skipped_events():
    a = App()
    for case in ("tweet_delete", "tweet_create_retweet", "favorite"):
        body = fixture("x", case)
        assert a.call("POST", "/hooks/x", body, x_headers(body))[0] == 200
    (deleted,) = a.raw_events()
    assert deleted.event_type is EventType.DELETED and deleted.actor is Actor.AUTHOR
    assert a.metric("repwatch_receiver_skipped_total", platform="x", reason="repost") == 1
    assert a.metric("repwatch_receiver_skipped_total", platform="x", reason="reaction") == 1


def test_x_unknown_account_is_dead_lettered_and_acknowledged():
    a = App()
    body = fixture("x", "unknown_account")
    status, _, _ = a.call("POST", "/hooks/x", body, x_headers(body))
    assert status == 200 and a.raw_events() == []
    (dead,) = a.dead_letters()
    assert dead.reason == "unknown_channel" and dead.source_topic == "webhook:x"


def test_generic_signed_push_is_published():
    a = App()
    body = fixture("generic", "single")
    status, _, _ = a.call("POST", "/hooks/generic", body, generic_headers(body))
    assert status == 200
    assert len(a.raw_events()) == 1


def test_a_retried_delivery_yields_the_same_event_ids():
    a = App()
    for case in ("wall_reply_new", "wall_reply_edit", "wall_reply_delete"):
        a.call("POST", "/hooks/vk", fixture("vk", case))
        a.call("POST", "/hooks/vk", fixture("vk", case))  # VK retries the same event
    ids = [e.event_id for e in a.raw_events()]
    assert ids[0::2] == ids[1::2] and len(set(ids)) == 3


# ------------------------------------------------------------------------------------ dead letters


def test_authentic_but_unusable_push_is_dead_lettered_and_acknowledged():
    a = App()
    status, _, body = a.call("POST", "/hooks/vk", vk("unknown_group", secret=VK_SECRET))
    assert (status, body) == (200, b"ok")
    assert a.publisher.on(TOPICS.raw) == []
    (dead,) = a.dead_letters()
    assert dead.reason == "unknown_channel" and dead.source_topic == "webhook:vk" and dead.worker == "receiver"
    assert json.loads(dead.original)["group_id"] == 999


def test_authentic_invalid_json_is_dead_lettered_with_the_decoders_reason():
    a = App()
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_TOKEN}
    status, _, _ = a.call("POST", "/hooks/telegram", b"{not json", headers)
    assert status == 200
    (dead,) = a.dead_letters()
    assert dead.reason == "invalid_json" and dead.original == b"{not json"


def test_a_connector_that_raises_dead_letters_the_push_as_processing_error():
    class Broken:
        name = "broken"
        ack = b"fine"

        def handle(self, push: Push) -> Delivery:
            raise RuntimeError("bug")

    a = App({"broken": Route(Broken(), 1024)})
    status, _, body = a.call("POST", "/hooks/broken", b"payload")
    assert (status, body) == (200, b"fine")
    (dead,) = a.dead_letters()
    assert dead.reason == "processing_error" and dead.original == b"payload"


# ------------------------------------------------------------------------------------ refused requests


@pytest.mark.parametrize(
    ("path", "body", "headers", "reason"),
    [
        ("/hooks/vk", "wrong_secret", {}, "bad_signature"),
        ("/hooks/vk", "no_secret", {}, "missing_signature"),
        ("/hooks/meta", "comment_add", {"X-Hub-Signature-256": "sha256=" + "0" * 64}, "bad_signature"),
        ("/hooks/meta", "comment_add", {}, "missing_signature"),
        ("/hooks/telegram", "message", {"X-Telegram-Bot-Api-Secret-Token": "nope"}, "bad_signature"),
        ("/hooks/generic", "single", {}, "missing_signature"),
        ("/hooks/x", "tweet_create_mention", {}, "missing_signature"),
        ("/hooks/x", "tweet_create_mention", {"x-twitter-webhooks-signature": "sha256=" + "A" * 44}, "bad_signature"),
    ],
)
def test_bad_or_missing_signatures_get_401_and_no_dead_letter(path, body, headers, reason):
    a = App()
    if body == "wrong_secret":
        raw = vk("wall_reply_new", secret="guess")
    elif body == "no_secret":
        data = fixture_json("vk", "wall_reply_new")
        del data["secret"]
        raw = json.dumps(data).encode()
    else:
        platform = {
            "/hooks/meta": "facebook",
            "/hooks/telegram": "telegram",
            "/hooks/generic": "generic",
            "/hooks/x": "x",
        }[path]
        raw = fixture(platform, body)
    status, _, _ = a.call("POST", path, raw, headers)
    assert status == 401
    assert a.publisher.published == []
    name = path.rsplit("/", 1)[1]
    assert a.metric("repwatch_receiver_refused_total", platform=name, reason=reason) == 1
    assert a.metric("repwatch_receiver_requests_total", platform=name, status="401") == 1


def test_a_replayed_generic_push_outside_the_tolerance_is_401():
    a = App()
    body = fixture("generic", "single")
    old = int(NOW.timestamp()) - 3600
    headers = {
        standard_webhooks.HEADER_ID: "msg_old",
        standard_webhooks.HEADER_TIMESTAMP: str(old),
        standard_webhooks.HEADER_SIGNATURE: standard_webhooks.sign(GENERIC_SECRET, "msg_old", old, body),
    }
    status, _, _ = a.call("POST", "/hooks/generic", body, headers)
    assert status == 401
    assert a.metric("repwatch_receiver_refused_total", platform="generic", reason="stale_signature") == 1


def test_declared_oversized_body_is_413_before_reading():
    routes = build_routes(settings(receiver_max_body_bytes=2048), BRANDS)
    a = App(routes)
    status, headers, _ = a.call("POST", "/hooks/telegram", b"x" * 10, {"content-length": "999999"})
    assert status == 413 and headers["connection"] == "close"
    assert a.publisher.published == []
    assert a.metric("repwatch_receiver_refused_total", platform="telegram", reason="too_large") == 1


def test_chunked_body_passing_the_limit_is_413():
    a = App(build_routes(settings(receiver_max_body_bytes=2048), BRANDS))
    status, _, _ = a.call("POST", "/hooks/meta", chunks=[b"{" * 1500, b"{" * 1500])
    assert status == 413
    assert a.publisher.published == []


def test_route_limits_follow_the_connectors():
    routes = build_routes(settings(), BRANDS)
    assert routes["vk"].max_body_bytes == 1_000_000  # the VK connector reads one record's worth
    assert routes["telegram"].max_body_bytes == 1024 * 1024
    assert routes["meta"].max_body_bytes == 8 * 1024 * 1024


def test_unknown_route_is_404_and_wrong_method_405():
    a = App()
    assert a.call("POST", "/hooks/ok", b"{}")[0] == 404
    assert a.call("GET", "/metrics")[0] == 404  # metrics live on their own port
    status, headers, _ = a.call("GET", "/hooks/vk")
    assert status == 405 and headers["allow"] == "POST"
    assert a.metric("repwatch_receiver_requests_total", platform="unknown", status="404") == 2


# ------------------------------------------------------------------------------------ Kafka unavailable


def test_kafka_unavailable_is_503_and_the_retry_is_the_same_event():
    a = App()
    a.publisher.unavailable = True
    status, headers, _ = a.call("POST", "/hooks/vk", fixture("vk", "wall_reply_edit"))
    assert status == 503 and headers["retry-after"] == "5"
    assert a.metric("repwatch_receiver_events_total", platform="vk", event_type="edited") == 0
    # a dead letter waits for Kafka too: a garbage push is not acknowledged before it is kept
    assert a.call("POST", "/hooks/vk", vk("unknown_group", secret=VK_SECRET))[0] == 503
    a.publisher.unavailable = False
    assert a.call("POST", "/hooks/vk", fixture("vk", "wall_reply_edit"))[0] == 200
    assert a.call("POST", "/hooks/vk", fixture("vk", "wall_reply_edit"))[0] == 200
    first, again = a.raw_events()
    assert first.event_id == again.event_id


class FakeProducer:
    """``send_then`` as the transport's: calls back with None (acked) or an error, or never."""

    def __init__(self) -> None:
        self.mode = "ack"
        self.sent = 0

    def send_then(self, records, done) -> None:
        self.sent += 1
        if self.mode == "ack":
            done(None)
        elif self.mode == "error":
            done(RuntimeError("broker gone"))
        # "hang": never called back, as when the broker is down and the records wait


def test_publisher_opens_the_circuit_on_a_timeout_and_closes_it_on_a_successful_probe():
    now = [100.0]
    producer = FakeProducer()
    health = Health()
    health.set_ready(True, "receiving")
    metrics = ReceiverMetrics(CollectorRegistry())
    pub = KafkaPublisher(
        producer, ack_timeout_s=0.05, probe_interval_s=1.0, metrics=metrics, health=health, clock=lambda: now[0]
    )
    rec = [Outgoing("t", None, b"v")]

    async def attempt() -> bool:
        try:
            await pub.publish(rec)
            return True
        except NotAcknowledged:
            return False

    def run() -> bool:
        return asyncio.run(attempt())

    assert run() and not pub.down
    producer.mode = "hang"
    assert not run() and pub.down
    assert health.ready()[0] is False
    sent = producer.sent
    assert not run() and producer.sent == sent  # circuit open: 503 without trying Kafka
    now[0] += 1.5
    producer.mode = "ack"
    assert run() and not pub.down and producer.sent == sent + 1  # the probe went through
    assert health.ready()[0] is True
    producer.mode = "error"
    assert not run() and pub.down


# ------------------------------------------------------------------------------------ configuration


def test_only_platforms_with_credentials_are_served():
    only_tg = ReceiverSettings(_env_file=None, receiver_telegram_secret_tokens=TELEGRAM_TOKEN)
    assert set(build_routes(only_tg, BRANDS)) == {"telegram"}
    assert build_routes(settings(), BRANDS)["meta"].methods == {"GET", "POST"}
    assert build_routes(settings(), BRANDS)["x"].methods == {"GET", "POST"}  # the CRC is a GET
    only_x = ReceiverSettings(_env_file=None, receiver_x_consumer_secret=X_CONSUMER_SECRET)
    assert set(build_routes(only_x, BRANDS)) == {"x"}
    with pytest.raises(ReceiverConfigError, match="no platform configured"):
        build_routes(ReceiverSettings(_env_file=None), BRANDS)


def test_credentials_come_from_mounted_files(tmp_path: Path):
    secret_file = tmp_path / "vk"
    secret_file.write_text("123=file-secret\n")
    s = ReceiverSettings(_env_file=None, receiver_vk_secrets_file=str(secret_file))
    a = App(build_routes(s, BRANDS))
    assert a.call("POST", "/hooks/vk", vk("wall_reply_new", secret="file-secret"))[0] == 200
    assert a.call("POST", "/hooks/vk", vk("wall_reply_new"))[0] == 401


def test_x_consumer_secret_from_a_mounted_file(tmp_path: Path):
    secret_file = tmp_path / "x"
    secret_file.write_text(X_CONSUMER_SECRET + "\n")
    a = App(build_routes(ReceiverSettings(_env_file=None, receiver_x_consumer_secret_file=str(secret_file)), BRANDS))
    body = fixture("x", "tweet_create_mention")
    assert a.call("POST", "/hooks/x", body, x_headers(body))[0] == 200
    both = ReceiverSettings(
        _env_file=None, receiver_x_consumer_secret="topsecret-x", receiver_x_consumer_secret_file=str(secret_file)
    )
    with pytest.raises(ReceiverConfigError) as err:
        build_routes(both, BRANDS)
    assert "REPWATCH_RECEIVER_X_CONSUMER_SECRET" in str(err.value) and "topsecret-x" not in str(err.value)


def test_configuration_errors_name_the_setting_never_the_value(tmp_path: Path):
    both = ReceiverSettings(
        _env_file=None, receiver_vk_secrets="topsecret-1", receiver_vk_secrets_file=str(tmp_path / "x")
    )
    with pytest.raises(ReceiverConfigError) as err:
        build_routes(both, BRANDS)
    assert "REPWATCH_RECEIVER_VK_SECRETS" in str(err.value) and "topsecret-1" not in str(err.value)
    half_meta = ReceiverSettings(_env_file=None, receiver_meta_app_secrets="topsecret-2")
    with pytest.raises(ReceiverConfigError) as err:
        build_routes(half_meta, BRANDS)
    assert "topsecret-2" not in str(err.value)
    bad_generic = ReceiverSettings(_env_file=None, receiver_generic_secrets="whsec_topsecret3")
    with pytest.raises(ReceiverConfigError) as err:
        build_routes(bad_generic, BRANDS)
    assert "topsecret3" not in str(err.value)
    bad_groups = ReceiverSettings(_env_file=None, receiver_vk_secrets="123=a,abc=topsecret4")
    with pytest.raises(ReceiverConfigError) as err:
        build_routes(bad_groups, BRANDS)
    assert "topsecret4" not in str(err.value)
    assert "topsecret" not in repr(settings(receiver_vk_secrets="topsecret-5"))


def test_recent_authors_forget_the_least_recent():
    mem = RecentAuthors(2)
    events = []
    for i in range(3):
        data = fixture_json("vk", "wall_reply_new")
        data["object"]["id"] = 10 + i
        data["object"]["from_id"] = 500 + i
        a = App()
        a.call("POST", "/hooks/vk", json.dumps(data).encode())
        events.extend(a.raw_events())
    mem.remember(events)
    assert len(mem) == 2
    assert mem(events[0].mention_id) is None
    assert mem(events[2].mention_id) == "vk:id502"
