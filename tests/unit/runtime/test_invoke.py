"""runtime.invoke: class facts, input assembly, list mapping and result merging (docs/execution.md §1, §3.4-§3.5)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from toucan_nb.runtime.caches import CacheEntry, NullCache
from toucan_nb.runtime.context import get_executing_context
from toucan_nb.runtime.errors import ExecutionInterruptedError
from toucan_nb.runtime.graph_utils import ExecutionBlocker
from toucan_nb.runtime.invoke import (
    ClassInfo,
    call_over_list,
    format_value,
    full_type_name,
    get_input_data,
    is_changed_inputs,
    map_node_over_list,
    merge_result_data,
    output_from_returns,
)
from toucan_nb.runtime.prompt import DynamicPrompt
from toucan_nb.runtime.scheduler import ExecutionList


class Mixer:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"a": ("FLOAT",), "b": ("FLOAT", {"default": 1.0})},
            "optional": {"choice": ("FLOAT", {"lazy": True}), "raw": ("*", {"rawLink": True})},
            "hidden": {"uid": "UNIQUE_ID", "prompt": "PROMPT", "png": "EXTRA_PNGINFO", "other": "NOT_A_MARKER"},
        }

    RETURN_TYPES = ("FLOAT", "FLOAT")
    FUNCTION = "mix"
    OUTPUT_NODE = 1  # ComfyUI compares with ==, so 1 counts

    def mix(self, **kwargs: Any) -> tuple[float, float]:
        return (kwargs["a"], kwargs["b"])

    def check_lazy_status(self, **kwargs: Any) -> list[str]:
        return ["choice"]


class Lists:
    INPUT_IS_LIST = True
    OUTPUT_IS_LIST = (True, False)
    RETURN_TYPES = ("FLOAT", "INT")
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"values": ("FLOAT",)}}

    async def run(self, values: list[float]) -> tuple[list[float], int]:
        return (values, len(values))


def test_class_facts_are_read_once_into_class_info():
    info = ClassInfo.of(Mixer)
    assert info.lazy == {"choice"} and info.raw_link == {"raw"}
    assert info.hidden == {"uid": "UNIQUE_ID", "prompt": "PROMPT", "png": "EXTRA_PNGINFO"}
    assert info.categories["b"] == ("required", {"default": 1.0}) and info.categories["a"] == ("required", None)
    assert (info.function, info.is_output, info.is_async, info.has_check_lazy) == ("mix", True, False, True)
    assert (info.input_is_list, info.output_is_list, info.return_types) == (False, None, ("FLOAT", "FLOAT"))
    lists = ClassInfo.of(Lists)
    assert (lists.input_is_list, lists.output_is_list, lists.is_async, lists.is_output) == (True, (True, False),
                                                                                            True, False)


def _execution_list(cached: dict[str, list[list[Any]]], to_id: str) -> ExecutionList:
    prompt = {n: {"class_type": "X", "inputs": {}} for n in (*cached, to_id)}
    cache = NullCache()
    for node_id, outputs in cached.items():
        cache.set(node_id, CacheEntry(None, outputs))
    execution_list = ExecutionList(DynamicPrompt(prompt), cache, lambda n: frozenset(), lambda n: False,
                                   lambda n: False)
    for node_id in cached:
        execution_list.cache_link(node_id, to_id)
    return execution_list


def test_inputs_are_assembled_as_per_call_lists():
    info = ClassInfo.of(Mixer)
    execution_list = _execution_list({"1": [[2.0, 3.0], ["second output"]]}, "9")
    inputs = {"a": ["1", 0], "b": 4.0, "undeclared": 5.0, "linked_extra": ["1", 1], "raw": ["1", 0],
              "choice": ["7", 0]}
    data, missing = get_input_data(inputs, info, "9", execution_list, DynamicPrompt({"9": {}}),
                                   {"extra_pnginfo": {"workflow": 1}})
    assert data["a"] == [2.0, 3.0] and data["b"] == [4.0]
    assert "undeclared" not in data  # QUIRK(docs/execution.md §1.4): undeclared constants are dropped
    assert data["linked_extra"] == ["second output"]  # QUIRK(docs/execution.md §1.4): undeclared links are passed
    assert data["raw"] == [["1", 0]]  # a rawLink input gets the link itself
    assert missing == {"choice"} and data["choice"] == [None]  # not computed (yet): a lazy input
    assert data["uid"] == ["9"] and data["prompt"] == [{"9": {}}] and data["png"] == [{"workflow": 1}]
    assert "other" not in data


def test_is_changed_gets_constants_and_none_for_links():
    kwargs = is_changed_inputs(Mixer, {"a": ["1", 0], "b": 2.0}, "5", DynamicPrompt({}), {})
    assert kwargs == {"a": None, "b": 2.0, "uid": "5", "prompt": {}, "png": None}


def test_lists_are_mapped_call_by_call_and_shorter_lists_repeat_their_last_item():
    seen: list[tuple[Any, ...]] = []

    def f(a: float, b: float) -> tuple[float]:
        ctx = get_executing_context()
        assert ctx is not None
        seen.append((a, b, ctx.node_id, ctx.list_index))
        return (a * b,)

    info = ClassInfo.of(Mixer)
    results = call_over_list("p", "4", f, info, {"a": [1.0, 2.0, 3.0], "b": [10.0]}, None)
    assert results == [(10.0,), (20.0,), (30.0,)]
    assert seen == [(1.0, 10.0, "4", 0), (2.0, 10.0, "4", 1), (3.0, 10.0, "4", 2)]
    assert get_executing_context() is None  # the context ends with the call
    assert call_over_list("p", "4", lambda: ("none",), info, {}, None) == [("none",)]
    with pytest.raises(IndexError):  # QUIRK(docs/execution.md §3.5): an empty list among longer ones
        call_over_list("p", "4", f, info, {"a": [1.0, 2.0], "b": []}, None)


def test_a_blocked_call_is_not_made_and_an_interrupt_stops_the_next():
    info = ClassInfo.of(Mixer)
    block = ExecutionBlocker("stop here")
    notices: list[ExecutionBlocker] = []

    def notice(b: ExecutionBlocker) -> ExecutionBlocker:
        notices.append(b)
        return ExecutionBlocker(None)

    calls: list[float] = []
    results = call_over_list("p", "4", lambda a, b: calls.append(a) or (a,), info,
                             {"a": [1.0, block], "b": [0.0]}, None, execution_block_cb=notice)
    assert calls == [1.0] and results[0] == (1.0,) and notices == [block]
    assert isinstance(results[1], ExecutionBlocker) and results[1].message is None

    class Interrupted:
        prompt_id = "p"

        def check_interrupt(self) -> None:
            raise ExecutionInterruptedError("Processing interrupted")

    with pytest.raises(ExecutionInterruptedError):
        call_over_list("p", "4", lambda a, b: (a,), info, {"a": [1.0], "b": [0.0]}, Interrupted(),
                       allow_interrupt=True)
    assert call_over_list("p", "4", lambda a, b: (a,), info, {"a": [1.0], "b": [0.0]}, Interrupted()) == [(1.0,)]


def test_async_nodes_are_awaited_and_whole_lists_go_in_one_call():
    info = ClassInfo.of(Lists)

    async def scenario() -> list[Any]:
        return await map_node_over_list("p", "2", Lists(), info, {"values": [1.0, 2.0, 3.0]}, "run", None)

    assert asyncio.run(scenario()) == [([1.0, 2.0, 3.0], 3)]


def test_results_are_merged_per_output():
    info = ClassInfo.of(Lists)
    # OUTPUT_IS_LIST outputs are concatenated over calls; the others get one item per call.
    assert merge_result_data([([1, 2], 10), ([3], 20)], info) == [[1, 2, 3], [10, 20]]
    mixer = ClassInfo.of(Mixer)
    plain = output_from_returns([(1.0, 2.0)], mixer)
    assert (plain.output, plain.ui, plain.has_subgraph) == ([[1.0], [2.0]], {}, False)
    with_ui = output_from_returns([{"ui": {"images": [1], "text": ["a"]}, "result": (1.0, 2.0)},
                                   {"ui": {"images": [2], "text": [], "extra": [0]}, "result": (3.0, 4.0)}], mixer)
    assert with_ui.output == [[1.0, 3.0], [2.0, 4.0]]
    assert with_ui.ui == {"images": [1, 2], "text": ["a"]}  # QUIRK(docs/execution.md §3.5): the first call's keys


def test_ui_keys_come_from_the_first_call():
    mixer = ClassInfo.of(Mixer)
    with pytest.raises(KeyError):  # QUIRK(docs/execution.md §3.5): a later call missing a key of the first
        output_from_returns([{"ui": {"images": [1], "text": ["a"]}}, {"ui": {"images": [2]}}], mixer)


def test_a_blocker_result_blocks_every_output_and_an_expansion_is_flagged():
    mixer = ClassInfo.of(Mixer)
    blocked = output_from_returns([ExecutionBlocker(None)], mixer)
    assert all(isinstance(v[0], ExecutionBlocker) for v in blocked.output) and len(blocked.output) == 2
    expanded = output_from_returns([{"expand": {"5": {}}, "result": (["5", 0], 1.0)}], mixer)
    assert expanded.has_subgraph and expanded.output == [({"5": {}}, (["5", 0], 1.0))]


def test_error_formatting():
    assert [format_value(v) for v in (None, 1, 2.5, True, "s", [1], {"a": 1})] == [None, 1, 2.5, True, "s", "[1]",
                                                                                   "{'a': 1}"]
    assert full_type_name(ValueError) == "ValueError"
    assert full_type_name(ExecutionInterruptedError) == "toucan_nb.runtime.errors.ExecutionInterruptedError"
