"""Facebook Page and Instagram webhooks against the documented payloads."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from services.ingest.connectors import AuthFailed, Delivery, Push, Rejected
from services.ingest.connectors.meta import MetaWebhooks
from shared.schemas import Actor, EventType, MentionEvent, Platform, decode

from .payloads import (
    BRANDS,
    LATER,
    META_APP_SECRET,
    META_VERIFY_TOKEN,
    RECEIVED,
    cases,
    fixture,
    fixture_json,
    meta_push,
    meta_signature,
    push,
)


def connector() -> MetaWebhooks:
    return MetaWebhooks(BRANDS, app_secrets=[META_APP_SECRET], verify_token=META_VERIFY_TOKEN)


def deliver(platform: str, case: str) -> Delivery:
    return connector().handle(meta_push(fixture(platform, case)))


def one(platform: str, case: str) -> MentionEvent:
    d = deliver(platform, case)
    assert len(d.events) == 1 and not d.rejected and not d.skipped, d
    return d.events[0]


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _get(query: dict[str, str]) -> Push:
    return Push(method="GET", body=b"", received_at=RECEIVED, query=query)


# ------------------------------------------------------------------ handshake and signature


def test_subscription_handshake_echoes_the_challenge():
    q = {"hub.mode": "subscribe", "hub.verify_token": META_VERIFY_TOKEN, "hub.challenge": "1158201444"}
    d = connector().handle(_get(q))
    assert d.reply == b"1158201444" and d.events == ()


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"}, AuthFailed),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, AuthFailed),
        ({"hub.mode": "unsubscribe", "hub.verify_token": META_VERIFY_TOKEN, "hub.challenge": "1"}, AuthFailed),
        ({}, AuthFailed),
        ({"hub.mode": "subscribe", "hub.verify_token": META_VERIFY_TOKEN, "hub.challenge": "<script>"}, Rejected),
        ({"hub.mode": "subscribe", "hub.verify_token": META_VERIFY_TOKEN}, Rejected),
    ],
)
def test_handshake_refusals(query, error):
    with pytest.raises(error):
        connector().handle(_get(query))


def test_signature_over_the_raw_body():
    raw = fixture("facebook", "comment_add")
    assert connector().handle(meta_push(raw)).events


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_signature"),
        ({"X-Hub-Signature-256": ""}, "missing_signature"),
        ({"X-Hub-Signature-256": "sha1=abc"}, "bad_signature"),
        ({"X-Hub-Signature-256": "sha256=" + "zz" * 32}, "bad_signature"),
        ({"X-Hub-Signature-256": "sha256=" + "00" * 32}, "bad_signature"),
        ({"X-Hub-Signature-256": meta_signature(b"{}")}, "bad_signature"),
        ({"X-Hub-Signature-256": meta_signature(fixture("facebook", "comment_add"), "other-secret")}, "bad_signature"),
    ],
)
def test_bad_signatures(headers, reason):
    with pytest.raises(AuthFailed) as e:
        connector().handle(push(fixture("facebook", "comment_add"), headers))
    assert e.value.reason == reason


def test_a_changed_byte_breaks_the_signature():
    raw = fixture("facebook", "comment_add")
    sig = meta_signature(raw)
    with pytest.raises(AuthFailed):
        connector().handle(push(raw.replace(b"Terrible", b"Great!!!"), {"x-hub-signature-256": sig}))


def test_rotated_app_secrets_both_verify():
    c = MetaWebhooks(BRANDS, app_secrets=["old-secret", META_APP_SECRET], verify_token="t")
    raw = fixture("facebook", "comment_add")
    assert c.handle(meta_push(raw, secret="old-secret")).events
    assert c.handle(meta_push(raw)).events


def test_authentic_garbage_is_a_dead_letter():
    for raw, reason in [
        (b"not json", "invalid_json"),
        (b"[]", "schema_invalid"),
        (b'{"object": "page"}', "schema_invalid"),
    ]:
        with pytest.raises(Rejected) as e:
            connector().handle(meta_push(raw))
        assert e.value.reason == reason


def test_other_meta_objects_are_unsupported():
    with pytest.raises(Rejected) as e:
        deliver("facebook", "unsupported_object")
    assert e.value.reason == "unsupported_event"


# ------------------------------------------------------------------ Facebook feed


def test_comment_added():
    e = one("facebook", "comment_add")
    assert e.platform is Platform.FACEBOOK and e.brand == "acme" and e.channel == "1234567890"
    assert e.event_type is EventType.CREATED and e.actor is None
    assert e.mention_id == "facebook:998877_55501" and e.parent_id == "facebook:1234567890_998877"
    assert e.author_id == "facebook:6000000001" and not e.author_is_brand
    assert e.text.startswith("Two weeks") and e.lang is None
    assert e.url == "https://www.facebook.com/acme/posts/pfbid02abc?comment_id=55501"
    assert e.occurred_at == at(1717243258) and e.ingested_at == RECEIVED


def test_the_pages_reply_is_the_brands():
    e = one("facebook", "comment_reply_by_page")
    assert e.author_is_brand and e.parent_id == "facebook:998877_55501"


def test_edit_is_dated_when_meta_reported_it():
    e = one("facebook", "comment_edited")
    assert e.event_type is EventType.EDITED and e.occurred_at == at(1717244400) and e.text.startswith("Three")
    assert e.mention_id == one("facebook", "comment_add").mention_id


def test_remove_does_not_say_who():
    e = one("facebook", "comment_remove")
    assert e.event_type is EventType.DELETED and e.actor is None
    assert e.author_id == "facebook:6000000001" and e.text == ""
    assert e.url == "https://www.facebook.com/998877_55501"


def test_hide_and_unhide_are_the_brands():
    hidden, restored = one("facebook", "comment_hide"), one("facebook", "comment_unhide")
    assert (hidden.event_type, hidden.actor) == (EventType.HIDDEN, Actor.BRAND)
    assert (restored.event_type, restored.actor) == (EventType.RESTORED, Actor.BRAND)
    assert hidden.mention_id == restored.mention_id == "facebook:998877_55501"


def test_page_post():
    e = one("facebook", "post_add")
    assert e.mention_id == "facebook:1234567890_998877" and e.parent_id is None and e.author_is_brand
    assert e.url == "https://www.facebook.com/1234567890_998877" and e.text == "Summer sale starts today!"


def test_batch_each_change_stands_alone():
    d = deliver("facebook", "batched")
    assert [(e.mention_id, e.event_type) for e in d.events] == [
        ("facebook:998877_55510", EventType.CREATED),
        ("facebook:998877_55501", EventType.HIDDEN),
        ("facebook:998878_60001", EventType.CREATED),
    ]
    assert d.skipped == ("reaction",)
    assert [r.reason for r in d.rejected] == ["unknown_channel", "schema_invalid", "unsupported_event"]
    for part in d.rejected:
        # each refused piece is a Meta payload of its own, readable without the batch
        alone = json.loads(part.raw)
        assert alone["object"] == "page" and len(alone["entry"]) == 1
    assert "5550001" in d.rejected[0].detail


def test_unknown_verbs_and_items():
    payload = fixture_json("facebook", "comment_add")
    payload["entry"][0]["changes"][0]["value"]["verb"] = "block"
    d = connector().handle(meta_push(json.dumps(payload).encode()))
    assert d.events == () and [r.reason for r in d.rejected] == ["unsupported_event"]


def test_millisecond_entry_times_are_read_as_such():
    payload = fixture_json("facebook", "comment_edited")
    payload["entry"][0]["time"] = 1717244400123
    e = connector().handle(meta_push(json.dumps(payload).encode())).events[0]
    assert abs(e.occurred_at.timestamp() - 1717244400.123) < 1e-3


def test_only_web_links_from_the_payload_become_urls():
    payload = fixture_json("facebook", "comment_add")
    payload["entry"][0]["changes"][0]["value"]["post"]["permalink_url"] = "javascript:alert(1)"
    e = connector().handle(meta_push(json.dumps(payload).encode())).events[0]
    assert e.url == "https://www.facebook.com/998877_55501"


def test_numeric_ids_are_read_as_text():
    payload = fixture_json("facebook", "comment_add")
    payload["entry"][0]["id"] = 1234567890
    payload["entry"][0]["changes"][0]["value"]["from"]["id"] = 6000000001
    e = connector().handle(meta_push(json.dumps(payload).encode())).events[0]
    assert e.channel == "1234567890" and e.author_id == "facebook:6000000001"


# ------------------------------------------------------------------ Instagram


def test_instagram_comment():
    e = one("instagram", "comments")
    assert e.platform is Platform.INSTAGRAM and e.channel == "instagram:17841400000000001"
    assert e.mention_id == "instagram:17900000000000011" and e.parent_id == "instagram:18000000000000001"
    assert e.author_id == "instagram:1790000000000001" and not e.author_is_brand
    assert e.url is None and e.occurred_at == at(1717260000)


def test_instagram_reply_by_the_account_itself():
    e = one("instagram", "reply")
    assert e.author_is_brand and e.parent_id == "instagram:17900000000000011"


def test_instagram_change_inline_in_the_entry():
    assert one("instagram", "inline_change").mention_id == "instagram:17900000000000013"


def test_instagram_mentions_need_a_lookup():
    d = deliver("instagram", "mentions")
    assert d.events == () and d.rejected == ()
    assert [(x.kind, x.media_id, x.comment_id) for x in d.lookups] == [
        ("mentioned_comment", "18000000000000077", "17900000000000099"),
        ("mentioned_media", "18000000000000078", None),
    ]
    assert all(x.brand == "acme" and x.seen_at == at(1717262000) for x in d.lookups)


def test_instagram_fields_not_handled_are_dead_letters():
    d = deliver("instagram", "story_insights")
    assert d.events == () and [r.reason for r in d.rejected] == ["unsupported_event"]


# ------------------------------------------------------------------ retries


@pytest.mark.parametrize(
    ("platform", "case"),
    [("facebook", c) for c in cases("facebook") if c != "unsupported_object"]
    + [("instagram", c) for c in cases("instagram")],
)
def test_a_retry_yields_the_same_event_ids(platform, case):
    raw = fixture(platform, case)
    a = connector().handle(meta_push(raw, at=RECEIVED))
    b = connector().handle(meta_push(raw, at=LATER))
    assert [e.event_id for e in a.events] == [e.event_id for e in b.events]
    for e in a.events:
        assert decode(MentionEvent, e.to_bytes()) == e


def test_configuration_errors():
    with pytest.raises(ValueError):
        MetaWebhooks(BRANDS, app_secrets=[], verify_token="t")
    with pytest.raises(ValueError):
        MetaWebhooks(BRANDS, app_secrets=["s"], verify_token="")
