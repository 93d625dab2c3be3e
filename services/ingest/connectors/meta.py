"""Meta webhooks: Facebook Pages (``feed``) and Instagram (``comments``, ``mentions``).

https://developers.facebook.com/docs/graph-api/webhooks/getting-started and the field
references for Page ``feed`` and Instagram ``comments``/``mentions``.

- Subscription handshake: a GET with ``hub.mode=subscribe``, ``hub.verify_token`` (the
  token typed into the App Dashboard, compared in constant time) and ``hub.challenge``,
  answered with the challenge.
- Every POST is signed: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body
  with the app secret>``, checked before the body is read.
- One POST batches changes: ``{"object": "page"|"instagram", "entry": [{"id", "time",
  "changes": [{"field", "value"}]}]}``. Each change stands alone: an unknown page or an
  unreadable change becomes its own dead letter, the rest of the batch still counts.

Facebook ``feed``: ``item`` ``comment`` or a post (``post``, ``status``, ``photo``,
``video``, ``share``, ``link``) with ``verb`` ``add`` (created), ``edited`` (edited),
``remove`` (deleted, actor null: Meta does not say whether the author or the Page
removed it), ``hide``/``unhide`` (hidden/restored by the brand: only a Page's admins can
hide). Reactions and likes arrive on the same field and are skipped, not dead-lettered.

Instagram: ``comments`` (and ``live_comments``) are created events; Instagram sends no
webhook for edits or deletions, so those are left to the poller. ``mentions`` carries
only ids (no text, no author), so it becomes a :class:`Lookup` for the poller.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, Field

from services.ingest.connectors import (
    MAX_PUSH_BYTES,
    AuthFailed,
    ConnectorError,
    Delivery,
    Lookup,
    Payload,
    PlatformId,
    Push,
    Rejected,
    RejectedPart,
    build_event,
    locate,
    read_body,
    read_model,
    safe_url,
    secret_matches,
    unknown_author,
)
from shared.brands import BrandsFile
from shared.schemas import Actor, EventType, LookupKind, MentionEvent, Platform

SIGNATURE_HEADER = "x-hub-signature-256"
ACK = b"EVENT_RECEIVED"
#: Meta's challenge is a number; anything else is not echoed back (a reflected body)
_CHALLENGE = re.compile(r"[A-Za-z0-9_\-]{1,256}")
#: a batch is at most 1,000 changes per Meta's docs; more is not a Meta batch
MAX_CHANGES = 1000

_POST_ITEMS = frozenset({"post", "status", "photo", "video", "share", "link"})
_REACTION_ITEMS = frozenset({"reaction", "like"})
#: verb -> (event type, actor)
_VERBS: dict[str, tuple[EventType, Actor | None]] = {
    "add": (EventType.CREATED, None),
    "edited": (EventType.EDITED, None),
    "edit": (EventType.EDITED, None),
    "remove": (EventType.DELETED, None),
    "delete": (EventType.DELETED, None),
    "hide": (EventType.HIDDEN, Actor.BRAND),
    "unhide": (EventType.RESTORED, Actor.BRAND),
}
_IG_COMMENT_FIELDS = frozenset({"comments", "live_comments"})


class _Envelope(Payload):
    object: str = Field(max_length=100)
    entry: list[Any] = Field(max_length=MAX_CHANGES)


class _Entry(Payload):
    id: PlatformId
    # Meta documents seconds; an epoch in milliseconds is read as such (pydantic's rule)
    time: AwareDatetime
    changes: list[Any] = Field(default_factory=list, max_length=MAX_CHANGES)
    # Meta's Business Login for Instagram examples show one change inline in the entry
    field: str | None = Field(default=None, max_length=100)
    value: Any = None

    def all_changes(self) -> list[Any]:
        if not self.changes and self.field is not None:
            return [{"field": self.field, "value": self.value}]
        return self.changes


class _Change(Payload):
    field: str = Field(max_length=100)
    value: Any = None


class _From(Payload):
    id: PlatformId
    name: str | None = None
    username: str | None = None


class _PostRef(Payload):
    id: PlatformId | None = None
    permalink_url: str | None = None


class _FeedValue(Payload):
    item: str = Field(max_length=100)
    verb: str = Field(max_length=100)
    post_id: PlatformId | None = None
    comment_id: PlatformId | None = None
    parent_id: PlatformId | None = None
    from_: _From | None = Field(default=None, alias="from")
    message: str | None = None
    created_time: AwareDatetime | None = None
    post: _PostRef | None = None


class _IgMedia(Payload):
    id: PlatformId


class _IgComment(Payload):
    id: PlatformId
    from_: _From | None = Field(default=None, alias="from")
    text: str | None = None
    parent_id: PlatformId | None = None
    media: _IgMedia | None = None


class _IgMention(Payload):
    media_id: PlatformId
    comment_id: PlatformId | None = None


def facebook_mention_id(object_id: str) -> str:
    """A Page post (``<page>_<post>``) or comment (``<post>_<comment>``); Graph ids are unique."""
    return f"facebook:{object_id}"


def instagram_mention_id(object_id: str) -> str:
    return f"instagram:{object_id}"


def channel_spellings(platform: Platform, account_id: str) -> list[str]:
    """How a brands file may list a Facebook Page or Instagram account."""
    return [f"{platform.value}:{account_id}", account_id]


def verify(headers: Mapping[str, str], body: bytes, app_secrets: Sequence[str]) -> None:
    """``X-Hub-Signature-256`` over the raw body, or :class:`AuthFailed`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    header = (lowered.get(SIGNATURE_HEADER) or "").strip()
    if not header:
        raise AuthFailed("missing_signature", f"no {SIGNATURE_HEADER} header")
    scheme, _, hexdigest = header.partition("=")
    if scheme != "sha256" or len(hexdigest) != 64:
        raise AuthFailed("bad_signature", f"{SIGNATURE_HEADER} is not sha256=<64 hex digits>")
    try:
        got = bytes.fromhex(hexdigest)
    except ValueError:
        raise AuthFailed("bad_signature", f"{SIGNATURE_HEADER} is not hex") from None
    matched = False
    for secret in app_secrets:
        want = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
        matched |= hmac.compare_digest(got, want)
    if not matched:
        raise AuthFailed("bad_signature", "signature does not match the body with the app secret")


def handshake(query: Mapping[str, str], verify_token: str) -> Delivery:
    """The subscription GET: echo ``hub.challenge`` when the verify token matches."""
    if query.get("hub.mode") != "subscribe":
        raise AuthFailed("missing_signature", "not a subscription request (hub.mode=subscribe)")
    if not secret_matches(query.get("hub.verify_token"), [verify_token]):
        raise AuthFailed("bad_signature", "hub.verify_token does not match")
    challenge = query.get("hub.challenge") or ""
    if not _CHALLENGE.fullmatch(challenge):
        raise Rejected("schema_invalid", "hub.challenge is missing or not a plain token")
    return Delivery(reply=challenge.encode("ascii"))


def _part_raw(obj: str, entry: Any, change: Any | None) -> bytes:
    # the refused piece in Meta's own envelope, so it can be read (or replayed) alone
    if isinstance(entry, dict) and change is not None:
        entry = {"id": entry.get("id"), "time": entry.get("time"), "changes": [change]}
    return json.dumps({"object": obj, "entry": [entry]}, ensure_ascii=False, default=str).encode(
        "utf-8", "surrogatepass"
    )


def parse(body: bytes, *, brands: BrandsFile, received_at: datetime, max_bytes: int = MAX_PUSH_BYTES) -> Delivery:
    """An authenticated POST body: every change of every entry, each on its own."""
    env = read_model(_Envelope, read_body(body, max_bytes), "Meta webhook")
    if env.object == "page":
        platform = Platform.FACEBOOK
    elif env.object == "instagram":
        platform = Platform.INSTAGRAM
    else:
        raise Rejected("unsupported_event", f"Meta object {env.object!r} is not handled (page, instagram are)")
    events: list[MentionEvent] = []
    rejected: list[RejectedPart] = []
    skipped: list[str] = []
    lookups: list[Lookup] = []
    budget = MAX_CHANGES
    for raw_entry in env.entry:
        try:
            entry = read_model(_Entry, raw_entry, "entry")
            brand, channel = locate(
                brands, platform, channel_spellings(platform, entry.id), f"{platform.value} account {entry.id}"
            )
        except ConnectorError as exc:
            rejected.append(RejectedPart(exc.reason, exc.detail, _part_raw(env.object, raw_entry, None)))
            continue
        for raw_change in entry.all_changes():
            budget -= 1
            if budget < 0:
                rejected.append(RejectedPart("schema_invalid", "more changes than a Meta batch holds", b""))
                break
            try:
                change = read_model(_Change, raw_change, "change")
                if platform is Platform.FACEBOOK:
                    outcome = _feed(change, entry, brand, channel, received_at)
                else:
                    outcome = _instagram(change, entry, brand, channel, received_at)
            except ConnectorError as exc:
                rejected.append(RejectedPart(exc.reason, exc.detail, _part_raw(env.object, raw_entry, raw_change)))
                continue
            if isinstance(outcome, MentionEvent):
                events.append(outcome)
            elif isinstance(outcome, Lookup):
                lookups.append(outcome)
            else:
                skipped.append(outcome)
    return Delivery(events=tuple(events), rejected=tuple(rejected), skipped=tuple(skipped), lookups=tuple(lookups))


def _facebook_url(v: _FeedValue, object_id: str, is_comment: bool) -> str | None:
    permalink = safe_url(v.post.permalink_url) if v.post else None
    if not is_comment:
        return permalink or f"https://www.facebook.com/{object_id}"
    if permalink:
        comment_part = object_id.rsplit("_", 1)[-1]
        return f"{permalink}{'&' if '?' in permalink else '?'}comment_id={comment_part}"
    return f"https://www.facebook.com/{object_id}"


def _feed(change: _Change, entry: _Entry, brand: str, channel: str, received_at: datetime) -> MentionEvent | str:
    if change.field != "feed":
        raise Rejected("unsupported_event", f"Page field {change.field!r} is not handled (subscribe to feed)")
    v = read_model(_FeedValue, change.value, "feed value")
    if v.item in _REACTION_ITEMS:
        return "reaction"
    verb = _VERBS.get(v.verb)
    if verb is None or (v.item != "comment" and v.item not in _POST_ITEMS):
        raise Rejected("unsupported_event", f"feed item {v.item!r} verb {v.verb!r} is not handled")
    event_type, actor = verb
    is_comment = v.item == "comment"
    object_id = v.comment_id if is_comment else v.post_id
    if not object_id:
        raise Rejected("schema_invalid", f"feed {v.item} {v.verb}: no {'comment_id' if is_comment else 'post_id'}")
    parent: str | None = None
    if is_comment:
        parent_ref = v.parent_id or v.post_id
        parent = facebook_mention_id(parent_ref) if parent_ref else None
    author = v.from_.id if v.from_ else None
    return build_event(
        {
            "event_type": event_type,
            "platform": Platform.FACEBOOK,
            "brand": brand,
            "channel": channel,
            "mention_id": facebook_mention_id(object_id),
            "parent_id": parent,
            "author_id": f"facebook:{author}" if author else unknown_author(Platform.FACEBOOK),
            "author_is_brand": author == entry.id,
            "text": v.message or "",
            "url": _facebook_url(v, object_id, is_comment),
            "actor": actor,
            # a new item is dated by its creation; a change by when Meta reported it
            # (created_time of an edit or removal is still the item's creation)
            "occurred_at": v.created_time if event_type is EventType.CREATED and v.created_time else entry.time,
        },
        received_at,
    )


def _instagram(
    change: _Change, entry: _Entry, brand: str, channel: str, received_at: datetime
) -> MentionEvent | Lookup:
    if change.field == "mentions":
        m = read_model(_IgMention, change.value, "mentions value")
        return read_model(
            Lookup,
            {
                "platform": Platform.INSTAGRAM,
                "brand": brand,
                "channel": channel,
                "kind": LookupKind.MENTIONED_COMMENT if m.comment_id else LookupKind.MENTIONED_MEDIA,
                # the account that was @mentioned: the poller asks the Graph API through it
                "account_id": entry.id,
                "media_id": m.media_id,
                "comment_id": m.comment_id,
                "seen_at": entry.time,
                "received_at": received_at,
            },
            "mentions value",
        )
    if change.field not in _IG_COMMENT_FIELDS:
        raise Rejected("unsupported_event", f"Instagram field {change.field!r} is not handled (comments, mentions are)")
    c = read_model(_IgComment, change.value, f"{change.field} value")
    author = c.from_.id if c.from_ else None
    parent_ref = c.parent_id or (c.media.id if c.media else None)
    return build_event(
        {
            "event_type": EventType.CREATED,
            "platform": Platform.INSTAGRAM,
            "brand": brand,
            "channel": channel,
            "mention_id": instagram_mention_id(c.id),
            "parent_id": instagram_mention_id(parent_ref) if parent_ref else None,
            "author_id": f"instagram:{author}" if author else unknown_author(Platform.INSTAGRAM),
            "author_is_brand": author == entry.id,
            "text": c.text or "",
            # the payload has no permalink or shortcode, and a media id does not map to one
            "url": None,
            "occurred_at": entry.time,
        },
        received_at,
    )


class MetaWebhooks:
    """Facebook Page and Instagram webhooks for the receiver (route ``/hooks/meta``).

    ``app_secrets``: the Meta app's secret (several while rotating, or a Facebook app and
    an Instagram app sharing one callback URL); ``verify_token``: what the App Dashboard's
    webhook setup was given.
    """

    name = "meta"
    ack = ACK

    def __init__(
        self, brands: BrandsFile, *, app_secrets: Sequence[str], verify_token: str, max_bytes: int = MAX_PUSH_BYTES
    ) -> None:
        if isinstance(app_secrets, str):
            app_secrets = [app_secrets]
        if not app_secrets or not all(app_secrets):
            raise ValueError("Meta app secret must not be empty")
        if not verify_token:
            raise ValueError("Meta verify token must not be empty")
        self._brands = brands
        self._secrets = list(app_secrets)
        self._verify_token = verify_token
        self._max_bytes = max_bytes

    def handle(self, push: Push) -> Delivery:
        if push.method == "GET":
            return handshake(push.query, self._verify_token)
        verify(push.headers, push.body, self._secrets)
        return parse(push.body, brands=self._brands, received_at=push.received_at, max_bytes=self._max_bytes)
