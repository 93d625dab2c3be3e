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
