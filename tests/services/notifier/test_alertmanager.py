"""A real Alertmanager (Debian's ``prometheus-alertmanager``) between the notifier and a person.

The notifier's processor pushes to Alertmanager's API; Alertmanager runs the
operators' example config (deploy/alertmanager/alertmanager.yml) with its webhook
receivers pointed at a local HTTP server here and its intervals shortened. What
arrives there is what a person would be notified of: the firing incident once,
nothing more for re-sends and replays, and the resolution with its endsAt.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from devtools.debian_tools import tool
from devtools.procs import free_ports, spawn, stop_process
from services.notifier.ledger import Ledger
from services.notifier.processor import NotifierProcessor
from services.notifier.receivers.base import RenderContext
from services.notifier.receivers.web import HttpClient
from services.notifier.routes import parse_routes, resolve_secrets
from services.notifier.targets import build_plan
from shared.brands import BrandsFile
from shared.kafka.transport import Record
from tests.conftest import REPO_ROOT, wait_for
from tests.services.notifier.alerts import alert
from tests.services.notifier.servers import FakeServer

TEMPLATE = REPO_ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
#: Alertmanager re-sends nothing by itself within a test: repeat_interval is far away
SHORT = {"group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"}


def test_config(hook_url: str) -> dict:
    """The operators' example with its receivers pointed at ``hook_url`` and short intervals."""
    cfg = yaml.safe_load(TEMPLATE.read_text())
    cfg["global"]["resolve_timeout"] = "10s"
    cfg["route"].update(SHORT)
    for r in cfg["receivers"]:
        for w in r["webhook_configs"]:
            w["url"] = f"{hook_url}/{r['name']}"
    return cfg


test_config.__test__ = False  # a helper, not a test


def amtool_check(path: Path) -> str:
    proc = subprocess.run([str(tool("amtool")), "check-config", str(path)], capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


def test_the_example_config_and_the_test_config_pass_amtool(tmp_path):
    assert "SUCCESS" in amtool_check(TEMPLATE)
    path = tmp_path / "am.yml"
    path.write_text(yaml.safe_dump(test_config("http://127.0.0.1:9")))
    assert "SUCCESS" in amtool_check(path)


class Alertmanager:
    def __init__(self, config: dict, work: Path) -> None:
        (work / "data").mkdir(parents=True)
        cfg = work / "alertmanager.yml"
        cfg.write_text(yaml.safe_dump(config))
        amtool_check(cfg)
        (port,) = free_ports(1)
        self.url = f"http://127.0.0.1:{port}"
        self.log = work / "alertmanager.log"
        self.proc = spawn(
            [
                str(tool("prometheus-alertmanager")),
                f"--config.file={cfg}",
                f"--storage.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # no gossip: one instance, no settle wait
            ],
            log_path=self.log,
            # Debian's build finds its templates relative to its own directory (devtools/debian_tools.py)
            cwd=tool("prometheus-alertmanager").parent,
        )
        wait_for(self.ready, 30, "Alertmanager to be ready")

    def _get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except OSError:
            return 0, ""

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"Alertmanager exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
        return self._get("/-/ready")[0] == 200

    def metric(self, name: str) -> float:
        """Sum of a metric's samples on /metrics."""
        _, text = self._get("/metrics")
        return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))

    def stop(self) -> None:
        stop_process(self.proc, timeout=10)


@pytest.fixture
def hook():
    s = FakeServer(lambda seen, n: (200, {}, b""), clock=time.time)
    yield s
    s.close()


@pytest.fixture
def alertmanager(hook, tmp_path):
    am = Alertmanager(test_config(hook.url), tmp_path / "am")
    yield am
    am.stop()


def notifications(hook: FakeServer, receiver: str = "reputation-team") -> list[dict]:
    return [s.json() for s in hook.requests if s.path == f"/{receiver}"]


def test_firing_once_through_resends_and_a_replay_then_resolved_with_ends_at(alertmanager, hook):
    routes = resolve_secrets(
        parse_routes(f'receivers: {{am: {{type: alertmanager, url: "{alertmanager.url}", resend_every_s: 5}}}}'),
        {},
    )
    plan = build_plan(routes, HttpClient())
    mono = [0.0]
    proc = NotifierProcessor(
        routes,
        plan,
        BrandsFile(),
        Ledger("notifier.ledger"),
        worker="notifier",
        registry=CollectorRegistry(),
        max_record_bytes=1_000_000,
        read_ledger=lambda parts: [],
        dispatcher_options={"update_interval_s": 0.0},
        monotonic=lambda: mono[0],
    ).start()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    times = {"started_at": now - timedelta(minutes=5), "window_start": now - timedelta(minutes=5)}
    firing = alert().model_copy(update={**times, "window_end": now})
    resolved = alert("resolved", 1).model_copy(update={**times, "window_end": now})

    def record(a, offset: int) -> Record:
        return Record("alerts", 0, offset, a.brand.encode(), a.to_bytes(), int(time.time() * 1000))

    def ledger_entries(n: int) -> None:
        got: list = []

        def check() -> bool:
            got.extend(proc.on_idle(None, frozenset()).outputs)
            return len(got) >= n

        wait_for(check, 20, "the notifier's deliveries to finish", interval=0.05)

    try:
        proc([record(firing, 0)])
        ledger_entries(2)  # the delivery and the open incident
        wait_for(lambda: notifications(hook), 30, "Alertmanager's firing notification")
        (first,) = notifications(hook)
        assert first["status"] == "firing" and len(first["alerts"]) == 1
        am_alert = first["alerts"][0]
        assert am_alert["labels"] | {"incident": "-"} == {
            "alertname": "unanswered_complaint",
            "brand": "acme",
            "channel": "vk:club_acme",
            "platform": "vk",
            "severity": "warning",
            "source": "repwatch",
            "incident": "-",
        }
        assert am_alert["labels"]["incident"] == firing.alert_id
        assert am_alert["annotations"]["summary"] and am_alert["annotations"]["next_step"]
        assert am_alert["startsAt"].startswith(times["started_at"].strftime("%Y-%m-%dT%H:%M:%S"))
        assert not notifications(hook, "on-call"), "a warning reached the critical route"

        # what a person must not see again: the notifier's own re-send of the open incident,
        # a replayed record (skipped by the ledger), and the same alert pushed once more
        # (the in-flight case: sent, then the worker died before its ledger entry was written)
        sent_before = len(hook.requests)
        mono[0] += 6
        proc.on_idle(None, frozenset())
        proc([record(firing, 1)])
        target = plan.specs["am"].target
        assert target.deliver(firing, "replay", RenderContext("en", "UTC", datetime.now(timezone.utc))).reason == "ok"
        wait_for(lambda: alertmanager.metric("alertmanager_alerts_received_total") >= 3, 20, "the pushes to land")
        # two more flushes of the group went through Alertmanager's dedup stage with nothing new
        queried = alertmanager.metric("alertmanager_nflog_queries_total")
        wait_for(
            lambda: alertmanager.metric("alertmanager_nflog_queries_total") >= queried + 2,
            30,
            "two more flushes of the incident's group",
        )
        assert len(hook.requests) == sent_before, "a re-send or replay produced a second notification"

        proc([record(resolved, 2)])
        ledger_entries(2)  # the delivery and the open incident's tombstone
        wait_for(lambda: any(n["status"] == "resolved" for n in notifications(hook)), 30, "the resolution notification")
        assert [n["status"] for n in notifications(hook)] == ["firing", "resolved"]
        (done,) = notifications(hook)[1]["alerts"]
        assert done["status"] == "resolved" and done["labels"] == am_alert["labels"]
        # endsAt is when the detector resolved it (it is in the past, so not a "still firing" stamp)
        assert done["endsAt"].startswith(resolved.window_end.strftime("%Y-%m-%dT%H:%M:%S"))
    finally:
        proc.on_stop()
