"""Small pieces of k-diffusion maths shared by the solvers (Karras ODE derivative, ancestral split,
half-log-SNR) and the `Solver` signature itself.

Every solver is `solver(model, x, sigmas, report, **options) -> x`: `model` is a
`denoiser.Denoiser`, `x` the noised starting latent, `sigmas` the descending schedule, `report` the
per-step `StepReporter`. Options are the keyword parameters ComfyUI's custom sampler nodes pass
(eta, s_noise, order, ...). Pure functions; any thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import torch

if TYPE_CHECKING:
    from toucan_nb.diffusion.sampling.denoiser import Denoiser, StepReporter


class Solver(Protocol):
    def __call__(self, model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                 **options: Any) -> torch.Tensor: ...


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """The probability-flow ODE derivative dx/dsigma (Karras et al. 2022)."""
    return (x - denoised) / sigma


class AncestralStep(NamedTuple):
    """An ancestral step: integrate deterministically down to `down`, then add noise of size `up`."""

    down: Any  # a 0-dim tensor
    up: Any  # a 0-dim tensor, or 0.0 when eta is 0


def ancestral_step(sigma_from: torch.Tensor, sigma_to: torch.Tensor, eta: float = 1.0) -> AncestralStep:
    """Split the step sigma_from -> sigma_to so that adding `up` noise after reaching `down` lands on
    sigma_to (eta scales the noise; 0 is deterministic)."""
    if not eta:
        return AncestralStep(sigma_to, 0.0)
    sigma_up = min(sigma_to, eta * (sigma_to ** 2 * (sigma_from ** 2 - sigma_to ** 2) / sigma_from ** 2) ** 0.5)
    sigma_down = (sigma_to ** 2 - sigma_up ** 2) ** 0.5
    return AncestralStep(sigma_down, sigma_up)


def half_log_snr(sigma: torch.Tensor) -> torch.Tensor:
    """lambda = log(alpha / sigma) for the variance-exploding parameterisation: -log(sigma)."""
    return sigma.log().neg()


def sigma_from_half_log_snr(lam: torch.Tensor) -> torch.Tensor:
    return lam.neg().exp()


def ei_h_phi_1(h: torch.Tensor) -> torch.Tensor:
    """h * phi_1(h) of exponential integrators."""
    return torch.expm1(h)


def ei_h_phi_2(h: torch.Tensor) -> torch.Tensor:
    """h * phi_2(h) of exponential integrators."""
    return (torch.expm1(h) - h) / h
