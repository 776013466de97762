"""VAE: images <-> raw latents with ComfyUI's pre- and post-processing, whole or in tiles.

`decode` takes a LATENT's samples [B, C, h, w] (raw VAE space, no scale factor) and returns
IMAGE [B, 8h, 8w, 3] float32 on the CPU, mapped from [-1, 1] by clamp((x + 1) / 2, 0, 1).
`encode` takes IMAGE [B, H, W, C]: height and width are centre-cropped to multiples of 8, extra
channels (alpha) dropped, values mapped by x * 2 - 1; it returns the posterior mean [B, 4, H/8, W/8].
Batches are split by ComfyUI's memory estimate; a decode or encode that runs out of device memory
falls back to the tiled path, as ComfyUI does. Tiled: decode averages three tilings
((tile_x/2, 2 tile_y), (2 tile_x, tile_y/2), (tile_x, tile_y)) in latent units with `overlap`;
encode the same in pixel units. Executor thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from toucan_nb.diffusion import memory
from toucan_nb.diffusion.autoencoder import AutoencoderKL
from toucan_nb.diffusion.detection import VAEConfig
from toucan_nb.diffusion.patcher import ModelPatcher
from toucan_nb.diffusion.tiling import tile_count, tiled_scale

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class VAEUnavailableError(RuntimeError):
    """A VAE output with no weights behind it (a checkpoint without a VAE) was used."""


class VAE:
    """An autoencoder ready to encode/decode on the runtime's device."""

    def __init__(self, patcher: ModelPatcher | None, config: VAEConfig | None, dtype: torch.dtype) -> None:
        self.patcher = patcher
        self.config = config
        self.vae_dtype = dtype
        ratio = config.scale if config is not None else 8
        self.downscale_ratio = ratio
        self.upscale_ratio = ratio
        self.latent_channels = config.z_channels if config is not None else 4
        self.output_channels = 3

    @property
    def device(self) -> torch.device:
        return self.patcher.load_device if self.patcher is not None else torch.device("cpu")

    def _network(self) -> AutoencoderKL:
        if self.patcher is None or self.config is None:
            raise VAEUnavailableError("ERROR: VAE is invalid: None\n\nIf the VAE is from a checkpoint loader node "
                                      "your checkpoint does not contain a valid VAE.")
        return self.patcher.network.module  # type: ignore[return-value]

    def spacial_compression_decode(self) -> int:
        return self.upscale_ratio

    def spacial_compression_encode(self) -> int:
        return self.downscale_ratio

    def temporal_compression_decode(self) -> None:
        return None

    # ComfyUI's estimates for AutoencoderKL, in bytes.
    def memory_used_decode(self, shape: tuple[int, ...]) -> float:
        return 2178 * shape[2] * shape[3] * 64 * _size(self.vae_dtype)

    def memory_used_encode(self, shape: tuple[int, ...]) -> float:
        return 1767 * shape[2] * shape[3] * _size(self.vae_dtype)

    def _load(self, memory_required: float) -> AutoencoderKL:
        net = self._network()
        memory.load(self.patcher, int(memory_required))  # type: ignore[arg-type]
        return net

    def _batch(self, memory_per_item: float) -> int:
        return max(1, int(memory.get_free_memory(self.device) / max(1.0, memory_per_item)))

    def decode(self, samples: torch.Tensor) -> torch.Tensor:
        """Raw latents [B, C, h, w] -> images [B, H, W, 3] in 0..1 (CPU, float32)."""
        if samples.ndim == 5:
            samples = samples[:, :, 0]
        used = self.memory_used_decode(tuple(samples.shape))
        try:
            net = self._load(used)
            step = self._batch(used)
            parts = []
            with torch.inference_mode():
                for i in range(0, samples.shape[0], step):
                    z = samples[i:i + step].to(self.vae_dtype).to(self.device)
                    parts.append(_to_image(net.decode(z).to("cpu").float()))
            pixels = torch.cat(parts)
        except torch.OutOfMemoryError:
            log.warning("Warning: Ran out of memory when regular VAE decoding, retrying with tiled VAE decoding.")
            memory.soft_empty_cache()
            return self.decode_tiled(samples)
        return pixels.movedim(1, -1)

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Images [B, H, W, C] in 0..1 -> raw latents [B, 4, H/8, W/8] (CPU, float32)."""
        x = self.crop_pixels(pixels).movedim(-1, 1)
        used = self.memory_used_encode(tuple(x.shape))
        try:
            net = self._load(used)
            step = self._batch(used)
            parts = []
            with torch.inference_mode():
                for i in range(0, x.shape[0], step):
                    chunk = (x[i:i + step] * 2.0 - 1.0).to(self.vae_dtype).to(self.device)
                    parts.append(net.encode(chunk).to("cpu").float())
            return torch.cat(parts)
        except torch.OutOfMemoryError:
            log.warning("Warning: Ran out of memory when regular VAE encoding, retrying with tiled VAE encoding.")
            memory.soft_empty_cache()
            return self._encode_tiled_nchw(x)

    def crop_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Centre-crop height and width to multiples of the downscale ratio; keep the first 3 channels."""
        r = self.downscale_ratio
        for dim in (1, 2):
            size = pixels.shape[dim]
            keep = (size // r) * r
            if keep != size:
                pixels = pixels.narrow(dim, (size % r) // 2, keep)
        if pixels.shape[-1] > self.output_channels:
            pixels = pixels[..., :self.output_channels]
        return pixels

    def decode_tiled(self, samples: torch.Tensor, tile_x: int = 64, tile_y: int = 64, overlap: int = 16,
                     tile_t: int | None = None, overlap_t: int | None = None,
                     progress: Progress | None = None) -> torch.Tensor:
        """Tiled decode; tile sizes and overlap in latent pixels. Returns [B, H, W, 3].

        `tile_t`/`overlap_t` (video VAEs in ComfyUI) are accepted and unused: these VAEs are 2-D."""
        net = self._load(self.memory_used_decode(tuple(samples.shape)))
        h, w = samples.shape[2], samples.shape[3]
        tilings = [(tile_y * 2, tile_x // 2), (tile_y // 2, tile_x * 2), (tile_y, tile_x)]
        ticker = _ticker(progress, samples.shape[0] * sum(tile_count(h, w, th, tw, overlap) for th, tw in tilings))

        def decode(z: torch.Tensor) -> torch.Tensor:
            return net.decode(z.to(self.vae_dtype).to(self.device)).float()

        with torch.inference_mode():
            total = None
            for th, tw in tilings:
                out = tiled_scale(samples, decode, (th, tw), overlap, self.upscale_ratio, self.output_channels, ticker)
                total = out if total is None else total + out
        return _to_image(total / 3.0).movedim(1, -1)

    def encode_tiled(self, pixels: torch.Tensor, tile_x: int = 512, tile_y: int = 512, overlap: int = 64,
                     tile_t: int | None = None, overlap_t: int | None = None,
                     progress: Progress | None = None) -> torch.Tensor:
        """Tiled encode; tile sizes and overlap in image pixels. Returns [B, 4, H/8, W/8] (`tile_t` unused)."""
        return self._encode_tiled_nchw(self.crop_pixels(pixels).movedim(-1, 1), tile_x, tile_y, overlap, progress)

    def _encode_tiled_nchw(self, x: torch.Tensor, tile_x: int = 512, tile_y: int = 512, overlap: int = 64,
                           progress: Progress | None = None) -> torch.Tensor:
        net = self._load(self.memory_used_encode(tuple(x.shape)))
        h, w = x.shape[2], x.shape[3]
        tilings = [(tile_y, tile_x), (tile_y // 2, tile_x * 2), (tile_y * 2, tile_x // 2)]
        ticker = _ticker(progress, x.shape[0] * sum(tile_count(h, w, th, tw, overlap) for th, tw in tilings))

        def encode(pixels: torch.Tensor) -> torch.Tensor:
            return net.encode((pixels * 2.0 - 1.0).to(self.vae_dtype).to(self.device)).float()

        with torch.inference_mode():
            total = None
            for th, tw in tilings:
                out = tiled_scale(x, encode, (th, tw), overlap, 1 / self.downscale_ratio, self.latent_channels, ticker)
                total = out if total is None else total + out
        return total / 3.0


def _to_image(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp((x + 1.0) / 2.0, min=0.0, max=1.0)


def _size(dtype: torch.dtype) -> int:
    return torch.finfo(dtype).bits // 8


def _ticker(progress: Progress | None, total: int) -> Callable[[], None] | None:
    if progress is None:
        return None
    done = [0]

    def tick() -> None:
        done[0] += 1
        progress(done[0], total)

    return tick
