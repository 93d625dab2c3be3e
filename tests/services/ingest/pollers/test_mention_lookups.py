"""Instagram @mention lookups: the Graph API request, its documented answers, and the fetcher.

The answers are the fixture files of ``tests/fixtures/pollers/instagram`` (Meta's documented
``mentioned_comment`` / ``mentioned_media`` shapes and Graph error bodies), served by the
local server of ``conftest.py``; the fetcher runs with that server, a clock the test moves,
and a ``send`` that records (or refuses, like Kafka away) what would go to Kafka.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from services.ingest.connectors.meta import instagram_mention_id
from services.ingest.lookups import LookupFetcher
from services.ingest.poll_main import ConfigError, SourceSpec, bind, bind_mentions
from services.ingest.pollers import instagram
from shared.brands import parse_brands
from shared.kafka.transport import DeliveryFailed, Outgoing, Record
from shared.metric_defs import POLL_EVENTS, POLL_LOOKUPS, POLL_LOOKUPS_PENDING, POLL_REQUESTS
from shared.metrics import TransportMetrics
from shared.schemas import DeadLetter, EventType, LookupKind, MentionEvent, MentionLookup, Platform
from tests.services.ingest.pollers.conftest import FAILURES, Answer, fixture

NOW = datetime(2024, 6, 1, 18, 0, tzinfo=timezone.utc)
ACCOUNT = "17841400000000001"
TOKEN = "IGQV-secret-token"
TOPIC = "ingest.lookups"


def lookup(kind: LookupKind = LookupKind.MENTIONED_COMMENT, **over: object) -> MentionLookup:
    fields: dict[str, object] = {
        "platform": Platform.INSTAGRAM,
        "kind": kind,
        "brand": "acme",
        "channel": f"instagram:{ACCOUNT}",
        "account_id": ACCOUNT,
        "media_id": "18000000000000077" if kind is LookupKind.MENTIONED_COMMENT else "18000000000000078",
        "comment_id": "17900000000000099" if kind is LookupKind.MENTIONED_COMMENT else None,
        "seen_at": NOW - timedelta(minutes=1),
        "received_at": NOW,
    }
    fields.update(over)
    return MentionLookup.model_validate(fields)


def route(api, lk: MentionLookup, *answers: Answer) -> None:
    (value,) = [v for k, v in instagram.mention_request(lk, "", TOKEN).params if k == "fields"]
    api.route(f"/ig/{lk.account_id}?fields={value}", *answers)


# ------------------------------------------------------------------ the request


def test_the_request_is_the_documented_field_expansion_through_the_mentioned_account():
    req = instagram.mention_request(lookup(), "https://graph.facebook.com/v23.0", TOKEN)
    assert req.url == f"https://graph.facebook.com/v23.0/{ACCOUNT}"
    assert dict(req.params) == {
        "fields": "mentioned_comment.comment_id(17900000000000099)"
        "{id,text,timestamp,like_count,username,media{id,permalink,owner}}"
    }
    assert dict(parse_qsl(urlsplit(req.full_url()).query))["access_token"] == TOKEN
    assert TOKEN not in req.redacted_url()
    media = instagram.mention_request(lookup(LookupKind.MENTIONED_MEDIA), "https://g", TOKEN)
    assert dict(media.params) == {
        "fields": "mentioned_media.media_id(18000000000000078)"
        "{id,caption,timestamp,like_count,comments_count,username,permalink,media_type}"
    }


def test_a_lookup_record_refuses_ids_that_would_change_the_request():
    with pytest.raises(ValueError):
        lookup(comment_id="1){id}&fields=x")
    with pytest.raises(ValueError):
        lookup(LookupKind.MENTIONED_MEDIA, comment_id="17900000000000099")  # a caption has no comment
    assert lookup().key == lookup(received_at=NOW + timedelta(hours=3)).key  # Meta's retry: same key


# ------------------------------------------------------------------ reading answers


def test_a_mentioned_comment_becomes_a_created_event(api):
    lk = lookup()
    route(api, lk, fixture("instagram/mention_comment.json"))
    got = instagram.read_mention(lk, api.fetch(instagram.mention_request(lk, f"{api.base}/ig", TOKEN)), NOW)
    assert got.result == "ok" and got.failure is None
    e = got.event
    assert e.event_type is EventType.CREATED and e.platform is Platform.INSTAGRAM
    assert (e.brand, e.channel) == ("acme", f"instagram:{ACCOUNT}")
    assert e.mention_id == instagram_mention_id("17900000000000099")
    assert e.parent_id == instagram_mention_id("18000000000000077")
    assert e.author_id == "instagram:@jane.doe" and not e.author_is_brand
    assert e.text.startswith("@acme_official my order never arrived")
    assert e.url == "https://www.instagram.com/p/C7abcdEFgh1/"
    assert e.occurred_at == datetime(2024, 6, 1, 17, 13, 20, tzinfo=timezone.utc)
    assert e.engagement.likes == 3 and e.ingested_at == NOW


def test_a_mentioned_caption_becomes_a_created_event_of_the_media(api):
    lk = lookup(LookupKind.MENTIONED_MEDIA)
    route(api, lk, fixture("instagram/mention_media.json"))
    e = instagram.read_mention(lk, api.fetch(instagram.mention_request(lk, f"{api.base}/ig", TOKEN)), NOW).event
    assert e.mention_id == instagram_mention_id("18000000000000078") and e.parent_id is None
    assert e.author_id == "instagram:@kettle_fan" and "already leaking" in e.text
    assert e.url == "https://www.instagram.com/p/C7zyxwVUts2/"
    assert (e.engagement.likes, e.engagement.replies) == (41, 7)
    assert e.occurred_at == datetime(2024, 6, 1, 16, 50, 2, tzinfo=timezone.utc)


def test_a_comment_on_the_accounts_own_media_is_left_to_the_comments_webhook(api):
    # IG Media answers ``owner`` only to its own account: this comment is on the brand's media,
    # which the ``comments`` webhook delivers already (with the commenter's id): no second event
    lk = lookup()
    route(api, lk, fixture("instagram/mention_comment_own_media.json"))
    got = instagram.read_mention(lk, api.fetch(instagram.mention_request(lk, f"{api.base}/ig", TOKEN)), NOW)
    assert got.own_media and got.event is None and got.failure is None and got.result == "own_media"
    fetcher, _, kafka, registry = make(api)
    fetcher.add([rec(lk, 0)])
    assert fetcher.step() == {P0: 1}  # finished: committed, nothing sent, nothing dead-lettered
    assert kafka.sent == []
    assert metric(registry, "repwatch_poll_lookups_total", platform="instagram", outcome="own_media") == 1


def test_a_comment_without_text_username_or_permalink_still_is_an_event(api):
    lk = lookup()
    route(api, lk, fixture("instagram/mention_comment_no_text_no_username.json"))
    e = instagram.read_mention(lk, api.fetch(instagram.mention_request(lk, f"{api.base}/ig", TOKEN)), NOW).event
    assert e.text == "" and e.author_id == "instagram:unknown" and e.url is None


def test_the_event_id_comes_from_the_lookup_ids_only(api):
    lk = lookup()
    route(api, lk, fixture("instagram/mention_comment.json"))
    first = instagram.read_mention(lk, api.fetch(instagram.mention_request(lk, f"{api.base}/ig", TOKEN)), NOW).event
    retried = lookup(received_at=NOW + timedelta(hours=2))  # a webhook Meta retried later
    again = instagram.read_mention(
        retried, api.fetch(instagram.mention_request(retried, f"{api.base}/ig", TOKEN)), NOW + timedelta(hours=2)
    ).event
    assert first.event_id == again.event_id == instagram.mention_event_id(lk)
    assert instagram.mention_event_id(lookup(LookupKind.MENTIONED_MEDIA)) != first.event_id


@pytest.mark.parametrize(
    ("answer", "result"),
    [
        (fixture("instagram/mention_empty.json"), "not_visible"),
        (fixture("instagram/error_not_exist.json", 400), "gone"),
        (fixture("instagram/error_token.json", 400), "auth"),
        (fixture("instagram/error_rate.json", 403), "rate_limited"),
        (fixture("instagram/error_transient.json", 500), "server_error"),
        (Answer(200, b'{"mentioned_comment": {"id": "1", "timestamp": "2024-06-01T17:13:20+0000"}}'), "malformed"),
        (Answer(200, b'{"mentioned_comment": {"id": "17900000000000099", "text": "no time"}}'), "malformed"),
        (FAILURES["429"], "rate_limited"),
        (FAILURES["500"], "server_error"),
        (FAILURES["401"], "auth"),
        (FAILURES["timeout"], "timeout"),
        (FAILURES["reset"], "connection"),
        (FAILURES["200_garbage"], "malformed"),
        (FAILURES["200_null"], "malformed"),
        (FAILURES["200_wrong_shape"], "not_visible"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_every_other_answer_is_no_event(api, answer, result):
    lk = lookup()
    route(api, lk, answer)
    got = instagram.read_mention(lk, api.fetch(instagram.mention_request(lk, f"{api.base}/ig", TOKEN)), NOW)
    assert got.event is None and got.result == result
    assert got.gone == (result == "gone")


# ------------------------------------------------------------------ the fetcher


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Kafka:
    """What the fetcher sends; ``down`` refuses like a producer whose records were not acknowledged."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.down = False

    def __call__(self, out: list[Outgoing]) -> None:
        if self.down:
            raise DeliveryFailed("test: Kafka away")
        self.sent.extend(out)

    def events(self) -> list[MentionEvent]:
        return [MentionEvent.model_validate_json(o.value) for o in self.sent if o.topic == "mentions.raw"]

    def dead(self) -> list[DeadLetter]:
        return [DeadLetter.model_validate_json(o.value) for o in self.sent if o.topic == "deadletter"]


def make(api, **options: object) -> tuple[LookupFetcher, Clock, Kafka, CollectorRegistry]:
    clock, kafka, registry = Clock(), Kafka(), CollectorRegistry()
    metrics = {d.name: d.create(registry) for d in (POLL_REQUESTS, POLL_EVENTS, POLL_LOOKUPS, POLL_LOOKUPS_PENDING)}
    account = instagram.MentionAccount("acme-ig-mentions", "acme", f"instagram:{ACCOUNT}", ACCOUNT, f"{api.base}/ig")
    fetcher = LookupFetcher(
        {ACCOUNT: (account, TOKEN)},
        raw_topic="mentions.raw",
        deadletter_topic="deadletter",
        fetch=api.fetch,
        send=kafka,
        clock=clock,
        metrics=metrics,
        **options,  # type: ignore[arg-type]
    )
    return fetcher, clock, kafka, registry


def rec(lk: MentionLookup | bytes, offset: int, partition: int = 0) -> Record:
    value = lk if isinstance(lk, bytes) else lk.to_bytes()
    key = None if isinstance(lk, bytes) else lk.key.encode()
    return Record(TOPIC, partition, offset, key, value)


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


P0 = TopicPartition(TOPIC, 0)


def test_a_fetched_mention_is_sent_then_its_offset_committed(api):
    lk = lookup()
    route(api, lk, fixture("instagram/mention_comment.json"))
    fetcher, _, kafka, registry = make(api)
    fetcher.add([rec(lk, 0)])
    assert fetcher.step() == {P0: 1}
    (e,) = kafka.events()
    assert e.event_id == instagram.mention_event_id(lk) and kafka.sent[0].key == b"acme"
    assert metric(registry, "repwatch_poll_lookups_total", platform="instagram", outcome="fetched") == 1
    assert metric(registry, "repwatch_poll_events_total", platform="instagram", event_type="created") == 1
    assert metric(registry, "repwatch_poll_lookups_pending") == 0


def test_failures_are_retried_with_back_off_and_hold_the_commit(api):
    lk = lookup()
    route(
        api,
        lk,
        FAILURES["timeout"],
        fixture("instagram/error_rate.json", 403),
        fixture("instagram/mention_empty.json"),
        fixture("instagram/mention_comment.json"),
    )
    fetcher, clock, kafka, registry = make(api, backoff=timedelta(seconds=30))
    fetcher.add([rec(lk, 0)])
    assert fetcher.step() == {}  # nothing done: nothing committed
    assert fetcher.next_at == NOW + timedelta(seconds=30)
    assert fetcher.step() == {} and len(api.requests) == 1  # not due yet: no call
    for wait_s in (30, 60, 120):
        clock.now += timedelta(seconds=wait_s)
        done = fetcher.step()
    assert done == {P0: 1} and len(api.requests) == 4
    assert len(kafka.events()) == 1 and kafka.dead() == []
    for result in ("timeout", "rate_limited", "not_visible", "ok"):
        assert metric(registry, "repwatch_poll_requests_total", platform="instagram", kind="lookup", result=result) == 1


def test_retry_after_is_honoured(api):
    lk = lookup()
    route(api, lk, FAILURES["503"], fixture("instagram/mention_comment.json"))
    fetcher, clock, _, _ = make(api, backoff=timedelta(seconds=5))
    fetcher.add([rec(lk, 0)])
    fetcher.step()
    assert fetcher.next_at == NOW + timedelta(seconds=120)


def test_a_lookup_that_keeps_failing_is_dead_lettered_after_its_attempts(api):
    lk = lookup()
    route(api, lk, fixture("instagram/error_transient.json", 500))
    fetcher, clock, kafka, registry = make(api, max_attempts=3, backoff=timedelta(seconds=1))
    fetcher.add([rec(lk, 7)])
    for _ in range(3):
        done = fetcher.step()
        clock.now += timedelta(hours=1)
    assert done == {P0: 8} and len(api.requests) == 3
    (dead,) = kafka.dead()
    assert dead.reason == "lookup_server_error" and dead.source_topic == TOPIC and dead.source_offset == 7
    assert MentionLookup.model_validate_json(dead.original) == lk  # replayable as it was
    assert kafka.events() == []
    assert metric(registry, "repwatch_poll_lookups_total", platform="instagram", outcome="dead_lettered") == 1


def test_does_not_exist_twice_is_gone_without_an_event(api):
    lk = lookup()
    route(api, lk, fixture("instagram/error_not_exist.json", 400))
    fetcher, clock, kafka, registry = make(api)
    fetcher.add([rec(lk, 0)])
    assert fetcher.step() == {}  # once could be a mention not readable yet
    clock.now += timedelta(minutes=5)
    assert fetcher.step() == {P0: 1}
    assert kafka.sent == []
    assert metric(registry, "repwatch_poll_lookups_total", platform="instagram", outcome="gone") == 1


def test_does_not_exist_then_the_mention_is_an_event(api):
    lk = lookup()
    route(api, lk, fixture("instagram/error_not_exist.json", 400), fixture("instagram/mention_comment.json"))
    fetcher, clock, kafka, _ = make(api)
    fetcher.add([rec(lk, 0)])
    fetcher.step()
    clock.now += timedelta(minutes=5)
    fetcher.step()
    assert len(kafka.events()) == 1


def test_meta_retries_cost_no_call_and_the_commit_waits_for_the_first(api):
    lk = lookup()
    route(api, lk, FAILURES["500"], fixture("instagram/mention_comment.json"))
    fetcher, clock, kafka, registry = make(api)
    fetcher.add([rec(lk, 0), rec(lookup(received_at=NOW + timedelta(seconds=9)), 1)])
    assert fetcher.step() == {}  # the duplicate at 1 is done, the first at 0 is not
    clock.now += timedelta(minutes=5)
    assert fetcher.step() == {P0: 2}
    fetcher.add([rec(lookup(received_at=NOW + timedelta(hours=1)), 2)])  # a retry after it was fetched
    assert fetcher.step() == {P0: 3}
    assert len(api.requests) == 2 and len(kafka.events()) == 1
    assert metric(registry, "repwatch_poll_lookups_total", platform="instagram", outcome="duplicate") == 2


def test_a_later_lookup_done_first_is_committed_only_up_to_the_earlier_one(api):
    slow, quick = lookup(), lookup(LookupKind.MENTIONED_MEDIA)
    route(api, slow, FAILURES["500"], fixture("instagram/mention_comment.json"))
    route(api, quick, fixture("instagram/mention_media.json"))
    fetcher, clock, kafka, _ = make(api)
    fetcher.add([rec(slow, 10), rec(quick, 11)])
    assert fetcher.step() == {}  # 11 is done, 10 is not: a crash now re-reads both
    clock.now += timedelta(minutes=5)
    assert fetcher.step() == {P0: 12}
    assert len(kafka.events()) == 2


def test_nothing_counts_as_done_when_kafka_does_not_acknowledge(api):
    lk = lookup()
    route(api, lk, fixture("instagram/mention_comment.json"))
    fetcher, _, kafka, _ = make(api)
    fetcher.add([rec(lk, 0)])
    kafka.down = True
    with pytest.raises(DeliveryFailed):
        fetcher.step()
    assert fetcher.pending == 1  # the worker exits; the restart re-reads offset 0


def test_unreadable_records_and_unconfigured_accounts_are_dead_lettered_at_once(api):
    fetcher, _, kafka, _ = make(api)
    other = lookup(account_id="17841499999999999")
    fetcher.add([rec(b"{not json", 0), rec(other, 1)])
    assert fetcher.step() == {P0: 2}
    assert [d.reason for d in kafka.dead()] == ["invalid_json", "lookup_not_configured"]
    assert api.requests == []


def test_a_revoked_partition_is_forgotten(api):
    lk = lookup()
    route(api, lk, FAILURES["500"])
    fetcher, _, _, _ = make(api)
    fetcher.add([rec(lk, 0)])
    fetcher.step()
    fetcher.drop([P0])
    assert fetcher.pending == 0 and fetcher.next_at is None and fetcher.step() == {}


def test_a_full_backlog_says_so(api):
    fetcher, _, _, _ = make(api, max_pending=2)
    fetcher.add([rec(lookup(), 0)])
    assert not fetcher.full
    fetcher.add([rec(lookup(LookupKind.MENTIONED_MEDIA), 1)])
    assert fetcher.full


def test_one_step_reads_a_bounded_number_of_lookups(api):
    comment, caption = lookup(), lookup(LookupKind.MENTIONED_MEDIA)
    route(api, comment, fixture("instagram/mention_comment.json"))
    route(api, caption, fixture("instagram/mention_media.json"))
    fetcher, _, kafka, _ = make(api, per_step=1)
    fetcher.add([rec(comment, 0), rec(caption, 1)])
    assert fetcher.step() == {P0: 1} and len(api.requests) == 1
    assert fetcher.step() == {P0: 2} and len(kafka.events()) == 2


def test_dead_letters_are_counted_once_kafka_has_them(api):
    registry = CollectorRegistry()
    transport = TransportMetrics(registry, "poll")
    fetcher, _, kafka, _ = make(api, transport_metrics=transport)
    fetcher.add([rec(b"{not json", 0)])
    kafka.down = True
    with pytest.raises(DeliveryFailed):
        fetcher.step()
    assert metric(registry, "repwatch_records_dead_lettered_total", worker="poll", reason="invalid_json") == 0
    kafka.down = False
    fetcher.step()
    assert metric(registry, "repwatch_records_dead_lettered_total", worker="poll", reason="invalid_json") == 1


# ------------------------------------------------------------------ configuration


def test_an_instagram_mentions_source_binds_to_an_owned_account_and_its_token(tmp_path):
    brands = parse_brands(f'brands:\n  acme:\n    owned_channels: {{instagram: ["instagram:{ACCOUNT}"]}}\n')
    spec = SourceSpec(name="acme-ig-mentions", kind="instagram_mentions", account_id=ACCOUNT, credential_env="IG")
    account, token = bind_mentions(spec, brands, {"IG": TOKEN})
    assert (account.brand, account.channel, account.account_id, token) == (
        "acme",
        f"instagram:{ACCOUNT}",
        ACCOUNT,
        TOKEN,
    )
    with pytest.raises(ConfigError, match="brands file"):
        bind_mentions(spec.model_copy(update={"account_id": "17841499999999999"}), brands, {"IG": TOKEN})
    with pytest.raises(ConfigError, match="numeric"):
        bind_mentions(spec.model_copy(update={"account_id": "1784/../x"}), brands, {"IG": TOKEN})
    with pytest.raises(ConfigError, match="credential"):
        bind_mentions(spec, brands, {})
    with pytest.raises(ConfigError, match="not polled"):
        bind(spec, brands, {"IG": TOKEN})
