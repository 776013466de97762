"""SQLite persistence of the pending queue, the history and the priority counter (DESIGN.md, decision 5).

One file, `<user_dir>/toucan.db` by default, in WAL mode with `synchronous=NORMAL`: a commit
appends to the WAL without an fsync, so the executor can push thousands of tiny prompts a second.
Values are JSON columns, encoded with one `dumps` per write on the store's writer thread
("toucan-store"), off the caller's path (a 500-node prompt takes milliseconds to encode): callers
hand over values they no longer change, as a queued prompt and a finished history entry are. A
value that cannot be encoded loses its own row (logged), not the batch. The SQL runs there too,
which commits whatever has gathered (for `GATHER_SECONDS` after the first write) in one
transaction: callers never wait for SQLite, and a burst of prompts costs one commit per batch
instead of four per prompt. A crash loses at most the batch being gathered (up to 20 ms of
writes), with one exception: the executor commits a prompt's running mark itself
(`write_through`, taking the queued writes with it) before the prompt's node code runs, so a
prompt that kills the process is reported failed after a restart instead of being run again.
Reads (`load_*`, `recover`, start-up only) and `close()` first commit the writes queued before
them (`flush`). One connection, guarded by a lock, does all reads and writes; every public method
may be called from any thread.

The connection holds SQLite's EXCLUSIVE locking mode: a second runtime opening the same file (another
kernel, or another Runtime in this process) gets `StoreLockedError` instead of silently sharing our
rows, and later recovering our live running prompt as a dead one.

What is stored, and when (the callers are `PromptQueue` and `History`):

* queue rows: written on `put` (state `pending`), marked `running` with a start time on `get`,
  deleted on `task_done`/`delete`/`clear`. Sensitive extra_data keys are never written, so a
  reloaded prompt runs without them (protocol.md §6: they are never stored or listed anyway).
* history rows: upserted on `add` (a repeated prompt_id keeps its original position, like the
  in-memory dict), deleted on `delete`/`clear`/eviction.
* the priority counter: whenever the Runtime calls `save_counter`.

Start-up order for the Runtime::

    store = Store.in_user_dir(user_dir)          # may raise StoreLockedError
    stopped = store.recover()                    # prompts that were running -> error history rows
    history = History(store=store)               # loads history, oldest first (incl. `stopped`)
    queue = PromptQueue(on_change, store=store)  # loads pending items
    counter = store.load_counter()

After a restart `/queue` lists the same pending items; their heap array is rebuilt by pushing them
in their original insertion order, so its raw order may differ from the one before the restart.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .history import HistoryEntry, runtime_stopped_entry
from .queue import QueueItem

log = logging.getLogger(__name__)

DB_FILENAME = "toucan.db"
SCHEMA_VERSION = 1
GATHER_SECONDS = 0.02  # how long the writer thread lets writes gather after the first one

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY,
    prompt_id TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at INTEGER,
    item TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY,
    prompt_id TEXT NOT NULL UNIQUE,
    entry TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

_PENDING = "pending"
_RUNNING = "running"
_COUNTER_KEY = "priority_counter"


class StoreLockedError(RuntimeError):
    """Another connection (another kernel, another Runtime) holds the database file."""


class StoreVersionError(RuntimeError):
    """The database file was written by a newer toucan_nb schema."""


def _jsonable(value: Any) -> Any:
    """Last resort for values json cannot encode (numpy scalars, sets, custom objects)."""
    if isinstance(value, (set, frozenset)):
        return list(value)
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except Exception:
            pass
    return str(value)


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_jsonable).encode


def _encode(build: Callable[[], Any], what: str, prompt_id: str) -> str | None:
    """`_dumps(build())` on the writer thread; None (logged) if the value cannot be encoded."""
    try:
        return _dumps(build())
    except Exception:
        log.exception("store: could not encode the %s of prompt %s; it is not persisted", what, prompt_id)
        return None


def _decode(data: str, build: Callable[[Any], Any], what: str) -> Any:
    """`build(json.loads(data))`, or None (logged) for a row this schema cannot read."""
    try:
        return build(json.loads(data))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        log.warning("store: skipping unreadable %s", what, exc_info=True)
        return None


_Write = Callable[[sqlite3.Connection], Any]


def _upsert_history(conn: sqlite3.Connection, prompt_id: str, data: str) -> None:
    # ON CONFLICT keeps the row (and its seq): a repeated prompt_id stays where it was.
    conn.execute("INSERT INTO history (prompt_id, entry) VALUES (?, ?) "
                 "ON CONFLICT (prompt_id) DO UPDATE SET entry = excluded.entry", (prompt_id, data))


class Store:
    """The database of one runtime. See the module docstring for what is written when."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 1.0) -> None:
        """Open (creating if needed) the database at `path`.

        Raises StoreLockedError when another process holds it, StoreVersionError when its schema is
        newer than ours.
        """
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._writes: list[_Write] = []
        self._queued = 0  # writes handed over so far
        self._written = 0  # writes committed (or failed and logged) so far
        self._closing = threading.Event()  # set by close(); also cuts a gathering writer's wait short
        self._writes_changed = threading.Condition()
        self._writer: threading.Thread | None = None
        # isolation_level=None: autocommit; multi-statement writes use explicit transactions.
        self._conn = sqlite3.connect(str(self.path), timeout=busy_timeout, isolation_level=None,
                                     check_same_thread=False)
        try:
            self._setup()
        except sqlite3.OperationalError as exc:
            self._conn.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreLockedError(f"{self.path} is in use by another process") from exc
            raise
        except BaseException:
            self._conn.close()
            raise
        self._writer = threading.Thread(target=self._write_loop, name="toucan-store", daemon=True)
        self._writer.start()

    # -- the writer ------------------------------------------------------------------------------

    def _write(self, op: _Write) -> None:
        """Hand a write to the writer thread (see the module docstring)."""
        with self._writes_changed:
            if self._closing.is_set():
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            self._writes.append(op)
            self._queued += 1
            self._writes_changed.notify_all()

    def _write_loop(self) -> None:
        while True:
            with self._writes_changed:
                while not self._writes and not self._closing.is_set():
                    self._writes_changed.wait()
                if not self._writes:
                    return  # closing, nothing left
            # Let writes gather: one commit for a burst, and the executor's write_through of a
            # prompt's running mark (which takes the batch with it) rarely finds this thread holding
            # the connection. Returns at once when closing.
            self._closing.wait(GATHER_SECONDS)
            self.write_through()

    def write_through(self) -> None:
        """Commit every write queued so far, on the calling thread, now.

        The writer thread's loop, and the way for a caller whose write must be on disk before it goes
        on (a prompt's running mark, before node code can take the process down) without waiting for
        that thread to be scheduled. The batch is taken under the connection lock, so writes commit
        in the order they were queued whoever commits them.
        """
        with self._lock:
            with self._writes_changed:
                batch, self._writes = self._writes, []
            if not batch:
                return
            conn = self._conn
            try:
                conn.execute("BEGIN")
                for op in batch:
                    op(conn)
                conn.execute("COMMIT")
            except Exception:
                log.exception("store: a batch of %d writes failed and was rolled back", len(batch))
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        with self._writes_changed:
            self._written += len(batch)
            self._writes_changed.notify_all()

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Commit every write queued so far (here, rather than wait out the writer's gathering);
        False if one still in the writer thread's hands is not committed within `timeout`."""
        self.write_through()
        with self._writes_changed:
            target = self._queued
            return self._writes_changed.wait_for(lambda: self._written >= target, timeout)

    @classmethod
    def in_user_dir(cls, user_dir: str | Path, **kwargs: Any) -> Store:
        """The store at `<user_dir>/toucan.db`."""
        return cls(Path(user_dir) / DB_FILENAME, **kwargs)

    def _setup(self) -> None:
        conn = self._conn
        # Set before entering WAL so the WAL index lives in process memory, not a shared file.
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("BEGIN IMMEDIATE")  # takes (and, in EXCLUSIVE mode, keeps) the write lock
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreVersionError(
                    f"{self.path} has schema version {version}; this toucan_nb reads up to {SCHEMA_VERSION}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- queue -----------------------------------------------------------------------------------

    def insert_pending(self, seq: int, item: QueueItem) -> None:
        """Store a newly queued item under the queue's insertion counter `seq`."""

        def insert(conn: sqlite3.Connection) -> None:
            data = _encode(item.to_wire, "queue item", item.prompt_id)
            if data is not None:
                conn.execute("INSERT OR REPLACE INTO queue (seq, prompt_id, state, started_at, item) "
                             "VALUES (?, ?, ?, NULL, ?)", (seq, item.prompt_id, _PENDING, data))

        self._write(insert)

    def mark_running(self, seq: int, started_at: int) -> None:
        """The item `seq` left the queue for the executor at `started_at` (ms)."""
        self._write(lambda conn: conn.execute("UPDATE queue SET state = ?, started_at = ? WHERE seq = ?",
                                              (_RUNNING, started_at, seq)))

    def delete_queue_rows(self, seqs: Iterable[int]) -> None:
        """Forget these queue rows (finished or deleted items)."""
        rows = [(seq,) for seq in seqs]
        self._write(lambda conn: conn.executemany("DELETE FROM queue WHERE seq = ?", rows))

    def clear_pending(self) -> None:
        """Forget every pending row (running rows stay)."""
        self._write(lambda conn: conn.execute("DELETE FROM queue WHERE state = ?", (_PENDING,)))

    def load_pending(self) -> list[tuple[int, QueueItem]]:
        """Pending items with their `seq`, in insertion order."""
        self.flush()
        with self._lock:
            rows = self._conn.execute("SELECT seq, item FROM queue WHERE state = ? ORDER BY seq",
                                      (_PENDING,)).fetchall()
        return [(seq, item) for seq, data in rows
                if (item := _decode(data, QueueItem.from_wire, f"queue row {seq}")) is not None]

    def next_queue_seq(self) -> int:
        """The first `seq` no queue row uses yet."""
        self.flush()
        with self._lock:
            (top,) = self._conn.execute("SELECT MAX(seq) FROM queue").fetchone()
        return 0 if top is None else top + 1

    def recover(self, stopped_at: int | None = None) -> list[HistoryEntry]:
        """Turn every item that was running when the last process died into an error history entry.

        In one transaction: the `runtime_stopped_entry` of each running row is written to history
        and the row is deleted. Returns the new entries (oldest first). Call it once at start-up,
        before any `get()` (it cannot tell a dead run from a live one), and before building
        `History`, which then loads them; adding them to an existing `History` is also safe.
        """
        self.flush()
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                rows = conn.execute("SELECT seq, started_at, item FROM queue WHERE state = ? ORDER BY seq",
                                    (_RUNNING,)).fetchall()
                entries = [runtime_stopped_entry(item, started_at=started_at, stopped_at=stopped_at)
                           for seq, started_at, data in rows
                           if (item := _decode(data, QueueItem.from_wire, f"queue row {seq}")) is not None]
                for entry in entries:
                    _upsert_history(conn, entry.prompt_id, _dumps(entry.to_wire()))
                conn.execute("DELETE FROM queue WHERE state = ?", (_RUNNING,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return entries

    # -- history ---------------------------------------------------------------------------------

    def save_history(self, entry: HistoryEntry, evicted: Iterable[str] = ()) -> None:
        """Upsert `entry` and delete the `evicted` entries, atomically."""
        evicted_rows = [(pid,) for pid in evicted]

        def save(conn: sqlite3.Connection) -> None:
            # One batch is one transaction, so the eviction and the upsert land together.
            conn.executemany("DELETE FROM history WHERE prompt_id = ?", evicted_rows)
            data = _encode(entry.to_wire, "history entry", entry.prompt_id)
            if data is not None:
                _upsert_history(conn, entry.prompt_id, data)

        self._write(save)

    def delete_history(self, prompt_ids: Iterable[str]) -> None:
        """Forget these history entries."""
        rows = [(pid,) for pid in prompt_ids]
        self._write(lambda conn: conn.executemany("DELETE FROM history WHERE prompt_id = ?", rows))

    def clear_history(self) -> None:
        """Forget every history entry."""
        self._write(lambda conn: conn.execute("DELETE FROM history"))

    def load_history(self) -> list[HistoryEntry]:
        """Every stored entry, oldest first."""
        self.flush()
        with self._lock:
            rows = self._conn.execute("SELECT seq, entry FROM history ORDER BY seq").fetchall()
        return [entry for seq, data in rows
                if (entry := _decode(data, HistoryEntry.from_wire, f"history row {seq}")) is not None]

    # -- priority counter ------------------------------------------------------------------------

    def load_counter(self) -> int:
        """The saved priority counter (protocol.md §6), 0 when none was saved."""
        self.flush()
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (_COUNTER_KEY,)).fetchone()
        return 0 if row is None else int(row[0])

    def save_counter(self, value: int) -> None:
        """Remember the priority counter."""
        row = (_COUNTER_KEY, str(value))
        self._write(lambda conn: conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                                              "ON CONFLICT (key) DO UPDATE SET value = excluded.value", row))

    # -- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        """Commit the queued writes, then close the connection (releasing the file lock).

        Later writes raise sqlite3.ProgrammingError. Idempotent.
        """
        with self._writes_changed:
            self._closing.set()
            self._writes_changed.notify_all()
        if self._writer is not None and self._writer is not threading.current_thread():
            self._writer.join()
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
