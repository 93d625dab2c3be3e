"""The alerting worker's domain step: scored events in, alerts and state snapshots out.

The engine (shared with ``repwatch backtest``) does the detecting; this class
adds what a Kafka consumer needs around it: decoding and dead letters, per
partition ownership (restore a brand's state before its partition's first
record, drop it when the partition moves), snapshots of every brand a batch
touched (see ``state_store``), skipping events a restored snapshot already
covers, the idle policy, and rollback of a call that raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry

from services.alerting.engine import AlertEngine, FutureEvent, IdlePolicy
from services.alerting.state_store import encode_state, latest_per_brand
from shared import metric_defs as M
from shared.kafka.transport import BatchResult, Outgoing, PartitionEvent, Record, dead_letter, decode_or_dead_letter
from shared.schemas import Alert, EventType, ScoredMention

log = logging.getLogger(__name__)

ChangelogReader = Callable[[list[int]], list[Record]]
#: (partition, start, end) -> the input records start <= offset < end
RangeReader = Callable[[int, int, int], list[Record]]


_CREATED, _DELETED, _HIDDEN = EventType.CREATED, EventType.DELETED, EventType.HIDDEN


class AlertingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.observed = M.MENTIONS_OBSERVED.create(registry)
        self.mentions = M.MENTIONS.create(registry)
        self.removed = M.MENTIONS_REMOVED.create(registry)
        self.alerts = M.ALERTS.create(registry)
        self.active = M.ALERTS_ACTIVE.create(registry)
        self.reply = M.REPLY_SECONDS.create(registry)
        self.skipped = M.ALERTING_REPLAYED_SKIPPED.create(registry)
        self.restore_seconds = M.ALERTING_RESTORE_SECONDS.create(registry)
        self.brands = M.ALERTING_BRANDS.create(registry)
        self.watermark_lag = M.ALERTING_WATERMARK_LAG.create(registry)


class AlertingProcessor:
    def __init__(
        self,
        engine: AlertEngine,
        *,
        alerts_topic: str,
        state_topic: str,
        worker: str,
        registry: CollectorRegistry,
        max_record_bytes: int,
        read_changelog: ChangelogReader,
        read_range: RangeReader,
        scored_topic: str,
        idle: IdlePolicy,
        idle_every_s: float = 10.0,
        snapshot_every_s: float = 5.0,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        import time

        self._engine = engine
        self._alerts_topic = alerts_topic
        self._state_topic = state_topic
        self._worker = worker
        self._max_bytes = max_record_bytes
        self._read_changelog = read_changelog
        self._read_range = read_range
        self._scored_topic = scored_topic
        self._snapshot_every_s = snapshot_every_s
        self._idle = idle
        self._idle_every_s = idle_every_s
        self._monotonic = monotonic or time.monotonic
        self._next_idle = 0.0
        self.metrics = AlertingMetrics(registry)
        #: brands with a label value of their own; the rest are counted as M.UNLISTED_BRAND
        self._listed = engine.listed_brands
        #: brand -> input partition it lives on
        self._partition: dict[str, int] = {}
        #: brand -> last input offset folded into its state (snapshots cover up to here)
        self._offset: dict[str, int] = {}
        #: brand -> first input offset folded into its state since its last snapshot;
        #: the partition's commit is held at the smallest of these (see committable)
        self._dirty_since: dict[str, int] = {}
        #: brand -> monotonic time it became dirty (snapshots at most every snapshot_every_s)
        self._dirty_at: dict[str, float] = {}
        #: partition -> first offset of the call in progress (where a rollback's replay ends)
        self._call_start: dict[int, int] = {}
        #: brand -> monotonic time of its last event (the idle policy leaves busy brands alone)
        self._last_seen: dict[str, float] = {}
        #: brand -> (its _last_seen, its clock then): where the idle policy paces a quiet brand
        #: from (kept apart because an idle move changes the clock but is not an arrival)
        self._heard: dict[str, tuple[float, datetime | None]] = {}
        #: brands changed by the call in progress (what rollback restores)
        self._dirty: set[str] = set()
        self._outside_calls_at = 0.0

    # --- records ---------------------------------------------------------------------------------------------

    def __call__(self, records: list[Record]) -> BatchResult:
        result = BatchResult()
        alerted: set[str] = set()
        seen: dict[str, int] = {}
        #: (brand, platform, lang, label) -> new mentions; (brand, platform, event_type, actor) -> removals
        mentions: dict[tuple[str, str, str, str], int] = {}
        removed: dict[tuple[str, str, str, str], int] = {}
        now = self._monotonic()
        self._call_start = {}
        for r in records:
            self._call_start.setdefault(r.partition, r.offset)
            event = decode_or_dead_letter(
                ScoredMention, r, worker=self._worker, max_bytes=self._max_bytes, dead_letters=result.dead_letters
            )
            if event is None:
                continue
            brand = event.mention.brand
            if r.offset <= self._offset.get(brand, -1) and self._partition.get(brand) == r.partition:
                # already folded into this brand's state: a redelivery after a rejoin, or a
                # replay the restored snapshot covers. Counting it again would double it.
                self.metrics.skipped.inc()
                continue
            self._dirty.add(brand)
            try:
                alerts = self._engine.process(event)
            except FutureEvent as exc:
                result.dead_letters.append(dead_letter(r, exc.reason, exc.detail, self._worker))
                continue
            sentiment = event.sentiment
            label = sentiment.label.value if sentiment else "none"
            seen[label] = seen.get(label, 0) + 1
            m = event.mention
            et = m.event_type
            if et is _CREATED:
                if not m.author_is_brand:
                    lang = M.lang_label((sentiment.lang if sentiment else None) or m.lang)
                    key = (brand, m.platform.value, lang, label)
                    mentions[key] = mentions.get(key, 0) + 1
            elif et is _DELETED or et is _HIDDEN:
                actor = m.actor.value if m.actor is not None else "unknown"
                key = (brand, m.platform.value, et.value, actor)
                removed[key] = removed.get(key, 0) + 1
            self._fold(brand, r, now)
            if alerts:
                alerted.add(brand)
                self._publish(alerts, result)
        # one counter update per label and batch: labels() per event cost as much as a detector
        for label, n in seen.items():
            self.metrics.observed.labels(label).inc(n)
        # brands become label values here, once per key and batch, not per event
        for (brand, *rest), n in mentions.items():
            self.metrics.mentions.labels(self._brand_label(brand), *rest).inc(n)
        for (brand, *rest), n in removed.items():
            self.metrics.removed.labels(self._brand_label(brand), *rest).inc(n)
        self._snapshot(alerted | self._due(now), result)
        self._after_batch()
        self._dirty.clear()
        return result

    def _brand_label(self, brand: str) -> str:
        return brand if brand in self._listed else M.UNLISTED_BRAND

    def _fold(self, brand: str, r: Record, now: float) -> None:
        self._partition[brand] = r.partition
        self._offset[brand] = r.offset
        self._last_seen[brand] = now
        if brand not in self._dirty_since:
            self._dirty_since[brand] = r.offset
            self._dirty_at[brand] = now

    def _due(self, now: float) -> set[str]:
        """Dirty brands whose last snapshot is older than snapshot_every_s."""
        return {b for b, at in self._dirty_at.items() if now - at >= self._snapshot_every_s}

    def committable(self, consumed: dict) -> dict:
        """Offsets that may be committed: a partition's commit stays at the first
        event of its brands that no snapshot holds yet, so a crash replays them."""
        held: dict[int, int] = {}
        for brand, since in self._dirty_since.items():
            p = self._partition.get(brand)
            if p is not None and since < held.get(p, since + 1):
                held[p] = since
        return {tp: min(end, held.get(tp.partition, end)) for tp, end in consumed.items()}

    def _publish(self, alerts: list[Alert], result: BatchResult) -> None:
        for alert in alerts:
            log.warning(
                "ALERT %s [%s/%s] %s", alert.status.value.upper(), alert.kind.value, alert.severity.value, alert.message
            )
            self.metrics.alerts.labels(
                self._brand_label(alert.brand), alert.kind.value, alert.severity.value, alert.status.value
            ).inc()
            result.outputs.append(Outgoing(self._alerts_topic, alert.brand.encode("utf-8"), alert.to_bytes()))

    def _snapshot(self, brands: set[str], result: BatchResult) -> None:
        # A snapshot goes out before the offsets it covers are committed (committable
        # holds them back until then), with the same batch's alerts when it has any.
        for brand in sorted(brands):
            if brand not in self._partition:
                continue
            part = self._partition[brand]
            out = encode_state(
                self._state_topic, brand, part, self._offset.get(brand, -1), self._engine.snapshot(brand)
            )
            result.outputs.append(Outgoing(out.topic, out.key, out.value, partition=part))
            self._dirty_since.pop(brand, None)
            self._dirty_at.pop(brand, None)

    def _after_batch(self) -> None:
        for kind, n in self._engine.active_counts().items():
            self.metrics.active.labels(kind.value).set(n)
        replies: dict[str, list[float]] = {}
        for brand, name, value in self._engine.take_measurements_by_brand():
            if name == "reply_seconds":
                replies.setdefault(self._brand_label(brand), []).append(value)
        for label, values in replies.items():
            child = self.metrics.reply.labels(label)
            for value in values:
                child.observe(value)
        self.metrics.brands.set(len(self._partition))

    def rollback(self) -> None:
        """Undo a call that raised half-way, so the batch retried record by record
        counts each event once: the brands it touched go back to their last snapshot
        and the events since that snapshot, up to this call, are replayed from Kafka
        (their alerts were published already, so the replay's alerts are dropped)."""
        dirty, self._dirty = self._dirty, set()
        if not dirty:
            return
        by_part: dict[int, set[str]] = {}
        for brand in dirty:
            p = self._partition.get(brand)
            if p is not None:
                by_part.setdefault(p, set()).add(brand)
        stored = latest_per_brand(self._read_changelog(sorted(by_part)))
        for brand in sorted(dirty):
            # the first event folded since the state was last snapshotted or started afresh
            since = self._dirty_since.get(brand)
            self._engine.forget(brand)
            self._offset.pop(brand, None)
            st = stored.get(brand)
            if st is not None:
                try:
                    self._engine.restore(brand, st.snapshot)
                    self._offset[brand] = st.offset
                    continue
                except ValueError as exc:
                    # a snapshot this version refuses (an upgrade): the state was started afresh
                    # when the partition was assigned, so it is rebuilt the same way
                    log.error("state of brand %r could not be restored (%s); rebuilt from its events", brand, exc)
                    self._engine.forget(brand)
            if since is not None:
                # no usable snapshot: the state holds exactly the events from `since` on, so the
                # replay starts there (not at the partition's first offset)
                self._offset[brand] = since - 1
        for part, brands in by_part.items():
            end = self._call_start.get(part)
            if end is None:
                continue
            start = min(self._offset.get(b, -1) for b in brands) + 1
            for r in self._read_range(part, start, end):
                event = decode_or_dead_letter(
                    ScoredMention, r, worker=self._worker, max_bytes=self._max_bytes, dead_letters=[]
                )
                if event is None or event.mention.brand not in brands:
                    continue
                if r.offset <= self._offset.get(event.mention.brand, -1):
                    continue
                try:
                    self._engine.process(event)
                except FutureEvent:
                    continue
                self._offset[event.mention.brand] = r.offset

    # --- ownership -------------------------------------------------------------------------------------------

    def on_partitions(self, event: PartitionEvent) -> BatchResult:
        parts = sorted(tp.partition for tp in event.partitions)
        if event.kind in ("revoked", "lost"):
            gone = [b for b, p in self._partition.items() if p in parts]
            for brand in gone:
                self._forget(brand)
            log.info("dropped the state of %d brands of partitions %s (%s)", len(gone), parts, event.kind)
            self.metrics.brands.set(len(self._partition))
            return BatchResult()
        started = self._monotonic()
        stored = latest_per_brand(self._read_changelog(parts))
        for brand, st in stored.items():
            try:
                self._engine.restore(brand, st.snapshot)
            except ValueError as exc:
                log.error("state of brand %r could not be restored (%s); it starts afresh", brand, exc)
                continue
            self._partition[brand] = st.partition
            self._offset[brand] = st.offset
            # heard from at restore, with the snapshot's clock: the idle policy paces it from
            # there, as if its last event had just arrived (a restart mid-backlog is a pause too)
            self._last_seen[brand] = started
        took = self._monotonic() - started
        self.metrics.restore_seconds.observe(took)
        self.metrics.brands.set(len(self._partition))
        log.info("restored the state of %d brands of partitions %s in %.2fs", len(stored), parts, took)
        self._after_batch()
        return BatchResult()

    def _forget(self, brand: str) -> None:
        self._engine.forget(brand)
        for d in (self._partition, self._offset, self._last_seen, self._heard, self._dirty_since, self._dirty_at):
            d.pop(brand, None)

    # --- time ------------------------------------------------------------------------------------------------

    def on_idle(self, wall_now: datetime, caught_up: frozenset) -> BatchResult:
        """The idle policy: quiet brands on caught-up partitions move to wall time - delay.

        A partition still delivering a backlog is left alone: its brands' events
        are on their way, and moving their clocks would expire windows they are
        about to fill.
        """
        now = self._monotonic()
        result = BatchResult()
        if now < self._next_idle:
            # no records for a while: snapshots that are due still go out, so the
            # held-back commit can move on
            self._snapshot(self._due(now), result)
            return result
        self._next_idle = now + self._idle_every_s
        ready = {tp.partition for tp in caught_up}
        quiet_after = self._idle.delay.total_seconds()
        moved: set[str] = set()
        oldest: datetime | None = None
        for brand, part in self._partition.items():
            if part not in ready:
                continue
            mark = self._engine.watermark(brand)
            if mark is not None and (oldest is None or mark < oldest):
                oldest = mark
            seen_at = self._last_seen.get(brand, 0.0)
            quiet = now - seen_at
            if quiet < quiet_after:
                continue
            heard = self._heard.get(brand)
            if heard is None or heard[0] != seen_at:
                # the first idle look since its last event: its clock is still where that event left it
                heard = self._heard[brand] = (seen_at, mark)
            target = self._idle.target(wall_now, heard[1], timedelta(seconds=quiet))
            if mark is not None and mark >= target:
                continue
            self._dirty.add(brand)
            alerts = self._engine.advance(brand, target)
            if alerts:
                moved.add(brand)
                self._publish(alerts, result)
        if oldest is not None:
            self.metrics.watermark_lag.set(max(0.0, (wall_now - oldest).total_seconds()))
        self._snapshot(moved | self._due(now), result)
        self._after_batch()
        self._dirty.clear()
        return result
