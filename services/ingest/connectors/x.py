"""X (Twitter) Account Activity API webhooks.

Follows X's docs: *Securing webhooks* (the challenge-response check and the
``x-twitter-webhooks-signature`` header), *Account Activity data objects* (the
envelope and its event types), the v1.1 Tweet object and *Edit Posts* (``edit_history``).
No real delivery was recorded; the fixtures follow the documented shapes.

- Challenge-response check (CRC): X GETs the webhook URL with ``crc_token`` when it is
  registered, then about hourly, and stops delivering if the answer is wrong or late.
  The answer is JSON ``{"response_token": "sha256=<base64 HMAC-SHA256(consumer secret,
  crc_token)>"}``. It proves nothing about the caller (anyone can GET the URL), so it is
  answered without any check of who asks.
- Every POST is signed: ``x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256 of
  the raw body under the consumer secret>``, checked in constant time before the body
  is read.
- The CRC answer is itself a valid signature of whatever ``crc_token`` was asked for,
  so anyone could have a body of their choosing signed by asking for it as a token.
  Two rules close that: a token is answered only if it has no ``{`` (X's tokens are
  short printable strings), and a signed POST counts only if its body is a JSON object
  (starts with ``{``). No CRC answer is then the signature of a body that could count.

The body: ``for_user_id`` (the subscribed account; the brands file maps it to a brand,
as VK group ids and Meta page ids are) and one or more event arrays:

- ``tweet_create_events``: posts by, replies to and @mentions of the account (v1.1 Tweet
  objects): ``created``, text from ``extended_tweet.full_text`` when the post is longer
  than the legacy 140-character ``text``. The account's own posts and replies are
  ``author_is_brand`` (so are posts by another X account the brands file gives the same
  brand). A post whose ``edit_history.initial_tweet_id`` is another post is
  an edit (X gives every version its own id): ``edited`` on the initial post's mention
  id, so it joins the ``created``. Retweets (``retweeted_status``) are skipped
  (``repost``): the words are someone else's, already counted when that post arrived
  (or never about the brand), and counting every retweet again would turn one complaint
  into a volume surge. A quote post carries the quoter's own words and is a mention.
  ``user_has_blocked`` is not read: a post by someone the brand blocked is still public.
- ``tweet_delete_events``: ``deleted``, ``actor: author``. X lists these as *Post
  deletes (by user)*, and on X only a post's author can delete it (a brand can hide a
  reply, not remove it), so every deletion pushed here is its author's. A complaint
  deleted by someone else's hand is never pushed, and neither is a hidden reply.
- Likes, follows, blocks, mutes, revoked authorisations, direct messages, typing and
  read indicators carry no public mention: skipped with a reason (``reaction``,
  ``service_message``, ``not_public``). A body with none of the known event types is
  refused (``unsupported_event``).

Each post in an array stands alone: one that cannot be read becomes its own dead letter,
re-wrapped in the envelope, and the rest still count. Event ids come only from the
payload (post id, type, creation time, text; a deletion's post id), so X's retries
(up to three within about five minutes) and replays yield the same ids.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from services.ingest.connectors import (
    MAX_PUSH_BYTES,
    AuthFailed,
    ConnectorError,
    Delivery,
    Payload,
    Push,
    Rejected,
    RejectedPart,
    build_event,
    locate,
    read_body,
    read_model,
)
from shared.brands import BrandsFile
from shared.schemas import Actor, Engagement, EventType, MentionEvent, Platform

PLATFORM = Platform.X
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
#: X wants a 200; the body of the answer is not read
ACK = b""
#: items in one event array; X documents no limit and sends one or a few, so more is not X
MAX_ITEMS = 1000
#: what a CRC token may be: printable ASCII without ``{`` (see the module docstring)
_CRC_TOKEN = re.compile(r"[!-z|-~]{1,512}")
#: X handles are letters, digits and underscores; anything else is not used in a link
_SCREEN_NAME = re.compile(r"[A-Za-z0-9_]{1,50}")

#: event arrays that carry no public mention -> skip reason (one per item)
_SKIPPED: dict[str, str] = {
    "favorite_events": "reaction",
    "follow_events": "service_message",
    "unfollow_events": "service_message",
    "block_events": "service_message",
    "unblock_events": "service_message",
    "mute_events": "service_message",
    "unmute_events": "service_message",
    "user_event": "service_message",
    "direct_message_events": "not_public",
    "direct_message_indicate_typing_events": "not_public",
    "direct_message_mark_read_events": "not_public",
}
_CREATE = "tweet_create_events"
_DELETE = "tweet_delete_events"

_MAX_EPOCH_MS = 253_402_300_799_999
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}


def _x_id(v: Any) -> Any:
    # X sends ids as strings (id_str) and sometimes as numbers; both are text here
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return v


#: an X id (snowflake): digits only, so it is safe in a URL and an id
XId = Annotated[str, BeforeValidator(_x_id), Field(pattern=r"^[0-9]{1,20}$")]


def _created_at(v: Any) -> Any:
    """v1.1's ``"Wed Oct 10 20:19:24 +0000 2018"``, read without the locale (strptime's
    ``%a``/``%b`` follow LC_TIME, and a server's locale must not decide what parses)."""
    if not isinstance(v, str):
        return v
    parts = v.split()
    if len(parts) != 6 or parts[1] not in _MONTHS:
        raise ValueError("not X's created_at format (Wed Oct 10 20:19:24 +0000 2018)")
    _, month, day, clock, offset, year = parts
    hms = clock.split(":")
    if len(hms) != 3 or not all(p.isdigit() for p in (day, year, *hms)):
        raise ValueError("not X's created_at format (Wed Oct 10 20:19:24 +0000 2018)")
    if len(offset) != 5 or offset[0] not in "+-" or not offset[1:].isdigit():
        raise ValueError("created_at has no +HHMM offset")
    sign = 1 if offset[0] == "+" else -1
    tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:])))
    return datetime(int(year), _MONTHS[month], int(day), int(hms[0]), int(hms[1]), int(hms[2]), tzinfo=tz)


def _epoch_ms(v: Any) -> Any:
    # timestamp_ms is a string of milliseconds in X's examples, a number in some payloads
    if isinstance(v, str) and v.isdigit() and len(v) <= 16:
        v = int(v)
    if isinstance(v, int) and not isinstance(v, bool):
        # up to the end of year 9999: later than that datetime cannot hold (and raises
        # OverflowError or OSError, depending on the platform, rather than a ValueError)
        if not 0 <= v <= _MAX_EPOCH_MS:
            raise ValueError("timestamp_ms out of range")
        return datetime.fromtimestamp(v / 1000, timezone.utc)
    raise ValueError("timestamp_ms must be milliseconds since the epoch")


XTime = Annotated[datetime, BeforeValidator(_created_at)]
EpochMs = Annotated[datetime, BeforeValidator(_epoch_ms)]
Count = Annotated[int, Field(ge=0, lt=2**63)]


class _Envelope(Payload):
    for_user_id: XId


class _User(Payload):
    id_str: XId
    screen_name: str | None = Field(default=None, max_length=100)
    followers_count: Count | None = None


class _Extended(Payload):
    full_text: str | None = None


class _EditHistory(Payload):
    initial_tweet_id: XId | None = None


class _Tweet(Payload):
    id_str: XId
    created_at: XTime
    user: _User
    text: str | None = None
    # what tweet_mode=extended payloads call the text
    full_text: str | None = None
    extended_tweet: _Extended | None = None
    in_reply_to_status_id_str: XId | None = None
    favorite_count: Count | None = None
    retweet_count: Count | None = None
    reply_count: Count | None = None
    quote_count: Count | None = None
    retweeted_status: Any = None
    edit_history: _EditHistory | None = None


class _DeletedStatus(Payload):
    id: XId
    user_id: XId


class _Deletion(Payload):
    status: _DeletedStatus
    timestamp_ms: EpochMs | None = None


def mention_id(post_id: str) -> str:
    """A post (X numbers posts globally)."""
    return f"x:{post_id}"


def author_id(user_id: str) -> str:
    return f"x:{user_id}"


def channel_spellings(account_id: str) -> list[str]:
    """How a brands file may list the subscribed account (``owned_channels: {x: [...]}``): by
    its numeric id, which is all the payload names (a handle can change, the id cannot)."""
    return [f"x:{account_id}", account_id]


def _is_brand(brands: BrandsFile, brand: str, account: str, user_id: str) -> bool:
    # the subscribed account itself, or another X account the brands file gives the same
    # brand (a support account replying under the main one's post)
    if user_id == account:
        return True
    owner = brands.find_owned(PLATFORM, channel_spellings(user_id))
    return owner is not None and owner[0] == brand


def post_url(post_id: str, screen_name: str | None = None) -> str:
    if screen_name and _SCREEN_NAME.fullmatch(screen_name):
        return f"https://x.com/{screen_name}/status/{post_id}"
    return f"https://x.com/i/status/{post_id}"  # X redirects this to the author's handle


def _hmac_b64(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()).decode("ascii")


def crc_response(query: Mapping[str, str], consumer_secret: str) -> Delivery:
    """The CRC GET: ``{"response_token": "sha256=..."}`` for the ``crc_token`` asked about."""
    token = query.get("crc_token")
    if not token:
        raise AuthFailed("missing_signature", "not a challenge-response check (no crc_token)")
    if not _CRC_TOKEN.fullmatch(token):
        # a token with "{" could be a JSON body: its answer would be that body's signature
        raise AuthFailed("bad_signature", "crc_token is not 1-512 printable characters without '{'")
    answer = {"response_token": "sha256=" + _hmac_b64(consumer_secret, token.encode("ascii"))}
    return Delivery(reply=json.dumps(answer).encode("ascii"), reply_content_type="application/json")


def verify(headers: Mapping[str, str], body: bytes, consumer_secret: str) -> None:
    """``x-twitter-webhooks-signature`` over the raw body, or :class:`AuthFailed`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    header = (lowered.get(SIGNATURE_HEADER) or "").strip()
    if not header:
        raise AuthFailed("missing_signature", f"no {SIGNATURE_HEADER} header")
    scheme, _, encoded = header.partition("=")
    if scheme != "sha256":
        raise AuthFailed("bad_signature", f"{SIGNATURE_HEADER} is not sha256=<base64>")
    try:
        got = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise AuthFailed("bad_signature", f"{SIGNATURE_HEADER} is not base64") from None
    want = hmac.new(consumer_secret.encode("utf-8"), body, hashlib.sha256).digest()
    # compare_digest takes unequal lengths in constant time too (and says False)
    if not hmac.compare_digest(got, want):
        raise AuthFailed("bad_signature", "signature does not match the body with the consumer secret")
    if not body.lstrip(b" \t\r\n").startswith(b"{"):
        raise AuthFailed("bad_signature", "a signed body that is not a JSON object could be a CRC answer")


def _part_raw(account: str, key: str, item: Any) -> bytes:
    # the refused item in X's own envelope, so it can be read (or replayed) alone
    return json.dumps({"for_user_id": account, key: [item]}, ensure_ascii=False, default=str).encode(
        "utf-8", "surrogatepass"
    )


def _items(data: Mapping[str, Any], key: str) -> list[Any]:
    items = data[key]
    if not isinstance(items, list):
        raise Rejected("schema_invalid", f"{key} must be an array")
    if len(items) > MAX_ITEMS:
        raise Rejected("schema_invalid", f"{key}: more than {MAX_ITEMS} items is not an X delivery")
    return items


def parse(body: bytes, *, brands: BrandsFile, received_at: datetime, max_bytes: int = MAX_PUSH_BYTES) -> Delivery:
    """An authenticated POST body: every post and deletion on its own."""
    data = read_body(body, max_bytes)
    if not isinstance(data, dict):
        raise Rejected("schema_invalid", "Account Activity event must be a JSON object")
    env = read_model(_Envelope, data, "Account Activity event")
    account = env.for_user_id
    brand, channel = locate(brands, PLATFORM, channel_spellings(account), f"X account {account}")
    known = [k for k in (_CREATE, _DELETE, *_SKIPPED) if k in data]
    if not known:
        other = sorted(str(k) for k in data if k not in ("for_user_id", "user_has_blocked"))[:3]
        raise Rejected("unsupported_event", f"X event {other or 'with no events'} is not handled")
    events: list[MentionEvent] = []
    rejected: list[RejectedPart] = []
    skipped: list[str] = []
    for key in known:
        items = _items(data, key)
        if key in _SKIPPED:
            skipped.extend(_SKIPPED[key] for _ in items)
            continue
        for item in items:
            try:
                if key == _CREATE:
                    outcome = _created(item, brands, account, brand, channel, received_at)
                else:
                    outcome = _deleted(item, brands, account, brand, channel, received_at)
            except ConnectorError as exc:
                rejected.append(RejectedPart(exc.reason, exc.detail, _part_raw(account, key, item)))
                continue
            if isinstance(outcome, MentionEvent):
                events.append(outcome)
            else:
                skipped.append(outcome)
    return Delivery(events=tuple(events), rejected=tuple(rejected), skipped=tuple(skipped))


def _text(t: _Tweet) -> str:
    # a post longer than the legacy 140 characters is truncated in `text`; the whole of it
    # is in extended_tweet.full_text (or full_text, in tweet_mode=extended payloads)
    if t.extended_tweet is not None and t.extended_tweet.full_text is not None:
        return t.extended_tweet.full_text
    if t.full_text is not None:
        return t.full_text
    return t.text or ""


def _created(
    raw: Any, brands: BrandsFile, account: str, brand: str, channel: str, received_at: datetime
) -> MentionEvent | str:
    t = read_model(_Tweet, raw, _CREATE)
    if t.retweeted_status is not None:
        return "repost"
    initial = t.edit_history.initial_tweet_id if t.edit_history else None
    edited = initial is not None and initial != t.id_str
    return build_event(
        {
            "event_type": EventType.EDITED if edited else EventType.CREATED,
            "platform": PLATFORM,
            "brand": brand,
            "channel": channel,
            # an edit is a new post id on X; the mention stays the initial post
            "mention_id": mention_id(initial if edited and initial else t.id_str),
            "parent_id": mention_id(t.in_reply_to_status_id_str) if t.in_reply_to_status_id_str else None,
            "author_id": author_id(t.user.id_str),
            "author_is_brand": _is_brand(brands, brand, account, t.user.id_str),
            "author_followers": t.user.followers_count,
            "text": _text(t),
            "url": post_url(t.id_str, t.user.screen_name),
            "engagement": Engagement(
                likes=t.favorite_count or 0,
                replies=t.reply_count or 0,
                shares=(t.retweet_count or 0) + (t.quote_count or 0),
            ),
            # an edit's own created_at is when that version was posted: the edit's time
            "occurred_at": t.created_at,
        },
        received_at,
    )


def _deletion_event_id(post_id: str) -> str:
    # a post is deleted once (X has no undelete), so its id alone names the deletion and a
    # retry is the same event whether or not it carries timestamp_ms
    h = hashlib.sha256()
    for part in (PLATFORM.value, mention_id(post_id), EventType.DELETED.value):
        h.update(part.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:32]


def _deleted(
    raw: Any, brands: BrandsFile, account: str, brand: str, channel: str, received_at: datetime
) -> MentionEvent:
    d = read_model(_Deletion, raw, _DELETE)
    return build_event(
        {
            "event_id": _deletion_event_id(d.status.id),
            "event_type": EventType.DELETED,
            "platform": PLATFORM,
            "brand": brand,
            "channel": channel,
            "mention_id": mention_id(d.status.id),
            "author_id": author_id(d.status.user_id),
            "author_is_brand": _is_brand(brands, brand, account, d.status.user_id),
            "url": post_url(d.status.id),
            # only a post's author can delete it on X, and X pushes only those deletions
            "actor": Actor.AUTHOR,
            "occurred_at": d.timestamp_ms or received_at,
        },
        received_at,
    )


class XAccountActivity:
    """The X connector for the receiver (route ``/hooks/x``).

    ``consumer_secret``: the X app's API key secret (consumer secret), which signs every
    POST and answers the CRC. One per app: the CRC cannot say which app is asking, so one
    receiver route serves one app.
    """

    name = "x"
    ack = ACK

    def __init__(self, brands: BrandsFile, *, consumer_secret: str, max_bytes: int = MAX_PUSH_BYTES) -> None:
        if not consumer_secret:
            raise ValueError("X consumer secret must not be empty")
        self._brands = brands
        self._secret = consumer_secret
        self._max_bytes = max_bytes

    def handle(self, push: Push) -> Delivery:
        if push.method == "GET":
            return crc_response(push.query, self._secret)
        verify(push.headers, push.body, self._secret)
        return parse(push.body, brands=self._brands, received_at=push.received_at, max_bytes=self._max_bytes)
