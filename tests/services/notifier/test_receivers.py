"""Each receiver's request shape (pure) and how it reads answers."""

from __future__ import annotations

import json
import smtplib
from datetime import datetime, timezone

import pytest

from services.notifier.receivers import alertmanager, email, slack, telegram, webhook
from services.notifier.receivers.base import HttpResponse, Outcome, RenderContext, Verdict
from services.notifier.routes import parse_routes
from tests.services.notifier.alerts import alert

NOW = datetime(2026, 11, 26, 13, 0, tzinfo=timezone.utc)
CFG = parse_routes(
    """
receivers:
  am: {type: alertmanager, url: "http://am:9093/", resend_every_s: 60}
  tg: {type: telegram, chats: ["-100"], token: {env: T}, api_url: "http://tg.local"}
  mail: {type: email, host: h, sender: "RepWatch <r@x.org>", to: [a@x.org, b@x.org]}
"""
).receivers


def resp(status: int, body: object = b"", **headers: str) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status, {k.replace("_", "-"): v for k, v in headers.items()}, raw)


def test_alertmanager_request_firing_and_resolved():
    ctx = RenderContext("en", "UTC", NOW)
    req = alertmanager.build_request(alert(), CFG["am"], ctx)
    assert req.url == "http://am:9093/api/v2/alerts"
    (item,) = json.loads(req.body)
    assert item["labels"]["alertname"] == "unanswered_complaint"
    assert item["startsAt"] == "2026-11-26T12:00:00Z"
    assert item["endsAt"] == "2026-11-26T13:04:00Z"  # now + 4 x resend_every_s
    assert item["generatorURL"] == "https://vk.com/wall-1_0"
    (done,) = json.loads(alertmanager.build_request(alert("resolved", 2), CFG["am"], ctx).body)
    assert done["endsAt"] == "2026-11-26T13:00:00Z"  # window_end, never in the future
    assert alertmanager.classify(resp(200)) == Outcome.ok()
    assert alertmanager.classify(resp(400)).verdict is Verdict.FAIL
    assert alertmanager.classify(resp(503)).verdict is Verdict.RETRY


def test_alertmanager_escalation_ends_the_old_label_set_in_the_same_request():
    sent: list = []

    def send(req, timeout):
        sent.append(json.loads(req.body))
        return HttpResponse(200, {}, b"")

    target = alertmanager.AlertmanagerTarget("am", CFG["am"], {}, send)
    ctx = RenderContext("en", "UTC", NOW)
    assert target.deliver(alert(), "d1", ctx) == Outcome.ok()
    assert target.deliver(alert("updated", 1), "d2", ctx) == Outcome.ok()  # same severity: one alert
    assert target.deliver(alert("updated", 2, severity="critical"), "d3", ctx) == Outcome.ok()
    assert [len(b) for b in sent] == [1, 1, 2]
    new, old = sent[2]
    assert new["labels"]["severity"] == "critical" and new["endsAt"] > "2026-11-26T13:00:00Z"
    assert old["labels"]["severity"] == "warning" and old["endsAt"] == "2026-11-26T13:00:00Z"
    assert {k: v for k, v in old["labels"].items() if k != "severity"} == {
        k: v for k, v in new["labels"].items() if k != "severity"
    }
    target.deliver(alert("resolved", 3, severity="critical"), "d4", ctx)
    assert len(sent[3]) == 1 and sent[3][0]["labels"]["severity"] == "critical"

    # after a restart the ledger's open incident seeds what Alertmanager holds
    fresh = alertmanager.AlertmanagerTarget("am", CFG["am"], {}, send)
    fresh.remember(alert("updated", 1))
    fresh.deliver(alert("updated", 2, severity="critical"), "d5", ctx)
    assert len(sent[4]) == 2 and sent[4][1]["labels"]["severity"] == "warning"


def test_telegram_request_and_answers():
    from services.notifier.routes import Secret

    req = telegram.build_request("<b>x</b>", "-100", CFG["tg"], Secret("123:abc"))
    assert req.url == "http://tg.local/bot123:abc/sendMessage"
    assert json.loads(req.body) == {
        "chat_id": "-100",
        "text": "<b>x</b>",
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    assert telegram.classify(resp(200, {"ok": True, "result": {}})) == Outcome.ok()
    storm = {"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 7}}
    assert telegram.classify(resp(429, storm)) == Outcome.retry("http_429", 7.0)
    assert telegram.classify(resp(403, {"ok": False, "error_code": 403})) == Outcome.fail("telegram_forbidden")
    migrated = {"ok": False, "error_code": 400, "parameters": {"migrate_to_chat_id": -1001}}
    assert telegram.classify(resp(400, migrated)) == Outcome.fail("telegram_chat_migrated")
    assert telegram.classify(resp(502, b"<html>bad gateway")).verdict is Verdict.RETRY
    assert telegram.is_group("-100") and telegram.is_group("@news") and not telegram.is_group("42")


def test_slack_answers():
    assert slack.classify(resp(200, b"ok")) == Outcome.ok()
    assert slack.classify(resp(429, b"", retry_after="30")) == Outcome.retry("http_429", 30.0)
    assert slack.classify(resp(429, b"")) == Outcome.retry("http_429", None)
    assert slack.classify(resp(404, b"channel_not_found")) == Outcome.fail("slack_channel_not_found")
    assert slack.classify(resp(400, b"some new error text")) == Outcome.fail("http_400")
    assert slack.classify(resp(500, b"")).verdict is Verdict.RETRY


def test_webhook_answers():
    assert webhook.classify(resp(204)) == Outcome.ok()
    assert webhook.classify(resp(410)) == Outcome.fail("http_410")
    assert webhook.classify(resp(429, retry_after="5")) == Outcome.retry("http_429", 5.0)
    assert webhook.classify(resp(404)) == Outcome.fail("http_404")


def test_email_message_threads_an_incident():
    ctx = RenderContext("en", "UTC", NOW)
    first = email.build_message(alert(), "msg_1", CFG["mail"], ctx)
    later = email.build_message(alert("resolved", 1), "msg_2", CFG["mail"], ctx)
    assert first["To"] == "a@x.org, b@x.org"
    assert later["In-Reply-To"] == first["Message-ID"] == later["References"]
    assert later["Message-ID"] != first["Message-ID"]
    kinds = [p.get_content_type() for p in first.iter_parts()]
    assert kinds == ["text/plain", "text/html"]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (smtplib.SMTPAuthenticationError(535, b"no"), Outcome.fail("smtp_auth_failed")),
        (smtplib.SMTPRecipientsRefused({"a@x": (550, b"no such user")}), Outcome.fail("smtp_recipients_refused")),
        (smtplib.SMTPRecipientsRefused({"a@x": (451, b"later")}), Outcome.retry("smtp_4xx")),
        (smtplib.SMTPDataError(452, b"full"), Outcome.retry("smtp_4xx")),
        (smtplib.SMTPDataError(554, b"spam"), Outcome.fail("smtp_5xx")),
        (ConnectionRefusedError(), Outcome.retry("connection_error")),
        (TimeoutError(), Outcome.retry("timeout")),
    ],
)
def test_smtp_errors(exc, expected):
    assert email.classify_smtp_error(exc) == expected
