"""Batched sentiment inference over any Hugging Face sequence-classification model.

Throughput comes from these, in order of effect:

1. Little padding: texts are sorted by length, tokenised without padding, and each
   window of ``WINDOW_CHUNKS`` batches is re-sorted by exact token count before it
   is cut into padded batches; results go back to input order. (Characters are a
   poor proxy for tokens across scripts: on UMSAB, character sorting alone left
   54 % of computed tokens as padding, token sorting 10 %.)
2. Reduced precision where the hardware has it: bf16 on GPUs and on CPUs with
   AMX/AVX512-BF16, optional int8 weights+activations (torchao) on CPU.
3. SDPA attention kernels (``attn_implementation="sdpa"``) instead of eager
   matmul+softmax.
4. On GPU, tokenisation in separate processes, overlapped with the model: while
   the GPU runs batch *k*, tokenizer processes are already working on the next
   chunks, batches are padded into pinned host memory so copies are asynchronous,
   and nothing waits on the GPU until a call's results are copied back at once.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing as mp
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from services.sentiment.decision import ARGMAX, DecisionRule, DecisionRuleError
from services.sentiment.labels import OURS, LabelMappingError, mapping_matrix
from services.sentiment.language import LanguageDetector
from shared.schemas import Sentiment, SentimentLabel

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")

#: (texts in the batch, padded tokens per text, seconds) after every forward pass
BatchObserver = Callable[[int, int, float], None]


#: probabilities for texts with nothing to score (blank, or no tokens at all)
NEUTRAL = np.array([0.0, 1.0, 0.0], dtype=np.float32)

#: chunks whose texts are re-sorted by token count before being cut into batches
WINDOW_CHUNKS = 8
#: default texts per forward pass (measured with `make bench-sentiment`: on an H100,
#: bf16, batch 1024 ran ~50k texts/s against ~35k at 512)
CPU_BATCH_SIZE = 64
GPU_BATCH_SIZE = 1024


@dataclass(frozen=True)
class TokenizedChunk:
    """Token ids of a list of texts without padding: ``ids`` concatenated, ``lengths`` per text.

    ``types`` holds token type ids the same way, when the tokenizer makes them.
    """

    ids: np.ndarray
    lengths: np.ndarray
    types: np.ndarray | None = None
    #: languages of the (unprefixed) texts, when the tokenizer processes detect them
    langs: list[str | None] | None = None


@dataclass(frozen=True)
class Tokens:
    """One padded batch on the host (pinned when bound for a GPU)."""

    ids: torch.Tensor  # (batch, longest) int64
    lengths: torch.Tensor  # (batch,) int64, real tokens per text
    left: bool = False  # padding before the text (tokenizers with padding_side="left")
    types: torch.Tensor | None = None  # (batch, longest) token type ids, when the tokenizer has them

    @property
    def padded(self) -> bool:
        """False when every text has the longest length (read on the host: no device sync)."""
        return bool((self.lengths != self.ids.shape[1]).any())

    def mask(self) -> torch.Tensor:
        """The usual 2-D 0/1 attention mask."""
        return torch.from_numpy(_real_positions(self.lengths.numpy(), self.ids.shape[1], self.left).astype(np.int64))

    def model_inputs(self) -> dict[str, torch.Tensor]:
        inputs = {"input_ids": self.ids, "attention_mask": self.mask()}
        if self.types is not None:
            inputs["token_type_ids"] = self.types
        return inputs


def _real_positions(lengths: np.ndarray, longest: int, left: bool) -> np.ndarray:
    cols = np.arange(longest)[None, :]
    return cols >= (longest - lengths)[:, None] if left else cols < lengths[:, None]


def tokenize_unpadded(tokenizer: Any, texts: list[str], max_tokens: int) -> TokenizedChunk:
    """Tokenise with truncation and no padding (so no pad token is needed here)."""
    enc = tokenizer(texts, truncation=True, max_length=max_tokens, return_attention_mask=False)
    rows = enc["input_ids"]
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int32, count=len(rows))
    total = int(lengths.sum())
    ids = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int32, count=total)
    types = None
    if "token_type_ids" in enc:
        types = np.fromiter(itertools.chain.from_iterable(enc["token_type_ids"]), dtype=np.int32, count=total)
    return TokenizedChunk(ids, lengths, types)


def pad_batch(
    flat: np.ndarray,
    offsets: np.ndarray,
    lengths: np.ndarray,
    pad_id: int,
    *,
    pin: bool,
    left: bool = False,
    flat_types: np.ndarray | None = None,
) -> Tokens:
    """Gather the texts at ``offsets``/``lengths`` of ``flat`` into one padded batch.

    Texts must have at least one token. ``left`` pads before each text, as
    tokenizers with ``padding_side="left"`` do (models that read the last position).
    """
    longest = int(lengths.max())
    real = _real_positions(lengths, longest, left)
    cols = np.arange(longest)[None, :]
    within = cols - (longest - lengths)[:, None] if left else np.broadcast_to(cols, real.shape)
    positions = np.where(real, offsets[:, None] + within, 0)
    ids = torch.from_numpy(np.where(real, flat[positions], pad_id).astype(np.int64))
    lens = torch.from_numpy(lengths.astype(np.int64))
    types = None
    if flat_types is not None:
        types = torch.from_numpy(np.where(real, flat_types[positions], 0).astype(np.int64))
    if pin:  # page-locked host memory: the copy to the GPU does not wait for queued work
        ids, lens = ids.pin_memory(), lens.pin_memory()
        types = types.pin_memory() if types is not None else None
    return Tokens(ids, lens, left=left, types=types)


class ModelLoadError(RuntimeError):
    """The configured model could not be loaded; the message says what to fix."""


@dataclass(frozen=True)
class EngineOptions:
    device: str = "auto"
    #: texts per forward pass (0: 64 on CPU, 1024 on GPU, where big batches keep the chip busy)
    batch_size: int = 0
    max_tokens: int = 128
    #: "auto": bf16 on CUDA and on CPUs with AMX/AVX512-BF16, else fp32
    precision: str = "auto"
    #: "shipped": the model's own decision rule (config.json ``repwatch_decision_rule``:
    #: temperature + per-language negative thresholds), argmax when it has none; "argmax"
    decision: str = "shipped"
    #: one negative threshold for every language instead of the rule's own (None: keep them)
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
        loaded: tuple[Any, Any] | None = None,
    ) -> None:
        """``model``: hub id or directory (or, with ``loaded=(model, tokenizer)``, just a name)."""
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
        self.batch_size = opts.batch_size or (GPU_BATCH_SIZE if self.device.type == "cuda" else CPU_BATCH_SIZE)
        self.max_tokens = opts.max_tokens
        self._languages = languages or LanguageDetector()
        # The default detector also runs in the tokenizer processes (GPU): at ~60 µs a
        # text it would otherwise cap one worker near 17k texts/s on the host.
        detect_in_pool = languages is None
        self._observer = observer
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision, torch.float32)
        if loaded is not None:
            # An already-built model (training scores its result in memory): cast and
            # moved like a loaded one, so it is scored exactly as the worker would.
            self.model, self.tokenizer = loaded
            self.model.to(dtype)
        else:
            source = _model_source(model)
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
        self.decision_rule = _decision_rule(opts, getattr(self.model.config, "repwatch_decision_rule", None), model)
        # transformers checks a 2-D padding mask with ``mask.all()``, a device sync on
        # every forward pass that stops the host from queueing batch k+1 while the GPU
        # runs batch k. For these architectures (tested equal) the engine hands over
        # the 4-D mask, which transformers passes to SDPA untouched.
        self._left_pad = getattr(self.tokenizer, "padding_side", "right") == "left"
        self._expand_mask = (
            getattr(self.model.config, "model_type", None) in MASK_EXPANDABLE_MODEL_TYPES
            and getattr(self.model.config, "_attn_implementation", None) == "sdpa"  # eager would add a bool mask
            and not self._left_pad
        )
        # Padding positions are masked out, so any id works; prefer the real pad id.
        pad_id = getattr(self.tokenizer, "pad_token_id", None)
        self._pad_id = int(pad_id if pad_id is not None else getattr(self.model.config, "pad_token_id", None) or 0)
        self._pin = self.device.type == "cuda"
        procs = opts.tokenizer_processes
        if procs is None:
            procs = min(8, max(1, (os.cpu_count() or 2) - 1)) if self.device.type == "cuda" else 0
        self._pool = (
            _TokenizerPool(self.tokenizer, procs, self.max_tokens, detect_languages=detect_in_pool)
            if procs > 0
            else None
        )

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
        return self._infer(texts, None)

    def _infer(self, texts: Sequence[str], langs: list[str | None] | None) -> np.ndarray:
        """Probabilities; fills ``langs`` (one slot per text) where the tokenizer processes detect them."""
        out = np.zeros((len(texts), 3), dtype=np.float32)
        todo = [i for i, t in enumerate(texts) if t and not t.isspace()]
        blank = np.setdiff1d(np.arange(len(texts)), np.asarray(todo, dtype=np.int64), assume_unique=True)
        out[blank] = NEUTRAL
        # Longest first by characters, so a window of chunks holds texts of similar
        # length; inside a window, batches are then cut by exact token counts.
        todo.sort(key=lambda i: len(texts[i]), reverse=True)
        step = self.batch_size
        chunks = [todo[s : s + step] for s in range(0, len(todo), step)]
        tokenized = self._tokenize([[texts[i] for i in c] for c in chunks], detect_languages=langs is not None)
        batches = self._batches(chunks, tokenized, out, langs)
        if self.device.type == "cuda":
            self._run_cuda(batches, out)
        else:
            for rows, tokens in batches:
                started = time.perf_counter()
                out[rows] = self._forward(tokens).numpy()
                self._observe(tuple(tokens.ids.shape), time.perf_counter() - started)
        return out

    def _tokenize(self, chunks: list[list[str]], *, detect_languages: bool = False) -> Iterator[TokenizedChunk]:
        if self._pool is not None:
            yield from self._pool.tokenize(chunks, self.text_prefix, detect_languages=detect_languages)
            return
        for chunk in chunks:
            yield tokenize_unpadded(self.tokenizer, [self.text_prefix + t for t in chunk], self.max_tokens)

    def _batches(
        self,
        chunks: list[list[int]],
        tokenized: Iterator[TokenizedChunk],
        out: np.ndarray,
        langs: list[str | None] | None = None,
    ) -> Iterator[tuple[np.ndarray, Tokens]]:
        """(input rows, padded batch), longest first, re-cut by token count within windows.

        Characters are a poor proxy for tokens across scripts (the same length in
        Arabic, romanised Hindi and English tokenises very differently), so each
        window of ``WINDOW_CHUNKS`` chunks is sorted by token count before it is cut
        into batches: far less padding, and padding is computed like real tokens.
        Texts that tokenise to nothing get NEUTRAL in ``out`` here; languages, where the
        tokenizer processes detected them, go into ``langs``.
        """
        window: list[tuple[list[int], TokenizedChunk]] = []
        for chunk, tok in zip(chunks, tokenized, strict=True):
            if langs is not None and tok.langs is not None:
                for row, lang in zip(chunk, tok.langs, strict=True):
                    langs[row] = lang
            window.append((chunk, tok))
            if len(window) == WINDOW_CHUNKS:
                yield from self._cut(window, out)
                window = []
        if window:
            yield from self._cut(window, out)

    def _cut(
        self, window: list[tuple[list[int], TokenizedChunk]], out: np.ndarray
    ) -> Iterator[tuple[np.ndarray, Tokens]]:
        rows = np.concatenate([np.asarray(c, dtype=np.int64) for c, _ in window])
        flat = np.concatenate([t.ids for _, t in window])
        types = None
        if all(t.types is not None for _, t in window):
            types = np.concatenate([t.types for _, t in window])  # type: ignore[misc]
        lengths = np.concatenate([t.lengths for _, t in window])
        offsets = np.concatenate([[0], np.cumsum(lengths[:-1])]).astype(np.int64)
        order = np.argsort(-lengths, kind="stable")
        empty = lengths[order] == 0
        out[rows[order[empty]]] = NEUTRAL  # not a single token: nothing to score
        order = order[~empty]
        for s in range(0, len(order), self.batch_size):
            sel = order[s : s + self.batch_size]
            yield rows[sel], pad_batch(
                flat, offsets[sel], lengths[sel], self._pad_id, pin=self._pin, left=self._left_pad, flat_types=types
            )

    def _run_cuda(self, batches: Iterator[tuple[np.ndarray, Tokens]], out: np.ndarray) -> None:
        # No host sync per batch: the GPU works through batch k while the host
        # builds and launches batch k+1. Results stay on the device until one copy
        # at the end; each batch's latency comes from CUDA events around it. Only
        # shapes are kept: the pinned host batches can go as soon as they are copied.
        pending: list[tuple[np.ndarray, torch.Tensor, tuple[int, ...], Any, Any]] = []
        for rows, tokens in batches:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            probs = self._forward(tokens)
            end.record()
            pending.append((rows, probs, tuple(tokens.ids.shape), start, end))
        if not pending:
            return
        order = np.concatenate([rows for rows, *_ in pending])
        out[order] = torch.cat([p for _, p, *_ in pending]).cpu().numpy()  # the one sync
        for _, _, shape, start, end in pending:
            self._observe(shape, start.elapsed_time(end) / 1000.0)

    def _observe(self, shape: tuple[int, ...], seconds: float) -> None:
        if self._observer is not None:
            self._observer(int(shape[0]), int(shape[1]), seconds)

    @torch.inference_mode()
    def _forward(self, tokens: Tokens) -> torch.Tensor:
        """(batch, 3) probabilities in our label order, left on the model's device."""
        cuda = self.device.type == "cuda"
        if cuda and self._expand_mask:
            ids = tokens.ids.to(self.device, non_blocking=True)  # pinned: an asynchronous copy
            inputs = expand_attention_mask(ids, tokens.lengths, tokens.padded)
            if tokens.types is not None:
                inputs["token_type_ids"] = tokens.types.to(self.device, non_blocking=True)
        else:
            inputs = {k: v.to(self.device, non_blocking=cuda) for k, v in tokens.model_inputs().items()}
        logits = self.model(**inputs).logits.float()
        return torch.softmax(logits, dim=-1) @ self._mapping

    # -- the worker's path: labelled Sentiment records

    def labels(self, probs: np.ndarray, langs: Sequence[str | None] | None = None) -> list[SentimentLabel]:
        """Labels under the engine's decision rule, of *calibrated* probabilities."""
        return [OURS[i] for i in self.decision_rule.decide(probs, langs if langs is not None else [None] * len(probs))]

    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        """Sentiment (label, probabilities, language) for each text, aligned with the input."""
        langs: list[str | None] = [None] * len(texts)
        probs = self._infer(texts, langs)
        if not (self._pool is not None and self._pool.detects_languages):
            langs = [self._languages.detect(t) if t and not t.isspace() else None for t in texts]
        # The calibrated probabilities are the ones recorded: the rule's thresholds are on
        # that scale, and so is anyone's own rule over ScoredMention.sentiment.
        probs = self.decision_rule.calibrate(probs)
        labels = self.labels(probs, langs)
        return [
            Sentiment(
                label=label,
                negative=_clamp(p[0]),
                neutral=_clamp(p[1]),
                positive=_clamp(p[2]),
                model=self.model_id,
                lang=lang,
            )
            for p, label, lang in zip(probs.tolist(), labels, langs, strict=True)
        ]


def _decision_rule(opts: EngineOptions, shipped: Any, model: str) -> DecisionRule:
    """The rule the options ask for, from the model's shipped one (a bad one is a load error)."""
    if opts.decision not in ("shipped", "argmax"):
        raise ModelLoadError(f"decision must be 'shipped' or 'argmax', not {opts.decision!r}")
    rule = ARGMAX
    if opts.decision == "shipped" and shipped is not None:
        try:
            rule = DecisionRule.from_json(shipped)
        except DecisionRuleError as exc:
            raise ModelLoadError(f"model {model!r}: config.json repwatch_decision_rule: {exc}") from None
    if opts.negative_threshold is not None:
        rule = rule.with_threshold(opts.negative_threshold)
    return rule


MASK_EXPANDABLE_MODEL_TYPES = frozenset({"bert", "roberta", "xlm-roberta"})


def expand_attention_mask(input_ids: torch.Tensor, lengths: torch.Tensor, padded: bool) -> dict[str, torch.Tensor]:
    """Model inputs whose mask transformers passes to SDPA without reading it back.

    No padding (known on the host, so no device sync): no mask at all, which also
    lets SDPA pick its flash kernel. Otherwise a boolean (batch, 1, len, len) view
    (an expand, no copy) of "attend to every real token", built on the device.
    """
    if not padded:
        return {"input_ids": input_ids}
    lengths = lengths.to(input_ids.device, non_blocking=True)
    cols = torch.arange(input_ids.shape[1], device=input_ids.device)
    mask = cols[None, :] < lengths[:, None]
    length = input_ids.shape[1]
    return {"input_ids": input_ids, "attention_mask": mask[:, None, None, :].expand(-1, 1, length, -1)}


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
_worker_languages: LanguageDetector | None = None


def _init_tokenizer_worker(
    tokenizer_dir: str, max_tokens: int, detect_languages: bool, ready: Any, failure: Any
) -> None:
    # Runs once in each tokenizer process (module state of that process only).
    global _worker_tokenizer, _worker_max_tokens, _worker_languages
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one thread per process; parallelism is the pool
    try:
        torch.set_num_threads(1)
        from transformers import AutoTokenizer

        _worker_tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        _worker_max_tokens = max_tokens
        _worker_languages = LanguageDetector() if detect_languages else None
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails fast with it
        # Raising here would make the pool respawn this process forever; report instead.
        with failure.get_lock():
            failure.value = f"{type(exc).__name__}: {exc}"[:500].encode("utf-8", "replace")
        return
    with ready.get_lock():
        ready.value += 1


def _tokenize_chunk(task: tuple[list[str], str, bool]) -> TokenizedChunk:
    if _worker_tokenizer is None:
        raise RuntimeError("tokenizer process has no tokenizer (its start-up failed)")
    texts, prefix, detect = task
    chunk = tokenize_unpadded(_worker_tokenizer, [prefix + t for t in texts], _worker_max_tokens)
    if not detect or _worker_languages is None:
        return chunk  # compact int32 arrays: little to pickle back
    return TokenizedChunk(chunk.ids, chunk.lengths, chunk.types, [_worker_languages.detect(t) for t in texts])


class _TokenizerPool:
    """Processes that tokenise (and detect the language of) chunk k+1.. while the model runs batch k."""

    READY_TIMEOUT_S = 120.0

    def __init__(self, tokenizer: Any, processes: int, max_tokens: int, *, detect_languages: bool = False) -> None:
        self.detects_languages = detect_languages
        self._dir = tempfile.TemporaryDirectory(prefix="repwatch-tokenizer-")
        tokenizer.save_pretrained(self._dir.name)
        # spawn, not fork: the parent holds CUDA state and torch threads that must not be forked.
        ctx = mp.get_context("spawn")
        ready, failure = ctx.Value("i", 0), ctx.Array("c", 512)
        self._pool = ctx.Pool(
            processes,
            initializer=_init_tokenizer_worker,
            initargs=(self._dir.name, max_tokens, detect_languages, ready, failure),
        )
        # Wait until every process has its tokenizer loaded: a pool still importing
        # transformers would make the first batches (and any benchmark) slow.
        deadline = time.monotonic() + self.READY_TIMEOUT_S
        while ready.value < processes:
            problem = failure.value.decode("utf-8", "replace")
            if problem or time.monotonic() > deadline:
                self.close()
                why = problem or f"not ready after {self.READY_TIMEOUT_S:.0f}s"
                raise ModelLoadError(f"tokenizer processes could not start: {why}")
            time.sleep(0.02)

    def tokenize(
        self, chunks: list[list[str]], prefix: str, *, detect_languages: bool = False
    ) -> Iterator[TokenizedChunk]:
        # imap keeps input order and lets the workers run ahead of the consumer.
        detect = detect_languages and self.detects_languages
        yield from self._pool.imap(_tokenize_chunk, [(c, prefix, detect) for c in chunks], chunksize=1)

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()
        self._dir.cleanup()
