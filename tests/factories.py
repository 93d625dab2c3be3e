"""Builders of valid events for tests (one place, so schema changes touch one file)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from shared.schemas import MentionEvent, ScoredMention, Sentiment, SentimentLabel

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def mention(i: int = 0, *, at: datetime | None = None, **overrides: Any) -> MentionEvent:
    occurred = at or T0 + timedelta(seconds=i)
    fields: dict[str, Any] = {
        "event_type": "created",
        "platform": "vk",
        "brand": "acme",
        "channel": "vk:club_acme",
        "mention_id": f"m{i}",
        "author_id": f"u{i}",
        "text": f"comment number {i}",
        "occurred_at": occurred,
        "ingested_at": occurred,
    }
    fields.update(overrides)
    return MentionEvent.model_validate(fields)


def scored(event: MentionEvent, label: str | None = "negative") -> ScoredMention:
    sentiment = None
    if label is not None:
        probs = {"negative": 0.1, "neutral": 0.1, "positive": 0.1}
        probs[label] = 0.8
        sentiment = Sentiment(label=SentimentLabel(label), model="test", **probs)
    return ScoredMention(mention=event, sentiment=sentiment, scored_at=event.occurred_at)
