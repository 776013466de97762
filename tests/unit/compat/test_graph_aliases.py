"""comfy_execution.{graph_utils, graph, utils, jobs}: the runtime's very objects (docs/execution.md §3.7, §3.8)."""

from __future__ import annotations

import pytest

from toucan_nb.runtime import graph_utils, jobs, prompt
from toucan_nb.runtime.context import get_executing_context

from .conftest import running


def test_execution_blocker_is_one_class_everywhere(runtime):
    from comfy_execution.graph import ExecutionBlocker as FromGraph
    from comfy_execution.graph_utils import ExecutionBlocker as FromGraphUtils

    assert FromGraph is FromGraphUtils is graph_utils.ExecutionBlocker
    assert isinstance(FromGraph("stop"), graph_utils.ExecutionBlocker)


def test_graph_utils_reexports(runtime):
    import comfy_execution.graph_utils as gu

    assert gu.GraphBuilder is graph_utils.GraphBuilder and gu.Node is graph_utils.Node
    assert gu.is_link is graph_utils.is_link and gu.add_graph_prefix is graph_utils.add_graph_prefix
    assert gu.is_link(["3", 0]) and not gu.is_link(("3", 0))


def test_graph_builder_default_prefix(runtime):
    from comfy_execution.graph_utils import GraphBuilder

    GraphBuilder.set_default_prefix("5", 0, 0)  # what the executor does before node 5's first call
    first, second = GraphBuilder(), GraphBuilder()
    a = first.node("StubImage", content="BLACK")
    b = first.node("StubMask", value=0.5)
    assert (a.id, b.id, second.node("StubInt").id) == ("5.0.0.1", "5.0.0.2", "5.0.1.1")
    assert first.node("Other", id="1") is a and a.class_type == "StubImage"  # existing id wins
    assert first.lookup_node("2") is b
    b.set_override_display_id("5")
    c = first.node("TestLazyMixImages", image1=a.out(0), mask=b.out(0))
    c.set_input("image2", None)
    assert first.finalize() == {
        "5.0.0.1": {"class_type": "StubImage", "inputs": {"content": "BLACK"}},
        "5.0.0.2": {"class_type": "StubMask", "inputs": {"value": 0.5}, "override_display_id": "5"},
        "5.0.0.3": {"class_type": "TestLazyMixImages",
                    "inputs": {"image1": ["5.0.0.1", 0], "mask": ["5.0.0.2", 0]}},
    }
    named = GraphBuilder(prefix="test_name")
    assert named.node("X").id == "test_name1"
    named.remove_node("1")
    assert named.nodes == {}


def test_graph_module_reexports(runtime):
    import comfy_execution.graph as graph

    assert graph.DynamicPrompt is prompt.DynamicPrompt
    dyn = graph.DynamicPrompt({"1": {"class_type": "X", "inputs": {}}})
    assert dyn.get_node("1")["class_type"] == "X"
    with pytest.raises(graph.NodeNotFoundError):
        dyn.get_node("2")

    class Node:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"a": ("INT", {"min": 0})}, "optional": {"b": ("IMAGE",)},
                    "hidden": {"uid": "UNIQUE_ID"}}

    assert graph.get_input_info(Node, "a") == ("INT", "required", {"min": 0})
    assert graph.get_input_info(Node, "b") == ("IMAGE", "optional", {})
    assert graph.get_input_info(Node, "uid") == ("UNIQUE_ID", "hidden", {})
    assert graph.get_input_info(Node, "zzz") == (None, None, None)


def test_executing_context(runtime, hooks):
    from comfy_execution.utils import CurrentNodeContext, ExecutionContext
    from comfy_execution.utils import get_executing_context as alias_get

    assert alias_get is get_executing_context and alias_get() is None
    with running(hooks, "3", 1):
        ctx = alias_get()
        assert isinstance(ctx, ExecutionContext)
        assert (ctx.prompt_id, ctx.node_id, ctx.list_index) == ("prompt-1", "3", 1)
        with CurrentNodeContext("prompt-1", "3.0.0.1") as inner:
            assert alias_get() is inner and inner.node_id == "3.0.0.1"
            assert inner.hooks is hooks  # same prompt: progress still reaches it
        assert alias_get() is ctx
    assert alias_get() is None


def test_jobs_reexport(runtime):
    from comfy_execution.jobs import JobStatus, apply_sorting, is_previewable

    assert JobStatus is jobs.JobStatus and is_previewable is jobs.is_previewable
    assert apply_sorting is jobs.apply_sorting
