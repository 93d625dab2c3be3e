"""Settings of the ingest worker (env prefix ``REPWATCH_``)."""

from __future__ import annotations

from pydantic import Field

from shared.config import WorkerSettings


class IngestSettings(WorkerSettings):
    metrics_port: int = Field(default=9101, ge=0, le=65535)
    #: records sent to Kafka in one go at most (they are sent sooner when the source pauses)
    ingest_send_batch: int = Field(default=500, ge=1)
