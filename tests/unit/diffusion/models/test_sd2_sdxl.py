"""The reduced SD2 and SDXL test checkpoints against ComfyUI (goldens/sd2.json, goldens/sdxl.json):
OpenCLIP-H and bigG with padding 0 and penultimate layers, SDXL's two-tower conditioning, ADM
vectors of the base and the refiner, and the UNets with linear projections and 64-channel heads."""

from __future__ import annotations

import pytest
import torch

from tests.support.model_files import split_file
from toucan_nb.diffusion import loaders
from toucan_nb.diffusion import lora as lora_mod
from toucan_nb.diffusion.detection import Prediction
from toucan_nb.diffusion.families import SDXL_REFINER
from toucan_nb.diffusion.model import DiffusionModel

from .goldens import assert_close, assert_key_map, golden, rand, token_list

SD2 = golden("sd2")
SDXL = golden("sdxl")


def _cond_checks(clip, g, tag: str, names) -> None:
    for name in names:
        tokens = clip.tokenize(g["prompts"][name])
        assert token_list(tokens) == g["tokens"][name], name
        cond = clip.encode_from_tokens_scheduled(tokens)
        assert_close(cond[0][0], g["cond"][name]["cond"], f"{tag} cond {name}")
        assert_close(cond[0][1]["pooled_output"], g["cond"][name]["pooled"], f"{tag} pooled {name}")


def test_sd2(sd2):
    model, clip, vae = sd2
    assert model.family.name == SD2["detected"] == "SD20" and model.prediction.kind.upper() == SD2["model_type"]
    assert vae.config is None, "the reduced file has no VAE"
    _cond_checks(clip, SD2, "sd2", ["plain", "weighted", "long"])
    last = clip.clone()
    last.clip_layer(-1)
    cond = last.encode_from_tokens_scheduled(last.tokenize(SD2["prompts"]["plain"]))
    assert_close(cond[0][0], SD2["cond"]["plain_layer-1"]["cond"], "sd2 cond plain, CLIPSetLastLayer -1")
    out = model.apply_model(rand(31, (2, 4, 8, 8)), torch.tensor([999.0, 250.0]), rand(32, (2, 77, 1024)))
    assert_close(out, SD2["unet"], "sd2 UNet output")


def test_sdxl_conditioning(sdxl):
    model, clip, _ = sdxl
    assert model.family.name == "SDXL" and model.prediction.kind.upper() == SDXL["model_type"]
    _cond_checks(clip, SDXL, "sdxl", ["plain", "weighted", "long", "empty"])
    last = clip.clone()
    last.clip_layer(-1)
    cond = last.encode_from_tokens_scheduled(last.tokenize(SDXL["prompts"]["plain"]))
    assert_close(cond[0][0], SDXL["cond"]["plain_layer-1"]["cond"], "sdxl cond plain, CLIPSetLastLayer -1")
    assert_close(cond[0][1]["pooled_output"], SDXL["cond"]["plain_layer-1"]["pooled"], "sdxl pooled, layer -1")


def test_sdxl_adm_and_unet(sdxl):
    model = sdxl[0]
    pooled = rand(41, (2, 1280))
    cases = {"defaults": {}, "sizes": {"width": 1024, "height": 768},
             "all": {"width": 832, "height": 1216, "crop_w": 16, "crop_h": 32, "target_width": 1024,
                     "target_height": 1024}}
    for name, params in cases.items():
        assert_close(model.encode_adm({"pooled_output": pooled, **params}), SDXL["adm"][name], f"sdxl ADM {name}")
    refiner = DiffusionModel(None, SDXL_REFINER, None, Prediction("eps"), torch.float32)  # type: ignore[arg-type]
    cases = {"positive": {"width": 1024, "height": 1024}, "negative": {"prompt_type": "negative"},
             "score": {"aesthetic_score": 4.5, "crop_w": 8}}
    for name, params in cases.items():
        assert_close(refiner.encode_adm({"pooled_output": pooled, **params}), SDXL["refiner_adm"][name],
                     f"sdxl refiner ADM {name}")
    y = model.encode_adm({"pooled_output": pooled, "width": 64, "height": 64})
    out = model.apply_model(rand(42, (2, 4, 8, 8)), torch.tensor([999.0, 100.0]), rand(43, (2, 77, 2048)), y=y)
    assert_close(out, SDXL["unet"], "sdxl UNet output (with ADM)")
    with pytest.raises(ValueError, match="ADM"):
        model.apply_model(rand(42, (2, 4, 8, 8)), torch.tensor([999.0, 100.0]), rand(43, (2, 77, 2048)))


def test_sdxl_lora_key_maps(sdxl):
    model, clip, _ = sdxl
    assert_key_map(lora_mod.unet_key_map(model), SDXL["key_maps"]["unet"], text_encoder=False)
    assert_key_map(lora_mod.clip_key_map(clip), SDXL["key_maps"]["clip"], text_encoder=True)


def test_split_text_encoders(sdxl, sdxl_path, tmp_path):
    """DualCLIPLoader (CLIP-L + bigG files) equals the checkpoint's CLIP; bigG alone is the refiner's."""
    from pathlib import Path

    l_file = split_file(Path(sdxl_path), "conditioner.embedders.0.transformer.", tmp_path, "clip_l.safetensors")
    g_file = split_file(Path(sdxl_path), "conditioner.embedders.1.model.", tmp_path, "clip_g.safetensors")
    dual = loaders.load_text_encoders([str(g_file), str(l_file)], "sdxl", embedding_dirs=[])
    assert dual.kind == "sdxl"
    for name, tensor in dual.stack.state_dict().items():
        assert torch.equal(tensor, sdxl[1].stack.state_dict()[name]), name
    refiner = loaders.load_text_encoders([str(g_file)], "stable_diffusion", embedding_dirs=[])
    assert refiner.kind == "sdxl_refiner" and set(refiner.tokenize("x")) == {"g", "l"}
    cond = refiner.encode_from_tokens_scheduled(refiner.tokenize(SDXL["prompts"]["weighted"]))
    assert_close(cond[0][0], SDXL["refiner_cond"]["cond"], "sdxl refiner (bigG only) cond")
    assert_close(cond[0][1]["pooled_output"], SDXL["refiner_cond"]["pooled"], "sdxl refiner pooled")
