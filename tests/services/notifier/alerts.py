"""Alerts for the notifier tests (one place, so schema changes touch one file)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.schemas import Alert, AlertEvidence, EvidenceMention
from tests.factories import T0


def alert(
    status: str = "firing",
    sequence: int = 0,
    *,
    kind: str = "unanswered_complaint",
    severity: str = "warning",
    brand: str = "acme",
    channel: str | None = "vk:club_acme",
    alert_id: str = "a" * 32,
    mentions: int = 2,
    message: str = "3 complaints on vk:club_acme have waited longer than the 60 min SLA.",
    **evidence: Any,
) -> Alert:
    ms = [
        EvidenceMention(
            mention_id=f"m{i}",
            platform="vk",
            channel=channel or "vk:wall",
            url=f"https://vk.com/wall-1_{i}",
            author_id=f"u{i}",
            occurred_at=T0 + timedelta(minutes=i),
            text=f"Where is my refund <b>#{i}</b> & why?",
            negative=0.9,
            role="unanswered",
        )
        for i in range(mentions)
    ]
    ev = {"counts": {"overdue": 3}, "mentions": ms, "observed": 3.0, "expected": 0.0, "score": 75.0}
    ev.update(evidence)
    return Alert(
        alert_id=alert_id,
        kind=kind,
        brand=brand,
        channel=channel,
        platform="vk" if channel else None,
        severity=severity,
        status=status,
        sequence=sequence,
        started_at=T0,
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
        evidence=AlertEvidence(**ev),
        message=message,
    )
