"""The KL autoencoder of SD1.x/SD2.x/SDXL (LDM keys: `encoder.*`, `decoder.*`, `(post_)quant_conv`).

ComfyUI's computation: residual blocks of GroupNorm(32, eps 1e-6) + SiLU + 3x3 convs with a 1x1
`nin_shortcut` where widths change, one single-head attention block (1x1-conv q/k/v, scale
C^-0.5) in each middle section, downsampling by zero-padding right/bottom then a stride-2 3x3
conv, upsampling by nearest x2 then a 3x3 conv. `encode` returns the posterior mean (the first
`z_channels` of `quant_conv`'s output), `decode` runs `post_quant_conv` then the decoder.
The shape (base width, multipliers, blocks per level, latent channels) comes from the weights, so
the 16-channel variants without quant convs load too. Built on `meta`; pure torch; executor thread.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from toucan_nb.diffusion import ops
from toucan_nb.diffusion.detection import VAEConfig


def _norm(ch: int) -> ops.GroupNorm:
    return ops.GroupNorm(32, ch, eps=1e-6)


class ResnetBlock(nn.Module):
    def __init__(self, ch_in: int, ch_out: int) -> None:
        super().__init__()
        self.norm1 = _norm(ch_in)
        self.conv1 = ops.Conv2d(ch_in, ch_out, 3, padding=1)
        self.norm2 = _norm(ch_out)
        self.conv2 = ops.Conv2d(ch_out, ch_out, 3, padding=1)
        if ch_in != ch_out:
            self.nin_shortcut = ops.Conv2d(ch_in, ch_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        if hasattr(self, "nin_shortcut"):
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.norm = _norm(ch)
        self.q = ops.Conv2d(ch, ch, 1)
        self.k = ops.Conv2d(ch, ch, 1)
        self.v = ops.Conv2d(ch, ch, 1)
        self.proj_out = ops.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        b, c, hh, ww = q.shape
        q, k, v = (t.reshape(b, 1, c, hh * ww).transpose(2, 3) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(2, 3).reshape(b, c, hh, ww)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = ops.Conv2d(ch, ch, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0))


class Upsample(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = ops.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Mid(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(ch, ch)
        self.attn_1 = AttnBlock(ch)
        self.block_2 = ResnetBlock(ch, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class _Level(nn.Module):
    def __init__(self, blocks: list[ResnetBlock]) -> None:
        super().__init__()
        self.block = nn.ModuleList(blocks)


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.conv_in = ops.Conv2d(3, cfg.ch, 3, padding=1)
        self.down = nn.ModuleList()
        ch = cfg.ch
        for i, mult in enumerate(cfg.ch_mult):
            blocks = []
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResnetBlock(ch, cfg.ch * mult))
                ch = cfg.ch * mult
            level = _Level(blocks)
            if i != len(cfg.ch_mult) - 1:
                level.downsample = Downsample(ch)
            self.down.append(level)
        self.mid = _Mid(ch)
        self.norm_out = _norm(ch)
        self.conv_out = ops.Conv2d(ch, 2 * cfg.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            for block in level.block:
                h = block(h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        ch = cfg.ch * cfg.ch_mult[-1]
        self.conv_in = ops.Conv2d(cfg.z_channels, ch, 3, padding=1)
        self.mid = _Mid(ch)
        levels: list[_Level] = []
        for i in reversed(range(len(cfg.ch_mult))):
            blocks = []
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResnetBlock(ch, cfg.ch * cfg.ch_mult[i]))
                ch = cfg.ch * cfg.ch_mult[i]
            level = _Level(blocks)
            if i != 0:
                level.upsample = Upsample(ch)
            levels.insert(0, level)
        self.up = nn.ModuleList(levels)
        self.norm_out = _norm(ch)
        self.conv_out = ops.Conv2d(ch, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for i in reversed(range(len(self.up))):
            level = self.up[i]
            for block in level.block:
                h = block(h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.config = cfg
        if cfg.has_encoder:
            self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        if cfg.has_quant_conv:
            if cfg.has_encoder:
                self.quant_conv = ops.Conv2d(2 * cfg.z_channels, 2 * cfg.embed_dim, 1)
            self.post_quant_conv = ops.Conv2d(cfg.embed_dim, cfg.z_channels, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> the posterior mean."""
        h = self.encoder(x)
        if self.config.has_quant_conv:
            h = self.quant_conv(h)
        return h.chunk(2, dim=1)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.config.has_quant_conv:
            z = self.post_quant_conv(z)
        return self.decoder(z)


def build(sd: dict[str, torch.Tensor], cfg: VAEConfig, storage_dtype: torch.dtype) -> AutoencoderKL:
    """An autoencoder holding `sd` (LDM keys) converted to `storage_dtype`."""
    with torch.device("meta"):
        model = AutoencoderKL(cfg)
    ops.load_weights(model, {k: v.to(storage_dtype) for k, v in sd.items()}, "VAE")
    return model.eval()
