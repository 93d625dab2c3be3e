"""The notifier worker's domain step: alerts in, deliveries handed to the dispatcher,
ledger entries and dead letters out, commits held until each alert's deliveries are over.

Per alert record: its receivers come from the routes; a delivery whose key
(alert_id, status, sequence, target) is in the ledger is skipped (a replay or a
redelivery: the person already has it); a key already on its way is joined, not
sent again; the rest go to the dispatcher's queues. The record's offset may be
committed only when every delivery it waits for is delivered, given up or
superseded AND that fact was handed to Kafka in a ledger entry: completions
arrive from the dispatcher's threads into a queue, and only the main thread,
when it turns them into outputs, lets their records go (``committable``). The
transport produces those outputs and waits for Kafka before it commits, so a
crash at any point replays exactly the deliveries the ledger does not hold.

What cannot be made exactly-once: a delivery that reached the receiver but whose
ledger entry did not reach Kafka (a SIGKILL in between) is sent again after the
restart. Webhooks carry a stable ``webhook-id`` and e-mails a stable Message-ID
for that case, and Alertmanager deduplicates by labels itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry

from services.notifier.dispatch import REFRESH, Completion, Delivery, Dispatcher
from services.notifier.ledger import DeliveryKey, Ledger, State
from services.notifier.receivers.base import Outcome, RenderContext, Target, Verdict
from services.notifier.render import language_of
from services.notifier.routes import ResolvedRoutes
from services.notifier.targets import Plan
from shared import metric_defs as M
from shared.brands import BrandsFile
from shared.kafka.transport import BatchResult, PartitionEvent, Record, dead_letter, decode_or_dead_letter
from shared.schemas import Alert, AlertStatus

log = logging.getLogger(__name__)

ChangelogReader = Callable[[list[int]], list[Record]]


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = M.NOTIFIER_DELIVERIES.create(registry)
        self.attempts = M.NOTIFIER_ATTEMPTS.create(registry)
        self.duplicates = M.NOTIFIER_DUPLICATES_SKIPPED.create(registry)
        self.unrouted = M.NOTIFIER_UNROUTED.create(registry)
        self.latency = M.NOTIFIER_DELIVERY_LATENCY.create(registry)
        self.queued = M.NOTIFIER_QUEUED.create(registry)
        self.ledger_entries = M.NOTIFIER_LEDGER_ENTRIES.create(registry)

    def attempt(self, receiver: str, outcome: Outcome) -> None:
        self.attempts.labels(receiver, outcome.verdict.value, outcome.reason).inc()


@dataclass(slots=True)
class _Pending:
    record: Record
    waiting: set[DeliveryKey] = field(default_factory=set)


class NotifierProcessor:
    #: how often the transport calls on_idle, which turns finished deliveries into ledger
    #: entries when no records arrive: a delivery whose entry is not in Kafka yet is the one
    #: a crash repeats, so this (with the poll timeout) bounds that window
    idle_interval_s = 0.05

    def __init__(
        self,
        routes: ResolvedRoutes,
        plan: Plan,
        brands: BrandsFile,
        ledger: Ledger,
        *,
        worker: str,
        registry: CollectorRegistry,
        max_record_bytes: int,
        read_ledger: ChangelogReader,
        dispatcher_options: dict | None = None,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self._routes = routes
        self._plan = plan
        self._brands = brands
        self._ledger = ledger
        self._worker = worker
        self._max_bytes = max_record_bytes
        self._read_ledger = read_ledger
        self._wall = wall
        self._monotonic = monotonic
        self._stop_timeout_s = stop_timeout_s
        self.metrics = NotifierMetrics(registry)
        self._lock = threading.Lock()
        self._completed: list[Completion] = []
        #: (partition, offset) -> what that alert record still waits for
        self._pending: dict[tuple[int, int], _Pending] = {}
        #: delivery -> the records waiting for it (a redelivered record joins the first)
        self._waiters: dict[DeliveryKey, list[tuple[int, int]]] = {}
        #: (target, alert_id) -> monotonic time of the last Alertmanager (re-)send
        self._refreshed: dict[tuple[str, str], float] = {}
        self._next_expiry = 0.0
        self.dispatcher = Dispatcher(
            plan.specs, self._on_done, self._context_for, metrics=self.metrics, **(dispatcher_options or {})
        )

    def start(self) -> NotifierProcessor:
        self.dispatcher.start()
        return self

    # --- called from dispatcher threads ----------------------------------------------------------------------

    def _on_done(self, c: Completion) -> None:
        with self._lock:
            self._completed.append(c)

    def _context_for(self, alert: Alert, target: Target) -> RenderContext:
        brand = self._brands.brand(alert.brand)
        cfg = self._routes.file.receivers[target.receiver]
        return RenderContext(
            lang=language_of(cfg.language or brand.language), tz=brand.timezone, now=datetime.now(timezone.utc)
        )

    # --- records ---------------------------------------------------------------------------------------------

    def __call__(self, records: list[Record]) -> BatchResult:
        result = self._drain()
        batch: list[Delivery] = []
        try:
            for r in records:
                alert = decode_or_dead_letter(
                    Alert, r, worker=self._worker, max_bytes=self._max_bytes, dead_letters=result.dead_letters
                )
                if alert is None:
                    continue
                self._route(r, alert, batch)
        finally:
            # even if a record raised: what was routed is awaited (_waiters), so it must be queued
            self.dispatcher.submit_all(batch)
        return result

    def _route(self, r: Record, alert: Alert, batch: list[Delivery]) -> None:
        receivers = self._routes.receivers_for(alert)
        if not receivers:
            self.metrics.unrouted.inc()
            return
        pk = (r.partition, r.offset)
        for receiver in receivers:
            for target in self._plan.targets_of[receiver]:
                key = DeliveryKey(alert.alert_id, alert.status.value, alert.sequence, target)
                if self._ledger.done(key):
                    self.metrics.duplicates.labels(receiver).inc()
                    continue
                pending = self._pending.setdefault(pk, _Pending(r))
                pending.waiting.add(key)
                if key in self._waiters:
                    # the same notification is already on its way (a redelivery): wait for it too
                    self.metrics.duplicates.labels(receiver).inc()
                    self._waiters[key].append(pk)
                    continue
                self._waiters[key] = [pk]
                batch.append(Delivery(key, alert, r.partition))

    def _drain(self) -> BatchResult:
        """Turn finished deliveries into ledger entries and dead letters, releasing their records."""
        with self._lock:
            done, self._completed = self._completed, []
        result = BatchResult()
        now = self._wall()
        for c in done:
            d = c.delivery
            target = self._plan.specs[d.key.target].target
            if not d.ledgered:
                continue  # an Alertmanager re-send: nothing to record
            result.outputs.extend(self._ledger.record(d.key, c.state, now, d.partition, c.reason))
            self.metrics.deliveries.labels(target.receiver, c.state.value).inc()
            waiters = self._waiters.pop(d.key, [])
            if c.state is State.DELIVERED:
                # per delivery, so debug: at a thousand a second an info line each would be the log
                log.debug("delivered %s (%d tries)", d.key, c.tries)
                first = self._pending.get(waiters[0]) if waiters else None
                stamp_ms = first.record.timestamp_ms if first is not None else -1
                if stamp_ms > 0:
                    self.metrics.latency.labels(target.receiver).observe(max(0.0, now - stamp_ms / 1000))
                if d.key.target in self._plan.resend_every_s:
                    result.outputs.extend(self._track_open(d))
            elif c.state is State.GIVEN_UP:
                log.warning("gave up delivering %s after %d tries: %s", d.key, c.tries, c.reason)
                source = next((self._pending[pk].record for pk in waiters if pk in self._pending), None)
                if source is not None:
                    error = (
                        f"receiver {target.receiver} ({target.kind}) target {d.key.target}: {c.reason} after "
                        f"{c.tries} tries; alert {d.alert_id} {d.key.status}#{d.key.sequence}"
                    )
                    result.dead_letters.append(dead_letter(source, "delivery_failed", error, self._worker))
            for pk in waiters:
                p = self._pending.get(pk)
                if p is None:
                    continue
                p.waiting.discard(d.key)
                if not p.waiting:
                    del self._pending[pk]
        return result

    def _track_open(self, d: Delivery) -> list:
        target, aid = d.key.target, d.alert_id
        if d.alert.status is AlertStatus.RESOLVED:
            self._refreshed.pop((target, aid), None)
            return self._ledger.close(target, aid)
        self._refreshed[(target, aid)] = self._monotonic()
        return self._ledger.open(target, d.alert, d.partition, self._wall())

    def committable(self, consumed: dict) -> dict:
        """A partition's commit stays at its first alert record with a delivery not yet in the ledger."""
        held: dict[int, int] = {}
        for part, offset in self._pending:
            if offset < held.get(part, offset + 1):
                held[part] = offset
        return {tp: min(end, held.get(tp.partition, end)) for tp, end in consumed.items()}

    # --- time ------------------------------------------------------------------------------------------------

    def on_idle(self, wall_now: datetime, caught_up: frozenset) -> BatchResult:
        result = self._drain()
        now = self._monotonic()
        for inc in self._ledger.open_incidents():
            every = self._plan.resend_every_s.get(inc.target)
            if every is None:
                continue
            last = self._refreshed.setdefault((inc.target, inc.alert.alert_id), now)
            if now - last >= every:
                key = DeliveryKey(inc.alert.alert_id, REFRESH, inc.alert.sequence, inc.target)
                if self.dispatcher.submit_refresh(Delivery(key, inc.alert, inc.partition, ledgered=False)):
                    self._refreshed[(inc.target, inc.alert.alert_id)] = now
        if now >= self._next_expiry:
            self._next_expiry = now + 60.0
            result.outputs.extend(self._ledger.expire(self._wall()))
        for name, n in self.dispatcher.depth().items():
            self.metrics.queued.labels(self._plan.specs[name].target.receiver).set(n)
        self.metrics.ledger_entries.set(len(self._ledger))
        return result

    # --- ownership -------------------------------------------------------------------------------------------

    def on_partitions(self, event: PartitionEvent) -> BatchResult:
        parts = sorted(tp.partition for tp in event.partitions)
        if event.kind in ("revoked", "lost"):
            # queued deliveries of those partitions are the new owner's now: it replays them
            # from the group's commit; attempts in flight finish and are recorded here
            dropped = self.dispatcher.cancel_partitions(set(parts))
            for d in dropped:
                self._waiters.pop(d.key, None)
            for pk in [pk for pk in self._pending if pk[0] in parts]:
                del self._pending[pk]
            self._ledger.forget_partitions(parts)
            self._refreshed = {k: v for k, v in self._refreshed.items() if self._is_open(k)}
            log.info("handed over partitions %s (%s): %d queued deliveries dropped", parts, event.kind, len(dropped))
            return self._drain()
        started = self._monotonic()
        n = self._ledger.load(self._read_ledger(parts), self._wall())
        for inc in self._ledger.open_incidents():
            # an Alertmanager target ends the old label set when an escalation changes it
            spec = self._plan.specs.get(inc.target)
            remember = getattr(spec.target, "remember", None) if spec is not None else None
            if remember is not None:
                remember(inc.alert)
        log.info("restored the ledger of partitions %s (%d entries) in %.2fs", parts, n, self._monotonic() - started)
        self.metrics.ledger_entries.set(len(self._ledger))
        return BatchResult()

    def _is_open(self, key: tuple[str, str]) -> bool:
        return any((i.target, i.alert.alert_id) == key for i in self._ledger.open_incidents())

    def on_stop(self) -> BatchResult:
        """Let attempts in flight finish and record them, so a clean restart repeats nothing."""
        self.dispatcher.stop(self._stop_timeout_s)
        return self._drain()


def send_test(plan: Plan, routes: ResolvedRoutes, route_name: str) -> dict[str, Outcome]:
    """``repwatch notify-test --route NAME``: one test message to each target of the route, at once,
    no queue, no ledger. Returns each target's outcome."""
    from services.notifier import render
    from services.notifier.receivers.alertmanager import AlertmanagerTarget
    from services.notifier.receivers.email import EmailTarget, notice_message
    from services.notifier.receivers.slack import SlackTarget
    from services.notifier.receivers.telegram import TelegramTarget
    from services.notifier.receivers.webhook import WebhookTarget
    from shared.schemas import AlertEvidence, AlertKind, Severity

    route = routes.file.route(route_name)
    if route is None:
        raise KeyError(route_name)
    now = datetime.now(timezone.utc)
    alert = Alert(
        alert_id="repwatch-test",
        kind=AlertKind.SILENT_COMMUNITY,
        brand="repwatch",
        severity=Severity.INFO,
        status=AlertStatus.RESOLVED,
        sequence=0,
        started_at=now,
        window_start=now,
        window_end=now,
        evidence=AlertEvidence(),
        message=render.LABELS["en"]["test"],
    )
    out: dict[str, Outcome] = {}
    for receiver in route.receivers:
        lang = language_of(routes.file.receivers[receiver].language)
        n = render.check_notice(route_name, lang)
        ctx = RenderContext(lang, "UTC", now)
        for name in plan.targets_of[receiver]:
            t = plan.specs[name].target
            if isinstance(t, TelegramTarget):
                out[name] = t.send_text(render.telegram_html(n))
            elif isinstance(t, SlackTarget):
                out[name] = t.send_payload(render.slack_payload(n))
            elif isinstance(t, EmailTarget):
                out[name] = t.send(notice_message(n, t.cfg, ctx))
            elif isinstance(t, AlertmanagerTarget | WebhookTarget):
                # a resolved test alert: Alertmanager shows nothing firing; a webhook gets a message
                out[name] = t.deliver(alert, f"msg_test_{int(now.timestamp())}", ctx)
            else:  # pragma: no cover
                out[name] = Outcome(Verdict.FAIL, "unknown_target")
    return out
