"""Batched sentiment inference over any Hugging Face sequence-classification model.

The engine takes a list of texts and returns one :class:`Sentiment` per text, in
the same order. Inside, texts are sorted by length so that each forward pass
pads as little as possible, then results are put back in input order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from services.sentiment.labels import OURS, LabelMappingError, mapping_matrix
from services.sentiment.language import LanguageDetector
from shared.schemas import Sentiment, SentimentLabel

log = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """The configured model could not be loaded; the message says what to fix."""


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ModelLoadError(f"unknown device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} requested but CUDA is not available")
    return dev


class SentimentEngine:
    """Load a model once, score texts in length-sorted batches."""

    def __init__(
        self,
        model: str,
        *,
        device: str = "auto",
        batch_size: int = 64,
        max_tokens: int = 128,
        label_map: Mapping[str, SentimentLabel] | None = None,
        text_prefix: str | None = None,
        languages: LanguageDetector | None = None,
    ) -> None:
        # Imported here: transformers takes seconds to import, and the CLI's
        # other subcommands should not pay for it.
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a worker's log is no place for progress bars

        self.model_id = model
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self._languages = languages or LanguageDetector()
        local = Path(model).expanduser()
        if (model.startswith((".", "/", "~")) or local.exists()) and not (local / "config.json").is_file():
            raise ModelLoadError(
                f"model directory {local} does not exist or has no config.json "
                "(set REPWATCH_SENTIMENT_MODEL to a Hugging Face model directory or hub id)"
            )
        source = str(local) if local.exists() else model
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            self.model = AutoModelForSequenceClassification.from_pretrained(source)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"cannot load sentiment model {model!r}: {exc}") from None
        self.model.eval().to(self.device)
        try:
            self._mapping = mapping_matrix(self.model.config.id2label, label_map).to(self.device)
        except LabelMappingError as exc:
            raise ModelLoadError(f"model {model!r}: {exc}") from None
        # e5-style encoders were trained with a task prefix; a model dir can
        # declare its own in config.json ("repwatch_text_prefix").
        self.text_prefix = (
            text_prefix if text_prefix is not None else getattr(self.model.config, "repwatch_text_prefix", "") or ""
        )

    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        """Sentiment for each text, aligned with the input."""
        results: list[Sentiment | None] = [None] * len(texts)
        todo: list[int] = []
        for i, text in enumerate(texts):
            if not text or not text.strip():
                # Nothing to read: neutral by definition, no model call.
                results[i] = Sentiment(
                    label=SentimentLabel.NEUTRAL, negative=0.0, neutral=1.0, positive=0.0, model=self.model_id
                )
            else:
                todo.append(i)
        # Longest first: similar lengths share a batch, so little padding is computed.
        todo.sort(key=lambda i: len(texts[i]), reverse=True)
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            probs = self._forward([self.text_prefix + texts[i] for i in chunk])
            for i, p in zip(chunk, probs.tolist(), strict=True):
                label = OURS[max(range(3), key=p.__getitem__)]
                results[i] = Sentiment(
                    label=label,
                    negative=_clamp(p[0]),
                    neutral=_clamp(p[1]),
                    positive=_clamp(p[2]),
                    model=self.model_id,
                    lang=self._languages.detect(texts[i]),
                )
        return [r for r in results if r is not None]

    @torch.inference_mode()
    def _forward(self, texts: list[str]) -> torch.Tensor:
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt").to(
            self.device
        )
        logits = self.model(**enc).logits.float()
        return torch.softmax(logits, dim=-1) @ self._mapping


def _clamp(x: float) -> float:
    return min(1.0, max(0.0, x))


def configure_cpu_threads(threads: int | None) -> None:
    """Pin torch's intra-op threads (0/None: leave torch's default, one per core)."""
    if threads:
        torch.set_num_threads(threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
