"""The alerting worker's domain step: scored events in, alerts out."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.alerting.detectors import Detector
from shared.kafka.transport import BatchResult, ConsumerRecord, Outgoing, dead_letter
from shared.schemas import Alert, InvalidRecord, ScoredMention, decode

log = logging.getLogger(__name__)


class AlertingProcessor:
    """Feed every scored event to every detector, publish what they raise.

    After a batch, detectors are told the newest event time seen on any brand,
    so an alert for a brand that went quiet still resolves.
    """

    def __init__(
        self,
        detectors: Sequence[Detector],
        alerts_topic: str,
        worker: str,
        registry: CollectorRegistry,
        max_record_bytes: int,
    ) -> None:
        self._detectors = list(detectors)
        self._topic = alerts_topic
        self._worker = worker
        self._max_bytes = max_record_bytes
        self._observed = Counter(
            "repwatch_mentions_observed_total",
            "Scored events seen by the alerting worker, by sentiment label ('none' for lifecycle events)",
            ["label"],
            registry=registry,
        )
        self._alerts = Counter(
            "repwatch_alerts_total", "Alerts published", ["kind", "severity", "status"], registry=registry
        )
        self._active = Gauge("repwatch_alerts_active", "Alerts firing now", ["kind"], registry=registry)

    def __call__(self, records: list[ConsumerRecord]) -> BatchResult:
        result = BatchResult()
        newest = None
        for r in records:
            try:
                event = decode(ScoredMention, r.value, max_bytes=self._max_bytes)
            except InvalidRecord as exc:
                result.dead_letters.append(dead_letter(r, exc.reason, exc.detail, self._worker))
                continue
            self._observed.labels(event.sentiment.label.value if event.sentiment else "none").inc()
            ts = event.mention.occurred_at
            newest = ts if newest is None or ts > newest else newest
            for detector in self._detectors:
                self._publish(detector.observe(event), result)
        if newest is not None:
            for detector in self._detectors:
                self._publish(detector.advance(newest), result)
        for detector in self._detectors:
            count = getattr(detector, "active_count", None)
            if count is not None:
                self._active.labels(detector.kind).set(count())
        return result

    def _publish(self, alerts: list[Alert], result: BatchResult) -> None:
        for alert in alerts:
            log.warning(
                "ALERT %s [%s/%s] %s", alert.status.value.upper(), alert.kind, alert.severity.value, alert.message
            )
            self._alerts.labels(alert.kind, alert.severity.value, alert.status.value).inc()
            result.outputs.append(Outgoing(self._topic, alert.brand.encode("utf-8"), alert.to_bytes()))
