"""Push connectors: one platform webhook request in, :class:`MentionEvent`s out.

Each module (``vk``, ``meta``, ``telegram``, ``x``, ``generic``) is pure: no HTTP server, no
Kafka, no platform SDK and no clock. The receiver turns a request into a :class:`Push`
(stamped with its own receive time) and calls the connector's ``handle``. What comes
back decides the answer:

- a :class:`Delivery`: events to publish, parts of a batch to dead-letter on their own,
  reasons for authentic pushes that carry no mention, and the body of a handshake;
- :class:`AuthFailed`: the push is not provably from the platform. Answer 401 and write
  no dead letter: anyone can send garbage to a public URL, and it must not fill the
  dead-letter topic. A connector checks authenticity before it reads anything else.
- :class:`Rejected`: authentic, but it cannot become events. Dead-letter it with the
  reason and answer 2xx (the connector's ``ack``) so the platform stops retrying it.

Nothing else escapes ``handle``: the fuzz tests hold every connector to that.

Identity. ``mention_id``, ``author_id`` and ``parent_id`` are ``<platform>:<platform's
own id>`` (``vk:wall-1_2/3``, ``facebook:123_456``, ``telegram:-100123/45``), built by
functions each module exports so that the pollers name the same comment the same way and
a poller's ``deleted`` joins the pushed ``created``. ``channel`` is the brand's page,
community or chat spelled as the brands file lists it (see
:meth:`shared.brands.BrandsFile.find_owned`). ``event_id`` is derived only from what the
platform sends, so a retried delivery (platforms retry for hours) yields the same ids.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from shared.brands import BrandsFile
from shared.schemas import InvalidRecord, MentionEvent, MentionLookup, Platform, parse_json, validate_obj

#: Largest push body a connector reads. Meta batches up to 1,000 changes in one request
#: and a Facebook comment can be 8,000 characters, so a full batch can pass 1 MiB; the
#: receiver enforces the same limit before reading the body.
MAX_PUSH_BYTES = 8 * 1024 * 1024

#: Why a push was refused as unauthenticated (401, no dead letter).
AUTH_REASONS = frozenset({"missing_signature", "bad_signature", "stale_signature", "not_configured"})
#: Why an authentic push (or part of a batch) became a dead letter. The first seven are
#: the shared decoder's own codes, so a body gets the same reason here as on a topic.
REJECT_REASONS = frozenset(
    {
        "empty",
        "oversized",
        "invalid_encoding",
        "invalid_json",
        "schema_invalid",
        "unknown_platform",
        "unsupported_schema_version",
        "unsupported_event",
        "unknown_channel",
    }
)
#: Why an authentic push produced nothing and needs no dead letter (counted, not kept).
#: ``repost``: a share of someone else's post without words of its own (an X retweet).
SKIP_REASONS = frozenset({"not_public", "service_message", "reaction", "repost"})


class ConnectorError(Exception):
    """Everything a connector raises. ``reason`` is a bounded code (a metric label)."""

    reasons: frozenset[str] = frozenset()

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in self.reasons:
            raise ValueError(f"{type(self).__name__}: unknown reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail[:2000]


class AuthFailed(ConnectorError):
    """Not provably from the platform: answer 401, no dead letter."""

    reasons = AUTH_REASONS


class Rejected(ConnectorError):
    """Authentic but unusable as a whole: dead letter, then answer 2xx."""

    reasons = REJECT_REASONS


@dataclass(frozen=True, slots=True)
class Push:
    """One webhook request as the receiver got it. Header names are matched in any case."""

    method: str
    body: bytes
    received_at: datetime
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
        object.__setattr__(self, "method", self.method.upper())
        object.__setattr__(self, "headers", {k.lower(): v for k, v in self.headers.items()})


@dataclass(frozen=True, slots=True)
class RejectedPart:
    """One refused piece of a batched push; the rest of the batch still counts.

    ``raw`` is that piece alone, re-wrapped in the platform's envelope where it has one,
    so a dead letter can be inspected (and replayed) on its own.
    """

    reason: str
    detail: str
    raw: bytes

    def __post_init__(self) -> None:
        if self.reason not in REJECT_REASONS:
            raise ValueError(f"unknown reject reason {self.reason!r}")


#: Something a push announced without its content, for a poller to fetch. Instagram's
#: ``mentions`` webhook says only that the brand was @mentioned in a comment or caption
#: (media id, comment id): no text, no author, so no event can be built yet. It is the
#: topic record itself: the receiver hands it to ``ingest.lookups`` as it comes.
Lookup = MentionLookup


@dataclass(frozen=True, slots=True)
class Delivery:
    """What an authentic push amounts to."""

    events: tuple[MentionEvent, ...] = ()
    rejected: tuple[RejectedPart, ...] = ()
    #: one code from SKIP_REASONS per authentic item that carries no mention
    skipped: tuple[str, ...] = ()
    lookups: tuple[Lookup, ...] = ()
    #: the handshake's answer (VK confirmation code, Meta hub.challenge, X CRC); None: the connector's ``ack``
    reply: bytes | None = None
    #: the answer's Content-Type (X wants its CRC answer as JSON)
    reply_content_type: str = "text/plain; charset=utf-8"


class Connector(Protocol):
    """What the receiver needs of a connector: route name, usual answer, ``handle``."""

    #: the receiver's route: ``/hooks/<name>``
    name: str
    #: the body every accepted or dead-lettered push is answered with (VK insists on "ok")
    ack: bytes

    def handle(self, push: Push) -> Delivery: ...


# ------------------------------------------------------------------ payload reading helpers
# Shared by the connector modules; they belong to the connector contract (same reasons,
# same limits everywhere), which is why they live here rather than in a helpers module.


def _id_str(v: Any) -> Any:
    # platforms send ids as JSON strings (Meta) or numbers (VK, Telegram); ids are text here
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return v


#: a platform object id as text, bounded like MentionEvent's id fields
PlatformId = Annotated[str, BeforeValidator(_id_str), Field(min_length=1, max_length=200)]


class Payload(BaseModel):
    """Base of the documented payload shapes: fields the platform adds later are ignored
    (platforms extend payloads without notice); the fields read are type-checked."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


M = TypeVar("M", bound=BaseModel)


def read_body(body: bytes, max_bytes: int = MAX_PUSH_BYTES) -> Any:
    """JSON of an authenticated body, or :class:`Rejected` with the decoder's reason."""
    try:
        return parse_json(body, max_bytes=max_bytes)
    except InvalidRecord as exc:
        raise Rejected(exc.reason, exc.detail) from None


def short_errors(err: ValidationError, limit: int = 3) -> str:
    parts = []
    for e in err.errors(include_url=False)[:limit]:
        loc = ".".join(str(p) for p in e["loc"]) or "<payload>"
        parts.append(f"{loc}: {e['msg']}")
    if err.error_count() > limit:
        parts.append(f"... and {err.error_count() - limit} more")
    return "; ".join(parts)


def read_model(model: type[M], obj: Any, where: str) -> M:
    """``obj`` as ``model``, or :class:`Rejected` ``schema_invalid`` naming what is wrong."""
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise Rejected("schema_invalid", f"{where}: {short_errors(exc)}") from None
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:
        raise Rejected("schema_invalid", f"{where}: {type(exc).__name__}") from None


def build_event(fields: dict[str, Any], received_at: datetime) -> MentionEvent:
    """A MentionEvent through the shared validator (same limits and reasons as a topic)."""
    try:
        return validate_obj(MentionEvent, fields, context={"ingested_at": received_at})
    except InvalidRecord as exc:
        raise Rejected(exc.reason, exc.detail) from None


def locate(brands: BrandsFile, platform: Platform, spellings: Iterable[str], what: str) -> tuple[str, str]:
    """(brand, channel) of a page, or :class:`Rejected` ``unknown_channel``: events of a
    page no brand lists would belong to nobody."""
    spellings = list(spellings)
    found = brands.find_owned(platform, spellings)
    if found is None:
        raise Rejected("unknown_channel", f"{what} is not in the brands file (tried {', '.join(spellings)})")
    return found


def secret_matches(given: str | None, secrets: Sequence[str]) -> bool:
    """Constant-time check of a shared secret against each configured one."""
    if given is None:
        return False
    got = given.encode("utf-8", "surrogatepass")
    matched = False
    for s in secrets:
        # every secret is compared: timing says nothing about which one (or whether one) matched
        matched |= hmac.compare_digest(got, s.encode("utf-8"))
    return matched


def safe_url(url: str | None) -> str | None:
    """A link from a payload only if it is http(s): alerts show it to people as a link."""
    if url and url.startswith(("https://", "http://")) and len(url) <= 2000:
        return url
    return None


def unknown_author(platform: Platform) -> str:
    """``author_id`` of a removal whose payload does not name the author (VK deletions)."""
    return f"{platform.value}:unknown"
