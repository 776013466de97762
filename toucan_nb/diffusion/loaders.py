"""Model files -> MODEL, CLIP and VAE values: what the loader nodes call.

- `load_checkpoint(path)`: a single-file SD1.x/SD2.x/SDXL/refiner checkpoint -> (MODEL, CLIP or
  None, VAE) (CheckpointLoaderSimple). A file without `model.diffusion_model.` keys is tried as a
  bare UNet (CLIP None, an empty VAE that errors when used), as ComfyUI does.
- `load_diffusion_model(path, weight_dtype)`: a UNet alone, LDM or diffusers keys, with or without
  the checkpoint prefix; `weight_dtype` "default" or an fp8 storage type (UNETLoader).
- `load_text_encoders(paths, clip_type)`: one file (CLIPLoader: CLIP-L -> SD1, OpenCLIP-H -> SD2,
  bigG -> refiner-style) or two (DualCLIPLoader "sdxl": CLIP-L + bigG), transformers or OpenCLIP keys.
- `load_vae(path)`: a VAE file, LDM or diffusers keys (VAELoader).
- `load_lora(path)`: a LoRA's tensors, for `lora.load_lora_for_models` (LoraLoader, LoraLoaderModelOnly).

Weights are stored in the dtype the device gets (memory.py) and kept on the CPU until first use.
Each part built from a file is cached weakly under the file's identity (files.py), so a file is
read once however many nodes load it. Errors: `UnsupportedModelError` (a model family or text
encoder the engine does not run), `RuntimeError("ERROR: Could not detect model type of: ...")` as
ComfyUI words it, `ops.WeightsMismatchError` for weights that do not fit the detected layout.
Executor thread (or any thread that owns the models it loads).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import torch

from toucan_nb.diffusion import autoencoder, clip_text, files, keys, memory, unet
from toucan_nb.diffusion.detection import (
    Prediction,
    RawUNetLayout,
    UnsupportedModelError,
    detect_diffusers_unet_layout,
    detect_unet_layout,
    detect_vae,
    sd2_prediction,
    sdxl_prediction,
)
from toucan_nb.diffusion.families import SD15, SD20, SDXL, SDXL_REFINER, Family, family_for
from toucan_nb.diffusion.model import DiffusionModel
from toucan_nb.diffusion.patcher import ModelPatcher, Network
from toucan_nb.diffusion.text_encoder import TextEncoder, TextEncoderStack
from toucan_nb.diffusion.vae import VAE

log = logging.getLogger(__name__)

FP8_TYPES = {"fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e4m3fn_fast": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}
_CLIP_KIND = {SD15.name: "sd1", SD20.name: "sd2", SDXL.name: "sdxl", SDXL_REFINER.name: "sdxl_refiner"}
# Keys some UNet files carry next to the weights: prediction markers, not parameters.
_UNET_MARKERS = ("v_pred", "ztsnr", "edm_mean", "edm_std", "edm_vpred.sigma_max", "edm_vpred.sigma_min")
_TOWER_BY_WIDTH = {768: "l", 1024: "h", 1280: "g"}


def _device() -> torch.device:
    return memory.get_torch_device()


def detection_error(path: str) -> RuntimeError:
    hint = ""
    if "lora" in os.path.basename(path).lower():
        hint = ("\nHINT: This seems to be a Lora file and Lora files should be put in the lora folder and loaded "
                "with a lora loader node..")
    return RuntimeError(f"ERROR: Could not detect model type of: {path}\n{hint}")


# -- UNet ----------------------------------------------------------------------------------------

def prediction_for(family: Family, sd: dict[str, Any], layout: RawUNetLayout, prefix: str) -> Prediction:
    if family is SD20:
        return sd2_prediction(sd, layout, prefix)
    if family is SDXL:
        return sdxl_prediction(sd)
    return Prediction("eps")


def build_diffusion_model(sd: dict[str, Any], prefix: str, weight_dtype: str = "default",
                          markers: dict[str, Any] | None = None) -> DiffusionModel:
    """A MODEL from the LDM UNet keys under `prefix` of `sd` (`markers`: where v_pred etc. live)."""
    layout = detect_unet_layout(sd, prefix)
    if layout is None:
        raise UnsupportedModelError("no LDM UNet weights found")
    family = family_for(layout)
    config = layout.with_heads(family.num_heads, family.num_head_channels)
    prediction = prediction_for(family, markers if markers is not None else sd, layout, prefix)
    device = _device()
    compute = memory.unet_dtype(device)
    storage = FP8_TYPES.get(weight_dtype, compute)
    weights = {k: v for k, v in keys.with_prefix(sd, prefix).items() if k not in _UNET_MARKERS}
    module = unet.build(weights, config, storage)
    patcher = ModelPatcher(Network(module, "diffusion model"), device, memory.patch_dtype(device))
    log.info("model type %s (%s), weight dtype %s", family.name, prediction.kind, storage)
    return DiffusionModel(patcher, family, config, prediction, compute)


def _bare_unet(sd: dict[str, Any], weight_dtype: str) -> DiffusionModel | None:
    """A UNet-only state dict (LDM keys, checkpoint-prefixed LDM keys or diffusers keys), or None."""
    if keys.has_prefix(sd, keys.UNET_PREFIX):
        return build_diffusion_model(sd, keys.UNET_PREFIX, weight_dtype)
    if "input_blocks.0.0.weight" in sd:
        return build_diffusion_model(sd, "", weight_dtype)
    if keys.is_diffusers_unet(sd):
        raw = detect_diffusers_unet_layout(sd)
        if raw is None:
            return None
        family = family_for(raw)
        converted = keys.diffusers_unet_to_ldm(sd, raw.with_heads(family.num_heads, family.num_head_channels))
        return build_diffusion_model(converted, "", weight_dtype, markers=sd)
    return None


def load_diffusion_model(path: str, weight_dtype: str = "default") -> DiffusionModel:
    """UNETLoader: a diffusion model file -> MODEL."""
    key = (files.file_identity(path), "unet", weight_dtype)

    def build() -> DiffusionModel:
        sd, _ = files.load_state_dict(path)
        model = _bare_unet(sd, weight_dtype)
        if model is None:
            raise detection_error(path)
        return model

    return files.parts.get_or_build(key, build)


# -- text encoders -------------------------------------------------------------------------------

def build_text_encoder(towers: dict[str, dict[str, Any]], kind: str, embedding_dirs: Sequence[str] | None) -> TextEncoder:
    """A CLIP from transformers-layout state dicts per tower ("l", "h", "g")."""
    device = _device()
    storage = memory.text_encoder_dtype(device)
    rounding = memory.TEXT_ENCODER_ROUNDING
    models = {name: clip_text.build({k: v.to(rounding) for k, v in sd.items()}, storage, f"text encoder clip_{name}")
              for name, sd in towers.items()}
    stack = TextEncoderStack(models)
    network = Network(stack, "text encoder", rounding=rounding if storage != rounding else None)
    patcher = ModelPatcher(network, device, memory.patch_dtype(device))
    return TextEncoder(patcher, kind, embedding_dirs)


def _tower_state(sd: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    for prefix in ("cond_stage_model.transformer.", "conditioner.embedders.0.transformer.",
                   "cond_stage_model.model.", "conditioner.embedders.1.model.", "conditioner.embedders.0.model."):
        if keys.has_prefix(sd, prefix) and not keys.has_prefix(sd, "text_model."):
            sd = keys.with_prefix(sd, prefix)
            break
    cleaned = keys.clean_text_encoder(sd)
    width = keys.text_encoder_width(cleaned)
    if width not in _TOWER_BY_WIDTH:
        raise UnsupportedModelError(f"unsupported text encoder (width {width}): the built-in engine runs CLIP-L, "
                                    "OpenCLIP ViT-H and ViT-bigG")
    return _TOWER_BY_WIDTH[width], cleaned


def _clip_kind(found: list[str], clip_type: str) -> str:
    names = sorted(found)
    if names == ["l"] and clip_type not in ("sd3", "hidream"):
        return "sd1"
    if names == ["h"]:
        return "sd2"
    if names == ["g"] and clip_type not in ("stable_cascade", "sd3", "hidream"):
        return "sdxl_refiner"
    if names == ["g", "l"] and clip_type == "sdxl":
        return "sdxl"
    raise UnsupportedModelError(f"text encoders {names} with type {clip_type!r} are not supported by the built-in "
                                "engine (it runs CLIP-L, OpenCLIP-H, bigG and sdxl's CLIP-L + bigG)")


def load_text_encoders(paths: Sequence[str], clip_type: str = "stable_diffusion",
                       embedding_dirs: Sequence[str] | None = None) -> TextEncoder:
    """CLIPLoader / DualCLIPLoader: text-encoder files -> CLIP."""
    key = (tuple(files.file_identity(p) for p in paths), "clip", clip_type,
           tuple(embedding_dirs) if embedding_dirs is not None else None)

    def build() -> TextEncoder:
        towers: dict[str, dict[str, Any]] = {}
        for p in paths:
            name, sd = _tower_state(files.load_state_dict(p)[0])
            if name in towers:
                raise UnsupportedModelError(f"two text encoders of the same kind (clip_{name}) given")
            towers[name] = sd
        return build_text_encoder(towers, _clip_kind(list(towers), clip_type), embedding_dirs)

    return files.parts.get_or_build(key, build)


# -- VAE -----------------------------------------------------------------------------------------

def build_vae(sd: dict[str, Any]) -> VAE:
    """A VAE from LDM or diffusers keys (no prefix); an empty state dict gives an unusable VAE."""
    device = _device()
    dtype = memory.vae_dtype(device)
    if not sd:
        log.warning("WARNING: No VAE weights detected, VAE not initalized.")
        return VAE(None, None, dtype)
    if keys.is_diffusers_vae(sd):
        sd = keys.diffusers_vae_to_ldm(sd)
    sd = {k.replace("decoder.post_quant_conv.", "post_quant_conv.").replace("encoder.quant_conv.", "quant_conv."): v
          for k, v in sd.items()}
    cfg = detect_vae(sd)
    if cfg is None:
        raise UnsupportedModelError("unsupported VAE: the built-in engine runs the KL autoencoders of SD1.x/SD2.x/SDXL")
    module = autoencoder.build(sd, cfg, dtype)
    patcher = ModelPatcher(Network(module, "VAE"), device, torch.float32)
    return VAE(patcher, cfg, dtype)


def load_vae(path: str) -> VAE:
    """VAELoader: a VAE file -> VAE."""
    key = (files.file_identity(path), "vae")
    return files.parts.get_or_build(key, lambda: build_vae(files.load_state_dict(path)[0]))


# -- checkpoints ---------------------------------------------------------------------------------

class _Absent:
    """Cache entry for a checkpoint part that does not exist (a checkpoint without text encoders)."""


_ABSENT = _Absent()


def _checkpoint_clip(sd: dict[str, Any], family: Family, embedding_dirs: Sequence[str] | None) -> TextEncoder | None:
    towers: dict[str, dict[str, Any]] = {}
    for slot, prefixes in family.checkpoint_text_encoders:
        prefix = next((p for p in prefixes if keys.has_prefix(sd, p)), None)
        if prefix is not None:
            towers[slot] = keys.clean_text_encoder(keys.with_prefix(sd, prefix))
    if len(towers) != len(family.checkpoint_text_encoders):
        log.warning("no CLIP/text encoder weights in checkpoint, the text encoder model will not be loaded.")
        return None
    return build_text_encoder(towers, _CLIP_KIND[family.name], embedding_dirs)


def load_checkpoint(path: str, embedding_dirs: Sequence[str] | None = None) -> tuple[DiffusionModel, TextEncoder | None, VAE]:
    """CheckpointLoaderSimple: a single-file checkpoint -> (MODEL, CLIP, VAE).

    Each part is cached on its own: parts still alive are reused, only missing ones are rebuilt.
    """
    ident = files.file_identity(path)
    dirs = tuple(embedding_dirs) if embedding_dirs is not None else None
    keys_ = {"model": (ident, "unet", "default"), "clip": (ident, "checkpoint-clip", dirs),
             "vae": (ident, "checkpoint-vae")}
    found = {name: files.parts.get(k) for name, k in keys_.items()}
    if any(v is None for v in found.values()):
        sd, _ = files.load_state_dict(path)
        if detect_unet_layout(sd, keys.UNET_PREFIX) is None:
            log.warning("Warning, This is not a checkpoint file, trying to load it as a diffusion model only.")
            model = found["model"] or _bare_unet(sd, "default")
            if model is None:
                raise detection_error(path)
            built: dict[str, Any] = {"model": model, "clip": _ABSENT, "vae": found["vae"] or build_vae({})}
        else:
            model = found["model"] or build_diffusion_model(sd, keys.UNET_PREFIX)
            clip = found["clip"] or _checkpoint_clip(sd, model.family, embedding_dirs) or _ABSENT
            vae = found["vae"] or build_vae(keys.with_prefix(sd, keys.VAE_PREFIX))
            built = {"model": model, "clip": clip, "vae": vae}
        for name, value in built.items():
            files.parts.put(keys_[name], value)
        found = built
    clip = None if found["clip"] is _ABSENT else found["clip"]
    return found["model"], clip, found["vae"]


# -- LoRA ----------------------------------------------------------------------------------------

def load_lora(path: str) -> dict[str, torch.Tensor]:
    """A LoRA file's tensors (CPU)."""
    return files.load_state_dict(path)[0]
