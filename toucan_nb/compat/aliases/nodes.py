"""Alias of ComfyUI's `nodes` module: the node mappings as live views of the attached runtime's
registry, `MAX_RESOLUTION` and `interrupt_processing`.

Registered node classes are also attributes (`from nodes import SaveImage`), looked up on use;
`EXTENSION_WEB_DIRS` is the registry's `web_dirs` dict.
"""

from __future__ import annotations

from typing import Any

from toucan_nb.compat.devices import interrupt_current_processing, throw_exception_if_processing_interrupted
from toucan_nb.compat.node_mappings import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, attached_registry

MAX_RESOLUTION = 16384


def interrupt_processing(value: bool = True) -> None:
    """Interrupt the running prompt (ComfyUI's `POST /interrupt` does this)."""
    interrupt_current_processing(value)


def before_node_execution() -> None:
    """Raise `InterruptProcessingException` if the running prompt was interrupted."""
    throw_exception_if_processing_interrupted()


def __getattr__(name: str) -> Any:
    registry = attached_registry()
    if name == "EXTENSION_WEB_DIRS":
        return {} if registry is None else registry.web_dirs
    cls = None if registry is None or name.startswith("__") else registry.find(name)
    if cls is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return cls


__all__ = [
    "MAX_RESOLUTION",
    "NODE_CLASS_MAPPINGS",
    "NODE_DISPLAY_NAME_MAPPINGS",
    "before_node_execution",
    "interrupt_processing",
]
