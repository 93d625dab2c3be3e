"""``repwatch receive``: the webhook receiver process (HTTP server, Kafka, settings).

The HTTP server is uvicorn (httptools parser, uvloop event loop) serving the plain ASGI
app of :mod:`services.ingest.receiver`: no web framework, since a few fixed routes need
none. uvicorn drains on its own terms (stop accepting, let requests in flight finish,
up to a timeout); this module keeps the signal handling of every other worker and tells
uvicorn to drain when ``ctx.stop`` is set, then the producer is flushed and closed by
:func:`run_producing_worker` and the process exits 0.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from services.ingest.connectors import MAX_PUSH_BYTES
from services.ingest.connectors.generic import GenericPush
from services.ingest.connectors.meta import MetaWebhooks
from services.ingest.connectors.telegram import MAX_UPDATE_BYTES, TelegramBot
from services.ingest.connectors.vk import VkCallback
from services.ingest.connectors.x import XAccountActivity
from services.ingest.receiver import KafkaPublisher, Receiver, ReceiverMetrics, RecentAuthors, Route
from services.ingest.settings import RECEIVER_CREDENTIALS, CredentialError, ReceiverSettings
from shared.brands import BrandsFile, BrandsFileError, load_brands
from shared.kafka.transport import Producer
from shared.runtime import EXIT_CONFIG, WorkerContext, fail, main_guard, run_producing_worker, start_context
from shared.schemas import MAX_RECORD_BYTES

log = logging.getLogger(__name__)


class ReceiverConfigError(ValueError):
    """The receiver cannot serve as configured. The message names settings, never values."""


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _by_group(text: str, setting: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for part in _list(text):
        group, sep, value = part.partition("=")
        if not sep or not group.strip().isdigit() or not value.strip():
            raise ReceiverConfigError(f"{setting}: each entry is GROUP_ID=VALUE (comma-separated)")
        out[int(group)] = value.strip()
    return out


def build_routes(
    settings: ReceiverSettings, brands: BrandsFile, authors: RecentAuthors | None = None
) -> dict[str, Route]:
    """One route per platform whose credentials are set. Raises ReceiverConfigError."""
    try:
        cred = {name: settings.credential(name) for name in RECEIVER_CREDENTIALS}
    except CredentialError as exc:
        raise ReceiverConfigError(str(exc)) from None
    limit = settings.receiver_max_body_bytes
    routes: dict[str, Route] = {}
    try:
        if cred["receiver_vk_secrets"]:
            text = cred["receiver_vk_secrets"]
            secrets: str | dict[int, str] = _by_group(text, "REPWATCH_RECEIVER_VK_SECRETS") if "=" in text else text
            confirmations = _by_group(cred["receiver_vk_confirmations"] or "", "REPWATCH_RECEIVER_VK_CONFIRMATIONS")
            vk = VkCallback(brands, secrets=secrets, confirmations=confirmations, author_of=authors)
            # the VK secret is inside the body: until it is checked the body is anyone's,
            # and the connector reads at most one record's worth to find it
            routes[vk.name] = Route(vk, min(limit, MAX_RECORD_BYTES))
        elif cred["receiver_vk_confirmations"]:
            raise ReceiverConfigError("REPWATCH_RECEIVER_VK_CONFIRMATIONS is set without REPWATCH_RECEIVER_VK_SECRETS")
        meta_secrets, verify_token = cred["receiver_meta_app_secrets"], cred["receiver_meta_verify_token"]
        if meta_secrets or verify_token:
            if not (meta_secrets and verify_token):
                raise ReceiverConfigError(
                    "Meta needs both REPWATCH_RECEIVER_META_APP_SECRETS and REPWATCH_RECEIVER_META_VERIFY_TOKEN"
                )
            meta = MetaWebhooks(brands, app_secrets=_list(meta_secrets), verify_token=verify_token)
            routes[meta.name] = Route(meta, min(limit, MAX_PUSH_BYTES), frozenset({"GET", "POST"}))
        if cred["receiver_telegram_secret_tokens"]:
            tg = TelegramBot(brands, secret_tokens=_list(cred["receiver_telegram_secret_tokens"]))
            routes[tg.name] = Route(tg, min(limit, MAX_UPDATE_BYTES))
        if cred["receiver_x_consumer_secret"]:
            x = XAccountActivity(brands, consumer_secret=cred["receiver_x_consumer_secret"])
            # GET: X's challenge-response check comes to the same URL
            routes[x.name] = Route(x, min(limit, MAX_PUSH_BYTES), frozenset({"GET", "POST"}))
        if cred["receiver_generic_secrets"]:
            generic = GenericPush(secrets=_list(cred["receiver_generic_secrets"]))
            routes[generic.name] = Route(generic, min(limit, MAX_PUSH_BYTES))
    except ValueError as exc:
        if isinstance(exc, ReceiverConfigError):
            raise
        # the connectors' own checks (empty secret, malformed whsec_, token alphabet): they
        # describe the rule, never the value
        raise ReceiverConfigError(str(exc)) from None
    if not routes:
        raise ReceiverConfigError(
            "no platform configured: set the credentials of at least one (REPWATCH_RECEIVER_VK_SECRETS, "
            "REPWATCH_RECEIVER_META_APP_SECRETS + _META_VERIFY_TOKEN, REPWATCH_RECEIVER_TELEGRAM_SECRET_TOKENS, "
            "REPWATCH_RECEIVER_X_CONSUMER_SECRET, REPWATCH_RECEIVER_GENERIC_SECRETS, or their _FILE variants)"
        )
    return routes


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before Kafka is touched: a taken port is a set-up error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(
    app: Any,
    sock: socket.socket,
    ctx: WorkerContext,
    settings: ReceiverSettings,
    *,
    loop: str = "uvloop",
    on_started: Callable[[], None] = lambda: None,
) -> None:
    """Run uvicorn on ``sock`` until ``ctx.stop``, then drain. Blocks (main thread).
    ``on_started`` runs once the socket accepts connections."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # the worker's own SIGTERM/SIGINT handlers stay: they set ctx.stop, read below
            yield

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                on_started()

        async def on_tick(self, counter: int) -> bool:
            ctx.health.tick()  # every 0.1 s: the event loop is alive
            if ctx.stop.is_set() and not self.should_exit:
                log.info("receiver: draining (no new connections, finishing requests in flight)")
                self.should_exit = True
            return await super().on_tick(counter)

    config = uvicorn.Config(
        app,
        loop=loop,
        http="httptools",
        lifespan="off",
        access_log=False,  # one line per webhook would drown the worker's own logs
        log_config=None,  # the worker's logging (shared.logging) stays as configured
        server_header=False,
        limit_concurrency=settings.receiver_max_concurrency,
        timeout_graceful_shutdown=int(settings.receiver_drain_timeout_s) or None,
        backlog=2048,
    )
    Server(config).run(sockets=[sock])


def run(settings: ReceiverSettings) -> int:
    ctx = start_context("receiver", settings)
    authors = RecentAuthors(settings.receiver_vk_author_memory)
    try:
        brands = load_brands(settings.brands_file)
        routes = build_routes(settings, brands, authors)
    except (BrandsFileError, ReceiverConfigError) as exc:
        ctx.metrics_server.stop()
        return fail(f"receiver: {exc}", EXIT_CONFIG)
    try:
        sock = bind(settings.receiver_host, settings.receiver_port)
    except OSError as exc:
        ctx.metrics_server.stop()
        return fail(
            f"receiver: cannot listen on {settings.receiver_host}:{settings.receiver_port}: {exc.strerror or exc}",
            EXIT_CONFIG,
        )
    metrics = ReceiverMetrics(ctx.registry)
    metrics.kafka_down.set(0)

    def produce(producer: Producer) -> int:
        ctx.health.set_ready(False, "starting the webhook server")  # ready once it accepts connections
        producer.warm_up(
            [settings.topics.raw, settings.topics.lookups, settings.topics.deadletter], settings.kafka_startup_timeout_s
        )
        publisher = KafkaPublisher(
            producer,
            ack_timeout_s=settings.receiver_ack_timeout_s,
            probe_interval_s=settings.receiver_probe_interval_s,
            metrics=metrics,
            health=ctx.health,
        )
        app = Receiver(
            routes,
            publisher,
            settings.topics,
            metrics=metrics,
            transport_metrics=ctx.transport_metrics,
            worker=ctx.name,
            on_published=authors.remember,
        )
        host, port = sock.getsockname()[:2]

        def started() -> None:
            log.info("receiver: %s on %s:%d", ", ".join(f"/hooks/{n}" for n in routes), host, port)
            ctx.health.set_ready(True, "receiving")

        serve(app, sock, ctx, settings, on_started=started)
        log.info("receiver: drained; %d events acknowledged by Kafka", app.events_published)
        return app.events_published

    # Records of a request answered 503 may still be sent when Kafka returns (a harmless
    # duplicate of the platform's retry); past the ack timeout plus a margin nobody waits
    # for them. send() must never block the event loop for long: metadata is fetched at
    # start-up, and a full buffer (Kafka away for long) is a 503, not a wait.
    ack_ms = int(settings.receiver_ack_timeout_s * 1000)
    options: Mapping[str, int] = {"delivery_timeout_ms": max(30_000, 6 * ack_ms), "max_block_ms": 50}
    try:
        return run_producing_worker(ctx, settings, produce, dict(options))
    finally:
        sock.close()


def main() -> int:
    return main_guard(lambda: run(ReceiverSettings()))
