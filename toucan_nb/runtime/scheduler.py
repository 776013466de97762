"""ExecutionList: which node runs next (docs/execution.md §3.2, §3.6, §3.9, §3.10).

Same rules as ComfyUI's TopologicalSort/ExecutionList (strong links, lazy inputs, external blocks for
async nodes, pinned input values, output-first picking, cycle blame), but ready nodes are tracked
as they become ready instead of rescanning every pending node at each step, so scheduling a node
costs O(its links) and a long chain stays linear. Executor thread only; `unblock` callbacks run
on the executor's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from toucan_nb.runtime.caches import CacheEntry, LRUCache, OutputCache
from toucan_nb.runtime.errors import DependencyCycleError
from toucan_nb.runtime.events import NodeFailure
from toucan_nb.runtime.graph_utils import is_link
from toucan_nb.runtime.prompt import DynamicPrompt


class CycleReport:
    """What the executor reports for a dependency cycle (docs/execution.md §3.9)."""

    __slots__ = ("node_id", "error")

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.error = DependencyCycleError("Dependency cycle detected")

    @property
    def failure(self) -> NodeFailure:
        """What `execution_error` reports for the cycle."""
        return NodeFailure(self.node_id, str(self.error), "graph.DependencyCycleError", current_inputs=[])


class ExecutionList:
    """Pending nodes of one prompt, their blockers, and the values pinned for their inputs."""

    def __init__(self, dynprompt: DynamicPrompt, output_cache: OutputCache,
                 lazy_inputs: Callable[[str], frozenset[str]], is_output: Callable[[str], bool],
                 is_async: Callable[[str], bool]) -> None:
        self.dynprompt = dynprompt
        self.output_cache = output_cache
        self._lazy_inputs = lazy_inputs
        self._is_output = is_output
        self._is_async = is_async
        self._touch = isinstance(output_cache, LRUCache)  # reads keep LRU entries warm
        self._order = 0
        self.pending: dict[str, int] = {}  # node -> insertion order
        self.block_count: dict[str, int] = {}
        self.blocking: dict[str, dict[str, dict[Any, bool]]] = {}  # from -> to -> sockets
        self.ready: dict[str, None] = {}
        self.external_blocks = 0
        self.unblocked = asyncio.Event()
        self.staged: str | None = None
        self.pinned: dict[str, dict[str, CacheEntry | None]] = {}  # to -> from -> value
        self.listeners: dict[str, set[str]] = {}  # from -> nodes that pinned it

    # -- building -----------------------------------------------------------------------------
    def is_cached(self, node_id: str) -> bool:
        return self.output_cache.get(node_id) is not None

    def add_node(self, node_id: str, include_lazy: bool = False,
                 subgraph_nodes: set[str] | None = None) -> None:
        """Add `node_id` and every uncached, non-lazy ancestor it needs (iterative DFS)."""
        stack = [node_id]
        links: list[tuple[str, Any, str]] = []
        while stack:
            unique_id = stack.pop()
            if unique_id in self.pending:
                continue
            self._order += 1
            self.pending[unique_id] = self._order
            self.block_count[unique_id] = 0
            self.blocking[unique_id] = {}
            self.ready[unique_id] = None
            inputs = self.dynprompt.get_node(unique_id)["inputs"]
            lazy = () if include_lazy else self._lazy_inputs(unique_id)
            for input_name, value in inputs.items():
                if not is_link(value):
                    continue
                from_id, from_socket = value
                if subgraph_nodes is not None and from_id not in subgraph_nodes:
                    continue
                if input_name not in lazy:
                    if from_id not in self.pending and not self.is_cached(from_id):
                        stack.append(from_id)
                    links.append((from_id, from_socket, unique_id))
        for link in links:
            self.add_strong_link(*link)

    def add_strong_link(self, from_id: str, from_socket: Any, to_id: str) -> None:
        cached = self.output_cache.get(from_id)
        if cached is None:
            self.add_node(from_id)
            targets = self.blocking[from_id]
            if to_id not in targets:
                targets[to_id] = {}
                self._block(to_id)
            targets[to_id][from_socket] = True
        self._pin(from_id, to_id, cached)

    def cache_link(self, from_id: str, to_id: str) -> None:
        """Pin `from_id`'s current cached value as an input of `to_id` and listen for updates."""
        self._pin(from_id, to_id, self.output_cache.get(from_id))

    def _pin(self, from_id: str, to_id: str, value: CacheEntry | None) -> None:
        pinned = self.pinned.get(to_id)
        if pinned is None:
            pinned = self.pinned[to_id] = {}
        pinned[from_id] = value
        listeners = self.listeners.get(from_id)
        if listeners is None:
            listeners = self.listeners[from_id] = set()
        listeners.add(to_id)

    def make_input_strong_link(self, to_id: str, input_name: str) -> None:
        value = self.dynprompt.get_node(to_id)["inputs"][input_name]
        from_id, from_socket = value
        self.add_strong_link(from_id, from_socket, to_id)

    def _block(self, node_id: str) -> None:
        self.block_count[node_id] += 1
        self.ready.pop(node_id, None)

    def _unblock(self, node_id: str) -> None:
        count = self.block_count[node_id] - 1
        self.block_count[node_id] = count
        if count == 0 and node_id in self.pending:
            self.ready[node_id] = None

    def add_external_block(self, node_id: str) -> Callable[[], None]:
        """Block `node_id` until the returned function runs (on the executor's loop)."""
        self.external_blocks += 1
        self._block(node_id)

        def unblock() -> None:
            self.external_blocks -= 1
            self._unblock(node_id)
            self.unblocked.set()

        return unblock

    # -- values ---------------------------------------------------------------------------------
    def get_cache(self, from_id: str, to_id: str) -> CacheEntry | None:
        value = self.pinned.get(to_id, {}).get(from_id)
        if value is not None and self._touch:
            self.output_cache.set(from_id, value)  # a read keeps the entry warm (LRU)
        return value

    def cache_update(self, node_id: str, value: CacheEntry) -> None:
        for to_id in self.listeners.get(node_id, ()):
            self.pinned.setdefault(to_id, {})[node_id] = value

    # -- staging --------------------------------------------------------------------------------
    def is_empty(self) -> bool:
        return not self.pending

    async def stage_node_execution(self) -> str | CycleReport:
        """Pick the next node; wait for async work if nothing is ready; report a cycle otherwise."""
        assert self.staged is None, "a node is already staged"
        while not self.ready and self.external_blocks > 0:
            await self.unblocked.wait()
            self.unblocked.clear()
        if not self.ready:
            cycle = self.get_nodes_in_cycle()
            blamed = cycle[0]
            for node_id in cycle:
                display = self.dynprompt.get_display_node_id(node_id)
                if display != node_id:
                    blamed = display
                    break
            return CycleReport(blamed)
        self.staged = self._pick()
        return self.staged

    def _pick(self) -> str:
        ready = self.ready
        if len(ready) == 1:
            return next(iter(ready))
        pending = self.pending
        candidates = sorted(ready, key=pending.__getitem__)
        is_output = self._is_output
        for node_id in candidates:
            if is_output(node_id) or self._is_async(node_id):
                return node_id
        for node_id in candidates:
            if any(is_output(b) for b in self.blocking[node_id]):
                return node_id
        for node_id in candidates:
            for b in self.blocking[node_id]:
                if any(is_output(b1) for b1 in self.blocking.get(b, ())):
                    return node_id
        return candidates[0]

    def unstage_node_execution(self) -> None:
        self.staged = None

    def complete_node_execution(self) -> None:
        node_id = self.staged
        assert node_id is not None
        del self.pending[node_id]
        self.ready.pop(node_id, None)
        for to_id in self.blocking.pop(node_id, {}):
            self._unblock(to_id)
        del self.block_count[node_id]
        self.pinned.pop(node_id, None)
        self.listeners.pop(node_id, None)
        self.staged = None

    def get_nodes_in_cycle(self) -> list[str]:
        blocked_by: dict[str, set[str]] = {n: set() for n in self.pending}
        for from_id, targets in self.blocking.items():
            for to_id, sockets in targets.items():
                if to_id in blocked_by and any(sockets.values()):
                    blocked_by[to_id].add(from_id)
        to_remove = [n for n, b in blocked_by.items() if not b]
        while to_remove:
            for n in to_remove:
                for deps in blocked_by.values():
                    deps.discard(n)
                del blocked_by[n]
            to_remove = [n for n, b in blocked_by.items() if not b]
        return list(blocked_by)
