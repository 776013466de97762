"""The torch device nodes run on: CUDA when present (unless configured for CPU), else CPU.

The only runtime module that imports torch; the import happens on first use, not at import time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_device: Any = None
_force_cpu = False
_configured: str | None = None
# Whoever loads models (a hosted node library) registers how to unload them all: `/free` and an
# out-of-memory error call them (docs/architecture.md §2: the runtime does not know who they are).
_unloaders: list[Callable[[], None]] = []


def configure(device: str | None = None, cpu: bool = False) -> None:
    """Pin the device (`"cuda:1"`, `"cpu"`) or force the CPU; called once by the host at start-up."""
    global _device, _force_cpu, _configured
    with _lock:
        _configured = device
        _force_cpu = cpu
        _device = None


def get_torch_device() -> Any:
    """The `torch.device` node code should allocate on."""
    global _device
    if _device is None:
        with _lock:
            if _device is None:
                import torch

                if _configured:
                    _device = torch.device(_configured)
                    if _device.type == "cuda" and _device.index is None:
                        # Tensors report "cuda:0", never "cuda": keep `t.device == get_torch_device()` true.
                        _device = torch.device("cuda", torch.cuda.current_device())
                elif not _force_cpu and torch.cuda.is_available():
                    _device = torch.device("cuda", torch.cuda.current_device())
                else:
                    _device = torch.device("cpu")
    return _device


def intermediate_device() -> Any:
    """Where results that leave the graph (saving, previews) are gathered: the CPU."""
    import torch

    return torch.device("cpu")


def soft_empty_cache() -> None:
    """Release cached GPU memory back to the driver (no-op on the CPU)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def add_model_unloader(unload: Callable[[], None]) -> None:
    """Register a function that unloads every model it manages (called by `unload_models`)."""
    with _lock:
        if unload not in _unloaders:
            _unloaders.append(unload)


def remove_model_unloader(unload: Callable[[], None]) -> None:
    with _lock:
        if unload in _unloaders:
            _unloaders.remove(unload)


def unload_models() -> None:
    """Unload the models of every registered unloader, then release cached device memory.

    `/free` with `unload_models` and an out-of-memory error in a node call it (the executor thread).
    """
    with _lock:
        unloaders = list(_unloaders)
    for unload in unloaders:
        unload()
    soft_empty_cache()


def device_stats() -> dict[str, Any]:
    """The one `devices` entry of /system_stats (docs/protocol.md §4)."""
    import torch

    dev = get_torch_device()
    if dev.type == "cuda":
        free, total = torch.cuda.mem_get_info(dev)
        stats = torch.cuda.memory_stats(dev)
        reserved = stats.get("reserved_bytes.all.current", 0)
        active = stats.get("active_bytes.all.current", 0)
        name = f"{dev} {torch.cuda.get_device_name(dev)} : {torch.cuda.get_allocator_backend()}"
        return {"name": name, "type": "cuda", "index": dev.index, "vram_total": total,
                "vram_free": free + (reserved - active), "torch_vram_total": reserved,
                "torch_vram_free": reserved - active}
    import psutil

    vm = psutil.virtual_memory()
    return {"name": str(dev), "type": dev.type, "index": None, "vram_total": vm.total,
            "vram_free": vm.available, "torch_vram_total": vm.total, "torch_vram_free": vm.available}
