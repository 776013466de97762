"""Conditioning as ComfyUI applies it each step: areas, masks, strengths, timestep ranges, token lengths,
and how cond and uncond share network calls."""

from __future__ import annotations

import pytest
import torch

from tests.unit.diffusion.sampling import cases
from tests.unit.diffusion.sampling.harness import compare, conditioning, contexts, make_model, run_case
from tests.unit.diffusion.sampling.test_samplers import TOLERANCE, check_case
from toucan_nb.diffusion.sampling import conditioning as cond_mod
from toucan_nb.diffusion.sampling.guidance import guided_prediction


@pytest.mark.parametrize("case", cases.COND_CASES, ids=[c["id"] for c in cases.COND_CASES])
def test_conditioning_case_matches_comfyui(case):
    check_case(case)


def _prepared(model, specs, negative=None):
    ctx = contexts()
    conds = {"positive": cond_mod.convert_cond(conditioning(specs, ctx))}
    if negative is not None:
        conds["negative"] = cond_mod.convert_cond(conditioning(negative, ctx))
    return cond_mod.process_conds(model, torch.zeros(1, 4, 8, 8), conds, torch.device("cpu"))


def test_cond_and_uncond_run_as_one_batch_uncond_first():
    model = make_model("sd15")
    conds = _prepared(model, cases.POS, cases.NEG)
    x = torch.randn(1, 4, 8, 8)
    guided_prediction(model, x, torch.tensor([3.0]), conds["positive"], conds["negative"], 5.0)
    assert model.calls == [(2, 4, 8, 8)]
    ctx = contexts()
    assert torch.equal(model.last_context, torch.cat([ctx["neg"], ctx["pos"]]))


def test_cfg_one_skips_the_uncond_pass():
    model = make_model("sd15")
    conds = _prepared(model, cases.POS, cases.NEG)
    x = torch.randn(1, 4, 8, 8)
    out = guided_prediction(model, x, torch.tensor([3.0]), conds["positive"], conds["negative"], 1.0)
    assert model.calls == [(1, 4, 8, 8)]
    alone = cond_mod.calc_cond_batch(model, [conds["positive"]], x, torch.tensor([3.0]))[0]
    assert torch.equal(out.denoised, alone)
    with_uncond = guided_prediction(model, x, torch.tensor([3.0]), conds["positive"], conds["negative"], 1.0,
                                    need_uncond=True)
    assert model.calls[-1] == (2, 4, 8, 8) and with_uncond.uncond_denoised is not None


def test_memory_limit_splits_the_batch_without_changing_the_result():
    case = cases.COND_CASES[0]
    whole, _, _ = run_case(case)
    limited = make_model("sd15", batch_limit=1)
    split, _, _ = run_case(case, model=limited)
    assert all(shape[0] == 1 for shape in limited.calls)
    assert compare(split, whole.numpy()) <= TOLERANCE


def test_different_token_lengths_concatenate_by_repetition():
    model = make_model("sd15")
    conds = _prepared(model, [{"ctx": "pos14"}], [{"ctx": "pos21"}])
    x = torch.randn(1, 4, 8, 8)
    guided_prediction(model, x, torch.tensor([3.0]), conds["positive"], conds["negative"], 2.0)
    assert model.calls == [(2, 4, 8, 8)]  # lcm(14, 21) = 42 is at most 4x either: one call
    assert model.last_context.shape == (2, 42, 16)
    assert torch.equal(model.last_context[1], contexts()["pos14"][0].repeat(3, 1))


def test_context_lengths_too_far_apart_run_separately():
    model = make_model("sd15")
    conds = _prepared(model, [{"ctx": "pos"}], [{"ctx": "pos21"}])  # 7 vs 21 tokens would be 3x: batched
    guided_prediction(model, torch.randn(1, 4, 8, 8), torch.tensor([3.0]), conds["positive"], conds["negative"], 2.0)
    assert model.calls == [(2, 4, 8, 8)]
    far = cond_mod.CrossAttnCond(torch.zeros(1, 7, 16)).can_concat(cond_mod.CrossAttnCond(torch.zeros(1, 35, 16)))
    assert not far  # 5x: two calls


def test_the_model_double_satisfies_the_protocol():
    from toucan_nb.diffusion.sampling.model import DenoiserModel

    assert isinstance(make_model("sdxl"), DenoiserModel)


def test_area_entries_get_an_opposite_entry_over_the_same_area():
    model = make_model("sd15")
    conds = _prepared(model, [{"ctx": "pos"}, {"ctx": "area", "area": [4, 4, 2, 2], "strength": 1.0}], cases.NEG)
    assert [c.area for c in conds["negative"]] == [None, (4, 4, 2, 2)]
    assert conds["negative"][1].model_conds["c_crossattn"] is conds["negative"][0].model_conds["c_crossattn"]


def test_percentage_area_and_timestep_range_are_resolved():
    model = make_model("sd15")
    conds = _prepared(model, [{"ctx": "pos", "area": ["percentage", 0.5, 0.25, 0.25, 0.5],
                               "start_percent": 0.2, "end_percent": 0.6}])
    c = conds["positive"][0]
    assert c.area == (4, 2, 2, 4)
    ms = model.model_sampling
    assert c.timestep_start == ms.percent_to_sigma(0.2) and c.timestep_end == ms.percent_to_sigma(0.6)


def test_sdxl_entries_get_y_from_the_model_with_latent_size_defaults():
    model = make_model("sdxl")
    conds = _prepared(model, [{"ctx": "pos", "pooled": "pooled_pos"}], [{"ctx": "neg", "pooled": "pooled_neg"}])
    y_pos = conds["positive"][0].model_conds["y"].cond
    y_neg = conds["negative"][0].model_conds["y"].cond
    assert y_pos[0, 8:10].tolist() == pytest.approx([0.064, 0.064])  # height, width = latent * 8 / 1000
    assert y_pos[0, -1] == 0.0 and y_neg[0, -1] == 1.0  # prompt_type
