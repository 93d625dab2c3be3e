"""The chaos suite (devtools/chaos.py) as tests.

``make test`` runs the short version (one fault of each kind, a fixed seed) so a
regression in crash safety fails CI; ``make chaos`` runs the long, seeded ones
(``CHAOS_SEEDS="1 2 3"``; a random seed when unset, printed so it can be replayed).
"""

from __future__ import annotations

import os
import random

import pytest

from devtools.chaos import BAD_LINE_KINDS, FAULTS, ChaosConfig, ChaosRun

SHORT_SEED = 20261202


def _seeds() -> list[int]:
    env = os.environ.get("CHAOS_SEEDS", "").split()
    return [int(s) for s in env] or [random.SystemRandom().randrange(1, 1_000_000)]


@pytest.mark.integration
@pytest.mark.timeout(1200)
def test_short_chaos_one_fault_of_each_kind_loses_nothing(tmp_path):
    report = ChaosRun(ChaosConfig.short_run(SHORT_SEED, workdir=tmp_path)).run()
    print(report.render())
    assert sorted(report.faults_done) == sorted(FAULTS)
    assert report.bad_inputs >= len(BAD_LINE_KINDS) and report.garbage > 0
    assert report.sent_valid > 0
    assert report.ok, report.render()


@pytest.mark.chaos
@pytest.mark.integration
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("seed", _seeds())
def test_chaos(seed, tmp_path):
    mentions = int(os.environ.get("CHAOS_MENTIONS", "20000"))
    report = ChaosRun(ChaosConfig(seed=seed, mentions=mentions, workdir=tmp_path)).run()
    print(report.render())
    assert report.ok, report.render()
