"""Slack incoming webhook: ``text`` fallback plus blocks.

Slack allows about one message a second per webhook and answers 429 with a
``Retry-After`` header (seconds). Errors come back as plain-text codes
(``invalid_payload``, ``channel_is_archived``, ...); those are permanent.
The webhook URL is the credential, so it is a secret and never logged.
"""

from __future__ import annotations

import json

from services.notifier import render
from services.notifier.receivers.base import (
    HttpRequest,
    HttpResponse,
    HttpSend,
    Outcome,
    RenderContext,
    Verdict,
    http_status_outcome,
    parse_retry_after,
)
from services.notifier.routes import Secret, SlackReceiver
from shared.schemas import Alert

#: Slack's documented error bodies, kept as reason codes (anything else: the HTTP status)
_SLACK_ERRORS = frozenset(
    {
        "invalid_payload",
        "user_not_found",
        "channel_not_found",
        "channel_is_archived",
        "action_prohibited",
        "no_service",
        "no_service_id",
        "no_team",
        "team_disabled",
        "invalid_token",
        "no_text",
        "posting_to_general_channel_denied",
        "too_many_attachments",
    }
)


def build_request(payload: dict, url: Secret) -> HttpRequest:
    return HttpRequest(url.reveal(), json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def classify(resp: HttpResponse) -> Outcome:
    if resp.status == 429:
        return Outcome.retry("http_429", parse_retry_after(resp.headers.get("retry-after")))
    out = http_status_outcome(resp.status)
    if out.verdict is Verdict.FAIL:
        code = resp.body[:64].decode("utf-8", "replace").strip()
        if code in _SLACK_ERRORS:
            return Outcome.fail(f"slack_{code}")
    return out


class SlackTarget:
    kind = "slack"

    def __init__(self, name: str, cfg: SlackReceiver, secrets: dict[str, Secret], send: HttpSend) -> None:
        self.name = self.receiver = name
        self.cfg = cfg
        self._url = secrets["webhook_url"]
        self._send = send

    def deliver(self, alert: Alert, delivery_id: str, ctx: RenderContext) -> Outcome:
        return self.send_payload(render.slack_payload(render.notice(alert, ctx.lang, ctx.tz)))

    def send_payload(self, payload: dict) -> Outcome:
        resp = self._send(build_request(payload, self._url), self.cfg.timeout_s)
        return resp if isinstance(resp, Outcome) else classify(resp)
