"""Alias of ComfyUI's `comfy.model_management`: devices, memory and interrupts (toucan_nb.compat.devices).

`cpu_state`, `vram_state`, `total_vram`/`total_ram` (MiB) and `OOM_EXCEPTION` are computed on
first access, so importing this module resolves no device.
"""

from __future__ import annotations

from typing import Any

from toucan_nb.compat.devices import (
    CPUState,
    InterruptProcessingException,
    VRAMState,
    cast_to_device,
    cpu_mode,
    get_autocast_device,
    get_free_memory,
    get_torch_device,
    get_torch_device_name,
    get_total_memory,
    intermediate_device,
    interrupt_current_processing,
    is_amd,
    is_device_cpu,
    is_device_cuda,
    is_device_mps,
    is_device_type,
    is_device_xpu,
    is_nvidia,
    module_size,
    mps_mode,
    processing_interrupted,
    soft_empty_cache,
    text_encoder_device,
    text_encoder_offload_device,
    throw_exception_if_processing_interrupted,
    unet_inital_load_device,
    unet_offload_device,
    unload_all_models,
    vae_device,
    vae_offload_device,
    xformers_enabled,
)


def __getattr__(name: str) -> Any:
    from toucan_nb.compat import devices

    if name == "cpu_state":
        return devices.current_cpu_state()
    if name == "vram_state":
        return devices.current_vram_state()
    if name == "total_vram":
        return devices.get_total_memory(devices.get_torch_device()) / (1024 * 1024)
    if name == "total_ram":
        import psutil

        return psutil.virtual_memory().total / (1024 * 1024)
    if name == "OOM_EXCEPTION":
        return devices.out_of_memory_exception()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CPUState",
    "InterruptProcessingException",
    "VRAMState",
    "cast_to_device",
    "cpu_mode",
    "get_autocast_device",
    "get_free_memory",
    "get_torch_device",
    "get_torch_device_name",
    "get_total_memory",
    "intermediate_device",
    "interrupt_current_processing",
    "is_amd",
    "is_device_cpu",
    "is_device_cuda",
    "is_device_mps",
    "is_device_type",
    "is_device_xpu",
    "is_nvidia",
    "module_size",
    "mps_mode",
    "processing_interrupted",
    "soft_empty_cache",
    "text_encoder_device",
    "text_encoder_offload_device",
    "throw_exception_if_processing_interrupted",
    "unet_inital_load_device",
    "unet_offload_device",
    "unload_all_models",
    "vae_device",
    "vae_offload_device",
    "xformers_enabled",
]
