"""Delivery without blocking: one queue and its own worker threads per target.

A target is one receiver (or one chat of a Telegram receiver). A hanging or
failing target only ever holds its own threads; every other target goes on.
Per target:

- deliveries of one incident go out in order (the firing message before its
  resolution), whatever the concurrency; different incidents overtake each other;
- an attempt is bounded by the receiver's timeout; a retriable failure waits an
  exponential back-off with jitter, or exactly the receiver's own hint (Slack
  ``Retry-After``, Telegram ``retry_after``), which also pauses the whole target:
  that receiver said "not now" to all of our messages, not just one;
- rate limits (token buckets) are taken before each attempt;
- after ``max_tries`` attempts, or at once on a permanent failure, the delivery
  is given up (the processor dead-letters it with the reason);
- coalescing during a wave: an update still waiting is superseded by a newer
  update or the resolution of its incident, and an update that is not an
  escalation of severity waits until ``update_interval_s`` after the incident's
  last message, so a person gets the firing message, escalations, at most one
  count update per interval (with the latest counts), and the resolution.

The scheduling (:class:`TargetQueue`) is pure and takes ``now`` as an argument;
the clock, the wait and the jitter's random source are injected, so tests are
deterministic and never depend on timings.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from services.notifier.ledger import DeliveryKey, State
from services.notifier.receivers.base import Outcome, RenderContext, Target, Verdict
from services.notifier.routes import SEVERITY_RANK
from shared.schemas import Alert, AlertStatus

log = logging.getLogger(__name__)

#: status of an Alertmanager re-send of an open incident (not a notification: never in the ledger)
REFRESH = "refresh"


class RateLimit:
    """A token bucket: ``burst`` messages at once, then ``rate_per_s``. Not thread-safe on its own
    (the dispatcher holds its lock); one bucket may be shared by several targets (a bot's global limit)."""

    def __init__(self, rate_per_s: float, burst: float = 1.0) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._tokens = burst
        self._at: float | None = None

    def _refill(self, now: float) -> None:
        if self._at is not None and now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        if self._at is None or now > self._at:
            self._at = now

    def wait(self, now: float) -> float:
        """Seconds until a message may go (0: now)."""
        self._refill(now)
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self._tokens -= 1.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_s: float = 1.0
    max_s: float = 300.0
    #: a receiver's hint above this is capped (a broken proxy saying "retry in a day")
    max_hint_s: float = 3600.0

    def delay(self, attempts: int, hint_s: float | None, rng: random.Random) -> float:
        if hint_s is not None:
            return min(max(hint_s, 0.0), self.max_hint_s)
        # "equal jitter": at least half the exponential step, so retries spread out but never bunch at 0
        step = min(self.max_s, self.base_s * 2 ** (attempts - 1))
        return step * (0.5 + rng.random() / 2)


_seq = itertools.count()


@dataclass(slots=True)
class Delivery:
    key: DeliveryKey
    alert: Alert
    #: the alerts partition of the record it came from (the commit waits for it)
    partition: int
    #: False for Alertmanager re-sends: nothing to record, nothing waits for them
    ledgered: bool = True
    attempts: int = 0
    not_before: float = 0.0
    seq: int = field(default_factory=lambda: next(_seq))

    @property
    def alert_id(self) -> str:
        return self.key.alert_id


@dataclass(frozen=True, slots=True)
class Completion:
    delivery: Delivery
    state: State
    reason: str
    tries: int


class TargetQueue:
    """One target's pending deliveries and the decisions about them (pure: ``now`` comes in)."""

    def __init__(
        self,
        name: str,
        *,
        limits: list[RateLimit],
        policy: RetryPolicy,
        max_tries: int,
        rng: random.Random,
        update_interval_s: float = 0.0,
        max_queued: int = 10_000,
    ) -> None:
        self.name = name
        self.max_queued = max_queued
        self.limits = limits
        self.policy = policy
        self.max_tries = max_tries
        self.rng = rng
        self.update_interval_s = update_interval_s
        self.items: list[Delivery] = []  # by arrival (seq)
        self.in_flight: dict[DeliveryKey, Delivery] = {}
        self.blocked_until = 0.0
        #: alert_id -> (when its last notice went out, severity rank then), for coalescing
        self._notified: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.items) + len(self.in_flight)

    def busy_with(self, alert_id: str) -> bool:
        return any(d.alert_id == alert_id for d in self.items) or any(
            d.alert_id == alert_id for d in self.in_flight.values()
        )

    def submit(self, d: Delivery, now: float) -> list[Completion]:
        """Queue ``d``; returns the deliveries it supersedes (waiting updates of its incident)."""
        superseded: list[Completion] = []
        status = d.key.status
        if d.ledgered and status in (AlertStatus.UPDATED.value, AlertStatus.RESOLVED.value):
            keep = []
            for q in self.items:
                if q.ledgered and q.alert_id == d.alert_id and q.key.status == AlertStatus.UPDATED.value:
                    superseded.append(Completion(q, State.SUPERSEDED, "superseded", q.attempts))
                else:
                    keep.append(q)
            self.items = keep
        if d.ledgered and len(self.items) >= self.max_queued and self._failing(now):
            # Backpressure without blocking anyone else: a receiver that is failing (paused by
            # a retry hint, or its oldest waiting delivery already retried) and has queued this
            # many stops taking new work; each refused delivery is given up at once, so it is
            # dead-lettered with the alert (nothing lost) and its record's commit moves on.
            # Memory stays bounded however long the outage. A healthy receiver working through
            # a backlog (a restart after a pause) is never refused: it is only busy.
            superseded.append(Completion(d, State.GIVEN_UP, "queue_full", 0))
            return superseded
        if d.ledgered and status == AlertStatus.UPDATED.value and self.update_interval_s > 0:
            last = self._notified.get(d.alert_id)
            if last is not None and SEVERITY_RANK[d.alert.severity] <= last[1]:
                d.not_before = max(d.not_before, last[0] + self.update_interval_s)
        bisect.insort(self.items, d, key=lambda x: x.seq)
        return superseded

    def _failing(self, now: float) -> bool:
        return now < self.blocked_until or (bool(self.items) and self.items[0].attempts > 0)

    def next_ready(self, now: float) -> tuple[Delivery | None, float | None]:
        """The delivery to attempt now (taken out of the queue), or how long to wait (None: until told)."""
        if now < self.blocked_until:
            return None, self.blocked_until - now
        waiting_incidents = {d.alert_id for d in self.in_flight.values()}
        soonest: float | None = None
        for d in self.items:
            if d.alert_id in waiting_incidents:
                continue  # an earlier message of this incident is on its way or waiting
            waiting_incidents.add(d.alert_id)
            if d.not_before > now:
                soonest = d.not_before - now if soonest is None else min(soonest, d.not_before - now)
                continue
            wait = max((lim.wait(now) for lim in self.limits), default=0.0)
            if wait > 0:
                return None, wait if soonest is None else min(wait, soonest)
            for lim in self.limits:
                lim.take(now)
            self.items.remove(d)
            self.in_flight[d.key] = d
            return d, None
        return None, soonest

    def finish(self, d: Delivery, outcome: Outcome, now: float) -> Completion | None:
        """Account for one attempt: a Completion when the delivery is over, None when it was re-queued."""
        self.in_flight.pop(d.key, None)
        d.attempts += 1
        if outcome.verdict is Verdict.OK:
            if d.key.status == AlertStatus.RESOLVED.value:
                self._notified.pop(d.alert_id, None)
            elif d.ledgered:
                self._notified[d.alert_id] = (now, SEVERITY_RANK[d.alert.severity])
                self._notified.move_to_end(d.alert_id)
                while len(self._notified) > 100_000:
                    self._notified.popitem(last=False)
            return Completion(d, State.DELIVERED, "ok", d.attempts)
        if outcome.verdict is Verdict.FAIL or d.attempts >= (self.max_tries if d.ledgered else 1):
            return Completion(d, State.GIVEN_UP, outcome.reason, d.attempts)
        delay = self.policy.delay(d.attempts, outcome.retry_after_s, self.rng)
        if outcome.retry_after_s is not None:
            self.blocked_until = max(self.blocked_until, now + delay)
        d.not_before = now + delay
        bisect.insort(self.items, d, key=lambda x: x.seq)
        return None

    def cancel(self, partitions: set[int]) -> list[Delivery]:
        gone = [d for d in self.items if d.partition in partitions]
        self.items = [d for d in self.items if d.partition not in partitions]
        return gone


@dataclass(slots=True)
class TargetSpec:
    target: Target
    limits: list[RateLimit] = field(default_factory=list)
    concurrency: int = 1
    max_tries: int = 8


Waiter = Callable[[threading.Condition, float | None], None]


def _real_wait(cond: threading.Condition, timeout: float | None) -> None:
    cond.wait(timeout)


class Dispatcher:
    """Threads around the target queues. ``on_done`` is called (from a worker thread) once per
    finished delivery, superseded ones included; it must be quick and thread-safe."""

    def __init__(
        self,
        specs: dict[str, TargetSpec],
        on_done: Callable[[Completion], None],
        context_for: Callable[[Alert, Target], RenderContext],
        *,
        policy: RetryPolicy | None = None,
        update_interval_s: float = 120.0,
        max_queued: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        wait: Waiter = _real_wait,
        rng: random.Random | None = None,
        metrics: object | None = None,
    ) -> None:
        self._specs = specs
        self._on_done = on_done
        self._context_for = context_for
        self._clock = clock
        self._wait = wait
        self._metrics = metrics
        rng = rng or random.Random()
        self._cond = threading.Condition()
        self._queues = {
            name: TargetQueue(
                name,
                limits=spec.limits,
                policy=policy or RetryPolicy(),
                max_tries=spec.max_tries,
                rng=random.Random(rng.random()),
                update_interval_s=update_interval_s,
                max_queued=max_queued,
            )
            for name, spec in specs.items()
        }
        self._threads: list[threading.Thread] = []
        self._stopping = False

    @property
    def targets(self) -> dict[str, Target]:
        return {name: spec.target for name, spec in self._specs.items()}

    def start(self) -> Dispatcher:
        for name, spec in self._specs.items():
            for i in range(spec.concurrency):
                # daemon: a receiver hanging past its timeout must not keep the process alive at exit
                t = threading.Thread(target=self._run, args=(name,), name=f"notify-{name}-{i}", daemon=True)
                t.start()
                self._threads.append(t)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Let attempts in flight finish (up to ``timeout_s``); what is still queued is dropped:
        its records were not committed, so it is delivered after a restart."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout_s
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def submit(self, d: Delivery) -> None:
        self.submit_all([d])

    def submit_all(self, deliveries: list[Delivery]) -> None:
        """Queue a batch's deliveries under one lock and one wake-up: per delivery, the lock
        round trip and waking every sender thread cost more than the queueing itself."""
        if not deliveries:
            return
        superseded: list[Completion] = []
        with self._cond:
            now = self._clock()
            for d in deliveries:
                superseded.extend(self._queues[d.key.target].submit(d, now))
            self._cond.notify_all()
        for c in superseded:
            self._done(c)

    def submit_refresh(self, d: Delivery) -> bool:
        """An Alertmanager re-send, unless a message of that incident is already queued there."""
        with self._cond:
            q = self._queues[d.key.target]
            if q.busy_with(d.alert_id):
                return False
            q.submit(d, self._clock())
            self._cond.notify_all()
        return True

    def cancel_partitions(self, partitions: set[int]) -> list[Delivery]:
        """Drop queued (not in-flight) deliveries of partitions this worker no longer owns."""
        with self._cond:
            return [d for q in self._queues.values() for d in q.cancel(partitions)]

    def depth(self) -> dict[str, int]:
        with self._cond:
            return {name: len(q) for name, q in self._queues.items()}

    def _run(self, name: str) -> None:
        q = self._queues[name]
        target = self._specs[name].target
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    d, wait = q.next_ready(self._clock())
                    if d is not None:
                        break
                    self._wait(self._cond, wait)
            outcome = self._attempt(target, d)
            with self._cond:
                done = q.finish(d, outcome, self._clock())
                self._cond.notify_all()
            if self._metrics is not None:
                self._metrics.attempt(target.receiver, outcome)  # type: ignore[attr-defined]
            if done is not None:
                self._done(done)

    def _attempt(self, target: Target, d: Delivery) -> Outcome:
        try:
            ctx = self._context_for(d.alert, target)
            return target.deliver(d.alert, d.key.id, ctx)
        except Exception:  # noqa: BLE001 - a bug in one receiver must not kill its thread
            log.exception("%s: delivering %s raised; retrying", target.name, d.key)
            return Outcome.retry("receiver_error")

    def _done(self, c: Completion) -> None:
        try:
            self._on_done(c)
        except Exception:  # noqa: BLE001
            log.exception("completion handler failed for %s", c.delivery.key)
