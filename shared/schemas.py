"""Event schemas shared by every RepWatch worker.

Everything that crosses a Kafka topic is one of the models below, serialised as
UTF-8 JSON. Each carries ``schema_version`` so that a consumer can refuse (and
dead-letter) a record written by a newer producer instead of misreading it.

Decoding never raises anything but :class:`InvalidRecord`, whose ``reason`` is
a short, bounded code (used as a metric label and in the dead-letter record).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, Literal, Self, TypeVar

import pydantic_core
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

#: Version written by this code. Readers accept every version in READABLE_VERSIONS:
#: v2 added ``MentionEvent.actor``, platforms ``ok`` and ``x``, ``AlertKind`` and the
#: richer alert evidence; a v1 record reads as ``actor`` null. All record types move
#: together, so one number says what a producer wrote. ``MentionEvent.removed_by`` came
#: later within v2: optional, and written only when set (readers older than it refuse a
#: record that carries it, so consumers are upgraded before producers).
SCHEMA_VERSION = 2
SchemaVersion = Literal[1, 2]

T = TypeVar("T", bound="BaseModel")

#: Upper bound on one record's size; larger ones are dead-lettered, not parsed.
#: 1 MiB matches Kafka's default ``message.max.bytes`` neighbourhood and is far
#: above any real comment (a long review is ~20 KB).
MAX_RECORD_BYTES = 1_000_000

#: Texts longer than this are refused at the schema level: nothing people post
#: is this long, and the model only reads the first few hundred tokens anyway.
MAX_TEXT_CHARS = 100_000


class Platform(StrEnum):
    """Where a mention was seen. Unknown platforms are refused, not guessed."""

    VK = "vk"
    TELEGRAM = "telegram"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    YOUTUBE = "youtube"
    REVIEWS = "reviews"
    RSS = "rss"
    OK = "ok"  # Odnoklassniki
    X = "x"


class EventType(StrEnum):
    """Lifecycle of a mention as the platform reports it.

    ``deleted``/``hidden`` matter as much as ``created``: a complaint that
    disappears is a reputation risk of its own.
    """

    CREATED = "created"
    EDITED = "edited"
    DELETED = "deleted"
    HIDDEN = "hidden"
    RESTORED = "restored"


class Actor(StrEnum):
    """Who removed or restored a mention (``deleted``/``hidden``/``restored`` events).

    Null on the event when the source does not say (most pollers only see that an
    item vanished).
    """

    AUTHOR = "author"
    BRAND = "brand"  # the brand's page or its moderators
    PLATFORM = "platform"  # automatic moderation


class AlertKind(StrEnum):
    """Every kind of alert; detectors and simulated incidents share these names."""

    NEGATIVITY_SPIKE = "negativity_spike"
    VOLUME_SURGE = "volume_surge"
    DELETED_COMPLAINT = "deleted_complaint"
    RETURNING_COMPLAINANT = "returning_complainant"
    DELETION_BIAS = "deletion_bias"
    UNANSWERED_COMPLAINT = "unanswered_complaint"
    SILENT_COMMUNITY = "silent_community"


class SentimentLabel(StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


class AlertStatus(StrEnum):
    FIRING = "firing"
    UPDATED = "updated"
    RESOLVED = "resolved"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class _Record(BaseModel):
    # Unknown fields are an error: a typo in a producer must surface in the
    # dead-letter topic, not vanish silently.
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")


class Engagement(_Record):
    likes: int = Field(default=0, ge=0)
    replies: int = Field(default=0, ge=0)
    shares: int = Field(default=0, ge=0)
    views: int | None = Field(default=None, ge=0)


def _utc_iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat(timespec="microseconds")


def mention_event_id(platform: str, mention_id: str, event_type: str, occurred_at: datetime, text: str) -> str:
    """Deterministic id of one platform event: the same input gives the same id.

    ``ingested_at`` is deliberately left out so that re-ingesting the same
    export (or a collector retry) yields the same ids and can be deduplicated.
    The text is part of it so that two edits at the same second differ.
    """
    h = hashlib.sha256()
    for part in (platform, mention_id, event_type, _utc_iso(occurred_at)):
        h.update(part.encode("utf-8"))
        h.update(b"\x1f")
    h.update(hashlib.sha256(text.encode("utf-8")).digest())
    return h.hexdigest()[:32]


class MentionEvent(_Record):
    """One thing that happened to one mention on one platform."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    event_id: str = Field(default="", max_length=64)
    event_type: EventType
    platform: Platform
    brand: str = Field(min_length=1, max_length=200)
    #: page, community, chat or thread the mention lives in
    channel: str = Field(min_length=1, max_length=500)
    #: the platform's own id of the mention (comment, post, review)
    mention_id: str = Field(min_length=1, max_length=500)
    #: the mention this one replies to, if any
    parent_id: str | None = Field(default=None, max_length=500)
    author_id: str = Field(min_length=1, max_length=500)
    author_is_brand: bool = False
    author_followers: int | None = Field(default=None, ge=0)
    text: str = Field(default="", max_length=MAX_TEXT_CHARS)
    lang: str | None = Field(default=None, max_length=16)
    url: str | None = Field(default=None, max_length=2000)
    engagement: Engagement = Field(default_factory=Engagement)
    #: who deleted/hid/restored it; None for created/edited or when the source does not say
    actor: Actor | None = None
    #: the platform's id of whoever deleted/hid/restored it, in the form of ``author_id``, when the
    #: platform names them (VK names the remover but not the comment's author): with ``actor``
    #: null, alerting compares it with the author it remembers. Left out of the JSON when None,
    #: so every other record is byte for byte what earlier v2 producers wrote.
    removed_by: str | None = Field(default=None, min_length=1, max_length=500, exclude_if=lambda v: v is None)
    occurred_at: AwareDatetime
    ingested_at: AwareDatetime

    @model_validator(mode="before")
    @classmethod
    def _default_ingest_time(cls, data: Any, info: ValidationInfo) -> Any:
        # Exports and pushes often leave ingested_at out; the reader passes "now" as
        # validation context so that files and topics go through the same decoder.
        if isinstance(data, dict) and not data.get("ingested_at") and info.context:
            now = info.context.get("ingested_at")
            if now is not None:
                data = {**data, "ingested_at": now}
        return data

    @model_validator(mode="after")
    def _fill_event_id(self) -> Self:
        if not self.event_id:
            # frozen model: set through object.__setattr__ once, at validation
            object.__setattr__(
                self,
                "event_id",
                mention_event_id(
                    self.platform.value,
                    self.mention_id,
                    self.event_type.value,
                    self.occurred_at,
                    self.text,
                ),
            )
        return self

    @property
    def is_scorable(self) -> bool:
        """Only new or changed text carries sentiment; lifecycle events pass through."""
        return self.event_type in (EventType.CREATED, EventType.EDITED)


class LookupKind(StrEnum):
    """What a :class:`MentionLookup` asks for (Instagram's two kinds of @mention)."""

    MENTIONED_COMMENT = "mentioned_comment"  # the brand @mentioned in a comment
    MENTIONED_MEDIA = "mentioned_media"  # the brand @mentioned in a media caption


class MentionLookup(_Record):
    """A mention a push announced without its content, for ``repwatch poll`` to fetch.

    Instagram's ``mentions`` webhook carries only ids: no text, no author. The receiver
    writes one of these to ``ingest.lookups`` (key: :attr:`key`) and answers the webhook
    once Kafka acknowledged it; the poller fetches the mention with the account's token
    and writes the ``created`` event to ``mentions.raw``.
    """

    schema_version: SchemaVersion = SCHEMA_VERSION
    platform: Platform
    kind: LookupKind
    brand: str = Field(min_length=1, max_length=200)
    channel: str = Field(min_length=1, max_length=500)
    # ids go into a URL path and a Graph field expansion: id characters only, nothing to escape
    #: the brand's own account on the platform: the API is asked through it (``/{ig-user-id}``)
    account_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")
    media_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")
    #: the comment that @mentions the brand; None for a caption mention
    comment_id: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")
    #: when the platform says it happened (the webhook entry's time)
    seen_at: AwareDatetime
    received_at: AwareDatetime

    @model_validator(mode="after")
    def _ids_fit_kind(self) -> Self:
        if (self.kind is LookupKind.MENTIONED_COMMENT) != (self.comment_id is not None):
            raise ValueError("a mentioned_comment lookup needs comment_id, a mentioned_media one has none")
        return self

    @property
    def key(self) -> str:
        """Same mention -> same key, whenever and however often the platform announces it:
        the Kafka key, so a retried webhook lands on the same partition and is recognised."""
        return "\x1f".join(
            (self.platform.value, self.account_id, self.kind.value, self.media_id, self.comment_id or "")
        )


class Sentiment(_Record):
    label: SentimentLabel
    negative: float = Field(ge=0.0, le=1.0)
    neutral: float = Field(ge=0.0, le=1.0)
    positive: float = Field(ge=0.0, le=1.0)
    model: str = Field(max_length=500)
    #: language detected from the text (ISO 639-1), or None when undecidable
    lang: str | None = Field(default=None, max_length=16)


class ScoredMention(_Record):
    """A mention event plus its sentiment.

    ``sentiment`` is None for lifecycle events (deleted, hidden, restored),
    which the sentiment worker passes through unchanged and in order.
    """

    schema_version: SchemaVersion = SCHEMA_VERSION
    mention: MentionEvent
    sentiment: Sentiment | None = None
    scored_at: AwareDatetime


class EvidenceMention(_Record):
    """One mention behind an alert, with what a person needs to act on it."""

    mention_id: str = Field(max_length=500)
    platform: Platform
    channel: str = Field(max_length=500)
    url: str | None = Field(default=None, max_length=2000)
    author_id: str | None = Field(default=None, max_length=500)
    occurred_at: AwareDatetime
    #: the first few hundred characters of the text
    text: str = Field(default="", max_length=500)
    negative: float | None = Field(default=None, ge=0.0, le=1.0)
    #: what this mention is in the incident: "removed", "returned", "unanswered", "example", ...
    role: str = Field(default="example", max_length=40)


class AlertEvidence(_Record):
    #: a bounded sample of the mention ids behind the alert (not all of them)
    mention_ids: list[str] = Field(default_factory=list, max_length=100)
    counts: dict[str, int] = Field(default_factory=dict)
    #: a few example mentions with links (v2)
    mentions: list[EvidenceMention] = Field(default_factory=list, max_length=20)
    #: what was seen vs what the baseline expected, over the alert's window
    observed: float | None = None
    expected: float | None = None
    #: tail probability of ``observed`` under the baseline (statistical detectors)
    p_value: float | None = Field(default=None, ge=0.0, le=1.0)
    #: detector-specific score (risk score, CUSUM statistic, removal ratio, ...)
    score: float | None = None
    #: which baseline level the expectation came from: prior, flat, hour_of_day, hour_of_week
    baseline: str | None = Field(default=None, max_length=40)
    #: mentions per channel, most first (bounded)
    top_channels: dict[str, int] = Field(default_factory=dict)


def alert_id(kind: str, brand: str, channel: str | None, episode_start: datetime) -> str:
    """Same incident -> same id, so updates and resolutions join their alert."""
    raw = "\x1f".join((str(kind), brand, channel or "", _utc_iso(episode_start)))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


class Alert(_Record):
    schema_version: SchemaVersion = SCHEMA_VERSION
    alert_id: str
    kind: AlertKind
    brand: str
    channel: str | None = None
    platform: Platform | None = None
    severity: Severity
    status: AlertStatus
    #: 0 for the firing alert, +1 for every later update/resolution of the incident;
    #: (alert_id, status, sequence) names one notification exactly
    sequence: int = Field(default=0, ge=0)
    #: event time the incident started (the first event that made it fire)
    started_at: AwareDatetime | None = None
    window_start: AwareDatetime
    window_end: AwareDatetime
    evidence: AlertEvidence
    message: str


class DeadLetter(_Record):
    """A record a worker could not process, kept with everything needed to replay it."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    #: short bounded code: invalid_json, schema_invalid, unknown_platform, ...
    reason: str
    error: str
    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    source_key_b64: str | None = None
    #: the original bytes, base64; cut to DEAD_LETTER_MAX_ORIGINAL bytes when larger
    #: (an oversized record cannot be re-published whole; source topic/offset point at it)
    original_b64: str
    original_size: int = Field(default=0, ge=0)
    original_truncated: bool = False
    worker: str
    failed_at: AwareDatetime

    @property
    def original(self) -> bytes:
        return base64.b64decode(self.original_b64)

    @classmethod
    def build(
        cls,
        *,
        reason: str,
        error: str,
        source_topic: str,
        original: bytes,
        worker: str,
        failed_at: datetime,
        source_partition: int | None = None,
        source_offset: int | None = None,
        source_key: bytes | None = None,
    ) -> DeadLetter:
        """The one constructor: every dead letter (topic record, file line, webhook body)."""
        return cls(
            reason=reason,
            error=error[:2000],
            source_topic=source_topic,
            source_partition=source_partition,
            source_offset=source_offset,
            source_key_b64=base64.b64encode(source_key).decode() if source_key is not None else None,
            worker=worker,
            failed_at=failed_at,
            **dead_letter_payload(original),
        )


#: how much of a failed record's bytes a dead letter keeps
DEAD_LETTER_MAX_ORIGINAL = 64 * 1024


def dead_letter_payload(original: bytes) -> dict[str, Any]:
    """The ``original_*`` fields of a dead letter for ``original``."""
    kept = original[:DEAD_LETTER_MAX_ORIGINAL]
    return {
        "original_b64": base64.b64encode(kept).decode(),
        "original_size": len(original),
        "original_truncated": len(kept) < len(original),
    }


class InvalidRecord(ValueError):
    """A record that cannot become an event. ``reason`` is a bounded code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


_PLATFORM_LOCS = {("platform",), ("mention", "platform")}


def _reason_for(err: ValidationError) -> str:
    errors = err.errors()
    types = {e["type"] for e in errors}
    if "json_invalid" in types or "json_type" in types:
        return "invalid_json"
    if "model_type" in types and any(e["loc"] == () for e in errors):
        return "schema_invalid"
    for e in errors:
        if tuple(e["loc"]) in _PLATFORM_LOCS and e["type"] == "enum":
            return "unknown_platform"
        if tuple(e["loc"])[-1:] == ("schema_version",):
            return "unsupported_schema_version"
    return "schema_invalid"


def _short(err: ValidationError, limit: int = 3) -> str:
    parts = []
    for e in err.errors()[:limit]:
        loc = ".".join(str(p) for p in e["loc"]) or "<record>"
        parts.append(f"{loc}: {e['msg']}")
    more = err.error_count() - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def _check_bytes(raw: bytes | None, max_bytes: int) -> bytes:
    if raw is None:
        raise InvalidRecord("empty", "record has no value (tombstone)")
    if len(raw) > max_bytes:
        raise InvalidRecord("oversized", f"{len(raw)} bytes > limit {max_bytes}")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRecord("invalid_encoding", f"not UTF-8: {exc}") from None
    return raw


def decode(
    model: type[T],
    raw: bytes | None,
    *,
    max_bytes: int = MAX_RECORD_BYTES,
    context: dict[str, Any] | None = None,
) -> T:
    """Parse and validate one record, or raise :class:`InvalidRecord`.

    The one decoder for bytes from a topic, a file line or a webhook body, so the
    same bytes always get the same reason wherever they come from. pydantic's
    JSON parser bounds nesting depth and number size itself (``invalid_json``);
    anything else it might raise is caught too, so no input can escape as an
    exception that stops a worker.
    """
    raw = _check_bytes(raw, max_bytes)
    try:
        return model.model_validate_json(raw, context=context)
    except ValidationError as exc:
        raise InvalidRecord(_reason_for(exc), _short(exc)) from None
    except (RecursionError, ValueError, OverflowError, MemoryError) as exc:
        raise InvalidRecord("invalid_json", f"{type(exc).__name__}: {exc}"[:500]) from None


def parse_json(raw: bytes | None, *, max_bytes: int = MAX_RECORD_BYTES) -> Any:
    """Free-form JSON (a ``repwatch score`` line, a webhook envelope) with the same
    checks and reasons as :func:`decode`."""
    raw = _check_bytes(raw, max_bytes)
    try:
        return pydantic_core.from_json(raw)
    except (RecursionError, ValueError, OverflowError, MemoryError) as exc:
        raise InvalidRecord("invalid_json", f"{type(exc).__name__}: {exc}"[:500]) from None


def validate_obj(model: type[T], obj: Any, *, context: dict[str, Any] | None = None) -> T:
    """Validate an already-parsed object (CSV row, generator output) the same way."""
    try:
        return model.model_validate(obj, context=context)
    except ValidationError as exc:
        raise InvalidRecord(_reason_for(exc), _short(exc)) from None
