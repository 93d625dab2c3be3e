"""The life of one incident, shared by every detector: fire, escalate, calm, resolve.

An incident (an :class:`Episode`) has one deterministic ``alert_id`` from its
kind, brand, channel and the event time it started, so a replay or a
redelivered input can never make a second incident. A person is notified when
it fires, when it escalates (severity rises, or the measure the detector
reports grows by ``escalate_factor``), and when it resolves after the condition
has been absent for ``quiet``. A condition that returns within ``cooldown`` of
the resolution reopens the same incident instead of paging again under a new
id (flapping). Every alert of an incident carries the next ``sequence``.

Episodes are plain data: detectors keep them in their state and dump them with
:meth:`Episode.to_json`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.schemas import (
    Alert,
    AlertEvidence,
    AlertKind,
    AlertStatus,
    EvidenceMention,
    MentionEvent,
    Platform,
    Severity,
    alert_id,
)

SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class EpisodePolicy:
    #: the condition must be absent this long before the incident resolves
    quiet: timedelta = timedelta(minutes=15)
    #: a condition back within this long after resolution reopens the same incident
    cooldown: timedelta = timedelta(minutes=30)
    #: re-notify when the reported measure grew by this factor since the last notification
    escalate_factor: float = 2.0


@dataclass(slots=True)
class Episode:
    kind: AlertKind
    brand: str
    channel: str | None
    platform: Platform | None
    started_at: datetime
    severity: Severity
    #: sequence of the last alert emitted for this incident
    sequence: int = 0
    #: the measure (count, score) at the last notification
    level: float = 0.0
    #: since when the condition has not held (None while it holds)
    calm_since: datetime | None = None
    #: when it resolved; kept until the cooldown has passed
    resolved_at: datetime | None = None

    @property
    def alert_id(self) -> str:
        return alert_id(self.kind.value, self.brand, self.channel, self.started_at)

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "brand": self.brand,
            "channel": self.channel,
            "platform": self.platform.value if self.platform else None,
            "started_at": self.started_at.isoformat(),
            "severity": self.severity.value,
            "sequence": self.sequence,
            "level": self.level,
            "calm_since": self.calm_since.isoformat() if self.calm_since else None,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Episode:
        return cls(
            kind=AlertKind(d["kind"]),
            brand=d["brand"],
            channel=d["channel"],
            platform=Platform(d["platform"]) if d["platform"] else None,
            started_at=datetime.fromisoformat(d["started_at"]),
            severity=Severity(d["severity"]),
            sequence=int(d["sequence"]),
            level=float(d["level"]),
            calm_since=datetime.fromisoformat(d["calm_since"]) if d["calm_since"] else None,
            resolved_at=datetime.fromisoformat(d["resolved_at"]) if d["resolved_at"] else None,
        )


def trigger(
    episode: Episode | None,
    *,
    now: datetime,
    kind: AlertKind,
    brand: str,
    channel: str | None,
    platform: Platform | None,
    severity: Severity,
    level: float,
    policy: EpisodePolicy,
) -> tuple[Episode, AlertStatus | None]:
    """The condition holds at event time ``now``. Returns the episode and what to emit.

    FIRING for a new incident, UPDATED for an escalation or a reopening within the
    cooldown, None when nothing a person needs to hear about changed.
    """
    if episode is None or (episode.resolved_at is not None and now - episode.resolved_at >= policy.cooldown):
        return (
            Episode(kind, brand, channel, platform, started_at=now, severity=severity, level=level),
            AlertStatus.FIRING,
        )
    episode.calm_since = None
    if episode.resolved_at is not None:  # back within the cooldown: same incident, reopened
        episode.resolved_at = None
        episode.sequence += 1
        episode.severity = max(episode.severity, severity, key=SEVERITY_RANK.__getitem__)
        episode.level = level
        return episode, AlertStatus.UPDATED
    if SEVERITY_RANK[severity] > SEVERITY_RANK[episode.severity] or (
        level >= episode.level * policy.escalate_factor and level > episode.level
    ):
        episode.severity = max(episode.severity, severity, key=SEVERITY_RANK.__getitem__)
        episode.level = level
        episode.sequence += 1
        return episode, AlertStatus.UPDATED
    return episode, None


def calm(episode: Episode | None, *, now: datetime, policy: EpisodePolicy) -> AlertStatus | None:
    """The condition does not hold at ``now``: RESOLVED once it has stayed away for ``quiet``."""
    if episode is None or episode.resolved_at is not None:
        return None
    if episode.calm_since is None:
        episode.calm_since = now
    if now - episode.calm_since >= policy.quiet:
        episode.resolved_at = now
        episode.sequence += 1
        return AlertStatus.RESOLVED
    return None


def hold(episode: Episode) -> None:
    """The condition still holds, with nothing new to report: the quiet period starts again."""
    episode.calm_since = None


def resolve_now(episode: Episode, *, now: datetime) -> AlertStatus:
    """Resolve at once (e.g. every complaint of an SLA episode got its answer)."""
    episode.resolved_at = now
    episode.calm_since = episode.calm_since or now
    episode.sequence += 1
    return AlertStatus.RESOLVED


def forgettable(episode: Episode, *, now: datetime, policy: EpisodePolicy) -> bool:
    """A resolved episode past its cooldown can leave the state (keeps state bounded)."""
    return episode.resolved_at is not None and now - episode.resolved_at >= policy.cooldown


def to_alert(
    episode: Episode,
    status: AlertStatus,
    *,
    window_start: datetime,
    window_end: datetime,
    evidence: AlertEvidence,
    message: str,
) -> Alert:
    return Alert(
        alert_id=episode.alert_id,
        kind=episode.kind,
        brand=episode.brand,
        channel=episode.channel,
        platform=episode.platform,
        severity=episode.severity,
        status=status,
        sequence=episode.sequence,
        started_at=episode.started_at,
        window_start=window_start,
        window_end=window_end,
        evidence=evidence,
        message=message,
    )


def mention_evidence(m: MentionEvent, *, negative: float | None = None, role: str = "example") -> EvidenceMention:
    """An evidence entry for ``m`` (text cut to what fits a notification)."""
    return EvidenceMention(
        mention_id=m.mention_id,
        platform=m.platform,
        channel=m.channel,
        url=m.url,
        author_id=m.author_id,
        occurred_at=m.occurred_at,
        text=m.text[:500],
        negative=negative,
        role=role,
    )
