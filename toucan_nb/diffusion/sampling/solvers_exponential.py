"""Exponential-integrator solvers in data prediction: SEEDS-2/3 (and the exponential Heun cases of
SEEDS-2), ER-SDE (VP ER-SDE-Solver-3) and the Stochastic Adams solver (SA-Solver, with PECE).

Arithmetic follows ComfyUI's implementation operation by operation; step noise is
`noise_samplers.ancestral_noise`. docs/diffusion-sampling.md §Samplers.
Called on the sampling run's thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from toucan_nb.diffusion.sampling.noise_samplers import NoiseSampler, ancestral_noise
from toucan_nb.diffusion.sampling.solver_utils import (
    ei_h_phi_1,
    ei_h_phi_2,
    half_log_snr,
    sigma_from_half_log_snr,
)

if TYPE_CHECKING:
    from toucan_nb.diffusion.sampling.denoiser import Denoiser, StepReporter


def sample_seeds_2(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                   eta: float = 1.0, s_noise: float = 1.0, noise_sampler: NoiseSampler | None = None,
                   r: float = 0.5, solver_type: str = "phi_1") -> torch.Tensor:
    """SEEDS-2 (arXiv 2305.14267): two stages, the second at fraction `r` of the step in log-SNR."""
    if solver_type not in {"phi_1", "phi_2"}:
        raise ValueError("solver_type must be 'phi_1' or 'phi_2'")
    noise = noise_sampler or ancestral_noise(x, model.seed)
    s_in = x.new_ones([x.shape[0]])
    inject_noise = eta > 0 and s_noise > 0
    fac = 1 / (2 * r)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(i, x, denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = half_log_snr(sigmas[i]), half_log_snr(sigmas[i + 1])
        h = lambda_t - lambda_s
        h_eta = h * (eta + 1)
        lambda_s_1 = torch.lerp(lambda_s, lambda_t, r)
        sigma_s_1 = sigma_from_half_log_snr(lambda_s_1)
        alpha_s_1 = sigma_s_1 * lambda_s_1.exp()
        alpha_t = sigmas[i + 1] * lambda_t.exp()

        x_2 = sigma_s_1 / sigmas[i] * (-r * h * eta).exp() * x - alpha_s_1 * ei_h_phi_1(-r * h_eta) * denoised
        if inject_noise:
            sde_noise = (-2 * r * h * eta).expm1().neg().sqrt() * noise(sigmas[i], sigma_s_1)
            x_2 = x_2 + sde_noise * sigma_s_1 * s_noise
        denoised_2 = model(x_2, sigma_s_1 * s_in)

        if solver_type == "phi_1":
            denoised_d = torch.lerp(denoised, denoised_2, fac)
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x - alpha_t * ei_h_phi_1(-h_eta) * denoised_d
        else:
            b2 = ei_h_phi_2(-h_eta) / r
            b1 = ei_h_phi_1(-h_eta) - b2
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x - alpha_t * (b1 * denoised + b2 * denoised_2)
        if inject_noise:
            segment_factor = (r - 1) * h * eta
            sde_noise = sde_noise * segment_factor.exp()
            sde_noise = sde_noise + segment_factor.mul(2).expm1().neg().sqrt() * noise(sigma_s_1, sigmas[i + 1])
            x = x + sde_noise * sigmas[i + 1] * s_noise
    return x


def sample_exp_heun_2_x0(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                         solver_type: str = "phi_2") -> torch.Tensor:
    """Deterministic exponential Heun (SEEDS-2 with r = 1, no noise)."""
    return sample_seeds_2(model, x, sigmas, report, eta=0.0, s_noise=0.0, r=1.0, solver_type=solver_type)


def sample_exp_heun_2_x0_sde(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                             eta: float = 1.0, s_noise: float = 1.0, noise_sampler: NoiseSampler | None = None,
                             solver_type: str = "phi_2") -> torch.Tensor:
    return sample_seeds_2(model, x, sigmas, report, eta=eta, s_noise=s_noise, noise_sampler=noise_sampler, r=1.0,
                          solver_type=solver_type)


def sample_seeds_3(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                   eta: float = 1.0, s_noise: float = 1.0, noise_sampler: NoiseSampler | None = None,
                   r_1: float = 1. / 3, r_2: float = 2. / 3) -> torch.Tensor:
    """SEEDS-3: three stages at fractions r_1 and r_2 of the step."""
    noise = noise_sampler or ancestral_noise(x, model.seed)
    s_in = x.new_ones([x.shape[0]])
    inject_noise = eta > 0 and s_noise > 0
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(i, x, denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = half_log_snr(sigmas[i]), half_log_snr(sigmas[i + 1])
        h = lambda_t - lambda_s
        h_eta = h * (eta + 1)
        lambda_s_1 = torch.lerp(lambda_s, lambda_t, r_1)
        lambda_s_2 = torch.lerp(lambda_s, lambda_t, r_2)
        sigma_s_1, sigma_s_2 = sigma_from_half_log_snr(lambda_s_1), sigma_from_half_log_snr(lambda_s_2)
        alpha_s_1 = sigma_s_1 * lambda_s_1.exp()
        alpha_s_2 = sigma_s_2 * lambda_s_2.exp()
        alpha_t = sigmas[i + 1] * lambda_t.exp()

        x_2 = sigma_s_1 / sigmas[i] * (-r_1 * h * eta).exp() * x - alpha_s_1 * ei_h_phi_1(-r_1 * h_eta) * denoised
        if inject_noise:
            sde_noise = (-2 * r_1 * h * eta).expm1().neg().sqrt() * noise(sigmas[i], sigma_s_1)
            x_2 = x_2 + sde_noise * sigma_s_1 * s_noise
        denoised_2 = model(x_2, sigma_s_1 * s_in)

        a3_2 = r_2 / r_1 * ei_h_phi_2(-r_2 * h_eta)
        a3_1 = ei_h_phi_1(-r_2 * h_eta) - a3_2
        x_3 = sigma_s_2 / sigmas[i] * (-r_2 * h * eta).exp() * x - alpha_s_2 * (a3_1 * denoised + a3_2 * denoised_2)
        if inject_noise:
            segment_factor = (r_1 - r_2) * h * eta
            sde_noise = sde_noise * segment_factor.exp()
            sde_noise = sde_noise + segment_factor.mul(2).expm1().neg().sqrt() * noise(sigma_s_1, sigma_s_2)
            x_3 = x_3 + sde_noise * sigma_s_2 * s_noise
        denoised_3 = model(x_3, sigma_s_2 * s_in)

        b3 = ei_h_phi_2(-h_eta) / r_2
        b1 = ei_h_phi_1(-h_eta) - b3
        x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x - alpha_t * (b1 * denoised + b3 * denoised_3)
        if inject_noise:
            segment_factor = (r_2 - 1) * h * eta
            sde_noise = sde_noise * segment_factor.exp()
            sde_noise = sde_noise + segment_factor.mul(2).expm1().neg().sqrt() * noise(sigma_s_2, sigmas[i + 1])
            x = x + sde_noise * sigmas[i + 1] * s_noise
    return x


def _er_sde_noise_scaler(x: torch.Tensor) -> torch.Tensor:
    return x * ((x ** 0.3).exp() + 10.0)


def sample_er_sde(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                  s_noise: float = 1.0, noise_sampler: NoiseSampler | None = None,
                  noise_scaler: Callable[[torch.Tensor], torch.Tensor] | None = None,
                  max_stage: int = 3) -> torch.Tensor:
    """Extended reverse-time SDE solver (arXiv 2309.06169), up to three stages."""
    noise = noise_sampler or ancestral_noise(x, model.seed)
    scaler = noise_scaler or _er_sde_noise_scaler
    s_in = x.new_ones([x.shape[0]])
    num_integration_points = 200.0
    point_indice = torch.arange(0, num_integration_points, dtype=torch.float32, device=x.device)
    er_lambdas = half_log_snr(sigmas).neg().exp()  # sigma_t / alpha_t
    old_denoised = old_denoised_d = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(i, x, denoised)
        stage_used = min(max_stage, i + 1)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            er_lambda_s, er_lambda_t = er_lambdas[i], er_lambdas[i + 1]
            alpha_s = sigmas[i] / er_lambda_s
            alpha_t = sigmas[i + 1] / er_lambda_t
            r_alpha = alpha_t / alpha_s
            r = scaler(er_lambda_t) / scaler(er_lambda_s)
            x = r_alpha * r * x + alpha_t * (1 - r) * denoised
            if stage_used >= 2:
                dt = er_lambda_t - er_lambda_s
                lambda_step_size = -dt / num_integration_points
                lambda_pos = er_lambda_t + point_indice * lambda_step_size
                scaled_pos = scaler(lambda_pos)
                s = torch.sum(1 / scaled_pos) * lambda_step_size
                denoised_d = (denoised - old_denoised) / (er_lambda_s - er_lambdas[i - 1])
                x = x + alpha_t * (dt + s * scaler(er_lambda_t)) * denoised_d
                if stage_used >= 3:
                    s_u = torch.sum((lambda_pos - er_lambda_s) / scaled_pos) * lambda_step_size
                    denoised_u = (denoised_d - old_denoised_d) / ((er_lambda_s - er_lambdas[i - 2]) / 2)
                    x = x + alpha_t * ((dt ** 2) / 2 + s_u * scaler(er_lambda_t)) * denoised_u
                old_denoised_d = denoised_d
            if s_noise > 0:
                x = x + alpha_t * noise(sigmas[i], sigmas[i + 1]) * s_noise * (
                    er_lambda_t ** 2 - er_lambda_s ** 2 * r ** 2).sqrt().nan_to_num(nan=0.0)
        old_denoised = denoised
    return x


# -- SA-Solver ------------------------------------------------------------------------------------

def sa_tau_interval(start_sigma: float, end_sigma: float, eta: float = 1.0) -> Callable[[Any], float]:
    """SA-Solver's stochasticity: `eta` for sigmas in [end_sigma, start_sigma], 0 (ODE) elsewhere."""

    def tau(sigma: Any) -> float:
        if eta <= 0:
            return 0.0
        if isinstance(sigma, torch.Tensor):
            sigma = sigma.item()
        return eta if start_sigma >= sigma >= end_sigma else 0.0

    return tau


def _exponential_coeffs(s: torch.Tensor, t: torch.Tensor, order: int, tau_t: float) -> torch.Tensor:
    """(1 + tau^2) * integral_s^t exp((1 + tau^2) x) x^p dx for p < order, with exp((1 + tau^2) t) factored
    out, by repeated integration by parts (a lower-triangular recursion)."""
    tau_mul = 1 + tau_t ** 2
    h = t - s
    p = torch.arange(order, dtype=s.dtype, device=s.device)
    product_terms = (t ** p - s ** p * (-tau_mul * h).exp())
    depth = p.unsqueeze(1) - p.unsqueeze(0)
    log_factorial = (p + 1).lgamma()
    coeff = log_factorial.unsqueeze(1) - log_factorial.unsqueeze(0)
    if tau_t > 0:
        coeff = coeff - (depth * math.log(tau_mul))
    signs = torch.where(depth % 2 == 0, 1.0, -1.0)
    coeff = (coeff.exp() * signs).tril()
    return coeff @ product_terms


def _sa_b_coeffs(sigma_next: torch.Tensor, curr_lambdas: torch.Tensor, lambda_s: torch.Tensor,
                 lambda_t: torch.Tensor, tau_t: float, simple_order_2: bool, is_corrector_step: bool) -> torch.Tensor:
    """The Stochastic Adams weights b_i of the predictions at `curr_lambdas` (eqs. 15 and 18)."""
    n = curr_lambdas.shape[0]
    if simple_order_2 and n == 2:
        tau_mul = 1 + tau_t ** 2
        h = lambda_t - lambda_s
        alpha_t = sigma_next * lambda_t.exp()
        if is_corrector_step:
            b_1 = alpha_t * (0.5 * tau_mul * h)
            b_2 = alpha_t * (-h * tau_mul).expm1().neg() - b_1
        else:
            b_2 = alpha_t * (0.5 * tau_mul * h ** 2) / (curr_lambdas[-2] - lambda_s)
            b_1 = alpha_t * (-h * tau_mul).expm1().neg() - b_2
        return torch.stack([b_2, b_1])
    integrals = _exponential_coeffs(lambda_s, lambda_t, n, tau_t)
    vandermonde_t = torch.vander(curr_lambdas, n, increasing=True).T
    lagrange_integrals = torch.linalg.solve(vandermonde_t, integrals)
    return sigma_next * lambda_t.exp() * lagrange_integrals


def sample_sa_solver(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                     tau_func: Callable[[Any], float] | None = None, s_noise: float = 1.0,
                     noise_sampler: NoiseSampler | None = None, predictor_order: int = 3,
                     corrector_order: int = 4, use_pece: bool = False, simple_order_2: bool = False) -> torch.Tensor:
    """Stochastic Adams predictor-corrector (arXiv 2309.05019)."""
    if len(sigmas) <= 1:
        return x
    noise = noise_sampler or ancestral_noise(x, model.seed)
    s_in = x.new_ones([x.shape[0]])
    lambdas = half_log_snr(sigmas)
    if tau_func is None:
        ms = model.model_sampling
        tau_func = sa_tau_interval(ms.percent_to_sigma(0.2), ms.percent_to_sigma(0.8), eta=1.0)
    max_used_order = max(predictor_order, corrector_order)
    x_pred = x
    h: Any = 0.0
    tau_t = 0.0
    step_noise: Any = 0.0
    preds: list[torch.Tensor] = []
    lower_order_to_end = sigmas[-1].item() == 0

    for i in range(len(sigmas) - 1):
        denoised = model(x_pred, sigmas[i] * s_in)
        report(i, x_pred, denoised)
        preds.append(denoised)
        preds = preds[-max_used_order:]
        predictor_used = min(predictor_order, len(preds))
        corrector_used = 0 if i == 0 or (sigmas[i + 1] == 0 and not use_pece) else min(corrector_order, len(preds))
        if lower_order_to_end:
            predictor_used = min(predictor_used, len(sigmas) - 2 - i)
            corrector_used = min(corrector_used, len(sigmas) - 1 - i)

        if corrector_used == 0:
            x = x_pred
        else:
            b = _sa_b_coeffs(sigmas[i], lambdas[i - corrector_used + 1:i + 1], lambdas[i - 1], lambdas[i], tau_t,
                             simple_order_2, is_corrector_step=True)
            corr_res = torch.tensordot(torch.stack(preds[-corrector_used:], dim=1), b, dims=([1], [0]))
            x = sigmas[i] / sigmas[i - 1] * (-(tau_t ** 2) * h).exp() * x + corr_res
            if tau_t > 0 and s_noise > 0:
                x = x + step_noise  # the noise the predictor added
            if use_pece:
                denoised = model(x, sigmas[i] * s_in)
                preds[-1] = denoised

        if sigmas[i + 1] == 0:
            x_pred = denoised
        else:
            tau_t = tau_func(sigmas[i + 1])
            b = _sa_b_coeffs(sigmas[i + 1], lambdas[i - predictor_used + 1:i + 1], lambdas[i], lambdas[i + 1], tau_t,
                             simple_order_2, is_corrector_step=False)
            pred_res = torch.tensordot(torch.stack(preds[-predictor_used:], dim=1), b, dims=([1], [0]))
            h = lambdas[i + 1] - lambdas[i]
            x_pred = sigmas[i + 1] / sigmas[i] * (-(tau_t ** 2) * h).exp() * x + pred_res
            if tau_t > 0 and s_noise > 0:
                step_noise = (noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1]
                              * (-2 * tau_t ** 2 * h).expm1().neg().sqrt() * s_noise)
                x_pred = x_pred + step_noise
    return x_pred


def sample_sa_solver_pece(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                          tau_func: Callable[[Any], float] | None = None, s_noise: float = 1.0,
                          noise_sampler: NoiseSampler | None = None, predictor_order: int = 3,
                          corrector_order: int = 4, simple_order_2: bool = False) -> torch.Tensor:
    """SA-Solver in PECE mode (the corrected state is evaluated again)."""
    return sample_sa_solver(model, x, sigmas, report, tau_func, s_noise, noise_sampler, predictor_order,
                            corrector_order, use_pece=True, simple_order_2=simple_order_2)
