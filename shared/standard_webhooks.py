"""Signing and verifying webhooks per the Standard Webhooks specification.

https://www.standardwebhooks.com/ (spec: github.com/standard-webhooks/standard-webhooks,
``spec/standard-webhooks.md``). A request carries three headers:

- ``webhook-id``: the message id, the same on every retry of one message;
- ``webhook-timestamp``: integer Unix seconds when it was (re)sent;
- ``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256>`` entries (several
  during a key rotation; other schemes such as ``v1a`` are skipped, not failed).

The HMAC is over ``<id>.<timestamp>.<raw body>`` with the key ``base64decode(secret
without its "whsec_" prefix)``. The ingest receiver verifies generic pushes with this
module and the notifier signs its webhooks with it, so both ends share one reading of
the spec. The timestamp bounds replays to the tolerance window; within it, a replay
carries the same ``webhook-id`` and, for events, the same ``event_id``s, so it is a
harmless duplicate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"
SECRET_PREFIX = "whsec_"

#: the spec's recommended window, in both directions (a sender's clock may run ahead)
DEFAULT_TOLERANCE_S = 300
#: HMAC keys shorter than this are guessable offline from one signed request; the spec
#: asks for 24 to 64 bytes, 16 leaves room for older senders without inviting weak keys
MIN_KEY_BYTES = 16
#: bounds on header sizes, so a hostile request cannot make verification expensive
_MAX_ID_CHARS = 256
_MAX_SIGNATURES = 16
_MAX_SIGNATURE_HEADER = 4096


class SignatureError(ValueError):
    """The request is not provably from the holder of the secret.

    ``reason`` is one of ``missing_signature`` (a header is absent or empty),
    ``bad_signature`` (malformed, or no entry matches) and ``stale_signature`` (the
    timestamp is outside the tolerance: a replay or a badly wrong clock).
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the prefix is optional, as in the
    reference libraries). A malformed or short secret is a configuration error
    (:class:`ValueError`), never a request's fault."""
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret must be whsec_<base64> (base64 of 24-64 random bytes)") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"webhook secret is {len(key)} bytes; use at least {MIN_KEY_BYTES} (the spec asks for 24-64)")
    return key


def _mac(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    content = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, content, hashlib.sha256).digest()


def _epoch(t: datetime | float) -> float:
    if isinstance(t, datetime):
        if t.tzinfo is None:
            raise ValueError("time must be timezone-aware")
        return t.timestamp()
    return float(t)


def sign(secret: str, msg_id: str, timestamp: int | datetime, body: bytes) -> str:
    """The ``webhook-signature`` header value for one message: ``v1,<base64>``."""
    if not msg_id:
        raise ValueError("msg_id must not be empty")
    ts = int(_epoch(timestamp))
    return "v1," + base64.b64encode(_mac(secret_key(secret), msg_id, ts, body)).decode("ascii")


def verify(
    secret: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    now: datetime | float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Raise :class:`SignatureError` unless ``body`` was signed with ``secret`` (or one of
    several, during a rotation) within ``tolerance_s`` of ``now``.

    ``headers`` may use any letter case. Comparison is constant-time per entry.
    """
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise ValueError("no webhook secret configured")
    keys = [secret_key(s) for s in secrets]
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = (lowered.get(HEADER_ID) or "").strip()
    ts_raw = (lowered.get(HEADER_TIMESTAMP) or "").strip()
    sig_raw = (lowered.get(HEADER_SIGNATURE) or "").strip()
    for name, value in ((HEADER_ID, msg_id), (HEADER_TIMESTAMP, ts_raw), (HEADER_SIGNATURE, sig_raw)):
        if not value:
            raise SignatureError("missing_signature", f"no {name} header")
    if len(msg_id) > _MAX_ID_CHARS or len(sig_raw) > _MAX_SIGNATURE_HEADER:
        raise SignatureError("bad_signature", "header too long")
    # digits only: int() would also take "+12", " 12" or "1_2", which no sender writes
    if not ts_raw.isascii() or not ts_raw.isdigit() or len(ts_raw) > 12:
        raise SignatureError("bad_signature", f"{HEADER_TIMESTAMP} is not integer Unix seconds")
    ts = int(ts_raw)
    skew = _epoch(now) - ts
    if abs(skew) > tolerance_s:
        direction = "old" if skew > 0 else "in the future"
        raise SignatureError(
            "stale_signature", f"timestamp is {abs(skew):.0f} s {direction} (tolerance {tolerance_s} s)"
        )
    expected = [_mac(key, msg_id, ts, body) for key in keys]
    candidates = []
    for entry in sig_raw.split()[:_MAX_SIGNATURES]:
        scheme, sep, value = entry.partition(",")
        if sep and scheme == "v1":
            try:
                candidates.append(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                continue
    if not candidates:
        raise SignatureError("bad_signature", "no v1 signature in the header")
    # every pair is compared (no early exit), so timing says nothing about which one matched
    matched = False
    for got in candidates:
        for want in expected:
            matched |= hmac.compare_digest(got, want)
    if not matched:
        raise SignatureError("bad_signature", "no signature matches the body")
