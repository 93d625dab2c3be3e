"""The processor and dispatcher end to end against local HTTP receivers and an in-process SMTP server."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
from prometheus_client import CollectorRegistry

from devtools.procs import free_ports
from services.notifier.ledger import DeliveryKey, Ledger
from services.notifier.processor import NotifierProcessor
from services.notifier.receivers.web import HttpClient
from services.notifier.routes import parse_routes, resolve_secrets
from services.notifier.targets import build_plan
from shared.brands import BrandsFile, parse_brands
from shared.kafka.transport import BatchResult, Record
from tests.conftest import wait_for
from tests.services.notifier.alerts import alert
from tests.services.notifier.servers import FakeServer, VirtualClock, ok_json
from tests.services.notifier.test_webhook_signing import spec_verify

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
ENV = {"TG": "123:abc", "SLACK": "", "HOOK": SECRET}


def make(routes_yaml: str, env: dict[str, str], *, clock=None, brands: BrandsFile | None = None, ledger=None):
    routes = resolve_secrets(parse_routes(routes_yaml), env)
    plan = build_plan(routes, HttpClient())
    opts = {"update_interval_s": 0.0}
    if clock is not None:
        opts.update(clock=clock, wait=clock.wait)
    proc = NotifierProcessor(
        routes,
        plan,
        brands or BrandsFile(),
        ledger or Ledger("notifier.ledger"),
        worker="notifier",
        registry=CollectorRegistry(),
        max_record_bytes=1_000_000,
        read_ledger=lambda parts: [],
        dispatcher_options=opts,
        stop_timeout_s=2.0,
    )
    return proc.start()


def rec(a, offset: int = 0, partition: int = 0) -> Record:
    return Record("alerts", partition, offset, a.brand.encode(), a.to_bytes(), int(time.time() * 1000))


def drain_until(proc, pred, timeout=20.0) -> BatchResult:
    got = BatchResult()

    def check() -> bool:
        got.merge(proc.on_idle(None, frozenset()))
        return pred(got)

    wait_for(check, timeout, "deliveries to finish", interval=0.02)
    return got


@pytest.fixture
def servers():
    made: list[FakeServer] = []

    def start(respond, clock=lambda: 0.0) -> FakeServer:
        s = FakeServer(respond, clock)
        made.append(s)
        return s

    yield start
    for s in made:
        s.close()


def test_a_hanging_receiver_does_not_delay_another(servers):
    release = threading.Event()

    def hang(seen, n):
        release.wait(30)
        return 200, {}, b""

    slow, fast = servers(hang), servers(lambda s, n: (204, {}, b""))
    proc = make(
        f"""
receivers:
  slow: {{type: webhook, url: "{slow.url}", secret: {{env: HOOK}}, timeout_s: 60}}
  fast: {{type: webhook, url: "{fast.url}", secret: {{env: HOOK}}}}
""",
        ENV,
    )
    try:
        proc([rec(alert(), 0), rec(alert(alert_id="b" * 32), 1)])
        out = drain_until(proc, lambda r: len(r.outputs) == 2)  # both of fast's ledger entries
        assert {o.key for o in out.outputs} == {
            DeliveryKey("a" * 32, "firing", 0, "fast").encode(),
            DeliveryKey("b" * 32, "firing", 0, "fast").encode(),
        }
        # slow's request may reach its server after fast finished both (a loaded machine):
        # wait for it, then check it is still being held
        wait_for(lambda: len(slow.requests) >= 1, 20, "slow to receive its first request")
        assert not release.is_set()
        tp = type("TP", (), {"partition": 0})()
        assert proc.committable({tp: 2}) == {tp: 0}  # nothing committed while slow's deliveries are open
    finally:
        release.set()
    drain_until(proc, lambda r: len(r.outputs) == 2)
    assert proc.committable({tp: 2}) == {tp: 2}
    proc.on_stop()


def test_webhook_body_and_signature(servers):
    hook = servers(lambda s, n: (200, {}, b""))
    proc = make(f'receivers: {{h: {{type: webhook, url: "{hook.url}/in", secret: {{env: HOOK}}}}}}', ENV)
    a = alert()
    proc([rec(a)])
    drain_until(proc, lambda r: len(r.outputs) == 1)
    (seen,) = hook.requests
    assert seen.path == "/in" and seen.body == a.to_bytes()
    assert seen.headers["webhook-id"] == DeliveryKey(a.alert_id, "firing", 0, "h").id
    assert spec_verify(SECRET, seen.headers, seen.body, int(time.time()))
    proc.on_stop()


def test_a_telegram_429_storm_is_honoured_and_delivers_once(servers):
    clock = VirtualClock()

    def telegram(seen, n):
        body = seen.json()
        assert seen.path == "/bot123:abc/sendMessage"
        assert set(body) == {"chat_id", "text", "parse_mode", "link_preview_options"}
        assert body["parse_mode"] == "HTML" and len(body["text"]) <= 4096
        if n <= 3:
            return 429, {}, json.dumps({"ok": False, "error_code": 429, "parameters": {"retry_after": 5}}).encode()
        return ok_json({"ok": True, "result": {"message_id": n}})

    tg = servers(telegram, clock)
    brands = parse_brands("brands: {acme: {language: ru}}")
    proc = make(
        f'receivers: {{tg: {{type: telegram, chats: ["-100"], token: {{env: TG}}, api_url: "{tg.url}"}}}}',
        ENV,
        clock=clock,
        brands=brands,
    )
    proc([rec(alert())])
    out = drain_until(proc, lambda r: len(r.outputs) == 1)
    assert not out.dead_letters
    assert len(tg.requests) == 4
    gaps = [b.at - a.at for a, b in zip(tg.requests, tg.requests[1:], strict=False)]
    assert all(g >= 5.0 for g in gaps), gaps  # never earlier than Telegram asked
    assert "Жалобы без ответа" in tg.requests[-1].json()["text"]  # the brand's language
    proc.on_stop()


def test_slack_retry_after_then_ok(servers):
    clock = VirtualClock()
    answers = iter([(429, {"Retry-After": "3"}, b"rate limited"), (200, {}, b"ok")])
    slack = servers(lambda s, n: next(answers), clock)
    proc = make(
        "receivers: {s: {type: slack, webhook_url: {env: SLACK}}}",
        {"SLACK": f"{slack.url}/services/T/B/X"},
        clock=clock,
    )
    proc([rec(alert())])
    drain_until(proc, lambda r: len(r.outputs) == 1)
    first, second = slack.requests
    assert second.at - first.at >= 3.0
    payload = second.json()
    assert set(payload) == {"text", "blocks"} and payload["blocks"][0]["type"] == "header"
    assert first.path == "/services/T/B/X"
    proc.on_stop()


def test_giving_up_dead_letters_with_the_reason_and_releases_the_commit(servers):
    clock = VirtualClock()
    broken = servers(lambda s, n: (500, {}, b"oops"), clock)
    proc = make(
        f'receivers: {{h: {{type: webhook, url: "{broken.url}", secret: {{env: HOOK}}, max_tries: 3}}}}',
        ENV,
        clock=clock,
    )
    proc([rec(alert(), offset=7)])
    out = drain_until(proc, lambda r: len(r.dead_letters) == 1)
    (dl,) = out.dead_letters
    assert dl.reason == "delivery_failed" and dl.source_offset == 7
    assert "http_500 after 3 tries" in dl.error
    assert len(broken.requests) == 3
    assert json.loads(out.outputs[0].value)["state"] == "given_up"
    proc.on_stop()


def test_email_over_smtp():
    from aiosmtpd.controller import Controller

    got = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            got.append(envelope)
            return "250 OK"

    (port,) = free_ports(1)
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        proc = make(
            f"""
receivers:
  mail: {{type: email, host: 127.0.0.1, port: {port}, security: none, sender: r@x.org, to: [pr@x.org, boss@x.org]}}
""",
            {},
        )
        proc([rec(alert())])
        drain_until(proc, lambda r: len(r.outputs) == 1)
        proc.on_stop()
    finally:
        ctl.stop()
    (env,) = got
    assert env.rcpt_tos == ["pr@x.org", "boss@x.org"]
    import email

    msg = email.message_from_bytes(env.content)
    assert msg["Subject"].startswith("[RepWatch] New: Complaints without an answer")
    parts = [p.get_content_type() for p in msg.walk() if not p.is_multipart()]
    assert parts == ["text/plain", "text/html"]


def _self_signed(tmp_path):
    """A certificate for 127.0.0.1 made by the openssl command line, as an internal relay's CA would."""
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_email_over_verified_tls_with_login(tmp_path, security):
    """A real SMTP server in-process that demands TLS (STARTTLS on the submission port, or implicit
    TLS) and a login: the message arrives only over a certificate the receiver verified, and a
    wrong password is a permanent failure, not a retry."""
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    key, cert = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    got, tls_seen = [], []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            tls_seen.append(session.ssl is not None)
            got.append(envelope)
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"repwatch", b"s3cret")
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 235 or 535 itself

    (port,) = free_ports(1)
    # implicit TLS: the listening socket speaks only TLS (aiosmtpd does not count it as a TLS
    # session for auth_require_tls, so that check is left to the socket)
    opts = (
        {"tls_context": server_tls, "require_starttls": True}
        if security == "starttls"
        else {"ssl_context": server_tls, "auth_require_tls": False}
    )
    ctl = Controller(
        Handler(), hostname="127.0.0.1", port=port, authenticator=authenticator, auth_required=True, **opts
    )
    ctl.start()
    try:
        results = {}
        for password in ("s3cret", "wrong"):
            proc = make(
                f"""
receivers:
  mail: {{type: email, host: 127.0.0.1, port: {port}, security: {security}, ca_file: "{cert}", sender: r@x.org,
          to: [pr@x.org], username: repwatch, password: {{env: SMTP_PW}}, max_tries: 1}}
""",
                {"SMTP_PW": password},
            )
            proc([rec(alert())])
            results[password] = drain_until(proc, lambda r: len(r.outputs) == 1)
            proc.on_stop()
    finally:
        ctl.stop()
    assert len(got) == 1
    if security == "starttls":
        assert tls_seen == [True]  # the message itself went over the upgraded connection
    assert not results["s3cret"].dead_letters
    (dl,) = results["wrong"].dead_letters
    assert dl.reason == "delivery_failed" and "smtp_auth_failed" in dl.error


def test_replays_and_redeliveries_reach_nobody_twice(servers):
    hook = servers(lambda s, n: (200, {}, b""))
    routes = f'receivers: {{h: {{type: webhook, url: "{hook.url}", secret: {{env: HOOK}}}}}}'
    ledger = Ledger("notifier.ledger")
    proc = make(routes, ENV, ledger=ledger)
    firing, resolved = alert(), alert("resolved", 1)
    proc([rec(firing, 0), rec(firing, 1)])  # the same notification twice in one batch
    out = drain_until(proc, lambda r: len(r.outputs) == 1)
    proc([rec(firing, 2)])  # a replay after it was delivered: skipped at once
    tp = type("TP", (), {"partition": 0})()
    assert proc.committable({tp: 3}) == {tp: 3}
    proc.on_stop()
    # a restart: a new processor restores the ledger from what the first one produced
    stored = [Record("notifier.ledger", 0, i, o.key, o.value) for i, o in enumerate(out.outputs)]
    restarted = make(routes, ENV)
    restarted._read_ledger = lambda parts: stored
    from kafka.structs import TopicPartition

    from shared.kafka.transport import PartitionEvent

    restarted.on_partitions(PartitionEvent("assigned", frozenset({TopicPartition("alerts", 0)})))
    restarted([rec(firing, 0), rec(resolved, 3)])
    drain_until(restarted, lambda r: len(r.outputs) == 1)
    assert [json.loads(s.body)["status"] for s in hook.requests] == ["firing", "resolved"]
    restarted.on_stop()


def test_alertmanager_gets_open_incidents_again_until_resolved(servers):
    am = servers(lambda s, n: (200, {}, b""))
    routes = resolve_secrets(parse_routes(f'receivers: {{am: {{type: alertmanager, url: "{am.url}"}}}}'), {})
    mono = [0.0]
    proc = NotifierProcessor(
        routes,
        build_plan(routes, HttpClient()),
        BrandsFile(),
        Ledger("notifier.ledger"),
        worker="notifier",
        registry=CollectorRegistry(),
        max_record_bytes=1_000_000,
        read_ledger=lambda parts: [],
        monotonic=lambda: mono[0],
    ).start()
    proc([rec(alert())])
    out = drain_until(proc, lambda r: len(r.outputs) == 2)  # the ledger entry and the open incident
    assert out.outputs[1].key.startswith(b"o\x1fam\x1f")
    mono[0] += 61
    proc.on_idle(None, frozenset())
    wait_for(lambda: len(am.requests) == 2, 10, "the re-send")
    assert am.requests[1].json()[0]["labels"] == am.requests[0].json()[0]["labels"]
    proc([rec(alert("resolved", 1), 1)])
    out = drain_until(proc, lambda r: len(r.outputs) == 2)
    assert out.outputs[1].value is None  # the open incident's tombstone
    mono[0] += 120
    proc.on_idle(None, frozenset())
    assert len(am.requests) == 3 and am.requests[2].json()[0]["endsAt"]
    proc.on_stop()
