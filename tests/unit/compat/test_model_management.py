"""comfy.model_management: devices and memory from toucan_nb.runtime.device, runtime-backed unloads."""

from __future__ import annotations

import torch

from toucan_nb.runtime import device


def test_devices_come_from_the_runtime(runtime):
    import comfy.model_management as mm

    assert mm.get_torch_device() == device.get_torch_device()
    assert mm.intermediate_device() == torch.device("cpu")
    assert mm.unet_offload_device() == torch.device("cpu")
    assert mm.cpu_mode() is (device.get_torch_device().type == "cpu")
    assert mm.is_device_cpu(torch.device("cpu")) and not mm.is_device_cuda(torch.device("cpu"))
    expected_state = mm.CPUState.CPU if mm.cpu_mode() else mm.CPUState.GPU
    assert mm.cpu_state == expected_state
    assert mm.vram_state in (mm.VRAMState.DISABLED, mm.VRAMState.NORMAL_VRAM)
    assert mm.xformers_enabled() is False
    assert mm.OOM_EXCEPTION is torch.cuda.OutOfMemoryError


def test_memory_figures(runtime):
    import comfy.model_management as mm

    total = mm.get_total_memory()
    free, free_torch = mm.get_free_memory(torch_free_too=True)
    assert 0 < free <= total and free_torch >= 0
    assert mm.total_ram > 0 and mm.total_vram > 0
    assert mm.module_size(torch.nn.Linear(4, 2)) == (4 * 2 + 2) * 4


def test_unload_all_models_asks_the_runtime(runtime):
    import comfy.model_management as mm

    mm.unload_all_models()
    mm.soft_empty_cache(force=True)
    assert runtime.frees == [{"unload_models": True, "free_memory": False}]
    assert mm.cast_to_device(torch.ones(2), torch.device("cpu"), torch.float16).dtype == torch.float16
