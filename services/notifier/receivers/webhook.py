"""A generic webhook signed per the Standard Webhooks spec (standardwebhooks.com).

Headers: ``webhook-id`` (the same on every retry of one notification, so the
receiver can drop repeats), ``webhook-timestamp`` (seconds since the epoch, of
this attempt) and ``webhook-signature``: ``v1,`` + base64 HMAC-SHA256 over
``{id}.{timestamp}.{body}`` with the key the ``whsec_`` secret decodes to.
During a secret rotation every message carries one signature per secret,
separated by spaces. The body is the Alert JSON exactly as on the alerts topic.
Signing is shared.standard_webhooks, the module the ingest receiver verifies
generic pushes with: one reading of the spec at both ends.
"""

from __future__ import annotations

from datetime import datetime

from services.notifier.receivers.base import (
    HttpRequest,
    HttpResponse,
    HttpSend,
    Outcome,
    RenderContext,
    parse_retry_after,
)
from services.notifier.routes import Secret, WebhookReceiver
from shared import standard_webhooks as sw
from shared.schemas import Alert


class BadSecret(ValueError):
    """A signing secret that is not ``whsec_`` + base64 of enough bytes (a start-up error)."""


def checked_secret(secret: str) -> str:
    """``secret`` once shared.standard_webhooks accepts it as a key: refused at start-up,
    not at the first delivery."""
    try:
        sw.secret_key(secret)
    except ValueError as exc:
        raise BadSecret(str(exc)) from None
    return secret


def signature_headers(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    # during a rotation one signature per secret, space-separated, as the spec lists them
    return {
        sw.HEADER_ID: msg_id,
        sw.HEADER_TIMESTAMP: str(timestamp),
        sw.HEADER_SIGNATURE: " ".join(sw.sign(s, msg_id, timestamp, body) for s in secrets),
    }


def build_request(alert: Alert, msg_id: str, now: datetime, url: str, secrets: list[str]) -> HttpRequest:
    body = alert.to_bytes()
    return HttpRequest(url, body, signature_headers(secrets, msg_id, int(now.timestamp()), body))


def classify(resp: HttpResponse) -> Outcome:
    if 200 <= resp.status < 300:
        return Outcome.ok()
    if resp.status == 410:
        # the spec's "this endpoint is gone, stop sending"
        return Outcome.fail("http_410")
    # the spec asks senders to retry any other failure (with back-off); a 4xx other than
    # timeouts and rate limits is still a receiver's configuration problem: give up on it
    if resp.status in (408, 409, 425, 429) or resp.status >= 500:
        return Outcome.retry(f"http_{resp.status}", parse_retry_after(resp.headers.get("retry-after")))
    return Outcome.fail(f"http_{resp.status}" if 100 <= resp.status < 600 else "http_invalid_status")


class WebhookTarget:
    kind = "webhook"

    def __init__(self, name: str, cfg: WebhookReceiver, secrets: dict[str, Secret], send: HttpSend) -> None:
        self.name = self.receiver = name
        self.cfg = cfg
        self._secrets = [checked_secret(secrets["secret"].reveal())]
        if "previous_secret" in secrets:
            self._secrets.append(checked_secret(secrets["previous_secret"].reveal()))
        self._send = send

    def deliver(self, alert: Alert, delivery_id: str, ctx: RenderContext) -> Outcome:
        resp = self._send(build_request(alert, delivery_id, ctx.now, self.cfg.url, self._secrets), self.cfg.timeout_s)
        return resp if isinstance(resp, Outcome) else classify(resp)
