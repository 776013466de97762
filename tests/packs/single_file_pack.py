"""A single-file custom node pack (imported as a plain module, not a package)."""

from __future__ import annotations

from typing import Any

from comfy.comfy_types import IO, ComfyNodeABC


class SingleFileEcho(ComfyNodeABC):
    """Returns its input unchanged."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": (IO.ANY, {})}}

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "echo"
    CATEGORY = "Testing/Single File"

    def echo(self, value: Any) -> tuple[Any]:
        return (value,)


NODE_CLASS_MAPPINGS = {"SingleFileEcho": SingleFileEcho}
NODE_DISPLAY_NAME_MAPPINGS = {"SingleFileEcho": "Single File Echo"}
