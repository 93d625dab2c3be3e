"""Generic push: MentionEvent JSON signed per Standard Webhooks.

For anything without a connector of its own: a team's scraper, a commercial monitoring
tool's export hook, another RepWatch. The sender signs each request with a shared
``whsec_`` secret (:mod:`shared.standard_webhooks`: ``webhook-id``,
``webhook-timestamp``, ``webhook-signature``); requests older or newer than the
tolerance are refused as replays.

The body is one MentionEvent object, or a JSON array of them (at most
:data:`MAX_EVENTS`), exactly as on the ``mentions.raw`` topic (``shared/schemas.py``).
``ingested_at`` may be left out (the receive time is used); ``event_id`` may be left out
(it is derived from the event, so a resent event keeps its id). In an array each event
stands alone: a bad one is dead-lettered, the others still count.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from services.ingest.connectors import (
    MAX_PUSH_BYTES,
    AuthFailed,
    Delivery,
    Push,
    Rejected,
    RejectedPart,
    read_body,
)
from shared import standard_webhooks
from shared.schemas import InvalidRecord, MentionEvent, validate_obj

ACK = b""
#: events per request; a sender with more sends more requests
MAX_EVENTS = 1000


def verify(push: Push, secrets: Sequence[str], tolerance_s: float = standard_webhooks.DEFAULT_TOLERANCE_S) -> None:
    """Standard Webhooks signature of the raw body, or :class:`AuthFailed`."""
    try:
        standard_webhooks.verify(secrets, push.headers, push.body, push.received_at, tolerance_s)
    except standard_webhooks.SignatureError as exc:
        raise AuthFailed(exc.reason, exc.detail) from None


def _event(obj: object, received_at: datetime) -> MentionEvent:
    try:
        return validate_obj(MentionEvent, obj, context={"ingested_at": received_at})
    except InvalidRecord as exc:
        raise Rejected(exc.reason, exc.detail) from None


def parse(body: bytes, *, received_at: datetime, max_bytes: int = MAX_PUSH_BYTES) -> Delivery:
    """An authenticated body: one event or an array of them."""
    data = read_body(body, max_bytes)
    if isinstance(data, dict):
        return Delivery(events=(_event(data, received_at),))
    if not isinstance(data, list):
        raise Rejected(
            "schema_invalid", f"body must be a MentionEvent object or an array of them, not {type(data).__name__}"
        )
    if len(data) > MAX_EVENTS:
        raise Rejected("schema_invalid", f"{len(data)} events in one request; at most {MAX_EVENTS}")
    events: list[MentionEvent] = []
    rejected: list[RejectedPart] = []
    for i, item in enumerate(data):
        try:
            events.append(_event(item, received_at))
        except Rejected as exc:
            raw = json.dumps(item, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
            rejected.append(RejectedPart(exc.reason, f"[{i}] {exc.detail}", raw))
    return Delivery(events=tuple(events), rejected=tuple(rejected))


class GenericPush:
    """Signed MentionEvent pushes for the receiver (route ``/hooks/generic``).

    ``secrets``: the ``whsec_`` secret(s) senders sign with (several while rotating).
    """

    name = "generic"
    ack = ACK

    def __init__(
        self,
        *,
        secrets: Sequence[str],
        tolerance_s: float = standard_webhooks.DEFAULT_TOLERANCE_S,
        max_bytes: int = MAX_PUSH_BYTES,
    ) -> None:
        if isinstance(secrets, str):
            secrets = [secrets]
        if not secrets:
            raise ValueError("at least one generic-push secret is needed")
        for s in secrets:
            standard_webhooks.secret_key(s)  # a malformed secret fails at start-up, not per request
        self._secrets = list(secrets)
        self._tolerance_s = tolerance_s
        self._max_bytes = max_bytes

    def handle(self, push: Push) -> Delivery:
        verify(push, self._secrets, self._tolerance_s)
        return parse(push.body, received_at=push.received_at, max_bytes=self._max_bytes)
