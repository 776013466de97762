"""DPM-Solver++ family in half-log-SNR time: 2S ancestral, SDE, 2M, 2M/3M SDE, the residual
multistep (RES) solvers, and their CFG++ variants.

The `*_sde` solvers draw Brownian-tree noise over the run's sigma range (on the CPU, or on the
latent's device for the `_gpu` names), the ancestral ones per-step Gaussian noise, both as ComfyUI
does. Arithmetic follows ComfyUI operation by operation. docs/diffusion-sampling.md §Samplers.
Called on the sampling run's thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from toucan_nb.diffusion.sampling.noise_samplers import NoiseSampler, ancestral_noise, brownian_noise_for
from toucan_nb.diffusion.sampling.solver_utils import (
    ancestral_step,
    half_log_snr,
    sigma_from_half_log_snr,
    to_d,
)

if TYPE_CHECKING:
    from toucan_nb.diffusion.sampling.denoiser import Denoiser, StepReporter

# In these solvers t = -log(sigma) and sigma = exp(-t).
_t = half_log_snr
_sigma = sigma_from_half_log_snr


def sample_dpmpp_2s_ancestral(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                              eta: float = 1.0, s_noise: float = 1.0,
                              noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    noise = noise_sampler or ancestral_noise(x, model.seed)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        report(i, x, denoised)
        if sigma_down == 0:
            x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        else:
            t, t_next = _t(sigmas[i]), _t(sigma_down)
            h = t_next - t
            s = t + 0.5 * h
            x_2 = (_sigma(s) / _sigma(t)) * x - (-h * 0.5).expm1() * denoised
            denoised_2 = model(x_2, _sigma(s) * s_in)
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised_2
        if sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def sample_dpmpp_2s_ancestral_cfg_pp(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor,
                                     report: StepReporter, eta: float = 1.0, s_noise: float = 1.0,
                                     noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    noise = noise_sampler or ancestral_noise(x, model.seed)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        prediction = model.predict(x, sigmas[i] * s_in, need_uncond=True)
        denoised, uncond = prediction.denoised, prediction.uncond_denoised
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        report(i, x, denoised)
        if sigma_down == 0:
            x = denoised + to_d(x, sigmas[i], uncond) * sigma_down
        else:
            t, t_next = _t(sigmas[i]), _t(sigma_down)
            h = t_next - t
            s = t + 0.5 * h
            x_2 = (_sigma(s) / _sigma(t)) * (x + (denoised - uncond)) - (-h * 0.5).expm1() * denoised
            second = model.predict(x_2, _sigma(s) * s_in, need_uncond=True)
            # QUIRK(docs/diffusion-sampling.md §Samplers): ComfyUI's captured uncond is the latest one,
            # so the full step uses the midpoint's uncond.
            x = (_sigma(t_next) / _sigma(t)) * (x + (denoised - second.uncond_denoised)) - (-h).expm1() * second.denoised
        if sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def sample_dpmpp_sde(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                     eta: float = 1.0, s_noise: float = 1.0, noise_sampler: NoiseSampler | None = None,
                     r: float = 1 / 2, noise_on_cpu: bool = True) -> torch.Tensor:
    """DPM-Solver++ (stochastic), one intermediate evaluation at fraction `r` of the step."""
    if len(sigmas) <= 1:
        return x
    noise = noise_sampler or brownian_noise_for(x, sigmas, model.seed, noise_on_cpu)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(i, x, denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = _t(sigmas[i]), _t(sigmas[i + 1])
        h = lambda_t - lambda_s
        lambda_s_1 = lambda_s + r * h
        fac = 1 / (2 * r)
        sigma_s_1 = _sigma(lambda_s_1)
        alpha_s = sigmas[i] * lambda_s.exp()
        alpha_s_1 = sigma_s_1 * lambda_s_1.exp()
        alpha_t = sigmas[i + 1] * lambda_t.exp()

        sd, su = ancestral_step(lambda_s.neg().exp(), lambda_s_1.neg().exp(), eta)
        h_ = sd.log().neg() - lambda_s
        x_2 = (alpha_s_1 / alpha_s) * (-h_).exp() * x - alpha_s_1 * (-h_).expm1() * denoised
        if eta > 0 and s_noise > 0:
            x_2 = x_2 + alpha_s_1 * noise(sigmas[i], sigma_s_1) * s_noise * su
        denoised_2 = model(x_2, sigma_s_1 * s_in)

        sd, su = ancestral_step(lambda_s.neg().exp(), lambda_t.neg().exp(), eta)
        h_ = sd.log().neg() - lambda_s
        denoised_d = (1 - fac) * denoised + fac * denoised_2
        x = (alpha_t / alpha_s) * (-h_).exp() * x - alpha_t * (-h_).expm1() * denoised_d
        if eta > 0 and s_noise > 0:
            x = x + alpha_t * noise(sigmas[i], sigmas[i + 1]) * s_noise * su
    return x


def sample_dpmpp_sde_gpu(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                         eta: float = 1.0, s_noise: float = 1.0, noise_sampler: NoiseSampler | None = None,
                         r: float = 1 / 2) -> torch.Tensor:
    return sample_dpmpp_sde(model, x, sigmas, report, eta, s_noise, noise_sampler, r, noise_on_cpu=False)


def sample_dpmpp_2m(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter) -> torch.Tensor:
    """DPM-Solver++(2M): second order from the previous step's prediction."""
    s_in = x.new_ones([x.shape[0]])
    old_denoised = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(i, x, denoised)
        t, t_next = _t(sigmas[i]), _t(sigmas[i + 1])
        h = t_next - t
        if old_denoised is None or sigmas[i + 1] == 0:
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised
        else:
            r = (t - _t(sigmas[i - 1])) / h
            denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised_d
        old_denoised = denoised
    return x


def sample_dpmpp_2m_cfg_pp(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor,
                           report: StepReporter) -> torch.Tensor:
    s_in = x.new_ones([x.shape[0]])
    old_uncond = None
    for i in range(len(sigmas) - 1):
        prediction = model.predict(x, sigmas[i] * s_in, need_uncond=True)
        denoised, uncond = prediction.denoised, prediction.uncond_denoised
        report(i, x, denoised)
        t, t_next = _t(sigmas[i]), _t(sigmas[i + 1])
        h = t_next - t
        if old_uncond is None or sigmas[i + 1] == 0:
            denoised_mix = -torch.exp(-h) * uncond
        else:
            r = (t - _t(sigmas[i - 1])) / h
            denoised_mix = -torch.exp(-h) * uncond - torch.expm1(-h) * (1 / (2 * r)) * (denoised - old_uncond)
        x = denoised + denoised_mix + torch.exp(-h) * x
        old_uncond = uncond
    return x


def sample_dpmpp_2m_sde(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                        eta: float = 1.0, s_noise: float = 1.0, noise_sampler: NoiseSampler | None = None,
                        solver_type: str = "midpoint", noise_on_cpu: bool = True) -> torch.Tensor:
    """DPM-Solver++(2M) SDE with a midpoint or Heun second-order correction."""
    if len(sigmas) <= 1:
        return x
    if solver_type not in {"heun", "midpoint"}:
        raise ValueError("solver_type must be 'heun' or 'midpoint'")
    noise = noise_sampler or brownian_noise_for(x, sigmas, model.seed, noise_on_cpu)
    s_in = x.new_ones([x.shape[0]])
    old_denoised = None
    h = h_last = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(i, x, denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            lambda_s, lambda_t = _t(sigmas[i]), _t(sigmas[i + 1])
            h = lambda_t - lambda_s
            h_eta = h * (eta + 1)
            alpha_t = sigmas[i + 1] * lambda_t.exp()
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x + alpha_t * (-h_eta).expm1().neg() * denoised
            if old_denoised is not None:
                r = h_last / h
                if solver_type == "heun":
                    x = x + alpha_t * ((-h_eta).expm1().neg() / (-h_eta) + 1) * (1 / r) * (denoised - old_denoised)
                else:
                    x = x + 0.5 * alpha_t * (-h_eta).expm1().neg() * (1 / r) * (denoised - old_denoised)
            if eta > 0 and s_noise > 0:
                x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        old_denoised = denoised
        h_last = h
    return x


def sample_dpmpp_2m_sde_gpu(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                            eta: float = 1.0, s_noise: float = 1.0, noise_sampler: NoiseSampler | None = None,
                            solver_type: str = "midpoint") -> torch.Tensor:
    return sample_dpmpp_2m_sde(model, x, sigmas, report, eta, s_noise, noise_sampler, solver_type, noise_on_cpu=False)


def sample_dpmpp_2m_sde_heun(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                             eta: float = 1.0, s_noise: float = 1.0, noise_sampler: NoiseSampler | None = None,
                             solver_type: str = "heun") -> torch.Tensor:
    return sample_dpmpp_2m_sde(model, x, sigmas, report, eta, s_noise, noise_sampler, solver_type)


def sample_dpmpp_2m_sde_heun_gpu(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                                 eta: float = 1.0, s_noise: float = 1.0, noise_sampler: NoiseSampler | None = None,
                                 solver_type: str = "heun") -> torch.Tensor:
    return sample_dpmpp_2m_sde(model, x, sigmas, report, eta, s_noise, noise_sampler, solver_type, noise_on_cpu=False)


def sample_dpmpp_3m_sde(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                        eta: float = 1.0, s_noise: float = 1.0, noise_sampler: NoiseSampler | None = None,
                        noise_on_cpu: bool = True) -> torch.Tensor:
    """DPM-Solver++(3M) SDE: third order from the two previous predictions."""
    if len(sigmas) <= 1:
        return x
    noise = noise_sampler or brownian_noise_for(x, sigmas, model.seed, noise_on_cpu)
    s_in = x.new_ones([x.shape[0]])
    denoised_1 = denoised_2 = None
    h = h_1 = h_2 = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(i, x, denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            lambda_s, lambda_t = _t(sigmas[i]), _t(sigmas[i + 1])
            h = lambda_t - lambda_s
            h_eta = h * (eta + 1)
            alpha_t = sigmas[i + 1] * lambda_t.exp()
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x + alpha_t * (-h_eta).expm1().neg() * denoised
            if h_2 is not None:
                r0 = h_1 / h
                r1 = h_2 / h
                d1_0 = (denoised - denoised_1) / r0
                d1_1 = (denoised_1 - denoised_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                phi_3 = phi_2 / h_eta - 0.5
                x = x + (alpha_t * phi_2) * d1 - (alpha_t * phi_3) * d2
            elif h_1 is not None:
                r = h_1 / h
                d = (denoised - denoised_1) / r
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                x = x + (alpha_t * phi_2) * d
            if eta > 0 and s_noise > 0:
                x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x


def sample_dpmpp_3m_sde_gpu(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                            eta: float = 1.0, s_noise: float = 1.0,
                            noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    return sample_dpmpp_3m_sde(model, x, sigmas, report, eta, s_noise, noise_sampler, noise_on_cpu=False)


def _res_multistep(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter, s_noise: float,
                   noise_sampler: NoiseSampler | None, eta: float, cfg_pp: bool) -> torch.Tensor:
    """Second-order residual multistep (arXiv 2308.02157), optionally ancestral and/or CFG++."""
    noise = noise_sampler or ancestral_noise(x, model.seed)
    s_in = x.new_ones([x.shape[0]])

    def phi1(t: torch.Tensor) -> torch.Tensor:
        return torch.expm1(t) / t

    def phi2(t: torch.Tensor) -> torch.Tensor:
        return (phi1(t) - 1.0) / t

    old_sigma_down = None
    old_denoised = None
    for i in range(len(sigmas) - 1):
        uncond = None
        if cfg_pp:
            prediction = model.predict(x, sigmas[i] * s_in, need_uncond=True)
            denoised, uncond = prediction.denoised, prediction.uncond_denoised
        else:
            denoised = model(x, sigmas[i] * s_in)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        report(i, x, denoised)
        if sigma_down == 0 or old_denoised is None:
            if cfg_pp:
                x = denoised + to_d(x, sigmas[i], uncond) * sigma_down
            else:
                x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        else:
            t, t_old, t_next, t_prev = _t(sigmas[i]), _t(old_sigma_down), _t(sigma_down), _t(sigmas[i - 1])
            h = t_next - t
            c2 = (t_prev - t_old) / h
            phi1_val, phi2_val = phi1(-h), phi2(-h)
            b1 = torch.nan_to_num(phi1_val - phi2_val / c2, nan=0.0)
            b2 = torch.nan_to_num(phi2_val / c2, nan=0.0)
            if cfg_pp:
                x = x + (denoised - uncond)
                x = _sigma(h) * x + h * (b1 * uncond + b2 * old_denoised)
            else:
                x = _sigma(h) * x + h * (b1 * denoised + b2 * old_denoised)
        if sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
        old_denoised = uncond if cfg_pp else denoised
        old_sigma_down = sigma_down
    return x


def sample_res_multistep(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                         s_noise: float = 1.0, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    return _res_multistep(model, x, sigmas, report, s_noise, noise_sampler, eta=0.0, cfg_pp=False)


def sample_res_multistep_cfg_pp(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                                s_noise: float = 1.0, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    return _res_multistep(model, x, sigmas, report, s_noise, noise_sampler, eta=0.0, cfg_pp=True)


def sample_res_multistep_ancestral(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                                   eta: float = 1.0, s_noise: float = 1.0,
                                   noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    return _res_multistep(model, x, sigmas, report, s_noise, noise_sampler, eta=eta, cfg_pp=False)


def sample_res_multistep_ancestral_cfg_pp(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor,
                                          report: StepReporter, eta: float = 1.0, s_noise: float = 1.0,
                                          noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    return _res_multistep(model, x, sigmas, report, s_noise, noise_sampler, eta=eta, cfg_pp=True)
