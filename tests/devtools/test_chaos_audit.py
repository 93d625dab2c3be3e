"""The chaos audit's incident rule: a re-fired incident is told apart from a new wave."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from devtools.chaos import audit_incidents
from shared.schemas import AlertKind, AlertStatus

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _alert(aid, seq, status, started_min, window_end_min, kind=AlertKind.NEGATIVITY_SPIKE):
    return SimpleNamespace(
        alert_id=aid,
        sequence=seq,
        status=status,
        kind=kind,
        brand="acme",
        channel="vk:club1",
        started_at=T0 + timedelta(minutes=started_min),
        window_end=T0 + timedelta(minutes=window_end_min),
    )


def test_a_new_wave_backdated_before_the_last_resolution_is_not_a_refire():
    alerts = [
        _alert("a", 1, AlertStatus.FIRING, 0, 5),
        _alert("a", 2, AlertStatus.RESOLVED, 0, 40),
        # a second wave detected at 50 min whose window (and onset) began at 35 min
        _alert("b", 1, AlertStatus.FIRING, 35, 50),
        _alert("b", 2, AlertStatus.RESOLVED, 35, 90),
    ]
    audit = audit_incidents(alerts)
    assert (audit.incidents, audit.never_resolved, audit.refired) == (2, 0, 0)


def test_a_second_alert_id_while_the_first_is_open_is_a_refire():
    alerts = [
        _alert("a", 1, AlertStatus.FIRING, 0, 5),
        _alert("b", 1, AlertStatus.FIRING, 1, 8),  # the same wave under another id: state was lost
        _alert("b", 2, AlertStatus.RESOLVED, 1, 40),
        _alert("a", 2, AlertStatus.RESOLVED, 0, 41),
    ]
    assert audit_incidents(alerts).refired == 1
    # an incident that never resolves counts against any later id of its kind and place
    open_forever = [_alert("a", 1, AlertStatus.FIRING, 0, 5), _alert("c", 1, AlertStatus.FIRING, 100, 120)]
    audit = audit_incidents(open_forever)
    assert audit.refired == 1 and audit.never_resolved == 2


def test_duplicates_and_order_do_not_matter_and_other_places_are_apart():
    alerts = [
        _alert("a", 2, AlertStatus.RESOLVED, 0, 40),
        _alert("a", 1, AlertStatus.FIRING, 0, 5),
        _alert("a", 1, AlertStatus.FIRING, 0, 5),
        _alert("x", 1, AlertStatus.FIRING, 1, 6, kind=AlertKind.VOLUME_SURGE),
        _alert("x", 2, AlertStatus.RESOLVED, 1, 30, kind=AlertKind.VOLUME_SURGE),
    ]
    audit = audit_incidents(alerts)
    assert (audit.incidents, audit.never_resolved, audit.refired) == (2, 0, 0)
