"""Alias of ComfyUI's `comfy_api.input` (kept for older packs): the value types sockets carry."""

from __future__ import annotations

from toucan_nb.compat.v3.inputs import AudioInput, ImageInput, LatentInput, MaskInput, VideoInput

__all__ = ["ImageInput", "AudioInput", "MaskInput", "LatentInput", "VideoInput"]
