"""Filter nodes of ComfyUI's `comfy_extras.nodes_post_processing`: ImageBlend, ImageBlur,
ImageQuantize, ImageSharpen, ImageScaleToTotalPixels.

Convolutions run on the input's device; quantisation goes through Pillow on the host and comes
back to the input's device. Node calls come from the executor thread.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from toucan_nb.nodes.resample import common_upscale
from toucan_nb.nodes.specs import UPSCALE_METHODS, combo

BLEND_MODES = ["normal", "multiply", "screen", "overlay", "soft_light", "difference"]
DITHER_MODES = ["none", "floyd-steinberg", "bayer-2", "bayer-4", "bayer-8", "bayer-16"]


def image_alpha_fix(destination: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reconcile channel counts before two images are combined (ComfyUI's node_helpers)."""
    if destination.shape[-1] < source.shape[-1]:
        source = source[..., :destination.shape[-1]]
    elif destination.shape[-1] > source.shape[-1]:
        # QUIRK(ComfyUI node_helpers.image_alpha_fix): it is the *destination* that gains a channel,
        # so RGBA + RGB still ends in a shape mismatch, as in ComfyUI.
        destination = F.pad(destination, (0, 1))
        destination[..., -1] = 1.0
    return destination, source


class ImageBlend:
    CATEGORY = "image/postprocessing"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "blend_images"
    OBJECT_INFO_V3 = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "image1": ("IMAGE", {}), "image2": ("IMAGE", {}),
            "blend_factor": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01}),
            "blend_mode": combo(BLEND_MODES),
        }}

    def blend_images(self, image1: torch.Tensor, image2: torch.Tensor, blend_factor: float,
                     blend_mode: str) -> tuple[torch.Tensor]:
        image1, image2 = image_alpha_fix(image1, image2)
        image2 = image2.to(image1.device)
        if image1.shape != image2.shape:
            image2 = common_upscale(image2.movedim(-1, 1), image1.shape[2], image1.shape[1], "bicubic",
                                    "center").movedim(1, -1)
        blended = _blend(image1, image2, blend_mode)
        return (torch.clamp(image1 * (1 - blend_factor) + blended * blend_factor, 0, 1),)


def _soft_light_curve(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.25, ((16 * x - 12) * x + 4) * x, torch.sqrt(x))


def _blend(a: torch.Tensor, b: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "normal":
        return b
    if mode == "multiply":
        return a * b
    if mode == "screen":
        return 1 - (1 - a) * (1 - b)
    if mode == "overlay":
        return torch.where(a <= 0.5, 2 * a * b, 1 - 2 * (1 - a) * (1 - b))
    if mode == "soft_light":
        return torch.where(b <= 0.5, a - (1 - 2 * b) * a * (1 - a), a + (2 * b - 1) * (_soft_light_curve(a) - a))
    if mode == "difference":
        return a - b
    raise ValueError(f"Unsupported blend mode: {mode}")


def gaussian_kernel(size: int, sigma: float, device: torch.device | None = None) -> torch.Tensor:
    """A normalised size x size Gaussian sampled on [-1, 1]^2 (ComfyUI's scale for `sigma`)."""
    axis = torch.linspace(-1, 1, size, device=device)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    d = torch.sqrt(x * x + y * y)  # squared again below: kept so the float32 weights equal ComfyUI's
    g = torch.exp(-(d * d) / (2.0 * sigma * sigma))
    return g / g.sum()


def _depthwise(image: torch.Tensor, kernel: torch.Tensor, radius: int) -> torch.Tensor:
    """Convolve each channel of [B,H,W,C] with `kernel`, edges reflected (ComfyUI pads by reflection
    and crops the conv's own zero padding away again, which is this)."""
    channels = image.shape[-1]
    weight = kernel.to(image.dtype).expand(channels, 1, *kernel.shape).contiguous()
    x = F.pad(image.movedim(-1, 1), (radius, radius, radius, radius), mode="reflect")
    return F.conv2d(x, weight, groups=channels).movedim(1, -1)


class ImageBlur:
    CATEGORY = "image/postprocessing"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "blur"
    OBJECT_INFO_V3 = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "image": ("IMAGE", {}),
            "blur_radius": ("INT", {"default": 1, "min": 1, "max": 31, "step": 1}),
            "sigma": ("FLOAT", {"default": 1.0, "min": 0.1, "max": 10.0, "step": 0.1}),
        }}

    def blur(self, image: torch.Tensor, blur_radius: int, sigma: float) -> tuple[torch.Tensor]:
        if blur_radius == 0:
            return (image,)
        kernel = gaussian_kernel(blur_radius * 2 + 1, sigma, device=image.device)
        return (_depthwise(image, kernel, blur_radius),)


class ImageSharpen:
    CATEGORY = "image/postprocessing"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "sharpen"
    OBJECT_INFO_V3 = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "image": ("IMAGE", {}),
            "sharpen_radius": ("INT", {"default": 1, "min": 1, "max": 31, "step": 1}),
            "sigma": ("FLOAT", {"default": 1.0, "min": 0.1, "max": 10.0, "step": 0.01}),
            "alpha": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 5.0, "step": 0.01}),
        }}

    def sharpen(self, image: torch.Tensor, sharpen_radius: int, sigma: float,
                alpha: float) -> tuple[torch.Tensor]:
        if sharpen_radius == 0:
            return (image,)
        kernel = (gaussian_kernel(sharpen_radius * 2 + 1, sigma, device=image.device) * -(alpha * 10)).to(image.dtype)
        # Unsharp mask as one kernel: a negative blur whose centre is raised so the weights sum to 1.
        kernel[sharpen_radius, sharpen_radius] = kernel[sharpen_radius, sharpen_radius] - kernel.sum() + 1.0
        return (torch.clamp(_depthwise(image, kernel, sharpen_radius), 0, 1),)


def _bayer_matrix(level: int) -> np.ndarray:
    """The recursive ordered-dither matrix of size 2**level, centred on 0 (float32)."""
    if level == 0:
        return np.zeros((1, 1), np.float32)
    q = 4 ** level
    m = q * _bayer_matrix(level - 1)
    return np.block([[m - 1.5, m + 0.5], [m + 1.5, m - 0.5]]) / q


def _bayer_quantize(im: Image.Image, palette: Image.Image, order: int) -> Image.Image:
    """Ordered dithering: add a tiled threshold matrix scaled to the palette's spacing, then snap."""
    colors = len(palette.getpalette()) // 3
    matrix = (2 * 256 / colors) * _bayer_matrix(int(math.log2(order))) + 0.5
    pixels = np.array(im).astype(np.float32)
    h, w = pixels.shape[:2]
    reps = (math.ceil(h / matrix.shape[0]), math.ceil(w / matrix.shape[1]))
    pixels += np.tile(matrix, reps)[:h, :w, None]
    dithered = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return dithered.quantize(palette=palette, dither=Image.Dither.NONE)


class ImageQuantize:
    CATEGORY = "image/postprocessing"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "quantize"
    OBJECT_INFO_V3 = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "image": ("IMAGE", {}),
            "colors": ("INT", {"default": 256, "min": 1, "max": 256, "step": 1}),
            "dither": combo(DITHER_MODES),
        }}

    def quantize(self, image: torch.Tensor, colors: int, dither: str) -> tuple[torch.Tensor]:
        result = torch.zeros_like(image)
        host = (image.detach() * 255).to(torch.uint8).cpu().numpy()
        for b, pixels in enumerate(host):
            im = Image.fromarray(pixels)
            # A palette image first: quantising to a given palette is what honours `dither` (Pillow #5836).
            palette = im.quantize(colors=colors)
            if dither == "none":
                out = im.quantize(palette=palette, dither=Image.Dither.NONE)
            elif dither == "floyd-steinberg":
                out = im.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)
            elif dither.startswith("bayer"):
                out = _bayer_quantize(im, palette, int(dither.split("-")[-1]))
            else:
                raise ValueError(f"Unsupported dither mode: {dither}")
            result[b] = torch.from_numpy(np.array(out.convert("RGB"))).to(image.device).float() / 255
        return (result,)


class ImageScaleToTotalPixels:
    CATEGORY = "image/upscaling"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"
    OBJECT_INFO_V3 = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "image": ("IMAGE", {}),
            "upscale_method": combo(UPSCALE_METHODS),
            "megapixels": ("FLOAT", {"default": 1.0, "min": 0.01, "max": 16.0, "step": 0.01}),
            "resolution_steps": ("INT", {"default": 1, "min": 1, "max": 256}),
        }}

    def upscale(self, image: torch.Tensor, upscale_method: str, megapixels: float,
                resolution_steps: int) -> tuple[torch.Tensor]:
        samples = image.movedim(-1, 1)
        scale = math.sqrt(megapixels * 1024 * 1024 / (samples.shape[3] * samples.shape[2]))
        width = round(samples.shape[3] * scale / resolution_steps) * resolution_steps
        height = round(samples.shape[2] * scale / resolution_steps) * resolution_steps
        return (common_upscale(samples, int(width), int(height), upscale_method, "disabled").movedim(1, -1),)
