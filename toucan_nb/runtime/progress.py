"""Per-prompt node progress (docs/execution.md §5.2): its one fold, and the executor's registry.

`ProgressSnapshot` is ComfyUI's full `progress_state` map of one prompt, folded from node entries
in order; it is the only fold of them: the executor keeps one per prompt (`ProgressRegistry`),
and the route set keeps one per prompt to build its frames (`api.wire.ProgressStateFrames`).

`ProgressRegistry` is owned by the executor for one prompt: every start, update and finish
publishes a `ProgressState` carrying the changed entry. Executor thread, plus node code on threads
it started (entries are replaced atomically). A snapshot belongs to the thread that folds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from toucan_nb.runtime.events import EventBus, NodeProgress, ProgressState
from toucan_nb.runtime.prompt import DynamicPrompt


class ProgressSnapshot:
    """The node entries of one prompt, each where it was first seen, the newest state of each.

    Pending nodes are kept in place but not listed (ComfyUI lists only nodes that started).
    `version` counts changes, so a consumer can tell whether what it built from it is current.
    Not thread-safe.
    """

    __slots__ = ("prompt_id", "nodes", "version")

    def __init__(self, prompt_id: str) -> None:
        self.prompt_id = prompt_id
        self.nodes: dict[str, NodeProgress] = {}
        self.version = 0

    def set(self, entry: NodeProgress) -> None:
        self.nodes[entry.node_id] = entry
        self.version += 1

    def apply(self, event: ProgressState) -> None:
        """Fold one `ProgressState` event."""
        if event.entry is not None:
            self.set(event.entry)

    def get(self, node_id: str) -> NodeProgress | None:
        return self.nodes.get(node_id)

    def listed(self) -> Iterator[NodeProgress]:
        """The entries the wire lists: every node that is not pending, in first-seen order."""
        return (entry for entry in self.nodes.values() if entry.state != "pending")

    def __len__(self) -> int:
        return len(self.nodes)

    def data(self) -> dict[str, Any]:
        """The `progress_state` wire data (docs/execution.md §5.2)."""
        return {"prompt_id": self.prompt_id, "nodes": {e.node_id: e.to_wire() for e in self.listed()}}


class ProgressRegistry:
    """The progress entries of one prompt, published as they change."""

    def __init__(self, prompt_id: str, dynprompt: DynamicPrompt, bus: EventBus, client_id: str | None) -> None:
        self.prompt_id = prompt_id
        self.dynprompt = dynprompt
        self.bus = bus
        self.client_id = client_id
        self.snapshot = ProgressSnapshot(prompt_id)

    def _set(self, node_id: str, state: str, value: float, max_value: float) -> None:
        dyn = self.dynprompt
        if node_id in dyn.ephemeral_parents:
            entry = NodeProgress(node_id, state, value, max_value, self.prompt_id,
                                 dyn.get_display_node_id(node_id), dyn.get_parent_node_id(node_id),
                                 dyn.get_real_node_id(node_id))
        else:  # an original node is its own display and real node
            entry = NodeProgress(node_id, state, value, max_value, self.prompt_id, node_id, None, node_id)
        self.snapshot.set(entry)
        if self.bus.has_subscribers:
            self.bus.publish(ProgressState(entry=entry, prompt_id=self.prompt_id, client_id=self.client_id))

    def start_progress(self, node_id: str) -> None:
        self._set(node_id, "running", 0.0, 1.0)

    def update_progress(self, node_id: str, value: float, max_value: float) -> None:
        self._set(node_id, "running", value, max_value)

    def finish_progress(self, node_id: str) -> None:
        entry = self.snapshot.get(node_id)
        max_value = entry.max if entry is not None else 1.0
        self._set(node_id, "finished", max_value, max_value)
