"""Alias of ComfyUI's `comfy_api` package: `latest`, `v0_0_2`, `v0_0_1` (the execution API of
toucan_nb.compat.public_api and the V3 node API of toucan_nb.compat.v3), and the older paths
`comfy_api.input`, `comfy_api.util` and `comfy_api.internal`.
"""

from __future__ import annotations
