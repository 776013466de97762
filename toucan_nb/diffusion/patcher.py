"""Weight patches over a shared network: how MODEL/CLIP clones carry LoRAs without copying weights.

A `Network` is one loaded torch module (a UNet, a text-encoder stack, a VAE) with its original
tensors kept as `base` (storage dtype, on the CPU). Every MODEL/CLIP value made from it holds a
`ModelPatcher`: the network plus its own list of patches per weight key. `clone()` copies only
that list, so LoRA loaders return new values and never change their inputs, and the executor's
caches stay correct. Patches are applied when a patcher is activated for use (`memory.load`):
the network's parameters are pointed at the base tensors moved to the device, and each patched
key gets `base` + its patches, computed in fp32 (fp16 on CUDA, as ComfyUI) and cast back to the
storage dtype. Only one patch set is live on a network at a time; switching restores the keys the
previous set touched. Called on the executor thread; a lock per network guards activation.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn


class WeightAdapter(Protocol):
    """A patch that knows how to change one weight (LoRA, LoCon, diff, ...)."""

    def apply(self, weight: torch.Tensor, strength: float) -> torch.Tensor:
        """`weight` (compute dtype, on the device) plus `strength` times this patch."""
        ...


@dataclass(frozen=True)
class Patch:
    strength: float
    adapter: WeightAdapter
    strength_model: float = 1.0


class Network:
    """One torch module shared by every clone, and the original tensors behind its parameters."""

    def __init__(self, module: nn.Module, kind: str, rounding: torch.dtype | None = None) -> None:
        self.module = module
        self.kind = kind
        self.rounding = rounding  # patched weights are rounded through this dtype (fp16 text encoders)
        self.params: dict[str, nn.Parameter] = dict(module.named_parameters())
        self.base: dict[str, torch.Tensor] = {k: p.data for k, p in self.params.items()}
        self.device = next(iter(self.base.values())).device if self.base else torch.device("cpu")
        self.applied: object | None = None   # the patch key now live
        self.patched: set[str] = set()
        self.size_bytes = sum(t.numel() * t.element_size() for t in self.base.values())
        self.lock = threading.RLock()

    def keys(self) -> set[str]:
        return set(self.base)

    def _set(self, key: str, tensor: torch.Tensor) -> None:
        """Swap in a new Parameter (works across device types, unlike assigning `.data`)."""
        owner, _, name = key.rpartition(".")
        param = nn.Parameter(tensor, requires_grad=False)
        self.module.get_submodule(owner)._parameters[name] = param
        self.params[key] = param

    def activate(self, patches: Mapping[str, list[Patch]], patch_key: object, device: torch.device,
                 compute_dtype: torch.dtype) -> None:
        """Point the parameters at `device` copies with exactly `patches` applied."""
        with self.lock:
            if self.device == device and self.applied == patch_key:
                return
            try:
                with torch.no_grad():
                    if self.device != device:
                        for k in self.params:
                            self._set(k, self.base[k].to(device))
                        self.patched = set()
                        self.device = device
                    else:
                        for k in self.patched:
                            self._set(k, self.base[k].to(device))
                        self.patched = set()
                    for k, plist in patches.items():
                        if plist:
                            self._set(k, patched_weight(self.base[k], plist, device, compute_dtype, self.rounding))
                            self.patched.add(k)
            except BaseException:
                # Out of memory half-way: go back to the CPU tensors rather than stay half moved.
                self.offload()
                raise
            self.applied = patch_key

    def offload(self) -> None:
        """Back to the unpatched CPU tensors (frees the device copies)."""
        with self.lock:
            for k in self.params:
                self._set(k, self.base[k])
            self.patched = set()
            self.applied = None
            self.device = next(iter(self.base.values())).device if self.base else torch.device("cpu")


def patched_weight(base: torch.Tensor, patches: list[Patch], device: torch.device,
                   compute_dtype: torch.dtype, rounding: torch.dtype | None = None) -> torch.Tensor:
    """`base` with `patches` applied in order, in `compute_dtype`, returned in `base`'s dtype
    (rounded through `rounding` first when given)."""
    weight = base.to(device=device, dtype=compute_dtype, copy=True)
    for patch in patches:
        if patch.strength_model != 1.0:
            weight *= patch.strength_model
        weight = patch.adapter.apply(weight, patch.strength)
    if rounding is not None:
        weight = weight.to(rounding)
    return weight.to(base.dtype)


class ModelPatcher:
    """A network, where it should run, and this value's patches (ComfyUI's ModelPatcher, reduced)."""

    def __init__(self, network: Network, load_device: torch.device, compute_dtype_for_patches: torch.dtype) -> None:
        self.network = network
        self.load_device = load_device
        self.patch_dtype = compute_dtype_for_patches
        self.patches: dict[str, list[Patch]] = {}
        self.patch_key: object = "unpatched"

    def clone(self) -> ModelPatcher:
        other = ModelPatcher(self.network, self.load_device, self.patch_dtype)
        other.patches = {k: list(v) for k, v in self.patches.items()}
        other.patch_key = self.patch_key
        return other

    def add_patches(self, patches: Mapping[str, WeightAdapter], strength_patch: float = 1.0,
                    strength_model: float = 1.0) -> list[str]:
        """Append one patch per key the network has; returns the keys taken (others are ignored)."""
        taken = []
        keys = self.network.keys()
        for key, adapter in patches.items():
            if key in keys:
                self.patches.setdefault(key, []).append(Patch(strength_patch, adapter, strength_model))
                taken.append(key)
        if taken:
            self.patch_key = uuid.uuid4()
        return taken

    def activate(self) -> None:
        """Make the network live on `load_device` with these patches (memory.load calls this)."""
        self.network.activate(self.patches, self.patch_key, self.load_device, self.patch_dtype)

    def state_dict_keys(self) -> set[str]:
        return self.network.keys()

