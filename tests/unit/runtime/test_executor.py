"""Executor semantics (docs/execution.md §3-§5) on small node classes, every cache mode."""

from __future__ import annotations

import math
import threading
import time

import pytest

from toucan_nb.runtime import events as ev
from toucan_nb.runtime.executor import PromptExecutor
from toucan_nb.runtime.validation import validate_prompt

from . import executor_nodes
from .executor_nodes import CALLS

CACHE_MODES = [("classic", 0), ("lru", 100), ("none", 0), ("ram", 0)]


class Recorder:
    def __init__(self, bus: ev.EventBus) -> None:
        self.events: list[ev.Event] = []
        bus.subscribe(self.events.append)

    def names(self) -> list[str]:
        return [e.name for e in self.events]

    def of(self, cls: type) -> list:
        return [e for e in self.events if isinstance(e, cls)]

    def clear(self) -> None:
        self.events.clear()


@pytest.fixture(params=CACHE_MODES, ids=[m for m, _ in CACHE_MODES])
def executor(request, registry):
    mode, size = request.param
    bus = ev.EventBus()
    ex = PromptExecutor(registry, bus, mode, size)
    ex.recorder = Recorder(bus)
    CALLS.clear()
    return ex


def run(ex: PromptExecutor, prompt: dict, client_id: str | None = "client", prompt_id: str = "p"):
    result = validate_prompt(prompt, ex.registry)
    extra = {} if client_id is None else {"client_id": client_id}
    return ex.execute(prompt, prompt_id, extra, result.outputs)


def add_graph(a: float = 1.0, b: float = 2.0) -> dict:
    return {
        "1": {"class_type": "Const", "inputs": {"value": a}},
        "2": {"class_type": "Const", "inputs": {"value": b}},
        "3": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }


def test_cold_run_event_order(executor):
    result = run(executor, add_graph())
    assert result.success and result.outputs == {"4": {"value": [3.0]}}
    names = executor.recorder.names()
    assert names[:2] == ["execution_start", "execution_cached"]
    assert names[-1] == "execution_success"
    # docs/protocol.md §16: progress_state(running) precedes executing; finished follows executed.
    per_node = [(e.name, getattr(e, "node", None) or (e.entry.node_id, e.entry.state) if e.name == "progress_state"
                 else getattr(e, "node", None)) for e in executor.recorder.events[2:-1]]
    assert per_node[-4:] == [("progress_state", ("4", "running")), ("executing", "4"), ("executed", "4"),
                             ("progress_state", ("4", "finished"))]
    assert executor.recorder.of(ev.ExecutionCached)[0].nodes == []
    assert [m[0] for m in result.messages] == ["execution_start", "execution_cached", "execution_success"]
    assert result.meta == {"4": {"node_id": "4", "display_node": "4", "parent_node": None, "real_node_id": "4"}}


def test_second_run_is_cached_except_with_cache_none(executor):
    run(executor, add_graph())
    executor.recorder.clear()
    CALLS.clear()
    result = run(executor, add_graph())
    cached = executor.recorder.of(ev.ExecutionCached)[0].nodes
    executing = [e.node for e in executor.recorder.of(ev.Executing)]
    if executor.cache_mode == "none":
        assert cached == [] and sorted(executing) == ["1", "2", "3", "4"]
    else:
        # docs/protocol.md §16 B: all ids cached; the output node re-emits its cached ui, no executing.
        assert cached == ["1", "2", "3", "4"] and executing == []
        assert [e.node for e in executor.recorder.of(ev.Executed)] == ["4"]
        assert CALLS == []
    assert result.outputs == {"4": {"value": [3.0]}}


def test_partial_cache_reruns_only_changed_branch(executor):
    run(executor, add_graph(1.0, 2.0))
    executor.recorder.clear()
    result = run(executor, add_graph(1.0, 5.0))
    executing = sorted(e.node for e in executor.recorder.of(ev.Executing))
    if executor.cache_mode == "none":
        assert executing == ["1", "2", "3", "4"]
    else:
        assert executor.recorder.of(ev.ExecutionCached)[0].nodes == ["1"]
        assert executing == ["2", "3", "4"]
    assert result.outputs["4"] == {"value": [6.0]}


def test_cached_output_without_client_is_missing_from_history(executor):
    """QUIRK(docs/execution.md §3.3): cached outputs are re-emitted (and kept) only with a client."""
    run(executor, add_graph(), client_id=None)
    result = run(executor, add_graph(), client_id=None)
    expected = {"4": {"value": [3.0]}} if executor.cache_mode == "none" else {}
    assert result.outputs == expected


def test_node_error_reports_execution_error(executor):
    prompt = {"1": {"class_type": "Const", "inputs": {"value": 4.0}},
              "2": {"class_type": "Fail", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}}}
    result = run(executor, prompt)
    assert not result.success and result.status_str == "error"
    [err] = executor.recorder.of(ev.ExecutionError)
    assert err.node_id == "2" and err.node_type == "Fail"
    assert err.exception_message == "bad value 4.0\n"
    assert err.exception_type == "ValueError"
    assert err.current_inputs == {"value": [4.0]}
    assert err.executed == ["1"]
    assert any("raise ValueError" in line for line in err.traceback)
    expected_outputs = [] if executor.cache_mode == "none" else ["1", "2", "3"]
    assert sorted(err.current_outputs) == expected_outputs
    assert "execution_success" not in executor.recorder.names()
    assert [m[0] for m in result.messages][-1] == "execution_error"


def test_lazy_input_only_evaluates_requested_branch(executor):
    prompt = {"1": {"class_type": "Const", "inputs": {"value": 1.0}},
              "2": {"class_type": "Const", "inputs": {"value": 2.0}},
              "3": {"class_type": "LazySwitch", "inputs": {"flag": False, "on_true": ["1", 0], "on_false": ["2", 0]}},
              "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}}}
    result = run(executor, prompt)
    assert result.outputs["4"] == {"value": [2.0]}
    assert CALLS == ["Const:2.0"]
    # The lazy node is staged twice: two executing events, each after a running progress_state.
    assert [e.node for e in executor.recorder.of(ev.Executing)].count("3") == 2


def test_list_outputs_map_and_input_is_list_gathers(executor):
    prompt = {"1": {"class_type": "MakeList", "inputs": {"count": 4}},
              "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["1", 0]}},
              "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
              "4": {"class_type": "SumList", "inputs": {"values": ["2", 0]}},
              "5": {"class_type": "Output", "inputs": {"value": ["4", 0]}}}
    result = run(executor, prompt)
    assert result.outputs["3"] == {"value": [0.0, 2.0, 4.0, 6.0]}
    assert result.outputs["5"] == {"value": [12.0]}


def test_execution_blocker_with_message_sends_notice_and_succeeds(executor):
    prompt = {"1": {"class_type": "MakeList", "inputs": {"count": 3}},
              "2": {"class_type": "Blocker", "inputs": {"value": ["1", 0], "message": "stop"}},
              "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}}}
    result = run(executor, prompt)
    assert result.success
    # Blockers travel element-wise: the blocked call produces no ui (docs/execution.md §3.8).
    assert result.outputs["3"] == {"value": [0.0, 2.0]}
    [notice] = executor.recorder.of(ev.ExecutionError)
    assert notice.exception_message == "Execution Blocked: stop" and notice.exception_type == "ExecutionBlocked"
    assert notice.is_blocker_notice and "timestamp" not in notice.data()
    assert [m[0] for m in result.messages][-1] == "execution_success"


def test_expansion_runs_ephemeral_nodes_with_display_ids(executor):
    prompt = {"1": {"class_type": "Const", "inputs": {"value": 3.0}},
              "2": {"class_type": "Double", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}}}
    result = run(executor, prompt)
    assert result.outputs["3"] == {"value": [6.0]}
    executing = [(e.node, e.display_node) for e in executor.recorder.of(ev.Executing)]
    assert ("2.0.0.2", "2") in executing
    states = [e.entry for e in executor.recorder.of(ev.ProgressState) if e.entry.node_id == "2.0.0.2"]
    assert states[0].parent_node_id == "2" and states[0].real_node_id == "2" and states[0].display_node_id == "2"
    if executor.cache_mode != "none":
        executor.recorder.clear()
        again = run(executor, prompt)
        assert again.outputs["3"] == {"value": [6.0]}
        assert executor.recorder.of(ev.Executing) == []


def test_dynamic_cycle_blames_the_generator(executor):
    prompt = {"1": {"class_type": "Const", "inputs": {"value": 1.0}},
              "2": {"class_type": "ExpandCycle", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}}}
    result = run(executor, prompt)
    assert not result.success
    [err] = executor.recorder.of(ev.ExecutionError)
    assert err.node_id == "2" and err.exception_type == "graph.DependencyCycleError"
    assert err.exception_message == "Dependency cycle detected" and err.traceback == []
    assert err.current_inputs == []


def test_async_nodes_run_concurrently(executor):
    prompt = {"1": {"class_type": "Const", "inputs": {"value": 1.0}}}
    for i in range(3):
        prompt[f"s{i}"] = {"class_type": "Sleep", "inputs": {"value": ["1", 0], "seconds": 0.3}}
        prompt[f"o{i}"] = {"class_type": "Output", "inputs": {"value": [f"s{i}", 0]}}
    start = time.monotonic()
    result = run(executor, prompt)
    elapsed = time.monotonic() - start
    assert result.success and elapsed < 0.8, elapsed
    assert all(result.outputs[f"o{i}"] == {"value": [1.0]} for i in range(3))


def test_interrupt_lands_within_100ms_for_a_node_reporting_progress(executor):
    prompt = {"1": {"class_type": "Const", "inputs": {"value": 1.0}},
              "2": {"class_type": "Spin", "inputs": {"value": ["1", 0], "seconds": 5.0}},
              "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}}}
    started = threading.Event()
    executor.bus.subscribe(lambda e: started.set() if isinstance(e, ev.Progress) else None)
    holder = {}

    def work():
        holder["result"] = run(executor, prompt, prompt_id="spin")
        holder["done"] = time.monotonic()

    t = threading.Thread(target=work)
    t.start()
    assert started.wait(5)
    assert executor.interrupt("another-prompt") is False  # per-prompt interrupt of another prompt: no effect
    sent = time.monotonic()
    assert executor.interrupt("spin") is True
    t.join(5)
    assert holder["done"] - sent < 0.1
    result = holder["result"]
    assert not result.success and result.interrupted
    [msg] = executor.recorder.of(ev.ExecutionInterrupted)
    assert msg.node_id == "2" and msg.node_type == "Spin" and msg.executed == ["1"]
    assert executor.recorder.of(ev.ExecutionError) == []
    assert [m[0] for m in result.messages][-1] == "execution_interrupted"


def test_interrupt_belongs_to_the_running_prompt_only(executor):
    assert executor.running_prompt_id is None
    assert executor.interrupt("p") is False  # nothing runs: no prompt of that id to interrupt
    assert executor.interrupt() is True  # "interrupt whatever runs": nothing does, so nothing happens
    seen_running = []
    executor.bus.subscribe(lambda e: seen_running.append(executor.running_prompt_id)
                           if isinstance(e, ev.Executing) and e.node else None)
    result = run(executor, add_graph(), prompt_id="next")
    assert result.success and not result.interrupted  # the idle interrupt did not carry over
    assert set(seen_running) == {"next"} and executor.running_prompt_id is None


def test_is_changed_nan_reruns_node_and_descendants(executor):
    prompt = {"1": {"class_type": "Const", "inputs": {"value": 1.0}},
              "2": {"class_type": "Volatile", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}}}
    run(executor, prompt)
    CALLS.clear()
    run(executor, {k: {**v, "inputs": dict(v["inputs"])} for k, v in prompt.items()})
    assert "Volatile" in CALLS
    if executor.cache_mode != "none":
        assert "Const:1.0" not in CALLS
        # QUIRK(docs/execution.md §1.6): the result is written into the prompt node.
        assert isinstance(prompt["2"]["is_changed"][0], float) and math.isnan(prompt["2"]["is_changed"][0])
    else:
        assert "is_changed" not in prompt["2"]  # no signatures, so IS_CHANGED is never asked


@pytest.mark.parametrize("n", [5000])
def test_very_long_chain_runs_without_recursion(executor, n):
    prompt = {"0": {"class_type": "Const", "inputs": {"value": 0.0}}}
    for i in range(1, n + 1):
        prompt[str(i)] = {"class_type": "Add", "inputs": {"a": [str(i - 1), 0], "b": ["0", 0]}}
    prompt["out"] = {"class_type": "Output", "inputs": {"value": [str(n), 0]}}
    result = run(executor, prompt)
    assert result.success and result.outputs["out"] == {"value": [0.0]}


def test_reset_drops_cached_outputs(executor):
    run(executor, add_graph())
    executor.reset()
    executor.recorder.clear()
    run(executor, add_graph())
    assert executor.recorder.of(ev.ExecutionCached)[0].nodes == []


def test_lru_evicts_whole_old_generations(registry):
    ex = PromptExecutor(registry, ev.EventBus(), "lru", 2)
    run(ex, add_graph(1.0, 2.0))
    run(ex, add_graph(3.0, 4.0))  # first prompt's 4 entries are now older than the current generation
    rec = Recorder(ex.bus)
    run(ex, add_graph(1.0, 2.0))
    assert rec.of(ev.ExecutionCached)[0].nodes == []


def test_executor_nodes_module_is_importable():
    assert executor_nodes.NODES
