"""Several runtimes on one store file (store.py, "Sharing"): every kernel of a user persists into one
folder. Stores in this process, and real processes that queue prompts and die."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from toucan_nb.runtime.history import RUNTIME_STOPPED_TYPE, History, HistoryEntry
from toucan_nb.runtime.queue import PromptQueue, QueueItem
from toucan_nb.runtime.store import DB_FILENAME, SCHEMA_VERSION, Store

REPO = Path(__file__).resolve().parents[3]
WAIT = 30.0


def item(number: float, prompt_id: str) -> QueueItem:
    return QueueItem(number, prompt_id, {"1": {"class_type": "X", "inputs": {"v": number}}},
                     {"client_id": "c", "create_time": 1000}, ["1"])


def entry(prompt_id: str, number: int = 0) -> HistoryEntry:
    return HistoryEntry(prompt=item(number, prompt_id), outputs={"1": {"n": [number]}})


def wait_for(check: Any, what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "user" / DB_FILENAME


def make_runtime(base_dir: Path) -> Any:
    """A persisting Runtime on `base_dir` with the executor tests' node classes, not started."""
    from toucan_nb.runtime.runtime import Runtime, RuntimeConfig

    from .executor_nodes import NODES

    rt = Runtime(RuntimeConfig(base_dir=str(base_dir), load_builtin_nodes=False))
    for name, cls in NODES.items():
        rt.registry.register(name, cls)
    return rt


def const_prompt(value: float) -> dict[str, Any]:
    return {"1": {"class_type": "Const", "inputs": {"value": value}},
            "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}}}


# A process that queues prompts into a store and dies without closing it (a killed kernel).
_DYING_OWNER = """
import os, sys
sys.path.insert(0, sys.argv[2])
from toucan_nb.runtime.queue import PromptQueue, QueueItem
from toucan_nb.runtime.store import Store
store = Store(sys.argv[1])
queue = PromptQueue(store=store)
for n in range(int(sys.argv[3])):
    queue.put(QueueItem(n, f"orphan-{n}", {"1": {}}, {"create_time": 1}, ["1"]))
queue.get(timeout=0)  # orphan-0 was running
assert store.flush()
os._exit(0)
"""


def die_with_queue(path: Path, count: int) -> None:
    done = subprocess.run([sys.executable, "-c", _DYING_OWNER, str(path), str(REPO), str(count)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_live_owners_keep_their_prompts(path: Path) -> None:
    a, b = Store(path), Store(path)
    try:
        queue_a = PromptQueue(store=a)
        for n in range(3):
            queue_a.put(item(n, f"a{n}"))
        queue_b = PromptQueue(store=b)
        queue_b.put(item(0, "b0"))
        a.flush()
        b.flush()
        # Both stores use the local counter 0: rows are told apart by owner.
        assert [i.prompt_id for i in PromptQueue(store=b).pending()] == ["b0"]
        assert [i.prompt_id for i in PromptQueue(store=a).pending()] == ["a0", "a1", "a2"]
        assert a.recover() == [] and b.recover() == []
        running, pending = b.foreign_queue()
        assert running == [] and [i.prompt_id for i in pending] == ["a0", "a1", "a2"]
        queue_a.get(timeout=0)
        a.write_through()
        running, pending = b.foreign_queue()
        assert [i.prompt_id for i in running] == ["a0"] and [i.prompt_id for i in pending] == ["a1", "a2"]
        queue_a.delete(["a2"])
        queue_b.clear()  # clears b's own pending rows only
        a.flush()
        b.flush()
        assert [i.prompt_id for i in b.foreign_queue()[1]] == ["a1"]
        assert [i.prompt_id for i in a.foreign_queue()[1]] == []
    finally:
        a.close()
        b.close()


def test_a_dead_owners_prompts_are_taken_over_exactly_once(path: Path) -> None:
    die_with_queue(path, 40)
    stores = [Store(path) for _ in range(4)]
    try:
        # Four runtimes start at once on the folder of the killed one.
        results: dict[int, list[str]] = {}
        recovered: dict[int, list[str]] = {}
        barrier = threading.Barrier(len(stores))

        def start(i: int) -> None:
            barrier.wait()
            recovered[i] = [e.prompt_id for e in stores[i].recover()]
            results[i] = [q.prompt_id for q in PromptQueue(store=stores[i]).pending()]

        threads = [threading.Thread(target=start, args=(i,)) for i in range(len(stores))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        taken = [prompt_id for ids in results.values() for prompt_id in ids]
        assert sorted(taken) == sorted(f"orphan-{n}" for n in range(1, 40))  # each once, none lost
        assert sum(len(ids) == 39 for ids in results.values()) == 1  # one transaction took them all
        assert [pid for ids in recovered.values() for pid in ids] == ["orphan-0"]
        failed = History(store=stores[0]).get_one("orphan-0")
        assert failed is not None
        assert failed["status"]["messages"][-1][1]["exception_type"] == RUNTIME_STOPPED_TYPE
        # The new owner's queue survives its own restart; a live owner's prompts are never taken.
        owner = next(i for i, ids in results.items() if ids)
        others = [s for i, s in enumerate(stores) if i != owner]
        assert all(PromptQueue(store=s).pending() == [] for s in others)
    finally:
        for store in stores:
            store.close()


def test_a_closed_owners_pending_prompts_go_to_the_next_store(path: Path) -> None:
    a = Store(path)
    queue = PromptQueue(store=a)
    queue.put(item(1, "left"))
    a.close()
    b = Store(path)
    try:
        assert [i.prompt_id for i in PromptQueue(store=b).pending()] == ["left"]
    finally:
        b.close()


def test_every_history_shows_every_runtimes_entries(path: Path) -> None:
    a, b = Store(path), Store(path)
    try:
        history_a, history_b = History(store=a), History(store=b)
        history_a.add(entry("from-a", 1))
        history_b.add(entry("from-b", 2))
        a.flush()
        b.flush()
        for history in (history_a, history_b):
            wait_for(lambda h=history: len(h) == 2, "both entries in each history")
            assert set(history.get()) == {"from-a", "from-b"}
        assert history_b.get_one("from-a")["outputs"] == {"1": {"n": [1]}}
        # A replaced entry (same prompt id) reaches the other runtime; so do deletions and clear.
        history_a.add(entry("from-b", 7))
        a.flush()
        wait_for(lambda: history_b.get_one("from-b")["outputs"] == {"1": {"n": [7]}}, "the replacement")
        history_b.delete(["from-a"])
        b.flush()
        wait_for(lambda: "from-a" not in history_a, "the deletion")
        history_b.clear()
        b.flush()
        wait_for(lambda: len(history_a) == 0, "the clear")
    finally:
        a.close()
        b.close()


def test_priority_numbers_never_repeat_across_runtimes(path: Path) -> None:
    a, b = Store(path), Store(path)
    try:
        blocks = [a.reserve_numbers(64), b.reserve_numbers(64), a.reserve_numbers(64)]
        assert blocks == [0, 64, 128]
        assert b.reserve_numbers(1, at_least=1000) == 1000
        # The unused end of a block goes back only if no one reserved after it.
        a.release_numbers(130, 192)
        a.flush()
        assert b.load_counter() == 1001
        b.release_numbers(1000, 1001)
        b.flush()
        assert a.load_counter() == 1000
    finally:
        a.close()
        b.close()


class HeldLock:
    """Another connection holding the store's write lock (another runtime's slow commit)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("BEGIN IMMEDIATE")
        self.lock = threading.Lock()
        self.released = False

    def release(self) -> None:
        with self.lock:
            if not self.released:
                self.released = True
                self.conn.execute("COMMIT")
                self.conn.close()


def test_a_reservation_waits_out_a_lock_held_past_the_busy_timeout(path: Path) -> None:
    store = Store(path, busy_timeout=0.05)
    held = HeldLock(path)
    try:
        releaser = threading.Timer(0.4, held.release)  # eight busy timeouts
        releaser.start()
        started = time.monotonic()
        assert store.reserve_numbers(64, patience=WAIT) == 0
        assert time.monotonic() - started >= 0.3
        releaser.join()
    finally:
        held.release()
        store.close()


def test_a_reservation_that_runs_out_of_patience_raises_and_takes_nothing(path: Path) -> None:
    store = Store(path, busy_timeout=0.05)
    store.reserve_numbers(64)
    held = HeldLock(path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            store.reserve_numbers(64, patience=0.2)
    finally:
        held.release()
    try:
        assert store.load_counter() == 64
    finally:
        store.close()


def test_a_runtime_refuses_a_prompt_rather_than_repeat_a_number(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from toucan_nb.runtime import store as store_module
    from toucan_nb.runtime.errors import QueueStoreUnavailableError, RuntimeUnavailableError
    from toucan_nb.runtime.runtime import NUMBER_BLOCK

    monkeypatch.setattr(store_module, "RESERVE_PATIENCE", 0.2)
    rt = make_runtime(tmp_path)
    rt._open_store()  # persisting, its executor never starts: the prompts stay queued
    assert rt.store is not None
    rt.store._conn.execute("PRAGMA busy_timeout = 50")
    graph = const_prompt(1.0)
    try:
        assert rt.submit(graph).number == 0  # the first block: 0 .. NUMBER_BLOCK - 1
        rt._number = rt._number_limit  # the block is used up
        other = Store(rt.store.path)  # another kernel on the same folder reserves next
        assert other.reserve_numbers(NUMBER_BLOCK) == NUMBER_BLOCK
        other.close()
        held = HeldLock(rt.store.path)
        try:
            with pytest.raises(QueueStoreUnavailableError, match="nothing was queued") as refused:
                rt.submit(graph)
            assert isinstance(refused.value, RuntimeUnavailableError)  # the API answers 503
        finally:
            held.release()
        assert len(rt.queue.pending()) == 1
        assert rt.submit(graph).number == 2 * NUMBER_BLOCK  # past the other kernel's block
    finally:
        rt.stop()


def test_a_schema_1_file_is_upgraded_and_its_prompts_taken_over(path: Path) -> None:
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("""
        CREATE TABLE queue (seq INTEGER PRIMARY KEY, prompt_id TEXT NOT NULL, state TEXT NOT NULL,
                            started_at INTEGER, item TEXT NOT NULL);
        CREATE TABLE history (seq INTEGER PRIMARY KEY, prompt_id TEXT NOT NULL UNIQUE, entry TEXT NOT NULL);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        PRAGMA user_version=1;
    """)
    rows = [(0, "was-running", "running", 5, json.dumps(item(0, "was-running").to_wire())),
            (1, "waiting", "pending", None, json.dumps(item(1, "waiting").to_wire()))]
    conn.executemany("INSERT INTO queue VALUES (?, ?, ?, ?, ?)", rows)
    conn.execute("INSERT INTO history (prompt_id, entry) VALUES (?, ?)",
                 ("old", json.dumps(entry("old").to_wire())))
    conn.execute("INSERT INTO meta VALUES ('priority_counter', '17')")
    conn.close()
    store = Store(path)
    try:
        assert [e.prompt_id for e in store.recover()] == ["was-running"]
        assert [e.prompt_id for e in History(store=store).entries()] == ["old", "was-running"]
        assert [i.prompt_id for i in PromptQueue(store=store).pending()] == ["waiting"]
        assert store.reserve_numbers(64) == 17
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        store.close()


def test_two_runtimes_share_queue_history_and_counter(tmp_path: Path) -> None:
    first, second = make_runtime(tmp_path).start(), make_runtime(tmp_path).start()
    try:
        submissions: dict[str, list[Any]] = {"first": [], "second": []}

        def submit(name: str, rt: Any) -> None:
            for n in range(40):
                submissions[name].append(rt.submit(const_prompt(float(n))))

        threads = [threading.Thread(target=submit, args=(n, rt)) for n, rt in (("first", first), ("second", second))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        every = submissions["first"] + submissions["second"]
        assert len({s.number for s in every}) == 80  # no number handed out twice
        assert len({s.prompt_id for s in every}) == 80
        for name, rt in (("first", first), ("second", second)):
            for s in submissions[name]:
                assert rt.future(s.prompt_id).result(WAIT).status_str == "success"  # ran where queued
        for rt in (first, second):
            wait_for(lambda r=rt: len(r.history) == 80, "every entry in each runtime's history")
            assert set(rt.history.get()) == {s.prompt_id for s in every}
        # /queue and /api/jobs of one runtime list what another has queued.
        idle = make_runtime(tmp_path)
        idle._open_store()  # persisting, but its executor never starts
        waiting = idle.submit(const_prompt(1.0))
        idle.store.flush()
        wait_for(lambda: waiting.prompt_id in [i.prompt_id for i in second.queue_listing()[1]], "the listing")
        assert second.queue.pending() == []  # listed, not taken
        idle.store.close()
    finally:
        first.stop()
        second.stop()



def test_a_store_marks_what_another_runtime_queued_as_deleted(path: Path) -> None:
    a, b = Store(path), Store(path)
    try:
        PromptQueue(store=a).put(item(0, "mine"))
        queue_b = PromptQueue(store=b)
        queue_b.put(item(1, "theirs"))
        queue_b.put(item(2, "kept"))
        b.flush()
        assert a.delete_elsewhere(["theirs", "mine", "unknown"]) == ["theirs"]  # never its own rows
        assert b.queue_row_state(0) == "deleted" and b.queue_row_state(1) == "pending"
        assert b.deleted_rows() == [0]
        assert [i.prompt_id for i in a.foreign_queue()[1]] == ["kept"]
        assert a.delete_elsewhere() == ["kept"]  # None: every pending prompt of the others
    finally:
        a.close()
        b.close()


def test_a_runtime_deletes_and_clears_prompts_another_runtime_queued(tmp_path: Path) -> None:
    # POST /queue {"delete": [...]} and {"clear": true} reach prompts that another kernel on the
    # same folder queued (docs/architecture.md, the shared store): its owner drops them, and
    # cancels their futures, when it lists its queue or before it would run one.
    def listed(rt: Any) -> list[str]:
        return [i.prompt_id for i in rt.queue_listing()[1]]

    serving = make_runtime(tmp_path).start()
    owner = make_runtime(tmp_path)
    owner._open_store()  # persisting, its executor never starts: the test takes its items itself
    assert owner.store is not None
    try:
        a, b, c = (owner.submit(const_prompt(v)) for v in (1.0, 2.0, 3.0))
        futures = {s.prompt_id: owner.future(s.prompt_id) for s in (a, b, c)}
        owner.store.flush()
        wait_for(lambda: set(futures) <= set(listed(serving)), "the serving runtime to list them")

        assert serving.delete_pending([a.prompt_id]) == 1
        wait_for(lambda: a.prompt_id not in listed(serving), "the deletion in the deleting runtime's listing")
        wait_for(lambda: a.prompt_id not in listed(owner), "the owner to drop it when listing")
        assert futures[a.prompt_id].cancelled()

        assert serving.delete_pending([b.prompt_id]) == 1
        taken = owner.queue.get(timeout=0)  # the owner's executor would take b next: it skips it
        assert taken is not None and taken.prompt_id == c.prompt_id
        assert futures[b.prompt_id].cancelled() and not futures[c.prompt_id].done()
        owner.queue.task_done(c.prompt_id)

        d, e = (owner.submit(const_prompt(v)) for v in (4.0, 5.0))
        cleared = [owner.future(d.prompt_id), owner.future(e.prompt_id)]
        owner.store.flush()
        serving.clear_pending()
        assert owner.queue.get(timeout=0) is None
        assert all(f.cancelled() for f in cleared)
        assert owner.queue.pending() == [] and listed(serving) == []
    finally:
        owner.store.close()
        serving.stop()

# A process with a runtime whose first prompt never finishes, and two more waiting behind it.
_STUCK_RUNTIME = """
import os, sys, threading
sys.path.insert(0, sys.argv[2])
from toucan_nb.runtime.runtime import Runtime, RuntimeConfig

class Hold:
    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {})}}

    def run(self, value):
        threading.Event().wait()

rt = Runtime(RuntimeConfig(base_dir=sys.argv[1], load_builtin_nodes=False))
rt.registry.register("Hold", Hold)
rt.start()
ids = [rt.submit({"1": {"class_type": "Hold", "inputs": {"value": n}}}).prompt_id for n in range(3)]
while rt.running_prompt_id != ids[0]:
    pass
assert rt.store.flush()
print(" ".join(ids), flush=True)
os._exit(0)
"""


def test_a_killed_kernels_pending_prompts_run_once_in_the_next_runtime(tmp_path: Path) -> None:
    from toucan_nb.runtime.runtime import Runtime, RuntimeConfig

    done = subprocess.run([sys.executable, "-c", _STUCK_RUNTIME, str(tmp_path), str(REPO)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    stuck, *waiting = done.stdout.split()
    runs: list[int] = []

    class Hold:  # the same class name, now a node that finishes
        RETURN_TYPES = ()
        OUTPUT_NODE = True
        FUNCTION = "run"

        @classmethod
        def INPUT_TYPES(cls) -> dict[str, Any]:
            return {"required": {"value": ("INT", {})}}

        def run(self, value: int) -> dict[str, Any]:
            runs.append(value)
            return {"ui": {"value": [value]}}

    runtimes = []
    for _ in range(2):  # two kernels attach after the killed one
        rt = Runtime(RuntimeConfig(base_dir=str(tmp_path), load_builtin_nodes=False))
        rt.registry.register("Hold", Hold)
        runtimes.append(rt.start())
    try:
        for rt in runtimes:
            wait_for(lambda r=rt: len(r.history) == 3, "three entries")
            for prompt_id in waiting:
                assert rt.history.get_one(prompt_id)["status"]["status_str"] == "success"
            failed = rt.history.get_one(stuck)
            assert failed["status"]["status_str"] == "error"
            assert failed["status"]["messages"][-1][1]["exception_type"] == RUNTIME_STOPPED_TYPE
        assert sorted(runs) == [1, 2]  # each waiting prompt ran once, in one of the two
    finally:
        for rt in runtimes:
            rt.stop()


# A kernel-like process: a runtime on the shared folder that queues `count` prompts, waits for
# them, then for the other process's entries in its history; prints what it saw.
_SUBMITTING_RUNTIME = """
import json, os, sys, time
sys.path.insert(0, sys.argv[2])
from toucan_nb.runtime.runtime import Runtime, RuntimeConfig

LOG = os.path.join(sys.argv[1], "runs.log")

class Count:
    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"tag": ("STRING", {})}}

    def run(self, tag):
        with open(LOG, "a") as f:  # O_APPEND: one short line per write, whole
            f.write(tag + "\\n")
        return {}

count, total, name = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rt = Runtime(RuntimeConfig(base_dir=sys.argv[1], load_builtin_nodes=False))
rt.registry.register("Count", Count)
rt.start()
open(os.path.join(sys.argv[1], "ready-" + name), "w").close()
while not os.path.exists(os.path.join(sys.argv[1], "go")):
    time.sleep(0.005)
subs = [rt.submit({"1": {"class_type": "Count", "inputs": {"tag": f"{name}-{n}"}}}) for n in range(count)]
for s in subs:
    rt.future(s.prompt_id).result(60)
deadline = time.monotonic() + 60
while len(rt.history) < total and time.monotonic() < deadline:
    time.sleep(0.01)
print(json.dumps({"numbers": [s.number for s in subs], "ids": [s.prompt_id for s in subs],
                  "history": sorted(rt.history.get())}), flush=True)
rt.stop()
"""


def test_two_processes_submitting_at_once_lose_and_repeat_nothing(tmp_path: Path) -> None:
    count = 50
    children = [subprocess.Popen([sys.executable, "-c", _SUBMITTING_RUNTIME, str(tmp_path), str(REPO),
                                  str(count), str(2 * count), name], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for name in ("one", "two")]
    try:
        # Both runtimes started (stores open), then both submit at once.
        wait_for(lambda: (tmp_path / "ready-one").exists() and (tmp_path / "ready-two").exists(), "both", 90)
        (tmp_path / "go").touch()
        outputs = []
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err
            outputs.append(json.loads(out))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    numbers = outputs[0]["numbers"] + outputs[1]["numbers"]
    ids = outputs[0]["ids"] + outputs[1]["ids"]
    assert len(set(numbers)) == 2 * count and len(set(ids)) == 2 * count
    for output in outputs:
        assert output["history"] == sorted(ids)  # each process shows both processes' prompts
    runs = (tmp_path / "runs.log").read_text().split()
    assert sorted(runs) == sorted([f"one-{n}" for n in range(count)] + [f"two-{n}" for n in range(count)])
