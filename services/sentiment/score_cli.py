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

CHUNK_LINES = 2048


def parse_line(line: str, text_field: str) -> tuple[str, dict[str, Any]]:
    """(text, fields to echo back). A line starting with '{' is JSON; anything else is text."""
    stripped = line.rstrip("\r\n")
    if stripped.lstrip().startswith("{"):
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            return "", {"error": f"invalid JSON: {exc}"}
        if not isinstance(obj, dict) or not isinstance(obj.get(text_field), str):
            return "", {"error": f"JSON line has no string field {text_field!r}"}
        echo = {k: v for k, v in obj.items() if k != text_field}
        return obj[text_field], echo
    return stripped, {}


def score_lines(engine: SentimentEngine, lines: Iterable[str], text_field: str = "text") -> Iterator[dict[str, Any]]:
    it = iter(lines)
    while chunk := list(itertools.islice(it, CHUNK_LINES)):
        parsed = [parse_line(line, text_field) for line in chunk]
        results = engine.score([text for text, _ in parsed])
        for (text, echo), sentiment in zip(parsed, results, strict=True):
            if "error" in echo:
                yield echo
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


def run(engine: SentimentEngine, source: IO[str], sink: IO[str] = sys.stdout, text_field: str = "text") -> int:
    errors = 0
    for result in score_lines(engine, source, text_field):
        errors += "error" in result
        sink.write(json.dumps(result, ensure_ascii=False) + "\n")
    sink.flush()
    return 1 if errors else 0
