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
    assert "no string field" in rows[2]["error"] and "invalid JSON" in rows[3]["error"]
    assert abs(rows[0]["negative"] + rows[0]["neutral"] + rows[0]["positive"] - 1) < 1e-3
