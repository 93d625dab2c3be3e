from datetime import timedelta

from services.ingest.pacing import Pacer, UntilDue
from tests.factories import T0


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_unpaced_never_waits():
    p = Pacer(rate=None, speed=0, clock=FakeClock())
    assert [p.delay_for(T0 + timedelta(hours=i)) for i in range(3)] == [0, 0, 0]


def test_rate_spaces_events_evenly():
    clock = FakeClock()
    p = Pacer(rate=4, speed=None, clock=clock)
    assert [p.delay_for(T0) for _ in range(3)] == [0, 0.25, 0.5]
    clock.now += 0.5
    assert p.delay_for(T0) == 0.25


def test_speed_replays_event_time_faster():
    clock = FakeClock()
    p = Pacer(rate=None, speed=10, clock=clock)
    assert p.delay_for(T0) == 0
    assert p.delay_for(T0 + timedelta(seconds=20)) == 2.0
    clock.now += 3
    assert p.delay_for(T0 + timedelta(seconds=20)) == 0


def test_slower_of_rate_and_speed_wins():
    p = Pacer(rate=1, speed=100, clock=FakeClock())
    p.delay_for(T0)
    assert p.delay_for(T0 + timedelta(seconds=1)) == 1.0


def test_until_due_sends_the_past_at_once_and_the_future_when_its_time_comes():
    now = [T0]
    p = UntilDue(now=lambda: now[0])
    assert p.delay_for(T0 - timedelta(minutes=15)) == 0  # a backlog goes out at once
    assert p.delay_for(T0) == 0
    assert p.delay_for(T0 + timedelta(seconds=90)) == 90
    now[0] = T0 + timedelta(seconds=60)
    assert p.delay_for(T0 + timedelta(seconds=90)) == 30
