"""Extra input channels of inpainting networks (SD1.5/SD2/SDXL inpainting: 4 latent + 5 extra).

A model whose UNet takes concat channels implements `DenoiserModel.concat_cond(params)` by calling
`inpaint_concat(params, latent_format)`: the mask channel(s) and the masked image latent, built as
ComfyUI's `BaseModel.concat_cond` builds them. The mask comes from the conditioning's
`concat_mask` (InpaintModelConditioning) or else the LATENT's noise mask, rounded to 0/1; the image
from `concat_latent_image` (raw VAE space, scaled here) or else the sampled latent itself. Without
any mask the network sees an all-ones mask and the latent of a neutral grey image.
docs/diffusion-sampling.md §Model interface. Called once per conditioning entry before sampling.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from toucan_nb.diffusion.latent_formats import LatentFormat

INPAINT_KEYS = ("mask", "masked_image")
# The SD VAE latent of an all-zero (mid-grey) image, per channel.
_BLANK_IMAGE_LATENT = (0.8223, -0.6876, 0.6364, 0.1380)


def _center_resize(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Crop to the target aspect ratio around the centre, then resize bilinearly."""
    old_width, old_height = samples.shape[-1], samples.shape[-2]
    old_aspect, new_aspect = old_width / old_height, width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_width - old_width * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_height - old_height * (old_aspect / new_aspect)) / 2)
    s = samples.narrow(-2, y, old_height - y * 2).narrow(-1, x, old_width - x * 2)
    return torch.nn.functional.interpolate(s, size=(height, width), mode="bilinear")


def resize_to_batch_size(tensor: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Pick batch entries evenly to reach `batch_size` (nearest entry when growing)."""
    in_batch = tensor.shape[0]
    if in_batch == batch_size:
        return tensor
    if batch_size <= 1:
        return tensor[:batch_size]
    out = torch.empty([batch_size] + list(tensor.shape)[1:], dtype=tensor.dtype, device=tensor.device)
    if batch_size < in_batch:
        scale = (in_batch - 1) / (batch_size - 1)
        for i in range(batch_size):
            out[i] = tensor[min(round(i * scale), in_batch - 1)]
    else:
        scale = in_batch / batch_size
        for i in range(batch_size):
            out[i] = tensor[min(math.floor((i + 0.5) * scale), in_batch - 1)]
    return out


def inpaint_concat(params: Mapping[str, Any], latent_format: LatentFormat,
                   keys: Sequence[str] = INPAINT_KEYS) -> torch.Tensor:
    """The concat channels for one conditioning entry ("mask", "masked_image", "mask_inverted",
    "concat_image" in the order of `keys`)."""
    noise: torch.Tensor = params["noise"]
    device = params["device"]
    mask = params.get("concat_mask", params.get("denoise_mask"))
    image = params.get("concat_latent_image")
    image = params.get("latent_image") if image is None else latent_format.process_in(image)
    if image.shape[1:] != noise.shape[1:]:
        image = _center_resize(image, noise.shape[-1], noise.shape[-2])
    image = resize_to_batch_size(image, noise.shape[0])
    if mask is not None:
        if len(mask.shape) == len(noise.shape):
            mask = mask[:, :1]
        mask = mask.reshape((-1, 1) + tuple(mask.shape[-2:]))
        if mask.shape[-2:] != noise.shape[-2:]:
            mask = _center_resize(mask, noise.shape[-1], noise.shape[-2])
        mask = resize_to_batch_size(mask.round(), noise.shape[0])
    channels = []
    for key in keys:
        if mask is not None:
            if key == "mask":
                channels.append(mask.to(device))
            elif key == "masked_image":
                channels.append(image.to(device))
            elif key == "mask_inverted":
                channels.append(1.0 - mask.to(device))
        elif key == "mask":
            channels.append(torch.ones_like(noise)[:, :1])
        elif key == "masked_image":
            blank = torch.ones_like(noise)
            for c, value in enumerate(_BLANK_IMAGE_LATENT):
                blank[:, c] *= value
            channels.append(blank)
        elif key == "mask_inverted":
            channels.append(torch.zeros_like(noise)[:, :1])
        if key == "concat_image":
            channels.append(image.to(device) if image is not None else torch.zeros_like(noise))
    return torch.cat(channels, dim=1)
