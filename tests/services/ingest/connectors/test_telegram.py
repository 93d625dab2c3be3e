"""Telegram Bot API webhooks against the documented Update shapes."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from services.ingest.connectors import AuthFailed, Rejected
from services.ingest.connectors.telegram import TelegramBot
from shared.schemas import EventType, MentionEvent, Platform, decode

from .payloads import BRANDS, LATER, RECEIVED, TELEGRAM_TOKEN, cases, fixture, fixture_json, push, telegram_push


def connector() -> TelegramBot:
    return TelegramBot(BRANDS, secret_tokens=[TELEGRAM_TOKEN])


def one(case: str) -> MentionEvent:
    d = connector().handle(telegram_push(fixture("telegram", case)))
    assert len(d.events) == 1 and not d.rejected and not d.skipped, d
    return d.events[0]


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_signature"),
        ({"X-Telegram-Bot-Api-Secret-Token": ""}, "missing_signature"),
        ({"X-Telegram-Bot-Api-Secret-Token": "tg_Secret-Token_43"}, "bad_signature"),
        ({"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_TOKEN + " "}, "bad_signature"),
        ({"X-Telegram-Bot-Api-Secret-Token": "\u00e9t\u00e9"}, "bad_signature"),
    ],
)
def test_secret_token(headers, reason):
    with pytest.raises(AuthFailed) as e:
        connector().handle(push(fixture("telegram", "message"), headers))
    assert e.value.reason == reason


def test_secret_token_header_in_any_case_and_several_bots():
    c = TelegramBot(BRANDS, secret_tokens=["other_bot", TELEGRAM_TOKEN])
    assert c.handle(push(fixture("telegram", "message"), {"x-telegram-bot-api-secret-token": TELEGRAM_TOKEN})).events


def test_group_message():
    e = one("message")
    assert e.platform is Platform.TELEGRAM and e.brand == "acme" and e.channel == "telegram:-1001111111111"
    assert e.event_type is EventType.CREATED and e.actor is None
    assert e.mention_id == "telegram:-1001111111111/2201" and e.parent_id is None
    assert e.author_id == "telegram:512340001" and not e.author_is_brand
    assert e.url == "https://t.me/c/1111111111/2201" and e.occurred_at == at(1717270000)
    assert e.lang is None and e.ingested_at == RECEIVED


def test_comment_under_a_channel_post():
    e = one("reply_to_channel_post")
    assert e.parent_id == "telegram:-1001111111111/2202" and not e.author_is_brand


def test_channel_post_mirrored_into_the_discussion_group_is_the_brands():
    e = one("automatic_forward")
    assert e.author_is_brand and e.author_id == "telegram:-1002222222222"
    assert e.mention_id == "telegram:-1001111111111/2202"


def test_anonymous_admin_is_the_brand():
    e = one("anonymous_admin")
    assert e.author_is_brand and e.author_id == "telegram:-1001111111111"
    assert e.parent_id == "telegram:-1001111111111/2203"


def test_edit_is_dated_by_edit_date_and_differs_from_the_original():
    created, edited = one("message"), one("edited_message")
    assert edited.event_type is EventType.EDITED and edited.occurred_at == at(1717270300)
    assert edited.mention_id == created.mention_id and edited.event_id != created.event_id


def test_channel_post_listed_by_username():
    e = one("channel_post")
    assert e.channel == "@acme_news" and e.author_is_brand and e.url == "https://t.me/acme_news/310"
    edited = one("edited_channel_post")
    assert edited.event_type is EventType.EDITED and edited.mention_id == e.mention_id == "telegram:-1002222222222/310"


def test_caption_is_the_text_and_a_sticker_has_none():
    assert one("photo_with_caption").text == "Вот что пришло вместо заказа"
    assert one("sticker_no_text").text == ""


def test_basic_groups_have_no_message_links():
    e = one("basic_group")
    assert e.url is None and e.channel == "-4000000001"


def test_service_messages_are_skipped():
    d = connector().handle(telegram_push(fixture("telegram", "new_chat_members")))
    assert d.events == () and d.skipped == ("service_message",) and d.rejected == ()


def test_update_types_not_asked_for_are_dead_letters():
    with pytest.raises(Rejected) as e:
        connector().handle(telegram_push(fixture("telegram", "my_chat_member")))
    assert e.value.reason == "unsupported_event"


def test_chat_not_in_the_brands_file():
    with pytest.raises(Rejected) as e:
        connector().handle(telegram_push(fixture("telegram", "unknown_chat")))
    assert e.value.reason == "unknown_channel"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "invalid_json"),
        (b"nope", "invalid_json"),
        (b"[]", "schema_invalid"),
        (b'{"update_id": -1, "message": {}}', "schema_invalid"),
        (b'{"update_id": 1, "message": {"message_id": 1}}', "schema_invalid"),
        (b'{"update_id": 1}', "unsupported_event"),
    ],
)
def test_authentic_garbage_is_a_dead_letter(raw, reason):
    with pytest.raises(Rejected) as e:
        connector().handle(telegram_push(raw))
    assert e.value.reason == reason


def test_deletions_are_never_reported():
    # the Bot API has no deletion update: nothing here may pretend otherwise
    for case in cases("telegram"):
        try:
            d = connector().handle(telegram_push(fixture("telegram", case)))
        except Rejected:
            continue
        assert all(e.event_type in (EventType.CREATED, EventType.EDITED) for e in d.events)


@pytest.mark.parametrize("case", cases("telegram"))
def test_a_retry_yields_the_same_event_ids(case):
    try:
        a = connector().handle(telegram_push(fixture("telegram", case), at=RECEIVED))
    except Rejected:
        return
    b = connector().handle(telegram_push(fixture("telegram", case), at=LATER))
    assert [e.event_id for e in a.events] == [e.event_id for e in b.events]
    for e in a.events:
        assert decode(MentionEvent, e.to_bytes()) == e


def test_text_longer_than_the_schema_allows_is_a_dead_letter():
    payload = fixture_json("telegram", "message")
    payload["message"]["text"] = "x" * 100_001
    with pytest.raises(Rejected) as e:
        connector().handle(telegram_push(json.dumps(payload).encode()))
    assert e.value.reason == "schema_invalid"


@pytest.mark.parametrize("token", ["", "has space", "x" * 257, "кириллица"])
def test_invalid_secret_tokens_are_configuration_errors(token):
    with pytest.raises(ValueError):
        TelegramBot(BRANDS, secret_tokens=[token])
