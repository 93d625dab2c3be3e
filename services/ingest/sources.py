"""Reading mention exports (JSONL, CSV) into validated events, line by line.

A bad line never stops a file: it becomes an :class:`InvalidLine` with its line
number and raw bytes, which the worker dead-letters.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.schemas import MAX_RECORD_BYTES, InvalidRecord, MentionEvent, decode, validate_obj

ENGAGEMENT_COLUMNS = ("likes", "replies", "shares", "views")
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}


@dataclass(frozen=True)
class InvalidLine:
    line_no: int
    raw: bytes
    error: InvalidRecord


ParsedLine = MentionEvent | InvalidLine


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise ValueError(f"cannot tell the format of {path} from its suffix; pass --format jsonl|csv")


def read_jsonl(
    stream: io.BufferedIOBase, now: Callable[[], datetime], max_bytes: int = MAX_RECORD_BYTES
) -> Iterator[ParsedLine]:
    """Each line through the workers' own decoder (same limits, same reasons).

    ``ingested_at`` left out of a line is filled with ``now()`` through the
    decoder's validation context, not by re-parsing the line here.
    """
    for line_no, raw in enumerate(stream, start=1):
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            continue
        try:
            yield decode(MentionEvent, raw, max_bytes=max_bytes, context={"ingested_at": now()})
        except InvalidRecord as exc:
            yield InvalidLine(line_no, raw, exc)


#: what strict UTF-8 decoding leaves in place of undecodable bytes with surrogateescape
_ESCAPED = re.compile("[\udc80-\udcff]")


def _csv_row_to_obj(row: dict[str, str | None]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    engagement: dict[str, Any] = {}
    for key, value in row.items():
        if key is None:
            raise InvalidRecord("schema_invalid", "row has more cells than the header")
        value = (value or "").strip()
        if key in ENGAGEMENT_COLUMNS:
            if value:
                engagement[key] = value
        elif key == "author_is_brand":
            low = value.lower()
            if low not in _TRUE | _FALSE:
                raise InvalidRecord("schema_invalid", f"author_is_brand: {value!r} is not a boolean")
            obj[key] = low in _TRUE
        elif value or key == "text":
            obj[key] = value
    if engagement:
        obj["engagement"] = engagement
    return obj


def read_csv(stream: io.BufferedIOBase, now: Callable[[], datetime]) -> Iterator[ParsedLine]:
    # surrogateescape: a row with bytes that are not UTF-8 is refused on its own
    # (invalid_encoding, as on a topic) instead of ending the whole file
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.DictReader(text)
    while True:
        line_no = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # the csv module cannot resynchronise after a broken quote: the rest is lost
            yield InvalidLine(line_no, b"", InvalidRecord("invalid_csv", str(exc)))
            return
        # the row as the header named it, so the dead letter is readable on its own
        raw = json.dumps(row, ensure_ascii=False, default=str).encode("utf-8", errors="surrogateescape")
        cells = [*row.values(), *(k for k in row if k)]
        if any(isinstance(c, str) and _ESCAPED.search(c) for c in cells):
            yield InvalidLine(line_no, raw, InvalidRecord("invalid_encoding", "row has bytes that are not UTF-8"))
            continue
        try:
            yield validate_obj(MentionEvent, _csv_row_to_obj(row), context={"ingested_at": now()})
        except InvalidRecord as exc:
            yield InvalidLine(line_no, raw, exc)


def read_file(
    path: Path, fmt: str, now: Callable[[], datetime], max_bytes: int = MAX_RECORD_BYTES
) -> Iterator[ParsedLine]:
    with open(path, "rb") as stream:
        if fmt == "jsonl":
            yield from read_jsonl(stream, now, max_bytes)
        else:
            yield from read_csv(stream, now)
