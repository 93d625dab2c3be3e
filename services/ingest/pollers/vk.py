"""VK API: ``wall.getComments`` on a community's posts, ``wall.getComment`` checks.

https://dev.vk.com/ru/method/wall.getComments, https://dev.vk.com/ru/method/wall.getComment,
errors: https://dev.vk.com/ru/reference/errors.

- Poll: ``wall.getComments?owner_id=-<group>&post_id=...&sort=desc&count=100
  &thread_items_count=10&need_likes=1``, newest first with ``offset`` paging. A comment
  not read before is ``created``. VK's comment object has no edit date, so edits are
  not visible to polling (the Callback API's ``wall_reply_edit`` push carries them).
- Check: ``wall.getComment?owner_id=...&comment_id=...``. ``gone`` only when VK answers
  successfully with no such comment (an empty ``items``) or with the comment marked
  ``deleted``; a VK error code is never read as a deletion (VK answers several codes,
  such as 15 "access denied" or 100 "invalid parameter", for reasons other than a
  deletion, so RepWatch would rather miss a deletion than invent one).
- VK answers errors in a 200 body: ``{"error": {"error_code": N, ...}}``; they are
  classified below. The access token (a community or service key) goes in the query
  string as VK requires, and is redacted from logs.

Ids match the Callback API connector (``services.ingest.connectors.vk``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.ingest.connectors.vk import author_id, comment_mention_id, object_mention_id
from services.ingest.pollers import (
    PRESENT,
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

PLATFORM = Platform.VK
API = "https://api.vk.com/method"
VERSION = "5.199"
PAGE = 100
MAX_PAGES = 5
CHECK_BATCH = 1

#: error_code -> failure reason; anything else is client_error
_ERRORS = {
    5: "auth",  # authorization failed (bad or expired token)
    6: "rate_limited",  # too many requests per second
    9: "rate_limited",  # flood control
    10: "server_error",  # internal server error
    1: "server_error",  # unknown error: retry
    29: "quota",  # rate limit reached (the method's daily limit)
    7: "auth",  # permission denied
    15: "auth",  # access denied
    27: "auth",  # group token where a user token is needed
    28: "auth",  # application token where ...
    30: "auth",  # private profile
    212: "auth",  # access to the post's comments denied
}


@dataclass(frozen=True, slots=True)
class VkSource:
    name: str
    brand: str
    channel: str
    group_id: int
    post_id: int
    api: str = API

    @property
    def owner_id(self) -> int:
        return -self.group_id


def request(source: VkSource, cursor: Mapping[str, Any], token: str) -> Request:
    page = Pages.from_cursor(cursor)
    offset = int(page.token) if page.token else 0
    return Request(
        f"{source.api}/wall.getComments",
        (
            ("owner_id", str(source.owner_id)),
            ("post_id", str(source.post_id)),
            ("sort", "desc"),
            ("count", str(PAGE)),
            ("offset", str(offset)),
            ("thread_items_count", "10"),
            ("need_likes", "1"),
            ("v", VERSION),
        ),
        secret=(("access_token", token),),
    )


def check_request(source: VkSource, lookup_ids: Sequence[str], token: str) -> Request:
    (lookup,) = lookup_ids
    owner, _, comment = lookup.partition("_")
    return Request(
        f"{source.api}/wall.getComment",
        (("owner_id", owner), ("comment_id", comment), ("v", VERSION)),
        secret=(("access_token", token),),
    )


def _body(reply: Reply) -> Any:
    """The ``response`` of a successful call, or raise :class:`_Failed`."""
    failure = http_failure(reply)
    if failure is not None:
        raise _Failed(failure)
    assert isinstance(reply, Response)
    try:
        data = read_json(reply)
    except Malformed as exc:
        raise _Failed(Failure("malformed", str(exc))) from None
    if not isinstance(data, dict):
        raise _Failed(Failure("malformed", "not an object"))
    if "error" in data:
        err = data["error"] if isinstance(data["error"], dict) else {}
        code = err.get("error_code")
        reason = _ERRORS.get(code, "client_error") if isinstance(code, int) else "malformed"
        raise _Failed(Failure(reason, f"VK error {code}"))
    if "response" not in data:
        raise _Failed(Failure("malformed", "neither response nor error"))
    return data["response"]


class _Failed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


def _comments(items: Any) -> list[tuple[dict[str, Any], int | None]]:
    # a thread's replies come inline (thread.items); each carries reply_to_comment itself
    if not isinstance(items, list):
        raise Malformed("items is not a list")
    out = []
    for c in items:
        if not isinstance(c, dict):
            raise Malformed("comment is not an object")
        out.append((c, None))
        thread = c.get("thread")
        if isinstance(thread, dict) and isinstance(thread.get("items"), list):
            out.extend((r, c.get("id")) for r in thread["items"] if isinstance(r, dict))
    return out


def read(source: VkSource, cursor: Mapping[str, Any], reply: Reply, received_at: datetime) -> PollResult:
    try:
        resp = _body(reply)
        if not isinstance(resp, dict):
            raise Malformed("response is not an object")
        comments = _comments(resp.get("items"))
    except _Failed as f:
        return PollResult(cursor=cursor, failure=f.failure)
    except Malformed as exc:
        return PollResult(cursor=cursor, failure=Failure("malformed", str(exc)))
    pages = Pages.from_cursor(cursor)
    mark = pages.mark
    events: list[MentionEvent] = []
    seen: list[Seen] = []
    had_new = False
    owner, post = source.owner_id, source.post_id
    for c, thread_root in comments:
        cid, from_id = c.get("id"), c.get("from_id")
        if type(cid) is not int or cid <= 0:
            return PollResult(cursor=cursor, failure=Failure("malformed", "comment without a numeric id"))
        if c.get("deleted") or type(from_id) is not int:
            continue  # a deleted comment kept as a thread's root: nothing to read
        try:
            date = parse_time(c.get("date"), "date")
        except Malformed as exc:
            return PollResult(cursor=cursor, failure=Failure("malformed", str(exc)))
        mid = comment_mention_id("wall", owner, post, cid)
        reply_to = c.get("reply_to_comment")
        parent = (
            comment_mention_id("wall", owner, post, reply_to)
            if type(reply_to) is int and reply_to > 0
            else object_mention_id("wall", owner, post)
        )
        thread = thread_root if thread_root else None
        url = f"https://vk.com/wall{owner}_{post}?reply={cid}" + (f"&thread={thread}" if thread else "")
        aid = author_id(from_id)
        s = Seen(
            PLATFORM, source.brand, source.channel, mid, f"{owner}_{cid}", aid, from_id == owner, date, parent, url
        )
        seen.append(s)
        key = str(cid)
        if not mark.is_new(date, key):
            continue
        had_new = True
        pages = pages.seen(date, key)
        likes = c.get("likes", {}).get("count", 0) if isinstance(c.get("likes"), dict) else 0
        replies = c.get("thread", {}).get("count", 0) if isinstance(c.get("thread"), dict) else 0
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
                        "author_is_brand": from_id == owner,
                        "text": text_or_empty(c.get("text")),
                        "url": url,
                        "engagement": Engagement(likes=max(0, int(likes or 0)), replies=max(0, int(replies or 0))),
                        "occurred_at": date,
                    },
                    context={"ingested_at": received_at},
                )
            )
        except (InvalidRecord, TypeError, ValueError):
            continue
    offset = int(pages.token) if pages.token else 0
    top_level = sum(1 for _, root in comments if root is None)
    next_offset = str(offset + PAGE) if top_level >= PAGE else None
    new_cursor, more = pages.after_page(next_offset, had_new, MAX_PAGES)
    return PollResult(events=tuple(events), cursor=new_cursor, seen=tuple(seen), more=more)


def read_check(lookup_ids: Sequence[str], reply: Reply) -> dict[str, Check]:
    (lookup,) = lookup_ids
    try:
        resp = _body(reply)
        items = resp.get("items") if isinstance(resp, dict) else None
        if not isinstance(items, list):
            raise _Failed(Failure("malformed", "wall.getComment answer without items"))
    except _Failed as f:
        return {lookup: Check.failed(f.failure)}
    want = lookup.partition("_")[2]
    match = [c for c in items if isinstance(c, dict) and str(c.get("id")) == want]
    if not match:
        return {lookup: Check(Verdict.GONE, "not_found")}
    if match[0].get("deleted"):
        return {lookup: Check(Verdict.GONE, "removed")}
    return {lookup: PRESENT}
