"""The discrete schedule and prediction types against ComfyUI's recorded values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.unit.diffusion.sampling import cases
from tests.unit.diffusion.sampling.harness import goldens
from toucan_nb.diffusion.sampling.model_sampling import ModelSamplingDiscrete, model_sampling

G = goldens("model_sampling")


def _within_float_rounding(ours: np.ndarray, theirs: np.ndarray) -> None:
    # The schedule is float32 maths through torch's vectorised log/exp, whose last bit differs
    # between CPUs with and without AVX-512 (for ComfyUI as for us): 1e-6 relative, as promised.
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=0)


def _ms(key: str) -> ModelSamplingDiscrete:
    prediction, zsnr = cases.MODEL_SAMPLINGS[key]
    return model_sampling(prediction, zsnr=zsnr)


@pytest.mark.parametrize("key", list(cases.MODEL_SAMPLINGS))
def test_schedule_and_prediction_match_comfyui(key):
    ms = _ms(key)
    assert ms.sigmas.dtype == torch.float32
    _within_float_rounding(ms.sigmas.numpy(), G[f"ms/{key}/sigmas"])
    probe = torch.tensor([0.03, 0.5, 1.0, 3.3, 14.0, 14.6146], dtype=torch.float32)
    _within_float_rounding(ms.timestep(probe).numpy(), G[f"ms/{key}/timestep"])
    _within_float_rounding(ms.sigma(torch.tensor([0.0, 10.5, 499.25, 998.9, 1200.0])).numpy(),
                           G[f"ms/{key}/sigma_of_t"])
    percents = [ms.percent_to_sigma(p) for p in (0.0, 0.1, 0.2, 0.25, 0.5, 0.8, 0.999, 1.0)]
    _within_float_rounding(np.array(percents), G[f"ms/{key}/percent_to_sigma"])
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 3, 3, generator=g)
    out = torch.randn(2, 4, 3, 3, generator=g)
    sigma = torch.tensor([7.5, 0.4])
    np.testing.assert_allclose(ms.calculate_input(sigma, x).numpy(), G[f"ms/{key}/input"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ms.calculate_denoised(sigma, out, x).numpy(), G[f"ms/{key}/denoised"],
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ms.noise_scaling(sigma[0], out, x).numpy(), G[f"ms/{key}/noise_scaling"],
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ms.noise_scaling(sigma[0], out, x, max_denoise=True).numpy(),
                               G[f"ms/{key}/noise_scaling_max"], rtol=1e-6, atol=1e-6)


def test_sd_schedule_ends_and_integer_timesteps():
    ms = model_sampling("eps")
    assert len(ms.sigmas) == 1000
    assert float(ms.sigma_min) == pytest.approx(0.0291675, rel=1e-4)
    assert float(ms.sigma_max) == pytest.approx(14.614642, rel=1e-6)
    t = ms.timestep(ms.sigmas[[0, 500, 999]])
    assert t.tolist() == [0, 500, 999] and not t.is_floating_point()


def test_zero_terminal_snr_keeps_the_last_sigma_finite():
    ms = model_sampling("eps", zsnr=True)
    assert torch.isfinite(ms.sigma_max) and float(ms.sigma_max) > 4000
    assert float(ms.sigma_min) == pytest.approx(float(model_sampling("eps").sigma_min), rel=1e-4)


def test_lcm_uses_the_50_step_distilled_schedule():
    ms = model_sampling("lcm")
    assert len(ms.sigmas) == 50
    assert ms.timestep(ms.sigmas[[0, 49]]).tolist() == [19, 999]


def test_max_denoise_is_the_first_sigma_at_the_schedule_max():
    ms = model_sampling("eps")
    assert ms.is_max_denoise(torch.tensor([float(ms.sigma_max) * (1 + 5e-6), 0.0]))
    assert ms.is_max_denoise(torch.tensor([20.0, 0.0]))
    assert not ms.is_max_denoise(torch.tensor([10.0, 0.0]))


def test_unknown_prediction_is_rejected():
    with pytest.raises(ValueError, match="prediction"):
        ModelSamplingDiscrete("flow")
