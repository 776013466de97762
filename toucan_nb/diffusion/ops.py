"""Layers that store weights in one dtype and compute in the input's dtype, plus attention.

ComfyUI keeps text encoders in fp16 and computes them in fp32, and can store a UNet in fp8 while
computing in fp16; these layers do the same: at each call the weight and bias are cast to the
input's dtype when they differ (a no-op when they match, e.g. an fp32 UNet on the CPU). Modules
are built on the `meta` device by the networks and receive their tensors from a state dict, so
construction allocates nothing. Attention is torch's `scaled_dot_product_attention` (ComfyUI's
CPU paths split or chunk the same sums, which changes only float rounding).
Pure torch; any thread, one call at a time per module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _cast(t: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    if t is None or t.dtype == like.dtype:
        return t
    return t.to(like.dtype)


class _NoInit:
    """Skips the random initialisation torch's layers do on construction: every tensor comes from a
    state dict, and on the `meta` device the init ops alone cost a one-time import of torch's
    decomposition machinery (about 1.5 s on the first model a process builds; ComfyUI skips it too)."""

    def reset_parameters(self) -> None:
        return None


class Linear(_NoInit, nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, _cast(self.weight, x), _cast(self.bias, x))


class Conv2d(_NoInit, nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, _cast(self.weight, x), _cast(self.bias, x))


class GroupNorm(_NoInit, nn.GroupNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, self.num_groups, _cast(self.weight, x), _cast(self.bias, x), self.eps)


class LayerNorm(_NoInit, nn.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.normalized_shape, _cast(self.weight, x), _cast(self.bias, x), self.eps)


class Embedding(_NoInit, nn.Embedding):
    def lookup(self, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Rows for `ids`, in `dtype` (gathered in the storage dtype, then cast, as ComfyUI does)."""
        return F.embedding(ids, self.weight).to(dtype)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int,
              mask: torch.Tensor | None = None) -> torch.Tensor:
    """Multi-head attention over [B, N, heads * d] projections; `mask` is additive ([N, M] or [B, N, M])."""
    b, _, inner = q.shape
    d = inner // heads
    q, k, v = (t.view(b, -1, heads, d).transpose(1, 2) for t in (q, k, v))
    if mask is not None:
        while mask.ndim < 4:
            mask = mask.unsqueeze(0) if mask.ndim == 2 else mask.unsqueeze(1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, is_causal=False)
    return out.transpose(1, 2).reshape(b, -1, heads * d)


def load_weights(module: nn.Module, state_dict: dict[str, torch.Tensor], what: str) -> None:
    """Give a meta-built module its tensors, as they are (no copy), requiring an exact key match.

    Raises `WeightsMismatchError` naming the missing and unexpected keys (a few of each).
    """
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = [f"{k} {tuple(state_dict[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    if missing or unexpected or wrong:
        raise WeightsMismatchError(what, missing, unexpected, wrong)
    module.load_state_dict(state_dict, strict=True, assign=True)
    for p in module.parameters():
        p.requires_grad_(False)


class WeightsMismatchError(ValueError):
    """A state dict does not fit the network detected for it."""

    def __init__(self, what: str, missing: list[str], unexpected: list[str], wrong_shape: list[str]) -> None:
        def few(keys: list[str]) -> str:
            shown = ", ".join(keys[:8])
            return shown + (f" ... ({len(keys)} in all)" if len(keys) > 8 else "")

        parts = []
        if missing:
            parts.append(f"missing keys: {few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {few(unexpected)}")
        if wrong_shape:
            parts.append(f"wrong shapes: {few(wrong_shape)}")
        super().__init__(f"{what}: the weights do not match the detected layout; " + "; ".join(parts))
        self.missing = missing
        self.unexpected = unexpected
        self.wrong_shape = wrong_shape
