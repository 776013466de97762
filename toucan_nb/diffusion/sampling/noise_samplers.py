"""Step noise for ancestral and SDE samplers, drawn as ComfyUI draws it.

A noise sampler is called as `noise(sigma, sigma_next)` and returns unit Gaussian noise shaped like
the latent. `ancestral_noise` (ComfyUI's `default_noise_sampler`) draws from a generator on the
latent's device seeded with `seed + 1` on the CPU and `seed` elsewhere, so CPU and GPU runs differ
by design. `BrownianTreeNoise` is the Brownian-tree noise of the `*_sde` samplers (torchsde, the
tree on the CPU unless a `_gpu` variant asks for the latent's device): the increment between two
sigmas, normalised. docs/diffusion-sampling.md §Noise. Created per sampling run; that run's thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

# QUIRK(docs/diffusion-sampling.md §Noise): ComfyUI seeds the CPU step generator with seed + 1, which
# overflows for seed 2^64 - 1 and fails there; we wrap to 0 instead.
_SEED_MODULUS = 2 ** 64


class NoiseSampler(Protocol):
    def __call__(self, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor: ...


def ancestral_noise(x: torch.Tensor, seed: int | None) -> NoiseSampler:
    """Fresh Gaussian draws shaped like `x` from a generator private to this run."""
    generator: torch.Generator | None = None
    if seed is not None:
        if x.device == torch.device("cpu"):
            seed = (seed + 1) % _SEED_MODULUS
        generator = torch.Generator(device=x.device)
        generator.manual_seed(seed)

    def draw(sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        return torch.randn(x.size(), dtype=x.dtype, layout=x.layout, device=x.device, generator=generator)

    return draw


class _BatchedBrownianTree:
    """torchsde Brownian trees over [t0, t1], one per seed (a list of seeds gives one per batch entry)."""

    def __init__(self, x: torch.Tensor, t0: torch.Tensor, t1: torch.Tensor, seed: int | list[int] | None,
                 on_cpu: bool) -> None:
        import torchsde

        self.on_cpu = on_cpu
        t0, t1, self.sign = self._sort(t0, t1)
        w0 = torch.zeros_like(x)
        self.batched = False
        if seed is None:
            seeds: tuple[int, ...] = (int(torch.randint(0, 2 ** 63 - 1, ()).item()),)
        elif isinstance(seed, (tuple, list)):
            if len(seed) != x.shape[0]:
                raise ValueError("Passing a list or tuple of seeds to BatchedBrownianTree requires a length "
                                 "matching the batch size.")
            self.batched = True
            w0 = w0[0]
            seeds = tuple(seed)
        else:
            seeds = (seed,)
        if on_cpu:
            t0, w0, t1 = t0.detach().cpu(), w0.detach().cpu(), t1.detach().cpu()
        self.trees = tuple(torchsde.BrownianTree(t0, w0, t1, entropy=s) for s in seeds)

    @staticmethod
    def _sort(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        return (a, b, 1) if a < b else (b, a, -1)

    def __call__(self, t0: torch.Tensor, t1: torch.Tensor) -> torch.Tensor:
        t0, t1, sign = self._sort(t0, t1)
        device, dtype = t0.device, t0.dtype
        if self.on_cpu:
            t0, t1 = t0.detach().cpu().float(), t1.detach().cpu().float()
        w = torch.stack([tree(t0, t1) for tree in self.trees]).to(device=device, dtype=dtype) * (self.sign * sign)
        return w if self.batched else w[0]


class BrownianTreeNoise:
    """Normalised Brownian increments between two sigmas, reproducible for a seed."""

    def __init__(self, x: torch.Tensor, sigma_min: torch.Tensor, sigma_max: torch.Tensor,
                 seed: int | list[int] | None = None, on_cpu: bool = True,
                 transform: Callable[[torch.Tensor], torch.Tensor] = lambda t: t) -> None:
        self.transform = transform
        t0 = transform(torch.as_tensor(sigma_min))
        t1 = transform(torch.as_tensor(sigma_max))
        self.tree = _BatchedBrownianTree(x, t0, t1, seed, on_cpu)

    def __call__(self, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        t0 = self.transform(torch.as_tensor(sigma))
        t1 = self.transform(torch.as_tensor(sigma_next))
        return self.tree(t0, t1) / (t1 - t0).abs().sqrt()


def brownian_noise_for(x: torch.Tensor, sigmas: torch.Tensor, seed: int | None, on_cpu: bool) -> BrownianTreeNoise:
    """The tree an SDE sampler builds over the run's positive sigma range."""
    sigma_min, sigma_max = sigmas[sigmas > 0].min(), sigmas.max()
    return BrownianTreeNoise(x, sigma_min, sigma_max, seed=seed, on_cpu=on_cpu)
