"""The golden cases, as plain data shared by `scripts/goldens/record_sampling.py` (ComfyUI's side)
and the tests (ours). No toucan_nb or ComfyUI imports.

Tensor-valued dict keys (`TENSOR_KEYS`) name entries of `toy.contexts()`.
A sampling case names a toy model variant, KSampler parameters and conditioning specs; a
conditioning spec names tensors from `toy.contexts()` and the dict keys the conditioning nodes set.
"""

from __future__ import annotations

from typing import Any

TENSOR_KEYS = {"pooled": "pooled_output", "mask": "mask", "concat_mask": "concat_mask",
               "concat_latent_image": "concat_latent_image"}

SAMPLERS = [
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2", "exp_heun_2_x0",
    "exp_heun_2_x0_sde", "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde",
    "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm",
    "lcm", "ipndm", "ipndm_v", "deis", "res_multistep", "res_multistep_cfg_pp", "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp", "gradient_estimation", "gradient_estimation_cfg_pp", "er_sde", "seeds_2",
    "seeds_3", "sa_solver", "sa_solver_pece", "ddim", "uni_pc", "uni_pc_bh2",
]
SCHEDULERS = ["simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
              "linear_quadratic", "kl_optimal"]

# Model sampling variants: (prediction, zsnr).
MODEL_SAMPLINGS = {
    "eps": ("eps", False),
    "v": ("v_prediction", False),
    "v_zsnr": ("v_prediction", True),
    "lcm": ("lcm", False),
    "x0": ("x0", False),
}

SCHEDULER_CASES = [(ms, name, steps) for ms in ("eps", "v_zsnr", "lcm") for name in SCHEDULERS
                   for steps in (1, 2, 3, 7, 20, 33)]

NOISE_CASES: list[dict[str, Any]] = [
    {"seed": 0, "shape": [1, 4, 8, 8]},
    {"seed": 42, "shape": [2, 4, 5, 7]},
    {"seed": 2 ** 32 + 5, "shape": [1, 4, 3, 3]},
    {"seed": 2 ** 63 + 11, "shape": [1, 4, 3, 3]},
    {"seed": 2 ** 64 - 1, "shape": [1, 4, 3, 3]},
    {"seed": 123, "shape": [3, 4, 3, 3], "batch_index": [2, 0, 2]},
    {"seed": 123, "shape": [2, 4, 3, 3], "batch_index": [5, 1]},
]

POS = [{"ctx": "pos"}]
NEG = [{"ctx": "neg"}]
MIDDLE = [{"ctx": "pos14"}]
BASE: dict[str, Any] = {"model": "sd15", "scheduler": "normal", "steps": 6, "cfg": 4.0, "seed": 7,
                        "latent": "empty", "positive": POS, "negative": NEG}


def _case(case_id: str, **overrides: Any) -> dict[str, Any]:
    case = dict(BASE)
    case.update(overrides)
    case["id"] = case_id
    return case


# Every sampler through KSampler (comfy.sample.sample) on the SD1 toy.
SAMPLER_CASES = [_case(f"sampler_{name}", sampler=name) for name in SAMPLERS]
SAMPLER_CASES += [
    _case("karras_dpmpp_2m_sde", sampler="dpmpp_2m_sde", scheduler="karras", steps=8),
    _case("karras_euler_a_cfg1", sampler="euler_ancestral", scheduler="karras", cfg=1.0),
    _case("cfg1_euler", sampler="euler", cfg=1.0),
    _case("cfg1_euler_cfg_pp", sampler="euler_cfg_pp", cfg=1.0),
    _case("cfg1_dpmpp_2s_a_cfg_pp", sampler="dpmpp_2s_ancestral_cfg_pp", cfg=1.0),
    _case("steps1_uni_pc", sampler="uni_pc", steps=1),
    _case("steps2_uni_pc_bh2", sampler="uni_pc_bh2", steps=2),
    _case("steps3_ipndm_v", sampler="ipndm_v", steps=3, scheduler="exponential"),
    _case("long_ipndm_v", sampler="ipndm_v", steps=9, scheduler="karras"),
    _case("long_deis", sampler="deis", steps=9, scheduler="karras"),
    _case("long_lms", sampler="lms", steps=9, scheduler="karras"),
    _case("long_sa_solver", sampler="sa_solver", steps=12),
    _case("long_er_sde", sampler="er_sde", steps=10, scheduler="beta"),
    _case("seed_big_euler_a", sampler="euler_ancestral", seed=2 ** 63 + 3),
    _case("batch2_dpmpp_sde", sampler="dpmpp_sde", latent="latent2", denoise=0.7),
]

# KSampler / KSamplerAdvanced rules and model variants.
KSAMPLER_CASES = [
    _case("img2img_denoise", sampler="euler", latent="latent", denoise=0.6),
    _case("img2img_denoise_dpm2", sampler="dpm_2", latent="latent", denoise=0.5, steps=5),
    _case("denoise_zero", sampler="euler", latent="latent", denoise=0.0),
    _case("adv_leftover_noise", sampler="euler_ancestral", start_step=0, last_step=3, force_full_denoise=False),
    _case("adv_full_denoise", sampler="euler_ancestral", start_step=0, last_step=3, force_full_denoise=True),
    _case("adv_second_half", sampler="dpmpp_2m", latent="latent", start_step=3, last_step=10000,
          disable_noise=True),
    _case("adv_start_past_end", sampler="euler", latent="latent", start_step=6, disable_noise=True),
    _case("batch_index", sampler="euler_ancestral", latent="latent2", batch_index=[3, 1], denoise=0.8),
    _case("inpaint_euler", sampler="euler", latent="latent", noise_mask="mask", denoise=0.9),
    _case("inpaint_ddim", sampler="ddim", latent="latent", noise_mask="pixel_mask"),
    _case("inpaint_cfg_pp", sampler="euler_ancestral_cfg_pp", latent="latent", noise_mask="mask"),
    _case("vpred", model="sd15_v", sampler="dpmpp_2m"),
    _case("vpred_zsnr", model="sd15_v_zsnr", sampler="euler", scheduler="sgm_uniform"),
    _case("lcm_model", model="sd15_lcm", sampler="lcm", scheduler="sgm_uniform", steps=4, cfg=1.0),
    _case("x0_model", model="sd15_x0", sampler="euler"),
    _case("sdxl_adm", model="sdxl", sampler="euler",
          positive=[{"ctx": "pos", "pooled": "pooled_pos", "width": 1024, "height": 768, "crop_w": 16,
                     "crop_h": 8, "target_width": 1024, "target_height": 1024}],
          negative=[{"ctx": "neg", "pooled": "pooled_neg"}]),
    _case("inpaint_model_masked", model="sd15_inpaint", sampler="euler", latent="latent", noise_mask="pixel_mask"),
    _case("inpaint_model_unmasked", model="sd15_inpaint", sampler="dpmpp_2m"),
    _case("inpaint_model_conditioning", model="sd15_inpaint", sampler="euler", latent="latent", noise_mask="mask",
          positive=[{"ctx": "pos", "concat_latent_image": "latent2", "concat_mask": "pixel_mask"}],
          negative=[{"ctx": "neg", "concat_latent_image": "latent2", "concat_mask": "pixel_mask"}]),
]

# Conditioning as the conditioning nodes leave it.
COND_CASES = [
    _case("cond_area", sampler="euler",
          positive=[{"ctx": "pos"}, {"ctx": "area", "area": [4, 4, 2, 3], "strength": 0.8,
                                      "set_area_to_bounds": False}]),
    _case("cond_area_edge", sampler="dpmpp_2m",
          positive=[{"ctx": "area", "area": [5, 8, 3, 0], "strength": 1.3, "set_area_to_bounds": False}]),
    _case("cond_area_percentage", sampler="euler",
          positive=[{"ctx": "pos"}, {"ctx": "area", "area": ["percentage", 0.5, 0.25, 0.25, 0.5],
                                      "strength": 1.0, "set_area_to_bounds": False}]),
    _case("cond_mask", sampler="euler",
          positive=[{"ctx": "pos"}, {"ctx": "area", "mask": "mask", "strength": 0.7,
                                      "set_area_to_bounds": False, "mask_strength": 0.9}]),
    _case("cond_mask_bounds", sampler="euler",
          positive=[{"ctx": "pos"}, {"ctx": "area", "mask": "pixel_mask", "strength": 1.0,
                                      "set_area_to_bounds": True, "mask_strength": 1.0}]),
    _case("cond_timestep_range", sampler="euler",
          positive=[{"ctx": "pos", "start_percent": 0.0, "end_percent": 0.5},
                    {"ctx": "area", "start_percent": 0.5, "end_percent": 1.0}]),
    _case("cond_token_lengths", sampler="euler", positive=[{"ctx": "pos14"}], negative=[{"ctx": "neg"}]),
    _case("cond_token_lengths_3x", sampler="euler", positive=[{"ctx": "pos21"}, {"ctx": "pos"}]),
    _case("cond_combine_negative", sampler="heun", negative=[{"ctx": "neg"}, {"ctx": "pos", "strength": 0.5}]),
]

# SamplerCustomAdvanced: sampler options, guiders and noise objects over BasicScheduler sigmas.
CUSTOM_CASES: list[dict[str, Any]] = [
    {"id": "custom_euler_a_eta", "sampler": "euler_ancestral", "options": {"eta": 0.5, "s_noise": 0.8}},
    {"id": "custom_dpmpp_2m_sde_heun", "sampler": "dpmpp_2m_sde", "options": {"eta": 0.7, "s_noise": 1.0,
                                                                            "solver_type": "heun"}},
    {"id": "custom_dpmpp_sde_r", "sampler": "dpmpp_sde", "options": {"eta": 1.0, "s_noise": 1.0, "r": 0.3}},
    {"id": "custom_lms_order2", "sampler": "lms", "options": {"order": 2}},
    {"id": "custom_dpm_adaptive", "sampler": "dpm_adaptive",
     "options": {"order": 2, "rtol": 0.1, "atol": 0.01, "h_init": 0.1, "pcoeff": 0.0, "icoeff": 1.0,
                 "dcoeff": 0.0, "accept_safety": 0.81, "eta": 0.5, "s_noise": 1.0}},
    {"id": "custom_er_sde_reverse", "sampler": "er_sde", "options": {"s_noise": 1.0, "max_stage": 2},
     "reverse_time_eta": 0.5},
    {"id": "custom_sa_solver", "sampler": "sa_solver",
     "options": {"s_noise": 1.0, "predictor_order": 2, "corrector_order": 2, "use_pece": True,
                 "simple_order_2": True}, "tau": [0.1, 0.9, 0.8]},
    {"id": "custom_seeds_2_phi2", "sampler": "seeds_2",
     "options": {"eta": 1.0, "s_noise": 1.0, "r": 0.7, "solver_type": "phi_2"}},
    {"id": "custom_basic_guider", "sampler": "dpmpp_2m", "options": {}, "guider": "basic"},
    {"id": "custom_basic_guider_cfg_pp", "sampler": "euler_cfg_pp", "options": {}, "guider": "basic"},
    {"id": "custom_dual_cfg_regular", "sampler": "euler", "options": {}, "guider": "dual", "dual": [2.5, 4.0, False]},
    {"id": "custom_dual_cfg_nested", "sampler": "dpmpp_2m", "options": {}, "guider": "dual", "dual": [2.5, 4.0, True]},
    {"id": "custom_dual_cfg_neg1", "sampler": "euler", "options": {}, "guider": "dual", "dual": [1.0, 1.0, False]},
    {"id": "custom_dual_cfg_cfg_pp", "sampler": "euler_ancestral_cfg_pp", "options": {}, "guider": "dual",
     "dual": [1.5, 1.0, False]},
    {"id": "custom_dual_cfg_nested_cfg_pp", "sampler": "dpmpp_2m_cfg_pp", "options": {}, "guider": "dual",
     "dual": [1.5, 3.0, True]},
    {"id": "custom_disable_noise", "sampler": "euler_ancestral", "options": {}, "noise": "disable",
     "latent": "latent", "denoise": 0.5},
]
for _c in CUSTOM_CASES:
    _c.setdefault("steps", 6)
    _c.setdefault("cfg", 3.5)
    _c.setdefault("seed", 11)
    _c.setdefault("latent", "empty")
    _c.setdefault("denoise", 1.0)
    _c.setdefault("scheduler", "karras")

ALL_SAMPLING_CASES = SAMPLER_CASES + KSAMPLER_CASES + COND_CASES
