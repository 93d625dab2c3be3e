"""Pollers: one API request out, one API response in, :class:`MentionEvent`s and a cursor out.

Each module (``rss``, ``youtube``, ``vk``, ``instagram``) is pure: it builds a
:class:`Request` from a source's settings and its cursor, and reads a :class:`Reply`
(a :class:`Response`, or a :class:`TransportError` when none came) into a
:class:`PollResult`. No HTTP, no Kafka, no clock: the poll loop (``poll_main``) does the
I/O and passes the time in, so every answer an API can give is testable as a fixture.

Two kinds of reading:

- a *poll* reads what is new (comments since the cursor, a feed's entries) and says what
  it saw present (:class:`Seen`), which the reconciliation watch-list takes up;
- a *check* looks one known mention up again and gives a :class:`Check`: ``present``,
  ``gone`` or ``hidden`` only when the API answered successfully and said so explicitly
  ("no such comment" in a 2xx answer, or the platform's documented "does not exist"
  error); every other answer is ``failed`` with a bounded reason. A failure is never
  evidence of anything: timeouts, 429, 5xx, auth and quota errors and unreadable bodies
  are all ``failed``, and ``services.ingest.reconcile`` never turns ``failed`` into a
  deletion.

Identity follows the push connectors (see ``services.ingest.connectors``): a comment a
poller reads gets the same ``mention_id`` as the webhook of the same platform gives it,
built with the connector's own id functions, so a polled ``deleted`` joins a pushed
``created``.

Credentials: a :class:`Request` keeps them apart (``secret``), so what is logged or put
in a metric (``redacted_url``) never carries a key or token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from shared.schemas import MentionEvent, Platform

#: Why a request gave nothing usable (a metric label; bounded).
FAILURE_REASONS = frozenset(
    {
        "timeout",  # no answer in time
        "connection",  # refused, reset, DNS, TLS
        "rate_limited",  # 429, or the platform's own "too many requests" code
        "server_error",  # 5xx, or the platform's "internal error" code
        "auth",  # 401/403, a bad or expired token, a missing permission
        "quota",  # the daily quota is spent (YouTube), or would be by this call
        "malformed",  # a 2xx body that is not what the API documents
        "client_error",  # any other refusal (bad parameter, unexpected status)
        "not_configured",  # no credential where one is needed
        "not_visible",  # a 2xx answer without the object asked for: not readable (yet)
    }
)
#: What a successful request amounted to (a metric label; bounded).
OK_RESULTS = frozenset({"ok", "not_modified"})

#: Answers larger than this are not read: no documented page of comments comes close.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request a poller wants made. ``secret`` params are added only when sent."""

    url: str
    params: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    #: credential query parameters (API key, access token): kept out of logs
    secret: tuple[tuple[str, str], ...] = ()
    #: quota units the call costs (YouTube counts every call; others 1)
    cost: int = 1

    def full_url(self) -> str:
        query = urlencode(list(self.params) + list(self.secret))
        return f"{self.url}?{query}" if query else self.url

    def redacted_url(self) -> str:
        """The URL as it may be logged: credential values replaced."""
        query = urlencode(list(self.params) + [(k, "REDACTED") for k, _ in self.secret])
        return f"{self.url}?{query}" if query else self.url


@dataclass(frozen=True, slots=True)
class Response:
    """What came back. Header names are lower case."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", {k.lower(): v for k, v in self.headers.items()})


@dataclass(frozen=True, slots=True)
class TransportError:
    """No response at all: ``timeout`` or ``connection``."""

    reason: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.reason not in ("timeout", "connection"):
            raise ValueError(f"unknown transport error {self.reason!r}")


Reply = Response | TransportError


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a reply was not usable; ``retry_after_s`` when the platform said how long to wait."""

    reason: str
    detail: str = ""
    retry_after_s: float | None = None

    def __post_init__(self) -> None:
        if self.reason not in FAILURE_REASONS:
            raise ValueError(f"unknown failure reason {self.reason!r}")
        object.__setattr__(self, "detail", self.detail[:500])


@dataclass(frozen=True, slots=True)
class Seen:
    """A mention a poll saw present: what the watch-list needs to look it up again and,
    if it goes, to write its ``deleted`` event without the original at hand."""

    platform: Platform
    brand: str
    channel: str
    mention_id: str
    #: the platform's own id, as the check request needs it
    lookup_id: str
    author_id: str
    author_is_brand: bool
    occurred_at: datetime
    parent_id: str | None = None
    url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform.value,
            "brand": self.brand,
            "channel": self.channel,
            "mention_id": self.mention_id,
            "lookup_id": self.lookup_id,
            "author_id": self.author_id,
            "author_is_brand": self.author_is_brand,
            "occurred_at": self.occurred_at.isoformat(),
            "parent_id": self.parent_id,
            "url": self.url,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Seen:
        return cls(
            platform=Platform(d["platform"]),
            brand=d["brand"],
            channel=d["channel"],
            mention_id=d["mention_id"],
            lookup_id=d["lookup_id"],
            author_id=d["author_id"],
            author_is_brand=bool(d["author_is_brand"]),
            occurred_at=datetime.fromisoformat(d["occurred_at"]),
            parent_id=d.get("parent_id"),
            url=d.get("url"),
        )


@dataclass(frozen=True, slots=True)
class PollResult:
    """One poll's outcome. On failure ``cursor`` is the old one: nothing is skipped."""

    events: tuple[MentionEvent, ...] = ()
    cursor: Mapping[str, Any] = field(default_factory=dict)
    seen: tuple[Seen, ...] = ()
    failure: Failure | None = None
    #: another page is waiting: poll again soon rather than after the interval
    more: bool = False
    #: a 304: nothing changed since the last read
    not_modified: bool = False

    @property
    def result(self) -> str:
        if self.failure is not None:
            return self.failure.reason
        return "not_modified" if self.not_modified else "ok"


class Verdict(StrEnum):
    PRESENT = "present"
    GONE = "gone"
    HIDDEN = "hidden"
    FAILED = "failed"


#: Why a check came out as it did (a metric label; bounded).
CHECK_REASONS = frozenset({"found", "not_found", "removed", "hidden"}) | FAILURE_REASONS


@dataclass(frozen=True, slots=True)
class Check:
    """One lookup of one known mention."""

    verdict: Verdict
    reason: str
    retry_after_s: float | None = None

    def __post_init__(self) -> None:
        if self.reason not in CHECK_REASONS:
            raise ValueError(f"unknown check reason {self.reason!r}")
        if self.verdict is Verdict.FAILED and self.reason not in FAILURE_REASONS:
            raise ValueError(f"a failed check needs a failure reason, got {self.reason!r}")
        if self.verdict is not Verdict.FAILED and self.reason in FAILURE_REASONS:
            raise ValueError(f"{self.reason!r} is a failure, never a {self.verdict.value} verdict")

    @classmethod
    def failed(cls, failure: Failure) -> Check:
        return cls(Verdict.FAILED, failure.reason, failure.retry_after_s)


PRESENT = Check(Verdict.PRESENT, "found")


# ------------------------------------------------------------------ reading replies
# Shared by the poller modules: one classification of HTTP failures for all of them.


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("retry-after", "").strip()
    if raw.isdigit():
        return float(min(int(raw), 86_400))
    return None  # an HTTP-date would need a clock; the loop's own back-off applies


def http_failure(reply: Reply) -> Failure | None:
    """The failure an HTTP status (or no response) is, or None for a 2xx/304.

    Platform-specific error bodies (YouTube's ``quotaExceeded`` in a 403, VK's errors in
    a 200) are read by the modules first; this is the fallback every module shares.
    """
    if isinstance(reply, TransportError):
        return Failure(reply.reason, reply.detail)
    s = reply.status
    if 200 <= s < 300 or s == 304:
        return None
    if s == 429:
        return Failure("rate_limited", "HTTP 429", _retry_after(reply.headers))
    if s in (401, 403, 407):
        return Failure("auth", f"HTTP {s}")
    if s >= 500:
        return Failure("server_error", f"HTTP {s}", _retry_after(reply.headers))
    return Failure("client_error", f"HTTP {s}")


def read_json(reply: Response) -> Any:
    """The body as JSON, or raise :class:`Malformed`."""
    if len(reply.body) > MAX_RESPONSE_BYTES:
        raise Malformed(f"body of {len(reply.body)} bytes is over {MAX_RESPONSE_BYTES}")
    try:
        return json.loads(reply.body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise Malformed(f"not JSON: {type(exc).__name__}") from None


class Malformed(ValueError):
    """A 2xx body that does not have the documented shape."""


def parse_time(value: Any, what: str) -> datetime:
    """An API timestamp (ISO 8601 with zone, or epoch seconds) as an aware datetime."""
    if isinstance(value, bool):
        raise Malformed(f"{what}: not a time")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise Malformed(f"{what}: epoch out of range") from None
    if not isinstance(value, str):
        raise Malformed(f"{what}: not a time")
    text = value.strip()
    # Graph API writes +0000 (no colon); fromisoformat in 3.11 accepts it, and Z too
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise Malformed(f"{what}: {text[:40]!r} is not ISO 8601") from None
    if ts.tzinfo is None:
        raise Malformed(f"{what}: {text[:40]!r} has no time zone")
    return ts


# ------------------------------------------------------------------ cursors


@dataclass(frozen=True, slots=True)
class Mark:
    """A high-water mark: the newest time read and the keys read at exactly that time
    (APIs date to the second, so two comments often share one)."""

    at: datetime | None = None
    keys: frozenset[str] = frozenset()

    def is_new(self, ts: datetime, key: str) -> bool:
        return self.at is None or ts > self.at or (ts == self.at and key not in self.keys)

    def advance(self, ts: datetime, key: str) -> Mark:
        if self.at is None or ts > self.at:
            return Mark(ts, frozenset({key}))
        if ts == self.at:
            return Mark(self.at, self.keys | {key})
        return self

    def to_json(self) -> dict[str, Any] | None:
        if self.at is None:
            return None
        return {"at": self.at.isoformat(), "keys": sorted(self.keys)}

    @classmethod
    def from_json(cls, d: Any) -> Mark:
        if not isinstance(d, Mapping) or not d.get("at"):
            return cls()
        return cls(datetime.fromisoformat(d["at"]), frozenset(str(k) for k in d.get("keys", ())))


def text_or_empty(v: Any) -> str:
    return v if isinstance(v, str) else ""


@dataclass(frozen=True, slots=True)
class Pages:
    """Where a paged, newest-first read stands.

    ``mark`` is what every finished pass has read; a pass runs over pages until one holds
    nothing new (or ``max_pages``), comparing every page with ``mark`` and collecting the
    newest in ``next_mark``, which becomes ``mark`` only when the pass ends: were it moved
    after page one, page two's older comments would look read already.
    """

    mark: Mark = Mark()
    next_mark: Mark = Mark()
    token: str | None = None
    pages: int = 0

    @classmethod
    def from_cursor(cls, cursor: Mapping[str, Any]) -> Pages:
        mark = Mark.from_json(cursor.get("mark"))
        token = cursor.get("page")
        if not token:
            return cls(mark, mark)
        return cls(mark, Mark.from_json(cursor.get("next_mark")), str(token), int(cursor.get("pages", 0)))

    def seen(self, ts: datetime, key: str) -> Pages:
        nm = self.next_mark
        if nm.at is None or (self.mark.at is not None and self.mark.at > nm.at):
            nm = self.mark
        return Pages(self.mark, nm.advance(ts, key), self.token, self.pages)

    def after_page(self, next_token: str | None, had_new: bool, max_pages: int) -> tuple[dict[str, Any], bool]:
        """The cursor after one page, and whether another page should be read soon."""
        pages = self.pages + 1
        if next_token and had_new and pages < max_pages:
            return {
                "mark": self.mark.to_json(),
                "next_mark": self.next_mark.to_json(),
                "page": next_token,
                "pages": pages,
            }, True
        done = self.next_mark if self.next_mark.at is not None else self.mark
        if self.mark.at is not None and (done.at is None or self.mark.at > done.at):
            done = self.mark
        return {"mark": done.to_json()}, False


@dataclass(slots=True)
class DailyQuota:
    """Units spent today against a daily allowance that resets at local midnight of
    ``tz`` (YouTube: midnight Pacific Time). ``reserve`` units are kept back, so the
    calls stop before the platform's own limit does (a spent quota locks the key out
    until the reset).

    Pure: the time comes in with every call. Kept in the source's cursor, so a restart
    does not forget what was spent.
    """

    daily: int
    reserve: int = 0
    tz: Any = timezone.utc
    day: str = ""
    used: int = 0
    #: the platform said the quota is spent: nothing more until the next day
    exhausted: bool = False

    def _roll(self, now: datetime) -> None:
        today = now.astimezone(self.tz).date().isoformat()
        if today != self.day:
            self.day, self.used, self.exhausted = today, 0, False

    def can_spend(self, now: datetime, cost: int) -> bool:
        self._roll(now)
        return not self.exhausted and self.used + cost <= self.daily - self.reserve

    def spend(self, now: datetime, cost: int) -> None:
        self._roll(now)
        self.used += cost

    def mark_exhausted(self, now: datetime) -> None:
        self._roll(now)
        self.exhausted = True

    def left(self, now: datetime) -> int:
        self._roll(now)
        return 0 if self.exhausted else max(0, self.daily - self.reserve - self.used)

    def to_json(self) -> dict[str, Any]:
        return {"day": self.day, "used": self.used, "exhausted": self.exhausted}

    def restore(self, d: Any) -> None:
        if isinstance(d, Mapping):
            self.day = str(d.get("day", ""))
            self.used = int(d.get("used", 0))
            self.exhausted = bool(d.get("exhausted", False))
