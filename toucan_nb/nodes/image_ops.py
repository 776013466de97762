"""Image nodes that make, resize, crop, pad and batch IMAGE tensors ([B, H, W, C] floats in 0..1).

EmptyImage, ImageScale, ImageScaleBy, ImageInvert, ImageBatch, ImagePadForOutpaint (ComfyUI
`nodes.py`), ImageCrop (`comfy_extras.nodes_images`), RebatchImages (`comfy_extras.nodes_rebatch`).
New tensors are made on the runtime device; operations stay on their input's device.
Node calls come from the executor thread.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from toucan_nb.nodes.resample import common_upscale
from toucan_nb.nodes.specs import CROP_METHODS, MAX_RESOLUTION, UPSCALE_METHODS
from toucan_nb.runtime.device import get_torch_device


class EmptyImage:
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "generate"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "width": ("INT", {"default": 512, "min": 1, "max": MAX_RESOLUTION, "step": 1}),
            "height": ("INT", {"default": 512, "min": 1, "max": MAX_RESOLUTION, "step": 1}),
            "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096}),
            "color": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFF, "step": 1, "display": "color"}),
        }}

    def generate(self, width: int, height: int, batch_size: int = 1, color: int = 0) -> tuple[torch.Tensor]:
        rgb = [((color >> shift) & 0xFF) / 0xFF for shift in (16, 8, 0)]
        pixel = torch.tensor(rgb, dtype=torch.float32, device=get_torch_device())
        return (pixel.expand(batch_size, height, width, 3).contiguous(),)


class ImageScale:
    CATEGORY = "image/upscaling"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "image": ("IMAGE",), "upscale_method": (list(UPSCALE_METHODS),),
            "width": ("INT", {"default": 512, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
            "height": ("INT", {"default": 512, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
            "crop": (list(CROP_METHODS),),
        }}

    def upscale(self, image: torch.Tensor, upscale_method: str, width: int, height: int,
                crop: str) -> tuple[torch.Tensor]:
        if width == 0 and height == 0:
            return (image,)
        samples = image.movedim(-1, 1)
        # A zero side keeps the aspect ratio.
        if width == 0:
            width = max(1, round(samples.shape[3] * height / samples.shape[2]))
        elif height == 0:
            height = max(1, round(samples.shape[2] * width / samples.shape[3]))
        return (common_upscale(samples, width, height, upscale_method, crop).movedim(1, -1),)


class ImageScaleBy:
    CATEGORY = "image/upscaling"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "image": ("IMAGE",), "upscale_method": (list(UPSCALE_METHODS),),
            "scale_by": ("FLOAT", {"default": 1.0, "min": 0.01, "max": 8.0, "step": 0.01}),
        }}

    def upscale(self, image: torch.Tensor, upscale_method: str, scale_by: float) -> tuple[torch.Tensor]:
        samples = image.movedim(-1, 1)
        width = round(samples.shape[3] * scale_by)
        height = round(samples.shape[2] * scale_by)
        return (common_upscale(samples, width, height, upscale_method, "disabled").movedim(1, -1),)


class ImageInvert:
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "invert"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image": ("IMAGE",)}}

    def invert(self, image: torch.Tensor) -> tuple[torch.Tensor]:
        # One kernel, no sync: this node sits in the executor benchmark's hot loop.
        return (torch.rsub(image, 1.0),)  # = 1.0 - image; the operator goes through Python (2x slower)


class ImageBatch:
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "batch"
    DEPRECATED = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image1": ("IMAGE",), "image2": ("IMAGE",)}}

    def batch(self, image1: torch.Tensor, image2: torch.Tensor) -> tuple[torch.Tensor]:
        image2 = image2.to(image1.device)
        # RGB meets RGBA: the RGB side gets an opaque alpha channel.
        if image1.shape[-1] > image2.shape[-1]:
            image2 = F.pad(image2, (0, 1), mode="constant", value=1.0)
        elif image1.shape[-1] < image2.shape[-1]:
            image1 = F.pad(image1, (0, 1), mode="constant", value=1.0)
        if image1.shape[1:] != image2.shape[1:]:
            image2 = common_upscale(image2.movedim(-1, 1), image1.shape[2], image1.shape[1], "bilinear",
                                    "center").movedim(1, -1)
        return (torch.cat((image1, image2), dim=0),)


class ImagePadForOutpaint:
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "expand_image"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        side = ("INT", {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 8})
        return {"required": {
            "image": ("IMAGE",), "left": side, "top": side, "right": side, "bottom": side,
            "feathering": ("INT", {"default": 40, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
        }}

    def expand_image(self, image: torch.Tensor, left: int, top: int, right: int, bottom: int,
                     feathering: int) -> tuple[torch.Tensor, torch.Tensor]:
        b, h, w, c = image.shape
        device = image.device
        out = torch.full((b, h + top + bottom, w + left + right, c), 0.5, dtype=torch.float32, device=device)
        out[:, top:top + h, left:left + w, :] = image
        mask = torch.ones((h + top + bottom, w + left + right), dtype=torch.float32, device=device)
        inner = torch.zeros((h, w), dtype=torch.float32, device=device)
        if feathering > 0 and feathering * 2 < h and feathering * 2 < w:
            inner = _outpaint_feather(h, w, left, top, right, bottom, feathering).to(device)
        mask[top:top + h, left:left + w] = inner
        return out, mask.unsqueeze(0)


def _outpaint_feather(h: int, w: int, left: int, top: int, right: int, bottom: int,
                      feathering: int) -> torch.Tensor:
    """Inside the original image, the mask fades in quadratically within `feathering` pixels of
    each padded side. Computed in float64, then stored as float32, as ComfyUI's per-pixel loop does."""
    rows = torch.arange(h, dtype=torch.float64).unsqueeze(1)
    cols = torch.arange(w, dtype=torch.float64).unsqueeze(0)
    dist = torch.minimum(
        torch.minimum(rows if top else torch.full_like(rows, h), (h - rows) if bottom else torch.full_like(rows, h)),
        torch.minimum(cols if left else torch.full_like(cols, w), (w - cols) if right else torch.full_like(cols, w)),
    )
    fade = (feathering - dist) / feathering
    return torch.where(dist < feathering, fade * fade, torch.zeros_like(fade)).float()


class ImageCrop:
    CATEGORY = "image/transform"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "crop"
    OBJECT_INFO_V3 = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "image": ("IMAGE", {}),
            "width": ("INT", {"default": 512, "min": 1, "max": MAX_RESOLUTION, "step": 1}),
            "height": ("INT", {"default": 512, "min": 1, "max": MAX_RESOLUTION, "step": 1}),
            "x": ("INT", {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
            "y": ("INT", {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
        }}

    def crop(self, image: torch.Tensor, width: int, height: int, x: int, y: int) -> tuple[torch.Tensor]:
        # The origin is kept inside the image; the far edge is simply cut at the border.
        x = min(x, image.shape[2] - 1)
        y = min(y, image.shape[1] - 1)
        return (image[:, y:y + height, x:x + width, :],)


class RebatchImages:
    CATEGORY = "image/batch"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "rebatch"
    INPUT_IS_LIST = True
    OUTPUT_IS_LIST = (True,)
    OBJECT_INFO_V3 = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"images": ("IMAGE", {}),
                             "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096})}}

    def rebatch(self, images: list[torch.Tensor], batch_size: list[int]) -> tuple[list[torch.Tensor]]:
        # Whole lists arrive (docs/execution.md §3.5); every image of every batch is re-cut into batches.
        size = batch_size[0]
        singles = [img[i:i + 1] for img in images for i in range(img.shape[0])]
        return ([torch.cat(singles[i:i + size], dim=0) for i in range(0, len(singles), size)],)
