"""Validation figures for any sentiment model: macro-F1, accuracy, negative recall.

Why: "is the default model good enough, and is model X better?" must be
answered the same way every time, on the same data, with the same label
mapping the worker uses. This is ``make eval``::

    python -m services.sentiment.model_build.evaluate [MODEL_DIR_OR_HUB_ID]
        [--data-dir DIR] [--languages arabic,english,...,russian]
        [--negative-threshold T] [--sweep 0.3,0.35,0.4]

It scores the UMSAB *val* splits (8 languages) and RuSentiTweet (Russian,
positive/neutral/negative only, a validation-only set) and prints one row per
language plus the UMSAB average.

* The model's classes are mapped to negative/neutral/positive by name through
  :func:`services.sentiment.labels.mapping_matrix` (what the worker does), so
  any Hugging Face sequence-classification model works, including 5-star and
  ``LABEL_i`` ones. A ``repwatch_text_prefix`` in its config is prepended,
  again as in the worker.
* Metrics are plain numpy on a confusion matrix (no scikit-learn at run time).
  Macro-F1 is the mean of the three per-class F1 scores (a class never
  predicted and never present scores 0, as scikit-learn's default does).
* Negative recall is reported per language because a missed complaint costs
  more than a false alarm; :func:`decide` is the decision rule that trades
  macro-F1 for it (the worker's ``REPWATCH_SENTIMENT_NEGATIVE_THRESHOLD``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.sentiment.decision import DecisionRule

from .data import (
    EXTRA_SETS,
    LABEL_NAMES,
    RUSSIAN,
    UMSAB_LANGUAGES,
    LabelledTexts,
    default_data_dir,
    load_extra,
    load_rusentitweet,
    load_split,
)

__all__ = [
    "DEFAULT_LANGUAGES",
    "DEFAULT_SWEEP",
    "NEGATIVE",
    "ScoredSet",
    "confusion_matrix",
    "decide",
    "evaluate",
    "format_sweep",
    "format_table",
    "load_eval_sets",
    "main",
    "metrics_from_confusion",
    "metrics_from_probs",
    "rule_metrics",
    "score_sets",
    "summarize",
]

NEGATIVE, NEUTRAL, POSITIVE = 0, 1, 2
#: every val split there is: the UMSAB languages, RuSentiTweet and the extra sets (by name)
DEFAULT_LANGUAGES: tuple[str, ...] = (*UMSAB_LANGUAGES, RUSSIAN, *EXTRA_SETS)
DEFAULT_SWEEP: tuple[float, ...] = (0.25, 0.3, 0.35, 0.4, 0.45)


# --------------------------------------------------------------------------
# the decision rule and the metrics: pure functions, no model involved


def decide(probs: Any, negative_threshold: float | None = None) -> np.ndarray:
    """Class ids (0 negative, 1 neutral, 2 positive) from ``(..., 3)`` probabilities.

    Without a threshold this is the argmax. With one, a text is called
    negative as soon as ``P(negative) >= negative_threshold``, and otherwise
    gets the argmax: a threshold below the usual winning margin buys negative
    recall (fewer missed complaints) at the price of some false alarms. A
    threshold above 0.5 changes nothing, because such a P(negative) already
    wins the argmax. Ties in the argmax go to the lower id (negative first).
    """
    from services.sentiment.labels import decide_labels  # the worker's rule, not a copy of it

    p = np.asarray(probs, dtype=np.float64)
    if p.shape[-1] != 3:
        raise ValueError(f"expected (..., 3) probabilities, got shape {p.shape}")
    if negative_threshold is not None and not 0.0 <= negative_threshold <= 1.0:
        raise ValueError(f"negative_threshold must be in [0, 1], not {negative_threshold}")
    return decide_labels(p.reshape(-1, 3), negative_threshold).reshape(p.shape[:-1]).astype(np.int64)


def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> np.ndarray:
    """3x3 counts, rows = true class, columns = predicted class."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape}, y_pred {p.shape}")
    if t.size and (t.min() < 0 or t.max() > 2 or p.min() < 0 or p.max() > 2):
        raise ValueError("class ids must be 0, 1 or 2")
    cm = np.zeros((3, 3), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def metrics_from_confusion(cm: np.ndarray) -> dict[str, Any]:
    """Macro-F1, accuracy, negative recall and the per-class figures of one confusion matrix."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    total = cm.sum()
    return {
        "n": int(total),
        "macro_f1": float(f1.mean()),
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "negative_recall": float(recall[NEGATIVE]),
        "negative_precision": float(precision[NEGATIVE]),
        "f1": {name: float(v) for name, v in zip(LABEL_NAMES, f1, strict=True)},
        "recall": {name: float(v) for name, v in zip(LABEL_NAMES, recall, strict=True)},
        "confusion": cm.astype(np.int64).tolist(),
    }


def metrics_from_probs(
    probs: np.ndarray, labels: Sequence[int], negative_threshold: float | None = None
) -> dict[str, Any]:
    """Metrics of the decision rule :func:`decide` applied to ``probs``."""
    return metrics_from_confusion(confusion_matrix(labels, decide(probs, negative_threshold)))


def summarize(per_language: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Unweighted mean over the UMSAB languages present (how the benchmark averages)."""
    umsab = [per_language[lang] for lang in UMSAB_LANGUAGES if lang in per_language]
    if not umsab:
        return {}
    return {
        "languages": len(umsab),
        "macro_f1": float(np.mean([m["macro_f1"] for m in umsab])),
        "accuracy": float(np.mean([m["accuracy"] for m in umsab])),
        "negative_recall": float(np.mean([m["negative_recall"] for m in umsab])),
        "min_macro_f1": float(min(m["macro_f1"] for m in umsab)),
    }


# --------------------------------------------------------------------------
# scoring a model


def load_eval_sets(data_dir: Path, languages: Iterable[str]) -> dict[str, LabelledTexts]:
    """UMSAB val splits, RuSentiTweet (``"russian"``) and/or extra sets' val splits, keyed by name."""
    sets: dict[str, LabelledTexts] = {}
    for lang in languages:
        if lang == RUSSIAN:
            sets[lang] = load_rusentitweet(data_dir)
        elif lang in UMSAB_LANGUAGES:
            sets[lang] = load_split(data_dir, lang, "val")
        elif lang in EXTRA_SETS:
            sets[lang] = load_extra(data_dir, lang, "val")
        else:
            raise ValueError(f"unknown language {lang!r}; known: {', '.join(DEFAULT_LANGUAGES)}")
    return sets


def metrics_for(
    probs: dict[str, np.ndarray],
    sets: dict[str, LabelledTexts],
    negative_threshold: float | None = None,
) -> dict[str, Any]:
    """Per-language metrics plus the UMSAB average for one decision rule."""
    per_language = {lang: metrics_from_probs(probs[lang], sets[lang].labels, negative_threshold) for lang in sets}
    return {
        "negative_threshold": negative_threshold,
        "languages": per_language,
        "umsab_average": summarize(per_language),
    }


def evaluate(
    model_dir: str | Path,
    data_dir: str | Path | None = None,
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    batch_size: int = 64,
    max_tokens: int = 128,
    negative_threshold: float | None = None,
    *,
    sweep: Sequence[float] = (),
    precision: str = "fp32",
    device: str = "auto",
) -> dict[str, Any]:
    """Score ``model_dir`` (a local HF directory or a hub id) on the validation sets.

    Returns ``{"model", "max_tokens", "negative_threshold", "languages": {lang:
    metrics}, "umsab_average": {...}, "sweep": [...]}``, where ``sweep`` holds
    the same figures for each extra threshold (the model is run only once).
    """
    from services.sentiment.engine import EngineOptions, SentimentEngine

    # The worker's own engine scores the sets, so a precision option (bf16, int8)
    # is measured exactly as the worker would run it.
    source = str(Path(model_dir).expanduser()) if Path(model_dir).expanduser().exists() else str(model_dir)
    sets = load_eval_sets(Path(data_dir) if data_dir is not None else default_data_dir(), languages)
    opts = EngineOptions(device=device, batch_size=batch_size, max_tokens=max_tokens, precision=precision)
    with SentimentEngine(source, opts) as engine:
        scored = score_sets(engine, sets)
        precision = engine.precision
        rule = engine.decision_rule
    probs = {s.name: s.probs for s in scored}
    result: dict[str, Any] = {
        "model": source,
        "precision": precision,
        "max_tokens": max_tokens,
        **metrics_for(probs, sets, negative_threshold),
    }
    result["sweep"] = [metrics_for(probs, sets, t) for t in sweep]
    # The rule the worker applies, with the language the worker would detect for each text.
    result["shipped_rule"] = {"rule": rule.to_json(), "sets": {s.name: rule_metrics(s, rule) for s in scored}}
    return result


# --------------------------------------------------------------------------
# the shipped decision rule, measured as the worker applies it


@dataclass(frozen=True)
class ScoredSet:
    """One val set as the worker sees it: raw model probabilities and detected languages."""

    name: str
    probs: np.ndarray
    labels: np.ndarray
    langs: tuple[str | None, ...]

    def subset(self, idx: np.ndarray) -> ScoredSet:
        return ScoredSet(self.name, self.probs[idx], self.labels[idx], tuple(self.langs[i] for i in idx))


def score_sets(engine: Any, sets: Mapping[str, LabelledTexts]) -> list[ScoredSet]:
    """Raw probabilities (no temperature, no threshold) and detected languages, as the worker sees them."""
    from services.sentiment.language import LanguageDetector

    detector = LanguageDetector()  # the worker's detector: None for text with too few letters
    return [
        ScoredSet(
            name,
            engine.predict_proba(s.texts).astype(np.float64),
            np.asarray(s.labels, dtype=np.int64),
            tuple(detector.detect(t) for t in s.texts),
        )
        for name, s in sets.items()
    ]


def rule_metrics(s: ScoredSet, rule: DecisionRule) -> dict[str, Any]:
    """Metrics of ``rule`` on one set, with the argmax rule's for comparison."""
    cal = rule.calibrate(s.probs)
    shipped = metrics_from_confusion(confusion_matrix(s.labels, rule.decide(cal, s.langs)))
    argmax = metrics_from_confusion(confusion_matrix(s.labels, np.argmax(s.probs, axis=1)))
    return {
        "n": int(len(s.labels)),
        "macro_f1": shipped["macro_f1"],
        "negative_recall": shipped["negative_recall"],
        "negative_precision": shipped["negative_precision"],
        "argmax_macro_f1": argmax["macro_f1"],
        "argmax_negative_recall": argmax["negative_recall"],
        "f1_cost": argmax["macro_f1"] - shipped["macro_f1"],
    }


# --------------------------------------------------------------------------
# reporting


def format_table(result: dict[str, Any]) -> str:
    """One row per language, then the UMSAB average (figures as percentages)."""
    rows = [f"{'language':<12} {'n':>5} {'macroF1':>8} {'acc':>6} {'negRec':>7} {'negPrec':>8}"]
    langs = result["languages"]
    for lang, m in langs.items():
        rows.append(
            f"{lang:<12} {m['n']:>5} {100 * m['macro_f1']:>8.1f} {100 * m['accuracy']:>6.1f} "
            f"{100 * m['negative_recall']:>7.1f} {100 * m['negative_precision']:>8.1f}"
        )
    avg = result.get("umsab_average") or {}
    if avg:
        rows.append(
            f"{'UMSAB avg':<12} {'':>5} {100 * avg['macro_f1']:>8.1f} {100 * avg['accuracy']:>6.1f} "
            f"{100 * avg['negative_recall']:>7.1f}   (min macro-F1 {100 * avg['min_macro_f1']:.1f},"
            f" {avg['languages']} languages)"
        )
    rule = result.get("negative_threshold")
    rows.append(f"decision rule: {'argmax' if rule is None else f'negative if P(neg) >= {rule}, else argmax'}")
    return "\n".join(rows)


def format_rule_table(result: dict[str, Any]) -> str:
    """Per set: negative recall/precision at the shipped rule, and its macro-F1 cost against argmax."""
    shipped = result.get("shipped_rule") or {}
    rule = shipped.get("rule") or {}
    rows = [
        f"shipped decision rule: temperature {rule.get('temperature')}, per-language negative thresholds "
        f"{rule.get('thresholds') or '{}'}, fallback {rule.get('fallback')}",
        f"{'set':<14} {'n':>5} {'negRec':>7} {'negPrec':>8} {'macroF1':>8} {'argmax F1':>10} {'F1 cost':>8}"
        f" {'argmax negRec':>14}",
    ]
    for name, m in (shipped.get("sets") or {}).items():
        rows.append(
            f"{name:<14} {m['n']:>5} {100 * m['negative_recall']:>7.1f} {100 * m['negative_precision']:>8.1f} "
            f"{100 * m['macro_f1']:>8.1f} {100 * m['argmax_macro_f1']:>10.1f} {100 * m['f1_cost']:>8.1f}"
            f" {100 * m['argmax_negative_recall']:>14.1f}"
        )
    return "\n".join(rows)


def format_sweep(result: dict[str, Any]) -> str:
    """What each negative threshold trades: negative recall against macro-F1."""
    entries = [metrics_for_summary(result)] + [metrics_for_summary(s) for s in result.get("sweep", [])]
    rows = [f"{'threshold':<10} {'UMSAB F1':>9} {'UMSAB negRec':>13} {'min F1':>7} {'ru F1':>6} {'ru negRec':>10}"]
    for e in entries:
        rows.append(f"{e['label']:<10} {e['f1']:>9} {e['neg']:>13} {e['min']:>7} {e['ru_f1']:>6} {e['ru_neg']:>10}")
    return "\n".join(rows)


def metrics_for_summary(entry: dict[str, Any]) -> dict[str, str]:
    """Formatted cells for one row of :func:`format_sweep`."""
    avg = entry.get("umsab_average") or {}
    ru = entry["languages"].get(RUSSIAN)
    t = entry.get("negative_threshold")

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}"

    return {
        "label": "argmax" if t is None else f"{t:g}",
        "f1": pct(avg.get("macro_f1")),
        "neg": pct(avg.get("negative_recall")),
        "min": pct(avg.get("min_macro_f1")),
        "ru_f1": pct(ru["macro_f1"] if ru else None),
        "ru_neg": pct(ru["negative_recall"] if ru else None),
    }


def _floats(spec: str) -> tuple[float, ...]:
    return tuple(float(x) for x in spec.split(",") if x.strip())


def main(argv: list[str] | None = None) -> int:
    """CLI (``make eval``): print the validation table for a model."""
    import os

    from services.sentiment.defaults import default_model_path

    parser = argparse.ArgumentParser(
        prog="python -m services.sentiment.model_build.evaluate",
        description="Macro-F1 / accuracy / negative recall on UMSAB val (8 languages) and RuSentiTweet.",
    )
    parser.add_argument(
        "model",
        nargs="?",
        default=os.environ.get("REPWATCH_SENTIMENT_MODEL") or str(default_model_path()),
        help="HF model directory or hub id (default: REPWATCH_SENTIMENT_MODEL, else the built default model)",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="default: $REPWATCH_DATA_DIR or <repo>/../shared/data"
    )
    parser.add_argument(
        "--languages", default=",".join(DEFAULT_LANGUAGES), help="comma-separated; 'russian' = RuSentiTweet"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--negative-threshold", type=float, default=None, help="negative if P(neg) >= T, else argmax")
    parser.add_argument(
        "--sweep", type=_floats, default=DEFAULT_SWEEP, help="thresholds for the trade-off table ('' for none)"
    )
    parser.add_argument("--precision", default="fp32", help="fp32, bf16, fp16, int8 (as REPWATCH_SENTIMENT_PRECISION)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the full result here")
    args = parser.parse_args(argv)

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    languages = tuple(x.strip() for x in args.languages.split(",") if x.strip())
    result = evaluate(
        args.model,
        args.data_dir,
        languages=languages,
        batch_size=args.batch_size,
        max_tokens=args.max_tokens,
        negative_threshold=args.negative_threshold,
        sweep=args.sweep,
        precision=args.precision,
        device=args.device,
    )
    print(f"model: {result['model']} ({result['precision']})")
    print(format_table(result))
    print()
    print(format_rule_table(result))
    if result["sweep"]:
        print()
        print("negative-threshold trade-off (figures in %):")
        print(format_sweep(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
