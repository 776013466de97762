"""Random-weight Stable Diffusion checkpoints for tests, generated on demand and cached.

No weights are downloaded or committed: a checkpoint is built from a fixed seed with NumPy's PCG64
generator (a stream that does not depend on the torch version, so ComfyUI's venv and ours read the
same file) and saved with safetensors. The files are large (about 0.5 GB), so they are written once
per machine under `TOUCAN_NB_TEST_CACHE` (default `~/.cache/toucan_nb-tests`), never in the repository.

The SD1.x checkpoint has the single-file layout of the original release: the UNet under
`model.diffusion_model.` with `model_channels` 320 and `context_dim` 768 (what ComfyUI detects as
SD15) but only two levels, the complete CLIP ViT-L/14 text encoder under
`cond_stage_model.transformer.text_model.` and the complete KL-f8 autoencoder under
`first_stage_model.`. Random weights saturate images, so the UNet's last convolution is scaled
down; tests should still check that a decoded image varies.

Pure NumPy + safetensors: scripts that record reference values run it under another interpreter
(a ComfyUI checkout's venv) and get a byte-identical file. Any thread; writes are atomic renames.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Bump when the layout or the fill changes: the cache key and every recorded golden depend on it.
GENERATOR_VERSION = 1

Shape = tuple[int, ...]


def cache_dir() -> Path:
    root = os.environ.get("TOUCAN_NB_TEST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "toucan_nb-tests")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- layouts: (key, shape) in a fixed order ------------------------------------------------------

@dataclass(frozen=True)
class UNetLayout:
    """The shape-defining settings of an LDM UNet (the `openaimodel` layout)."""

    model_channels: int = 320
    channel_mult: tuple[int, ...] = (1, 2)
    num_res_blocks: int = 1
    attention_levels: tuple[int, ...] = (0, 1)
    transformer_depth: int = 1
    context_dim: int = 768
    in_channels: int = 4
    out_channels: int = 4
    adm_in_channels: int | None = None
    use_linear_in_transformer: bool = False
    # Per-level transformer depths (SDXL: 0, 2, 10); when set, they replace attention_levels and
    # transformer_depth, and the middle block takes the last level's depth unless middle_depth says.
    level_depths: tuple[int, ...] | None = None
    middle_depth: int | None = None

    def depth_at(self, level: int) -> int:
        if self.level_depths is not None:
            return self.level_depths[level]
        return self.transformer_depth if level in self.attention_levels else 0

    def depth_middle(self) -> int:
        if self.middle_depth is not None:
            return self.middle_depth
        return self.level_depths[-1] if self.level_depths is not None else self.transformer_depth


def _group_norm(prefix: str, ch: int) -> Iterator[tuple[str, Shape]]:
    yield f"{prefix}.weight", (ch,)
    yield f"{prefix}.bias", (ch,)


def _conv(prefix: str, out_ch: int, in_ch: int, k: int, bias: bool = True) -> Iterator[tuple[str, Shape]]:
    yield f"{prefix}.weight", (out_ch, in_ch, k, k)
    if bias:
        yield f"{prefix}.bias", (out_ch,)


def _linear(prefix: str, out_f: int, in_f: int, bias: bool = True) -> Iterator[tuple[str, Shape]]:
    yield f"{prefix}.weight", (out_f, in_f)
    if bias:
        yield f"{prefix}.bias", (out_f,)


def _res_block(prefix: str, ch_in: int, ch_out: int, emb: int) -> Iterator[tuple[str, Shape]]:
    yield from _group_norm(f"{prefix}.in_layers.0", ch_in)
    yield from _conv(f"{prefix}.in_layers.2", ch_out, ch_in, 3)
    yield from _linear(f"{prefix}.emb_layers.1", ch_out, emb)
    yield from _group_norm(f"{prefix}.out_layers.0", ch_out)
    yield from _conv(f"{prefix}.out_layers.3", ch_out, ch_out, 3)
    if ch_in != ch_out:
        yield from _conv(f"{prefix}.skip_connection", ch_out, ch_in, 1)


def _spatial_transformer(prefix: str, ch: int, layout: UNetLayout, depth: int) -> Iterator[tuple[str, Shape]]:
    yield from _group_norm(f"{prefix}.norm", ch)
    if layout.use_linear_in_transformer:
        yield from _linear(f"{prefix}.proj_in", ch, ch)
    else:
        yield from _conv(f"{prefix}.proj_in", ch, ch, 1)
    for d in range(depth):
        block = f"{prefix}.transformer_blocks.{d}"
        for attn, kv_dim in (("attn1", ch), ("attn2", layout.context_dim)):
            yield from _linear(f"{block}.{attn}.to_q", ch, ch, bias=False)
            yield from _linear(f"{block}.{attn}.to_k", ch, kv_dim, bias=False)
            yield from _linear(f"{block}.{attn}.to_v", ch, kv_dim, bias=False)
            yield from _linear(f"{block}.{attn}.to_out.0", ch, ch)
        yield from _linear(f"{block}.ff.net.0.proj", ch * 8, ch)  # GEGLU: two halves of 4 * ch
        yield from _linear(f"{block}.ff.net.2", ch, ch * 4)
        for norm in ("norm1", "norm2", "norm3"):
            yield from _group_norm(f"{block}.{norm}", ch)  # LayerNorm: same two vectors
    if layout.use_linear_in_transformer:
        yield from _linear(f"{prefix}.proj_out", ch, ch)
    else:
        yield from _conv(f"{prefix}.proj_out", ch, ch, 1)


def unet_layout(layout: UNetLayout, prefix: str = "model.diffusion_model") -> Iterator[tuple[str, Shape]]:
    mc = layout.model_channels
    emb = mc * 4
    yield from _linear(f"{prefix}.time_embed.0", emb, mc)
    yield from _linear(f"{prefix}.time_embed.2", emb, emb)
    if layout.adm_in_channels is not None:
        yield from _linear(f"{prefix}.label_emb.0.0", emb, layout.adm_in_channels)
        yield from _linear(f"{prefix}.label_emb.0.2", emb, emb)
    yield from _conv(f"{prefix}.input_blocks.0.0", mc, layout.in_channels, 3)
    skip_chans = [mc]
    ch, n = mc, 1
    last = len(layout.channel_mult) - 1
    for level, mult in enumerate(layout.channel_mult):
        for _ in range(layout.num_res_blocks):
            yield from _res_block(f"{prefix}.input_blocks.{n}.0", ch, mc * mult, emb)
            ch = mc * mult
            if layout.depth_at(level):
                yield from _spatial_transformer(f"{prefix}.input_blocks.{n}.1", ch, layout, layout.depth_at(level))
            skip_chans.append(ch)
            n += 1
        if level != last:
            yield from _conv(f"{prefix}.input_blocks.{n}.0.op", ch, ch, 3)
            skip_chans.append(ch)
            n += 1
    yield from _res_block(f"{prefix}.middle_block.0", ch, ch, emb)
    yield from _spatial_transformer(f"{prefix}.middle_block.1", ch, layout, layout.depth_middle())
    yield from _res_block(f"{prefix}.middle_block.2", ch, ch, emb)
    n = 0
    for level in reversed(range(len(layout.channel_mult))):
        mult = layout.channel_mult[level]
        for i in range(layout.num_res_blocks + 1):
            yield from _res_block(f"{prefix}.output_blocks.{n}.0", ch + skip_chans.pop(), mc * mult, emb)
            ch = mc * mult
            part = 1
            if layout.depth_at(level):
                yield from _spatial_transformer(f"{prefix}.output_blocks.{n}.1", ch, layout, layout.depth_at(level))
                part = 2
            if level != 0 and i == layout.num_res_blocks:
                yield from _conv(f"{prefix}.output_blocks.{n}.{part}.conv", ch, ch, 3)
            n += 1
    yield from _group_norm(f"{prefix}.out.0", ch)
    yield from _conv(f"{prefix}.out.2", layout.out_channels, ch, 3)


def clip_l_layout(prefix: str = "cond_stage_model.transformer.text_model", layers: int = 12) -> Iterator[tuple[str, Shape]]:
    """CLIP ViT-L/14's text transformer in the `transformers` key layout (`layers` may be reduced)."""
    width, vocab, positions = 768, 49408, 77
    yield f"{prefix}.embeddings.token_embedding.weight", (vocab, width)
    yield f"{prefix}.embeddings.position_embedding.weight", (positions, width)
    for i in range(layers):
        layer = f"{prefix}.encoder.layers.{i}"
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            yield from _linear(f"{layer}.self_attn.{proj}", width, width)
        yield from _group_norm(f"{layer}.layer_norm1", width)
        yield from _linear(f"{layer}.mlp.fc1", width * 4, width)
        yield from _linear(f"{layer}.mlp.fc2", width, width * 4)
        yield from _group_norm(f"{layer}.layer_norm2", width)
    yield from _group_norm(f"{prefix}.final_layer_norm", width)


def openclip_layout(prefix: str, width: int, layers: int) -> Iterator[tuple[str, Shape]]:
    """An OpenCLIP text tower (ViT-H: width 1024, ViT-bigG: 1280) in OpenCLIP's own key layout."""
    yield f"{prefix}.token_embedding.weight", (49408, width)
    yield f"{prefix}.positional_embedding", (77, width)
    for i in range(layers):
        block = f"{prefix}.transformer.resblocks.{i}"
        yield f"{block}.ln_1.weight", (width,)
        yield f"{block}.ln_1.bias", (width,)
        yield f"{block}.attn.in_proj_weight", (3 * width, width)
        yield f"{block}.attn.in_proj_bias", (3 * width,)
        yield from _linear(f"{block}.attn.out_proj", width, width)
        yield f"{block}.ln_2.weight", (width,)
        yield f"{block}.ln_2.bias", (width,)
        yield from _linear(f"{block}.mlp.c_fc", width * 4, width)
        yield from _linear(f"{block}.mlp.c_proj", width, width * 4)
    yield f"{prefix}.ln_final.weight", (width,)
    yield f"{prefix}.ln_final.bias", (width,)
    yield f"{prefix}.text_projection", (width, width)


def _vae_res_block(prefix: str, ch_in: int, ch_out: int) -> Iterator[tuple[str, Shape]]:
    yield from _group_norm(f"{prefix}.norm1", ch_in)
    yield from _conv(f"{prefix}.conv1", ch_out, ch_in, 3)
    yield from _group_norm(f"{prefix}.norm2", ch_out)
    yield from _conv(f"{prefix}.conv2", ch_out, ch_out, 3)
    if ch_in != ch_out:
        yield from _conv(f"{prefix}.nin_shortcut", ch_out, ch_in, 1)


def _vae_mid(prefix: str, ch: int) -> Iterator[tuple[str, Shape]]:
    yield from _vae_res_block(f"{prefix}.block_1", ch, ch)
    yield from _group_norm(f"{prefix}.attn_1.norm", ch)
    for proj in ("q", "k", "v", "proj_out"):
        yield from _conv(f"{prefix}.attn_1.{proj}", ch, ch, 1)
    yield from _vae_res_block(f"{prefix}.block_2", ch, ch)


def vae_layout(prefix: str = "first_stage_model") -> Iterator[tuple[str, Shape]]:
    """The KL-f8 autoencoder of SD1.x/SD2.x/SDXL (ch 128, mult 1,2,4,4, two res blocks, z 4)."""
    ch, mult, blocks, z = 128, (1, 2, 4, 4), 2, 4
    yield from _conv(f"{prefix}.encoder.conv_in", ch, 3, 3)
    block_in = ch
    for level, m in enumerate(mult):
        block_out = ch * m
        for j in range(blocks):
            yield from _vae_res_block(f"{prefix}.encoder.down.{level}.block.{j}", block_in, block_out)
            block_in = block_out
        if level != len(mult) - 1:
            yield from _conv(f"{prefix}.encoder.down.{level}.downsample.conv", block_in, block_in, 3)
    yield from _vae_mid(f"{prefix}.encoder.mid", block_in)
    yield from _group_norm(f"{prefix}.encoder.norm_out", block_in)
    yield from _conv(f"{prefix}.encoder.conv_out", 2 * z, block_in, 3)
    block_in = ch * mult[-1]
    yield from _conv(f"{prefix}.decoder.conv_in", block_in, z, 3)
    yield from _vae_mid(f"{prefix}.decoder.mid", block_in)
    for level in reversed(range(len(mult))):
        block_out = ch * mult[level]
        for j in range(blocks + 1):
            yield from _vae_res_block(f"{prefix}.decoder.up.{level}.block.{j}", block_in, block_out)
            block_in = block_out
        if level != 0:
            yield from _conv(f"{prefix}.decoder.up.{level}.upsample.conv", block_in, block_in, 3)
    yield from _group_norm(f"{prefix}.decoder.norm_out", block_in)
    yield from _conv(f"{prefix}.decoder.conv_out", 3, block_in, 3)
    yield from _conv(f"{prefix}.quant_conv", 2 * z, 2 * z, 1)
    yield from _conv(f"{prefix}.post_quant_conv", z, z, 1)


# -- filling ---------------------------------------------------------------------------------------

def _is_norm(key: str) -> bool:
    """GroupNorm and LayerNorm parameters (their weight and bias vectors)."""
    module = key.rsplit(".", 1)[0]
    last = module.rsplit(".", 1)[-1]
    return ("norm" in last) or last.startswith("ln_") or module.endswith(("in_layers.0", "out_layers.0", "diffusion_model.out.0"))


def _fill(key: str, shape: Shape, rng: np.random.Generator, out_scale: dict[str, float]) -> np.ndarray:
    """Weights that keep activations of order one: norms 1/0, matrices ~ N(0, 1/fan_in)."""
    if _is_norm(key) and len(shape) == 1:
        if key.endswith(".weight"):
            return (1.0 + 0.1 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)
        return (0.1 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)
    if key.endswith((".bias", "_bias")):
        return (0.02 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)
    if "embedding" in key:
        return (0.02 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    scale = 1.0 / np.sqrt(fan_in)
    for suffix, factor in out_scale.items():
        if key.endswith(suffix):
            scale *= factor
    return (scale * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)


def build_state_dict(layout: list[tuple[str, Shape]], seed: int, dtype: np.dtype,
                     out_scale: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    rng = np.random.Generator(np.random.PCG64(seed))
    return {key: _fill(key, shape, rng, out_scale or {}).astype(dtype) for key, shape in layout}


def _write(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    from safetensors.numpy import save_file

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def file_digest(path: Path) -> str:
    """sha256 of a file, for pinning a generated checkpoint in recorded goldens."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -- the checkpoints tests use ---------------------------------------------------------------------

SD15_SEED = 1505
SD15_UNET = UNetLayout()
# The UNet's last convolution, scaled so that random eps predictions do not blow the latent up.
SD15_OUT_SCALE = {"model.diffusion_model.out.2.weight": 0.05}


def sd15_layout() -> list[tuple[str, Shape]]:
    return [*unet_layout(SD15_UNET), *clip_l_layout(), *vae_layout()]


def sd15_checkpoint(directory: Path | None = None) -> Path:
    """The random SD1.x single-file checkpoint (fp16 safetensors, ~0.6 GB), built once and cached."""
    path = (directory or cache_dir()) / f"toucan-test-sd15-v{GENERATOR_VERSION}.safetensors"
    if not path.exists():
        tensors = build_state_dict(sd15_layout(), SD15_SEED, np.dtype(np.float16), SD15_OUT_SCALE)
        _write(path, tensors, {"generator": f"toucan_nb tests v{GENERATOR_VERSION}"})
    return path


SD15_LORA_SEED = 2024
SD15_LORA_RANK = 4


def sd15_lora_layout(rank: int = SD15_LORA_RANK) -> list[tuple[str, Shape]]:
    """A kohya-format LoRA over the test checkpoint: every attention projection of the UNet and
    the q/v projections of every CLIP layer, `lora_down` (rank, in), `lora_up` (out, rank), alpha."""
    out: list[tuple[str, Shape]] = []
    for key, shape in unet_layout(SD15_UNET, prefix="unet"):
        if ".attn" in key and key.endswith(".weight") and len(shape) == 2:
            name = "lora_unet_" + key[len("unet."):-len(".weight")].replace(".", "_")
            out += [(f"{name}.lora_down.weight", (rank, shape[1])), (f"{name}.lora_up.weight", (shape[0], rank)),
                    (f"{name}.alpha", ())]
    for key, shape in clip_l_layout(prefix="text_model"):
        if key.endswith(("q_proj.weight", "v_proj.weight")):
            name = "lora_te_" + key[:-len(".weight")].replace(".", "_")
            out += [(f"{name}.lora_down.weight", (rank, shape[1])), (f"{name}.lora_up.weight", (shape[0], rank)),
                    (f"{name}.alpha", ())]
    return out


def sd15_lora(directory: Path | None = None) -> Path:
    """A random kohya LoRA for the test checkpoint (fp16 safetensors, a few MB), built once and cached."""
    path = (directory or cache_dir()) / f"toucan-test-sd15-lora-v{GENERATOR_VERSION}.safetensors"
    if not path.exists():
        rng = np.random.Generator(np.random.PCG64(SD15_LORA_SEED))
        tensors: dict[str, np.ndarray] = {}
        for key, shape in sd15_lora_layout():
            if key.endswith(".alpha"):
                tensors[key] = np.array(SD15_LORA_RANK / 2, dtype=np.float16)
            else:
                fan_in = shape[1]
                tensors[key] = (rng.standard_normal(shape, dtype=np.float32) / np.sqrt(fan_in)).astype(np.float16)
        _write(path, tensors, {"ss_network_module": "networks.lora", "generator": f"toucan_nb tests v{GENERATOR_VERSION}"})
    return path


# -- reduced SD2 and SDXL checkpoints --------------------------------------------------------------
# Text towers keep their full width (what tells CLIP-L, OpenCLIP-H and bigG apart) and the whole
# vocabulary, but only three layers (the fewest with which ComfyUI's penultimate-layer models can
# be built); the UNets are small. Neither file has a VAE. ComfyUI detects the SD2 file as SD20 on its
# own (its rules need model_channels 320, which a one-level UNet affords); the SDXL UNet is too small
# for ComfyUI's exact SDXL depth rule, so reference scripts build ComfyUI's SDXL model around it.

REDUCED_TEXT_LAYERS = 3

SD2_SEED = 2102
SD2_UNET = UNetLayout(model_channels=320, channel_mult=(1,), num_res_blocks=1, attention_levels=(0,),
                      context_dim=1024, use_linear_in_transformer=True)


def sd2_layout() -> list[tuple[str, Shape]]:
    return [*unet_layout(SD2_UNET), *openclip_layout("cond_stage_model.model", 1024, REDUCED_TEXT_LAYERS)]


def sd2_checkpoint(directory: Path | None = None) -> Path:
    """A reduced SD2.x checkpoint (one-level UNet, 3-layer OpenCLIP-H, no VAE; fp16, ~0.2 GB)."""
    path = (directory or cache_dir()) / f"toucan-test-sd2-v{GENERATOR_VERSION}.safetensors"
    if not path.exists():
        tensors = build_state_dict(sd2_layout(), SD2_SEED, np.dtype(np.float16), SD15_OUT_SCALE)
        _write(path, tensors, {"generator": f"toucan_nb tests v{GENERATOR_VERSION}"})
    return path


SDXL_SEED = 2816
SDXL_UNET = UNetLayout(model_channels=64, channel_mult=(1, 2), num_res_blocks=1, level_depths=(0, 2),
                       context_dim=2048, use_linear_in_transformer=True, adm_in_channels=2816)


def sdxl_layout() -> list[tuple[str, Shape]]:
    return [*unet_layout(SDXL_UNET),
            *clip_l_layout("conditioner.embedders.0.transformer.text_model", layers=REDUCED_TEXT_LAYERS),
            *openclip_layout("conditioner.embedders.1.model", 1280, REDUCED_TEXT_LAYERS)]


def sdxl_checkpoint(directory: Path | None = None) -> Path:
    """A reduced SDXL checkpoint (small UNet with SDXL's widths, 3-layer CLIP-L and bigG, no VAE; ~0.4 GB)."""
    path = (directory or cache_dir()) / f"toucan-test-sdxl-v{GENERATOR_VERSION}.safetensors"
    if not path.exists():
        tensors = build_state_dict(sdxl_layout(), SDXL_SEED, np.dtype(np.float16), SD15_OUT_SCALE)
        _write(path, tensors, {"generator": f"toucan_nb tests v{GENERATOR_VERSION}"})
    return path


def sdxl_checkpoint_with_vae(directory: Path | None = None) -> Path:
    """`sdxl_checkpoint` plus a KL-f8 autoencoder under `first_stage_model.` (~0.6 GB), for graphs
    that decode with the checkpoint's own VAE (an SDXL template run from the browser). Its UNet and
    text encoders are those of `sdxl_checkpoint`: the same stream, with the VAE drawn after them."""
    path = (directory or cache_dir()) / f"toucan-test-sdxl-vae-v{GENERATOR_VERSION}.safetensors"
    if not path.exists():
        tensors = build_state_dict([*sdxl_layout(), *vae_layout()], SDXL_SEED, np.dtype(np.float16),
                                   SD15_OUT_SCALE)
        _write(path, tensors, {"generator": f"toucan_nb tests v{GENERATOR_VERSION}"})
    return path

# -- full-size layouts (keys and shapes only, for detection tests) ----------------------------------

FULL_UNETS = {
    "sd15": UNetLayout(channel_mult=(1, 2, 4, 4), num_res_blocks=2, attention_levels=(0, 1, 2)),
    "sd15_inpaint": UNetLayout(channel_mult=(1, 2, 4, 4), num_res_blocks=2, attention_levels=(0, 1, 2), in_channels=9),
    "sd2": UNetLayout(channel_mult=(1, 2, 4, 4), num_res_blocks=2, attention_levels=(0, 1, 2), context_dim=1024,
                      use_linear_in_transformer=True),
    "sdxl": UNetLayout(channel_mult=(1, 2, 4), num_res_blocks=2, level_depths=(0, 2, 10), context_dim=2048,
                       use_linear_in_transformer=True, adm_in_channels=2816),
    "sdxl_inpaint": UNetLayout(channel_mult=(1, 2, 4), num_res_blocks=2, level_depths=(0, 2, 10), context_dim=2048,
                               use_linear_in_transformer=True, adm_in_channels=2816, in_channels=9),
    "sdxl_refiner": UNetLayout(model_channels=384, channel_mult=(1, 2, 4, 4), num_res_blocks=2,
                               level_depths=(0, 4, 4, 0), middle_depth=4, context_dim=1280,
                               use_linear_in_transformer=True, adm_in_channels=2560),
}


def full_unet_layout(name: str, prefix: str = "model.diffusion_model") -> list[tuple[str, Shape]]:
    """The UNet keys and shapes of a released model family (no weights)."""
    return list(unet_layout(FULL_UNETS[name], prefix=prefix))


# -- more test files: a second LoRA, textual inversions ---------------------------------------------

SD15_LOCON_SEED = 4242
SD15_LOCON_RANK = 2


def sd15_locon_layout(rank: int = SD15_LOCON_RANK) -> list[tuple[str, Shape]]:
    """A LoCon over the test checkpoint in mixed naming: kohya names of the diffusers modules for the
    resnets' 3x3 convs (conv `lora_down` [rank, in, 3, 3], `lora_up` [out, rank, 1, 1]) and the
    transformers' 1x1 `proj_in`, diffusers/PEFT names (`lora_A`/`lora_B`) for the text encoder's MLPs,
    plus two entries no model has (which must be ignored)."""
    out: list[tuple[str, Shape]] = []
    shapes = dict(unet_layout(SD15_UNET, prefix="unet"))
    convs = {"down_blocks_0_resnets_0_conv1": "unet.input_blocks.1.0.in_layers.2.weight",
             "down_blocks_1_resnets_0_conv2": "unet.input_blocks.3.0.out_layers.3.weight",
             "up_blocks_0_resnets_1_conv1": "unet.output_blocks.1.0.in_layers.2.weight",
             "mid_block_resnets_0_conv2": "unet.middle_block.0.out_layers.3.weight",
             "down_blocks_0_attentions_0_proj_in": "unet.input_blocks.1.1.proj_in.weight"}
    for name, ldm in convs.items():
        o, i, kh, kw = shapes[ldm]
        stem = f"lora_unet_{name}"
        out += [(f"{stem}.lora_down.weight", (rank, i, kh, kw)), (f"{stem}.lora_up.weight", (o, rank, 1, 1)),
                (f"{stem}.alpha", ())]
    for i in range(12):
        for fc, (o, inp) in (("fc1", (3072, 768)), ("fc2", (768, 3072))):
            stem = f"text_encoder.text_model.encoder.layers.{i}.mlp.{fc}"
            out += [(f"{stem}.lora_A.weight", (rank, inp)), (f"{stem}.lora_B.weight", (o, rank))]
    out += [("lora_unet_no_such_block.lora_down.weight", (rank, 8)), ("lora_unet_no_such_block.lora_up.weight", (8, rank)),
            ("lora_te_text_model_encoder_layers_99_mlp_fc1.alpha", ())]
    return out


def sd15_locon(directory: Path | None = None) -> Path:
    """The LoCon of `sd15_locon_layout` (fp16 safetensors, about 1 MB), built once and cached."""
    path = (directory or cache_dir()) / f"toucan-test-sd15-locon-v{GENERATOR_VERSION}.safetensors"
    if not path.exists():
        rng = np.random.Generator(np.random.PCG64(SD15_LOCON_SEED))
        tensors: dict[str, np.ndarray] = {}
        for key, shape in sd15_locon_layout():
            if key.endswith(".alpha"):
                tensors[key] = np.array(1.5, dtype=np.float16)
            else:
                fan_in = int(np.prod(shape[1:]))
                tensors[key] = (rng.standard_normal(shape, dtype=np.float32) / np.sqrt(fan_in)).astype(np.float16)
        _write(path, tensors, {"generator": f"toucan_nb tests v{GENERATOR_VERSION}"})
    return path


EMBEDDING_SEED = 77


def embedding_rows(name: str) -> np.ndarray:
    """Textual-inversion rows for the test embeddings: `toucan-emb` (2 x 768), `toucan-emb-pt` (3 x 768)."""
    rows = {"toucan-emb": 2, "toucan-emb-pt": 3}[name]
    rng = np.random.Generator(np.random.PCG64(EMBEDDING_SEED + rows))
    return (0.02 * rng.standard_normal((rows, 768), dtype=np.float32)).astype(np.float32)


def write_embedding_safetensors(directory: Path) -> Path:
    """`toucan-emb.safetensors` in `directory` ({"emb_params": rows}, as most trainers save it)."""
    path = directory / "toucan-emb.safetensors"
    _write(path, {"emb_params": embedding_rows("toucan-emb")}, {})
    return path
