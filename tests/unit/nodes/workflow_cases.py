"""The workflow golden matrix: API-format graphs on the random-weight SD1.x test checkpoint.

Each case is a prompt as the frontend would POST it, plus the outputs to compare. The same graphs
run in ComfyUI 0.8.0 (`scripts/goldens/record_workflows.py`, under ComfyUI's venv) and through
toucan_nb's runtime (`test_workflow_goldens.py`). Pure Python and NumPy: the recorder loads this file
by path under another interpreter.

Sizes stay small (64x64 images, 8x8 latents, 2 to 6 steps) so the whole matrix runs in CI.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

CHECKPOINT = "toucan-test-sd15.safetensors"
LORA = "toucan-test-lora.safetensors"
LOCON = "toucan-test-locon.safetensors"
IMAGE = "toucan-golden.png"  # RGBA: the alpha channel is LoadImage's mask (1 - alpha)

SCHEDULERS = ["simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
              "linear_quadratic", "kl_optimal"]
# The most used samplers first; the rest of ComfyUI's 44 after them.
SAMPLERS = ["euler", "euler_ancestral", "heun", "dpm_2", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_sde", "lms", "ddim",
            "uni_pc", "lcm",
            "euler_cfg_pp", "euler_ancestral_cfg_pp", "heunpp2", "exp_heun_2_x0", "exp_heun_2_x0_sde",
            "dpm_2_ancestral", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp",
            "dpmpp_sde_gpu", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu",
            "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "ipndm", "ipndm_v", "deis", "res_multistep",
            "res_multistep_cfg_pp", "res_multistep_ancestral", "res_multistep_ancestral_cfg_pp",
            "gradient_estimation", "gradient_estimation_cfg_pp", "er_sde", "seeds_2", "seeds_3", "sa_solver",
            "sa_solver_pece", "uni_pc_bh2"]

POSITIVE = "a photo of a (toucan:1.2) on a branch, tropical forest"
NEGATIVE = "blurry, low quality"
WEIGHTED = "a (photo:1.3) of a ((toucan)), [dog] \\(escaped\\) (nested (inner:0.5) words), (bright colors:0.8)"
LONG = ", ".join(["masterpiece", "best quality", "(red:1.2) lighting"] + [f"detail number {i}" for i in range(24)]
                 + ["a toucan", "the end"])


def write_inputs(directory: Path) -> None:
    """The input image: a smooth RGB pattern with noise and an alpha hole (the inpainting mask)."""
    from PIL import Image

    rng = np.random.Generator(np.random.PCG64(64))
    y, x = np.mgrid[0:64, 0:64].astype(np.float32) / 63.0
    rgb = np.stack([x, y, 0.5 + 0.5 * np.sin(6 * x * y)], axis=-1)
    rgb = np.clip(rgb + 0.15 * rng.standard_normal((64, 64, 3)).astype(np.float32), 0.0, 1.0)
    alpha = np.ones((64, 64), dtype=np.float32)
    alpha[16:44, 20:52] = 0.0  # transparent: LoadImage's mask is 1 there
    pixels = np.concatenate([rgb, alpha[..., None]], axis=-1)
    Image.fromarray((pixels * 255).round().astype(np.uint8), "RGBA").save(directory / IMAGE)


def base(seed: int = 42, steps: int = 3, cfg: float = 7.0, sampler: str = "euler", scheduler: str = "normal",
         positive: str = POSITIVE, decode: bool = False) -> dict[str, Any]:
    """ComfyUI's default workflow at 64x64."""
    g: dict[str, Any] = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": positive, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler, "scheduler": scheduler,
            "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
            "latent_image": ["5", 0]}},
    }
    if decode:
        g["8"] = {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}}
    return g


def _case(graph: dict[str, Any], **extra: list[Any]) -> dict[str, Any]:
    """A case compares the KSampler latent ("3"), the decoded image ("8") when there is one, and more."""
    outputs: dict[str, list[Any]] = {"latent": ["3", 0]} if "3" in graph else {}
    if "8" in graph:
        outputs["image"] = ["8", 0]
    outputs.update(extra)
    return {"graph": graph, "outputs": outputs}


def cases() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    out["default"] = _case(base(steps=4, sampler="euler_ancestral", decode=True))
    for name in SCHEDULERS:
        out[f"scheduler_{name}"] = _case(base(steps=4, scheduler=name))
    for name in SAMPLERS:
        out[f"sampler_{name}"] = _case(base(sampler=name, seed=7))
    out["cfg_1"] = _case(base(cfg=1.0, sampler="dpmpp_2m", decode=True))

    g = base(steps=4, sampler="euler_ancestral", decode=True)
    g["10"] = {"class_type": "LoadImage", "inputs": {"image": IMAGE}}
    g["11"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}}
    g["3"]["inputs"].update(latent_image=["11", 0], denoise=0.55)
    out["img2img_denoise_0.55"] = _case(g, encoded=["11", 0])

    g = base(decode=True)
    del g["3"]
    common = {"noise_seed": 99, "steps": 6, "cfg": 6.5, "sampler_name": "dpmpp_2m", "scheduler": "karras",
              "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0]}
    g["3"] = {"class_type": "KSamplerAdvanced", "inputs": {
        **common, "add_noise": "enable", "start_at_step": 0, "end_at_step": 3, "return_with_leftover_noise": "enable",
        "latent_image": ["5", 0]}}
    g["12"] = {"class_type": "KSamplerAdvanced", "inputs": {
        **common, "add_noise": "disable", "start_at_step": 3, "end_at_step": 10000,
        "return_with_leftover_noise": "disable", "latent_image": ["3", 0]}}
    g["8"]["inputs"]["samples"] = ["12", 0]
    out["advanced_leftover_noise"] = _case(g, final=["12", 0])

    g = base(steps=5, sampler="euler")
    g["3"]["class_type"] = "KSamplerAdvanced"
    i = g["3"]["inputs"]
    i["noise_seed"] = i.pop("seed")
    del i["denoise"]
    i.update(add_noise="enable", start_at_step=2, end_at_step=4, return_with_leftover_noise="disable")
    out["advanced_steps_2_to_4"] = _case(g)

    out["prompt_weighted"] = _case(base(positive=WEIGHTED), cond=["6", 0])
    out["prompt_long"] = _case(base(positive=LONG), cond=["6", 0])

    g = base(decode=True)
    g["13"] = {"class_type": "CLIPSetLastLayer", "inputs": {"clip": ["4", 1], "stop_at_clip_layer": -2}}
    g["6"]["inputs"]["clip"] = g["7"]["inputs"]["clip"] = ["13", 0]
    out["clip_set_last_layer"] = _case(g, cond=["6", 0])

    g = base(sampler="euler_ancestral", decode=True)
    g["14"] = {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1], "lora_name": LORA,
                                                        "strength_model": 0.9, "strength_clip": 0.8}}
    g["15"] = {"class_type": "LoraLoader", "inputs": {"model": ["14", 0], "clip": ["14", 1], "lora_name": LOCON,
                                                        "strength_model": 0.7, "strength_clip": 1.0}}
    g["6"]["inputs"]["clip"] = g["7"]["inputs"]["clip"] = ["15", 1]
    g["3"]["inputs"]["model"] = ["15", 0]
    out["lora_stacked"] = _case(g, cond=["6", 0])

    g = base(sampler="euler_ancestral", decode=True)
    g["5"]["inputs"]["batch_size"] = 2
    out["batch_2"] = _case(g)

    g = base(sampler="dpmpp_2m_sde")
    g["5"]["inputs"]["batch_size"] = 4
    g["16"] = {"class_type": "LatentFromBatch", "inputs": {"samples": ["5", 0], "batch_index": 1, "length": 2}}
    g["3"]["inputs"]["latent_image"] = ["16", 0]
    out["batch_index"] = _case(g)

    g = base(steps=4, decode=True)
    g["10"] = {"class_type": "LoadImage", "inputs": {"image": IMAGE}}
    g["17"] = {"class_type": "VAEEncodeForInpaint", "inputs": {"pixels": ["10", 0], "vae": ["4", 2], "mask": ["10", 1],
                                                                "grow_mask_by": 6}}
    g["3"]["inputs"]["latent_image"] = ["17", 0]
    out["inpaint_vae_encode_for_inpaint"] = _case(g, encoded=["17", 0])

    g = base(steps=4, sampler="ddim", decode=True)
    g["10"] = {"class_type": "LoadImage", "inputs": {"image": IMAGE}}
    g["11"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}}
    g["18"] = {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["11", 0], "mask": ["10", 1]}}
    g["3"]["inputs"].update(latent_image=["18", 0], denoise=0.8)
    out["inpaint_set_latent_noise_mask"] = _case(g)

    g = base(decode=True)
    del g["3"]
    g["20"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": 1234}}
    g["21"] = {"class_type": "CFGGuider", "inputs": {"model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                                                      "cfg": 5.0}}
    g["22"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "dpmpp_2m"}}
    g["23"] = {"class_type": "BasicScheduler", "inputs": {"model": ["4", 0], "scheduler": "karras", "steps": 4,
                                                           "denoise": 1.0}}
    g["24"] = {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["20", 0], "guider": ["21", 0],
                                                                  "sampler": ["22", 0], "sigmas": ["23", 0],
                                                                  "latent_image": ["5", 0]}}
    g["8"]["inputs"]["samples"] = ["24", 0]
    out["sampler_custom_advanced"] = _case(g, output=["24", 0], denoised=["24", 1], sigmas=["23", 0])
    return out


def graph(name: str) -> dict[str, Any]:
    return copy.deepcopy(cases()[name]["graph"])
