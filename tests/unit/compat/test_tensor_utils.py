"""comfy.utils helpers: resizing, batch fitting, tiled processing, checkpoint files."""

from __future__ import annotations

import pytest
import torch


def test_common_upscale_modes_and_center_crop(runtime):
    from comfy.utils import common_upscale

    samples = torch.arange(2 * 3 * 4 * 8, dtype=torch.float32).reshape(2, 3, 4, 8)
    for method in ("nearest-exact", "bilinear", "area", "bicubic", "bislerp"):
        assert common_upscale(samples, 16, 8, method, "disabled").shape == (2, 3, 8, 16)
    # Center crop to a square keeps the middle 4 columns of the 8-wide input.
    cropped = common_upscale(samples, 4, 4, "nearest-exact", "center")
    assert torch.equal(cropped, samples[:, :, :, 2:6])
    video = torch.rand(1, 4, 3, 8, 8)  # B, C, T, H, W latents
    assert common_upscale(video, 4, 4, "bilinear", "disabled").shape == (1, 4, 3, 4, 4)


def test_lanczos_goes_through_8_bit(runtime):
    from comfy.utils import common_upscale

    image = torch.full((1, 3, 4, 4), 0.5)
    out = common_upscale(image, 8, 8, "lanczos", "disabled")
    assert out.shape == (1, 3, 8, 8)
    assert torch.allclose(out, torch.full_like(out, 127 / 255))


def test_bislerp_keeps_constant_vectors_and_slerps_between(runtime):
    from comfy.utils import bislerp

    constant = torch.ones(1, 4, 3, 3) * torch.tensor([1.0, 2.0, 0.0, -1.0]).view(1, 4, 1, 1)
    assert torch.allclose(bislerp(constant, 7, 5), constant[:, :, :1, :1].expand(1, 4, 5, 7))
    # Two orthogonal unit vectors: the midpoint keeps unit length (a lerp would give 0.707).
    pair = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).T.reshape(1, 2, 1, 2)
    mid = bislerp(pair, 3, 1)[0, :, 0, 1]
    assert torch.allclose(mid.norm(), torch.tensor(1.0), atol=1e-5)
    assert torch.allclose(mid, torch.tensor([0.7071, 0.7071]), atol=1e-3)


def test_batch_fitting(runtime):
    from comfy.utils import repeat_to_batch_size, resize_list_to_batch_size, resize_to_batch_size

    t = torch.arange(3).view(3, 1)
    assert repeat_to_batch_size(t, 7).flatten().tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert repeat_to_batch_size(t, 2).flatten().tolist() == [0, 1]
    assert resize_to_batch_size(t, 6).flatten().tolist() == [0, 0, 1, 1, 2, 2]
    assert resize_to_batch_size(torch.arange(5).view(5, 1), 3).flatten().tolist() == [0, 2, 4]
    assert resize_list_to_batch_size(["a", "b"], 4) == ["a", "a", "b", "b"]


def test_tiled_scale_matches_a_direct_upscale(runtime):
    from comfy.utils import get_tiled_scale_steps, tiled_scale

    image = torch.rand(2, 3, 40, 56)
    calls = []

    def upscale(tile):
        calls.append(tile.shape)
        return torch.nn.functional.interpolate(tile, scale_factor=2, mode="nearest")

    out = tiled_scale(image, upscale, tile_x=24, tile_y=16, overlap=4, upscale_amount=2, out_channels=3)
    assert out.shape == (2, 3, 80, 112)
    assert torch.allclose(out, torch.nn.functional.interpolate(image, scale_factor=2, mode="nearest"), atol=1e-5)
    assert len(calls) == 2 * get_tiled_scale_steps(56, 40, 24, 16, 4)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_torch_files_round_trip(runtime, tmp_path, suffix):
    from comfy.utils import calculate_parameters, load_torch_file, save_torch_file

    sd = {"a.weight": torch.ones(2, 3), "b.bias": torch.zeros(4)}
    path = str(tmp_path / f"model{suffix}")
    if suffix == ".safetensors":
        save_torch_file(sd, path, metadata={"format": "pt"})
        loaded, metadata = load_torch_file(path, return_metadata=True)
        assert metadata == {"format": "pt"}
    else:
        torch.save({"state_dict": sd}, path)
        loaded = load_torch_file(path, safe_load=True)
    assert set(loaded) == set(sd) and all(torch.equal(loaded[k], sd[k]) for k in sd)
    assert calculate_parameters(loaded) == 10 and calculate_parameters(loaded, "a.") == 6
