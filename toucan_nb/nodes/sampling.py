"""KSampler and KSamplerAdvanced of ComfyUI's `nodes.py` on the built-in engine.

Noise, schedules, guidance and solvers are `toucan_nb.diffusion.sampling` (docs/diffusion-sampling.md);
these classes map ComfyUI's inputs onto `common_ksampler` and report each step (progress, preview,
interrupt: `sampling_progress.step_callback`). Node calls come from the executor thread.
"""

from __future__ import annotations

from typing import Any

from toucan_nb.diffusion.model import DiffusionModel
from toucan_nb.diffusion.sampling.ksampler import common_ksampler
from toucan_nb.diffusion.sampling.sampler import SAMPLER_NAMES
from toucan_nb.diffusion.sampling.schedulers import SCHEDULER_NAMES
from toucan_nb.nodes.sampling_progress import step_callback

Latent = dict[str, Any]
Conditioning = list[list[Any]]

SEED = {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "control_after_generate": True}
STEPS = {"default": 20, "min": 1, "max": 10000}
CFG = {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01}


class KSampler:
    CATEGORY = "sampling"
    RETURN_TYPES = ("LATENT",)
    OUTPUT_TOOLTIPS = ("The denoised latent.",)
    FUNCTION = "sample"
    DESCRIPTION = "Uses the provided model, positive and negative conditioning to denoise the latent image."

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "model": ("MODEL", {"tooltip": "The model used for denoising the input latent."}),
            "seed": ("INT", {**SEED, "tooltip": "The random seed used for creating the noise."}),
            "steps": ("INT", {**STEPS, "tooltip": "The number of steps used in the denoising process."}),
            "cfg": ("FLOAT", {**CFG, "tooltip": "The Classifier-Free Guidance scale balances creativity and adherence "
                              "to the prompt. Higher values result in images more closely matching the prompt however "
                              "too high values will negatively impact quality."}),
            "sampler_name": (list(SAMPLER_NAMES), {"tooltip": "The algorithm used when sampling, this can affect the "
                                                   "quality, speed, and style of the generated output."}),
            "scheduler": (list(SCHEDULER_NAMES), {"tooltip": "The scheduler controls how noise is gradually removed "
                                                  "to form the image."}),
            "positive": ("CONDITIONING", {"tooltip": "The conditioning describing the attributes you want to include "
                                          "in the image."}),
            "negative": ("CONDITIONING", {"tooltip": "The conditioning describing the attributes you want to exclude "
                                          "from the image."}),
            "latent_image": ("LATENT", {"tooltip": "The latent image to denoise."}),
            "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01,
                                  "tooltip": "The amount of denoising applied, lower values will maintain the "
                                  "structure of the initial image allowing for image to image sampling."}),
        }}

    def sample(self, model: DiffusionModel, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
               positive: Conditioning, negative: Conditioning, latent_image: Latent,
               denoise: float = 1.0) -> tuple[Latent]:
        return (common_ksampler(model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image,
                                denoise=denoise, callback=step_callback(model.latent_format)),)


class KSamplerAdvanced:
    CATEGORY = "sampling"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "sample"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "model": ("MODEL",), "add_noise": (["enable", "disable"],), "noise_seed": ("INT", dict(SEED)),
            "steps": ("INT", dict(STEPS)), "cfg": ("FLOAT", dict(CFG)), "sampler_name": (list(SAMPLER_NAMES),),
            "scheduler": (list(SCHEDULER_NAMES),), "positive": ("CONDITIONING",), "negative": ("CONDITIONING",),
            "latent_image": ("LATENT",), "start_at_step": ("INT", {"default": 0, "min": 0, "max": 10000}),
            "end_at_step": ("INT", {"default": 10000, "min": 0, "max": 10000}),
            "return_with_leftover_noise": (["disable", "enable"],),
        }}

    def sample(self, model: DiffusionModel, add_noise: str, noise_seed: int, steps: int, cfg: float,
               sampler_name: str, scheduler: str, positive: Conditioning, negative: Conditioning,
               latent_image: Latent, start_at_step: int, end_at_step: int, return_with_leftover_noise: str,
               denoise: float = 1.0) -> tuple[Latent]:
        return (common_ksampler(model, noise_seed, steps, cfg, sampler_name, scheduler, positive, negative,
                                latent_image, denoise=denoise, disable_noise=add_noise == "disable",
                                start_step=start_at_step, last_step=end_at_step,
                                force_full_denoise=return_with_leftover_noise != "enable",
                                callback=step_callback(model.latent_format)),)
