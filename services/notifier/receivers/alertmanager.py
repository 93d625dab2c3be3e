"""Alertmanager: ``POST {url}/api/v2/alerts`` with a list of one alert.

Alertmanager expects clients to re-send an alert for as long as it fires and
resolves it itself when ``endsAt`` passes without a re-send. So a firing alert
carries ``endsAt = now + 4 x resend_every_s`` and the worker re-sends open
incidents every ``resend_every_s`` (see the processor); the resolution carries
``endsAt`` = when the detector resolved it. Alertmanager deduplicates by labels,
so a re-send or a replay never reaches a person twice through it.

Severity is a label (routes and inhibition use it), so an escalation from warning
to critical is a *different* Alertmanager alert. The target remembers the label
set it last sent per open incident and, when an update changes it, ends the old
one (``endsAt`` = now) in the same request; otherwise Alertmanager would show both
until the old one's ``endsAt`` passed. After a restart the memory is seeded from
the ledger's open incidents (:meth:`AlertmanagerTarget.remember`).
"""

from __future__ import annotations

import json
from datetime import timedelta

from services.notifier import render
from services.notifier.receivers.base import (
    HttpRequest,
    HttpResponse,
    HttpSend,
    Outcome,
    RenderContext,
    Verdict,
    http_status_outcome,
)
from services.notifier.routes import AlertmanagerReceiver, Secret
from shared.schemas import Alert, AlertStatus


def build_request(
    alert: Alert,
    cfg: AlertmanagerReceiver,
    ctx: RenderContext,
    bearer: Secret | None = None,
    superseded: dict[str, str] | None = None,
) -> HttpRequest:
    """``superseded``: the label set this incident was last sent with, when it differs."""
    n = render.notice(alert, ctx.lang, ctx.tz)
    item: dict[str, object] = {
        "labels": render.alertmanager_labels(alert),
        "annotations": render.alertmanager_annotations(n),
        "startsAt": render.iso(alert.started_at or alert.window_start),
    }
    if alert.status is AlertStatus.RESOLVED:
        # never in the future: Alertmanager would keep it firing until then
        item["endsAt"] = render.iso(min(alert.window_end, ctx.now))
    else:
        item["endsAt"] = render.iso(ctx.now + timedelta(seconds=4 * cfg.resend_every_s))
    link = render.first_link(n)
    if link:
        item["generatorURL"] = link
    items = [item]
    if superseded is not None:
        items.append({**item, "labels": superseded, "endsAt": render.iso(ctx.now)})
    headers = {"Authorization": f"Bearer {bearer.reveal()}"} if bearer is not None else {}
    body = json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return HttpRequest(cfg.url.rstrip("/") + "/api/v2/alerts", body, headers)


def classify(resp: HttpResponse) -> Outcome:
    # 400: Alertmanager refused the alert (bad labels): no retry changes that
    return http_status_outcome(resp.status)


class AlertmanagerTarget:
    kind = "alertmanager"

    def __init__(self, name: str, cfg: AlertmanagerReceiver, secrets: dict[str, Secret], send: HttpSend) -> None:
        self.name = self.receiver = name
        self.cfg = cfg
        self._bearer = secrets.get("bearer_token")
        self._send = send
        #: alert_id -> labels Alertmanager last accepted for the open incident (bounded by the
        #: open incidents: an entry goes with the resolution)
        self._sent: dict[str, dict[str, str]] = {}

    def remember(self, alert: Alert) -> None:
        """What Alertmanager holds for an open incident (from the ledger, after a restart)."""
        self._sent[alert.alert_id] = render.alertmanager_labels(alert)

    def deliver(self, alert: Alert, delivery_id: str, ctx: RenderContext) -> Outcome:
        labels = render.alertmanager_labels(alert)
        previous = self._sent.get(alert.alert_id)
        superseded = previous if previous is not None and previous != labels else None
        resp = self._send(build_request(alert, self.cfg, ctx, self._bearer, superseded), self.cfg.timeout_s)
        outcome = resp if isinstance(resp, Outcome) else classify(resp)
        if outcome.verdict is Verdict.OK:
            if alert.status is AlertStatus.RESOLVED:
                self._sent.pop(alert.alert_id, None)
            else:
                self._sent[alert.alert_id] = labels
        return outcome
