"""E-mail over SMTP (STARTTLS, implicit TLS, or plain for a local relay): plain text plus HTML.

Every message of one incident threads in a mail client: its Message-ID is made
from the delivery id, and later messages point at the firing one with
In-Reply-To/References. SMTP's own codes decide retry or not: 4xx is
temporary, 5xx permanent.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime

from services.notifier import render
from services.notifier.receivers.base import Outcome, RenderContext
from services.notifier.routes import EmailReceiver, Secret
from shared.schemas import Alert


def message_id(token: str) -> str:
    return f"<{hashlib.sha256(token.encode()).hexdigest()[:32]}@repwatch>"


def build_message(alert: Alert, delivery_id: str, cfg: EmailReceiver, ctx: RenderContext) -> EmailMessage:
    msg = notice_message(render.notice(alert, ctx.lang, ctx.tz), cfg, ctx)
    thread = message_id(f"{alert.alert_id}:thread")
    if alert.sequence > 0:
        msg["Message-ID"] = message_id(delivery_id)
        msg["In-Reply-To"] = thread
        msg["References"] = thread
    else:
        msg["Message-ID"] = thread
    msg["X-RepWatch-Alert-Id"] = alert.alert_id
    return msg


def notice_message(n: render.Notice, cfg: EmailReceiver, ctx: RenderContext) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = render.email_subject(n)
    msg["From"] = cfg.sender
    msg["To"] = ", ".join(cfg.to)
    msg["Date"] = format_datetime(ctx.now)
    msg.set_content(render.email_plain(n))
    msg.add_alternative(render.email_html(n), subtype="html")
    return msg


def classify_smtp_error(exc: BaseException) -> Outcome:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return Outcome.fail("smtp_auth_failed")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        if codes and all(400 <= c < 500 for c in codes):
            return Outcome.retry("smtp_4xx")
        return Outcome.fail("smtp_recipients_refused")
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        if 400 <= code < 500:
            return Outcome.retry("smtp_4xx")
        if 500 <= code < 600:
            return Outcome.fail("smtp_5xx")
        return Outcome.retry("smtp_error")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return Outcome.fail("smtp_starttls_unsupported")
    if isinstance(exc, ssl.SSLError):
        return Outcome.retry("tls_error")
    if isinstance(exc, TimeoutError):
        return Outcome.retry("timeout")
    if isinstance(exc, smtplib.SMTPException | OSError):
        return Outcome.retry("connection_error")
    raise exc


SmtpFactory = Callable[[EmailReceiver], smtplib.SMTP]


def connect(cfg: EmailReceiver, context: ssl.SSLContext | None = None) -> smtplib.SMTP:
    if context is None and cfg.security != "none":
        # certificate and host name always verified; a private CA is trusted only when named
        context = ssl.create_default_context(cafile=cfg.ca_file)
    if cfg.security == "tls":
        return smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_s, context=context)
    client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
    if cfg.security == "starttls":
        client.starttls(context=context)
    return client


class EmailTarget:
    kind = "email"

    def __init__(
        self, name: str, cfg: EmailReceiver, secrets: dict[str, Secret], factory: SmtpFactory | None = None
    ) -> None:
        self.name = self.receiver = name
        self.cfg = cfg
        self._password = secrets.get("password")
        self._connect = factory or connect

    def deliver(self, alert: Alert, delivery_id: str, ctx: RenderContext) -> Outcome:
        return self.send(build_message(alert, delivery_id, self.cfg, ctx))

    def send(self, msg: EmailMessage) -> Outcome:
        # one connection per message: alerts are rare and a long-lived SMTP session
        # would be dropped by the server between them anyway
        try:
            client = self._connect(self.cfg)
            try:
                if self.cfg.username and self._password is not None:
                    client.login(self.cfg.username, self._password.reveal())
                client.send_message(msg)
            finally:
                try:
                    client.quit()
                except (smtplib.SMTPException, OSError):
                    client.close()
        except (smtplib.SMTPException, OSError) as exc:
            return classify_smtp_error(exc)
        return Outcome.ok()
