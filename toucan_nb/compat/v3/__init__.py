"""ComfyUI's V3 node API (`comfy_api.latest.io` / `ui`), for packs that define schema classes.

`io` (`toucan_nb.compat.v3.io`) holds the types, `Schema`, `ComfyNode` and `NodeOutput`; `ui` the UI
outputs (previews, saved files); `inputs` the `Input` / `Types` namespaces; `internal` the helpers
ComfyUI keeps in `comfy_api.internal`. They are served as `comfy_api.latest` (and `v0_0_2`) by the
aliases. The executor runs these classes through the contract in `toucan_nb.runtime.v3`, which the
classes here implement (docs/execution.md §1.9); `/object_info` is each class's `GET_NODE_INFO_V1()`.

Importing this package needs torch (type annotations name tensors), as ComfyUI's does. Definitions
only: any thread may use them.
"""

from __future__ import annotations
