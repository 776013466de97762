"""UniPC (arXiv 2302.04867): the unified predictor-corrector multistep solver, B(h) = h ("bh1", the
`uni_pc` sampler) or B(h) = e^h - 1 ("bh2", `uni_pc_bh2`), data prediction, order up to 3 with lower
orders at the end.

It runs in the variance-preserving space (x / sqrt(1 + sigma^2)) with the last sigma 0 replaced by
0.001, and divides by alpha at that sigma at the end, as ComfyUI's copy does. Unlike ComfyUI we do
not write 0.001 into the caller's sigmas tensor. docs/diffusion-sampling.md §Samplers.
Called on the sampling run's thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from toucan_nb.diffusion.sampling.denoiser import Denoiser, StepReporter


# The VP schedule expressed through sigma (the "time" UniPC integrates over is sigma itself).
def _log_alpha(sigma: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.log(1 / ((sigma * sigma) + 1))


def _alpha(sigma: torch.Tensor) -> torch.Tensor:
    return torch.exp(_log_alpha(sigma))


def _std(sigma: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(1. - torch.exp(2. * _log_alpha(sigma)))


def _lambda(sigma: torch.Tensor) -> torch.Tensor:
    log_mean = _log_alpha(sigma)
    return log_mean - 0.5 * torch.log(1. - torch.exp(2. * log_mean))


def _per_sample(v: torch.Tensor, ndim: int) -> torch.Tensor:
    return v[(...,) + (None,) * (ndim - 1)]


class _UniPC:
    def __init__(self, model: Denoiser, variant: str) -> None:
        if variant not in ("bh1", "bh2"):
            raise ValueError(f"unknown UniPC variant {variant!r}")
        self.model = model
        self.variant = variant

    def data_prediction(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x0 from the denoiser, through its noise prediction at the VP-scaled input."""
        if t.reshape((-1,)).shape[0] == 1:
            t = t.expand(x.shape[0])
        sigma = t.view(t.shape[:1] + (1,) * (x.ndim - 1))
        x_in = x * ((sigma ** 2 + 1.0) ** 0.5)
        eps = (x_in - self.model(x_in, t)) / sigma
        return (x - _per_sample(_std(t), x.ndim) * eps) / _per_sample(_alpha(t), x.ndim)

    def update(self, x: torch.Tensor, model_prev: list[torch.Tensor], t_prev: list[torch.Tensor], t: torch.Tensor,
               order: int, use_corrector: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One predictor (and corrector) step to `t`; also the model output at the new point if evaluated."""
        if len(t.shape) == 0:
            t = t.view(-1)
        dims = x.dim()
        t_prev_0 = t_prev[-1]
        lambda_prev_0 = _lambda(t_prev_0)
        lambda_t = _lambda(t)
        model_prev_0 = model_prev[-1]
        sigma_prev_0, sigma_t = _std(t_prev_0), _std(t)
        alpha_t = torch.exp(_log_alpha(t))
        h = lambda_t - lambda_prev_0

        rks: list[float] = []
        d1s_list: list[torch.Tensor] = []
        for i in range(1, order):
            lambda_prev_i = _lambda(t_prev[-(i + 1)])
            rk = ((lambda_prev_i - lambda_prev_0) / h)[0]
            rks.append(float(rk))
            d1s_list.append((model_prev[-(i + 1)] - model_prev_0) / rk)
        rks.append(1.)
        rks_t = torch.tensor(rks, device=x.device)

        hh = -h[0]
        h_phi_1 = torch.expm1(hh)
        h_phi_k = h_phi_1 / hh - 1
        factorial_i = 1
        b_h = hh if self.variant == "bh1" else torch.expm1(hh)
        r_rows = []
        b_vals = []
        for i in range(1, order + 1):
            r_rows.append(torch.pow(rks_t, i - 1))
            b_vals.append(float(h_phi_k * factorial_i / b_h))
            factorial_i *= (i + 1)
            h_phi_k = h_phi_k / hh - 1 / factorial_i
        r_mat = torch.stack(r_rows)
        b = torch.tensor(b_vals, device=x.device)

        d1s = torch.stack(d1s_list, dim=1) if d1s_list else None
        x_t_ = (_per_sample(sigma_t / sigma_prev_0, dims) * x
                - _per_sample(alpha_t * h_phi_1, dims) * model_prev_0)
        if d1s is not None:
            rhos_p = torch.tensor([0.5], device=b.device) if order == 2 else torch.linalg.solve(r_mat[:-1, :-1], b[:-1])
            pred_res = torch.tensordot(d1s, rhos_p, dims=([1], [0]))
        else:
            pred_res = 0
        x_t = x_t_ - _per_sample(alpha_t * b_h, dims) * pred_res

        model_t = None
        if use_corrector:
            rhos_c = torch.tensor([0.5], device=b.device) if order == 1 else torch.linalg.solve(r_mat, b)
            model_t = self.data_prediction(x_t, t)
            corr_res = torch.tensordot(d1s, rhos_c[:-1], dims=([1], [0])) if d1s is not None else 0
            d1_t = model_t - model_prev_0
            x_t = x_t_ - _per_sample(alpha_t * b_h, dims) * (corr_res + rhos_c[-1] * d1_t)
        return x_t, model_t

    def sample(self, x: torch.Tensor, timesteps: torch.Tensor, order: int, report: StepReporter) -> torch.Tensor:
        steps = len(timesteps) - 1
        if steps < order:
            raise ValueError(f"UniPC needs at least {order} steps")
        model_prev: list[torch.Tensor] = []
        t_prev: list[torch.Tensor] = []
        for step_index in range(steps):
            if step_index == 0:
                vec_t = timesteps[0].expand(x.shape[0])
                model_prev = [self.data_prediction(x, vec_t)]
                t_prev = [vec_t]
            elif step_index < order:
                vec_t = timesteps[step_index].expand(x.shape[0])
                x, model_x = self.update(x, model_prev, t_prev, vec_t, step_index, use_corrector=True)
                model_prev.append(model_x if model_x is not None else self.data_prediction(x, vec_t))
                t_prev.append(vec_t)
            else:
                last = step_index + (2 if step_index == steps - 1 else 1)
                for step in range(step_index, last):
                    vec_t = timesteps[step].expand(x.shape[0])
                    step_order = min(order, steps + 1 - step)
                    x, model_x = self.update(x, model_prev, t_prev, vec_t, step_order, use_corrector=step != steps)
                    for i in range(order - 1):
                        t_prev[i] = t_prev[i + 1]
                        model_prev[i] = model_prev[i + 1]
                    t_prev[-1] = vec_t
                    if step < steps:  # the value at the final point is never needed
                        model_prev[-1] = model_x if model_x is not None else self.data_prediction(x, vec_t)
            report(step_index, x, model_prev[-1])
        return x


def sample_uni_pc(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter,
                  variant: str = "bh1") -> torch.Tensor:
    timesteps = sigmas.clone()
    if sigmas[-1] == 0:
        timesteps[-1] = 0.001
    x = x / torch.sqrt(1.0 + timesteps[0] ** 2.0)
    order = min(3, len(timesteps) - 2)
    x = _UniPC(model, variant).sample(x, timesteps, order, report)
    x /= _alpha(timesteps[-1])
    return x


def sample_uni_pc_bh2(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, report: StepReporter) -> torch.Tensor:
    return sample_uni_pc(model, x, sigmas, report, variant="bh2")
