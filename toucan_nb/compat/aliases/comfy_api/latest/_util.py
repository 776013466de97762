"""Alias of ComfyUI's `comfy_api.latest._util`: video descriptors and geometry/SVG values."""

from __future__ import annotations

from toucan_nb.compat.v3.inputs import MESH, SVG, VOXEL, VideoCodec, VideoComponents, VideoContainer

__all__ = ["VideoCodec", "VideoContainer", "VideoComponents", "MESH", "VOXEL", "SVG"]
