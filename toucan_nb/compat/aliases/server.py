"""Alias of ComfyUI's `server` module: `PromptServer` (with `.instance`) and `BinaryEventTypes`.

`PromptServer.instance` is a view of the runtime attached by `toucan_nb.compat.install()`; see
toucan_nb.compat.prompt_server.
"""

from __future__ import annotations

from toucan_nb.compat.prompt_server import BinaryEventTypes, PromptServer

__all__ = ["BinaryEventTypes", "PromptServer"]
