"""Settings every worker shares; each service subclasses :class:`WorkerSettings`.

All settings come from the environment with the ``REPWATCH_`` prefix (and from
keyword arguments in tests). There is no module-level settings object: each
``main`` builds its own and passes it down.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


@dataclass(frozen=True)
class TopicNames:
    """The topics of the pipeline, with the configured prefix applied."""

    raw: str
    scored: str
    alerts: str
    deadletter: str
    #: compacted: the alerting worker's per-brand state, partitioned like ``scored``
    alerting_state: str
    #: compacted: the notifier's delivery ledger, partitioned like ``alerts``
    notifier_ledger: str
    #: compacted: ``repwatch poll``'s cursors and reconciliation watch-list
    poll_state: str
    #: what a push announced without its content (Instagram @mentions), for ``repwatch poll``
    #: to fetch; keyed by the mention, so a retried webhook lands beside the first
    lookups: str

    @classmethod
    def with_prefix(cls, prefix: str) -> TopicNames:
        return cls(
            raw=f"{prefix}mentions.raw",
            scored=f"{prefix}mentions.scored",
            alerts=f"{prefix}alerts",
            deadletter=f"{prefix}deadletter",
            alerting_state=f"{prefix}alerting.state",
            notifier_ledger=f"{prefix}notifier.ledger",
            poll_state=f"{prefix}ingest.poll_state",
            lookups=f"{prefix}ingest.lookups",
        )

    def all(self) -> list[str]:
        return [
            self.raw,
            self.scored,
            self.alerts,
            self.deadletter,
            self.alerting_state,
            self.notifier_ledger,
            self.poll_state,
            self.lookups,
        ]

    def compacted(self) -> list[str]:
        return [self.alerting_state, self.notifier_ledger, self.poll_state]


class WorkerSettings(BaseSettings):
    """Kafka, topic, metrics and logging settings common to all workers."""

    model_config = SettingsConfigDict(env_prefix="REPWATCH_", extra="ignore")

    #: comma-separated host:port list of the Kafka cluster
    kafka_bootstrap: str = "127.0.0.1:9092"
    #: prepended to every topic name (lets several pipelines share one cluster)
    topic_prefix: str = ""
    #: partitions for topics the worker creates; the ceiling on parallel workers
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    #: how long a worker tries to reach Kafka and create its topics before giving up
    kafka_startup_timeout_s: float = Field(default=30.0, gt=0)
    #: records per poll batch; one batch is processed, produced and committed together
    max_poll_records: int = Field(default=500, ge=1)
    #: micro-batching: after the first record, keep collecting this long (or until
    #: max_poll_records) so the batch handed to the processor is full; 0 disables
    batch_max_wait_ms: int = Field(default=50, ge=0)
    #: how long a poll waits for records before the loop checks for shutdown
    poll_timeout_ms: int = Field(default=500, ge=10)
    #: consumer group heartbeat session; a SIGKILLed worker's partitions move after this
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    #: a partition behind its end whose position has not moved for this long of time spent
    #: polling means the Kafka client is wedged: the consumer is rebuilt (shared/kafka/stall.py)
    kafka_fetch_stall_s: float = Field(default=60.0, ge=5.0)
    #: records larger than this are dead-lettered without parsing
    max_record_bytes: int = Field(default=1_000_000, ge=1024)
    #: port of the /metrics, /healthz and /readyz endpoint (0: pick a free one)
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "0.0.0.0"
    #: the brands file (YAML): brands, owned channels, time zones, per-brand detector
    #: settings; empty: defaults for every brand
    brands_file: str = ""
    log_level: str = "INFO"
    #: "text" for people, "json" for log shippers
    log_format: str = "text"

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, v: str) -> str:
        if v not in ("text", "json"):
            raise ValueError("log_format must be 'text' or 'json'")
        return v

    @property
    def topics(self) -> TopicNames:
        return TopicNames.with_prefix(self.topic_prefix)

    @property
    def bootstrap_servers(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap.split(",") if s.strip()]
