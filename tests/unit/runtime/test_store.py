"""toucan_nb.runtime.store: SQLite persistence of queue, history and counter (docs/architecture.md, decision 5).

A "restart" is: close the Store, open a new one on the same file, rebuild History/PromptQueue."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.vectors import load
from toucan_nb.runtime.history import RUNTIME_STOPPED_MESSAGE, History, HistoryEntry
from toucan_nb.runtime.jobs import normalize_history_item
from toucan_nb.runtime.queue import PromptQueue, QueueItem
from toucan_nb.runtime.store import DB_FILENAME, Store, StoreCorruptError, StoreLockedError, StoreVersionError


def item(number: float, prompt_id: str, **extra: Any) -> QueueItem:
    return QueueItem(number, prompt_id, {"1": {"class_type": "X", "inputs": {"v": number}}},
                     {"client_id": "c", **extra, "create_time": 1000}, ["1"])


def entry(prompt_id: str, number: int = 0, **outputs: Any) -> HistoryEntry:
    return HistoryEntry(prompt=item(number, prompt_id), outputs=outputs, meta={},
                        messages=[["execution_start", {"prompt_id": prompt_id, "timestamp": 5}],
                                  ["execution_success", {"prompt_id": prompt_id, "timestamp": 9}]])


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    return tmp_path / "user"


@pytest.fixture
def store(user_dir: Path) -> Iterator[Store]:
    opened = Store.in_user_dir(user_dir)
    yield opened
    opened.close()


def reopen(store: Store) -> Store:
    store.close()
    return Store(store.path)


def wire(entries: list[HistoryEntry]) -> str:
    return json.dumps([e.to_wire() for e in entries])


# -- the file -------------------------------------------------------------------------------------


def test_file_in_user_dir_in_wal_mode(store: Store, user_dir: Path) -> None:
    assert store.path == user_dir / DB_FILENAME
    History(store=store).add(entry("p"))
    assert (user_dir / (DB_FILENAME + "-wal")).exists()
    conn = store._conn  # the pragmas are per connection
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL: no fsync per commit


def test_a_file_an_older_toucan_holds_exclusively_is_reported_as_locked(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    older = sqlite3.connect(path, isolation_level=None)
    older.execute("PRAGMA locking_mode=EXCLUSIVE")
    older.execute("PRAGMA journal_mode=WAL")
    older.execute("BEGIN IMMEDIATE")  # what a toucan_nb before shared stores held while it ran
    older.execute("COMMIT")
    try:
        with pytest.raises(StoreLockedError, match="locked by another process"):
            Store(path, busy_timeout=0.05)
    finally:
        older.close()
    Store(path).close()


def test_a_damaged_file_is_reported_as_such(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    path.write_bytes(b"this is not a database, just some bytes " * 100)
    with pytest.raises(StoreCorruptError, match="damaged or is not a SQLite database"):
        Store(path)
    assert path.read_bytes().startswith(b"this is not")  # left as it was, for the user to look at


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "toucan.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(StoreVersionError):
        Store(path)


# -- restart --------------------------------------------------------------------------------------


def test_restart_restores_history_pending_counter_and_fails_the_running_prompt(store: Store) -> None:
    history = History(store=store)
    queue = PromptQueue(store=store)
    history.add(entry("old-1", 1, **{"9": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]}}))
    history.add(entry("old-2", 2))
    secret = QueueItem(3, "secret", {"1": {}}, {"client_id": "c", "create_time": 1000}, ["1"],
                       {"api_key_comfy_org": "secret-key"})
    queue.put(secret)
    queue.put(item(7.0, "explicit"))
    queue.put(item(-13, "front"))
    queue.put(item(12, "later"))
    assert queue.get(timeout=0) is not None  # "front" starts running ...
    queue.put(item(2, "late"))  # ... and another prompt arrives
    running = queue.running()[0]
    assert running.prompt_id == "front"
    store.save_counter(14)
    before = [i.to_wire() for i in queue.pending()]
    history_before = wire(history.entries())

    # -- the process dies; a new one opens the same file --
    store = reopen(store)
    try:
        stopped = store.recover(stopped_at=123)
        assert [e.prompt_id for e in stopped] == ["front"]
        history = History(store=store)
        queue = PromptQueue(store=store)

        assert [e.prompt_id for e in history.entries()] == ["old-1", "old-2", "front"]
        assert wire(history.entries()[:2]) == history_before
        failed = history.entries()[2]
        assert failed.to_wire()["prompt"] == running.to_wire()
        assert (failed.status_str, failed.completed, failed.outputs) == ("error", False, {})
        job = normalize_history_item("front", failed)
        assert job["status"] == "failed"
        assert job["execution_error"]["exception_message"] == RUNTIME_STOPPED_MESSAGE
        assert job["execution_end_time"] == 123
        assert isinstance(job["execution_start_time"], int)

        assert sorted(json.dumps(w) for w in before) == sorted(json.dumps(i.to_wire()) for i in queue.pending())
        order = [queue.get(timeout=0) for _ in range(4)]
        assert [i.prompt_id for i in order] == ["late", "secret", "explicit", "later"]  # type: ignore[union-attr]
        explicit = order[2]
        assert explicit is not None and json.dumps(explicit.number) == "7.0"
        # Sensitive keys never reach the disk.
        assert all(i is not None and i.sensitive == {} for i in order)
        assert b"secret-key" not in Path(store.path).read_bytes()
        assert store.load_counter() == 14
    finally:
        store.close()


def test_no_recover_needed_after_task_done(store: Store) -> None:
    queue = PromptQueue(store=store)
    queue.put(item(1, "a"))
    queue.get(timeout=0)
    queue.task_done("a")
    store = reopen(store)
    try:
        assert store.recover() == []
        assert PromptQueue(store=store).pending() == []
    finally:
        store.close()


def test_recover_twice_adds_nothing_and_entries_can_be_added_again(store: Store) -> None:
    queue = PromptQueue(store=store)
    queue.put(item(1, "a"))
    queue.get(timeout=0)
    store = reopen(store)
    try:
        history = History(store=store)  # built before recover(): add the entries ourselves
        (stopped,) = store.recover()
        history.add(stopped)
        assert store.recover() == []
        assert [e.prompt_id for e in store.load_history()] == ["a"]
    finally:
        store.close()


def test_new_items_after_restart_do_not_collide_with_unrecovered_rows(store: Store) -> None:
    queue = PromptQueue(store=store)
    queue.put(item(1, "a"))
    queue.put(item(2, "b"))
    queue.get(timeout=0)  # "a" running, never recovered below
    store = reopen(store)
    try:
        queue = PromptQueue(store=store)
        queue.put(item(3, "c"))
        assert [i.prompt_id for i in PromptQueue(store=store).pending()] == ["b", "c"]
        assert [e.prompt_id for e in store.recover()] == ["a"]
    finally:
        store.close()


def test_queue_deletions_are_persisted(store: Store) -> None:
    queue = PromptQueue(store=store)
    for n, prompt_id in enumerate(["a", "b", "c", "d"]):
        queue.put(item(n, prompt_id))
    queue.delete(["b"])
    store = reopen(store)
    try:
        queue = PromptQueue(store=store)
        assert sorted(i.prompt_id for i in queue.pending()) == ["a", "c", "d"]
        queue.delete(["c", "d"])
        store = reopen(store)
        queue = PromptQueue(store=store)
        assert [i.prompt_id for i in queue.pending()] == ["a"]
        queue.delete(["a"])  # the last item: ComfyUI's wipe path
        queue.put(item(9, "z"))
        queue.clear()
        store = reopen(store)
        assert PromptQueue(store=store).pending() == []
    finally:
        store.close()


def test_clear_keeps_the_running_row(store: Store) -> None:
    queue = PromptQueue(store=store)
    queue.put(item(1, "run"))
    queue.put(item(2, "wait"))
    queue.get(timeout=0)
    queue.clear()
    store = reopen(store)
    try:
        assert [e.prompt_id for e in store.recover()] == ["run"]
    finally:
        store.close()


def test_history_changes_are_persisted(store: Store) -> None:
    history = History(store=store)
    for n in range(5):
        history.add(entry(f"p{n}", n))
    history.delete(["p1", "p3", "nope"])
    history.add(entry("p0", 42))  # same id: replaced where it was
    store = reopen(store)
    try:
        history = History(store=store)
        assert [e.prompt_id for e in history.entries()] == ["p0", "p2", "p4"]
        assert history.entries()[0].prompt.number == 42
        history.clear()
        store = reopen(store)
        assert History(store=store).entries() == []
    finally:
        store.close()


def test_eviction_is_persisted(store: Store) -> None:
    history = History(max_size=3, store=store)
    for n in range(5):
        history.add(entry(f"p{n}", n))
    store = reopen(store)
    try:
        assert [e.prompt_id for e in History(store=store).entries()] == ["p2", "p3", "p4"]
        # Loading into a smaller History evicts the oldest, in the file too.
        assert [e.prompt_id for e in History(max_size=2, store=store).entries()] == ["p3", "p4"]
        assert [e.prompt_id for e in store.load_history()] == ["p3", "p4"]
    finally:
        store.close()


def test_recorded_comfyui_entries_survive_a_restart(store: Store) -> None:
    vectors = load("history_and_jobs.json")
    recorded: dict[str, Any] = {}
    for key, value in vectors.items():
        if key.startswith("history_"):
            recorded.update(value["body"])
    history = History(store=store)
    for wire_entry in recorded.values():
        history.add(HistoryEntry.from_wire(wire_entry))
    store = reopen(store)
    try:
        assert json.dumps(History(store=store).get()) == json.dumps(recorded)
    finally:
        store.close()


def test_counter_defaults_to_zero_and_is_overwritten(store: Store) -> None:
    assert store.load_counter() == 0
    store.save_counter(3)
    store.save_counter(4)
    store = reopen(store)
    try:
        assert store.load_counter() == 4
    finally:
        store.close()


def test_values_json_cannot_encode_are_stored_as_json(store: Store) -> None:
    class Scalar:
        def item(self) -> int:
            return 5

    odd = HistoryEntry(prompt=item(1, "p"), outputs={"1": {"set": {"x"}, "scalar": Scalar(), "obj": object}})
    History(store=store).add(odd)
    store = reopen(store)
    try:
        (loaded,) = store.load_history()
        assert loaded.outputs["1"]["set"] == ["x"] and loaded.outputs["1"]["scalar"] == 5
        assert isinstance(loaded.outputs["1"]["obj"], str)
    finally:
        store.close()


def test_a_failing_store_does_not_stop_the_queue(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    queue = PromptQueue(store=store)
    history = History(store=store)
    store.close()
    with caplog.at_level(logging.ERROR):
        queue.put(item(1, "a"))
        got = queue.get(timeout=0)
        assert got is not None
        history.add(entry("a"))
        queue.task_done("a")
    assert history.get_one("a") is not None and queue.remaining() == 0
    assert any("could not" in record.getMessage() for record in caplog.records)


def test_unreadable_rows_are_skipped(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    queue = PromptQueue(store=store)
    history = History(store=store)
    for n, prompt_id in enumerate(["a", "b", "c"]):
        queue.put(item(n, prompt_id))
        history.add(entry(prompt_id, n))
    queue.get(timeout=0)  # "a" running
    assert store.flush()  # the writer thread has committed them
    conn = store._conn  # damage the rows the way a foreign or truncated write would
    conn.execute("UPDATE queue SET item = 'not json' WHERE prompt_id IN ('a', 'b')")
    conn.execute("UPDATE history SET entry = '{\"no\": \"prompt\"}' WHERE prompt_id = 'b'")
    store = reopen(store)
    try:
        with caplog.at_level(logging.WARNING):
            assert store.recover() == []
            assert [e.prompt_id for e in History(store=store).entries()] == ["a", "c"]
            assert [i.prompt_id for i in PromptQueue(store=store).pending()] == ["c"]
        assert sum("unreadable" in r.getMessage() for r in caplog.records) == 3
    finally:
        store.close()


def test_writes_are_batched_off_the_callers_thread_and_flushed_on_close(tmp_path) -> None:
    store = Store(tmp_path / "t.db")
    queue = PromptQueue(store=store)
    for n in range(200):
        queue.put(item(n, f"p{n}"))
    assert store.flush()
    assert [i.prompt_id for i in PromptQueue(store=store).pending()][:3] == ["p0", "p1", "p2"]
    for n in range(200, 300):
        queue.put(item(n, f"p{n}"))
    store.close()  # commits what is still queued
    reopened = Store(tmp_path / "t.db")
    try:
        assert len(PromptQueue(store=reopened).pending()) == 300
    finally:
        reopened.close()


def test_a_value_that_cannot_be_encoded_loses_only_its_own_row(tmp_path, caplog) -> None:
    store = Store(tmp_path / "t.db")
    circular: list[Any] = []
    circular.append(circular)
    try:
        with caplog.at_level(logging.ERROR, logger="toucan_nb.runtime.store"):
            store.insert_pending(1, item(1, "good-before"))
            store.insert_pending(2, item(2, "circular", loop=circular))
            store.insert_pending(3, item(3, "good-after"))
            assert store.flush()
        assert [i.prompt_id for _, i in store.load_pending()] == ["good-before", "good-after"]
        assert any("circular" in r.getMessage() for r in caplog.records)
    finally:
        store.close()


class _LockSlowForTheWriter:
    """The store's connection lock, but the writer thread dawdles before taking it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        if threading.current_thread().name == "toucan-store":
            time.sleep(0.05)
        self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


def test_write_through_keeps_queue_order_against_the_writer_thread(store: Store) -> None:
    """A prompt's running mark is committed on the executor's thread (write_through) while the writer
    thread may be about to commit the prompt's pending row: the mark must not land first (it would
    update nothing, and a restart would run the prompt again)."""
    store._lock = _LockSlowForTheWriter()  # type: ignore[assignment]
    store.insert_pending(1, item(1, "p1"))
    time.sleep(0.01)  # the writer thread has woken up and is on its way to the lock
    store.mark_running(1, 1000)
    store.write_through()
    store = reopen(store)
    try:
        assert [e.prompt_id for e in store.recover()] == ["p1"] and store.load_pending() == []
    finally:
        store.close()
