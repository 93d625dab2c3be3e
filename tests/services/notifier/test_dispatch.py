"""The per-target scheduler, on a clock the test moves: no threads, no sleeping, no timings."""

from __future__ import annotations

import random

from services.notifier.dispatch import Delivery, RateLimit, RetryPolicy, TargetQueue
from services.notifier.ledger import DeliveryKey, State
from services.notifier.receivers.base import Outcome
from tests.services.notifier.alerts import alert


def queue(**kw) -> TargetQueue:
    opts = {"limits": [], "policy": RetryPolicy(1.0, 60.0), "max_tries": 4, "rng": random.Random(1)}
    opts.update(kw)
    return TargetQueue("t", **opts)


def delivery(status="firing", seq=0, aid="a", severity="warning") -> Delivery:
    a = alert(status, seq, alert_id=aid * 32, severity=severity)
    return Delivery(DeliveryKey(a.alert_id, status, seq, "t"), a, partition=0)


def test_one_incident_in_order_others_overtake():
    q = queue()
    f, r, other = delivery(), delivery("resolved", 1), delivery(aid="b")
    for d in (f, r, other):
        q.submit(d, 0.0)
    first, _ = q.next_ready(0.0)
    second, _ = q.next_ready(0.0)
    assert (first, second) == (f, other)  # the resolution waits for its firing message
    assert q.next_ready(0.0) == (None, None)
    assert q.finish(f, Outcome.retry("timeout"), 0.0) is None  # back-off: r still waits behind it
    d, wait = q.next_ready(0.1)
    assert d is None and 0.4 < wait <= 1.0
    again, _ = q.next_ready(1.0)
    assert again is f
    assert q.finish(f, Outcome.ok(), 1.0).state is State.DELIVERED
    assert q.next_ready(1.0)[0] is r


def test_backoff_grows_with_jitter_and_gives_up_after_max_tries():
    q = queue()
    d = delivery()
    q.submit(d, 0.0)
    now, waits = 0.0, []
    for _ in range(3):
        got, _ = q.next_ready(now)
        assert got is d
        assert q.finish(d, Outcome.retry("http_503"), now) is None
        waits.append(d.not_before - now)
        now = d.not_before
    assert [round(w, 3) for w in waits] == [round(w, 3) for w in _expected_waits()]
    assert 0.5 <= waits[0] <= 1 and 1 <= waits[1] <= 2 and 2 <= waits[2] <= 4
    q.next_ready(now)
    done = q.finish(d, Outcome.retry("http_503"), now)
    assert (done.state, done.reason, done.tries) == (State.GIVEN_UP, "http_503", 4)


def _expected_waits() -> list[float]:
    rng = random.Random(1)
    return [step * (0.5 + rng.random() / 2) for step in (1, 2, 4)]


def test_permanent_failure_gives_up_at_once():
    q = queue()
    d = delivery()
    q.submit(d, 0.0)
    q.next_ready(0.0)
    assert q.finish(d, Outcome.fail("http_400"), 0.0).state is State.GIVEN_UP


def test_a_retry_hint_is_honoured_exactly_and_pauses_the_whole_target():
    q = queue()
    a, b = delivery(aid="a"), delivery(aid="b")
    q.submit(a, 0.0)
    q.submit(b, 0.0)
    got, _ = q.next_ready(0.0)
    assert got is a
    q.finish(a, Outcome.retry("http_429", 30.0), 0.0)
    assert q.next_ready(29.9)[0] is None  # b too: the receiver said "not now" to all of us
    assert q.next_ready(30.0)[0] is a


def test_rate_limit_spaces_messages():
    q = queue(limits=[RateLimit(1.0, 1)])
    for aid in "abc":
        q.submit(delivery(aid=aid), 0.0)
    sent = []
    now = 0.0
    while len(sent) < 3:
        d, wait = q.next_ready(now)
        if d is None:
            now += wait
            continue
        sent.append(now)
        q.finish(d, Outcome.ok(), now)
    assert sent == [0.0, 1.0, 2.0]


def test_group_limit_of_20_a_minute():
    lim = RateLimit(20 / 60, 20)
    times, now = [], 0.0
    while len(times) < 25:
        w = lim.wait(now)
        if w:
            now += w
            continue
        lim.take(now)
        times.append(now)
    assert times[19] == 0.0 and round(times[20], 6) == 3.0 and round(times[24], 6) == 15.0


def test_waiting_updates_are_superseded_and_count_updates_are_held_to_the_interval():
    q = queue(update_interval_s=120.0)
    f = delivery()
    q.submit(f, 0.0)
    q.next_ready(0.0)
    q.finish(f, Outcome.ok(), 0.0)
    u1 = delivery("updated", 1)
    assert q.submit(u1, 10.0) == []
    assert u1.not_before == 120.0  # a count change: at most one update per interval
    u2 = delivery("updated", 2)
    (gone,) = q.submit(u2, 60.0)
    assert (gone.delivery, gone.state) == (u1, State.SUPERSEDED)
    assert q.next_ready(60.0) == (None, 60.0)
    escalation = delivery("updated", 3, severity="critical")
    (gone,) = q.submit(escalation, 70.0)
    assert gone.delivery is u2
    assert q.next_ready(70.0)[0] is escalation  # severity rose: at once
    q.finish(escalation, Outcome.ok(), 70.0)
    u4 = delivery("updated", 4, severity="critical")
    q.submit(u4, 80.0)
    resolved = delivery("resolved", 5)
    (gone,) = q.submit(resolved, 90.0)
    assert gone.delivery is u4
    assert q.next_ready(90.0)[0] is resolved  # the resolution is never held


def test_cancel_drops_queued_deliveries_of_given_partitions():
    q = queue()
    d1, d2 = delivery(aid="a"), delivery(aid="b")
    d2.partition = 3
    q.submit(d1, 0.0)
    q.submit(d2, 0.0)
    assert q.cancel({3}) == [d2]
    assert len(q) == 1


def test_a_full_queue_of_a_failing_receiver_gives_new_deliveries_up_a_busy_one_takes_them():
    q = queue(max_queued=3)
    held = [delivery(aid=c) for c in "abc"]
    for d in held:
        assert q.submit(d, 0.0) == []
    # healthy and busy (a backlog after a restart): over the cap, still queued
    assert q.submit(delivery(aid="d"), 0.0) == []
    # the receiver fails: its oldest delivery goes back to the queue for a retry
    first, _ = q.next_ready(0.0)
    assert q.finish(first, Outcome.retry("timeout"), 0.0) is None
    refused = delivery(aid="e")
    (done,) = q.submit(refused, 0.1)
    assert (done.delivery, done.state, done.reason, done.tries) == (refused, State.GIVEN_UP, "queue_full", 0)
    assert [d.alert_id[0] for d in q.items] == ["a", "b", "c", "d"]  # nothing already queued is dropped
