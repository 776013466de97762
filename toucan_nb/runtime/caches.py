"""Output and object caches (docs/execution.md §4): classic, LRU(N), RAM pressure and none, one interface.

Outputs are keyed by signature (`signature.py`), objects (node instances) by `(node_id, class_type)`.
Expanded nodes live in a sub-level under their parent, so a parent that re-expands the same children
in the next prompt finds them (§4.3). Executor thread only.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from toucan_nb.runtime.signature import SignatureBuilder

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CacheEntry:
    """A node's result: its ui dict (or None) and one list of per-call values per output."""

    ui: dict[str, Any] | None
    outputs: list[list[Any]]


class OutputCache(Protocol):
    """What the executor needs of an output cache."""

    def set_prompt(self, signatures: SignatureBuilder, node_ids: Iterable[str]) -> None: ...
    def clean_unused(self) -> None: ...
    def get(self, node_id: str) -> CacheEntry | None: ...
    def set(self, node_id: str, entry: CacheEntry) -> None: ...
    def ensure_subcache_for(self, parent_id: str, child_ids: Iterable[str]) -> None: ...
    def poll(self, ram_headroom: float) -> None: ...
    def all_node_ids(self) -> list[str]: ...
    def clear(self) -> None: ...


class _Level:
    """One level of the hierarchical cache: entries by signature, sub-levels by (parent id, class)."""

    __slots__ = ("entries", "keys", "subcaches", "node_ids")

    def __init__(self) -> None:
        self.entries: dict[Any, CacheEntry] = {}
        self.keys: set[Any] = set()
        self.subcaches: dict[tuple[str, str], _Level] = {}
        self.node_ids: list[str] = []

    def clean(self, allowed_subcaches: set[tuple[str, str]] | None) -> None:
        keys = self.keys
        for key in [k for k in self.entries if k not in keys]:
            del self.entries[key]
        if allowed_subcaches is not None:
            for sub in [k for k in self.subcaches if k not in allowed_subcaches]:
                del self.subcaches[sub]
        for level in self.subcaches.values():
            level.clean(None)


class HierarchicalCache:
    """Classic mode: keep what the new prompt's nodes can use, drop the rest at prompt start."""

    def __init__(self) -> None:
        self._root = _Level()
        self._sigs: SignatureBuilder | None = None
        self._allowed: set[tuple[str, str]] = set()

    def set_prompt(self, signatures: SignatureBuilder, node_ids: Iterable[str]) -> None:
        self._sigs = signatures
        node_ids = list(node_ids)
        dyn = signatures.dynprompt
        self._root.keys = {signatures.get(n) for n in node_ids}
        self._root.node_ids = node_ids
        self._allowed = {(n, dyn.get_node(n)["class_type"]) for n in node_ids}

    def clean_unused(self) -> None:
        self._root.clean(self._allowed)

    def _level(self, node_id: str, create: bool = False) -> _Level | None:
        assert self._sigs is not None
        dyn = self._sigs.dynprompt
        parent = dyn.get_parent_node_id(node_id)
        if parent is None:
            return self._root
        chain = []
        while parent is not None:
            chain.append(parent)
            parent = dyn.get_parent_node_id(parent)
        level = self._root
        for p in reversed(chain):
            key = (p, dyn.get_node(p)["class_type"])
            sub = level.subcaches.get(key)
            if sub is None:
                if not create:
                    return None
                sub = level.subcaches[key] = _Level()
            level = sub
        return level

    def get(self, node_id: str) -> CacheEntry | None:
        sigs = self._sigs
        assert sigs is not None
        if node_id not in sigs.dynprompt.ephemeral_parents:  # fast path: an original node
            return self._root.entries.get(sigs.memo.get(node_id) or sigs.get(node_id))
        level = self._level(node_id)
        if level is None:
            return None
        return level.entries.get(sigs.get(node_id))

    def set(self, node_id: str, entry: CacheEntry) -> None:
        if self._sigs is not None and node_id not in self._sigs.dynprompt.ephemeral_parents:
            self._root.entries[self._sigs.get(node_id)] = entry
            return
        level = self._level(node_id, create=True)
        assert level is not None and self._sigs is not None
        level.entries[self._sigs.get(node_id)] = entry

    def ensure_subcache_for(self, parent_id: str, child_ids: Iterable[str]) -> None:
        assert self._sigs is not None
        parent_level = self._level(parent_id, create=True)
        assert parent_level is not None
        key = (parent_id, self._sigs.dynprompt.get_node(parent_id)["class_type"])
        level = parent_level.subcaches.setdefault(key, _Level())
        child_ids = list(child_ids)
        level.keys = {self._sigs.get(c) for c in child_ids}
        level.node_ids = child_ids
        level.clean(set())

    def poll(self, ram_headroom: float) -> None:
        return None

    def all_node_ids(self) -> list[str]:
        out: list[str] = []
        stack = [self._root]
        while stack:
            level = stack.pop()
            out.extend(level.node_ids)
            stack.extend(level.subcaches.values())
        return out

    def clear(self) -> None:
        self._root = _Level()


class LRUCache:
    """`--cache-lru N`: flat, evicts whole prompt generations, oldest first (§4.4).

    With `max_size=None` it never evicts by count; `RAMPressureCache` builds on that.
    """

    def __init__(self, max_size: int | None) -> None:
        self.max_size = max_size
        self._entries: dict[Any, CacheEntry] = {}
        self._used: dict[Any, int] = {}
        self.generation = 0
        self.min_generation = 0
        self._sigs: SignatureBuilder | None = None
        self._node_ids: list[str] = []

    def set_prompt(self, signatures: SignatureBuilder, node_ids: Iterable[str]) -> None:
        self._sigs = signatures
        self.generation += 1
        self._node_ids = list(node_ids)
        for n in self._node_ids:
            self._used[signatures.get(n)] = self.generation

    def clean_unused(self) -> None:
        if self.max_size is None:
            return
        while len(self._entries) > self.max_size and self.min_generation < self.generation:
            self.min_generation += 1
            self._evict_older_than(self.min_generation)

    def _evict_older_than(self, generation: int) -> None:
        for key in [k for k in self._entries if self._used.get(k, 0) < generation]:
            del self._entries[key]
            self._used.pop(key, None)

    def get(self, node_id: str) -> CacheEntry | None:
        assert self._sigs is not None
        key = self._sigs.get(node_id)
        entry = self._entries.get(key)
        if entry is not None:
            self._used[key] = self.generation
        return entry

    def set(self, node_id: str, entry: CacheEntry) -> None:
        assert self._sigs is not None
        key = self._sigs.get(node_id)
        self._entries[key] = entry
        self._used[key] = self.generation

    def ensure_subcache_for(self, parent_id: str, child_ids: Iterable[str]) -> None:
        assert self._sigs is not None
        for c in child_ids:
            self._used[self._sigs.get(c)] = self.generation
            self._node_ids.append(c)
        self.clean_unused()

    def poll(self, ram_headroom: float) -> None:
        return None

    def all_node_ids(self) -> list[str]:
        return list(self._node_ids)

    def clear(self) -> None:
        self._entries.clear()
        self._used.clear()


class RAMPressureCache(LRUCache):
    """`--cache-ram [GB]`: no count limit; after each node, evict oldest generations while the
    available RAM is under the headroom (§4.5; ComfyUI's scoring reduces to age, see its QUIRK)."""

    POLL_INTERVAL_S = 0.05

    def __init__(self) -> None:
        super().__init__(None)
        self._next_poll = 0.0

    def poll(self, ram_headroom: float) -> None:
        import psutil

        # ComfyUI reads the system's free memory after every node; that read (/proc/meminfo) costs
        # more than running a small node, so look at most every POLL_INTERVAL_S.
        now = time.monotonic()
        if now < self._next_poll:
            return
        self._next_poll = now + self.POLL_INTERVAL_S
        headroom = ram_headroom * 1024**3
        if psutil.virtual_memory().available >= headroom:
            return
        gc.collect()
        if psutil.virtual_memory().available >= headroom:
            return
        target = headroom * 1.1
        generation = min(self._used.values(), default=self.generation)
        while self._entries and psutil.virtual_memory().available < target and generation <= self.generation:
            self._evict_older_than(generation + 1)
            gc.collect()
            generation += 1
        log.info("RAM pressure: cache now holds %d entries", len(self._entries))


class NullCache:
    """`--cache-none`: nothing is kept from one prompt to the next.

    Within a prompt, results are kept by node id until the prompt ends. ComfyUI keeps nothing at
    all, so a node that already ran is run again when a lazy request or an expansion links to it
    later (docs/execution.md §3.6); a re-run expanding node then adds the same ephemeral ids twice and
    the prompt fails (loops built by expansion cannot run under --cache-none). We decided against
    copying that: one run per node per prompt.
    """

    def __init__(self) -> None:
        self._current: dict[str, CacheEntry] = {}

    def set_prompt(self, signatures: SignatureBuilder, node_ids: Iterable[str]) -> None:
        self._current = {}

    def clean_unused(self) -> None:
        return None

    def get(self, node_id: str) -> CacheEntry | None:
        return self._current.get(node_id)

    def set(self, node_id: str, entry: CacheEntry) -> None:
        self._current[node_id] = entry

    def ensure_subcache_for(self, parent_id: str, child_ids: Iterable[str]) -> None:
        return None

    def poll(self, ram_headroom: float) -> None:
        return None

    def all_node_ids(self) -> list[str]:
        return []

    def clear(self) -> None:
        self._current = {}


class ObjectCache:
    """Node instances by `(node_id, class_type)`; they persist while the node stays in the prompt (§4.7).

    Instances of expanded nodes survive while their original ancestor does. `enabled=False`
    (`--cache-none`) makes a fresh instance every time.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._objects: dict[tuple[str, str], Any] = {}
        self._keep: set[str] = set()

    def set_prompt(self, prompt: dict[str, Any]) -> None:
        keep = {(n, node["class_type"]) for n, node in prompt.items()}
        roots = {n for n, _ in keep}
        for key in list(self._objects):
            node_id = key[0]
            root = node_id.split(".", 1)[0]
            if key not in keep and root not in roots:
                del self._objects[key]

    def get(self, node_id: str, class_type: str, factory: type) -> Any:
        if not self.enabled:
            return factory()
        key = (node_id, class_type)
        obj = self._objects.get(key)
        if obj is None or type(obj) is not factory:  # a class re-registered from a cell is a new class
            obj = self._objects[key] = factory()
        return obj

    def clear(self) -> None:
        self._objects.clear()


def make_output_cache(mode: str, size: int = 0) -> OutputCache:
    """The output cache for a mode name (docs/execution.md §4.1; `lru` with size 0 is classic)."""
    if mode == "lru" and size > 0:
        return LRUCache(size)
    if mode == "ram":
        return RAMPressureCache()
    if mode == "none":
        return NullCache()
    return HierarchicalCache()
