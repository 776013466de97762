"""The API-format graphs whose outputs are compared with ComfyUI (docs/diffusion-nodes.md §4).

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
}
