"""Nodes that combine images with masks: ImageCompositeMasked (ComfyUI `comfy_extras.nodes_mask`),
JoinImageWithAlpha and SplitImageWithAlpha (`comfy_extras.nodes_compositing`).

Work happens on the destination/input image's device. Node calls come from the executor thread.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from toucan_nb.nodes.postprocessing import image_alpha_fix
from toucan_nb.nodes.resample import repeat_to_batch_size
from toucan_nb.nodes.specs import MAX_RESOLUTION


def composite(destination: torch.Tensor, source: torch.Tensor, x: int, y: int, mask: torch.Tensor | None,
              multiplier: int = 8, resize_source: bool = False) -> torch.Tensor:
    """Paste `source` into `destination` (both [B, C, H, W]; `destination` is written in place) at
    (x, y) given in units of 1/`multiplier` pixel, blended by `mask` (any [.., H, W], resized to the
    source); the part of the source beyond the destination's right/bottom edge is dropped."""
    source = source.to(destination.device)
    if resize_source:
        source = F.interpolate(source, size=destination.shape[-2:], mode="bilinear")
    source = repeat_to_batch_size(source, destination.shape[0])
    x = max(-source.shape[-1] * multiplier, min(x, destination.shape[-1] * multiplier))
    y = max(-source.shape[-2] * multiplier, min(y, destination.shape[-2] * multiplier))
    left, top = x // multiplier, y // multiplier
    right, bottom = left + source.shape[-1], top + source.shape[-2]
    if mask is None:
        mask = torch.ones_like(source)
    else:
        mask = mask.to(destination.device).reshape((-1, 1, mask.shape[-2], mask.shape[-1]))
        mask = F.interpolate(mask, size=source.shape[-2:], mode="bilinear")
        mask = repeat_to_batch_size(mask, source.shape[0])
    visible_w = destination.shape[-1] - left + min(0, x)
    visible_h = destination.shape[-2] - top + min(0, y)
    mask = mask[:, :, :visible_h, :visible_w]
    blended = mask * source[..., :visible_h, :visible_w] + (1.0 - mask) * destination[..., top:bottom, left:right]
    destination[..., top:bottom, left:right] = blended
    return destination


class ImageCompositeMasked:
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "composite"
    OBJECT_INFO_V3 = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "destination": ("IMAGE", {}), "source": ("IMAGE", {}),
                "x": ("INT", {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
                "y": ("INT", {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
                "resize_source": ("BOOLEAN", {"default": False}),
            },
            "optional": {"mask": ("MASK", {})},
        }

    def composite(self, destination: torch.Tensor, source: torch.Tensor, x: int, y: int, resize_source: bool,
                  mask: torch.Tensor | None = None) -> tuple[torch.Tensor]:
        destination, source = image_alpha_fix(destination, source)
        out = composite(destination.movedim(-1, 1).clone(), source.movedim(-1, 1), x, y, mask, 1, resize_source)
        return (out.movedim(1, -1),)


class JoinImageWithAlpha:
    CATEGORY = "mask/compositing"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "join"
    OBJECT_INFO_V3 = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image": ("IMAGE", {}), "alpha": ("MASK", {})}}

    def join(self, image: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor]:
        # The mask is resized to the image, inverted into alpha, and the batch is the shorter of the two.
        batch = min(len(image), len(alpha))
        alpha = alpha.to(image.device).reshape((-1, 1, alpha.shape[-2], alpha.shape[-1]))
        alpha = 1.0 - F.interpolate(alpha, size=image.shape[1:3], mode="bilinear").squeeze(1)
        return (torch.cat((image[:batch, :, :, :3], alpha[:batch].unsqueeze(-1)), dim=-1),)


class SplitImageWithAlpha:
    CATEGORY = "mask/compositing"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "split"
    OBJECT_INFO_V3 = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image": ("IMAGE", {})}}

    def split(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # No alpha channel means fully opaque, i.e. an all-zero mask.
        alpha = image[..., 3] if image.shape[-1] > 3 else torch.ones_like(image[..., 0])
        return image[..., :3].contiguous(), 1.0 - alpha
