from datetime import datetime, timezone

from prometheus_client import CollectorRegistry

from services.sentiment.processor import SentimentProcessor
from shared.kafka.transport import Record
from shared.schemas import ScoredMention, Sentiment, SentimentLabel
from tests.factories import mention

NOW = datetime(2026, 11, 26, tzinfo=timezone.utc)


class EchoScorer:
    """Labels each text by a keyword, so alignment mistakes are visible."""

    def __init__(self):
        self.calls = []

    def score(self, texts):
        self.calls.append(list(texts))
        out = []
        for t in texts:
            label = SentimentLabel.NEGATIVE if "bad" in t else SentimentLabel.POSITIVE
            out.append(
                Sentiment(
                    label=label,
                    negative=0.9 if label == "negative" else 0.05,
                    neutral=0.05,
                    positive=0.05 if label == "negative" else 0.9,
                    model="echo",
                    lang="en",
                )
            )
        return out


def record(value, offset):
    return Record("mentions.raw", 0, offset, b"acme", value)


def test_order_kept_lifecycle_passed_through_bad_records_dead_lettered():
    scorer = EchoScorer()
    proc = SentimentProcessor(scorer, "mentions.scored", "sentiment", CollectorRegistry(), lambda: NOW, 100_000)
    events = [
        mention(1, text="bad service"),
        mention(2, event_type="deleted", text=""),
        mention(3, text="good"),
        mention(4, event_type="edited", text="bad again"),
        mention(5, event_type="hidden", text=""),
        mention(6, event_type="restored", text=""),
    ]
    recs = [record(e.to_bytes(), i) for i, e in enumerate(events)]
    recs.insert(2, record(b'{"oops": 1}', 99))
    result = proc(recs)
    assert scorer.calls == [["bad service", "good", "bad again"]]  # one model call per batch
    out = [ScoredMention.model_validate_json(o.value) for o in result.outputs]
    assert [s.mention for s in out] == events
    assert [s.sentiment.label.value if s.sentiment else None for s in out] == [
        "negative",
        None,
        "positive",
        "negative",
        None,
        None,
    ]
    assert all(o.key == b"acme" and o.topic == "mentions.scored" for o in result.outputs)
    assert [(d.reason, d.source_offset) for d in result.dead_letters] == [("schema_invalid", 99)]
