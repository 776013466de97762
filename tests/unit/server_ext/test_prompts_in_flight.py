"""The relay's record of prompts a socket saw start, reported as failed when the kernel dies."""

from __future__ import annotations

import json

from toucan_nb_server.prompts_in_flight import PromptsInFlight


def frame(kind: str, **data: object) -> str:
    return json.dumps({"type": kind, "data": data})


def test_running_prompt_is_reported_with_its_last_node():
    prompts = PromptsInFlight()
    prompts.observe(frame("execution_start", prompt_id="p", timestamp=1))
    prompts.observe(frame("executing", node="3", display_node="3", prompt_id="p"))
    prompts.observe(frame("progress", value=1, max=2, prompt_id="p", node="3"))
    [error, done] = [json.loads(f) for f in prompts.lost_frames()]
    assert error["type"] == "execution_error"
    assert error["data"]["prompt_id"] == "p" and error["data"]["node_id"] == "3"
    assert error["data"]["exception_message"].endswith("\n") and "timestamp" in error["data"]
    assert done == {"type": "executing", "data": {"node": None, "prompt_id": "p"}}
    assert prompts.lost_frames() == []  # reported once


def test_finished_prompts_are_not_reported():
    prompts = PromptsInFlight()
    for end in (frame("execution_success", prompt_id="a", timestamp=2),
                frame("execution_error", prompt_id="a", node_id="1", timestamp=2),
                frame("execution_interrupted", prompt_id="a", node_id="1", timestamp=2),
                frame("executing", node=None, prompt_id="a")):
        prompts.observe(frame("execution_start", prompt_id="a", timestamp=1))
        prompts.observe(end)
        assert prompts.lost_frames() == [], end


def test_blocker_notice_does_not_end_the_prompt():
    prompts = PromptsInFlight()
    prompts.observe(frame("execution_start", prompt_id="b", timestamp=1))
    prompts.observe(frame("execution_error", prompt_id="b", node_id="2", exception_type="ExecutionBlocked"))
    assert len(prompts.lost_frames()) == 2


def test_lost_frames_have_the_kernels_own_shapes():
    # The extension writes these two frames itself (it does not load the runtime): they must be
    # what the route set would send, key for key and byte for byte.
    from toucan_nb.api import wire
    from toucan_nb.runtime import events as ev

    prompts = PromptsInFlight()
    prompts.observe(frame("execution_start", prompt_id="p", timestamp=1))
    error_frame, done_frame = prompts.lost_frames()
    error = json.loads(error_frame)["data"]
    expected = ev.execution_error("p", ev.NodeFailure("", error["exception_message"], error["exception_type"]),
                                  timestamp=error["timestamp"])
    assert error_frame == wire.json_frame(expected.name, expected.data())
    assert done_frame == wire.event_frame(ev.Executing(node=None, prompt_id="p"))


def test_frames_it_cannot_read_are_ignored():
    # A custom node may send any data under a watched type; nothing here may raise into the pump.
    prompts = PromptsInFlight()
    deep = '{"type": "executing", "data": ' + "[" * 5000 + "]" * 5000 + "}"
    for text in (deep, '{"type": "executing", "data": 0}', frame("execution_start", prompt_id=["x"]),
                 frame("execution_start", prompt_id={"a": 1}), '{"type": "executing"'):
        prompts.observe(text)
    assert prompts.lost_frames() == []
