"""The decision rule: from three probabilities to the label every detector counts on.

Why a rule of its own and not the argmax: a complaint called neutral is never part of
a spike, never flagged when the brand deletes it and never waits for an answer, so a
reputation team would rather read a few false alarms than miss complaints. The rule has
two parts, both fitted on the val splits by ``services.sentiment.model_build.calibrate``
and shipped inside the model (``config.json`` → ``repwatch_decision_rule``):

1. **Temperature** T: the model's probabilities are re-scaled as softmax(log p / T),
   which is softmax(logits / T). It changes no argmax, only how sure the model says it
   is, so that "P(negative) = 0.3" means about the same in every language and the
   probabilities written into each ScoredMention can be used by people's own rules.
2. **A negative threshold per language** (ISO 639-1, as the language detector reports
   it): a text is negative as soon as its calibrated P(negative) reaches its
   language's threshold, else it gets the argmax. Each threshold is the one that
   reaches the target negative recall on that language's val data at the smallest
   macro-F1 cost; languages without val data (and texts whose language could not be
   detected) use the ``fallback``.

Pure: numpy in, numpy out; no model, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ARGMAX", "RULE_VERSION", "DecisionRule", "DecisionRuleError"]

RULE_VERSION = 1


class DecisionRuleError(ValueError):
    """A shipped or configured rule that cannot be applied (the message says which field)."""


def _threshold(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < float(value) <= 1.0:
        raise DecisionRuleError(f"decision rule: {name} must be a number in (0, 1], not {value!r}")
    return float(value)


@dataclass(frozen=True)
class DecisionRule:
    #: probabilities are re-scaled as softmax(log p / temperature); 1.0 leaves them as they are
    temperature: float = 1.0
    #: negative threshold per detected language (ISO 639-1)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    #: threshold for every other language and for undetected ones; None: argmax there
    fallback: float | None = None
    #: the negative recall the thresholds were fitted to reach (information only)
    target_recall: float | None = None

    def __post_init__(self) -> None:
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or not 0.05 <= t <= 20:
            raise DecisionRuleError(f"decision rule: temperature must be in [0.05, 20], not {t!r}")
        for lang, value in self.thresholds.items():
            if not isinstance(lang, str) or not lang:
                raise DecisionRuleError(f"decision rule: language keys must be non-empty strings, not {lang!r}")
            _threshold(f"threshold of {lang!r}", value)
        if self.fallback is not None:
            _threshold("fallback", self.fallback)

    def calibrate(self, probs: np.ndarray) -> np.ndarray:
        """(n, 3) probabilities re-scaled by the temperature (rows still sum to 1)."""
        probs = np.asarray(probs, dtype=np.float64)
        if self.temperature == 1.0 or probs.size == 0:
            return probs
        # log of a probability that underflowed to 0 would be -inf: clip first
        z = np.log(np.clip(probs, 1e-12, 1.0)) / self.temperature
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def decide(self, calibrated: np.ndarray, langs: Sequence[str | None]) -> np.ndarray:
        """Class ids (0 negative, 1 neutral, 2 positive) of *calibrated* probabilities."""
        calibrated = np.asarray(calibrated)
        if len(langs) != len(calibrated):
            raise ValueError(f"{len(calibrated)} rows of probabilities but {len(langs)} languages")
        labels = np.argmax(calibrated, axis=1) if calibrated.size else np.zeros(0, dtype=np.int64)
        if not self.thresholds and self.fallback is None:
            return labels
        fallback = np.inf if self.fallback is None else self.fallback
        get = self.thresholds.get
        # one dict look-up per text: the only per-text Python here (~0.3 µs)
        cut = np.fromiter((get(lang, fallback) for lang in langs), dtype=np.float64, count=len(langs))
        return np.where(calibrated[:, 0] >= cut, 0, labels)

    def with_threshold(self, threshold: float | None) -> DecisionRule:
        """The same calibration with one threshold for every language (None: argmax)."""
        return DecisionRule(self.temperature, {}, threshold, None)

    # -- the shipped form (config.json "repwatch_decision_rule")

    def to_json(self) -> dict[str, Any]:
        return {
            "version": RULE_VERSION,
            "temperature": round(self.temperature, 6),
            "thresholds": {k: round(v, 4) for k, v in sorted(self.thresholds.items())},
            "fallback": None if self.fallback is None else round(self.fallback, 4),
            "target_recall": self.target_recall,
        }

    @classmethod
    def from_json(cls, data: Any) -> DecisionRule:
        if not isinstance(data, Mapping):
            raise DecisionRuleError(f"decision rule must be an object, not {type(data).__name__}")
        if data.get("version") != RULE_VERSION:
            raise DecisionRuleError(
                f"decision rule version {data.get('version')!r}; this code reads version {RULE_VERSION}"
            )
        thresholds = data.get("thresholds") or {}
        if not isinstance(thresholds, Mapping):
            raise DecisionRuleError("decision rule: thresholds must be an object of language -> threshold")
        temperature = data.get("temperature", 1.0)
        if isinstance(temperature, int) and not isinstance(temperature, bool):
            temperature = float(temperature)
        target = data.get("target_recall")
        return cls(
            temperature=temperature,
            thresholds={str(k): v for k, v in thresholds.items()},
            fallback=data.get("fallback"),
            target_recall=float(target) if isinstance(target, int | float) and not isinstance(target, bool) else None,
        )


ARGMAX = DecisionRule()
