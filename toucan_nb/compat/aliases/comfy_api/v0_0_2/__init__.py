"""Alias of ComfyUI's `comfy_api.v0_0_2`: the latest API under version "0.0.2"."""

from __future__ import annotations

from toucan_nb.compat.public_api import ComfyAPIAdapter_v0_0_2, ComfyAPISyncAdapter_v0_0_2, ComfyExtension

ComfyAPI = ComfyAPIAdapter_v0_0_2
ComfyAPISync = ComfyAPISyncAdapter_v0_0_2

__all__ = ["ComfyAPI", "ComfyAPIAdapter_v0_0_2", "ComfyAPISync", "ComfyExtension"]
