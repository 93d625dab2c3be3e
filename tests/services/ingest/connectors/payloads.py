"""Fixture bodies, the brands file and the platforms' signatures, for the connector tests.

Signatures are computed here from each platform's documented algorithm, written
independently of the connector code they test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from services.ingest.connectors import Push
from shared.brands import parse_brands

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "connectors"

BRANDS = parse_brands(
    """
brands:
  acme:
    owned_channels:
      vk: ["vk:club123"]
      facebook: ["1234567890"]
      instagram: ["instagram:17841400000000001"]
      telegram: ["telegram:-1001111111111", "@acme_news", "-4000000001"]
      x: ["x:2244994945"]
  globex:
    owned_channels:
      vk: [club456]
      x: ["3198576760"]
"""
)

RECEIVED = datetime(2024, 6, 1, 18, 0, tzinfo=timezone.utc)
LATER = RECEIVED + timedelta(hours=3)

VK_SECRET = "s3cr3t-acme"
VK_CONFIRMATION = "a1b2c3d4"
META_APP_SECRET = "0123456789abcdef0123456789abcdef"
META_VERIFY_TOKEN = "repwatch-verify-7f3a"
TELEGRAM_TOKEN = "tg_Secret-Token_42"
GENERIC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
X_CONSUMER_SECRET = "xCs_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def fixture(platform: str, case: str) -> bytes:
    return (FIXTURES / platform / f"{case}.json").read_bytes()


def fixture_json(platform: str, case: str) -> Any:
    return json.loads(fixture(platform, case))


def cases(platform: str) -> list[str]:
    return sorted(p.stem for p in (FIXTURES / platform).glob("*.json"))


def push(body: bytes, headers: dict[str, str] | None = None, *, at: datetime = RECEIVED, method: str = "POST") -> Push:
    return Push(method=method, body=body, received_at=at, headers=headers or {})


def meta_signature(body: bytes, secret: str = META_APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def meta_push(body: bytes, *, at: datetime = RECEIVED, secret: str = META_APP_SECRET) -> Push:
    return push(body, {"X-Hub-Signature-256": meta_signature(body, secret)}, at=at)


def telegram_push(body: bytes, *, at: datetime = RECEIVED, token: str = TELEGRAM_TOKEN) -> Push:
    return push(body, {"X-Telegram-Bot-Api-Secret-Token": token}, at=at)


def x_signature(body: bytes, secret: str = X_CONSUMER_SECRET) -> str:
    """``x-twitter-webhooks-signature`` as X's *Securing webhooks* page describes it."""
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def x_push(body: bytes, *, at: datetime = RECEIVED, secret: str = X_CONSUMER_SECRET) -> Push:
    return push(body, {"x-twitter-webhooks-signature": x_signature(body, secret)}, at=at)
