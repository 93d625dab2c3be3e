import io
import json

import pytest

from services.sentiment import score_cli
from services.sentiment.engine import SentimentEngine
from services.sentiment.stand_in import build_lexicon_model


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    path = build_lexicon_model(tmp_path_factory.mktemp("lex"), ["awful"], ["lovely"], ["the", "day"])
    return SentimentEngine(str(path))


def test_plain_lines_and_jsonl_with_echoed_fields(engine):
    source = io.StringIO('awful day\n{"id": 3, "text": "lovely day", "src": "vk"}\n{"id": 4}\n{oops\n\n')
    sink = io.StringIO()
    rc = score_cli.run(engine, source, sink)
    rows = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert rc == 1  # bad lines are reported and make the exit code non-zero, the rest still scored
    assert [r.get("label") for r in rows] == ["negative", "positive", None, None, "neutral"]
    assert rows[1]["id"] == 3 and rows[1]["src"] == "vk" and rows[1]["text"] == "lovely day"
    assert "no string field" in rows[2]["error"] and rows[3]["reason"] == "invalid_json"
    assert rows[2]["line"] == 3 and rows[3]["line"] == 4
    assert abs(rows[0]["negative"] + rows[0]["neutral"] + rows[0]["positive"] - 1) < 1e-3


def test_bytes_that_are_not_utf8_fail_their_line_only(engine):
    # what `head -c 2000 /dev/urandom > x.bin && repwatch score x.bin` feeds it, between good lines
    source = io.BytesIO(b"awful day\n\xff\xfe\x80 broken\n" + b"[" * 100_000 + b"\n" + b'{"text": "lovely day"}\n')
    sink = io.StringIO()
    rc = score_cli.run(engine, source, sink)
    rows = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert rc == 1
    assert [r.get("label") for r in rows] == ["negative", None, "neutral", "positive"]
    assert rows[1] == {"line": 2, "reason": "invalid_encoding", "error": rows[1]["error"]}
    # a line of brackets is plain text (not a JSON object): scored, not an error
    assert rows[2]["label"] == "neutral"


def test_json_the_parser_refuses_is_an_error_record(engine):
    lines = [b'{"text": "' + b"[" * 10 + b'", "n": ' + b"9" * 5000 + b"}\n", b'{"text": "\\ud800"}\n', b"{" * 100_000]
    sink = io.StringIO()
    rc = score_cli.run(engine, io.BytesIO(b"".join(lines)), sink)
    rows = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert rc == 1 and [r["reason"] for r in rows] == ["invalid_json"] * 3
