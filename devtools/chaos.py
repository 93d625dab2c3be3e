"""``make chaos``: the pipeline under the faults of ordinary operations, then an audit.

On a broker of its own, a seeded run streams mentions through two sentiment
workers and the alerting worker while it, at seeded random moments, SIGKILLs
and restarts each kind of worker, scales a worker out and in (rebalances),
stops and SIGKILLs the broker, and feeds bad input: malformed, oversized,
deeply nested, huge numbers, invalid UTF-8, future-dated and far-past events
in the ingested files, and garbage straight onto every consumed topic. Then it
reads every topic back and reports:

- mentions lost between the files and ``mentions.raw``, and between
  ``mentions.raw`` and ``mentions.scored`` (must be 0);
- duplicates on each topic (allowed: delivery is at-least-once);
- dead letters by reason, and bad inputs that were NOT dead-lettered (must be 0);
- workers that died on their own, or did not exit 0 on SIGTERM (must be 0);
- alert incidents: how many ``alert_id``s, and which never resolved (reported;
  gated once the alerting worker keeps its state across crashes).

Every run prints its seed; ``--seed N`` replays the same schedule and input.
``--short`` is the version ``make test`` runs: one fault of each kind.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devtools.procs import spawn, stop_process
from shared.schemas import MentionEvent

REPO_ROOT = Path(__file__).resolve().parents[1]
PREFIX = "chaos."
PARTITIONS = 6
BRANDS = ("acme", "globex", "initech", "umbrella")

#: the kinds of bad line put into the ingested files (reason codes are checked loosely:
#: the audit requires a dead letter for each, whatever its reason)
BAD_LINE_KINDS = ("malformed", "oversized", "deep", "huge_number", "invalid_utf8", "not_object", "unknown_platform")
#: the kinds of garbage produced straight onto consumed topics
GARBAGE_KINDS = ("text", "random_bytes", "invalid_utf8", "deep", "wrong_schema", "empty_object")
#: the fault actions
FAULTS = ("kill_sentiment", "kill_alerting", "scale_sentiment", "scale_alerting", "broker_stop", "broker_kill")


def simulated_mentions(seed: int, start: datetime) -> Iterator[MentionEvent]:
    """Normal traffic of the simulated world (:mod:`simulation.world`) for ``BRANDS``, endless for a
    chaos run's needs: ~20 mentions a second in all, in four languages, with brand replies, edits
    and removals; as platforms report them (the sentiment workers score them again)."""
    from simulation.world import BrandSpec, World

    langs = (("en", 0.4), ("ru", 0.3), ("es", 0.15), ("de", 0.15))
    brands = [BrandSpec(b, 15.0, "UTC", langs, weekend=1.0, peak_hour=9.0) for b in BRANDS]
    for scored in World(brands, start=start, duration=timedelta(days=30), seed=seed).stream():
        yield scored.mention


@dataclass
class ChaosConfig:
    seed: int
    mentions: int = 20_000
    #: seconds over which the input is fed and faults happen
    duration_s: float = 150.0
    faults: int = 14
    short: bool = False
    model: str = "lexicon"
    workdir: Path | None = None
    log: Callable[[str], None] = print

    @classmethod
    def short_run(cls, seed: int, **kw) -> ChaosConfig:
        return cls(seed=seed, mentions=3000, duration_s=60.0, faults=len(FAULTS), short=True, **kw)


@dataclass
class Worker:
    role: str
    index: int
    proc: object = None
    #: set when the chaos itself stops or kills it, so its exit is expected
    expected_exit: bool = False


@dataclass
class ChaosReport:
    seed: int
    sent_valid: int = 0
    lost_to_raw: int = 0
    lost_to_scored: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)
    bad_inputs: int = 0
    bad_inputs_not_dead_lettered: int = 0
    garbage: int = 0
    garbage_not_dead_lettered: int = 0
    #: "topic:partition@offset kind" of each garbage record with no dead letter
    garbage_missing: list[str] = field(default_factory=list)
    died_on_their_own: list[str] = field(default_factory=list)
    unclean_exits: list[str] = field(default_factory=list)
    faults_done: list[str] = field(default_factory=list)
    alert_incidents: int = 0
    #: incidents whose last alert is not a resolution (silent_community excluded: a
    #: channel the brand abandoned stays silent at the end of the run, legitimately)
    alerts_never_resolved: int = 0
    #: the same incident open twice at once under two alert_ids (kind, brand, channel)
    incidents_refired: int = 0
    ingest_retries: int = 0
    #: "worker-N: reason" of each Kafka client the transport found wedged and replaced
    consumer_rebuilds: list[str] = field(default_factory=list)
    #: on a failed run: the last warnings and errors of each worker's log, to diagnose from CI
    log_tails: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            self.lost_to_raw == 0
            and self.lost_to_scored == 0
            and self.bad_inputs_not_dead_lettered == 0
            and self.garbage_not_dead_lettered == 0
            and not self.died_on_their_own
            and not self.unclean_exits
            and self.alerts_never_resolved == 0
            and self.incidents_refired == 0
        )

    def render(self) -> str:
        lines = [
            f"chaos seed {self.seed}: {'PASS' if self.ok else 'FAIL'}"
            f"   (replay: make chaos CHAOS_ARGS='--seed {self.seed}')",
            f"  faults: {', '.join(self.faults_done)}",
            f"  valid mentions sent: {self.sent_valid}; lost before mentions.raw: {self.lost_to_raw}; "
            f"lost between mentions.raw and mentions.scored: {self.lost_to_scored}",
            "  duplicates: " + ", ".join(f"{t} {n}" for t, n in sorted(self.duplicates.items())),
            f"  bad lines: {self.bad_inputs} (not dead-lettered: {self.bad_inputs_not_dead_lettered}); "
            f"garbage records: {self.garbage} (not dead-lettered: {self.garbage_not_dead_lettered})",
            "  dead letters by reason: "
            + ", ".join(f"{r} {n}" for r, n in sorted(self.dead_letters_by_reason.items())),
            f"  workers that died on their own: {self.died_on_their_own or 0}; "
            f"unclean SIGTERM exits: {self.unclean_exits or 0}; ingest runs retried: {self.ingest_retries}",
            f"  alert incidents: {self.alert_incidents}; never resolved: {self.alerts_never_resolved}; "
            f"fired again under another alert_id: {self.incidents_refired}",
        ]
        if self.garbage_missing:
            lines.append("  garbage with no dead letter: " + ", ".join(self.garbage_missing[:20]))
        lines.append(
            f"  Kafka clients found wedged and replaced: {len(self.consumer_rebuilds)}"
            + (f" ({', '.join(self.consumer_rebuilds)})" if self.consumer_rebuilds else "")
        )
        if not self.ok:
            for name, tail in sorted(self.log_tails.items()):
                lines.append(f"  last warnings of {name}:")
                lines.extend(f"    {line[:400]}" for line in tail)
        return "\n".join(lines)


@dataclass(frozen=True)
class IncidentAudit:
    incidents: int
    never_resolved: int
    #: alert_ids first emitted while an earlier incident of the same (kind, brand, channel) was open
    refired: int


def audit_incidents(alerts: Sequence) -> IncidentAudit:
    """What the alerts topic says about incidents (Alert records, any order, duplicates allowed)."""
    from shared.schemas import AlertKind, AlertStatus

    first: dict[str, object] = {}
    last: dict[str, object] = {}
    for a in alerts:
        if a.alert_id not in first or a.sequence < first[a.alert_id].sequence:
            first[a.alert_id] = a
        if a.alert_id not in last or a.sequence >= last[a.alert_id].sequence:
            last[a.alert_id] = a
    never_resolved = sum(
        1 for a in last.values() if a.status is not AlertStatus.RESOLVED and a.kind is not AlertKind.SILENT_COMMUNITY
    )
    # Episode kinds have one incident per (kind, brand, channel) at a time: a new
    # alert_id first emitted while the previous incident was still open is the same
    # incident fired twice (state lost in a crash). Compared by when each was first
    # emitted (its first alert's window_end), not by started_at: a detector backdates
    # the onset of a new wave to the start of its window, which can lie before the
    # previous incident's resolution without the two being one incident.
    episodic = {
        AlertKind.NEGATIVITY_SPIKE,
        AlertKind.VOLUME_SURGE,
        AlertKind.UNANSWERED_COMPLAINT,
        AlertKind.SILENT_COMMUNITY,
        AlertKind.DELETION_BIAS,
    }
    spans: dict[tuple, list[tuple]] = collections.defaultdict(list)
    for aid, a in first.items():
        if a.kind not in episodic:
            continue
        end = last[aid].window_end if last[aid].status is AlertStatus.RESOLVED else datetime.max.replace(tzinfo=UTC)
        spans[(a.kind, a.brand, a.channel)].append((a.window_end, end, aid))
    refired = 0
    for items in spans.values():
        items.sort()
        for (_, end, _), (fired, _, _) in zip(items, items[1:], strict=False):
            if fired < end:
                refired += 1
    return IncidentAudit(len(first), never_resolved, refired)


class ChaosRun:
    def __init__(self, cfg: ChaosConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.workdir = cfg.workdir or Path(tempfile.mkdtemp(prefix=f"repwatch-chaos-{cfg.seed}-"))
        self.workers: list[Worker] = []
        self.report = ChaosReport(seed=cfg.seed)
        self.lock = threading.Lock()
        self.stop_monitor = threading.Event()
        self.broker = None
        self.bootstrap = ""
        self.env: dict[str, str] = {}
        self.valid_ids: set[str] = set()
        self.bad_lines: list[tuple[str, int]] = []  # (source, line number)
        self.garbage_offsets: set[tuple[str, int, int]] = set()
        self.garbage_kinds: dict[tuple[str, int, int], str] = {}

    # -- set-up

    def _log(self, msg: str) -> None:
        self.cfg.log(f"[chaos {self.cfg.seed}] {msg}")

    def _start_broker(self) -> None:
        from devtools.embedded_kafka import EmbeddedKafka

        self.broker = EmbeddedKafka(self.workdir / "kafka", heap="512m")
        self.broker.start()
        self.bootstrap = self.broker.bootstrap

    def _model(self) -> str:
        if self.cfg.model == "lexicon":
            from simulation.lexicon import build_simulation_lexicon_model

            return str(build_simulation_lexicon_model(self.workdir / "model"))
        if self.cfg.model == "default":
            from services.sentiment.defaults import default_model_path

            return str(default_model_path())
        return self.cfg.model

    def _setup(self) -> None:
        from shared.config import WorkerSettings
        from shared.kafka.transport import ensure_topics

        self._start_broker()
        ensure_topics(WorkerSettings(kafka_bootstrap=self.bootstrap, topic_prefix=PREFIX, topic_partitions=PARTITIONS))
        keep = {"REPWATCH_MODEL_CACHE", "REPWATCH_KAFKA_CACHE"}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("REPWATCH_") or k in keep}
        self.env.update(
            {
                "REPWATCH_KAFKA_BOOTSTRAP": self.bootstrap,
                "REPWATCH_TOPIC_PREFIX": PREFIX,
                "REPWATCH_TOPIC_PARTITIONS": str(PARTITIONS),
                "REPWATCH_METRICS_PORT": "0",
                "REPWATCH_SESSION_TIMEOUT_MS": "6000",
                "REPWATCH_POLL_TIMEOUT_MS": "200",
                "REPWATCH_KAFKA_STARTUP_TIMEOUT_S": "60",
                # The input is weeks old: a quiet brand's clock is paced from its last event at
                # wall speed (a sentiment kill mid-backlog must not jump it ahead of its queued
                # events) and jumps to the present after 30 s of quiet, once the input is in
                "REPWATCH_IDLE_DELAY_S": "5",
                "REPWATCH_IDLE_JUMP_AFTER_S": "30",
                "REPWATCH_IDLE_EVERY_S": "1",
                "REPWATCH_SENTIMENT_MODEL": self._model(),
                "REPWATCH_SENTIMENT_CPU_THREADS": "1",
                "OMP_NUM_THREADS": "1",
                "TOKENIZERS_PARALLELISM": "false",
                "PYTHONUNBUFFERED": "1",
            }
        )

    # -- input

    def _bad_line(self, kind: str, good: bytes) -> bytes:
        if kind == "malformed":
            return good[: len(good) // 2]
        if kind == "oversized":
            return b'{"text": "' + b"x" * 1_100_000 + b'"}'
        if kind == "deep":
            return b"[" * 50_000 + b"]" * 50_000
        if kind == "huge_number":
            return re.sub(rb'"likes":\d+', b'"likes":' + b"9" * 5000, good, count=1)
        if kind == "invalid_utf8":
            return good.replace(b'"text":"', b'"text":"\xff\xfe ', 1)
        if kind == "not_object":
            return b"[1, 2, 3]"
        return good.replace(b'"platform":"', b'"platform":"myspace', 1)

    def _write_inputs(self) -> list[Path]:
        # Weeks before any wall time the suite runs at: once the input is in, the idle
        # policy moves every quiet brand to the present, so every incident must resolve.
        start = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
        chunks = 30 if not self.cfg.short else 10
        per_chunk = max(1, self.cfg.mentions // chunks)
        files: list[Path] = []
        events = simulated_mentions(self.cfg.seed, start)
        for c in range(chunks):
            path = self.workdir / f"input-{c:03d}.jsonl"
            lines: list[tuple[bytes, bool]] = []  # (line, is_bad)
            for _ in range(per_chunk):
                e = next(events)
                r = self.rng.random()
                if r < 0.002:  # far future and far past: valid records, the detectors' problem
                    e = e.model_copy(update={"occurred_at": e.occurred_at + timedelta(days=3650)})
                elif r < 0.004:
                    e = e.model_copy(update={"occurred_at": datetime(1999, 1, 1, tzinfo=UTC)})
                self.valid_ids.add(e.event_id)
                lines.append((e.to_bytes(), False))
            kinds = list(BAD_LINE_KINDS) if (c == 0 or not self.cfg.short) else []
            for kind in kinds:
                pos = self.rng.randrange(len(lines) + 1)
                lines.insert(pos, (self._bad_line(kind, lines[0][0]), True))
            self.bad_lines.extend((f"file:{path}", n) for n, (_, bad) in enumerate(lines, start=1) if bad)
            path.write_bytes(b"\n".join(line for line, _ in lines) + b"\n")
            files.append(path)
        self.report.sent_valid = len(self.valid_ids)
        self.report.bad_inputs = len(self.bad_lines)
        return files

    def _feed(self, files: list[Path], done: threading.Event) -> None:
        """Ingest the files one by one, spread over the run; a run the chaos broke is retried."""
        gap = self.cfg.duration_s / max(1, len(files))
        for path in files:
            for attempt in range(5):
                log = self.workdir / f"ingest-{path.stem}-{attempt}.log"
                proc = spawn(
                    [sys.executable, "-m", "services.cli", "ingest", "file", str(path)],
                    env=self.env,
                    log_path=log,
                    cwd=REPO_ROOT,
                )
                rc = proc.wait(300)
                if rc == 0:
                    break
                # exit 2/3: the broker was away longer than ingest's budget; a file is
                # re-sent whole, which duplicates but never loses
                with self.lock:
                    self.report.ingest_retries += 1
                time.sleep(2)
            time.sleep(gap * self.rng.uniform(0.5, 1.0))
        done.set()

    def _garbage(self, n: int) -> None:
        """Records no producer of ours would write, straight onto every consumed topic."""
        from kafka import KafkaProducer

        topics = [PREFIX + "mentions.raw", PREFIX + "mentions.scored"]
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", max_request_size=2_000_000)
        futures = []
        for _ in range(n):
            kind = self.rng.choice(GARBAGE_KINDS)
            value = {
                "text": b"hello, this is not json",
                "random_bytes": bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 300))),
                "invalid_utf8": b'{"x": "\xc3\x28"}',
                "deep": b"{" * 20_000,
                "wrong_schema": json.dumps({"mention": {"brand": 3}, "scored_at": "soon"}).encode(),
                "empty_object": b"{}",
            }[kind]
            topic = self.rng.choice(topics)
            futures.append((kind, producer.send(topic, key=self.rng.choice(BRANDS).encode(), value=value)))
        producer.flush(60)
        for kind, f in futures:
            md = f.get(timeout=30)
            self.garbage_offsets.add((md.topic, md.partition, md.offset))
            self.garbage_kinds[(md.topic, md.partition, md.offset)] = kind
        producer.close()
        self.report.garbage = len(self.garbage_offsets)

    # -- workers

    def _spawn(self, role: str) -> Worker:
        module = {"sentiment": "services.sentiment", "alerting": "services.alerting"}[role]
        w = Worker(role, len(self.workers))
        w.proc = spawn(
            [sys.executable, "-m", module], env=self.env, log_path=self.workdir / f"{role}-{w.index}.log", cwd=REPO_ROOT
        )
        with self.lock:
            self.workers.append(w)
        return w

    def _alive(self, role: str) -> list[Worker]:
        with self.lock:
            return [w for w in self.workers if w.role == role and not w.expected_exit and w.proc.poll() is None]

    def _monitor(self) -> None:
        """A worker that exits while nobody stopped it died on its own: note it, restart it."""
        while not self.stop_monitor.wait(0.5):
            with self.lock:
                dead = [w for w in self.workers if not w.expected_exit and w.proc.poll() is not None]
                for w in dead:
                    w.expected_exit = True
            for w in dead:
                tail = (self.workdir / f"{w.role}-{w.index}.log").read_text(errors="replace")[-1500:]
                self.report.died_on_their_own.append(f"{w.role}-{w.index} exit {w.proc.poll()}")
                self._log(f"{w.role}-{w.index} DIED ON ITS OWN (exit {w.proc.poll()}):\n{tail}")
                self._spawn(w.role)

    def _kill(self, role: str) -> None:
        victims = self._alive(role)
        if not victims:
            return
        w = self.rng.choice(victims)
        with self.lock:
            w.expected_exit = True
        os.kill(w.proc.pid, signal.SIGKILL)
        w.proc.wait(10)
        time.sleep(self.rng.uniform(0.5, 3.0))
        self._spawn(role)

    def _scale(self, role: str) -> None:
        extra = self._spawn(role)
        time.sleep(self.rng.uniform(4.0, 9.0))
        with self.lock:
            extra.expected_exit = True
        rc = stop_process(extra.proc, timeout=60)
        if rc != 0:
            self.report.unclean_exits.append(f"{role}-{extra.index} scaled in: exit {rc}")

    def _broker_outage(self, hard: bool) -> None:
        assert self.broker is not None
        if hard:
            pid = self.broker.pid
            if pid:
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        self.broker.stop()
        time.sleep(self.rng.uniform(4.0, 10.0))
        self.broker.start()

    def _fault(self, name: str) -> None:
        self._log(f"fault: {name}")
        if name.startswith("kill_"):
            self._kill(name.removeprefix("kill_"))
        elif name.startswith("scale_"):
            self._scale(name.removeprefix("scale_"))
        elif name == "broker_stop":
            self._broker_outage(hard=False)
        elif name == "broker_kill":
            self._broker_outage(hard=True)
        self.report.faults_done.append(name)

    # -- audit

    def _wait_scored(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            scored = {_event_id_scored(r.value) for r in read_topic(self.bootstrap, PREFIX + "mentions.scored")}
            missing = len(self.valid_ids - scored)
            if missing == 0:
                return
            self._log(f"waiting for {missing} mentions to be scored")
            time.sleep(5)

    def _wait_drained(self, timeout_s: float) -> None:
        """Until both worker groups have committed up to the end of what they consume.

        Waiting on the valid mentions alone is not enough: garbage sent after the last
        fault sits on partitions whose new owner may still be joining (a SIGKILLed
        member's partitions move only after its session times out, and a broker
        restart restarts that clock). A group whose commits reach the end of its
        input has dead-lettered every record in it.
        """
        from kafka import KafkaAdminClient, KafkaConsumer
        from kafka.errors import KafkaError
        from kafka.structs import TopicPartition

        groups = {
            PREFIX + "repwatch-sentiment": PREFIX + "mentions.raw",
            PREFIX + "repwatch-alerting": PREFIX + "mentions.scored",
        }
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        probe = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                behind: dict[str, int | str] = {}
                for group, topic in groups.items():
                    tps = [TopicPartition(topic, p) for p in sorted(probe.partitions_for_topic(topic) or ())]
                    try:
                        ends = probe.end_offsets(tps)
                        committed = admin.list_group_offsets({group: tps}).get(group, {})
                    except KafkaError as exc:  # the broker is still settling after an outage
                        behind[group] = type(exc).__name__
                        continue
                    # a partition never committed to reads -1 (or is absent): nothing consumed yet
                    done = {tp: max(0, committed[tp].offset) for tp in tps if tp in committed}
                    lag = sum(max(0, ends[tp] - done.get(tp, 0)) for tp in tps)
                    if lag:
                        behind[group] = lag
                if not behind or time.monotonic() > deadline:
                    if behind:
                        self._log(f"groups still behind after {timeout_s:.0f}s: {behind}")
                    return
                self._log(f"waiting for the groups to drain: {behind}")
                time.sleep(3)
        finally:
            probe.close()
            admin.close()

    def _wait_alerts_settle(self, quiet_s: float, timeout_s: float) -> None:
        """Until the alerts topic has not grown for ``quiet_s``: the idle policy has
        moved every brand to the present and resolved what resolves."""
        deadline = time.monotonic() + timeout_s
        seen, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            n = len(read_topic(self.bootstrap, PREFIX + "alerts"))
            if n != seen:
                seen, since = n, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return
            time.sleep(3)

    def _audit(self) -> None:
        from shared.schemas import Alert, DeadLetter

        raw = read_topic(self.bootstrap, PREFIX + "mentions.raw")
        scored = read_topic(self.bootstrap, PREFIX + "mentions.scored")
        alerts = read_topic(self.bootstrap, PREFIX + "alerts")
        dead = read_topic(self.bootstrap, PREFIX + "deadletter")
        raw_ids = [i for i in (_event_id_raw(r.value) for r in raw) if i]
        scored_ids = [i for i in (_event_id_scored(r.value) for r in scored) if i]
        self.report.lost_to_raw = len(self.valid_ids - set(raw_ids))
        self.report.lost_to_scored = len((set(raw_ids) & self.valid_ids) - set(scored_ids))
        letters = [DeadLetter.model_validate_json(r.value) for r in dead]
        self.report.dead_letters_by_reason = dict(collections.Counter(d.reason for d in letters))
        lettered_lines = {(d.source_topic, d.source_offset) for d in letters}
        self.report.bad_inputs_not_dead_lettered = sum(1 for b in self.bad_lines if b not in lettered_lines)
        lettered_records = {(d.source_topic, d.source_partition, d.source_offset) for d in letters}
        missing = sorted(self.garbage_offsets - lettered_records)
        self.report.garbage_not_dead_lettered = len(missing)
        self.report.garbage_missing = [f"{t}:{p}@{o} {self.garbage_kinds.get((t, p, o), '?')}" for t, p, o in missing]
        keys = [(d.source_topic, d.source_partition, d.source_offset, d.reason) for d in letters]
        parsed_alerts = [Alert.model_validate_json(r.value) for r in alerts]
        self.report.duplicates = {
            "mentions.raw": len(raw_ids) - len(set(raw_ids)),
            "mentions.scored": len(scored_ids) - len(set(scored_ids)),
            "alerts": len(parsed_alerts) - len({(a.alert_id, a.status, a.sequence) for a in parsed_alerts}),
            "deadletter": len(keys) - len(set(keys)),
        }
        self._audit_incidents(parsed_alerts)

    def _read_worker_logs(self) -> None:
        wedged = re.compile(r"Kafka consumer wedged \((\w+):")
        for path in sorted(self.workdir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()
            self.report.consumer_rebuilds.extend(f"{path.stem}: {m.group(1)}" for m in map(wedged.search, text) if m)
            if not self.report.ok and not path.stem.startswith("ingest-"):
                noisy = [ln for ln in text if " WARNING " in ln or " ERROR " in ln or "Traceback" in ln]
                self.report.log_tails[path.stem] = noisy[-8:]

    def _audit_incidents(self, alerts: list) -> None:
        audit = audit_incidents(alerts)
        self.report.alert_incidents = audit.incidents
        self.report.alerts_never_resolved = audit.never_resolved
        self.report.incidents_refired = audit.refired

    # -- the run

    def run(self) -> ChaosReport:
        cfg = self.cfg
        self._log(f"seed {cfg.seed}; work dir {self.workdir}")
        self._setup()
        try:
            files = self._write_inputs()
            self._log(
                f"{self.report.sent_valid} valid mentions and {self.report.bad_inputs} bad lines in {len(files)} files"
            )
            for role in ("sentiment", "sentiment", "alerting"):
                self._spawn(role)
            monitor = threading.Thread(target=self._monitor, daemon=True)
            monitor.start()
            fed = threading.Event()
            feeder = threading.Thread(target=self._feed, args=(files, fed), daemon=True)
            feeder.start()
            schedule = list(FAULTS) if cfg.short else [self.rng.choice(FAULTS) for _ in range(cfg.faults)]
            if cfg.short:
                self.rng.shuffle(schedule)
            gap = cfg.duration_s / (len(schedule) + 1)
            for i, fault in enumerate(schedule):
                time.sleep(gap * self.rng.uniform(0.3, 1.0))
                self._fault(fault)
                if i % 3 == 0:
                    self._garbage(self.rng.randrange(5, 20))
            self._garbage(10)
            fed.wait(cfg.duration_s * 4 + 300)
            self._wait_scored(240)
            self._wait_drained(240)
            # longer than the idle jump (30 s): the last resolutions come after it
            self._wait_alerts_settle(quiet_s=45, timeout_s=240)
            self.stop_monitor.set()
            monitor.join(5)
            with self.lock:
                running = [w for w in self.workers if not w.expected_exit and w.proc.poll() is None]
                for w in running:
                    w.expected_exit = True
            for w in running:
                rc = stop_process(w.proc, timeout=60)
                if rc != 0:
                    self.report.unclean_exits.append(f"{w.role}-{w.index} SIGTERM: exit {rc}")
            self._audit()
            self._read_worker_logs()
        finally:
            self.stop_monitor.set()
            with self.lock:
                procs = [w.proc for w in self.workers if w.proc.poll() is None]
            for p in procs:
                stop_process(p, timeout=15)
            if self.broker is not None:
                self.broker.stop()
        return self.report


def _event_id_raw(value: bytes | None) -> str | None:
    try:
        return json.loads(value)["event_id"]
    except (ValueError, TypeError, KeyError):
        return None


def _event_id_scored(value: bytes | None) -> str | None:
    try:
        return json.loads(value)["mention"]["event_id"]
    except (ValueError, TypeError, KeyError):
        return None


def read_topic(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list:
    """Every record of ``topic`` up to its current end."""
    from kafka import KafkaConsumer
    from kafka.structs import TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, max_partition_fetch_bytes=4_000_000
    )
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(tps)
        records: list = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(consumer.position(tp) < ends[tp] for tp in tps):
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make chaos", description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, action="append", help="repeatable; default: one random seed")
    p.add_argument("--mentions", type=int, default=20_000)
    p.add_argument("--duration", type=float, default=150.0, help="seconds of feeding and faults")
    p.add_argument("--faults", type=int, default=14)
    p.add_argument("--short", action="store_true", help="one fault of each kind, a few thousand mentions")
    p.add_argument("--model", default="lexicon", help="lexicon (fast stand-in), default (the shipped model) or a path")
    args = p.parse_args(argv)
    seeds = args.seed or [random.SystemRandom().randrange(1, 1_000_000)]
    reports = []
    for seed in seeds:
        if args.short:
            cfg = ChaosConfig.short_run(seed, model=args.model)
        else:
            cfg = ChaosConfig(
                seed=seed, mentions=args.mentions, duration_s=args.duration, faults=args.faults, model=args.model
            )
        reports.append(ChaosRun(cfg).run())
        print(reports[-1].render(), flush=True)
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
