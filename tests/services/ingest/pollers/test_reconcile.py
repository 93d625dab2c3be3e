"""The reconciliation rule, checked exhaustively with generated histories of lookups.

Rule: a mention is reported deleted/hidden (or restored) only after two successful,
definitive checks agreeing on the new state, each in a round whose control read was
present, with no definitive check in between saying otherwise; failures never count.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.pollers import FAILURE_REASONS, PRESENT, Check, Seen, Verdict
from services.ingest.reconcile import Entry, State, WatchList
from shared.schemas import Actor, EventType, Platform

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
SCHEDULE = tuple(timedelta(hours=h) for h in range(1, 200))


def seen(mid: str, brand_author: bool = False) -> Seen:
    return Seen(Platform.YOUTUBE, "acme", "youtube:UCacme", f"youtube:{mid}", mid, "youtube:UCx", brand_author, T0)


FAILED = st.sampled_from(sorted(FAILURE_REASONS)).map(lambda r: Check(Verdict.FAILED, r))
GONE = st.sampled_from([Check(Verdict.GONE, "not_found"), Check(Verdict.GONE, "removed")])
HIDDEN = st.just(Check(Verdict.HIDDEN, "hidden"))
SUBJECT = st.one_of(FAILED, GONE, HIDDEN, st.just(PRESENT))
CONTROL = st.one_of(FAILED, GONE, st.just(PRESENT), st.none())  # None: the control lookup was not made
ROUNDS = st.lists(st.tuples(CONTROL, SUBJECT), max_size=40)


def fresh() -> WatchList:
    w = WatchList(schedule=SCHEDULE, controls=1)
    w.admit("yt", [seen("ctrl", brand_author=True), seen("subj")], T0)
    return w


def oracle(rounds) -> list[State]:
    """What the rule says should be reported, computed independently of the implementation."""
    target = {Verdict.PRESENT: State.VISIBLE, Verdict.GONE: State.GONE, Verdict.HIDDEN: State.HIDDEN}
    state, pending, streak, out = State.VISIBLE, None, 0, []
    for control, subject in rounds:
        healthy = control is not None and control.verdict is Verdict.PRESENT
        if subject.verdict is Verdict.FAILED:
            continue
        t = target[subject.verdict]
        if t is state and (healthy or t is State.VISIBLE):
            pending, streak = None, 0
            continue
        if not healthy or t is state:
            continue
        streak = streak + 1 if pending is t else 1
        pending = t
        if streak >= 2:
            out.append(t)
            state, pending, streak = t, None, 0
    return out


def drive(rounds, restart_every: int = 0):
    w = fresh()
    now = T0
    reported = []
    for i, (control, subject) in enumerate(rounds):
        if restart_every and i % restart_every == 0:
            # a restart: everything comes back from the stored JSON
            stored = [Entry.to_json(e) for book in w.entries.values() for e in book.values()]
            w = WatchList(schedule=SCHEDULE, controls=1)
            w.restore(Entry.from_json(d) for d in stored)
        now = max(now, w.entries["yt"]["youtube:subj"].next_at)
        rnd = w.due("yt", now)
        assert rnd is not None and rnd.subjects == ("youtube:subj",) and rnd.controls == ("youtube:ctrl",)
        checks = {"youtube:subj": subject}
        if control is not None:
            checks["youtube:ctrl"] = control
        out = w.apply(rnd, checks, now)
        assert out.healthy == (control is not None and control.verdict is Verdict.PRESENT)
        reported.extend(out.events)
    return reported


@settings(max_examples=400, deadline=None)
@given(ROUNDS)
def test_reports_are_exactly_what_the_rule_allows(rounds):
    got = drive(rounds)
    expected = oracle(rounds)
    names = {State.GONE: EventType.DELETED, State.HIDDEN: EventType.HIDDEN, State.VISIBLE: EventType.RESTORED}
    assert [e.event_type for e in got] == [names[s] for s in expected]


@settings(max_examples=200, deadline=None)
@given(ROUNDS, st.integers(min_value=1, max_value=5))
def test_a_restart_changes_nothing(rounds, every):
    a = drive(rounds)
    b = drive(rounds, restart_every=every)
    assert [e.event_id for e in a] == [e.event_id for e in b]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(CONTROL, FAILED), max_size=40))
def test_failures_alone_never_report_anything(rounds):
    assert drive(rounds) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.one_of(FAILED, GONE, st.none()), SUBJECT), max_size=40))
def test_without_a_present_control_nothing_is_ever_removed(rounds):
    assert drive(rounds) == []


def test_two_agreeing_gone_checks_with_healthy_controls_report_one_deletion():
    got = drive([(PRESENT, Check(Verdict.GONE, "not_found"))] * 5)
    assert [e.event_type for e in got] == [EventType.DELETED]
    (e,) = got
    assert e.actor is None and e.mention_id == "youtube:subj" and e.brand == "acme"


def test_hidden_is_the_brands_act():
    (e,) = drive([(PRESENT, Check(Verdict.HIDDEN, "hidden"))] * 2)
    assert e.event_type is EventType.HIDDEN and e.actor is Actor.BRAND


def test_a_contradicting_check_resets_the_count():
    gone = Check(Verdict.GONE, "not_found")
    assert drive([(PRESENT, gone), (PRESENT, PRESENT), (PRESENT, gone)]) == []


def test_brand_comments_are_controls_not_subjects():
    w = fresh()
    assert not w.entries["yt"]["youtube:ctrl"].subject and w.entries["yt"]["youtube:ctrl"].control
    assert w.entries["yt"]["youtube:subj"].subject


def test_watch_list_is_bounded_and_entries_expire():
    w = WatchList(schedule=(timedelta(minutes=1),), controls=1, max_per_source=10)
    w.admit("yt", [seen(f"c{i}") for i in range(30)], T0)
    w.evict("yt", T0)
    assert len(w.entries["yt"]) <= 11  # the cap, plus the control
    rnd = w.due("yt", T0 + timedelta(minutes=2))
    assert rnd is not None
    out = w.apply(rnd, dict.fromkeys(rnd.lookups, PRESENT), T0 + timedelta(minutes=2))
    assert set(out.dropped) >= set(rnd.subjects) - set(rnd.controls)
