"""What every receiver shares: outcomes, HTTP request/response values, rendering context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from shared.schemas import Alert


class Verdict(StrEnum):
    OK = "ok"
    RETRY = "retry"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to. ``reason`` is a bounded code (metric label, dead letter)."""

    verdict: Verdict
    reason: str = "ok"
    #: the receiver's own hint (Slack Retry-After, Telegram parameters.retry_after)
    retry_after_s: float | None = None

    @classmethod
    def ok(cls) -> Outcome:
        return cls(Verdict.OK)

    @classmethod
    def retry(cls, reason: str, after_s: float | None = None) -> Outcome:
        return cls(Verdict.RETRY, reason, after_s)

    @classmethod
    def fail(cls, reason: str) -> Outcome:
        return cls(Verdict.FAIL, reason)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    #: header names lower-cased
    headers: dict[str, str]
    body: bytes


#: sends one request within a timeout; a network failure comes back as an Outcome
HttpSend = Callable[[HttpRequest, float], "HttpResponse | Outcome"]

#: statuses worth another try: timeouts, conflicts, too early, too many requests, server side
RETRIABLE_STATUSES = frozenset({408, 409, 425, 429})


def http_status_outcome(status: int, retry_after_s: float | None = None) -> Outcome:
    if 200 <= status < 300:
        return Outcome.ok()
    if status in RETRIABLE_STATUSES or status >= 500:
        return Outcome.retry(f"http_{status}", retry_after_s)
    if 100 <= status < 600:
        return Outcome.fail(f"http_{status}")
    return Outcome.fail("http_invalid_status")


def parse_retry_after(value: str | None, cap_s: float = 3600.0) -> float | None:
    """``Retry-After`` as seconds (Slack sends seconds; the HTTP-date form is read as no hint)."""
    if not value:
        return None
    try:
        s = float(value.strip())
    except ValueError:
        return None
    return min(max(s, 0.0), cap_s) if s == s else None  # NaN is no hint


@dataclass(frozen=True, slots=True)
class RenderContext:
    """How to word a message: language and time zone (the brand's unless the receiver says)."""

    lang: str
    tz: str
    #: wall time of this attempt (timestamps, Alertmanager endsAt)
    now: datetime


class Target(Protocol):
    """One delivery destination (a receiver, or one chat of a Telegram receiver)."""

    name: str
    receiver: str
    kind: str

    def deliver(self, alert: Alert, delivery_id: str, ctx: RenderContext) -> Outcome: ...
