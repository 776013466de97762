"""Noise schedules: the sigmas a sampler walks down, from a model's discrete schedule or from numbers.

`SCHEDULER_NAMES` is the KSampler combo in ComfyUI's order; `calculate_sigmas(ms, name, steps)`
computes one (float32, descending, ending in 0 except where the schedule says otherwise). The free
functions behind the custom-sampling scheduler nodes (Karras, exponential, polyexponential,
SD-Turbo, beta with its parameters) and the sigma splitters are here too.
docs/diffusion-sampling.md §Schedulers. Pure functions; any thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy
import torch

if TYPE_CHECKING:
    from toucan_nb.diffusion.sampling.model_sampling import ModelSamplingDiscrete


def _append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas, sigmas.new_zeros([1])])


# -- schedules from numbers (n, sigma_min, sigma_max) --------------------------------------------

def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. (2022): uniform steps in sigma^(1/rho)."""
    ramp = torch.linspace(0, 1, n)
    min_inv_rho = sigma_min ** (1 / rho)
    max_inv_rho = sigma_max ** (1 / rho)
    return _append_zero((max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho)


def exponential_sigmas(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Uniform steps in log sigma."""
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n).exp())


def polyexponential_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 1.0) -> torch.Tensor:
    """Log sigma following a polynomial ramp of degree `rho` (rho 1 is `exponential_sigmas`)."""
    ramp = torch.linspace(1, 0, n) ** rho
    return _append_zero(torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min)))


def kl_optimal_sigmas(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Uniform steps in arctan(sigma) (AYS/"KL-optimal")."""
    adj_idxs = torch.arange(n, dtype=torch.float).div_(n - 1)
    sigmas = adj_idxs.new_zeros(n + 1)
    sigmas[:-1] = (adj_idxs * math.atan(sigma_min) + (1 - adj_idxs) * math.atan(sigma_max)).tan_()
    return sigmas


# -- schedules from the model's discrete schedule ------------------------------------------------

def simple_sigmas(ms: ModelSamplingDiscrete, steps: int) -> torch.Tensor:
    """Evenly strided training sigmas, from the largest down."""
    stride = len(ms.sigmas) / steps
    sigs = [float(ms.sigmas[-(1 + int(x * stride))]) for x in range(steps)]
    sigs.append(0.0)
    return torch.FloatTensor(sigs)


def ddim_uniform_sigmas(ms: ModelSamplingDiscrete, steps: int) -> torch.Tensor:
    """Every (N // steps)-th training sigma starting at index 1, as DDIM's "uniform" spacing."""
    x = 1
    if math.isclose(float(ms.sigmas[x]), 0, abs_tol=0.00001):
        steps += 1
        sigs: list[float] = []
    else:
        sigs = [0.0]
    stride = max(len(ms.sigmas) // steps, 1)
    while x < len(ms.sigmas):
        sigs.append(float(ms.sigmas[x]))
        x += stride
    return torch.FloatTensor(sigs[::-1])


def normal_sigmas(ms: ModelSamplingDiscrete, steps: int, sgm: bool = False) -> torch.Tensor:
    """Uniform steps in (fractional) timestep; `sgm` drops the last timestep, as SGM's uniform spacing."""
    start = ms.timestep(ms.sigma_max)
    end = ms.timestep(ms.sigma_min)
    append_zero = True
    if sgm:
        timesteps = torch.linspace(start, end, steps + 1)[:-1]
    else:
        if math.isclose(float(ms.sigma(end)), 0, abs_tol=0.00001):
            steps += 1
            append_zero = False
        timesteps = torch.linspace(start, end, steps)
    sigs = [float(ms.sigma(ts)) for ts in timesteps]
    if append_zero:
        sigs.append(0.0)
    return torch.FloatTensor(sigs)


def beta_sigmas(ms: ModelSamplingDiscrete, steps: int, alpha: float = 0.6, beta: float = 0.6) -> torch.Tensor:
    """Timesteps at quantiles of a Beta(alpha, beta) distribution (arXiv 2407.12173); repeats dropped."""
    import scipy.stats

    total_timesteps = len(ms.sigmas) - 1
    ts = 1 - numpy.linspace(0, 1, steps, endpoint=False)
    ts = numpy.rint(scipy.stats.beta.ppf(ts, alpha, beta) * total_timesteps)
    sigs: list[float] = []
    last_t = -1.0
    for t in ts:
        if t != last_t:
            sigs.append(float(ms.sigmas[int(t)]))
        last_t = t
    sigs.append(0.0)
    return torch.FloatTensor(sigs)


def linear_quadratic_sigmas(ms: ModelSamplingDiscrete, steps: int, threshold_noise: float = 0.025,
                            linear_steps: int | None = None) -> torch.Tensor:
    """Mochi's schedule: linear in noise fraction for the first half, then quadratic, times sigma_max."""
    if steps == 1:
        schedule = [1.0, 0.0]
    else:
        if linear_steps is None:
            linear_steps = steps // 2
        linear = [i * threshold_noise / linear_steps for i in range(linear_steps)]
        step_diff = linear_steps - threshold_noise * steps
        quadratic_steps = steps - linear_steps
        quadratic_coef = step_diff / (linear_steps * quadratic_steps ** 2)
        linear_coef = threshold_noise / linear_steps - 2 * step_diff / (quadratic_steps ** 2)
        const = quadratic_coef * (linear_steps ** 2)
        quadratic = [quadratic_coef * (i ** 2) + linear_coef * i + const for i in range(linear_steps, steps)]
        schedule = [1.0 - x for x in linear + quadratic + [1.0]]
    return torch.FloatTensor(schedule) * ms.sigma_max.cpu()


def sd_turbo_sigmas(ms: ModelSamplingDiscrete, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """SD-Turbo's schedule: timesteps 999, 899, ..., 99, starting later for denoise < 1."""
    start_step = 10 - int(10 * denoise)
    timesteps = torch.flip(torch.arange(1, 11) * 100 - 1, (0,))[start_step:start_step + steps]
    return _append_zero(ms.sigma(timesteps))


# -- the KSampler combo ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Scheduler:
    function: Callable[..., torch.Tensor]
    from_model: bool  # called as (model_sampling, steps); otherwise as (n, sigma_min, sigma_max)


_SCHEDULERS: dict[str, _Scheduler] = {
    "simple": _Scheduler(simple_sigmas, True),
    "sgm_uniform": _Scheduler(lambda ms, steps: normal_sigmas(ms, steps, sgm=True), True),
    "karras": _Scheduler(karras_sigmas, False),
    "exponential": _Scheduler(exponential_sigmas, False),
    "ddim_uniform": _Scheduler(ddim_uniform_sigmas, True),
    "beta": _Scheduler(beta_sigmas, True),
    "normal": _Scheduler(normal_sigmas, True),
    "linear_quadratic": _Scheduler(linear_quadratic_sigmas, True),
    "kl_optimal": _Scheduler(kl_optimal_sigmas, False),
}

SCHEDULER_NAMES: tuple[str, ...] = tuple(_SCHEDULERS)


def calculate_sigmas(ms: ModelSamplingDiscrete, scheduler: str, steps: int) -> torch.Tensor:
    """The sigmas of a named scheduler for `steps` steps. Raises ValueError for an unknown name."""
    entry = _SCHEDULERS.get(scheduler)
    if entry is None:
        raise ValueError(f"error invalid scheduler {scheduler}")
    if entry.from_model:
        return entry.function(ms, steps)
    return entry.function(steps, float(ms.sigma_min), float(ms.sigma_max))


def basic_scheduler_sigmas(ms: ModelSamplingDiscrete, scheduler: str, steps: int, denoise: float) -> torch.Tensor:
    """BasicScheduler: with denoise < 1, the last `steps + 1` sigmas of int(steps / denoise) steps."""
    total_steps = steps
    if denoise < 1.0:
        if denoise <= 0.0:
            return torch.FloatTensor([])
        total_steps = int(steps / denoise)
    sigmas = calculate_sigmas(ms, scheduler, total_steps).cpu()
    return sigmas[-(steps + 1):]


class SigmaSplit(NamedTuple):
    """The two halves of a split schedule, in the order of the split nodes' outputs."""

    high: torch.Tensor
    low: torch.Tensor


def split_sigmas(sigmas: torch.Tensor, step: int) -> SigmaSplit:
    """SplitSigmas: the two parts share the sigma at `step`."""
    return SigmaSplit(sigmas[:step + 1], sigmas[step:])


def split_sigmas_denoise(sigmas: torch.Tensor, denoise: float) -> SigmaSplit:
    """SplitSigmasDenoise: the low part holds round(steps * denoise) steps.

    QUIRK(docs/diffusion-sampling.md §Schedulers): with 0 low steps the high part is `sigmas[:-0]`,
    which is empty, as in ComfyUI.
    """
    steps = max(sigmas.shape[-1] - 1, 0)
    total_steps = round(steps * denoise)
    return SigmaSplit(sigmas[:-total_steps], sigmas[-(total_steps + 1):])
