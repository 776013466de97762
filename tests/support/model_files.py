"""Other on-disk formats of the test checkpoints' parts, for loader tests: split files (what
UNETLoader, CLIPLoader, DualCLIPLoader and VAELoader read) and diffusers-format UNets and VAEs.

Split files are the checkpoint's tensors under their prefix, with the prefix removed. The
diffusers VAE names follow diffusers' AutoencoderKL (`down_blocks.N.resnets.M`, reversed
`up_blocks`, `mid_block.attentions.0.to_q` as 2-D matrices). Any thread; writes into `directory`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def split_file(checkpoint: Path, prefix: str, directory: Path, name: str,
               rename: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None) -> Path:
    """The entries of `checkpoint` under `prefix`, prefix removed (and `rename`d), saved as `name`."""
    sd = {k[len(prefix):]: v for k, v in load_file(str(checkpoint)).items() if k.startswith(prefix)}
    if rename is not None:
        sd = rename(sd)
    path = directory / name
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return path


def vae_to_diffusers(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    levels = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("decoder.up."))
    attn = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}
    out = {}
    for key, value in sd.items():
        k = re.sub(r"^encoder\.down\.(\d+)\.block\.(\d+)\.", r"encoder.down_blocks.\1.resnets.\2.", key)
        k = re.sub(r"^encoder\.down\.(\d+)\.downsample\.", r"encoder.down_blocks.\1.downsamplers.0.", k)
        k = re.sub(r"^decoder\.up\.(\d+)\.block\.(\d+)\.",
                   lambda m: f"decoder.up_blocks.{levels - 1 - int(m[1])}.resnets.{m[2]}.", k)
        k = re.sub(r"^decoder\.up\.(\d+)\.upsample\.", lambda m: f"decoder.up_blocks.{levels - 1 - int(m[1])}.upsamplers.0.", k)
        k = re.sub(r"\.mid\.block_(\d)\.", lambda m: f".mid_block.resnets.{int(m[1]) - 1}.", k)
        found = re.match(r"^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.(weight|bias)$", k)
        if found:
            k = f"{found[1]}.mid_block.attentions.0.{attn[found[2]]}.{found[3]}"
            if found[2] != "norm" and found[3] == "weight":
                value = value.reshape(value.shape[0], value.shape[1])
        k = k.replace("nin_shortcut", "conv_shortcut").replace("norm_out", "conv_norm_out")
        out[k] = value
    return out
