"""Inpainting inputs: ComfyUI's VAEEncodeForInpaint and InpaintModelConditioning, minus the node classes.

Both resize the MASK bilinearly to the image, centre-crop image and mask to multiples of 8, and
grey out the masked pixels ((p - 0.5) * (1 - round(mask)) + 0.5 on the RGB channels) before
encoding. `encode_for_inpaint` also grows the rounded mask by a `grow_mask_by` box (a ones kernel,
padding ceil((g - 1) / 2), clamped to 1) and returns it rounded as the LATENT's `noise_mask`.
`inpaint_model_conditioning` encodes the original image as the LATENT (with the resized mask as
`noise_mask` when asked) and adds `concat_latent_image` (the greyed-out image's latent) and
`concat_mask` to every conditioning entry, for inpainting UNets (model.concat_cond).
Executor thread.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from toucan_nb.diffusion.vae import VAE

Conditioning = list[list[Any]]


def _fit(pixels: torch.Tensor, mask: torch.Tensor, ratio: int) -> tuple[torch.Tensor, torch.Tensor]:
    mask = F.interpolate(mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])),
                         size=(pixels.shape[1], pixels.shape[2]), mode="bilinear")
    h = (pixels.shape[1] // ratio) * ratio
    w = (pixels.shape[2] // ratio) * ratio
    pixels = pixels.clone()
    if pixels.shape[1] != h or pixels.shape[2] != w:
        dy = (pixels.shape[1] % ratio) // 2
        dx = (pixels.shape[2] % ratio) // 2
        pixels = pixels[:, dy:h + dy, dx:w + dx, :]
        mask = mask[:, :, dy:h + dy, dx:w + dx]
    return pixels, mask


def _grey_out(pixels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    keep = (1.0 - mask.round()).squeeze(1)
    for c in range(3):
        pixels[:, :, :, c] -= 0.5
        pixels[:, :, :, c] *= keep
        pixels[:, :, :, c] += 0.5
    return pixels


def encode_for_inpaint(vae: VAE, pixels: torch.Tensor, mask: torch.Tensor, grow_mask_by: int = 6) -> dict[str, Any]:
    """The LATENT of VAEEncodeForInpaint: `samples` of the greyed-out image and the grown `noise_mask`."""
    pixels, mask = _fit(pixels, mask, vae.downscale_ratio)
    h, w = pixels.shape[1], pixels.shape[2]
    if grow_mask_by == 0:
        grown = mask
    else:
        kernel = torch.ones((1, 1, grow_mask_by, grow_mask_by))
        padding = math.ceil((grow_mask_by - 1) / 2)
        grown = torch.clamp(F.conv2d(mask.round(), kernel, padding=padding), 0, 1)
    samples = vae.encode(_grey_out(pixels, mask))
    return {"samples": samples, "noise_mask": grown[:, :, :h, :w].round()}


def set_values(conditioning: Conditioning, values: dict[str, Any]) -> Conditioning:
    """A copy of `conditioning` with `values` set in every entry's dict (ComfyUI's conditioning_set_values)."""
    return [[cond, {**extra, **values}] for cond, extra in conditioning]


def inpaint_model_conditioning(positive: Conditioning, negative: Conditioning, pixels: torch.Tensor, vae: VAE,
                               mask: torch.Tensor, noise_mask: bool = True
                               ) -> tuple[Conditioning, Conditioning, dict[str, Any]]:
    """(positive, negative, LATENT) as InpaintModelConditioning returns them."""
    original = pixels
    pixels, mask = _fit(pixels, mask, 8)
    concat_latent = vae.encode(_grey_out(pixels, mask))
    latent: dict[str, Any] = {"samples": vae.encode(original)}
    if noise_mask:
        latent["noise_mask"] = mask
    values = {"concat_latent_image": concat_latent, "concat_mask": mask}
    return set_values(positive, values), set_values(negative, values), latent
