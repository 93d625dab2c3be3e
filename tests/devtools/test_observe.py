"""``make observe``'s servers: a real Prometheus with the project's rules that knows its Alertmanager,
the notifier receiver the demo adds for it, and Grafana provisioning for that Prometheus.

The demo itself is run end to end by tests/services/test_demo.py (without ``--observe``: it
costs minutes); here the part ``--observe`` adds, on ports of its own, in seconds.
"""

from __future__ import annotations

import yaml

from devtools.demo import SECRET_ENV, DemoWebhook
from devtools.observe import DASHBOARDS, INTERVAL, Observability
from devtools.procs import free_ports
from services.notifier.routes import load_routes
from tests.conftest import wait_for


def test_observe_starts_prometheus_with_the_rules_and_alertmanager_and_wires_them(tmp_path):
    ports = dict(zip(("sentiment", "alerting"), free_ports(2), strict=True))
    obs = Observability(tmp_path, ports).start()
    try:
        prom = obs.prometheus
        groups = {g["name"]: g for g in prom.api("rules")["data"]["groups"]}
        assert {"repwatch.recording", "repwatch.pipeline"} <= set(groups)
        assert all(g["interval"] == 5 for g in groups.values()) and INTERVAL == "5s"
        wanted = {"repwatch-sentiment", "repwatch-alerting"}
        wait_for(lambda: {t["labels"]["job"] for t in prom.active_targets()} == wanted, 30, "the scrape jobs")

        def knows_alertmanager() -> bool:
            found = prom.api("alertmanagers")["data"]["activeAlertmanagers"]
            return [a["url"] for a in found] == [f"{obs.alertmanager.url}/api/v2/alerts"]

        wait_for(knows_alertmanager, 30, "Prometheus to discover its Alertmanager")
        # the demo's routes file with the receiver --observe adds: valid for the notifier
        hook = DemoWebhook(free_ports(1)[0])
        try:
            path = hook.routes_file(tmp_path / "routes.yaml", obs.routes_receiver())
            routes = load_routes(path, {SECRET_ENV: hook.secret}).file
        finally:
            hook.close()
        am = routes.receivers["alertmanager"]
        assert am.type == "alertmanager" and am.url == obs.alertmanager.url
        assert set(routes.default) == {"demo-webhook", "alertmanager"}

        # Grafana provisioning for this Prometheus and the committed dashboards
        ds = yaml.safe_load((obs.grafana_provisioning / "datasources" / "prometheus.yml").read_text())
        assert ds["datasources"][0]["url"] == prom.url
        boards = yaml.safe_load((obs.grafana_provisioning / "dashboards" / "repwatch.yml").read_text())
        path = boards["providers"][0]["options"]["path"]
        assert path == str(DASHBOARDS) and sorted(DASHBOARDS.glob("*.json"))
        assert any(prom.url in line for line in obs.where_to_look())
    finally:
        obs.stop()
    assert obs.prometheus.proc.poll() is not None and obs.alertmanager.proc.poll() is not None
