"""Alias of ComfyUI's `comfy_api.v0_0_2`: the latest API under version "0.0.2", with `io`/`ui`."""

from __future__ import annotations

from comfy_api.latest import io, ui
from toucan_nb.compat.public_api import ComfyAPIAdapter_v0_0_2, ComfyAPISyncAdapter_v0_0_2, ComfyExtension
from toucan_nb.compat.v3 import inputs as _inputs

ComfyAPI = ComfyAPIAdapter_v0_0_2
ComfyAPISync = ComfyAPISyncAdapter_v0_0_2
IO = io
UI = ui


class Input(_inputs.Input):
    pass


class InputImpl(_inputs.InputImpl):
    pass


class Types(_inputs.Types):
    pass


__all__ = ["ComfyAPI", "ComfyAPIAdapter_v0_0_2", "ComfyAPISync", "Input", "InputImpl", "Types", "ComfyExtension",
           "io", "IO", "ui", "UI"]
