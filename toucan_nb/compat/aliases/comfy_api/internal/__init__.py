"""Alias of ComfyUI's `comfy_api.internal`: the V3 marker base classes and class helpers."""

from __future__ import annotations

from toucan_nb.compat.v3.internal import *  # noqa: F403
from toucan_nb.compat.v3.internal import __all__  # noqa: F401
