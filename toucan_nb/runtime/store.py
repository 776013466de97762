"""SQLite persistence of the pending queue, the history and the priority counter (docs/architecture.md, decision 5),
shared by every runtime that uses one user folder.

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
Start-up reads (`load_*`, `recover`) and `close()` first commit the writes queued before them
(`flush`). One connection, guarded by a lock, does all reads and writes; every public method
may be called from any thread.

Sharing. Several runtimes may use one file at once: every kernel of a user keeps its data in one
folder (`toucan_nb.notebook.session`), and a second `Runtime` in one process may open it too.

* Each `Store` is an owner with a random number, registered in the ``runtimes`` table with its process
  id and that process's start time. An owner is alive while that process runs (same pid, same
  start time, not a zombie) and has not closed its store (`close` deletes its row). This holds on
  one machine; runtimes on several machines sharing a network folder cannot see each other's
  processes, and SQLite's locking is not reliable over network file systems anyway.
* A queue row belongs to the owner that queued it: its key is ``owner << 32 | seq``, ``seq`` being the
  owner's own insertion counter (the `PromptQueue`'s), so the owner finds its rows by primary key
  (a secondary index would cost more per commit than the rest of a prompt's row). Only its owner
  runs or removes it; another runtime may mark a pending row ``deleted`` (`delete_elsewhere`:
  ``POST /queue`` delete or clear in whichever kernel serves the UI), which its owner learns before
  it would run the prompt (`queue_row_state`, read after committing the running mark, which never
  overwrites ``deleted``) or when it lists its queue (`deleted_rows`), and then forgets the row.
* Pending rows of owners that are not alive are adopted by the next store that loads its queue
  (`load_pending`), and the running rows of such owners become failed history entries
  (`recover`); each in one ``BEGIN IMMEDIATE`` transaction, so two runtimes starting at once
  cannot both take a prompt: it runs exactly once.
* History is one table for everyone: `History` keeps its in-memory view and takes in what others
  committed when `foreign_version` says the file changed (SQLite's ``PRAGMA data_version``, which
  moves only for commits of other connections). That check runs at most every
  `CHANGE_CHECK_SECONDS` (20 ms, about as long as the others' writes gather anyway) and never waits
  for the writer thread (a check that finds the connection busy is skipped; a later read makes
  it): when one runtime is alone, the read path pays a clock read.
* `foreign_queue` lists the prompts other live owners have queued or are running, for ``/queue``
  and ``/api/jobs``; pending ones can be deleted from any runtime (above), running ones are
  interrupted through the runtime that runs them.
* The priority counter is handed out in blocks (`reserve_numbers`, one synchronous transaction per
  block; the Runtime takes 256 numbers at a time): numbers never repeat across runtimes, and each
  runtime's own numbers keep increasing. `release_numbers` returns the unused end of a block at a clean stop, when no one
  reserved after it, so a single runtime's numbering continues without a gap after a restart.

A file held exclusively by an older toucan_nb (which opened it in SQLite's EXCLUSIVE locking mode)
raises `StoreLockedError`; a damaged file or one that is not SQLite raises `StoreCorruptError`; the
runtime then keeps queue and history in memory and says why in its log.

What is stored, and when (the callers are `PromptQueue` and `History`):

* queue rows: written on `put` (state `pending`), marked `running` with a start time on `get`,
  deleted on `task_done`/`delete`/`clear`. Sensitive extra_data keys are never written, so a
  reloaded prompt runs without them (docs/protocol.md §6: they are never stored or listed anyway).
* history rows: upserted on `add` (a repeated prompt_id keeps its original position, like the
  in-memory dict; its ``rev`` goes up so other runtimes reload it), deleted on
  `delete`/`clear`/eviction.
* the priority counter: `reserve_numbers` / `release_numbers` (`save_counter` sets it).

Start-up order for the Runtime::

    store = Store.in_user_dir(user_dir)          # may raise StoreLockedError / StoreCorruptError
    stopped = store.recover()                    # dead owners' running prompts -> error history rows
    history = History(store=store)               # loads history, oldest first (incl. `stopped`)
    queue = PromptQueue(on_change, store=store)  # adopts dead owners' pending items, loads its own

After a restart `/queue` lists the same pending items; their heap array is rebuilt by pushing them
in their original insertion order, so its raw order may differ from the one before the restart.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import psutil

from .history import HistoryEntry, runtime_stopped_entry
from .queue import QueueItem

log = logging.getLogger(__name__)

DB_FILENAME = "toucan.db"
SCHEMA_VERSION = 2
GATHER_SECONDS = 0.02  # how long the writer thread lets writes gather after the first one
# How stale a view of other runtimes' commits may be (about as long as their own writes gather).
CHANGE_CHECK_SECONDS = 0.02
# How long `reserve_numbers` keeps trying while other runtimes hold the file (a POST /prompt waits).
RESERVE_PATIENCE = 30.0
_ID_CHUNK = 500  # ids per "IN (...)" query (SQLite's default limit is 999 parameters)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY,
    prompt_id TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at INTEGER,
    item TEXT NOT NULL,
    owner INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY,
    prompt_id TEXT NOT NULL UNIQUE,
    entry TEXT NOT NULL,
    rev INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runtimes (
    id INTEGER PRIMARY KEY,
    pid INTEGER NOT NULL,
    started REAL NOT NULL
);
"""
# Version 1 (one runtime per file) had no owners and no revisions: its rows have owner 0, which no
# store ever is, so they are taken over like those of any owner that is gone.
_MIGRATE_FROM_1 = """
ALTER TABLE queue ADD COLUMN owner INTEGER NOT NULL DEFAULT 0;
ALTER TABLE history ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
"""
_SEQ_BITS = 32

_PENDING = "pending"
_RUNNING = "running"
_DELETED = "deleted"  # a pending row another runtime deleted; its owner forgets it
_COUNTER_KEY = "priority_counter"


class StoreLockedError(RuntimeError):
    """The database file is locked by another process beyond the busy timeout (an older toucan_nb
    holds it exclusively)."""


class StoreVersionError(RuntimeError):
    """The database file was written by a newer toucan_nb schema."""


class StoreCorruptError(RuntimeError):
    """The database file is damaged, or is not a SQLite database."""


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
    # ON CONFLICT keeps the row (and its seq): a repeated prompt_id stays where it was. Its rev
    # moves, so other runtimes know to reload it.
    conn.execute("INSERT INTO history (prompt_id, entry) VALUES (?, ?) "
                 "ON CONFLICT (prompt_id) DO UPDATE SET entry = excluded.entry, rev = history.rev + 1",
                 (prompt_id, data))


def _process_start(pid: int) -> float | None:
    """The start time of process `pid`, or None when it is gone or a zombie."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.create_time()
    except psutil.Error:
        return None


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """True when SQLite gave up waiting for another connection's lock."""
    return "locked" in str(exc) or "busy" in str(exc)


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), _ID_CHUNK):
        yield values[start:start + _ID_CHUNK]


class Store:
    """The database of one runtime, shared with the others on the same file (module docstring)."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        """Open (creating if needed) the database at `path` and register this store as an owner.

        Raises StoreLockedError when another process holds it locked, StoreVersionError when its
        schema is newer than ours, StoreCorruptError when it is not a readable SQLite database.
        """
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.owner = 0  # set by _setup: a free random number, 1 .. 2**31 - 1
        self._lock = threading.Lock()
        self._writes: list[_Write] = []
        self._queued = 0  # writes handed over so far
        self._written = 0  # writes committed (or failed and logged) so far
        self._closing = threading.Event()  # set by close(); also cuts a gathering writer's wait short
        self._writes_changed = threading.Condition()
        self._writer: threading.Thread | None = None
        self._data_version = 0  # SQLite's data_version when last checked
        self._foreign_version = 0  # bumped each time other connections were seen to commit
        self._checked_at = -CHANGE_CHECK_SECONDS  # time.monotonic() of the last data_version check
        # isolation_level=None: autocommit; multi-statement writes use explicit transactions.
        self._conn = sqlite3.connect(str(self.path), timeout=busy_timeout, isolation_level=None,
                                     check_same_thread=False)
        try:
            self._setup()
        except sqlite3.OperationalError as exc:
            self._conn.close()
            if _is_busy(exc):
                raise StoreLockedError(
                    f"{self.path} is locked by another process (a toucan_nb older than this one keeps "
                    f"it to itself while it runs): {exc}") from exc
            raise StoreCorruptError(f"{self.path} cannot be opened: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreCorruptError(
                f"{self.path} is damaged or is not a SQLite database ({exc}); move it aside to start "
                "an empty one") from exc
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
                conn.execute("BEGIN IMMEDIATE")
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
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreVersionError(
                    f"{self.path} has schema version {version}; this toucan_nb reads up to {SCHEMA_VERSION}")
            if version == 1:
                for statement in _MIGRATE_FROM_1.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            if version != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            started = _process_start(os.getpid()) or 0.0
            taken = {row[0] for row in conn.execute("SELECT id FROM runtimes")}
            while self.owner == 0 or self.owner in taken:
                self.owner = secrets.randbelow(2**31 - 1) + 1
            conn.execute("INSERT INTO runtimes (id, pid, started) VALUES (?, ?, ?)",
                         (self.owner, os.getpid(), started))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._data_version = conn.execute("PRAGMA data_version").fetchone()[0]

    # -- owners ----------------------------------------------------------------------------------

    @property
    def _first_key(self) -> int:
        return self.owner << _SEQ_BITS

    @property
    def _last_key(self) -> int:
        return (self.owner << _SEQ_BITS) | ((1 << _SEQ_BITS) - 1)

    def _key(self, seq: int) -> int:
        """The queue row key of our item `seq`."""
        return (self.owner << _SEQ_BITS) | seq

    def _dead_owners(self, conn: sqlite3.Connection) -> list[int]:
        """(In a transaction.) Owners of queue rows that are not alive; forgets their runtimes rows."""
        owners = [row[0] for row in conn.execute("SELECT DISTINCT owner FROM queue WHERE owner != ?",
                                                 (self.owner,))]
        registered = {row[0]: (row[1], row[2]) for row in conn.execute("SELECT id, pid, started FROM runtimes")}
        dead: list[int] = []
        for owner, (pid, started) in registered.items():
            if owner != self.owner and not self._alive(pid, started):
                dead.append(owner)
        conn.executemany("DELETE FROM runtimes WHERE id = ?", [(owner,) for owner in dead])
        dead_set = set(dead)
        return [owner for owner in owners if owner not in registered or owner in dead_set]

    @staticmethod
    def _alive(pid: int, started: float) -> bool:
        now_started = _process_start(pid)
        return now_started is not None and abs(now_started - started) < 1.0

    def _in_transaction(self, work: Callable[[sqlite3.Connection], Any], *, after_writes: bool = True) -> Any:
        """`work(conn)` in one BEGIN IMMEDIATE transaction, after the queued writes (`after_writes`)."""
        if after_writes:
            self.flush()
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return result

    # -- changes by other runtimes ---------------------------------------------------------------

    def foreign_version(self) -> int:
        """A number that goes up when other connections have committed since it was last checked.

        Checked at most every `CHANGE_CHECK_SECONDS` (the check, a ``PRAGMA data_version``, costs tens
        of microseconds: more than a cached history read), and never waits: when the connection is
        busy (the writer thread is committing) the last number is returned; a later call checks.
        """
        now = time.monotonic()
        if now - self._checked_at < CHANGE_CHECK_SECONDS:
            return self._foreign_version
        if not self._lock.acquire(blocking=False):
            return self._foreign_version
        self._checked_at = now
        try:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            return self._foreign_version  # closed: nothing changes any more
        finally:
            self._lock.release()
        if version != self._data_version:
            self._data_version = version
            self._foreign_version += 1
        return self._foreign_version

    # -- queue -----------------------------------------------------------------------------------

    def insert_pending(self, seq: int, item: QueueItem) -> None:
        """Store a newly queued item under the queue's insertion counter `seq`."""
        key, owner = self._key(seq), self.owner

        def insert(conn: sqlite3.Connection) -> None:
            data = _encode(item.to_wire, "queue item", item.prompt_id)
            if data is not None:
                conn.execute("INSERT OR REPLACE INTO queue (seq, prompt_id, state, started_at, item, owner) "
                             "VALUES (?, ?, ?, NULL, ?, ?)", (key, item.prompt_id, _PENDING, data, owner))

        self._write(insert)

    def mark_running(self, seq: int, started_at: int) -> None:
        """The item `seq` left the queue for the executor at `started_at` (ms). A row that another
        runtime deleted in the meantime stays deleted (`queue_row_state` tells)."""
        row = (_RUNNING, started_at, self._key(seq), _PENDING)
        self._write(lambda conn: conn.execute("UPDATE queue SET state = ?, started_at = ? WHERE seq = ? AND state = ?",
                                              row))

    def queue_row_state(self, seq: int) -> str | None:
        """"pending", "running" or "deleted" (by another runtime) for our row `seq`, after the
        queued writes (committed on this thread: see `write_through`); None when there is no such
        row (its write failed)."""
        self.write_through()
        with self._lock:
            row = self._conn.execute("SELECT state FROM queue WHERE seq = ?", (self._key(seq),)).fetchone()
        return None if row is None else str(row[0])

    def delete_elsewhere(self, prompt_ids: Iterable[str] | None = None) -> list[str]:
        """Delete pending prompts that other runtimes queued (all of them with None); returns their ids.

        Their rows are marked deleted, not removed: the owner learns it before it would run one
        (`queue_row_state`) or when it lists its queue (`deleted_rows`), and forgets the row then.
        """
        first, last = self._first_key, self._last_key
        wanted = None if prompt_ids is None else set(prompt_ids)

        def mark(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute("SELECT seq, prompt_id FROM queue WHERE state = ? AND seq NOT BETWEEN ? AND ?",
                                (_PENDING, first, last)).fetchall()
            hits = [(seq, prompt_id) for seq, prompt_id in rows if wanted is None or prompt_id in wanted]
            conn.executemany("UPDATE queue SET state = ? WHERE seq = ?", [(_DELETED, seq) for seq, _ in hits])
            return [prompt_id for _, prompt_id in hits]

        deleted: list[str] = self._in_transaction(mark)
        return deleted

    def deleted_rows(self) -> list[int]:
        """The `seq` of each of our pending rows that another runtime deleted."""
        self.flush()
        with self._lock:
            rows = self._conn.execute("SELECT seq FROM queue WHERE state = ? AND seq BETWEEN ? AND ?",
                                      (_DELETED, self._first_key, self._last_key)).fetchall()
        return [seq - self._first_key for (seq,) in rows]

    def delete_queue_rows(self, seqs: Iterable[int]) -> None:
        """Forget these queue rows (finished or deleted items)."""
        rows = [(self._key(seq),) for seq in seqs]
        self._write(lambda conn: conn.executemany("DELETE FROM queue WHERE seq = ?", rows))

    def clear_pending(self) -> None:
        """Forget every pending row of ours (running rows stay)."""
        row = (_PENDING, self._first_key, self._last_key)
        self._write(lambda conn: conn.execute("DELETE FROM queue WHERE state = ? AND seq BETWEEN ? AND ?", row))

    def load_pending(self) -> list[tuple[int, QueueItem]]:
        """Our pending items with their `seq`, in insertion order, after adopting the pending items
        of owners that are not alive (in one transaction: each is adopted once)."""

        first, last = self._first_key, self._last_key

        def adopt(conn: sqlite3.Connection) -> list[tuple[int, str]]:
            dead = self._dead_owners(conn)
            (top,) = conn.execute("SELECT MAX(seq) FROM queue WHERE seq BETWEEN ? AND ?", (first, last)).fetchone()
            next_key = first if top is None else top + 1
            orphans = []
            for chunk in _chunks(dead):
                marks = ",".join("?" * len(chunk))
                orphans += conn.execute(f"SELECT seq FROM queue WHERE state = ? AND owner IN ({marks})",
                                        (_PENDING, *chunk)).fetchall()
            for chunk in _chunks(dead):
                marks = ",".join("?" * len(chunk))
                conn.execute(f"DELETE FROM queue WHERE state = ? AND owner IN ({marks})", (_DELETED, *chunk))
            orphans.sort()
            conn.executemany("UPDATE queue SET seq = ?, owner = ? WHERE seq = ?",
                             [(next_key + i, self.owner, seq) for i, (seq,) in enumerate(orphans)])
            if orphans:
                log.info("store: took over %d pending prompt(s) of runtimes that stopped", len(orphans))
            return conn.execute("SELECT seq, item FROM queue WHERE state = ? AND seq BETWEEN ? AND ? ORDER BY seq",
                                (_PENDING, first, last)).fetchall()

        rows = self._in_transaction(adopt)
        return [(key - first, item) for key, data in rows
                if (item := _decode(data, QueueItem.from_wire, f"queue row {key - first}")) is not None]

    def next_queue_seq(self) -> int:
        """The first `seq` none of our queue rows uses yet."""
        self.flush()
        with self._lock:
            (top,) = self._conn.execute("SELECT MAX(seq) FROM queue WHERE seq BETWEEN ? AND ?",
                                        (self._first_key, self._last_key)).fetchone()
        return 0 if top is None else top - self._first_key + 1

    def recover(self, stopped_at: int | None = None) -> list[HistoryEntry]:
        """Turn every item that was running in a runtime that is gone into an error history entry.

        In one transaction: the `runtime_stopped_entry` of each such running row is written to
        history and the row is deleted. Returns the new entries (oldest first). Running rows of live
        runtimes are theirs and stay. Call it at start-up, before building `History`, which then
        loads them; adding them to an existing `History` is also safe.
        """

        def take(conn: sqlite3.Connection) -> list[HistoryEntry]:
            dead = self._dead_owners(conn)
            rows: list[tuple[int, int | None, str]] = []
            for chunk in _chunks(dead):
                marks = ",".join("?" * len(chunk))
                rows += conn.execute(f"SELECT seq, started_at, item FROM queue WHERE state = ? "
                                     f"AND owner IN ({marks})", (_RUNNING, *chunk)).fetchall()
            rows.sort()
            entries = [runtime_stopped_entry(item, started_at=started_at, stopped_at=stopped_at)
                       for seq, started_at, data in rows
                       if (item := _decode(data, QueueItem.from_wire, f"queue row {seq}")) is not None]
            for entry in entries:
                _upsert_history(conn, entry.prompt_id, _dumps(entry.to_wire()))
            conn.executemany("DELETE FROM queue WHERE seq = ?", [(seq,) for seq, _, _ in rows])
            return entries

        recovered: list[HistoryEntry] = self._in_transaction(take)
        return recovered

    def foreign_queue(self) -> tuple[list[QueueItem], list[QueueItem]]:
        """(running, pending) items of the other live runtimes, oldest first."""
        self.flush()
        with self._lock:
            rows = self._conn.execute("SELECT q.seq, q.state, q.item FROM queue q JOIN runtimes r ON r.id = q.owner "
                                      "WHERE q.owner != ? AND q.state != ? ORDER BY q.seq",
                                      (self.owner, _DELETED)).fetchall()
            owners = self._conn.execute("SELECT id, pid, started FROM runtimes WHERE id != ?",
                                        (self.owner,)).fetchall()
        alive = {owner for owner, pid, started in owners if self._alive(pid, started)}
        running: list[QueueItem] = []
        pending: list[QueueItem] = []
        for seq, state, data in rows:
            item = _decode(data, QueueItem.from_wire, f"queue row {seq}")
            if item is not None:
                (running if state == _RUNNING else pending).append(item)
        if len(alive) < len(owners):
            return self._only_alive(alive, running, pending)
        return running, pending

    def _only_alive(self, alive: set[str], running: list[QueueItem],
                    pending: list[QueueItem]) -> tuple[list[QueueItem], list[QueueItem]]:
        # Rare: an owner died and no runtime has started since; its prompts wait for the next one.
        with self._lock:
            rows = self._conn.execute("SELECT prompt_id, owner FROM queue WHERE owner != ?",
                                      (self.owner,)).fetchall()
        dead_ids = {prompt_id for prompt_id, owner in rows if owner not in alive}
        return ([i for i in running if i.prompt_id not in dead_ids],
                [i for i in pending if i.prompt_id not in dead_ids])

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
        """Forget every history entry (of every runtime: there is one history)."""
        self._write(lambda conn: conn.execute("DELETE FROM history"))

    def load_history(self) -> list[HistoryEntry]:
        """Every stored entry, oldest first."""
        rows = self.history_rows()
        loaded = self.history_entries([prompt_id for prompt_id, _ in rows])
        return [loaded[prompt_id] for prompt_id, _ in rows if prompt_id in loaded]

    def history_rows(self) -> list[tuple[str, int]]:
        """(prompt_id, rev) of every stored entry, oldest first (commits our queued writes first)."""
        self.flush()
        with self._lock:
            return self._conn.execute("SELECT prompt_id, rev FROM history ORDER BY seq").fetchall()

    def history_entries(self, prompt_ids: list[str]) -> dict[str, HistoryEntry]:
        """The readable stored entries with these ids (unreadable rows are logged and left out)."""
        rows: list[tuple[int, str, str]] = []
        with self._lock:
            for chunk in _chunks(prompt_ids):
                marks = ",".join("?" * len(chunk))
                rows += self._conn.execute(f"SELECT seq, prompt_id, entry FROM history WHERE prompt_id IN ({marks})",
                                           chunk).fetchall()
        return {prompt_id: entry for seq, prompt_id, data in rows
                if (entry := _decode(data, HistoryEntry.from_wire, f"history row {seq}")) is not None}

    # -- priority counter ------------------------------------------------------------------------

    def load_counter(self) -> int:
        """The saved priority counter (docs/protocol.md §6), 0 when none was saved."""
        self.flush()
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (_COUNTER_KEY,)).fetchone()
        return 0 if row is None else int(row[0])

    def save_counter(self, value: int) -> None:
        """Set the priority counter."""
        row = (_COUNTER_KEY, str(value))
        self._write(lambda conn: conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                                              "ON CONFLICT (key) DO UPDATE SET value = excluded.value", row))

    def reserve_numbers(self, count: int, at_least: int = 0, *, patience: float | None = None) -> int:
        """Reserve `count` priority numbers for this runtime alone; returns the first.

        The block starts at the shared counter (or `at_least`, if higher), which moves past it, in
        one transaction: no other runtime gets these numbers. Raises sqlite3.OperationalError when
        the file stays locked for `patience` seconds (default `RESERVE_PATIENCE`), or fails otherwise.
        """

        def reserve(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (_COUNTER_KEY,)).fetchone()
            start = max(0 if row is None else int(row[0]), at_least)
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (_COUNTER_KEY, str(start + count)))
            return start

        # Not after the queued writes: none of them touches the counter, and a POST /prompt that
        # reserves must not wait for the writer thread's batch. Each try waits the busy timeout; a
        # loaded machine can hold another runtime's commit longer, so try again until `patience`.
        deadline = time.monotonic() + (RESERVE_PATIENCE if patience is None else patience)
        while True:
            try:
                start: int = self._in_transaction(reserve, after_writes=False)
                return start
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise

    def release_numbers(self, next_number: int, reserved_end: int) -> None:
        """Give back the unused numbers `next_number`..`reserved_end`, unless someone reserved after us."""
        row = (str(next_number), _COUNTER_KEY, str(reserved_end))
        self._write(lambda conn: conn.execute("UPDATE meta SET value = ? WHERE key = ? AND value = ?", row))

    # -- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        """Commit the queued writes, leave the owners (our pending prompts go to the next runtime
        that starts on this file; our running one, if any, is recorded as failed there), then
        close the connection. Later writes raise sqlite3.ProgrammingError. Idempotent."""
        if not self._closing.is_set():
            owner = self.owner
            try:
                self._write(lambda conn: conn.execute("DELETE FROM runtimes WHERE id = ?", (owner,)))
            except sqlite3.ProgrammingError:
                pass
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
