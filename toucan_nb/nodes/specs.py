"""Shared pieces of node input specs (docs/execution.md §1.2): the resolution limit and the V3 combo shape.

Constants and pure functions only; any thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MAX_RESOLUTION = 16384  # ComfyUI's nodes.MAX_RESOLUTION

UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
LATENT_UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "bislerp"]
CROP_METHODS = ["disabled", "center"]


def combo(options: Iterable[str]) -> tuple[str, dict[str, Any]]:
    """A combo input as ComfyUI's V3 schema classes describe it (docs/protocol.md §5.2)."""
    return ("COMBO", {"multiselect": False, "options": list(options)})
