"""The sentiment worker's domain step: raw mention records in, scored records out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from prometheus_client import CollectorRegistry

from shared import metric_defs as M
from shared.kafka.transport import BatchResult, Outgoing, Record, decode_or_dead_letter
from shared.schemas import MentionEvent, ScoredMention, Sentiment

#: language label values are bounded: anything else is counted as "other" (the alerting worker
#: counts mentions by language with the same list)
COUNTED_LANGUAGES = M.COUNTED_LANGUAGES


class EngineMetrics:
    """Model-side histograms: how full batches are and how long a forward pass takes."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.batch_size = M.SENTIMENT_BATCH_SIZE.create(registry)
        self.batch_seconds = M.SENTIMENT_BATCH_SECONDS.create(registry)
        self.padded_tokens = M.SENTIMENT_BATCH_TOKENS.create(registry)

    def observe(self, texts: int, tokens: int, seconds: float) -> None:
        self.batch_size.observe(texts)
        self.padded_tokens.observe(tokens)
        self.batch_seconds.observe(seconds)


class Scorer(Protocol):
    def score(self, texts: Sequence[str]) -> list[Sentiment]: ...


class SentimentProcessor:
    """Decode, score created/edited mentions in one call, pass lifecycle events through.

    Output order equals input order, so one brand's events stay in sequence on
    ``mentions.scored`` (they share a key, hence a partition).
    """

    def __init__(
        self,
        scorer: Scorer,
        scored_topic: str,
        worker: str,
        registry: CollectorRegistry,
        clock: Callable[[], datetime],
        max_record_bytes: int,
    ) -> None:
        self._scorer = scorer
        self._topic = scored_topic
        self._worker = worker
        self._clock = clock
        self._max_bytes = max_record_bytes
        self._scored = M.TEXTS_SCORED.create(registry)

    def __call__(self, records: list[Record]) -> BatchResult:
        result = BatchResult()
        events: list[MentionEvent] = []
        for r in records:
            event = decode_or_dead_letter(
                MentionEvent, r, worker=self._worker, max_bytes=self._max_bytes, dead_letters=result.dead_letters
            )
            if event is not None:
                events.append(event)
        to_score = [e for e in events if e.is_scorable]
        scores = iter(self._scorer.score([e.text for e in to_score]))
        now = self._clock()
        for event in events:
            sentiment = next(scores) if event.is_scorable else None
            if sentiment is not None:
                lang = sentiment.lang if sentiment.lang in COUNTED_LANGUAGES else "other"
                self._scored.labels(sentiment.label.value, lang).inc()
            scored = ScoredMention(mention=event, sentiment=sentiment, scored_at=now)
            result.outputs.append(Outgoing(self._topic, event.brand.encode("utf-8"), scored.to_bytes()))
        return result
