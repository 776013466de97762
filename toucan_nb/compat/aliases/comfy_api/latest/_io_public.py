"""Alias of ComfyUI's `comfy_api.latest._io_public`: the public names of `_io`."""

from __future__ import annotations

from toucan_nb.compat.v3.io import *  # noqa: F403
