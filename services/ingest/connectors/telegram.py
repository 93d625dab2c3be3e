"""Telegram Bot API webhooks (https://core.telegram.org/bots/api#setwebhook, #update).

The brand adds a bot to its channel and to the channel's discussion group (where
comments live) and calls ``setWebhook`` with ``secret_token`` and ``allowed_updates``
``["message", "edited_message", "channel_post", "edited_channel_post"]``. Telegram then
POSTs one ``Update`` per request with ``X-Telegram-Bot-Api-Secret-Token``, compared here
in constant time.

- ``message`` / ``channel_post``: created; ``edited_message`` / ``edited_channel_post``:
  edited, dated by ``edit_date``.
- The brand's own voice: channel posts, the channel's posts mirrored into the discussion
  group (``is_automatic_forward``), admins posting anonymously (``sender_chat`` is the
  group itself) and posts as a chat the brands file gives the same brand.
- Service messages (members joining, pins, topic changes, ...) carry no mention and are
  skipped. Other update types are refused (``unsupported_event``): ``allowed_updates``
  should not ask for them.

Deletions are invisible: the Bot API sends no update when a message is deleted, by
anyone. A removed complaint in a Telegram chat is only seen if a poller or another
source reports it; this connector never emits ``deleted``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, Field

from services.ingest.connectors import (
    MAX_PUSH_BYTES,
    AuthFailed,
    Delivery,
    Payload,
    Push,
    Rejected,
    build_event,
    locate,
    read_body,
    read_model,
    secret_matches,
)
from shared.brands import BrandsFile
from shared.schemas import EventType, Platform

PLATFORM = Platform.TELEGRAM
SECRET_HEADER = "x-telegram-bot-api-secret-token"
ACK = b""
#: one Update is one message (4,096 characters of text at most); 1 MiB is generous
MAX_UPDATE_BYTES = 1024 * 1024

_UPDATE_KINDS = {
    "message": EventType.CREATED,
    "channel_post": EventType.CREATED,
    "edited_message": EventType.EDITED,
    "edited_channel_post": EventType.EDITED,
}
#: what makes a message a mention; a message with none of these is a service message.
#: An allow-list: a new service message type Telegram adds is skipped, not emitted as an empty mention.
_CONTENT_KEYS = frozenset(
    {
        "text",
        "caption",
        "photo",
        "video",
        "animation",
        "audio",
        "document",
        "sticker",
        "voice",
        "video_note",
        "poll",
        "location",
        "venue",
        "contact",
        "dice",
        "story",
        "game",
        "paid_media",
        "checklist",
    }
)
#: Telegram's secret_token alphabet and length (setWebhook)
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _User(Payload):
    id: int = Field(gt=0, lt=2**63)
    is_bot: bool = False
    username: str | None = None


class _Chat(Payload):
    id: int = Field(gt=-(2**63), lt=2**63)
    type: str = Field(max_length=50)
    username: str | None = Field(default=None, max_length=100)


class _Ref(Payload):
    message_id: int = Field(gt=0, lt=2**63)


class _Message(Payload):
    message_id: int = Field(gt=0, lt=2**63)
    date: AwareDatetime
    chat: _Chat
    from_: _User | None = Field(default=None, alias="from")
    sender_chat: _Chat | None = None
    edit_date: AwareDatetime | None = None
    text: str | None = None
    caption: str | None = None
    reply_to_message: _Ref | None = None
    is_automatic_forward: bool = False


class _Update(Payload):
    update_id: int = Field(ge=0, lt=2**63)


def mention_id(chat_id: int, message_id: int) -> str:
    """Message ids are numbered per chat."""
    return f"telegram:{chat_id}/{message_id}"


def channel_spellings(chat: _Chat) -> list[str]:
    """How a brands file may list a chat: by id or, for public chats, by @username."""
    out = [f"telegram:{chat.id}", str(chat.id)]
    if chat.username:
        out += [f"telegram:@{chat.username}", f"@{chat.username}", chat.username]
    return out


def message_url(chat: _Chat, message_id: int) -> str | None:
    """Public chats by username; private supergroups and channels (``-100...`` ids) by the
    ``t.me/c/`` link their members can open; basic groups have no message links."""
    if chat.username:
        return f"https://t.me/{chat.username}/{message_id}"
    s = str(chat.id)
    if s.startswith("-100") and len(s) > 4:
        return f"https://t.me/c/{s[4:]}/{message_id}"
    return None


def verify(headers: Mapping[str, str], secret_tokens: Sequence[str]) -> None:
    """``X-Telegram-Bot-Api-Secret-Token`` in constant time, or :class:`AuthFailed`."""
    given = {k.lower(): v for k, v in headers.items()}.get(SECRET_HEADER)
    if not given:
        raise AuthFailed("missing_signature", f"no {SECRET_HEADER} header (setWebhook with secret_token)")
    if not secret_matches(given, secret_tokens):
        raise AuthFailed("bad_signature", f"{SECRET_HEADER} does not match")


def parse(body: bytes, *, brands: BrandsFile, received_at: datetime, max_bytes: int = MAX_UPDATE_BYTES) -> Delivery:
    """One authenticated Update."""
    data = read_body(body, max_bytes)
    read_model(_Update, data, "update")
    kinds = [k for k in _UPDATE_KINDS if isinstance(data, dict) and k in data]
    if not kinds:
        other = sorted(k for k in data if k != "update_id")[:3] if isinstance(data, dict) else []
        raise Rejected("unsupported_event", f"update {other or 'with no content'} is not handled (set allowed_updates)")
    kind = kinds[0]
    raw: Any = data[kind]
    msg = read_model(_Message, raw, kind)
    brand, channel = locate(brands, PLATFORM, channel_spellings(msg.chat), f"Telegram chat {msg.chat.id}")
    if not any(k in raw for k in _CONTENT_KEYS):
        return Delivery(skipped=("service_message",))
    event_type = _UPDATE_KINDS[kind]
    if msg.sender_chat is not None:
        author = f"telegram:{msg.sender_chat.id}"
        sender_owner = brands.find_owned(PLATFORM, channel_spellings(msg.sender_chat))
        is_brand = (
            kind.endswith("channel_post")
            or msg.is_automatic_forward  # only the group's linked channel is forwarded automatically
            or msg.sender_chat.id == msg.chat.id  # an admin posting anonymously as the group
            or (sender_owner is not None and sender_owner[0] == brand)
        )
    elif msg.from_ is not None:
        author = f"telegram:{msg.from_.id}"
        is_brand = False
    else:
        # channel posts may come with neither: the channel itself is speaking
        author = f"telegram:{msg.chat.id}"
        is_brand = kind.endswith("channel_post")
    parent = mention_id(msg.chat.id, msg.reply_to_message.message_id) if msg.reply_to_message else None
    when = msg.edit_date if event_type is EventType.EDITED and msg.edit_date else msg.date
    event = build_event(
        {
            "event_type": event_type,
            "platform": PLATFORM,
            "brand": brand,
            "channel": channel,
            "mention_id": mention_id(msg.chat.id, msg.message_id),
            "parent_id": parent,
            "author_id": author,
            "author_is_brand": is_brand,
            "text": msg.text if msg.text is not None else (msg.caption or ""),
            "url": message_url(msg.chat, msg.message_id),
            "occurred_at": when,
        },
        received_at,
    )
    return Delivery(events=(event,))


class TelegramBot:
    """The Telegram connector for the receiver (route ``/hooks/telegram``).

    ``secret_tokens``: the ``secret_token`` given to ``setWebhook``, one per bot.
    """

    name = "telegram"
    ack = ACK

    def __init__(
        self,
        brands: BrandsFile,
        *,
        secret_tokens: Sequence[str],
        max_bytes: int = min(MAX_UPDATE_BYTES, MAX_PUSH_BYTES),
    ) -> None:
        if isinstance(secret_tokens, str):
            secret_tokens = [secret_tokens]
        if not secret_tokens:
            raise ValueError("at least one Telegram secret_token is needed")
        for t in secret_tokens:
            if not 1 <= len(t) <= 256 or not set(t) <= _TOKEN_CHARS:
                raise ValueError("a Telegram secret_token is 1-256 characters of A-Z, a-z, 0-9, _ and -")
        self._brands = brands
        self._tokens = list(secret_tokens)
        self._max_bytes = max_bytes

    def handle(self, push: Push) -> Delivery:
        verify(push.headers, self._tokens)
        return parse(push.body, brands=self._brands, received_at=push.received_at, max_bytes=self._max_bytes)
