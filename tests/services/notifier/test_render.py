from __future__ import annotations

import re
from html.parser import HTMLParser

from services.notifier import render
from tests.services.notifier.alerts import alert


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>"
        self.stack.pop()


def _tags(html: str) -> set[str]:
    p = _Tags()
    p.feed(html)
    assert not p.stack, f"unclosed {p.stack}"
    return set(p.tags)


def test_english_says_what_how_sure_and_what_next_with_links():
    n = render.notice(alert(), "en", "Europe/Moscow")
    assert n.happened.startswith("3 complaints")
    assert n.confidence == "certain: the deadline has passed"
    assert n.next_step == "Answer these 3 complaints."
    assert n.started == "2026-11-26 15:00 MSK"
    assert [lk.url for lk in n.links] == ["https://vk.com/wall-1_0", "https://vk.com/wall-1_1"]


def test_russian_is_russian_throughout():
    n = render.notice(alert(), "ru-RU")
    assert n.lang == "ru"
    assert (
        n.happened
        == "3 жалобы или вопроса на vk:club_acme без ответа бренда дольше срока; самое долгое ожидание 75 мин."
    )
    assert n.next_step == "Ответьте на эти 3 жалобы."
    assert "Новый: Жалобы без ответа" in n.headline
    assert not re.search(r"[A-Za-z]{4,}", n.happened.replace("vk:club_acme", ""))
    spike = alert(
        kind="negativity_spike",
        severity="critical",
        counts={"distinct_negative_authors": 21, "window_minutes": 15},
        p_value=1e-7,
        observed=21.0,
        expected=2.5,
        score=None,
    )
    n = render.notice(spike, "ru")
    assert n.happened == "21 автор написал негатив о acme за 15 мин при ожидаемых 2.5."
    assert n.confidence.startswith("очень высокая: случайно так бывает реже 1 раза из 10,000,000")
    removed = render.notice(alert(kind="deleted_complaint", severity="critical", score=0.82), "ru")
    assert removed.next_step == "Восстановите скрытый комментарий и ответьте публично."
    assert render.notice(alert(status="resolved", sequence=2), "ru").next_step == "Ничего: инцидент закрыт."


def test_plural_ru():
    forms = ("жалоба", "жалобы", "жалоб")
    got = {n: render.plural_ru(n, *forms) for n in (1, 2, 5, 11, 12, 21, 22, 25, 111)}
    assert got == {
        1: "жалоба",
        2: "жалобы",
        5: "жалоб",
        11: "жалоб",
        12: "жалоб",
        21: "жалоба",
        22: "жалобы",
        25: "жалоб",
        111: "жалоб",
    }


def test_telegram_html_is_escaped_balanced_and_within_4096_even_for_huge_alerts():
    text = render.telegram_html(render.notice(alert()))
    assert "&lt;b&gt;#0&lt;/b&gt; &amp; why?" in text  # mention text is data, not markup
    assert '<a href="https://vk.com/wall-1_0">' in text
    assert _tags(text) <= {"b", "i", "a"}
    huge = alert(message="Ы" * 5000 + " <script>", mentions=20)
    out = render.telegram_html(render.notice(huge))
    assert len(out.encode("utf-16-le")) // 2 <= 4096
    assert "<script>" not in out and out.count("…") >= 1
    assert _tags(out) <= {"b", "i", "a"}
    emoji = render.telegram_html(render.notice(alert(message="😀" * 3000)))
    assert len(emoji.encode("utf-16-le")) // 2 <= 4096


def test_slack_payload_within_limits():
    payload = render.slack_payload(render.notice(alert(message="x" * 10_000, mentions=20), "en"))
    assert payload["text"] and len(payload["text"]) <= 3000
    blocks = payload["blocks"]
    assert 0 < len(blocks) <= 50
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
    for b in blocks:
        if b["type"] == "section":
            assert len(b["text"]["text"]) <= 3000
    links = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "<https://vk.com/wall-1_0|Where is my refund &lt;b&gt;#0&lt;/b&gt; &amp; why?>" in links


def test_email_plain_and_html():
    n = render.notice(alert(), "en")
    assert render.email_subject(n) == "[RepWatch] New: Complaints without an answer · acme · warning"
    plain = render.email_plain(n)
    assert "What to do: Answer these 3 complaints." in plain and "https://vk.com/wall-1_1" in plain
    page = render.email_html(n)
    assert "&lt;b&gt;#0" in page and '<a href="https://vk.com/wall-1_0">' in page


def test_alertmanager_labels_and_annotations():
    a = alert(severity="critical")
    labels = render.alertmanager_labels(a)
    assert labels == {
        "alertname": "unanswered_complaint",
        "brand": "acme",
        "severity": "critical",
        "incident": a.alert_id,
        "source": "repwatch",
        "channel": "vk:club_acme",
        "platform": "vk",
    }
    ann = render.alertmanager_annotations(render.notice(a))
    assert set(ann) == {"summary", "description", "next_step", "confidence", "evidence"}
