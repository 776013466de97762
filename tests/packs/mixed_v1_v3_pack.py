"""A pack mixing a V1 class and a V3 class in one NODE_CLASS_MAPPINGS (docs/execution.md §1.10).

It also defines `comfy_entrypoint`, which ComfyUI ignores when NODE_CLASS_MAPPINGS exists: the
node it would add must not appear.
"""

from __future__ import annotations

from typing import Any

from comfy_api.latest import ComfyExtension, io


class MixedV1Join:
    """V1: joins two strings."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"a": ("STRING", {"default": "a"}), "b": ("STRING", {"default": "b"})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "join"
    CATEGORY = "testing/mixed"

    def join(self, a: str, b: str) -> tuple[str]:
        return (a + b,)


class MixedV3Upper(io.ComfyNode):
    """V3: upper-cases a string, and shows it."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="MixedV3Upper", display_name="Mixed V3 Upper", category="testing/mixed",
                         inputs=[io.String.Input("text", force_input=True)], outputs=[io.String.Output()],
                         is_output_node=True)

    @classmethod
    def execute(cls, text: str) -> io.NodeOutput:
        return io.NodeOutput(text.upper(), ui={"text": [text.upper()]})


class MixedIgnored(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="MixedIgnored", outputs=[io.String.Output()])

    @classmethod
    def execute(cls) -> io.NodeOutput:
        return io.NodeOutput("never registered")


class _Extension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [MixedIgnored]


async def comfy_entrypoint() -> _Extension:
    return _Extension()


NODE_CLASS_MAPPINGS = {"MixedV1Join": MixedV1Join, "MixedV3Upper": MixedV3Upper}
NODE_DISPLAY_NAME_MAPPINGS = {"MixedV1Join": "Mixed V1 Join"}
