"""Resizing helpers the image and latent nodes share (ComfyUI's `comfy.utils.common_upscale`).

Pure tensor functions on [B, C, H, W] (or 5-D [B, C, T, H, W]) tensors; they compute on the
tensor's own device and return a tensor on that device. Safe to call from any thread.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def common_upscale(samples: torch.Tensor, width: int, height: int, method: str, crop: str) -> torch.Tensor:
    """Resize to (height, width) with one of ComfyUI's methods, optionally centre-cropping first.

    `method`: "nearest-exact", "bilinear", "area", "bicubic" (torch interpolate), "bislerp", "lanczos".
    `crop`: "disabled" or "center" (cut the input to the target aspect ratio before resizing).
    """
    orig_shape = tuple(samples.shape)
    if len(orig_shape) > 4:
        # Fold the extra (time) axis into the batch, resize frame by frame, unfold afterwards.
        b, c = orig_shape[0], orig_shape[1]
        samples = samples.reshape(b, c, -1, orig_shape[-2], orig_shape[-1]).movedim(2, 1)
        samples = samples.reshape(-1, c, orig_shape[-2], orig_shape[-1])
    if crop == "center":
        samples = _center_crop(samples, width, height)
    if method == "bislerp":
        out = bislerp(samples, width, height)
    elif method == "lanczos":
        out = lanczos(samples, width, height)
    else:
        out = F.interpolate(samples, size=(height, width), mode=method)
    if len(orig_shape) == 4:
        return out
    out = out.reshape((orig_shape[0], -1, orig_shape[1], height, width)).movedim(2, 1)
    return out.reshape(orig_shape[:-2] + (height, width))


def _center_crop(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    old_w, old_h = samples.shape[-1], samples.shape[-2]
    old_aspect = old_w / old_h
    new_aspect = width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
    return samples.narrow(-2, y, old_h - 2 * y).narrow(-1, x, old_w - 2 * x)


def lanczos(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Lanczos resize through Pillow, quantised to 8 bits on the way as ComfyUI does."""
    host = (samples.detach().movedim(1, -1).float().cpu().numpy() * 255.0).clip(0, 255).astype(np.uint8)
    frames = []
    for frame in host:
        resized = Image.fromarray(frame).resize((width, height), resample=Image.Resampling.LANCZOS)
        frames.append(torch.from_numpy(np.asarray(resized).astype(np.float32) / 255.0).movedim(-1, 0))
    return torch.stack(frames).to(samples.device, samples.dtype)


def _bilinear_taps(old: int, new: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each of `new` output positions: the two source indices and the weight of the second,
    exactly where torch's bilinear resize (align_corners=False) samples."""
    positions = torch.arange(old, dtype=torch.float32, device=device).reshape(1, 1, 1, -1)
    positions = F.interpolate(positions, size=(1, new), mode="bilinear").reshape(-1)
    first = positions.to(torch.int64)
    second = torch.clamp(first + 1, max=old - 1)
    return first, second, positions - positions.floor()


def _slerp_rows(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of `a` and `b` ([N, C]) with weights `t` ([N, 1]);
    the magnitude is interpolated linearly."""
    a_norm = a.norm(dim=-1, keepdim=True)
    b_norm = b.norm(dim=-1, keepdim=True)
    a_unit = torch.where(a_norm == 0, torch.zeros_like(a), a / a_norm)
    b_unit = torch.where(b_norm == 0, torch.zeros_like(b), b / b_norm)
    dot = (a_unit * b_unit).sum(-1, keepdim=True)
    omega = torch.acos(dot)
    sin_omega = torch.sin(omega)
    out = (torch.sin((1.0 - t) * omega) / sin_omega) * a_unit + (torch.sin(t * omega) / sin_omega) * b_unit
    out = out * (a_norm * (1.0 - t) + b_norm * t)
    # Nearly parallel: keep the first vector; nearly opposite: plain linear interpolation.
    out = torch.where(dot > 1 - 1e-5, a, out)
    return torch.where(dot < 1e-5 - 1, a * (1.0 - t) + b * t, out)


def _bislerp_last_axis(x: torch.Tensor, new: int) -> torch.Tensor:
    """Slerp-resize the last axis of [N, C, H, W] to `new`, treating channels as one vector."""
    n, c, h, w = x.shape
    first, second, weight = _bilinear_taps(w, new, x.device)
    a = x.index_select(-1, first).movedim(1, -1).reshape(-1, c)
    b = x.index_select(-1, second).movedim(1, -1).reshape(-1, c)
    t = weight.reshape(1, 1, -1).expand(n, h, -1).reshape(-1, 1)
    return _slerp_rows(a, b, t).reshape(n, h, new, c).movedim(-1, 1)


def bislerp(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Bilinear resize where each lerp is a slerp over the channel vector (width first, then height)."""
    dtype = samples.dtype
    x = _bislerp_last_axis(samples.float(), width)
    x = _bislerp_last_axis(x.transpose(-1, -2), height).transpose(-1, -2)
    return x.contiguous().to(dtype)


def repeat_to_batch_size(tensor: torch.Tensor, batch_size: int, dim: int = 0) -> torch.Tensor:
    """Cut or tile `tensor` along `dim` to exactly `batch_size` entries."""
    have = tensor.shape[dim]
    if have > batch_size:
        return tensor.narrow(dim, 0, batch_size)
    if have < batch_size:
        reps = [1] * tensor.ndim
        reps[dim] = math.ceil(batch_size / have)
        return tensor.repeat(reps).narrow(dim, 0, batch_size)
    return tensor
