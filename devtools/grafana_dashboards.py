"""The Grafana dashboards, as code: ``python -m devtools.grafana_dashboards`` writes deploy/grafana/dashboards/.

Why code rather than JSON edited in Grafana's UI: a dashboard names metrics, and a renamed
metric silently empties a panel. Built here with Grafana's own ``grafana-foundation-sdk``
builders, every query is a string a test can read: tests/deploy/test_grafana.py checks that
the committed JSON is exactly what this module produces (so nobody hand-edits it), that every
metric a query names is in the catalogue (or a recording rule or a Prometheus series), and
runs every query against a real Prometheus scraping a real pipeline.

Both dashboards take the data source as a variable (``datasource``, any Prometheus; the
default is the provisioned one, uid :data:`DATASOURCE_UID`) and every panel and query uses
it. Panels prefer the recording rules of deploy/prometheus/rules where one exists (what the
rule evaluated once, no dashboard recomputes); per-brand figures read the alerting worker's
metrics directly, since the rules sum brands away.

``--check`` exits 1 when the committed files differ from what would be written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import common as gc
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus as gp
from grafana_foundation_sdk.builders import stat as gstat
from grafana_foundation_sdk.builders import timeseries as gts
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as gcommon
from grafana_foundation_sdk.models import dashboard as gm

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "deploy" / "grafana" / "dashboards"
#: the uid of the data source deploy/grafana/provisioning/datasources/prometheus.yml creates
DATASOURCE_UID = "repwatch-prometheus"
#: how every panel and query names its data source: the dashboard variable
DATASOURCE = gm.DataSourceRef(type_val="prometheus", uid="${datasource}")
#: the SLA a reply is measured against by default (unanswered_complaint's sla_minutes: 60)
SLA_SECONDS = 3600
#: the value the brand variable sends for "All" (a regex: every brand label value)
ALL_BRANDS = ".*"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    #: stat panels show one number now: an instant query, as Grafana runs it
    instant: bool = False


@dataclass(frozen=True)
class PanelSpec:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    width: int = 12
    #: a threshold line drawn on a time series (the SLA)
    threshold: float | None = None
    bars: bool = False


def _target(q: Query, ref: str) -> gp.Dataquery:
    t = gp.Dataquery().expr(q.expr).ref_id(ref).datasource(DATASOURCE).legend_format(q.legend or "__auto")
    return t.instant() if q.instant else t.range()


def _panel(spec: PanelSpec) -> gd.Panel:
    height = 4 if spec.kind == "stat" else 8
    p = gstat.Panel() if spec.kind == "stat" else gts.Panel()
    p = p.title(spec.title).description(spec.description).datasource(DATASOURCE).unit(spec.unit)
    p = p.height(height).span(spec.width)
    for i, q in enumerate(spec.queries):
        p = p.with_target(_target(q, chr(ord("A") + i)))
    if spec.kind == "stat":
        p = p.reduce_options(gc.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    else:
        p = p.legend(
            gc.VizLegendOptions()
            .show_legend(True)
            .display_mode(gcommon.LegendDisplayMode.LIST)
            .placement(gcommon.LegendPlacement.BOTTOM)
        )
        p = p.line_width(1).fill_opacity(60 if spec.bars else 10)
        if spec.bars:
            p = p.draw_style(gcommon.GraphDrawStyle.BARS)
        if spec.threshold is not None:
            p = p.thresholds(
                gd.ThresholdsConfig()
                .mode(gm.ThresholdsMode.ABSOLUTE)
                .steps([gm.Threshold(value=None, color="green"), gm.Threshold(value=spec.threshold, color="red")])
            ).thresholds_style(gc.GraphThresholdsStyleConfig().mode(gcommon.GraphTresholdsStyleMode.LINE))
    return p


def _datasource_variable() -> gd.DatasourceVariable:
    return (
        gd.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .current(gm.VariableOption(selected=True, text="Prometheus", value=DATASOURCE_UID))
    )


def _dashboard(uid: str, title: str, description: str, rows: Iterable[tuple[str, list[PanelSpec]]], variables) -> dict:
    d = (
        gd.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["repwatch"])
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
        .editable()
    )
    for v in variables:
        d = d.with_variable(v)
    # unique panel ids: Grafana links, repeats and "view panel" address panels by id
    ids = iter(range(1, 1000))
    for row_title, specs in rows:
        d = d.with_row(gd.Row(row_title).id(next(ids)))
        for spec in specs:
            d = d.with_panel(_panel(spec).id(next(ids)))
    return json.loads(json.dumps(d.build(), cls=JSONEncoder))


# --- pipeline health ---------------------------------------------------------------------------------------

_RATE = "[$__rate_interval]"


def pipeline_health() -> dict:
    rows = [
        (
            "Throughput per stage",
            [
                PanelSpec(
                    "Records consumed per second",
                    "Per worker and input topic (recording rule, 1 min rate).",
                    (Query("worker_topic:repwatch_records_consumed:rate1m", "{{worker}} ← {{topic}}"),),
                    "ops",
                ),
                PanelSpec(
                    "Records produced per second",
                    "Per worker and output topic, acknowledged by Kafka (recording rule, 1 min rate).",
                    (Query("worker_topic:repwatch_records_produced:rate1m", "{{worker}} → {{topic}}"),),
                    "ops",
                ),
            ],
        ),
        (
            "Backlog",
            [
                PanelSpec(
                    "Consumer lag per partition",
                    "Records between each group's position and the partition end (what KEDA scales on).",
                    (
                        Query(
                            "max by (worker, topic, partition) (repwatch_consumer_lag_records)",
                            "{{worker}} {{topic}}/{{partition}}",
                        ),
                    ),
                ),
                PanelSpec(
                    "Consumer lag per stage",
                    "The lag summed over partitions (recording rule).",
                    (Query("worker_topic:repwatch_consumer_lag_records:sum", "{{worker}} {{topic}}"),),
                ),
            ],
        ),
        (
            "Latency",
            [
                PanelSpec(
                    "Batch latency",
                    "From a poll returning to its batch being produced and committed: p50 and p90 now, "
                    "p99 over 5 min (recording rule).",
                    (
                        Query(
                            "histogram_quantile(0.5, sum by (worker, le) "
                            f"(rate(repwatch_batch_processing_seconds_bucket{_RATE})))",
                            "{{worker}} p50",
                        ),
                        Query(
                            "histogram_quantile(0.9, sum by (worker, le) "
                            f"(rate(repwatch_batch_processing_seconds_bucket{_RATE})))",
                            "{{worker}} p90",
                        ),
                        Query("worker:repwatch_batch_processing_seconds:p99_5m", "{{worker}} p99 (5m)"),
                    ),
                    "s",
                ),
                PanelSpec(
                    "Sentiment model forward pass",
                    "p90 seconds per forward pass and the mean texts per pass (how full batches are).",
                    (
                        Query(
                            "histogram_quantile(0.9, sum by (le) "
                            f"(rate(repwatch_sentiment_batch_seconds_bucket{_RATE})))",
                            "p90 seconds",
                        ),
                        Query(
                            f"sum(rate(repwatch_sentiment_batch_size_sum{_RATE})) "
                            f"/ sum(rate(repwatch_sentiment_batch_size_count{_RATE}))",
                            "texts per pass",
                        ),
                    ),
                ),
            ],
        ),
        (
            "Failures and restarts",
            [
                PanelSpec(
                    "Dead letters per second by reason",
                    "Records sent to the deadletter topic (recording rule, 5 min rate); the reason says why.",
                    (Query("worker_reason:repwatch_records_dead_lettered:rate5m", "{{worker}} {{reason}}"),),
                    "ops",
                ),
                PanelSpec(
                    "Restarts in the last hour",
                    "Changes of each worker process's start time (a restart in place); `up` shows "
                    "targets Prometheus cannot scrape. On Kubernetes a restarted pod is a new target.",
                    (
                        Query(
                            'sum by (job, instance) (changes(process_start_time_seconds{job=~"repwatch-.+"}[1h]))',
                            "{{job}} {{instance}} restarts",
                        ),
                        Query('sum by (job) (up{job=~"repwatch-.+"})', "{{job}} targets up"),
                    ),
                ),
            ],
        ),
        (
            "Alerting worker",
            [
                PanelSpec(
                    "State restore time",
                    "Seconds to restore newly assigned partitions' brand state, p99 and mean since each "
                    "worker started (restores happen at start and at rebalances: too rare for a rate); "
                    "RepWatchStateRestoreSlow fires above 10 s.",
                    (
                        Query(
                            "histogram_quantile(0.99, sum by (instance, le) "
                            "(repwatch_alerting_restore_seconds_bucket))",
                            "{{instance}} p99",
                        ),
                        Query(
                            "sum by (instance) (repwatch_alerting_restore_seconds_sum) "
                            "/ sum by (instance) (repwatch_alerting_restore_seconds_count)",
                            "{{instance}} mean",
                        ),
                    ),
                    "s",
                ),
                PanelSpec(
                    "Watermark lag and brands held",
                    "How far the oldest brand clock trails wall time (RepWatchAlertingBehind at 10 min), "
                    "and brands whose state each worker holds.",
                    (
                        Query("max by (instance) (repwatch_alerting_watermark_lag_seconds)", "{{instance}} lag (s)"),
                        Query("sum by (instance) (repwatch_alerting_brands)", "{{instance}} brands"),
                    ),
                ),
            ],
        ),
        (
            "Notifier",
            [
                PanelSpec(
                    "Notifier deliveries per second",
                    "Finished deliveries by receiver and result, and attempts by verdict.",
                    (
                        Query(
                            f"sum by (receiver, result) (rate(repwatch_notifier_deliveries_total{_RATE}))",
                            "{{receiver}} {{result}}",
                        ),
                        Query(
                            f"sum by (receiver, verdict) (rate(repwatch_notifier_attempts_total{_RATE}))",
                            "{{receiver}} attempts {{verdict}}",
                        ),
                    ),
                    "ops",
                ),
                PanelSpec(
                    "Notifier delivery latency p90",
                    "From the alert record's Kafka timestamp to its delivery, per receiver.",
                    (
                        Query(
                            "histogram_quantile(0.9, sum by (receiver, le) "
                            f"(rate(repwatch_notifier_delivery_latency_seconds_bucket{_RATE})))",
                            "{{receiver}}",
                        ),
                    ),
                    "s",
                ),
            ],
        ),
    ]
    return _dashboard(
        "repwatch-pipeline-health",
        "RepWatch — pipeline health",
        "Throughput per stage, lag per partition, batch latency, dead letters, restarts, "
        "state restores and notifier deliveries.",
        rows,
        [_datasource_variable()],
    )


# --- reputation --------------------------------------------------------------------------------------------

_B = 'brand=~"$brand"'


def _share(by: str) -> str:
    return (
        f'sum by ({by}) (rate(repwatch_mentions_total{{{_B}, label="negative"}}{_RATE}))'
        f' / sum by ({by}) (rate(repwatch_mentions_total{{{_B}, label!="none"}}{_RATE}))'
    )


def _per_minute(by: str) -> str:
    return f"sum by ({by}) (rate(repwatch_mentions_total{{{_B}}}{_RATE})) * 60"


def _reply_quantile(q: float) -> str:
    # over an hour, not $__rate_interval: replies are sparse, a short window is mostly gaps
    return f"histogram_quantile({q}, sum by (brand, le) (rate(repwatch_reply_seconds_bucket{{{_B}}}[1h])))"


def reputation() -> dict:
    dims = (("brand", "brand"), ("platform", "channel (platform)"), ("lang", "language"))
    mention_rows = [
        (
            f"Mentions by {name}",
            [
                PanelSpec(
                    f"Mentions per minute by {name}",
                    "New mentions by others than the brand (the alerting worker counts every scored event).",
                    (Query(_per_minute(by), f"{{{{{by}}}}}"),),
                ),
                PanelSpec(
                    f"Negative share by {name}",
                    "Negative mentions / scored mentions"
                    + (
                        "; the second series is every text the sentiment stage scored (recording rule, 5 min)."
                        if by == "brand"
                        else "."
                    ),
                    (Query(_share(by), f"{{{{{by}}}}}"),)
                    + ((Query("repwatch:negative_share:ratio5m", "all texts scored (5m)"),) if by == "brand" else ()),
                    "percentunit",
                ),
            ],
        )
        for by, name in dims
    ]
    rows = [
        *mention_rows,
        (
            "Alerts",
            [
                PanelSpec(
                    "Alerts fired by kind",
                    "New incidents per kind for the selected brands; the last-hour total for all brands "
                    "comes from the recording rule.",
                    (
                        Query(
                            f'sum by (kind) (increase(repwatch_alerts_total{{{_B}, status="firing"}}{_RATE}))',
                            "{{kind}}",
                        ),
                        Query(
                            'sum by (kind) (kind_status:repwatch_alerts:increase1h{status="firing"})',
                            "{{kind}} (all brands, last hour)",
                        ),
                    ),
                    bars=True,
                ),
                PanelSpec(
                    "Open incidents by kind",
                    "Incidents open now, all brands.",
                    (Query("sum by (kind) (repwatch_alerts_active)", "{{kind}}"),),
                ),
            ],
        ),
        (
            "Responses against the SLA",
            [
                PanelSpec(
                    "Reply time to complaints and questions",
                    f"From a complaint or question on an owned channel to the brand's reply, over the last hour; "
                    f"the red line is the default SLA ({SLA_SECONDS // 60} min, a brand's own sla_minutes may differ).",
                    (
                        Query(_reply_quantile(0.5), "{{brand}} p50"),
                        Query(_reply_quantile(0.9), "{{brand}} p90"),
                        Query("repwatch:reply_seconds:p90_1h", "all brands p90 (recording rule)"),
                    ),
                    "s",
                    threshold=SLA_SECONDS,
                ),
                PanelSpec(
                    "Replies within the SLA",
                    f"Share of the replies in the time range that came within {SLA_SECONDS // 60} minutes.",
                    (
                        Query(
                            f'sum by (brand) (increase(repwatch_reply_seconds_bucket{{{_B}, le="{SLA_SECONDS}.0"}}'
                            f"[$__range])) / sum by (brand) (increase(repwatch_reply_seconds_count{{{_B}}}[$__range]))",
                            "{{brand}}",
                            instant=True,
                        ),
                    ),
                    "percentunit",
                    kind="stat",
                ),
            ],
        ),
        (
            "Deletions",
            [
                PanelSpec(
                    "Deletions and hides by actor",
                    "Mentions deleted or hidden, by who removed them (unknown: the source does not say).",
                    (
                        Query(
                            f"sum by (actor, event_type) (increase(repwatch_mentions_removed_total{{{_B}}}{_RATE}))",
                            "{{event_type}} by {{actor}}",
                        ),
                    ),
                    bars=True,
                ),
                PanelSpec(
                    "Removed by the brand",
                    "Mentions the brand's page or moderators deleted or hid in the time range.",
                    (
                        Query(
                            f'sum by (brand) (increase(repwatch_mentions_removed_total{{{_B}, actor="brand"}}'
                            "[$__range]))",
                            "{{brand}}",
                            instant=True,
                        ),
                    ),
                    kind="stat",
                ),
            ],
        ),
    ]
    brand = (
        gd.QueryVariable("brand")
        .label("Brand")
        .datasource(DATASOURCE)
        .query({"query": "label_values(repwatch_mentions_total, brand)", "refId": "brand"})
        .refresh(gm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(gm.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(ALL_BRANDS)
        .current(gm.VariableOption(selected=True, text="All", value="$__all"))
    )
    return _dashboard(
        "repwatch-reputation",
        "RepWatch — reputation",
        "Mentions and negative share per brand, channel and language; alerts by kind; reply times "
        "against the SLA; deletions by actor.",
        rows,
        [_datasource_variable(), brand],
    )


DASHBOARDS = {"pipeline-health.json": pipeline_health, "reputation.json": reputation}


def render() -> dict[str, str]:
    """File name -> the JSON text to commit (stable: sorted keys, fixed indentation)."""
    return {
        name: json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.grafana_dashboards", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed files differ")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if stale:
        print("out of date (run python -m devtools.grafana_dashboards): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
