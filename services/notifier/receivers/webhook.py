"""A generic webhook signed per the Standard Webhooks spec (standardwebhooks.com).

Headers: ``webhook-id`` (the same on every retry of one notification, so the
receiver can drop repeats), ``webhook-timestamp`` (seconds since the epoch, of
this attempt) and ``webhook-signature``: ``v1,`` + base64 HMAC-SHA256 over
``{id}.{timestamp}.{body}`` with the key the ``whsec_`` secret decodes to.
During a secret rotation every message carries one signature per secret,
separated by spaces. The body is the Alert JSON exactly as on the alerts topic.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
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
from shared.schemas import Alert

SECRET_PREFIX = "whsec_"


class BadSecret(ValueError):
    """A signing secret that is not ``whsec_`` + base64 (a start-up error)."""


def secret_key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise BadSecret("a webhook secret must be whsec_ followed by base64") from None
    if len(key) < 16:
        raise BadSecret("a webhook secret must hold at least 16 bytes (24 base64 characters)")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def signature_headers(keys: list[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(k, msg_id, timestamp, body) for k in keys),
    }


def build_request(alert: Alert, msg_id: str, now: datetime, url: str, keys: list[bytes]) -> HttpRequest:
    body = alert.to_bytes()
    return HttpRequest(url, body, signature_headers(keys, msg_id, int(now.timestamp()), body))


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
        self._keys = [secret_key(secrets["secret"].reveal())]
        if "previous_secret" in secrets:
            self._keys.append(secret_key(secrets["previous_secret"].reveal()))
        self._send = send

    def deliver(self, alert: Alert, delivery_id: str, ctx: RenderContext) -> Outcome:
        resp = self._send(build_request(alert, delivery_id, ctx.now, self.cfg.url, self._keys), self.cfg.timeout_s)
        return resp if isinstance(resp, Outcome) else classify(resp)
