"""Alias of ComfyUI's `comfy_api.v0_0_1`: the latest API under version "0.0.1" (no `io`/`ui`)."""

from __future__ import annotations

from toucan_nb.compat.public_api import ComfyAPIAdapter_v0_0_1, ComfyAPISyncAdapter_v0_0_1, ComfyExtension
from toucan_nb.compat.v3 import inputs as _inputs

ComfyAPI = ComfyAPIAdapter_v0_0_1
ComfyAPISync = ComfyAPISyncAdapter_v0_0_1


class Input(_inputs.Input):
    pass


class InputImpl(_inputs.InputImpl):
    pass


class Types(_inputs.Types):
    pass


__all__ = ["ComfyAPI", "ComfyAPIAdapter_v0_0_1", "ComfyAPISync", "ComfyExtension", "Input", "InputImpl", "Types"]
