"""Settings of the notifier worker (env prefix ``REPWATCH_``)."""

from __future__ import annotations

from pydantic import Field

from shared.config import WorkerSettings


class NotifierSettings(WorkerSettings):
    metrics_port: int = Field(default=9104, ge=0, le=65535)
    #: shorter than the other workers': finished deliveries reach the ledger after at most
    #: about this long when no alerts arrive, and a crash repeats only what is not there yet
    poll_timeout_ms: int = Field(default=100, ge=10)
    notifier_group_id: str = "repwatch-notifier"
    #: the routes file (YAML): receivers and which alerts go where; empty: nothing is delivered
    routes_file: str = ""
    #: an update of an incident that is not a severity escalation waits until this long after the
    #: incident's last message to the same receiver (newer updates replace it meanwhile): during a
    #: wave a person gets the firing message, escalations, one update per interval and the resolution
    notifier_update_interval_s: float = Field(default=120.0, ge=0)
    #: ledger entries are kept this long: longer than the alerts topic keeps records (7 days by
    #: default), so an alert that can still be replayed is always found
    notifier_ledger_ttl_s: float = Field(default=8 * 86400.0, gt=0)
    #: at most this many ledger entries in memory (oldest dropped first, with a tombstone)
    notifier_ledger_max_entries: int = Field(default=1_000_000, ge=1000)
    #: first retry after about this long, doubling up to notifier_retry_max_s (with jitter)
    notifier_retry_base_s: float = Field(default=1.0, gt=0)
    notifier_retry_max_s: float = Field(default=300.0, gt=0)
    #: deliveries a failing target may have waiting; beyond, new ones are given up at once (dead-lettered
    #: with reason queue_full) so a receiver that is away for hours cannot exhaust memory
    notifier_max_queued_per_target: int = Field(default=10_000, ge=1)
    #: on SIGTERM, how long attempts in flight may take to finish before the worker leaves
    notifier_stop_timeout_s: float = Field(default=10.0, ge=0)
