"""Value and text nodes: PrimitiveInt/Float/String/StringMultiline/Boolean
(`comfy_extras.nodes_primitive`), StringConcatenate (`comfy_extras.nodes_string`) and PreviewAny
(`comfy_extras.nodes_preview_any`, a V1 output node showing any value as text).

No tensors are made here. Node calls come from the executor thread.
"""

from __future__ import annotations

import json
import sys
from typing import Any


class _Primitive:
    """A widget value passed straight through as the node's one output."""

    CATEGORY = "utils/primitive"
    FUNCTION = "execute"
    OBJECT_INFO_V3 = True

    def execute(self, value: Any) -> tuple[Any]:
        return (value,)


class PrimitiveString(_Primitive):
    RETURN_TYPES = ("STRING",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": ("STRING", {"multiline": False})}}


class PrimitiveStringMultiline(_Primitive):
    RETURN_TYPES = ("STRING",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": ("STRING", {"multiline": True})}}


class PrimitiveInt(_Primitive):
    RETURN_TYPES = ("INT",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": ("INT", {"min": -sys.maxsize, "max": sys.maxsize,
                                               "control_after_generate": True})}}


class PrimitiveFloat(_Primitive):
    RETURN_TYPES = ("FLOAT",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        # Integer bounds, as ComfyUI declares them (they appear as JSON integers in object_info).
        return {"required": {"value": ("FLOAT", {"min": -sys.maxsize, "max": sys.maxsize, "step": 0.1})}}


class PrimitiveBoolean(_Primitive):
    RETURN_TYPES = ("BOOLEAN",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": ("BOOLEAN", {})}}


class StringConcatenate:
    CATEGORY = "utils/string"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "execute"
    OBJECT_INFO_V3 = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"string_a": ("STRING", {"multiline": True}),
                             "string_b": ("STRING", {"multiline": True}),
                             "delimiter": ("STRING", {"default": "", "multiline": False})}}

    def execute(self, string_a: str, string_b: str, delimiter: str) -> tuple[str]:
        return (delimiter.join((string_a, string_b)),)


def format_preview(source: Any) -> str:
    """How PreviewAny shows a value: strings as they are, numbers and booleans with str(), anything
    else as indented JSON, falling back to str() (tensors, dicts holding tensors)."""
    if source is None:
        return "None"
    if isinstance(source, str):
        return source
    if isinstance(source, (int, float, bool)):
        return str(source)
    try:
        return json.dumps(source, indent=4)
    except Exception:
        try:
            return str(source)
        except Exception:
            return "source exists, but could not be serialized."


class PreviewAny:
    CATEGORY = "utils"
    RETURN_TYPES = ()
    FUNCTION = "main"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"source": ("*", {})}}

    def main(self, source: Any = None) -> dict[str, Any]:
        # ComfyUI returns a 1-tuple here; a list is the same on the wire and merges as docs/execution.md §3.5 needs.
        return {"ui": {"text": [format_preview(source)]}}
