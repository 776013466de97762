"""Alias of ComfyUI's `comfy_api` package (toucan_nb.compat.public_api): `latest`, `v0_0_2`, `v0_0_1`.

Only the execution API (`ComfyAPI`, `ComfyAPISync`) is provided; the V3 schema API (`io`, `ui`)
is not, so packs that need it fail to import and are reported as such by the loader.
"""

from __future__ import annotations
