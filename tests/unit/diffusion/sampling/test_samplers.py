"""All 44 samplers through KSampler on the toy SD1 model, against ComfyUI's recorded latents.

Tolerance: 1e-4 of the latent's range (on the recording machine the match is exact; a few chaotic runs
have a second recording from another kind of CPU, harness.error_to_comfyui). Each case also
checks the per-step callbacks (index, total) and the first step's denoised latent.
"""

from __future__ import annotations

import pytest
import torch

from tests.unit.diffusion.sampling import cases
from tests.unit.diffusion.sampling.harness import error_to_comfyui, goldens, make_model, run_case
from toucan_nb.diffusion.sampling import sampler
from toucan_nb.diffusion.sampling.denoiser import Prediction
from toucan_nb.diffusion.sampling.model_sampling import model_sampling

G = goldens("sampling")
TOLERANCE = 1e-4


def check_case(case):
    samples, steps_seen, first_x0 = run_case(case)
    key = f"run/{case['id']}"
    assert error_to_comfyui(samples, "sampling", key) <= TOLERANCE
    assert steps_seen == [tuple(s) for s in G[f"{key}/steps"].tolist()]
    if f"{key}/x0" in G:
        assert error_to_comfyui(first_x0[0], "sampling", f"{key}/x0") <= TOLERANCE


@pytest.mark.parametrize("case", cases.SAMPLER_CASES, ids=[c["id"] for c in cases.SAMPLER_CASES])
def test_sampler_matches_comfyui(case):
    check_case(case)


def test_sampler_names_in_comfyui_order():
    assert list(sampler.SAMPLER_NAMES) == cases.SAMPLERS
    assert len(sampler.SAMPLER_NAMES) == 44


def test_unknown_sampler_is_rejected():
    with pytest.raises(ValueError, match="sampler"):
        sampler.sampler_object("euler_max")


def test_a_raising_callback_stops_sampling():
    """An interrupt raised from the progress hook ends the run at that step."""

    class Interrupted(Exception):
        pass

    model = make_model("sd15")
    seen = []

    def callback(step):
        seen.append(step.index)
        if step.index == 2:
            raise Interrupted

    case = dict(cases.SAMPLER_CASES[0])
    with pytest.raises(Interrupted):
        from tests.unit.diffusion.sampling.harness import conditioning, contexts
        from toucan_nb.diffusion.sampling import ksampler

        ctx = contexts()
        ksampler.common_ksampler(model, 1, 10, 3.0, "dpmpp_2m", "karras", conditioning(case["positive"], ctx),
                                 conditioning(case["negative"], ctx), {"samples": torch.zeros(1, 4, 8, 8)},
                                 callback=callback)
    assert seen == [0, 1, 2]
    assert len(model.calls) == 3


def test_cfg_pp_samplers_ask_for_the_uncond_prediction():
    ms = model_sampling("eps")
    asked = []

    def predict(x, sigma, need_uncond):
        asked.append(need_uncond)
        return Prediction(x * 0.5, x * 0.25 if need_uncond else None)

    sigmas = torch.tensor([3.0, 1.0, 0.0])
    for name, wants in (("euler_cfg_pp", True), ("euler", False)):
        asked.clear()
        sampler.sampler_object(name).sample(predict, ms, sigmas, torch.ones(1, 4, 2, 2), torch.zeros(1, 4, 2, 2))
        assert asked and all(a is wants for a in asked)


def test_samplers_run_under_inference_mode():
    """The executor runs nodes under inference mode; DEIS's coefficients use autograd inside it."""
    with torch.inference_mode():
        for case in cases.SAMPLER_CASES:
            if case["sampler"] in ("deis", "sa_solver", "uni_pc", "dpm_adaptive"):
                check_case(case)
