"""Fuzzing every push connector: whatever arrives, a connector answers with a Delivery or
one of its own errors (with a bounded reason), and every event it returns survives the
topic round trip. Bounded runs (200 examples each), no timing assertions."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest.connectors import (
    AUTH_REASONS,
    REJECT_REASONS,
    SKIP_REASONS,
    AuthFailed,
    ConnectorError,
    Delivery,
    Push,
    Rejected,
)
from services.ingest.connectors.generic import GenericPush
from services.ingest.connectors.meta import MetaWebhooks
from services.ingest.connectors.telegram import TelegramBot
from services.ingest.connectors.vk import VkCallback
from services.ingest.connectors.x import XAccountActivity
from shared import standard_webhooks
from shared.schemas import MentionEvent, decode

from .payloads import (
    BRANDS,
    GENERIC_SECRET,
    LATER,
    META_APP_SECRET,
    META_VERIFY_TOKEN,
    RECEIVED,
    TELEGRAM_TOKEN,
    VK_CONFIRMATION,
    VK_SECRET,
    X_CONSUMER_SECRET,
    cases,
    fixture_json,
    meta_push,
    push,
    telegram_push,
    x_push,
)

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

VK = VkCallback(
    BRANDS, secrets={123: VK_SECRET}, confirmations={123: VK_CONFIRMATION}, author_of=lambda m: "vk:id700300"
)
META = MetaWebhooks(BRANDS, app_secrets=[META_APP_SECRET], verify_token=META_VERIFY_TOKEN)
TELEGRAM = TelegramBot(BRANDS, secret_tokens=[TELEGRAM_TOKEN])
GENERIC = GenericPush(secrets=[GENERIC_SECRET])
X = XAccountActivity(BRANDS, consumer_secret=X_CONSUMER_SECRET)


def _keys(obj: Any, out: set[str]) -> set[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(k)
            _keys(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _keys(v, out)
    return out


def _fixtures(*platforms: str) -> list[Any]:
    return [fixture_json(p, c) for p in platforms for c in cases(p)]


#: keys the payloads really use, so generated objects reach the parsers' branches
KNOWN_KEYS = sorted(_keys(_fixtures("vk", "facebook", "instagram", "telegram", "x", "generic"), set()))
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, -1, 1, 123, -123, 2**63, 1717248000, 1717248000123, 10**30])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "add", "remove", "hide", "comment", "feed", "page", "instagram", "wall_reply_new", "vk"])
    | st.sampled_from(
        ["2244994945", "Sat Jun 01 17:58:12 +0000 2024", "Sat Jun 01 17:58:12 +9999 2024", "1717267200000"]
    )
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)


def mutate(draw: st.DrawFn, obj: Any, depth: int = 0) -> Any:
    """The fixture with random nodes replaced, dropped or retyped (a platform's payload
    gone wrong in one place rather than noise)."""
    choice = draw(st.integers(0, 9))
    # the top level is kept (wholly random bodies are fuzzed separately), deeper nodes are fair game
    if (choice == 0 and depth > 0) or depth > 6:
        return draw(json_values)
    if isinstance(obj, dict) and obj:
        out = dict(obj)
        key = draw(st.sampled_from(sorted(out)))
        if choice == 1 and depth > 0:
            del out[key]
        else:
            out[key] = mutate(draw, out[key], depth + 1)
        return out
    if isinstance(obj, list) and obj:
        i = draw(st.integers(0, len(obj) - 1))
        out = list(obj)
        out[i] = mutate(draw, out[i], depth + 1) if choice > 1 else out[i]
        return out if choice != 1 else out + out  # duplicated entries, batches of repeats
    return draw(json_values) if choice < 5 else obj


@st.composite
def payloads(draw: st.DrawFn, platforms: tuple[str, ...]) -> bytes:
    base = draw(st.sampled_from(_fixtures(*platforms)))
    obj = base
    for _ in range(draw(st.integers(1, 3))):
        obj = mutate(draw, obj)
    return json.dumps(obj, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


def check(delivery_or_error: Delivery | ConnectorError) -> None:
    if isinstance(delivery_or_error, AuthFailed):
        assert delivery_or_error.reason in AUTH_REASONS
        return
    if isinstance(delivery_or_error, Rejected):
        assert delivery_or_error.reason in REJECT_REASONS
        return
    d = delivery_or_error
    assert isinstance(d, Delivery)
    for e in d.events:
        assert decode(MentionEvent, e.to_bytes()) == e
    assert all(r.reason in REJECT_REASONS for r in d.rejected)
    assert all(s in SKIP_REASONS for s in d.skipped)


def run(connector: Any, p: Push) -> Delivery | ConnectorError:
    try:
        return connector.handle(p)
    except ConnectorError as exc:  # anything else propagates and fails the test
        return exc


def same_ids(a: Delivery | ConnectorError, b: Delivery | ConnectorError) -> None:
    assert type(a) is type(b)
    if isinstance(a, Delivery) and isinstance(b, Delivery):
        assert [e.event_id for e in a.events] == [e.event_id for e in b.events]


@FUZZ
@given(st.data())
def test_vk_never_raises_anything_else(data):
    raw = data.draw(payloads(("vk",)))
    obj = json.loads(raw)
    if isinstance(obj, dict) and data.draw(st.booleans()):
        # mostly authentic, so the parser behind the secret check is what gets fuzzed
        obj.update(secret=VK_SECRET, group_id=123)
        raw = json.dumps(obj).encode("utf-8", "surrogatepass")
    a = run(VK, push(raw))
    check(a)
    same_ids(a, run(VK, push(raw, at=LATER)))


@FUZZ
@given(payloads(("facebook", "instagram")))
def test_meta_never_raises_anything_else(raw):
    a = run(META, meta_push(raw))
    check(a)
    same_ids(a, run(META, meta_push(raw, at=LATER)))


@FUZZ
@given(payloads(("telegram",)))
def test_telegram_never_raises_anything_else(raw):
    a = run(TELEGRAM, telegram_push(raw))
    check(a)
    same_ids(a, run(TELEGRAM, telegram_push(raw, at=LATER)))


def _generic_push(raw: bytes) -> Push:
    sig = standard_webhooks.sign(GENERIC_SECRET, "msg_fuzz", RECEIVED, raw)
    headers = {"webhook-id": "msg_fuzz", "webhook-timestamp": str(int(RECEIVED.timestamp())), "webhook-signature": sig}
    return push(raw, headers)


@FUZZ
@given(payloads(("x",)))
def test_x_never_raises_anything_else(raw):
    a = run(X, x_push(raw))
    check(a)
    same_ids(a, run(X, x_push(raw, at=LATER)))


@FUZZ
@given(payloads(("generic",)))
def test_generic_never_raises_anything_else(raw):
    check(run(GENERIC, _generic_push(raw)))


@FUZZ
@given(st.binary(max_size=2000), st.dictionaries(st.text(max_size=40), st.text(max_size=80), max_size=4))
def test_raw_bytes_and_headers_anywhere(raw, headers):
    check(run(VK, push(raw, headers)))
    check(run(META, push(raw, headers)))
    check(run(META, meta_push(raw)))
    check(run(TELEGRAM, push(raw, headers)))
    check(run(TELEGRAM, telegram_push(raw)))
    check(run(GENERIC, push(raw, headers)))
    check(run(GENERIC, _generic_push(raw)))
    check(run(X, push(raw, headers)))
    check(run(X, x_push(raw)))


@FUZZ
@given(st.dictionaries(st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge"]) | st.text(), st.text()))
def test_meta_handshake_with_any_query(query):
    check(run(META, Push(method="GET", body=b"", received_at=RECEIVED, query=query)))


@FUZZ
@given(st.dictionaries(st.sampled_from(["crc_token", "nonce"]) | st.text(), st.text()))
def test_x_crc_with_any_query(query):
    out = run(X, Push(method="GET", body=b"", received_at=RECEIVED, query=query))
    check(out)
    if isinstance(out, Delivery):
        # whatever was asked, the answer is never the signature of a body X's POST would accept
        assert not query["crc_token"].lstrip().startswith("{")
        assert set(json.loads(out.reply)) == {"response_token"}
