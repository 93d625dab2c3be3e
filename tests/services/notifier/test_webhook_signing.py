"""Standard Webhooks signatures, checked against the spec's verification written out here
independently of services/notifier (as a receiving team would write it)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone

import pytest

from services.notifier.receivers import webhook
from tests.services.notifier.alerts import alert


def spec_verify(secret: str, headers: dict[str, str], body: bytes, now: int, tolerance: int = 300) -> bool:
    """standardwebhooks.com: base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")), key = b64 of the secret
    after 'whsec_'; the header may list several space-separated 'v1,<sig>' values; 5 min tolerance."""
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(now - int(ts)) > tolerance:
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = base64.b64encode(hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + body, "sha256").digest())
    for sig in headers["webhook-signature"].split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return True
    return False


def test_published_example_vector():
    # the example in the Standard Webhooks reference libraries' tests
    headers = webhook.signature_headers(
        ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )
    sig = headers["webhook-signature"]
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_request_verifies_with_the_reference_algorithm_and_rotation():
    new, old = "whsec_" + base64.b64encode(b"n" * 24).decode(), "whsec_" + base64.b64encode(b"o" * 32).decode()
    now = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    a = alert()
    req = webhook.build_request(a, "msg_abc", now, "https://h", [new, old])
    assert req.body == a.to_bytes()
    t = int(now.timestamp())
    assert spec_verify(new, req.headers, req.body, t)
    assert spec_verify(old, req.headers, req.body, t)
    assert not spec_verify(new, req.headers, req.body + b" ", t)
    assert not spec_verify(new, req.headers, req.body, t + 301)
    other = "whsec_" + base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    assert not spec_verify(other, req.headers, req.body, t)


@pytest.mark.parametrize("bad", ["whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode()])
def test_bad_secrets_are_refused(bad):
    with pytest.raises(webhook.BadSecret):
        webhook.checked_secret(bad)
