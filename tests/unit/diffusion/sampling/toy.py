"""Test doubles for the network only: a tiny deterministic "UNet", a toy ADM encoder and random
TAESD decoder weights.

Pure torch (no toucan_nb imports): `scripts/goldens/record_sampling.py` imports this very file under
ComfyUI's venv to record ComfyUI's outputs over the same network, and the tests run our sampling
layer over it. Weights come from a seeded CPU generator, which draws the same numbers in both torch
versions; the arithmetic uses elementwise ops and fixed-order sums so both builds compute the same
floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

CONTEXT_DIM = 16
ADM_DIM = 8 + 6 + 1  # pooled (8) + six size fields + prompt type


def _randn(g: torch.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=g) * scale


def _mix(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Channel mixing out[b, o] = sum_c weight[o, c] * x[b, c], summed in channel order."""
    out = weight[:, 0, None, None] * x[:, 0:1]
    for c in range(1, weight.shape[1]):
        out = out + weight[:, c, None, None] * x[:, c:c + 1]
    return out


def _vec(weight: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """out[b, o] = sum_i v[b, i] * weight[i, o], summed in index order."""
    out = v[:, 0:1] * weight[0][None]
    for i in range(1, weight.shape[0]):
        out = out + v[:, i:i + 1] * weight[i][None]
    return out


def _token_mean(context: torch.Tensor) -> torch.Tensor:
    out = context[:, 0]
    for i in range(1, context.shape[1]):
        out = out + context[:, i]
    return out / context.shape[1]


class ToyUNet(torch.nn.Module):
    """A 'network' with the UNet's call shape: (x, timesteps, context, y) -> output like x[:, :channels].

    The output is mostly 0.9 * x plus a bounded nonlinear term of x, t, the mean context token and y,
    with one pixel of spatial mixing, so samplers stay stable, area crops change results and every
    input matters.
    """

    def __init__(self, channels: int = 4, concat_channels: int = 0, adm_dim: int = 0, seed: int = 1234,
                 prediction_gain: float = 0.9) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        cin = channels + concat_channels
        self.channels = channels
        self.gain = prediction_gain
        self.register_buffer("w_in", _randn(g, 8, cin, scale=0.4))
        self.register_buffer("w_out", _randn(g, channels, 8, scale=0.3))
        self.register_buffer("w_ctx", _randn(g, CONTEXT_DIM, 8, scale=0.3))
        self.register_buffer("freqs", torch.linspace(0.002, 0.05, 8))
        self.register_buffer("w_y", _randn(g, max(adm_dim, 1), 8, scale=0.3))

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor | None = None,
                y: torch.Tensor | None = None, **_: Any) -> torch.Tensor:
        cond = torch.sin(timesteps[:, None] * self.freqs[None, :])
        if context is not None:
            cond = cond + _vec(self.w_ctx, _token_mean(context))
        if y is not None:
            cond = cond + _vec(self.w_y, y)
        h = torch.tanh(_mix(self.w_in, x) + cond[:, :, None, None])
        h = h + 0.5 * torch.roll(h, 1, dims=3) - 0.25 * torch.roll(h, 1, dims=2)
        return self.gain * x[:, :self.channels] + 0.1 * _mix(self.w_out, h)


def toy_adm(params: Mapping[str, Any]) -> torch.Tensor | None:
    """A stand-in for SDXL's ADM vector: the pooled output, the size fields /1000, prompt type."""
    pooled = params.get("pooled_output")
    if pooled is None:
        return None
    width = params.get("width", 768)
    height = params.get("height", 768)
    sizes = [height, width, params.get("crop_h", 0), params.get("crop_w", 0),
             params.get("target_height", height), params.get("target_width", width)]
    extra = torch.tensor([[float(s) / 1000.0 for s in sizes] + [1.0 if params.get("prompt_type") == "negative"
                                                                else 0.0]])
    return torch.cat([pooled, extra.repeat(pooled.shape[0], 1)], dim=1)


def contexts(seed: int = 99) -> dict[str, torch.Tensor]:
    """Named conditioning tensors [1, tokens, CONTEXT_DIM] and pooled outputs used by the goldens."""
    g = torch.Generator().manual_seed(seed)
    return {
        "pos": _randn(g, 1, 7, CONTEXT_DIM),
        "neg": _randn(g, 1, 7, CONTEXT_DIM),
        "pos14": _randn(g, 1, 14, CONTEXT_DIM),
        "pos21": _randn(g, 1, 21, CONTEXT_DIM),
        "area": _randn(g, 1, 7, CONTEXT_DIM),
        "pooled_pos": _randn(g, 1, 8),
        "pooled_neg": _randn(g, 1, 8),
        "latent": _randn(g, 1, 4, 8, 8, scale=3.0),
        "latent2": _randn(g, 2, 4, 8, 8, scale=3.0),
        "mask": torch.rand(8, 8, generator=g),
        "pixel_mask": (torch.arange(64)[:, None] < 40).float().repeat(1, 64),  # [64, 64], top rows
    }


def random_state_dict(shapes: Iterable[tuple[str, tuple[int, ...]]], seed: int = 5, scale: float = 0.05
                      ) -> dict[str, torch.Tensor]:
    """Seeded random tensors for an ordered list of (key, shape): both sides derive the same weights
    from the key layout alone."""
    g = torch.Generator().manual_seed(seed)
    return {k: _randn(g, *shape, scale=scale) for k, shape in shapes}
