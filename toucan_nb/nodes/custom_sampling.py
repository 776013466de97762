"""The custom-sampling nodes of ComfyUI's `comfy_extras.nodes_custom_sampler` on the built-in engine.

KSamplerSelect, BasicScheduler, KarrasScheduler, ExponentialScheduler, PolyexponentialScheduler,
SDTurboScheduler, RandomNoise, DisableNoise, CFGGuider, BasicGuider, SamplerCustom,
SamplerCustomAdvanced, SplitSigmas, SplitSigmasDenoise. Their values (SAMPLER, SIGMAS, NOISE,
GUIDER) are the sampling layer's objects (docs/diffusion-sampling.md). ComfyUI writes these as V3
schema classes, so they describe themselves in the V3 shape (`OBJECT_INFO_V3`). Node calls come
from the executor thread.
"""

from __future__ import annotations

from typing import Any

import torch

from toucan_nb.diffusion.model import DiffusionModel
from toucan_nb.diffusion.sampling import schedulers
from toucan_nb.diffusion.sampling.guidance import BasicGuider as BasicGuiderValue
from toucan_nb.diffusion.sampling.guidance import CFGGuider as CFGGuiderValue
from toucan_nb.diffusion.sampling.guidance import Guider
from toucan_nb.diffusion.sampling.ksampler import NoiseSource, custom_sample_latent
from toucan_nb.diffusion.sampling.noise import DisableNoise as DisableNoiseValue
from toucan_nb.diffusion.sampling.noise import RandomNoise as RandomNoiseValue
from toucan_nb.diffusion.sampling.sampler import SAMPLER_NAMES, Sampler, sampler_object
from toucan_nb.nodes.sampling import CFG, SEED, STEPS
from toucan_nb.nodes.sampling_progress import step_callback
from toucan_nb.nodes.specs import combo

Latent = dict[str, Any]
Conditioning = list[list[Any]]

SIGMA_MAX = ("FLOAT", {"default": 14.614642, "min": 0.0, "max": 5000.0, "step": 0.01, "round": False})
SIGMA_MIN = ("FLOAT", {"default": 0.0291675, "min": 0.0, "max": 5000.0, "step": 0.01, "round": False})
DENOISE = ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01})


def _rho(default: float) -> tuple[str, dict[str, Any]]:
    return ("FLOAT", {"default": default, "min": 0.0, "max": 100.0, "step": 0.01, "round": False})


class _CustomSamplingNode:
    FUNCTION = "execute"
    OBJECT_INFO_V3 = True


class KSamplerSelect(_CustomSamplingNode):
    CATEGORY = "sampling/custom_sampling/samplers"
    RETURN_TYPES = ("SAMPLER",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"sampler_name": combo(SAMPLER_NAMES)}}

    def execute(self, sampler_name: str) -> tuple[Sampler]:
        return (sampler_object(sampler_name),)


class BasicScheduler(_CustomSamplingNode):
    CATEGORY = "sampling/custom_sampling/schedulers"
    RETURN_TYPES = ("SIGMAS",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"model": ("MODEL", {}), "scheduler": combo(schedulers.SCHEDULER_NAMES),
                             "steps": ("INT", dict(STEPS)), "denoise": DENOISE}}

    def execute(self, model: DiffusionModel, scheduler: str, steps: int, denoise: float) -> tuple[torch.Tensor]:
        ms = model.get_model_object("model_sampling")
        return (schedulers.basic_scheduler_sigmas(ms, scheduler, steps, denoise),)


class KarrasScheduler(_CustomSamplingNode):
    CATEGORY = "sampling/custom_sampling/schedulers"
    RETURN_TYPES = ("SIGMAS",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"steps": ("INT", dict(STEPS)), "sigma_max": SIGMA_MAX, "sigma_min": SIGMA_MIN,
                             "rho": _rho(7.0)}}

    def execute(self, steps: int, sigma_max: float, sigma_min: float, rho: float) -> tuple[torch.Tensor]:
        return (schedulers.karras_sigmas(steps, sigma_min, sigma_max, rho),)


class ExponentialScheduler(_CustomSamplingNode):
    CATEGORY = "sampling/custom_sampling/schedulers"
    RETURN_TYPES = ("SIGMAS",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"steps": ("INT", dict(STEPS)), "sigma_max": SIGMA_MAX, "sigma_min": SIGMA_MIN}}

    def execute(self, steps: int, sigma_max: float, sigma_min: float) -> tuple[torch.Tensor]:
        return (schedulers.exponential_sigmas(steps, sigma_min, sigma_max),)


class PolyexponentialScheduler(_CustomSamplingNode):
    CATEGORY = "sampling/custom_sampling/schedulers"
    RETURN_TYPES = ("SIGMAS",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"steps": ("INT", dict(STEPS)), "sigma_max": SIGMA_MAX, "sigma_min": SIGMA_MIN,
                             "rho": _rho(1.0)}}

    def execute(self, steps: int, sigma_max: float, sigma_min: float, rho: float) -> tuple[torch.Tensor]:
        return (schedulers.polyexponential_sigmas(steps, sigma_min, sigma_max, rho),)


class SDTurboScheduler(_CustomSamplingNode):
    CATEGORY = "sampling/custom_sampling/schedulers"
    RETURN_TYPES = ("SIGMAS",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"model": ("MODEL", {}), "steps": ("INT", {"default": 1, "min": 1, "max": 10}),
                             "denoise": ("FLOAT", {"default": 1.0, "min": 0, "max": 1.0, "step": 0.01})}}

    def execute(self, model: DiffusionModel, steps: int, denoise: float) -> tuple[torch.Tensor]:
        return (schedulers.sd_turbo_sigmas(model.get_model_object("model_sampling"), steps, denoise),)


class RandomNoise(_CustomSamplingNode):
    CATEGORY = "sampling/custom_sampling/noise"
    RETURN_TYPES = ("NOISE",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"noise_seed": ("INT", dict(SEED))}}

    def execute(self, noise_seed: int) -> tuple[RandomNoiseValue]:
        return (RandomNoiseValue(noise_seed),)


class DisableNoise(_CustomSamplingNode):
    CATEGORY = "sampling/custom_sampling/noise"
    RETURN_TYPES = ("NOISE",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {}}

    def execute(self) -> tuple[DisableNoiseValue]:
        return (DisableNoiseValue(),)


class CFGGuider(_CustomSamplingNode):
    CATEGORY = "sampling/custom_sampling/guiders"
    RETURN_TYPES = ("GUIDER",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"model": ("MODEL", {}), "positive": ("CONDITIONING", {}),
                             "negative": ("CONDITIONING", {}), "cfg": ("FLOAT", dict(CFG))}}

    def execute(self, model: DiffusionModel, positive: Conditioning, negative: Conditioning,
                cfg: float) -> tuple[Guider]:
        guider = CFGGuiderValue(model)
        guider.set_conds(positive, negative)
        guider.set_cfg(cfg)
        return (guider,)


class BasicGuider(_CustomSamplingNode):
    CATEGORY = "sampling/custom_sampling/guiders"
    RETURN_TYPES = ("GUIDER",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"model": ("MODEL", {}), "conditioning": ("CONDITIONING", {})}}

    def execute(self, model: DiffusionModel, conditioning: Conditioning) -> tuple[Guider]:
        guider = BasicGuiderValue(model)
        guider.set_conds(conditioning)
        return (guider,)


def _sample(guider: Guider, noise: NoiseSource, sampler: Sampler, sigmas: torch.Tensor, latent: Latent,
            seed: int | None = None) -> tuple[Latent, Latent]:
    result = custom_sample_latent(guider, noise, sampler, sigmas, latent,
                                  callback=step_callback(guider.model.latent_format), seed=seed)
    return (result.output, result.denoised_output)


class SamplerCustom(_CustomSamplingNode):
    CATEGORY = "sampling/custom_sampling"
    RETURN_TYPES = ("LATENT", "LATENT")
    RETURN_NAMES = ("output", "denoised_output")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "model": ("MODEL", {}), "add_noise": ("BOOLEAN", {"default": True}), "noise_seed": ("INT", dict(SEED)),
            "cfg": ("FLOAT", dict(CFG)), "positive": ("CONDITIONING", {}), "negative": ("CONDITIONING", {}),
            "sampler": ("SAMPLER", {}), "sigmas": ("SIGMAS", {}), "latent_image": ("LATENT", {}),
        }}

    def execute(self, model: DiffusionModel, add_noise: bool, noise_seed: int, cfg: float, positive: Conditioning,
                negative: Conditioning, sampler: Sampler, sigmas: torch.Tensor,
                latent_image: Latent) -> tuple[Latent, Latent]:
        guider = CFGGuiderValue(model)
        guider.set_conds(positive, negative)
        guider.set_cfg(cfg)
        noise: NoiseSource = RandomNoiseValue(noise_seed) if add_noise else DisableNoiseValue()
        # The step noise of ancestral and SDE samplers is seeded with noise_seed either way.
        return _sample(guider, noise, sampler, sigmas, latent_image, seed=noise_seed)


class SamplerCustomAdvanced(_CustomSamplingNode):
    CATEGORY = "sampling/custom_sampling"
    RETURN_TYPES = ("LATENT", "LATENT")
    RETURN_NAMES = ("output", "denoised_output")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"noise": ("NOISE", {}), "guider": ("GUIDER", {}), "sampler": ("SAMPLER", {}),
                             "sigmas": ("SIGMAS", {}), "latent_image": ("LATENT", {})}}

    def execute(self, noise: NoiseSource, guider: Guider, sampler: Sampler, sigmas: torch.Tensor,
                latent_image: Latent) -> tuple[Latent, Latent]:
        return _sample(guider, noise, sampler, sigmas, latent_image)


class SplitSigmas(_CustomSamplingNode):
    CATEGORY = "sampling/custom_sampling/sigmas"
    RETURN_TYPES = ("SIGMAS", "SIGMAS")
    RETURN_NAMES = ("high_sigmas", "low_sigmas")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"sigmas": ("SIGMAS", {}), "step": ("INT", {"default": 0, "min": 0, "max": 10000})}}

    def execute(self, sigmas: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return tuple(schedulers.split_sigmas(sigmas, step))  # type: ignore[return-value]


class SplitSigmasDenoise(_CustomSamplingNode):
    CATEGORY = "sampling/custom_sampling/sigmas"
    RETURN_TYPES = ("SIGMAS", "SIGMAS")
    RETURN_NAMES = ("high_sigmas", "low_sigmas")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"sigmas": ("SIGMAS", {}), "denoise": DENOISE}}

    def execute(self, sigmas: torch.Tensor, denoise: float) -> tuple[torch.Tensor, torch.Tensor]:
        return tuple(schedulers.split_sigmas_denoise(sigmas, denoise))  # type: ignore[return-value]
