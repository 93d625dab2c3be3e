"""``make bench-notifier``: the notifier worker's deliveries/s and added latency, measured in one run.

A real ``repwatch notifier`` process on an embedded broker delivers to a local
signed-webhook receiver (an HTTP/1.1 keep-alive server in this process that
answers 200 at once):

1. Throughput: ``--backlog`` alerts (distinct incidents) are on ``alerts`` before
   the worker starts; deliveries/s from the first to the last one received
   (consume, route, ledger check, sign, POST, ledger entry produced, commit).
2. Added latency: with the worker caught up, alerts are produced at ``--rate``
   per second for ``--seconds``; per alert, the time from its record's Kafka
   timestamp (CreateTime, set when it was sent) to its arrival at the receiver.

Figures are printed, never asserted: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 6
PREFIX = "bench."
SECRET = "whsec_" + base64.b64encode(b"bench-notifier-secret-32-bytes!!").decode()


_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def _serve(port_out, count, stop, path: str) -> None:
    """The receiver process: HTTP/1.1 keep-alive POSTs answered 200 at once, each arrival's
    (alert_id, wall time) written to ``path`` when told to stop. asyncio and a hand-rolled
    parser rather than http.server, whose per-request cost would be what gets measured."""
    import asyncio

    arrivals: list[tuple[bytes, float]] = []

    class Conn(asyncio.Protocol):
        def connection_made(self, transport) -> None:
            self.t = transport
            self.buf = b""

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while True:
                head_end = self.buf.find(b"\r\n\r\n")
                if head_end < 0:
                    return
                head = self.buf[:head_end].lower()
                i = head.find(b"content-length:")
                length = int(head[i + 15 : head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else None])
                if len(self.buf) < head_end + 4 + length:
                    return
                body = self.buf[head_end + 4 : head_end + 4 + length]
                self.buf = self.buf[head_end + 4 + length :]
                at = time.time()
                # the body is the alert JSON; its id is all this needs from it
                j = body.find(b'"alert_id":"') + 12
                arrivals.append((body[j : body.find(b'"', j)], at))
                count.value = len(arrivals)
                self.t.write(_OK)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Conn, "127.0.0.1", 0)
        port_out.value = server.sockets[0].getsockname()[1]
        while not stop.is_set():
            await asyncio.sleep(0.05)
        server.close()

    asyncio.run(main())
    Path(path).write_text("".join(f"{a.decode()} {t!r}\n" for a, t in arrivals))


class Receiver:
    """A webhook receiver in a process of its own (no GIL shared with the producer here)."""

    def __init__(self, work: Path) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self._port, self._count, self._stop = ctx.Value("i", 0), ctx.Value("i", 0), ctx.Event()
        self._path = work / "arrivals.txt"
        self._proc = ctx.Process(target=_serve, args=(self._port, self._count, self._stop, str(self._path)))
        self._proc.start()
        _wait(lambda: self._port.value > 0, 30, "the receiver to listen")
        self.url = f"http://127.0.0.1:{self._port.value}/hook"

    @property
    def received(self) -> int:
        return self._count.value

    def arrivals(self) -> list[tuple[str, float]]:
        """Stops the receiver; every (alert_id, arrival wall time), in arrival order."""
        self._stop.set()
        self._proc.join(30)
        return [(a, float(t)) for a, t in (line.split() for line in self._path.read_text().splitlines())]

    def close(self) -> None:
        self._stop.set()
        self._proc.join(30)


def _alerts(start: int, n: int) -> list:
    from shared.schemas import Alert, AlertEvidence, EvidenceMention

    from_ = datetime.now(timezone.utc)
    out = []
    for i in range(start, start + n):
        brand = f"brand-{i % 50}"
        out.append(
            Alert(
                alert_id=f"{i:032x}",
                kind="unanswered_complaint",
                brand=brand,
                channel=f"vk:club_{brand}",
                platform="vk",
                severity="warning",
                status="firing",
                sequence=0,
                started_at=from_,
                window_start=from_ - timedelta(hours=1),
                window_end=from_,
                evidence=AlertEvidence(
                    counts={"overdue": 3},
                    mentions=[
                        EvidenceMention(
                            mention_id=f"m{i}-{k}",
                            platform="vk",
                            channel=f"vk:club_{brand}",
                            url=f"https://vk.com/wall-1_{i}_{k}",
                            author_id=f"u{k}",
                            occurred_at=from_,
                            text="Where is my refund? Three weeks and no answer.",
                            negative=0.9,
                            role="unanswered",
                        )
                        for k in range(3)
                    ],
                ),
                message="3 complaints have waited longer than the 60 min SLA.",
            )
        )
    return out


def _wait(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def run(backlog: int, rate: int, seconds: float, concurrency: int) -> int:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.structs import TopicPartition

    from devtools.embedded_kafka import EmbeddedKafka
    from devtools.procs import spawn, stop_process
    from shared.config import WorkerSettings
    from shared.kafka.transport import ensure_topics

    work = Path(tempfile.mkdtemp(prefix="repwatch-bench-notifier-"))
    # the broker, the worker and the receiver share this machine: its load is part of the figures
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    broker = EmbeddedKafka(work / "kafka", heap="512m").start()
    receiver = Receiver(work)
    proc = None
    try:
        settings = WorkerSettings(kafka_bootstrap=broker.bootstrap, topic_prefix=PREFIX, topic_partitions=PARTITIONS)
        ensure_topics(settings)
        topic = settings.topics.alerts
        routes = work / "routes.yaml"
        routes.write_text(
            "receivers:\n"
            f'  hook: {{type: webhook, url: "{receiver.url}", secret: {{env: BENCH_HOOK_SECRET}}, '
            f"concurrency: {concurrency}}}\n"
        )
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5)
        for a in _alerts(0, backlog):
            producer.send(topic, key=a.brand.encode(), value=a.to_bytes())
        producer.flush(120)

        env = {
            "PATH": "/usr/bin:/bin",
            "REPWATCH_KAFKA_BOOTSTRAP": broker.bootstrap,
            "REPWATCH_TOPIC_PREFIX": PREFIX,
            "REPWATCH_TOPIC_PARTITIONS": str(PARTITIONS),
            "REPWATCH_METRICS_PORT": "0",
            "REPWATCH_ROUTES_FILE": str(routes),
            "BENCH_HOOK_SECRET": SECRET,
        }
        proc = spawn(
            [sys.executable, "-m", "services.notifier"], env=env, log_path=work / "notifier.log", cwd=REPO_ROOT
        )
        _wait(lambda: receiver.received >= backlog, 600, f"{backlog} deliveries (see {work / 'notifier.log'})")

        group = KafkaConsumer(
            bootstrap_servers=broker.bootstrap, group_id=PREFIX + "repwatch-notifier", enable_auto_commit=False
        )
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = group.end_offsets(tps)
        _wait(lambda: all((group.committed(tp) or 0) >= ends[tp] for tp in tps), 120, "the backlog's commits")
        group.close()

        total = int(rate * seconds)
        stream = _alerts(backlog, total)
        sent_ms: dict[str, int] = {}
        started = time.monotonic()
        for i, a in enumerate(stream):
            # paced: alert i leaves at i / rate seconds, so queues only form if the worker lags
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            stamp = int(time.time() * 1000)
            sent_ms[a.alert_id] = stamp
            producer.send(topic, key=a.brand.encode(), value=a.to_bytes(), timestamp_ms=stamp)
        producer.flush(60)
        producer.close()
        _wait(lambda: receiver.received >= backlog + total, 120, "the paced alerts")
        arrivals = receiver.arrivals()
        times = sorted(t for _, t in arrivals[:backlog])
        throughput = (backlog - 1) / (times[-1] - times[0])
        lat = [at - sent_ms[aid] / 1000 for aid, at in arrivals[backlog:]]
        print(f"throughput: {throughput:,.0f} deliveries/s ({backlog:,} alerts already on the topic, one webhook")
        print(f"  receiver, concurrency {concurrency}); goal >= 1,000/s: {throughput / 1000:.2f}x of goal")
        p50, p99 = _pct(lat, 0.5), _pct(lat, 0.99)
        print(
            f"added latency at {rate:,}/s for {seconds:.0f} s ({total:,} alerts), Kafka timestamp -> receiver: "
            f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms"
        )
        print(f"  goal p99 < 1 s: {'met' if p99 < 1.0 else 'not met'}")
        dupes = len(arrivals) - len({aid for aid, _ in arrivals})
        print(f"deliveries received twice: {dupes}; load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        if proc is not None:
            stop_process(proc, timeout=30)
        receiver.close()
        broker.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make bench-notifier", description=__doc__.split("\n\n")[0])
    p.add_argument("--backlog", type=int, default=20_000, help="alerts on the topic before the worker starts")
    p.add_argument("--rate", type=int, default=1000, help="alerts/s produced in the latency phase")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the latency phase")
    p.add_argument("--concurrency", type=int, default=4, help="parallel requests to the webhook receiver")
    args = p.parse_args(argv)
    return run(args.backlog, args.rate, args.seconds, args.concurrency)


if __name__ == "__main__":
    sys.exit(main())
