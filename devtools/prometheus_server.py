"""A local Prometheus (with RepWatch's rules) and Alertmanager, for tests and ``make observe``.

Both come from Debian's packages, unpacked by :mod:`devtools.debian_tools`, and run as
the current user on loopback ports of their own, with their data in a directory the
caller owns. Prometheus gets a generated configuration: one scrape job per worker kind,
named ``repwatch-<worker>`` as the rules expect (deploy/prometheus/prometheus.yml's
convention), static targets (the ports the caller started workers on), the project's
rule files and, optionally, an Alertmanager to send its pipeline alerts to.

``rule_interval`` rewrites each rule group's own ``interval`` (the recording rules are
evaluated every 30 s in production): a test that lasts a minute needs them evaluated
every second, with the same expressions.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from devtools.debian_tools import tool
from devtools.procs import free_ports, spawn, stop_process

ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


class ServerFailed(RuntimeError):
    pass


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


class _Server:
    name = "server"

    def __init__(self, workdir: Path, port: int | None) -> None:
        self.workdir = workdir
        self.port = port or free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{self.name}.log"
        self.proc = None

    def _spawn(self, argv: list[str], cwd: Path | None = None, timeout: float = 60.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = spawn(argv, log_path=self.log, cwd=cwd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerFailed(f"{self.name} exited {self.proc.returncode}: {self.log_tail()}")
            if _get(self.url + "/-/ready", timeout=1)[0] == 200:
                return
            time.sleep(0.2)
        self.stop()
        raise ServerFailed(f"{self.name} not ready after {timeout:.0f}s: {self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.is_file() else ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=15)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self):  # pragma: no cover - overridden
        raise NotImplementedError


class Prometheus(_Server):
    """``targets``: job suffix (``sentiment``) -> ``host:port`` of each replica's metrics endpoint."""

    name = "prometheus"

    def __init__(
        self,
        workdir: Path,
        targets: Mapping[str, Sequence[str]],
        *,
        scrape_interval: str = "15s",
        evaluation_interval: str = "30s",
        rule_interval: str | None = None,
        rules_dir: Path = RULES_DIR,
        alertmanager: str | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(workdir, port)
        self.targets = {job: list(addrs) for job, addrs in targets.items()}
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.rule_interval = rule_interval
        self.rules_dir = rules_dir
        self.alertmanager = alertmanager

    def write_config(self) -> Path:
        rules = self.workdir / "rules"
        rules.mkdir(parents=True, exist_ok=True)
        for src in sorted(self.rules_dir.glob("*.rules.yml")):
            doc = yaml.safe_load(src.read_text(encoding="utf-8"))
            if self.rule_interval is not None:
                for group in doc["groups"]:
                    group["interval"] = self.rule_interval
            (rules / src.name).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        config: dict = {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.evaluation_interval},
            "rule_files": [str(rules / "*.rules.yml")],
            "scrape_configs": [
                {"job_name": f"repwatch-{job}", "static_configs": [{"targets": addrs}]}
                for job, addrs in self.targets.items()
            ],
        }
        if self.alertmanager:
            host = urllib.parse.urlsplit(self.alertmanager).netloc
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def start(self) -> Prometheus:
        config = self.write_config()
        self._spawn(
            [
                str(tool("prometheus")),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ]
        )
        return self

    def api(self, path: str, **params: str) -> dict:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        status, body = _get(url, timeout=30)
        if not body:
            raise ServerFailed(f"no answer from {url} (HTTP {status})")
        return json.loads(body)

    def query(self, expr: str, at: float | None = None) -> dict:
        return self.api("query", query=expr, **({"time": f"{at:.3f}"} if at is not None else {}))

    def query_range(self, expr: str, start: float, end: float, step: str) -> dict:
        return self.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=step)

    def active_targets(self) -> list[dict]:
        return self.api("targets", state="active")["data"]["activeTargets"]


class Alertmanager(_Server):
    """Alertmanager on ``config`` (the operators' example by default), no cluster gossip."""

    name = "alertmanager"

    def __init__(self, workdir: Path, config: Path = ALERTMANAGER_CONFIG, port: int | None = None) -> None:
        super().__init__(workdir, port)
        self.config = config

    def start(self) -> Alertmanager:
        binary = tool("prometheus-alertmanager")
        self._spawn(
            [
                str(binary),
                f"--config.file={self.config}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",  # one instance: no gossip, no settle wait
            ],
            # Debian's build finds its templates relative to its own directory (devtools/debian_tools.py)
            cwd=binary.parent,
        )
        return self

    def alerts(self) -> list[dict]:
        status, body = _get(self.url + "/api/v2/alerts")
        return json.loads(body) if status == 200 else []
