"""End to end on a real Runtime: run/queue/wait/cancel, output capture, errors, final images."""

from __future__ import annotations

import concurrent.futures
import traceback

import pytest

from toucan_nb.notebook import execution
from toucan_nb.notebook.capture import CAPTURE_CLASS_TYPE, install_capture
from toucan_nb.notebook.graph import Workflow
from toucan_nb.notebook.namespace import NodeNamespace
from toucan_nb.runtime import events as ev
from toucan_nb.runtime.errors import ExecutionInterruptedError, NodeExecutionError, PromptValidationError

from .nodes_for_tests import Gate

TIMEOUT = 30


@pytest.fixture
def nodes(runtime):
    return NodeNamespace(runtime.registry)


@pytest.fixture
def gate():
    Gate.started.clear()
    Gate.open.clear()
    yield Gate
    Gate.open.set()  # never leave the shared runtime blocked


@pytest.fixture
def opts(runtime):
    return {"runtime": runtime, "progress": False, "timeout": TIMEOUT}


def test_run_returns_the_value_of_an_output(nodes, opts):
    total = nodes.Add(a=nodes.Number(value=2), b=3)
    assert total.run(**opts) == 5


def test_multi_output_and_list_outputs_come_back_as_declared(nodes, opts):
    r = nodes.Range(n=4)
    result = r.run(**opts)
    assert result[r["values"]] == [0, 1, 2, 3]  # OUTPUT_IS_LIST: the whole list
    assert result[r["count"]] == 4
    assert result[r] == ([0, 1, 2, 3], 4)


def test_a_node_mapped_over_a_list_gives_the_list(nodes, opts):
    mapped = nodes.Add(a=nodes.Range(n=3)["values"], b=10)
    assert mapped.run(**opts) == [10, 11, 12]


def test_list_constants_reach_the_node_unwrapped(nodes, opts):
    # (A list shaped exactly like a link, ["a", 1], still breaks at execution after the unwrap: a
    # ComfyUI quirk the runtime copies; the wrapping protects every other list.)
    assert nodes.Concat(items=["a", "b", 3], sep="+").run(**opts) == "a+b+3"


def test_values_come_back_again_when_upstream_is_cached(runtime, nodes, opts):
    src = nodes.Number(value=41)
    total = nodes.Add(a=src, b=1)
    assert total.run(**opts) == 42
    seen: list[ev.Event] = []
    unsubscribe = runtime.events.subscribe(seen.append)
    try:
        assert total.run(**opts) == 42
    finally:
        unsubscribe()
    cached = [e for e in seen if isinstance(e, ev.ExecutionCached)]
    assert cached and {src.node.id, total.node.id} <= set(cached[0].nodes)


def test_several_targets_and_untargeted_outputs(nodes, opts):
    with Workflow() as wf:
        a = nodes.Number(value=1)
        b = nodes.Add(a=a, b=1)
        c = nodes.Add(a=b, b=1)
    result = wf.run(a, c, **opts)
    assert (result[a], result[c]) == (1, 3)
    assert set(result.values) == {a, c}
    with pytest.raises(KeyError, match="no value"):
        result[b]


def test_no_targets_and_no_output_node_brings_back_the_leaves(nodes, opts):
    with Workflow() as wf:
        a = nodes.Number(value=5)
        leaf = nodes.Add(a=a, b=a)
    result = wf.run(**opts)
    assert result.values == {leaf: 10}


def test_output_nodes_run_and_their_ui_and_images_come_back(runtime, nodes, opts):
    with Workflow() as wf:
        img = nodes.EmptyImage(width=8, height=6, color=0x00FF00)
        save = nodes.SaveImage(img, filename_prefix="nbtest")
    result = wf.run(**opts)
    assert save.id in result.outputs
    item = result.ui(save)["images"][0]
    assert item["type"] == "output" and item["filename"].startswith("nbtest")
    (image,) = result.images()
    assert image.size == (8, 6) and image.getpixel((0, 0))[:3] == (0, 255, 0)
    assert result[save] == result.ui(save)
    # A target that is an output node runs it as well as capturing.
    both = wf.run(save, img, **opts)
    assert tuple(both[img].shape) == (1, 6, 8, 3) and save.id in both.outputs


def test_node_errors_raise_with_the_node_and_traceback(nodes, opts):
    bad = nodes.Fail(value=3)
    with pytest.raises(NodeExecutionError, match="boom 3") as info:
        bad.run(**opts)
    exc = info.value
    assert exc.node_id == bad.node.id and exc.exception_type.endswith("ValueError")
    # What the cell's traceback shows: the node, the exception, the node's own code, not the executor's.
    lines = str(exc).splitlines()
    assert lines[0] == f"Fail (node {bad.node.id}): ValueError: boom 3"
    assert lines[1] == "Traceback of the node (most recent call last):"
    assert "nodes_for_tests.py" in lines[2] and "in boom" in lines[2]
    assert lines[3].strip() == 'raise ValueError(f"boom {value}")' and len(lines) == 4
    shown = "".join(traceback.format_exception_only(exc))  # the last part of a cell's traceback
    assert shown.startswith(f"toucan_nb.runtime.errors.NodeExecutionError: Fail (node {bad.node.id}):")


def test_validation_errors_raise_before_anything_is_queued(runtime, nodes, opts):
    number = nodes.Number(value=5000)
    with pytest.raises(PromptValidationError) as info:
        nodes.Add(a=number, b=1).run(**opts)
    assert "value_bigger_than_max" in str(info.value.node_errors)
    assert str(info.value).splitlines() == ["Prompt outputs failed validation",
                                            f"Number (node {number.node.id}): value: Value 5000 bigger than max of 1000"]
    assert install_capture(runtime).pending_prompts() == []


def test_queue_gives_a_handle_with_status_wait_and_timeout(nodes, opts, gate):
    opts.pop("timeout")
    handle = nodes.Gate(value=7, key="a").queue(**opts)
    assert gate.started.wait(TIMEOUT)
    assert handle.status == "running" and not handle.done()
    with pytest.raises(TimeoutError, match="still running"):
        handle.wait(timeout=0.05)
    gate.open.set()
    result = handle.wait(TIMEOUT)
    assert handle.status == "success"
    assert list(result.values.values()) == [7]
    assert isinstance(handle.future, concurrent.futures.Future) and handle.future.result() is result


def test_cancel_interrupts_a_running_prompt(nodes, opts, gate):
    opts.pop("timeout")
    handle = nodes.Gate(value=1, key="b").queue(**opts)
    assert gate.started.wait(TIMEOUT)
    assert handle.cancel() is True
    with pytest.raises(ExecutionInterruptedError):
        handle.wait(TIMEOUT)
    assert handle.status == "interrupted"
    assert handle.cancel() is False


def test_cancel_deletes_a_pending_prompt(runtime, nodes, opts, gate):
    opts.pop("timeout")
    blocker = nodes.Gate(value=1, key="c").queue(**opts)
    assert gate.started.wait(TIMEOUT)
    pending = nodes.Add(a=1, b=2).queue(**opts)
    assert pending.status == "pending"
    assert pending.cancel() is True
    with pytest.raises(concurrent.futures.CancelledError):
        pending.wait(TIMEOUT)
    assert pending.status == "cancelled"
    assert pending.prompt_id not in [i.prompt_id for i in runtime.queue.pending()]
    gate.open.set()
    assert list(blocker.wait(TIMEOUT).values.values()) == [1]


def test_keyboard_interrupt_while_waiting_cancels_the_prompt(nodes, opts, gate, monkeypatch):
    opts.pop("timeout")
    handle = nodes.Gate(value=1, key="d").queue(**opts)
    assert gate.started.wait(TIMEOUT)

    def stop_pressed(timeout=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(handle.future, "result", stop_pressed)
    with pytest.raises(KeyboardInterrupt):
        handle.wait()
    monkeypatch.undo()
    with pytest.raises(ExecutionInterruptedError):
        handle.wait(TIMEOUT)


def test_captures_are_handed_over_and_forgotten(runtime, nodes, opts):
    store = install_capture(runtime)
    nodes.Add(a=1, b=1).run(**opts)
    assert store.pending_prompts() == []


def test_a_capture_node_queued_by_someone_else_keeps_nothing(runtime):
    store = install_capture(runtime)
    prompt = {"1": {"class_type": "Number", "inputs": {"value": 1}},
              "2": {"class_type": CAPTURE_CLASS_TYPE, "inputs": {"value": ["1", 0], "prompt_key": "web-ui"}}}
    entry = runtime.run(prompt, timeout=TIMEOUT)
    assert entry.status_str == "success" and entry.outputs == {}
    assert store.pending_prompts() == []


def test_plan_adds_captures_outside_the_users_workflow(runtime, nodes):
    with Workflow() as wf:
        total = nodes.Add(a=nodes.Number(value=1), b=2)
    before = wf.to_api()
    plan = execution.plan_prompt(wf, (total,), "pid")
    assert wf.to_api() == before
    (capture_id,) = plan.captures
    assert plan.prompt[capture_id] == {"inputs": {"value": [total.node.id, 0], "prompt_key": "pid"},
                                       "class_type": CAPTURE_CLASS_TYPE, "_meta": {"title": "Notebook capture"}}
    assert plan.partial_targets == [capture_id]


def test_final_images_are_displayed_by_the_waiting_cell(runtime, nodes, monkeypatch):
    shown: list[list[bytes]] = []
    monkeypatch.setattr("toucan_nb.notebook.images.display_pngs", shown.append)
    save = nodes.SaveImage(nodes.EmptyImage(width=4, height=4), filename_prefix="shown")
    save.run(runtime=runtime, progress=False, display_images=True, timeout=TIMEOUT)
    assert len(shown) == 1 and len(shown[0]) == 1 and shown[0][0].startswith(b"\x89PNG")
    shown.clear()
    save.run(runtime=runtime, progress=False, timeout=TIMEOUT)  # off by default outside a kernel
    assert shown == []
