"""What a state dict holds: the UNet's layout, the model family and prediction type, the VAE's shape.

UNet layout (ComfyUI's `detect_unet_config`, computed from key names and shapes only, so any
depth loads): `model_channels` and `in_channels` from `input_blocks.0.0.weight`, per input block
whether it is a res block (with its channel multiplier and the depth of the transformer after it)
or a downsampler, the matching output blocks' transformer depths, the middle block's depth, the
context width from `attn2.to_k`, 1x1-conv vs linear projections from `proj_in`'s rank and the ADM
width from `label_emb.0.0`. The family then follows from the text context and ADM widths:
768 / none -> SD1.x, 1024 / none -> SD2.x, 2048 / 2816 -> SDXL, 1280 / 2560 -> SDXL refiner
(ComfyUI additionally pins model_channels and, for SDXL, the exact depths; we accept any depth so
reduced test models load, at the same behaviour on released checkpoints). Prediction type: SD2 is
v-prediction when `output_blocks.11.1.transformer_blocks.0.norm1.bias` has a (biased) std above
0.09 and the UNet takes 4 channels; SDXL reads the `v_pred`, `ztsnr` and `edm_*` marker keys.
Pure functions over shapes; any thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from toucan_nb.diffusion.keys import StateDict, count_indices
from toucan_nb.diffusion.unet import UNetConfig


class UnsupportedModelError(ValueError):
    """The file is not a model the built-in engine runs (or not a model at all)."""


@dataclass(frozen=True)
class RawUNetLayout:
    """Everything `detect_unet_layout` reads; the family adds the attention-head rule."""

    in_channels: int
    out_channels: int
    model_channels: int
    num_res_blocks: tuple[int, ...]
    channel_mult: tuple[int, ...]
    transformer_depth: tuple[int, ...]
    transformer_depth_output: tuple[int, ...]
    transformer_depth_middle: int
    context_dim: int | None
    use_linear_in_transformer: bool
    adm_in_channels: int | None

    def with_heads(self, num_heads: int, num_head_channels: int) -> UNetConfig:
        return UNetConfig(in_channels=self.in_channels, out_channels=self.out_channels,
                          model_channels=self.model_channels, num_res_blocks=self.num_res_blocks,
                          channel_mult=self.channel_mult, transformer_depth=self.transformer_depth,
                          transformer_depth_output=self.transformer_depth_output,
                          transformer_depth_middle=self.transformer_depth_middle,
                          context_dim=self.context_dim, use_linear_in_transformer=self.use_linear_in_transformer,
                          adm_in_channels=self.adm_in_channels, num_heads=num_heads,
                          num_head_channels=num_head_channels)


def _transformer(sd: StateDict, block: str) -> tuple[int, int, bool] | None:
    """(depth, context_dim, linear) of the transformer at `{block}1.`, or None."""
    prefix = f"{block}1.transformer_blocks."
    depth = count_indices(sd, prefix)
    if depth == 0:
        return None
    context = int(sd[f"{prefix}0.attn2.to_k.weight"].shape[1])
    linear = sd[f"{block}1.proj_in.weight"].ndim == 2
    return depth, context, linear


def detect_unet_layout(sd: StateDict, prefix: str = "") -> RawUNetLayout | None:
    """The LDM UNet layout of the keys under `prefix`, or None when there is no such UNet."""
    first = sd.get(f"{prefix}input_blocks.0.0.weight")
    if first is None:
        return None
    model_channels, in_channels = int(first.shape[0]), int(first.shape[1])
    out = sd.get(f"{prefix}out.2.weight")
    adm = sd.get(f"{prefix}label_emb.0.0.weight")
    num_res_blocks: list[int] = []
    channel_mult: list[int] = []
    depth_in: list[int] = []
    depth_out: list[int] = []
    context_dim: int | None = None
    linear = False
    blocks, mult = 0, 0
    count = count_indices(sd, f"{prefix}input_blocks.")
    for n in range(count):
        block = f"{prefix}input_blocks.{n}."
        mirror = f"{prefix}output_blocks.{count - n - 1}."
        if f"{block}0.op.weight" in sd:
            num_res_blocks.append(blocks)
            channel_mult.append(mult)
            blocks, mult = 0, 0
            found = _transformer(sd, mirror)
            depth_out.append(found[0] if found else 0)
            continue
        if f"{block}0.in_layers.0.weight" in sd:
            blocks += 1
            mult = int(sd[f"{block}0.out_layers.3.weight"].shape[0]) // model_channels
            found = _transformer(sd, block)
            depth_in.append(found[0] if found else 0)
            if found and context_dim is None:
                _, context_dim, linear = found
        if f"{mirror}0.in_layers.0.weight" in sd:
            found = _transformer(sd, mirror)
            depth_out.append(found[0] if found else 0)
    num_res_blocks.append(blocks)
    channel_mult.append(mult)
    if f"{prefix}middle_block.1.proj_in.weight" in sd:
        middle = count_indices(sd, f"{prefix}middle_block.1.transformer_blocks.")
    elif f"{prefix}middle_block.0.in_layers.0.weight" in sd:
        middle = -1
    else:
        middle = -2
    return RawUNetLayout(
        in_channels=in_channels, out_channels=int(out.shape[0]) if out is not None else 4,
        model_channels=model_channels, num_res_blocks=tuple(num_res_blocks), channel_mult=tuple(channel_mult),
        transformer_depth=tuple(depth_in), transformer_depth_output=tuple(depth_out),
        transformer_depth_middle=middle, context_dim=context_dim, use_linear_in_transformer=linear,
        adm_in_channels=int(adm.shape[1]) if adm is not None else None)


def detect_diffusers_unet_layout(sd: StateDict) -> RawUNetLayout | None:
    """The layout of a diffusers-format UNet (`down_blocks.*`), or None."""
    conv_in = sd.get("conv_in.weight")
    if conv_in is None:
        return None
    mc = int(conv_in.shape[0])
    levels = count_indices(sd, "down_blocks.")
    num_res, mult, depth_in, depth_out = [], [], [], []
    context_dim: int | None = None
    linear = False
    for level in range(levels):
        res = count_indices(sd, f"down_blocks.{level}.resnets.")
        num_res.append(res)
        mult.append(int(sd[f"down_blocks.{level}.resnets.0.conv1.weight"].shape[0]) // mc)
        for i in range(res):
            attn = f"down_blocks.{level}.attentions.{i}."
            depth = count_indices(sd, attn + "transformer_blocks.")
            depth_in.append(depth)
            if depth and context_dim is None:
                context_dim = int(sd[attn + "transformer_blocks.0.attn2.to_k.weight"].shape[1])
                linear = sd[attn + "proj_in.weight"].ndim == 2
    for up in range(levels):
        for i in range(count_indices(sd, f"up_blocks.{up}.resnets.")):
            depth_out.append(count_indices(sd, f"up_blocks.{up}.attentions.{i}.transformer_blocks."))
    if "mid_block.attentions.0.proj_in.weight" in sd:
        middle = count_indices(sd, "mid_block.attentions.0.transformer_blocks.")
    elif "mid_block.resnets.0.conv1.weight" in sd:
        middle = -1
    else:
        middle = -2
    adm = sd.get("add_embedding.linear_1.weight", sd.get("class_embedding.linear_1.weight"))
    out = sd.get("conv_out.weight")
    return RawUNetLayout(
        in_channels=int(conv_in.shape[1]), out_channels=int(out.shape[0]) if out is not None else 4,
        model_channels=mc, num_res_blocks=tuple(num_res), channel_mult=tuple(mult),
        transformer_depth=tuple(depth_in), transformer_depth_output=tuple(reversed(depth_out)),
        transformer_depth_middle=middle, context_dim=context_dim, use_linear_in_transformer=linear,
        adm_in_channels=int(adm.shape[1]) if adm is not None else None)


# -- prediction type -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Prediction:
    """What the network predicts and the schedule settings that go with it."""

    kind: str                   # "eps", "v_prediction", "edm", "v_prediction_edm"
    zsnr: bool = False
    sigma_min: float | None = None
    sigma_max: float | None = None
    sigma_data: float | None = None


def sd2_prediction(sd: StateDict, layout: RawUNetLayout, prefix: str) -> Prediction:
    if layout.in_channels == 4:
        bias = sd.get(f"{prefix}output_blocks.11.1.transformer_blocks.0.norm1.bias")
        if bias is not None and bias.device.type != "meta" and torch.std(bias.float(), unbiased=False) > 0.09:
            return Prediction("v_prediction")
    return Prediction("eps")


def sdxl_prediction(sd: StateDict) -> Prediction:
    if "edm_mean" in sd and "edm_std" in sd:
        return Prediction("edm", sigma_min=0.002, sigma_max=80.0, sigma_data=0.5)
    if "edm_vpred.sigma_max" in sd:
        sigma_min = float(sd["edm_vpred.sigma_min"].item()) if "edm_vpred.sigma_min" in sd else None
        return Prediction("v_prediction_edm", sigma_max=float(sd["edm_vpred.sigma_max"].item()), sigma_min=sigma_min)
    if "v_pred" in sd:
        return Prediction("v_prediction", zsnr="ztsnr" in sd)
    return Prediction("eps")


# -- VAE -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VAEConfig:
    ch: int
    ch_mult: tuple[int, ...]
    num_res_blocks: int
    z_channels: int
    embed_dim: int
    has_encoder: bool
    has_quant_conv: bool

    @property
    def scale(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)


def detect_vae(sd: StateDict) -> VAEConfig | None:
    """The KL autoencoder's shape from LDM keys (no prefix), or None."""
    conv_in = sd.get("decoder.conv_in.weight")
    conv_out = sd.get("decoder.conv_out.weight")
    if conv_in is None or conv_out is None or conv_in.ndim != 4 or "decoder.mid.block_1.mix_factor" in sd:
        return None
    ch = int(conv_out.shape[1])
    levels = count_indices(sd, "decoder.up.")
    mult = tuple(int(sd[f"decoder.up.{i}.block.0.conv2.weight"].shape[0]) // ch for i in range(levels))
    blocks = count_indices(sd, "decoder.up.0.block.") - 1
    z = int(conv_in.shape[1])
    post = sd.get("post_quant_conv.weight")
    return VAEConfig(ch=ch, ch_mult=mult, num_res_blocks=blocks, z_channels=z,
                     embed_dim=int(post.shape[1]) if post is not None else z,
                     has_encoder="encoder.conv_in.weight" in sd, has_quant_conv=post is not None)

