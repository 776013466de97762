"""What a solver sees: the guided, inpainting-aware denoiser, and how it reports steps.

A solver calls `denoiser(x, sigma)` for the denoised latent at `sigma` ([B]); the CFG++ family calls
`denoiser.predict(x, sigma, need_uncond=True)`, which also returns the unconditional prediction and
runs the uncond pass even at cfg 1 (ComfyUI's `sampler_post_cfg_function` capture with
`disable_cfg1_optimization`). With a noise mask, the input outside the mask is replaced by the
original latent noised to `sigma` and the output outside the mask by the original latent (ComfyUI's
`KSamplerX0Inpaint`); the unconditional prediction is left unmasked, as ComfyUI captures it.
Each solver step calls `report(i, x, denoised)` once; `StepReporter` turns that into a
`SamplingStep` for the run's callback, which drives progress, previews and interrupts.
docs/diffusion-sampling.md §Samplers. One instance per sampling run, used on its thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch

    from toucan_nb.diffusion.sampling.model_sampling import ModelSamplingDiscrete


@dataclass(frozen=True, slots=True)
class Prediction:
    """A guided prediction: the CFG result and, when asked for, the unconditional one."""

    denoised: torch.Tensor
    uncond_denoised: torch.Tensor | None = None


@dataclass(frozen=True, slots=True)
class SamplingStep:
    """One solver step as the progress callback sees it (`index` counts from 0 up to `total` - 1)."""

    index: int
    total: int
    x: torch.Tensor
    denoised: torch.Tensor


StepCallback = Callable[[SamplingStep], None]


class PredictFunction(Protocol):
    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, need_uncond: bool) -> Prediction: ...


class StepReporter:
    """Calls the run's callback (if any) once per solver step."""

    def __init__(self, callback: StepCallback | None, total: int) -> None:
        self.callback = callback
        self.total = total

    def __call__(self, index: int, x: torch.Tensor, denoised: torch.Tensor) -> None:
        if self.callback is not None:
            self.callback(SamplingStep(index, self.total, x, denoised))


@dataclass(frozen=True)
class InpaintState:
    """What masked sampling keeps: the mask (1 = denoise), the clean latent and the noise to re-noise it."""

    mask: torch.Tensor
    latent_image: torch.Tensor
    noise: torch.Tensor


class Denoiser:
    """The function solvers integrate: noisy latent and sigma in, denoised latent out."""

    def __init__(self, predict: PredictFunction, model_sampling: ModelSamplingDiscrete, seed: int | None,
                 inpaint: InpaintState | None = None) -> None:
        self._predict = predict
        self.model_sampling = model_sampling
        self.seed = seed
        self.inpaint = inpaint

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return self.predict(x, sigma).denoised

    def predict(self, x: torch.Tensor, sigma: torch.Tensor, need_uncond: bool = False) -> Prediction:
        inpaint = self.inpaint
        if inpaint is None:
            return self._predict(x, sigma, need_uncond)
        keep = 1.0 - inpaint.mask
        sigma_b = sigma.reshape([sigma.shape[0]] + [1] * (inpaint.noise.ndim - 1))
        renoised = self.model_sampling.noise_scaling(sigma_b, inpaint.noise, inpaint.latent_image)
        x = x * inpaint.mask + renoised * keep
        out = self._predict(x, sigma, need_uncond)
        return Prediction(out.denoised * inpaint.mask + inpaint.latent_image * keep, out.uncond_denoised)
