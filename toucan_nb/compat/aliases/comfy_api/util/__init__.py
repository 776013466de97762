"""Alias of ComfyUI's `comfy_api.util` (kept for older packs): video descriptors."""

from __future__ import annotations

from toucan_nb.compat.v3.inputs import VideoCodec, VideoComponents, VideoContainer

__all__ = ["VideoContainer", "VideoCodec", "VideoComponents"]
