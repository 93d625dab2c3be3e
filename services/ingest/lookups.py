"""``repwatch poll``'s side of ``ingest.lookups``: fetch each announced mention once, durably.

The receiver writes a :class:`~shared.schemas.MentionLookup` for every Instagram
``mentions`` webhook (ids only: no text, no author). Here each one is fetched with the
token of the account that was @mentioned (:func:`services.ingest.pollers.instagram.mention_request`),
and what came back decides (:func:`~services.ingest.pollers.instagram.read_mention`):

- the mention: its ``created`` event goes to ``mentions.raw``;
- "does not exist" (Graph error 100/33) twice, one back-off apart: recorded as ``gone``,
  no event. Once is not enough: a mention the webhook announced may not be readable yet;
- any failure (timeout, reset, 429, 5xx, auth, a 2xx without the mention, an unreadable
  body): tried again after ``backoff * 2^n`` (capped, or the ``Retry-After`` asked for),
  up to ``max_attempts`` reads, then dead-lettered as ``lookup_<reason>`` with the record,
  so it can be replayed once the cause is fixed. A lookup for an account no source
  configures is dead-lettered at once (``lookup_not_configured``).

Offsets: a lookup's offset counts as done only once its event (or dead letter) is
acknowledged by Kafka, or its ``gone`` recorded; per partition, what is committed is the
lowest offset not done yet. A crash (or a SIGTERM with retries still waiting) therefore
re-reads every unfinished lookup and fetches it again, and since the event id comes from
the lookup's ids alone (:func:`~services.ingest.pollers.instagram.mention_event_id`), the
event a re-fetch writes is the same event. Meta retries a webhook for hours: a lookup
whose key this process already finished (or is working on) is a ``duplicate`` and costs
no API call.

No I/O here: the fetch, the send and the clock come in, so tests drive it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from kafka.structs import TopicPartition

from services.ingest.pollers import Failure, Reply, Request
from services.ingest.pollers.instagram import MentionAccount, mention_request, read_mention
from shared.kafka.transport import Outgoing, Record, dead_letter
from shared.metric_defs import POLL_EVENTS, POLL_LOOKUPS, POLL_LOOKUPS_PENDING, POLL_REQUESTS
from shared.metrics import TransportMetrics
from shared.schemas import InvalidRecord, MentionLookup, Platform, decode

log = logging.getLogger(__name__)

#: "does not exist" answers, in different reads, before a lookup is recorded as gone
GONE_CONFIRMATIONS = 2
#: outcomes of a finished lookup (a metric label; bounded)
OUTCOMES = frozenset({"fetched", "gone", "own_media", "duplicate", "dead_lettered"})


@dataclass(slots=True)
class _Pending:
    record: Record
    lookup: MentionLookup
    next_at: datetime
    attempts: int = 0
    gone_seen: int = 0


class LookupFetcher:
    """The lookups read from ``ingest.lookups`` and not finished yet, and one step of work.

    ``accounts``: Instagram account id -> (account, its access token). ``metrics``: the
    poller's metric children by name (the lookups share the poll request counter).
    """

    def __init__(
        self,
        accounts: Mapping[str, tuple[MentionAccount, str]],
        *,
        raw_topic: str,
        deadletter_topic: str,
        fetch: Callable[[Request], Reply],
        send: Callable[[list[Outgoing]], None],
        clock: Callable[[], datetime],
        metrics: Mapping[str, object] | None = None,
        transport_metrics: TransportMetrics | None = None,
        worker: str = "poll",
        max_attempts: int = 6,
        backoff: timedelta = timedelta(seconds=30),
        max_backoff: timedelta = timedelta(hours=1),
        max_pending: int = 1000,
        per_step: int = 50,
        remember: int = 20_000,
    ) -> None:
        if max_attempts < GONE_CONFIRMATIONS:
            raise ValueError(f"max_attempts must be at least {GONE_CONFIRMATIONS}")
        self.accounts = dict(accounts)
        self.raw_topic = raw_topic
        self.deadletter_topic = deadletter_topic
        self.fetch = fetch
        self.send = send
        self.clock = clock
        self.metrics = metrics
        self.transport_metrics = transport_metrics
        self.worker = worker
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_pending = max_pending
        self.per_step = per_step
        self._pending: dict[str, _Pending] = {}
        #: keys finished by this process, newest last (bounded): Meta's retries cost no call
        self._done: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        #: per partition: offsets read and not done yet, and the next offset after the last read
        self._open: dict[TopicPartition, set[int]] = {}
        self._end: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        #: dead letters of records refused on arrival, sent with the next step
        self._refused: list[tuple[Record, str, Outgoing]] = []

    # ------------------------------------------------------------------ state

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def full(self) -> bool:
        """Too many lookups waiting: stop reading more until some finish (memory stays bounded)."""
        return len(self._pending) >= self.max_pending

    @property
    def next_at(self) -> datetime | None:
        if self._refused:
            return self.clock()
        return min((p.next_at for p in self._pending.values()), default=None)

    def _inc(self, metric: str, *labels: str) -> None:
        if self.metrics is not None:
            self.metrics[metric].labels(*labels).inc()  # type: ignore[attr-defined]

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics[POLL_LOOKUPS_PENDING.name].set(len(self._pending))  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ reading

    def add(self, records: Iterable[Record]) -> None:
        """Take up records read from ``ingest.lookups``."""
        now = self.clock()
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            # the first offset read is where the group's last commit stood: nothing to commit yet
            self._committed.setdefault(tp, r.offset)
            self._end[tp] = max(self._end.get(tp, 0), r.offset + 1)
            self._open.setdefault(tp, set()).add(r.offset)
            try:
                lookup = decode(MentionLookup, r.value)
            except InvalidRecord as exc:
                self._refuse(r, exc.reason, exc.detail)
                continue
            if lookup.key in self._done or lookup.key in self._pending:
                # its offset is above the first one's, so the commit still waits for that one
                self._close(r)
                self._inc(POLL_LOOKUPS.name, lookup.platform.value, "duplicate")
                continue
            if lookup.platform is not Platform.INSTAGRAM or lookup.account_id not in self.accounts:
                self._refuse(
                    r,
                    "lookup_not_configured",
                    f"no instagram_mentions source for account {lookup.account_id} ({lookup.platform.value})",
                )
                continue
            self._pending[lookup.key] = _Pending(r, lookup, now)
        self._gauge()

    def _refuse(self, r: Record, reason: str, detail: str) -> None:
        dl = dead_letter(r, reason, detail, self.worker)
        self._refused.append((r, reason, Outgoing(self.deadletter_topic, None, dl.to_bytes())))
        log.warning("lookup at %s[%d]@%d dead-lettered (%s): %s", r.topic, r.partition, r.offset, reason, detail)

    def drop(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions this process no longer owns: their new owner re-reads from the last commit."""
        gone = set(partitions)
        for key, p in list(self._pending.items()):
            if TopicPartition(p.record.topic, p.record.partition) in gone:
                del self._pending[key]
        self._refused = [x for x in self._refused if TopicPartition(x[0].topic, x[0].partition) not in gone]
        for tp in gone:
            self._open.pop(tp, None)
            self._end.pop(tp, None)
            self._committed.pop(tp, None)
        self._gauge()

    # ------------------------------------------------------------------ fetching

    def step(self) -> dict[TopicPartition, int]:
        """Fetch every due lookup once, send what they gave (raises if Kafka does not
        acknowledge: nothing of this step is then done), and return the offsets that may
        now be committed (only those that moved)."""
        now = self.clock()
        out: list[Outgoing] = [o for _, _, o in self._refused]
        refused = [r for r, _, _ in self._refused]
        #: reasons of the dead letters in ``out``, counted once Kafka has them
        dead = [reason for _, reason, _ in self._refused]
        #: (key, outcome) of the lookups this step finishes, once ``out`` is acknowledged
        finished: list[tuple[str, str]] = []
        # a bounded number of reads per step: the loop must come back to its consumer's poll
        # well within the group's max.poll.interval, whatever the backlog after an outage
        due = [(k, p) for k, p in self._pending.items() if p.next_at <= now][: self.per_step]
        for key, p in due:
            account, token = self.accounts[p.lookup.account_id]
            req = mention_request(p.lookup, account.api, token)
            got = read_mention(p.lookup, self.fetch(req), self.clock())
            p.attempts += 1
            platform = p.lookup.platform
            self._inc(POLL_REQUESTS.name, platform.value, "lookup", got.result)
            if got.event is not None:
                out.append(Outgoing(self.raw_topic, got.event.brand.encode("utf-8"), got.event.to_bytes()))
                finished.append((key, "fetched"))
                self._inc(POLL_EVENTS.name, platform.value, got.event.event_type.value)
                log.info("lookup %s: fetched %s", p.lookup.kind.value, got.event.mention_id)
                continue
            if got.own_media:
                finished.append((key, "own_media"))
                log.info(
                    "lookup on media %s: a comment on the account's own media (the comments webhook has it)",
                    p.lookup.media_id,
                )
                continue
            if got.gone:
                p.gone_seen += 1
                if p.gone_seen >= GONE_CONFIRMATIONS:
                    finished.append((key, "gone"))
                    log.info("lookup %s on media %s: gone before it was read", p.lookup.kind.value, p.lookup.media_id)
                    continue
                failure = Failure("not_visible", "does not exist (yet?)")
            else:
                assert got.failure is not None
                failure = got.failure
            if p.attempts >= self.max_attempts:
                reason = f"lookup_{failure.reason}"
                dl = dead_letter(p.record, reason, f"{p.attempts} reads, the last: {failure.detail}"[:500], self.worker)
                out.append(Outgoing(self.deadletter_topic, None, dl.to_bytes()))
                finished.append((key, "dead_lettered"))
                dead.append(reason)
                log.warning(
                    "lookup %s on media %s dead-lettered after %d reads: %s (%s) %s",
                    p.lookup.kind.value,
                    p.lookup.media_id,
                    p.attempts,
                    failure.reason,
                    failure.detail,
                    req.redacted_url(),
                )
                continue
            wait = min(self.backoff * (2 ** min(p.attempts - 1, 16)), self.max_backoff)
            if failure.retry_after_s:
                wait = max(wait, timedelta(seconds=failure.retry_after_s))
            p.next_at = now + wait
            log.info(
                "lookup %s on media %s: %s, read %d of %d, next in %.0fs",
                p.lookup.kind.value,
                p.lookup.media_id,
                failure.reason,
                p.attempts,
                self.max_attempts,
                wait.total_seconds(),
            )
        if out:
            self.send(out)  # acknowledged (or raised) before anything below counts as done
        self._refused = []
        if self.transport_metrics is not None:
            for reason in dead:
                self.transport_metrics.count_dead_letter(reason)
        for r in refused:
            self._close(r)
        for key, outcome in finished:
            p = self._pending.pop(key)
            self._close(p.record)
            self._inc(POLL_LOOKUPS.name, p.lookup.platform.value, outcome)
            self._done[key] = None
            self._done.move_to_end(key)
            while len(self._done) > self._remember:
                self._done.popitem(last=False)
        self._gauge()
        return self._committable()

    def _close(self, r: Record) -> None:
        self._open.get(TopicPartition(r.topic, r.partition), set()).discard(r.offset)

    def _committable(self) -> dict[TopicPartition, int]:
        fresh: dict[TopicPartition, int] = {}
        for tp, end in self._end.items():
            open_ = self._open.get(tp)
            target = min(open_) if open_ else end
            if target > self._committed.get(tp, 0):
                fresh[tp] = target
        self._committed.update(fresh)
        return fresh
