"""Mapping a model's own output labels onto negative / neutral / positive.

Models label their classes in many ways: names ("negative", "NEG"), bare
indices ("LABEL_0"), or 1-5 star ratings. A mapping is a matrix ``M`` of shape
(num_model_labels, 3) so that ``probs3 = probs @ M``: several model classes can
pour into one of ours (1 and 2 stars are both negative).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import torch

from shared.schemas import SentimentLabel

OURS = (SentimentLabel.NEGATIVE, SentimentLabel.NEUTRAL, SentimentLabel.POSITIVE)

_SYNONYMS: dict[str, SentimentLabel] = {
    "negative": SentimentLabel.NEGATIVE,
    "neg": SentimentLabel.NEGATIVE,
    "bad": SentimentLabel.NEGATIVE,
    "neutral": SentimentLabel.NEUTRAL,
    "neu": SentimentLabel.NEUTRAL,
    "positive": SentimentLabel.POSITIVE,
    "pos": SentimentLabel.POSITIVE,
    "good": SentimentLabel.POSITIVE,
}

_STARS = re.compile(r"^([1-5])\s*stars?$")


class LabelMappingError(ValueError):
    pass


def parse_label_map(spec: str) -> dict[str, SentimentLabel]:
    """Parse ``REPWATCH_SENTIMENT_LABEL_MAP``: ``"LABEL_0=negative,LABEL_1=neutral,..."``."""
    out: dict[str, SentimentLabel] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        if "=" not in part:
            raise LabelMappingError(f"label map entry {part!r} is not MODEL_LABEL=negative|neutral|positive")
        key, value = (s.strip() for s in part.split("=", 1))
        try:
            out[key] = SentimentLabel(value.lower())
        except ValueError:
            raise LabelMappingError(f"label map entry {part!r}: {value!r} is not negative|neutral|positive") from None
    return out


def _guess(label: str, index: int, num_labels: int) -> SentimentLabel | None:
    norm = label.strip().lower()
    if norm in _SYNONYMS:
        return _SYNONYMS[norm]
    star = _STARS.match(norm)
    if star and num_labels == 5:
        n = int(star.group(1))
        return OURS[0] if n <= 2 else OURS[1] if n == 3 else OURS[2]
    # "LABEL_i" carries no meaning by itself; the three-class convention
    # (0 negative, 1 neutral, 2 positive) is what cardiffnlp-style models use.
    if norm == f"label_{index}" and num_labels == 3:
        return OURS[index]
    return None


def mapping_matrix(id2label: Mapping[int, str], override: Mapping[str, SentimentLabel] | None = None) -> torch.Tensor:
    """Build the (num_labels, 3) matrix, or explain which labels could not be mapped."""
    num = len(id2label)
    matrix = torch.zeros(num, 3)
    unknown: list[str] = []
    for index in range(num):
        label = id2label[index]
        ours = (override or {}).get(label) or _guess(label, index, num)
        if ours is None:
            unknown.append(f"{index}:{label!r}")
            continue
        matrix[index, OURS.index(ours)] = 1.0
    if unknown:
        raise LabelMappingError(
            f"cannot map model labels {', '.join(unknown)} to negative/neutral/positive; "
            "set REPWATCH_SENTIMENT_LABEL_MAP, e.g. 'LABEL_0=negative,LABEL_1=neutral,LABEL_2=positive'"
        )
    if override:
        stray = set(override) - set(id2label.values())
        if stray:
            raise LabelMappingError(f"label map names labels the model does not have: {sorted(stray)}")
    return matrix


def decide_labels(probs: np.ndarray, negative_threshold: float | None = None) -> np.ndarray:
    """Indices into :data:`OURS` for each row of (n, 3) probabilities.

    Argmax by default. With ``negative_threshold`` t, a text is negative whenever
    P(negative) >= t, even if another label is more likely: a reputation team
    would rather read a few false alarms than miss a complaint. Lower t trades
    precision (and macro-F1) for negative recall.
    """
    labels = np.argmax(probs, axis=1)
    if negative_threshold is not None:
        labels = np.where(probs[:, 0] >= negative_threshold, 0, labels)
    return labels
