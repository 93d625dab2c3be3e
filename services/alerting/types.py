"""Interfaces of the alerting domain, apart from their implementations.

A detector is pure: config and logic live in the detector object, its per-brand
state is a separate plain object that the detector can dump to JSON and load
back (versioned, bounded by TTLs and caps). The engine owns time and brands:
it keeps one watermark per brand (a brand's events are in order on its
partition, so lateness is never judged against another brand's clock), drops
future-dated events, and hands each detector the brand's state to work on.
Snapshot and restore are therefore generic: the engine dumps every detector's
state of a brand into one JSON document.

Nothing here reads the wall clock or talks to Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from shared.brands import BrandConfig
from shared.schemas import Actor, Alert, AlertKind, MentionEvent, Platform, ScoredMention

S = TypeVar("S")


class DetectorSettings(BaseModel):
    """Base of every detector's settings: validated, immutable, unknown keys refused.

    The same model validates the defaults, the brands file's per-brand overrides
    (``detectors: {name: {...}}``) and ``repwatch backtest --set name.key=value``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: a detector can be switched off per brand
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class BrandView:
    """What a detector may know about the brand an event belongs to."""

    name: str
    config: BrandConfig
    #: channels (platform, channel) the brand was seen posting or replying in
    active_channels: frozenset[tuple[str, str]] = frozenset()

    def owns(self, platform: Platform | str, channel: str) -> bool:
        """Listed in the brands file, or a channel where the brand itself posts."""
        return self.config.owns(platform, channel) or (str(platform), channel) in self.active_channels


@dataclass(frozen=True, slots=True)
class Observation:
    """One scored event as detectors see it, with the engine's judgements attached."""

    event: ScoredMention
    #: complaint-grade negativity by the engine's rule (label, or P(negative) threshold)
    negative: bool
    #: the channel is owned by the brand (see BrandView.owns)
    owned: bool
    #: the brand's event-time watermark after this event (>= the event's own time
    #: unless it is late); detectors expire their windows against this
    watermark: datetime

    @property
    def mention(self) -> MentionEvent:
        return self.event.mention

    @property
    def at(self) -> datetime:
        return self.event.mention.occurred_at


def removal_actor(actor: Actor | None, removed_by: str | None, author_id: str | None) -> Actor | None:
    """Who removed (hid, restored) a mention, given the author a detector remembers for it.

    The event's ``actor`` whenever the source decided it. When the source named the remover
    (``removed_by``) but could not tell whether that is the author (VK's deletion events carry
    the remover only, and the receiver that got one may never have seen the comment), the same
    rule the source applies when it does know: the author themself is ``author``, anyone else
    ``brand`` (where a remover is named, only the author and the channel's managers can remove
    a comment). Null while the author is unknown too. Detectors' memories of complaints are
    durable (snapshotted, restored on any replica), the receiver's is not, so this is where the
    decision holds across restarts.
    """
    if actor is not None or removed_by is None or author_id is None:
        return actor
    return Actor.AUTHOR if removed_by == author_id else Actor.BRAND


class Detector(Protocol[S]):
    """What the engine needs from a detector. One module per detector implements it."""

    #: stable key: in snapshots, in the brands file's ``detectors:`` map, in ``--set``
    name: ClassVar[str]
    #: the alert kinds it can raise
    kinds: ClassVar[tuple[AlertKind, ...]]
    #: its settings model (a DetectorSettings subclass)
    Settings: ClassVar[type[DetectorSettings]]
    #: bumped whenever the dumped state's shape changes; load_state refuses others
    STATE_VERSION: ClassVar[int]

    settings: DetectorSettings

    def new_state(self) -> S:
        """Empty state for a brand never seen before."""
        ...

    def observe(self, state: S, obs: Observation, brand: BrandView) -> list[Alert]:
        """Take one event of this brand (in partition order) and return the alerts it causes."""
        ...

    def advance(self, state: S, now: datetime, brand: BrandView) -> list[Alert]:
        """The brand's event time reached ``now`` without an event (idle policy, end of a
        backtest): expire windows, fire timers (SLA, silence), resolve quiet incidents."""
        ...

    def dump_state(self, state: S) -> dict[str, Any]:
        """JSON-safe, with the state version; never pickle."""
        ...

    def load_state(self, data: dict[str, Any]) -> S:
        """Inverse of dump_state; raises ValueError for an unknown version or shape."""
        ...

    def active(self, state: S) -> int:
        """Incidents open now in this brand's state (for the alerts_active gauge)."""
        ...
