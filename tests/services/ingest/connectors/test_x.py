"""X Account Activity API webhooks against the documented payloads.

The fixtures (``tests/fixtures/connectors/x/``) follow X's documented shapes (the
Account Activity data objects, the v1.1 Tweet object, Edit Posts); none is a recorded
delivery: nobody here has the paid access that would send one.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from services.ingest.connectors import AuthFailed, Delivery, Push, Rejected
from services.ingest.connectors.x import XAccountActivity
from shared.brands import parse_brands
from shared.schemas import Actor, EventType, MentionEvent, Platform, decode

from .payloads import (
    BRANDS,
    LATER,
    RECEIVED,
    X_CONSUMER_SECRET,
    fixture,
    fixture_json,
    push,
    x_push,
    x_signature,
)

#: base64(HMAC-SHA256(X_CONSUMER_SECRET, "challenge_string")), computed outside Python with
#: printf '%s' challenge_string | openssl dgst -sha256 -hmac "$X_CONSUMER_SECRET" -binary | base64
KNOWN_CRC_ANSWER = "sha256=2DR34odcnarWjGz7KA+03c3HxLJBYhSrntZIrn6FV1M="


def connector() -> XAccountActivity:
    return XAccountActivity(BRANDS, consumer_secret=X_CONSUMER_SECRET)


def deliver(case: str) -> Delivery:
    return connector().handle(x_push(fixture("x", case)))


def one(case: str) -> MentionEvent:
    d = deliver(case)
    assert len(d.events) == 1 and not d.rejected and not d.skipped, d
    return d.events[0]


def body_of(obj: object) -> bytes:
    return json.dumps(obj).encode()


def crc(query: dict[str, str]) -> Push:
    return Push(method="GET", body=b"", received_at=RECEIVED, query=query)


# ------------------------------------------------------------------ challenge-response check


def test_crc_answer_is_the_known_hmac_as_json():
    d = connector().handle(crc({"crc_token": "challenge_string"}))
    assert json.loads(d.reply) == {"response_token": KNOWN_CRC_ANSWER}
    assert d.reply_content_type == "application/json" and d.events == ()


def test_crc_answer_depends_on_the_secret_and_the_token():
    other = XAccountActivity(BRANDS, consumer_secret="another-app-secret")
    assert json.loads(other.handle(crc({"crc_token": "challenge_string"})).reply) != {
        "response_token": KNOWN_CRC_ANSWER
    }
    assert json.loads(connector().handle(crc({"crc_token": "challenge_strinG"})).reply) != {
        "response_token": KNOWN_CRC_ANSWER
    }


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({}, "missing_signature"),
        ({"crc_token": ""}, "missing_signature"),
        ({"crc_token": "has space"}, "bad_signature"),
        ({"crc_token": "x" * 513}, "bad_signature"),
        ({"crc_token": "ünïcode"}, "bad_signature"),
        # a token that is a JSON body: its answer would sign that body
        ({"crc_token": '{"for_user_id":"2244994945","tweet_create_events":[]}'}, "bad_signature"),
    ],
)
def test_crc_refusals_are_unauthorized(query, reason):
    with pytest.raises(AuthFailed) as e:
        connector().handle(crc(query))
    assert e.value.reason == reason


def test_a_crc_answer_never_signs_a_body_that_counts():
    # ask the CRC to sign a short token, then post that token as a body with the answer
    token = "12345"
    answer = json.loads(connector().handle(crc({"crc_token": token})).reply)["response_token"]
    assert answer == x_signature(token.encode())  # the oracle is real...
    with pytest.raises(AuthFailed) as e:
        connector().handle(push(token.encode(), {"x-twitter-webhooks-signature": answer}))
    assert e.value.reason == "bad_signature"  # ...and refused: no dead letter from it


# ------------------------------------------------------------------ signature


def test_signature_over_the_raw_body():
    assert deliver("tweet_create_mention").events


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_signature"),
        ({"x-twitter-webhooks-signature": ""}, "missing_signature"),
        ({"x-twitter-webhooks-signature": "sha1=abc"}, "bad_signature"),
        ({"x-twitter-webhooks-signature": "sha256=not base64!"}, "bad_signature"),
        ({"x-twitter-webhooks-signature": "sha256=" + "A" * 44}, "bad_signature"),
        ({"x-twitter-webhooks-signature": "sha256=AAAA"}, "bad_signature"),
        ({"x-twitter-webhooks-signature": x_signature(b"{}")}, "bad_signature"),
        ({"X-Twitter-Webhooks-Signature": x_signature(fixture("x", "tweet_create_mention"), "other")}, "bad_signature"),
        # Meta's header and hex encoding are not X's
        ({"x-hub-signature-256": "sha256=" + "00" * 32}, "missing_signature"),
    ],
)
def test_bad_signatures(headers, reason):
    with pytest.raises(AuthFailed) as e:
        connector().handle(push(fixture("x", "tweet_create_mention"), headers))
    assert e.value.reason == reason


def test_a_changed_byte_breaks_the_signature():
    raw = fixture("x", "tweet_create_mention")
    sig = x_signature(raw)
    with pytest.raises(AuthFailed):
        connector().handle(push(raw.replace(b"Worst", b"Best!"), {"x-twitter-webhooks-signature": sig}))


def test_header_name_in_any_case():
    raw = fixture("x", "tweet_create_mention")
    assert connector().handle(push(raw, {"X-Twitter-Webhooks-Signature": x_signature(raw)})).events


def test_empty_secret_is_refused():
    with pytest.raises(ValueError):
        XAccountActivity(BRANDS, consumer_secret="")


# ------------------------------------------------------------------ posts


def test_mention_of_the_account():
    e = one("tweet_create_mention")
    assert e.platform is Platform.X and e.brand == "acme" and e.channel == "x:2244994945"
    assert e.event_type is EventType.CREATED and e.actor is None
    assert e.mention_id == "x:1796974261342425088" and e.parent_id is None
    assert e.author_id == "x:700300100" and not e.author_is_brand and e.author_followers == 312
    assert e.text.startswith("@AcmeSupport two weeks")
    assert e.url == "https://x.com/jane_doe/status/1796974261342425088"
    assert e.occurred_at == datetime(2024, 6, 1, 17, 58, 12, tzinfo=timezone.utc)
    assert e.ingested_at == RECEIVED
    assert decode(MentionEvent, e.to_bytes()) == e


def test_reply_names_its_parent():
    e = one("tweet_create_reply")
    assert e.parent_id == "x:1796900000000000000" and e.engagement.likes == 1


def test_the_accounts_own_reply_is_the_brands():
    e = one("tweet_create_by_brand")
    assert e.author_is_brand and e.author_id == "x:2244994945"
    assert e.parent_id == one("tweet_create_mention").mention_id


def test_a_post_by_another_account_of_the_same_brand_is_the_brands():
    brands = parse_brands(
        """
brands:
  acme: {owned_channels: {x: ["x:2244994945", "x:700300200"]}}
  globex: {owned_channels: {x: ["x:700300100"]}}
"""
    )
    c = XAccountActivity(brands, consumer_secret=X_CONSUMER_SECRET)
    same_brand = c.handle(x_push(fixture("x", "tweet_create_reply"))).events[0]  # by 700300200
    other_brand = c.handle(x_push(fixture("x", "tweet_create_mention"))).events[0]  # by 700300100
    assert same_brand.author_is_brand and not other_brand.author_is_brand


def test_long_post_text_comes_from_extended_tweet():
    e = one("tweet_create_extended")
    assert e.text.endswith("I am done with Acme.") and "…" not in e.text
    assert (e.engagement.likes, e.engagement.replies, e.engagement.shares) == (17, 3, 7)  # shares: retweets + quotes


def test_retweets_are_skipped_not_counted_again():
    d = deliver("tweet_create_retweet")
    assert d.events == () and d.rejected == () and d.skipped == ("repost",)


def test_quote_post_is_the_quoters_own_mention():
    e = one("tweet_create_quote")
    assert e.mention_id == "x:1796979747831840768" and e.parent_id is None
    assert e.text.startswith("This is exactly why") and e.author_id == "x:700300500"


def test_an_edit_joins_the_initial_post():
    created, edited = one("tweet_create_mention"), one("tweet_create_edited")
    assert edited.event_type is EventType.EDITED and edited.mention_id == created.mention_id
    assert edited.text.endswith("Update: still nothing.")
    assert edited.url == "https://x.com/jane_doe/status/1796976664452698112"  # the new version
    assert edited.occurred_at == datetime(2024, 6, 1, 18, 7, 45, tzinfo=timezone.utc)
    assert edited.event_id != created.event_id


def test_created_at_with_another_offset():
    payload = fixture_json("x", "tweet_create_reply")
    payload["tweet_create_events"][0]["created_at"] = "Sat Jun 01 21:01:30 +0300 2024"
    e = connector().handle(x_push(body_of(payload))).events[0]
    assert e.occurred_at == datetime(2024, 6, 1, 18, 1, 30, tzinfo=timezone.utc)


def test_handles_that_are_not_handles_do_not_make_links():
    payload = fixture_json("x", "tweet_create_mention")
    payload["tweet_create_events"][0]["user"]["screen_name"] = "evil/../../phish?x="
    e = connector().handle(x_push(body_of(payload))).events[0]
    assert e.url == "https://x.com/i/status/1796974261342425088"


def test_numeric_ids_are_read_as_text():
    payload = fixture_json("x", "tweet_create_mention")
    payload["for_user_id"] = 2244994945
    payload["tweet_create_events"][0]["user"]["id_str"] = 700300100
    e = connector().handle(x_push(body_of(payload))).events[0]
    assert e.channel == "x:2244994945" and e.author_id == "x:700300100"


def test_each_post_of_an_array_stands_alone():
    d = deliver("tweet_create_batch")
    assert [e.mention_id for e in d.events] == ["x:1796986038000000000"]
    (part,) = d.rejected
    assert part.reason == "schema_invalid" and "created_at" in part.detail
    alone = json.loads(part.raw)  # the refused post in X's envelope, readable alone
    assert alone["for_user_id"] == "2244994945" and alone["tweet_create_events"][0]["id_str"].endswith("001")


# ------------------------------------------------------------------ deletions


def test_deletion_by_the_account_is_its_own():
    e = one("tweet_delete")
    assert e.event_type is EventType.DELETED and e.actor is Actor.AUTHOR
    assert e.mention_id == one("tweet_create_by_brand").mention_id
    assert e.author_id == "x:2244994945" and e.author_is_brand and e.text == ""
    assert e.occurred_at == datetime(2024, 6, 1, 18, 30, tzinfo=timezone.utc)
    assert e.url == "https://x.com/i/status/1796975972597600256"


def test_deletion_by_someone_else_is_still_the_authors():
    e = one("tweet_delete_by_other")
    assert e.actor is Actor.AUTHOR and not e.author_is_brand
    assert e.mention_id == one("tweet_create_mention").mention_id and e.author_id == "x:700300100"


@pytest.mark.parametrize("ts", ["99999999999999999", 253402300800000, -1, "1.5e12", True])
def test_deletion_timestamps_out_of_range_are_dead_letters(ts):
    payload = fixture_json("x", "tweet_delete")
    payload["tweet_delete_events"][0]["timestamp_ms"] = ts
    d = connector().handle(x_push(body_of(payload)))
    assert d.events == () and [r.reason for r in d.rejected] == ["schema_invalid"]


def test_deletion_without_a_timestamp_is_dated_on_arrival_and_keeps_its_id():
    payload = fixture_json("x", "tweet_delete")
    del payload["tweet_delete_events"][0]["timestamp_ms"]
    raw = body_of(payload)
    first = connector().handle(x_push(raw)).events[0]
    again = connector().handle(x_push(raw, at=LATER)).events[0]
    assert first.occurred_at == RECEIVED and again.occurred_at == LATER
    assert first.event_id == again.event_id == one("tweet_delete").event_id


# ------------------------------------------------------------------ other events


@pytest.mark.parametrize(
    ("case", "reason"),
    [("favorite", "reaction"), ("follow", "service_message"), ("direct_message", "not_public")],
)
def test_events_without_a_public_mention_are_skipped(case, reason):
    d = deliver(case)
    assert d.events == () and d.rejected == () and d.skipped == (reason,)


def test_unknown_event_types_are_dead_letters():
    with pytest.raises(Rejected) as e:
        deliver("unsupported")
    assert e.value.reason == "unsupported_event" and "some_future_events" in e.value.detail


def test_unknown_account_is_a_dead_letter_like_an_unknown_vk_group():
    with pytest.raises(Rejected) as e:
        deliver("unknown_account")
    assert e.value.reason == "unknown_channel" and "9999999999" in e.value.detail


def test_the_bare_id_spelling_maps_too():
    payload = fixture_json("x", "tweet_create_mention")
    payload["for_user_id"] = "3198576760"
    e = connector().handle(x_push(body_of(payload))).events[0]
    assert (e.brand, e.channel) == ("globex", "3198576760")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"{}", "schema_invalid"),
        (b'{"for_user_id": "abc", "tweet_create_events": []}', "schema_invalid"),
        (b'{"for_user_id": "2244994945", "tweet_create_events": {"id_str": "1"}}', "schema_invalid"),
        (b'{"for_user_id": "2244994945"}', "unsupported_event"),
    ],
)
def test_authentic_garbage_is_a_dead_letter(body, reason):
    with pytest.raises(Rejected) as e:
        connector().handle(x_push(body))
    assert e.value.reason == reason


def test_too_many_items_are_not_an_x_delivery():
    payload = {"for_user_id": "2244994945", "favorite_events": [{}] * 1001}
    with pytest.raises(Rejected) as e:
        connector().handle(x_push(body_of(payload)))
    assert e.value.reason == "schema_invalid"


# ------------------------------------------------------------------ retries


@pytest.mark.parametrize(
    "case",
    ["tweet_create_mention", "tweet_create_edited", "tweet_create_extended", "tweet_delete", "tweet_create_batch"],
)
def test_a_retried_delivery_yields_the_same_event_ids(case):
    first = deliver(case)
    again = connector().handle(x_push(fixture("x", case), at=LATER))
    assert [e.event_id for e in first.events] == [e.event_id for e in again.events]
    assert first.events and all(e.ingested_at == LATER for e in again.events)
