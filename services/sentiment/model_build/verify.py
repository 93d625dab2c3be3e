"""Checks that a rebuilt encoder directory really is multilingual-e5-small.

Why: a dequantiser with a swapped nibble order, a transposed matrix or a
tokenizer whose ids are off by one still produces a model that loads and runs;
it just embeds garbage. These checks use properties only the real model has:

* the tokenizer loads through ``AutoTokenizer`` as XLM-R's, with XLM-R's
  special ids, the 512-token limit, and SentencePiece pieces such as
  ``'▁Hello'``, agreeing id-for-id with the raw ``tokenizers`` pipeline;
* embeddings made the e5 way (``"query: "`` prefix, mean pooling over the
  attention mask, L2 normalisation) put a sentence and its translation in a
  different script far closer than sentences that merely share a language or
  script: a randomly or wrongly wired encoder cannot do that.

CLI::

    python -m services.sentiment.model_build.verify DIR
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import (
    AutoModel,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

__all__ = [
    "E5_QUERY_PREFIX",
    "MIN_MEAN_GAP",
    "MIN_PAIR_MARGIN",
    "TRANSLATION_PAIRS",
    "CheckResult",
    "SimilarityReport",
    "VerifyReport",
    "check_similarity",
    "check_tokenizer",
    "embed",
    "load_encoder",
    "main",
    "run_all",
    "translation_similarity",
]

E5_QUERY_PREFIX = "query: "

# (English, translation) pairs across scripts and language families. Each
# English sentence is also the "unrelated" control for every other pair's
# translation, so the control shares the script and language of the positive.
TRANSLATION_PAIRS: tuple[tuple[str, str], ...] = (
    ("The weather is beautiful today.", "Сегодня прекрасная погода."),
    ("I would like to book a table for two people.", "أود حجز طاولة لشخصين."),
    (
        "The customer service was terrible and nobody answered my calls.",
        "Shërbimi ndaj klientëve ishte i tmerrshëm dhe askush nuk m'u përgjigj në telefon.",
    ),
    ("My phone battery dies after two hours.", "我的手机电池两个小时就没电了。"),
    (
        "The train to Berlin was cancelled because of the strike.",
        "Ο συρμός για το Βερολίνο ακυρώθηκε λόγω της απεργίας.",
    ),
)

MIN_PAIR_MARGIN = 0.05
"""Each translation must beat every unrelated pairing that involves either side by this much.

e5 cosines are compressed (unrelated text still scores ~0.7-0.8), so the bar
is a gap, not an absolute threshold. The rebuilt model clears it by ~0.07 in
the worst case; a miswired encoder collapses the gap to about zero.
"""

MIN_MEAN_GAP = 0.10
"""Mean translation cosine minus mean unrelated cosine (the rebuilt model: ~0.14)."""


@dataclass(frozen=True)
class CheckResult:
    """One named check, whether it passed, and the evidence."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class SimilarityReport:
    """Cosines among the pairs: translations, and every pairing of different sentences.

    ``cross[i][j]`` is cos(English i, translation j); ``english[i][j]`` is
    cos(English i, English j). Unrelated pairings are the off-diagonal entries
    of both, so the control includes same-language, same-script sentences.
    """

    pairs: tuple[tuple[str, str], ...]
    cross: tuple[tuple[float, ...], ...]
    english: tuple[tuple[float, ...], ...]

    @property
    def pair_cosines(self) -> tuple[float, ...]:
        return tuple(self.cross[i][i] for i in range(len(self.pairs)))

    def unrelated_for(self, i: int) -> tuple[float, ...]:
        """Every unrelated cosine that involves English i or translation i."""
        n = len(self.pairs)
        return tuple(
            c
            for j in range(n)
            if j != i
            for c in (self.cross[i][j], self.cross[j][i], self.english[i][j])
        )

    @property
    def unrelated_cosines(self) -> tuple[float, ...]:
        n = len(self.pairs)
        cross = [self.cross[i][j] for i in range(n) for j in range(n) if i != j]
        same = [self.english[i][j] for i in range(n) for j in range(i + 1, n)]
        return tuple(cross + same)

    @property
    def pair_margins(self) -> tuple[float, ...]:
        """Per pair: its cosine minus the largest unrelated cosine touching it."""
        return tuple(
            self.cross[i][i] - max(self.unrelated_for(i))
            for i in range(len(self.pairs))
        )

    @property
    def mean_pair(self) -> float:
        return sum(self.pair_cosines) / len(self.pair_cosines)

    @property
    def mean_unrelated(self) -> float:
        return sum(self.unrelated_cosines) / len(self.unrelated_cosines)

    @property
    def min_pair(self) -> float:
        return min(self.pair_cosines)

    @property
    def max_unrelated(self) -> float:
        return max(self.unrelated_cosines)


@dataclass(frozen=True)
class VerifyReport:
    """All checks for one model directory."""

    model_dir: Path
    checks: tuple[CheckResult, ...]
    similarity: SimilarityReport | None = field(default=None)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def render(self) -> str:
        """Human-readable summary: one line per check, then the cosine table."""
        lines = [f"verify {self.model_dir}: {'OK' if self.ok else 'FAILED'}"]
        lines += [
            f"  [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}" for c in self.checks
        ]
        s = self.similarity
        if s is not None:
            lines.append(
                "  translation pairs: cosine, margin over the closest unrelated pairing"
            )
            lines += [
                f"    {c:.4f}  +{m:.4f}  {a!r} <> {b!r}"
                for (a, b), c, m in zip(s.pairs, s.pair_cosines, s.pair_margins, strict=True)
            ]
            lines.append(
                f"  pairs min/mean {s.min_pair:.4f}/{s.mean_pair:.4f}; unrelated max/mean "
                f"{s.max_unrelated:.4f}/{s.mean_unrelated:.4f} ({len(s.unrelated_cosines)} pairings)"
            )
        return "\n".join(lines)


def load_encoder(model_dir: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the directory exactly as downstream code will, without a pooler.

    e5 never used BERT's pooler and the q4 file doesn't ship one; asking for
    none avoids a randomly initialised layer (and its warning).
    """
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModel.from_pretrained(
        str(model_dir), add_pooling_layer=False, local_files_only=True
    )
    model.eval()
    return model, tokenizer


@torch.inference_mode()
def embed(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    prefix: str = E5_QUERY_PREFIX,
) -> torch.Tensor:
    """e5 sentence embeddings: prefix, mean-pool over real tokens, L2-normalise."""
    batch = tokenizer(
        [prefix + t for t in texts], padding=True, truncation=True, return_tensors="pt"
    )
    hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    return torch.nn.functional.normalize(pooled, p=2, dim=-1)


def check_tokenizer(
    tokenizer: PreTrainedTokenizerBase, model_dir: Path
) -> list[CheckResult]:
    """Special ids, limits and SentencePiece splitting are those the model was trained with."""
    results: list[CheckResult] = []
    cls_name = type(tokenizer).__name__
    results.append(
        CheckResult(
            "tokenizer class",
            tokenizer.is_fast
            and cls_name
            in {
                "XLMRobertaTokenizerFast",
                "XLMRobertaTokenizer",
                "PreTrainedTokenizerFast",
            },
            f"{cls_name} (fast={tokenizer.is_fast})",
        )
    )
    want = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    got = {
        "<s>": tokenizer.bos_token_id,
        "<pad>": tokenizer.pad_token_id,
        "</s>": tokenizer.eos_token_id,
        "<unk>": tokenizer.unk_token_id,
    }
    mask_ok = (
        tokenizer.mask_token == "<mask>"
        and tokenizer.mask_token_id == len(tokenizer) - 1
    )
    results.append(
        CheckResult(
            "special token ids",
            got == want
            and mask_ok
            and tokenizer.cls_token_id == 0
            and tokenizer.sep_token_id == 2,
            f"{got}, mask={tokenizer.mask_token!r}:{tokenizer.mask_token_id}, "
            f"cls={tokenizer.cls_token_id}, sep={tokenizer.sep_token_id}",
        )
    )
    results.append(
        CheckResult(
            "model_max_length",
            tokenizer.model_max_length == 512,
            str(tokenizer.model_max_length),
        )
    )

    ids = tokenizer("query: Hello world")["input_ids"]
    pieces = tokenizer.convert_ids_to_tokens(ids)
    results.append(
        CheckResult(
            "SentencePiece split",
            ids[0] == 0 and ids[-1] == 2 and pieces[-3:-1] == ["▁Hello", "▁world"],
            f"{ids} {pieces}",
        )
    )

    raw = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    samples = [text for pair in TRANSLATION_PAIRS for text in pair] + [
        "ﬁ ① Ⅻ  double  space"
    ]
    mismatched = [s for s in samples if tokenizer(s)["input_ids"] != raw.encode(s).ids]
    results.append(
        CheckResult(
            "matches raw tokenizer.json",
            not mismatched,
            f"{len(samples) - len(mismatched)}/{len(samples)} identical"
            + (f"; first diff {mismatched[0]!r}" if mismatched else ""),
        )
    )
    return results


def translation_similarity(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: tuple[tuple[str, str], ...] = TRANSLATION_PAIRS,
) -> SimilarityReport:
    """Embed both sides of every pair and keep the full cosine matrices."""
    english = embed(model, tokenizer, [a for a, _ in pairs])
    foreign = embed(model, tokenizer, [b for _, b in pairs])
    cross = tuple(tuple(row) for row in (english @ foreign.T).tolist())
    same = tuple(tuple(row) for row in (english @ english.T).tolist())
    return SimilarityReport(tuple(pairs), cross, same)


def check_similarity(
    report: SimilarityReport,
    min_pair_margin: float = MIN_PAIR_MARGIN,
    min_mean_gap: float = MIN_MEAN_GAP,
) -> list[CheckResult]:
    """Translations beat unrelated sentences per pair and on average, by clear gaps."""
    worst = min(range(len(report.pairs)), key=lambda i: report.pair_margins[i])
    gap = report.mean_pair - report.mean_unrelated
    return [
        CheckResult(
            "translation beats every unrelated pairing",
            report.pair_margins[worst] >= min_pair_margin,
            f"worst margin {report.pair_margins[worst]:.4f} for {report.pairs[worst][0]!r} "
            f"(need >= {min_pair_margin})",
        ),
        CheckResult(
            "mean translation vs unrelated gap",
            gap >= min_mean_gap,
            f"{report.mean_pair:.4f} - {report.mean_unrelated:.4f} = {gap:.4f} (need >= {min_mean_gap})",
        ),
    ]


def run_all(model_dir: Path) -> VerifyReport:
    """Load the directory and run every check."""
    model, tokenizer = load_encoder(Path(model_dir))
    checks = check_tokenizer(tokenizer, Path(model_dir))
    sim = translation_similarity(model, tokenizer)
    checks.extend(check_similarity(sim))
    return VerifyReport(Path(model_dir), tuple(checks), sim)


def main(argv: list[str] | None = None) -> int:
    """CLI: print the report; exit 1 when any check fails."""
    parser = argparse.ArgumentParser(
        prog="python -m services.sentiment.model_build.verify",
        description="Check that a rebuilt multilingual-e5-small directory behaves like the real model.",
    )
    parser.add_argument("model_dir", type=Path)
    args = parser.parse_args(argv)
    report = run_all(args.model_dir)
    print(report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
