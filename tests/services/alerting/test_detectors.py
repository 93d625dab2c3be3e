from datetime import timedelta

from services.alerting.detectors import NegativitySpikeConfig, NegativitySpikeDetector
from shared.schemas import AlertStatus, Severity
from tests.factories import T0, mention, scored


def feed(detector, events):
    alerts = []
    for e in events:
        alerts.extend(detector.observe(e))
    return alerts


def negatives(n, start=0, step_s=10, brand="acme", **kw):
    return [
        scored(mention(start + i, at=T0 + timedelta(seconds=(start + i) * step_s), brand=brand, **kw)) for i in range(n)
    ]


def make(threshold=5, window_min=5):
    return NegativitySpikeDetector(NegativitySpikeConfig(window=timedelta(minutes=window_min), threshold=threshold))


def test_fires_once_at_threshold():
    d = make()
    alerts = feed(d, negatives(4))
    assert alerts == []
    alerts = feed(d, negatives(1, start=4))
    assert [a.status for a in alerts] == [AlertStatus.FIRING]
    a = alerts[0]
    assert a.brand == "acme" and a.kind == "negativity_spike" and a.severity is Severity.WARNING
    assert a.evidence.counts["negative_in_window"] == 5
    assert a.evidence.mention_ids == [f"m{i}" for i in range(5)]
    assert "5 negative mentions" in a.message
    assert feed(d, negatives(1, start=5)) == []  # no re-fire while the episode lasts


def test_updates_when_the_count_doubles_and_escalates_then_resolves_with_same_id():
    d = make()
    alerts = feed(d, negatives(25, step_s=5))
    assert [(a.status, a.evidence.counts["negative_in_window"]) for a in alerts] == [
        (AlertStatus.FIRING, 5),
        (AlertStatus.UPDATED, 10),
        (AlertStatus.UPDATED, 20),
    ]
    assert alerts[0].severity is Severity.WARNING and alerts[1].severity is Severity.CRITICAL
    # much later, one neutral event moves event time past the window
    later = scored(mention(500, at=T0 + timedelta(minutes=30)), label="neutral")
    resolved = d.observe(later)
    assert [a.status for a in resolved] == [AlertStatus.RESOLVED]
    assert {a.alert_id for a in alerts + resolved} == {alerts[0].alert_id}


def test_not_negative_brand_replies_and_lifecycle_events_do_not_count():
    d = make(threshold=3)
    events = [
        scored(mention(1), label="positive"),
        scored(mention(2), label="neutral"),
        scored(mention(3, author_is_brand=True)),
        scored(mention(4, event_type="deleted", text=""), label=None),
        scored(mention(5, event_type="hidden", text=""), label=None),
    ]
    assert feed(d, events) == []


def test_redelivered_and_edited_mentions_count_once():
    d = make(threshold=3)
    e = scored(mention(1))
    edit = scored(mention(1, event_type="edited", text="even angrier", at=T0 + timedelta(seconds=30)))
    assert feed(d, [e, e, edit, e]) == []


def test_window_slides_in_event_time_not_arrival():
    d = make(threshold=3, window_min=1)
    # three negatives 50 s apart never share a 1-minute window
    events = [scored(mention(i, at=T0 + timedelta(seconds=50 * i))) for i in range(3)]
    assert feed(d, events) == []


def test_brands_are_independent():
    d = make(threshold=3)
    alerts = feed(d, negatives(2, brand="acme") + negatives(2, start=10, brand="globex"))
    assert alerts == []
    alerts = feed(d, negatives(1, start=20, brand="globex"))
    assert [a.brand for a in alerts] == ["globex"]


def test_too_late_events_are_ignored():
    d = make(threshold=2, window_min=1)
    d.observe(scored(mention(1, at=T0 + timedelta(minutes=10)), label="neutral"))
    old = [scored(mention(i, at=T0 + timedelta(seconds=i))) for i in range(2, 6)]
    assert feed(d, old) == []


def test_advance_resolves_a_brand_that_went_quiet():
    d = make(threshold=3)
    assert feed(d, negatives(3))[0].status is AlertStatus.FIRING
    alerts = d.advance(T0 + timedelta(hours=1))
    assert [a.status for a in alerts] == [AlertStatus.RESOLVED]
    assert d.active_count() == 0


def test_replay_gives_identical_alerts():
    events = negatives(12) + [scored(mention(99, at=T0 + timedelta(hours=1)), label="neutral")]
    assert feed(make(), events) == feed(make(), events)
