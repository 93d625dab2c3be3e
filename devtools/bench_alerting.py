"""``make bench-alerting``: alerting throughput and state restore, measured in one run.

1. Engine alone, one core: scored events/s through all six detectors over a
   simulated stream (the default scenario's world: brands of very different
   volume, daily and weekly seasonality), events pre-built so only detection is timed.
2. The worker with Kafka on this machine: a real ``repwatch alerting`` process
   consuming a pre-filled ``mentions.scored`` on an embedded broker; events/s
   from its first to its last committed offset (decode, detectors, snapshots,
   produce with acks=all, commit).
3. State: snapshot size per brand (mean, smallest and busiest simulated brand), and
   the time to restore 10,000 brands from their JSON snapshots (what a worker does
   when it is assigned partitions), then to decode what detectors keep packed until
   a brand is touched (the worst case: every restored brand hears an event at once).

Figures are printed, never asserted: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import timedelta
from itertools import islice
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _events(n: int, seed: int) -> list:
    from simulation.scenarios import build_scenario

    scenario = build_scenario("default", seed=seed)
    return list(islice(scenario.run().stream(), n))


def bench_engine(events: list) -> tuple[float, int]:
    from services.alerting.main import build_engine
    from services.alerting.settings import AlertingSettings

    engine = build_engine(AlertingSettings())
    alerts = 0
    started = time.perf_counter()
    for e in events:
        alerts += len(engine.process(e))
    took = time.perf_counter() - started
    return len(events) / took, alerts


def bench_state(events: list, brands: int) -> dict[str, float]:
    """Snapshot sizes and restore times; the times are for ``brands`` brands made from the simulated ones."""
    from services.alerting.main import build_engine
    from services.alerting.settings import AlertingSettings

    engine = build_engine(AlertingSettings())
    for e in events:
        engine.process(e)
    names = engine.known_brands()
    templates = [json.dumps(engine.snapshot(b)) for b in names]
    sizes = sorted((len(t), b) for t, b in zip(templates, names, strict=True))
    # 10,000 brands: the simulated brands' real states, renamed
    blobs = []
    for i in range(brands):
        t = templates[i % len(templates)]
        src = names[i % len(templates)]
        blobs.append((f"brand-{i}", t.replace(json.dumps(src), json.dumps(f"brand-{i}"))))
    fresh = build_engine(AlertingSettings())
    started = time.perf_counter()
    for name, blob in blobs:
        fresh.restore(name, json.loads(blob))
    restore_s = time.perf_counter() - started
    # Detectors may keep their bulky memories packed until the brand is next touched; advancing
    # every brand by a microsecond makes them all decode, so this is the worst case: a worker
    # that hears from every restored brand at once
    started = time.perf_counter()
    for name in fresh.known_brands():
        wm = fresh.watermark(name)
        if wm is not None:
            fresh.advance(name, wm + timedelta(microseconds=1))
    decode_s = time.perf_counter() - started
    started = time.perf_counter()
    for name in fresh.known_brands():
        json.dumps(fresh.snapshot(name))
    dump_s = time.perf_counter() - started
    return {
        "mean": sum(n for n, _ in sizes) / len(sizes),
        "small": sizes[0][0],
        "small_brand": sizes[0][1],
        "busy": sizes[-1][0],
        "busy_brand": sizes[-1][1],
        "restore_s": restore_s,
        "decode_s": decode_s,
        "dump_s": dump_s,
    }


def bench_worker(events: list) -> float:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.structs import TopicPartition

    from devtools.embedded_kafka import EmbeddedKafka
    from devtools.procs import spawn, stop_process
    from shared.config import WorkerSettings
    from shared.kafka.transport import ensure_topics

    work = Path(tempfile.mkdtemp(prefix="repwatch-bench-alerting-"))
    broker = EmbeddedKafka(work / "kafka", heap="512m").start()
    try:
        settings = WorkerSettings(kafka_bootstrap=broker.bootstrap, topic_prefix="bench.", topic_partitions=6)
        ensure_topics(settings)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=20, compression_type="lz4")
        for e in events:
            producer.send(settings.topics.scored, key=e.mention.brand.encode(), value=e.to_bytes())
        producer.flush(120)
        producer.close()
        env = {
            "PATH": "/usr/bin:/bin",
            "REPWATCH_KAFKA_BOOTSTRAP": broker.bootstrap,
            "REPWATCH_TOPIC_PREFIX": "bench.",
            "REPWATCH_TOPIC_PARTITIONS": "6",
            "REPWATCH_METRICS_PORT": "0",
            "REPWATCH_MAX_POLL_RECORDS": "2000",
            "REPWATCH_IDLE_DELAY_S": "100000000",
        }
        group = "bench.repwatch-alerting"
        reader = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False)
        tps = [TopicPartition(settings.topics.scored, p) for p in range(6)]
        ends = reader.end_offsets(tps)
        total = sum(ends.values())
        proc = spawn(
            [sys.executable, "-m", "services.alerting"], env=env, log_path=work / "alerting.log", cwd=REPO_ROOT
        )
        first: float | None = None
        done_at = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            committed = sum(reader.committed(tp) or 0 for tp in tps)
            if committed and first is None:
                first, first_count = time.monotonic(), committed
            if committed >= total:
                done_at = time.monotonic()
                break
            time.sleep(0.2)
        stop_process(proc, timeout=30)
        reader.close()
        if first is None or done_at is None or done_at <= first:
            raise RuntimeError(f"the worker did not finish; see {work / 'alerting.log'}")
        return (total - first_count) / (done_at - first)
    finally:
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make bench-alerting", description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--worker-events", type=int, default=100_000)
    p.add_argument("--brands", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--skip-worker", action="store_true")
    args = p.parse_args(argv)
    events = _events(max(args.events, args.worker_events), args.seed)
    rate, alerts = bench_engine(events[: args.events])
    print(f"engine alone (all detectors, one core): {rate:,.0f} events/s over {args.events:,} events, {alerts} alerts")
    print(f"  goal >= 50,000/s: {rate / 50_000:.2f}x of goal")
    st = bench_state(events[: args.events], args.brands)
    print(f"state (JSON snapshot per brand): {st['mean'] / 1024:.1f} KiB mean over the simulated brands;")
    small, busy = f"{st['small_brand']} {st['small'] / 1024:.1f} KiB", f"{st['busy_brand']} {st['busy'] / 1024:.1f} KiB"
    print(f"  smallest {small}, busiest {busy}")
    print(f"  restore {args.brands:,} brands: {st['restore_s']:.2f} s (goal < 10 s)", end="")
    print(f", then decode what they keep packed: {st['decode_s']:.2f} s")
    print(f"  snapshot them again: {st['dump_s']:.2f} s")
    if not args.skip_worker:
        wrate = bench_worker(events[: args.worker_events])
        print(f"worker with Kafka (decode, detectors, snapshots, acks=all, commits): {wrate:,.0f} events/s")
        print(f"  goal >= 20,000/s: {wrate / 20_000:.2f}x of goal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
