"""Each poller against a local server: recorded answers, and every failure an API gives.

The point of the failure tests: no timeout, 429, 5xx, auth or quota error and no
unreadable body ever reads as a deletion, a hidden comment, or a reason to move the
cursor past what was not read.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from services.ingest.connectors.meta import instagram_mention_id
from services.ingest.connectors.vk import comment_mention_id
from services.ingest.pollers import Request, Verdict, instagram, rss, vk, youtube
from shared.schemas import Actor, EventType, Platform
from tests.services.ingest.pollers.conftest import FAILURES, Answer, fixture

NOW = datetime(2024, 1, 3, 12, 0, tzinfo=timezone.utc)
KEY = "AIza-secret-key"


def yt_source(api) -> youtube.YouTubeSource:
    return youtube.YouTubeSource("yt", "acme", "youtube:UCacme", "UCacme", "vid00000001", api=f"{api.base}/yt")


def vk_source(api) -> vk.VkSource:
    return vk.VkSource("vk", "acme", "vk:club123", 123, 77, api=f"{api.base}/vk")


def ig_source(api) -> instagram.InstagramSource:
    return instagram.InstagramSource(
        "ig", "acme", "instagram:17841405822304914", "17841405822304914", "1789000", api=f"{api.base}/ig"
    )


def feed_source(api) -> rss.FeedSource:
    return rss.FeedSource("news", f"{api.base}/feed", "acme", "news.example.org")


# ------------------------------------------------------------------ RSS / Atom


def test_rss2_items_become_created_events(api):
    api.route("/feed", fixture("rss/rss2.xml"))
    src = feed_source(api)
    res = rss.read(src, {}, api.fetch(rss.request(src, {})), NOW)
    assert res.failure is None
    by_id = {e.mention_id: e for e in res.events}
    assert set(by_id) == {"rss:review-101", "rss:review-100"}
    e = by_id["rss:review-101"]
    assert e.event_type is EventType.CREATED and e.brand == "acme" and e.channel == "news.example.org"
    assert "three weeks" in e.text and "<b>" not in e.text
    assert e.occurred_at == datetime(2024, 1, 2, 9, 30, tzinfo=timezone.utc)
    assert e.url == "https://reviews.example.org/acme/r/101"


def test_conditional_get_sends_validators_and_304_changes_nothing(api):
    api.route(
        "/feed",
        fixture("rss/atom_v1.xml", headers=(("ETag", '"v1"'), ("Last-Modified", "Tue, 02 Jan 2024 10:00:00 GMT"))),
    )
    src = feed_source(api)
    first = rss.read(src, {}, api.fetch(rss.request(src, {})), NOW)
    assert len(first.events) == 2
    req = rss.request(src, first.cursor)
    assert ("If-None-Match", '"v1"') in req.headers
    assert ("If-Modified-Since", "Tue, 02 Jan 2024 10:00:00 GMT") in req.headers
    second = rss.read(src, first.cursor, api.fetch(req), NOW)
    assert second.not_modified and second.events == () and second.cursor == first.cursor
    assert api.requests[-1][2]["if-none-match"] == '"v1"'


def test_atom_update_is_edited_and_tombstone_is_deleted_without_actor(api):
    api.route("/feed", fixture("rss/atom_v1.xml"), fixture("rss/atom_v2.xml"))
    src = feed_source(api)
    first = rss.read(src, {}, api.fetch(rss.request(src, {})), NOW)
    second = rss.read(src, first.cursor, api.fetch(rss.request(src, first.cursor)), NOW)
    kinds = {(e.event_type, e.mention_id) for e in second.events}
    assert kinds == {
        (EventType.EDITED, "rss:tag:news.example.org,2024:/entries/7"),
        (EventType.DELETED, "rss:tag:news.example.org,2024:/entries/6"),
    }
    deleted = next(e for e in second.events if e.event_type is EventType.DELETED)
    assert deleted.actor is None
    assert deleted.occurred_at == datetime(2024, 1, 3, 9, 0, tzinfo=timezone.utc)
    # read again: nothing new, the tombstone is not reported twice
    third = rss.read(src, second.cursor, api.fetch(rss.request(src, second.cursor)), NOW)
    assert third.events == ()


def test_feed_deleted_ids_join_created_ids(api):
    api.route("/feed", fixture("rss/atom_v1.xml"), fixture("rss/atom_v2.xml"))
    src = feed_source(api)
    first = rss.read(src, {}, api.fetch(rss.request(src, {})), NOW)
    second = rss.read(src, first.cursor, api.fetch(rss.request(src, first.cursor)), NOW)
    created = {e.mention_id for e in first.events}
    deleted = {e.mention_id for e in second.events if e.event_type is EventType.DELETED}
    assert deleted <= created


@pytest.mark.parametrize("failure", sorted(set(FAILURES) - {"200_empty"}))
def test_rss_failures_keep_the_cursor_and_emit_nothing(api, failure):
    api.route("/feed", fixture("rss/atom_v1.xml"))
    src = feed_source(api)
    first = rss.read(src, {}, api.fetch(rss.request(src, {})), NOW)
    api.route("/feed", FAILURES[failure])
    res = rss.read(src, first.cursor, api.fetch(rss.request(src, first.cursor)), NOW)
    assert res.failure is not None, failure
    assert res.events == () and res.cursor == first.cursor


# ------------------------------------------------------------------ YouTube


def test_youtube_threads_and_replies_become_events_with_one_request_per_page(api):
    api.route("/yt/commentThreads", fixture("youtube/commentThreads.json"))
    src = yt_source(api)
    req = youtube.request(src, {}, KEY)
    assert req.cost == 1 and KEY not in req.redacted_url() and KEY in req.full_url()
    res = youtube.read(src, {}, api.fetch(req), NOW)
    assert res.failure is None and not res.more
    ev = {e.mention_id: e for e in res.events}
    assert set(ev) == {"youtube:UgzThreadA", "youtube:UgzThreadB", "youtube:UgzThreadB.reply1"}
    assert all(e.event_type is EventType.CREATED for e in ev.values())
    assert ev["youtube:UgzThreadB"].parent_id == "youtube:vid00000001"
    assert ev["youtube:UgzThreadB.reply1"].parent_id == "youtube:UgzThreadB"
    assert ev["youtube:UgzThreadB.reply1"].author_is_brand
    assert ev["youtube:UgzThreadB"].author_id == "youtube:UCviewer2"
    assert ev["youtube:UgzThreadB"].url == "https://www.youtube.com/watch?v=vid00000001&lc=UgzThreadB"
    q = api.requests[-1][1]
    assert q["videoId"] == "vid00000001" and q["order"] == "time" and q["key"] == KEY


def test_youtube_moved_updated_at_is_an_edit_and_nothing_else_repeats(api):
    api.route(
        "/yt/commentThreads", fixture("youtube/commentThreads.json"), fixture("youtube/commentThreads_edited.json")
    )
    src = yt_source(api)
    first = youtube.read(src, {}, api.fetch(youtube.request(src, {}, KEY)), NOW)
    second = youtube.read(src, first.cursor, api.fetch(youtube.request(src, first.cursor, KEY)), NOW)
    assert [(e.event_type, e.mention_id) for e in second.events] == [(EventType.EDITED, "youtube:UgzThreadA")]
    assert "sound is off" in second.events[0].text
    third = youtube.read(src, second.cursor, api.fetch(youtube.request(src, second.cursor, KEY)), NOW)
    assert third.events == ()


def test_youtube_check_missing_id_is_gone_present_ids_present(api):
    api.route("/yt/comments", fixture("youtube/comments_one_missing.json"))
    src = yt_source(api)
    ids = ["UgzThreadA", "UgzThreadB", "UgzThreadB.reply1"]
    got = youtube.read_check(ids, api.fetch(youtube.check_request(src, ids, KEY)))
    assert got["UgzThreadB"].verdict is Verdict.GONE
    assert got["UgzThreadA"].verdict is Verdict.PRESENT and got["UgzThreadB.reply1"].verdict is Verdict.PRESENT
    assert api.requests[-1][1]["id"] == "UgzThreadA,UgzThreadB,UgzThreadB.reply1"


def test_youtube_quota_error_is_quota():
    res = youtube.read_check(["x"], FAILURES["yt_quota"] and _resp(FAILURES["yt_quota"]))
    assert res["x"].verdict is Verdict.FAILED and res["x"].reason == "quota"


def _resp(a: Answer):
    from services.ingest.pollers import Response

    return Response(a.status, a.body, dict(a.headers))


# ------------------------------------------------------------------ VK


def test_vk_comments_and_thread_replies_match_the_callback_ids(api):
    api.route("/vk/wall.getComments", fixture("vk/getComments.json"))
    src = vk_source(api)
    res = vk.read(src, {}, api.fetch(vk.request(src, {}, "vk-token")), NOW)
    assert res.failure is None
    ev = {e.mention_id: e for e in res.events}
    assert set(ev) == {comment_mention_id("wall", -123, 77, n) for n in (501, 502, 503)}
    reply = ev[comment_mention_id("wall", -123, 77, 503)]
    assert reply.parent_id == comment_mention_id("wall", -123, 77, 502) and reply.author_is_brand
    assert ev[comment_mention_id("wall", -123, 77, 502)].author_id == "vk:id1001"
    q = api.requests[-1][1]
    assert q["owner_id"] == "-123" and q["post_id"] == "77" and q["sort"] == "desc"
    again = vk.read(src, res.cursor, api.fetch(vk.request(src, res.cursor, "vk-token")), NOW)
    assert again.events == ()


@pytest.mark.parametrize(
    ("name", "verdict", "reason"),
    [
        ("vk/getComment_ok.json", Verdict.PRESENT, "found"),
        ("vk/getComment_empty.json", Verdict.GONE, "not_found"),
        ("vk/getComment_deleted.json", Verdict.GONE, "removed"),
        ("vk/error_auth.json", Verdict.FAILED, "auth"),
        ("vk/error_flood.json", Verdict.FAILED, "rate_limited"),
        ("vk/error_access.json", Verdict.FAILED, "auth"),
        ("vk/error_internal.json", Verdict.FAILED, "server_error"),
    ],
)
def test_vk_check(api, name, verdict, reason):
    api.route("/vk/wall.getComment", fixture(name))
    src = vk_source(api)
    got = vk.read_check(["-123_502"], api.fetch(vk.check_request(src, ["-123_502"], "vk-token")))
    assert got["-123_502"].verdict is verdict and got["-123_502"].reason == reason
    assert api.requests[-1][1]["comment_id"] == "502" and api.requests[-1][1]["owner_id"] == "-123"


# ------------------------------------------------------------------ Instagram


def test_instagram_comments_and_replies_match_the_webhook_ids(api):
    api.route("/ig/1789000/comments", fixture("instagram/comments.json"))
    src = ig_source(api)
    res = instagram.read(src, {}, api.fetch(instagram.request(src, {}, "ig-token")), NOW)
    assert res.failure is None and not res.more  # no paging.next: last page
    ev = {e.mention_id: e for e in res.events}
    assert set(ev) == {instagram_mention_id(i) for i in ("17870913679156914", "17870913679156999", "17858893269000001")}
    assert ev[instagram_mention_id("17870913679156999")].author_is_brand
    assert ev[instagram_mention_id("17870913679156914")].parent_id == instagram_mention_id("1789000")
    assert ev[instagram_mention_id("17870913679156914")].occurred_at == datetime(2024, 1, 2, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("answer", "verdict", "reason"),
    [
        (fixture("instagram/comment_ok.json"), Verdict.PRESENT, "found"),
        (fixture("instagram/comment_hidden.json"), Verdict.HIDDEN, "hidden"),
        (fixture("instagram/error_not_exist.json", 400), Verdict.GONE, "not_found"),
        (fixture("instagram/error_token.json", 400), Verdict.FAILED, "auth"),
        (fixture("instagram/error_rate.json", 403), Verdict.FAILED, "rate_limited"),
        (fixture("instagram/error_transient.json", 500), Verdict.FAILED, "server_error"),
    ],
)
def test_instagram_check(api, answer, verdict, reason):
    api.route("/ig/17870913679156914", answer)
    src = ig_source(api)
    got = instagram.read_check(
        ["17870913679156914"], api.fetch(instagram.check_request(src, ["17870913679156914"], "ig-token"))
    )
    assert got["17870913679156914"].verdict is verdict and got["17870913679156914"].reason == reason


# ------------------------------------------------------------------ no failure is a deletion

POLLS = {
    "youtube": (yt_source, "/yt/commentThreads", "/yt/comments", youtube, ["UgzThreadB"]),
    "vk": (vk_source, "/vk/wall.getComments", "/vk/wall.getComment", vk, ["-123_502"]),
    "instagram": (ig_source, "/ig/1789000/comments", "/ig/17870913679156914", instagram, ["17870913679156914"]),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("platform", sorted(POLLS))
def test_no_failure_is_ever_a_verdict(api, platform, failure):
    make, poll_path, check_path, mod, ids = POLLS[platform]
    src = make(api)
    api.route(check_path, FAILURES[failure])
    got = mod.read_check(ids, api.fetch(mod.check_request(src, ids, "cred")))
    assert all(c.verdict is Verdict.FAILED for c in got.values()), (failure, got)
    api.route(poll_path, FAILURES[failure])
    cursor = {"mark": {"at": "2024-01-01T00:00:00+00:00", "keys": ["x"]}}
    res = mod.read(src, cursor, api.fetch(mod.request(src, cursor, "cred")), NOW)
    assert res.failure is not None and res.events == () and res.cursor == cursor and res.seen == ()


def test_credentials_never_reach_the_redacted_url():
    req = Request("https://api.example/x", (("a", "1"),), secret=(("access_token", "s3cr3t"),))
    assert "s3cr3t" not in req.redacted_url() and "s3cr3t" in req.full_url()


def test_platforms_are_what_the_connectors_use():
    assert youtube.PLATFORM is Platform.YOUTUBE and vk.PLATFORM is Platform.VK
    assert instagram.PLATFORM is Platform.INSTAGRAM and Actor.BRAND
