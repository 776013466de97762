"""ComfyUI compatibility layer: custom node packs load unchanged (docs/architecture.md, decision 6).

`install(runtime)` makes ComfyUI's custom-node API importable (`comfy.comfy_types`, `comfy.utils`,
`comfy.model_management`, `comfy_execution.*`, `comfy_api.*`, `folder_paths`, `server`, `nodes`)
as aliases, unless a real ComfyUI is importable, and attaches `runtime` so that
`PromptServer.instance`, `nodes.NODE_CLASS_MAPPINGS`, `folder_paths` and the ProgressBar hook are
views of it. This package is the only home of those process globals (docs/development.md §5.9).

Importing it installs nothing. Any thread may call these functions.
"""

from __future__ import annotations

from toucan_nb.compat.installer import aliases_installed, detach, find_real_comfyui, install
from toucan_nb.compat.state import CustomRoute, custom_routes, trigger_on_prompt

__all__ = [
    "CustomRoute",
    "aliases_installed",
    "custom_routes",
    "detach",
    "find_real_comfyui",
    "install",
    "trigger_on_prompt",
]
