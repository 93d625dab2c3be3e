"""What the alerting worker counts for the reputation dashboard: mentions, removals, alerts and
reply times per brand, with the brand label bounded by the brands file. No Kafka."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.metric_defs import UNLISTED_BRAND
from shared.schemas import AlertKind, AlertStatus, Sentiment, SentimentLabel
from tests.factories import T0, mention, scored
from tests.services.alerting.test_processor import alerts_of, make, rec


@pytest.fixture
def brands_file(tmp_path):
    path = tmp_path / "brands.yaml"
    path.write_text("brands:\n  acme:\n    owned_channels: {vk: [vk:club_acme]}\n", encoding="utf-8")
    return str(path)


def samples(metric, suffix: str = "_total") -> dict[tuple[str, ...], float]:
    """Label values -> value of a metric's samples named ``<name><suffix>``."""
    out = {}
    for family in metric.collect():
        for s in family.samples:
            if s.name == family.name + suffix:
                out[tuple(v for k, v in s.labels.items() if k != "le")] = s.value
    return out


def with_lang(event, lang: str | None, label: str = "negative"):
    probs = {"negative": 0.1, "neutral": 0.1, "positive": 0.1, label: 0.8}
    return event.model_copy(update={"sentiment": Sentiment(label=SentimentLabel(label), model="t", lang=lang, **probs)})


def test_new_mentions_are_counted_by_listed_brand_platform_language_and_label(brands_file):
    proc = make(brands_file=brands_file)
    batch = [
        with_lang(scored(mention(1)), "ru"),
        with_lang(scored(mention(2)), "ru"),
        with_lang(scored(mention(3, platform="telegram", channel="tg:acme")), "tlh", "positive"),  # not in the list
        with_lang(scored(mention(4, brand="globex")), "en", "neutral"),  # globex is not in the brands file
        scored(mention(5, lang="de"), "negative"),  # no detected language: the source's
        # neither counts as a new mention: the brand's own post, an edit
        scored(mention(6, author_id="acme", author_is_brand=True), "neutral"),
        scored(mention(1, event_type="edited", at=T0 + timedelta(seconds=9)), "negative"),
    ]
    proc([rec(e, i) for i, e in enumerate(batch)])
    assert samples(proc.metrics.mentions) == {
        ("acme", "vk", "ru", "negative"): 2,
        ("acme", "telegram", "other", "positive"): 1,
        (UNLISTED_BRAND, "vk", "en", "neutral"): 1,
        ("acme", "vk", "de", "negative"): 1,
    }
    # the per-label total still counts every event seen
    assert sum(samples(proc.metrics.observed).values()) == len(batch)


def test_each_label_set_is_updated_once_per_batch_not_per_event(brands_file):
    proc = make(brands_file=brands_file)
    calls = []
    real = proc.metrics.mentions.labels
    proc.metrics.mentions.labels = lambda *values: calls.append(values) or real(*values)
    proc([rec(with_lang(scored(mention(i)), "en"), i) for i in range(50)])
    assert calls == [("acme", "vk", "en", "negative")]
    assert samples(proc.metrics.mentions) == {("acme", "vk", "en", "negative"): 50}


def test_removals_are_counted_by_actor_and_a_brand_deletion_is_an_alert_with_its_brand(brands_file):
    proc = make(brands_file=brands_file)
    complaint = scored(mention(1, text="refund me now"), "negative")
    by_brand = scored(mention(1, event_type="deleted", actor="brand", text="", at=T0 + timedelta(minutes=1)), None)
    hidden = scored(mention(7, event_type="hidden", text="", at=T0 + timedelta(minutes=2)), None)
    by_author = scored(mention(8, brand="globex", event_type="deleted", actor="author", text=""), None)
    result = proc([rec(e, i) for i, e in enumerate([complaint, by_brand, hidden, by_author])])
    assert samples(proc.metrics.removed) == {
        ("acme", "vk", "deleted", "brand"): 1,
        ("acme", "vk", "hidden", "unknown"): 1,
        (UNLISTED_BRAND, "vk", "deleted", "author"): 1,
    }
    fired = [a for a in alerts_of(result) if a.kind is AlertKind.DELETED_COMPLAINT]
    assert [a.status for a in fired] == [AlertStatus.FIRING]
    counted = samples(proc.metrics.alerts)
    assert counted == {("acme", "deleted_complaint", fired[0].severity.value, "firing"): 1}


def test_reply_times_are_observed_per_brand(brands_file):
    proc = make(brands_file=brands_file)
    events = []
    for brand, i in (("acme", 0), ("globex", 10)):
        channel = f"vk:club_{brand}"
        events += [
            scored(mention(i, brand=brand, author_id=brand, author_is_brand=True, channel=channel), "neutral"),
            scored(mention(i + 1, brand=brand, channel=channel, text="my order is late"), "negative"),
            scored(
                mention(
                    i + 2,
                    brand=brand,
                    channel=channel,
                    author_id=brand,
                    author_is_brand=True,
                    parent_id=f"m{i + 1}",
                    at=T0 + timedelta(seconds=i + 1, minutes=50),
                ),
                "neutral",
            ),
        ]
    proc([rec(e, i) for i, e in enumerate(events)])
    assert samples(proc.metrics.reply, "_count") == {("acme",): 1, (UNLISTED_BRAND,): 1}
    assert samples(proc.metrics.reply, "_sum") == {("acme",): 3000.0, (UNLISTED_BRAND,): 3000.0}
    # inside the one-hour SLA: counted by the 3600 s bucket, not by the 2700 s one
    buckets = {
        s.labels["le"]: s.value
        for f in proc.metrics.reply.collect()
        for s in f.samples
        if s.name.endswith("_bucket") and s.labels["brand"] == "acme"
    }
    assert buckets["2700.0"] == 0 and buckets["3600.0"] == 1
