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
def lanczos(samples: Any, width: int, height: int) -> Any:
    """Resize `[B,C,H,W]` 0..1 images with PIL's Lanczos filter (through 8-bit, as ComfyUI does)."""
    import numpy as np
    from PIL import Image

    torch = _torch()
    out = []
    for image in samples:
        array = np.clip(255.0 * image.movedim(0, -1).float().cpu().numpy(), 0, 255).astype(np.uint8)
        pil = Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array)
        resized = np.asarray(pil.resize((width, height), resample=Image.Resampling.LANCZOS), dtype=np.float32)
        if resized.ndim == 2:
            resized = resized[..., None]
        out.append(torch.from_numpy(resized / 255.0).movedim(-1, 0))
    return torch.stack(out).to(samples.device, samples.dtype)


def _slerp(a: Any, b: Any, t: Any) -> Any:
    """Spherical interpolation of the channel vectors (last dim) of `a` and `b` by `t` in 0..1.

    Directions are slerped, magnitudes interpolated linearly; near-parallel vectors fall back to
    `a`'s direction and near-opposite ones to a normalised lerp.
    """
    torch = _torch()
    na = a.norm(dim=-1, keepdim=True)
    nb = b.norm(dim=-1, keepdim=True)
    ua = torch.where(na > 0, a / na.clamp_min(1e-12), torch.zeros_like(a))
    ub = torch.where(nb > 0, b / nb.clamp_min(1e-12), torch.zeros_like(b))
    dot = (ua * ub).sum(dim=-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(dot)
    sin_omega = torch.sin(omega)
    safe = sin_omega.abs() > 1e-5
    denom = torch.where(safe, sin_omega, torch.ones_like(sin_omega))
    direction = (torch.sin((1.0 - t) * omega) / denom) * ua + (torch.sin(t * omega) / denom) * ub
    lerped = (1.0 - t) * ua + t * ub
    lerped = lerped / lerped.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    fallback = torch.where(dot > 0, ua.expand_as(direction), lerped)
    direction = torch.where(safe, direction, fallback)
    return direction * ((1.0 - t) * na + t * nb)


def _axis_coords(in_size: int, out_size: int, device: Any) -> tuple[Any, Any, Any]:
    torch = _torch()
    pos = (torch.arange(out_size, device=device, dtype=torch.float32) + 0.5) * (in_size / out_size) - 0.5
    pos = pos.clamp(0, in_size - 1)
    low = pos.floor().long()
    high = (low + 1).clamp(max=in_size - 1)
    return low, high, (pos - low.float())


def bislerp(samples: Any, width: int, height: int) -> Any:
    """Bilinear resize of `[B,C,H,W]` that slerps channel vectors instead of lerping them."""
    orig_dtype = samples.dtype
    x = samples.float().movedim(1, -1)  # B,H,W,C
    low, high, t = _axis_coords(x.shape[2], width, x.device)
    x = _slerp(x[:, :, low], x[:, :, high], t[None, None, :, None])
    low, high, t = _axis_coords(x.shape[1], height, x.device)
    x = _slerp(x[:, low], x[:, high], t[None, :, None, None])
    return x.movedim(-1, 1).to(orig_dtype)


def _center_crop(samples: Any, width: int, height: int) -> Any:
    old_w, old_h = samples.shape[-1], samples.shape[-2]
    old_aspect, new_aspect = old_w / old_h, width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
    return samples.narrow(-2, y, old_h - 2 * y).narrow(-1, x, old_w - 2 * x)


def common_upscale(samples: Any, width: int, height: int, upscale_method: str, crop: str) -> Any:
    """Resize channel-first samples (`[B,C,H,W]`, or 5-D video latents) to `width` x `height`.

    `crop="center"` first cuts the input to the target aspect ratio. `upscale_method` is
    "bislerp", "lanczos" or any `torch.nn.functional.interpolate` mode.
    """
    torch = _torch()
    shape = tuple(samples.shape)
    flat = samples
    if len(shape) > 4:  # fold the extra (time) dims into the batch
        flat = samples.reshape(shape[0], shape[1], -1, shape[-2], shape[-1]).movedim(2, 1)
        flat = flat.reshape(-1, shape[1], shape[-2], shape[-1])
    if crop == "center":
        flat = _center_crop(flat, width, height)
    if upscale_method == "bislerp":
        out = bislerp(flat, width, height)
    elif upscale_method == "lanczos":
        out = lanczos(flat, width, height)
    else:
        out = torch.nn.functional.interpolate(flat, size=(height, width), mode=upscale_method)
    if len(shape) <= 4:
        return out
    out = out.reshape(shape[0], -1, shape[1], height, width).movedim(2, 1)
    return out.reshape(shape[:-2] + (height, width))


# -- tiles ---------------------------------------------------------------------------------------
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
