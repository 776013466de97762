"""Finished prompts: `HistoryEntry` and the insertion-ordered, bounded `History`.

Implements docs/protocol.md §7 (`/history`, `max_items`/`offset`, delete/clear) and §17 (entry shape);
docs/execution.md §3.1 steps 8-9 (what the worker stores).

`History` keeps ComfyUI's dict semantics: entries are ordered by first insertion; adding an entry
whose prompt_id is already present replaces it *in place* (prompt ids need not be unique); when full
the oldest entry is evicted. Entries are immutable once added, so the wire dicts handed out share
their nested values with the stored entry: readers must not mutate them.

Persistence: with a `store` (see `store.py`) every add/delete/clear/eviction is written through and
the constructor loads the stored entries. A failing store write is logged and history carries on in
memory. Other runtimes may share the store: every read first asks it whether they committed
anything (`Store.foreign_version`, microseconds) and, if so, takes their changes in: entries whose
row is new or whose revision moved are read, removed rows are dropped, and the order becomes the
file's (first insertion).

Every method may be called from any thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .events import ExecutionStart, NodeFailure, execution_error, now_ms
from .queue import QueueItem, persist_or_log

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger(__name__)

MAX_HISTORY_SIZE = 10000

RUNTIME_STOPPED_MESSAGE = (
    "The runtime stopped while this prompt was running (kernel restart or crash); it did not finish."
)
RUNTIME_STOPPED_TYPE = "RuntimeStopped"


@dataclass(frozen=True, slots=True, eq=False)
class HistoryEntry:
    """One finished prompt (docs/execution.md §3.1 step 9). `messages` are `[event name, data]` pairs."""

    prompt: QueueItem
    outputs: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    status_str: str = "success"
    completed: bool = True
    messages: list[list[Any]] = field(default_factory=list)

    @property
    def prompt_id(self) -> str:
        return self.prompt.prompt_id

    def status(self) -> dict[str, Any]:
        """The wire `status` object."""
        return {"status_str": self.status_str, "completed": self.completed, "messages": self.messages}

    def to_wire(self) -> dict[str, Any]:
        """The docs/protocol.md §17 dict, keys in ComfyUI's order: prompt, outputs, status, meta."""
        return {"prompt": self.prompt.to_wire(), "outputs": self.outputs, "status": self.status(),
                "meta": self.meta}

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> HistoryEntry:
        """Rebuild an entry from its §17 dict (as stored, or as recorded from ComfyUI)."""
        status = wire.get("status") or {}
        return cls(
            prompt=QueueItem.from_wire(wire["prompt"]),
            outputs=wire.get("outputs", {}),
            meta=wire.get("meta", {}),
            status_str=status.get("status_str", "success"),
            completed=status.get("completed", True),
            messages=[list(message) for message in status.get("messages", [])],
        )


def runtime_stopped_entry(item: QueueItem, *, started_at: int | None = None,
                          stopped_at: int | None = None) -> HistoryEntry:
    """The entry recorded for a prompt that was running when the runtime died (docs/architecture.md, decision 5).

    It reads like a failed run: `status_str` "error", `completed` False, an `execution_start`
    message when the start time is known, and an `execution_error` message with no node, so
    `/api/jobs` reports it as `failed` with that error.
    """
    stopped_at = now_ms() if stopped_at is None else stopped_at
    messages: list[list[Any]] = []
    if started_at is not None:
        start = ExecutionStart(prompt_id=item.prompt_id, timestamp=started_at)
        messages.append([ExecutionStart.name, start.data()])
    error = execution_error(item.prompt_id, NodeFailure("", RUNTIME_STOPPED_MESSAGE, RUNTIME_STOPPED_TYPE),
                            timestamp=stopped_at)
    messages.append([error.name, error.data()])
    return HistoryEntry(prompt=item, status_str="error", completed=False, messages=messages)


class History:
    """Finished prompts by prompt_id, oldest first, at most `max_size` of them."""

    def __init__(self, max_size: int = MAX_HISTORY_SIZE, store: Store | None = None) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self._store = store
        self._lock = threading.Lock()
        self._entries: dict[str, HistoryEntry] = {}
        # Stored revision of each entry as last read from the store; absent: not read back yet.
        self._revs: dict[str, int] = {}
        self._seen_version = -1
        if store is not None:
            with self._lock:
                self._refresh()
                evicted = self._evict(len(self._entries) - max_size)
            if evicted:
                self._persist("evict old entries", lambda s: s.delete_history(evicted))

    def _refresh(self) -> None:
        """(Lock held.) Take in the entries other runtimes committed, when there are any."""
        store = self._store
        if store is None:
            return
        version = store.foreign_version()
        if version == self._seen_version:
            return
        self._seen_version = version
        try:
            rows = store.history_rows()  # commits our own queued writes first
            stale = [prompt_id for prompt_id, rev in rows if self._revs.get(prompt_id) != rev]
            loaded = store.history_entries(stale) if stale else {}
        except Exception:
            log.exception("history store: could not read the entries of other runtimes")
            return
        entries: dict[str, HistoryEntry] = {}
        revs: dict[str, int] = {}
        for prompt_id, rev in rows:
            entry = loaded.get(prompt_id) or (None if prompt_id in stale else self._entries.get(prompt_id))
            if entry is not None:
                entries[prompt_id] = entry
                revs[prompt_id] = rev
        self._entries, self._revs = entries, revs

    def add(self, entry: HistoryEntry) -> None:
        """Record `entry`; evicts the oldest entry when full. Replaces an entry with the same id in place."""
        with self._lock:
            evicted: list[str] = []
            if entry.prompt_id not in self._entries:
                evicted = self._evict(len(self._entries) + 1 - self.max_size)
            self._entries[entry.prompt_id] = entry
            self._revs.pop(entry.prompt_id, None)
            self._persist("save entry", lambda s: s.save_history(entry, evicted))

    def get(self, max_items: int | None = None, offset: int | None = None) -> dict[str, dict[str, Any]]:
        """Wire entries by prompt_id, oldest first, with ComfyUI's `/history` paging (docs/protocol.md §7).

        * nothing: every entry;
        * `offset` only: entries from index `offset` on; at or past the end: `{}`;
        * `max_items` only: the newest `max_items`, still oldest first;
        * both: `max_items` entries starting at index `offset`.
        A negative `offset` counts as absent.
        """
        with self._lock:
            self._refresh()
            start = -1 if offset is None else offset
            if start < 0 and max_items is not None:
                start = len(self._entries) - max_items
            # Clamped to the length: islice takes no index past sys.maxsize, and clients send any integer.
            size = len(self._entries)
            start = min(max(start, 0), size)
            stop = None
            if max_items is not None:
                # QUIRK(docs/protocol.md §7): ComfyUI checks the count only after adding an entry, so
                # `max_items` <= 0 with an explicit offset still returns one entry.
                stop = min(start + max(max_items, 1), size)
            selected = itertools.islice(self._entries.items(), start, stop)
            return {prompt_id: entry.to_wire() for prompt_id, entry in selected}

    def get_one(self, prompt_id: str) -> dict[str, Any] | None:
        """The wire entry of `prompt_id`, or None."""
        with self._lock:
            self._refresh()
            entry = self._entries.get(prompt_id)
        return None if entry is None else entry.to_wire()

    def entry(self, prompt_id: str) -> HistoryEntry | None:
        """The typed entry of `prompt_id`, or None."""
        with self._lock:
            self._refresh()
            return self._entries.get(prompt_id)

    def entries(self) -> list[HistoryEntry]:
        """Every entry, oldest first."""
        with self._lock:
            self._refresh()
            return list(self._entries.values())

    def delete(self, ids: Iterable[str]) -> int:
        """Remove the entries with these ids; unknown ids are ignored. Returns how many went."""
        with self._lock:
            self._refresh()
            gone = [prompt_id for prompt_id in dict.fromkeys(ids)
                    if self._entries.pop(prompt_id, None) is not None]
            if gone:
                self._persist("delete entries", lambda s: s.delete_history(gone))
            return len(gone)

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._entries.clear()
            self._revs.clear()
            self._persist("clear", lambda s: s.clear_history())

    def __len__(self) -> int:
        with self._lock:
            self._refresh()
            return len(self._entries)

    def __contains__(self, prompt_id: object) -> bool:
        with self._lock:
            self._refresh()
            return prompt_id in self._entries

    def _evict(self, count: int) -> list[str]:
        """Drop the `count` oldest entries (lock held); returns their ids."""
        evicted = list(itertools.islice(self._entries, max(count, 0)))
        for prompt_id in evicted:
            del self._entries[prompt_id]
            self._revs.pop(prompt_id, None)
        return evicted

    def _persist(self, what: str, write: Callable[[Store], None]) -> None:
        persist_or_log(self._store, "history", what, write)
