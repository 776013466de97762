"""The diffusion node classes called directly: what the golden graphs do not reach (SDXL text
encoders, edge cases, inputs left unchanged)."""

from __future__ import annotations

import pytest
import torch

from tests.support import checkpoints as ck
from toucan_nb.diffusion import loaders
from toucan_nb.diffusion.detection import UnsupportedModelError
from toucan_nb.nodes import conditioning, custom_sampling, model_loaders, vae_nodes


@pytest.fixture(scope="module")
def sdxl_clip():
    return loaders.load_checkpoint(str(ck.sdxl_checkpoint()), embedding_dirs=[])[1]


def test_sdxl_encode_pads_the_shorter_tower_with_empty_chunks(sdxl_clip):
    long_text = "cat, " * 40  # 80 tokens: two 77-token chunks
    (cond,) = conditioning.CLIPTextEncodeSDXL().execute(
        clip=sdxl_clip, width=1024, height=768, crop_w=8, crop_h=16, target_width=2048, target_height=1536,
        text_g=long_text, text_l="a cat")
    tensor, extra = cond[0]
    assert tensor.shape == (1, 154, 768 + 1280) and extra["pooled_output"].shape == (1, 1280)
    assert {k: extra[k] for k in ("width", "height", "crop_w", "crop_h", "target_width", "target_height")} == {
        "width": 1024, "height": 768, "crop_w": 8, "crop_h": 16, "target_width": 2048, "target_height": 1536}
    # The CLIP-L half of the second chunk is the encoding of an empty prompt.
    empty = sdxl_clip.encode_from_tokens_scheduled(sdxl_clip.tokenize(""))[0][0]
    torch.testing.assert_close(tensor[:, 77:, :768], empty[:, :, :768], rtol=0, atol=1e-6)
    # ... and its bigG half is not (it is the prompt's second chunk).
    assert not torch.allclose(tensor[:, 77:, 768:], empty[:, :, 768:])


def test_sdxl_refiner_encode_sets_the_aesthetic_score(sdxl_clip):
    (cond,) = conditioning.CLIPTextEncodeSDXLRefiner().execute(ascore=2.5, width=896, height=640, text="a cat",
                                                                clip=sdxl_clip)
    extra = cond[0][1]
    assert (extra["aesthetic_score"], extra["width"], extra["height"]) == (2.5, 896, 640)


def test_clip_text_encode_without_clip_explains():
    with pytest.raises(RuntimeError, match="clip input is invalid: None"):
        conditioning.CLIPTextEncode().encode(None, "x")


def _cond(tokens: int = 77, pooled: bool = True) -> list:
    extra = {"pooled_output": torch.ones(1, 768)} if pooled else {}
    return [[torch.arange(tokens * 4, dtype=torch.float32).reshape(1, tokens, 4), extra]]


def test_conditioning_nodes_copy_their_inputs():
    a, b = _cond(), _cond(154)
    (avg,) = conditioning.ConditioningAverage().addWeighted(a, b, 0.25)
    assert avg[0][0].shape == (1, 77, 4) and avg[0][1] is not a[0][1]
    torch.testing.assert_close(avg[0][0], a[0][0] * 0.25 + b[0][0][:, :77] * 0.75)
    (short,) = conditioning.ConditioningAverage().addWeighted(_cond(154), _cond(77, pooled=False), 0.5)
    assert torch.equal(short[0][0][:, 77:], _cond(154)[0][0][:, 77:] * 0.5)  # zero-padded "from"
    assert torch.equal(short[0][1]["pooled_output"], torch.ones(1, 768))
    (cat,) = conditioning.ConditioningConcat().concat(a, b)
    assert cat[0][0].shape == (1, 231, 4)
    (zero,) = conditioning.ConditioningZeroOut().zero_out(a)
    assert not zero[0][0].any() and not zero[0][1]["pooled_output"].any() and a[0][1]["pooled_output"].all()
    (area,) = conditioning.ConditioningSetArea().append(a, 64, 128, 8, 24, 1.5)
    assert area[0][1]["area"] == (16, 8, 3, 1) and area[0][1]["strength"] == 1.5 and "area" not in a[0][1]
    (mask,) = conditioning.ConditioningSetMask().append(a, mask=torch.ones(8, 8), set_cond_area="mask bounds", strength=0.5)
    assert mask[0][1]["mask"].shape == (1, 8, 8) and mask[0][1]["set_area_to_bounds"] is True
    (combined,) = conditioning.ConditioningCombine().combine(a, b)
    assert len(combined) == 2 and len(a) == 1


def test_split_sigma_nodes_and_noise_mask():
    sigmas = torch.tensor([10.0, 5.0, 2.0, 1.0, 0.0])
    high, low = custom_sampling.SplitSigmas().execute(sigmas=sigmas, step=2)
    assert high.tolist() == [10.0, 5.0, 2.0] and low.tolist() == [2.0, 1.0, 0.0]
    high, low = custom_sampling.SplitSigmasDenoise().execute(sigmas=sigmas, denoise=0.5)
    assert high.tolist() == [10.0, 5.0, 2.0] and low.tolist() == [2.0, 1.0, 0.0]
    latent = {"samples": torch.zeros(2, 4, 8, 8), "batch_index": [3, 4]}
    (masked,) = vae_nodes.SetLatentNoiseMask().set_mask(latent, torch.ones(8, 8))
    assert masked["noise_mask"].shape == (1, 1, 8, 8) and masked["batch_index"] == [3, 4]
    assert "noise_mask" not in latent


def test_loaders_refuse_what_the_engine_does_not_run(active_folders):
    with pytest.raises((ValueError, UnsupportedModelError), match="pixel_space"):
        model_loaders.VAELoader().load_vae("pixel_space")
    with pytest.raises(FileNotFoundError):
        model_loaders.CheckpointLoaderSimple().load_checkpoint("missing.safetensors")


def test_lora_nodes_at_zero_strength_return_their_inputs():
    model, clip = object(), object()
    assert model_loaders.LoraLoader().load_lora(model, clip, "never-read", 0, 0) == (model, clip)  # type: ignore[arg-type]
    assert model_loaders.LoraLoaderModelOnly().load_lora_model_only(model, "never-read", 0) == (model,)  # type: ignore[arg-type]
