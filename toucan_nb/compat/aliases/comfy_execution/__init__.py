"""Alias of ComfyUI's `comfy_execution` package, provided by toucan_nb.compat.

`graph_utils` and `graph` re-export the runtime's own GraphBuilder/ExecutionBlocker objects, so
the executor's isinstance checks see what custom nodes build; `utils` is the executing context.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = frozenset({"graph", "graph_utils", "utils", "jobs"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
