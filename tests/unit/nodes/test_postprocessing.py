"""ImageBlend, ImageBlur, ImageSharpen, ImageQuantize, ImageScaleToTotalPixels on small tensors."""

from __future__ import annotations

import math

import pytest
import torch

from toucan_nb.nodes.postprocessing import (
    ImageBlend,
    ImageBlur,
    ImageQuantize,
    ImageScaleToTotalPixels,
    ImageSharpen,
    gaussian_kernel,
)


def _const(value, h=2, w=2, c=3):
    return torch.full((1, h, w, c), value)


@pytest.mark.parametrize(("mode", "expected"), [
    ("normal", 0.4),           # 0.2*0.5 + 0.6*0.5
    ("multiply", 0.16),        # 0.1 + 0.12*0.5
    ("screen", 0.44),          # 0.1 + (1 - 0.8*0.4)*0.5
    ("overlay", 0.22),         # a <= 0.5: 0.1 + 2*0.2*0.6*0.5
    ("soft_light", 0.2248),    # b > 0.5: a + (2b-1)(g(a)-a), g(0.2) = ((16*0.2-12)*0.2+4)*0.2 = 0.448
    ("difference", 0.0),       # 0.1 + (0.2-0.6)*0.5 = -0.1, clamped
])
def test_image_blend_modes(mode, expected):
    (out,) = ImageBlend().blend_images(_const(0.2), _const(0.6), 0.5, mode)
    assert out.shape == (1, 2, 2, 3)
    assert torch.allclose(out, torch.full_like(out, expected), atol=1e-6)


def test_image_blend_resizes_second_and_drops_extra_alpha():
    (out,) = ImageBlend().blend_images(_const(0.2), _const(0.6, h=4, w=6, c=4), 1.0, "normal")
    assert out.shape == (1, 2, 2, 3)
    assert torch.allclose(out, torch.full_like(out, 0.6), atol=1e-6)


def test_image_blend_rgba_first_with_rgb_second_fails_like_comfyui():
    # QUIRK(ComfyUI node_helpers.image_alpha_fix): the RGBA side gains a fifth channel, so the blend
    # cannot broadcast against RGB, exactly as in ComfyUI.
    with pytest.raises(RuntimeError):
        ImageBlend().blend_images(_const(0.2, c=4), _const(0.6), 0.5, "normal")


def test_image_blend_rejects_unknown_mode():
    with pytest.raises(ValueError, match="Unsupported blend mode"):
        ImageBlend().blend_images(_const(0.2), _const(0.6), 0.5, "bogus")


def test_gaussian_kernel_radius_1_sigma_1():
    # samples at -1, 0, 1: weights exp(-d^2/2) -> centre 1, edges e^-0.5, corners e^-1
    total = 1 + 4 * math.exp(-0.5) + 4 * math.exp(-1)
    k = gaussian_kernel(3, 1.0)
    assert k[1, 1].item() == pytest.approx(1 / total)
    assert k[0, 1].item() == pytest.approx(math.exp(-0.5) / total)
    assert k[0, 0].item() == pytest.approx(math.exp(-1) / total)


def test_image_blur_impulse_spreads_as_kernel_and_constant_stays():
    total = 1 + 4 * math.exp(-0.5) + 4 * math.exp(-1)
    img = torch.zeros(1, 5, 5, 3)
    img[0, 2, 2] = 1.0
    (out,) = ImageBlur().blur(img, 1, 1.0)
    assert out.shape == img.shape
    assert out[0, 2, 2, 0].item() == pytest.approx(1 / total, abs=1e-6)
    assert out[0, 1, 2, 1].item() == pytest.approx(math.exp(-0.5) / total, abs=1e-6)
    assert out[0, 0, 0, 2].item() == pytest.approx(0.0, abs=1e-7)
    (flat,) = ImageBlur().blur(_const(0.3, h=6, w=7), 3, 2.0)
    assert torch.allclose(flat, torch.full_like(flat, 0.3), atol=1e-6)  # reflected edges: no darkening


def test_image_sharpen_boosts_difference_from_neighbours():
    g_c = 1 / (1 + 4 * math.exp(-0.5) + 4 * math.exp(-1))
    g_e = math.exp(-0.5) * g_c
    img = torch.full((1, 5, 5, 3), 0.5)
    img[0, 2, 2] = 0.6
    # alpha 0.1: kernel = -g everywhere, centre raised to 2 - g_c so the weights sum to 1
    (out,) = ImageSharpen().sharpen(img, 1, 1.0, 0.1)
    assert out[0, 2, 2, 0].item() == pytest.approx(0.5 + 0.1 * (2 - g_c), abs=1e-5)
    assert out[0, 1, 2, 0].item() == pytest.approx(0.5 - 0.1 * g_e, abs=1e-5)
    (flat,) = ImageSharpen().sharpen(_const(0.3, h=4, w=4), 1, 1.0, 5.0)
    assert torch.allclose(flat, torch.full_like(flat, 0.3), atol=1e-5)
    (hot,) = ImageSharpen().sharpen(img, 1, 1.0, 5.0)
    assert hot.max().item() == 1.0 and hot.min().item() == 0.0  # clamped


def test_image_quantize_keeps_exact_colours_when_few():
    img = torch.zeros(1, 2, 2, 3)
    img[0, 0, 0] = torch.tensor([1.0, 0.0, 0.0])
    img[0, 1, 1] = torch.tensor([0.0, 51 / 255, 1.0])
    (out,) = ImageQuantize().quantize(img, 256, "none")
    assert torch.allclose(out, img)


@pytest.mark.parametrize("dither", ["none", "floyd-steinberg", "bayer-2", "bayer-4", "bayer-8", "bayer-16"])
def test_image_quantize_limits_palette(dither):
    ramp = torch.linspace(0, 1, 16)
    img = torch.stack([ramp.expand(16, 16), ramp.expand(16, 16).T, torch.full((16, 16), 0.5)], dim=-1)[None]
    img = torch.cat([img, img.flip(1)])
    (out,) = ImageQuantize().quantize(img, 4, dither)
    assert out.shape == img.shape
    for b in range(2):
        assert len(torch.unique(out[b].reshape(-1, 3), dim=0)) <= 4
    assert (out - img).abs().mean() < 0.25


def test_image_scale_to_total_pixels():
    img = torch.rand(1, 2, 4, 3)
    # sqrt(0.01 * 1024^2 / 8) = 36.20: width round(144.8) = 145, height round(72.4) = 72
    (out,) = ImageScaleToTotalPixels().upscale(img, "bilinear", 0.01, 1)
    assert out.shape == (1, 72, 145, 3)
    # in steps of 8: round(18.1) * 8 = 144, round(9.05) * 8 = 72
    (out,) = ImageScaleToTotalPixels().upscale(img, "nearest-exact", 0.01, 8)
    assert out.shape == (1, 72, 144, 3)
