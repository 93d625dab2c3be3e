"""Settings of the alerting worker (env prefix ``REPWATCH_``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.config import WorkerSettings


class AlertingSettings(WorkerSettings):
    metrics_port: int = Field(default=9103, ge=0, le=65535)
    alerting_group_id: str = "repwatch-alerting"
    #: per-detector defaults for every brand, JSON in REPWATCH_DETECTORS, e.g.
    #: {"unanswered_complaint": {"sla_minutes": 30}}; the brands file overrides per brand
    detectors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: an event dated more than this after its own ingested_at is dead-lettered
    #: (future_event) and moves no clock: one bad clock must not blind a brand's detectors
    future_tolerance_s: float = Field(default=600.0, ge=0)
    #: P(negative) at or above which a mention counts as a complaint whatever its
    #: label (recall first); unset: the label alone
    negative_threshold: float | None = Field(default=None, gt=0, le=1)
    #: idle policy: a brand with no event for this long (wall time) on a caught-up
    #: partition has its clock moved to wall time minus this, so SLA and silence
    #: timers fire and quiet incidents resolve; the slack is for events in flight
    idle_delay_s: float = Field(default=30.0, ge=0)
    #: a quiet brand's clock moves no faster than wall time since its last event arrived
    #: (so a pause upstream mid-backlog cannot jump it past its own queued events); one
    #: quiet this long (wall seconds) goes straight to wall time minus the delay, taken to
    #: have no backlog left (a replayed export that ended). 0: always straight there
    idle_jump_after_s: float = Field(default=600.0, ge=0)
    #: how often (wall seconds) the idle policy looks at quiet brands; with the delay it
    #: bounds how late an SLA or silence timer of a quiet brand fires (~35 s by default)
    idle_every_s: float = Field(default=5.0, gt=0)
    #: a changed brand's state is written to alerting.state at most this often (wall
    #: seconds; at once when it raised an alert). Offsets are committed only up to the
    #: first event no snapshot holds, so a crash replays, never loses; a longer interval
    #: costs replay time after a crash, a shorter one changelog traffic for busy brands
    snapshot_every_s: float = Field(default=5.0, ge=0)
