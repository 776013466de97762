"""The KSampler-level entry points: ComfyUI's `comfy/sample.py` and `KSampler` rules over our guiders.

- `ksampler_sigmas`: the schedule KSampler uses (denoise < 1 computes int(steps / denoise) steps and
  keeps the last steps + 1 sigmas; some samplers drop the penultimate sigma).
- `sample`: KSampler/KSamplerAdvanced on latent tensors: start/last step slicing, force_full_denoise
  (the last kept sigma becomes 0, otherwise noise is left over), CFG guidance.
- `sample_custom`: SamplerCustom's run with a SAMPLER and SIGMAS.
- `common_ksampler` / `custom_sample_latent`: the same on LATENT dicts, as the nodes call them
  (empty-latent widening, seeded noise with `batch_index`, `noise_mask`, the denoised output).
Results come back on `output_device` (the CPU, ComfyUI's intermediate device).
docs/diffusion-sampling.md §KSampler. Called from the executor thread, inside the node call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch

from toucan_nb.diffusion.sampling.denoiser import SamplingStep, StepCallback
from toucan_nb.diffusion.sampling.guidance import CFGGuider, Guider
from toucan_nb.diffusion.sampling.noise import fix_empty_latent_channels, prepare_noise
from toucan_nb.diffusion.sampling.sampler import (
    DISCARD_PENULTIMATE_SIGMA,
    SAMPLER_NAMES,
    Sampler,
    sampler_object,
)
from toucan_nb.diffusion.sampling.schedulers import SCHEDULER_NAMES, calculate_sigmas

if TYPE_CHECKING:
    from toucan_nb.diffusion.sampling.model import DenoiserModel
    from toucan_nb.diffusion.sampling.model_sampling import ModelSamplingDiscrete

Conditioning = Sequence[Sequence[Any]]
Latent = Mapping[str, Any]


def ksampler_sigmas(model_sampling: ModelSamplingDiscrete, sampler_name: str, scheduler: str, steps: int,
                    denoise: float | None = 1.0) -> torch.Tensor:
    """KSampler's sigmas for `steps` steps at `denoise`. Raises ValueError for an unknown name."""
    if sampler_name not in SAMPLER_NAMES:
        raise ValueError(f"unknown sampler {sampler_name!r}")
    if scheduler not in SCHEDULER_NAMES:
        raise ValueError(f"unknown scheduler {scheduler!r}")

    def full(n: int) -> torch.Tensor:
        discard = sampler_name in DISCARD_PENULTIMATE_SIGMA
        sigmas = calculate_sigmas(model_sampling, scheduler, n + 1 if discard else n)
        return torch.cat([sigmas[:-2], sigmas[-1:]]) if discard else sigmas

    if denoise is None or denoise > 0.9999:
        return full(steps)
    if denoise <= 0.0:
        return torch.FloatTensor([])
    return full(int(steps / denoise))[-(steps + 1):]


def sample(model: DenoiserModel, noise: torch.Tensor, steps: int, cfg: float, sampler_name: str, scheduler: str,
           positive: Conditioning, negative: Conditioning, latent_image: torch.Tensor, denoise: float = 1.0,
           disable_noise: bool = False, start_step: int | None = None, last_step: int | None = None,
           force_full_denoise: bool = False, noise_mask: torch.Tensor | None = None,
           sigmas: torch.Tensor | None = None, callback: StepCallback | None = None, seed: int | None = None,
           output_device: torch.device | str = "cpu") -> torch.Tensor:
    """Sample `latent_image` (raw VAE space) from `noise`; the result is in raw VAE space.

    `disable_noise` is accepted for ComfyUI's signature: the caller passes zero noise for it.
    """
    if sigmas is None:
        sigmas = ksampler_sigmas(model.model_sampling, sampler_name, scheduler, steps, denoise)
    sigmas = sigmas.to(model.device)
    if last_step is not None and last_step < len(sigmas) - 1:
        sigmas = sigmas[:last_step + 1].clone()
        if force_full_denoise:
            sigmas[-1] = 0
    if start_step is not None:
        if start_step < len(sigmas) - 1:
            sigmas = sigmas[start_step:]
        else:
            return (latent_image if latent_image is not None else torch.zeros_like(noise)).to(output_device)
    guider = CFGGuider(model)
    guider.set_conds(positive, negative)
    guider.set_cfg(cfg)
    return guider.sample(noise, latent_image, sampler_object(sampler_name), sigmas, noise_mask, callback,
                         seed).to(output_device)


def sample_custom(model: DenoiserModel, noise: torch.Tensor, cfg: float, sampler: Sampler, sigmas: torch.Tensor,
                  positive: Conditioning, negative: Conditioning, latent_image: torch.Tensor,
                  noise_mask: torch.Tensor | None = None, callback: StepCallback | None = None,
                  seed: int | None = None, output_device: torch.device | str = "cpu") -> torch.Tensor:
    """SamplerCustom's sampling: a CFG guider over a given SAMPLER and SIGMAS."""
    guider = CFGGuider(model)
    guider.set_conds(positive, negative)
    guider.set_cfg(cfg)
    return guider.sample(noise, latent_image, sampler, sigmas, noise_mask, callback, seed).to(output_device)


def common_ksampler(model: DenoiserModel, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
                    positive: Conditioning, negative: Conditioning, latent: Latent, denoise: float = 1.0,
                    disable_noise: bool = False, start_step: int | None = None, last_step: int | None = None,
                    force_full_denoise: bool = False, callback: StepCallback | None = None) -> dict[str, Any]:
    """KSampler / KSamplerAdvanced on a LATENT dict: a copy of it with new "samples"."""
    latent_image = fix_empty_latent_channels(model.latent_format, latent["samples"])
    if disable_noise:
        noise = torch.zeros(latent_image.size(), dtype=latent_image.dtype, layout=latent_image.layout, device="cpu")
    else:
        noise = prepare_noise(latent_image, seed, latent.get("batch_index"))
    samples = sample(model, noise, steps, cfg, sampler_name, scheduler, positive, negative, latent_image,
                     denoise=denoise, disable_noise=disable_noise, start_step=start_step, last_step=last_step,
                     force_full_denoise=force_full_denoise, noise_mask=latent.get("noise_mask"), callback=callback,
                     seed=seed)
    out = dict(latent)
    out["samples"] = samples
    return out


@dataclass(frozen=True)
class CustomSampleResult:
    """SamplerCustom(Advanced)'s two LATENT outputs."""

    output: dict[str, Any]
    denoised_output: dict[str, Any]


class _LastDenoised:
    """Passes steps on to the caller's callback and keeps the last step's denoised latent."""

    def __init__(self, callback: StepCallback | None) -> None:
        self.callback = callback
        self.x0: torch.Tensor | None = None

    def __call__(self, step: SamplingStep) -> None:
        self.x0 = step.denoised
        if self.callback is not None:
            self.callback(step)


class NoiseSource(Protocol):
    """A NOISE object (`noise.RandomNoise`, `noise.DisableNoise`)."""

    seed: int

    def generate_noise(self, input_latent: Latent) -> torch.Tensor: ...


def custom_sample_latent(guider: Guider, noise_source: NoiseSource, sampler: Sampler, sigmas: torch.Tensor,
                         latent: Latent, callback: StepCallback | None = None, seed: int | None = None,
                         output_device: torch.device | str = "cpu") -> CustomSampleResult:
    """SamplerCustomAdvanced on a LATENT dict (SamplerCustom: a CFGGuider, and `seed` = its noise_seed).

    The step noise is seeded with `seed`, else the NOISE object's seed. The denoised output is the
    last step's prediction in raw VAE space, or the output itself when no step ran.
    """
    model = guider.model
    latent = dict(latent)
    latent_image = fix_empty_latent_channels(model.latent_format, latent["samples"])
    latent["samples"] = latent_image
    noise = noise_source.generate_noise(latent)
    capture = _LastDenoised(callback)
    samples = guider.sample(noise, latent_image, sampler, sigmas, latent.get("noise_mask"), capture,
                            noise_source.seed if seed is None else seed)
    out = dict(latent)
    out["samples"] = samples.to(output_device)
    if capture.x0 is None:
        return CustomSampleResult(out, out)
    denoised = dict(latent)
    denoised["samples"] = model.latent_format.process_out(capture.x0.cpu())
    return CustomSampleResult(out, denoised)
