"""The testing pack's nodes behave as ComfyUI's execution tests expect (docs/execution.md §6.1), checked
by calling them directly; the executor tests run them in graphs."""

from __future__ import annotations

import asyncio
import inspect
import math

import pytest
import torch

from toucan_nb.runtime.graph_utils import ExecutionBlocker, GraphBuilder
from toucan_nb.runtime.loader import load_custom_nodes
from toucan_nb.runtime.prompt import DynamicPrompt
from toucan_nb.runtime.registry import NodeRegistry

from .conftest import PACKS_DIR, running


@pytest.fixture
def pack(runtime):
    """The testing pack's classes, freshly loaded."""
    registry = NodeRegistry()
    load_custom_nodes(registry, [PACKS_DIR])
    return registry.classes()


def call(cls, **kwargs):
    return getattr(cls(), cls.FUNCTION)(**kwargs)


def test_stubs(pack):
    white = call(pack["StubImage"], content="WHITE", height=4, width=6, batch_size=2)[0]
    assert white.shape == (2, 4, 6, 3) and bool((white == 1).all())
    assert call(pack["StubImage"], content="BLACK", height=2, width=2, batch_size=1)[0].sum() == 0
    mask = call(pack["StubMask"], value=0.25, height=3, width=5, batch_size=1)[0]
    assert mask.shape == (1, 3, 5) and bool((mask == 0.25).all())
    assert call(pack["StubConstantImage"], value=0.5, height=1, width=1, batch_size=1)[0].flatten().tolist() == [0.5] * 3
    assert call(pack["StubInt"], value=7) == (7,) and call(pack["StubFloat"], value=2.5) == (2.5,)


def test_lazy_mix_asks_only_for_what_the_mask_needs(pack):
    node = pack["TestLazyMixImages"]()
    zeros, ones, half = torch.zeros(1, 2, 2), torch.ones(1, 2, 2), torch.full((1, 2, 2), 0.5)
    assert node.check_lazy_status(mask=zeros, image1=None, image2=None) == ["image1"]
    assert node.check_lazy_status(mask=ones, image1=None, image2=None) == ["image2"]
    assert node.check_lazy_status(mask=half, image1=None, image2=None) == ["image1", "image2"]
    black, white = torch.zeros(1, 2, 2, 3), torch.ones(1, 2, 2, 3)
    assert node.mix(mask=zeros, image1=black, image2=None)[0] is black
    assert torch.allclose(node.mix(mask=half, image1=black, image2=white)[0], torch.full((1, 2, 2, 3), 0.5))


def test_variadic_average_uses_consecutive_undeclared_inputs(pack):
    images = [torch.full((1, 1, 1, 3), v) for v in (0.0, 1.0, 0.0, 0.0)]
    out = call(pack["TestVariadicAverage"], input1=images[0], input2=images[1], input3=images[2],
               input4=images[3], input6=torch.ones(1, 1, 1, 3))[0]
    assert math.floor(out.flatten()[0].item() * 255) == 255 // 4


def test_is_changed(pack):
    assert pack["TestCustomIsChanged"].IS_CHANGED(should_change=False) is False
    assert math.isnan(pack["TestCustomIsChanged"].IS_CHANGED(should_change=True))
    constants = pack["TestIsChangedWithConstants"]
    assert constants.IS_CHANGED(image=None, value=0.5) == 0.5
    assert constants.IS_CHANGED(image=torch.full((1, 1, 1, 3), 0.5), value=0.5) == 0.25


def test_validators(pack):
    v1 = pack["TestCustomValidation1"]
    assert v1.VALIDATE_INPUTS(input1=5.0, input2=3.0) is True
    assert v1.VALIDATE_INPUTS(input1=None, input2=3.0) is True  # links arrive as None
    assert "Invalid type of input1" in v1.VALIDATE_INPUTS(input1=5, input2=3.0)
    assert "Invalid type of input1" in v1.VALIDATE_INPUTS(input1="foo", input2=3.0)
    v2 = pack["TestCustomValidation2"]
    assert "input_types" in inspect.getfullargspec(v2.VALIDATE_INPUTS).args
    assert v2.VALIDATE_INPUTS(input_types={"input1": "INT"}, input2=3.0) == "Invalid type of input1: INT"
    assert v2.VALIDATE_INPUTS(input_types={"input1": "FLOAT"}, input2=3.0) is True
    v4 = pack["TestCustomValidation4"]
    assert inspect.getfullargspec(v4.VALIDATE_INPUTS).args == ["cls", "input1", "input2"]
    v5 = pack["TestCustomValidation5"]
    assert inspect.getfullargspec(v5.VALIDATE_INPUTS).varkw == "kwargs"
    assert v5.VALIDATE_INPUTS(input1=5.0, input2=5.0) is True
    assert "7s are not allowed" in v5.VALIDATE_INPUTS(input1=1.0, input2=7.0)
    assert torch.allclose(call(v1, input1=0.5, input2=0.5)[0], torch.full((1, 512, 512, 3), 0.25))


def test_variant_support(pack):
    v3 = pack["TestCustomValidation3"]
    # A plain function on the class, fetched and called unbound (docs/execution.md §1.7).
    assert inspect.isfunction(v3.__dict__["VALIDATE_INPUTS"])
    assert inspect.getfullargspec(v3.VALIDATE_INPUTS).args == ["input_types"]
    smart = v3.INPUT_TYPES()["required"]["input1"][0]
    assert type(smart).__name__ == "SmartType" and smart == "IMAGE,FLOAT"
    smart_type = type(smart)
    # One-directional: a received type matches when its parts are all among the declared ones.
    assert not (smart_type("FLOAT") != smart)  # noqa: SIM202 (SmartType only overrides !=)
    assert smart_type("INT") != smart
    assert not (smart != "*")  # noqa: SIM202
    assert smart != "FLOAT"
    assert v3.VALIDATE_INPUTS(input_types={"input1": "INT"}).startswith("Invalid type of input1: INT")
    assert v3.VALIDATE_INPUTS(input_types={"input1": "FLOAT", "input2": "IMAGE"}) is True
    assert type(pack["TestForLoopClose"].RETURN_TYPES[0]).__name__ == "SmartType"


def test_make_list_and_blocker(pack):
    assert call(pack["TestMakeListNode"], value1=0.1, value2=0.2, value3=0.3) == ([0.1, 0.2, 0.3],)
    assert pack["TestMakeListNode"].OUTPUT_IS_LIST == (True,)
    blocked = call(pack["TestExecutionBlocker"], input="x", block=True, verbose=False)[0]
    assert isinstance(blocked, ExecutionBlocker) and blocked.message is None
    assert call(pack["TestExecutionBlocker"], input="x", block=True, verbose=True)[0].message == "Blocked Execution"
    assert call(pack["TestExecutionBlocker"], input="x", block=False, verbose=True) == ("x",)
    assert call(pack["TestIntConditions"], a=2, b=2, operation="==") == (True,)
    assert call(pack["TestIntMathOperation"], a=7, b=2, operation="divide") == (3,)
    assert call(pack["TestToBoolNode"], value=torch.zeros(2)) == (False,)
    assert call(pack["TestToBoolNode"], value=0, invert=True) == (True,)


def test_mixed_expansion_returns(pack):
    node = pack["TestMixedExpansionReturns"]()
    low = node.mixed_expansion_returns(input1=0.1)
    assert isinstance(low, tuple) and int(low[0].flatten()[0] * 255) == 25
    mid = node.mixed_expansion_returns(input1=0.2)
    assert set(mid) == {"result"} and int(mid["result"][0].flatten()[0] * 255) == 51
    GraphBuilder.set_default_prefix("9", 2, 0)
    high = node.mixed_expansion_returns(input1=0.3)
    assert high["result"][0] == ["9.2.0.4", 0]
    assert [n["class_type"] for n in high["expand"].values()] == ["StubMask", "StubImage", "StubImage",
                                                                  "TestLazyMixImages"]


def test_dynamic_dependency_cycle_expansion(pack):
    GraphBuilder.set_default_prefix("3", 0, 0)
    out = call(pack["TestDynamicDependencyCycle"], input1=["1", 0], input2=["2", 0])
    graph = out["expand"]
    assert graph["3.0.0.2"]["inputs"]["image2"] == ["3.0.0.3", 0]
    assert graph["3.0.0.3"]["inputs"]["image1"] == ["3.0.0.2", 0] and out["result"] == (["3.0.0.3", 0],)


def test_for_loop_expands_into_a_while_loop(pack):
    GraphBuilder.set_default_prefix("4", 0, 0)
    opened = call(pack["TestForLoopOpen"], remaining=3, initial_value1="img")
    assert opened["result"] == ("stub", 3, "img", None, None, None)
    (while_open,) = opened["expand"].values()
    assert while_open["class_type"] == "TestWhileLoopOpen" and while_open["inputs"]["condition"] == 3
    GraphBuilder.set_default_prefix("6", 0, 0)
    closed = call(pack["TestForLoopClose"], flow_control=["4", 0], initial_value1=["5", 0])
    graph = closed["expand"]
    assert [n["class_type"] for n in graph.values()] == ["TestIntMathOperation", "TestToBoolNode",
                                                         "TestWhileLoopClose"]
    assert graph["6.0.0.1"]["inputs"]["a"] == ["4", 1]
    assert graph["6.0.0.3"]["inputs"]["initial_value0"] == ["6.0.0.1", 0]
    assert closed["result"] == tuple(["6.0.0.3", i] for i in range(1, 5))


def test_while_loop_close_clones_the_loop_body(pack):
    prompt = {
        "1": {"class_type": "TestWhileLoopOpen", "inputs": {"condition": True, "initial_value0": 2}},
        "2": {"class_type": "TestIntMathOperation", "inputs": {"a": ["1", 1], "b": 1, "operation": "subtract"}},
        "3": {"class_type": "TestToBoolNode", "inputs": {"value": ["2", 0]}},
        "4": {"class_type": "TestWhileLoopClose",
              "inputs": {"flow_control": ["1", 0], "condition": ["3", 0], "initial_value0": ["2", 0]}},
    }
    close = pack["TestWhileLoopClose"]()
    done = close.while_loop_close(flow_control=["1", 0], condition=False, dynprompt=DynamicPrompt(prompt),
                                  unique_id="4", initial_value0=0)
    assert done == (0, None, None, None, None)
    GraphBuilder.set_default_prefix("4", 0, 0)
    again = close.while_loop_close(flow_control=["1", 0], condition=True, dynprompt=DynamicPrompt(prompt),
                                   unique_id="4", initial_value0=1)
    graph = again["expand"]
    assert set(graph) == {"4.0.0.1", "4.0.0.2", "4.0.0.3", "4.0.0.Recurse"}
    assert {k: v.get("override_display_id") for k, v in graph.items()} == {
        "4.0.0.1": "1", "4.0.0.2": "2", "4.0.0.3": "3", "4.0.0.Recurse": "4"}
    assert graph["4.0.0.Recurse"]["inputs"]["condition"] == ["4.0.0.3", 0]
    assert graph["4.0.0.1"]["inputs"]["initial_value0"] == 1
    assert again["result"] == tuple(["4.0.0.Recurse", i] for i in range(5))


def test_sleep_reports_clamped_progress(pack, hooks):
    async def node():
        with running(hooks, "11"):
            return await pack["TestSleep"]().sleep(value="v", seconds=0.05, unique_id="11")

    assert asyncio.run(node()) == ("v",)
    assert hooks.updates and all(u[0] == "11" and u[2] == 0.05 for u in hooks.updates)
    assert hooks.updates[-1][1] == 0.05


def test_progress_api_nodes(pack, hooks):
    with running(hooks, "12"):
        assert pack["TestSyncProgressUpdate"]().execute(value=1, sleep_seconds=0.03) == (1,)
    assert hooks.updates and {u[0] for u in hooks.updates} == {"12"}
    assert {u[4] for u in hooks.updates} == {False}
    hooks.updates.clear()

    async def node():
        with running(hooks, "13"):
            return await pack["TestAsyncProgressUpdate"]().execute(value=2, sleep_seconds=0.03)

    assert asyncio.run(node()) == (2,)
    assert hooks.updates and {u[0] for u in hooks.updates} == {"13"}


def test_async_lazy_check_and_errors(pack):
    lazy = pack["TestAsyncLazyCheck"]()
    assert asyncio.run(lazy.check_lazy_status(condition=True, input1=None, input2=None)) == ["input1"]
    assert asyncio.run(lazy.check_lazy_status(condition=False, input1=None, input2=None)) == ["input2"]
    with pytest.raises(RuntimeError, match="timed out"):
        asyncio.run(pack["TestAsyncTimeout"]().timeout_execution(value=1, timeout=0.01, operation_time=1.0))
    assert asyncio.run(pack["TestAsyncValidation"].VALIDATE_INPUTS(value=11.0, threshold=10.0)).startswith("Value")
