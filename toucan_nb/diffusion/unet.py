"""The LDM UNet of SD1.x, SD2.x and SDXL (the `openaimodel` layout, loaded key for key).

Parameter names are the checkpoint's (`input_blocks.N.M...`, `middle_block.*`, `output_blocks.*`,
`time_embed.*`, `label_emb.0.*`, `out.*`), so a checkpoint's state dict loads as it is. The
computation is ComfyUI's: sinusoidal timestep embedding `[cos, sin]` of `model_channels`, an ADM
vector through `label_emb` added to it (SDXL), residual blocks with GroupNorm(32, eps 1e-5) and
SiLU, spatial transformers with GroupNorm(eps 1e-6), 1x1-conv or linear projections,
self-attention, cross-attention to the text context, a GEGLU feed-forward of 4x width,
LayerNorms (eps 1e-5), stride-2 conv downsampling and nearest-neighbour upsampling to the size of
the matching skip. Optional ControlNet residuals are added as ComfyUI does (`control` dict of
lists popped per block). Built on the `meta` device; the state dict provides the tensors.
Pure torch; called on the executor thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from toucan_nb.diffusion import ops


@dataclass(frozen=True)
class UNetConfig:
    """The shape-defining settings of one UNet (see detection.unet_config)."""

    in_channels: int
    out_channels: int
    model_channels: int
    num_res_blocks: tuple[int, ...]
    channel_mult: tuple[int, ...]
    transformer_depth: tuple[int, ...]         # one per input res block, in order
    transformer_depth_output: tuple[int, ...]  # one per output block, the last block first (as ComfyUI)
    transformer_depth_middle: int              # -2: no middle block, -1: one res block, else depth
    context_dim: int | None
    use_linear_in_transformer: bool
    adm_in_channels: int | None
    num_heads: int = -1          # SD1: 8 heads per transformer
    num_head_channels: int = -1  # SD2/SDXL: 64 channels per head

    def heads(self, ch: int) -> tuple[int, int]:
        """(heads, head_dim) of a transformer with `ch` channels."""
        if self.num_head_channels == -1:
            return self.num_heads, ch // self.num_heads
        return ch // self.num_head_channels, self.num_head_channels


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: int = 10000) -> torch.Tensor:
    """[N] (possibly fractional) timesteps -> [N, dim] `[cos, sin]` embeddings, fp32."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half)
    args = timesteps[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class ResBlock(nn.Module):
    def __init__(self, ch: int, emb_ch: int, out_ch: int) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(ops.GroupNorm(32, ch), nn.SiLU(), ops.Conv2d(ch, out_ch, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), ops.Linear(emb_ch, out_ch))
        self.out_layers = nn.Sequential(ops.GroupNorm(32, out_ch), nn.SiLU(), nn.Identity(),
                                        ops.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip_connection = nn.Identity() if out_ch == ch else ops.Conv2d(ch, out_ch, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x)
        h = h + self.emb_layers(emb).type(h.dtype)[..., None, None]
        return self.skip_connection(x) + self.out_layers(h)


class Downsample(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.op = ops.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = ops.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
        size = size or (x.shape[2] * 2, x.shape[3] * 2)
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class CrossAttention(nn.Module):
    def __init__(self, dim: int, context_dim: int, heads: int, head_dim: int) -> None:
        super().__init__()
        inner = heads * head_dim
        self.heads = heads
        self.to_q = ops.Linear(dim, inner, bias=False)
        self.to_k = ops.Linear(context_dim, inner, bias=False)
        self.to_v = ops.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(ops.Linear(inner, dim), nn.Identity())

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        out = ops.attention(self.to_q(x), self.to_k(context), self.to_v(context), self.heads)
        return self.to_out(out)


class GEGLU(nn.Module):
    def __init__(self, dim: int, inner: int) -> None:
        super().__init__()
        self.proj = ops.Linear(dim, inner * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * 4), nn.Identity(), ops.Linear(dim * 4, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int, context_dim: int) -> None:
        super().__init__()
        self.attn1 = CrossAttention(dim, dim, heads, head_dim)
        self.ff = FeedForward(dim)
        self.attn2 = CrossAttention(dim, context_dim, heads, head_dim)
        self.norm1 = ops.LayerNorm(dim)
        self.norm2 = ops.LayerNorm(dim)
        self.norm3 = ops.LayerNorm(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer(nn.Module):
    def __init__(self, ch: int, heads: int, head_dim: int, depth: int, context_dim: int, linear: bool) -> None:
        super().__init__()
        inner = heads * head_dim
        self.linear = linear
        self.norm = ops.GroupNorm(32, ch, eps=1e-6)
        self.proj_in = ops.Linear(ch, inner) if linear else ops.Conv2d(ch, inner, 1)
        self.transformer_blocks = nn.ModuleList(
            [TransformerBlock(inner, heads, head_dim, context_dim) for _ in range(depth)])
        self.proj_out = ops.Linear(inner, ch) if linear else ops.Conv2d(inner, ch, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        b, _c, h, w = x.shape
        x_in = x
        x = self.norm(x)
        if not self.linear:
            x = self.proj_in(x)
        x = x.movedim(1, 3).flatten(1, 2).contiguous()
        if self.linear:
            x = self.proj_in(x)
        for block in self.transformer_blocks:
            x = block(x, context)
        if self.linear:
            x = self.proj_out(x)
        x = x.reshape(b, h, w, x.shape[-1]).movedim(3, 1).contiguous()
        if not self.linear:
            x = self.proj_out(x)
        return x + x_in


class Block(nn.Sequential):
    """One `input_blocks`/`middle_block`/`output_blocks` entry: layers that may take emb/context."""

    def run(self, x: torch.Tensor, emb: torch.Tensor, context: torch.Tensor | None,
            out_size: tuple[int, int] | None = None) -> torch.Tensor:
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context)
            elif isinstance(layer, Upsample):
                x = layer(x, out_size)
            else:
                x = layer(x)
        return x


def _apply_control(h: torch.Tensor, control: dict | None, name: str) -> torch.Tensor:
    if control is not None and control.get(name):
        residual = control[name].pop()
        if residual is not None:
            h = h + residual
    return h


class UNetModel(nn.Module):
    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.config = cfg
        mc = cfg.model_channels
        emb_ch = mc * 4
        self.time_embed = nn.Sequential(ops.Linear(mc, emb_ch), nn.SiLU(), ops.Linear(emb_ch, emb_ch))
        if cfg.adm_in_channels is not None:
            self.label_emb = nn.Sequential(nn.Sequential(
                ops.Linear(cfg.adm_in_channels, emb_ch), nn.SiLU(), ops.Linear(emb_ch, emb_ch)))

        def attn(ch: int, depth: int) -> SpatialTransformer:
            heads, head_dim = cfg.heads(ch)
            return SpatialTransformer(ch, heads, head_dim, depth, cfg.context_dim or ch, cfg.use_linear_in_transformer)

        depth_in = list(cfg.transformer_depth)
        depth_out = list(cfg.transformer_depth_output)
        self.input_blocks = nn.ModuleList([Block(ops.Conv2d(cfg.in_channels, mc, 3, padding=1))])
        skips = [mc]
        ch = mc
        last = len(cfg.channel_mult) - 1
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks[level]):
                layers: list[nn.Module] = [ResBlock(ch, emb_ch, mult * mc)]
                ch = mult * mc
                depth = depth_in.pop(0)
                if depth > 0:
                    layers.append(attn(ch, depth))
                self.input_blocks.append(Block(*layers))
                skips.append(ch)
            if level != last:
                self.input_blocks.append(Block(Downsample(ch)))
                skips.append(ch)

        self.middle_block: Block | None = None
        if cfg.transformer_depth_middle >= -1:
            mid: list[nn.Module] = [ResBlock(ch, emb_ch, ch)]
            if cfg.transformer_depth_middle >= 0:
                mid += [attn(ch, cfg.transformer_depth_middle), ResBlock(ch, emb_ch, ch)]
            self.middle_block = Block(*mid)

        self.output_blocks = nn.ModuleList()
        for level in reversed(range(len(cfg.channel_mult))):
            mult = cfg.channel_mult[level]
            for i in range(cfg.num_res_blocks[level] + 1):
                layers = [ResBlock(ch + skips.pop(), emb_ch, mc * mult)]
                ch = mc * mult
                depth = depth_out.pop()
                if depth > 0:
                    layers.append(attn(ch, depth))
                if level and i == cfg.num_res_blocks[level]:
                    layers.append(Upsample(ch))
                self.output_blocks.append(Block(*layers))
        self.out = nn.Sequential(ops.GroupNorm(32, ch), nn.SiLU(), ops.Conv2d(mc, cfg.out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor | None = None,
                y: torch.Tensor | None = None, control: dict | None = None) -> torch.Tensor:
        if (y is not None) != (self.config.adm_in_channels is not None):
            raise ValueError("an ADM vector `y` is required exactly by models with label_emb (SDXL)")
        emb = self.time_embed(timestep_embedding(timesteps, self.config.model_channels).to(x.dtype))
        if y is not None:
            emb = emb + self.label_emb(y)
        skips = []
        h = x
        for block in self.input_blocks:
            h = block.run(h, emb, context)
            h = _apply_control(h, control, "input")
            skips.append(h)
        if self.middle_block is not None:
            h = self.middle_block.run(h, emb, context)
        h = _apply_control(h, control, "middle")
        for block in self.output_blocks:
            skip = _apply_control(skips.pop(), control, "output")
            h = torch.cat([h, skip], dim=1)
            size = (skips[-1].shape[2], skips[-1].shape[3]) if skips else None
            h = block.run(h, emb, context, size)
        return self.out(h.type(x.dtype))


def build(sd: dict[str, torch.Tensor], cfg: UNetConfig, storage_dtype: torch.dtype) -> UNetModel:
    """A UNet holding `sd` (LDM keys, no prefix) converted to `storage_dtype`."""
    with torch.device("meta"):
        model = UNetModel(cfg)
    ops.load_weights(model, {k: v.to(storage_dtype) for k, v in sd.items()}, "diffusion model")
    return model.eval()
