"""Generic MentionEvent pushes signed per Standard Webhooks."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from services.ingest.connectors import AuthFailed, Rejected
from services.ingest.connectors.generic import MAX_EVENTS, GenericPush
from shared import standard_webhooks
from shared.schemas import Actor, EventType, MentionEvent, Platform, decode

from .payloads import GENERIC_SECRET, LATER, RECEIVED, fixture, push


def connector() -> GenericPush:
    return GenericPush(secrets=[GENERIC_SECRET])


def signed(
    body: bytes, *, msg_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", sent=RECEIVED, secret=GENERIC_SECRET, at=None
):
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent.timestamp())),
        "webhook-signature": standard_webhooks.sign(secret, msg_id, sent, body),
    }
    return push(body, headers, at=at or sent)


def test_one_event():
    d = connector().handle(signed(fixture("generic", "single")))
    (e,) = d.events
    assert e.platform is Platform.REVIEWS and e.brand == "acme" and e.mention_id == "otzovik:review/88121"
    assert e.ingested_at == RECEIVED and len(e.event_id) == 32 and e.lang is None


def test_a_batch_keeps_the_good_events_and_dead_letters_the_rest():
    d = connector().handle(signed(fixture("generic", "batch")))
    assert [(e.event_type, e.actor) for e in d.events] == [(EventType.CREATED, None), (EventType.DELETED, Actor.AUTHOR)]
    assert [r.reason for r in d.rejected] == ["unknown_platform", "schema_invalid"]
    assert json.loads(d.rejected[0].raw)["platform"] == "myspace"
    assert d.rejected[1].detail.startswith("[3]")


def test_resending_yields_the_same_event_ids():
    body = fixture("generic", "batch")
    a = connector().handle(signed(body, sent=RECEIVED))
    b = connector().handle(signed(body, sent=LATER, msg_id="msg_other"))
    assert [e.event_id for e in a.events] == [e.event_id for e in b.events]
    for e in a.events:
        assert decode(MentionEvent, e.to_bytes()) == e


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda body: push(body, {}), "missing_signature"),
        (lambda body: signed(body, secret="whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"), "bad_signature"),
        (lambda body: signed(body, sent=RECEIVED - timedelta(minutes=6), at=RECEIVED), "stale_signature"),
        (lambda body: signed(body, sent=RECEIVED + timedelta(minutes=6), at=RECEIVED), "stale_signature"),
        (lambda body: _tampered(signed(body)), "bad_signature"),
    ],
)
def test_unsigned_wrongly_signed_replayed_or_tampered_pushes_are_refused(make, reason):
    with pytest.raises(AuthFailed) as e:
        connector().handle(make(fixture("generic", "single")))
    assert e.value.reason == reason


def _tampered(p):
    return push(p.body.replace(b"acme", b"evil"), dict(p.headers), at=p.received_at)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "invalid_json"),
        (b'"a string"', "schema_invalid"),
        (b"42", "schema_invalid"),
        (b'{"event_type": "created"}', "schema_invalid"),
        (b'{"platform": "nowhere"}', "unknown_platform"),
        (json.dumps([{}] * (MAX_EVENTS + 1)).encode(), "schema_invalid"),
    ],
)
def test_authentic_garbage_is_a_dead_letter(body, reason):
    with pytest.raises(Rejected) as e:
        connector().handle(signed(body))
    assert e.value.reason == reason


def test_an_empty_batch_is_fine():
    d = connector().handle(signed(b"[]"))
    assert d.events == () and d.rejected == ()


def test_malformed_secrets_fail_at_start_up():
    for bad in ([], ["whsec_not base64!"], ["whsec_c2hvcnQ="]):
        with pytest.raises(ValueError):
            GenericPush(secrets=bad)
