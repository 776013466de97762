"""A user's ComfyUI checkout as the node library (docs/comfyui-checkout.md).

With `RuntimeConfig.comfyui_root` set (`toucan-nb serve --comfyui-root PATH`,
`TOUCAN_NB_COMFYUI_ROOT`, `runtime(comfyui_root=...)`), the host imports the checkout's own modules
(`comfy`, `comfy_extras`, `comfy_api`, `comfy_execution`, `folder_paths`, `nodes`, ...) instead of
toucan_nb's aliases, registers exactly ComfyUI's node classes in the runtime's registry, and does
the duties ComfyUI's `main.py` does for them (`host.py` lists them). Only `server` stays toucan_nb's:
the running server is toucan_nb's route set. The runtime knows nothing of this package; it runs
the classes as it runs any V1 or V3 node class.

Start-up thread only (`host.assembly.start_runtime`).
"""

from __future__ import annotations

from toucan_nb.checkout.host import CheckoutError, import_checkout, load_node_library

__all__ = ["CheckoutError", "import_checkout", "load_node_library"]
