"""``repwatch demo`` (``make run``): the whole pipeline on one machine, with a live view.

Starts the embedded Kafka broker (unless ``REPWATCH_KAFKA_BOOTSTRAP`` names a
cluster), the sentiment and alerting workers, and a synthetic mention stream
with scripted incidents; then shows counts per stage and alerts as they fire.
Ctrl-C stops everything in order (ingest, workers, broker) and leaves no process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from devtools.procs import free_ports, spawn, stop_process
from shared.schemas import AlertKind

INCIDENTS = ("negativity-spike@+45s", "deleted-complaint@+90s", "negativity-spike@+5m:globex")

BOLD, RED, YELLOW, GREEN, DIM, RESET = "\x1b[1m", "\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[2m", "\x1b[0m"


@dataclass
class Stage:
    name: str
    port: int
    proc: object = None
    values: dict[str, float] = field(default_factory=dict)
    up: bool = False


def scrape(port: int) -> dict[str, float] | None:
    """Sum each sample of a worker's /metrics by name and chosen labels, for the view."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = s.name
            if "label" in s.labels:
                key += ":" + s.labels["label"]
            elif "reason" in s.labels:
                key += ":dead"
            elif s.name.endswith("_total") and "topic" in s.labels:
                key += ":" + s.labels["topic"].rsplit(".", 1)[-1]
            out[key] = out.get(key, 0.0) + s.value
    return out


def _resolve_model(workdir: Path) -> tuple[str, str | None]:
    """The model to run and, if it is a stand-in, the warning to show on screen."""
    from services.sentiment.defaults import default_model_path

    configured = os.environ.get("REPWATCH_SENTIMENT_MODEL", "")
    if configured:
        return configured, None
    default = default_model_path()
    if (default / "config.json").is_file():
        return str(default), None
    from services.sentiment.stand_in import build_synthetic_lexicon_model

    path = build_synthetic_lexicon_model(workdir / "stand-in-model")
    return str(path), (
        "NO TRAINED MODEL: sentiment comes from a hand-wired STAND-IN that only knows the synthetic "
        "generator's word lists, not a real sentiment model. Build the real one with `make model` "
        f"(expected at {default})."
    )


class Demo:
    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.seed = seed
        self.workdir = Path(tempfile.mkdtemp(prefix="repwatch-demo-"))
        self.alerts: deque[str] = deque(maxlen=12)
        self.alert_count = 0
        self.stop = threading.Event()
        self.broker = None
        self.bootstrap = os.environ.get("REPWATCH_KAFKA_BOOTSTRAP", "")
        self.stages: list[Stage] = []
        self.warning: str | None = None
        self.model = ""
        self.started = time.monotonic()

    def say(self, msg: str) -> None:
        print(f"{BOLD}repwatch demo:{RESET} {msg}", flush=True)

    def start(self) -> None:
        from devtools.embedded_kafka import EmbeddedKafka

        if self.bootstrap:
            self.say(f"using external Kafka at {self.bootstrap}")
        else:
            self.say("starting the embedded Apache Kafka 4.4.0 broker (KRaft, single node)...")
            self.broker = EmbeddedKafka(self.workdir / "kafka")
            self.broker.start()
            self.bootstrap = self.broker.bootstrap
            self.say(f"broker up at {self.bootstrap}")
        self.say("preparing the sentiment model...")
        self.model, self.warning = _resolve_model(self.workdir)
        ports = free_ports(3)
        base_env = {
            **os.environ,
            "REPWATCH_KAFKA_BOOTSTRAP": self.bootstrap,
            "REPWATCH_SENTIMENT_MODEL": self.model,
            # A demo cannot wait an hour for an SLA: complaints on owned channels are
            # due within 2 minutes here (the default is 60), the spike detector skips
            # its 30-minute warm-up for brands it has never seen, and quiet brands'
            # clocks follow wall time with 20 s of slack.
            "REPWATCH_DETECTORS": json.dumps(
                {"unanswered_complaint": {"sla_minutes": 2}, "negativity_spike": {"warmup_minutes": 0}}
            ),
            "REPWATCH_IDLE_DELAY_S": "20",
            "REPWATCH_IDLE_EVERY_S": "2",
            "PYTHONUNBUFFERED": "1",
        }
        py = sys.executable
        commands = {
            "sentiment": [py, "-m", "services.sentiment"],
            "alerting": [py, "-m", "services.alerting"],
            "ingest": [
                py,
                "-m",
                "services.cli",
                "ingest",
                "synthetic",
                "--seed",
                str(self.seed),
                "--rate",
                str(self.rate),
                "--brand",
                "acme",
                "--brand",
                "globex",
                *[a for inc in INCIDENTS for a in ("--incident", inc)],
            ],
        }
        for (name, argv), port in zip(commands.items(), ports, strict=True):
            stage = Stage(name, port)
            env = {**base_env, "REPWATCH_METRICS_PORT": str(port)}
            stage.proc = spawn(argv, env=env, log_path=self.workdir / f"{name}.log")
            self.stages.append(stage)
        self.say(f"workers started; their logs are in {self.workdir}")
        threading.Thread(target=self._follow_alerts, daemon=True, name="alerts").start()

    def _follow_alerts(self) -> None:
        """Read the alerts topic like any downstream consumer would."""
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        from shared.schemas import Alert

        topic = os.environ.get("REPWATCH_TOPIC_PREFIX", "") + "alerts"
        while not self.stop.is_set():
            try:
                consumer = KafkaConsumer(
                    bootstrap_servers=self.bootstrap.split(","),
                    auto_offset_reset="latest",
                    enable_auto_commit=False,
                    group_id=None,
                )
                break
            except KafkaError:
                time.sleep(1)
        else:
            return
        while not self.stop.is_set():
            if not consumer.subscription():
                if topic in consumer.topics():
                    consumer.subscribe([topic])
                else:
                    time.sleep(0.5)
                    continue
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    try:
                        a = Alert.model_validate_json(r.value)
                    except ValueError:
                        continue
                    colour = {"firing": RED, "updated": YELLOW, "resolved": GREEN}[a.status.value]
                    when = datetime.now().strftime("%H:%M:%S")
                    self.alerts.appendleft(
                        f"{when} {colour}{a.status.value.upper():8}{RESET} {a.severity.value:8} {a.message}"
                    )
                    self.alert_count += 1
        consumer.close()

    def render(self) -> str:
        for s in self.stages:
            vals = scrape(s.port)
            s.up = vals is not None
            if vals is not None:
                s.values = vals
        by = {s.name: s for s in self.stages}

        def v(stage: str, key: str) -> int:
            return int(by[stage].values.get(key, 0))

        elapsed = timedelta(seconds=int(time.monotonic() - self.started))
        lines = [
            f"{BOLD}RepWatch — live pipeline{RESET}   Kafka {self.bootstrap}   up {elapsed}",
            f"{DIM}model: {self.model}{RESET}",
        ]
        if self.warning:
            lines.append(f"{RED}{BOLD}WARNING: {self.warning}{RESET}")
        lines += [
            "",
            f"{'stage':11}{'status':9}{'consumed':>10}{'produced':>10}{'dead-letter':>13}{'lag':>7}",
        ]
        for s in self.stages:
            status = (
                f"{GREEN}up{RESET}      "
                if s.up
                else (f"{RED}exited{RESET}  " if s.proc.poll() is not None else f"{YELLOW}starting{RESET} ")
            )
            consumed = int(sum(val for k, val in s.values.items() if k.startswith("repwatch_records_consumed_total")))
            produced = int(sum(val for k, val in s.values.items() if k.startswith("repwatch_records_produced_total")))
            dead = int(sum(val for k, val in s.values.items() if k.startswith("repwatch_records_dead_lettered")))
            lag = int(s.values.get("repwatch_consumer_lag_records", 0))
            lines.append(f"{s.name:11}{status}{consumed:>10}{produced:>10}{dead:>13}{lag:>7}")
        neg, neu, pos = (
            v("sentiment", f"repwatch_texts_scored_total:{k}") for k in ("negative", "neutral", "positive")
        )
        lines += [
            "",
            f"sentiment: {RED}negative {neg}{RESET}  neutral {neu}  {GREEN}positive {pos}{RESET}",
            f"incidents scripted: {', '.join(INCIDENTS)}   (stream: {self.rate:g} mentions/s)",
            "detectors: " + ", ".join(k.value for k in AlertKind) + "  (SLA 2 min, no spike warm-up)",
            "",
            f"{BOLD}alerts ({self.alert_count}){RESET}" + ("" if self.alerts else f"  {DIM}none yet{RESET}"),
            *self.alerts,
            "",
            f"{DIM}Ctrl-C stops everything. Logs: {self.workdir}{RESET}",
        ]
        return "\n".join(lines)

    def loop(self, duration: timedelta | None) -> None:
        tty = sys.stdout.isatty()
        deadline = time.monotonic() + duration.total_seconds() if duration else None
        last_plain = 0.0
        while not self.stop.is_set():
            if deadline and time.monotonic() >= deadline:
                break
            screen = self.render()
            if tty:
                sys.stdout.write("\x1b[H\x1b[2J" + screen + "\n")
                sys.stdout.flush()
            elif time.monotonic() - last_plain >= 10:
                print(screen + "\n", flush=True)
                last_plain = time.monotonic()
            if any(s.proc.poll() not in (None, 0) for s in self.stages if s.name != "ingest"):
                failed = [s.name for s in self.stages if s.proc.poll() not in (None, 0)]
                print(f"{RED}worker(s) {failed} exited; see logs in {self.workdir}{RESET}", flush=True)
                for s in self.stages:
                    if s.name in failed:
                        print((self.workdir / f"{s.name}.log").read_text()[-3000:], flush=True)
                break
            self.stop.wait(1.0)

    def shutdown(self) -> None:
        self.stop.set()
        print(f"\n{BOLD}repwatch demo:{RESET} stopping ingest, workers and broker...", flush=True)
        for name in ("ingest", "sentiment", "alerting"):
            for s in self.stages:
                if s.name == name:
                    stop_process(s.proc, timeout=20)
        if self.broker is not None:
            self.broker.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
        print(f"{BOLD}repwatch demo:{RESET} stopped; no process left behind.", flush=True)


def run_demo(duration: timedelta | None, rate: float, seed: int) -> int:
    demo = Demo(rate=rate, seed=seed)
    # Ctrl-C and SIGTERM both end the view loop; cleanup happens in one place.
    signal.signal(signal.SIGTERM, lambda *_: demo.stop.set())
    signal.signal(signal.SIGINT, lambda *_: demo.stop.set())
    try:
        demo.start()
        demo.loop(duration)
    finally:
        demo.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(run_demo(None, 4.0, 7))
