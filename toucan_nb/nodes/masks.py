"""MASK nodes of ComfyUI's `comfy_extras.nodes_mask` (MASK is [B, H, W] floats in 0..1):
ImageToMask, MaskToImage, SolidMask, InvertMask, CropMask, MaskComposite, FeatherMask, GrowMask,
ThresholdMask.

New masks are made on the runtime device; operations stay on their input's device.
Node calls come from the executor thread.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from toucan_nb.nodes.specs import MAX_RESOLUTION, combo
from toucan_nb.runtime.device import get_torch_device

_IMAGE_CHANNELS = ["red", "green", "blue", "alpha"]
_MASK_OPERATIONS = ["multiply", "add", "subtract", "and", "or", "xor"]


def _int(default: int, lo: int = 0, hi: int = MAX_RESOLUTION) -> tuple[str, dict[str, Any]]:
    return ("INT", {"default": default, "min": lo, "max": hi, "step": 1})


class _V3Mask:
    """What the mask nodes share: their category and ComfyUI's V3 object_info shape."""

    CATEGORY = "mask"
    RETURN_TYPES: tuple[str, ...] = ("MASK",)
    OBJECT_INFO_V3 = True


class ImageToMask(_V3Mask):
    FUNCTION = "image_to_mask"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image": ("IMAGE", {}), "channel": combo(_IMAGE_CHANNELS)}}

    def image_to_mask(self, image: torch.Tensor, channel: str) -> tuple[torch.Tensor]:
        # "alpha" on an RGB image raises IndexError here, which the e_runtime_error vector records.
        return (image[:, :, :, _IMAGE_CHANNELS.index(channel)],)


class MaskToImage(_V3Mask):
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "mask_to_image"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"mask": ("MASK", {})}}

    def mask_to_image(self, mask: torch.Tensor) -> tuple[torch.Tensor]:
        # A grey image as a view of the mask: no copy.
        return (mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).movedim(1, -1).expand(-1, -1, -1, 3),)


class SolidMask(_V3Mask):
    FUNCTION = "solid"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "value": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}),
            "width": _int(512, lo=1), "height": _int(512, lo=1),
        }}

    def solid(self, value: float, width: int, height: int) -> tuple[torch.Tensor]:
        return (torch.full((1, height, width), value, dtype=torch.float32, device=get_torch_device()),)


class InvertMask(_V3Mask):
    FUNCTION = "invert"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"mask": ("MASK", {})}}

    def invert(self, mask: torch.Tensor) -> tuple[torch.Tensor]:
        return (1.0 - mask,)


class CropMask(_V3Mask):
    FUNCTION = "crop"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"mask": ("MASK", {}), "x": _int(0), "y": _int(0),
                             "width": _int(512, lo=1), "height": _int(512, lo=1)}}

    def crop(self, mask: torch.Tensor, x: int, y: int, width: int, height: int) -> tuple[torch.Tensor]:
        mask = mask.reshape((-1, mask.shape[-2], mask.shape[-1]))
        return (mask[:, y:y + height, x:x + width],)


class MaskComposite(_V3Mask):
    FUNCTION = "combine"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"destination": ("MASK", {}), "source": ("MASK", {}), "x": _int(0), "y": _int(0),
                             "operation": combo(_MASK_OPERATIONS)}}

    def combine(self, destination: torch.Tensor, source: torch.Tensor, x: int, y: int,
                operation: str) -> tuple[torch.Tensor]:
        out = destination.reshape((-1, destination.shape[-2], destination.shape[-1])).clone()
        source = source.reshape((-1, source.shape[-2], source.shape[-1])).to(out.device)
        right = min(x + source.shape[-1], out.shape[-1])
        bottom = min(y + source.shape[-2], out.shape[-2])
        src = source[:, :bottom - y, :right - x]
        dst = out[:, y:bottom, x:right]
        if operation == "multiply":
            region = dst * src
        elif operation == "add":
            region = dst + src
        elif operation == "subtract":
            region = dst - src
        elif operation in ("and", "or", "xor"):
            # Logical operations act on the masks rounded to 0/1.
            logical = {"and": torch.bitwise_and, "or": torch.bitwise_or, "xor": torch.bitwise_xor}[operation]
            region = logical(dst.round().bool(), src.round().bool()).float()
        else:
            raise ValueError(f"Unsupported mask operation: {operation}")
        out[:, y:bottom, x:right] = region
        return (torch.clamp(out, 0.0, 1.0),)


class FeatherMask(_V3Mask):
    FUNCTION = "feather"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"mask": ("MASK", {}), "left": _int(0), "top": _int(0), "right": _int(0),
                             "bottom": _int(0)}}

    def feather(self, mask: torch.Tensor, left: int, top: int, right: int, bottom: int) -> tuple[torch.Tensor]:
        out = mask.reshape((-1, mask.shape[-2], mask.shape[-1]))
        h, w = out.shape[-2], out.shape[-1]
        cols = _edge_ramp(w, min(left, w), min(right, w))
        rows = _edge_ramp(h, min(top, h), min(bottom, h))
        cols_t = torch.tensor(cols, dtype=out.dtype, device=out.device)
        rows_t = torch.tensor(rows, dtype=out.dtype, device=out.device)
        return (out * cols_t * rows_t.unsqueeze(-1),)


def _edge_ramp(length: int, start: int, end: int) -> list[float]:
    """Per-position factors fading in linearly over `start` leading and `end` trailing positions."""
    factors = [1.0] * length
    for i in range(start):
        factors[i] *= (i + 1) / start
    for i in range(end):
        # QUIRK(ComfyUI nodes_mask.FeatherMask): the trailing ramp indexes with -i, so its weakest
        # factor lands on position 0 (-0) and the last position gets the second weakest.
        factors[-i] *= (i + 1) / end
    return factors


class GrowMask(_V3Mask):
    FUNCTION = "expand_mask"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"mask": ("MASK", {}), "expand": _int(0, lo=-MAX_RESOLUTION),
                             "tapered_corners": ("BOOLEAN", {"default": True})}}

    def expand_mask(self, mask: torch.Tensor, expand: int, tapered_corners: bool) -> tuple[torch.Tensor]:
        # Erosion is dilation of the negative.
        sign = -1.0 if expand < 0 else 1.0
        out = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])) * sign
        for _ in range(abs(expand)):
            out = _dilate3x3(out, cross=tapered_corners)
        return ((out * sign).squeeze(1),)


def _dilate3x3(x: torch.Tensor, cross: bool) -> torch.Tensor:
    """Grey dilation by a 3x3 square, or by a plus sign when `cross`; edges replicate (as scipy's
    default 'reflect' mode gives for a 3x3 footprint)."""
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    if not cross:
        return F.max_pool2d(padded, kernel_size=3, stride=1)
    h, w = x.shape[-2], x.shape[-1]
    out = torch.maximum(padded[..., 1:h + 1, 1:w + 1], padded[..., 0:h, 1:w + 1])
    out = torch.maximum(out, padded[..., 2:h + 2, 1:w + 1])
    out = torch.maximum(out, padded[..., 1:h + 1, 0:w])
    return torch.maximum(out, padded[..., 1:h + 1, 2:w + 2])


class ThresholdMask(_V3Mask):
    FUNCTION = "threshold"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"mask": ("MASK", {}),
                             "value": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01})}}

    def threshold(self, mask: torch.Tensor, value: float) -> tuple[torch.Tensor]:
        return ((mask > value).float(),)
