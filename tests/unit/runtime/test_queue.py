"""toucan_nb.runtime.queue: QueueItem and PromptQueue (docs/protocol.md §6, §7)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from tests.support.vectors import load
from toucan_nb.runtime.queue import PromptQueue, QueueItem


def item(number: float, prompt_id: str, **extra: Any) -> QueueItem:
    return QueueItem(number, prompt_id, {"1": {"class_type": "X", "inputs": {}}}, dict(extra), ["1"])


class Recorder:
    """An on_change callback that notes `remaining()` at each call, as the Runtime's Status event does."""

    def __init__(self) -> None:
        self.queue: PromptQueue | None = None
        self.counts: list[int] = []

    def __call__(self) -> None:
        assert self.queue is not None
        self.counts.append(self.queue.remaining())


def recorded_queue() -> tuple[PromptQueue, Recorder]:
    recorder = Recorder()
    queue = PromptQueue(on_change=recorder)
    recorder.queue = queue
    return queue, recorder


# -- QueueItem ------------------------------------------------------------------------------------


def test_to_wire_is_five_elements_without_sensitive() -> None:
    queued = QueueItem(3, "p", {"1": {}}, {"client_id": "c"}, ["1"], {"api_key_comfy_org": "secret"})
    assert queued.to_wire() == [3, "p", {"1": {}}, {"client_id": "c"}, ["1"]]
    assert "secret" not in json.dumps(queued.to_wire())


def test_from_wire_round_trip() -> None:
    wire = [7.0, "p", {"1": {}}, {"create_time": 1}, ["1", "2"]]
    assert QueueItem.from_wire(wire).to_wire() == wire
    assert QueueItem.from_wire(wire).sensitive == {}


def test_queue_item_is_frozen() -> None:
    with pytest.raises(AttributeError):
        item(1, "p").number = 2  # type: ignore[misc]


# -- ordering ---------------------------------------------------------------------------------------


def test_pending_is_raw_heap_order_and_get_is_number_order() -> None:
    # QUIRK(docs/protocol.md §7): /queue lists the heap array, not a sorted list.
    queue = PromptQueue()
    for number in (5, 3, 4, 1, 2):
        queue.put(item(number, f"p{number}"))
    # heappush of 5, 3, 4, 1, 2 leaves the array [1, 2, 4, 5, 3].
    assert [i.number for i in queue.pending()] == [1, 2, 4, 5, 3]
    assert [queue.get(timeout=0).number for _ in range(5)] == [1, 2, 3, 4, 5]  # type: ignore[union-attr]


def test_heap_array_after_pops_matches_comfyui() -> None:
    queue = PromptQueue()
    for number in (9, 8, 7, 6, 5, 4):
        queue.put(item(number, f"p{number}"))
    assert [i.number for i in queue.pending()] == [4, 6, 5, 9, 7, 8]
    queue.get(timeout=0)
    # heappop moves the last element (8) to the root and sifts it down.
    assert [i.number for i in queue.pending()] == [5, 6, 8, 9, 7]


def test_equal_numbers_run_in_prompt_id_order() -> None:
    # QUIRK(docs/protocol.md §6): the heap compares (number, prompt_id, ...).
    queue = PromptQueue()
    queue.put(item(1, "b"))
    queue.put(item(1, "a"))
    queue.put(item(0, "z"))
    assert [queue.get(timeout=0).prompt_id for _ in range(3)] == ["z", "a", "b"]  # type: ignore[union-attr]


def test_same_number_and_id_run_in_insertion_order() -> None:
    # ComfyUI would compare the prompt dicts here and raise; we fall back to insertion order.
    queue = PromptQueue()
    first, second = item(1, "same", tag="first"), item(1, "same", tag="second")
    queue.put(first)
    queue.put(second)
    assert queue.get(timeout=0) is first
    assert queue.get(timeout=0) is second


def test_float_and_front_numbers() -> None:
    queue = PromptQueue()
    for number, prompt_id in ((12, "later"), (7.0, "explicit"), (-13, "front"), (6.5, "float")):
        queue.put(item(number, prompt_id))
    got = [queue.get(timeout=0) for _ in range(4)]
    assert [i.prompt_id for i in got] == ["front", "float", "explicit", "later"]  # type: ignore[union-attr]
    explicit = got[2]
    assert explicit is not None and json.dumps(explicit.to_wire()[0]) == "7.0"


# -- running, remaining, task_done ----------------------------------------------------------------


def test_get_moves_item_to_running_and_task_done_drops_it() -> None:
    queue = PromptQueue()
    queue.put(item(1, "a"))
    queue.put(item(2, "b"))
    got = queue.get(timeout=0)
    assert got is not None and got.prompt_id == "a"
    assert [i.prompt_id for i in queue.running()] == ["a"]
    assert [i.prompt_id for i in queue.pending()] == ["b"]
    assert queue.remaining() == 2 == len(queue)
    assert queue.task_done("a") is got
    assert queue.running() == [] and queue.remaining() == 1
    with pytest.raises(KeyError):
        queue.task_done("a")


def test_snapshot_vector_queue_and_status_counts() -> None:
    """running_and_pending_snapshot: long runs, then my-custom-id-1 and a front prompt are posted,
    then the front prompt is deleted. The socket saw status counts 1, 1, 2, 3, 2."""
    snapshot = load("history_and_jobs.json")["running_and_pending_snapshot"]
    queue_body = snapshot["GET /queue"]["body"]
    queue, recorder = recorded_queue()
    (running_wire,) = queue_body["queue_running"]
    pending_by_id = {wire[1]: wire for wire in queue_body["queue_pending"]}
    front_id = snapshot["posted"]["pending_front_true"]["body"]["prompt_id"]

    queue.put(QueueItem.from_wire(running_wire))
    assert queue.get(timeout=1) is not None
    queue.put(QueueItem.from_wire(pending_by_id["my-custom-id-1"]))
    queue.put(QueueItem.from_wire(pending_by_id[front_id]))
    assert json.dumps([i.to_wire() for i in queue.running()]) == json.dumps(queue_body["queue_running"])
    assert json.dumps([i.to_wire() for i in queue.pending()]) == json.dumps(queue_body["queue_pending"])
    assert queue.remaining() == snapshot["GET /prompt"]["body"]["exec_info"]["queue_remaining"]

    assert queue.delete([front_id]) == 1
    statuses = [m["data"]["status"]["exec_info"]["queue_remaining"]
                for m in snapshot["ws_messages_of_this_client"] if m["type"] == "status"]
    # The first status is the one sent on connect; the recording ends before `long` finished.
    assert recorder.counts == statuses[1:6] == [1, 1, 2, 3, 2]


# -- on_change ----------------------------------------------------------------------------------


def test_on_change_fires_once_per_put_get_task_done() -> None:
    queue, recorder = recorded_queue()
    queue.put(item(1, "a"))
    queue.put(item(2, "b"))
    queue.get(timeout=0)
    queue.task_done("a")
    assert recorder.counts == [1, 2, 2, 1]


def test_get_timeout_does_not_fire() -> None:
    queue, recorder = recorded_queue()
    assert queue.get(timeout=0) is None
    assert recorder.counts == []


def test_delete_fires_per_item_and_twice_for_the_last() -> None:
    # QUIRK(docs/protocol.md §7): deleting the last pending item broadcasts status twice.
    queue, recorder = recorded_queue()
    for prompt_id in ("a", "b", "c"):
        queue.put(item(1, prompt_id))
    recorder.counts.clear()
    assert queue.delete(["b", "nope"]) == 1
    assert recorder.counts == [2]
    assert queue.delete(["a", "c"]) == 2
    assert recorder.counts == [2, 1, 0, 0]
    assert queue.delete(["a"]) == 0
    assert recorder.counts == [2, 1, 0, 0]


def test_delete_last_pending_while_running_counts_running() -> None:
    queue, recorder = recorded_queue()
    queue.put(item(1, "run"))
    queue.get(timeout=0)
    queue.put(item(2, "wait"))
    recorder.counts.clear()
    assert queue.delete(["wait"]) == 1
    assert recorder.counts == [1, 1]


def test_delete_removes_first_match_in_heap_order_only() -> None:
    queue = PromptQueue()
    queue.put(item(5, "dup", tag="five"))
    queue.put(item(1, "dup", tag="one"))
    queue.put(item(3, "other"))
    # Heap array: [1 dup, 5 dup, 3 other]; the first match is the number-1 item.
    assert queue.delete(["dup"]) == 1
    assert [(i.prompt_id, i.number) for i in queue.pending()] == [("other", 3), ("dup", 5)]
    assert queue.delete(["dup", "dup"]) == 1
    assert [i.prompt_id for i in queue.pending()] == ["other"]


def test_delete_leaves_running_items_alone() -> None:
    queue = PromptQueue()
    queue.put(item(1, "run"))
    queue.get(timeout=0)
    assert queue.delete(["run"]) == 0
    assert [i.prompt_id for i in queue.running()] == ["run"]


def test_clear_drops_pending_keeps_running_and_always_fires() -> None:
    queue, recorder = recorded_queue()
    queue.put(item(1, "run"))
    queue.get(timeout=0)
    queue.put(item(2, "a"))
    queue.put(item(3, "b"))
    recorder.counts.clear()
    queue.clear()
    assert queue.pending() == [] and [i.prompt_id for i in queue.running()] == ["run"]
    queue.clear()
    assert recorder.counts == [1, 1]


def test_on_change_runs_under_the_queue_lock() -> None:
    """A concurrent put cannot slip between a change and the count its callback reads."""
    counts: list[int] = []
    queue = PromptQueue()
    queue.on_change = lambda: counts.append(queue.remaining())
    threads = [threading.Thread(target=lambda n=n: [queue.put(item(n, f"{n}-{k}")) for k in range(200)])
               for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(counts) == list(range(1, 801))


# -- blocking get ---------------------------------------------------------------------------------


def test_get_times_out_with_none() -> None:
    queue = PromptQueue()
    started = time.monotonic()
    assert queue.get(timeout=0.05) is None
    assert time.monotonic() - started >= 0.05


def test_get_blocks_until_put() -> None:
    queue = PromptQueue()
    got: list[QueueItem | None] = []
    waiter = threading.Thread(target=lambda: got.append(queue.get(timeout=10)))
    waiter.start()
    waiter.join(timeout=0.1)
    assert waiter.is_alive() and got == []
    queue.put(item(1, "a"))
    waiter.join(timeout=5)
    assert not waiter.is_alive()
    assert [i.prompt_id for i in got] == ["a"]  # type: ignore[union-attr]


def test_close_wakes_blocked_get() -> None:
    queue = PromptQueue()
    got: list[QueueItem | None] = []
    waiter = threading.Thread(target=lambda: got.append(queue.get()))
    waiter.start()
    waiter.join(timeout=0.1)
    assert waiter.is_alive()
    queue.close()
    waiter.join(timeout=5)
    assert got == [None]
    queue.put(item(1, "kept"))
    assert queue.get(timeout=0) is None
    assert [i.prompt_id for i in queue.pending()] == ["kept"]


def test_concurrent_producers_and_consumers_each_item_once() -> None:
    queue = PromptQueue()
    taken: list[str] = []
    taken_lock = threading.Lock()
    total = 4 * 250

    def produce(n: int) -> None:
        for k in range(250):
            queue.put(item(k, f"{n}-{k}"))

    def consume() -> None:
        while True:
            got = queue.get(timeout=2)
            if got is None:
                return
            queue.task_done(got.prompt_id)
            with taken_lock:
                taken.append(got.prompt_id)
                if len(taken) == total:
                    queue.close()

    workers = [threading.Thread(target=consume) for _ in range(3)]
    workers += [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=20)
    assert not any(worker.is_alive() for worker in workers)
    assert sorted(taken) == sorted(f"{n}-{k}" for n in range(4) for k in range(250))
    assert queue.remaining() == 0
