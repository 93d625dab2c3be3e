"""`make run` end to end: the demo starts everything, shows it working, and leaves nothing behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in argv:
            found.append(argv)
    return found


def test_demo_runs_the_pipeline_and_cleans_up(lexicon_model_dir):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(Path.home()),
        "REPWATCH_SENTIMENT_MODEL": str(lexicon_model_dir),
        "REPWATCH_SENTIMENT_CPU_THREADS": "1",
        **{k: v for k, v in os.environ.items() if k in ("REPWATCH_KAFKA_CACHE", "REPWATCH_MODEL_CACHE", "JAVA_HOME")},
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "demo", "--duration", "150s"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr[-3000:]
    assert "broker up at 127.0.0.1:" in out
    workdir = re.search(r"logs are in (\S+)", out).group(1)
    last = out.rsplit("RepWatch — live pipeline", 1)[-1]
    for stage in ("sentiment", "alerting", "notifier", "ingest", "receiver"):
        row = re.search(rf"^{stage}\s+\S*up\S*\s+(\d+)\s+(\d+)", last, re.M)
        assert row, f"{stage} not up in the last screen:\n{last}"
    produced_by_ingest = int(re.search(r"^ingest\s+\S*up\S*\s+\d+\s+(\d+)", last, re.M).group(1))
    scored = int(re.search(r"^sentiment\s+\S*up\S*\s+\d+\s+(\d+)", last, re.M).group(1))
    assert produced_by_ingest > 500 and scored > 500  # the backlog went through at once
    assert "brands.yaml" in out and "incidents staged" in out
    assert re.search(r"kinds seen: \S*[1-7]/7", last), "the first staged incidents should have fired alerts"
    assert "FIRING" in out
    # the notifier delivered alerts to the demo's webhook, every one correctly signed
    delivered = re.search(
        r"delivered by the notifier to the demo webhook: \S*?(\d+)\S* \(signatures verified; bad signatures: (\d+)",
        last,
    )
    assert delivered and int(delivered.group(1)) > 0 and delivered.group(2) == "0", last
    # the demo posted real-shaped, signed VK and Facebook webhooks; the receiver took them,
    # the author's deletion of their VK question among them (counted from its /metrics)
    accepted = re.search(r"webhooks accepted by the receiver: \S*?(\d+)\S* \(([^)]*)\); refused (\d+)", last)
    assert accepted and int(accepted.group(1)) > 0, last
    by_type = {k: int(n) for k, n in (part.split() for part in accepted.group(2).split(", "))}
    assert by_type.get("deleted", 0) >= 1 and by_type.get("created", 0) >= 1, last
    assert accepted.group(3) == "0", last  # every one authentic
    assert "stopped; no process left behind" in out
    assert processes_mentioning(workdir) == []  # the broker JVM ran with its data dir there
    assert not Path(workdir).exists()
