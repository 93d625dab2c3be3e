"""Prometheus artefacts checked by Prometheus's own tool, and kept in step with the code.

``promtool`` comes from Debian's ``prometheus`` package (devtools/debian_tools.py fetches
and unpacks it once). A missing tool fails these tests rather than skipping them: an
unchecked rule file is exactly what they exist to prevent.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from devtools.debian_tools import tool
from shared.metric_defs import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.rules.yml"))
TEST_FILES = sorted((PROM / "tests").glob("*.test.yml"))
#: series Prometheus itself makes
BUILTIN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


@pytest.fixture(scope="module")
def promtool() -> Path:
    return tool("promtool")


def _run(promtool: Path, *args: str, cwd: Path = PROM) -> str:
    proc = subprocess.run([str(promtool), *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


def test_rules_pass_promtool_check(promtool):
    assert RULE_FILES
    out = _run(promtool, "check", "rules", *map(str, RULE_FILES))
    assert "SUCCESS" in out


def test_rules_pass_their_promtool_unit_tests(promtool):
    assert TEST_FILES
    out = _run(promtool, "test", "rules", *map(str, TEST_FILES))
    assert "FAILED" not in out


def test_scrape_config_is_valid_with_no_warnings(promtool):
    out = _run(promtool, "check", "config", "prometheus.yml")
    assert "WARNING" not in out, out


def _rules() -> list[dict]:
    return [r for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]


def _metric_names(expr: str) -> set[str]:
    """Metric names an expression reads (recording-rule outputs have colons and are not metrics)."""
    names = set(re.findall(r"(?<![:\w])(repwatch_[a-z0-9_]+|up)(?![:\w])", expr))
    return {re.sub(r"_(bucket|count|sum)$", "", n) if not n.endswith("_total") else n for n in names}


def test_every_metric_a_rule_reads_is_in_the_catalogue():
    recorded = {r["record"] for r in _rules() if "record" in r}
    for rule in _rules():
        for name in _metric_names(rule["expr"]):
            assert name in CATALOGUE or name in BUILTIN, (rule.get("alert") or rule.get("record"), name)
        # a recording rule reads only metrics or rules recorded above it
        for used in re.findall(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b", rule["expr"]):
            assert used in recorded, used


def test_recording_rules_follow_the_level_metric_operation_convention():
    for rule in _rules():
        if "record" in rule:
            level, metric, op = rule["record"].split(":")
            assert metric.startswith("repwatch_") or level == "repwatch", rule["record"]
            assert op, rule["record"]


def test_every_alert_has_a_duration_or_is_instant_by_design_and_a_runbook():
    for rule in _rules():
        if "alert" not in rule:
            continue
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert {"summary", "description", "runbook"} <= set(rule["annotations"])
        # an instant alert (no for:) must look back over a window of its own
        assert "for" in rule or re.search(r"\[\d+[mh]\]", rule["expr"]), rule["alert"]


def test_unit_tests_cover_every_alert():
    tested = {
        t["alertname"]
        for f in TEST_FILES
        for case in yaml.safe_load(f.read_text())["tests"]
        for t in case.get("alert_rule_test", [])
    }
    alerts = {r["alert"] for r in _rules() if "alert" in r}
    assert alerts <= tested, alerts - tested
