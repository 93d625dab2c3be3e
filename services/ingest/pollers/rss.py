"""RSS 2.0 / Atom 1.0 feeds (review sites, news): conditional GET, entries, tombstones.

- The request carries ``If-None-Match`` / ``If-Modified-Since`` from the last answer's
  ``ETag`` / ``Last-Modified`` (RFC 9110 §13.1): a ``304`` costs the site nothing and
  changes nothing here.
- Entries are read with ``feedparser`` (it copes with the many broken feeds in the
  wild: wrong encodings, RSS 0.9x, missing dates). An entry not seen before is
  ``created``; one whose ``updated`` moved past the stored one is ``edited``.
- Atom tombstones (RFC 6721, ``<at:deleted-entry ref="..." when="...">``) are ``deleted``
  with ``actor`` null: the RFC's optional ``at:by`` names a person by free text, which
  says nothing about whether that person is the author or the site. feedparser keeps
  no attributes of unknown elements, so tombstones are read from the XML directly.

Mention ids are ``<platform>:<entry id>`` (``rss:`` or ``reviews:``, as configured): the
entry's ``id``/``guid``, else its link. A feed that repeats neither cannot be tracked
and its entries are skipped rather than given made-up ids that change every read.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import feedparser

from services.ingest.connectors import safe_url, unknown_author
from services.ingest.pollers import (
    MAX_RESPONSE_BYTES,
    Failure,
    PollResult,
    Reply,
    Request,
    Response,
    http_failure,
)
from shared.schemas import EventType, InvalidRecord, MentionEvent, Platform, validate_obj

TOMBSTONE_NS = "http://purl.org/atompub/tombstones/1.0"
#: entries remembered per feed (id -> updated): a feed shows its newest 10-100 entries,
#: so this outlives anything a feed still lists
MAX_REMEMBERED = 2000
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class FeedSource:
    name: str
    url: str
    brand: str
    channel: str
    platform: Platform = Platform.RSS


def request(source: FeedSource, cursor: Mapping[str, Any]) -> Request:
    headers = [("Accept", "application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.1")]
    if cursor.get("etag"):
        headers.append(("If-None-Match", str(cursor["etag"])))
    if cursor.get("last_modified"):
        headers.append(("If-Modified-Since", str(cursor["last_modified"])))
    return Request(url=source.url, headers=tuple(headers))


def _utc_struct(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None


def _plain(text: str) -> str:
    return html.unescape(_TAG.sub(" ", text)).strip()


def _entry_text(e: Any) -> str:
    title = _plain(e.get("title", "") or "")
    body = ""
    content = e.get("content")
    if content and isinstance(content, list) and content[0].get("value"):
        body = content[0]["value"]
    elif e.get("summary"):
        body = e["summary"]
    body = _plain(body)
    return f"{title}\n{body}".strip() if body and body != title else title


def _tombstones(body: bytes) -> list[tuple[str, datetime | None]]:
    # Atom feeds need no DTD; one that declares entities is not parsed here at all
    # (no entity expansion from a remote document)
    if b"<!DOCTYPE" in body[:4096] or b"<!ENTITY" in body:
        return []
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return []
    out = []
    for el in root.iter(f"{{{TOMBSTONE_NS}}}deleted-entry"):
        ref = (el.get("ref") or "").strip()
        if not ref or len(ref) > 400:
            continue
        when = None
        if el.get("when"):
            try:
                when = datetime.fromisoformat(el.get("when", "").strip())
                if when.tzinfo is None:
                    when = None
            except ValueError:
                when = None
        out.append((ref, when))
    return out


def _event(fields: dict[str, Any], received_at: datetime) -> MentionEvent | None:
    try:
        return validate_obj(MentionEvent, fields, context={"ingested_at": received_at})
    except InvalidRecord:
        return None  # an entry too long or otherwise out of bounds: skipped, the rest still count


def read(source: FeedSource, cursor: Mapping[str, Any], reply: Reply, received_at: datetime) -> PollResult:
    failure = http_failure(reply)
    if failure is not None:
        return PollResult(cursor=cursor, failure=failure)
    assert isinstance(reply, Response)
    if reply.status == 304:
        return PollResult(cursor=cursor, not_modified=True)
    if len(reply.body) > MAX_RESPONSE_BYTES:
        return PollResult(cursor=cursor, failure=Failure("malformed", "feed larger than the limit"))
    parsed = feedparser.parse(reply.body, response_headers={"content-type": reply.headers.get("content-type", "")})
    tombs = _tombstones(reply.body)
    if parsed.get("bozo") and not parsed.get("entries") and not tombs:
        return PollResult(cursor=cursor, failure=Failure("malformed", f"not a feed: {parsed.get('bozo_exception')!r}"))
    if not parsed.get("version") and not parsed.get("entries") and not tombs:
        return PollResult(cursor=cursor, failure=Failure("malformed", "no RSS or Atom root element"))

    known: dict[str, str] = dict(cursor.get("entries", {}))
    deleted: set[str] = set(cursor.get("deleted", ()))
    events: list[MentionEvent] = []
    p = source.platform
    for e in parsed.get("entries", []):
        ident = (e.get("id") or e.get("link") or "").strip()
        if not ident or len(ident) > 400:
            continue
        # dict.get: feedparser's own get() falls back from updated to published (with a
        # deprecation warning), which would turn every dated entry into an edit
        updated = _utc_struct(dict.get(e, "updated_parsed"))
        published = _utc_struct(dict.get(e, "published_parsed")) or updated
        stamp = (updated or published).isoformat() if (updated or published) else ""
        if ident in known and (not stamp or stamp <= known[ident]):
            continue
        event_type = EventType.EDITED if ident in known else EventType.CREATED
        occurred = (updated if event_type is EventType.EDITED else published) or received_at
        author = (e.get("author") or "").strip()[:200]
        ev = _event(
            {
                "event_type": event_type,
                "platform": p,
                "brand": source.brand,
                "channel": source.channel,
                "mention_id": f"{p.value}:{ident}",
                "author_id": f"{p.value}:{author}" if author else unknown_author(p),
                "text": _entry_text(e),
                "url": safe_url(e.get("link")),
                "occurred_at": occurred,
            },
            received_at,
        )
        known[ident] = stamp
        deleted.discard(ident)
        if ev is not None:
            events.append(ev)
    for ref, when in tombs:
        if ref in deleted:
            continue
        ev = _event(
            {
                "event_type": EventType.DELETED,
                "platform": p,
                "brand": source.brand,
                "channel": source.channel,
                "mention_id": f"{p.value}:{ref}",
                "author_id": unknown_author(p),
                "actor": None,
                # a tombstone without ``when`` is dated by the first read that showed it;
                # the cursor keeps the ref, so it is not emitted again with another date
                "occurred_at": when or received_at,
            },
            received_at,
        )
        deleted.add(ref)
        known.pop(ref, None)
        if ev is not None:
            events.append(ev)
    new_cursor: dict[str, Any] = {
        "etag": reply.headers.get("etag"),
        "last_modified": reply.headers.get("last-modified"),
        # the newest stamps are kept when the memory is full (older entries left the feed)
        "entries": dict(sorted(known.items(), key=lambda kv: kv[1])[-MAX_REMEMBERED:]),
        "deleted": sorted(deleted)[-MAX_REMEMBERED:],
    }
    return PollResult(events=tuple(events), cursor=new_cursor)
