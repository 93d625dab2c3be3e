"""The delivery ledger: what reached whom, so a replayed alert never reaches a person twice.

One entry per delivery, keyed by (alert_id, status, sequence, target): delivered,
given up (dead-lettered), or superseded (a newer update of the incident was sent
instead). Entries live in memory and on a compacted topic (``notifier.ledger``)
with the partition count of ``alerts``: an entry goes to the partition number of
the alert it is about, so whoever owns ``alerts[p]`` restores ``ledger[p]``
alone, before its first record.

The ledger is bounded: an entry older than ``ttl_s`` (longer than the alerts
topic keeps records, 7 days by default, so nothing that can still be replayed is
forgotten) or beyond ``max_entries`` is dropped and a tombstone lets compaction
remove it from the topic too.

It also keeps the incidents open at each Alertmanager receiver (the last alert
sent), because Alertmanager wants open alerts re-sent until they resolve, and a
restarted notifier must keep re-sending them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from shared.kafka.transport import Outgoing, Record
from shared.schemas import Alert, InvalidRecord, decode

log = logging.getLogger(__name__)

VERSION = 1
_SEP = "\x1f"


class State(StrEnum):
    DELIVERED = "delivered"
    GIVEN_UP = "given_up"
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True, order=True)
class DeliveryKey:
    """One notification to one target: what a person must see at most once."""

    alert_id: str
    status: str
    sequence: int
    target: str

    def encode(self) -> bytes:
        return _SEP.join(("d", self.alert_id, self.status, str(self.sequence), self.target)).encode("utf-8")

    @property
    def id(self) -> str:
        """Stable across retries and restarts: a webhook's ``webhook-id``, an e-mail's Message-ID."""
        return "msg_" + hashlib.sha256(self.encode()).hexdigest()[:32]

    def __str__(self) -> str:
        return f"{self.target}:{self.alert_id[:12]}:{self.status}#{self.sequence}"


@dataclass(frozen=True, slots=True)
class Entry:
    state: State
    #: wall time (epoch seconds) it was recorded
    at: float
    partition: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OpenIncident:
    target: str
    alert: Alert
    partition: int
    at: float


def _open_key(target: str, alert_id: str) -> bytes:
    return _SEP.join(("o", target, alert_id)).encode("utf-8")


class Ledger:
    def __init__(self, topic: str, *, ttl_s: float = 8 * 86400, max_entries: int = 1_000_000) -> None:
        self.topic = topic
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        #: oldest first (insertion order is recording order), for expiry
        self._entries: OrderedDict[DeliveryKey, Entry] = OrderedDict()
        self._open: dict[tuple[str, str], OpenIncident] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: DeliveryKey) -> Entry | None:
        return self._entries.get(key)

    def done(self, key: DeliveryKey) -> bool:
        """Whether this notification must not be sent again. A given-up one never reached a
        person, so it is not done: re-publishing the alert from its dead letter (once the
        receiver is fixed) delivers it, and a replay after a crash tries it again."""
        entry = self._entries.get(key)
        return entry is not None and entry.state is not State.GIVEN_UP

    def record(self, key: DeliveryKey, state: State, at: float, partition: int, reason: str = "") -> list[Outgoing]:
        """Note a finished delivery; returns what to produce (the entry, and tombstones of evicted ones)."""
        self._entries.pop(key, None)
        self._entries[key] = Entry(state, at, partition, reason)
        value = {"v": VERSION, "state": state.value, "at": at, "reason": reason}
        out = [Outgoing(self.topic, key.encode(), json.dumps(value).encode(), partition=partition)]
        while len(self._entries) > self.max_entries:
            old, entry = self._entries.popitem(last=False)
            out.append(Outgoing(self.topic, old.encode(), None, partition=entry.partition))  # type: ignore[arg-type]
        return out

    def expire(self, now: float, limit: int = 10_000) -> list[Outgoing]:
        """Drop entries older than the TTL (at most ``limit`` per call): tombstones to produce."""
        out: list[Outgoing] = []
        while self._entries and len(out) < limit:
            key, entry = next(iter(self._entries.items()))
            if now - entry.at < self.ttl_s:
                break
            del self._entries[key]
            out.append(Outgoing(self.topic, key.encode(), None, partition=entry.partition))  # type: ignore[arg-type]
        for (target, aid), inc in list(self._open.items()):
            if now - inc.at >= self.ttl_s:
                out.extend(self.close(target, aid))
        return out

    # --- incidents open at an Alertmanager ------------------------------------------------------------------

    def open(self, target: str, alert: Alert, partition: int, at: float) -> list[Outgoing]:
        self._open[(target, alert.alert_id)] = OpenIncident(target, alert, partition, at)
        value = {"v": VERSION, "at": at, "alert": json.loads(alert.to_bytes())}
        return [Outgoing(self.topic, _open_key(target, alert.alert_id), json.dumps(value).encode(), partition)]

    def close(self, target: str, alert_id: str) -> list[Outgoing]:
        inc = self._open.pop((target, alert_id), None)
        if inc is None:
            return []
        return [Outgoing(self.topic, _open_key(target, alert_id), None, partition=inc.partition)]  # type: ignore[arg-type]

    def open_incidents(self) -> list[OpenIncident]:
        return list(self._open.values())

    # --- restore and ownership ------------------------------------------------------------------------------

    def load(self, records: Iterable[Record], now: float) -> int:
        """Replay ledger partitions (oldest first). Returns the entries now held."""
        loaded: dict[DeliveryKey, Entry] = {}
        for r in records:
            try:
                self._load_one(r, now, loaded)
            except (ValueError, KeyError, TypeError, InvalidRecord) as exc:
                # a damaged entry must not stop the worker: at worst one notification repeats
                log.error("unreadable ledger record %s[%s]@%s skipped: %s", r.topic, r.partition, r.offset, exc)
        for key, entry in loaded.items():
            self._entries.setdefault(key, entry)
        self._entries = OrderedDict(sorted(self._entries.items(), key=lambda kv: kv[1].at))
        return len(self._entries)

    def _load_one(self, r: Record, now: float, loaded: dict[DeliveryKey, Entry]) -> None:
        if r.key is None:
            return
        parts = r.key.decode("utf-8").split(_SEP)
        if parts[0] == "d" and len(parts) == 5:
            key = DeliveryKey(parts[1], parts[2], int(parts[3]), parts[4])
            if r.value is None:
                loaded.pop(key, None)
                return
            body = json.loads(r.value)
            if body.get("v") != VERSION:
                raise ValueError(f"ledger entry of unknown version {body.get('v')!r}")
            if now - float(body["at"]) < self.ttl_s:
                loaded[key] = Entry(State(body["state"]), float(body["at"]), r.partition, body.get("reason", ""))
            else:
                loaded.pop(key, None)
        elif parts[0] == "o" and len(parts) == 3:
            if r.value is None:
                self._open.pop((parts[1], parts[2]), None)
                return
            body = json.loads(r.value)
            alert = decode(Alert, json.dumps(body["alert"]).encode())
            self._open[(parts[1], parts[2])] = OpenIncident(parts[1], alert, r.partition, float(body["at"]))
        else:
            raise ValueError("unknown ledger key")

    def forget_partitions(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        self._entries = OrderedDict((k, e) for k, e in self._entries.items() if e.partition not in gone)
        self._open = {k: v for k, v in self._open.items() if v.partition not in gone}
