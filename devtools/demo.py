"""``repwatch demo`` (``make run``): the whole pipeline on one machine, with a live view.

Starts the embedded Kafka broker (unless ``REPWATCH_KAFKA_BOOTSTRAP`` names a
cluster), the sentiment and alerting workers, and the simulated world's ``demo``
scenario (:func:`simulation.scenarios.demo`) through ``python -m devtools.feed``,
live from wall-clock now: two brands, a 15-minute backlog of normal traffic, then
every kind of incident once within the first four minutes, so that all seven alert
kinds fire (and the episodes resolve) within minutes. The detector settings that
time compression needs (SLA 2 minutes, silence after 3, ...) are in the brands
file the scenario writes, which the alerting worker reads as
``REPWATCH_BRANDS_FILE``. The notifier delivers every alert to a webhook receiver
inside the demo, which checks each request's Standard Webhooks signature the way
a receiving team would (:mod:`shared.standard_webhooks`). ``repwatch receive`` runs
as one more stage, with VK and Facebook credentials the demo generates, and the demo
plays the platforms: it posts a handful of real-shaped, signed webhooks for acme's VK
community and Facebook Page (:mod:`devtools.demo_pushes`, one a deletion) that flow
into the pipeline with the simulated stream. The view shows counts per stage, which
kinds fired so far, the alerts as they come, what the webhook received and what the
receiver accepted. Ctrl-C stops everything in order (ingest, workers, broker) and leaves
no process. With ``--observe`` (``make observe``) Prometheus and Alertmanager run beside it
(:mod:`devtools.observe`), the notifier pushes the alerts to that Alertmanager too, and the
view says where to look.
"""

from __future__ import annotations

import base64
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
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from devtools import demo_pushes
from devtools.feed import write_brands_file
from devtools.procs import free_ports, spawn, stop_process
from shared import standard_webhooks
from shared.schemas import AlertKind
from simulation.scenarios import DEMO_TIMETABLE, build_scenario

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
            elif "event_type" in s.labels:
                key += ":" + s.labels["event_type"]
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
    from simulation.lexicon import build_simulation_lexicon_model

    path = build_simulation_lexicon_model(workdir / "stand-in-model")
    return str(path), (
        "NO TRAINED MODEL: sentiment comes from a hand-wired STAND-IN that only knows the simulated "
        "world's word lists, not a real sentiment model. Build the real one with `make model` "
        f"(expected at {default})."
    )


class DemoWebhook:
    """The receiving end of the notifier's webhook, as a team would run it: verify the
    signature, then use the alert. Counts what arrived for the view."""

    def __init__(self, port: int) -> None:
        self.secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        self.received = 0
        self.bad_signatures = 0
        self.ids: set[str] = set()
        self.last: deque[str] = deque(maxlen=4)
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    standard_webhooks.verify(outer.secret, dict(self.headers.items()), body, time.time())
                    alert = json.loads(body)
                except (standard_webhooks.SignatureError, ValueError):
                    with outer._lock:
                        outer.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                with outer._lock:
                    outer.received += 1
                    outer.ids.add(self.headers.get("webhook-id", ""))
                    outer.last.appendleft(
                        f"{datetime.now():%H:%M:%S} {alert['status'].upper():8} {alert['kind']:21} "
                        f"{alert['brand']} (webhook-id {self.headers.get('webhook-id', '')[:16]}…)"
                    )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:  # the view shows what matters
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{port}/repwatch"
        threading.Thread(target=self.server.serve_forever, daemon=True, name="webhook").start()

    def routes_file(self, path: Path, extra: tuple[str, str] | None = None) -> Path:
        """The demo's routes: every alert to this webhook, and to ``extra`` (name, receiver) when given."""
        more = f"  {extra[0]}: {extra[1]}\n" if extra else ""
        path.write_text(
            "# every alert to the demo's own webhook receiver (the secret is in the environment)\n"
            f'receivers:\n  demo-webhook: {{type: webhook, url: "{self.url}", secret: {{env: {SECRET_ENV}}}}}\n'
            f"{more}default: [demo-webhook{', ' + extra[0] if extra else ''}]\n",
            encoding="utf-8",
        )
        return path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


SECRET_ENV = "REPWATCH_DEMO_WEBHOOK_SECRET"


class DemoPlatforms:
    """VK and Meta for the demo: post :mod:`devtools.demo_pushes`' requests to the receiver
    when the live clock reaches each, retrying a refused one the way the platforms do
    (they retry until they get their answer), and note each answer for the view."""

    #: attempts per request (a second apart) before it counts as failed
    ATTEMPTS = 30

    def __init__(self, port: int, metrics_port: int, live_start: datetime, stop: threading.Event) -> None:
        self.credentials = demo_pushes.Credentials.generate()
        self.base = f"http://127.0.0.1:{port}"
        self._metrics_port = metrics_port
        self._live_start = live_start
        self._stop = stop
        self.requests = [
            *demo_pushes.handshakes(self.credentials),
            *demo_pushes.story(self.credentials, live_start),
        ]
        self.sent = 0
        self.failed = 0
        self.last: deque[str] = deque(maxlen=4)
        self._lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True, name="platforms").start()

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self._metrics_port}/readyz", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    def _run(self) -> None:
        while not self._ready():
            if self._stop.wait(0.5):
                return
        for req in self.requests:
            due = (self._live_start + timedelta(seconds=req.at) - datetime.now(timezone.utc)).total_seconds()
            if due > 0 and self._stop.wait(due):
                return
            answer = self._post(req)
            with self._lock:
                if answer is None:
                    self.failed += 1
                else:
                    self.sent += 1
                self.last.appendleft(f"{datetime.now():%H:%M:%S} {req.label} -> {answer or 'no answer'}")

    def _post(self, req: demo_pushes.PushRequest) -> str | None:
        url = f"{self.base}{req.path}" + (f"?{req.query}" if req.query else "")
        for _ in range(self.ATTEMPTS):
            request = urllib.request.Request(url, data=req.body or None, method=req.method, headers=dict(req.headers))
            try:
                with urllib.request.urlopen(request, timeout=10) as resp:
                    body = resp.read()
                if req.expect is None or body == req.expect:
                    return f"{resp.status} {body.decode(errors='replace')[:20]}"
            except OSError:  # a 503 (Kafka busy), a refused connection: the platform tries again
                pass
            if self._stop.wait(1.0):
                return None
        return None


class Demo:
    def __init__(self, seed: int, observe: bool = False) -> None:
        self.seed = seed
        self.observe = observe
        self.observability = None
        self.workdir = Path(tempfile.mkdtemp(prefix="repwatch-demo-"))
        self.alerts: deque[str] = deque(maxlen=12)
        self.alert_count = 0
        #: the stream's live part begins now; its backlog and its timetable count from here
        self.live_start = datetime.now(timezone.utc)
        self.scenario = build_scenario("demo", seed=seed, start=self.live_start)
        #: alert kind -> seconds after the live start at which it first fired / first resolved
        self.fired: dict[AlertKind, float] = {}
        self.resolved: dict[AlertKind, float] = {}
        self.stop = threading.Event()
        self.broker = None
        self.bootstrap = os.environ.get("REPWATCH_KAFKA_BOOTSTRAP", "")
        self.stages: list[Stage] = []
        self.warning: str | None = None
        self.model = ""
        self.webhook: DemoWebhook | None = None
        self.platforms: DemoPlatforms | None = None
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
        # The demo cannot wait an hour for an SLA or a week for a silence: the scenario's
        # brands file carries per-brand detector settings in minutes (DEMO_DETECTORS).
        brands_file = write_brands_file(self.scenario, self.workdir / "brands.yaml")
        ports = free_ports(7)
        self.webhook = DemoWebhook(ports.pop())
        receiver_port = ports.pop()
        stage_ports = dict(zip(("sentiment", "alerting", "notifier", "ingest", "receiver"), ports, strict=True))
        extra_receiver = None
        if self.observe:
            from devtools.observe import Observability

            self.say("starting Prometheus (with the rules) and Alertmanager from Debian's packages...")
            self.observability = Observability(self.workdir, stage_ports).start()
            extra_receiver = self.observability.routes_receiver()
            for line in self.observability.where_to_look():
                self.say(line)
        routes_file = self.webhook.routes_file(self.workdir / "routes.yaml", extra_receiver)
        base_env = {
            **os.environ,
            "REPWATCH_KAFKA_BOOTSTRAP": self.bootstrap,
            "REPWATCH_SENTIMENT_MODEL": self.model,
            "REPWATCH_BRANDS_FILE": str(brands_file),
            "REPWATCH_ROUTES_FILE": str(routes_file),
            SECRET_ENV: self.webhook.secret,
            # The demo's brands are never quiet (they post every few seconds), so their clocks move
            # with their own events and the idle policy has nothing to do. While the sentiment
            # worker is still scoring the 15-minute backlog (minutes on a busy CPU), the alerting
            # worker is caught up with what it was given, and a delay shorter than the backlog would
            # move the brands' clocks to wall time ahead of their own events still in the queue
            # (SLAs of complaints whose answers are on the way would expire)
            "REPWATCH_IDLE_DELAY_S": "1200",
            "REPWATCH_IDLE_EVERY_S": "2",
            "PYTHONUNBUFFERED": "1",
        }
        py = sys.executable
        self.platforms = DemoPlatforms(receiver_port, stage_ports["receiver"], self.live_start, self.stop)
        receiver_env = {
            **self.platforms.credentials.receiver_env(),
            "REPWATCH_RECEIVER_HOST": "127.0.0.1",
            "REPWATCH_RECEIVER_PORT": str(receiver_port),
        }
        commands = {
            "sentiment": [py, "-m", "services.sentiment"],
            "alerting": [py, "-m", "services.alerting"],
            "notifier": [py, "-m", "services.notifier"],
            "ingest": [
                py, "-m", "devtools.feed", "--scenario", "demo", "--seed", str(self.seed),
                "--start", self.live_start.isoformat(), "--live",
            ],
            "receiver": [py, "-m", "services.cli", "receive"],
        }  # fmt: skip
        for name, argv in commands.items():
            port = stage_ports[name]
            stage = Stage(name, port)
            # the platforms' credentials only where they are used, as a deployment would mount them
            env = {**base_env, "REPWATCH_METRICS_PORT": str(port), **(receiver_env if name == "receiver" else {})}
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
                # from the start of the topic (alerts may come before the view subscribes);
                # on a shared cluster, alerts about event times before this demo are skipped
                consumer = KafkaConsumer(
                    bootstrap_servers=self.bootstrap.split(","),
                    auto_offset_reset="earliest",
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
                    if a.window_end < self.scenario.start:
                        continue
                    offset = time.monotonic() - self.started
                    if a.status.value == "firing":
                        self.fired.setdefault(a.kind, offset)
                    elif a.status.value == "resolved":
                        self.resolved.setdefault(a.kind, offset)
                    colour = {"firing": RED, "updated": YELLOW, "resolved": GREEN}[a.status.value]
                    when = datetime.now().strftime("%H:%M:%S")
                    self.alerts.appendleft(
                        f"{when} {colour}{a.status.value.upper():8}{RESET} {a.kind.value:21} {a.severity.value:8} "
                        f"{a.message}"
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
        if self.observability is not None:
            lines += [f"{DIM}{line}{RESET}" for line in self.observability.where_to_look()[:2]]
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
            f"incidents staged (live start {self.live_start.astimezone():%H:%M:%S}, after a 15-min backlog): "
            + ", ".join(f"{kind} +{_mmss(minutes * 60)}" for kind, minutes in DEMO_TIMETABLE.items()),
            f"{DIM}detectors in minutes for the demo (brands file {self.workdir / 'brands.yaml'}): SLA 2 min, "
            f"silence after 3 min, spikes resolve after 2 quiet min{RESET}",
            *self._kinds_lines(),
            "",
            f"{BOLD}alerts ({self.alert_count}){RESET}" + ("" if self.alerts else f"  {DIM}none yet{RESET}"),
            *self.alerts,
            *self._webhook_lines(),
            *self._receiver_lines(),
            "",
            f"{DIM}Ctrl-C stops everything. Logs: {self.workdir}{RESET}",
        ]
        return "\n".join(lines)

    def _kinds_lines(self) -> list[str]:
        """Which of the seven kinds fired so far, when (after the live start), and which resolved."""
        seen = [k for k in AlertKind if k in self.fired]
        waiting = [k.value for k in AlertKind if k not in self.fired]
        colour = GREEN if not waiting else YELLOW
        lines = [f"{BOLD}kinds seen: {colour}{len(seen)}/{len(AlertKind)}{RESET}"]
        for k in seen:
            done = f", resolved +{_mmss(self.resolved[k])}" if k in self.resolved else ""
            lines.append(f"  {k.value:22} fired +{_mmss(self.fired[k])}{done}")
        if waiting:
            lines.append(f"  {DIM}waiting for: {', '.join(waiting)}{RESET}")
        return lines

    def _webhook_lines(self) -> list[str]:
        w = self.webhook
        if w is None:
            return []
        with w._lock:
            head = (
                f"{BOLD}delivered by the notifier to the demo webhook: {w.received}{RESET} "
                f"(signatures verified; bad signatures: {w.bad_signatures}; distinct webhook-ids: {len(w.ids)})"
            )
            return ["", head, *w.last]

    def _receiver_lines(self) -> list[str]:
        """What ``repwatch receive`` acknowledged, by event type (its /metrics), and what was posted."""
        p = self.platforms
        by = {s.name: s for s in self.stages}
        if p is None or "receiver" not in by:
            return []
        values = by["receiver"].values
        prefix = "repwatch_receiver_events_total:"
        kinds = {k.removeprefix(prefix): int(v) for k, v in values.items() if k.startswith(prefix) and v}
        accepted = sum(kinds.values())
        refused = int(sum(v for k, v in values.items() if k.startswith("repwatch_receiver_refused_total")))
        detail = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        with p._lock:
            head = (
                f"{BOLD}webhooks accepted by the receiver: {accepted}{RESET}"
                + (f" ({detail})" if detail else "")
                + f"; refused {refused}; posted as VK/Facebook by the demo: {p.sent}/{len(p.requests)}"
                + (f", {RED}failed {p.failed}{RESET}" if p.failed else "")
            )
            return ["", head, *p.last]

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
        for name in ("ingest", "receiver", "sentiment", "alerting", "notifier"):
            for s in self.stages:
                if s.name == name:
                    stop_process(s.proc, timeout=20)
        if self.webhook is not None:
            self.webhook.close()
        if self.observability is not None:
            self.observability.stop()
        if self.broker is not None:
            self.broker.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
        print(f"{BOLD}repwatch demo:{RESET} stopped; no process left behind.", flush=True)


def _mmss(seconds: float) -> str:
    m, s = divmod(int(max(0.0, seconds)), 60)
    return f"{m}:{s:02d}"


def run_demo(duration: timedelta | None, seed: int = 0, observe: bool = False) -> int:
    demo = Demo(seed=seed, observe=observe)
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
    sys.exit(run_demo(None))
