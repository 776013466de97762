"""Multistep solvers in sigma that reuse earlier derivatives: iPNDM (fixed and variable step Adams
weights) and DEIS (time-integrated Lagrange weights in the VP time of an EDM schedule).

Arithmetic follows ComfyUI's implementation (after zju-pi/diff-sampler) operation by operation.
docs/diffusion-sampling.md §Samplers. Called on the sampling run's thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from toucan_nb.diffusion.sampling.denoiser import Denoiser, StepReporter


def _push(buffer: list[torch.Tensor], d: torch.Tensor, max_order: int) -> None:
    """Keep the last `max_order - 1` derivatives, oldest first."""
    if len(buffer) == max_order - 1:
        for k in range(max_order - 2):
            buffer[k] = buffer[k + 1]
        buffer[-1] = d
    else:
        buffer.append(d)


def sample_ipndm(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                 max_order: int = 4) -> torch.Tensor:
    """Improved PNDM: Adams-Bashforth weights for equal steps, warming up from Euler."""
    s_in = x.new_ones([x.shape[0]])
    x_next = x
    buffer: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        x_cur = x_next
        denoised = model(x_cur, t_cur * s_in)
        # ComfyUI reports the run's initial latent here, not the current one.
        report(i, x, denoised)
        d_cur = (x_cur - denoised) / t_cur
        order = min(max_order, i + 1)
        if t_next == 0:
            x_next = denoised
        elif order == 1:
            x_next = x_cur + (t_next - t_cur) * d_cur
        elif order == 2:
            x_next = x_cur + (t_next - t_cur) * (3 * d_cur - buffer[-1]) / 2
        elif order == 3:
            x_next = x_cur + (t_next - t_cur) * (23 * d_cur - 16 * buffer[-1] + 5 * buffer[-2]) / 12
        elif order == 4:
            x_next = x_cur + (t_next - t_cur) * (55 * d_cur - 59 * buffer[-1] + 37 * buffer[-2] - 9 * buffer[-3]) / 24
        _push(buffer, d_cur, max_order)
    return x_next


def sample_ipndm_v(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                   max_order: int = 4) -> torch.Tensor:
    """iPNDM with variable-step Adams weights."""
    s_in = x.new_ones([x.shape[0]])
    x_next = x
    t_steps = sigmas
    buffer: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        x_cur = x_next
        denoised = model(x_cur, t_cur * s_in)
        report(i, x, denoised)
        d_cur = (x_cur - denoised) / t_cur
        order = min(max_order, i + 1)
        if t_next == 0:
            x_next = denoised
        elif order == 1:
            x_next = x_cur + (t_next - t_cur) * d_cur
        elif order == 2:
            h_n = (t_next - t_cur)
            h_n_1 = (t_cur - t_steps[i - 1])
            coeff1 = (2 + (h_n / h_n_1)) / 2
            coeff2 = -(h_n / h_n_1) / 2
            x_next = x_cur + (t_next - t_cur) * (coeff1 * d_cur + coeff2 * buffer[-1])
        elif order == 3:
            h_n = (t_next - t_cur)
            h_n_1 = (t_cur - t_steps[i - 1])
            h_n_2 = (t_steps[i - 1] - t_steps[i - 2])
            temp = (1 - h_n / (3 * (h_n + h_n_1)) * (h_n * (h_n + h_n_1)) / (h_n_1 * (h_n_1 + h_n_2))) / 2
            coeff1 = (2 + (h_n / h_n_1)) / 2 + temp
            coeff2 = -(h_n / h_n_1) / 2 - (1 + h_n_1 / h_n_2) * temp
            coeff3 = temp * h_n_1 / h_n_2
            x_next = x_cur + (t_next - t_cur) * (coeff1 * d_cur + coeff2 * buffer[-1] + coeff3 * buffer[-2])
        elif order == 4:
            h_n = (t_next - t_cur)
            h_n_1 = (t_cur - t_steps[i - 1])
            h_n_2 = (t_steps[i - 1] - t_steps[i - 2])
            h_n_3 = (t_steps[i - 2] - t_steps[i - 3])
            temp1 = (1 - h_n / (3 * (h_n + h_n_1)) * (h_n * (h_n + h_n_1)) / (h_n_1 * (h_n_1 + h_n_2))) / 2
            temp2 = (((1 - h_n / (3 * (h_n + h_n_1))) / 2
                      + (1 - h_n / (2 * (h_n + h_n_1))) * h_n / (6 * (h_n + h_n_1 + h_n_2)))
                     * (h_n * (h_n + h_n_1) * (h_n + h_n_1 + h_n_2))
                     / (h_n_1 * (h_n_1 + h_n_2) * (h_n_1 + h_n_2 + h_n_3)))
            ratio = h_n_1 * (h_n_1 + h_n_2) / (h_n_2 * (h_n_2 + h_n_3))
            coeff1 = (2 + (h_n / h_n_1)) / 2 + temp1 + temp2
            coeff2 = -(h_n / h_n_1) / 2 - (1 + h_n_1 / h_n_2) * temp1 - (1 + (h_n_1 / h_n_2) + ratio) * temp2
            coeff3 = temp1 * h_n_1 / h_n_2 + ((h_n_1 / h_n_2) + ratio * (1 + h_n_2 / h_n_3)) * temp2
            coeff4 = -temp2 * ratio * h_n_1 / h_n_2
            x_next = x_cur + (t_next - t_cur) * (coeff1 * d_cur + coeff2 * buffer[-1] + coeff3 * buffer[-2]
                                                 + coeff4 * buffer[-3])
        _push(buffer, d_cur.detach(), max_order)
    return x_next


# -- DEIS -----------------------------------------------------------------------------------------

def _edm_to_vp_time(sigmas: torch.Tensor, epsilon_s: float = 1e-3, sigma_min: float = 0.002,
                    sigma_max: float = 80) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """VP time t for each EDM sigma, on the VP-SDE whose ends match EDM's default range; with beta_0, beta_1."""

    def log1p_sq(v: float) -> torch.Tensor:
        # float32 log(v^2 + 1), the logarithm taken by NumPy as in the reference implementation
        return torch.from_numpy(np.asarray(np.log((torch.tensor(v) ** 2 + 1).numpy())))

    beta_d = 2 * (log1p_sq(sigma_min) / epsilon_s - log1p_sq(sigma_max)) / (epsilon_s - 1)
    beta_min = log1p_sq(sigma_max) - 0.5 * beta_d
    s = sigmas.clone().detach().cpu()
    t_steps = ((beta_min ** 2 + 2 * beta_d * (s ** 2 + 1).log()).sqrt() - beta_min) / beta_d
    return t_steps, beta_min, beta_d + beta_min


def _deis_integrand(beta_0: torch.Tensor, beta_1: torch.Tensor, taus: torch.Tensor) -> torch.Tensor:
    """-(1/2) d(log alpha)/dtau / sqrt(alpha (1 - alpha)) on the grid `taus` (derivative by autograd)."""
    with torch.inference_mode(mode=False):
        taus = taus.clone()
        beta_0 = beta_0.clone()
        beta_1 = beta_1.clone()
        with torch.enable_grad():
            taus.requires_grad_(True)
            alpha = torch.exp(-0.5 * taus ** 2 * (beta_1 - beta_0) - taus * beta_0)
            alpha.log().sum().backward()
            d_log_alpha = taus.grad
    return -0.5 * d_log_alpha / torch.sqrt(alpha * (1 - alpha))


def _lagrange_basis(prev_t: torch.Tensor, j: int, taus: torch.Tensor) -> torch.Tensor:
    poly: torch.Tensor | int = 1
    for k in range(prev_t.shape[0]):
        if k != j:
            poly = poly * ((taus - prev_t[k]) / (prev_t[j] - prev_t[k]))
    return poly  # type: ignore[return-value]


def deis_coefficients(sigmas: torch.Tensor, max_order: int, n_points: int = 10000) -> list[list[torch.Tensor]]:
    """DEIS "tab" weights per step: the Lagrange basis integrated numerically in VP time."""
    t_steps, beta_0, beta_1 = _edm_to_vp_time(sigmas)
    out: list[list[torch.Tensor]] = []
    for i, (t_cur, t_next) in enumerate(zip(t_steps[:-1], t_steps[1:], strict=True)):
        order = min(i + 1, max_order)
        if order == 1:
            out.append([])
            continue
        taus = torch.linspace(t_cur, t_next, n_points)
        dtau = (t_next - t_cur) / n_points
        prev_t = t_steps[[i - k for k in range(order)]]
        integrand = _deis_integrand(beta_0, beta_1, taus)
        out.append([torch.sum(integrand * _lagrange_basis(prev_t, j, taus)) * dtau for j in range(order)])
    return out


def sample_deis(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                max_order: int = 3) -> torch.Tensor:
    """Diffusion exponential integrator sampler (tAB-DEIS)."""
    s_in = x.new_ones([x.shape[0]])
    x_next = x
    coeffs = deis_coefficients(sigmas, max_order)
    buffer: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        x_cur = x_next
        denoised = model(x_cur, t_cur * s_in)
        report(i, x, denoised)
        d_cur = (x_cur - denoised) / t_cur
        order = min(max_order, i + 1)
        if t_next <= 0:
            order = 1
        if order == 1:
            x_next = x_cur + (t_next - t_cur) * d_cur
        else:
            c = coeffs[i]
            x_next = x_cur + c[0] * d_cur
            for k in range(1, order):
                x_next = x_next + c[k] * buffer[-k]
        _push(buffer, d_cur.detach(), max_order)
    return x_next
