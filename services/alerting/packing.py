"""Compact, exact JSON encodings for the bulky parts of detector state.

Why: a busy brand's detectors remember thousands of mentions (ids, times, texts) for days;
as plain JSON that was megabytes per brand and restoring 1,000 brands took minutes. The
detectors keep those memories as columns, and these helpers make the columns small and
cheap to store while staying JSON (no pickle): times as whole microseconds relative to a
base or to the previous value (exact for any ``datetime.timestamp()`` before 2106; any
other float is kept as it is, and JSON tells an int from a float), sorted integers as
deltas, and the whole column document as zlib-compressed UTF-8 JSON in base64.
"""

from __future__ import annotations

import base64
import json
import zlib
from datetime import datetime, timezone
from typing import Any

_UTC = timezone.utc


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, _UTC)


def pack(obj: Any) -> str:
    """JSON-safe data as one string: UTF-8 JSON (text not \\u-escaped; lone surrogates
    survive), zlib, base64."""
    raw = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return base64.b64encode(zlib.compress(raw.encode("utf-8", "surrogatepass"), 6)).decode("ascii")


def unpack(blob: str) -> Any:
    return json.loads(zlib.decompress(base64.b64decode(blob, validate=True)))


def enc_time(ts: float, base_us: int) -> int | float:
    """An event time as whole microseconds after ``base_us``, or the float itself."""
    us = round(ts * 1_000_000)
    return us - base_us if us / 1_000_000 == ts else ts


def dec_time(v: int | float, base_us: int) -> float:
    return (base_us + v) / 1_000_000 if isinstance(v, int) else float(v)


def enc_times(values: list[float]) -> list[int | float]:
    """Times as deltas of whole microseconds from the previous one; a float that is not
    whole microseconds is kept as it is and does not move the running base."""
    out: list[int | float] = []
    last = 0
    for ts in values:
        us = round(ts * 1_000_000)
        if us / 1_000_000 == ts:
            out.append(us - last)
            last = us
        else:
            out.append(float(ts))
    return out


def dec_times(values: list[int | float]) -> list[float]:
    out = []
    last = 0
    for v in values:
        if isinstance(v, int):
            last += v
            out.append(last / 1_000_000)
        else:
            out.append(float(v))
    return out


def deltas(values: list[int]) -> list[int]:
    out, last = [], 0
    for v in values:
        out.append(v - last)
        last = v
    return out


def undeltas(ds: list[int]) -> list[int]:
    out, last = [], 0
    for d in ds:
        last += int(d)
        out.append(last)
    return out
