"""What a person reads: one :class:`Notice` per alert, then one formatter per channel.

A notice says what happened, how sure the detector is, and what to do next, with
links to the evidence mentions, in the brand's language (English or Russian;
others read English). In English "what happened" is the detector's own message,
which is the most precise; in Russian it is written here from the alert's counts,
so a Russian-speaking team never reads a mix of languages.

Formatters keep each channel's limits, by dropping evidence links first and
cutting long text last (with an ellipsis), never by cutting markup in half:
Telegram at most 4096 characters of HTML with only the tags it accepts; Slack a
``text`` fallback plus blocks (header <= 150, section text <= 3000, <= 50 blocks);
e-mail a plain-text and an HTML part; Alertmanager labels and annotations.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.schemas import Alert, AlertKind, AlertStatus, Severity

LANGUAGES = ("en", "ru")


def language_of(setting: str | None) -> str:
    """``ru``, ``ru-RU`` -> ru; anything else (or nothing) -> en."""
    s = (setting or "en").lower()
    return "ru" if s.startswith("ru") else "en"


def plural_ru(n: int, one: str, few: str, many: str) -> str:
    """Russian plural forms: 1 жалоба, 2 жалобы, 5 жалоб, 21 жалоба, 11 жалоб."""
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


KIND_TITLE = {
    "en": {
        AlertKind.NEGATIVITY_SPIKE: "Negativity spike",
        AlertKind.VOLUME_SURGE: "Volume surge",
        AlertKind.DELETED_COMPLAINT: "Complaint removed",
        AlertKind.RETURNING_COMPLAINANT: "Removed complaint is back",
        AlertKind.DELETION_BIAS: "Criticism removed more than other posts",
        AlertKind.UNANSWERED_COMPLAINT: "Complaints without an answer",
        AlertKind.SILENT_COMMUNITY: "Silent channel",
    },
    "ru": {
        AlertKind.NEGATIVITY_SPIKE: "Всплеск негатива",
        AlertKind.VOLUME_SURGE: "Всплеск упоминаний",
        AlertKind.DELETED_COMPLAINT: "Жалоба удалена",
        AlertKind.RETURNING_COMPLAINANT: "Удалённая жалоба вернулась",
        AlertKind.DELETION_BIAS: "Критику удаляют чаще прочего",
        AlertKind.UNANSWERED_COMPLAINT: "Жалобы без ответа",
        AlertKind.SILENT_COMMUNITY: "Канал молчит",
    },
}
STATUS_WORD = {
    "en": {AlertStatus.FIRING: "New", AlertStatus.UPDATED: "Escalated", AlertStatus.RESOLVED: "Resolved"},
    "ru": {AlertStatus.FIRING: "Новый", AlertStatus.UPDATED: "Обострение", AlertStatus.RESOLVED: "Закрыт"},
}
STATUS_ICON = {AlertStatus.FIRING: "🔴", AlertStatus.UPDATED: "🟠", AlertStatus.RESOLVED: "✅"}
SEVERITY_WORD = {
    "en": {Severity.INFO: "info", Severity.WARNING: "warning", Severity.CRITICAL: "critical"},
    "ru": {Severity.INFO: "инфо", Severity.WARNING: "важно", Severity.CRITICAL: "критично"},
}
LABELS = {
    "en": {
        "how_sure": "How sure",
        "next": "What to do",
        "evidence": "Evidence",
        "started": "Started",
        "no_link": "no link",
        "test": "Test message from RepWatch: this route works.",
    },
    "ru": {
        "how_sure": "Уверенность",
        "next": "Что сделать",
        "evidence": "Упоминания",
        "started": "Начало",
        "no_link": "без ссылки",
        "test": "Тестовое сообщение RepWatch: маршрут работает.",
    },
}
ROLE_WORD = {
    "en": {},
    "ru": {
        "removed": "удалено",
        "returned": "вернулось",
        "unanswered": "без ответа",
        "answered": "отвечено",
        "example": "пример",
    },
}


@dataclass(frozen=True, slots=True)
class Link:
    url: str | None
    text: str
    role: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Everything a message says, in one language, before any channel's formatting."""

    lang: str
    status: AlertStatus
    severity: Severity
    title: str
    brand: str
    channel: str | None
    started: str | None
    happened: str
    confidence: str | None
    next_step: str
    links: list[Link] = field(default_factory=list)

    @property
    def headline(self) -> str:
        word = STATUS_WORD[self.lang][self.status]
        sev = SEVERITY_WORD[self.lang][self.severity]
        return f"{STATUS_ICON[self.status]} {word}: {self.title} · {self.brand} · {sev}"


def _count(alert: Alert, key: str, default: int = 0) -> int:
    return int(alert.evidence.counts.get(key, default))


def _happened_ru(alert: Alert) -> str:
    ev, ch, b = alert.evidence, alert.channel or "—", alert.brand
    k = alert.kind
    if alert.status is AlertStatus.RESOLVED:
        return f"Инцидент «{KIND_TITLE['ru'][k]}» у {b} на {ch} закрыт: условие больше не выполняется."
    if k in (AlertKind.NEGATIVITY_SPIKE, AlertKind.VOLUME_SURGE):
        n = _count(alert, "distinct_negative_authors", int(ev.observed or 0))
        mins = _count(alert, "window_minutes", 0)
        exp = f" при ожидаемых {ev.expected:.1f}" if ev.expected is not None else ""
        who = plural_ru(n, "автор", "автора", "авторов")
        wrote = plural_ru(n, "написал", "написали", "написали")
        text = f"{n} {who} {wrote} негатив о {b} за {mins} мин{exp}."
        if k is AlertKind.VOLUME_SURGE:
            text += " Выросло всё обсуждение, доля негатива не выросла."
        return text
    if k is AlertKind.DELETED_COMPLAINT:
        risk = f" (риск {ev.score:.2f} из 1)" if ev.score is not None else ""
        author = next((m.author_id for m in ev.mentions if m.author_id), None)
        by = f" от {author}" if author else ""
        return f"Жалоба{by} на канале {ch} удалена или скрыта{risk}."
    if k is AlertKind.RETURNING_COMPLAINANT:
        n = _count(alert, "returned", 1)
        acc = _count(alert, "accounts", 1)
        return (
            f"Удалённая жалоба на {ch} появилась снова: {n} {plural_ru(n, 'раз', 'раза', 'раз')}, "
            f"с {acc} {plural_ru(acc, 'аккаунта', 'аккаунтов', 'аккаунтов')}."
        )
    if k is AlertKind.DELETION_BIAS:
        rn, an = _count(alert, "removed_negative"), _count(alert, "appeared_negative")
        ro, ao = _count(alert, "removed_other"), _count(alert, "appeared_other")
        days = _count(alert, "window_days", 7)
        return f"На {ch} за {days} дн. удалено {rn} из {an} негативных упоминаний и лишь {ro} из {ao} прочих."
    if k is AlertKind.UNANSWERED_COMPLAINT:
        n = _count(alert, "overdue", int(ev.observed or 0))
        what = plural_ru(n, "жалоба или вопрос", "жалобы или вопроса", "жалоб или вопросов")
        wait = f"; самое долгое ожидание {ev.score:g} мин" if ev.score is not None else ""
        return f"{n} {what} на {ch} без ответа бренда дольше срока{wait}."
    if k is AlertKind.SILENT_COMMUNITY:
        days = _count(alert, "days_silent")
        since = _count(alert, "mentions_since")
        return f"{b} ничего не публиковал на {ch} {days} дн.; за это время {since} упоминаний."
    return alert.message


def _confidence(alert: Alert, lang: str) -> str | None:
    if alert.status is AlertStatus.RESOLVED:
        return None
    ev, ru = alert.evidence, lang == "ru"
    if ev.p_value is not None and ev.p_value > 0:
        odds = 1 / ev.p_value
        level = ("очень высокая" if ru else "very high") if odds >= 1e6 else ("высокая" if ru else "high")
        if odds < 1e4:
            level = "умеренная" if ru else "moderate"
        shown = f"{odds:,.0f}" if odds < 1e12 else f"10^{math.log10(odds):.0f}"
        obs = ""
        if ev.observed is not None and ev.expected is not None:
            obs = (
                f"; {ev.observed:g} при ожидаемых {ev.expected:.1f}"
                if ru
                else f"; {ev.observed:g} seen vs {ev.expected:.1f} expected"
            )
        if ru:
            return f"{level}: случайно так бывает реже 1 раза из {shown}{obs}"
        return f"{level}: chance of this by luck is below 1 in {shown}{obs}"
    if alert.kind in (AlertKind.UNANSWERED_COMPLAINT, AlertKind.SILENT_COMMUNITY):
        return "факт: срок прошёл" if ru else "certain: the deadline has passed"
    if ev.score is not None:
        if alert.kind is AlertKind.DELETED_COMPLAINT:
            return f"оценка риска {ev.score:.2f} из 1" if ru else f"risk score {ev.score:.2f} of 1"
        if alert.kind is AlertKind.RETURNING_COMPLAINANT:
            return f"сходство текстов {ev.score:.2f}" if ru else f"text similarity {ev.score:.2f}"
        return f"оценка {ev.score:.2f}" if ru else f"score {ev.score:.2f}"
    return None


def _next_step(alert: Alert, lang: str) -> str:
    ru = lang == "ru"
    if alert.status is AlertStatus.RESOLVED:
        return "Ничего: инцидент закрыт." if ru else "Nothing: the incident is closed."
    k = alert.kind
    if k is AlertKind.UNANSWERED_COMPLAINT:
        n = _count(alert, "overdue", int(alert.evidence.observed or 0))
        if ru:
            return f"Ответьте на {plural_ru(n, 'эту', 'эти', 'эти')} {n} {plural_ru(n, 'жалобу', 'жалобы', 'жалоб')}."
        return f"Answer {'this complaint' if n == 1 else f'these {n} complaints'}."
    if k is AlertKind.DELETED_COMPLAINT:
        if alert.severity is Severity.INFO:  # the author removed it themselves
            return (
                "Проверьте, что проблема действительно решена." if ru else "Check that the problem was really solved."
            )
        return (
            "Восстановите скрытый комментарий и ответьте публично."
            if ru
            else "Restore the hidden comment and reply publicly."
        )
    steps = {
        AlertKind.NEGATIVITY_SPIKE: (
            "Read the examples, look for a common cause (outage, billing, delivery) and answer publicly.",
            "Прочитайте примеры, найдите общую причину (сбой, оплата, доставка) и ответьте публично.",
        ),
        AlertKind.VOLUME_SURGE: (
            "Check what drew the attention (a campaign, a viral post); nothing to do if it was expected.",
            "Проверьте, что привлекло внимание (кампания, вирусный пост); если это ожидалось — ничего.",
        ),
        AlertKind.RETURNING_COMPLAINANT: (
            "Do not remove it again: reply publicly and solve the complaint.",
            "Не удаляйте снова: ответьте публично и решите проблему.",
        ),
        AlertKind.DELETION_BIAS: (
            "Review moderation on this channel: remove spam, not criticism; restore removed complaints.",
            "Проверьте модерацию канала: удаляйте спам, а не критику; восстановите удалённые жалобы.",
        ),
        AlertKind.SILENT_COMMUNITY: (
            "Post on the channel or answer the people there.",
            "Опубликуйте пост или ответьте людям в канале.",
        ),
    }
    en_text, ru_text = steps.get(k, ("Look at the evidence below.", "Посмотрите упоминания ниже."))
    return ru_text if ru else en_text


def _started(alert: Alert, tz: str) -> str | None:
    if alert.started_at is None:
        return None
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return alert.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _excerpt(text: str, limit: int = 140) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def notice(alert: Alert, lang: str = "en", tz: str = "UTC") -> Notice:
    lang = language_of(lang)
    links = [
        Link(m.url, _excerpt(m.text) or m.mention_id, ROLE_WORD[lang].get(m.role, m.role))
        for m in alert.evidence.mentions
    ]
    return Notice(
        lang=lang,
        status=alert.status,
        severity=alert.severity,
        title=KIND_TITLE[lang].get(alert.kind, alert.kind.value),
        brand=alert.brand,
        channel=alert.channel,
        started=_started(alert, tz),
        happened=alert.message if lang == "en" else _happened_ru(alert),
        confidence=_confidence(alert, lang),
        next_step=_next_step(alert, lang),
        links=links,
    )


def check_notice(route: str, lang: str = "en") -> Notice:
    """What ``repwatch notify-test`` sends: clearly a test, in the route's language."""
    lang = language_of(lang)
    return Notice(
        lang=lang,
        status=AlertStatus.FIRING,
        severity=Severity.INFO,
        title=f"RepWatch test ({route})",
        brand="repwatch",
        channel=None,
        started=None,
        happened=LABELS[lang]["test"],
        confidence=None,
        next_step="—",
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def _shrink(n: Notice, build: Any, fits: Any) -> Any:
    """Build the message; while it does not fit, drop evidence links, then cut the text."""
    out = build(n)
    while not fits(out) and n.links:
        n = replace(n, links=n.links[:-1])
        out = build(n)
    limit = len(n.happened)
    while not fits(out) and limit > 20:
        limit = limit * 3 // 4
        out = build(replace(n, happened=_cut(n.happened, limit)))
    return out


# --- Telegram ------------------------------------------------------------------------------------------------

TELEGRAM_MAX = 4096


def _utf16_len(text: str) -> int:
    # Telegram counts UTF-16 code units; an emoji is two
    return len(text.encode("utf-16-le")) // 2


def _tg_body(n: Notice) -> str:
    e = html.escape
    lab = LABELS[n.lang]
    lines = [f"<b>{e(n.headline)}</b>"]
    where = " · ".join(x for x in (n.channel, f"{lab['started']} {n.started}" if n.started else None) if x)
    if where:
        lines.append(e(where))
    lines += ["", e(n.happened)]
    if n.confidence:
        lines.append(f"<b>{e(lab['how_sure'])}:</b> {e(n.confidence)}")
    lines.append(f"<b>{e(lab['next'])}:</b> {e(n.next_step)}")
    if n.links:
        lines += ["", f"<b>{e(lab['evidence'])}:</b>"]
        for link in n.links:
            text = e(link.text)
            item = f'<a href="{e(link.url, quote=True)}">{text}</a>' if link.url else text
            lines.append(f"• {item} <i>({e(link.role)})</i>")
    return "\n".join(lines)


def telegram_html(n: Notice) -> str:
    """HTML for ``sendMessage`` with ``parse_mode=HTML``: only <b>, <i>, <a href>; every text escaped."""
    return _shrink(n, _tg_body, lambda s: _utf16_len(s) <= TELEGRAM_MAX)


# --- Slack ---------------------------------------------------------------------------------------------------

SLACK_HEADER_MAX = 150
SLACK_SECTION_MAX = 3000
SLACK_BLOCKS_MAX = 50
SLACK_TEXT_MAX = 3000  # Slack truncates `text` far above this; a notification preview needs far less


def _mrkdwn(text: str) -> str:
    # Slack's three control characters; everything else is literal
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_url(url: str) -> str:
    # inside <url|label> a '|' or '>' in the URL would end it early
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C").replace(" ", "%20")


def _slack_link(link: Link) -> str:
    label = _mrkdwn(link.text).replace("|", "¦")
    item = f"<{_slack_url(link.url)}|{label}>" if link.url else label
    return f"• {item} _({_mrkdwn(link.role)})_"


def _slack_build(n: Notice) -> dict[str, Any]:
    lab = LABELS[n.lang]
    context = " · ".join(x for x in (n.channel, f"{lab['started']} {n.started}" if n.started else None) if x)
    facts = [f"*{_mrkdwn(lab['next'])}:* {_mrkdwn(n.next_step)}"]
    if n.confidence:
        facts.insert(0, f"*{_mrkdwn(lab['how_sure'])}:* {_mrkdwn(n.confidence)}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(n.headline, SLACK_HEADER_MAX), "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(_mrkdwn(n.happened), SLACK_SECTION_MAX)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut("\n".join(facts), SLACK_SECTION_MAX)}},
    ]
    if context:
        blocks.insert(1, {"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(context)}]})
    if n.links:
        # one section per ~3000 characters of links, never more blocks than Slack takes
        chunk: list[str] = [f"*{_mrkdwn(lab['evidence'])}:*"]
        for line in (_slack_link(lk) for lk in n.links):
            if sum(len(x) + 1 for x in chunk) + len(line) > SLACK_SECTION_MAX:
                blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
                chunk = []
            chunk.append(_cut(line, SLACK_SECTION_MAX))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
    text = _cut(f"{n.headline}: {n.happened}", SLACK_TEXT_MAX)
    return {"text": _mrkdwn(text), "blocks": blocks[:SLACK_BLOCKS_MAX]}


def slack_payload(n: Notice) -> dict[str, Any]:
    """An incoming-webhook body: ``text`` (notifications, screen readers) plus blocks."""
    return _slack_build(n)


# --- e-mail --------------------------------------------------------------------------------------------------


def email_subject(n: Notice) -> str:
    word = STATUS_WORD[n.lang][n.status]
    sev = SEVERITY_WORD[n.lang][n.severity]
    return _cut(f"[RepWatch] {word}: {n.title} · {n.brand} · {sev}", 200)


def email_plain(n: Notice) -> str:
    lab = LABELS[n.lang]
    lines = [n.headline]
    if n.channel:
        lines.append(n.channel)
    if n.started:
        lines.append(f"{lab['started']}: {n.started}")
    lines += ["", n.happened, ""]
    if n.confidence:
        lines.append(f"{lab['how_sure']}: {n.confidence}")
    lines.append(f"{lab['next']}: {n.next_step}")
    if n.links:
        lines += ["", f"{lab['evidence']}:"]
        lines += [f"- {lk.text} ({lk.role}): {lk.url or lab['no_link']}" for lk in n.links]
    return "\n".join(lines) + "\n"


def _html_link(lk: Link) -> str:
    text = html.escape(lk.text)
    return f'<a href="{html.escape(lk.url, quote=True)}">{text}</a>' if lk.url else text


def email_html(n: Notice) -> str:
    e = html.escape
    lab = LABELS[n.lang]
    parts = [f"<h2>{e(n.headline)}</h2>"]
    meta = " · ".join(x for x in (n.channel, f"{lab['started']}: {n.started}" if n.started else None) if x)
    if meta:
        parts.append(f"<p style='color:#666'>{e(meta)}</p>")
    parts.append(f"<p>{e(n.happened)}</p>")
    if n.confidence:
        parts.append(f"<p><b>{e(lab['how_sure'])}:</b> {e(n.confidence)}</p>")
    parts.append(f"<p><b>{e(lab['next'])}:</b> {e(n.next_step)}</p>")
    if n.links:
        items = "".join(f"<li>{_html_link(lk)} <i>({e(lk.role)})</i></li>" for lk in n.links)
        parts.append(f"<p><b>{e(lab['evidence'])}:</b></p><ul>{items}</ul>")
    return f'<!doctype html><html lang="{n.lang}"><body>{"".join(parts)}</body></html>'


# --- Alertmanager --------------------------------------------------------------------------------------------

#: Alertmanager has no hard limit, but its own receivers (Slack, PagerDuty) cut long fields
ANNOTATION_MAX = 4000


def alertmanager_labels(alert: Alert) -> dict[str, str]:
    """Labels identify the alert in Alertmanager (grouping, silences, inhibition). ``incident`` keeps two
    incidents of one kind on one channel apart (two removed complaints are two alerts)."""
    labels = {
        "alertname": alert.kind.value,
        "brand": alert.brand,
        "severity": alert.severity.value,
        "incident": alert.alert_id,
        "source": "repwatch",
    }
    if alert.channel:
        labels["channel"] = alert.channel
    if alert.platform:
        labels["platform"] = alert.platform.value
    return labels


def alertmanager_annotations(n: Notice) -> dict[str, str]:
    ann = {"summary": _cut(n.headline, 300), "description": _cut(n.happened, ANNOTATION_MAX), "next_step": n.next_step}
    if n.confidence:
        ann["confidence"] = n.confidence
    if n.links:
        ann["evidence"] = _cut("\n".join(f"{lk.url or '-'} {lk.text}" for lk in n.links), ANNOTATION_MAX)
    return ann


def first_link(n: Notice) -> str | None:
    return next((lk.url for lk in n.links if lk.url), None)


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")
