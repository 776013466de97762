"""The starting noise of a sampling run, the empty-latent and inpainting-mask rules, and noise objects.

`prepare_noise` draws exactly the numbers ComfyUI's `comfy/sample.py` draws for a seed: one CPU
`randn` of the whole latent from a generator seeded with the seed (the CPU generator ComfyUI
reseeds globally with `torch.manual_seed`; ours is private, so the process-global generator is left
alone and the numbers are the same), or with `batch_index` one `[1, C, H, W]` draw per index up to
the largest, picked by index. Seeds go up to 2^64 - 1. docs/diffusion-sampling.md §Noise.
`RandomNoise` and `DisableNoise` are the NOISE objects of the custom-sampling nodes.
Pure functions; any thread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy
import torch

from toucan_nb.diffusion.latent_formats import LatentFormat


def prepare_noise(latent_image: torch.Tensor, seed: int, batch_index: Sequence[int] | None = None) -> torch.Tensor:
    """Seeded Gaussian noise shaped like `latent_image`, on the CPU, in its dtype and layout."""
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    size = list(latent_image.size())
    if batch_index is None:
        return torch.randn(size, dtype=latent_image.dtype, layout=latent_image.layout, generator=generator,
                           device="cpu")
    wanted, inverse = numpy.unique(numpy.asarray(batch_index), return_inverse=True)
    drawn: list[torch.Tensor] = []
    for i in range(int(wanted[-1]) + 1):
        noise = torch.randn([1] + size[1:], dtype=latent_image.dtype, layout=latent_image.layout,
                            generator=generator, device="cpu")
        if i in wanted:
            drawn.append(noise)
    return torch.cat([drawn[int(i)] for i in numpy.ravel(inverse)], dim=0)


def repeat_to_batch_size(tensor: torch.Tensor, batch_size: int, dim: int = 0) -> torch.Tensor:
    """`tensor` cut or tiled along `dim` to `batch_size` entries."""
    size = tensor.shape[dim]
    if size > batch_size:
        return tensor.narrow(dim, 0, batch_size)
    if size < batch_size:
        reps = dim * [1] + [math.ceil(batch_size / size)] + [1] * (tensor.ndim - 1 - dim)
        return tensor.repeat(reps).narrow(dim, 0, batch_size)
    return tensor


def fix_empty_latent_channels(latent_format: LatentFormat, latent_image: torch.Tensor) -> torch.Tensor:
    """An all-zero latent with the wrong channel count is widened (tiled) to the model's channels."""
    if latent_format.latent_channels != latent_image.shape[1] and torch.count_nonzero(latent_image) == 0:
        latent_image = repeat_to_batch_size(latent_image, latent_format.latent_channels, dim=1)
    return latent_image


def prepare_mask(noise_mask: torch.Tensor, shape: Sequence[int], device: torch.device | str) -> torch.Tensor:
    """A LATENT's `noise_mask` ([H, W], [B, H, W] or [B, 1, H, W]) resized bilinearly to the latent's
    [B, C, h, w] and tiled over channels and batch."""
    mask = noise_mask.reshape((-1, 1, noise_mask.shape[-2], noise_mask.shape[-1]))
    mask = torch.nn.functional.interpolate(mask, size=tuple(shape[2:]), mode="bilinear")
    if mask.shape[1] < shape[1]:
        mask = mask.repeat((1, shape[1], 1, 1))[:, :shape[1]]
    return repeat_to_batch_size(mask, shape[0]).to(device)


class RandomNoise:
    """The RandomNoise node's NOISE: `prepare_noise` of the latent with its `batch_index`."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def generate_noise(self, input_latent: Mapping[str, Any]) -> torch.Tensor:
        samples = input_latent["samples"]
        return prepare_noise(samples, self.seed, input_latent.get("batch_index"))


class DisableNoise:
    """The DisableNoise node's NOISE: zeros (the sampler's step noise still uses seed 0)."""

    seed = 0

    def generate_noise(self, input_latent: Mapping[str, Any]) -> torch.Tensor:
        samples = input_latent["samples"]
        return torch.zeros(samples.shape, dtype=samples.dtype, layout=samples.layout, device="cpu")
