"""Text-encoding and CONDITIONING nodes of ComfyUI's `nodes.py` and `nodes_clip_sdxl`:
CLIPTextEncode, CLIPTextEncodeSDXL, CLIPTextEncodeSDXLRefiner, ConditioningCombine,
ConditioningAverage, ConditioningConcat, ConditioningSetArea, ConditioningSetAreaPercentage,
ConditioningSetMask, ConditioningZeroOut, ConditioningSetTimestepRange.

A CONDITIONING is a list of `[tensor, dict]` (docs/diffusion-sampling.md §Conditioning); every node
returns new lists and dict copies, never changing its inputs (cached outputs stay valid). Encoding
is the engine's (`toucan_nb.diffusion.text_encoder`), prompt weights and `embedding:` included.
Node calls come from the executor thread.
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
_STRENGTH = ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01})


def _require_clip(clip: TextEncoder | None) -> TextEncoder:
    if clip is None:
        raise RuntimeError("ERROR: clip input is invalid: None\n\nIf the clip is from a checkpoint loader node your "
                           "checkpoint does not contain a valid clip or text encoder model.")
    return clip


class CLIPTextEncode:
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    OUTPUT_TOOLTIPS = ("A conditioning containing the embedded text used to guide the diffusion model.",)
    DESCRIPTION = ("Encodes a text prompt using a CLIP model into an embedding that can be used to guide the "
                   "diffusion model towards generating specific images.")
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "text": ("STRING", {"multiline": True, "dynamicPrompts": True, "tooltip": "The text to be encoded."}),
            "clip": ("CLIP", {"tooltip": "The CLIP model used for encoding the text."}),
        }}

    def encode(self, clip: TextEncoder | None, text: str) -> tuple[Conditioning]:
        clip = _require_clip(clip)
        return (clip.encode_from_tokens_scheduled(clip.tokenize(text)),)


def _size(default: int) -> tuple[str, dict[str, Any]]:
    return ("INT", {"default": default, "min": 0, "max": MAX_RESOLUTION})


_TEXT = ("STRING", {"multiline": True, "dynamicPrompts": True})


class CLIPTextEncodeSDXL:
    CATEGORY = "advanced/conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    OBJECT_INFO_V3 = True
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "clip": ("CLIP", {}), "width": _size(1024), "height": _size(1024), "crop_w": _size(0),
            "crop_h": _size(0), "target_width": _size(1024), "target_height": _size(1024),
            "text_g": _TEXT, "text_l": _TEXT,
        }}

    def encode(self, clip: TextEncoder, width: int, height: int, crop_w: int, crop_h: int, target_width: int,
               target_height: int, text_g: str, text_l: str) -> tuple[Conditioning]:
        tokens = clip.tokenize(text_g)
        tokens["l"] = clip.tokenize(text_l)["l"]
        # The two towers must see the same number of 77-token chunks: pad the shorter with empty ones.
        if len(tokens["l"]) != len(tokens["g"]):
            empty = clip.tokenize("")
            while len(tokens["l"]) < len(tokens["g"]):
                tokens["l"] += empty["l"]
            while len(tokens["l"]) > len(tokens["g"]):
                tokens["g"] += empty["g"]
        values = {"width": width, "height": height, "crop_w": crop_w, "crop_h": crop_h,
                  "target_width": target_width, "target_height": target_height}
        return (clip.encode_from_tokens_scheduled(tokens, add_dict=values),)


class CLIPTextEncodeSDXLRefiner:
    CATEGORY = "advanced/conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    OBJECT_INFO_V3 = True
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "ascore": ("FLOAT", {"default": 6.0, "min": 0.0, "max": 1000.0, "step": 0.01}),
            "width": _size(1024), "height": _size(1024), "text": _TEXT, "clip": ("CLIP", {}),
        }}

    def encode(self, clip: TextEncoder, ascore: float, width: int, height: int, text: str) -> tuple[Conditioning]:
        values = {"aesthetic_score": ascore, "width": width, "height": height}
        return (clip.encode_from_tokens_scheduled(clip.tokenize(text), add_dict=values),)


class ConditioningCombine:
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "combine"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"conditioning_1": ("CONDITIONING",), "conditioning_2": ("CONDITIONING",)}}

    def combine(self, conditioning_1: Conditioning, conditioning_2: Conditioning) -> tuple[Conditioning]:
        return (conditioning_1 + conditioning_2,)


def _first_only(node: str, conditioning_from: Conditioning) -> None:
    if len(conditioning_from) > 1:
        log.warning("Warning: %s conditioning_from contains more than 1 cond, only the first one will actually be "
                    "applied to conditioning_to.", node)


class ConditioningAverage:
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "addWeighted"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"conditioning_to": ("CONDITIONING",), "conditioning_from": ("CONDITIONING",),
                             "conditioning_to_strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0,
                                                                    "step": 0.01})}}

    def addWeighted(self, conditioning_to: Conditioning, conditioning_from: Conditioning,
                    conditioning_to_strength: float) -> tuple[Conditioning]:
        _first_only("ConditioningAverage", conditioning_from)
        cond_from = conditioning_from[0][0]
        pooled_from = conditioning_from[0][1].get("pooled_output", None)
        w = conditioning_to_strength
        out = []
        for t1, extra in conditioning_to:
            pooled_to = extra.get("pooled_output", pooled_from)
            # The "from" tokens are cut or zero-padded to the "to" length.
            t0 = cond_from[:, :t1.shape[1]]
            if t0.shape[1] < t1.shape[1]:
                t0 = torch.cat([t0, torch.zeros((1, t1.shape[1] - t0.shape[1], t1.shape[2]))], dim=1)
            d = extra.copy()
            if pooled_from is not None and pooled_to is not None:
                d["pooled_output"] = torch.mul(pooled_to, w) + torch.mul(pooled_from, 1.0 - w)
            elif pooled_from is not None:
                d["pooled_output"] = pooled_from
            out.append([torch.mul(t1, w) + torch.mul(t0, 1.0 - w), d])
        return (out,)


class ConditioningConcat:
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "concat"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"conditioning_to": ("CONDITIONING",), "conditioning_from": ("CONDITIONING",)}}

    def concat(self, conditioning_to: Conditioning, conditioning_from: Conditioning) -> tuple[Conditioning]:
        _first_only("ConditioningConcat", conditioning_from)
        cond_from = conditioning_from[0][0]
        return ([[torch.cat((t1, cond_from), 1), extra.copy()] for t1, extra in conditioning_to],)


class ConditioningSetArea:
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "append"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        def px(default: int, low: int) -> tuple[str, dict[str, Any]]:
            return ("INT", {"default": default, "min": low, "max": MAX_RESOLUTION, "step": 8})

        return {"required": {"conditioning": ("CONDITIONING",), "width": px(64, 64), "height": px(64, 64),
                             "x": px(0, 0), "y": px(0, 0), "strength": _STRENGTH}}

    def append(self, conditioning: Conditioning, width: int, height: int, x: int, y: int,
               strength: float) -> tuple[Conditioning]:
        return (set_values(conditioning, {"area": (height // 8, width // 8, y // 8, x // 8), "strength": strength,
                                          "set_area_to_bounds": False}),)


class ConditioningSetAreaPercentage:
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "append"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        def pct(default: float | int) -> tuple[str, dict[str, Any]]:
            return ("FLOAT", {"default": default, "min": 0, "max": 1.0, "step": 0.01})

        return {"required": {"conditioning": ("CONDITIONING",), "width": pct(1.0), "height": pct(1.0),
                             "x": pct(0), "y": pct(0), "strength": _STRENGTH}}

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
        return {"required": {"conditioning": ("CONDITIONING",), "mask": ("MASK",), "strength": _STRENGTH,
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
        for cond, extra in conditioning:
            d = extra.copy()
            for key in ("pooled_output", "conditioning_lyrics"):
                if d.get(key) is not None:
                    d[key] = torch.zeros_like(d[key])
            out.append([torch.zeros_like(cond), d])
        return (out,)


class ConditioningSetTimestepRange:
    CATEGORY = "advanced/conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "set_range"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        def frac(default: float) -> tuple[str, dict[str, Any]]:
            return ("FLOAT", {"default": default, "min": 0.0, "max": 1.0, "step": 0.001})

        return {"required": {"conditioning": ("CONDITIONING",), "start": frac(0.0), "end": frac(1.0)}}

    def set_range(self, conditioning: Conditioning, start: float, end: float) -> tuple[Conditioning]:
        return (set_values(conditioning, {"start_percent": start, "end_percent": end}),)
