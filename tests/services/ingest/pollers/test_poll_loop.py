"""The poll loop with pollers, reconciler and state together, against the local API server.

Behaviour only: a fake clock moves time, sends are captured; nothing here waits.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from services.ingest.poll_main import ConfigError, Poller, PollSettings, SourceSpec, bind
from services.ingest.poll_state import restore
from services.ingest.reconcile import WatchList
from shared.brands import parse_brands
from shared.kafka.transport import Outgoing, Record
from shared.schemas import EventType, MentionEvent
from tests.services.ingest.pollers.conftest import FAILURES, fixture

T0 = datetime(2024, 1, 3, 12, 0, tzinfo=timezone.utc)
BRANDS = parse_brands("brands:\n  acme:\n    owned_channels: {youtube: [youtube:UCacme], vk: [club123]}\n")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def make(api, clock, sent: list[Outgoing], watch: WatchList | None = None) -> Poller:
    spec = SourceSpec(
        name="acme-yt",
        kind="youtube",
        channel_id="UCacme",
        video_id="vid00000001",
        credential_env="YT_KEY",
        interval="10m",
        api=f"{api.base}/yt",
    )
    src = bind(spec, BRANDS, {"YT_KEY": "AIza-test"})
    return Poller(
        [src],
        watch or WatchList(),
        state_topic="ingest.poll_state",
        raw_topic="mentions.raw",
        fetch=api.fetch,
        send=sent.extend,
        clock=clock,
    )


def events(sent: list[Outgoing]) -> list[MentionEvent]:
    return [MentionEvent.model_validate_json(o.value) for o in sent if o.topic == "mentions.raw"]


def run_for(poller: Poller, clock: Clock, steps: int, every: timedelta = timedelta(hours=1)) -> None:
    for _ in range(steps):
        poller.step()
        clock.now += every


def test_the_loop_polls_emits_once_and_reports_a_confirmed_deletion_once(api):
    api.route("/yt/commentThreads", fixture("youtube/commentThreads.json"))
    api.route("/yt/comments", fixture("youtube/comments_one_missing.json"))
    clock, sent = Clock(), []
    poller = make(api, clock, sent)
    run_for(poller, clock, 24 * 9)
    evs = events(sent)
    created = [e for e in evs if e.event_type is EventType.CREATED]
    assert sorted(e.mention_id for e in created) == [
        "youtube:UgzThreadA",
        "youtube:UgzThreadB",
        "youtube:UgzThreadB.reply1",
    ]
    deleted = [e for e in evs if e.event_type is EventType.DELETED]
    assert [e.mention_id for e in deleted] == ["youtube:UgzThreadB"]
    assert deleted[0].actor is None
    # the API key never reaches what is sent or stored
    assert all(b"AIza-test" not in (o.value or b"") for o in sent)


@pytest.mark.parametrize("failure", sorted(set(FAILURES) - {"timeout"}))
def test_no_failure_ever_becomes_a_deletion_in_the_loop(api, failure):
    api.route("/yt/commentThreads", fixture("youtube/commentThreads.json"))
    api.route("/yt/comments", FAILURES[failure])
    clock, sent = Clock(), []
    poller = make(api, clock, sent)
    run_for(poller, clock, 24 * 9)
    assert {e.event_type for e in events(sent)} == {EventType.CREATED}


def test_failures_between_definitive_checks_still_need_two_agreeing_ones(api):
    api.route("/yt/commentThreads", fixture("youtube/commentThreads.json"))
    missing = fixture("youtube/comments_one_missing.json")
    everything = fixture("youtube/comments_all.json")
    # missing, a failure, present again, failures, missing: never two agreeing in a row
    api.route("/yt/comments", missing, FAILURES["503"], everything, FAILURES["429"], missing, everything, everything)
    clock, sent = Clock(), []
    poller = make(api, clock, sent)
    run_for(poller, clock, 24 * 9)
    assert EventType.DELETED not in {e.event_type for e in events(sent)}


def _as_records(sent: list[Outgoing]) -> list[Record]:
    return [Record(o.topic, 0, i, o.key, o.value) for i, o in enumerate(sent) if o.topic == "ingest.poll_state"]


def test_a_restart_neither_re_emits_nor_forgets(api):
    api.route("/yt/commentThreads", fixture("youtube/commentThreads.json"))
    api.route("/yt/comments", fixture("youtube/comments_one_missing.json"))
    clock, sent = Clock(), []
    first = make(api, clock, sent)
    run_for(first, clock, 2, timedelta(minutes=20))  # polls and a first (unconfirmed) gone check
    before = {k: e.to_json() for k, e in first.watch.entries["acme-yt"].items()}
    assert before["youtube:UgzThreadB"]["pending"] == "gone"
    n_created = len([e for e in events(sent) if e.event_type is EventType.CREATED])

    watch = WatchList()
    later, sent2 = [], []
    second = make(api, clock, sent2, watch)
    second.restore(restore(_as_records(sent), watch))
    assert {k: e.to_json() for k, e in watch.entries["acme-yt"].items()} == before
    assert second.sources["acme-yt"].quota.used == first.sources["acme-yt"].quota.used
    run_for(second, clock, 24 * 9)
    later = events(sent2)
    assert not [e for e in later if e.event_type is EventType.CREATED]  # nothing re-emitted
    assert [e.mention_id for e in later if e.event_type is EventType.DELETED] == ["youtube:UgzThreadB"]
    assert n_created == 3


def test_quota_stops_calls_before_it_is_spent(api):
    api.route("/yt/commentThreads", fixture("youtube/commentThreads.json"))
    api.route("/yt/comments", fixture("youtube/comments_all.json"))
    clock, sent = Clock(), []
    poller = make(api, clock, sent)
    src = poller.sources["acme-yt"]
    src.quota.daily = 5
    run_for(poller, clock, 50, timedelta(minutes=10))  # 50 polls wanted within one Pacific day
    assert len(api.requests) == 5
    stored = [json.loads(o.value) for o in sent if o.key == b"c\x1facme-yt"]
    assert stored[-1]["cursor"]["quota"]["used"] == 5


def test_a_source_off_the_brands_file_is_a_config_error():
    spec = SourceSpec(name="x", kind="vk", group_id=999, post_id=1, credential_env="T")
    with pytest.raises(ConfigError, match="not an owned channel"):
        bind(spec, BRANDS, {"T": "token"})
    with pytest.raises(ConfigError, match="credential"):
        bind(SourceSpec(name="y", kind="vk", group_id=123, post_id=1, credential_env="T"), BRANDS, {})


def test_the_recheck_schedule_is_a_setting_and_must_increase():
    watch = PollSettings(poll_recheck_after="2s, 1m,7d", poll_confirm_after="20s").watch_list()
    assert watch.schedule == (timedelta(seconds=2), timedelta(minutes=1), timedelta(days=7))
    assert watch.confirm_after == timedelta(seconds=20)
    assert PollSettings().watch_list().schedule[0] == timedelta(minutes=10)
    for bad in ({"poll_recheck_after": "1h,10m"}, {"poll_recheck_after": ""}, {"poll_confirm_after": "0s"}):
        with pytest.raises(ConfigError, match="REPWATCH_POLL_RECHECK_AFTER"):
            PollSettings(**bad).watch_list()
