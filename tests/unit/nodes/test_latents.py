"""LATENT nodes on small tensors with hand-checked values."""

from __future__ import annotations

import pytest
import torch

from toucan_nb.nodes.latents import (
    EmptyLatentImage,
    LatentBlend,
    LatentComposite,
    LatentFromBatch,
    LatentUpscale,
    LatentUpscaleBy,
    RepeatLatentBatch,
)


def _batch(n, h=2, w=2):
    return torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1).expand(n, 4, h, w).contiguous()


def test_empty_latent_image_is_an_eighth_of_the_pixels():
    (latent,) = EmptyLatentImage().generate(width=64, height=72, batch_size=2)
    assert list(latent) == ["samples"]
    assert latent["samples"].shape == (2, 4, 9, 8) and not latent["samples"].any()
    assert latent["samples"].dtype == torch.float32


def test_latent_upscale_sizes_and_keeps_other_keys():
    mask = torch.ones(1, 1, 8, 8)
    src = {"samples": torch.rand(1, 4, 8, 8), "noise_mask": mask}
    (out,) = LatentUpscale().upscale(src, "nearest-exact", 128, 0, "disabled")
    assert out["samples"].shape == (1, 4, 16, 16) and out["noise_mask"] is mask
    assert src["samples"].shape == (1, 4, 8, 8)  # input dict untouched
    # sides below 64 pixels are raised to 64
    (out,) = LatentUpscale().upscale(src, "bilinear", 32, 16, "disabled")
    assert out["samples"].shape == (1, 4, 8, 8)
    (out,) = LatentUpscale().upscale(src, "bislerp", 0, 0, "disabled")
    assert out is src
    (out,) = LatentUpscale().upscale({"samples": torch.rand(1, 4, 8, 16)}, "area", 0, 128, "center")
    assert out["samples"].shape == (1, 4, 16, 32)


def test_latent_upscale_by():
    (out,) = LatentUpscaleBy().upscale({"samples": torch.rand(2, 4, 8, 6)}, "bislerp", 1.5)
    assert out["samples"].shape == (2, 4, 12, 9)


def test_latent_composite_pastes_in_latent_units():
    to = {"samples": torch.zeros(1, 4, 4, 4), "batch_index": [0]}
    frm = {"samples": torch.ones(1, 4, 2, 2)}
    (out,) = LatentComposite().composite(to, frm, x=8, y=16, feather=0)
    expected = torch.zeros(4, 4)
    expected[2:4, 1:3] = 1
    assert out["samples"][0, 0].tolist() == expected.tolist() and out["batch_index"] == [0]
    assert not to["samples"].any()
    # A source running past the edge is cut.
    (out,) = LatentComposite().composite({"samples": torch.zeros(1, 4, 4, 4)}, {"samples": torch.ones(1, 4, 4, 4)},
                                         x=16, y=0, feather=0)
    assert out["samples"][0, 0].sum().item() == 8 and out["samples"][0, 0, :, 2:].sum().item() == 8


def test_latent_composite_feathers_inner_edges():
    to = {"samples": torch.zeros(1, 4, 8, 8)}
    frm = {"samples": torch.ones(1, 4, 4, 4)}
    (out,) = LatentComposite().composite(to, frm, x=8, y=8, feather=16)
    ramp = torch.tensor([0.5, 1.0, 1.0, 0.5])  # feather 2: 1/2, then 2/2, from each inner edge
    assert torch.allclose(out["samples"][0, 2, 1:5, 1:5], ramp[:, None] * ramp[None, :])
    assert out["samples"][0, 2].sum().item() == pytest.approx((ramp.sum() ** 2).item())
    # Edges on the destination's border are not feathered.
    (out,) = LatentComposite().composite(to, frm, x=0, y=0, feather=16)
    assert torch.allclose(out["samples"][0, 0, 0:4, 0], torch.tensor([1.0, 1.0, 1.0, 0.5]))


def test_latent_blend_weights_first_input():
    # QUIRK(ComfyUI nodes.LatentBlend): blend_factor weighs samples1, unlike ImageBlend.
    a = {"samples": torch.full((1, 4, 2, 2), 1.0), "noise_mask": "kept"}
    b = {"samples": torch.full((1, 4, 2, 2), 3.0)}
    (out,) = LatentBlend().blend(a, b, 0.25)
    assert torch.allclose(out["samples"], torch.full((1, 4, 2, 2), 2.5)) and out["noise_mask"] == "kept"
    (out,) = LatentBlend().blend(a, {"samples": torch.full((1, 4, 4, 6), 3.0)}, 0.5)
    assert out["samples"].shape == (1, 4, 2, 2) and torch.allclose(out["samples"], torch.full((1, 4, 2, 2), 2.0))


def test_latent_from_batch():
    (out,) = LatentFromBatch().frombatch({"samples": _batch(4)}, batch_index=1, length=2)
    assert out["samples"][:, 0, 0, 0].tolist() == [1.0, 2.0] and out["batch_index"] == [1, 2]
    (out,) = LatentFromBatch().frombatch({"samples": _batch(4)}, batch_index=10, length=5)
    assert out["samples"][:, 0, 0, 0].tolist() == [3.0] and out["batch_index"] == [3]
    masks = torch.arange(2, dtype=torch.float32).reshape(2, 1, 1, 1)
    src = {"samples": _batch(4), "noise_mask": masks, "batch_index": [10, 11, 12, 13]}
    (out,) = LatentFromBatch().frombatch(src, batch_index=1, length=2)
    assert out["noise_mask"].reshape(-1).tolist() == [1.0, 0.0]  # tiled to 4 first: 0,1,0,1
    assert out["batch_index"] == [11, 12]
    single = torch.ones(1, 1, 2, 2)
    (out,) = LatentFromBatch().frombatch({"samples": _batch(4), "noise_mask": single}, 2, 1)
    assert torch.equal(out["noise_mask"], single) and out["noise_mask"] is not single


def test_repeat_latent_batch():
    (out,) = RepeatLatentBatch().repeat({"samples": _batch(2)}, 3)
    assert out["samples"][:, 0, 0, 0].tolist() == [0.0, 1.0] * 3 and "batch_index" not in out
    masks = torch.arange(2, dtype=torch.float32).reshape(2, 1, 1, 1)
    (out,) = RepeatLatentBatch().repeat({"samples": _batch(2), "noise_mask": masks, "batch_index": [5, 7]}, 3)
    assert out["noise_mask"].reshape(-1).tolist() == [0.0, 1.0] * 3
    assert out["batch_index"] == [5, 7, 8, 10, 11, 13]  # offset = max - min + 1 = 3
    one = torch.ones(1, 1, 2, 2)
    (out,) = RepeatLatentBatch().repeat({"samples": _batch(2), "noise_mask": one}, 2)
    assert out["noise_mask"] is one  # a single mask applies to every copy
    # QUIRK(ComfyUI nodes.RepeatLatentBatch): a short mask batch is repeated as given, not tiled first.
    (out,) = RepeatLatentBatch().repeat({"samples": _batch(4), "noise_mask": masks}, 2)
    assert out["samples"].shape[0] == 8 and out["noise_mask"].reshape(-1).tolist() == [0.0, 1.0] * 2
