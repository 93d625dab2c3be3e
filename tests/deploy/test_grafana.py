"""The Grafana dashboards: generated (never hand-edited), decodable by Grafana's own SDK, naming only
metrics that exist, and every panel's every query answered with data by a real Prometheus
scraping a real pipeline.

No Grafana runs here (it is not in Debian's archive): the dashboards are checked by what
consumes their parts instead. Grafana's ``grafana-foundation-sdk`` decodes each file into its
typed models (panel options by plugin, Prometheus queries) and must encode it back unchanged;
the queries go to Debian's Prometheus, loaded with the project's rule files, exactly as Grafana
would send them once its variables are substituted.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from devtools import grafana_dashboards as G
from devtools.procs import free_ports
from devtools.prometheus_server import Prometheus
from shared.metric_defs import CATALOGUE
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
RULE_FILES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.rules.yml"))
#: series Prometheus itself makes, and the client library's standard process collector
BUILTIN = {"up", "process_start_time_seconds"}
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted((GRAFANA / "dashboards").glob("*.json"))}


def panels(dash: dict) -> list[dict]:
    """Every panel that is not a row (rows may also nest their panels when collapsed)."""
    out = []
    for p in dash["panels"]:
        if p["type"] == "row":
            out.extend(p.get("panels", []))
        else:
            out.append(p)
    return out


def queries() -> list[tuple[str, str, dict]]:
    """(dashboard title, panel title, target) of every query of every panel."""
    return [(d["title"], p["title"], t) for d in dashboards().values() for p in panels(d) for t in p["targets"]]


def metric_names(expr: str) -> set[str]:
    """Series names a PromQL expression selects (not functions, keywords, labels, strings or ranges)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    # not preceded by a digit: the unit of a duration (offset 5m) is no name
    for m in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", e):
        if m.group(0) in _KEYWORDS or e[m.end() :].lstrip().startswith("("):
            continue
        names.add(m.group(0))
    return names


def recorded() -> set[str]:
    return {
        r["record"]
        for f in RULE_FILES
        for g in yaml.safe_load(f.read_text())["groups"]
        for r in g["rules"]
        if "record" in r
    }


# --- files -------------------------------------------------------------------------------------------------


def test_committed_dashboards_are_exactly_what_the_generator_writes():
    rendered = G.render()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in (GRAFANA / "dashboards").glob("*.json")}
    assert set(on_disk) == set(rendered), "a dashboard file without a generator (or the reverse)"
    for name, text in rendered.items():
        assert on_disk[name] == text, f"{name} differs from the generator: run python -m devtools.grafana_dashboards"


def test_grafana_sdk_decodes_every_dashboard_into_its_typed_models_and_back_unchanged():
    register_default_plugins()  # panel options and queries decode into their plugins' models
    for name, data in dashboards().items():
        decoded = Dashboard.from_json(data)
        for p in decoded.panels:
            if p.type_val != "row":
                assert type(p.options).__module__.endswith(p.type_val), (name, p.title, type(p.options))
                assert all(type(t).__module__.endswith("prometheus") for t in p.targets), (name, p.title)
        # a field the models do not know (a typo, a hand edit) would be dropped here
        assert json.loads(json.dumps(decoded, cls=JSONEncoder)) == data, name


def test_the_data_source_is_a_variable_every_panel_and_query_uses_defaulting_to_the_provisioned_one():
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = provisioned["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == G.DATASOURCE_UID
    ref = {"type": "prometheus", "uid": "${datasource}"}
    for name, dash in dashboards().items():
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        ds = variables["datasource"]
        assert ds["type"] == "datasource" and ds["query"] == "prometheus"
        assert ds["current"]["value"] == source["uid"], name
        assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"]), f"{name}: panel ids repeat"
        for p in panels(dash):
            assert p["datasource"] == ref, (name, p["title"])
            assert p["targets"], (name, p["title"])
            for t in p["targets"]:
                assert t["datasource"] == ref and t["expr"].strip(), (name, p["title"], t["refId"])


def test_the_dashboard_provider_loads_the_directory_compose_mounts():
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "repwatch.yml").read_text())
    assert provider["apiVersion"] == 1
    (p,) = provider["providers"]
    assert p["type"] == "file" and p["options"]["path"] == "/var/lib/grafana/dashboards"


def test_every_metric_a_dashboard_names_is_in_the_catalogue_or_a_recording_rule():
    rules = recorded()
    histograms = {n for n, d in CATALOGUE.items() if d.kind == "histogram"}
    seen = set()
    for dash, panel, target in queries():
        names = metric_names(target["expr"])
        assert names, (dash, panel, target["expr"])  # the parser found what it reads
        for name in names:
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            if ":" in name:
                assert name in rules, (dash, panel, name)
            elif base in histograms:
                assert name != base, (dash, panel, f"{name} is a histogram: use _bucket, _count or _sum")
            else:
                assert name in CATALOGUE or name in BUILTIN, (dash, panel, name)
            seen.add(base if base in histograms else name)
    # the reputation metrics the alerting worker exports for these dashboards are all used
    for name in ("repwatch_mentions_total", "repwatch_mentions_removed_total", "repwatch_alerts_total"):
        assert name in seen, name


def test_the_metric_name_parser_tells_series_from_functions_labels_and_keywords():
    expr = (
        'sum by (brand, le) (rate(repwatch_reply_seconds_bucket{brand=~"$brand", le="3600.0"}[1h])) '
        "/ on (brand) group_left sum by (brand) (a:b_c:rate5m) and up offset 5m > bool 0.5"
    )
    assert metric_names(expr) == {"repwatch_reply_seconds_bucket", "a:b_c:rate5m", "up"}


# --- the proof: every query against a real Prometheus scraping a real pipeline -----------------------------


def substitute(expr: str, *, interval_s: int, scrape_s: int, range_s: int) -> str:
    """What Grafana sends: its variables replaced. ``$__rate_interval`` is Grafana's own rule,
    max($__interval + scrape interval, 4 x scrape interval); the brand variable is "All"."""
    rate_s = max(interval_s + scrape_s, 4 * scrape_s)
    out = expr.replace("$__rate_interval", f"{rate_s}s").replace("$__interval", f"{interval_s}s")
    out = out.replace("$__range", f"{range_s}s").replace("$brand", G.ALL_BRANDS)
    assert "$" not in out, out
    return out


def _has_number(result: list[dict]) -> bool:
    values = [v for s in result for _, v in s.get("values", [s["value"]] if "value" in s else [])]
    return any(math.isfinite(float(v)) for v in values)


def feed(path: Path, negative: list[str], positive: list[str]) -> int:
    """Three rounds, each: a complaint the brand answers within the SLA, a complaint the brand
    deletes (an alert), praise on another platform, a mention of an unlisted brand, and one line
    that is not JSON (a dead letter). Sent one line at a time, each label set gets increments
    Prometheus scrapes apart, so rates and quantiles have something to compute."""
    base = (datetime.now(UTC) - timedelta(minutes=40)).replace(microsecond=0)
    lines = []

    def event(i: str, at: datetime, **fields) -> None:
        doc = {
            "event_type": "created",
            "platform": "vk",
            "brand": "acme",
            "channel": "vk:club_acme",
            "mention_id": i,
            "author_id": f"user-{i}",
            "text": "",
            "occurred_at": at.isoformat(),
            "ingested_at": datetime.now(UTC).isoformat(),
        }
        doc.update(fields)
        lines.append(json.dumps(doc))

    for r in range(3):
        t = base + timedelta(minutes=10 * r)
        event(f"c{r}", t, text=" ".join(negative[r * 4 : r * 4 + 4]))
        event(f"p{r}", t + timedelta(seconds=1), platform="telegram", channel="tg:acme", text=" ".join(positive[:4]))
        event(f"g{r}", t + timedelta(seconds=2), brand="globex", channel="vk:club_globex", text=" ".join(positive[4:8]))
        event(
            f"r{r}",
            t + timedelta(minutes=5 + r),
            author_id="acme",
            author_is_brand=True,
            parent_id=f"c{r}",
            text="We are sorry, a refund is on its way",
        )
        lines.append("{not json")
        event(
            f"d{r}", t + timedelta(minutes=8), author_id=f"angry-{r}", text=" ".join(negative[12 + r * 4 : 16 + r * 4])
        )
        event(f"d{r}", t + timedelta(minutes=9), event_type="deleted", actor="brand")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


@pytest.mark.integration
def test_every_panel_query_returns_data_from_a_real_prometheus_scraping_the_pipeline(
    pipeline, workers, lexicon_model_dir, tmp_path
):
    from simulation.lexicon import lexicon_words
    from tests.services.notifier.servers import FakeServer

    # the stand-in model's own word lists (same seed as the fixture's): texts it surely labels
    negative, positive, _ = lexicon_words(seed=1)
    negative, positive = sorted(w for w in negative if w.isalpha()), sorted(w for w in positive if w.isalpha())
    hook = FakeServer(lambda seen, n: (204, {}, b""), clock=time.time)
    brands = tmp_path / "brands.yaml"
    brands.write_text("brands:\n  acme:\n    owned_channels: {vk: [vk:club_acme]}\n", encoding="utf-8")
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        f'receivers:\n  hook: {{type: webhook, url: "{hook.url}", secret: {{env: RW_TEST_HOOK_SECRET}}}}\n'
        "default: [hook]\n",
        encoding="utf-8",
    )
    stages = ("ingest", "sentiment", "alerting", "notifier")
    ports = dict(zip(stages, free_ports(len(stages)), strict=True))
    scrape_s = 1
    prom = Prometheus(
        tmp_path / "prometheus",
        {name: [f"127.0.0.1:{port}"] for name, port in ports.items()},
        scrape_interval=f"{scrape_s}s",
        evaluation_interval=f"{scrape_s}s",
        rule_interval=f"{scrape_s}s",
    ).start()
    try:
        started = time.time()
        env = pipeline.env(
            REPWATCH_SENTIMENT_MODEL=str(lexicon_model_dir),
            REPWATCH_BRANDS_FILE=str(brands),
            REPWATCH_ROUTES_FILE=str(routes),
            RW_TEST_HOOK_SECRET="whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0",
            REPWATCH_METRICS_HOST="127.0.0.1",
        )
        for name, module in (
            ("sentiment", "services.sentiment"),
            ("alerting", "services.alerting"),
            ("notifier", "services.notifier"),
        ):
            workers.start(name, ["-m", module], {**env, "REPWATCH_METRICS_PORT": str(ports[name])})

        def ready(name: str) -> bool:
            return prom.query(f'up{{job="repwatch-{name}"}} == 1')["data"]["result"] != [] and _readyz(ports[name])

        for name in ("sentiment", "alerting", "notifier"):
            wait_for(lambda name=name: ready(name), 90, f"{name} ready and scraped")
        lines = tmp_path / "mentions.jsonl"
        n = feed(lines, negative, positive)
        # paced: one line per half second, so each batch is its own (see feed)
        ingest = workers.start(
            "ingest",
            ["-m", "services.cli", "ingest", "file", str(lines), "--rate", "2"],
            {**env, "REPWATCH_METRICS_PORT": str(ports["ingest"])},
        )
        assert ingest.wait(timeout=60) == 0, "ingest failed"
        wait_for(lambda: len(hook.requests) >= 3, 60, "the three deletion alerts delivered to the webhook")

        targets = queries()

        def empty() -> list[str]:
            end = time.time()
            missing = []
            for dash, panel, target in targets:
                range_s = math.ceil(end - started)
                expr = substitute(target["expr"], interval_s=scrape_s, scrape_s=scrape_s, range_s=range_s)
                if target.get("instant"):
                    answer = prom.query(expr, at=end)
                else:
                    answer = prom.query_range(expr, started, end, f"{scrape_s}s")
                assert answer["status"] == "success", (dash, panel, expr, answer)
                if not answer["data"]["result"] or not _has_number(answer["data"]["result"]):
                    missing.append(f"{dash} / {panel} [{target['refId']}]: {expr}")
            return missing

        # the last increments reach Prometheus within a scrape and a rule evaluation or two;
        # every query is asked again until all have data (or the deadline names those that do not)
        deadline = time.monotonic() + 30
        while (missing := empty()) and time.monotonic() < deadline:
            time.sleep(1)
        assert not missing, "panels without data:\n" + "\n".join(missing) + f"\n(fed {n} lines)\n" + prom.log_tail()
    finally:
        prom.stop()
        hook.close()


def _readyz(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False
