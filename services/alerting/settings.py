"""Settings of the alerting worker (env prefix ``REPWATCH_``)."""

from __future__ import annotations

from pydantic import Field

from shared.config import WorkerSettings


class AlertingSettings(WorkerSettings):
    metrics_port: int = Field(default=9103, ge=0, le=65535)
    alerting_group_id: str = "repwatch-alerting"
    #: negativity spike: sliding event-time window, in seconds
    spike_window_s: float = Field(default=300.0, gt=0)
    #: negativity spike: negative mentions in the window that fire an alert
    spike_threshold: int = Field(default=10, ge=1)
    #: negativity spike: resolve when the window holds fewer than this (0: threshold // 2)
    spike_resolve_below: int = Field(default=0, ge=0)
