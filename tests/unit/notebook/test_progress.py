"""The widget's model: folding one prompt's events (docs/execution.md §5.2) and the preview throttle."""

from __future__ import annotations

import pytest

from toucan_nb.notebook.progress import FrameThrottle, ProgressFold
from toucan_nb.runtime import events as ev

PROMPT = {
    "1": {"class_type": "EmptyImage", "inputs": {}, "_meta": {"title": "Empty"}},
    "2": {"class_type": "KSampler", "inputs": {}},
    "3": {"class_type": "SaveImage", "inputs": {}, "_meta": {"title": "Save"}},
    "_capture_1": {"class_type": "ToucanCapture", "inputs": {}},
}


def entry(node_id, state, value=0.0, max=1.0, display=None, prompt_id="p"):
    return ev.ProgressState(prompt_id=prompt_id, entry=ev.NodeProgress(
        node_id=node_id, state=state, value=value, max=max, prompt_id=prompt_id,
        display_node_id=display or node_id, parent_node_id=None, real_node_id=node_id))


def rows(fold):
    return {r["node_id"]: (r["state"], r["value"], r["max"]) for r in fold.to_state()["nodes"]}


def test_rows_start_from_the_prompt_without_capture_nodes():
    fold = ProgressFold("p", PROMPT)
    state = fold.to_state()
    assert state["status"] == "pending"
    assert [(r["node_id"], r["title"]) for r in state["nodes"]] == [("1", "Empty"), ("2", "KSampler"), ("3", "Save")]
    assert all(r["state"] == "pending" for r in state["nodes"])


def test_a_run_folds_into_states_values_and_status():
    fold = ProgressFold("p", PROMPT)
    assert fold.apply(ev.ExecutionStart(prompt_id="p"))
    assert fold.status == "running"
    assert fold.apply(ev.ExecutionCached(nodes=["1"], prompt_id="p"))
    assert fold.apply(ev.Executing(node="2", display_node="2", prompt_id="p"))
    assert fold.to_state()["executing"] == "2"
    assert fold.apply(entry("2", "running", 3, 20))
    assert rows(fold)["2"] == ("running", 3.0, 20.0)
    assert fold.apply(entry("2", "finished", 20, 20))
    assert fold.apply(ev.Executing(node="_capture_1", prompt_id="p"))
    assert fold.to_state()["executing"] == ""  # capture nodes stay out of sight
    assert not fold.apply(entry("_capture_1", "running"))
    assert fold.apply(ev.Executed(node="3", display_node="3", prompt_id="p",
                                  output={"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]}))
    assert fold.apply(ev.ExecutionSuccess(prompt_id="p"))
    assert fold.is_terminal and fold.status == "success"
    # Node 3 never ran (not needed, or blocked): it shows as skipped once the prompt is over.
    assert rows(fold) == {"1": ("cached", 1.0, 1.0), "2": ("finished", 20.0, 20.0), "3": ("skipped", 0.0, 1.0)}
    assert fold.images == [{"filename": "a.png", "subfolder": "", "type": "output"}]
    # After the end nothing changes any more.
    assert not fold.apply(entry("3", "running"))


def test_other_prompts_and_unknown_events_are_ignored():
    fold = ProgressFold("p", PROMPT)
    assert not fold.apply(ev.ExecutionStart(prompt_id="other"))
    assert not fold.apply(entry("2", "running", prompt_id="other"))
    assert not fold.apply(ev.Status(queue_remaining=3))
    assert fold.status == "pending"


def test_expanded_nodes_get_rows_under_their_display_node():
    fold = ProgressFold("p", PROMPT)
    fold.apply(entry("2.0.0.1", "running", 1, 2, display="2"))
    row = fold.to_state()["nodes"][-1]
    assert row["node_id"] == "2.0.0.1" and row["display_node_id"] == "2" and row["title"] == "KSampler [2.0.0.1]"


def test_errors_interrupts_and_blocker_notices():
    fold = ProgressFold("p", PROMPT)
    blocker = ev.ExecutionError(prompt_id="p", node_id="2", node_type="KSampler",
                                exception_message="Execution Blocked: no", timestamp=None)
    assert not fold.apply(blocker)  # a notice, not the end
    assert fold.apply(ev.ExecutionError(prompt_id="p", node_id="2", node_type="KSampler",
                                        exception_message="boom\n"))
    assert fold.status == "error" and fold.message == "KSampler (node 2): boom"
    assert rows(fold)["2"][0] == "error"
    fold = ProgressFold("p", PROMPT)
    fold.apply(entry("2", "running", 5, 20))
    assert fold.apply(ev.ExecutionInterrupted(prompt_id="p", node_id="2", node_type="KSampler"))
    assert (fold.status, fold.message) == ("interrupted", "Interrupted at node 2")
    assert rows(fold)["2"] == ("interrupted", 5.0, 20.0) and rows(fold)["3"][0] == "pending"
    fold = ProgressFold("p", PROMPT)
    assert fold.cancel() and fold.status == "cancelled"
    assert not fold.cancel()


def test_non_finite_progress_values_are_made_finite():
    fold = ProgressFold("p", PROMPT)
    fold.apply(entry("2", "running", float("nan"), float("inf")))
    assert rows(fold)["2"] == ("running", 0.0, 1.0)


def test_throttle_keeps_the_newest_frame_and_limits_the_rate():
    throttle = FrameThrottle(max_fps=10)  # one frame per 0.1 s
    assert throttle.take(0.0) is None and throttle.wait_time(0.0) is None
    throttle.offer("a")
    assert throttle.wait_time(0.0) == 0.0
    assert throttle.take(0.0) == "a"
    throttle.offer("b")
    throttle.offer("c")
    assert throttle.dropped == 1
    assert throttle.take(0.05) is None
    assert throttle.wait_time(0.05) == pytest.approx(0.05)
    assert throttle.take(0.1) == "c"  # the newest wins
    assert throttle.take(0.5) is None
    # 100 frames offered over one second at 1 ms apart: at most 10 (+ the first) get through.
    throttle = FrameThrottle(max_fps=10)
    sent = [f for i in range(1000) if (throttle.offer(i) or True) and (f := throttle.take(i / 1000)) is not None]
    assert 10 <= len(sent) <= 11 and sent[0] == 0
    with pytest.raises(ValueError):
        FrameThrottle(0)
