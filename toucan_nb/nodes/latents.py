"""LATENT nodes of ComfyUI's `nodes.py` (LATENT is a dict whose "samples" is [B, 4, H/8, W/8]):
EmptyLatentImage, LatentUpscale, LatentUpscaleBy, LatentComposite, LatentBlend, LatentFromBatch,
RepeatLatentBatch.

Each node returns a shallow copy of its input dict, so keys it does not touch (noise_mask,
batch_index, ...) travel along. New latents are made on the runtime device.
Node calls come from the executor thread.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from toucan_nb.nodes.resample import common_upscale
from toucan_nb.nodes.specs import CROP_METHODS, LATENT_UPSCALE_METHODS, MAX_RESOLUTION
from toucan_nb.runtime.device import get_torch_device

Latent = dict[str, Any]


class EmptyLatentImage:
    CATEGORY = "latent"
    RETURN_TYPES = ("LATENT",)
    OUTPUT_TOOLTIPS = ("The empty latent image batch.",)
    FUNCTION = "generate"
    DESCRIPTION = "Create a new batch of empty latent images to be denoised via sampling."

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "width": ("INT", {"default": 512, "min": 16, "max": MAX_RESOLUTION, "step": 8,
                              "tooltip": "The width of the latent images in pixels."}),
            "height": ("INT", {"default": 512, "min": 16, "max": MAX_RESOLUTION, "step": 8,
                               "tooltip": "The height of the latent images in pixels."}),
            "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096,
                                   "tooltip": "The number of latent images in the batch."}),
        }}

    def generate(self, width: int, height: int, batch_size: int = 1) -> tuple[Latent]:
        return ({"samples": torch.zeros([batch_size, 4, height // 8, width // 8], device=get_torch_device())},)


class LatentUpscale:
    CATEGORY = "latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "upscale"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "samples": ("LATENT",), "upscale_method": (list(LATENT_UPSCALE_METHODS),),
            "width": ("INT", {"default": 512, "min": 0, "max": MAX_RESOLUTION, "step": 8}),
            "height": ("INT", {"default": 512, "min": 0, "max": MAX_RESOLUTION, "step": 8}),
            "crop": (list(CROP_METHODS),),
        }}

    def upscale(self, samples: Latent, upscale_method: str, width: int, height: int, crop: str) -> tuple[Latent]:
        if width == 0 and height == 0:
            return (samples,)
        latent = samples["samples"]
        # Sizes are in pixels, at least 64; a zero side keeps the aspect ratio.
        if width == 0:
            height = max(64, height)
            width = max(64, round(latent.shape[-1] * height / latent.shape[-2]))
        elif height == 0:
            width = max(64, width)
            height = max(64, round(latent.shape[-2] * width / latent.shape[-1]))
        else:
            width, height = max(64, width), max(64, height)
        out = samples.copy()
        out["samples"] = common_upscale(latent, width // 8, height // 8, upscale_method, crop)
        return (out,)


class LatentUpscaleBy:
    CATEGORY = "latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "upscale"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "samples": ("LATENT",), "upscale_method": (list(LATENT_UPSCALE_METHODS),),
            "scale_by": ("FLOAT", {"default": 1.5, "min": 0.01, "max": 8.0, "step": 0.01}),
        }}

    def upscale(self, samples: Latent, upscale_method: str, scale_by: float) -> tuple[Latent]:
        latent = samples["samples"]
        out = samples.copy()
        out["samples"] = common_upscale(latent, round(latent.shape[-1] * scale_by),
                                        round(latent.shape[-2] * scale_by), upscale_method, "disabled")
        return (out,)


class LatentComposite:
    CATEGORY = "latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "composite"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        step8 = {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 8}
        return {"required": {"samples_to": ("LATENT",), "samples_from": ("LATENT",),
                             "x": ("INT", dict(step8)), "y": ("INT", dict(step8)), "feather": ("INT", dict(step8))}}

    def composite(self, samples_to: Latent, samples_from: Latent, x: int, y: int,
                  composite_method: str = "normal", feather: int = 0) -> tuple[Latent]:
        x, y, feather = x // 8, y // 8, feather // 8
        dest = samples_to["samples"]
        out = dest.clone()
        src = samples_from["samples"].to(dest.device)[:, :, :dest.shape[2] - y, :dest.shape[3] - x]
        h, w = src.shape[2], src.shape[3]
        if feather == 0:
            out[:, :, y:y + h, x:x + w] = src
        else:
            # Ramps only along the source edges that lie inside the destination.
            rows = _ramp(h, feather, y != 0, y + h < dest.shape[2])
            cols = _ramp(w, feather, x != 0, x + w < dest.shape[3])
            mask = (torch.tensor(rows, dtype=src.dtype, device=src.device).reshape(-1, 1)
                    * torch.tensor(cols, dtype=src.dtype, device=src.device))
            out[:, :, y:y + h, x:x + w] = src * mask + out[:, :, y:y + h, x:x + w] * (1.0 - mask)
        result = samples_to.copy()
        result["samples"] = out
        return (result,)


def _ramp(length: int, feather: int, leading: bool, trailing: bool) -> list[float]:
    """Per-row (or per-column) blend weights rising over `feather` positions at either edge."""
    factors = [1.0] * length
    positions = range(length)
    for t in range(feather):
        rate = (1.0 / feather) * (t + 1)
        # Python slices, as ComfyUI's tensor slices: a feather longer than the source wraps oddly.
        if leading:
            for i in positions[t:t + 1]:
                factors[i] *= rate
        if trailing:
            for i in positions[length - 1 - t:length - t]:
                factors[i] *= rate
    return factors


class LatentBlend:
    CATEGORY = "_for_testing"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "blend"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"samples1": ("LATENT",), "samples2": ("LATENT",),
                             "blend_factor": ("FLOAT", {"default": 0.5, "min": 0, "max": 1, "step": 0.01})}}

    def blend(self, samples1: Latent, samples2: Latent, blend_factor: float,
              blend_mode: str = "normal") -> tuple[Latent]:
        if blend_mode != "normal":
            raise ValueError(f"Unsupported blend mode: {blend_mode}")
        a = samples1["samples"]
        b = samples2["samples"].to(a.device)
        if a.shape != b.shape:
            b = common_upscale(b, a.shape[3], a.shape[2], "bicubic", crop="center")
        out = samples1.copy()
        # QUIRK(ComfyUI nodes.LatentBlend): blend_factor weighs the *first* input (ImageBlend's weighs the second).
        out["samples"] = a * blend_factor + b * (1 - blend_factor)
        return (out,)


class LatentFromBatch:
    CATEGORY = "latent/batch"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "frombatch"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"samples": ("LATENT",),
                             "batch_index": ("INT", {"default": 0, "min": 0, "max": 63}),
                             "length": ("INT", {"default": 1, "min": 1, "max": 64})}}

    def frombatch(self, samples: Latent, batch_index: int, length: int) -> tuple[Latent]:
        out = samples.copy()
        latent = samples["samples"]
        batch_index = min(latent.shape[0] - 1, batch_index)
        length = min(latent.shape[0] - batch_index, length)
        out["samples"] = latent[batch_index:batch_index + length].clone()
        if "noise_mask" in samples:
            masks = samples["noise_mask"]
            if masks.shape[0] == 1:
                out["noise_mask"] = masks.clone()
            else:
                if masks.shape[0] < latent.shape[0]:
                    masks = _tile_batch(masks, latent.shape[0])
                out["noise_mask"] = masks[batch_index:batch_index + length].clone()
        if "batch_index" in samples:
            out["batch_index"] = samples["batch_index"][batch_index:batch_index + length]
        else:
            out["batch_index"] = list(range(batch_index, batch_index + length))
        return (out,)


def _tile_batch(t: torch.Tensor, size: int) -> torch.Tensor:
    reps = (math.ceil(size / t.shape[0]),) + (1,) * (t.ndim - 1)
    return t.repeat(reps)[:size]


class RepeatLatentBatch:
    CATEGORY = "latent/batch"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "repeat"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"samples": ("LATENT",), "amount": ("INT", {"default": 1, "min": 1, "max": 64})}}

    def repeat(self, samples: Latent, amount: int) -> tuple[Latent]:
        out = samples.copy()
        latent = samples["samples"]
        out["samples"] = latent.repeat((amount,) + (1,) * (latent.ndim - 1))
        masks = samples.get("noise_mask")
        if masks is not None and masks.shape[0] > 1:
            # QUIRK(ComfyUI nodes.RepeatLatentBatch): the mask is repeated as given, not first tiled
            # to the latent batch (ComfyUI computes the tiling and discards it).
            out["noise_mask"] = masks.repeat((amount,) + (1,) * (masks.ndim - 1))
        if "batch_index" in out:
            indexes = out["batch_index"]
            offset = max(indexes) - min(indexes) + 1
            out["batch_index"] = indexes + [x + i * offset for i in range(1, amount) for x in indexes]
        return (out,)
