"""VAE and inpainting nodes of ComfyUI's `nodes.py` on the built-in engine.

VAEDecode, VAEEncode, VAEDecodeTiled, VAEEncodeTiled, VAEEncodeForInpaint, SetLatentNoiseMask,
InpaintModelConditioning. The maths is `toucan_nb.diffusion.vae` / `tiling` / `inpaint`; these
classes only adapt ComfyUI's inputs (tile sizes in image pixels, LATENT dicts). Tiled passes report
progress per tile. Node calls come from the executor thread.
"""

from __future__ import annotations

from typing import Any

import torch

from toucan_nb.diffusion.inpaint import encode_for_inpaint, inpaint_model_conditioning
from toucan_nb.diffusion.vae import VAE
from toucan_nb.runtime.context import get_executing_context

Latent = dict[str, Any]
Conditioning = list[list[Any]]

TEMPORAL_SIZE_TIP = "Only used for video VAEs: Amount of frames to {} at a time."
TEMPORAL_OVERLAP_TIP = "Only used for video VAEs: Amount of frames to overlap."


def _tiled_inputs(tile_step: int, verb: str) -> dict[str, Any]:
    return {
        "tile_size": ("INT", {"default": 512, "min": 64, "max": 4096, "step": tile_step}),
        "overlap": ("INT", {"default": 64, "min": 0, "max": 4096, "step": 32}),
        "temporal_size": ("INT", {"default": 64, "min": 8, "max": 4096, "step": 4,
                                  "tooltip": TEMPORAL_SIZE_TIP.format(verb)}),
        "temporal_overlap": ("INT", {"default": 8, "min": 4, "max": 4096, "step": 4, "tooltip": TEMPORAL_OVERLAP_TIP}),
    }


def _tile_progress() -> Any:
    """Per-tile progress for the running node (a progress bar, as ComfyUI's tiled passes show)."""
    ctx = get_executing_context()
    if ctx is None or ctx.hooks is None:
        return None
    hooks, node_id = ctx.hooks, ctx.node_id
    return lambda value, total: hooks.update_progress(node_id, value, total)


def _combine_batches(images: torch.Tensor) -> torch.Tensor:
    # Video VAEs decode [B, T, H, W, C]; the IMAGE type is a flat batch.
    if len(images.shape) == 5:
        images = images.reshape(-1, images.shape[-3], images.shape[-2], images.shape[-1])
    return images


class VAEDecode:
    CATEGORY = "latent"
    RETURN_TYPES = ("IMAGE",)
    OUTPUT_TOOLTIPS = ("The decoded image.",)
    FUNCTION = "decode"
    DESCRIPTION = "Decodes latent images back into pixel space images."

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"samples": ("LATENT", {"tooltip": "The latent to be decoded."}),
                             "vae": ("VAE", {"tooltip": "The VAE model used for decoding the latent."})}}

    def decode(self, vae: VAE, samples: Latent) -> tuple[torch.Tensor]:
        latent = samples["samples"]
        if latent.is_nested:
            latent = latent.unbind()[0]
        return (_combine_batches(vae.decode(latent)),)


class VAEEncode:
    CATEGORY = "latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"pixels": ("IMAGE",), "vae": ("VAE",)}}

    def encode(self, vae: VAE, pixels: torch.Tensor) -> tuple[Latent]:
        return ({"samples": vae.encode(pixels)},)


class VAEDecodeTiled:
    CATEGORY = "_for_testing"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "decode"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"samples": ("LATENT",), "vae": ("VAE",), **_tiled_inputs(32, "decode")}}

    def decode(self, vae: VAE, samples: Latent, tile_size: int, overlap: int = 64, temporal_size: int = 64,
               temporal_overlap: int = 8) -> tuple[torch.Tensor]:
        if tile_size < overlap * 4:
            overlap = tile_size // 4
        if temporal_size < temporal_overlap * 2:
            temporal_overlap = temporal_overlap // 2
        compression = vae.spacial_compression_decode()
        # Image VAEs only (temporal_compression_decode() is None): the temporal inputs are unused.
        images = vae.decode_tiled(samples["samples"], tile_x=tile_size // compression, tile_y=tile_size // compression,
                                  overlap=overlap // compression, progress=_tile_progress())
        return (_combine_batches(images),)


class VAEEncodeTiled:
    CATEGORY = "_for_testing"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"pixels": ("IMAGE",), "vae": ("VAE",), **_tiled_inputs(64, "encode")}}

    def encode(self, vae: VAE, pixels: torch.Tensor, tile_size: int, overlap: int, temporal_size: int = 64,
               temporal_overlap: int = 8) -> tuple[Latent]:
        latent = vae.encode_tiled(pixels, tile_x=tile_size, tile_y=tile_size, overlap=overlap,
                                  tile_t=temporal_size, overlap_t=temporal_overlap, progress=_tile_progress())
        return ({"samples": latent},)


class VAEEncodeForInpaint:
    CATEGORY = "latent/inpaint"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"pixels": ("IMAGE",), "vae": ("VAE",), "mask": ("MASK",),
                             "grow_mask_by": ("INT", {"default": 6, "min": 0, "max": 64, "step": 1})}}

    def encode(self, vae: VAE, pixels: torch.Tensor, mask: torch.Tensor, grow_mask_by: int = 6) -> tuple[Latent]:
        return (encode_for_inpaint(vae, pixels, mask, grow_mask_by),)


class SetLatentNoiseMask:
    CATEGORY = "latent/inpaint"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "set_mask"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"samples": ("LATENT",), "mask": ("MASK",)}}

    def set_mask(self, samples: Latent, mask: torch.Tensor) -> tuple[Latent]:
        out = samples.copy()
        out["noise_mask"] = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1]))
        return (out,)


class InpaintModelConditioning:
    CATEGORY = "conditioning/inpaint"
    RETURN_TYPES = ("CONDITIONING", "CONDITIONING", "LATENT")
    RETURN_NAMES = ("positive", "negative", "latent")
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "positive": ("CONDITIONING",), "negative": ("CONDITIONING",), "vae": ("VAE",), "pixels": ("IMAGE",),
            "mask": ("MASK",),
            "noise_mask": ("BOOLEAN", {"default": True, "tooltip": "Add a noise mask to the latent so sampling will "
                                       "only happen within the mask. Might improve results or completely break "
                                       "things depending on the model."}),
        }}

    def encode(self, positive: Conditioning, negative: Conditioning, pixels: torch.Tensor, vae: VAE,
               mask: torch.Tensor, noise_mask: bool = True) -> tuple[Conditioning, Conditioning, Latent]:
        return inpaint_model_conditioning(positive, negative, pixels, vae, mask, noise_mask=noise_mask)
