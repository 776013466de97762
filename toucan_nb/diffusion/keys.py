"""Key layouts: prefixes of single-file checkpoints and conversions from other formats.

The networks load LDM/transformers key names as they are; this module brings everything else to
those names. Single files: UNet under `model.diffusion_model.`, VAE under `first_stage_model.`,
text encoders under `cond_stage_model.transformer.(text_model.)` (SD1), `cond_stage_model.model.`
(SD2, OpenCLIP), `conditioner.embedders.0.transformer.` + `conditioner.embedders.1.model.` (SDXL)
or `conditioner.embedders.0.model.` (SDXL refiner). Conversions: OpenCLIP text towers
(`transformer.resblocks.N.attn.in_proj_*` split into q/k/v, `text_projection` transposed),
diffusers UNets (`down_blocks.*` -> `input_blocks.*`, by a table generated from the UNet's own
config, which LoRA key maps reuse) and diffusers VAEs (`*_blocks.*.resnets.*` -> `down/up.*.block.*`,
linear attention projections reshaped to 1x1 convs). Pure functions; any thread.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toucan_nb.diffusion.unet import UNetConfig

StateDict = dict[str, Any]

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
# Text-encoder keys that carry no weights our towers use.
_TEXT_EXTRAS = ("position_ids", "logit_scale", "attn_mask")


def with_prefix(sd: StateDict, prefix: str) -> StateDict:
    """The entries under `prefix`, with it removed."""
    n = len(prefix)
    return {k[n:]: v for k, v in sd.items() if k.startswith(prefix)}


def has_prefix(sd: StateDict, prefix: str) -> bool:
    return any(k.startswith(prefix) for k in sd)


def count_indices(sd: StateDict, prefix: str) -> int:
    """How many consecutive `prefix{i}.` groups exist, from 0."""
    n = 0
    heads = {k[len(prefix):].split(".", 1)[0] for k in sd if k.startswith(prefix)}
    while str(n) in heads:
        n += 1
    return n


# -- text encoders -------------------------------------------------------------------------------

_OPENCLIP_BLOCK = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "mlp.c_fc": "mlp.fc1",
                   "mlp.c_proj": "mlp.fc2", "attn.out_proj": "self_attn.out_proj"}


def is_openclip(sd: StateDict) -> bool:
    return "transformer.resblocks.0.ln_1.weight" in sd


def openclip_to_transformers(sd: StateDict) -> StateDict:
    """An OpenCLIP text tower's keys (no prefix) in transformers' layout."""
    out: StateDict = {}
    for k, v in sd.items():
        if k == "positional_embedding":
            out["text_model.embeddings.position_embedding.weight"] = v
        elif k == "token_embedding.weight":
            out["text_model.embeddings.token_embedding.weight"] = v
        elif k.startswith("ln_final."):
            out["text_model.final_layer_norm." + k[len("ln_final."):]] = v
        elif k == "text_projection":
            out["text_projection.weight"] = v.transpose(0, 1).contiguous()
        elif k.startswith("transformer.resblocks."):
            index, rest = k[len("transformer.resblocks."):].split(".", 1)
            base = f"text_model.encoder.layers.{index}."
            if rest.startswith("attn.in_proj_"):
                kind = rest[len("attn.in_proj_"):]
                third = v.shape[0] // 3
                for i, proj in enumerate(("q_proj", "k_proj", "v_proj")):
                    out[f"{base}self_attn.{proj}.{kind}"] = v[third * i: third * (i + 1)]
            else:
                module, param = rest.rsplit(".", 1)
                out[base + _OPENCLIP_BLOCK.get(module, module) + "." + param] = v
        else:
            out[k] = v
    return out


def clean_text_encoder(sd: StateDict) -> StateDict:
    """A text tower's state dict in transformers' layout, without the weightless extras.

    Accepts OpenCLIP keys, `text_model.*` keys, keys without `text_model.` (old SD1 files) and a
    bare `text_projection` matrix (old CLIPSave files).
    """
    if is_openclip(sd):
        sd = openclip_to_transformers(sd)
    out: StateDict = {}
    for k, v in sd.items():
        if k.endswith(_TEXT_EXTRAS):
            continue
        if k == "text_projection":
            out["text_projection.weight"] = v.transpose(0, 1).contiguous()
        elif k.startswith(("embeddings.", "encoder.", "final_layer_norm.")):
            out["text_model." + k] = v
        else:
            out[k] = v
    return out


def text_encoder_width(sd: StateDict) -> int | None:
    w = sd.get("text_model.embeddings.token_embedding.weight")
    return None if w is None else int(w.shape[1])


# -- diffusers UNet ------------------------------------------------------------------------------

_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
           "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_BASIC = {"conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
          "time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
          "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2",
          "class_embedding.linear_1": "label_emb.0.0", "class_embedding.linear_2": "label_emb.0.2"}


def is_diffusers_unet(sd: StateDict) -> bool:
    return "conv_in.weight" in sd and any(k.startswith("down_blocks.") for k in sd)


def diffusers_unet_modules(cfg: UNetConfig) -> dict[str, str]:
    """{diffusers module path: LDM module path} for every module of a UNet with `cfg`."""
    table: dict[str, str] = dict(_BASIC)
    depth_in = list(cfg.transformer_depth)
    n = 1
    levels = len(cfg.channel_mult)
    for level in range(levels):
        for i in range(cfg.num_res_blocks[level]):
            for d, ldm in _RESNET.items():
                table[f"down_blocks.{level}.resnets.{i}.{d}"] = f"input_blocks.{n}.0.{ldm}"
            if depth_in.pop(0) > 0:
                table[f"down_blocks.{level}.attentions.{i}"] = f"input_blocks.{n}.1"
            n += 1
        if level != levels - 1:
            table[f"down_blocks.{level}.downsamplers.0.conv"] = f"input_blocks.{n}.0.op"
            n += 1
    if cfg.transformer_depth_middle >= -1:
        for d, ldm in _RESNET.items():
            table[f"mid_block.resnets.0.{d}"] = f"middle_block.0.{ldm}"
        if cfg.transformer_depth_middle >= 0:
            table["mid_block.attentions.0"] = "middle_block.1"
            for d, ldm in _RESNET.items():
                table[f"mid_block.resnets.1.{d}"] = f"middle_block.2.{ldm}"
    depth_out = list(cfg.transformer_depth_output)
    n = 0
    for up, level in enumerate(reversed(range(levels))):
        blocks = cfg.num_res_blocks[level] + 1
        for i in range(blocks):
            for d, ldm in _RESNET.items():
                table[f"up_blocks.{up}.resnets.{i}.{d}"] = f"output_blocks.{n}.0.{ldm}"
            part = 1
            if depth_out.pop() > 0:
                table[f"up_blocks.{up}.attentions.{i}"] = f"output_blocks.{n}.1"
                part = 2
            if level != 0 and i == blocks - 1:
                table[f"up_blocks.{up}.upsamplers.0.conv"] = f"output_blocks.{n}.{part}.conv"
            n += 1
    return table


def diffusers_names(cfg: UNetConfig, ldm_keys: Iterable[str]) -> list[tuple[str, str]]:
    """(diffusers parameter key, LDM parameter key) for each LDM key some diffusers module covers."""
    by_ldm: dict[str, list[str]] = {}
    for d, ldm in diffusers_unet_modules(cfg).items():
        by_ldm.setdefault(ldm, []).append(d)
    out = []
    for key in ldm_keys:
        parts = key.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            names = by_ldm.get(".".join(parts[:cut]))
            if names:
                out += [(".".join([name, *parts[cut:]]), key) for name in names]
                break
    return out


def _map_module(table: dict[str, str], key: str) -> str | None:
    """Rename a parameter key by the longest module prefix in `table` (None if none applies)."""
    parts = key.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        if head in table:
            return table[head] + "." + ".".join(parts[cut:])
    return None


def diffusers_unet_to_ldm(sd: StateDict, cfg: UNetConfig) -> StateDict:
    """A diffusers UNet's state dict with LDM keys (unknown keys are kept as they are)."""
    table = diffusers_unet_modules(cfg)
    out: StateDict = {}
    for k, v in sd.items():
        out[_map_module(table, k) or k] = v
    return out


# -- diffusers VAE -------------------------------------------------------------------------------

_VAE_ATTN = {"group_norm": "norm", "query": "q", "key": "k", "value": "v", "to_q": "q", "to_k": "k",
             "to_v": "v", "to_out.0": "proj_out", "proj_attn": "proj_out"}


def is_diffusers_vae(sd: StateDict) -> bool:
    return "decoder.up_blocks.0.resnets.0.norm1.weight" in sd


def diffusers_vae_to_ldm(sd: StateDict) -> StateDict:
    """A diffusers AutoencoderKL's state dict with LDM keys."""
    levels = count_indices(sd, "decoder.up_blocks.")
    out: StateDict = {}
    for k, v in sd.items():
        key = k.replace("conv_shortcut", "nin_shortcut").replace("conv_norm_out", "norm_out")
        key = re.sub(r"^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.", r"encoder.down.\1.block.\2.", key)
        key = re.sub(r"^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample.", key)
        key = re.sub(r"^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.",
                     lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.block.{m.group(2)}.", key)
        key = re.sub(r"^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.",
                     lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.upsample.", key)
        key = re.sub(r"\.mid_block\.resnets\.(\d+)\.", lambda m: f".mid.block_{int(m.group(1)) + 1}.", key)
        if ".mid_block.attentions.0." in key:
            key = key.replace(".mid_block.attentions.0.", ".mid.attn_1.")
            head, param = key.rsplit(".", 1)
            prefix, module = head.split(".mid.attn_1.", 1)
            key = f"{prefix}.mid.attn_1.{_VAE_ATTN.get(module, module)}.{param}"
            if param == "weight" and v.ndim == 2:
                v = v.reshape(*v.shape, 1, 1)
        out[key] = v
    return out
