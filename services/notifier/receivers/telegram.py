"""Telegram Bot API ``sendMessage``: HTML text to one chat.

Telegram allows about one message a second per chat and 20 a minute per group,
and 30 a second per bot overall; it answers 429 with ``parameters.retry_after``
(seconds) when that is exceeded, which the dispatcher honours for the chat.
The bot token is part of the URL, so URLs are never logged (errors are codes).
"""

from __future__ import annotations

import json

from services.notifier import render
from services.notifier.receivers.base import HttpRequest, HttpResponse, HttpSend, Outcome, RenderContext
from services.notifier.routes import Secret, TelegramReceiver
from shared.schemas import Alert

#: errors that no retry fixes: bad request (chat not found, bad HTML), bad token, bot blocked or kicked
_PERMANENT = {400: "telegram_bad_request", 401: "telegram_unauthorized", 403: "telegram_forbidden", 404: "not_found"}


def is_group(chat: str) -> bool:
    # groups, supergroups and channels have negative ids (or an @username); private chats positive ones
    return chat.startswith("-") or chat.startswith("@")


def build_request(text: str, chat: str, cfg: TelegramReceiver, token: Secret) -> HttpRequest:
    body = {
        "chat_id": chat,
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    url = f"{cfg.api_url.rstrip('/')}/bot{token.reveal()}/sendMessage"
    return HttpRequest(url, json.dumps(body, ensure_ascii=False).encode("utf-8"))


def classify(resp: HttpResponse) -> Outcome:
    try:
        doc = json.loads(resp.body) if resp.body else {}
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    params = doc.get("parameters") if isinstance(doc.get("parameters"), dict) else {}
    if resp.status == 200 and doc.get("ok") is True:
        return Outcome.ok()
    code = doc.get("error_code", resp.status)
    if code == 429 or resp.status == 429:
        after = params.get("retry_after")
        return Outcome.retry("http_429", float(after) if isinstance(after, int | float) else None)
    if "migrate_to_chat_id" in params:
        # the group became a supergroup with a new id: the routes file must say the new one
        return Outcome.fail("telegram_chat_migrated")
    if resp.status >= 500:
        return Outcome.retry(f"http_{resp.status}")
    if resp.status in _PERMANENT:
        return Outcome.fail(_PERMANENT[resp.status])
    if resp.status == 200:  # 200 without ok: a proxy or a broken answer
        return Outcome.retry("telegram_bad_answer")
    return Outcome.fail(f"http_{resp.status}" if 100 <= resp.status < 600 else "http_invalid_status")


class TelegramTarget:
    kind = "telegram"

    def __init__(self, receiver: str, chat: str, cfg: TelegramReceiver, token: Secret, send: HttpSend) -> None:
        self.receiver = receiver
        self.chat = chat
        self.name = f"{receiver}/{chat}"
        self.cfg = cfg
        self._token = token
        self._send = send

    def deliver(self, alert: Alert, delivery_id: str, ctx: RenderContext) -> Outcome:
        return self.send_text(render.telegram_html(render.notice(alert, ctx.lang, ctx.tz)))

    def send_text(self, text: str) -> Outcome:
        resp = self._send(build_request(text, self.chat, self.cfg, self._token), self.cfg.timeout_s)
        return resp if isinstance(resp, Outcome) else classify(resp)
