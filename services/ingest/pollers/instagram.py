"""Instagram Graph API: ``GET /{media-id}/comments``, ``GET /{comment-id}`` checks.

https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-media/comments,
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-comment,
errors: https://developers.facebook.com/docs/graph-api/guides/error-handling.

- Poll: ``/{media-id}/comments?fields=id,text,timestamp,username,from,like_count,
  parent_id,hidden,replies{...}`` with cursor paging (``paging.cursors.after``). The
  endpoint documents no order, so each pass reads every page (up to ``MAX_PAGES``) and
  the high-water mark decides what is new. Instagram comments cannot be edited, so
  there are no ``edited`` events.
- Check: ``/{comment-id}?fields=id,hidden``. ``hidden: true`` is ``hidden`` (only the
  media owner's account can hide a comment, so the actor is the brand); the Graph API's
  "object does not exist" error (code 100, subcode 33) is ``gone``. That error also
  covers "cannot be loaded due to missing permissions", which is why the reconciler
  needs a healthy control read by the same token in the same round before it believes it.
- Errors (``{"error": {"code", "error_subcode", "is_transient"}}``): 190/102/10/200-299
  are auth, 4/17/32/613 and 80001-80014 are rate limits, 1/2 and ``is_transient`` are
  server errors.

Ids match the Meta webhook connector (``services.ingest.connectors.meta``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.ingest.connectors import unknown_author
from services.ingest.connectors.meta import instagram_mention_id
from services.ingest.pollers import (
    Check,
    Failure,
    Malformed,
    Pages,
    PollResult,
    Reply,
    Request,
    Response,
    Seen,
    Verdict,
    http_failure,
    parse_time,
    read_json,
    text_or_empty,
)
from shared.schemas import Engagement, EventType, InvalidRecord, MentionEvent, Platform, validate_obj

PLATFORM = Platform.INSTAGRAM
API = "https://graph.facebook.com/v23.0"
MAX_PAGES = 10
CHECK_BATCH = 1
_FIELDS = "id,text,timestamp,username,from,like_count,parent_id,hidden"
_RATE_CODES = frozenset({4, 17, 32, 613})
_AUTH_CODES = frozenset({190, 102, 10})


@dataclass(frozen=True, slots=True)
class InstagramSource:
    name: str
    brand: str
    channel: str
    #: the brand's Instagram professional account id (its comments are the brand's)
    account_id: str
    media_id: str
    api: str = API


def request(source: InstagramSource, cursor: Mapping[str, Any], token: str) -> Request:
    params = [("fields", f"{_FIELDS},replies{{{_FIELDS}}}"), ("limit", "50")]
    page = Pages.from_cursor(cursor)
    if page.token:
        params.append(("after", page.token))
    return Request(f"{source.api}/{source.media_id}/comments", tuple(params), secret=(("access_token", token),))


def check_request(source: InstagramSource, lookup_ids: Sequence[str], token: str) -> Request:
    (cid,) = lookup_ids
    return Request(f"{source.api}/{cid}", (("fields", "id,hidden"),), secret=(("access_token", token),))


def _graph_error(reply: Reply) -> tuple[Failure | None, bool]:
    """(failure, does_not_exist). Graph errors come with 400/403/500 and a JSON body."""
    if isinstance(reply, Response) and reply.status >= 400:
        try:
            err = read_json(reply).get("error")
        except (Malformed, AttributeError):
            err = None
        if isinstance(err, dict) and isinstance(err.get("code"), int):
            code, sub = err["code"], err.get("error_subcode")
            if code == 100 and sub == 33:
                return Failure("client_error", "object does not exist"), True
            if code in _AUTH_CODES or 200 <= code <= 299:
                return Failure("auth", f"Graph error {code}"), False
            if code in _RATE_CODES or 80001 <= code <= 80014:
                return Failure("rate_limited", f"Graph error {code}"), False
            if code in (1, 2) or err.get("is_transient") is True:
                return Failure("server_error", f"Graph error {code}"), False
    return http_failure(reply), False


def read(source: InstagramSource, cursor: Mapping[str, Any], reply: Reply, received_at: datetime) -> PollResult:
    failure, _ = _graph_error(reply)
    if failure is not None:
        return PollResult(cursor=cursor, failure=failure)
    assert isinstance(reply, Response)
    try:
        data = read_json(reply)
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise Malformed("no data list")
        flat: list[tuple[dict[str, Any], str | None]] = []
        for c in items:
            if not isinstance(c, dict) or not isinstance(c.get("id"), str):
                raise Malformed("comment without id")
            flat.append((c, None))
            replies = c.get("replies", {}).get("data", []) if isinstance(c.get("replies"), dict) else []
            flat.extend((r, c["id"]) for r in replies if isinstance(r, dict) and isinstance(r.get("id"), str))
        dated = [(c, top, parse_time(c.get("timestamp"), "timestamp")) for c, top in flat]
        paging = data.get("paging") if isinstance(data.get("paging"), dict) else {}
        after = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
    except (Malformed, AttributeError, TypeError) as exc:
        return PollResult(cursor=cursor, failure=Failure("malformed", str(exc)))
    pages = Pages.from_cursor(cursor)
    mark = pages.mark
    events: list[MentionEvent] = []
    seen: list[Seen] = []
    for c, top, ts in dated:
        sender = c.get("from") if isinstance(c.get("from"), dict) else {}
        author = sender.get("id") if isinstance(sender.get("id"), str) else None
        parent_ref = c.get("parent_id") if isinstance(c.get("parent_id"), str) else (top or source.media_id)
        mid = instagram_mention_id(c["id"])
        aid = f"instagram:{author}" if author else unknown_author(PLATFORM)
        is_brand = author == source.account_id
        parent = instagram_mention_id(parent_ref)
        seen.append(Seen(PLATFORM, source.brand, source.channel, mid, c["id"], aid, is_brand, ts, parent, None))
        if not mark.is_new(ts, c["id"]):
            continue
        pages = pages.seen(ts, c["id"])
        try:
            events.append(
                validate_obj(
                    MentionEvent,
                    {
                        "event_type": EventType.CREATED,
                        "platform": PLATFORM,
                        "brand": source.brand,
                        "channel": source.channel,
                        "mention_id": mid,
                        "parent_id": parent,
                        "author_id": aid,
                        "author_is_brand": is_brand,
                        "text": text_or_empty(c.get("text")),
                        "engagement": Engagement(likes=max(0, int(c.get("like_count") or 0))),
                        "occurred_at": ts,
                    },
                    context={"ingested_at": received_at},
                )
            )
        except (InvalidRecord, TypeError, ValueError):
            continue
    # no documented order: every page of a pass is read, new items or not
    new_cursor, more = pages.after_page(after if isinstance(after, str) else None, True, MAX_PAGES)
    return PollResult(events=tuple(events), cursor=new_cursor, seen=tuple(seen), more=more)


def read_check(lookup_ids: Sequence[str], reply: Reply) -> dict[str, Check]:
    (cid,) = lookup_ids
    failure, missing = _graph_error(reply)
    if missing:
        return {cid: Check(Verdict.GONE, "not_found")}
    if failure is not None:
        return {cid: Check.failed(failure)}
    assert isinstance(reply, Response)
    try:
        data = read_json(reply)
        if not isinstance(data, dict) or data.get("id") != cid:
            raise Malformed("answer is not this comment")
    except Malformed:
        return {cid: Check.failed(Failure("malformed", "not the comment asked for"))}
    if data.get("hidden") is True:
        return {cid: Check(Verdict.HIDDEN, "hidden")}
    return {cid: Check(Verdict.PRESENT, "found")}
