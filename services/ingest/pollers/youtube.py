"""YouTube Data API v3: ``commentThreads.list`` per video or channel, ``comments.list`` checks.

https://developers.google.com/youtube/v3/docs/commentThreads/list and
https://developers.google.com/youtube/v3/docs/comments/list.

- Poll: ``commentThreads.list?part=snippet,replies&videoId=...`` (or
  ``allThreadsRelatedToChannelId=...``), ``order=time`` (newest first),
  ``textFormat=plainText``, 100 threads a page. A top-level comment not read before is
  ``created``; one whose ``updatedAt`` moved past what was read is ``edited``. The replies
  a thread carries (YouTube includes some, not necessarily all) are read the same way.
- Check: ``comments.list?part=id&id=a,b,...`` (up to 50 ids a call). YouTube answers
  200 with the comments that exist; an id missing from a successful answer is ``gone``.
  Comments held for review or hidden by the channel are not told apart from deleted
  ones by this endpoint; RepWatch reports them ``deleted`` with ``actor`` null.
- Quota: every call of either method costs 1 unit of the project's daily quota (10,000
  by default, reset at midnight Pacific Time); the loop counts the units with
  :class:`DailyQuota` and stops before the quota is spent. A ``403 quotaExceeded`` marks
  the day spent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.ingest.connectors import unknown_author
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

PLATFORM = Platform.YOUTUBE
API = "https://www.googleapis.com/youtube/v3"
#: units per call (commentThreads.list and comments.list both cost 1)
COST = 1
DAILY_QUOTA = 10_000
QUOTA_TZ = ZoneInfo("America/Los_Angeles")
CHECK_BATCH = 50
MAX_PAGES = 5

_QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
_AUTH_REASONS = frozenset({"forbidden", "keyInvalid", "authError", "accessNotConfigured", "ipRefererBlocked"})


@dataclass(frozen=True, slots=True)
class YouTubeSource:
    name: str
    brand: str
    #: the brand's channel as the brands file lists it (``youtube:UC...``)
    channel: str
    channel_id: str
    #: one video, or None: every thread on the channel
    video_id: str | None = None
    api: str = API


def mention_id(comment_id: str) -> str:
    """A comment or video: YouTube ids are unique across both."""
    return f"youtube:{comment_id}"


def channel_spellings(channel_id: str) -> list[str]:
    return [f"youtube:{channel_id}", channel_id]


def request(source: YouTubeSource, cursor: Mapping[str, Any], api_key: str) -> Request:
    params = [("part", "snippet,replies"), ("order", "time"), ("textFormat", "plainText"), ("maxResults", "100")]
    if source.video_id:
        params.append(("videoId", source.video_id))
    else:
        params.append(("allThreadsRelatedToChannelId", source.channel_id))
    page = Pages.from_cursor(cursor)
    if page.token:
        params.append(("pageToken", page.token))
    return Request(f"{source.api}/commentThreads", tuple(params), secret=(("key", api_key),), cost=COST)


def check_request(source: YouTubeSource, lookup_ids: Sequence[str], api_key: str) -> Request:
    return Request(
        f"{source.api}/comments",
        (("part", "id"), ("id", ",".join(lookup_ids)), ("maxResults", "50")),
        secret=(("key", api_key),),
        cost=COST,
    )


def failure_of(reply: Reply) -> Failure | None:
    """YouTube's error body first (a 403 is auth or quota), then the HTTP status."""
    if isinstance(reply, Response) and reply.status >= 400:
        try:
            err = read_json(reply).get("error", {})
            reasons = {e.get("reason") for e in err.get("errors", []) if isinstance(e, dict)}
        except (Malformed, AttributeError, TypeError):
            reasons = set()
        if reasons & _QUOTA_REASONS:
            return Failure("quota", "quotaExceeded")
        if reasons & _RATE_REASONS:
            return Failure("rate_limited", "rateLimitExceeded")
        if reasons & _AUTH_REASONS:
            return Failure("auth", ",".join(sorted(r for r in reasons if r)))
    return http_failure(reply)


def _comment(
    source: YouTubeSource, c: Any, parent: str | None, video_id: str | None, received_at: datetime
) -> tuple[dict[str, Any], datetime, datetime, Seen]:
    if not isinstance(c, dict) or not isinstance(c.get("id"), str) or not isinstance(c.get("snippet"), dict):
        raise Malformed("comment without id or snippet")
    sn = c["snippet"]
    published = parse_time(sn.get("publishedAt"), "publishedAt")
    updated = parse_time(sn.get("updatedAt") or sn.get("publishedAt"), "updatedAt")
    author = (sn.get("authorChannelId") or {}).get("value") if isinstance(sn.get("authorChannelId"), dict) else None
    vid = sn.get("videoId") or video_id
    cid = c["id"]
    mid = mention_id(cid)
    url = f"https://www.youtube.com/watch?v={vid}&lc={cid}" if isinstance(vid, str) else None
    fields = {
        "platform": PLATFORM,
        "brand": source.brand,
        "channel": source.channel,
        "mention_id": mid,
        "parent_id": parent,
        "author_id": f"youtube:{author}" if author else unknown_author(PLATFORM),
        "author_is_brand": author == source.channel_id,
        "text": text_or_empty(sn.get("textOriginal") or sn.get("textDisplay")),
        "url": url,
        "engagement": Engagement(likes=max(0, int(sn.get("likeCount") or 0))),
    }
    seen = Seen(
        PLATFORM,
        source.brand,
        source.channel,
        mid,
        cid,
        fields["author_id"],
        fields["author_is_brand"],
        published,
        parent,
        url,
    )
    return fields, published, updated, seen


def read(source: YouTubeSource, cursor: Mapping[str, Any], reply: Reply, received_at: datetime) -> PollResult:
    failure = failure_of(reply)
    if failure is not None:
        return PollResult(cursor=cursor, failure=failure)
    assert isinstance(reply, Response)
    pages = Pages.from_cursor(cursor)
    events: list[MentionEvent] = []
    seen: list[Seen] = []
    had_new = False
    try:
        data = read_json(reply)
        # an answer without ``items`` is not an empty page: it is not a commentThreads answer
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise Malformed("no items list")
        comments: list[tuple[Any, str | None, str | None]] = []
        for thread in data["items"]:
            if not isinstance(thread, dict) or not isinstance(thread.get("snippet"), dict):
                raise Malformed("thread without snippet")
            tsn = thread["snippet"]
            video = tsn.get("videoId")
            top = tsn.get("topLevelComment")
            comments.append((top, mention_id(video) if isinstance(video, str) else None, video))
            replies = (thread.get("replies") or {}).get("comments", [])
            top_id = top.get("id") if isinstance(top, dict) else None
            for r in replies if isinstance(replies, list) else []:
                comments.append((r, mention_id(top_id) if top_id else None, video))
        parsed = [_comment(source, c, parent, vid, received_at) for c, parent, vid in comments]
    except (Malformed, TypeError, ValueError, AttributeError) as exc:
        return PollResult(cursor=cursor, failure=Failure("malformed", str(exc)))
    mark = pages.mark
    for fields, published, updated, s in parsed:
        seen.append(s)
        key = f"{s.lookup_id}@{updated.isoformat()}"
        if not mark.is_new(updated, key):
            continue
        had_new = True
        pages = pages.seen(updated, key)
        read_before = mark.at is not None and (
            published < mark.at or any(k.startswith(f"{s.lookup_id}@") for k in mark.keys)
        )
        if read_before:
            ev_type, occurred = EventType.EDITED, updated
        else:
            ev_type, occurred = EventType.CREATED, published
        try:
            events.append(
                validate_obj(
                    MentionEvent,
                    {**fields, "event_type": ev_type, "occurred_at": occurred},
                    context={"ingested_at": received_at},
                )
            )
        except InvalidRecord:
            continue
    token = data.get("nextPageToken") if isinstance(data.get("nextPageToken"), str) else None
    new_cursor, more = pages.after_page(token, had_new, MAX_PAGES)
    return PollResult(events=tuple(events), cursor=new_cursor, seen=tuple(seen), more=more)


def read_check(lookup_ids: Sequence[str], reply: Reply) -> dict[str, Check]:
    """Each id's verdict. Only a successful answer says anything about an id."""
    failure = failure_of(reply)
    if failure is None:
        assert isinstance(reply, Response)
        try:
            data = read_json(reply)
            items = data["items"]
            if not isinstance(items, list):
                raise Malformed("items is not a list")
            found = {i["id"] for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)}
        except (Malformed, KeyError, TypeError):
            failure = Failure("malformed", "comments.list answer without an items list")
        else:
            return {i: PRESENT if i in found else Check(Verdict.GONE, "not_found") for i in lookup_ids}
    return {i: Check.failed(failure) for i in lookup_ids}
