"""toucan_nb's testing pack: custom nodes with the behaviours ComfyUI's execution tests rely on
(docs/execution.md §6.1), written as an ordinary ComfyUI pack. It imports ComfyUI only through the
public custom-node modules (`comfy.*`, `comfy_execution.*`, `comfy_api.*`), which toucan_nb
provides as aliases, and merges its submodules' mappings with relative imports.
"""

from __future__ import annotations

from . import async_nodes, evaluation, flow, lists, logic, progress_api, stubs

_MODULES = (evaluation, flow, lists, logic, stubs, async_nodes, progress_api)

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
for _module in _MODULES:
    NODE_CLASS_MAPPINGS.update(_module.NODES)
    NODE_DISPLAY_NAME_MAPPINGS.update(_module.DISPLAY_NAMES)

WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
