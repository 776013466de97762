"""The API-format graphs whose outputs are compared with ComfyUI (docs/diffusion.md §3).

Pure data, shared by the recorder (scripts/goldens/record_nodes.py, which loads this file by path
under ComfyUI's interpreter) and the tests (test_diffusion_goldens.py). Each graph names the node
outputs to record: `{node_id: [[output_index, kind], ...]}` with kind "latent" (a LATENT's
samples), "image" (an IMAGE), "sigmas" or "conditioning" (the first entry's tensor). `noise`
names an EmptyLatentImage node and a seed: the starting noise of that latent is recorded too.
Add a graph here, run the recorder, commit the new golden: the tests pick it up.
"""

from __future__ import annotations

from typing import Any

# The name the test checkpoint (tests/support/checkpoints.py, sd15_checkpoint) gets in models/checkpoints.
CHECKPOINT = "toucan-test-sd15.safetensors"
LORA = "toucan-test-sd15-lora.safetensors"
# The checkpoint's parts as split files (tests/support/model_files.py split_file): folder, name, key prefix.
SPLIT_FILES = (("diffusion_models", "toucan-test-sd15-unet.safetensors", "model.diffusion_model."),
               ("text_encoders", "toucan-test-sd15-clip-l.safetensors", "cond_stage_model.transformer."),
               ("vae", "toucan-test-sd15-vae.safetensors", "first_stage_model."))
# tests/support/checkpoints.py write_embedding_safetensors puts `toucan-emb.safetensors` in models/embeddings.
EMBEDDING = "toucan-emb"

POSITIVE = "a photo of a (cat:1.2) on a sofa, embedding:none_such"
NEGATIVE = "blurry, low quality"


def default_workflow(seed: int = 42, steps: int = 4, cfg: float = 7.0, sampler: str = "euler_ancestral",
                     scheduler: str = "normal", width: int = 64, height: int = 64, batch: int = 1,
                     denoise: float = 1.0, positive: str = POSITIVE, negative: str = NEGATIVE) -> dict[str, Any]:
    """The frontend's default workflow (its node ids too), on a small latent."""
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": positive, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": negative, "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": height, "batch_size": batch}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler, "scheduler": scheduler,
            "denoise": denoise, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
            "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    }


def custom_advanced(seed: int = 7, steps: int = 3, cfg: float = 5.0, sampler: str = "dpmpp_2m",
                    scheduler: str = "karras") -> dict[str, Any]:
    """SamplerCustomAdvanced with RandomNoise, CFGGuider, KSamplerSelect and BasicScheduler."""
    graph = default_workflow()
    del graph["3"]
    graph.update({
        "10": {"class_type": "RandomNoise", "inputs": {"noise_seed": seed}},
        "11": {"class_type": "CFGGuider", "inputs": {"model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                                                     "cfg": cfg}},
        "12": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": sampler}},
        "13": {"class_type": "BasicScheduler", "inputs": {"model": ["4", 0], "scheduler": scheduler, "steps": steps,
                                                          "denoise": 1.0}},
        "14": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["10", 0], "guider": ["11", 0],
                                                                 "sampler": ["12", 0], "sigmas": ["13", 0],
                                                                 "latent_image": ["5", 0]}},
    })
    graph["8"]["inputs"]["samples"] = ["14", 0]
    return graph


def lora_clip_skip_embedding() -> dict[str, Any]:
    """LoraLoader, CLIPSetLastLayer -2 and a weighted textual inversion, sampled with dpmpp_2m/karras."""
    graph = default_workflow(seed=11, steps=3, cfg=6.0, sampler="dpmpp_2m", scheduler="karras",
                             positive=f"a (embedding:{EMBEDDING}:1.1) painting of a lighthouse, (storm:0.8)")
    graph.update({
        "10": {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1], "lora_name": LORA,
                                                      "strength_model": 0.8, "strength_clip": 0.6}},
        "11": {"class_type": "CLIPSetLastLayer", "inputs": {"clip": ["10", 1], "stop_at_clip_layer": -2}},
    })
    graph["6"]["inputs"]["clip"] = ["11", 0]
    graph["7"]["inputs"]["clip"] = ["11", 0]
    graph["3"]["inputs"]["model"] = ["10", 0]
    return graph


LONG = ", ".join(f"detail {i} of a (very:1.3) intricate [scene]" for i in range(12))  # over 75 tokens


def conditioning_ops() -> dict[str, Any]:
    """ConditioningAverage/Concat/SetAreaPercentage/SetMask/Combine/SetTimestepRange/ZeroOut into KSampler."""
    graph = default_workflow(seed=21, steps=2, cfg=4.0, sampler="euler", scheduler="simple", height=96)

    def node(class_type: str, **inputs: Any) -> dict[str, Any]:
        return {"class_type": class_type, "inputs": inputs}

    graph.update({
        "20": node("CLIPTextEncode", text=LONG, clip=["4", 1]),
        "21": node("ConditioningAverage", conditioning_to=["6", 0], conditioning_from=["20", 0],
                   conditioning_to_strength=0.3),
        "22": node("ConditioningConcat", conditioning_to=["21", 0], conditioning_from=["7", 0]),
        "23": node("ConditioningSetAreaPercentage", conditioning=["22", 0], width=0.5, height=1.0, x=0.5, y=0.0,
                   strength=1.2),
        "24": node("SolidMask", value=0.7, width=32, height=48),
        "25": node("ConditioningSetMask", conditioning=["20", 0], mask=["24", 0], strength=0.8,
                   set_cond_area="mask bounds"),
        "26": node("ConditioningCombine", conditioning_1=["23", 0], conditioning_2=["25", 0]),
        "27": node("ConditioningSetArea", conditioning=["6", 0], width=64, height=64, x=0, y=32, strength=1.0),
        "28": node("ConditioningCombine", conditioning_1=["26", 0], conditioning_2=["27", 0]),
        "29": node("ConditioningSetTimestepRange", conditioning=["28", 0], start=0.0, end=0.8),
        "30": node("ConditioningZeroOut", conditioning=["7", 0]),
    })
    graph["3"]["inputs"]["positive"] = ["29", 0]
    graph["3"]["inputs"]["negative"] = ["30", 0]
    return graph


def split_files_tiled_inpaint() -> dict[str, Any]:
    """Split-file loaders, LoraLoaderModelOnly, ModelSamplingDiscrete, tiled VAE both ways, a noise
    mask and KSamplerAdvanced with leftover noise, then a full denoise of what is left."""
    unet, clip, vae = (name for _, name, _ in SPLIT_FILES)

    def node(class_type: str, **inputs: Any) -> dict[str, Any]:
        return {"class_type": class_type, "inputs": inputs}

    graph = default_workflow(seed=31, steps=3, cfg=5.0, sampler="euler", scheduler="normal")
    graph.update({
        "40": node("UNETLoader", unet_name=unet, weight_dtype="default"),
        "41": node("CLIPLoader", clip_name=clip, type="stable_diffusion", device="default"),
        "42": node("VAELoader", vae_name=vae),
        "43": node("LoraLoaderModelOnly", model=["40", 0], lora_name=LORA, strength_model=0.7),
        "44": node("ModelSamplingDiscrete", model=["43", 0], sampling="v_prediction", zsnr=False),
        "45": node("VAEDecodeTiled", samples=["3", 0], vae=["42", 0], tile_size=64, overlap=32, temporal_size=64,
                   temporal_overlap=8),
        # Overlap 0: ComfyUI divides by (tile_size / 2 - overlap) when it counts the tiles.
        "46": node("VAEEncodeTiled", pixels=["45", 0], vae=["42", 0], tile_size=64, overlap=0, temporal_size=64,
                   temporal_overlap=8),
        "47": node("SolidMask", value=0.0, width=64, height=64),
        "48": node("SolidMask", value=1.0, width=32, height=64),
        "49": node("MaskComposite", destination=["47", 0], source=["48", 0], x=32, y=0, operation="add"),
        "50": node("SetLatentNoiseMask", samples=["46", 0], mask=["49", 0]),
        "51": node("KSamplerAdvanced", model=["44", 0], add_noise="enable", noise_seed=32, steps=4, cfg=5.0,
                   sampler_name="heun", scheduler="karras", positive=["6", 0], negative=["7", 0],
                   latent_image=["50", 0], start_at_step=1, end_at_step=3, return_with_leftover_noise="enable"),
        "52": node("VAEDecode", samples=["51", 0], vae=["42", 0]),
    })
    graph["3"]["inputs"]["model"] = ["40", 0]
    for encoder in ("6", "7"):
        graph[encoder]["inputs"]["clip"] = ["41", 0]
    graph["8"]["inputs"]["vae"] = ["42", 0]
    graph["9"]["inputs"]["images"] = ["52", 0]
    del graph["4"]
    return graph


GRAPHS: dict[str, dict[str, Any]] = {
    "default_workflow": {
        "prompt": default_workflow(),
        "record": {"6": [[0, "conditioning"]], "3": [[0, "latent"]], "8": [[0, "image"]]},
        "noise": ["5", 42],
    },
    "custom_advanced": {
        "prompt": custom_advanced(),
        "record": {"13": [[0, "sigmas"]], "14": [[0, "latent"], [1, "latent"]], "8": [[0, "image"]]},
        "noise": ["5", 7],
    },
    "lora_clip_skip_embedding": {
        "prompt": lora_clip_skip_embedding(),
        "record": {"6": [[0, "conditioning"]], "3": [[0, "latent"]], "8": [[0, "image"]]},
        "noise": ["5", 11],
    },
    "conditioning_ops": {
        "prompt": conditioning_ops(),
        "record": {"20": [[0, "conditioning"]], "21": [[0, "conditioning"]], "22": [[0, "conditioning"]],
                   "3": [[0, "latent"]], "8": [[0, "image"]]},
        "noise": ["5", 21],
    },
    "split_files_tiled_inpaint": {
        "prompt": split_files_tiled_inpaint(),
        "record": {"3": [[0, "latent"]], "45": [[0, "image"]], "46": [[0, "latent"]], "51": [[0, "latent"]],
                   "52": [[0, "image"]]},
        "noise": ["5", 31],
    },
}
