"""runtime.events: the event classes, the one execution_error builder, and the EventBus."""

from __future__ import annotations

import threading

import pytest

from tests.support.vectors import load
from toucan_nb.runtime import events as ev


def _recorded_message(kind: str, scenario: str) -> dict:
    return next(m for m in load(f"ws_transcripts/{scenario}.json")["messages"]
                if isinstance(m, dict) and m["type"] == kind)


def test_execution_error_payload_matches_comfyui_key_for_key():
    recorded = _recorded_message("execution_error", "e_runtime_error")["data"]
    failure = ev.NodeFailure("2", "index 3 is out of bounds\n", "IndexError", ["  File ...\n"],
                             {"image": ["[1, 8, 8, 3] tensor"]})
    event = ev.execution_error("p", failure, node_type="ImageToMask", executed=iter(["1"]),
                               current_outputs=("1",), client_id="c", timestamp=123)
    data = event.data()
    assert list(data) == list(recorded)  # same keys, in ComfyUI's order
    assert data == {"prompt_id": "p", "node_id": "2", "node_type": "ImageToMask", "executed": ["1"],
                    "exception_message": "index 3 is out of bounds\n", "exception_type": "IndexError",
                    "traceback": ["  File ...\n"], "current_inputs": {"image": ["[1, 8, 8, 3] tensor"]},
                    "current_outputs": ["1"], "timestamp": 123}
    assert event.client_id == "c" and event.recorded and not event.is_blocker_notice


def test_execution_error_is_stamped_now_unless_it_is_a_blocker_notice():
    before = ev.now_ms()
    stamped = ev.execution_error("p", ev.NodeFailure("", "stopped\n", "RuntimeError"))
    assert before <= stamped.timestamp <= ev.now_ms()
    assert stamped.data()["current_inputs"] == {} and stamped.data()["node_id"] == ""
    notice = ev.execution_error("p", ev.NodeFailure("3", "Execution Blocked: no", "ExecutionBlocked",
                                                    current_inputs=[]), notice=True)
    assert notice.is_blocker_notice and "timestamp" not in notice.data()
    assert notice.data()["current_inputs"] == []


def test_the_shared_fields_are_declared_once_and_given_by_keyword():
    start = ev.ExecutionStart(prompt_id="p", client_id="c", timestamp=5)
    assert (start.prompt_id, start.client_id, start.seq, start.timestamp) == ("p", "c", 0, 5)
    assert start.data() == {"prompt_id": "p", "timestamp": 5}
    with pytest.raises(TypeError):
        ev.ExecutionStart("p")
    recorded = {cls.name for cls in (ev.ExecutionStart, ev.ExecutionCached, ev.ExecutionSuccess,
                                     ev.ExecutionError, ev.ExecutionInterrupted) if cls.recorded}
    assert recorded == {"execution_start", "execution_cached", "execution_success", "execution_error",
                        "execution_interrupted"}
    assert not any(cls.recorded for cls in (ev.Status, ev.Executing, ev.Executed, ev.Progress, ev.ProgressState,
                                            ev.PreviewImage, ev.ProgressText, ev.CustomMessage))


def test_each_wire_name_belongs_to_one_class():
    classes = [c for c in vars(ev).values() if isinstance(c, type) and issubclass(c, ev.Event) and c.name]
    names = [c.name for c in classes]
    assert len(names) == len(set(names)) == 13


def test_interrupted_and_success_payloads_match_comfyui():
    interrupted = _recorded_message("execution_interrupted", "f_interrupt")["data"]
    event = ev.ExecutionInterrupted(prompt_id="p", node_id="1", node_type="T", executed=["0"], timestamp=9)
    assert list(event.data()) == list(interrupted)
    success = _recorded_message("execution_success", "b_success_cold")["data"]
    assert list(ev.ExecutionSuccess(prompt_id="p").data()) == list(success)


def test_bus_stamps_a_sequence_and_survives_a_failing_subscriber():
    bus = ev.EventBus()
    seen: list[ev.Event] = []

    def broken(event: ev.Event) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    unsubscribe = bus.subscribe(seen.append)
    assert bus.has_subscribers
    first, second = ev.Status(queue_remaining=1), ev.Status(queue_remaining=0)
    bus.publish(first)
    bus.publish(second)
    assert seen == [first, second] and 0 < first.seq < second.seq
    unsubscribe()
    bus.publish(ev.Status())
    assert len(seen) == 2


def test_bus_sequence_is_unique_across_threads():
    bus = ev.EventBus()
    seqs: list[int] = []
    lock = threading.Lock()

    def record(event: ev.Event) -> None:
        with lock:
            seqs.append(event.seq)

    bus.subscribe(record)
    threads = [threading.Thread(target=lambda: [bus.publish(ev.Status()) for _ in range(500)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(seqs) == list(range(1, 2001))
