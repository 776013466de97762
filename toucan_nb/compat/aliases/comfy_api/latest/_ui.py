"""Alias of ComfyUI's `comfy_api.latest._ui` (toucan_nb.compat.v3.ui)."""

from __future__ import annotations

from toucan_nb.compat.v3.ui import *  # noqa: F403
from toucan_nb.compat.v3.ui import __all__  # noqa: F401
