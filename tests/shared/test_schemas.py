from datetime import datetime, timedelta, timezone

import pytest

from shared.schemas import (
    DeadLetter,
    EventType,
    InvalidRecord,
    MentionEvent,
    ScoredMention,
    alert_id,
    decode,
)
from tests.factories import T0, mention, scored


def test_event_id_is_deterministic_and_ignores_ingest_time():
    a = mention(1)
    b = mention(1, ingested_at=T0 + timedelta(hours=3))
    assert a.event_id == b.event_id
    assert len(a.event_id) == 32


@pytest.mark.parametrize(
    "change",
    [
        {"text": "other text"},
        {"event_type": "deleted"},
        {"mention_id": "m999"},
        {"platform": "telegram"},
        {"occurred_at": T0 + timedelta(seconds=99)},
    ],
)
def test_event_id_changes_with_identity_fields(change):
    assert mention(1).event_id != mention(1, **change).event_id


def test_event_id_is_timezone_independent():
    msk = timezone(timedelta(hours=3))
    assert mention(1, occurred_at=T0).event_id == mention(1, occurred_at=T0.astimezone(msk)).event_id


def test_round_trip_through_bytes():
    e = mention(5, parent_id="m1", author_followers=12000, lang="ru", text="Доставка опять опоздала 😡")
    assert decode(MentionEvent, e.to_bytes()) == e
    s = scored(e)
    assert decode(ScoredMention, s.to_bytes()) == s


def test_naive_datetimes_are_refused():
    with pytest.raises(InvalidRecord) as err:
        decode(MentionEvent, mention(1).to_bytes().replace(b'01Z"', b'01"'))
    assert err.value.reason == "schema_invalid"
    assert "occurred_at" in err.value.detail


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "schema_invalid"),
        (b'{"event_type": "created"}', "schema_invalid"),
        (b"\xff\xfe\x00", "invalid_encoding"),
        (None, "empty"),
    ],
)
def test_bad_records_get_a_bounded_reason(raw, reason):
    with pytest.raises(InvalidRecord) as err:
        decode(MentionEvent, raw)
    assert err.value.reason == reason


def test_unknown_platform_and_future_schema_version():
    raw = mention(1).to_bytes()
    with pytest.raises(InvalidRecord) as err:
        decode(MentionEvent, raw.replace(b'"vk"', b'"myspace"'))
    assert err.value.reason == "unknown_platform"
    with pytest.raises(InvalidRecord) as err:
        decode(MentionEvent, raw.replace(b'"schema_version":2', b'"schema_version":3'))
    assert err.value.reason == "unsupported_schema_version"


def test_v1_records_still_read_with_actor_null():
    v2 = mention(1, event_type=EventType.DELETED)
    raw = v2.to_bytes().replace(b'"schema_version":2', b'"schema_version":1').replace(b',"actor":null', b"")
    old = decode(MentionEvent, raw)
    assert old.schema_version == 1 and old.actor is None
    assert old.event_id == v2.event_id


def test_removed_by_is_optional_bounded_and_written_only_when_set():
    plain = mention(1, event_type=EventType.DELETED)
    assert plain.removed_by is None and b"removed_by" not in plain.to_bytes()  # as earlier v2 producers wrote
    named = mention(1, event_type=EventType.DELETED, author_id="vk:unknown", removed_by="vk:id900001")
    back = decode(ScoredMention, scored(named, None).to_bytes())
    assert back.mention.removed_by == "vk:id900001" and back.schema_version == 2
    assert named.event_id == plain.event_id  # who removed it is not part of the event's identity
    for bad in ("", "x" * 501):
        raw = plain.to_bytes()[:-1] + b',"removed_by":"' + bad.encode() + b'"}'
        with pytest.raises(InvalidRecord) as err:
            decode(MentionEvent, raw)
        assert err.value.reason == "schema_invalid" and "removed_by" in err.value.detail
    v1 = plain.to_bytes().replace(b'"schema_version":2', b'"schema_version":1').replace(b',"actor":null', b"")
    assert decode(MentionEvent, v1).removed_by is None


def test_unknown_fields_are_refused():
    raw = mention(1).to_bytes()[:-1] + b',"surprise":true}'
    with pytest.raises(InvalidRecord) as err:
        decode(MentionEvent, raw)
    assert "surprise" in err.value.detail


def test_oversized_record_is_refused_before_parsing():
    with pytest.raises(InvalidRecord) as err:
        decode(MentionEvent, b"x" * 2000, max_bytes=1000)
    assert err.value.reason == "oversized"


def test_alert_id_is_stable_per_episode():
    assert alert_id("k", "acme", None, T0) == alert_id("k", "acme", None, T0)
    assert alert_id("k", "acme", None, T0) != alert_id("k", "acme", None, T0 + timedelta(seconds=1))


def test_dead_letter_keeps_original_bytes():
    dl = DeadLetter(
        reason="invalid_json",
        error="x",
        source_topic="t",
        original_b64="AAEC",
        worker="w",
        failed_at=datetime.now(timezone.utc),
    )
    assert dl.original == b"\x00\x01\x02"
