"""The one place RepWatch talks to Kafka: topics, producer, consumer, the worker loop.

Delivery is at-least-once: a worker polls a batch, turns it into output records,
waits until Kafka has acknowledged every output (acks=all, idempotent producer),
and only then commits the batch's offsets. A crash anywhere before the commit
means the batch is read again, never lost. Downstream deduplicates by
``event_id`` / ``alert_id`` where it matters.

A record that cannot be processed goes to the dead-letter topic with the reason
and its original bytes; the rest of its batch carries on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    KafkaError,
    RebalanceInProgressError,
    TopicAlreadyExistsError,
    UnknownMemberIdError,
)
from kafka.structs import OffsetAndMetadata, TopicPartition

from shared.config import WorkerSettings
from shared.kafka.stall import FETCH_STALLED, PARTITIONS_UNASSIGNED, STABLE, GroupView, StallWatch
from shared.metrics import Health, TransportMetrics
from shared.schemas import DeadLetter, InvalidRecord, decode

log = logging.getLogger(__name__)

__all__ = [
    "BatchResult",
    "PartitionEvent",
    "Record",
    "decode_or_dead_letter",
    "DeliveryFailed",
    "KafkaUnavailable",
    "Outgoing",
    "Producer",
    "BatchConsumer",
    "StreamWorker",
    "dead_letter",
    "ensure_topics",
]


class KafkaUnavailable(RuntimeError):
    """Kafka could not be reached, or the topics could not be created, in time."""


class DeliveryFailed(RuntimeError):
    """Kafka did not acknowledge an output record after the producer's own retries."""


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed record, as domain code sees it (never kafka-python's own type)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    #: the record's Kafka timestamp in ms (producer or log-append time)
    timestamp_ms: int = -1


@dataclass(frozen=True, slots=True)
class PartitionEvent:
    """A change of ownership, delivered to the processor before the next batch."""

    kind: str  # "assigned", "revoked" or "lost"
    partitions: frozenset[TopicPartition]


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    #: None: Kafka's partitioner by key; a number pins it (a changelog entry goes to
    #: the partition number of the input it belongs to)
    partition: int | None = None


@dataclass(slots=True)
class BatchResult:
    """What a processor made of one poll batch. Order of ``outputs`` is kept per key."""

    outputs: list[Outgoing] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def merge(self, other: BatchResult) -> BatchResult:
        self.outputs.extend(other.outputs)
        self.dead_letters.extend(other.dead_letters)
        return self


def dead_letter(record: Record, reason: str, error: str, worker: str) -> DeadLetter:
    """A dead-letter entry that keeps everything needed to inspect or replay the record."""
    return DeadLetter.build(
        reason=reason,
        error=error,
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        source_key=record.key,
        original=record.value or b"",
        worker=worker,
        failed_at=datetime.now(timezone.utc),
    )


#: kafka-python's reconnect back-off grows to 30 s by default: one early failure
#: then eats the whole start-up budget although the broker is back. Capped, a
#: worker notices a returning broker within a second.
RECONNECT_BACKOFF_MAX_MS = 1000
#: A group joined before its leader's first metadata answer lists a topic's partitions
#: assigns nobody anything ("No partition metadata"), and kafka-python looks again only
#: at its next metadata refresh: 5 minutes by default, 15 s here.
METADATA_MAX_AGE_MS = 15_000

#: Largest changelog record (a busy brand's alerting state): the compacted topics are
#: created with this max.message.bytes and producers may send records this large.
CHANGELOG_MAX_BYTES = 16 * 1024 * 1024

#: Errors at commit that mean "the group is rebalancing or rebalanced under us".
#: kafka-python marks RebalanceInProgressError non-retriable, but it only means
#: "rejoin, then retry": a worker must never die of it (KEDA scales all day).
REBALANCE_ERRORS = (CommitFailedError, RebalanceInProgressError, IllegalGenerationError, UnknownMemberIdError)


T = TypeVar("T")


def decode_or_dead_letter(
    model: type[T], record: Record, *, worker: str, max_bytes: int, dead_letters: list[DeadLetter]
) -> T | None:
    """The record as ``model``, or None with its dead letter appended: every processor's first step."""
    try:
        return decode(model, record.value, max_bytes=max_bytes)  # type: ignore[type-var]
    except InvalidRecord as exc:
        dead_letters.append(dead_letter(record, exc.reason, exc.detail, worker))
        return None


def batch_ends(records: Sequence[Record]) -> dict[TopicPartition, int]:
    """The next offset to read per partition after ``records``."""
    ends: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        if ends.get(tp, -1) <= r.offset:
            ends[tp] = r.offset + 1
    return ends


def _remaining_ms(deadline: float) -> int:
    """What is left of the start-up budget, for kafka-python's bootstrap_timeout_ms."""
    return max(500, int((deadline - time.monotonic()) * 1000))


def _retry_until(deadline: float, what: str, bootstrap: str, fn: Callable[[], Any]) -> Any:
    delay = 0.2
    while True:
        try:
            return fn()
        except (KafkaError, OSError) as exc:
            if time.monotonic() + delay > deadline:
                raise KafkaUnavailable(f"cannot {what} on Kafka at {bootstrap}: {exc!r}") from exc
            log.info("waiting for Kafka at %s (%s): %r", bootstrap, what, exc)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def ensure_topics(settings: WorkerSettings, names: Sequence[str] | None = None) -> None:
    """Create the pipeline's topics if missing, with the configured partitions.

    Creating them explicitly (the broker has auto-creation off) means a typo in a
    topic name fails loudly here instead of silently making a new topic.
    """
    names = list(names or settings.topics.all())
    deadline = time.monotonic() + settings.kafka_startup_timeout_s
    bootstrap = settings.kafka_bootstrap

    def connect() -> KafkaAdminClient:
        return KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers,
            client_id="repwatch-admin",
            request_timeout_ms=10_000,
            bootstrap_timeout_ms=_remaining_ms(deadline),
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        )

    admin = _retry_until(deadline, "connect", bootstrap, connect)
    try:
        existing = set(_retry_until(deadline, "list topics", bootstrap, admin.list_topics))
        missing = [n for n in names if n not in existing]
        if missing:
            compacted = set(settings.topics.compacted())
            spec = {
                n: {
                    "num_partitions": settings.topic_partitions,
                    "replication_factor": settings.topic_replication_factor,
                    # changelogs keep the newest value per key, forever
                    **(
                        {"configs": {"cleanup.policy": "compact", "max.message.bytes": str(CHANGELOG_MAX_BYTES)}}
                        if n in compacted
                        else {}
                    ),
                }
                for n in missing
            }
            try:
                # wait_for_metadata: every partition has a leader before producers start
                admin.create_topics(spec, timeout_ms=15_000, wait_for_metadata=True)
            except TopicAlreadyExistsError:
                pass  # another worker won the race; that is fine
            except KafkaError as exc:
                raise KafkaUnavailable(f"cannot create topics {missing} on {bootstrap}: {exc!r}") from exc
            log.info("created topics %s (%d partitions)", missing, settings.topic_partitions)

        def all_present() -> None:
            now = set(admin.list_topics())
            absent = [n for n in names if n not in now]
            if absent:
                raise KafkaError(f"topics not visible yet: {absent}")

        _retry_until(deadline, "see the created topics", bootstrap, all_present)
    finally:
        admin.close()


def topic_partitions(settings: WorkerSettings, topic: str) -> int | None:
    """How many partitions ``topic`` has (None: it does not exist).

    Workers ask this while starting, so a broker that is away for a moment gets the
    same start-up budget as everywhere else (KafkaUnavailable after it), not a crash.
    """
    deadline = time.monotonic() + settings.kafka_startup_timeout_s

    def read() -> int | None:
        consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id="repwatch-meta",
            bootstrap_timeout_ms=_remaining_ms(deadline),
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
            request_timeout_ms=15_000,
        )
        try:
            parts = consumer.partitions_for_topic(topic)
            return len(parts) if parts else None
        finally:
            consumer.close()

    return _retry_until(deadline, f"read the partitions of {topic}", settings.kafka_bootstrap, read)


def read_changelog(
    settings: WorkerSettings, topic: str, partitions: Sequence[int], timeout_s: float = 120.0
) -> list[Record]:
    """Every record of the given partitions of a (compacted) changelog topic, up to
    the end it had when the read began: what a worker restores its state from.
    Raises KafkaUnavailable when that end is not reached within ``timeout_s``."""
    if not partitions:
        return []
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="repwatch-restore",
        group_id=None,
        enable_auto_commit=False,
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        max_partition_fetch_bytes=max(1_048_576, settings.max_record_bytes * 2),
        fetch_max_bytes=64 * 1_048_576,
    )
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        left = {tp for tp in tps if ends[tp] > 0}
        out: list[Record] = []
        deadline = time.monotonic() + timeout_s
        while left:
            if time.monotonic() > deadline:
                raise KafkaUnavailable(f"could not read {topic} to its end within {timeout_s:.0f}s")
            for tp, recs in consumer.poll(timeout_ms=500, max_records=10_000).items():
                out.extend(Record(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp) for r in recs)
                if recs and recs[-1].offset + 1 >= ends[tp]:
                    left.discard(tp)
            for tp in list(left):
                if consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
        return out
    finally:
        consumer.close()


def read_range(settings: WorkerSettings, topic: str, partition: int, start: int, end: int) -> list[Record]:
    """Records ``start <= offset < end`` of one partition (a replay after a rollback)."""
    if end <= start:
        return []
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="repwatch-replay",
        group_id=None,
        enable_auto_commit=False,
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        max_partition_fetch_bytes=max(1_048_576, settings.max_record_bytes * 2),
    )
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        out: list[Record] = []
        deadline = time.monotonic() + 120
        while consumer.position(tp) < end:
            if time.monotonic() > deadline:
                raise KafkaUnavailable(f"could not re-read {topic}[{partition}] {start}..{end} within 120s")
            for recs in consumer.poll(timeout_ms=500).values():
                out.extend(Record(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp) for r in recs)
        return [r for r in out if start <= r.offset < end]
    finally:
        consumer.close()


class Producer:
    """Idempotent, acks=all, lz4-compressed, batching producer."""

    def __init__(
        self,
        settings: WorkerSettings,
        metrics: TransportMetrics,
        client_id: str,
        *,
        delivery_timeout_ms: int = 120_000,
        max_block_ms: int = 60_000,
    ) -> None:
        """``delivery_timeout_ms``: how long a record may wait for its acknowledgement in
        all; ``max_block_ms``: how long ``send`` may block for metadata or buffer space (a
        server answering requests on an event loop must not block it for long)."""
        self._metrics = metrics
        deadline = time.monotonic() + settings.kafka_startup_timeout_s
        self._producer: KafkaProducer = _retry_until(
            deadline,
            "start a producer",
            settings.kafka_bootstrap,
            lambda: KafkaProducer(
                bootstrap_servers=settings.bootstrap_servers,
                client_id=client_id,
                bootstrap_timeout_ms=_remaining_ms(deadline),
                reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
                acks="all",  # a record counts as written once every in-sync replica has it
                enable_idempotence=True,  # retries never duplicate or reorder
                compression_type="lz4",
                linger_ms=5,  # a few ms of batching buys large throughput at tiny latency
                batch_size=256 * 1024,
                # state snapshots of busy brands are larger than any input record
                max_request_size=max(settings.max_record_bytes + 64 * 1024, CHANGELOG_MAX_BYTES),
                delivery_timeout_ms=delivery_timeout_ms,
                # a delivery must outlast one request (kafka-python checks it); half leaves a retry
                request_timeout_ms=min(30_000, delivery_timeout_ms // 2),
                max_block_ms=max_block_ms,
            ),
        )

    def send_all(self, records: Sequence[Outgoing], timeout_s: float = 60.0) -> None:
        """Send and wait until Kafka acknowledged all of them, or raise DeliveryFailed."""
        if not records:
            return
        futures = [
            (r.topic, self._producer.send(r.topic, value=r.value, key=r.key, partition=r.partition)) for r in records
        ]
        self._producer.flush(timeout=timeout_s)
        for topic, fut in futures:
            try:
                fut.get(timeout=0)
            except Exception as exc:  # noqa: BLE001 - any delivery error is fatal for the batch
                raise DeliveryFailed(f"Kafka did not acknowledge a record for {topic}: {exc!r}") from exc
        self._count_produced(records)

    def _count_produced(self, records: Sequence[Outgoing]) -> None:
        counts: dict[str, int] = {}
        for r in records:
            counts[r.topic] = counts.get(r.topic, 0) + 1
        for topic, n in counts.items():
            self._metrics.count_produced(topic, n)

    def warm_up(self, topics: Sequence[str], timeout_s: float = 30.0) -> None:
        """Fetch the metadata of ``topics`` now, so that a producer with a short
        ``max_block_ms`` never waits for it in ``send``. Raises KafkaUnavailable."""
        deadline = time.monotonic() + timeout_s
        for topic in topics:
            while True:
                try:
                    if self._producer.partitions_for(topic):
                        break
                    why = "no partitions"
                except KafkaError as exc:  # the metadata request is under way: ask again
                    why = repr(exc)
                if time.monotonic() > deadline:
                    raise KafkaUnavailable(f"no metadata for {topic} within {timeout_s:.0f}s: {why}")
                time.sleep(0.05)

    def send_then(self, records: Sequence[Outgoing], done: Callable[[BaseException | None], None]) -> None:
        """Send without waiting; ``done(None)`` once Kafka acknowledged every record, or
        ``done(error)`` at the first that failed. Called once, from the producer's I/O
        thread (or from here when ``send`` itself fails): the webhook receiver answers
        each request from its acknowledgement without blocking its event loop."""
        if not records:
            done(None)
            return
        left = len(records)
        finished = False
        lock = threading.Lock()

        def one(result: Any) -> None:
            nonlocal left, finished
            with lock:
                if finished:
                    return
                if isinstance(result, BaseException):
                    finished = True
                else:
                    left -= 1
                    if left:
                        return
                    finished = True
            if isinstance(result, BaseException):
                done(result)
                return
            self._count_produced(records)
            done(None)

        for r in records:
            try:
                fut = self._producer.send(r.topic, value=r.value, key=r.key, partition=r.partition)
            except Exception as exc:  # noqa: BLE001 - no buffer space or metadata in time: Kafka is away
                one(exc)
                return
            fut.add_callback(one)
            fut.add_errback(one)

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.close(timeout=timeout_s)


class BatchConsumer:
    """A group consumer that hands out poll batches and commits them explicitly."""

    def __init__(
        self,
        settings: WorkerSettings,
        metrics: TransportMetrics,
        topics: Sequence[str],
        group_id: str,
        client_id: str,
    ) -> None:
        self._metrics = metrics
        self._settings = settings
        self._topics = list(topics)
        self._group_id = group_id
        self._client_id = client_id
        #: ownership changes seen inside poll(), handed to the processor before its next batch
        self.partition_events: list[PartitionEvent] = []
        self._listener = _Rebalance(client_id, self.partition_events)
        self._consumer: KafkaConsumer = self._open()
        self._watch = StallWatch(
            fetch_stall_s=settings.kafka_fetch_stall_s,
            check_every_s=max(5.0, settings.session_timeout_ms / 1000),
            # a healthy leader sees new partitions at its next metadata refresh and rebalances
            unassigned_s=2 * METADATA_MAX_AGE_MS / 1000,
        )
        self._admin: KafkaAdminClient | None = None
        #: clients replaced so far (records fetched by a replaced one are dropped)
        self._rebuilds = 0
        self._last_lag_update = 0.0
        self._session_timeout_s = settings.session_timeout_ms / 1000
        self._stash: list[Record] = []
        #: monotonic time since Kafka has been unreachable from poll(), None while it is fine
        self.unavailable_since: float | None = None
        self._last_unavailable_log = 0.0
        self._max_records = settings.max_poll_records
        #: partitions whose position reached the end at the last lag update (the idle
        #: tick only moves time for brands on these: a backlog must not be skipped)
        self.caught_up: frozenset[TopicPartition] = frozenset()
        self._max_wait_s = settings.batch_max_wait_ms / 1000

    def _open(self) -> KafkaConsumer:
        """A new group member, subscribed, its ownership changes reported to ``partition_events``."""
        settings = self._settings
        deadline = time.monotonic() + settings.kafka_startup_timeout_s
        consumer: KafkaConsumer = _retry_until(
            deadline,
            "start a consumer",
            settings.kafka_bootstrap,
            lambda: KafkaConsumer(
                bootstrap_servers=settings.bootstrap_servers,
                client_id=self._client_id,
                bootstrap_timeout_ms=_remaining_ms(deadline),
                reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
                group_id=self._group_id,
                enable_auto_commit=False,  # we commit after outputs are acknowledged
                auto_offset_reset="earliest",  # a new group reads what is already there
                max_poll_records=settings.max_poll_records,
                session_timeout_ms=settings.session_timeout_ms,
                heartbeat_interval_ms=max(300, settings.session_timeout_ms // 3),
                fetch_max_wait_ms=100,  # alerting latency matters more than fetch efficiency
                # oversized records must reach us so they can be dead-lettered
                max_partition_fetch_bytes=max(1_048_576, settings.max_record_bytes * 2),
                allow_auto_create_topics=False,
                metadata_max_age_ms=METADATA_MAX_AGE_MS,
            ),
        )
        consumer.subscribe(self._topics, listener=self._listener)
        return consumer

    def poll(self, timeout_ms: int) -> list[Record]:
        """One micro-batch: wait up to ``timeout_ms`` for a first record, then keep
        collecting until ``max_poll_records`` or ``batch_max_wait_ms`` after it.

        A trickle of records then still makes one model call instead of many tiny
        ones, at a bounded cost in latency.
        """
        rebuilds = self._rebuilds
        records = self._poll_once(timeout_ms)
        if records and self._max_wait_s > 0:
            deadline = time.monotonic() + self._max_wait_s
            while len(records) < self._max_records and self._rebuilds == rebuilds:
                left_ms = int((deadline - time.monotonic()) * 1000)
                if left_ms <= 0:
                    break
                records.extend(self._poll_once(left_ms, self._max_records - len(records)))
        if self._rebuilds != rebuilds:
            # The client was found wedged and replaced while this batch was fetched: not processed, not
            # committed, the new member reads them again from the group's commit. Processing them now
            # would rebuild state for partitions the processor was just told are lost.
            return []
        return records

    def _poll_once(self, timeout_ms: int, max_records: int | None = None) -> list[Record]:
        if self._stash:
            return self._take_stash(max_records)
        started = time.monotonic()
        try:
            batches = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        except KafkaError as exc:
            if not exc.retriable:
                raise
            # The broker is away (restart, outage) or a partition leader moved: the
            # client reconnects by itself; the loop just keeps polling, spaced out.
            self._note_unavailable(exc)
            time.sleep(min(1.0, timeout_ms / 1000))
            return []
        if self.unavailable_since is not None:
            log.info("Kafka reachable again after %.1fs", time.monotonic() - self.unavailable_since)
            self.unavailable_since = None
        records = self._flatten(batches)
        if self._watch.note_poll(time.monotonic() - started):
            self._check_wedged()  # a replacement empties the batch (see poll)
        return records

    # -- a wedged client (see shared/kafka/stall.py for the rules and why)

    def _check_wedged(self) -> None:
        consumer = self._consumer
        paused = set(consumer.paused())
        positions: dict[TopicPartition, int | None] = {}
        for tp in consumer.assignment():
            if tp in paused:
                continue
            try:
                positions[tp] = consumer.position(tp, timeout_ms=200)
            except KafkaError:
                positions[tp] = None  # the client cannot say (a reset or validation pending)
        suspects = self._watch.fetch_suspects(positions)
        if suspects:
            try:
                ends = consumer.end_offsets(suspects, timeout_ms=5000)
            except KafkaError as exc:  # the broker is away: nothing to judge by
                log.debug("end offsets for the stall check: %r", exc)
            else:
                stuck = self._watch.fetch_verdict(positions, ends)
                if stuck:
                    detail = " ".join(f"{tp.topic}[{tp.partition}]@{positions.get(tp)}<{ends[tp]}" for tp in stuck)
                    self._rebuild(FETCH_STALLED, f"no progress on {detail}")
                    return
        meta = consumer.group_metadata()
        view = self._describe_group()
        reason = self._watch.membership_verdict(meta.member_id, frozenset(consumer.assignment()), view)
        if reason is not None:
            members = {m: sorted(f"{tp.topic}[{tp.partition}]" for tp in tps) for m, tps in view.members.items()}
            self._rebuild(reason, f"we are {meta.member_id or 'no member'} ({meta.state}); the group is {members}")
            return
        partitions = self._topic_partitions() if view is not None and view.state == STABLE else None
        # (private in the pinned kafka-python; unknown counts as the leader: the shorter wait)
        leader = bool(getattr(getattr(consumer, "_coordinator", None), "_is_leader", True))
        unowned = self._watch.coverage_verdict(view, partitions, leader)
        if unowned:
            detail = " ".join(f"{tp.topic}[{tp.partition}]" for tp in unowned)
            role = "its leader" if leader else "a member"
            self._rebuild(PARTITIONS_UNASSIGNED, f"the stable group {self._group_id} ({role}) gives no member {detail}")

    def _admin_client(self) -> KafkaAdminClient:
        if self._admin is None:
            self._admin = KafkaAdminClient(
                bootstrap_servers=self._settings.bootstrap_servers,
                client_id=f"{self._client_id}-watch",
                request_timeout_ms=5000,
                bootstrap_timeout_ms=5000,
                reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
            )
        return self._admin

    def _topic_partitions(self) -> frozenset[TopicPartition] | None:
        """Every partition of our topics as the broker lists them now (a metadata request of
        its own: the consumer's cached metadata is what may be stale), None if it cannot say."""
        try:
            topics = self._admin_client().describe_topics(self._topics)
        except (KafkaError, OSError) as exc:
            log.debug("describe topics for the stall check: %r", exc)
            return None
        out = set()
        for t in topics:
            if t.get("error_code"):
                return None  # a topic the broker cannot describe now: nothing to judge by
            out.update(TopicPartition(t["name"], p["partition_index"]) for p in t.get("partitions") or ())
        return frozenset(out)

    def _describe_group(self) -> GroupView | None:
        """The coordinator's account of our group, or None if it cannot be had now."""
        try:
            group = self._admin_client().describe_groups([self._group_id]).get(self._group_id)
        except (KafkaError, OSError) as exc:
            log.debug("describe group for the stall check: %r", exc)
            return None
        if not group or group.get("error"):
            return None
        members = {}
        for m in group.get("members") or ():
            assigned = (m.get("member_assignment") or {}).get("assigned_partitions") or ()
            members[m["member_id"]] = frozenset(
                TopicPartition(a["topic"], p) for a in assigned for p in a.get("partitions", ())
            )
        return GroupView(state=group.get("group_state", ""), members=members)

    def _rebuild(self, reason: str, detail: str) -> None:
        """Replace the wedged client by a new member: it joins the group and resumes from
        the group's commits (what was processed and not yet committed is read again)."""
        old = self._consumer
        log.warning(
            "%s: Kafka consumer wedged (%s: %s); client state: %s; replacing it with a new member",
            self._client_id,
            reason,
            detail,
            _client_state(old),
        )
        self._metrics.count_rebuild(reason)
        self._rebuilds += 1
        owned = frozenset(old.assignment())
        self._listener.muted = True  # the old member's last callbacks are not news
        try:
            old.close(autocommit=False, timeout_ms=5000)
        except Exception as exc:  # noqa: BLE001 - a wedged client may fail to close; it is dropped anyway
            log.warning("closing the wedged consumer: %r", exc)
        if owned:
            # another member may own them by now: drop what was kept for them
            self.partition_events.append(PartitionEvent("lost", owned))
        self._stash.clear()
        self.caught_up = frozenset()
        self._watch.reset()
        self._listener = _Rebalance(self._client_id, self.partition_events)
        self._consumer = self._open()

    def _note_unavailable(self, exc: KafkaError) -> None:
        now = time.monotonic()
        if self.unavailable_since is None:
            self.unavailable_since = now
            self._last_unavailable_log = 0.0
        if now - self._last_unavailable_log >= 10:
            self._last_unavailable_log = now
            log.warning("Kafka unavailable for %.0fs, retrying: %r", now - self.unavailable_since, exc)

    def _flatten(self, batches: dict[TopicPartition, list]) -> list[Record]:
        records: list[Record] = []
        for tp in sorted(batches, key=lambda t: (t.topic, t.partition)):
            recs = batches[tp]
            # the transport's own type: domain code never depends on kafka-python's
            records.extend(Record(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp) for r in recs)
            self._metrics.count_consumed(tp.topic, len(recs))
        return records

    def _take_stash(self, max_records: int | None) -> list[Record]:
        # Records fetched while rejoining the group inside commit(); only those of
        # partitions still ours are handed out.
        owned = self.assignment()
        n = max_records or len(self._stash)
        out = [r for r in self._stash[:n] if TopicPartition(r.topic, r.partition) in owned]
        del self._stash[:n]
        return out

    def commit(self, records: Sequence[Record]) -> None:
        """Commit the offsets after ``records`` (see :meth:`commit_offsets`)."""
        self.commit_offsets(batch_ends(records))

    def commit_offsets(self, ends: dict[TopicPartition, int]) -> None:
        """Commit ``ends`` (the next offset to read, per partition), through rebalances.

        A rebalance during the commit is normal operations (scaling, a rolling
        update). Then the consumer rejoins the group (a poll; records it fetches
        meanwhile are kept for the next poll) and commits again for the
        partitions it still owns; only partitions that moved to another member
        are left uncommitted, and their new owner resumes from the last commit
        (duplicates, never loss, since the outputs are already acknowledged).
        """
        offsets = {tp: OffsetAndMetadata(end, "", -1) for tp, end in ends.items()}
        if not offsets:
            return
        deadline = time.monotonic() + max(30.0, 3 * self._session_timeout_s)
        delay = 0.1
        rejoined = False
        while True:
            if rejoined:
                owned = self.assignment()
                lost = [tp for tp in offsets if tp not in owned]
                if lost:
                    log.warning(
                        "partitions %s moved to another member during the commit; it resumes from their last commit",
                        " ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(lost)),
                    )
                offsets = {tp: o for tp, o in offsets.items() if tp in owned}
                if not offsets:
                    return
            try:
                self._consumer.commit(offsets)
            except REBALANCE_ERRORS as exc:
                if time.monotonic() > deadline:
                    log.warning("offset commit still refused after rejoining (%r); the owner reprocesses", exc)
                    return
                log.info("offset commit met a rebalance (%s); rejoining the group, then committing again", exc)
                self._rejoin()
                rejoined = True
                continue
            except KafkaError as exc:
                if not exc.retriable or time.monotonic() > deadline:
                    raise
                log.info("offset commit failed (%r), retrying", exc)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if rejoined:
                self._skip_committed(offsets)
            return

    def _rejoin(self) -> None:
        """One poll completes (or advances) the group's rebalance; keep what it fetched."""
        try:
            batches = self._consumer.poll(timeout_ms=200)
        except KafkaError as exc:
            if not exc.retriable:
                raise
            self._note_unavailable(exc)
            time.sleep(0.2)
            return
        self._stash.extend(self._flatten(batches))

    def _skip_committed(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """After a rejoin the fetch position of a partition we kept was reset to the
        group's older commit: move it past what we just processed and committed."""
        self._stash = [
            r
            for r in self._stash
            if (tp := TopicPartition(r.topic, r.partition)) not in offsets or r.offset >= offsets[tp].offset
        ]
        for tp, om in offsets.items():
            try:
                if self._consumer.position(tp, timeout_ms=1000) < om.offset:
                    self._consumer.seek(tp, om.offset)
            except KafkaError as exc:  # position unknown yet: the committed offset is used anyway
                log.debug("position of %s after rejoin: %r", tp, exc)

    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment())

    def pause(self, paused: bool) -> None:
        """Stop (or go on) fetching from every owned partition while still taking part in
        the group: a worker whose backlog is full reads nothing more until it drains, and
        polling on keeps it a member (a new assignment starts unpaused; call again)."""
        if paused:
            self._consumer.pause(*self._consumer.assignment())
        elif self._consumer.paused():
            self._consumer.resume(*self._consumer.paused())

    def update_lag(self, every_s: float = 5.0) -> None:
        """Refresh the per-partition lag gauge (what autoscalers like KEDA read)."""
        now = time.monotonic()
        if now - self._last_lag_update < every_s:
            return
        self._last_lag_update = now
        gauge = self._metrics.lag
        gauge.clear()  # partitions this worker lost in a rebalance must not linger
        caught_up: set[TopicPartition] = set()
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None:
                continue
            try:
                pos = self._consumer.position(tp, timeout_ms=1000)
            except KafkaError:
                continue
            if pos is not None:
                gauge.labels(self._metrics.worker, tp.topic, str(tp.partition)).set(max(0, high - pos))
                if pos >= high:
                    caught_up.add(tp)
        self.caught_up = frozenset(caught_up)

    def close(self) -> None:
        self._consumer.close(autocommit=False)
        if self._admin is not None:
            self._admin.close()


class _Rebalance(ConsumerRebalanceListener):
    """Say which partitions this worker owns (the first thing to check when scaling
    out) and queue the change for the processor, which runs outside poll()."""

    def __init__(self, worker: str, events: list[PartitionEvent]) -> None:
        self._worker = worker
        self._events = events
        #: set on a member being replaced: what its close reports is no longer news
        self.muted = False

    @staticmethod
    def _fmt(partitions: Any) -> str:
        return " ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(partitions)) or "none"

    def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked and not self.muted:
            log.info("%s: revoked partitions: %s", self._worker, self._fmt(revoked))
            self._events.append(PartitionEvent("revoked", frozenset(revoked)))

    def on_partitions_assigned(self, assigned: Any) -> None:
        if self.muted:
            return
        log.info("%s: assigned partitions: %s", self._worker, self._fmt(assigned))
        if assigned:
            self._events.append(PartitionEvent("assigned", frozenset(assigned)))

    def on_partitions_lost(self, lost: Any) -> None:
        # evicted from the group (e.g. a long pause): another member may already own them
        if lost and not self.muted:
            log.warning("%s: lost partitions: %s", self._worker, self._fmt(lost))
            self._events.append(PartitionEvent("lost", frozenset(lost)))


class Processor(Protocol):
    """Pure domain code: records in, outputs and dead letters out.

    Optional hooks, found with getattr so simple processors stay simple:
    ``on_partitions(event)`` before the first batch after an ownership change
    (restore or drop per-partition state; it may return a BatchResult to
    produce); ``on_idle(wall_now, caught_up)`` about once a second (every
    ``idle_interval_s`` if the processor has that attribute) with the
    partitions whose fetch position reached their end (the one place a
    processor learns wall time); ``rollback()`` when a call raised, so that a
    batch retried record by record starts from the state before that call;
    ``committable(consumed)`` to hold offsets back: given the next offset after
    what was processed per partition, return what may be committed (a processor
    whose state reaches its changelog later than its records are processed);
    ``on_stop()`` once after a clean stop, for its last outputs before the final commit.
    """

    def __call__(self, records: list[Record]) -> BatchResult: ...


class StreamWorker:
    """poll -> process -> produce (acks=all) -> commit, until told to stop.

    The processor is pure domain code: it gets raw records and returns output
    records and dead letters. If it raises on a batch, the batch is processed
    record by record so that one poison record is dead-lettered instead of
    stopping the worker or taking its neighbours down with it.
    """

    def __init__(
        self,
        name: str,
        consumer: BatchConsumer,
        producer: Producer,
        processor: Processor,
        metrics: TransportMetrics,
        health: Health,
        deadletter_topic: str,
        poll_timeout_ms: int = 500,
    ) -> None:
        self.name = name
        self._consumer = consumer
        self._producer = producer
        self._process = processor
        self._metrics = metrics
        self._health = health
        self._deadletter_topic = deadletter_topic
        self._poll_timeout_ms = poll_timeout_ms
        self._reported_down = False
        self._on_partitions = getattr(processor, "on_partitions", None)
        self._on_idle = getattr(processor, "on_idle", None)
        self._idle_every_s = float(getattr(processor, "idle_interval_s", 1.0))
        self._rollback_hook = getattr(processor, "rollback", None)
        self._committable = getattr(processor, "committable", None)
        self._on_stop = getattr(processor, "on_stop", None)
        self._next_idle = 0.0
        #: per partition: the next offset after what was processed, and what was committed
        self._consumed: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}

    def run(self, stop: threading.Event) -> None:
        self._health.set_ready(True, "consuming")
        try:
            while not stop.is_set():
                self.run_once()
            self._finish()
        finally:
            self._health.set_ready(False, "stopping")
            # Everything produced was already flushed and committed batch by batch;
            # closing leaves the group at once so partitions move without waiting
            # for the session timeout.
            self._consumer.close()
            self._producer.close()
            log.info("%s stopped cleanly", self.name)

    def run_once(self) -> int:
        """One poll batch end to end. Returns the number of records consumed."""
        self._health.tick()
        records = self._consumer.poll(self._poll_timeout_ms)
        self._report_readiness()
        self._consumer.update_lag(every_s=1.0 if self._on_idle else 5.0)
        started = time.perf_counter()
        pending = self._partition_changes()
        if records:
            pending.merge(self._process_safely(records))
        if self._on_idle is not None and time.monotonic() >= self._next_idle:
            # Time moves on quiet partitions too (an SLA expires when nobody posts).
            self._next_idle = time.monotonic() + self._idle_every_s
            pending.merge(self._on_idle(datetime.now(timezone.utc), self._consumer.caught_up))
        if not records and not pending.outputs and not pending.dead_letters:
            return 0
        outputs = list(pending.outputs)
        for dl in pending.dead_letters:
            log.warning("dead-lettered %s[%s]@%s: %s", dl.source_topic, dl.source_partition, dl.source_offset, dl.error)
            self._metrics.count_dead_letter(dl.reason)
            outputs.append(Outgoing(self._deadletter_topic, None, dl.to_bytes()))
        self._producer.send_all(outputs)
        self._commit(records)
        if records:
            self._metrics.batch_seconds.labels(self.name).observe(time.perf_counter() - started)
        return len(records)

    def _finish(self) -> None:
        """A clean stop: the processor's last outputs (``on_stop``), produced and committed
        before the worker leaves the group (a notifier records the deliveries still in flight)."""
        if self._on_stop is None:
            return
        last = self._on_stop() or BatchResult()
        outputs = list(last.outputs)
        for dl in last.dead_letters:
            self._metrics.count_dead_letter(dl.reason)
            outputs.append(Outgoing(self._deadletter_topic, None, dl.to_bytes()))
        self._producer.send_all(outputs)
        self._commit([])

    def _commit(self, records: list[Record]) -> None:
        """Commit what is safe: everything consumed, unless the processor holds some
        back (state not yet in its changelog must be rebuilt from these records)."""
        for tp, end in batch_ends(records).items():
            self._consumed[tp] = max(self._consumed.get(tp, 0), end)
        if self._committable is None:
            if records:
                self._consumer.commit(records)
            return
        target = self._committable(dict(self._consumed))
        fresh = {tp: end for tp, end in target.items() if end > self._committed.get(tp, -1)}
        if fresh:
            self._consumer.commit_offsets(fresh)
            self._committed.update(fresh)

    def _partition_changes(self) -> BatchResult:
        """Hand queued ownership changes to the processor, in order, before any record."""
        result = BatchResult()
        events = self._consumer.partition_events
        while events:
            event = events.pop(0)
            if event.kind != "assigned":
                for tp in event.partitions:  # another member resumes from the group's commit
                    self._consumed.pop(tp, None)
                    self._committed.pop(tp, None)
            if self._on_partitions is not None:
                result.merge(self._on_partitions(event) or BatchResult())
        return result

    def _report_readiness(self) -> None:
        # /readyz tells an orchestrator (and an operator) that the broker is away;
        # /healthz stays green because the loop itself is alive and retrying.
        down = self._consumer.unavailable_since is not None
        if down != self._reported_down:
            self._reported_down = down
            self._health.set_ready(not down, "Kafka unavailable, retrying" if down else "consuming")

    def _process_safely(self, records: list[Record]) -> BatchResult:
        try:
            return self._process(records)
        except Exception:  # noqa: BLE001 - isolate the poison record below
            log.exception("%s: batch of %d failed; retrying record by record", self.name, len(records))
            self._rollback()
        merged = BatchResult()
        for r in records:
            try:
                one = self._process([r])
            except Exception as exc:  # noqa: BLE001 - this record alone is broken
                self._rollback()
                merged.dead_letters.append(dead_letter(r, "processing_error", repr(exc), self.name))
                continue
            merged.merge(one)
        return merged

    def _rollback(self) -> None:
        # A call that raised may have changed processor state half-way (a detector
        # saw half the batch): undo it, or the retry would count those events twice.
        if self._rollback_hook is not None:
            self._rollback_hook()


def _client_state(consumer: KafkaConsumer) -> str:
    """kafka-python's own view, for the log line of a rebuild: what to look at when
    finding out why the client wedged. Private attributes of the pinned version, read
    defensively: a diagnostic must never be what fails."""
    parts = []
    try:
        meta = consumer.group_metadata()
        parts.append(f"member={meta.member_id or '-'} generation={meta.generation_id} state={meta.state}")
        parts.append(f"assigned={sorted(f'{tp.topic}[{tp.partition}]' for tp in consumer.assignment())}")
        coordinator = getattr(consumer, "_coordinator", None)
        fetcher = getattr(consumer, "_fetcher", None)
        for name, obj, attr in (
            ("rejoin_needed", coordinator, "rejoin_needed"),
            ("heartbeat_enabled", coordinator, "_heartbeat_enabled"),
            ("coordinator", coordinator, "coordinator_id"),
            ("join_task", coordinator, "_join_task"),
            ("pending_fetch_nodes", fetcher, "_nodes_with_pending_fetch_requests"),
            ("fetch_futures", fetcher, "_fetch_futures"),
        ):
            if obj is not None and hasattr(obj, attr):
                value = getattr(obj, attr)
                parts.append(f"{name}={len(value) if attr == '_fetch_futures' else value!r}")
        cluster = getattr(consumer, "_cluster", None)
        if cluster is not None:
            last_ok = getattr(cluster, "_last_successful_refresh_ms", None)
            if last_ok:
                parts.append(f"metadata_age={time.monotonic() - last_ok / 1000:.0f}s")
            loop = getattr(cluster, "_refresh_loop_future", None)
            if loop is not None:
                # a finished loop never refreshes metadata again (its failure, if any, is shown)
                done = loop.is_done
                parts.append(f"metadata_loop={'ended' if done else 'running'}")
                if done and getattr(loop, "exception", None) is not None:
                    parts.append(f"metadata_loop_error={loop.exception!r}")
            known = {t: len(cluster.partitions_for_topic(t) or ()) for t in consumer.subscription() or ()}
            parts.append(f"metadata_partitions={known}")
        hb = consumer.metrics().get("consumer-coordinator-metrics", {}).get("last-heartbeat-seconds-ago")
        if hb is not None:
            parts.append(f"last_heartbeat={hb:.0f}s_ago")
    except Exception as exc:  # noqa: BLE001 - see above
        parts.append(f"(state unreadable: {exc!r})")
    return " ".join(parts)
