"""The README's "Running in production" section names only real things: metrics of the
catalogue, settings the workers read, files of the repository, overlays that render."""

from __future__ import annotations

import re

from shared.metric_defs import CATALOGUE
from tests.deploy.workers import ROOT, SETTINGS, env_names, environ_reads

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section() -> str:
    start = README.index("\n## Running in production\n")
    return README[start : README.index("\n## ", start + 5)]


def test_section_exists_after_external_kafka():
    assert README.index("## Using an external Kafka") < README.index("## Running in production")


def test_metrics_named_are_in_the_catalogue():
    named = set(re.findall(r"\b(repwatch_[a-z0-9_]+)", _section()))
    assert named and named <= set(CATALOGUE), named - set(CATALOGUE)


def test_settings_named_are_real():
    known = set().union(*(env_names(cls) for cls in SETTINGS.values())) | environ_reads()
    named = set(re.findall(r"\b(REPWATCH_[A-Z0-9_]+)\b(?!\*)", _section()))
    named = {n for n in named if not n.endswith("_")}  # REPWATCH_*_GROUP_ID style patterns
    assert named and named <= known, named - known


def test_paths_named_exist():
    paths = set(re.findall(r"`((?:deploy|services|shared|devtools)/[^`\s]*)`", _section()))
    assert paths
    missing = {p for p in paths if not (ROOT / p.rstrip("/")).exists()}
    assert missing == set(), missing
