"""V3 nodes exercising execution behaviour through a server: hidden values, UI outputs, async
`execute`, node expansion, blocked outputs and a pack-defined socket type (docs/execution.md §1.9)."""

from __future__ import annotations

import asyncio

from comfy_api.latest import io, ui
from comfy_execution.graph_utils import GraphBuilder

Token = io.Custom("V3_TOKEN")


class HiddenEcho(io.ComfyNode):
    """Shows what `cls.hidden` held during the call."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3TestHiddenEcho", display_name="Hidden echo", category="testing/v3",
                         inputs=[io.String.Input("label", default="echo")],
                         hidden=[io.Hidden.unique_id, io.Hidden.dynprompt], is_output_node=True)

    @classmethod
    def execute(cls, label) -> io.NodeOutput:
        hidden = cls.hidden
        pnginfo = hidden.extra_pnginfo or {}
        text = (f"{label} id={hidden.unique_id} prompt_nodes={sorted(hidden.prompt or {})} "
                f"workflow={'workflow' in pnginfo} dynprompt={hidden.dynprompt is not None}")
        return io.NodeOutput(ui=ui.PreviewText(text))


class AsyncScale(io.ComfyNode):
    """An async `execute`: waits, then multiplies."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3TestAsyncScale", category="testing/v3",
                         inputs=[io.Float.Input("value", default=1.0), io.Float.Input("factor", default=2.0),
                                 io.Float.Input("seconds", default=0.0, min=0.0, max=5.0)],
                         outputs=[io.Float.Output()])

    @classmethod
    async def execute(cls, value, factor, seconds) -> io.NodeOutput:
        await asyncio.sleep(seconds)
        return io.NodeOutput(value * factor)


class ExpandPower(io.ComfyNode):
    """Expands into a chain of `V3TestAsyncScale` nodes: value * factor ** times."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3TestExpandPower", category="testing/v3", enable_expand=True,
                         inputs=[io.Float.Input("value", default=1.0), io.Float.Input("factor", default=2.0),
                                 io.Int.Input("times", default=3, min=1, max=10)],
                         outputs=[io.Float.Output()])

    @classmethod
    def execute(cls, value, factor, times) -> io.NodeOutput:
        graph = GraphBuilder()
        current = value
        for _ in range(times):
            current = graph.node("V3TestAsyncScale", value=current, factor=factor, seconds=0.0).out(0)
        return io.NodeOutput(current, expand=graph.finalize())


class FloatText(io.ComfyNode):
    """Shows a float; an output node for the chains above."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3TestFloatText", category="testing/v3", is_output_node=True,
                         inputs=[io.Float.Input("value", force_input=True)], outputs=[io.String.Output()])

    @classmethod
    def execute(cls, value) -> io.NodeOutput:
        return io.NodeOutput(f"{value:g}", ui={"text": [f"{value:g}"]})


class MakeToken(io.ComfyNode):
    """A pack-defined socket type (`io.Custom`), optionally blocked for its consumers."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3TestMakeToken", category="testing/v3",
                         inputs=[io.String.Input("text", default="token"), io.Boolean.Input("block", default=False)],
                         outputs=[Token.Output(display_name="token")])

    @classmethod
    def execute(cls, text, block) -> io.NodeOutput:
        return io.NodeOutput({"text": text}, block_execution="the token is blocked" if block else None)


class ShowToken(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(node_id="V3TestShowToken", category="testing/v3", is_output_node=True,
                         inputs=[Token.Input("token")])

    @classmethod
    def execute(cls, token) -> io.NodeOutput:
        return io.NodeOutput(ui=ui.PreviewText(token["text"]))


NODES = [HiddenEcho, AsyncScale, ExpandPower, FloatText, MakeToken, ShowToken]
