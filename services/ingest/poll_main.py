"""``repwatch poll``: one loop over the configured feeds and accounts -> ``mentions.raw``.

The pollers (``services.ingest.pollers``) and the reconciler (``services.ingest.reconcile``)
decide everything; this module only does the I/O they leave out: HTTP (stdlib
``urllib``: a request at a time, no connection pool needed at these rates), the clock,
Kafka, and the sources file.

Per source: its own interval; on a failure the next try is ``interval * 2^n`` later (capped
by ``REPWATCH_POLL_MAX_BACKOFF_S``) or what ``Retry-After`` said; a source with pages left
is polled again at once. YouTube calls are counted against the daily quota and stop
when only the reserve is left. After each poll, the source's due watch-list round (its
controls and due subjects) is looked up. Every round's events are sent, then its state
(cursor, changed watch entries) to the compacted ``ingest.poll_state``.

Instagram @mentions: with an ``instagram_mentions`` source (an account and its token),
the loop also reads ``ingest.lookups`` (group ``repwatch-poll-lookups``), where the
receiver puts every ``mentions`` webhook, and fetches each mention
(:mod:`services.ingest.lookups`); those offsets are committed only once the event (or
the dead letter) is acknowledged.

Run one poller per set of sources: two would each poll and each report.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.ingest.connectors.meta import channel_spellings as meta_spellings
from services.ingest.connectors.vk import channel_spellings as vk_spellings
from services.ingest.lookups import LookupFetcher
from services.ingest.poll_state import cursor_record, drop_record, entry_record, restore
from services.ingest.pollers import (
    MAX_RESPONSE_BYTES,
    Check,
    DailyQuota,
    Failure,
    PollResult,
    Reply,
    Request,
    Response,
    TransportError,
    instagram,
    rss,
    vk,
    youtube,
)
from services.ingest.reconcile import WatchList
from shared.brands import BrandsFile, BrandsFileError, load_brands
from shared.config import WorkerSettings
from shared.durations import parse_duration
from shared.kafka.transport import BatchConsumer, KafkaUnavailable, Outgoing, Producer, read_changelog
from shared.metric_defs import (
    POLL_EVENTS,
    POLL_LOOKUPS,
    POLL_LOOKUPS_PENDING,
    POLL_QUOTA_LEFT,
    POLL_REQUESTS,
    RECONCILE_CHECKS,
    RECONCILE_UNHEALTHY_ROUNDS,
    RECONCILE_WATCHED,
)
from shared.runtime import EXIT_CONFIG, SourceFailed, fail, main_guard, run_producing_worker, start_context
from shared.schemas import Platform
from shared.yaml_model import parse_yaml_model

log = logging.getLogger(__name__)


class PollSettings(WorkerSettings):
    metrics_port: int = Field(default=9105, ge=0, le=65535)
    #: the sources file (YAML): feeds and accounts to poll
    poll_sources_file: str = ""
    #: seconds one HTTP request may take before it counts as a timeout
    poll_http_timeout_s: float = Field(default=20.0, gt=0)
    #: longest wait after repeated failures of one source
    poll_max_backoff_s: float = Field(default=3600.0, gt=0)
    #: mentions on the watch-list per source at most (the oldest subjects go first)
    poll_watch_max: int = Field(default=5000, ge=10)
    #: controls looked up with every reconciliation round
    poll_controls: int = Field(default=3, ge=1, le=20)
    #: YouTube quota units kept back every day (never spent by the poller)
    poll_quota_reserve: int = Field(default=500, ge=0)
    #: when a watched comment is looked up again, counted from when it was first seen
    #: (sooner finds deletions sooner and spends more API calls)
    poll_recheck_after: str = "10m,30m,2h,6h,24h,72h,7d"
    #: how soon a lookup that disagrees with the reported state is repeated to confirm it
    poll_confirm_after: str = "5m"
    #: reads of one announced @mention (ingest.lookups) before it is dead-lettered
    poll_lookup_attempts: int = Field(default=6, ge=2, le=50)
    #: wait after a lookup's first failed read; doubled after each further one
    poll_lookup_backoff_s: float = Field(default=30.0, gt=0)
    #: lookups waiting for a retry at most; beyond this ingest.lookups is not read further
    poll_lookup_max_pending: int = Field(default=1000, ge=1)

    def watch_list(self) -> WatchList:
        """The reconciliation watch-list as configured, or :class:`ConfigError`."""
        try:
            schedule = tuple(parse_duration(p) for p in self.poll_recheck_after.split(",") if p.strip())
            return WatchList(
                controls=self.poll_controls,
                max_per_source=self.poll_watch_max,
                schedule=schedule,
                confirm_after=parse_duration(self.poll_confirm_after),
            )
        except ValueError as exc:
            raise ConfigError(f"REPWATCH_POLL_RECHECK_AFTER / REPWATCH_POLL_CONFIRM_AFTER: {exc}") from None


class ConfigError(ValueError):
    pass


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    kind: Literal["rss", "youtube", "vk", "instagram", "instagram_mentions"]
    interval: str = "5m"
    # rss
    url: str | None = None
    brand: str | None = None
    channel: str | None = None
    platform: Literal["rss", "reviews"] = "rss"
    # youtube
    channel_id: str | None = None
    video_id: str | None = None
    daily_quota: int = Field(default=youtube.DAILY_QUOTA, ge=1)
    # vk
    group_id: int | None = Field(default=None, gt=0)
    post_id: int | None = Field(default=None, gt=0)
    # instagram (instagram_mentions: account_id only; its token reads the account's @mentions)
    account_id: str | None = None
    media_id: str | None = None
    # credentials: the name of an environment variable, or a file (a mounted secret)
    credential_env: str | None = None
    credential_file: str | None = None
    #: API base (tests point it at a local server)
    api: str | None = None


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sources: list[SourceSpec] = Field(default_factory=list)


def load_sources(path: str) -> list[SourceSpec]:
    if not path:
        raise ConfigError("no sources file (set REPWATCH_POLL_SOURCES_FILE)")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    specs = parse_yaml_model(
        text, SourcesFile, source=path, expected="a mapping with a 'sources' list", error=ConfigError
    ).sources
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: source names must be unique")
    return specs


def read_credential(spec: SourceSpec, env: Mapping[str, str]) -> str:
    """The key or token: from a mounted file (preferred) or an environment variable. Never logged."""
    if spec.credential_file:
        try:
            value = Path(spec.credential_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"source {spec.name}: cannot read its credential file: {exc.strerror}") from None
    elif spec.credential_env:
        value = env.get(spec.credential_env, "").strip()
    else:
        raise ConfigError(f"source {spec.name}: set credential_env or credential_file")
    if not value:
        raise ConfigError(f"source {spec.name}: its credential is empty")
    return value


@dataclass
class Source:
    """One configured source, bound to its poller module."""

    spec: SourceSpec
    platform: Platform
    target: Any
    credential: str = ""
    interval: timedelta = timedelta(minutes=5)
    quota: DailyQuota | None = None
    next_at: datetime = datetime.min.replace(tzinfo=timezone.utc)
    failures: int = 0
    cursor: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> Any:
        return {"rss": rss, "youtube": youtube, "vk": vk, "instagram": instagram}[self.spec.kind]

    def poll_request(self) -> Request:
        if self.spec.kind == "rss":
            return rss.request(self.target, self.cursor)
        return self.module.request(self.target, self.cursor, self.credential)

    def check_request(self, ids: list[str]) -> Request:
        return self.module.check_request(self.target, ids, self.credential)


def _owned(brands: BrandsFile, platform: Platform, spellings: list[str], what: str) -> tuple[str, str]:
    found = brands.find_owned(platform, spellings)
    if found is None:
        raise ConfigError(f"{what} is not an owned channel in the brands file (tried {', '.join(spellings)})")
    return found


def bind_mentions(spec: SourceSpec, brands: BrandsFile, env: Mapping[str, str]) -> tuple[instagram.MentionAccount, str]:
    """An ``instagram_mentions`` source: the account whose @mentions are fetched, and its token."""
    if spec.kind != "instagram_mentions" or not spec.account_id:
        raise ConfigError(f"source {spec.name} ({spec.kind}) needs account_id")
    if not re.fullmatch(r"[0-9]{1,40}", spec.account_id):
        raise ConfigError(f"source {spec.name}: account_id is an Instagram account's numeric id")
    cred = read_credential(spec, env)
    spellings = meta_spellings(Platform.INSTAGRAM, spec.account_id)
    brand, channel = _owned(brands, Platform.INSTAGRAM, spellings, spec.name)
    account = instagram.MentionAccount(spec.name, brand, channel, spec.account_id, spec.api or instagram.API)
    return account, cred


def bind(spec: SourceSpec, brands: BrandsFile, env: Mapping[str, str]) -> Source:
    """A source ready to poll, or :class:`ConfigError` saying what is missing."""
    if spec.kind == "instagram_mentions":
        raise ConfigError(f"source {spec.name}: an instagram_mentions source is not polled (see bind_mentions)")
    try:
        interval = parse_duration(spec.interval)
    except ValueError as exc:
        raise ConfigError(f"source {spec.name}: interval: {exc}") from None
    need = {
        "rss": ("url", "brand"),
        "youtube": ("channel_id",),
        "vk": ("group_id", "post_id"),
        "instagram": ("account_id", "media_id"),
    }[spec.kind]
    missing = [n for n in need if getattr(spec, n) is None]
    if missing:
        raise ConfigError(f"source {spec.name} ({spec.kind}) needs {', '.join(missing)}")
    if spec.kind == "rss":
        platform = Platform(spec.platform)
        target = rss.FeedSource(spec.name, spec.url, spec.brand, spec.channel or spec.name, platform)  # type: ignore[arg-type]
        return Source(spec, platform, target, interval=interval)
    cred = read_credential(spec, env)
    if spec.kind == "youtube":
        brand, channel = _owned(brands, Platform.YOUTUBE, youtube.channel_spellings(spec.channel_id), spec.name)  # type: ignore[arg-type]
        target = youtube.YouTubeSource(
            spec.name,
            brand,
            channel,
            spec.channel_id,
            spec.video_id,
            spec.api or youtube.API,  # type: ignore[arg-type]
        )
        quota = DailyQuota(spec.daily_quota, 0, youtube.QUOTA_TZ)
        return Source(spec, Platform.YOUTUBE, target, cred, interval, quota)
    if spec.kind == "vk":
        brand, channel = _owned(brands, Platform.VK, vk_spellings(spec.group_id), spec.name)  # type: ignore[arg-type]
        target = vk.VkSource(spec.name, brand, channel, spec.group_id, spec.post_id, spec.api or vk.API)  # type: ignore[arg-type]
        return Source(spec, Platform.VK, target, cred, interval)
    brand, channel = _owned(brands, Platform.INSTAGRAM, meta_spellings(Platform.INSTAGRAM, spec.account_id), spec.name)  # type: ignore[arg-type]
    target = instagram.InstagramSource(
        spec.name,
        brand,
        channel,
        spec.account_id,
        spec.media_id,
        spec.api or instagram.API,  # type: ignore[arg-type]
    )
    return Source(spec, Platform.INSTAGRAM, target, cred, interval)


def fetch(req: Request, timeout_s: float) -> Reply:
    """Make the request. Never raises: no answer is a :class:`TransportError`."""
    r = urllib.request.Request(req.full_url(), headers=dict(req.headers), method="GET")
    try:
        with urllib.request.urlopen(r, timeout=timeout_s) as resp:  # noqa: S310 - configured http(s) URLs
            body = resp.read(MAX_RESPONSE_BYTES + 1)
            return Response(resp.status, body, dict(resp.headers.items()))
    except urllib.error.HTTPError as exc:  # 3xx (304) .. 5xx arrive here with a body
        try:
            body = exc.read(MAX_RESPONSE_BYTES + 1)
        except (OSError, ValueError):
            body = b""
        return Response(exc.code, body, dict(exc.headers.items()) if exc.headers else {})
    except TimeoutError:
        return TransportError("timeout", "no answer in time")
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return TransportError("timeout", "no answer in time")
        return TransportError("connection", type(exc.reason).__name__)
    except (OSError, ValueError) as exc:  # reset mid-body, bad status line
        return TransportError("connection", type(exc).__name__)


class Poller:
    """The loop's state and one step of it; clock, HTTP and sending come in, so tests drive it."""

    def __init__(
        self,
        sources: list[Source],
        watch: WatchList,
        *,
        state_topic: str,
        raw_topic: str,
        fetch: Callable[[Request], Reply],
        send: Callable[[list[Outgoing]], None],
        clock: Callable[[], datetime],
        registry: Any = None,
        max_backoff: timedelta = timedelta(hours=1),
    ) -> None:
        self.sources = {s.spec.name: s for s in sources}
        self.watch = watch
        self.state_topic = state_topic
        self.raw_topic = raw_topic
        self.fetch = fetch
        self.send = send
        self.clock = clock
        self.max_backoff = max_backoff
        self.metrics = None
        if registry is not None:
            self.metrics = {
                d.name: d.create(registry)
                for d in (
                    POLL_REQUESTS,
                    POLL_EVENTS,
                    POLL_LOOKUPS,
                    POLL_LOOKUPS_PENDING,
                    POLL_QUOTA_LEFT,
                    RECONCILE_CHECKS,
                    RECONCILE_UNHEALTHY_ROUNDS,
                    RECONCILE_WATCHED,
                )
            }

    def restore(self, cursors: Mapping[str, Mapping[str, Any]]) -> None:
        for name, cursor in cursors.items():
            src = self.sources.get(name)
            if src is None:
                continue  # a source no longer configured: its state stays on the topic, unused
            src.cursor = {k: v for k, v in cursor.items() if k != "quota"}
            if src.quota is not None:
                src.quota.restore(cursor.get("quota"))

    def _count(self, metric: str, *labels: str, n: float = 1) -> None:
        if self.metrics is not None:
            self.metrics[metric].labels(*labels).inc(n)

    def _spend(self, src: Source, req: Request, now: datetime) -> bool:
        if src.quota is None:
            return True
        if not src.quota.can_spend(now, req.cost):
            return False
        src.quota.spend(now, req.cost)
        return True

    def step(self) -> datetime:
        """Poll every due source once; returns when the next one is due."""
        for src in self.sources.values():
            now = self.clock()
            if src.next_at <= now:
                self._poll(src, now)
        # only @mention accounts configured: nothing is ever due here
        return min((s.next_at for s in self.sources.values()), default=self.clock() + timedelta(minutes=5))

    def _backoff(self, src: Source, failure: Failure, now: datetime) -> None:
        src.failures += 1
        wait = min(src.interval * (2 ** min(src.failures - 1, 16)), self.max_backoff)
        if failure.retry_after_s:
            wait = max(wait, timedelta(seconds=failure.retry_after_s))
        src.next_at = now + wait

    def _poll(self, src: Source, now: datetime) -> None:
        req = src.poll_request()
        if not self._spend(src, req, now):
            self._count(POLL_REQUESTS.name, src.platform.value, "poll", "quota")
            src.next_at = now + src.interval
            self._after_quota(src, now)
            return
        reply = self.fetch(req)
        result: PollResult = src.module.read(src.target, src.cursor, reply, self.clock())
        self._count(POLL_REQUESTS.name, src.platform.value, "poll", result.result)
        if result.failure is not None:
            log.warning(
                "poll %s: %s (%s) %s", src.spec.name, result.failure.reason, result.failure.detail, req.redacted_url()
            )
            if result.failure.reason == "quota" and src.quota is not None:
                src.quota.mark_exhausted(now)
            self._backoff(src, result.failure, now)
            self._save(src, [])
            return
        src.failures = 0
        src.cursor = dict(result.cursor)
        src.next_at = now if result.more else now + src.interval
        out: list[Outgoing] = [Outgoing(self.raw_topic, e.brand.encode(), e.to_bytes()) for e in result.events]
        for e in result.events:
            self._count(POLL_EVENTS.name, e.platform.value, e.event_type.value)
        state: list[Outgoing] = []
        if result.seen:
            state.extend(entry_record(self.state_topic, e) for e in self.watch.admit(src.spec.name, result.seen, now))
        out_r, state_r = self._reconcile(src, now)
        self.send(out + out_r)
        self._save(src, state + state_r)

    def _after_quota(self, src: Source, now: datetime) -> None:
        if self.metrics is not None and src.quota is not None:
            self.metrics[POLL_QUOTA_LEFT.name].labels(src.platform.value).set(src.quota.left(now))

    def _reconcile(self, src: Source, now: datetime) -> tuple[list[Outgoing], list[Outgoing]]:
        if not hasattr(src.module, "read_check"):
            return [], []
        rnd = self.watch.due(src.spec.name, now)
        if rnd is None:
            return [], []
        by_lookup = {self.watch.entries[src.spec.name][k].seen.lookup_id: k for k in rnd.lookups}
        lookups = list(by_lookup)
        checks: dict[str, Check] = {}
        batch = src.module.CHECK_BATCH
        for i in range(0, len(lookups), batch):
            ids = lookups[i : i + batch]
            req = src.check_request(ids)
            if not self._spend(src, req, now):
                self._count(POLL_REQUESTS.name, src.platform.value, "check", "quota")
                break  # the rest of the round waits: unchecked entries count as failed checks
            got = src.module.read_check(ids, self.fetch(req))
            for lookup_id, c in got.items():
                checks[by_lookup[lookup_id]] = c
                self._count(RECONCILE_CHECKS.name, src.platform.value, c.verdict.value)
            result = next(iter(got.values())).reason if got else "malformed"
            self._count(
                POLL_REQUESTS.name,
                src.platform.value,
                "check",
                "ok" if result in ("found", "not_found", "removed", "hidden") else result,
            )
        outcome = self.watch.apply(rnd, checks, self.clock())
        if not outcome.healthy:
            self._count(RECONCILE_UNHEALTHY_ROUNDS.name, src.platform.value)
        for e in outcome.events:
            self._count(POLL_EVENTS.name, e.platform.value, e.event_type.value)
            log.info("reconcile %s: %s %s", src.spec.name, e.event_type.value, e.mention_id)
        events = [Outgoing(self.raw_topic, e.brand.encode(), e.to_bytes()) for e in outcome.events]
        state = [entry_record(self.state_topic, e) for e in outcome.changed]
        state.extend(drop_record(self.state_topic, src.spec.name, k) for k in outcome.dropped)
        return events, state

    def _save(self, src: Source, state: list[Outgoing]) -> None:
        cursor = dict(src.cursor)
        if src.quota is not None:
            cursor["quota"] = src.quota.to_json()
            self._after_quota(src, self.clock())
        self.send([*state, cursor_record(self.state_topic, src.spec.name, cursor)])
        if self.metrics is not None:
            for role in ("subject", "control"):
                self.metrics[RECONCILE_WATCHED.name].labels(role).set(self.watch.size(role))


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def lookup_round(consumer: BatchConsumer, lookups: LookupFetcher, timeout_ms: int) -> None:
    """Read what ``ingest.lookups`` has (waiting up to ``timeout_ms``), fetch what is due,
    commit what is done. A full backlog pauses the reading, never the group membership."""
    events = list(consumer.partition_events)
    consumer.partition_events.clear()  # the rebalance listener appends to this very list
    lookups.drop(tp for e in events if e.kind != "assigned" for tp in e.partitions)
    consumer.pause(lookups.full)
    lookups.add(consumer.poll(timeout_ms))
    consumer.commit_offsets(lookups.step())


def run(settings: PollSettings, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    ctx = start_context("poll", settings)
    try:
        brands = load_brands(settings.brands_file)
        specs = load_sources(settings.poll_sources_file)
        sources = [bind(s, brands, env) for s in specs if s.kind != "instagram_mentions"]
        accounts = {
            a.account_id: (a, token)
            for a, token in (bind_mentions(s, brands, env) for s in specs if s.kind == "instagram_mentions")
        }
        watch = settings.watch_list()
    except (ConfigError, BrandsFileError) as exc:
        ctx.metrics_server.stop()
        return fail(f"poll: {exc}", EXIT_CONFIG)
    if not sources and not accounts:
        ctx.metrics_server.stop()
        return fail("poll: the sources file lists no sources", EXIT_CONFIG)
    topics = settings.topics

    def produce(producer: Producer) -> int:
        ctx.health.set_ready(False, "restoring poll state")
        try:
            records = read_changelog(settings, topics.poll_state, [0])
        except KafkaUnavailable as exc:
            raise SourceFailed(f"cannot restore {topics.poll_state}: {exc}") from exc
        sent = 0

        def send(out: list[Outgoing]) -> None:
            nonlocal sent
            producer.send_all(out)
            sent += len(out)

        def http(req: Request) -> Reply:
            return fetch(req, settings.poll_http_timeout_s)

        poller = Poller(
            sources,
            watch,
            state_topic=topics.poll_state,
            raw_topic=topics.raw,
            fetch=http,
            send=send,
            clock=_utcnow,
            registry=ctx.registry,
            max_backoff=timedelta(seconds=settings.poll_max_backoff_s),
        )
        poller.restore(restore(records, watch))
        consumer: BatchConsumer | None = None
        lookups: LookupFetcher | None = None
        if accounts:
            lookups = LookupFetcher(
                accounts,
                raw_topic=topics.raw,
                deadletter_topic=topics.deadletter,
                fetch=http,
                send=send,
                clock=_utcnow,
                metrics=poller.metrics,
                transport_metrics=ctx.transport_metrics,
                worker=ctx.name,
                max_attempts=settings.poll_lookup_attempts,
                backoff=timedelta(seconds=settings.poll_lookup_backoff_s),
                max_backoff=timedelta(seconds=settings.poll_max_backoff_s),
                max_pending=settings.poll_lookup_max_pending,
            )
            consumer = BatchConsumer(
                settings,
                ctx.transport_metrics,
                [topics.lookups],
                group_id=f"{settings.topic_prefix}repwatch-poll-lookups",
                client_id="repwatch-poll",
            )
        log.info(
            "poll: %d sources, %d watched mentions restored, @mentions of %d Instagram accounts",
            len(sources),
            watch.size("subject"),
            len(accounts),
        )
        ctx.health.set_ready(True, "polling")
        try:
            while not ctx.stop.is_set():
                ctx.health.tick()
                next_at = poller.step()
                if lookups is not None and lookups.next_at is not None:
                    next_at = min(next_at, lookups.next_at)
                # the stop flag (or the lookups poll) bounds the wait, so SIGTERM ends the loop between two polls
                wait_s = max(0.0, min(5.0 if consumer is None else 1.0, (next_at - _utcnow()).total_seconds()))
                if consumer is None or lookups is None:
                    ctx.stop.wait(wait_s)
                else:
                    lookup_round(consumer, lookups, max(10, int(wait_s * 1000)))
        finally:
            if consumer is not None:
                # lookups still waiting for a retry stay uncommitted: the next start reads them again
                consumer.close()
        return sent

    return run_producing_worker(ctx, settings, produce)


def main() -> int:
    return main_guard(lambda: run(PollSettings()))


if __name__ == "__main__":
    raise SystemExit(main())
