"""Per-prompt node progress (execution.md §5.2), owned by the executor for one prompt.

Every start, update and finish publishes a `ProgressState` carrying the changed entry.
Executor thread, plus node code on threads it started (entries are replaced atomically).
"""

from __future__ import annotations

from typing import Any

from toucan_nb.runtime.events import EventBus, NodeProgress, ProgressState
from toucan_nb.runtime.prompt import DynamicPrompt


class ProgressRegistry:
    """The progress entries of one prompt."""

    def __init__(self, prompt_id: str, dynprompt: DynamicPrompt, bus: EventBus, client_id: str | None) -> None:
        self.prompt_id = prompt_id
        self.dynprompt = dynprompt
        self.bus = bus
        self.client_id = client_id
        self.nodes: dict[str, NodeProgress] = {}

    def _set(self, node_id: str, state: str, value: float, max_value: float) -> None:
        dyn = self.dynprompt
        if node_id in dyn.ephemeral_parents:
            entry = NodeProgress(node_id, state, value, max_value, self.prompt_id,
                                 dyn.get_display_node_id(node_id), dyn.get_parent_node_id(node_id),
                                 dyn.get_real_node_id(node_id))
        else:  # an original node is its own display and real node
            entry = NodeProgress(node_id, state, value, max_value, self.prompt_id, node_id, None, node_id)
        self.nodes[node_id] = entry
        if self.bus.has_subscribers:
            self.bus.publish(ProgressState(entry=entry, prompt_id=self.prompt_id, client_id=self.client_id))

    def start_progress(self, node_id: str) -> None:
        self._set(node_id, "running", 0.0, 1.0)

    def update_progress(self, node_id: str, value: float, max_value: float) -> None:
        self._set(node_id, "running", value, max_value)

    def finish_progress(self, node_id: str) -> None:
        entry = self.nodes.get(node_id)
        max_value = entry.max if entry is not None else 1.0
        self._set(node_id, "finished", max_value, max_value)

    def snapshot(self) -> dict[str, Any]:
        return {k: v.to_wire() for k, v in self.nodes.items() if v.state != "pending"}
