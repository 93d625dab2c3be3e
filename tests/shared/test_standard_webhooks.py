"""Standard Webhooks signing and verification, against the spec's own test vector."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone

import pytest

from shared.standard_webhooks import SignatureError, secret_key, sign, verify

# The test vector published with the specification's reference libraries
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TS = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(sig: str = SIGNATURE, ts: int | str = TS, msg_id: str = MSG_ID) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sig}


def reason(secret, hdrs, body=BODY, now=TS, **kw) -> str:
    with pytest.raises(SignatureError) as e:
        verify(secret, hdrs, body, now, **kw)
    return e.value.reason


def test_sign_reproduces_the_spec_vector():
    assert sign(SECRET, MSG_ID, TS, BODY) == SIGNATURE
    assert sign(SECRET, MSG_ID, datetime.fromtimestamp(TS, timezone.utc), BODY) == SIGNATURE


def test_signature_is_hmac_sha256_of_id_timestamp_body():
    # the algorithm as the spec states it, written out independently
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"{MSG_ID}.{TS}.".encode() + BODY, hashlib.sha256).digest()
    assert sign(SECRET, MSG_ID, TS, BODY) == "v1," + base64.b64encode(mac).decode()


def test_verify_accepts_the_vector_with_or_without_the_prefix_and_in_any_header_case():
    verify(SECRET, headers(), BODY, TS)
    verify(SECRET.removeprefix("whsec_"), headers(), BODY, TS)
    verify(SECRET, {k.upper(): v for k, v in headers().items()}, BODY, datetime.fromtimestamp(TS, timezone.utc))


def test_one_matching_entry_among_several_and_other_schemes_are_skipped():
    other = "v1," + base64.b64encode(b"\0" * 32).decode()
    verify(SECRET, headers(f"v1a,c29tZXRoaW5n {other} {SIGNATURE}"), BODY, TS)


def test_rotated_secrets():
    new = "whsec_" + base64.b64encode(b"n" * 32).decode()
    verify([new, SECRET], headers(), BODY, TS)
    with pytest.raises(SignatureError):
        verify([new], headers(), BODY, TS)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_headers(missing):
    h = headers()
    del h[missing]
    assert reason(SECRET, h) == "missing_signature"


@pytest.mark.parametrize(
    "sig",
    ["v1,AAAA", "v2," + SIGNATURE[3:], SIGNATURE[3:], "v1,not base64!", "v1a,abc", "v1," + SIGNATURE[3:-4] + "AAA="],
)
def test_wrong_signatures(sig):
    assert reason(SECRET, headers(sig)) == "bad_signature"


def test_wrong_secret_or_changed_body_or_changed_id():
    other = "whsec_" + base64.b64encode(b"x" * 24).decode()
    assert reason(other, headers()) == "bad_signature"
    assert reason(SECRET, headers(), body=BODY + b" ") == "bad_signature"
    assert reason(SECRET, headers(msg_id="msg_other")) == "bad_signature"


def test_replays_outside_the_tolerance_in_either_direction():
    verify(SECRET, headers(), BODY, TS + 300)
    verify(SECRET, headers(), BODY, TS - 300)
    assert reason(SECRET, headers(), now=TS + 301) == "stale_signature"
    assert reason(SECRET, headers(), now=TS - 301) == "stale_signature"
    assert reason(SECRET, headers(), now=TS + 61, tolerance_s=60) == "stale_signature"


@pytest.mark.parametrize("ts", ["abc", "+1614265330", "1614265330.5", " ", "1e9", "99999999999999999999", "١٢٣"])
def test_timestamps_that_are_not_integer_seconds(ts):
    assert reason(SECRET, headers(ts=ts)) in ("bad_signature", "missing_signature")


def test_oversized_headers_are_refused_cheaply():
    assert reason(SECRET, headers(msg_id="m" * 10_000)) == "bad_signature"
    assert reason(SECRET, headers(" ".join([SIGNATURE] * 1000))) == "bad_signature"


@pytest.mark.parametrize("bad", ["", "whsec_", "whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode()])
def test_malformed_or_short_secrets_are_configuration_errors(bad):
    with pytest.raises(ValueError):
        secret_key(bad)
    with pytest.raises(ValueError):
        sign(bad, MSG_ID, TS, BODY)


def test_no_secret_at_all_is_a_configuration_error():
    with pytest.raises(ValueError):
        verify([], headers(), BODY, TS)


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        verify(SECRET, headers(), BODY, datetime(2021, 2, 25, 15, 2, 10))
