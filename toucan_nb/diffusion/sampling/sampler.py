"""SAMPLER objects: a named solver with its options, and the run wrapper around it.

`SAMPLER_NAMES` is KSampler's combo in ComfyUI's order (44 names). `sampler_object(name)` is what
KSampler and KSamplerSelect use; `ksampler(name, options)` is what the custom sampler nodes build
(e.g. `ksampler("euler_ancestral", {"eta": 0.5})`). `Sampler.sample` starts the latent
(noise scaled by the first sigma, by sqrt(1 + sigma^2) from pure noise, plus the latent), wraps the
guided prediction for inpainting, runs the solver and reports every step (ComfyUI's `KSAMPLER`).
"ddim" is Euler whose inpainting re-noise uses fresh noise drawn from seed + 1.
`dpm_2`, `dpm_2_ancestral`, `uni_pc` and `uni_pc_bh2` drop the penultimate sigma of a KSampler
schedule (`DISCARD_PENULTIMATE_SIGMA`). docs/diffusion-sampling.md §Samplers.
Sampler objects are immutable; `sample` runs on the caller's thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from toucan_nb.diffusion.sampling import (
    dpm_solver,
    solvers_dpmpp,
    solvers_euler,
    solvers_exponential,
    solvers_multistep,
    uni_pc,
)
from toucan_nb.diffusion.sampling.denoiser import (
    Denoiser,
    InpaintState,
    PredictFunction,
    StepCallback,
    StepReporter,
)

if TYPE_CHECKING:
    from toucan_nb.diffusion.sampling.model_sampling import ModelSamplingDiscrete
    from toucan_nb.diffusion.sampling.solver_utils import Solver

KSAMPLER_NAMES: tuple[str, ...] = (
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2", "exp_heun_2_x0",
    "exp_heun_2_x0_sde", "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde",
    "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm",
    "lcm", "ipndm", "ipndm_v", "deis", "res_multistep", "res_multistep_cfg_pp", "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp", "gradient_estimation", "gradient_estimation_cfg_pp", "er_sde", "seeds_2",
    "seeds_3", "sa_solver", "sa_solver_pece",
)
SAMPLER_NAMES: tuple[str, ...] = KSAMPLER_NAMES + ("ddim", "uni_pc", "uni_pc_bh2")
DISCARD_PENULTIMATE_SIGMA = frozenset({"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"})

_SOLVER_MODULES = (solvers_euler, solvers_dpmpp, solvers_exponential, solvers_multistep, dpm_solver, uni_pc)


def _solver(name: str) -> Solver:
    for module in _SOLVER_MODULES:
        solver = getattr(module, f"sample_{name}", None)
        if solver is not None:
            return solver  # type: ignore[no-any-return]
    raise ValueError(f"unknown sampler {name!r}")


@dataclass(frozen=True)
class Sampler:
    """A SAMPLER: which solver, with which options, and how inpainting re-noises."""

    name: str
    solver: Solver
    options: Mapping[str, Any] = field(default_factory=dict)
    random_inpaint_noise: bool = False

    def sample(self, predict: PredictFunction, model_sampling: ModelSamplingDiscrete, sigmas: torch.Tensor,
               noise: torch.Tensor, latent_image: torch.Tensor, denoise_mask: torch.Tensor | None = None,
               callback: StepCallback | None = None, seed: int | None = None) -> torch.Tensor:
        """Run the solver from `noise` (unit Gaussian) around `latent_image` (both in model space)."""
        inpaint = None
        if denoise_mask is not None:
            renoise = noise
            if self.random_inpaint_noise:
                generator = torch.Generator(device="cpu")
                generator.manual_seed(((seed if seed is not None else 41) + 1) % 2 ** 64)
                renoise = torch.randn(noise.shape, generator=generator, device="cpu").to(noise.dtype).to(noise.device)
            inpaint = InpaintState(denoise_mask, latent_image, renoise)
        x = model_sampling.noise_scaling(sigmas[0], noise, latent_image, model_sampling.is_max_denoise(sigmas))
        denoiser = Denoiser(predict, model_sampling, seed, inpaint)
        samples = self.solver(denoiser, x, sigmas, StepReporter(callback, len(sigmas) - 1), **self.options)
        return model_sampling.inverse_noise_scaling(sigmas[-1], samples)


def ksampler(name: str, options: Mapping[str, Any] | None = None, random_inpaint_noise: bool = False) -> Sampler:
    """The sampler `name` (one of KSAMPLER_NAMES, "uni_pc", "uni_pc_bh2") with solver options."""
    return Sampler(name, _solver(name), dict(options or {}), random_inpaint_noise)


def sampler_object(name: str) -> Sampler:
    """The sampler a KSampler or KSamplerSelect node uses for a combo name. Raises ValueError if unknown."""
    if name == "ddim":
        return ksampler("euler", random_inpaint_noise=True)
    if name not in SAMPLER_NAMES:
        raise ValueError(f"unknown sampler {name!r}")
    return ksampler(name)
