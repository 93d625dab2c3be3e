"""From the routes file to delivery targets: one per receiver, one per chat of a Telegram receiver,
each with the rate limits its service documents."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from services.notifier.dispatch import RateLimit, TargetSpec
from services.notifier.receivers.alertmanager import AlertmanagerTarget
from services.notifier.receivers.base import HttpSend
from services.notifier.receivers.email import EmailTarget, SmtpFactory
from services.notifier.receivers.slack import SlackTarget
from services.notifier.receivers.telegram import TelegramTarget, is_group
from services.notifier.receivers.webhook import BadSecret, WebhookTarget
from services.notifier.routes import (
    AlertmanagerReceiver,
    EmailReceiver,
    ResolvedRoutes,
    RoutesFileError,
    SlackReceiver,
    TelegramReceiver,
    WebhookReceiver,
)

#: Slack: about one message a second per webhook, short bursts tolerated
SLACK_PER_S = 1.0
#: Telegram: one message a second per chat, 20 a minute per group, 30 a second per bot
TELEGRAM_CHAT_PER_S = 1.0
TELEGRAM_GROUP_PER_MIN = 20
TELEGRAM_BOT_PER_S = 30.0


@dataclass(frozen=True, slots=True)
class Plan:
    specs: dict[str, TargetSpec]
    #: receiver name -> its target names
    targets_of: dict[str, list[str]]
    #: target name -> Alertmanager re-send interval (only Alertmanager targets)
    resend_every_s: dict[str, float]


def build_plan(routes: ResolvedRoutes, http: HttpSend, smtp: SmtpFactory | None = None) -> Plan:
    specs: dict[str, TargetSpec] = {}
    targets_of: dict[str, list[str]] = {}
    resend: dict[str, float] = {}
    bots: dict[str, RateLimit] = {}
    for name, cfg in routes.file.receivers.items():
        secrets = routes.secrets.get(name, {})
        common = {"concurrency": cfg.concurrency, "max_tries": cfg.max_tries}
        if isinstance(cfg, TelegramReceiver):
            token = secrets["token"]
            # the bot-wide limit is shared by every chat (and receiver) of the same bot
            bot = bots.setdefault(
                hashlib.sha256(token.reveal().encode()).hexdigest(), RateLimit(TELEGRAM_BOT_PER_S, TELEGRAM_BOT_PER_S)
            )
            names = []
            for chat in cfg.chats:
                t = TelegramTarget(name, chat, cfg, token, http)
                limits = [RateLimit(TELEGRAM_CHAT_PER_S, 1), bot]
                if is_group(chat):
                    limits.append(RateLimit(TELEGRAM_GROUP_PER_MIN / 60.0, TELEGRAM_GROUP_PER_MIN))
                # one chat, one message at a time: Telegram would refuse parallel ones anyway
                specs[t.name] = TargetSpec(t, limits, concurrency=1, max_tries=cfg.max_tries)
                names.append(t.name)
            targets_of[name] = names
            continue
        if isinstance(cfg, AlertmanagerReceiver):
            target = AlertmanagerTarget(name, cfg, secrets, http)
            specs[name] = TargetSpec(target, [], **common)
            resend[name] = cfg.resend_every_s
        elif isinstance(cfg, SlackReceiver):
            specs[name] = TargetSpec(SlackTarget(name, cfg, secrets, http), [RateLimit(SLACK_PER_S, 1)], **common)
        elif isinstance(cfg, EmailReceiver):
            specs[name] = TargetSpec(EmailTarget(name, cfg, secrets, smtp), [], **common)
        elif isinstance(cfg, WebhookReceiver):
            try:
                target = WebhookTarget(name, cfg, secrets, http)
            except BadSecret as exc:
                raise RoutesFileError(f"receivers.{name}.secret: {exc}") from None
            specs[name] = TargetSpec(target, [], **common)
        else:  # pragma: no cover - the routes model admits no other type
            raise AssertionError(type(cfg))
        targets_of[name] = [name]
    return Plan(specs, targets_of, resend)
