"""Alerting state that survives crashes and partition moves: a compacted changelog.

Every brand's engine state (watermark, owned channels, every detector's state)
is written as one JSON snapshot to the ``alerting.state`` topic, keyed by brand.
That topic has exactly as many partitions as ``mentions.scored`` and the same
key, so Kafka's partitioner puts a brand's snapshots on the partition number of
its mentions: whoever is assigned ``mentions.scored[p]`` restores from
``alerting.state[p]`` alone. Compaction keeps the newest snapshot per brand.

Each snapshot records the input offset it covers (the last ``mentions.scored``
offset of that brand folded into it). The worker's order per batch is:

1. process the batch (detectors mutate in memory);
2. produce the alerts AND the snapshots of every brand the batch touched;
3. wait until Kafka acknowledged all of them;
4. commit the input offsets.

Crash cases:
- before 3 completes: offsets are not committed; the batch is replayed from the
  last commit onto the last acknowledged snapshots, giving the same alerts with
  the same ids and sequence numbers (duplicates a consumer drops by
  ``(alert_id, status, sequence)``), never a second incident;
- between 3 and 4: the batch is replayed, but its events are at or below the
  offsets the restored snapshots cover, so they are skipped: no double counting
  and no re-emitted alerts;
- a partition moves to another worker: the new owner restores the snapshots
  before it processes any record of that partition; the old owner drops the
  brands of revoked partitions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.config import WorkerSettings
from shared.kafka.transport import Outgoing, Record, topic_partitions

log = logging.getLogger(__name__)

#: bumped when the envelope around the engine snapshot changes
ENVELOPE_VERSION = 1


class StateTopicMismatch(RuntimeError):
    """The state topic does not have the input topic's partition count."""


@dataclass(frozen=True, slots=True)
class StoredState:
    brand: str
    #: input partition and the last input offset folded into the snapshot (-1: none yet)
    partition: int
    offset: int
    snapshot: dict[str, Any]


def encode_state(topic: str, brand: str, partition: int, offset: int, snapshot: dict[str, Any]) -> Outgoing:
    body = {"v": ENVELOPE_VERSION, "brand": brand, "partition": partition, "offset": offset, "snapshot": snapshot}
    return Outgoing(topic, brand.encode("utf-8"), json.dumps(body, separators=(",", ":")).encode("utf-8"))


def decode_state(record: Record) -> StoredState | None:
    """One changelog record; None for a tombstone. Raises ValueError for one we cannot read."""
    if record.value is None:
        return None
    body = json.loads(record.value)
    if not isinstance(body, dict) or body.get("v") != ENVELOPE_VERSION:
        raise ValueError(f"state record of unknown version {body.get('v') if isinstance(body, dict) else body!r}")
    return StoredState(body["brand"], int(body["partition"]), int(body["offset"]), body["snapshot"])


def latest_per_brand(records: Iterable[Record]) -> dict[str, StoredState]:
    """Replay a changelog partition: the newest snapshot of each brand wins."""
    out: dict[str, StoredState] = {}
    for r in records:
        try:
            st = decode_state(r)
        except (ValueError, KeyError, TypeError) as exc:
            # A snapshot we cannot read must not stop the worker: that brand starts
            # from scratch (its detectors re-learn), which the log says loudly.
            log.error("unreadable state record %s[%s]@%s skipped: %s", r.topic, r.partition, r.offset, exc)
            continue
        if st is None:
            if r.key is not None:
                out.pop(r.key.decode("utf-8", "replace"), None)
            continue
        out[st.brand] = st
    return out


def check_state_topic(settings: WorkerSettings) -> None:
    """The state topic must have exactly the partitions of ``mentions.scored``, or a
    brand's snapshots would land on another partition than its mentions."""
    scored = topic_partitions(settings, settings.topics.scored)
    state = topic_partitions(settings, settings.topics.alerting_state)
    if scored != state:
        raise StateTopicMismatch(
            f"{settings.topics.alerting_state} has {state} partitions but {settings.topics.scored} has {scored}; "
            "they must match (a brand's state lives on the partition number of its mentions). Recreate the state "
            "topic with the same partition count, or point REPWATCH_TOPIC_PREFIX at a fresh set of topics"
        )
