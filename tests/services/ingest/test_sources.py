import io
import json
from datetime import datetime, timezone

from services.ingest.sources import InvalidLine, detect_format, read_csv, read_jsonl
from shared.schemas import MentionEvent
from tests.factories import mention

NOW = datetime(2026, 11, 26, 13, 0, tzinfo=timezone.utc)


def now():
    return NOW


def as_jsonl(objs):
    return io.BytesIO(b"\n".join(o if isinstance(o, bytes) else json.dumps(o).encode() for o in objs) + b"\n")


def test_jsonl_good_and_bad_lines_keep_their_numbers():
    good = json.loads(mention(1).to_bytes())
    del good["event_id"], good["ingested_at"]
    items = list(read_jsonl(as_jsonl([good, b"{broken", {**good, "platform": "myspace"}, b"", good]), now))
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["MentionEvent", "InvalidLine", "InvalidLine", "MentionEvent"]
    assert items[0].ingested_at == NOW and items[0].event_id == mention(1).event_id
    bad = [i for i in items if isinstance(i, InvalidLine)]
    assert [(b.line_no, b.error.reason) for b in bad] == [(2, "invalid_json"), (3, "unknown_platform")]
    assert bad[0].raw == b"{broken"


def test_csv_rows_with_engagement_booleans_and_blanks():
    data = (
        "event_type,platform,brand,channel,mention_id,author_id,author_is_brand,text,likes,replies,occurred_at,parent_id\n"
        'created,vk,acme,vk:club,1,u1,false,"Доставка, опять!",3,,2026-11-26T10:00:00+03:00,\n'
        "created,vk,acme,vk:club,2,brand:acme,true,Мы разберёмся,,,2026-11-26T10:05:00+03:00,1\n"
        "created,vk,acme,vk:club,3,u3,maybe,text,,,2026-11-26T10:06:00+03:00,\n"
        "created,vk,acme,vk:club,4,u4,false,text,,,yesterday,\n"
    ).encode()
    items = list(read_csv(io.BytesIO(data), now))
    a, b, c, d = items
    assert isinstance(a, MentionEvent) and a.text == "Доставка, опять!" and a.engagement.likes == 3
    assert a.parent_id is None and not a.author_is_brand
    assert isinstance(b, MentionEvent) and b.author_is_brand and b.parent_id == "1"
    assert isinstance(c, InvalidLine) and "author_is_brand" in c.error.detail and c.line_no == 4
    assert isinstance(d, InvalidLine) and "occurred_at" in d.error.detail


def test_detect_format():
    from pathlib import Path

    import pytest

    assert detect_format(Path("x.jsonl")) == "jsonl"
    assert detect_format(Path("x.CSV")) == "csv"
    with pytest.raises(ValueError, match="--format"):
        detect_format(Path("x.txt"))


# Lines the JSON parser refuses for its own limits, and bytes that are not text:
# each is one InvalidLine, and the lines around it still come through.
HOSTILE = {
    "deeply_nested": b"[" * 100_000 + b"]" * 100_000,
    "huge_integer": b'{"likes": ' + b"9" * 5000 + b"}",
    "invalid_utf8_in_string": mention(7).to_bytes().replace(b"comment number 7", b"bad \xff\xfe byte"),
    "lone_surrogate": mention(7).to_bytes().replace(b"comment number 7", b"bad \\ud800 escape"),
    "not_an_object": b"[1, 2, 3]",
}


def test_hostile_lines_are_dead_lettered_one_by_one():
    lines = [mention(0).to_bytes()]
    for raw in HOSTILE.values():
        lines += [raw, mention(len(lines)).to_bytes()]
    items = list(read_jsonl(io.BytesIO(b"\n".join(lines) + b"\n"), now))
    assert len(items) == len(lines)
    good = [i for i in items if isinstance(i, MentionEvent)]
    bad = [i for i in items if isinstance(i, InvalidLine)]
    assert len(good) == len(HOSTILE) + 1 and len(bad) == len(HOSTILE)
    assert [b.line_no for b in bad] == [2 + 2 * k for k in range(len(HOSTILE))]
    assert all(b.error.reason in ("invalid_json", "invalid_encoding", "schema_invalid") for b in bad)


def test_same_bytes_same_reason_in_ingest_and_workers():
    """One decoder: a file line and a topic record with the same bytes get the same reason."""
    from shared.schemas import InvalidRecord, ScoredMention, decode

    for name, raw in HOSTILE.items():
        (item,) = read_jsonl(io.BytesIO(raw + b"\n"), now)
        assert isinstance(item, InvalidLine), name
        try:
            decode(MentionEvent, raw)
        except InvalidRecord as exc:
            worker_reason = exc.reason
        assert item.error.reason == worker_reason, name
    assert HOSTILE and {
        n: next(iter(read_jsonl(io.BytesIO(r + b"\n"), now))).error.reason for n, r in HOSTILE.items()
    } == {
        "deeply_nested": "invalid_json",
        "huge_integer": "invalid_json",
        "invalid_utf8_in_string": "invalid_encoding",
        "lone_surrogate": "invalid_json",
        "not_an_object": "schema_invalid",
    }
    # the sentiment and alerting workers decode the same way, nested in a ScoredMention
    try:
        decode(ScoredMention, b'{"mention": ' + HOSTILE["invalid_utf8_in_string"] + b"}")
    except InvalidRecord as exc:
        assert exc.reason == "invalid_encoding"


def test_csv_row_with_bad_bytes_does_not_end_the_file():
    header = b"event_type,platform,brand,channel,mention_id,author_id,text,occurred_at\n"
    rows = [
        b"created,vk,acme,vk:club,1,u1,fine,2026-11-26T10:00:00+03:00\n",
        b"created,vk,acme,vk:club,2,u2,bad \xff byte,2026-11-26T10:01:00+03:00\n",
        b"created,vk,acme,vk:club,3,u3,also fine,2026-11-26T10:02:00+03:00\n",
    ]
    items = list(read_csv(io.BytesIO(header + b"".join(rows)), now))
    assert [type(i).__name__ for i in items] == ["MentionEvent", "InvalidLine", "MentionEvent"]
    assert items[1].error.reason == "invalid_encoding" and items[1].line_no == 3
    assert b"\xff" in items[1].raw  # the dead letter keeps the original bytes
