"""Alias of ComfyUI's `comfy` package, provided by toucan_nb.compat (installed by `install()`).

Only the custom-node API lives here: `comfy.comfy_types`, `comfy.utils`, `comfy.model_management`.
Submodules also load on attribute access (`import comfy; comfy.utils.ProgressBar`), as they
appear to do in ComfyUI, where the server imported them first.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = frozenset({"comfy_types", "utils", "model_management"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
