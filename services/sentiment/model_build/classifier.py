"""The default sentiment classifier's architecture, shared by training and assembly.

Why one module: the model that is trained and the model that is shipped must
be the same function. Both are built here from the same three pieces:

1. the rebuilt multilingual-e5-small encoder (:mod:`.encoder`), frozen;
2. the adapter from ``adapter/`` (LoRA factors, a few replaced small tensors
   such as LayerNorms and biases, the pooler and the classifier);
3. for ``pooling="mean"``, one extra, *fixed* BERT layer that turns the
   stock [CLS]-pooling ``BertForSequenceClassification`` into a masked
   mean-pooling classifier (see :func:`mean_pool_layer_state`); for
   ``pooling="cls"`` (what ships, see :mod:`.train` for the measurements)
   nothing is added: the trained pooler reads the first token.

The shipped model is a plain ``BertForSequenceClassification`` (no custom
code, no ``trust_remote_code``): at assembly the LoRA updates are merged into
the dense weights and the state dict is written as ``model.safetensors``.

Why the extra layer exists at all: e5 was trained to be read by mean pooling over the
attention mask, while ``BertForSequenceClassification`` classifies from the
first token through a pooler that the e5 checkpoint does not even have. A
13th layer whose query and key weights are zero attends *uniformly* over the
non-padding tokens, so its [CLS] output is the masked mean of the layer-12
states (value = identity, output projection = ``s · I`` so that after the
residual add and LayerNorm the [CLS] state itself contributes only ``1/s``;
the feed-forward block is zero, so the second LayerNorm is a no-op on an
already normalised vector). Every other position's output is ignored by the
classifier. The same layer runs at training time, so the shipped model and
the trained one are identical, not an approximation of each other.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .data import LABEL_NAMES
from .lora import LORA_A_SUFFIX, LORA_B_SUFFIX, LoRALinear, inject_lora, merge_lora

__all__ = [
    "ADAPTER_FORMAT",
    "ADAPTER_MANIFEST",
    "ADAPTER_WEIGHTS",
    "DEFAULT_ADAPTER_DIR",
    "LORA_TARGETS",
    "MEAN_POOL_VALUE_SCALE",
    "POOLINGS",
    "TEXT_PREFIX",
    "AdapterError",
    "base_state_dict",
    "build_model",
    "classifier_config",
    "export_adapter_tensors",
    "head_keys",
    "load_adapter_into",
    "lora_module_names",
    "mean_pool_layer_state",
    "merged_state_dict",
    "read_adapter",
    "sha256_bytes",
    "sha256_path",
    "training_model_from_adapter",
    "write_adapter",
]

ADAPTER_FORMAT = 1
ADAPTER_WEIGHTS = "adapter.safetensors"
ADAPTER_MANIFEST = "adapter.json"
DEFAULT_ADAPTER_DIR = Path(__file__).resolve().parent / "adapter"

TEXT_PREFIX = "query: "
"""e5 was trained with this prefix on queries/single texts; the worker prepends it from config.json."""

POOLINGS = ("mean", "cls")

MEAN_POOL_VALUE_SCALE = 256.0
"""``s`` in the mean-pooling layer: the [CLS] residual leaks in at ``1/s`` (a power of two, exact in float)."""

LORA_TARGETS: tuple[str, ...] = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
"""Every dense layer of a BERT block gets an adapter."""

_CHUNK = 1 << 20


class AdapterError(RuntimeError):
    """The adapter is inconsistent with itself or with the encoder it is applied to."""


# --------------------------------------------------------------------------
# hashing


def sha256_path(path: Path) -> str:
    """Streamed sha256 of a file (the encoder weights are ~470 MB)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------
# architecture


def classifier_config(encoder_config: Mapping[str, Any], pooling: str) -> dict[str, Any]:
    """``config.json`` of the classifier, derived from the encoder's.

    Labels are named (negative/neutral/positive) so that the worker's label
    mapping needs no override, and ``repwatch_text_prefix`` tells the worker
    to prepend e5's ``"query: "``.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
    cfg = {k: v for k, v in encoder_config.items() if k not in ("architectures", "transformers_version")}
    layers = int(encoder_config["num_hidden_layers"])
    cfg.update(
        {
            "architectures": ["BertForSequenceClassification"],
            "model_type": "bert",
            "num_hidden_layers": layers + (1 if pooling == "mean" else 0),
            "num_labels": len(LABEL_NAMES),
            "id2label": {str(i): name for i, name in enumerate(LABEL_NAMES)},
            "label2id": {name: i for i, name in enumerate(LABEL_NAMES)},
            "problem_type": "single_label_classification",
            "classifier_dropout": None,
            "repwatch_text_prefix": TEXT_PREFIX,
            "repwatch_pooling": (
                f"mean: layer {layers} is a fixed masked-mean-pooling layer"
                if pooling == "mean"
                else "cls: first token through the trained pooler (stock BertForSequenceClassification)"
            ),
        }
    )
    return cfg


def mean_pool_layer_state(
    layer_index: int,
    hidden_size: int,
    intermediate_size: int,
    value_scale: float = MEAN_POOL_VALUE_SCALE,
) -> dict[str, torch.Tensor]:
    """Weights of a BERT layer whose [CLS] output is LayerNorm(mean of its inputs).

    Query/key = 0: every score is 0, so softmax over the unmasked positions is
    uniform and padding stays excluded by the attention mask. Value = I, output
    projection = ``value_scale · I``: the attention output is ``s · mean``,
    added to the [CLS] input (the residual, which cannot be switched off) and
    normalised, so the residual weighs ``1/s``. Feed-forward = 0 (GELU(0) = 0,
    zero output bias), leaving the final LayerNorm to act on a normalised
    vector, which it returns unchanged up to ``eps``.
    """
    h, i = hidden_size, intermediate_size
    p = f"bert.encoder.layer.{layer_index}."
    zeros = torch.zeros
    return {
        p + "attention.self.query.weight": zeros(h, h),
        p + "attention.self.query.bias": zeros(h),
        p + "attention.self.key.weight": zeros(h, h),
        p + "attention.self.key.bias": zeros(h),
        p + "attention.self.value.weight": torch.eye(h),
        p + "attention.self.value.bias": zeros(h),
        p + "attention.output.dense.weight": torch.eye(h) * value_scale,
        p + "attention.output.dense.bias": zeros(h),
        p + "attention.output.LayerNorm.weight": torch.ones(h),
        p + "attention.output.LayerNorm.bias": zeros(h),
        p + "intermediate.dense.weight": zeros(i, h),
        p + "intermediate.dense.bias": zeros(i),
        p + "output.dense.weight": zeros(h, i),
        p + "output.dense.bias": zeros(h),
        p + "output.LayerNorm.weight": torch.ones(h),
        p + "output.LayerNorm.bias": zeros(h),
    }


def head_keys() -> tuple[str, ...]:
    """Tensors the classifier has and the encoder does not: trained, shipped in the adapter."""
    return ("bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias")


def read_encoder_config(encoder_dir: Path) -> dict[str, Any]:
    return json.loads((Path(encoder_dir) / "config.json").read_text(encoding="utf-8"))


def base_state_dict(
    encoder_dir: Path, pooling: str, value_scale: float = MEAN_POOL_VALUE_SCALE
) -> dict[str, torch.Tensor]:
    """Encoder tensors under ``bert.*`` names, plus the fixed mean-pooling layer if asked."""
    encoder_config = read_encoder_config(encoder_dir)
    raw = load_file(str(Path(encoder_dir) / "model.safetensors"))
    state = {("bert." + k if not k.startswith("bert.") else k): v.float() for k, v in raw.items()}
    if any(k.startswith("bert.pooler.") for k in state):
        raise AdapterError("the encoder unexpectedly has a pooler; this build expects e5 without one")
    if pooling == "mean":
        state.update(
            mean_pool_layer_state(
                int(encoder_config["num_hidden_layers"]),
                int(encoder_config["hidden_size"]),
                int(encoder_config["intermediate_size"]),
                value_scale,
            )
        )
    return state


def lora_module_names(layers: Iterable[int], targets: Iterable[str] = LORA_TARGETS) -> list[str]:
    """Dotted module paths of the dense layers that get adapters."""
    return [f"bert.encoder.layer.{i}.{t}" for i in layers for t in targets]


def merged_state_dict(
    base: Mapping[str, torch.Tensor], adapter: Mapping[str, torch.Tensor], lora_scale: float
) -> dict[str, torch.Tensor]:
    """Apply the adapter to ``base``: merge LoRA pairs, replace or add the other tensors.

    Every LoRA pair must target an existing dense weight and every replaced
    tensor must keep its shape; the only tensors an adapter may *add* are the
    pooler and the classifier. Anything else means the adapter was made for a
    different architecture, which is an error, not something to skip.
    """
    state = dict(base)
    allowed_new = set(head_keys())
    for key, tensor in adapter.items():
        if key.endswith(LORA_B_SUFFIX):
            if key[: -len(LORA_B_SUFFIX)] + LORA_A_SUFFIX not in adapter:
                raise AdapterError(f"{key} has no matching lora_A")
            continue
        if key.endswith(LORA_A_SUFFIX):
            module = key[: -len(LORA_A_SUFFIX)]
            b_key = module + LORA_B_SUFFIX
            w_key = module + ".weight"
            if b_key not in adapter:
                raise AdapterError(f"{key} has no matching lora_B")
            if w_key not in state:
                raise AdapterError(f"LoRA targets {w_key}, which the model does not have")
            state[w_key] = merge_lora(state[w_key], tensor.float(), adapter[b_key].float(), lora_scale)
            continue
        if key in state:
            if tuple(state[key].shape) != tuple(tensor.shape):
                raise AdapterError(f"{key}: adapter shape {tuple(tensor.shape)} != model {tuple(state[key].shape)}")
        elif key not in allowed_new:
            raise AdapterError(f"adapter tensor {key} matches nothing in the model")
        state[key] = tensor.float().contiguous()
    missing = allowed_new - set(state)
    if missing:
        raise AdapterError(f"adapter lacks the head tensors {sorted(missing)}")
    return state


# --------------------------------------------------------------------------
# the training-time model


def build_model(
    encoder_dir: Path,
    pooling: str,
    *,
    value_scale: float = MEAN_POOL_VALUE_SCALE,
    seed: int = 0,
) -> torch.nn.Module:
    """``BertForSequenceClassification`` on the encoder, head freshly (and reproducibly) initialised."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(**classifier_config(read_encoder_config(encoder_dir), pooling))
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    missing, unexpected = model.load_state_dict(base_state_dict(encoder_dir, pooling, value_scale), strict=False)
    if unexpected or set(missing) - set(head_keys()):
        raise AdapterError(f"encoder does not fit the classifier: missing {missing}, unexpected {unexpected}")
    return model


def _hf_name(param_name: str) -> str:
    """``...query.base.bias`` (inside a LoRALinear) -> ``...query.bias`` (the stock name)."""
    return param_name.replace(".base.", ".")


def export_adapter_tensors(model: torch.nn.Module, lora_dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """What the shipped adapter holds: LoRA factors (``lora_dtype``) and every other trainable tensor (float32)."""
    out: dict[str, torch.Tensor] = {}
    for name, module in model.named_modules():
        if isinstance(module, LoRALinear):
            out[name + LORA_A_SUFFIX] = module.lora_A.detach().to(lora_dtype).contiguous()
            out[name + LORA_B_SUFFIX] = module.lora_B.detach().to(lora_dtype).contiguous()
    for name, param in model.named_parameters():
        if param.requires_grad and ".lora_" not in name:
            out[_hf_name(name)] = param.detach().float().contiguous()
    return out


def load_adapter_into(model: torch.nn.Module, adapter: Mapping[str, torch.Tensor]) -> None:
    """Set a LoRA-injected training model's tensors from an adapter (the inverse of export)."""
    modules = dict(model.named_modules())
    params = {_hf_name(n): p for n, p in model.named_parameters()}
    with torch.no_grad():
        for key, tensor in adapter.items():
            if key.endswith((LORA_A_SUFFIX, LORA_B_SUFFIX)):
                module_name, _, rest = key.rpartition(".lora_")
                module = modules.get(module_name)
                if not isinstance(module, LoRALinear):
                    raise AdapterError(f"{key}: {module_name} is not a LoRA module in this model")
                target = module.lora_A if rest.startswith("A") else module.lora_B
            else:
                if key not in params:
                    raise AdapterError(f"adapter tensor {key} matches nothing in the model")
                target = params[key]
            if tuple(target.shape) != tuple(tensor.shape):
                raise AdapterError(f"{key}: shape {tuple(tensor.shape)} != {tuple(target.shape)}")
            target.copy_(tensor.float())


def training_model_from_adapter(encoder_dir: Path, adapter_dir: Path = DEFAULT_ADAPTER_DIR) -> torch.nn.Module:
    """The unmerged model exactly as training evaluated it, from the stored adapter.

    Used to check that assembly (which merges) predicts the same as training.
    """
    tensors, manifest = read_adapter(adapter_dir)
    arch, lora = manifest["architecture"], manifest["lora"]
    model = build_model(
        encoder_dir, arch["pooling"], value_scale=float(arch.get("mean_pool_value_scale", MEAN_POOL_VALUE_SCALE))
    )
    inject_lora(model, lora["modules"], int(lora["rank"]), float(lora["alpha"]))
    load_adapter_into(model, tensors)
    return model.eval()


# --------------------------------------------------------------------------
# adapter files


def write_adapter(adapter_dir: Path, tensors: Mapping[str, torch.Tensor], manifest: Mapping[str, Any]) -> None:
    """Write ``adapter.safetensors`` and ``adapter.json`` (with the weights' sha256).

    Each file is written to a temp name and renamed, so a crash mid-write never
    leaves a manifest describing weights that are not there.
    """
    adapter_dir = Path(adapter_dir)
    adapter_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_weights = tempfile.mkstemp(prefix=".adapter-", suffix=".safetensors", dir=adapter_dir)
    os.close(fd)
    try:
        save_file({k: v.contiguous() for k, v in sorted(tensors.items())}, tmp_weights, metadata={"format": "pt"})
        digest = sha256_path(Path(tmp_weights))
        full = dict(manifest)
        full["format"] = ADAPTER_FORMAT
        full["weights"] = {"file": ADAPTER_WEIGHTS, "sha256": digest, "bytes": Path(tmp_weights).stat().st_size}
        fd, tmp_manifest = tempfile.mkstemp(prefix=".adapter-", suffix=".json", dir=adapter_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(full, indent=2, ensure_ascii=False) + "\n")
        os.chmod(tmp_weights, 0o644)
        os.chmod(tmp_manifest, 0o644)
        os.replace(tmp_weights, adapter_dir / ADAPTER_WEIGHTS)
        os.replace(tmp_manifest, adapter_dir / ADAPTER_MANIFEST)
    finally:
        for leftover in adapter_dir.glob(".adapter-*"):
            leftover.unlink(missing_ok=True)


def read_manifest(adapter_dir: Path) -> dict[str, Any]:
    path = Path(adapter_dir) / ADAPTER_MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AdapterError(f"cannot read adapter manifest {path}: {exc}") from None
    if manifest.get("format") != ADAPTER_FORMAT:
        raise AdapterError(f"{path}: adapter format {manifest.get('format')!r}, this code reads {ADAPTER_FORMAT}")
    return manifest


def read_adapter(adapter_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Adapter tensors and manifest, refusing weights whose sha256 differs from the manifest."""
    manifest = read_manifest(adapter_dir)
    weights = Path(adapter_dir) / manifest["weights"]["file"]
    actual = sha256_path(weights)
    if actual != manifest["weights"]["sha256"]:
        raise AdapterError(
            f"{weights}: sha256 {actual} != {manifest['weights']['sha256']} recorded in {ADAPTER_MANIFEST}; "
            "the adapter weights were changed or corrupted"
        )
    return load_file(str(weights)), manifest
