"""``make bench-receiver``: webhooks/s through ``repwatch receive`` to Kafka, and ack latency.

A real ``repwatch receive`` process (uvicorn, httptools, uvloop) in front of an embedded
Kafka broker on this machine, loaded by wrk (Debian's ``wrk`` package with its
``libluajit-5.1-2``, unpacked into ``~/.cache/repwatch/debian/wrk`` once, as
``devtools.debian_tools`` does for promtool). Each request is one VK Callback API
``wall_reply_new`` (one comment, a fresh event and comment id each time, the secret in
the body as VK sends it), answered ``ok`` only after Kafka acknowledged the event
(acks=all). wrk keeps ``--connections`` requests in flight (a closed loop, like a
platform's delivery workers); its latency percentiles are the time to that ``ok``.

Without wrk (no apt-get), a Python load generator (asyncio, keep-alive connections,
the same bodies) is used instead and says so; it costs more CPU per request than wrk,
so on two cores it understates the receiver.

After the run the raw topic's records are counted: every 2xx must be there.
Figures are printed, never asserted: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
WRK = ("wrk", "4.1.0-3+b2")
LUAJIT = ("libluajit-5.1-2", "2.1.0~beta3+git20220320+dfsg-4.1+deb12u1")
VK_SECRET = "bench-secret"
BRANDS_YAML = "brands:\n  acme:\n    owned_channels: {vk: ['vk:club123']}\n"


def ensure_wrk() -> tuple[Path, dict[str, str]] | None:
    """wrk and the environment to run it, or None when it cannot be had here."""
    on_path = shutil.which("wrk")
    if on_path:
        return Path(on_path), {}
    from devtools.debian_tools import Package, ToolUnavailable, _download, cache_root

    target = cache_root() / "wrk"
    binary, libdir = target / "wrk", target / "lib"
    env = {"LD_LIBRARY_PATH": str(libdir)}
    if binary.is_file() and (libdir / "libluajit-5.1.so.2").exists():
        return binary, env
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        return None
    with tempfile.TemporaryDirectory(prefix="repwatch-wrk-") as tmp:
        root = Path(tmp) / "root"
        try:
            for name, version in (WRK, LUAJIT):
                deb = _download(Package(name, version, ()), Path(tmp))
                subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        except (ToolUnavailable, subprocess.CalledProcessError) as exc:
            print(f"wrk unavailable: {exc}", file=sys.stderr)
            return None
        staging = target.with_name("wrk.partial")
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "lib").mkdir(parents=True)
        shutil.copy2(root / "usr" / "bin" / "wrk", staging / "wrk")
        for lib in (root / "usr" / "lib").rglob("libluajit-5.1.so*"):
            shutil.copy2(lib, staging / "lib" / lib.name, follow_symlinks=True)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)  # the commit point, as in debian_tools
    return binary, env


def body_template() -> str:
    """A VK wall_reply_new with ``{n}`` where the event and comment ids go."""
    data = json.loads((REPO_ROOT / "tests" / "fixtures" / "connectors" / "vk" / "wall_reply_new.json").read_text())
    data["secret"] = VK_SECRET
    data["event_id"] = "__N__"
    data["object"]["id"] = 987654321
    return json.dumps(data, ensure_ascii=False).replace('"__N__"', '"b{n}"').replace("987654321", "{n}")


def lua_script(template: str) -> str:
    lua_fmt = template.replace("%", "%%").replace("{n}", "%d")
    return f"""
local next_id = 1
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end
local counter = 0
local headers = {{["Content-Type"] = "application/json"}}
local body_fmt = [==[{lua_fmt}]==]
function request()
  counter = counter + 1
  local n = tid * 1000000000 + counter
  return wrk.format("POST", "/hooks/vk", headers, string.format(body_fmt, n, n, n))
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {{\\"requests\\": %d, \\"duration_us\\": %d, \\"non2xx\\": %d, \\"connect\\": %d, \\"read\\": %d, "
    .. "\\"write\\": %d, \\"timeout\\": %d, \\"p50_us\\": %d, \\"p90_us\\": %d, \\"p99_us\\": %d, \\"p999_us\\": %d, "
    .. "\\"max_us\\": %d}}\\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max))
end
"""


def run_wrk(wrk: Path, env: dict[str, str], port: int, script: Path, args: argparse.Namespace, seconds: int) -> dict:
    cmd = [
        str(wrk),
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/",
    ]
    out = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, check=True).stdout
    m = re.search(r"WRK_JSON (\{.*\})", out)
    if not m:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    return json.loads(m.group(1))


async def _python_load(port: int, template: str, connections: int, seconds: float) -> dict:
    """The fallback: keep-alive connections, each sending its next request on the answer."""
    latencies: list[float] = []
    counts = {"requests": 0, "non2xx": 0, "errors": 0}
    end = time.monotonic() + seconds

    async def one_connection(cid: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        n = cid * 1_000_000_000
        while time.monotonic() < end:
            n += 1
            body = template.replace("{n}", str(n)).encode()
            head = (
                "POST /hooks/vk HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            started = time.perf_counter()
            writer.write(head.encode() + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            counts["requests"] += 1
            if not status_line.startswith(b"HTTP/1.1 2"):
                counts["non2xx"] += 1
        writer.close()

    started = time.monotonic()
    results = await asyncio.gather(*(one_connection(i + 1) for i in range(connections)), return_exceptions=True)
    counts["errors"] = sum(isinstance(r, BaseException) for r in results)
    latencies.sort()

    def pct(p: float) -> int:
        return int(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1e6) if latencies else 0

    return {
        **counts,
        "duration_us": int((time.monotonic() - started) * 1e6),
        "p50_us": pct(50),
        "p90_us": pct(90),
        "p99_us": pct(99),
        "p999_us": pct(99.9),
        "max_us": int(latencies[-1] * 1e6) if latencies else 0,
    }


def _count_raw(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer
    from kafka.structs import TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make bench-receiver", description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=20, help="seconds of measured load")
    ap.add_argument("--warmup", type=int, default=3, help="seconds of load before measuring")
    ap.add_argument("--connections", type=int, default=32, help="requests in flight (wrk -c)")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (-t); the receiver needs the other core")
    ap.add_argument("--python-load", action="store_true", help="use the Python load generator even if wrk is there")
    ap.add_argument("--bootstrap", help="an existing Kafka instead of the embedded broker")
    args = ap.parse_args(argv)

    from devtools.procs import free_ports, spawn, stop_process

    wrk = None if args.python_load else ensure_wrk()
    template = body_template()
    with tempfile.TemporaryDirectory(prefix="repwatch-bench-receiver-") as tmp:
        work = Path(tmp)
        broker = None
        if args.bootstrap:
            bootstrap = args.bootstrap
        else:
            from devtools.embedded_kafka import EmbeddedKafka

            broker = EmbeddedKafka(work / "kafka", heap="512m").start()
            bootstrap = broker.bootstrap
        broker_pid = broker.pid if broker is not None else None
        (work / "brands.yaml").write_text(BRANDS_YAML)
        port, metrics_port = free_ports(2)
        prefix = f"bench{int(time.time())}."
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("REPWATCH_")},
            "REPWATCH_KAFKA_BOOTSTRAP": bootstrap,
            "REPWATCH_TOPIC_PREFIX": prefix,
            "REPWATCH_TOPIC_PARTITIONS": "6",
            "REPWATCH_BRANDS_FILE": str(work / "brands.yaml"),
            "REPWATCH_RECEIVER_HOST": "127.0.0.1",
            "REPWATCH_RECEIVER_PORT": str(port),
            "REPWATCH_METRICS_PORT": str(metrics_port),
            "REPWATCH_RECEIVER_VK_SECRETS": VK_SECRET,
            "REPWATCH_LOG_LEVEL": "WARNING",
        }
        proc = spawn(
            [sys.executable, "-m", "services.cli", "receive"], env=env, log_path=work / "receiver.log", cwd=REPO_ROOT
        )
        try:
            _wait_listening(port, proc, work / "receiver.log")
            if wrk is not None:
                binary, wrk_env = wrk
                script = work / "bench.lua"
                script.write_text(lua_script(template))
                tool = f"wrk 4.1.0 (-t{args.threads} -c{args.connections})"
                if args.warmup:
                    run_wrk(binary, wrk_env, port, script, args, args.warmup)
                cpu_before = _cpu_seconds(proc.pid), _cpu_seconds(broker_pid)
                res = run_wrk(binary, wrk_env, port, script, args, args.duration)
            else:
                tool = f"Python asyncio load generator ({args.connections} connections; wrk unavailable)"
                if args.warmup:
                    asyncio.run(_python_load(port, template, args.connections, args.warmup))
                cpu_before = _cpu_seconds(proc.pid), _cpu_seconds(broker_pid)
                res = asyncio.run(_python_load(port, template, args.connections, args.duration))
            cpu_used = _cpu_seconds(proc.pid) - cpu_before[0], _cpu_seconds(broker_pid) - cpu_before[1]
            time.sleep(1.0)
            on_topic = _count_raw(bootstrap, prefix + "mentions.raw")
        finally:
            code = stop_process(proc, timeout=30)
            if broker is not None:
                broker.stop()
        seconds = res["duration_us"] / 1e6
        ok = res["requests"] - res["non2xx"]
        print(f"load tool: {tool}; {os.cpu_count()} CPUs shared by broker, receiver and load tool")
        print(
            f"requests:  {res['requests']} in {seconds:.1f}s, non-2xx {res['non2xx']}, socket errors "
            f"{sum(res.get(k, 0) for k in ('connect', 'read', 'write', 'timeout', 'errors'))}"
        )
        print(f"rate:      {ok / seconds:,.0f} acknowledged single-comment webhooks/s (goal >= 2,000)")
        print(
            f"ack latency: p50 {res['p50_us'] / 1000:.1f} ms, p90 {res['p90_us'] / 1000:.1f} ms, "
            f"p99 {res['p99_us'] / 1000:.1f} ms (goal < 100), p99.9 {res['p999_us'] / 1000:.1f} ms, "
            f"max {res['max_us'] / 1000:.1f} ms"
        )
        if ok:
            # CPU time per request does not depend on what else the machine runs, unlike the rate
            per_req = cpu_used[0] / ok
            print(
                f"CPU:       receiver {per_req * 1e6:.0f} us/request (one core would carry ~{1 / per_req:,.0f}/s), "
                + (f"broker {cpu_used[1] / ok * 1e6:.0f} us/request" if broker_pid else "broker not measured")
            )
        print(f"on mentions.raw: {on_topic} records (warm-up included) for {ok} acknowledged in the measured run")
        print(f"receiver exit code after SIGTERM: {code}")
    return 0


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_listening(port: int, proc: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"receiver exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"receiver not listening after {timeout:.0f}s:\n{log.read_text()[-3000:]}")


if __name__ == "__main__":
    sys.exit(main())
