"""Alias of ComfyUI's `comfy.comfy_types`: the same objects as `comfy.comfy_types.node_typing`."""

from __future__ import annotations

from toucan_nb.compat.node_typing import (
    IO,
    CheckLazyMixin,
    ComfyNodeABC,
    FileLocator,
    InputTypeDict,
    UnetApplyConds,
    UnetApplyFunction,
    UnetParams,
    UnetWrapperFunction,
)

__all__ = [
    "IO",
    "CheckLazyMixin",
    "ComfyNodeABC",
    "FileLocator",
    "InputTypeDict",
    "UnetApplyConds",
    "UnetApplyFunction",
    "UnetParams",
    "UnetWrapperFunction",
]
