"""Live previews of a sampling run: the denoised latent of each step as a small image.

The method comes per prompt from `extra_data["preview_method"]` ("none", "auto", "latent2rgb",
"taesd"; "default" or anything else means the server's `--preview-method`), see
`resolve_preview_method`. "auto" means latent2rgb. latent2rgb maps each latent pixel through the
format's 4x3 factors (plus SDXL's bias) at latent resolution; TAESD decodes the first image of the
batch with the tiny autoencoder's decoder from `models/vae_approx/taesd_decoder.*` (SD1/SD2) or
`taesdxl_decoder.*` (SDXL), falling back to latent2rgb when the file is missing. Either way the
image is `((v + 1) / 2).clamp(0, 1) * 255` truncated to uint8, and each step reports
`("JPEG", image, preview_size)` with the step, as ComfyUI's `latent_preview` does (the wire layer
scales it to fit `preview_size`). docs/diffusion-sampling.md §Previews.
A previewer is built per sampling run and used on its thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

if TYPE_CHECKING:
    from PIL import Image

    from toucan_nb.diffusion.latent_formats import LatentFormat
    from toucan_nb.diffusion.sampling.denoiser import SamplingStep

log = logging.getLogger(__name__)

PREVIEW_METHODS = ("none", "auto", "latent2rgb", "taesd")
PreviewTuple = tuple[str, "Image.Image", int]


def resolve_preview_method(prompt_method: str | None, server_method: str) -> str:
    """The method for one prompt: its own when it names one, else the server's."""
    if prompt_method and prompt_method != "default" and prompt_method in PREVIEW_METHODS:
        return prompt_method
    return server_method


def preview_to_image(latent_image: torch.Tensor, do_scale: bool = True) -> Image.Image:
    """An [H, W, 3] tensor in -1..1 (or 0..1 with `do_scale` False) as an RGB PIL image."""
    from PIL import Image

    values = ((latent_image + 1.0) / 2.0) if do_scale else latent_image
    ubyte = values.clamp(0, 1).mul(0xFF).to(device="cpu", dtype=torch.uint8)
    return Image.fromarray(ubyte.numpy())


class Previewer(Protocol):
    def decode_latent_to_preview(self, x0: torch.Tensor) -> Image.Image: ...


class Latent2RGBPreviewer:
    """A linear map from latent channels to RGB, at latent resolution."""

    def __init__(self, factors: Any, bias: Any = None) -> None:
        self.factors = torch.tensor(factors, device="cpu").transpose(0, 1)
        self.bias = torch.tensor(bias, device="cpu") if bias is not None else None

    def decode_latent_to_preview(self, x0: torch.Tensor) -> Image.Image:
        factors = self.factors.to(dtype=x0.dtype, device=x0.device)
        bias = self.bias.to(dtype=x0.dtype, device=x0.device) if self.bias is not None else None
        image = torch.nn.functional.linear(x0[0].movedim(0, -1), factors, bias=bias)
        return preview_to_image(image)


# -- TAESD ----------------------------------------------------------------------------------------

class _Clamp(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3) * 3


def _conv(n_in: int, n_out: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, padding=1, bias=bias)


class _Block(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(_conv(n_in, n_out), nn.ReLU(), _conv(n_out, n_out), nn.ReLU(), _conv(n_out, n_out))
        self.skip = nn.Conv2d(n_in, n_out, 1, bias=False) if n_in != n_out else nn.Identity()
        self.fuse = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.conv(x) + self.skip(x))


def taesd_decoder(latent_channels: int = 4) -> nn.Sequential:
    """TAESD's decoder; its state-dict keys are those of the published `taesd*_decoder` files."""
    layers: list[nn.Module] = [_Clamp(), _conv(latent_channels, 64), nn.ReLU()]
    for _ in range(3):
        layers += [_Block(64, 64), _Block(64, 64), _Block(64, 64), nn.Upsample(scale_factor=2), _conv(64, 64, bias=False)]
    layers += [_Block(64, 64), _conv(64, 3)]
    return nn.Sequential(*layers)


def load_taesd_decoder(path: str, latent_channels: int = 4) -> nn.Sequential:
    """A decoder with the weights of a `.safetensors` or `.pth`/`.pt` file. Raises on mismatched keys."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    decoder = taesd_decoder(latent_channels)
    decoder.load_state_dict(state)
    return decoder.eval()


class TAESDPreviewer:
    """Decodes the batch's first latent with a TAESD decoder (x8 upscale)."""

    def __init__(self, decoder: nn.Module) -> None:
        self.decoder = decoder

    def decode_latent_to_preview(self, x0: torch.Tensor) -> Image.Image:
        decoder = self.decoder.to(x0.device)
        image = decoder(x0[:1]).sub(0.5).mul(2)[0].movedim(0, 2)
        return preview_to_image(image)


class ModelFolders(Protocol):
    """The part of the runtime's folder registry previews use."""

    def get_filename_list(self, folder_name: str) -> list[str]: ...

    def get_full_path(self, folder_name: str, filename: str) -> str | None: ...


def get_previewer(method: str, latent_format: LatentFormat, folders: ModelFolders | None) -> Previewer | None:
    """The previewer for a resolved method, or None for "none" (or a format without factors)."""
    if method == "none":
        return None
    if method == "taesd" and latent_format.taesd_decoder_name is not None:
        name = latent_format.taesd_decoder_name
        filename = next((f for f in (folders.get_filename_list("vae_approx") if folders else [])
                         if f.startswith(name)), None)
        path = folders.get_full_path("vae_approx", filename) if folders and filename else None
        if path:
            return TAESDPreviewer(load_taesd_decoder(path, latent_format.latent_channels))
        log.warning("TAESD previews enabled, but could not find models/vae_approx/%s", name)
    if latent_format.latent_rgb_factors is not None:
        return Latent2RGBPreviewer(latent_format.latent_rgb_factors, latent_format.latent_rgb_factors_bias)
    return None


def preview_callback(previewer: Previewer | None, preview_size: int,
                     report: Callable[[int, int, PreviewTuple | None], None]) -> Callable[[SamplingStep], None]:
    """A sampling-step callback that reports (step + 1, total, preview) after each step.

    `report` is the progress hook (ComfyUI's `ProgressBar.update_absolute`): it raises when the
    prompt was interrupted, which stops sampling between steps.
    """

    def on_step(step: SamplingStep) -> None:
        preview = None
        if previewer is not None:
            preview = ("JPEG", previewer.decode_latent_to_preview(step.denoised), preview_size)
        report(min(step.index + 1, step.total), step.total, preview)

    return on_step
