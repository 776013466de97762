"""The commonly imported parts of ComfyUI's `comfy.model_management`, on `toucan_nb.runtime.device`.

Devices and memory come from the runtime's device module; interrupts from the running prompt
(`toucan_nb.compat.progress`); `unload_all_models` asks the attached runtime to free memory.
ComfyUI's model patcher machinery (`load_models_gpu`, `LoadedModel`, dtype policy) is not here.

Node code calls these from the executor thread or threads it started.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

from toucan_nb.compat import progress, state
from toucan_nb.runtime import device as _device
from toucan_nb.runtime.errors import ExecutionInterruptedError

log = logging.getLogger(__name__)

InterruptProcessingException = ExecutionInterruptedError


class VRAMState(Enum):
    DISABLED = 0
    NO_VRAM = 1
    LOW_VRAM = 2
    NORMAL_VRAM = 3
    HIGH_VRAM = 4
    SHARED = 5


class CPUState(Enum):
    GPU = 0
    CPU = 1
    MPS = 2


def get_torch_device() -> Any:
    return _device.get_torch_device()


def intermediate_device() -> Any:
    return _device.intermediate_device()


def unet_offload_device() -> Any:
    return _device.intermediate_device()


def text_encoder_offload_device() -> Any:
    return _device.intermediate_device()


def vae_offload_device() -> Any:
    return _device.intermediate_device()


def unet_inital_load_device(parameters: int = 0, dtype: Any = None) -> Any:
    return _device.get_torch_device()


def text_encoder_device() -> Any:
    return _device.get_torch_device()


def vae_device() -> Any:
    return _device.get_torch_device()


def soft_empty_cache(force: bool = False) -> None:
    _device.soft_empty_cache()


def unload_all_models() -> None:
    """Ask the attached runtime to unload models and free memory, then release cached GPU memory."""
    rt = state.runtime()
    free = getattr(rt, "free", None)
    if callable(free):
        free(unload_models=True)
    _device.soft_empty_cache()


def is_device_type(device: Any, type_name: str) -> bool:
    return getattr(device, "type", None) == type_name


def is_device_cpu(device: Any) -> bool:
    return is_device_type(device, "cpu")


def is_device_cuda(device: Any) -> bool:
    return is_device_type(device, "cuda")


def is_device_mps(device: Any) -> bool:
    return is_device_type(device, "mps")


def is_device_xpu(device: Any) -> bool:
    return is_device_type(device, "xpu")


def cpu_mode() -> bool:
    return is_device_cpu(get_torch_device())


def mps_mode() -> bool:
    return is_device_mps(get_torch_device())


def current_cpu_state() -> CPUState:
    """ComfyUI's `cpu_state` variable."""
    if mps_mode():
        return CPUState.MPS
    return CPUState.CPU if cpu_mode() else CPUState.GPU


def current_vram_state() -> VRAMState:
    """ComfyUI's `vram_state` variable: no VRAM management off the GPU."""
    return VRAMState.NORMAL_VRAM if current_cpu_state() == CPUState.GPU else VRAMState.DISABLED


def is_nvidia() -> bool:
    import torch

    return is_device_cuda(get_torch_device()) and torch.version.cuda is not None


def is_amd() -> bool:
    import torch

    return is_device_cuda(get_torch_device()) and getattr(torch.version, "hip", None) is not None


def xformers_enabled() -> bool:
    """toucan_nb never uses xformers."""
    return False


def get_torch_device_name(device: Any) -> str:
    if is_device_cuda(device):
        import torch

        return f"{device} {torch.cuda.get_device_name(device)}"
    return str(getattr(device, "type", device))


def get_autocast_device(dev: Any) -> str:
    return str(getattr(dev, "type", "cuda"))


def get_total_memory(dev: Any = None, torch_total_too: bool = False) -> Any:
    """Bytes of device memory (system RAM on the CPU); with `torch_total_too`, (total, torch total)."""
    dev = dev if dev is not None else get_torch_device()
    if is_device_cuda(dev):
        import torch

        total = torch.cuda.mem_get_info(dev)[1]
        torch_total = torch.cuda.memory_stats(dev).get("reserved_bytes.all.current", 0)
    else:
        import psutil

        total = torch_total = psutil.virtual_memory().total
    return (total, torch_total) if torch_total_too else total


def get_free_memory(dev: Any = None, torch_free_too: bool = False) -> Any:
    """Free bytes on `dev` (counting torch's reserved-but-inactive memory as free)."""
    dev = dev if dev is not None else get_torch_device()
    if is_device_cuda(dev):
        import torch

        free_cuda = torch.cuda.mem_get_info(dev)[0]
        stats = torch.cuda.memory_stats(dev)
        free_torch = stats.get("reserved_bytes.all.current", 0) - stats.get("active_bytes.all.current", 0)
        free_total = free_cuda + free_torch
    else:
        import psutil

        free_total = free_torch = psutil.virtual_memory().available
    return (free_total, free_torch) if torch_free_too else free_total


def cast_to_device(tensor: Any, device: Any, dtype: Any, copy: bool = False) -> Any:
    return tensor.to(device=device, dtype=dtype, copy=copy)


def module_size(module: Any) -> int:
    """Bytes held by a torch module's state dict."""
    return sum(t.nelement() * t.element_size() for t in module.state_dict().values())


def throw_exception_if_processing_interrupted() -> None:
    progress.throw_if_interrupted()


def processing_interrupted() -> bool:
    return progress.processing_interrupted()


def interrupt_current_processing(value: bool = True) -> None:
    progress.interrupt(value)


def out_of_memory_exception() -> type[BaseException]:
    import torch

    return torch.cuda.OutOfMemoryError
