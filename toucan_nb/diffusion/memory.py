"""Where models run and in which dtype, which are on the device now, and freeing device memory.

A simpler `comfy/model_management.py`. The device is the runtime's (`runtime/device.py`). Dtypes:
the UNet in fp16 on CUDA (compute capability 7+; fp32 below and on the CPU), text encoders with
fp16 weights computed in fp32 everywhere (ComfyUI's default; on the CPU the fp16 values are kept
as fp32 to skip per-call casts), the VAE in bf16 on CUDA with bf16
support (capability 8+) and fp32 otherwise (ComfyUI never runs the SD VAEs in fp16: SDXL's
overflows). Networks are moved to the device when used (`load`); the ones on an accelerator are
kept in least-recently-used order, and when a new one does not fit the free memory (minus
ComfyUI's 1.2 GB inference reserve) the oldest are moved back to the CPU first. A network that
still does not fit is loaded anyway: the resulting `torch.OutOfMemoryError` reaches the
executor, which reports it with ComfyUI's tips. `unload_all()` and `free_memory()` serve `/free`.
Networks are tracked weakly: a model nobody references any more is freed by the garbage collector.
Executor thread; a module lock guards the table.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING

import torch

from toucan_nb.runtime import device as runtime_device

if TYPE_CHECKING:
    from toucan_nb.diffusion.patcher import ModelPatcher, Network

log = logging.getLogger(__name__)

# ComfyUI keeps text encoders in fp16 (and computes in fp32): every weight is rounded to fp16.
TEXT_ENCODER_ROUNDING = torch.float16
# ComfyUI's minimum_inference_memory(): 0.8 GiB plus 400 MiB reserved for other applications.
INFERENCE_RESERVE = int(0.8 * 1024**3) + 400 * 1024**2

_lock = threading.RLock()
_on_device: OrderedDict[int, weakref.ref[Network]] = OrderedDict()


def get_torch_device() -> torch.device:
    return runtime_device.get_torch_device()


def _capability(device: torch.device) -> tuple[int, int]:
    return torch.cuda.get_device_capability(device)


def unet_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda" and _capability(device)[0] >= 7:
        return torch.float16
    return torch.float32


def vae_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda" and _capability(device)[0] >= 8 and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def text_encoder_dtype(device: torch.device) -> torch.dtype:
    """Storage of text-encoder weights: fp16 on CUDA; on the CPU the fp16-rounded values held as fp32,
    which computes the same numbers without casting every weight on every call."""
    return torch.float16 if device.type == "cuda" else torch.float32


def patch_dtype(device: torch.device) -> torch.dtype:
    """The dtype LoRA patches are summed in (ComfyUI's lora_compute_dtype)."""
    return torch.float16 if unet_dtype(device) == torch.float16 else torch.float32


def get_free_memory(device: torch.device | None = None) -> int:
    """Bytes free for tensors on `device`: CUDA free plus torch's reserved-but-unused; RAM on the CPU."""
    device = device or get_torch_device()
    if device.type == "cuda":
        stats = torch.cuda.memory_stats(device)
        free_cuda, _total = torch.cuda.mem_get_info(device)
        return int(free_cuda + stats.get("reserved_bytes.all.current", 0) - stats.get("active_bytes.all.current", 0))
    import psutil

    return int(psutil.virtual_memory().available)


def _live() -> list[Network]:
    """Networks on a device now, least recently used first (drops dead references)."""
    out = []
    for key, ref in list(_on_device.items()):
        net = ref()
        if net is None or net.device.type == "cpu":
            del _on_device[key]
        else:
            out.append(net)
    return out


def free_memory(required: int, device: torch.device, keep: tuple[Network, ...] = ()) -> int:
    """Offload least recently used networks from `device` until `required` bytes are free.

    Returns how many networks were offloaded.
    """
    offloaded = 0
    with _lock:
        for net in _live():
            if device.type == "cpu" or get_free_memory(device) >= required:
                break
            if net in keep or net.device != device:
                continue
            log.info("offloading %s (%.0f MB) to free device memory", net.kind, net.size_bytes / 2**20)
            net.offload()
            _on_device.pop(id(net), None)
            offloaded += 1
    if offloaded:
        runtime_device.soft_empty_cache()
    return offloaded


def load(patcher: ModelPatcher, memory_required: int = 0) -> None:
    """Make `patcher`'s network live on its device with its patches, making room first if needed."""
    net = patcher.network
    device = patcher.load_device
    with _lock:
        if device.type != "cpu":
            needed = max(memory_required, INFERENCE_RESERVE)
            if net.device != device:
                needed += net.size_bytes
            free_memory(needed, device, keep=(net,))
        patcher.activate()
        if device.type != "cpu":
            _on_device.pop(id(net), None)
            _on_device[id(net)] = weakref.ref(net)


def loaded_networks() -> list[Network]:
    """The networks now on a device, least recently used first."""
    with _lock:
        return _live()


def unload_all() -> None:
    """Move every network back to the CPU and release cached device memory (`/free` unload_models)."""
    with _lock:
        for net in _live():
            net.offload()
        _on_device.clear()
    runtime_device.soft_empty_cache()


def soft_empty_cache() -> None:
    runtime_device.soft_empty_cache()
