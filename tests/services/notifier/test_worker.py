"""The notifier worker as a process on the real broker, delivering to local webhook receivers.

What a person must see at most once is one (alert_id, status, sequence) per receiver.
The one repeat the design admits (services/notifier/processor.py) is a delivery that
reached the receiver while its ledger entry had not reached Kafka when the worker
died; it is sent again after the restart with the same ``webhook-id``. The SIGKILL
test checks that the repeats are exactly those, and nothing else.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic
from kafka.structs import TopicPartition

from shared.config import TopicNames
from tests.conftest import REPO_ROOT, wait_for
from tests.kafka_io import produce_keyed
from tests.services.notifier.alerts import alert
from tests.services.notifier.servers import FakeServer, Seen
from tests.services.notifier.test_webhook_signing import spec_verify

pytestmark = pytest.mark.integration
WORKER = ["-m", "services.notifier"]
SECRET = "whsec_" + base64.b64encode(b"w" * 32).decode()
BRANDS = ("acme", "globex", "initech", "umbrella", "hooli", "stark")

Key = tuple[str, str, int]


def write_routes(path: Path, hooks: dict[str, tuple[str, str]]) -> Path:
    """One signed webhook receiver per entry (name -> (url, extra YAML keys)); every alert to all."""
    lines = ["receivers:"]
    for name, (url, extra) in hooks.items():
        lines.append(f'  {name}: {{type: webhook, url: "{url}", secret: {{env: REPWATCH_TEST_HOOK_SECRET}}{extra}}}')
    path.write_text("\n".join(lines) + "\n")
    return path


def notifier_env(pipeline, routes: Path, **extra: str) -> dict[str, str]:
    return pipeline.env(
        REPWATCH_ROUTES_FILE=str(routes),
        REPWATCH_TEST_HOOK_SECRET=SECRET,
        # no coalescing wait: every notification of these tests is meant to go out
        REPWATCH_NOTIFIER_UPDATE_INTERVAL_S="0",
        **extra,
    )


def incidents(n: int, start: int = 0) -> list:
    """``n`` incidents spread over the brands (so over partitions): firing, then resolved."""
    out = []
    for i in range(start, start + n):
        aid = f"{i:032x}"
        brand = BRANDS[i % len(BRANDS)]
        out.append(alert("firing", 0, alert_id=aid, brand=brand, channel=f"vk:club_{brand}"))
        out.append(alert("resolved", 1, alert_id=aid, brand=brand, channel=f"vk:club_{brand}"))
    return out


def send(pipeline, alerts: list) -> None:
    produce_keyed(pipeline.bootstrap, pipeline.topics.alerts, ((a.brand.encode(), a.to_bytes()) for a in alerts))


def key_of(seen: Seen) -> Key:
    body = seen.json()
    return body["alert_id"], body["status"], body["sequence"]


class Offsets:
    """The notifier group's committed offsets on ``alerts`` against the topic's end."""

    def __init__(self, pipeline) -> None:
        self._c = KafkaConsumer(
            bootstrap_servers=pipeline.bootstrap,
            group_id=pipeline.prefix + "repwatch-notifier",
            enable_auto_commit=False,
        )
        self._tps = [TopicPartition(pipeline.topics.alerts, p) for p in range(pipeline.partitions)]

    def all_committed(self) -> bool:
        ends = self._c.end_offsets(self._tps)
        return all((self._c.committed(tp) or 0) >= ends[tp] for tp in self._tps)

    def close(self) -> None:
        self._c.close()


def read_ledger(pipeline) -> list:
    """Every record of the ledger topic, up to its end offsets now."""
    c = KafkaConsumer(bootstrap_servers=pipeline.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(pipeline.topics.notifier_ledger, p) for p in range(pipeline.partitions)]
        c.assign(tps)
        c.seek_to_beginning()
        ends = c.end_offsets(tps)
        out: list = []
        deadline = time.monotonic() + 30
        while any(c.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            for batch in c.poll(timeout_ms=300).values():
                out.extend(batch)
        return out
    finally:
        c.close()


def delivered_in_ledger(records, target: str, before_wall: float = float("inf")) -> set[Key]:
    """Keys the ledger records as delivered to ``target`` by entries written before ``before_wall``."""
    out: set[Key] = set()
    for r in records:
        parts = r.key.decode().split("\x1f")
        if parts[0] != "d" or parts[4] != target or r.value is None:
            continue
        body = json.loads(r.value)
        if body["state"] == "delivered" and body["at"] < before_wall:
            out.add((parts[1], parts[2], int(parts[3])))
    return out


def ok(seen: Seen, n: int):
    return 200, {}, b""


@pytest.fixture
def servers():
    made: list[FakeServer] = []

    def make(respond=ok) -> FakeServer:
        s = FakeServer(respond, clock=time.time)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_each_alert_is_delivered_once_signed_in_order_and_a_replay_reaches_nobody(pipeline, workers, servers, tmp_path):
    hook = servers()
    routes = write_routes(tmp_path / "routes.yaml", {"hook": (hook.url, "")})
    offsets = Offsets(pipeline)
    try:
        workers.start("notifier", WORKER, notifier_env(pipeline, routes))
        sent = incidents(40)
        send(pipeline, sent)
        expected = {(a.alert_id, a.status.value, a.sequence) for a in sent}
        wait_for(lambda: len(hook.requests) >= len(expected), 90, "every alert at the receiver")
        wait_for(offsets.all_committed, 60, "the group's commit to reach the end of alerts")
        got = [key_of(s) for s in hook.requests]
        assert Counter(got) == Counter(expected), "an alert was lost or delivered twice"
        # signed per the spec, with the alert JSON exactly as on the topic
        by_key = {(a.alert_id, a.status.value, a.sequence): a.to_bytes() for a in sent}
        for s in hook.requests:
            assert spec_verify(SECRET, s.headers, s.body, now=int(s.at))
            assert s.body == by_key[key_of(s)]
        # one incident's messages in order: the firing message before its resolution
        order = {k: i for i, k in enumerate(got)}
        for aid in {k[0] for k in expected}:
            assert order[(aid, "firing", 0)] < order[(aid, "resolved", 1)], aid

        # a detector replaying after a crash: the same records again, on the same partitions
        n_ledger = len(read_ledger(pipeline))
        send(pipeline, sent)
        wait_for(offsets.all_committed, 60, "the replay to be consumed and committed")
        assert len(hook.requests) == len(expected), "a replayed alert reached the receiver again"
        assert len(read_ledger(pipeline)) == n_ledger, "a skipped replay wrote ledger entries"
    finally:
        offsets.close()


def test_sigkill_mid_stream_repeats_only_deliveries_whose_ledger_entry_was_not_in_kafka(
    pipeline, workers, servers, tmp_path
):
    def slow_ok(seen: Seen, n: int):
        time.sleep(0.005)  # spreads the stream out so the kill lands in its middle
        return 200, {}, b""

    hook = servers(slow_ok)
    routes = write_routes(tmp_path / "routes.yaml", {"hook": (hook.url, ", concurrency: 2")})
    env = notifier_env(pipeline, routes)
    sent = incidents(400)
    expected = {(a.alert_id, a.status.value, a.sequence) for a in sent}
    offsets = Offsets(pipeline)
    try:
        first = workers.start("notifier-1", WORKER, env)
        send(pipeline, sent)
        wait_for(lambda: len(hook.requests) >= len(expected) // 2, 90, "half of the alerts at the receiver")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        before = list(hook.requests)  # the dead worker sends nothing more
        assert len(before) < len(expected), "the kill came after the stream ended"

        restart_wall = time.time()
        workers.start("notifier-2", WORKER, env)
        wait_for(lambda: expected <= {key_of(s) for s in hook.requests}, 120, "every alert at the receiver")
        wait_for(offsets.all_committed, 60, "the group's commit to reach the end of alerts")
        after = hook.requests[len(before) :]

        # what the ledger held when the first worker died (entries the second one wrote are later)
        ledger = delivered_in_ledger(read_ledger(pipeline), "hook", before_wall=restart_wall)
        got_before = Counter(key_of(s) for s in before)
        got_after = Counter(key_of(s) for s in after)
        assert not [k for k, n in got_before.items() if n > 1], "one worker delivered a notification twice"
        assert not [k for k, n in got_after.items() if n > 1], "the restarted worker delivered one twice"
        assert set(got_before) | set(got_after) == expected
        assert set(got_before) <= expected
        repeated = set(got_before) & set(got_after)
        # the repeats are exactly the deliveries the ledger did not hold at the kill: nothing the
        # ledger had is sent again, and nothing it lacked is silently dropped
        assert not (set(got_after) & ledger), "a delivery recorded in the ledger was sent again"
        assert repeated == set(got_before) - ledger
        # ... and a repeat carries the first attempt's webhook-id and body, so a receiver can drop it
        ids_before = {key_of(s): (s.headers["webhook-id"], s.body) for s in before}
        for s in after:
            if key_of(s) in repeated:
                assert (s.headers["webhook-id"], s.body) == ids_before[key_of(s)]
    finally:
        offsets.close()


def test_a_hanging_receiver_does_not_delay_a_healthy_one_and_holds_only_its_own_commits(
    pipeline, workers, servers, tmp_path
):
    release = threading.Event()

    def hang(seen: Seen, n: int):
        release.wait(120)
        return 200, {}, b""

    stuck = servers(hang)
    healthy = servers()
    routes = write_routes(
        tmp_path / "routes.yaml",
        # a timeout longer than the test: the stuck attempts neither fail nor retry meanwhile
        {"stuck": (stuck.url, ", timeout_s: 200, concurrency: 2"), "healthy": (healthy.url, "")},
    )
    offsets = Offsets(pipeline)
    try:
        workers.start("notifier", WORKER, notifier_env(pipeline, routes))
        sent = incidents(30)
        send(pipeline, sent)
        expected = Counter((a.alert_id, a.status.value, a.sequence) for a in sent)
        wait_for(lambda: len(healthy.requests) >= len(sent), 90, "every alert at the healthy receiver")
        assert Counter(key_of(s) for s in healthy.requests) == expected
        # meanwhile the stuck receiver holds its two attempts, answered nothing, and the alerts
        # waiting for it keep their records uncommitted (they must survive a crash now)
        assert len(stuck.requests) <= 2
        assert not offsets.all_committed()

        release.set()
        wait_for(lambda: len(stuck.requests) >= len(sent), 90, "the released receiver to get every alert")
        wait_for(offsets.all_committed, 60, "the group's commit to reach the end of alerts")
        assert Counter(key_of(s) for s in stuck.requests) == expected
    finally:
        release.set()
        offsets.close()


def run_once(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *WORKER], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=90)


def test_a_bad_routes_file_exits_2_on_the_broker_path(pipeline, tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text(
        'receivers:\n  h: {type: webhook, url: "http://127.0.0.1:9/", secret: {env: REPWATCH_TEST_HOOK_SECRET}}\n'
        "routes:\n  - {name: all, receivers: [h, nobody]}\n"
    )
    done = run_once(notifier_env(pipeline, path))
    assert done.returncode == 2, done.stderr
    assert "routes.0.receivers: unknown receiver 'nobody'" in done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_a_ledger_topic_partitioned_unlike_alerts_exits_2(pipeline, tmp_path):
    prefix = pipeline.prefix + "mismatch."
    admin = KafkaAdminClient(bootstrap_servers=pipeline.bootstrap)
    try:
        admin.create_topics([NewTopic(TopicNames.with_prefix(prefix).notifier_ledger, 1, 1)])
    finally:
        admin.close()
    routes = write_routes(tmp_path / "routes.yaml", {"h": ("http://127.0.0.1:9/", "")})
    env = notifier_env(pipeline, routes, REPWATCH_TOPIC_PREFIX=prefix)
    done = run_once(env)
    assert done.returncode == 2, done.stderr
    assert f"{prefix}notifier.ledger has 1 partitions but {prefix}alerts has 3" in done.stderr
