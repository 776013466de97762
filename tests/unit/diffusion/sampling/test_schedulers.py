"""Every scheduler against ComfyUI's sigmas (within 1e-6 relative; NaN where ComfyUI gives NaN)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.unit.diffusion.sampling import cases
from tests.unit.diffusion.sampling.harness import goldens
from toucan_nb.diffusion.sampling import schedulers
from toucan_nb.diffusion.sampling.model_sampling import model_sampling

G = goldens("schedulers")
MS = {"eps": model_sampling("eps"), "v_zsnr": model_sampling("v_prediction", zsnr=True), "lcm": model_sampling("lcm")}


def _close(ours: torch.Tensor, key: str) -> None:
    theirs = G[key]
    assert ours.dtype == torch.float32
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-6, atol=0, equal_nan=True, err_msg=key)


def test_scheduler_names_in_comfyui_order():
    assert list(schedulers.SCHEDULER_NAMES) == cases.SCHEDULERS


@pytest.mark.parametrize("ms_key", list(MS))
@pytest.mark.parametrize("name", cases.SCHEDULERS)
def test_scheduler_matches_comfyui(ms_key, name):
    for steps in (1, 2, 3, 7, 20, 33):
        _close(schedulers.calculate_sigmas(MS[ms_key], name, steps), f"sched/{ms_key}/{name}/{steps}")


@pytest.mark.parametrize("n", [1, 4, 13])
def test_custom_scheduler_functions_match_comfyui(n):
    _close(schedulers.karras_sigmas(n, 0.0291675, 14.614642, rho=7.0), f"karras/{n}")
    _close(schedulers.karras_sigmas(n, 0.5, 80.0, rho=3.5), f"karras_rho/{n}")
    _close(schedulers.exponential_sigmas(n, 0.0291675, 14.614642), f"exponential/{n}")
    _close(schedulers.polyexponential_sigmas(n, 0.0291675, 14.614642, rho=2.5), f"polyexponential/{n}")


def test_sd_turbo_beta_and_basic_scheduler_match_comfyui():
    ms = MS["eps"]
    for steps in (1, 2, 4):
        for denoise in (1.0, 0.5, 0.25):
            _close(schedulers.sd_turbo_sigmas(ms, steps, denoise), f"sdturbo/{steps}/{denoise}")
    _close(schedulers.beta_sigmas(ms, 7, alpha=0.3, beta=1.7), "beta_params/7")
    for name in ("karras", "normal", "simple"):
        for steps, denoise in ((10, 0.5), (7, 0.33), (4, 0.0)):
            _close(schedulers.basic_scheduler_sigmas(ms, name, steps, denoise), f"basic/{name}/{steps}/{denoise}")


def test_split_sigmas_share_the_split_point():
    sigmas = torch.tensor([5.0, 3.0, 2.0, 1.0, 0.0])
    high, low = schedulers.split_sigmas(sigmas, 2)
    assert high.tolist() == [5.0, 3.0, 2.0] and low.tolist() == [2.0, 1.0, 0.0]
    split = schedulers.split_sigmas_denoise(sigmas, 0.5)
    assert split.high.tolist() == [5.0, 3.0, 2.0] and split.low.tolist() == [2.0, 1.0, 0.0]


def test_split_sigmas_denoise_zero_gives_an_empty_high_part():
    # QUIRK(docs/diffusion-sampling.md §Schedulers): sigmas[:-0] is empty, as in ComfyUI.
    split = schedulers.split_sigmas_denoise(torch.tensor([5.0, 3.0, 0.0]), 0.0)
    assert split.high.numel() == 0 and split.low.tolist() == [0.0]


def test_unknown_scheduler_is_rejected():
    with pytest.raises(ValueError, match="scheduler"):
        schedulers.calculate_sigmas(MS["eps"], "cosine", 5)
