"""``repwatch receive`` on a real broker: a burst of real-shaped VK, Meta and Telegram
webhooks with a Kafka outage in the middle.

Senders behave like the platforms: a request answered anything but 2xx is sent again
later, and some acknowledged ones are sent again anyway (platforms retry on timeouts
that were not ours). What must hold: every push acknowledged with 2xx is on
``mentions.raw`` (or ``deadletter``), the outage was answered 503 rather than
acknowledged, every retry of one push carries the same ``event_id``, and SIGTERM
drains and exits 0. No assertion is about time.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from shared.schemas import DeadLetter, MentionEvent
from tests.conftest import Pipeline, wait_for
from tests.kafka_io import read_topic
from tests.services.ingest.connectors.payloads import (
    META_APP_SECRET,
    META_VERIFY_TOKEN,
    TELEGRAM_TOKEN,
    VK_SECRET,
    fixture_json,
    meta_signature,
)

pytestmark = pytest.mark.integration

BRANDS_YAML = """
brands:
  acme:
    owned_channels:
      vk: ["vk:club123"]
      facebook: ["1234567890"]
      telegram: ["telegram:-1001111111111"]
"""
PER_PLATFORM = 120


@pytest.fixture
def private_broker(tmp_path: Path):
    """A broker of this test's own, since the test stops and restarts it."""
    from devtools.embedded_kafka import EmbeddedKafka

    broker = EmbeddedKafka(tmp_path / "broker", heap="256m")
    broker.start()
    yield broker
    broker.stop()


def vk_body(i: int) -> bytes:
    data = fixture_json("vk", "wall_reply_new")
    data["event_id"] = f"burst-{i:06d}"
    data["object"]["id"] = 100_000 + i
    data["object"]["text"] = f"Жалоба номер {i}: курьер не приехал"
    return json.dumps(data, ensure_ascii=False).encode()


def meta_body(i: int) -> bytes:
    data = fixture_json("facebook", "comment_add")
    value = data["entry"][0]["changes"][0]["value"]
    value["comment_id"] = f"998877_{700_000 + i}"
    value["message"] = f"Refund {i} still missing"
    return json.dumps(data).encode()


def telegram_body(i: int) -> bytes:
    data = fixture_json("telegram", "message")
    data["update_id"] = 905_000_000 + i
    data["message"]["message_id"] = 50_000 + i
    data["message"]["text"] = f"Оплата картой не проходит ({i})"
    return json.dumps(data, ensure_ascii=False).encode()


def requests_for(platform: str) -> list[tuple[str, bytes, dict[str, str], str]]:
    """(path, body, headers, expected mention id) per push."""
    out = []
    for i in range(PER_PLATFORM):
        if platform == "vk":
            out.append(("/hooks/vk", vk_body(i), {}, f"vk:wall-123_4522/{100_000 + i}"))
        elif platform == "meta":
            body = meta_body(i)
            out.append(
                ("/hooks/meta", body, {"X-Hub-Signature-256": meta_signature(body)}, f"facebook:998877_{700_000 + i}")
            )
        else:
            out.append(
                (
                    "/hooks/telegram",
                    telegram_body(i),
                    {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_TOKEN},
                    f"telegram:-1001111111111/{50_000 + i}",
                )
            )
    return out


class Sender:
    """One platform's deliveries, retried on anything but 2xx like the platform would."""

    def __init__(self, port: int, pushes: list, deadline: float) -> None:
        self.port = port
        self.pushes = pushes
        self.deadline = deadline
        self.acked: list[str] = []
        self.statuses: dict[int, int] = defaultdict(int)
        self.errors: list[str] = []
        self.done = 0
        self._conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> int | None:
        try:
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self._conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
            resp = self._conn.getresponse()
            resp.read()
            if resp.getheader("connection", "").lower() == "close":
                self._conn.close()
                self._conn = None
            return resp.status
        except (OSError, http.client.HTTPException) as exc:
            self.errors.append(repr(exc))
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            return None

    def deliver(self, path: str, body: bytes, headers: dict[str, str], mention: str) -> bool:
        while time.monotonic() < self.deadline:
            status = self.post(path, body, headers)
            if status is not None:
                self.statuses[status] += 1
            if status == 200:
                self.acked.append(mention)
                return True
            time.sleep(0.2)  # the platform's back-off, much shortened
        return False

    def run(self) -> None:
        for n, (path, body, headers, mention) in enumerate(self.pushes):
            if not self.deliver(path, body, headers, mention):
                return
            if n % 10 == 0:  # a platform retry of an acknowledged push: a duplicate
                self.deliver(path, body, headers, mention)
            self.done += 1
            time.sleep(0.02)


def _port(log: Path, what: str) -> int:
    found: list[int] = []

    def seen() -> bool:
        m = re.search(what, log.read_text(errors="replace"))
        if m:
            found.append(int(m.group(1)))
        return bool(found)

    wait_for(seen, 60, f"the receiver's log line {what!r}")
    return found[0]


def _get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def test_burst_with_a_kafka_outage_loses_nothing_and_duplicates_are_the_same_events(private_broker, workers, tmp_path):
    p = Pipeline(private_broker.bootstrap, "recv.", partitions=2)
    brands = tmp_path / "brands.yaml"
    brands.write_text(BRANDS_YAML)
    vk_secret_file = tmp_path / "vk-secret"
    vk_secret_file.write_text(VK_SECRET + "\n")
    env = p.env(
        REPWATCH_BRANDS_FILE=str(brands),
        REPWATCH_RECEIVER_HOST="127.0.0.1",
        REPWATCH_RECEIVER_PORT="0",
        REPWATCH_RECEIVER_ACK_TIMEOUT_S="2",
        REPWATCH_RECEIVER_VK_SECRETS_FILE=str(vk_secret_file),
        REPWATCH_RECEIVER_META_APP_SECRETS=META_APP_SECRET,
        REPWATCH_RECEIVER_META_VERIFY_TOKEN=META_VERIFY_TOKEN,
        REPWATCH_RECEIVER_TELEGRAM_SECRET_TOKENS=TELEGRAM_TOKEN,
        REPWATCH_KAFKA_STARTUP_TIMEOUT_S="60",
    )
    proc = workers.start("receiver", ["-m", "services.cli", "receive"], env)
    log = proc.log_path
    port = _port(log, r"/hooks/\S+ on 127\.0\.0\.1:(\d+)")
    metrics_port = _port(log, r"/metrics /healthz /readyz on port (\d+)")

    deadline = time.monotonic() + 240
    senders = {name: Sender(port, requests_for(name), deadline) for name in ("vk", "meta", "telegram")}
    threads = [threading.Thread(target=s.run, daemon=True) for s in senders.values()]
    for t in threads:
        t.start()

    # the outage, a third of the way into the burst
    wait_for(lambda: min(s.done for s in senders.values()) >= PER_PLATFORM // 3, 120, "a third of the burst")
    private_broker.stop()
    wait_for(lambda: sum(s.statuses[503] for s in senders.values()) >= 3, 60, "503s while Kafka is down")
    assert _get(metrics_port, "/readyz")[0] == 503  # out of the load balancer while Kafka is away
    private_broker.start()
    for t in threads:
        t.join(timeout=max(1.0, deadline - time.monotonic()))
    assert all(s.done == PER_PLATFORM for s in senders.values()), {n: s.done for n, s in senders.items()}

    # an authentic push that cannot become an event: dead-lettered, acknowledged
    garbage = fixture_json("vk", "unknown_group")
    garbage["secret"] = VK_SECRET
    tail = Sender(port, [], time.monotonic() + 60)
    assert tail.deliver("/hooks/vk", json.dumps(garbage).encode(), {}, "garbage")
    # a bad signature: refused, never kept
    assert tail.post("/hooks/telegram", telegram_body(0), {"X-Telegram-Bot-Api-Secret-Token": "wrong"}) == 401

    expected = {m for s in senders.values() for _, _, _, m in s.pushes}
    acked = {m for s in senders.values() for m in s.acked}
    assert acked == expected
    records = read_topic(
        p.bootstrap,
        p.topics.raw,
        until=lambda rs: {MentionEvent.model_validate_json(r.value).mention_id for r in rs} >= expected,
        timeout=60,
    )
    events = [MentionEvent.model_validate_json(r.value) for r in records]
    assert {e.mention_id for e in events} == expected  # nothing lost, nothing made up
    ids_per_mention: dict[str, set[str]] = defaultdict(set)
    for e in events:
        ids_per_mention[e.mention_id].add(e.event_id)
    assert all(len(ids) == 1 for ids in ids_per_mention.values())  # duplicates are the same event
    assert len(events) > len(expected)  # the duplicates really were sent (and are harmless)
    assert all(r.key == b"acme" for r in records)

    dead = [DeadLetter.model_validate_json(r.value) for r in read_topic(p.bootstrap, p.topics.deadletter, until=bool)]
    assert [d.reason for d in dead] == ["unknown_channel"] and dead[0].source_topic == "webhook:vk"

    status, text = _get(metrics_port, "/metrics")
    assert status == 200 and 'repwatch_receiver_requests_total{platform="vk",status="503"}' in text
    assert "repwatch_receiver_kafka_down 0.0" in text
    assert _get(metrics_port, "/readyz")[0] == 200

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, workers.logs()
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, workers.logs()
    for secret in (VK_SECRET, META_APP_SECRET, TELEGRAM_TOKEN, META_VERIFY_TOKEN):
        assert secret not in text  # credentials are never logged


def test_sigterm_drains_requests_in_flight_and_exits_0(kafka_broker, workers, tmp_path):
    """Every request acknowledged before or during the drain is in Kafka; then exit 0."""
    p = Pipeline(kafka_broker, f"drain-{time.time_ns() % 10**6}.", partitions=2)
    brands = tmp_path / "brands.yaml"
    brands.write_text(BRANDS_YAML)
    env = p.env(
        REPWATCH_BRANDS_FILE=str(brands),
        REPWATCH_RECEIVER_HOST="127.0.0.1",
        REPWATCH_RECEIVER_PORT="0",
        REPWATCH_RECEIVER_TELEGRAM_SECRET_TOKENS=TELEGRAM_TOKEN,
    )
    proc = workers.start("receiver", ["-m", "services.cli", "receive"], env)
    port = _port(proc.log_path, r"/hooks/\S+ on 127\.0\.0\.1:(\d+)")
    pushes = requests_for("telegram")
    senders = [Sender(port, pushes[i::4], time.monotonic() + 30) for i in range(4)]

    def once(s: Sender) -> None:  # no retries: after the drain the port is closed
        for path, body, headers, mention in s.pushes:
            if s.post(path, body, headers) == 200:
                s.acked.append(mention)
            s.done += 1

    threads = [threading.Thread(target=once, args=(s,), daemon=True) for s in senders]
    for t in threads:
        t.start()
    wait_for(lambda: sum(len(s.acked) for s in senders) >= 10, 60, "the first acknowledgements")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, workers.logs()
    for t in threads:
        t.join(30)
    acked = {m for s in senders for m in s.acked}
    assert len(acked) >= 10
    records = read_topic(
        p.bootstrap,
        p.topics.raw,
        until=lambda rs: {MentionEvent.model_validate_json(r.value).mention_id for r in rs} >= acked,
        timeout=30,
    )
    assert acked <= {MentionEvent.model_validate_json(r.value).mention_id for r in records}
    assert "Traceback" not in proc.log_path.read_text(errors="replace")
