"""Every Prometheus metric RepWatch exports, declared once.

Why a catalogue: dashboards, alert rules and the README all name these series,
and a renamed metric silently empties a panel. Declaring each one here (name,
type, help, labels, buckets) lets a test check the conventions (``repwatch_``
prefix, ``_total`` counters, base units, bounded labels), that the README
documents exactly these, and that rules and dashboards only use names that
exist. Workers create their metrics from these definitions in a registry of
their own (never the global one), so tests can run many workers in a process.

Label values are bounded by construction: worker names, topic names, partition
numbers, sentiment labels, a fixed language list (:data:`COUNTED_LANGUAGES`, anything
else is ``other``), platforms, actors, reason codes, alert kinds, severities and
statuses. A ``brand`` label takes only the brands the brands file lists, every other
brand is counted as :data:`UNLISTED_BRAND`: the reputation dashboard needs figures
per brand, and the file (configured by operators) is what bounds them. Never an
author, mention, channel or URL: those belong in alerts and logs, not in time series.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

Kind = Literal["counter", "gauge", "histogram"]

#: the ``brand`` label of every brand the brands file does not list (a leading underscore:
#: no configured brand name looks like it, and it sorts apart in legends)
UNLISTED_BRAND = "_unlisted"
#: languages counted under their own ``lang`` label value; anything else (or none) is ``other``
COUNTED_LANGUAGES = frozenset("ar de en es fr hi it pt ru sq uk tr pl kk be sr hr bs mk el".split())


def lang_label(lang: str | None) -> str:
    """The bounded ``lang`` label value of a language code."""
    return lang if lang in COUNTED_LANGUAGES else "other"


@dataclass(frozen=True)
class MetricDef:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None
    #: which worker exports it ("any" for the transport's metrics every worker has)
    exported_by: str = "any"

    def create(self, registry: CollectorRegistry) -> Counter | Gauge | Histogram:
        if self.kind == "counter":
            return Counter(self.name, self.help, self.labels, registry=registry)
        if self.kind == "gauge":
            return Gauge(self.name, self.help, self.labels, registry=registry)
        return Histogram(self.name, self.help, self.labels, buckets=self.buckets, registry=registry)


# --- every worker (the transport) ----------------------------------------------------------------------------

RECORDS_CONSUMED = MetricDef(
    "repwatch_records_consumed_total", "counter", "Records read from Kafka", ("worker", "topic")
)
RECORDS_PRODUCED = MetricDef(
    "repwatch_records_produced_total", "counter", "Records acknowledged by Kafka (acks=all)", ("worker", "topic")
)
RECORDS_DEAD_LETTERED = MetricDef(
    "repwatch_records_dead_lettered_total",
    "counter",
    "Records sent to the dead-letter topic, by reason",
    ("worker", "reason"),
)
BATCH_PROCESSING_SECONDS = MetricDef(
    "repwatch_batch_processing_seconds",
    "histogram",
    "Time from a poll returning to its batch being produced and committed",
    ("worker",),
    # sub-second normally; the long tail matters when a model stalls
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONSUMER_LAG = MetricDef(
    "repwatch_consumer_lag_records",
    "gauge",
    "Records between the consumer position and the partition end",
    ("worker", "topic", "partition"),
)
CONSUMER_REBUILDS = MetricDef(
    "repwatch_consumer_rebuilds_total",
    "counter",
    "Kafka consumers found wedged (fetch_stalled, expelled, assignment_mismatch, partitions_unassigned) and rebuilt",
    ("worker", "reason"),
)

# --- sentiment -----------------------------------------------------------------------------------------------

TEXTS_SCORED = MetricDef(
    "repwatch_texts_scored_total",
    "counter",
    "Texts scored, by predicted label and detected language",
    ("label", "lang"),
    exported_by="sentiment",
)
SENTIMENT_BATCH_SIZE = MetricDef(
    "repwatch_sentiment_batch_size",
    "histogram",
    "Texts per model forward pass",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048),
    exported_by="sentiment",
)
SENTIMENT_BATCH_SECONDS = MetricDef(
    "repwatch_sentiment_batch_seconds",
    "histogram",
    "Seconds per model forward pass (device copy, forward, softmax)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    exported_by="sentiment",
)
SENTIMENT_BATCH_TOKENS = MetricDef(
    "repwatch_sentiment_batch_tokens",
    "histogram",
    "Padded sequence length per forward pass",
    buckets=(8, 16, 32, 48, 64, 96, 128, 256, 512),
    exported_by="sentiment",
)

# --- alerting ------------------------------------------------------------------------------------------------

MENTIONS_OBSERVED = MetricDef(
    "repwatch_mentions_observed_total",
    "counter",
    "Scored events seen by the alerting worker, by sentiment label ('none' for lifecycle events)",
    ("label",),
    exported_by="alerting",
)
MENTIONS = MetricDef(
    "repwatch_mentions_total",
    "counter",
    "New mentions (created events) by others than the brand, by brand, platform, detected language and sentiment label",
    ("brand", "platform", "lang", "label"),
    exported_by="alerting",
)
MENTIONS_REMOVED = MetricDef(
    "repwatch_mentions_removed_total",
    "counter",
    "Mentions deleted or hidden, by brand, platform, event type and actor (author, brand, platform, unknown)",
    ("brand", "platform", "event_type", "actor"),
    exported_by="alerting",
)
ALERTS = MetricDef(
    "repwatch_alerts_total",
    "counter",
    "Alerts published, by brand, kind, severity and status",
    ("brand", "kind", "severity", "status"),
    exported_by="alerting",
)
ALERTS_ACTIVE = MetricDef("repwatch_alerts_active", "gauge", "Incidents open now", ("kind",), exported_by="alerting")
REPLY_SECONDS = MetricDef(
    "repwatch_reply_seconds",
    "histogram",
    "Time from a complaint or question on an owned channel to the brand's reply (event time), by brand",
    ("brand",),
    # one minute to three days, dense around the default one-hour SLA (a day is failure)
    buckets=(60, 300, 900, 1800, 2700, 3600, 5400, 7200, 14400, 43200, 86400, 259200),
    exported_by="alerting",
)
ALERTING_REPLAYED_SKIPPED = MetricDef(
    "repwatch_alerting_replayed_skipped_total",
    "counter",
    "Events skipped because a restored state snapshot already covers them",
    exported_by="alerting",
)
ALERTING_RESTORE_SECONDS = MetricDef(
    "repwatch_alerting_restore_seconds",
    "histogram",
    "Seconds to restore the state of newly assigned partitions",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60),
    exported_by="alerting",
)
ALERTING_BRANDS = MetricDef(
    "repwatch_alerting_brands", "gauge", "Brands whose state this worker holds", exported_by="alerting"
)
ALERTING_WATERMARK_LAG = MetricDef(
    "repwatch_alerting_watermark_lag_seconds",
    "gauge",
    "Wall time minus the oldest brand watermark on caught-up partitions (how far alerting trails)",
    exported_by="alerting",
)

# --- notifier ------------------------------------------------------------------------------------------------
# "receiver" values are the receiver names of the routes file: configured, so bounded.

NOTIFIER_DELIVERIES = MetricDef(
    "repwatch_notifier_deliveries_total",
    "counter",
    "Finished deliveries by receiver and result (delivered, given_up, superseded)",
    ("receiver", "result"),
    exported_by="notifier",
)
NOTIFIER_ATTEMPTS = MetricDef(
    "repwatch_notifier_attempts_total",
    "counter",
    "Delivery attempts by receiver and verdict (ok, retry, fail) and bounded reason",
    ("receiver", "verdict", "reason"),
    exported_by="notifier",
)
NOTIFIER_DUPLICATES_SKIPPED = MetricDef(
    "repwatch_notifier_duplicates_skipped_total",
    "counter",
    "Deliveries skipped because the ledger says the person already has them",
    ("receiver",),
    exported_by="notifier",
)
NOTIFIER_UNROUTED = MetricDef(
    "repwatch_notifier_unrouted_alerts_total",
    "counter",
    "Alerts no receiver was configured for",
    exported_by="notifier",
)
NOTIFIER_DELIVERY_LATENCY = MetricDef(
    "repwatch_notifier_delivery_latency_seconds",
    "histogram",
    "From the alert record's Kafka timestamp to its delivery",
    ("receiver",),
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
    exported_by="notifier",
)
NOTIFIER_QUEUED = MetricDef(
    "repwatch_notifier_queued_deliveries",
    "gauge",
    "Deliveries waiting or in flight",
    ("receiver",),
    exported_by="notifier",
)
NOTIFIER_LEDGER_ENTRIES = MetricDef(
    "repwatch_notifier_ledger_entries", "gauge", "Delivery ledger entries held in memory", exported_by="notifier"
)

# --- poll (repwatch poll) --------------------------------------------------------------------------------------
# "platform" is one of rss, reviews, youtube, vk, instagram; results and reasons are the
# pollers' bounded codes (services/ingest/pollers).

POLL_REQUESTS = MetricDef(
    "repwatch_poll_requests_total",
    "counter",
    "Poll, check and lookup requests by platform, kind (poll, check, lookup) and result "
    "(ok, not_modified, gone or a failure reason)",
    ("platform", "kind", "result"),
    exported_by="poll",
)
POLL_EVENTS = MetricDef(
    "repwatch_poll_events_total",
    "counter",
    "Mention events the poller sent, by platform and event type",
    ("platform", "event_type"),
    exported_by="poll",
)
POLL_QUOTA_LEFT = MetricDef(
    "repwatch_poll_quota_left_units",
    "gauge",
    "Daily API quota units left to the poller (YouTube), by platform",
    ("platform",),
    exported_by="poll",
)
POLL_LOOKUPS = MetricDef(
    "repwatch_poll_lookups_total",
    "counter",
    "Lookups from ingest.lookups finished, by platform and outcome "
    "(fetched, gone, own_media, duplicate, dead_lettered)",
    ("platform", "outcome"),
    exported_by="poll",
)
POLL_LOOKUPS_PENDING = MetricDef(
    "repwatch_poll_lookups_pending",
    "gauge",
    "Lookups read from ingest.lookups and not finished yet (waiting for a retry included)",
    exported_by="poll",
)
RECONCILE_CHECKS = MetricDef(
    "repwatch_reconcile_checks_total",
    "counter",
    "Reconciliation lookups by platform and verdict (present, gone, hidden, failed)",
    ("platform", "verdict"),
    exported_by="poll",
)
RECONCILE_UNHEALTHY_ROUNDS = MetricDef(
    "repwatch_reconcile_unhealthy_rounds_total",
    "counter",
    "Reconciliation rounds without a control read as present, so they decided nothing",
    ("platform",),
    exported_by="poll",
)
RECONCILE_WATCHED = MetricDef(
    "repwatch_reconcile_watched_mentions",
    "gauge",
    "Mentions on the reconciliation watch-list, by role (subject, control)",
    ("role",),
    exported_by="poll",
)

# --- webhook receiver ---------------------------------------------------------------------------------------
# "platform" values are the receiver's routes (vk, meta, telegram, generic) or "unknown": bounded.

RECEIVER_REQUESTS = MetricDef(
    "repwatch_receiver_requests_total",
    "counter",
    "Webhook requests answered, by route and HTTP status",
    ("platform", "status"),
    exported_by="receiver",
)
RECEIVER_REQUEST_SECONDS = MetricDef(
    "repwatch_receiver_request_seconds",
    "histogram",
    "Seconds from a webhook request's body being read to its answer (Kafka's acknowledgement included)",
    ("platform",),
    # a few ms normally (linger + acks=all); the ack timeout bounds the tail
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    exported_by="receiver",
)
RECEIVER_EVENTS = MetricDef(
    "repwatch_receiver_events_total",
    "counter",
    "Mention events acknowledged by Kafka, by route and event type (deleted and hidden included)",
    ("platform", "event_type"),
    exported_by="receiver",
)
RECEIVER_REFUSED = MetricDef(
    "repwatch_receiver_refused_total",
    "counter",
    "Requests refused without a dead letter (bad or missing signature, too large, wrong method), by reason",
    ("platform", "reason"),
    exported_by="receiver",
)
RECEIVER_SKIPPED = MetricDef(
    "repwatch_receiver_skipped_total",
    "counter",
    "Authentic items that carry no mention (service messages, reactions), by reason",
    ("platform", "reason"),
    exported_by="receiver",
)
RECEIVER_LOOKUPS = MetricDef(
    "repwatch_receiver_lookups_total",
    "counter",
    "Mentions announced without their content (Instagram @mentions) handed to the poller on ingest.lookups, "
    "acknowledged by Kafka, by route and kind (mentioned_comment, mentioned_media)",
    ("platform", "kind"),
    exported_by="receiver",
)
RECEIVER_IN_FLIGHT = MetricDef(
    "repwatch_receiver_requests_in_flight",
    "gauge",
    "Webhook requests being handled now (waiting for Kafka included)",
    exported_by="receiver",
)
RECEIVER_KAFKA_DOWN = MetricDef(
    "repwatch_receiver_kafka_down",
    "gauge",
    "1 while the receiver answers 503 because Kafka did not acknowledge in time, else 0",
    exported_by="receiver",
)

#: name -> definition, in declaration order
CATALOGUE: dict[str, MetricDef] = {d.name: d for d in list(globals().values()) if isinstance(d, MetricDef)}
