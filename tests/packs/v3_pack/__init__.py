"""A V3-only custom node pack: no NODE_CLASS_MAPPINGS, an async `comfy_entrypoint()` returning a
`ComfyExtension` (docs/execution.md §1.10). `mirrors` holds classes whose schemas mirror nodes ComfyUI
ships, `behaviour` nodes that exercise V3 execution.
"""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from . import behaviour, mirrors


class V3TestPack(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [*mirrors.NODES, *behaviour.NODES]


async def comfy_entrypoint() -> V3TestPack:
    return V3TestPack()
