"""Alias of ComfyUI's `comfy.comfy_types.node_typing` (toucan_nb.compat.node_typing's objects)."""

from __future__ import annotations

from toucan_nb.compat.node_typing import (
    IO,
    CheckLazyMixin,
    ComfyNodeABC,
    FileLocator,
    HiddenInputTypeDict,
    InputTypeDict,
    InputTypeOptions,
    MultiSelectOptions,
    RemoteInputOptions,
    StrEnum,
)

__all__ = [
    "IO",
    "CheckLazyMixin",
    "ComfyNodeABC",
    "FileLocator",
    "HiddenInputTypeDict",
    "InputTypeDict",
    "InputTypeOptions",
    "MultiSelectOptions",
    "RemoteInputOptions",
    "StrEnum",
]
