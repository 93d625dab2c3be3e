"""Batched sentiment inference over any Hugging Face sequence-classification model.

Throughput comes from four things, in order of effect:

1. Length-sorted batches: texts are sorted by length so each forward pass pads
   as little as possible (tweets range from 3 to 100+ tokens), then results go
   back to input order.
2. Reduced precision where the hardware has it: bf16 on GPUs and on CPUs with
   AMX/AVX512-BF16, optional int8 weights+activations (torchao) on CPU.
3. SDPA attention kernels (``attn_implementation="sdpa"``) instead of eager
   matmul+softmax.
4. On GPU, tokenisation in separate processes, overlapped with the model: while
   the GPU runs batch *k*, tokenizer processes are already padding batch *k+1*
   into pinned host memory, so the copy to the device is asynchronous.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from services.sentiment.labels import OURS, LabelMappingError, decide_labels, mapping_matrix
from services.sentiment.language import LanguageDetector
from shared.schemas import Sentiment, SentimentLabel

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")

#: (texts in the batch, padded tokens per text, seconds) after every forward pass
BatchObserver = Callable[[int, int, float], None]


class ModelLoadError(RuntimeError):
    """The configured model could not be loaded; the message says what to fix."""


@dataclass(frozen=True)
class EngineOptions:
    device: str = "auto"
    batch_size: int = 64
    max_tokens: int = 128
    #: "auto": bf16 on CUDA and on CPUs with AMX/AVX512-BF16, else fp32
    precision: str = "auto"
    #: predict negative whenever P(negative) >= this, else the most likely label (None: argmax)
    negative_threshold: float | None = None
    #: tokenizer processes feeding the model (None: 0 on CPU, min(8, cores - 1) on GPU)
    tokenizer_processes: int | None = None
    label_map: Mapping[str, SentimentLabel] | None = None
    #: prepended to every text; None: the model's config.json ``repwatch_text_prefix``
    text_prefix: str | None = None


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


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision not in PRECISIONS:
        raise ModelLoadError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if precision == "int8" and device.type != "cpu":
        raise ModelLoadError("int8 is a CPU option; on GPU use bf16 or fp16")
    return precision


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with bf16 matrix instructions (AMX or AVX512-BF16).

    There bf16 runs several times faster than fp32 (6.6x vs 2.1x over pipeline()
    in `make bench-sentiment` on a 2-core Xeon with AMX) at the same validation
    F1; elsewhere bf16 is emulated and slower, so fp32 stays the default.
    """
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


def _quantize_int8(model: torch.nn.Module) -> None:
    """int8 dynamic quantisation of every Linear layer, via torchao.

    torchao is PyTorch's maintained quantisation library; ``torch.ao.quantization``
    (the older path) is deprecated in current torch and prints as much.
    """
    try:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    except ImportError:
        raise ModelLoadError("precision int8 needs torchao: pip install -c constraints.txt -e '.[int8]'") from None
    quantize_(model, Int8DynamicActivationInt8WeightConfig())


class SentimentEngine:
    """Load a model once; score texts in length-sorted batches."""

    def __init__(
        self,
        model: str,
        options: EngineOptions | None = None,
        *,
        languages: LanguageDetector | None = None,
        observer: BatchObserver | None = None,
    ) -> None:
        quiet_third_party_logs()
        # Imported here: transformers takes seconds to import, and the CLI's
        # other subcommands should not pay for it.
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a worker's log is no place for progress bars
        opts = options or EngineOptions()
        self.options = opts
        self.model_id = model
        self.device = resolve_device(opts.device)
        self.precision = resolve_precision(opts.precision, self.device)
        self.batch_size = opts.batch_size
        self.max_tokens = opts.max_tokens
        self.negative_threshold = opts.negative_threshold
        self._languages = languages or LanguageDetector()
        self._observer = observer
        source = _model_source(model)
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision, torch.float32)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            self.model = _load_model(AutoModelForSequenceClassification, source, dtype)
        except Exception as exc:  # noqa: BLE001 - any loader failure (corrupt weights too) means: fix the model
            raise ModelLoadError(f"cannot load sentiment model {model!r}: {type(exc).__name__}: {exc}") from None
        self.model.eval().to(self.device)
        if self.precision == "int8":
            _quantize_int8(self.model)
        try:
            self._mapping = mapping_matrix(self.model.config.id2label, opts.label_map).to(self.device)
        except LabelMappingError as exc:
            raise ModelLoadError(f"model {model!r}: {exc}") from None
        # e5-style encoders were trained with a task prefix; a model dir can
        # declare its own in config.json ("repwatch_text_prefix").
        self.text_prefix = (
            opts.text_prefix
            if opts.text_prefix is not None
            else getattr(self.model.config, "repwatch_text_prefix", "") or ""
        )
        procs = opts.tokenizer_processes
        if procs is None:
            procs = min(8, max(1, (os.cpu_count() or 2) - 1)) if self.device.type == "cuda" else 0
        self._pool = _TokenizerPool(self.tokenizer, procs, self.max_tokens) if procs > 0 else None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> SentimentEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the raw path: probabilities

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 3) probabilities of negative/neutral/positive, aligned with the input.

        Empty or whitespace-only texts get (0, 1, 0) without a model call.
        """
        out = np.zeros((len(texts), 3), dtype=np.float32)
        todo = [i for i, t in enumerate(texts) if t and not t.isspace()]
        blank = np.setdiff1d(np.arange(len(texts)), np.asarray(todo, dtype=np.int64), assume_unique=True)
        out[blank, 1] = 1.0
        # Longest first: similar lengths share a batch, so little padding is computed,
        # and the largest (memory-hungriest) batch comes first, failing fast if too big.
        todo.sort(key=lambda i: len(texts[i]), reverse=True)
        chunks = [todo[s : s + self.batch_size] for s in range(0, len(todo), self.batch_size)]
        prefixed = [[self.text_prefix + texts[i] for i in chunk] for chunk in chunks]
        for chunk, encoded in zip(chunks, self._encode(prefixed), strict=True):
            out[chunk] = self._forward(encoded)
        return out

    def _encode(self, batches: list[list[str]]) -> Iterator[dict[str, torch.Tensor]]:
        if self._pool is not None:
            yield from self._pool.encode(batches)
            return
        for batch in batches:
            yield dict(
                self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
            )

    @torch.inference_mode()
    def _forward(self, encoded: dict[str, torch.Tensor]) -> np.ndarray:
        started = time.perf_counter()
        non_blocking = self.device.type == "cuda"
        inputs = {k: v.to(self.device, non_blocking=non_blocking) for k, v in encoded.items()}
        logits = self.model(**inputs).logits.float()
        probs = (torch.softmax(logits, dim=-1) @ self._mapping).cpu().numpy()
        if self._observer is not None:
            ids = encoded["input_ids"]
            self._observer(int(ids.shape[0]), int(ids.shape[1]), time.perf_counter() - started)
        return probs

    # -- the worker's path: labelled Sentiment records

    def labels(self, probs: np.ndarray) -> list[SentimentLabel]:
        return [OURS[i] for i in decide_labels(probs, self.negative_threshold)]

    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        """Sentiment (label, probabilities, language) for each text, aligned with the input."""
        probs = self.predict_proba(texts)
        labels = self.labels(probs)
        return [
            Sentiment(
                label=label,
                negative=_clamp(p[0]),
                neutral=_clamp(p[1]),
                positive=_clamp(p[2]),
                model=self.model_id,
                lang=self._languages.detect(text) if text and not text.isspace() else None,
            )
            for text, p, label in zip(texts, probs.tolist(), labels, strict=True)
        ]


def quiet_third_party_logs() -> None:
    """Silence import-time chatter that is not ours to fix.

    With torchao installed, importing transformers makes torch warn (once per
    process, through logging) that torchao registers enums in a deprecated way.
    """
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)


def _model_source(model: str) -> str:
    """A local directory if ``model`` names one, else a hub id; clear error for a bad dir."""
    if not model:
        raise ModelLoadError("no model given (set REPWATCH_SENTIMENT_MODEL to a hub id or directory)")
    local = Path(model).expanduser()
    looks_local = model.startswith((".", "/", "~")) or local.exists()
    if looks_local:
        if not local.is_dir():
            raise ModelLoadError(f"model directory {local} does not exist")
        if not (local / "config.json").is_file():
            raise ModelLoadError(f"model directory {local} has no config.json: not a Hugging Face model directory")
        return str(local)
    return model


def _load_model(auto_cls: type, source: str, dtype: torch.dtype) -> torch.nn.Module:
    """Prefer SDPA attention kernels; fall back to eager for architectures without them."""
    try:
        return auto_cls.from_pretrained(source, dtype=dtype, attn_implementation="sdpa")
    except (ValueError, ImportError) as exc:
        if "sdpa" not in str(exc).lower() and "attn_implementation" not in str(exc):
            raise
        log.info("model %s has no SDPA attention; using eager attention", source)
        return auto_cls.from_pretrained(source, dtype=dtype)


def _clamp(x: float) -> float:
    return min(1.0, max(0.0, x))


def configure_cpu_threads(threads: int | None) -> None:
    """Pin torch's intra-op threads (0/None: leave torch's default, one per core)."""
    if threads:
        torch.set_num_threads(threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))


# --------------------------------------------------------------------------- tokenizer processes

_worker_tokenizer = None
_worker_max_tokens = 128


def _init_tokenizer_worker(tokenizer_dir: str, max_tokens: int) -> None:
    # Runs once in each tokenizer process (module state of that process only).
    global _worker_tokenizer, _worker_max_tokens
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one thread per process; parallelism is the pool
    torch.set_num_threads(1)
    from transformers import AutoTokenizer

    _worker_tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    _worker_max_tokens = max_tokens


def _tokenize_batch(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    assert _worker_tokenizer is not None
    enc = _worker_tokenizer(texts, padding=True, truncation=True, max_length=_worker_max_tokens, return_tensors="np")
    return enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)


class _TokenizerPool:
    """Processes that tokenise batch k+1.. while the model runs batch k."""

    def __init__(self, tokenizer: object, processes: int, max_tokens: int) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="repwatch-tokenizer-")
        tokenizer.save_pretrained(self._dir.name)  # type: ignore[attr-defined]
        # spawn, not fork: the parent holds CUDA state and torch threads that must not be forked.
        ctx = mp.get_context("spawn")
        self._pool = ctx.Pool(processes, initializer=_init_tokenizer_worker, initargs=(self._dir.name, max_tokens))
        self._pin = torch.cuda.is_available()

    def encode(self, batches: list[list[str]]) -> Iterator[dict[str, torch.Tensor]]:
        # imap keeps input order and lets the workers run ahead of the consumer.
        for ids, mask in self._pool.imap(_tokenize_batch, batches, chunksize=1):
            ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
            if self._pin:
                ids_t, mask_t = ids_t.pin_memory(), mask_t.pin_memory()
            yield {"input_ids": ids_t, "attention_mask": mask_t}

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()
        self._dir.cleanup()
