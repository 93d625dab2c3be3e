from __future__ import annotations

from services.notifier.ledger import DeliveryKey, Ledger, State
from shared.kafka.transport import Outgoing, Record
from tests.services.notifier.alerts import alert

K = DeliveryKey("a" * 32, "firing", 0, "tg/-100")


def as_records(outs: list[Outgoing]) -> list[Record]:
    return [Record(o.topic, o.partition or 0, i, o.key, o.value) for i, o in enumerate(outs)]


def test_entries_survive_a_restart_through_the_topic_records():
    led = Ledger("notifier.ledger")
    out = led.record(K, State.DELIVERED, 1000.0, 2)
    out += led.record(DeliveryKey("b" * 32, "resolved", 3, "ops"), State.GIVEN_UP, 1001.0, 1, "http_400")
    assert [o.partition for o in out] == [2, 1]
    fresh = Ledger("notifier.ledger")
    assert fresh.load(as_records(out), now=1002.0) == 2
    assert fresh.done(K)
    assert fresh.get(DeliveryKey("b" * 32, "resolved", 3, "ops")).reason == "http_400"
    # given up: nobody saw it, so a re-published alert (from its dead letter) is sent again
    assert not fresh.done(DeliveryKey("b" * 32, "resolved", 3, "ops"))
    assert not fresh.done(DeliveryKey("a" * 32, "updated", 1, "tg/-100"))


def test_ttl_and_cap_bound_it_with_tombstones():
    led = Ledger("l", ttl_s=100, max_entries=2)
    led.record(K, State.DELIVERED, 0.0, 0)
    led.record(DeliveryKey("x", "firing", 0, "t"), State.DELIVERED, 50.0, 0)
    out = led.record(DeliveryKey("y", "firing", 0, "t"), State.DELIVERED, 60.0, 1)
    assert out[-1].key == K.encode() and out[-1].value is None  # the oldest evicted
    tombs = led.expire(now=155.0)
    assert [t.key for t in tombs] == [DeliveryKey("x", "firing", 0, "t").encode()]
    assert len(led) == 1
    # restoring: a tombstone after an entry removes it, expired entries are not loaded
    replay = as_records(led.record(K, State.DELIVERED, 150.0, 0) + [Outgoing("l", K.encode(), None, 0)])
    old = as_records(Ledger("l").record(DeliveryKey("z", "firing", 0, "t"), State.DELIVERED, 0.0, 0))
    fresh = Ledger("l", ttl_s=100)
    fresh.load(old + replay, now=160.0)
    assert len(fresh) == 0


def test_open_incidents_round_trip_and_forgetting_partitions():
    led = Ledger("l")
    a = alert()
    out = led.open("ops", a, 4, 10.0)
    fresh = Ledger("l")
    fresh.load(as_records(out), now=11.0)
    (inc,) = fresh.open_incidents()
    assert inc.alert == a and inc.target == "ops"
    closing = fresh.close("ops", a.alert_id)
    assert closing[0].value is None and not fresh.open_incidents()
    led.record(K, State.DELIVERED, 1.0, 4)
    led.forget_partitions([4])
    assert not led.done(K) and not led.open_incidents()


def test_unreadable_records_are_skipped():
    led = Ledger("l")
    bad = [Record("l", 0, 0, b"d\x1fa\x1ffiring\x1f0\x1ft", b"{not json"), Record("l", 0, 1, b"zzz", b"{}")]
    assert led.load(bad + as_records(Ledger("l").record(K, State.DELIVERED, 1.0, 0)), now=2.0) == 1
