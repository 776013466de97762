"""Starting noise bit-exact to ComfyUI's prepare_noise, and the noise-related helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.unit.diffusion.sampling import cases
from tests.unit.diffusion.sampling.harness import goldens
from toucan_nb.diffusion import latent_formats
from toucan_nb.diffusion.sampling import noise, noise_samplers

G = goldens("noise")


@pytest.mark.parametrize("index", range(len(cases.NOISE_CASES)))
def test_prepare_noise_is_bit_exact(index):
    case = cases.NOISE_CASES[index]
    ours = noise.prepare_noise(torch.zeros(case["shape"]), case["seed"], case.get("batch_index"))
    assert ours.device.type == "cpu" and ours.dtype == torch.float32
    np.testing.assert_array_equal(ours.numpy(), G[f"noise/{index}"])


def test_prepare_noise_leaves_the_global_generator_alone():
    torch.manual_seed(5)
    expected = torch.randn(3)
    torch.manual_seed(5)
    noise.prepare_noise(torch.zeros(1, 4, 2, 2), 1)
    assert torch.equal(torch.randn(3), expected)


def test_prepare_noise_follows_the_latent_dtype():
    assert noise.prepare_noise(torch.zeros(1, 4, 2, 2, dtype=torch.float64), 0).dtype == torch.float64


def test_empty_latent_is_widened_to_the_model_channels():
    wide = latent_formats.LatentFormat("wide", 1.0, latent_channels=16)
    assert noise.fix_empty_latent_channels(wide, torch.zeros(2, 4, 3, 3)).shape == (2, 16, 3, 3)
    filled = torch.ones(2, 4, 3, 3)
    assert noise.fix_empty_latent_channels(wide, filled) is filled
    sd = torch.zeros(1, 4, 3, 3)
    assert noise.fix_empty_latent_channels(latent_formats.SD15, sd) is sd


def test_noise_mask_is_resized_and_tiled_to_the_latent():
    mask = torch.zeros(16, 16)
    mask[:, 8:] = 1.0
    out = noise.prepare_mask(mask, (3, 4, 4, 4), "cpu")
    assert out.shape == (3, 4, 4, 4)
    assert out[:, :, :, :2].max() == 0 and out[:, :, :, 2:].min() == 1


def test_noise_objects():
    latent = {"samples": torch.zeros(2, 4, 3, 3), "batch_index": [4, 1]}
    assert torch.equal(noise.RandomNoise(9).generate_noise(latent), noise.prepare_noise(latent["samples"], 9, [4, 1]))
    disabled = noise.DisableNoise()
    assert disabled.seed == 0 and not disabled.generate_noise(latent).any()


def test_ancestral_noise_uses_seed_plus_one_on_the_cpu():
    x = torch.zeros(1, 4, 2, 2)
    draw = noise_samplers.ancestral_noise(x, 10)
    generator = torch.Generator().manual_seed(11)
    assert torch.equal(draw(None, None), torch.randn(1, 4, 2, 2, generator=generator))


def test_ancestral_noise_wraps_the_largest_seed():
    # QUIRK(docs/diffusion-sampling.md §Noise): seed + 1 overflows in ComfyUI; we wrap to 0.
    draw = noise_samplers.ancestral_noise(torch.zeros(2), 2 ** 64 - 1)
    assert torch.equal(draw(None, None), torch.randn(2, generator=torch.Generator().manual_seed(0)))


def test_brownian_noise_is_reproducible_and_unit_scaled():
    x = torch.zeros(1, 4, 16, 16)
    a = noise_samplers.BrownianTreeNoise(x, torch.tensor(0.1), torch.tensor(10.0), seed=3)
    b = noise_samplers.BrownianTreeNoise(x, torch.tensor(0.1), torch.tensor(10.0), seed=3)
    first = a(torch.tensor(10.0), torch.tensor(5.0))
    assert torch.equal(first, b(torch.tensor(10.0), torch.tensor(5.0)))
    assert 0.8 < float(first.std()) < 1.2
