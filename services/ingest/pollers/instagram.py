"""Instagram Graph API: ``GET /{media-id}/comments``, ``GET /{comment-id}`` checks, and
the @mentions the ``mentions`` webhook announces (``GET /{ig-user-id}?fields=mentioned_*``).

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

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.ingest.connectors import safe_url, unknown_author
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
from shared.schemas import (
    Engagement,
    EventType,
    InvalidRecord,
    LookupKind,
    MentionEvent,
    MentionLookup,
    Platform,
    validate_obj,
)

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


# ------------------------------------------------------------------ @mention lookups
# https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/mentioned_comment
# https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/mentioned_media
#
# The ``mentions`` webhook names a comment (or a caption's media) on someone else's media,
# which ``/{media-id}/comments`` cannot read; the documented way in is the @mentioned
# account itself: ``GET /{ig-user-id}?fields=mentioned_comment.comment_id(ID){fields}``
# (or ``mentioned_media.media_id(ID){fields}``), answered as ``{"mentioned_comment": {...},
# "id": "<ig-user-id>"}``. The field lists are IG Comment and IG Media fields, as those
# pages say the expansion takes. Neither gives the author's id, only ``username``.

#: IG Comment fields of a comment that @mentions the brand (``media`` expanded for its link)
#: (``media{owner}``: IG Media returns ``owner`` only to the media's own account, which is how a
#: comment on the brand's own media is told apart; the ``comments`` webhook already delivers those)
MENTION_COMMENT_FIELDS = "id,text,timestamp,like_count,username,media{id,permalink,owner}"
#: IG Media fields of a media whose caption @mentions the brand
MENTION_MEDIA_FIELDS = "id,caption,timestamp,like_count,comments_count,username,permalink,media_type"


@dataclass(frozen=True, slots=True)
class MentionAccount:
    """An Instagram professional account whose @mentions the poller fetches (its token's)."""

    name: str
    brand: str
    channel: str
    account_id: str
    api: str = API


@dataclass(frozen=True, slots=True)
class MentionRead:
    """What one mention lookup amounted to: the event, a definitive "gone", or a failure
    to retry (the mention is never given up on by one bad answer)."""

    event: MentionEvent | None = None
    failure: Failure | None = None
    #: the Graph API answered "does not exist" (error 100/33): deleted before it was read,
    #: or not readable by this token (the same error; the fetcher asks twice before believing it)
    gone: bool = False
    #: a comment on the mentioned account's own media: the ``comments`` webhook delivers it (with
    #: the commenter's id), so an event from here too would count one comment twice
    own_media: bool = False

    @property
    def result(self) -> str:
        if self.failure is not None:
            return self.failure.reason
        return "gone" if self.gone else "own_media" if self.own_media else "ok"


def mention_request(lookup: MentionLookup, api: str, token: str) -> Request:
    """The documented read of one @mention, through the account that was mentioned."""
    if lookup.kind is LookupKind.MENTIONED_COMMENT:
        fields = f"mentioned_comment.comment_id({lookup.comment_id}){{{MENTION_COMMENT_FIELDS}}}"
    else:
        fields = f"mentioned_media.media_id({lookup.media_id}){{{MENTION_MEDIA_FIELDS}}}"
    return Request(f"{api}/{lookup.account_id}", (("fields", fields),), secret=(("access_token", token),))


def mention_event_id(lookup: MentionLookup) -> str:
    """The event's id from the lookup's ids alone: a retried webhook, a re-read lookup
    after a crash, or a caption edited between two reads all give the same id."""
    raw = "\x1f".join(("lookup", lookup.key, EventType.CREATED.value))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def _count(v: Any) -> int:
    # Graph documents some counts as strings; anything unreadable counts as none
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return max(0, v)
    if isinstance(v, str) and v.isdigit():
        return int(v)
    return 0


def _text_field(obj: Mapping[str, Any], name: str) -> str | None:
    v = obj.get(name)
    return v if isinstance(v, str) and v else None


def read_mention(lookup: MentionLookup, reply: Reply, received_at: datetime) -> MentionRead:
    """The ``created`` event of a fetched @mention, or why there is none (yet)."""
    failure, missing = _graph_error(reply)
    if missing:
        return MentionRead(gone=True)
    if failure is not None:
        return MentionRead(failure=failure)
    assert isinstance(reply, Response)
    field = lookup.kind.value
    try:
        data = read_json(reply)
        if not isinstance(data, dict):
            raise Malformed("answer is not an object")
        obj = data.get(field)
        if obj is None:
            # a 2xx without the mention: Graph has not made it readable yet (or no longer)
            return MentionRead(failure=Failure("not_visible", f"no {field} in the answer"))
        want = lookup.comment_id if lookup.kind is LookupKind.MENTIONED_COMMENT else lookup.media_id
        if not isinstance(obj, dict) or obj.get("id") != want:
            raise Malformed(f"{field} is not the object asked for")
        ts = parse_time(obj.get("timestamp"), f"{field}.timestamp")
    except Malformed as exc:
        return MentionRead(failure=Failure("malformed", str(exc)))
    username = _text_field(obj, "username")
    if lookup.kind is LookupKind.MENTIONED_COMMENT:
        media = obj.get("media") if isinstance(obj.get("media"), dict) else {}
        media_id = media.get("id") if isinstance(media.get("id"), str) else lookup.media_id
        owner = media.get("owner")
        owner_id = owner.get("id") if isinstance(owner, dict) else owner
        if isinstance(owner_id, str) and owner_id == lookup.account_id:
            return MentionRead(own_media=True)
        fields: dict[str, Any] = {
            "mention_id": instagram_mention_id(lookup.comment_id or ""),
            "parent_id": instagram_mention_id(media_id),
            "text": text_or_empty(obj.get("text")),
            # a comment has no permalink of its own: its media's is where a person finds it
            "url": safe_url(_text_field(media, "permalink")),
            "engagement": Engagement(likes=_count(obj.get("like_count"))),
        }
    else:
        fields = {
            "mention_id": instagram_mention_id(lookup.media_id),
            "parent_id": None,
            "text": text_or_empty(obj.get("caption")),
            "url": safe_url(_text_field(obj, "permalink")),
            "engagement": Engagement(likes=_count(obj.get("like_count")), replies=_count(obj.get("comments_count"))),
        }
    try:
        event = validate_obj(
            MentionEvent,
            {
                "event_id": mention_event_id(lookup),
                "event_type": EventType.CREATED,
                "platform": PLATFORM,
                "brand": lookup.brand,
                "channel": lookup.channel,
                # only the username is given (no Instagram-scoped id): named apart from the
                # ids the comments webhook gives, so the two never look like one person
                "author_id": f"instagram:@{username}" if username else unknown_author(PLATFORM),
                # someone else @mentioned the brand; its own account mentioning itself is no complaint
                "author_is_brand": False,
                "occurred_at": ts,
                **fields,
            },
            context={"ingested_at": received_at},
        )
    except InvalidRecord as exc:
        return MentionRead(failure=Failure("malformed", f"{exc.reason}: {exc.detail}"))
    return MentionRead(event=event)
