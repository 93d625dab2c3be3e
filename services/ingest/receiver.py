"""The webhook receiver: one ASGI app for every push connector (``/hooks/<platform>``).

A request is answered from what happened to it, in this order:

1. unknown route 404, wrong method 405, body over the route's limit 413 (counted,
   nothing kept: nobody has proven who sent it);
2. the connector verifies and parses (:mod:`services.ingest.connectors`):
   :class:`AuthFailed` is 401 and no dead letter; a handshake is answered with its reply;
3. events go to ``mentions.raw`` (key: brand), lookups (a mention announced without
   its content: Instagram @mentions) to ``ingest.lookups`` (key: the mention) for the
   poller to fetch, refused parts and wholly :class:`Rejected` pushes to ``deadletter``
   with their reason, and the request is answered with the connector's ``ack`` only once
   Kafka acknowledged every one of those records (acks=all). A push that carries nothing
   to keep (a reaction, a service message) is acknowledged at once;
4. Kafka not acknowledging within the ack timeout is 503: the platform retries later,
   and since event ids come only from what the platform sends, the retry's events are
   the same events (a duplicate downstream deduplicates, never a second mention).

While Kafka is down, waiting the full ack timeout for every request would pile up
connections and buffered records for nothing. :class:`KafkaPublisher` therefore opens a
circuit: after a failed acknowledgement, requests get 503 at once, except one probe per
interval that tries Kafka again; the first acknowledged probe closes the circuit.

Everything here runs on the event loop and never blocks it: parsing a push is
microseconds to a few milliseconds, and Kafka's acknowledgement arrives as a callback
from the producer's I/O thread. The HTTP server around it lives in ``receiver_main``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol
from urllib.parse import parse_qsl

from prometheus_client import CollectorRegistry

from services.ingest.connectors import AuthFailed, Connector, Delivery, Push, Rejected
from shared import metric_defs as M
from shared.config import TopicNames
from shared.kafka.transport import Outgoing
from shared.metrics import Health, TransportMetrics
from shared.schemas import DeadLetter, EventType, MentionEvent, MentionLookup

log = logging.getLogger(__name__)

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: why a request was refused before any connector saw it (with the connectors' AUTH_REASONS)
REFUSE_REASONS = frozenset({"too_large", "method_not_allowed"})
#: the dead-letter reason of a connector that raised something it should not have (a bug):
#: the push is kept for a replay after the fix, and the platform stops retrying it meanwhile
BUG_REASON = "processing_error"


class NotAcknowledged(Exception):
    """Kafka did not acknowledge the records in time (or the circuit is open)."""


class Publisher(Protocol):
    async def publish(self, records: Sequence[Outgoing]) -> None:
        """Return once Kafka acknowledged every record; raise :class:`NotAcknowledged` otherwise."""
        ...


class ReceiverMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = M.RECEIVER_REQUESTS.create(registry)
        self.seconds = M.RECEIVER_REQUEST_SECONDS.create(registry)
        self.events = M.RECEIVER_EVENTS.create(registry)
        self.refused = M.RECEIVER_REFUSED.create(registry)
        self.skipped = M.RECEIVER_SKIPPED.create(registry)
        self.lookups = M.RECEIVER_LOOKUPS.create(registry)
        self.in_flight = M.RECEIVER_IN_FLIGHT.create(registry)
        self.kafka_down = M.RECEIVER_KAFKA_DOWN.create(registry)


class KafkaPublisher:
    """Waits for Kafka's acknowledgement on the event loop, with a circuit breaker.

    ``producer`` is anything with the transport producer's ``send_then``. ``health``'s
    readiness follows the circuit, so an orchestrator can take the receiver out of its
    load balancer while Kafka is away (the platforms' retries then go to another replica
    or wait).
    """

    def __init__(
        self,
        producer: Any,
        *,
        ack_timeout_s: float,
        probe_interval_s: float,
        metrics: ReceiverMetrics,
        health: Health | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._producer = producer
        self._ack_timeout_s = ack_timeout_s
        self._probe_interval_s = probe_interval_s
        self._metrics = metrics
        self._health = health
        self._clock = clock
        self._down_since: float | None = None
        self._next_probe = 0.0
        # acknowledgements arrive on the producer's I/O thread, often dozens at once (one
        # produce response covers a batch): they are queued and the loop is woken once per
        # burst, not once per request (each wake-up is a syscall and a GIL hand-over)
        self._acks: deque[tuple[asyncio.Future[BaseException | None], BaseException | None]] = deque()
        self._wake_pending = False
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self._down_since is not None

    async def publish(self, records: Sequence[Outgoing]) -> None:
        if self._down_since is not None:
            now = self._clock()
            if now < self._next_probe:
                raise NotAcknowledged("Kafka is unavailable (waiting for the next probe)")
            self._next_probe = now + self._probe_interval_s
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[BaseException | None] = loop.create_future()

        def done(error: BaseException | None) -> None:
            with self._lock:
                self._acks.append((acked, error))
                if self._wake_pending:
                    return
                self._wake_pending = True
            loop.call_soon_threadsafe(self._settle_all)

        self._producer.send_then(records, done)
        timer = loop.call_later(self._ack_timeout_s, _settle, acked, _TIMED_OUT)
        try:
            error = await acked
        finally:
            timer.cancel()
        if error is _TIMED_OUT:
            self._went_down(f"no acknowledgement within {self._ack_timeout_s:g}s")
            raise NotAcknowledged(f"Kafka did not acknowledge within {self._ack_timeout_s:g}s")
        if error is not None:
            self._went_down(repr(error))
            raise NotAcknowledged(f"Kafka refused the records: {error!r}")
        if self._down_since is not None:
            log.info(
                "receiver: Kafka acknowledges again after %.1fs; accepting webhooks", self._clock() - self._down_since
            )
            self._down_since = None
            self._metrics.kafka_down.set(0)
            if self._health is not None:
                self._health.set_ready(True, "receiving")

    def _went_down(self, why: str) -> None:
        if self._down_since is None:
            log.warning("receiver: Kafka unavailable (%s); answering 503 until it acknowledges again", why)
            self._down_since = self._clock()
            self._metrics.kafka_down.set(1)
            if self._health is not None:
                self._health.set_ready(False, "Kafka unavailable, answering 503")
        self._next_probe = self._clock() + self._probe_interval_s

    def _settle_all(self) -> None:
        with self._lock:
            acks, self._acks = self._acks, deque()
            self._wake_pending = False
        for fut, error in acks:
            _settle(fut, error)


class _TimedOut(Exception):
    """The ack timer fired first."""


_TIMED_OUT = _TimedOut()


def _settle(fut: asyncio.Future[BaseException | None], error: BaseException | None) -> None:
    if not fut.done():  # the ack timer and the acknowledgement race: the first one counts
        fut.set_result(error)


class RecentAuthors:
    """mention id -> author id of recently published comments, bounded (least recent out).

    VK's deletion payloads name the remover but not the author; with the author known,
    a removal by the author is told apart from one by the community's managers. Only
    what this process saw is known: after a restart, or for a comment older than the
    memory, the actor stays unknown (null), which the alerting engine handles.
    """

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._authors: OrderedDict[str, str] = OrderedDict()

    def __call__(self, mention_id: str) -> str | None:
        return self._authors.get(mention_id)

    def __len__(self) -> int:
        return len(self._authors)

    def remember(self, events: Iterable[MentionEvent]) -> None:
        if self._max <= 0:
            return
        for e in events:
            if e.event_type in (EventType.CREATED, EventType.EDITED, EventType.RESTORED):
                self._authors[e.mention_id] = e.author_id
                self._authors.move_to_end(e.mention_id)
        while len(self._authors) > self._max:
            self._authors.popitem(last=False)


@dataclass(frozen=True)
class Route:
    """One ``/hooks/<name>``: its connector, body limit and methods."""

    connector: Connector
    max_body_bytes: int
    #: POST for pushes; GET too where the platform's handshake is a GET (Meta's hub.challenge)
    methods: frozenset[str] = frozenset({"POST"})


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes = b""
    headers: tuple[tuple[bytes, bytes], ...] = ()


class Receiver:
    """The ASGI app. ``on_published(events)`` runs after Kafka acknowledged them."""

    def __init__(
        self,
        routes: Mapping[str, Route],
        publisher: Publisher,
        topics: TopicNames,
        *,
        metrics: ReceiverMetrics,
        transport_metrics: TransportMetrics,
        worker: str = "receiver",
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        on_published: Callable[[Sequence[MentionEvent]], None] | None = None,
        retry_after_s: int = 5,
    ) -> None:
        self._routes = dict(routes)
        self._publisher = publisher
        self._topics = topics
        self._metrics = metrics
        self._transport = transport_metrics
        self._worker = worker
        self._clock = clock
        self._on_published = on_published
        self._retry_after = str(retry_after_s).encode()
        self.events_published = 0
        # pre-bound label children: the labels are few and fixed, lookups cost on every request
        self._seconds = {name: metrics.seconds.labels(name) for name in self._routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: nothing here speaks them; the server closes the connection
        path: str = scope["path"]
        name = path[len("/hooks/") :] if path.startswith("/hooks/") else ""
        route = self._routes.get(name)
        if route is None:
            await self._answer(send, "unknown", Answer(404, b"not found\n", _TEXT))
            return
        self._metrics.in_flight.inc()
        try:
            answer = await self._handle(scope, receive, name, route)
            await self._answer(send, name, answer)
        finally:
            self._metrics.in_flight.dec()

    async def _handle(self, scope: Scope, receive: Receive, name: str, route: Route) -> Answer:
        method: str = scope["method"]
        if method not in route.methods:
            self._metrics.refused.labels(name, "method_not_allowed").inc()
            allow = ", ".join(sorted(route.methods)).encode()
            return Answer(405, b"method not allowed\n", (*_TEXT, (b"allow", allow)))
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > route.max_body_bytes:
            # refused before reading: a huge body must cost us nothing but this answer
            return self._too_large(name, route)
        try:
            body = await _read_body(receive, route.max_body_bytes)
        except _ClientGone:
            # nothing was accepted and nobody is listening: no Kafka, no dead letter
            return Answer(400, b"", ())
        if body is None:
            return self._too_large(name, route)
        started = time.perf_counter()
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        push = Push(method=method, body=body, received_at=self._clock(), headers=headers, query=query)
        answer = await self._process(name, route.connector, push)
        self._seconds[name].observe(time.perf_counter() - started)
        return answer

    def _too_large(self, name: str, route: Route) -> Answer:
        self._metrics.refused.labels(name, "too_large").inc()
        # close: the unread rest of the body must not be taken for the next request
        return Answer(413, f"body over {route.max_body_bytes} bytes\n".encode(), (*_TEXT, (b"connection", b"close")))

    async def _process(self, name: str, connector: Connector, push: Push) -> Answer:
        events: tuple[MentionEvent, ...] = ()
        lookups: tuple[MentionLookup, ...] = ()
        dead: list[DeadLetter] = []
        delivery: Delivery | None = None
        try:
            delivery = connector.handle(push)
        except AuthFailed as exc:
            self._metrics.refused.labels(name, exc.reason).inc()
            log.info("receiver: /hooks/%s refused (401 %s): %s", name, exc.reason, exc.detail)
            return Answer(401, b"unauthorized\n", _TEXT)
        except Rejected as exc:
            dead.append(self._dead_letter(name, exc.reason, exc.detail, push.body))
        except Exception as exc:  # noqa: BLE001 - a connector bug: keep the push, stop the retries
            log.exception("receiver: /hooks/%s connector failed on a push; dead-lettered as %s", name, BUG_REASON)
            dead.append(self._dead_letter(name, BUG_REASON, repr(exc), push.body))
        if delivery is not None:
            if delivery.reply is not None:
                return Answer(200, delivery.reply, ((b"content-type", delivery.reply_content_type.encode("latin-1")),))
            events = delivery.events
            dead.extend(self._dead_letter(name, p.reason, p.detail, p.raw) for p in delivery.rejected)
            for reason in delivery.skipped:
                self._metrics.skipped.labels(name, reason).inc()
            lookups = delivery.lookups
        records = [Outgoing(self._topics.raw, e.brand.encode("utf-8"), e.to_bytes()) for e in events]
        # a lookup is acknowledged like an event: once the platform has its 2xx it never
        # says again that the mention exists, so it must be on Kafka before the answer
        records.extend(Outgoing(self._topics.lookups, lk.key.encode("utf-8"), lk.to_bytes()) for lk in lookups)
        records.extend(Outgoing(self._topics.deadletter, None, d.to_bytes()) for d in dead)
        if records:
            try:
                await self._publisher.publish(records)
            except NotAcknowledged as exc:
                log.debug("receiver: /hooks/%s answered 503: %s", name, exc)
                return Answer(503, b"Kafka unavailable, retry later\n", (*_TEXT, (b"retry-after", self._retry_after)))
        for e in events:
            self._metrics.events.labels(name, e.event_type.value).inc()
        for lk in lookups:
            self._metrics.lookups.labels(name, lk.kind.value).inc()
        for d in dead:
            self._transport.count_dead_letter(d.reason)
            log.warning("receiver: /hooks/%s dead-lettered (%s): %s", name, d.reason, d.error[:300])
        self.events_published += len(events)
        if events and self._on_published is not None:
            self._on_published(events)
        return Answer(200, connector.ack, _TEXT)

    def _dead_letter(self, name: str, reason: str, detail: str, original: bytes) -> DeadLetter:
        return DeadLetter.build(
            reason=reason,
            error=detail,
            # like a file's "file:<path>": where the bytes came from, for whoever replays them
            source_topic=f"webhook:{name}",
            original=original,
            worker=self._worker,
            failed_at=self._clock(),
        )

    async def _answer(self, send: Send, name: str, answer: Answer) -> None:
        self._metrics.requests.labels(name, _STATUS.get(answer.status) or str(answer.status)).inc()
        headers = [(b"content-length", str(len(answer.body)).encode()), *answer.headers]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})


_TEXT = ((b"content-type", b"text/plain; charset=utf-8"),)
_STATUS = {code: str(code) for code in (200, 401, 404, 405, 413, 503)}


class _ClientGone(Exception):
    """The client disconnected before its body was complete."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes ``limit`` (chunked uploads have no length)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
