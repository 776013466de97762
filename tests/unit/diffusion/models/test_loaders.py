"""Loaders: split files (UNETLoader, CLIPLoader, VAELoader), diffusers formats, .ckpt, weight dtypes,
the read-once cache and the error messages. Parts loaded another way must hold exactly the
checkpoint's weights (same network, same tensors -> same outputs). The small SDXL test UNet and
text towers keep this quick; the SD1 VAE is the only full-size part."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.support import checkpoints as ck
from tests.support.model_files import split_file, vae_to_diffusers
from toucan_nb.diffusion import files, keys, loaders
from toucan_nb.diffusion.detection import UnsupportedModelError
from toucan_nb.diffusion.ops import WeightsMismatchError
from toucan_nb.diffusion.vae import VAEUnavailableError


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.fixture(scope="module")
def parts_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("parts")


@pytest.fixture(scope="module")
def sdxl_unet_file(sdxl_path, parts_dir) -> Path:
    return split_file(Path(sdxl_path), keys.UNET_PREFIX, parts_dir, "sdxl-unet.safetensors")


def test_unet_files(sdxl, sdxl_unet_file, parts_dir):
    model = sdxl[0]
    loaded = loaders.load_diffusion_model(str(sdxl_unet_file))
    assert loaded.family.name == "SDXL" and loaded.unet_config == model.unet_config
    _same_weights(loaded.network, model.network)
    sd = load_file(str(sdxl_unet_file))
    diffusers = {d: sd[ldm] for d, ldm in keys.diffusers_names(model.unet_config, list(sd))
                 if not d.startswith("class_embedding.")}
    assert "add_embedding.linear_1.weight" in diffusers and "down_blocks.1.attentions.0.proj_in.weight" in diffusers
    save_file(diffusers, str(parts_dir / "diffusion_pytorch_model.safetensors"))
    _same_weights(loaders.load_diffusion_model(str(parts_dir / "diffusion_pytorch_model.safetensors")).network,
                  model.network)
    whole = loaders.load_diffusion_model(str(ck.sdxl_checkpoint()))  # a checkpoint given to UNETLoader
    _same_weights(whole.network, model.network)


def test_unet_dtypes_and_ckpt(sdxl, sdxl_unet_file, parts_dir):
    model = sdxl[0]
    sd = load_file(str(sdxl_unet_file))
    torch.save({"state_dict": {k: v.float() for k, v in sd.items()}}, parts_dir / "unet-fp32.ckpt")
    _same_weights(loaders.load_diffusion_model(str(parts_dir / "unet-fp32.ckpt")).network, model.network)
    save_file({k: v.to(torch.bfloat16) for k, v in sd.items()}, str(parts_dir / "unet-bf16.safetensors"))
    bf16 = loaders.load_diffusion_model(str(parts_dir / "unet-bf16.safetensors")).network.state_dict()
    for k, v in bf16.items():
        assert v.dtype == torch.float32 and torch.equal(v, sd[k].to(torch.bfloat16).float()), k
    fp8 = loaders.load_diffusion_model(str(sdxl_unet_file), weight_dtype="fp8_e4m3fn")
    assert fp8.network.out[2].weight.dtype == torch.float8_e4m3fn and fp8.dtype == torch.float32
    y = torch.zeros(1, 2816)
    out = fp8.apply_model(torch.zeros(1, 4, 4, 4), torch.tensor([10.0]), torch.zeros(1, 1, 2048), y=y)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_text_encoder_file(sdxl, sdxl_path, parts_dir):
    clip_file = split_file(Path(sdxl_path), "conditioner.embedders.0.transformer.", parts_dir, "clip_l.safetensors")
    clip = loaders.load_text_encoders([str(clip_file)], embedding_dirs=[])
    assert clip.kind == "sd1" and set(clip.tokenize("x")) == {"l"}
    _same_weights(clip.stack.tower("l"), sdxl[1].stack.tower("l"))
    with pytest.raises(UnsupportedModelError, match="not supported"):
        loaders.load_text_encoders([str(clip_file)], "sd3")


def test_vae_files(sd15, sd15_path, parts_dir):
    vae = sd15[2]
    ldm = split_file(Path(sd15_path), keys.VAE_PREFIX, parts_dir, "vae.safetensors")
    _same_weights(loaders.load_vae(str(ldm)).patcher.network.module, vae.patcher.network.module)
    diffusers = split_file(Path(sd15_path), keys.VAE_PREFIX, parts_dir, "vae-diffusers.safetensors",
                           rename=vae_to_diffusers)
    assert "decoder.mid_block.attentions.0.to_q.weight" in load_file(str(diffusers))
    _same_weights(loaders.load_vae(str(diffusers)).patcher.network.module, vae.patcher.network.module)
    sd = load_file(str(ldm))
    sd.pop("decoder.conv_out.bias")
    sd["decoder.extra.weight"] = torch.zeros(1)
    with pytest.raises(WeightsMismatchError, match=r"missing keys: decoder\.conv_out\.bias.*unexpected keys: decoder\.extra"):
        loaders.build_vae(sd)


def test_parts_are_read_once(sdxl_unet_file, fresh_cache):
    first = loaders.load_diffusion_model(str(sdxl_unet_file))
    assert loaders.load_diffusion_model(str(sdxl_unet_file)) is first and len(files.parts) == 1
    st = sdxl_unet_file.stat()
    os.utime(sdxl_unet_file, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert loaders.load_diffusion_model(str(sdxl_unet_file)) is not first, "a rewritten file is read again"


def test_checkpoint_parts_cached(sd15, sd15_path, embeddings_dir):
    again = loaders.load_checkpoint(sd15_path, embedding_dirs=[str(embeddings_dir)])
    assert all(a is b for a, b in zip(again, sd15, strict=True))


def test_errors(tmp_path):
    lora = tmp_path / "my_lora.safetensors"
    lora.write_bytes(ck.sd15_lora().read_bytes())
    with pytest.raises(RuntimeError, match=r"Could not detect model type of: .*my_lora(.|\n)*lora loader node"):
        loaders.load_checkpoint(str(lora))
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"\xff" * 64)
    with pytest.raises(ValueError, match="The safetensors file is corrupt or invalid"):
        loaders.load_vae(str(bogus))
    empty = loaders.build_vae({})
    with pytest.raises(VAEUnavailableError, match="VAE is invalid"):
        empty.decode(torch.zeros(1, 4, 2, 2))
