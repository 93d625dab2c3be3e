"""``make observe``: Prometheus (with the project's rules) and Alertmanager beside the demo's pipeline.

``repwatch demo --observe`` starts the demo as ``make run`` does, plus:

* Alertmanager on the operators' example configuration (deploy/alertmanager/alertmanager.yml),
  which the demo's notifier pushes every alert to (an ``alertmanager`` receiver next to the demo's
  webhook) and Prometheus sends its pipeline alerts to;
* Prometheus scraping each stage's metrics port as job ``repwatch-<stage>``, with
  deploy/prometheus/rules loaded (recording rules evaluated every :data:`INTERVAL` instead of
  30 s, so the dashboards' recorded series move within a demo's minutes);
* a Grafana provisioning directory pointing at that Prometheus and at deploy/grafana/dashboards,
  for a Grafana installed on this machine (Grafana is not in Debian's archive).

Both servers come from Debian's packages (:mod:`devtools.debian_tools`), run on free loopback
ports, keep their data in the demo's work directory and stop with it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from devtools.prometheus_server import Alertmanager, Prometheus

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
#: scrape and rule evaluation interval: short for a demo, the rules' own 30 s in production
INTERVAL = "5s"
#: what to type into Prometheus's expression browser first
EXAMPLE_QUERIES = (
    "worker_topic:repwatch_records_consumed:rate1m",
    "sum by (brand, label) (rate(repwatch_mentions_total[1m]))",
    'sum by (kind) (increase(repwatch_alerts_total{status="firing"}[10m]))',
    "max by (worker, topic, partition) (repwatch_consumer_lag_records)",
    "ALERTS",
)


class Observability:
    def __init__(self, workdir: Path, stage_ports: dict[str, int]) -> None:
        self.workdir = workdir
        self.alertmanager = Alertmanager(workdir / "alertmanager")
        self.prometheus = Prometheus(
            workdir / "prometheus",
            {stage: [f"127.0.0.1:{port}"] for stage, port in stage_ports.items()},
            scrape_interval=INTERVAL,
            evaluation_interval=INTERVAL,
            rule_interval=INTERVAL,
            alertmanager=self.alertmanager.url,
        )
        self.grafana_provisioning = workdir / "grafana-provisioning"

    def start(self) -> Observability:
        self.alertmanager.start()
        try:
            self.prometheus.start()
        except Exception:
            self.alertmanager.stop()
            raise
        self.write_grafana_provisioning()
        return self

    def stop(self) -> None:
        self.prometheus.stop()
        self.alertmanager.stop()

    def routes_receiver(self) -> tuple[str, str]:
        """(name, YAML flow mapping) of the notifier receiver that pushes alerts to this Alertmanager."""
        # re-sent every 30 s (the notifier's floor is 5 s): the demo's incidents show up promptly
        return "alertmanager", f'{{type: alertmanager, url: "{self.alertmanager.url}", resend_every_s: 30}}'

    def write_grafana_provisioning(self) -> Path:
        """The committed provisioning files, with the URL of this Prometheus and the dashboards' path here."""
        out = self.grafana_provisioning
        (out / "datasources").mkdir(parents=True, exist_ok=True)
        (out / "dashboards").mkdir(parents=True, exist_ok=True)
        ds = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text(encoding="utf-8"))
        for source in ds["datasources"]:
            source["url"] = self.prometheus.url
            source["jsonData"]["timeInterval"] = INTERVAL
        (out / "datasources" / "prometheus.yml").write_text(yaml.safe_dump(ds, sort_keys=False), encoding="utf-8")
        boards = yaml.safe_load((PROVISIONING / "dashboards" / "repwatch.yml").read_text(encoding="utf-8"))
        for provider in boards["providers"]:
            provider["options"]["path"] = str(DASHBOARDS)
        (out / "dashboards" / "repwatch.yml").write_text(yaml.safe_dump(boards, sort_keys=False), encoding="utf-8")
        return out

    def where_to_look(self) -> list[str]:
        grafana = shutil.which("grafana") or shutil.which("grafana-server")
        lines = [
            f"Prometheus   {self.prometheus.url}  (targets: {self.prometheus.url}/targets, "
            f"pipeline alerts: {self.prometheus.url}/alerts)",
            f"Alertmanager {self.alertmanager.url}  (RepWatch's alerts, pushed by the notifier: "
            f"{self.alertmanager.url}/api/v2/alerts; its example receivers are placeholders)",
            f"example queries (Prometheus → Graph, or curl '{self.prometheus.url}/api/v1/query?query=...'):",
            *(f"  {q}" for q in EXAMPLE_QUERIES),
        ]
        if grafana:
            lines.append(
                f"Grafana: GF_PATHS_PROVISIONING={self.grafana_provisioning} {Path(grafana).name}"
                + (" server" if Path(grafana).name == "grafana" else "")
                + " loads the data source and both dashboards (folder RepWatch)"
            )
        else:
            lines.append(
                "Grafana: not installed (it is not in Debian's archive; grafana.com has an apt repository). "
                f"Provisioning for this Prometheus: {self.grafana_provisioning} (GF_PATHS_PROVISIONING); "
                f"the dashboards are {DASHBOARDS}/*.json (Dashboards → Import works too)."
            )
        return lines
