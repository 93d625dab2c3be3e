"""Fit the shipped decision rule (temperature + per-language negative thresholds) on the val splits.

Why: argmax misses a third of the complaints in some languages, and one global
threshold over-corrects where the model is already good. This fits, on the val
splits, the rule :mod:`services.sentiment.decision` applies in the worker::

    make calibrate    # = python -m services.sentiment.model_build.calibrate --write
        [MODEL_DIR] [--target-recall 0.8] [--margin 0.02] [--data-dir DIR] [--json FILE]

1. The model scores every val split (fp32, the worker's engine) and the worker's
   language detector labels every text, exactly as the worker will see it.
2. **Temperature**: one T for all languages, minimising the negative
   log-likelihood with every val set weighted equally (golden-section search on
   log T). It changes no argmax.
3. **Thresholds, per detected language**: for each language with val data (at
   least :data:`MIN_NEGATIVES` negatives among the texts of its own sets that the
   detector also assigns to it), the threshold on calibrated P(negative) with the
   best mean macro-F1 among those that give *every* such set a negative recall of
   at least ``target + margin``. The margin is
   there because the val sets are small (about 108 negatives per UMSAB
   language): a threshold fitted to reach exactly the target would miss it on
   new data about half the time. The **fallback** (other languages, undetected
   texts) is fitted the same way on the texts no fitted language covers (those
   the detector gave another language or none), which is what it will meet.
4. The figures are reported twice: in-sample (the rule fitted on everything),
   and **cross-fitted**: each set split in two halves, the rule fitted on one
   half scores the other, which estimates what the rule does on unseen texts.

Constraint sets: UMSAB val (Hindi left out: its labels carry no signal),
RuSentiTweet and the extra sets with real sentiment labels. ``cedr-ru``'s labels
are derived from emotions (sadness or fear are not complaints), so it is scored
and reported but does not set thresholds.

``--write`` stores the rule in the adapter's manifest (``adapter.json``
``decision_rule``), from where :mod:`.assemble` puts it into the model's
``config.json``; the model is then re-assembled (``make model``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from services.sentiment.decision import DecisionRule

from .data import EXTRA_SETS, LANGUAGE_CODES, RUSSIAN, UMSAB_LANGUAGES, default_data_dir
from .evaluate import (
    DEFAULT_LANGUAGES,
    ScoredSet,
    confusion_matrix,
    load_eval_sets,
    metrics_from_confusion,
    rule_metrics,
    score_sets,
)

__all__ = [
    "MIN_NEGATIVES",
    "constraint_sets",
    "cross_fitted",
    "fit_rule",
    "fit_temperature",
    "main",
]

#: a detected language needs this many negatives in the constraint sets for a threshold of its own
MIN_NEGATIVES = 40
#: a set's texts of one detected language need this many negatives to constrain its threshold
MIN_GROUP_NEGATIVES = 25
#: candidate thresholds on calibrated P(negative)
GRID = np.round(np.arange(0.05, 0.905, 0.005), 3)


def constraint_sets(names: Sequence[str]) -> list[str]:
    """Sets whose labels are real sentiment labels of a language our users write (not Hindi)."""
    return [n for n in names if n != "hindi" and not (n in EXTRA_SETS and EXTRA_SETS[n].weak_labels)]


def set_language(name: str) -> str | None:
    return LANGUAGE_CODES.get(name) or (EXTRA_SETS[name].lang if name in EXTRA_SETS else None)


# --------------------------------------------------------------------------
# temperature


def _nll(sets: Sequence[ScoredSet], temperature: float) -> float:
    """Mean over sets of each set's mean negative log-likelihood (every set weighs the same)."""
    rule = DecisionRule(temperature=temperature)
    total = 0.0
    for s in sets:
        p = rule.calibrate(s.probs)[np.arange(len(s.labels)), s.labels]
        total += -float(np.mean(np.log(np.clip(p, 1e-12, 1.0))))
    return total / max(1, len(sets))


def fit_temperature(sets: Sequence[ScoredSet], low: float = 0.2, high: float = 5.0) -> float:
    """The T minimising the set-balanced NLL (it is unimodal in log T)."""
    a, b = math.log(low), math.log(high)
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = _nll(sets, math.exp(c)), _nll(sets, math.exp(d))
    for _ in range(50):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = _nll(sets, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = _nll(sets, math.exp(d))
    return round(math.exp((a + b) / 2), 4)


# --------------------------------------------------------------------------
# thresholds


def _recall_and_f1(p_neg: np.ndarray, argmax: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Negative recall and macro-F1 of the rule at every grid threshold."""
    recall = np.zeros(len(GRID))
    f1 = np.zeros(len(GRID))
    negatives = max(1, int((labels == 0).sum()))
    for k, t in enumerate(GRID):
        pred = np.where(p_neg >= t, 0, argmax)
        recall[k] = float(((pred == 0) & (labels == 0)).sum()) / negatives
        f1[k] = metrics_from_confusion(confusion_matrix(labels, pred))["macro_f1"]
    return recall, f1


def _pool(groups: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p, a, y = zip(*groups, strict=True)
    return np.concatenate(p), np.concatenate(a), np.concatenate(y)


def _fit_threshold(groups: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], need: float) -> tuple[float, bool]:
    """The best-F1 grid threshold giving every group at least ``need`` recall (reached?)."""
    recalls, f1s = zip(*(_recall_and_f1(*g) for g in groups), strict=True)
    feasible = np.all(np.vstack(recalls) >= need, axis=0)
    if not feasible.any():
        # not reachable on the grid: the most recall it can give
        return float(GRID[0]), False
    mean_f1 = np.mean(np.vstack(f1s), axis=0)
    # best F1 among the feasible; on a tie the higher threshold (fewer false alarms)
    best = max(np.flatnonzero(feasible), key=lambda k: (round(float(mean_f1[k]), 6), k))
    return float(GRID[best]), True


def fit_rule(
    sets: Sequence[ScoredSet], target: float = 0.8, margin: float = 0.02
) -> tuple[DecisionRule, dict[str, Any]]:
    """The rule fitted on ``sets`` (constraint sets only), and how each threshold was set."""
    temperature = fit_temperature(sets)
    rule0 = DecisionRule(temperature=temperature)
    need = target + margin
    cal = [(s, rule0.calibrate(s.probs)) for s in sets]
    Group = tuple[np.ndarray, np.ndarray, np.ndarray]  # calibrated P(neg), argmax, labels
    by_lang: dict[str, list[Group]] = {}
    leftover: list[Group] = []
    for s, c in cal:
        own = set_language(s.name)
        langs = np.array(["" if x is None else x for x in s.langs])
        for lang in np.unique(langs):
            idx = np.flatnonzero(langs == lang)
            group = (c[idx, 0], np.argmax(c[idx], axis=1), s.labels[idx])
            # A language gets a threshold only from texts of its own sets: Russian tweets the
            # detector calls Ukrainian or Bulgarian say nothing about Ukrainian. Those texts,
            # like undetected ones, are what the fallback is fitted on, as they will meet it.
            if lang and lang == own:
                by_lang.setdefault(lang, []).append(group)
            else:
                leftover.append(group)
    thresholds: dict[str, float] = {}
    report: dict[str, Any] = {}
    for lang, groups in by_lang.items():
        negatives = sum(int((g[2] == 0).sum()) for g in groups)
        if negatives < MIN_NEGATIVES:
            leftover.extend(groups)
            continue
        # every set with enough of this language's negatives must reach the recall;
        # sets with only a few such texts are pooled into one more constraint
        big = [g for g in groups if int((g[2] == 0).sum()) >= MIN_GROUP_NEGATIVES]
        small = [g for g in groups if int((g[2] == 0).sum()) < MIN_GROUP_NEGATIVES]
        if small and sum(int((g[2] == 0).sum()) for g in small) >= MIN_GROUP_NEGATIVES:
            big.append(_pool(small))
        t, reached = _fit_threshold(big, need)
        thresholds[lang] = t
        report[lang] = {"threshold": t, "reached": reached, "negatives": negatives, "constraints": len(big)}
    if leftover:
        pooled = _pool(leftover)
        if int((pooled[2] == 0).sum()) >= MIN_NEGATIVES:
            fallback, reached = _fit_threshold([pooled], need)
        else:
            fallback, reached = (min(thresholds.values()) if thresholds else float(GRID[0])), True
    else:
        fallback, reached = (min(thresholds.values()) if thresholds else float(GRID[0])), True
    report["fallback"] = {"threshold": fallback, "reached": reached}
    rule = DecisionRule(temperature=temperature, thresholds=thresholds, fallback=fallback, target_recall=target)
    return rule, report


# --------------------------------------------------------------------------
# figures


def cross_fitted(
    sets: Sequence[ScoredSet], constraint: Sequence[str], target: float, margin: float, seed: int = 7
) -> dict[str, dict[str, Any]]:
    """Each set's figures when the rule that labels a text never saw that text (2 folds)."""
    rng = np.random.default_rng(seed)
    folds = {s.name: rng.permutation(len(s.labels)) % 2 for s in sets}
    preds = {s.name: np.zeros(len(s.labels), dtype=np.int64) for s in sets}
    for fold in (0, 1):
        train = [s.subset(np.flatnonzero(folds[s.name] != fold)) for s in sets if s.name in constraint]
        rule, _ = fit_rule(train, target, margin)
        for s in sets:
            idx = np.flatnonzero(folds[s.name] == fold)
            part = s.subset(idx)
            preds[s.name][idx] = rule.decide(rule.calibrate(part.probs), part.langs)
    out = {}
    for s in sets:
        m = metrics_from_confusion(confusion_matrix(s.labels, preds[s.name]))
        out[s.name] = {k: m[k] for k in ("macro_f1", "negative_recall", "negative_precision")}
    return out


def format_report(figures: Mapping[str, Mapping[str, Any]], held_out: Mapping[str, Mapping[str, Any]]) -> str:
    rows = [
        f"{'set':<14} {'lang':<5} {'n':>5} {'F1 argmax':>9} {'F1 rule':>8} {'cost':>5} "
        f"{'negRec argmax':>13} {'negRec rule':>11} {'negPrec':>7} {'held-out negRec':>15} {'held-out F1':>11}"
    ]
    for name, m in figures.items():
        h = held_out.get(name, {})
        rows.append(
            f"{name:<14} {set_language(name) or '-':<5} {m['n']:>5} {100 * m['argmax_macro_f1']:>9.1f} "
            f"{100 * m['macro_f1']:>8.1f} {100 * m['f1_cost']:>5.1f} {100 * m['argmax_negative_recall']:>13.1f} "
            f"{100 * m['negative_recall']:>11.1f} {100 * m['negative_precision']:>7.1f} "
            f"{100 * h.get('negative_recall', float('nan')):>15.1f} {100 * h.get('macro_f1', float('nan')):>11.1f}"
        )
    return "\n".join(rows)


def _model_key(model: str) -> str:
    """What the saved scores are of: the model directory's weights and config."""
    import hashlib

    digest = hashlib.sha256(model.encode())
    for name in ("config.json", "model.safetensors"):
        f = Path(model) / name
        if f.is_file():
            digest.update(f"{name}:{f.stat().st_size}:{f.stat().st_mtime_ns}".encode())
    return digest.hexdigest()


def _save_scores(path: Path, scored: Sequence[ScoredSet], key: str) -> None:
    arrays: dict[str, np.ndarray] = {"model_key": np.array(key)}
    for s in scored:
        arrays[f"{s.name}.probs"] = s.probs
        arrays[f"{s.name}.labels"] = s.labels
        arrays[f"{s.name}.langs"] = np.array(["" if x is None else x for x in s.langs])
    np.savez_compressed(path, **arrays)


def _load_scores(path: Path, sets: Mapping[str, Any], key: str) -> list[ScoredSet] | None:
    """Scores saved by an earlier run, if they are of this model and exactly these sets and labels."""
    with np.load(path, allow_pickle=False) as blob:
        if "model_key" not in blob or str(blob["model_key"]) != key:
            return None
        out = []
        for name, s in sets.items():
            if f"{name}.probs" not in blob or list(blob[f"{name}.labels"]) != list(s.labels):
                return None
            langs = tuple(x or None for x in blob[f"{name}.langs"].tolist())
            out.append(ScoredSet(name, blob[f"{name}.probs"], blob[f"{name}.labels"], langs))
    return out


def main(argv: list[str] | None = None) -> int:
    from services.sentiment.defaults import default_model_path

    from . import classifier as arch

    p = argparse.ArgumentParser(prog="python -m services.sentiment.model_build.calibrate", description=__doc__)
    p.add_argument("model", nargs="?", default=str(default_model_path()), help="model directory (default: built one)")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--target-recall", type=float, default=0.8)
    p.add_argument("--margin", type=float, default=0.02, help="fit to target + margin (small val sets)")
    p.add_argument("--adapter", type=Path, default=arch.DEFAULT_ADAPTER_DIR, help="adapter manifest --write edits")
    p.add_argument("--write", action="store_true", help="store the rule in the adapter manifest")
    p.add_argument("--json", type=Path, default=None, help="also write the full result here")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--scores", type=Path, default=None, help="keep the model's val scores here (.npz) and reuse them next time"
    )
    a = p.parse_args(argv)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    names = [n for n in DEFAULT_LANGUAGES if n in (*UMSAB_LANGUAGES, RUSSIAN, *EXTRA_SETS)]
    sets = load_eval_sets(a.data_dir or default_data_dir(), names)
    key = _model_key(a.model)
    scored = _load_scores(a.scores, sets, key) if a.scores and a.scores.is_file() else None
    if scored is None:
        from services.sentiment.engine import EngineOptions, SentimentEngine

        # fp32 and the raw probabilities: the rule is fitted on what the model says
        opts = EngineOptions(device="cpu", batch_size=64, precision="fp32", decision="argmax", tokenizer_processes=0)
        with SentimentEngine(a.model, opts) as engine:
            scored = score_sets(engine, sets)
        if a.scores:
            _save_scores(a.scores, scored, key)
    constraint = constraint_sets([s.name for s in scored])
    rule, how = fit_rule([s for s in scored if s.name in constraint], a.target_recall, a.margin)
    figures = {s.name: rule_metrics(s, rule) for s in scored}
    held_out = cross_fitted(scored, constraint, a.target_recall, a.margin)
    print(f"temperature {rule.temperature}; fallback {rule.fallback}; thresholds {dict(rule.thresholds)}")
    print(format_report(figures, held_out))
    result = {
        "rule": rule.to_json(),
        "fit": {"margin": a.margin, "constraint_sets": constraint, "thresholds": how},
        "in_sample": {k: {x: round(v, 4) for x, v in m.items()} for k, m in figures.items()},
        "cross_fitted": {k: {x: round(v, 4) for x, v in m.items()} for k, m in held_out.items()},
    }
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if a.write:
        tensors, manifest = arch.read_adapter(Path(a.adapter))
        manifest["decision_rule"] = rule.to_json()
        manifest.setdefault("validation", {})["decision_rule"] = {k: v for k, v in result.items() if k != "rule"}
        arch.write_adapter(Path(a.adapter), tensors, manifest)  # atomic, as training writes it
        print(f"decision rule written to {a.adapter}/adapter.json; `make model` re-assembles the model with it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
