"""toucan_nb.runtime.history: HistoryEntry (docs/protocol.md §17) and History (docs/protocol.md §7,
docs/execution.md §6.1 test_offset_*), against the /history responses recorded from ComfyUI."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from tests.support.vectors import load
from toucan_nb.runtime.history import (
    RUNTIME_STOPPED_MESSAGE,
    History,
    HistoryEntry,
    runtime_stopped_entry,
)
from toucan_nb.runtime.queue import QueueItem


def _vectors() -> dict[str, Any]:
    return load("history_and_jobs.json")


def entry(prompt_id: str, number: int = 0, status_str: str = "success") -> HistoryEntry:
    item = QueueItem(number, prompt_id, {"1": {"class_type": "X", "inputs": {}}}, {"create_time": number}, ["1"])
    return HistoryEntry(prompt=item, outputs={"1": {"images": []}}, meta={}, status_str=status_str,
                        completed=status_str == "success",
                        messages=[["execution_start", {"prompt_id": prompt_id, "timestamp": number}]])


def filled(count: int, max_size: int = 10000) -> History:
    history = History(max_size=max_size)
    for n in range(count):
        history.add(entry(f"p{n}", n))
    return history


# -- HistoryEntry -------------------------------------------------------------------------------


def test_to_wire_shape_and_key_order() -> None:
    queued = QueueItem(4, "p", {"1": {}}, {"client_id": "c", "create_time": 5}, ["1"], {"auth_token_comfy_org": "t"})
    wire = HistoryEntry(prompt=queued, outputs={"1": {"text": ["x"]}}, meta={"1": {"node_id": "1"}},
                        status_str="error", completed=False, messages=[["execution_start", {"timestamp": 1}]]).to_wire()
    assert list(wire) == ["prompt", "outputs", "status", "meta"]
    assert list(wire["status"]) == ["status_str", "completed", "messages"]
    assert wire["prompt"] == [4, "p", {"1": {}}, {"client_id": "c", "create_time": 5}, ["1"]]
    assert wire["status"] == {"status_str": "error", "completed": False,
                              "messages": [["execution_start", {"timestamp": 1}]]}
    assert "auth_token" not in json.dumps(wire)


def test_recorded_entries_round_trip_exactly() -> None:
    data = _vectors()
    keys = [k for k in data if k.startswith("history_") or k == "GET /history?max_items=2 (end)"]
    seen = 0
    for key in keys:
        for prompt_id, wire in data[key]["body"].items():
            rebuilt = HistoryEntry.from_wire(wire)
            assert rebuilt.prompt_id == prompt_id
            assert json.dumps(rebuilt.to_wire()) == json.dumps(wire), key
            seen += 1
    assert seen >= 12


def test_runtime_stopped_entry() -> None:
    item = QueueItem(3, "p", {"1": {}}, {"create_time": 1}, ["1"], {"api_key_comfy_org": "k"})
    stopped = runtime_stopped_entry(item, started_at=100, stopped_at=200)
    assert (stopped.status_str, stopped.completed, stopped.outputs, stopped.meta) == ("error", False, {}, {})
    assert stopped.prompt is item
    (start_name, start), (error_name, error) = stopped.messages
    assert (start_name, start) == ("execution_start", {"prompt_id": "p", "timestamp": 100})
    assert error_name == "execution_error"
    assert error["prompt_id"] == "p" and error["timestamp"] == 200
    assert error["exception_message"] == RUNTIME_STOPPED_MESSAGE
    assert list(error) == ["prompt_id", "node_id", "node_type", "executed", "exception_message",
                           "exception_type", "traceback", "current_inputs", "current_outputs", "timestamp"]
    no_start = runtime_stopped_entry(item)
    assert [name for name, _ in no_start.messages] == ["execution_error"]


# -- History paging (docs/protocol.md §7; docs/execution.md §6.1 test_offset_*) ----------------------------


def ids(result: dict[str, Any]) -> list[str]:
    return list(result)


def test_get_without_parameters_returns_everything_oldest_first() -> None:
    assert ids(filled(4).get()) == ["p0", "p1", "p2", "p3"]
    assert History().get() == {}


def test_offset_zero_equals_no_offset() -> None:
    history = filled(5)
    assert history.get(offset=0) == history.get()
    assert history.get(max_items=2, offset=0) == {k: v for k, v in list(history.get().items())[:2]}


def test_offset_skips_from_the_oldest() -> None:
    assert ids(filled(5).get(offset=2)) == ["p2", "p3", "p4"]


def test_offset_at_or_past_the_end_is_empty() -> None:
    history = filled(3)
    assert history.get(offset=3) == {}
    assert history.get(offset=10) == {}
    assert history.get(max_items=2, offset=3) == {}


def test_max_items_alone_gives_the_newest_oldest_first() -> None:
    # QUIRK(docs/protocol.md §18): newest N, ordered oldest -> newest.
    history = filled(5)
    assert ids(history.get(max_items=2)) == ["p3", "p4"]
    assert ids(history.get(max_items=9)) == ["p0", "p1", "p2", "p3", "p4"]


def test_max_items_with_offset_is_a_window() -> None:
    history = filled(5)
    assert ids(history.get(max_items=2, offset=1)) == ["p1", "p2"]
    assert ids(history.get(max_items=3, offset=4)) == ["p4"]


def test_negative_offset_behaves_like_absent() -> None:
    history = filled(5)
    assert history.get(offset=-1) == history.get()
    assert ids(history.get(max_items=2, offset=-7)) == ["p3", "p4"]


def test_integers_past_sys_maxsize_page_like_any_large_number() -> None:
    # Clients send any integer (ComfyUI's int() takes them all); islice used to raise on these.
    history, huge = filled(3), 10 ** 23
    assert ids(history.get(max_items=huge)) == ["p0", "p1", "p2"]
    assert history.get(offset=huge) == {}
    assert ids(history.get(max_items=huge, offset=1)) == ["p1", "p2"]
    assert ids(history.get(max_items=-huge, offset=2)) == ["p2"]
    assert history.get(max_items=-huge) == {}
    assert history.get(offset=-huge) == history.get()


def test_max_items_zero() -> None:
    history = filled(3)
    assert history.get(max_items=0) == {}
    # QUIRK(docs/protocol.md §7): ComfyUI checks the count after adding, so an explicit offset yields one.
    assert ids(history.get(max_items=0, offset=0)) == ["p0"]
    assert ids(history.get(max_items=-2, offset=1)) == ["p1"]
    assert history.get(max_items=-2) == {}


def test_recorded_history_paging() -> None:
    """`/history?max_items=2` and `?max_items=1&offset=1` after the 11 ws scenarios ran."""
    data = _vectors()
    recorded: dict[str, Any] = {}
    for key, value in data.items():
        if key.startswith("history_"):
            recorded.update(value["body"])
    scenario_ids = data["_meta"]["scenario_prompt_ids"]
    order = ["b", "c", "d", "d2", "e", "g", "g2", "h", "h2", "f", "h3"]  # completion order
    history = History()
    for number, scenario in enumerate(order):
        prompt_id = scenario_ids[scenario]
        # d, d2 and h2 were not fetched from /history; only their position matters here.
        history.add(HistoryEntry.from_wire(recorded[prompt_id]) if prompt_id in recorded
                    else entry(prompt_id, number))
    assert json.dumps(history.get(max_items=2)) == json.dumps(data["history_max_items_2"]["body"])
    assert json.dumps(history.get(max_items=1, offset=1)) == json.dumps(
        data["history_max_items_1_offset_1"]["body"])
    assert history.get_one("does-not-exist") is None
    for scenario in ("b", "e", "g"):
        key = {"b": "history_success_b", "e": "history_failed_e", "g": "history_preview_g"}[scenario]
        prompt_id = scenario_ids[scenario]
        assert {prompt_id: history.get_one(prompt_id)} == data[key]["body"]


# -- add, replace, evict, delete, clear -----------------------------------------------------------


def test_get_one_and_entry() -> None:
    history = filled(2)
    assert history.get_one("p1") == entry("p1", 1).to_wire()
    assert history.get_one("zz") is None
    found = history.entry("p0")
    assert found is not None and found.prompt_id == "p0"
    assert "p0" in history and "zz" not in history and len(history) == 2


def test_same_prompt_id_replaces_in_place() -> None:
    history = filled(3, max_size=3)
    history.add(entry("p0", 99, status_str="error"))
    assert ids(history.get()) == ["p0", "p1", "p2"]  # no eviction, position kept
    assert history.get()["p0"]["status"]["status_str"] == "error"


def test_eviction_drops_the_oldest() -> None:
    history = filled(5, max_size=3)
    assert ids(history.get()) == ["p2", "p3", "p4"]
    assert len(history) == 3


def test_default_max_size_is_10000() -> None:
    assert History().max_size == 10000
    with pytest.raises(ValueError):
        History(max_size=0)


def test_delete_and_clear() -> None:
    history = filled(4)
    assert history.delete(["p1", "nope", "p1", "p3"]) == 2
    assert ids(history.get()) == ["p0", "p2"]
    history.clear()
    assert history.get() == {} and len(history) == 0
    history.add(entry("new"))
    assert ids(history.get()) == ["new"]


def test_entries_are_ordered_snapshots() -> None:
    history = filled(3)
    snapshot = history.entries()
    history.add(entry("later"))
    assert [e.prompt_id for e in snapshot] == ["p0", "p1", "p2"]


def test_concurrent_adds_and_reads() -> None:
    history = History(max_size=50)
    errors: list[BaseException] = []

    def add(n: int) -> None:
        try:
            for k in range(300):
                history.add(entry(f"{n}-{k}", k))
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(200):
                assert len(history.get(max_items=10)) <= 10
                history.get(offset=5)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == []
    assert len(history) == 50 == len(history.get())
    # Whichever thread added last, its final entry is the newest one kept.
    newest = history.entries()[-1].prompt_id
    assert newest.endswith("-299")
