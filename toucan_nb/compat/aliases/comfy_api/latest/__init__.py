"""Alias of ComfyUI's `comfy_api.latest`: the execution API (`ComfyAPI`, `ComfyAPISync`), the V3
node API (`io`/`IO`, `ui`/`UI`), `ComfyExtension`, and the value namespaces `Input`, `InputImpl`,
`Types` (toucan_nb.compat.public_api, toucan_nb.compat.v3)."""

from __future__ import annotations

from toucan_nb.compat.public_api import ComfyAPI_latest, ComfyAPISync_latest, ComfyExtension
from toucan_nb.compat.v3.inputs import Input, InputImpl, Types

from . import _io_public as io
from . import _ui_public as ui

ComfyAPI = ComfyAPI_latest
ComfyAPISync = ComfyAPISync_latest
IO = io
UI = ui

__all__ = ["ComfyAPI", "ComfyAPISync", "Input", "InputImpl", "Types", "ComfyExtension", "io", "IO", "ui", "UI"]
