"""Tensor and checkpoint helpers packs import from ComfyUI's `comfy.utils`.

Resizing (`common_upscale` with nearest/bilinear/bicubic/area/nearest-exact, `lanczos`, `bislerp`),
batch-size fitting, tiled processing, and state-dict files through safetensors or torch. Our own
implementations of ComfyUI's documented behaviour. torch is imported on first call, never at import.
Pure functions; any thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def _torch() -> Any:
    import torch

    return torch


# -- checkpoints ---------------------------------------------------------------------------------
def load_torch_file(ckpt: str, safe_load: bool = False, device: Any = None, return_metadata: bool = False) -> Any:
    """Load a state dict from `.safetensors`/`.sft` or a torch pickle (always with weights_only).

    A torch file holding `{"state_dict": ...}`, or a single dict-valued key, is unwrapped.
    With `return_metadata`, returns `(state_dict, metadata or None)`.
    """
    torch = _torch()
    device = torch.device("cpu") if device is None else torch.device(device)
    metadata = None
    if ckpt.lower().endswith((".safetensors", ".sft")):
        import safetensors

        with safetensors.safe_open(ckpt, framework="pt", device=str(device)) as f:
            sd = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
            if return_metadata:
                metadata = f.metadata()
    else:
        loaded = torch.load(ckpt, map_location=device, weights_only=True)
        if isinstance(loaded, dict) and "state_dict" in loaded:
            sd = loaded["state_dict"]
        elif isinstance(loaded, dict) and len(loaded) == 1 and isinstance(next(iter(loaded.values())), dict):
            sd = next(iter(loaded.values()))
        else:
            sd = loaded
    return (sd, metadata) if return_metadata else sd


def save_torch_file(sd: dict[str, Any], ckpt: str, metadata: dict[str, str] | None = None) -> None:
    """Write a state dict as safetensors."""
    import safetensors.torch

    safetensors.torch.save_file(sd, ckpt, metadata=metadata)


def calculate_parameters(sd: dict[str, Any], prefix: str = "") -> int:
    """Number of elements in the tensors whose key starts with `prefix`."""
    return sum(v.nelement() for k, v in sd.items() if k.startswith(prefix))


# -- batches -------------------------------------------------------------------------------------
def repeat_to_batch_size(tensor: Any, batch_size: int, dim: int = 0) -> Any:
    """Cut or tile `tensor` along `dim` to exactly `batch_size`."""
    size = tensor.shape[dim]
    if size > batch_size:
        return tensor.narrow(dim, 0, batch_size)
    if size < batch_size:
        reps = [1] * tensor.dim()
        reps[dim] = math.ceil(batch_size / size)
        return tensor.repeat(reps).narrow(dim, 0, batch_size)
    return tensor


def _resample_indices(in_size: int, out_size: int) -> list[int]:
    if out_size <= 1:
        return list(range(out_size))
    if out_size < in_size:
        step = (in_size - 1) / (out_size - 1)
        return [min(round(i * step), in_size - 1) for i in range(out_size)]
    step = in_size / out_size
    return [min(math.floor((i + 0.5) * step), in_size - 1) for i in range(out_size)]


def resize_to_batch_size(tensor: Any, batch_size: int) -> Any:
    """Pick `batch_size` items spread evenly over the batch (repeating when growing)."""
    if tensor.shape[0] == batch_size:
        return tensor
    return tensor[_resample_indices(tensor.shape[0], batch_size)]


def resize_list_to_batch_size(items: list[Any], batch_size: int) -> list[Any]:
    if len(items) in (0, batch_size):
        return items
    return [items[i] for i in _resample_indices(len(items), batch_size)]


# -- resizing ------------------------------------------------------------------------------------
# Resampling is the node library's (checked against ComfyUI's own results there); imported on
# first use so that importing comfy.utils does not import torch.


def lanczos(samples: Any, width: int, height: int) -> Any:
    from toucan_nb.nodes import resample

    return resample.lanczos(samples, width, height)


def bislerp(samples: Any, width: int, height: int) -> Any:
    from toucan_nb.nodes import resample

    return resample.bislerp(samples, width, height)


def common_upscale(samples: Any, width: int, height: int, upscale_method: str, crop: str) -> Any:
    """ComfyUI's common_upscale: resize [B,C,H,W] (or more dims) to width x height."""
    from toucan_nb.nodes import resample

    return resample.common_upscale(samples, width, height, upscale_method, crop)


def get_tiled_scale_steps(width: int, height: int, tile_x: int, tile_y: int, overlap: int) -> int:
    """How many tiles `tiled_scale` runs for an image of this size."""
    rows = 1 if height <= tile_y else math.ceil((height - overlap) / (tile_y - overlap))
    cols = 1 if width <= tile_x else math.ceil((width - overlap) / (tile_x - overlap))
    return rows * cols


def _tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    stride = tile - overlap
    count = math.ceil((size - overlap) / stride)
    return [min(i * stride, size - tile) for i in range(count)]


def tiled_scale(samples: Any, function: Callable[[Any], Any], tile_x: int = 64, tile_y: int = 64,
                overlap: int = 8, upscale_amount: float = 4, out_channels: int = 3,
                output_device: Any = "cpu", pbar: Any = None) -> Any:
    """Run `function` (e.g. an upscale model) over overlapping tiles of `[B,C,H,W]` and blend them.

    Each tile's output is weighted by a mask that ramps up over the overlap, so seams fade.
    `pbar.update(1)` is called after every tile.
    """
    torch = _torch()
    batch, _channels, height, width = samples.shape
    out_h, out_w = round(height * upscale_amount), round(width * upscale_amount)
    output = torch.zeros((batch, out_channels, out_h, out_w), device=output_device)
    for b in range(batch):
        image = samples[b:b + 1]
        acc = torch.zeros((1, out_channels, out_h, out_w), device=output_device)
        weight = torch.zeros((1, 1, out_h, out_w), device=output_device)
        for y in _tile_starts(height, tile_y, overlap):
            for x in _tile_starts(width, tile_x, overlap):
                tile = image[:, :, y:y + tile_y, x:x + tile_x]
                result = function(tile).to(output_device)
                th, tw = result.shape[-2], result.shape[-1]
                oy, ox = round(y * upscale_amount), round(x * upscale_amount)
                th, tw = min(th, out_h - oy), min(tw, out_w - ox)
                mask = _feather_mask(th, tw, round(overlap * upscale_amount), output_device)
                acc[:, :, oy:oy + th, ox:ox + tw] += result[:, :, :th, :tw] * mask
                weight[:, :, oy:oy + th, ox:ox + tw] += mask
                if pbar is not None:
                    pbar.update(1)
        output[b:b + 1] = acc / weight.clamp_min(1e-8)
    return output


def _feather_mask(height: int, width: int, feather: int, device: Any) -> Any:
    torch = _torch()

    def ramp(n: int) -> Any:
        r = torch.ones(n, device=device)
        f = min(feather, n // 2)
        if f > 0:
            edge = (torch.arange(f, device=device, dtype=torch.float32) + 1) / (f + 1)
            r[:f] = torch.minimum(r[:f], edge)
            r[n - f:] = torch.minimum(r[n - f:], edge.flip(0))
        return r

    return (ramp(height)[:, None] * ramp(width)[None, :])[None, None]
