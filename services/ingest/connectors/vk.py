"""VK Callback API (https://dev.vk.com/ru/api/callback/getting-started).

VK POSTs one JSON event per request: ``{"type", "event_id", "v", "object", "group_id",
"secret"}`` and expects the body ``ok`` (anything else and it retries). Handled:

- ``confirmation``: the server-address handshake, answered with the group's code;
- ``wall_post_new``: a post on the community wall (scheduled and suggested posts are
  not public yet and are skipped: VK sends ``wall_post_new`` again when one is published);
- comments of the same shape on walls, photos, videos, discussion boards and market
  items: ``wall_reply_*``, ``photo_comment_*``, ``video_comment_*``, ``board_post_*``,
  ``market_comment_*`` with ``_new`` / ``_edit`` / ``_restore`` / ``_delete``.

Authenticity is the ``secret`` field (set in the group's Callback API settings),
compared in constant time; a group without a configured secret is refused, since
without one anyone could post events in its name.

Who removed a comment: the ``*_delete`` payloads carry the remover (``deleter_id``;
VK's JSON schema calls it ``user_id``, both are read) but not the author. The community
itself as remover is the brand. Otherwise the author must come from what was seen
before: ``author_of`` (mention id -> author id, e.g. the receiver's memory of recent
``created`` events). Remover equal to the author is ``author``; anyone else is
``brand``, because on a community's wall only the author and the community's managers
can delete a comment. A person as remover is always named in ``removed_by`` (in the form of
``author_id``): with no known author (a comment from before a restart, seen by another
receiver replica, or older than the memory) the actor is left null, and the alerting
detectors, which remember the complaints' authors durably, apply the same rule to it.
Board deletions do not name the remover at all.

Time: comments carry only their creation ``date``; edits, deletions and restores are
dated when the receiver got them, and their ``event_id`` is derived from VK's own
``event_id`` (the same on every retry of one event), so a retry hours later is still the
same event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, ValidationError

from services.ingest.connectors import (
    AuthFailed,
    Delivery,
    Payload,
    Push,
    Rejected,
    build_event,
    locate,
    read_model,
    secret_matches,
    unknown_author,
)
from shared.brands import BrandsFile
from shared.schemas import MAX_RECORD_BYTES, Actor, Engagement, EventType, InvalidRecord, Platform, parse_json

PLATFORM = Platform.VK
ACK = b"ok"

#: event type prefix -> (URL/id kind, object id field, owner field in new/edit/restore
#: payloads, owner field in delete payloads)
_COMMENT_KINDS: dict[str, tuple[str, str, str, str]] = {
    "wall_reply": ("wall", "post_id", "post_owner_id", "owner_id"),
    "photo_comment": ("photo", "photo_id", "photo_owner_id", "owner_id"),
    "video_comment": ("video", "video_id", "video_owner_id", "owner_id"),
    "market_comment": ("product", "item_id", "market_owner_id", "owner_id"),
    "board_post": ("topic", "topic_id", "topic_owner_id", "topic_owner_id"),
}
_SUFFIXES = {"new": EventType.CREATED, "edit": EventType.EDITED, "restore": EventType.RESTORED}
_NOT_PUBLIC = frozenset({"postpone", "suggest"})

#: VK ids are signed 64-bit (negative: a community); wider numbers are not ids
VkId = Annotated[int, Field(gt=-(2**63), lt=2**63)]
#: a post's or comment's own number
VkNum = Annotated[int, Field(gt=0, lt=2**63)]


class _Envelope(Payload):
    type: str = Field(min_length=1, max_length=100)
    group_id: int = Field(gt=0, lt=2**63)
    event_id: str | None = Field(default=None, max_length=200)
    secret: str | None = Field(default=None, max_length=1000)
    object: Any = None


class _Count(Payload):
    count: int = Field(default=0, ge=0)


class _Post(Payload):
    id: VkNum
    owner_id: VkId
    from_id: VkId
    date: AwareDatetime
    text: str | None = None
    post_type: str | None = None
    likes: _Count | None = None
    comments: _Count | None = None
    reposts: _Count | None = None
    views: _Count | None = None


class _Comment(Payload):
    id: VkNum
    from_id: VkId
    date: AwareDatetime
    text: str | None = None
    reply_to_comment: VkNum | None = None
    parents_stack: list[int] | None = Field(default=None, max_length=100)
    likes: _Count | None = None
    thread: _Count | None = None


class _Removal(Payload):
    id: VkNum
    deleter_id: VkId | None = None
    user_id: VkId | None = None


def _id_field(obj: Mapping[str, Any], key: str, where: str, *, owner: bool) -> int:
    # which key names the owner and the object differs per event kind, hence read by name
    v = obj.get(key)
    low = -(2**63) if owner else 0
    if type(v) is not int or not low < v < 2**63:
        raise Rejected("schema_invalid", f"{where}: {key} must be a VK id, got {type(v).__name__}")
    return v


def author_id(vk_id: int) -> str:
    """A VK user (positive id) or community (negative id) as MentionEvent's author_id."""
    return f"vk:id{vk_id}" if vk_id > 0 else f"vk:club{-vk_id}"


def object_mention_id(kind: str, owner_id: int, object_id: int) -> str:
    """A wall post (``vk:wall-1_2``) or the photo/video/topic/item comments hang on."""
    return f"vk:{kind}{owner_id}_{object_id}"


def comment_mention_id(kind: str, owner_id: int, object_id: int, comment_id: int) -> str:
    """A comment: VK numbers comments per owner, so the object they hang on is kept in the id
    (every delete payload names it too, so deletions join their comment)."""
    return f"{object_mention_id(kind, owner_id, object_id)}/{comment_id}"


def _object_url(kind: str, owner_id: int, object_id: int) -> str:
    return f"https://vk.com/{kind}{owner_id}_{object_id}"


def _comment_url(kind: str, owner_id: int, object_id: int, comment_id: int, thread: int | None) -> str:
    base = _object_url(kind, owner_id, object_id)
    if kind == "wall":
        return f"{base}?reply={comment_id}" + (f"&thread={thread}" if thread and thread != comment_id else "")
    if kind == "topic":
        return f"{base}?post={comment_id}"
    return base  # photo, video and product pages show their comments without an anchor


def channel_spellings(group_id: int) -> list[str]:
    """How a brands file may list a VK community (``owned_channels: {vk: [...]}``)."""
    return [f"vk:club{group_id}", f"club{group_id}"]


def _delivery_key(env: _Envelope) -> str:
    # VK's event_id is the same on every retry of one event; older API versions lack it,
    # and then the event's own content is: a retry resends it byte for byte
    if env.event_id:
        return env.event_id
    canon = json.dumps([env.type, env.group_id, env.object], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canon.encode("utf-8", "surrogatepass")).hexdigest()


def _event_id(key: str, mention_id: str, event_type: EventType) -> str:
    h = hashlib.sha256()
    for part in (PLATFORM.value, key, mention_id, event_type.value):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()[:32]


def _engagement(
    likes: _Count | None, replies: _Count | None, shares: _Count | None, views: _Count | None
) -> Engagement:
    return Engagement(
        likes=likes.count if likes else 0,
        replies=replies.count if replies else 0,
        shares=shares.count if shares else 0,
        views=views.count if views else None,
    )


def verify(env: _Envelope, secrets: str | Mapping[int, str]) -> None:
    """The group's ``secret`` in constant time, or :class:`AuthFailed`."""
    expected = secrets.get(env.group_id) if isinstance(secrets, Mapping) else secrets
    if not expected:
        raise AuthFailed("not_configured", f"no Callback API secret configured for group {env.group_id}")
    if env.secret is None:
        raise AuthFailed("missing_signature", "no secret in the event (set one in the group's Callback API settings)")
    if not secret_matches(env.secret, [expected]):
        raise AuthFailed("bad_signature", f"secret does not match group {env.group_id}'s")


def _envelope(body: bytes) -> _Envelope:
    # The secret is inside the body, so until it is checked the body is anyone's: a body
    # that cannot even be read is refused like a bad signature, never dead-lettered.
    try:
        data = parse_json(body, max_bytes=MAX_RECORD_BYTES)
    except InvalidRecord as exc:
        raise AuthFailed("missing_signature", f"body is not a VK event ({exc.reason}), so no secret to check") from None
    try:
        return _Envelope.model_validate(data)
    except ValidationError:
        raise AuthFailed("missing_signature", "body is not a VK event (type/group_id), so no secret to check") from None


def parse(
    body: bytes,
    *,
    brands: BrandsFile,
    secrets: str | Mapping[int, str],
    confirmations: Mapping[int, str],
    received_at: datetime,
    author_of: Callable[[str], str | None] | None = None,
) -> Delivery:
    """One Callback API request: verified, then turned into at most one event."""
    env = _envelope(body)
    if env.type == "confirmation":
        # A confirmation may come before a secret is set: it only asks for the code the
        # group admin pasted here, which proves nothing to whoever receives it.
        code = confirmations.get(env.group_id)
        if not code:
            raise AuthFailed("not_configured", f"no confirmation code configured for group {env.group_id}")
        if env.secret is not None:
            verify(env, secrets)
        return Delivery(reply=code.encode("utf-8"))
    verify(env, secrets)
    brand, channel = locate(brands, PLATFORM, channel_spellings(env.group_id), f"VK group {env.group_id}")
    if not isinstance(env.object, dict):
        raise Rejected("schema_invalid", f"{env.type}: object must be a JSON object")
    if env.type == "wall_post_new":
        return _wall_post(env, brand, channel, received_at)
    prefix, _, suffix = env.type.rpartition("_")
    kind = _COMMENT_KINDS.get(prefix)
    if kind is None or (suffix not in _SUFFIXES and suffix != "delete"):
        raise Rejected(
            "unsupported_event", f"VK event type {env.type!r} is not handled (subscribe only to those listed)"
        )
    if suffix == "delete":
        return _removal(env, kind, brand, channel, received_at, author_of)
    return _comment(env, kind, _SUFFIXES[suffix], brand, channel, received_at)


def _wall_post(env: _Envelope, brand: str, channel: str, received_at: datetime) -> Delivery:
    post = read_model(_Post, env.object, env.type)
    if post.post_type in _NOT_PUBLIC:
        return Delivery(skipped=("not_public",))
    event = build_event(
        {
            "event_type": EventType.CREATED,
            "platform": PLATFORM,
            "brand": brand,
            "channel": channel,
            "mention_id": object_mention_id("wall", post.owner_id, post.id),
            "author_id": author_id(post.from_id),
            "author_is_brand": post.from_id == -env.group_id,
            "text": post.text or "",
            "url": _object_url("wall", post.owner_id, post.id),
            "engagement": _engagement(post.likes, post.comments, post.reposts, post.views),
            "occurred_at": post.date,
        },
        received_at,
    )
    return Delivery(events=(event,))


def _comment(
    env: _Envelope,
    kind: tuple[str, str, str, str],
    event_type: EventType,
    brand: str,
    channel: str,
    received_at: datetime,
) -> Delivery:
    url_kind, object_key, owner_key, _ = kind
    c = read_model(_Comment, env.object, env.type)
    obj: dict[str, Any] = env.object
    owner = _id_field(obj, owner_key, env.type, owner=True)
    object_id = _id_field(obj, object_key, env.type, owner=False)
    mention_id = comment_mention_id(url_kind, owner, object_id, c.id)
    parent = (
        comment_mention_id(url_kind, owner, object_id, c.reply_to_comment)
        if c.reply_to_comment
        else object_mention_id(url_kind, owner, object_id)
    )
    thread = c.parents_stack[0] if c.parents_stack else c.reply_to_comment
    fields: dict[str, Any] = {
        "event_type": event_type,
        "platform": PLATFORM,
        "brand": brand,
        "channel": channel,
        "mention_id": mention_id,
        "parent_id": parent,
        "author_id": author_id(c.from_id),
        "author_is_brand": c.from_id == -env.group_id,
        "text": c.text or "",
        "url": _comment_url(url_kind, owner, object_id, c.id, thread),
        "engagement": _engagement(c.likes, c.thread, None, None),
        # edits and restores keep the comment's creation date: the change itself is undated
        "occurred_at": c.date if event_type is EventType.CREATED else received_at,
    }
    if event_type is not EventType.CREATED:
        fields["event_id"] = _event_id(_delivery_key(env), mention_id, event_type)
    return Delivery(events=(build_event(fields, received_at),))


def _removal(
    env: _Envelope,
    kind: tuple[str, str, str, str],
    brand: str,
    channel: str,
    received_at: datetime,
    author_of: Callable[[str], str | None] | None,
) -> Delivery:
    url_kind, object_key, _, owner_key = kind
    r = read_model(_Removal, env.object, env.type)
    obj: dict[str, Any] = env.object
    owner = _id_field(obj, owner_key, env.type, owner=True)
    object_id = _id_field(obj, object_key, env.type, owner=False)
    mention_id = comment_mention_id(url_kind, owner, object_id, r.id)
    deleter = r.deleter_id if r.deleter_id is not None else r.user_id
    author = author_of(mention_id) if author_of is not None else None
    brand_author = author_id(-env.group_id)
    actor: Actor | None = None
    if deleter and deleter == -env.group_id:
        actor = Actor.BRAND
    elif deleter and author is not None:
        actor = Actor.AUTHOR if author_id(deleter) == author else Actor.BRAND
    # a person (positive id) is named whatever was decided here: alerting may know the author
    # when this process does not
    removed_by = author_id(deleter) if deleter is not None and deleter > 0 else None
    event = build_event(
        {
            "event_id": _event_id(_delivery_key(env), mention_id, EventType.DELETED),
            "event_type": EventType.DELETED,
            "platform": PLATFORM,
            "brand": brand,
            "channel": channel,
            "mention_id": mention_id,
            "author_id": author or unknown_author(PLATFORM),
            "author_is_brand": author == brand_author,
            "url": _comment_url(url_kind, owner, object_id, r.id, None),
            "actor": actor,
            "removed_by": removed_by,
            "occurred_at": received_at,
        },
        received_at,
    )
    return Delivery(events=(event,))


class VkCallback:
    """The VK connector for the receiver (route ``/hooks/vk``).

    ``secrets``: one secret for every group, or group id -> secret; ``confirmations``:
    group id -> the confirmation code VK shows in the group's Callback API settings.
    """

    name = "vk"
    ack = ACK

    def __init__(
        self,
        brands: BrandsFile,
        *,
        secrets: str | Mapping[int, str],
        confirmations: Mapping[int, str],
        author_of: Callable[[str], str | None] | None = None,
    ) -> None:
        if isinstance(secrets, str) and not secrets:
            raise ValueError("VK Callback API secret must not be empty")
        self._brands = brands
        self._secrets = secrets
        self._confirmations = dict(confirmations)
        self._author_of = author_of

    def handle(self, push: Push) -> Delivery:
        return parse(
            push.body,
            brands=self._brands,
            secrets=self._secrets,
            confirmations=self._confirmations,
            received_at=push.received_at,
            author_of=self._author_of,
        )
