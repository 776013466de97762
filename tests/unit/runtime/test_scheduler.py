"""runtime.scheduler.ExecutionList: which node runs next (docs/execution.md §3.2, §3.6, §3.9, §3.10)."""

from __future__ import annotations

import asyncio

from toucan_nb.runtime.caches import CacheEntry, NullCache
from toucan_nb.runtime.prompt import DynamicPrompt
from toucan_nb.runtime.scheduler import CycleReport, ExecutionList
from toucan_nb.runtime.signature import IsChangedCache, SignatureBuilder


def node(class_type: str, **inputs: object) -> dict:
    return {"class_type": class_type, "inputs": inputs}


def make_list(prompt: dict, registry, *, lazy: dict[str, frozenset[str]] | None = None,
              outputs: set[str] | frozenset[str] = frozenset(), cached: dict[str, float] | None = None,
              is_async: set[str] | frozenset[str] = frozenset()) -> ExecutionList:
    """An ExecutionList over `prompt` as the executor builds one; `cached` node results are known."""
    dyn = DynamicPrompt(prompt)
    cache = NullCache()
    cache.set_prompt(SignatureBuilder(dyn, registry, IsChangedCache("p", dyn, registry, {})), prompt)
    for node_id, value in (cached or {}).items():
        cache.set(node_id, CacheEntry(None, [[value]]))
    lazy = lazy or {}
    return ExecutionList(dyn, cache, lambda n: lazy.get(n, frozenset()), lambda n: n in outputs,
                         lambda n: n in is_async)


def run_order(execution_list: ExecutionList) -> list[str]:
    """Stage and complete nodes until none is left; the order they were staged in."""
    order = []

    async def drive() -> None:
        while not execution_list.is_empty():
            staged = await execution_list.stage_node_execution()
            assert isinstance(staged, str), staged
            order.append(staged)
            execution_list.complete_node_execution()

    asyncio.run(drive())
    return order


CHAIN = {"1": node("Const", value=1.0), "2": node("Double", value=["1", 0]), "3": node("Output", value=["2", 0])}


def test_a_node_runs_after_everything_it_links_to(registry):
    execution_list = make_list(CHAIN, registry, outputs={"3"})
    execution_list.add_node("3")
    assert set(execution_list.pending) == {"1", "2", "3"}
    assert run_order(execution_list) == ["1", "2", "3"]


def test_cached_sources_are_not_scheduled_and_their_values_are_pinned(registry):
    execution_list = make_list(CHAIN, registry, outputs={"3"}, cached={"1": 4.0})
    execution_list.add_node("3")
    assert set(execution_list.pending) == {"2", "3"}
    assert execution_list.get_cache("1", "2").outputs == [[4.0]]
    assert run_order(execution_list) == ["2", "3"]


def test_a_lazy_input_is_scheduled_only_once_it_is_asked_for(registry):
    prompt = {"1": node("Const", value=1.0), "2": node("Const", value=2.0),
              "3": node("LazySwitch", flag=True, on_true=["1", 0], on_false=["2", 0]),
              "4": node("Output", value=["3", 0])}
    execution_list = make_list(prompt, registry, lazy={"3": frozenset({"on_true", "on_false"})}, outputs={"4"})
    execution_list.add_node("4")
    assert set(execution_list.pending) == {"3", "4"}

    async def first_stage() -> str:
        staged = await execution_list.stage_node_execution()
        assert staged == "3"
        execution_list.make_input_strong_link("3", "on_true")  # check_lazy_status asked for it
        execution_list.unstage_node_execution()
        return str(await execution_list.stage_node_execution())

    assert asyncio.run(first_stage()) == "1"  # "3" now waits for "1"; "2" is never scheduled
    execution_list.complete_node_execution()
    assert run_order(execution_list) == ["3", "4"] and "2" not in execution_list.pending


def test_outputs_and_what_unblocks_them_are_picked_first(registry):
    prompt = {"a": node("Const", value=1.0), "b": node("Const", value=2.0), "o": node("Output", value=1.0),
              "p": node("Output", value=["b", 0])}
    execution_list = make_list(prompt, registry, outputs={"o", "p"})
    for node_id in ("a", "b", "o", "p"):
        execution_list.add_node(node_id)
    # Ready: a, b, o. An output first; then the node an output waits for; insertion order last.
    assert run_order(execution_list) == ["o", "b", "p", "a"]


def test_a_cycle_is_reported_not_hung_on(registry):
    prompt = {"1": node("Add", a=["2", 0], b=1.0), "2": node("Add", a=["1", 0], b=1.0),
              "3": node("Output", value=["2", 0])}
    execution_list = make_list(prompt, registry, outputs={"3"})
    execution_list.add_node("3")
    report = asyncio.run(execution_list.stage_node_execution())
    # As ComfyUI: what is left once every unblocked node is dissolved is the cycle and whatever
    # waits on it, in the order nodes were added; the first of them is blamed (docs/execution.md §3.9).
    assert execution_list.get_nodes_in_cycle() == ["3", "2", "1"]
    assert isinstance(report, CycleReport) and report.node_id == "3"
    failure = report.failure
    assert (failure.exception_type, failure.exception_message, failure.current_inputs) == (
        "graph.DependencyCycleError", "Dependency cycle detected", [])


def test_an_external_block_holds_its_node_until_released(registry):
    execution_list = make_list({"1": node("Sleep", value=1.0, seconds=0.0)}, registry, is_async={"1"})
    execution_list.add_node("1")

    async def scenario() -> tuple[str, bool]:
        release = execution_list.add_external_block("1")
        loop = asyncio.get_running_loop()
        released = loop.create_future()

        def later() -> None:
            release()
            released.set_result(True)

        loop.call_later(0.05, later)
        staged = await execution_list.stage_node_execution()  # nothing ready until the block goes
        return str(staged), released.done()

    assert asyncio.run(scenario()) == ("1", True)


def test_pinned_values_follow_updates_of_their_source(registry):
    execution_list = make_list(CHAIN, registry, cached={"1": 1.0})
    execution_list.cache_link("1", "3")
    assert execution_list.get_cache("1", "3").outputs == [[1.0]]
    execution_list.cache_update("1", CacheEntry(None, [[7.0]]))
    assert execution_list.get_cache("1", "3").outputs == [[7.0]]
    assert execution_list.get_cache("2", "3") is None
