"""The SD1.x test checkpoint against ComfyUI's recorded outputs: tokens, conditioning, UNet, VAE,
inpainting inputs and LoRA (goldens/sd15.json; the inputs are the recorder's)."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch

from tests.support import checkpoints as ck
from toucan_nb.diffusion import loaders
from toucan_nb.diffusion import lora as lora_mod
from toucan_nb.diffusion.inpaint import encode_for_inpaint, inpaint_model_conditioning

from .goldens import assert_close, assert_image_close, assert_key_map, golden, rand, token_list

G = golden("sd15")


def test_detected_as_comfyui_does(sd15):
    model, clip, vae = sd15
    assert model.family.name == G["detected"] == "SD15"
    assert model.prediction.kind.upper() == G["model_type"]
    assert clip.kind == "sd1"
    assert vae.latent_channels == 4 and vae.downscale_ratio == 8


@pytest.mark.parametrize("name", ["plain", "weighted", "long", "empty", "embedding"])
def test_tokens(sd15, name, caplog):
    clip = sd15[1]
    with caplog.at_level(logging.WARNING):
        tokens = clip.tokenize(G["prompts"][name])
    assert token_list(tokens) == G["tokens"][name]
    if name == "embedding":
        assert "embedding:no-such-one does not exist" in caplog.text


@pytest.mark.parametrize("name", ["plain", "weighted", "long", "empty", "embedding"])
def test_conditioning(sd15, name):
    clip = sd15[1]
    cond = clip.encode_from_tokens_scheduled(clip.tokenize(G["prompts"][name]))
    assert len(cond) == 1 and set(cond[0][1]) == {"pooled_output"}
    assert_close(cond[0][0], G["cond"][name]["cond"], f"sd15 cond {name}")
    assert_close(cond[0][1]["pooled_output"], G["cond"][name]["pooled"], f"sd15 pooled {name}")


def test_clip_set_last_layer(sd15):
    clip = sd15[1]
    skip = clip.clone()
    skip.clip_layer(-2)
    assert clip.layer_idx is None
    cond = skip.encode_from_tokens_scheduled(skip.tokenize(G["prompts"]["plain"]))
    assert_close(cond[0][0], G["cond"]["plain_layer-2"]["cond"], "sd15 cond plain, CLIPSetLastLayer -2")
    assert_close(cond[0][1]["pooled_output"], G["cond"]["plain_layer-2"]["pooled"], "sd15 pooled, layer -2")


def test_unet_raw_output(sd15):
    model = sd15[0]
    x, ctx = rand(11, (3, 4, 8, 8)), rand(12, (3, 77, 768))
    out = model.apply_model(x, torch.tensor([999.0, 500.0, 1.0]), ctx)
    assert out.dtype == torch.float32 and out.std() > 0.01
    assert_close(out, G["unet"], "sd15 UNet output (t 999, 500, 1)")


def test_vae_decode_and_encode(sd15):
    vae = sd15[2]
    image = vae.decode(rand(21, (1, 4, 8, 8)))
    assert image.shape == (1, 64, 64, 3) and image.min() >= 0 and image.max() <= 1
    assert image.std() > 0.05, "random weights must still give a varied image"
    assert_image_close(image, G["vae"]["decode"], "sd15 VAE decode")
    assert_close(vae.encode(rand(22, (1, 64, 64, 3), "uniform")), G["vae"]["encode"], "sd15 VAE encode")


def test_vae_tiled(sd15):
    vae = sd15[2]
    ticks = []
    image = vae.decode_tiled(rand(26, (1, 4, 6, 6)), tile_x=8, tile_y=8, overlap=2,
                             progress=lambda done, total: ticks.append((done, total)))
    assert ticks[-1] == (5, 5)  # 2 + 2 tiles and one whole pass
    assert_image_close(image, G["vae"]["decode_tiled"], "sd15 VAE decode tiled")
    ticks.clear()
    odd = rand(23, (1, 36, 44, 4), "uniform")
    latent = vae.encode_tiled(odd, tile_x=32, tile_y=32, overlap=8, progress=lambda d, t: ticks.append((d, t)))
    assert latent.shape == (1, 4, 4, 5) and ticks[-1] == (9, 9)
    assert_close(latent, G["vae"]["encode_tiled"], "sd15 VAE encode tiled (36x44 RGBA, cropped)")


def test_inpaint_inputs(sd15):
    _, clip, vae = sd15
    pixels = rand(24, (1, 28, 36, 3), "uniform")
    mask = rand(25, (1, 14, 18), "uniform")
    mask[:, 3:10, 4:12] = 1.0
    mask = (mask > 0.7).float() * 0.8 + 0.1
    expected = G["inpaint"]
    latent = encode_for_inpaint(vae, pixels, mask, grow_mask_by=6)
    assert_close(latent["samples"], expected["encode_for_inpaint"]["samples"], "sd15 VAEEncodeForInpaint samples")
    assert_close(latent["noise_mask"], expected["encode_for_inpaint"]["noise_mask"], "sd15 VAEEncodeForInpaint mask")
    cond = clip.encode_from_tokens_scheduled(clip.tokenize("a cat"))
    pos, neg, latent = inpaint_model_conditioning(cond, cond, pixels, vae, mask, noise_mask=True)
    assert "concat_latent_image" not in cond[0][1], "the input conditioning must not change"
    for entry in (pos[0][1], neg[0][1]):
        assert_close(entry["concat_latent_image"], expected["model_conditioning"]["concat_latent_image"],
                     "sd15 InpaintModelConditioning concat latent")
        assert_close(entry["concat_mask"], expected["model_conditioning"]["concat_mask"],
                     "sd15 InpaintModelConditioning mask")
    assert_close(latent["samples"], expected["model_conditioning"]["samples"], "sd15 InpaintModelConditioning samples")
    assert_close(latent["noise_mask"], expected["model_conditioning"]["noise_mask"], "sd15 InpaintModelConditioning noise_mask")


@pytest.fixture(scope="module")
def lora_files() -> tuple[dict, dict]:
    assert ck.file_digest(ck.sd15_lora()) == G["files"]["lora"]
    assert ck.file_digest(ck.sd15_locon()) == G["files"]["locon"]
    return loaders.load_lora(str(ck.sd15_lora())), loaders.load_lora(str(ck.sd15_locon()))


def test_lora_variants(sd15, lora_files, caplog):
    model, clip, _ = sd15
    lora, locon = lora_files
    with caplog.at_level(logging.WARNING):
        m1, c1 = lora_mod.load_lora_for_models(model, clip, lora, 1.0, 1.0)
        m05, c05 = lora_mod.load_lora_for_models(model, clip, lora, 0.5, 0.5)
        m2, c2 = lora_mod.load_lora_for_models(m1, c1, locon, 0.8, 0.7)
    # Unknown entries are logged and skipped, exactly the ones ComfyUI skips.
    assert sorted({r.getMessage() for r in caplog.records if "lora key not loaded" in r.getMessage()}) == G["lora_log"]
    assert not model.patcher.patches and not clip.patcher.patches, "inputs must not change"
    assert len(m2.patcher.patches) > len(m1.patcher.patches)
    x, ctx, t = rand(11, (3, 4, 8, 8))[1:2], rand(12, (3, 77, 768))[1:2], torch.tensor([500.0])
    for name, (m, c) in {"lora_1.0": (m1, c1), "lora_0.5": (m05, c05), "stacked": (m2, c2)}.items():
        assert_close(m.apply_model(x, t, ctx), G["lora"][name]["unet"], f"sd15 LoRA {name} UNet")
        cond = c.encode_from_tokens_scheduled(c.tokenize(G["prompts"]["plain"]))
        assert_close(cond[0][0], G["lora"][name]["cond"], f"sd15 LoRA {name} cond")


def test_lora_strength_zero_and_unpatching(sd15, lora_files):
    model, clip, _ = sd15
    m0, c0 = lora_mod.load_lora_for_models(model, clip, lora_files[0], 0.0, 0.0)
    key = "input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"
    base = model.patcher.network.base[key]
    m0.load()
    assert torch.equal(m0.network.get_parameter(key), base)
    m1, _ = lora_mod.load_lora_for_models(model, None, lora_files[0], 1.0, 0.0)
    m1.load()
    assert not torch.equal(m1.network.get_parameter(key), base)
    model.load()  # switching back restores the original tensor
    assert model.network.get_parameter(key).data_ptr() == base.data_ptr()


def test_lora_key_maps_match_comfyui(sd15):
    model, clip, _ = sd15
    assert_key_map(lora_mod.unet_key_map(model), G["key_maps"]["unet"], text_encoder=False)
    assert_key_map(lora_mod.clip_key_map(clip), G["key_maps"]["clip"], text_encoder=True)


def test_default_workflow_end_to_end(sd15):
    """KSampler (euler_ancestral, 4 steps, cfg 7, seed 42) on an empty latent, then VAEDecode."""
    from toucan_nb.diffusion.sampling.ksampler import common_ksampler
    from toucan_nb.diffusion.sampling.model import DenoiserModel

    model, clip, vae = sd15
    assert isinstance(model, DenoiserModel)
    pos = clip.encode_from_tokens_scheduled(clip.tokenize("a photo of a (cat:1.2)"))
    neg = clip.encode_from_tokens_scheduled(clip.tokenize("blurry"))
    latent = common_ksampler(model, 42, 4, 7.0, "euler_ancestral", "normal", pos, neg,
                             {"samples": torch.zeros(1, 4, 8, 8)})["samples"]
    assert_close(latent, G["ksampler"]["latent"], "sd15 KSampler euler_ancestral 4 steps (latent)")
    assert_image_close(vae.decode(latent), G["ksampler"]["image"], "sd15 KSampler + VAEDecode (image)")


def test_inpainting_unet_concat_channels(sd15):
    model = sd15[0]
    assert model.concat_cond({"noise": torch.zeros(1, 4, 8, 8)}) is None
    inpaint = model.clone()
    inpaint.unet_config = dataclasses.replace(model.unet_config, in_channels=9)
    noise = torch.zeros(2, 4, 8, 8)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :32, :] = 1.0
    channels = inpaint.concat_cond({"noise": noise, "device": torch.device("cpu"), "denoise_mask": mask,
                                    "latent_image": torch.ones(1, 4, 8, 8)})
    assert channels.shape == (2, 5, 8, 8)
    assert torch.equal(channels[:, 0, :4], torch.ones(2, 4, 8)) and torch.equal(channels[:, 0, 4:], torch.zeros(2, 4, 8))
