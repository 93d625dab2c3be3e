"""Detectors: pure functions of the scored-event stream and their own state.

A detector never reads the clock and never talks to Kafka. Time is event time
(``mention.occurred_at``); a detector only moves forward when events (or an
explicit :meth:`Detector.advance`) tell it time has passed. That makes every
detector replayable: feed it the same events, get the same alerts, same ids.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from shared.schemas import (
    Alert,
    AlertEvidence,
    AlertStatus,
    EventType,
    ScoredMention,
    SentimentLabel,
    Severity,
    alert_id,
)


class Detector(Protocol):
    """What the alerting worker needs from any detector."""

    kind: str

    def observe(self, event: ScoredMention) -> list[Alert]:
        """Take one event (in partition order) and return the alerts it causes."""
        ...

    def advance(self, until: datetime) -> list[Alert]:
        """Event time has reached ``until`` (seen on another brand): expire state, maybe resolve."""
        ...


@dataclass(frozen=True)
class NegativitySpikeConfig:
    #: sliding event-time window
    window: timedelta = timedelta(minutes=5)
    #: negatives in the window that make an alert fire
    threshold: int = 10
    #: the alert resolves when the window holds fewer than this (hysteresis, so a
    #: count hovering at the threshold does not flap); default threshold // 2
    resolve_below: int | None = None
    #: events older than the brand's newest event minus window + this are ignored
    allowed_lateness: timedelta = timedelta(minutes=1)
    #: how many mention ids an alert carries as evidence
    max_evidence: int = 20

    @property
    def resolve_threshold(self) -> int:
        return self.resolve_below if self.resolve_below is not None else max(1, self.threshold // 2)


@dataclass
class _Episode:
    start: datetime
    last_reported: int
    severity: Severity


@dataclass
class _BrandWindow:
    # (occurred_at, mention_id) sorted by time; mention ids dedupe redeliveries and edits
    items: list[tuple[datetime, str]] = field(default_factory=list)
    channels: dict[str, str] = field(default_factory=dict)  # mention_id -> channel
    ids: set[str] = field(default_factory=set)
    watermark: datetime | None = None
    episode: _Episode | None = None


class NegativitySpikeDetector:
    """Per brand: negative mentions in a sliding event-time window over a threshold.

    Fires once when the count reaches the threshold, sends an ``updated`` alert
    each time the count doubles since the last report (so a huge wave makes a
    handful of updates, not hundreds; severity escalates to critical at twice
    the threshold), and resolves when the count drops below the resolve
    threshold. Brand replies never count.
    """

    kind = "negativity_spike"

    def __init__(self, config: NegativitySpikeConfig | None = None) -> None:
        self.config = config or NegativitySpikeConfig()
        self._brands: dict[str, _BrandWindow] = {}

    def observe(self, event: ScoredMention) -> list[Alert]:
        m = event.mention
        state = self._brands.setdefault(m.brand, _BrandWindow())
        ts = m.occurred_at
        if state.watermark is None or ts > state.watermark:
            state.watermark = ts
        if (
            event.sentiment is not None
            and event.sentiment.label is SentimentLabel.NEGATIVE
            and m.event_type in (EventType.CREATED, EventType.EDITED)
            and not m.author_is_brand
            and m.mention_id not in state.ids
            and ts >= state.watermark - self.config.window - self.config.allowed_lateness
        ):
            bisect.insort(state.items, (ts, m.mention_id))
            state.ids.add(m.mention_id)
            state.channels[m.mention_id] = m.channel
        return self._evaluate(m.brand, state)

    def advance(self, until: datetime) -> list[Alert]:
        alerts: list[Alert] = []
        for brand, state in self._brands.items():
            if state.watermark is None or until > state.watermark:
                state.watermark = until
                alerts.extend(self._evaluate(brand, state))
        return alerts

    def active_count(self) -> int:
        return sum(1 for s in self._brands.values() if s.episode is not None)

    def _expire(self, state: _BrandWindow) -> None:
        assert state.watermark is not None
        horizon = state.watermark - self.config.window
        cut = 0
        while cut < len(state.items) and state.items[cut][0] <= horizon:
            cut += 1
        for _, mid in state.items[:cut]:
            state.ids.discard(mid)
            state.channels.pop(mid, None)
        del state.items[:cut]

    def _evaluate(self, brand: str, state: _BrandWindow) -> list[Alert]:
        self._expire(state)
        cfg = self.config
        count = len(state.items)
        ep = state.episode
        if ep is None:
            if count >= cfg.threshold:
                severity = Severity.CRITICAL if count >= 2 * cfg.threshold else Severity.WARNING
                state.episode = _Episode(start=state.items[0][0], last_reported=count, severity=severity)
                return [self._alert(brand, state, AlertStatus.FIRING)]
            return []
        if count < cfg.resolve_threshold:
            alert = self._alert(brand, state, AlertStatus.RESOLVED)
            state.episode = None
            return [alert]
        if count >= 2 * ep.last_reported:
            ep.last_reported = count
            if count >= 2 * cfg.threshold:
                ep.severity = Severity.CRITICAL
            return [self._alert(brand, state, AlertStatus.UPDATED)]
        return []

    def _alert(self, brand: str, state: _BrandWindow, status: AlertStatus) -> Alert:
        ep = state.episode
        assert ep is not None and state.watermark is not None
        cfg = self.config
        count = len(state.items)
        by_channel = Counter(state.channels[mid] for _, mid in state.items)
        minutes = cfg.window.total_seconds() / 60
        if status is AlertStatus.RESOLVED:
            message = (
                f"{brand}: negativity back to normal — {count} negative mentions in the last "
                f"{minutes:g} min (resolves below {cfg.resolve_threshold})"
            )
        else:
            top = ", ".join(f"{ch} ({n})" for ch, n in by_channel.most_common(3))
            message = (
                f"{brand}: {count} negative mentions in {minutes:g} min (threshold {cfg.threshold}); most in {top}"
            )
        counts = {"negative_in_window": count, "threshold": cfg.threshold}
        counts.update({f"channel:{ch}": n for ch, n in by_channel.most_common(10)})
        return Alert(
            alert_id=alert_id(self.kind, brand, None, ep.start),
            kind=self.kind,
            brand=brand,
            channel=None,
            severity=ep.severity if status is not AlertStatus.RESOLVED else Severity.INFO,
            status=status,
            window_start=state.watermark - cfg.window,
            window_end=state.watermark,
            evidence=AlertEvidence(
                mention_ids=[mid for _, mid in state.items[-cfg.max_evidence :]],
                counts=counts,
            ),
            message=message,
        )
