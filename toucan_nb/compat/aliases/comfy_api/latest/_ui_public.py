"""Alias of ComfyUI's `comfy_api.latest._ui_public`: the public names of `_ui`."""

from __future__ import annotations

from toucan_nb.compat.v3.ui import *  # noqa: F403
