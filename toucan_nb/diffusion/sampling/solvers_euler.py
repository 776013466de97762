"""Single-step solvers in sigma: Euler, Heun, DPM-2, their ancestral forms, LMS, DDPM, LCM,
Heun++ and gradient estimation, plus the CFG++ variants of Euler and gradient estimation.

Each follows k-diffusion's (and ComfyUI's) arithmetic in the same operation order, so a CPU run
reproduces ComfyUI's latents bit for bit; ancestral noise comes from `noise_samplers.ancestral_noise`
and is drawn exactly when ComfyUI draws it. docs/diffusion-sampling.md §Samplers.
Called on the sampling run's thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from toucan_nb.diffusion.sampling.noise_samplers import NoiseSampler, ancestral_noise
from toucan_nb.diffusion.sampling.solver_utils import ancestral_step, half_log_snr, to_d

if TYPE_CHECKING:
    from toucan_nb.diffusion.sampling.denoiser import Denoiser, StepReporter


def sample_euler(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter) -> torch.Tensor:
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        sigma_hat = sigmas[i]
        denoised = model(x, sigma_hat * s_in)
        d = to_d(x, sigma_hat, denoised)
        report(i, x, denoised)
        x = x + d * (sigmas[i + 1] - sigma_hat)
    return x


def sample_euler_ancestral(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                           eta: float = 1.0, s_noise: float = 1.0,
                           noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    noise = noise_sampler or ancestral_noise(x, model.seed)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        report(i, x, denoised)
        if sigma_down == 0:
            x = denoised
        else:
            d = to_d(x, sigmas[i], denoised)
            dt = sigma_down - sigmas[i]
            x = x + d * dt + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def sample_heun(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter) -> torch.Tensor:
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        sigma_hat = sigmas[i] * 1  # (churn factor gamma + 1, with no churn)
        denoised = model(x, sigma_hat * s_in)
        d = to_d(x, sigma_hat, denoised)
        report(i, x, denoised)
        dt = sigmas[i + 1] - sigma_hat
        if sigmas[i + 1] == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            denoised_2 = model(x_2, sigmas[i + 1] * s_in)
            d_2 = to_d(x_2, sigmas[i + 1], denoised_2)
            x = x + (d + d_2) / 2 * dt
    return x


def sample_heunpp2(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter) -> torch.Tensor:
    """Heun++: a third evaluation two steps ahead, weighted by sigma relative to the first."""
    s_in = x.new_ones([x.shape[0]])
    s_end = sigmas[-1]
    for i in range(len(sigmas) - 1):
        sigma_hat = sigmas[i] * 1.0
        denoised = model(x, sigma_hat * s_in)
        d = to_d(x, sigma_hat, denoised)
        report(i, x, denoised)
        dt = sigmas[i + 1] - sigma_hat
        if sigmas[i + 1] == s_end:
            x = x + d * dt
        elif sigmas[i + 2] == s_end:
            x_2 = x + d * dt
            denoised_2 = model(x_2, sigmas[i + 1] * s_in)
            d_2 = to_d(x_2, sigmas[i + 1], denoised_2)
            w2 = sigmas[i + 1] / (2 * sigmas[0])
            w1 = 1 - w2
            x = x + (d * w1 + d_2 * w2) * dt
        else:
            x_2 = x + d * dt
            denoised_2 = model(x_2, sigmas[i + 1] * s_in)
            d_2 = to_d(x_2, sigmas[i + 1], denoised_2)
            x_3 = x_2 + d_2 * (sigmas[i + 2] - sigmas[i + 1])
            denoised_3 = model(x_3, sigmas[i + 2] * s_in)
            d_3 = to_d(x_3, sigmas[i + 2], denoised_3)
            w = 3 * sigmas[0]
            w2 = sigmas[i + 1] / w
            w3 = sigmas[i + 2] / w
            w1 = 1 - w2 - w3
            x = x + (w1 * d + w2 * d_2 + w3 * d_3) * dt
    return x


def sample_dpm_2(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter) -> torch.Tensor:
    """DPM-Solver-2 style midpoint steps in log sigma."""
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        sigma_hat = sigmas[i]
        denoised = model(x, sigma_hat * s_in)
        d = to_d(x, sigma_hat, denoised)
        report(i, x, denoised)
        if sigmas[i + 1] == 0:
            x = x + d * (sigmas[i + 1] - sigma_hat)
        else:
            sigma_mid = sigma_hat.log().lerp(sigmas[i + 1].log(), 0.5).exp()
            x_2 = x + d * (sigma_mid - sigma_hat)
            denoised_2 = model(x_2, sigma_mid * s_in)
            d_2 = to_d(x_2, sigma_mid, denoised_2)
            x = x + d_2 * (sigmas[i + 1] - sigma_hat)
    return x


def sample_dpm_2_ancestral(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                           eta: float = 1.0, s_noise: float = 1.0,
                           noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    noise = noise_sampler or ancestral_noise(x, model.seed)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        report(i, x, denoised)
        d = to_d(x, sigmas[i], denoised)
        if sigma_down == 0:
            x = x + d * (sigma_down - sigmas[i])
        else:
            sigma_mid = sigmas[i].log().lerp(sigma_down.log(), 0.5).exp()
            x_2 = x + d * (sigma_mid - sigmas[i])
            denoised_2 = model(x_2, sigma_mid * s_in)
            d_2 = to_d(x_2, sigma_mid, denoised_2)
            x = x + d_2 * (sigma_down - sigmas[i])
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def _lms_coefficient(order: int, t: Any, i: int, j: int) -> float:
    """The integral over [t_i, t_{i+1}] of the j-th Lagrange basis polynomial on t_i, ..., t_{i-order+1}."""
    from scipy import integrate

    if order - 1 > i:
        raise ValueError(f"Order {order} too high for step {i}")

    def basis(tau: float) -> float:
        prod = 1.0
        for k in range(order):
            if j != k:
                prod *= (tau - t[i - k]) / (t[i - j] - t[i - k])
        return prod

    # t holds float32 numpy values, so (as in ComfyUI) the integrand is evaluated in float32.
    return integrate.quad(basis, t[i], t[i + 1], epsrel=1e-4)[0]


def sample_lms(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
               order: int = 4) -> torch.Tensor:
    """Linear multistep: Adams-Bashforth in sigma with exact Lagrange weights."""
    s_in = x.new_ones([x.shape[0]])
    sigmas_cpu = sigmas.detach().cpu().numpy()
    ds: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        ds.append(to_d(x, sigmas[i], denoised))
        if len(ds) > order:
            ds.pop(0)
        report(i, x, denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            cur_order = min(i + 1, order)
            coeffs = [_lms_coefficient(cur_order, sigmas_cpu, i, j) for j in range(cur_order)]
            x = x + sum(coeff * d for coeff, d in zip(coeffs, reversed(ds), strict=True))
    return x


def _ddpm_step(x: torch.Tensor, sigma: torch.Tensor, sigma_prev: torch.Tensor, eps: torch.Tensor,
               noise: NoiseSampler) -> torch.Tensor:
    alpha_cumprod = 1 / ((sigma * sigma) + 1)
    alpha_cumprod_prev = 1 / ((sigma_prev * sigma_prev) + 1)
    alpha = alpha_cumprod / alpha_cumprod_prev
    mu = (1.0 / alpha).sqrt() * (x - (1 - alpha) * eps / (1 - alpha_cumprod).sqrt())
    if sigma_prev > 0:
        mu += ((1 - alpha) * (1. - alpha_cumprod_prev) / (1. - alpha_cumprod)).sqrt() * noise(sigma, sigma_prev)
    return mu


def sample_ddpm(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """DDPM ancestral sampling, stepping in the variance-preserving space."""
    noise = noise_sampler or ancestral_noise(x, model.seed)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(i, x, denoised)
        x = _ddpm_step(x / torch.sqrt(1.0 + sigmas[i] ** 2.0), sigmas[i], sigmas[i + 1], (x - denoised) / sigmas[i],
                       noise)
        if sigmas[i + 1] != 0:
            x *= torch.sqrt(1.0 + sigmas[i + 1] ** 2.0)
    return x


def sample_lcm(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
               noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """Latent consistency sampling: jump to the prediction, re-noise to the next sigma."""
    noise = noise_sampler or ancestral_noise(x, model.seed)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(i, x, denoised)
        x = denoised
        if sigmas[i + 1] > 0:
            x = model.model_sampling.noise_scaling(sigmas[i + 1], noise(sigmas[i], sigmas[i + 1]), x)
    return x


def sample_gradient_estimation(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                               ge_gamma: float = 2.0, cfg_pp: bool = False) -> torch.Tensor:
    """Euler with a gradient-estimation correction (Permenter & Yuan); `cfg_pp` steps along the uncond."""
    s_in = x.new_ones([x.shape[0]])
    old_d = None
    for i in range(len(sigmas) - 1):
        if cfg_pp:
            prediction = model.predict(x, sigmas[i] * s_in, need_uncond=True)
            denoised = prediction.denoised
            d = to_d(x, sigmas[i], prediction.uncond_denoised)
        else:
            denoised = model(x, sigmas[i] * s_in)
            d = to_d(x, sigmas[i], denoised)
        report(i, x, denoised)
        dt = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            x = denoised + d * sigmas[i + 1] if cfg_pp else x + d * dt
            if i >= 1:
                x = x + (ge_gamma - 1) * (d - old_d) * dt
        old_d = d
    return x


def sample_gradient_estimation_cfg_pp(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor,
                                      report: StepReporter, ge_gamma: float = 2.0) -> torch.Tensor:
    return sample_gradient_estimation(model, x, sigmas, report, ge_gamma=ge_gamma, cfg_pp=True)


def sample_euler_ancestral_cfg_pp(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                                  eta: float = 1.0, s_noise: float = 1.0,
                                  noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """Euler ancestral under CFG++: the noise direction comes from the unconditional prediction."""
    noise = noise_sampler or ancestral_noise(x, model.seed)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        prediction = model.predict(x, sigmas[i] * s_in, need_uncond=True)
        denoised = prediction.denoised
        report(i, x, denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            alpha_s = sigmas[i] * half_log_snr(sigmas[i]).exp()
            alpha_t = sigmas[i + 1] * half_log_snr(sigmas[i + 1]).exp()
            d = to_d(x, sigmas[i], alpha_s * prediction.uncond_denoised)
            sigma_down, sigma_up = ancestral_step(sigmas[i] / alpha_s, sigmas[i + 1] / alpha_t, eta=eta)
            sigma_down = alpha_t * sigma_down
            x = alpha_t * denoised + sigma_down * d
            if eta > 0 and s_noise > 0:
                x = x + alpha_t * noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def sample_euler_cfg_pp(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter) -> torch.Tensor:
    return sample_euler_ancestral_cfg_pp(model, x, sigmas, report, eta=0.0, s_noise=0.0)
