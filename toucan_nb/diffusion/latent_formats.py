"""Latent spaces of the SD families: scale factor, channel count and the preview maps.

Sampling multiplies a LATENT's raw VAE-space samples by `scale_factor` on the way in
(`process_in`) and divides on the way out (`process_out`); VAE decoding does no scaling
(docs/diffusion-sampling.md §Latents). SD2 shares SD1's format. The `latent_rgb_factors` (one RGB
row per latent channel) and SDXL's bias are ComfyUI's numbers, used for latent2rgb previews;
`taesd_decoder_name` is the file stem under `models/vae_approx` for TAESD previews.
Pure values; any thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class LatentFormat:
    """One latent space: how sampling scales it and how previews colour it."""

    name: str
    scale_factor: float
    latent_channels: int = 4
    latent_dimensions: int = 2
    latent_rgb_factors: tuple[tuple[float, float, float], ...] | None = None
    latent_rgb_factors_bias: tuple[float, float, float] | None = None
    taesd_decoder_name: str | None = None

    def process_in(self, latent: torch.Tensor) -> torch.Tensor:
        """Raw VAE-space samples -> the space the denoiser works in."""
        return latent * self.scale_factor

    def process_out(self, latent: torch.Tensor) -> torch.Tensor:
        """The denoiser's space -> raw VAE-space samples."""
        return latent / self.scale_factor


SD15 = LatentFormat(
    name="SD15",
    scale_factor=0.18215,
    latent_rgb_factors=(
        (0.3512, 0.2297, 0.3227),
        (0.3250, 0.4974, 0.2350),
        (-0.2829, 0.1762, 0.2721),
        (-0.2120, -0.2616, -0.7177),
    ),
    taesd_decoder_name="taesd_decoder",
)

# SD2.x (512 and 768-v) uses the SD1 VAE and therefore SD1's latent space.
SD2 = SD15

SDXL = LatentFormat(
    name="SDXL",
    scale_factor=0.13025,
    latent_rgb_factors=(
        (0.3651, 0.4232, 0.4341),
        (-0.2533, -0.0042, 0.1068),
        (0.1076, 0.1111, -0.0362),
        (-0.3165, -0.2492, -0.2188),
    ),
    latent_rgb_factors_bias=(0.1084, -0.0175, -0.0011),
    taesd_decoder_name="taesdxl_decoder",
)
