"""Parsing human durations such as ``90s``, ``2m``, ``1h30m`` (CLI flags, incident specs)."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``"1h30m"`` -> 90 minutes. A bare number means seconds. ValueError otherwise."""
    s = text.strip().lower()
    if not s:
        raise ValueError("empty duration")
    try:
        return timedelta(seconds=float(s))
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(f"bad duration {text!r}: use e.g. 90s, 2m, 1h30m")
    return timedelta(seconds=total)
