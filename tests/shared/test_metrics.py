import json
import urllib.error
import urllib.request

from prometheus_client import CollectorRegistry

from shared.metrics import Health, MetricsServer, TransportMetrics


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_endpoints_report_metrics_liveness_and_readiness():
    registry = CollectorRegistry()
    clock = [0.0]
    health = Health(stall_after_s=60, clock=lambda: clock[0])
    metrics = TransportMetrics(registry, "sentiment")
    metrics.count_consumed("mentions.raw", 3)
    metrics.count_dead_letter("invalid_json")
    metrics.batch_seconds.labels("sentiment").observe(0.02)
    server = MetricsServer(registry, health, "127.0.0.1", 0).start()
    try:
        status, body = get(server.port, "/metrics")
        assert status == 200
        assert 'repwatch_records_consumed_total{topic="mentions.raw",worker="sentiment"} 3.0' in body
        assert 'repwatch_records_dead_lettered_total{reason="invalid_json",worker="sentiment"} 1.0' in body
        assert "repwatch_batch_processing_seconds_bucket" in body

        assert get(server.port, "/readyz")[0] == 503  # not ready until the worker says so
        health.set_ready(True, "consuming")
        status, body = get(server.port, "/readyz")
        assert status == 200 and json.loads(body) == {"ok": True, "reason": "consuming"}

        assert get(server.port, "/healthz")[0] == 200
        clock[0] = 61.0  # the main loop stopped ticking: liveness fails, Kubernetes restarts it
        status, body = get(server.port, "/healthz")
        assert status == 503 and "stalled" in body
        health.tick()
        assert get(server.port, "/healthz")[0] == 200
        assert get(server.port, "/nope")[0] == 404
    finally:
        server.stop()
