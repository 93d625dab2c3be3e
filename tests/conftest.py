"""Fixtures shared by the whole suite.

Integration tests share ONE real Kafka broker for the session (starting a JVM
costs seconds); each test isolates itself with its own topic prefix and group
ids rather than its own broker.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.procs import spawn, stop_process
from shared.config import TopicNames, WorkerSettings
from shared.kafka.transport import ensure_topics

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real Kafka 4.4 broker, or of ``REPWATCH_TEST_KAFKA_BOOTSTRAP``."""
    external = os.environ.get("REPWATCH_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    from devtools.embedded_kafka import EmbeddedKafka

    broker = EmbeddedKafka(tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


_counter = itertools.count()


@dataclass
class Pipeline:
    """One test's private slice of the broker: its own topic prefix."""

    bootstrap: str
    prefix: str
    partitions: int

    @property
    def topics(self) -> TopicNames:
        return TopicNames.with_prefix(self.prefix)

    def settings(self, **overrides) -> WorkerSettings:
        return WorkerSettings(
            kafka_bootstrap=self.bootstrap, topic_prefix=self.prefix, topic_partitions=self.partitions, **overrides
        )

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a worker subprocess pointed at this slice."""
        # Worker settings come only from here; where caches and data live still
        # comes from the caller (CI may point REPWATCH_MODEL_CACHE elsewhere).
        keep = {"REPWATCH_MODEL_CACHE", "REPWATCH_KAFKA_CACHE", "REPWATCH_DATA_DIR"}
        env = {k: v for k, v in os.environ.items() if not k.startswith("REPWATCH_") or k in keep}
        env.update(
            {
                "REPWATCH_KAFKA_BOOTSTRAP": self.bootstrap,
                "REPWATCH_TOPIC_PREFIX": self.prefix,
                "REPWATCH_TOPIC_PARTITIONS": str(self.partitions),
                "REPWATCH_METRICS_PORT": "0",
                "REPWATCH_SESSION_TIMEOUT_MS": "6000",
                "REPWATCH_POLL_TIMEOUT_MS": "200",
                "PYTHONUNBUFFERED": "1",
                "TOKENIZERS_PARALLELISM": "false",
                # two workers share two cores in CI: one torch thread each
                "REPWATCH_SENTIMENT_CPU_THREADS": "1",
                "OMP_NUM_THREADS": "1",
            }
        )
        env.update(extra)
        return env


@pytest.fixture
def pipeline(kafka_broker: str) -> Pipeline:
    p = Pipeline(kafka_broker, f"t{next(_counter)}-{uuid.uuid4().hex[:6]}.", partitions=3)
    ensure_topics(p.settings())
    return p


@pytest.fixture(scope="session")
def random_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised classifier: exercises plumbing, predicts noise."""
    from services.sentiment.stand_in import build_random_model

    return build_random_model(tmp_path_factory.mktemp("random-model"))


class Workers:
    """Worker subprocesses of one test; all are stopped (SIGKILL at worst) afterwards."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self.procs: list[tuple[str, object]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]):
        log = self._log_dir / f"{name}-{len(self.procs)}.log"
        proc = spawn([sys.executable, *argv], env=env, log_path=log, cwd=REPO_ROOT)
        proc.log_path = log  # type: ignore[attr-defined]
        self.procs.append((name, proc))
        return proc

    def stop_all(self) -> None:
        for _, proc in self.procs:
            stop_process(proc, timeout=15)  # type: ignore[arg-type]

    def logs(self) -> str:
        parts = []
        for name, proc in self.procs:
            text = proc.log_path.read_text(errors="replace")[-4000:]  # type: ignore[attr-defined]
            parts.append(f"----- {name} (exit {proc.poll()}) -----\n{text}")  # type: ignore[attr-defined]
        return "\n".join(parts)


@pytest.fixture
def workers(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Workers]:
    w = Workers(tmp_path)
    yield w
    w.stop_all()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(w.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="session")
def lexicon_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hand-wired classifier that labels the simulated world's mentions roughly as they were meant.

    Its word lists are learned from a different seed than the tests use.
    """
    from simulation.lexicon import build_simulation_lexicon_model

    return build_simulation_lexicon_model(tmp_path_factory.mktemp("lexicon-model"))


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The shipped default model, assembled (idempotently) like `make model` does."""
    from services.sentiment.model_build.assemble import assemble

    return assemble()
