"""Alias of ComfyUI's `comfy_api.latest`: `ComfyAPI`, `ComfyAPISync`, `ComfyExtension` (no `io`/`ui`)."""

from __future__ import annotations

from toucan_nb.compat.public_api import ComfyAPI_latest, ComfyAPISync_latest, ComfyExtension

ComfyAPI = ComfyAPI_latest
ComfyAPISync = ComfyAPISync_latest

__all__ = ["ComfyAPI", "ComfyAPISync", "ComfyAPI_latest", "ComfyExtension"]
