"""The prompt queue: a thread-safe min-heap of pending prompts plus the set of running ones.

Implements docs/protocol.md §6 (priority numbers) and §7 (`/queue`, POST `/queue`, `queue_remaining`).

Ordering. ComfyUI pushes the tuple `(number, prompt_id, prompt, ...)` on a `heapq`, so a lower
`number` runs first and equal numbers run in `prompt_id` order. We push `(number, prompt_id, seq,
item)`, where `seq` is an insertion counter, so the heap array evolves exactly as ComfyUI's does
(same comparisons, same `heappush`/`heappop`/`heapify` calls) and `pending()` can return it raw.

Change notifications. `on_change()` is ComfyUI's `server.queue_updated()`: the Runtime answers it by
publishing a `Status` event with `remaining()`. It fires, on the mutating thread and *while the
queue lock is held* (the lock is re-entrant, so `remaining()` inside the callback reads the count
right after that change, as ComfyUI's does), exactly:

* `put()`: once;
* `get()`: once, when it returns an item (not on timeout or after `close()`);
* `task_done()`: once;
* `delete(ids)`: once per removed item, and **twice** when the removed item was the last pending
  one (ComfyUI wipes the queue, which notifies, then notifies again); an id that matches nothing
  fires nothing;
* `clear()`: once, even when nothing was pending.

The callback must not block or wait on another thread. Exceptions from it propagate to the caller.

Persistence: with a `store` (see `store.py`), pending items are written on `put`, marked running on
`get`, and removed on `task_done`/`delete`/`clear`; the constructor loads the stored pending items.
A failing store write is logged and the queue carries on in memory.

Every method may be called from any thread.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .events import now_ms

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, eq=False)
class QueueItem:
    """One queued prompt (ComfyUI's 6-tuple). `sensitive` never leaves the process."""

    number: int | float
    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs_to_execute: list[str]
    sensitive: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> list[Any]:
        """The 5-element `/queue` array `[number, prompt_id, prompt, extra_data, outputs]` (docs/protocol.md §7)."""
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs_to_execute]

    @classmethod
    def from_wire(cls, wire: Sequence[Any]) -> QueueItem:
        """Rebuild an item from its wire array (sensitive keys are gone by then)."""
        number, prompt_id, prompt, extra_data, outputs = wire[:5]
        return cls(number, prompt_id, prompt, extra_data, list(outputs))


# A heap entry; `seq` is unique, so `item` is never compared.
_Entry = tuple[Any, str, int, QueueItem]


class PromptQueue:
    """Pending prompts in ComfyUI's heap order plus the running ones (see the module docstring)."""

    def __init__(self, on_change: Callable[[], None] | None = None, store: Store | None = None,
                 on_deleted_elsewhere: Callable[[QueueItem], None] | None = None) -> None:
        self.on_change = on_change
        # Called (queue lock held) for each pending item another runtime deleted through the store.
        self.on_deleted_elsewhere = on_deleted_elsewhere
        self._store = store
        self._lock = threading.RLock()
        self._not_empty = threading.Condition(self._lock)
        self._heap: list[_Entry] = []
        self._running: dict[int, QueueItem] = {}
        self._next_seq = 0
        self._closed = False
        if store is not None:
            for seq, item in store.load_pending():
                heapq.heappush(self._heap, (item.number, item.prompt_id, seq, item))
            self._next_seq = store.next_queue_seq()

    # -- producers -------------------------------------------------------------------------------

    def put(self, item: QueueItem) -> None:
        """Queue `item`; wakes one `get()` and fires `on_change` once."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            self._persist("save pending item", lambda store: store.insert_pending(seq, item))
            heapq.heappush(self._heap, (item.number, item.prompt_id, seq, item))
            self._changed()
            self._not_empty.notify()

    # -- the worker ------------------------------------------------------------------------------

    def get(self, timeout: float | None = None) -> QueueItem | None:
        """Pop the next item and move it to running; block up to `timeout` seconds (None: forever).

        Returns None on timeout or once `close()` was called.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._not_empty:
            while self._wait_for_pending(deadline):
                _, _, seq, item = heapq.heappop(self._heap)
                if self._claim(seq, item):
                    return item
            return None

    def take(self, choose: Callable[[list[QueueItem]], QueueItem | None],
             timeout: float | None = None) -> QueueItem | None:
        """Like `get`, but `choose` picks the item from the pending ones in priority order (it may
        return None to take nothing). For backends that route prompts (runtime/backend.py)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._not_empty:
            while self._wait_for_pending(deadline):
                ordered = sorted(self._heap)
                chosen = choose([entry[3] for entry in ordered])
                if chosen is None:
                    return None
                entry = next(e for e in ordered if e[3] is chosen)
                self._heap.remove(entry)
                heapq.heapify(self._heap)
                if self._claim(entry[2], chosen):
                    return chosen
            return None

    def _wait_for_pending(self, deadline: float | None) -> bool:
        """With the lock held: wait until an item is pending (True), or the deadline passes or the
        queue closes (False)."""
        while not self._heap or self._closed:
            if self._closed:
                return False
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._not_empty.wait(left)
        return True

    def _claim(self, seq: int, item: QueueItem) -> bool:
        """With the lock held, for an item just taken off the heap: mark it running, unless another
        runtime deleted it through the store (then it is forgotten, and False)."""
        self._persist("mark item running", lambda store: store.mark_running(seq, now_ms()))
        if self._store is not None and self._state_in_store(seq) == "deleted":
            self._forget(seq)
            self._deleted_elsewhere([item])
            return False
        self._running[seq] = item
        self._changed()
        return True

    def _state_in_store(self, seq: int) -> str | None:
        assert self._store is not None
        try:
            return self._store.queue_row_state(seq)
        except Exception:  # the store failed: the queue carries on in memory (module docstring)
            log.exception("queue store: could not read the state of row %d", seq)
            return None

    def drop_deleted_elsewhere(self) -> None:
        """Forget the pending items that another runtime deleted through the store."""
        if self._store is None:
            return
        try:
            seqs = set(self._store.deleted_rows())
        except Exception:
            log.exception("queue store: could not read the rows other runtimes deleted")
            return
        if not seqs:
            return
        with self._lock:
            gone = [entry for entry in self._heap if entry[2] in seqs]
            if not gone:
                return
            self._heap = [entry for entry in self._heap if entry[2] not in seqs]
            heapq.heapify(self._heap)
            for entry in gone:
                self._forget(entry[2])
            self._deleted_elsewhere([entry[3] for entry in gone])

    def _deleted_elsewhere(self, items: list[QueueItem]) -> None:
        if self.on_deleted_elsewhere is not None:
            for item in items:
                self.on_deleted_elsewhere(item)
        self._changed()

    def task_done(self, prompt_id: str) -> QueueItem:
        """Drop the running item `prompt_id` and fire `on_change` once.

        Record its history entry *before* calling this, so readers never miss the job.
        Raises KeyError when no running item has that id.
        """
        with self._lock:
            for seq, item in self._running.items():
                if item.prompt_id == prompt_id:
                    del self._running[seq]
                    self._forget(seq)
                    self._changed()
                    return item
            raise KeyError(prompt_id)

    def close(self) -> None:
        """Wake every waiting `get()` and make later ones return None (pending items stay)."""
        with self._lock:
            self._closed = True
            self._not_empty.notify_all()

    # -- readers ---------------------------------------------------------------------------------

    def running(self) -> list[QueueItem]:
        """Running items, oldest first (0 or 1 with one worker; one per worker with a backend)."""
        with self._lock:
            return list(self._running.values())

    def pending(self) -> list[QueueItem]:
        """Pending items in raw heap-array order, not sorted (QUIRK(docs/protocol.md §7))."""
        with self._lock:
            return [entry[3] for entry in self._heap]

    def remaining(self) -> int:
        """Pending plus running, ComfyUI's `queue_remaining`."""
        with self._lock:
            return len(self._heap) + len(self._running)

    def __len__(self) -> int:
        return self.remaining()

    # -- removal ---------------------------------------------------------------------------------

    def delete(self, ids: Iterable[str]) -> int:
        """Remove the first pending item (heap-array order) of each id; return how many went.

        Running items are untouched. See the module docstring for the `on_change` count.
        """
        removed = 0
        with self._lock:
            for prompt_id in ids:
                for index, entry in enumerate(self._heap):
                    if entry[1] != prompt_id:
                        continue
                    if len(self._heap) == 1:
                        # QUIRK(docs/protocol.md §7): ComfyUI wipes the queue here, which notifies,
                        # and then notifies again: deleting the last item broadcasts twice.
                        self.clear()
                    else:
                        self._heap.pop(index)
                        heapq.heapify(self._heap)
                        self._forget(entry[2])
                    self._changed()
                    removed += 1
                    break
        return removed

    def clear(self) -> None:
        """Drop every pending item (running ones stay); fires `on_change` once."""
        with self._lock:
            self._heap = []
            self._persist("clear pending items", lambda store: store.clear_pending())
            self._changed()

    # -- internals -------------------------------------------------------------------------------

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _forget(self, seq: int) -> None:
        self._persist("forget a queue row", lambda store: store.delete_queue_rows([seq]))

    def _persist(self, what: str, write: Callable[[Store], None]) -> None:
        persist_or_log(self._store, "queue", what, write)


def persist_or_log(store: Store | None, owner: str, what: str, write: Callable[[Store], None]) -> None:
    """Run `write(store)` if there is a store; a failure is logged and the caller carries on in
    memory: losing persistence must not stop prompts."""
    if store is None:
        return
    try:
        write(store)
    except Exception:
        log.exception("%s store: could not %s", owner, what)
