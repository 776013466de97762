"""VAE and inpainting nodes of ComfyUI's `nodes.py`: VAEDecode, VAEEncode, VAEDecodeTiled,
VAEEncodeTiled, VAEEncodeForInpaint, SetLatentNoiseMask, InpaintModelConditioning.

The maths is the engine's (`toucan_nb.diffusion.vae`, `toucan_nb.diffusion.inpaint`). LATENT
dicts carry raw VAE-space samples; IMAGE is [B, H, W, C] in 0..1. Tiled nodes report progress per
tile. Node calls come from the executor thread.
"""

from __future__ import annotations

from typing import Any

import torch

from toucan_nb.diffusion.inpaint import encode_for_inpaint, inpaint_model_conditioning
from toucan_nb.diffusion.vae import VAE
from toucan_nb.nodes.step_progress import progress_reporter

Latent = dict[str, Any]
Conditioning = list[list[Any]]


def _temporal(kind: str) -> tuple[str, dict[str, Any]]:
    return ("INT", {"default": 64, "min": 8, "max": 4096, "step": 4,
                    "tooltip": f"Only used for video VAEs: Amount of frames to {kind} at a time."})


_TEMPORAL_OVERLAP = ("INT", {"default": 8, "min": 4, "max": 4096, "step": 4,
                             "tooltip": "Only used for video VAEs: Amount of frames to overlap."})


class VAEDecode:
    CATEGORY = "latent"
    RETURN_TYPES = ("IMAGE",)
    OUTPUT_TOOLTIPS = ("The decoded image.",)
    DESCRIPTION = "Decodes latent images back into pixel space images."
    FUNCTION = "decode"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"samples": ("LATENT", {"tooltip": "The latent to be decoded."}),
                             "vae": ("VAE", {"tooltip": "The VAE model used for decoding the latent."})}}

    def decode(self, vae: VAE, samples: Latent) -> tuple[torch.Tensor]:
        return (vae.decode(samples["samples"]),)


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
        return {"required": {
            "samples": ("LATENT",), "vae": ("VAE",),
            "tile_size": ("INT", {"default": 512, "min": 64, "max": 4096, "step": 32}),
            "overlap": ("INT", {"default": 64, "min": 0, "max": 4096, "step": 32}),
            "temporal_size": _temporal("decode"), "temporal_overlap": _TEMPORAL_OVERLAP,
        }}

    def decode(self, vae: VAE, samples: Latent, tile_size: int, overlap: int = 64, temporal_size: int = 64,
               temporal_overlap: int = 8) -> tuple[torch.Tensor]:
        if tile_size < overlap * 4:
            overlap = tile_size // 4
        # Sizes are in pixels; the engine tiles in latent units. The temporal inputs are for video VAEs.
        ratio = vae.spacial_compression_decode()
        images = vae.decode_tiled(samples["samples"], tile_x=tile_size // ratio, tile_y=tile_size // ratio,
                                  overlap=overlap // ratio, progress=progress_reporter())
        return (images,)


class VAEEncodeTiled:
    CATEGORY = "_for_testing"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "pixels": ("IMAGE",), "vae": ("VAE",),
            "tile_size": ("INT", {"default": 512, "min": 64, "max": 4096, "step": 64}),
            "overlap": ("INT", {"default": 64, "min": 0, "max": 4096, "step": 32}),
            "temporal_size": _temporal("encode"), "temporal_overlap": _TEMPORAL_OVERLAP,
        }}

    def encode(self, vae: VAE, pixels: torch.Tensor, tile_size: int, overlap: int, temporal_size: int = 64,
               temporal_overlap: int = 8) -> tuple[Latent]:
        return ({"samples": vae.encode_tiled(pixels, tile_x=tile_size, tile_y=tile_size, overlap=overlap,
                                             progress=progress_reporter())},)


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
        return inpaint_model_conditioning(positive, negative, pixels, vae, mask, noise_mask)
