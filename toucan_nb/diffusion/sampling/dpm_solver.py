"""DPM-Solver (arXiv 2206.00927) in its fixed-step ("dpm_fast") and adaptive ("dpm_adaptive") forms.

Both ignore the schedule's intermediate sigmas: they integrate in t = -log(sigma) from the first sigma
to the last nonzero one, `dpm_fast` with about steps/3 solver steps of orders 3, 2 and 1 (one report
per solver step), `dpm_adaptive` with a PID-controlled step size (one report per attempted step).
Arithmetic follows ComfyUI's k-diffusion copy. docs/diffusion-sampling.md §Samplers.
Called on the sampling run's thread.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from toucan_nb.diffusion.sampling.noise_samplers import NoiseSampler, ancestral_noise
from toucan_nb.diffusion.sampling.solver_utils import ancestral_step

if TYPE_CHECKING:
    from toucan_nb.diffusion.sampling.denoiser import Denoiser, StepReporter


class _PIDStepSizeController:
    """A PID controller for the adaptive step size (in t)."""

    def __init__(self, h: float, pcoeff: float, icoeff: float, dcoeff: float, order: float = 1,
                 accept_safety: float = 0.81, eps: float = 1e-8) -> None:
        self.h = h
        self.b1 = (pcoeff + icoeff + dcoeff) / order
        self.b2 = -(pcoeff + 2 * dcoeff) / order
        self.b3 = dcoeff / order
        self.accept_safety = accept_safety
        self.eps = eps
        self.errs: list[float] = []

    def propose_step(self, error: torch.Tensor) -> bool:
        inv_error = 1 / (float(error) + self.eps)
        if not self.errs:
            self.errs = [inv_error, inv_error, inv_error]
        self.errs[0] = inv_error
        factor = self.errs[0] ** self.b1 * self.errs[1] ** self.b2 * self.errs[2] ** self.b3
        factor = 1 + math.atan(factor - 1)
        accept = factor >= self.accept_safety
        if accept:
            self.errs[2] = self.errs[1]
            self.errs[1] = self.errs[0]
        self.h *= factor
        return accept


class _DPMSolver:
    """Noise-prediction DPM-Solver steps of orders 1-3 over a denoiser, caching evaluations per step."""

    def __init__(self, model: Denoiser, report: StepReporter) -> None:
        self.model = model
        self.report = report

    @staticmethod
    def t(sigma: torch.Tensor) -> torch.Tensor:
        return -sigma.log()

    @staticmethod
    def sigma(t: torch.Tensor) -> torch.Tensor:
        return t.neg().exp()

    def eps(self, cache: dict[str, torch.Tensor], key: str, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if key in cache:
            return cache[key]
        sigma = self.sigma(t) * x.new_ones([x.shape[0]])
        eps = (x - self.model(x, sigma)) / self.sigma(t)
        cache[key] = eps
        return eps

    def step_1(self, x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor,
               cache: dict[str, torch.Tensor]) -> torch.Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        return x - self.sigma(t_next) * h.expm1() * eps

    def step_2(self, x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, cache: dict[str, torch.Tensor],
               r1: float = 1 / 2) -> torch.Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1 = t + r1 * h
        u1 = x - self.sigma(s1) * (r1 * h).expm1() * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        return x - self.sigma(t_next) * h.expm1() * eps - self.sigma(t_next) / (2 * r1) * h.expm1() * (eps_r1 - eps)

    def step_3(self, x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, cache: dict[str, torch.Tensor],
               r1: float = 1 / 3, r2: float = 2 / 3) -> torch.Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1 = t + r1 * h
        s2 = t + r2 * h
        u1 = x - self.sigma(s1) * (r1 * h).expm1() * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        u2 = (x - self.sigma(s2) * (r2 * h).expm1() * eps
              - self.sigma(s2) * (r2 / r1) * ((r2 * h).expm1() / (r2 * h) - 1) * (eps_r1 - eps))
        eps_r2 = self.eps(cache, "eps_r2", u2, s2)
        return x - self.sigma(t_next) * h.expm1() * eps - self.sigma(t_next) / r2 * (h.expm1() / h - 1) * (eps_r2 - eps)

    def fast(self, x: torch.Tensor, t_start: torch.Tensor, t_end: torch.Tensor, nfe: int, eta: float,
             s_noise: float, noise: NoiseSampler) -> torch.Tensor:
        if not t_end > t_start and eta:
            raise ValueError("eta must be 0 for reverse sampling")
        m = math.floor(nfe / 3) + 1
        ts = torch.linspace(t_start, t_end, m + 1, device=x.device)
        orders = [3] * (m - 2) + [2, 1] if nfe % 3 == 0 else [3] * (m - 1) + [nfe % 3]
        for i in range(len(orders)):
            cache: dict[str, torch.Tensor] = {}
            t, t_next = ts[i], ts[i + 1]
            if eta:
                sd, _ = ancestral_step(self.sigma(t), self.sigma(t_next), eta)
                t_next_ = torch.minimum(t_end, self.t(sd))
                su: Any = (self.sigma(t_next) ** 2 - self.sigma(t_next_) ** 2) ** 0.5
            else:
                t_next_, su = t_next, 0.0
            eps = self.eps(cache, "eps", x, t)
            self.report(i, x, x - self.sigma(t) * eps)
            if orders[i] == 1:
                x = self.step_1(x, t, t_next_, cache)
            elif orders[i] == 2:
                x = self.step_2(x, t, t_next_, cache)
            else:
                x = self.step_3(x, t, t_next_, cache)
            x = x + su * s_noise * noise(self.sigma(t), self.sigma(t_next))
        return x

    def adaptive(self, x: torch.Tensor, t_start: torch.Tensor, t_end: torch.Tensor, order: int, rtol: float,
                 atol: float, h_init: float, pcoeff: float, icoeff: float, dcoeff: float, accept_safety: float,
                 eta: float, s_noise: float, noise: NoiseSampler) -> torch.Tensor:
        if order not in {2, 3}:
            raise ValueError("order should be 2 or 3")
        forward = t_end > t_start
        if not forward and eta:
            raise ValueError("eta must be 0 for reverse sampling")
        h_init = abs(h_init) * (1 if forward else -1)
        atol_t = torch.tensor(atol)
        rtol_t = torch.tensor(rtol)
        s = t_start
        x_prev = x
        pid = _PIDStepSizeController(h_init, pcoeff, icoeff, dcoeff, 1.5 if eta else order, accept_safety)
        steps = 0
        while s < t_end - 1e-5 if forward else s > t_end + 1e-5:
            cache: dict[str, torch.Tensor] = {}
            t = torch.minimum(t_end, s + pid.h) if forward else torch.maximum(t_end, s + pid.h)
            if eta:
                sd, _ = ancestral_step(self.sigma(s), self.sigma(t), eta)
                t_ = torch.minimum(t_end, self.t(sd))
                su: Any = (self.sigma(t) ** 2 - self.sigma(t_) ** 2) ** 0.5
            else:
                t_, su = t, 0.0
            eps = self.eps(cache, "eps", x, s)
            denoised = x - self.sigma(s) * eps
            if order == 2:
                x_low = self.step_1(x, s, t_, cache)
                x_high = self.step_2(x, s, t_, cache)
            else:
                x_low = self.step_2(x, s, t_, cache, r1=1 / 3)
                x_high = self.step_3(x, s, t_, cache)
            delta = torch.maximum(atol_t, rtol_t * torch.maximum(x_low.abs(), x_prev.abs()))
            error = torch.linalg.norm((x_low - x_high) / delta) / x.numel() ** 0.5
            if pid.propose_step(error):
                x_prev = x_low
                x = x_high + su * s_noise * noise(self.sigma(s), self.sigma(t))
                s = t
            steps += 1
            self.report(steps - 1, x, denoised)
        return x


def _sigma_range(sigmas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(last nonzero sigma, first sigma), as the DPM-Solver wrappers take them."""
    sigma_min = sigmas[-1]
    if sigma_min == 0:
        sigma_min = sigmas[-2]
    if sigma_min <= 0 or sigmas[0] <= 0:
        raise ValueError("sigma_min and sigma_max must not be 0")
    return sigma_min, sigmas[0]


def sample_dpm_fast(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                    eta: float = 0.0, s_noise: float = 1.0, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    if len(sigmas) <= 1:
        return x
    sigma_min, sigma_max = _sigma_range(sigmas)
    noise = noise_sampler or ancestral_noise(x, model.seed)
    solver = _DPMSolver(model, report)
    return solver.fast(x, solver.t(sigma_max.detach().clone()), solver.t(sigma_min.detach().clone()), len(sigmas) - 1,
                       eta, s_noise, noise)


def sample_dpm_adaptive(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                        order: int = 3, rtol: float = 0.05, atol: float = 0.0078, h_init: float = 0.05,
                        pcoeff: float = 0., icoeff: float = 1., dcoeff: float = 0., accept_safety: float = 0.81,
                        eta: float = 0., s_noise: float = 1., noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    if len(sigmas) <= 1:
        return x
    sigma_min, sigma_max = _sigma_range(sigmas)
    noise = noise_sampler or ancestral_noise(x, model.seed)
    solver = _DPMSolver(model, report)
    return solver.adaptive(x, solver.t(sigma_max.detach().clone()), solver.t(sigma_min.detach().clone()), order, rtol,
                           atol, h_init, pcoeff, icoeff, dcoeff, accept_safety, eta, s_noise, noise)
