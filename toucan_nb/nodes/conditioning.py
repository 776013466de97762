"""Conditioning nodes of ComfyUI (`nodes.py`, `comfy_extras.nodes_clip_sdxl`) on the built-in engine.

CONDITIONING is ComfyUI's list of `[cross-attention tensor, options dict]` entries; every node here
returns new lists and dicts and never changes its inputs (a cached output may feed many nodes).
The options (area, mask, strength, start/end percent, pooled_output, SDXL sizes) are read by the
sampling layer (docs/diffusion-sampling.md, Conditioning). Node calls come from the executor thread.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from toucan_nb.diffusion.inpaint import set_values
from toucan_nb.diffusion.text_encoder import TextEncoder
from toucan_nb.nodes.specs import MAX_RESOLUTION

log = logging.getLogger(__name__)

Conditioning = list[list[Any]]

NO_CLIP = ("ERROR: clip input is invalid: None\n\nIf the clip is from a checkpoint loader node your checkpoint "
           "does not contain a valid clip or text encoder model.")
PROMPT = ("STRING", {"multiline": True, "dynamicPrompts": True})
SIZE = ("INT", {"default": 1024, "min": 0, "max": MAX_RESOLUTION})
STRENGTH = ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01})


def _require_clip(clip: TextEncoder | None) -> TextEncoder:
    if clip is None:
        raise RuntimeError(NO_CLIP)
    return clip


class CLIPTextEncode:
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    OUTPUT_TOOLTIPS = ("A conditioning containing the embedded text used to guide the diffusion model.",)
    FUNCTION = "encode"
    DESCRIPTION = ("Encodes a text prompt using a CLIP model into an embedding that can be used to guide the "
                   "diffusion model towards generating specific images.")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "text": ("STRING", {**PROMPT[1], "tooltip": "The text to be encoded."}),
            "clip": ("CLIP", {"tooltip": "The CLIP model used for encoding the text."}),
        }}

    def encode(self, clip: TextEncoder | None, text: str) -> tuple[Conditioning]:
        clip = _require_clip(clip)
        return (clip.encode_from_tokens_scheduled(clip.tokenize(text)),)


class CLIPTextEncodeSDXL:
    CATEGORY = "advanced/conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "execute"
    OBJECT_INFO_V3 = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "clip": ("CLIP", {}), "width": SIZE, "height": SIZE,
            "crop_w": ("INT", {"default": 0, "min": 0, "max": MAX_RESOLUTION}),
            "crop_h": ("INT", {"default": 0, "min": 0, "max": MAX_RESOLUTION}),
            "target_width": SIZE, "target_height": SIZE, "text_g": PROMPT, "text_l": PROMPT,
        }}

    def execute(self, clip: TextEncoder, width: int, height: int, crop_w: int, crop_h: int, target_width: int,
                target_height: int, text_g: str, text_l: str) -> tuple[Conditioning]:
        tokens = clip.tokenize(text_g)
        tokens["l"] = clip.tokenize(text_l)["l"]
        # Both towers need the same number of 77-token chunks: pad the shorter with empty prompts.
        if len(tokens["l"]) != len(tokens["g"]):
            empty = clip.tokenize("")
            while len(tokens["l"]) < len(tokens["g"]):
                tokens["l"] += empty["l"]
            while len(tokens["l"]) > len(tokens["g"]):
                tokens["g"] += empty["g"]
        sizes = {"width": width, "height": height, "crop_w": crop_w, "crop_h": crop_h,
                 "target_width": target_width, "target_height": target_height}
        return (clip.encode_from_tokens_scheduled(tokens, add_dict=sizes),)


class CLIPTextEncodeSDXLRefiner:
    CATEGORY = "advanced/conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "execute"
    OBJECT_INFO_V3 = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "ascore": ("FLOAT", {"default": 6.0, "min": 0.0, "max": 1000.0, "step": 0.01}),
            "width": SIZE, "height": SIZE, "text": PROMPT, "clip": ("CLIP", {}),
        }}

    def execute(self, ascore: float, width: int, height: int, text: str, clip: TextEncoder) -> tuple[Conditioning]:
        tokens = clip.tokenize(text)
        return (clip.encode_from_tokens_scheduled(tokens, add_dict={"aesthetic_score": ascore, "width": width,
                                                                    "height": height}),)


class ConditioningCombine:
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "combine"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"conditioning_1": ("CONDITIONING",), "conditioning_2": ("CONDITIONING",)}}

    def combine(self, conditioning_1: Conditioning, conditioning_2: Conditioning) -> tuple[Conditioning]:
        return (conditioning_1 + conditioning_2,)


class ConditioningAverage:
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "addWeighted"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"conditioning_to": ("CONDITIONING",), "conditioning_from": ("CONDITIONING",),
                             "conditioning_to_strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0,
                                                                    "step": 0.01})}}

    def addWeighted(self, conditioning_to: Conditioning, conditioning_from: Conditioning,  # noqa: N802 (ComfyUI's name)
                    conditioning_to_strength: float) -> tuple[Conditioning]:
        if len(conditioning_from) > 1:
            log.warning("ConditioningAverage conditioning_from contains more than 1 cond, only the first one "
                        "will actually be applied to conditioning_to.")
        cond_from = conditioning_from[0][0]
        pooled_from = conditioning_from[0][1].get("pooled_output")
        s = conditioning_to_strength
        out = []
        for cond_to, options in conditioning_to:
            pooled_to = options.get("pooled_output", pooled_from)
            t0 = cond_from[:, :cond_to.shape[1]]
            if t0.shape[1] < cond_to.shape[1]:
                t0 = torch.cat([t0, torch.zeros((1, cond_to.shape[1] - t0.shape[1], cond_to.shape[2]))], dim=1)
            mixed = torch.mul(cond_to, s) + torch.mul(t0, 1.0 - s)
            new_options = options.copy()
            if pooled_from is not None and pooled_to is not None:
                new_options["pooled_output"] = torch.mul(pooled_to, s) + torch.mul(pooled_from, 1.0 - s)
            elif pooled_from is not None:
                new_options["pooled_output"] = pooled_from
            out.append([mixed, new_options])
        return (out,)


class ConditioningConcat:
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "concat"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"conditioning_to": ("CONDITIONING",), "conditioning_from": ("CONDITIONING",)}}

    def concat(self, conditioning_to: Conditioning, conditioning_from: Conditioning) -> tuple[Conditioning]:
        if len(conditioning_from) > 1:
            log.warning("ConditioningConcat conditioning_from contains more than 1 cond, only the first one will "
                        "actually be applied to conditioning_to.")
        cond_from = conditioning_from[0][0]
        return ([[torch.cat((cond_to, cond_from), 1), options.copy()] for cond_to, options in conditioning_to],)


class ConditioningSetArea:
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "append"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "conditioning": ("CONDITIONING",),
            "width": ("INT", {"default": 64, "min": 64, "max": MAX_RESOLUTION, "step": 8}),
            "height": ("INT", {"default": 64, "min": 64, "max": MAX_RESOLUTION, "step": 8}),
            "x": ("INT", {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 8}),
            "y": ("INT", {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 8}),
            "strength": STRENGTH,
        }}

    def append(self, conditioning: Conditioning, width: int, height: int, x: int, y: int,
               strength: float) -> tuple[Conditioning]:
        # Areas are kept in latent pixels (1/8 of the image).
        return (set_values(conditioning, {"area": (height // 8, width // 8, y // 8, x // 8), "strength": strength,
                                          "set_area_to_bounds": False}),)


class ConditioningSetAreaPercentage:
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "append"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "conditioning": ("CONDITIONING",),
            "width": ("FLOAT", {"default": 1.0, "min": 0, "max": 1.0, "step": 0.01}),
            "height": ("FLOAT", {"default": 1.0, "min": 0, "max": 1.0, "step": 0.01}),
            "x": ("FLOAT", {"default": 0, "min": 0, "max": 1.0, "step": 0.01}),
            "y": ("FLOAT", {"default": 0, "min": 0, "max": 1.0, "step": 0.01}),
            "strength": STRENGTH,
        }}

    def append(self, conditioning: Conditioning, width: float, height: float, x: float, y: float,
               strength: float) -> tuple[Conditioning]:
        return (set_values(conditioning, {"area": ("percentage", height, width, y, x), "strength": strength,
                                          "set_area_to_bounds": False}),)


class ConditioningSetMask:
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "append"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"conditioning": ("CONDITIONING",), "mask": ("MASK",), "strength": STRENGTH,
                             "set_cond_area": (["default", "mask bounds"],)}}

    def append(self, conditioning: Conditioning, mask: torch.Tensor, set_cond_area: str,
               strength: float) -> tuple[Conditioning]:
        if len(mask.shape) < 3:
            mask = mask.unsqueeze(0)
        return (set_values(conditioning, {"mask": mask, "set_area_to_bounds": set_cond_area != "default",
                                          "mask_strength": strength}),)


class ConditioningZeroOut:
    CATEGORY = "advanced/conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "zero_out"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"conditioning": ("CONDITIONING",)}}

    def zero_out(self, conditioning: Conditioning) -> tuple[Conditioning]:
        out = []
        for cond, options in conditioning:
            new_options = options.copy()
            for key in ("pooled_output", "conditioning_lyrics"):
                if new_options.get(key) is not None:
                    new_options[key] = torch.zeros_like(new_options[key])
            out.append([torch.zeros_like(cond), new_options])
        return (out,)


class ConditioningSetTimestepRange:
    CATEGORY = "advanced/conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "set_range"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"conditioning": ("CONDITIONING",),
                             "start": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.001}),
                             "end": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.001})}}

    def set_range(self, conditioning: Conditioning, start: float, end: float) -> tuple[Conditioning]:
        return (set_values(conditioning, {"start_percent": start, "end_percent": end}),)
