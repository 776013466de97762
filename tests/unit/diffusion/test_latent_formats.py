"""Latent formats: scale factors and preview factors as ComfyUI defines them."""

from __future__ import annotations

import torch

from toucan_nb.diffusion import latent_formats


def test_scale_in_and_out():
    x = torch.randn(1, 4, 2, 2)
    assert torch.equal(latent_formats.SD15.process_in(x), x * 0.18215)
    assert torch.equal(latent_formats.SDXL.process_out(x), x / 0.13025)
    assert latent_formats.SD2 is latent_formats.SD15


def test_preview_factors():
    assert len(latent_formats.SD15.latent_rgb_factors) == 4
    assert latent_formats.SD15.latent_rgb_factors_bias is None
    assert latent_formats.SDXL.latent_rgb_factors_bias == (0.1084, -0.0175, -0.0011)
    assert (latent_formats.SD15.taesd_decoder_name, latent_formats.SDXL.taesd_decoder_name) == (
        "taesd_decoder", "taesdxl_decoder")
