"""``repwatch score``: texts in (plain lines or JSONL), one JSON result per line out.

Reads in chunks so a large file streams through with bounded memory, while each
chunk still makes full, length-sorted model batches.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from services.sentiment.engine import SentimentEngine
from shared.schemas import InvalidRecord, parse_json

CHUNK_LINES = 2048


def parse_line(line: bytes | str, text_field: str) -> tuple[str, dict[str, Any]]:
    """(text, fields to echo back). A line starting with '{' is JSON; anything else is text.

    Bytes that are not UTF-8, JSON the parser refuses (too deep, numbers too large)
    and JSON without the text field become an error record for that line alone,
    with the same reason codes the workers use for dead letters.
    """
    raw = line.encode("utf-8", errors="surrogatepass") if isinstance(line, str) else line
    raw = raw.rstrip(b"\r\n")
    try:
        if raw.lstrip().startswith(b"{"):
            obj = parse_json(raw)
            if not isinstance(obj, dict) or not isinstance(obj.get(text_field), str):
                return "", {"reason": "schema_invalid", "error": f"JSON line has no string field {text_field!r}"}
            echo = {k: v for k, v in obj.items() if k != text_field}
            return obj[text_field], echo
        return raw.decode("utf-8"), {}
    except UnicodeDecodeError as exc:
        return "", {"reason": "invalid_encoding", "error": f"not UTF-8: {exc}"}
    except InvalidRecord as exc:
        return "", {"reason": exc.reason, "error": exc.detail}


def score_lines(
    engine: SentimentEngine, lines: Iterable[bytes | str], text_field: str = "text"
) -> Iterator[dict[str, Any]]:
    it = enumerate(lines, start=1)
    while chunk := list(itertools.islice(it, CHUNK_LINES)):
        parsed = [(n, *parse_line(line, text_field)) for n, line in chunk]
        results = engine.score([text for _, text, _ in parsed])
        for (line_no, text, echo), sentiment in zip(parsed, results, strict=True):
            if "error" in echo:
                yield {"line": line_no, **echo}
                continue
            yield {
                **echo,
                "text": text,
                "label": sentiment.label.value,
                "negative": round(sentiment.negative, 4),
                "neutral": round(sentiment.neutral, 4),
                "positive": round(sentiment.positive, 4),
                "lang": sentiment.lang,
            }


def run(
    engine: SentimentEngine, source: IO[bytes] | IO[str], sink: IO[str] = sys.stdout, text_field: str = "text"
) -> int:
    """Score every line; returns 1 when some lines could not be scored (each has an error record)."""
    errors = 0
    for result in score_lines(engine, source, text_field):
        errors += "error" in result
        sink.write(json.dumps(result, ensure_ascii=False) + "\n")
    sink.flush()
    return 1 if errors else 0
