"""The custom-sampling nodes of ComfyUI's `comfy_extras.nodes_custom_sampler`: KSamplerSelect,
BasicScheduler, KarrasScheduler, ExponentialScheduler, PolyexponentialScheduler, SDTurboScheduler,
RandomNoise, DisableNoise, CFGGuider, BasicGuider, SamplerCustom, SamplerCustomAdvanced,
SplitSigmas, SplitSigmasDenoise.

SAMPLER, SIGMAS, NOISE and GUIDER values are the engine's objects (docs/diffusion-sampling.md);
these classes only connect them. Node calls come from the executor thread.
"""

from __future__ import annotations

from typing import Any

import torch

from toucan_nb.diffusion.model import DiffusionModel
from toucan_nb.diffusion.sampling import guidance, noise, schedulers
from toucan_nb.diffusion.sampling.ksampler import NoiseSource, custom_sample_latent
from toucan_nb.diffusion.sampling.sampler import SAMPLER_NAMES, Sampler, sampler_object
from toucan_nb.nodes.sampling import MAX_SEED
from toucan_nb.nodes.specs import combo
from toucan_nb.nodes.step_progress import step_callback

Latent = dict[str, Any]
Conditioning = list[list[Any]]
_CFG = ("FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01})
_STEPS = ("INT", {"default": 20, "min": 1, "max": 10000})
_SEED = ("INT", {"default": 0, "min": 0, "max": MAX_SEED, "control_after_generate": True})


def _sigma(default: float) -> tuple[str, dict[str, Any]]:
    return ("FLOAT", {"default": default, "min": 0.0, "max": 5000.0, "step": 0.01, "round": False})


def _rho(default: float) -> tuple[str, dict[str, Any]]:
    return ("FLOAT", {"default": default, "min": 0.0, "max": 100.0, "step": 0.01, "round": False})


class _V3:
    OBJECT_INFO_V3 = True


class KSamplerSelect(_V3):
    CATEGORY = "sampling/custom_sampling/samplers"
    RETURN_TYPES = ("SAMPLER",)
    FUNCTION = "get_sampler"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"sampler_name": combo(SAMPLER_NAMES)}}

    def get_sampler(self, sampler_name: str) -> tuple[Sampler]:
        return (sampler_object(sampler_name),)


class BasicScheduler(_V3):
    CATEGORY = "sampling/custom_sampling/schedulers"
    RETURN_TYPES = ("SIGMAS",)
    FUNCTION = "get_sigmas"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"model": ("MODEL", {}), "scheduler": combo(schedulers.SCHEDULER_NAMES), "steps": _STEPS,
                             "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01})}}

    def get_sigmas(self, model: DiffusionModel, scheduler: str, steps: int, denoise: float) -> tuple[torch.Tensor]:
        ms = model.get_model_object("model_sampling")
        return (schedulers.basic_scheduler_sigmas(ms, scheduler, steps, denoise),)


class KarrasScheduler(_V3):
    CATEGORY = "sampling/custom_sampling/schedulers"
    RETURN_TYPES = ("SIGMAS",)
    FUNCTION = "get_sigmas"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"steps": _STEPS, "sigma_max": _sigma(14.614642), "sigma_min": _sigma(0.0291675),
                             "rho": _rho(7.0)}}

    def get_sigmas(self, steps: int, sigma_max: float, sigma_min: float, rho: float) -> tuple[torch.Tensor]:
        return (schedulers.karras_sigmas(steps, sigma_min, sigma_max, rho),)


class ExponentialScheduler(_V3):
    CATEGORY = "sampling/custom_sampling/schedulers"
    RETURN_TYPES = ("SIGMAS",)
    FUNCTION = "get_sigmas"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"steps": _STEPS, "sigma_max": _sigma(14.614642), "sigma_min": _sigma(0.0291675)}}

    def get_sigmas(self, steps: int, sigma_max: float, sigma_min: float) -> tuple[torch.Tensor]:
        return (schedulers.exponential_sigmas(steps, sigma_min, sigma_max),)


class PolyexponentialScheduler(_V3):
    CATEGORY = "sampling/custom_sampling/schedulers"
    RETURN_TYPES = ("SIGMAS",)
    FUNCTION = "get_sigmas"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"steps": _STEPS, "sigma_max": _sigma(14.614642), "sigma_min": _sigma(0.0291675),
                             "rho": _rho(1.0)}}

    def get_sigmas(self, steps: int, sigma_max: float, sigma_min: float, rho: float) -> tuple[torch.Tensor]:
        return (schedulers.polyexponential_sigmas(steps, sigma_min, sigma_max, rho),)


class SDTurboScheduler(_V3):
    CATEGORY = "sampling/custom_sampling/schedulers"
    RETURN_TYPES = ("SIGMAS",)
    FUNCTION = "get_sigmas"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"model": ("MODEL", {}), "steps": ("INT", {"default": 1, "min": 1, "max": 10}),
                             "denoise": ("FLOAT", {"default": 1.0, "min": 0, "max": 1.0, "step": 0.01})}}

    def get_sigmas(self, model: DiffusionModel, steps: int, denoise: float) -> tuple[torch.Tensor]:
        return (schedulers.sd_turbo_sigmas(model.get_model_object("model_sampling"), steps, denoise),)


class RandomNoise(_V3):
    CATEGORY = "sampling/custom_sampling/noise"
    RETURN_TYPES = ("NOISE",)
    FUNCTION = "get_noise"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"noise_seed": _SEED}}

    def get_noise(self, noise_seed: int) -> tuple[noise.RandomNoise]:
        return (noise.RandomNoise(noise_seed),)


class DisableNoise(_V3):
    CATEGORY = "sampling/custom_sampling/noise"
    RETURN_TYPES = ("NOISE",)
    FUNCTION = "get_noise"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {}}

    def get_noise(self) -> tuple[noise.DisableNoise]:
        return (noise.DisableNoise(),)


class CFGGuider(_V3):
    CATEGORY = "sampling/custom_sampling/guiders"
    RETURN_TYPES = ("GUIDER",)
    FUNCTION = "get_guider"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"model": ("MODEL", {}), "positive": ("CONDITIONING", {}),
                             "negative": ("CONDITIONING", {}), "cfg": _CFG}}

    def get_guider(self, model: DiffusionModel, positive: Conditioning, negative: Conditioning,
                   cfg: float) -> tuple[guidance.CFGGuider]:
        guider = guidance.CFGGuider(model)
        guider.set_conds(positive, negative)
        guider.set_cfg(cfg)
        return (guider,)


class BasicGuider(_V3):
    CATEGORY = "sampling/custom_sampling/guiders"
    RETURN_TYPES = ("GUIDER",)
    FUNCTION = "get_guider"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"model": ("MODEL", {}), "conditioning": ("CONDITIONING", {})}}

    def get_guider(self, model: DiffusionModel, conditioning: Conditioning) -> tuple[guidance.BasicGuider]:
        guider = guidance.BasicGuider(model)
        guider.set_conds(conditioning)
        return (guider,)


class SamplerCustom(_V3):
    CATEGORY = "sampling/custom_sampling"
    RETURN_TYPES = ("LATENT", "LATENT")
    RETURN_NAMES = ("output", "denoised_output")
    FUNCTION = "sample"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "model": ("MODEL", {}), "add_noise": ("BOOLEAN", {"default": True}), "noise_seed": _SEED, "cfg": _CFG,
            "positive": ("CONDITIONING", {}), "negative": ("CONDITIONING", {}), "sampler": ("SAMPLER", {}),
            "sigmas": ("SIGMAS", {}), "latent_image": ("LATENT", {}),
        }}

    def sample(self, model: DiffusionModel, add_noise: bool, noise_seed: int, cfg: float, positive: Conditioning,
               negative: Conditioning, sampler: Sampler, sigmas: torch.Tensor,
               latent_image: Latent) -> tuple[Latent, Latent]:
        guider = guidance.CFGGuider(model)
        guider.set_conds(positive, negative)
        guider.set_cfg(cfg)
        source: NoiseSource = noise.RandomNoise(noise_seed) if add_noise else noise.DisableNoise()
        result = custom_sample_latent(guider, source, sampler, sigmas, latent_image,
                                      callback=step_callback(model.latent_format), seed=noise_seed)
        return (result.output, result.denoised_output)


class SamplerCustomAdvanced(_V3):
    CATEGORY = "sampling/custom_sampling"
    RETURN_TYPES = ("LATENT", "LATENT")
    RETURN_NAMES = ("output", "denoised_output")
    FUNCTION = "sample"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"noise": ("NOISE", {}), "guider": ("GUIDER", {}), "sampler": ("SAMPLER", {}),
                             "sigmas": ("SIGMAS", {}), "latent_image": ("LATENT", {})}}

    def sample(self, noise: NoiseSource, guider: guidance.Guider, sampler: Sampler, sigmas: torch.Tensor,
               latent_image: Latent) -> tuple[Latent, Latent]:
        result = custom_sample_latent(guider, noise, sampler, sigmas, latent_image,
                                      callback=step_callback(guider.model.latent_format))
        return (result.output, result.denoised_output)


class SplitSigmas(_V3):
    CATEGORY = "sampling/custom_sampling/sigmas"
    RETURN_TYPES = ("SIGMAS", "SIGMAS")
    RETURN_NAMES = ("high_sigmas", "low_sigmas")
    FUNCTION = "get_sigmas"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"sigmas": ("SIGMAS", {}), "step": ("INT", {"default": 0, "min": 0, "max": 10000})}}

    def get_sigmas(self, sigmas: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        split = schedulers.split_sigmas(sigmas, step)
        return (split.high, split.low)


class SplitSigmasDenoise(_V3):
    CATEGORY = "sampling/custom_sampling/sigmas"
    RETURN_TYPES = ("SIGMAS", "SIGMAS")
    RETURN_NAMES = ("high_sigmas", "low_sigmas")
    FUNCTION = "get_sigmas"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"sigmas": ("SIGMAS", {}),
                             "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01})}}

    def get_sigmas(self, sigmas: torch.Tensor, denoise: float) -> tuple[torch.Tensor, torch.Tensor]:
        split = schedulers.split_sigmas_denoise(sigmas, denoise)
        return (split.high, split.low)
