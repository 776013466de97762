"""Alias of ComfyUI's `comfy_api.v0_0_1`: the latest API under version "0.0.1"."""

from __future__ import annotations

from toucan_nb.compat.public_api import ComfyAPIAdapter_v0_0_1, ComfyAPISyncAdapter_v0_0_1, ComfyExtension

ComfyAPI = ComfyAPIAdapter_v0_0_1
ComfyAPISync = ComfyAPISyncAdapter_v0_0_1

__all__ = ["ComfyAPI", "ComfyAPIAdapter_v0_0_1", "ComfyAPISync", "ComfyExtension"]
