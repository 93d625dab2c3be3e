"""Pacing a stream of events in wall-clock time: a fixed rate, or event-time replay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime


class Pacer:
    """Says how long to wait before emitting the next event.

    ``rate`` caps events per second; ``speed`` replays event time that many
    times faster than it happened (1 = real time, 0 = as fast as possible).
    When both are set, the slower of the two wins.
    """

    def __init__(self, *, rate: float | None, speed: float | None, clock: Callable[[], float]) -> None:
        self._rate = rate if rate and rate > 0 else None
        self._speed = speed if speed and speed > 0 else None
        self._clock = clock
        self._wall_start: float | None = None
        self._event_start: datetime | None = None
        self._emitted = 0

    def delay_for(self, occurred_at: datetime) -> float:
        now = self._clock()
        if self._wall_start is None:
            self._wall_start, self._event_start = now, occurred_at
        assert self._event_start is not None
        due = self._wall_start
        if self._rate:
            due = max(due, self._wall_start + self._emitted / self._rate)
        if self._speed:
            due = max(due, self._wall_start + (occurred_at - self._event_start).total_seconds() / self._speed)
        self._emitted += 1
        return max(0.0, due - now)


class UntilDue:
    """Waits until each event's own time has come by the wall clock: a live stream dated around now.

    Events dated in the past (a backlog) go at once; later ones go when ``occurred_at``
    is reached, so event time and wall time agree as they do for a real source. Same
    interface as :class:`Pacer` (``delay_for``).
    """

    def __init__(self, *, now: Callable[[], datetime]) -> None:
        self._now = now

    def delay_for(self, occurred_at: datetime) -> float:
        return max(0.0, (occurred_at - self._now()).total_seconds())
