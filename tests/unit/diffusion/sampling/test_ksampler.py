"""KSampler / KSamplerAdvanced rules, model variants and SamplerCustomAdvanced against ComfyUI."""

from __future__ import annotations

import pytest
import torch

from tests.unit.diffusion.sampling import cases
from tests.unit.diffusion.sampling.harness import error_to_comfyui, make_model, run_custom
from tests.unit.diffusion.sampling.test_samplers import TOLERANCE, check_case
from toucan_nb.diffusion.sampling import ksampler, schedulers
from toucan_nb.diffusion.sampling.model_sampling import model_sampling


@pytest.mark.parametrize("case", cases.KSAMPLER_CASES, ids=[c["id"] for c in cases.KSAMPLER_CASES])
def test_ksampler_case_matches_comfyui(case):
    check_case(case)


@pytest.mark.parametrize("case", cases.CUSTOM_CASES, ids=[c["id"] for c in cases.CUSTOM_CASES])
def test_custom_sampling_matches_comfyui(case):
    result = run_custom(case)
    key = f"custom/{case['id']}"
    assert error_to_comfyui(result.output["samples"], "custom", key) <= TOLERANCE
    assert error_to_comfyui(result.denoised_output["samples"], "custom", f"{key}/denoised") <= TOLERANCE


def test_denoise_keeps_the_tail_of_a_longer_schedule():
    ms = model_sampling("eps")
    full = schedulers.calculate_sigmas(ms, "karras", 20)
    assert torch.equal(ksampler.ksampler_sigmas(ms, "euler", "karras", 10, denoise=0.5), full[-11:])
    assert ksampler.ksampler_sigmas(ms, "euler", "karras", 10, denoise=0.0).numel() == 0


def test_some_samplers_drop_the_penultimate_sigma():
    ms = model_sampling("eps")
    plain = schedulers.calculate_sigmas(ms, "normal", 6)
    dropped = ksampler.ksampler_sigmas(ms, "dpm_2", "normal", 5)
    assert len(dropped) == 6
    assert torch.equal(dropped, torch.cat([plain[:-2], plain[-1:]]))


def test_force_full_denoise_does_not_touch_the_callers_sigmas():
    model = make_model("sd15")
    sigmas = schedulers.calculate_sigmas(model.model_sampling, "normal", 6)
    before = sigmas.clone()
    ksampler.sample(model, torch.zeros(1, 4, 8, 8), 6, 1.0, "euler", "normal", [], [], torch.zeros(1, 4, 8, 8),
                    last_step=3, force_full_denoise=True, sigmas=sigmas)
    assert torch.equal(sigmas, before)


def test_empty_conditioning_predicts_zero():
    """No positive entries: every prediction is 0, so Euler walks straight to 0 (as in ComfyUI)."""
    model = make_model("sd15")
    out = ksampler.sample(model, torch.randn(1, 4, 8, 8), 3, 1.0, "euler", "normal", [], [],
                          torch.zeros(1, 4, 8, 8))
    assert out.abs().max() < 1e-5
