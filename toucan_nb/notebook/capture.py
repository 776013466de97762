"""Output capture: how node outputs get back to the notebook as tensors, with no executor special case.

When a cell asks for an output's value, `execution.py` adds one hidden node per wanted output to
the prompt it submits (never to the user's `Workflow`):

    "_capture_<n>": {"class_type": "ToucanCapture",
                     "inputs": {"value": [<node_id>, <slot>], "prompt_key": <prompt_id>}}

`ToucanCapture` is an ordinary V1 node class: OUTPUT_NODE (so it is an execution root),
INPUT_IS_LIST (so it receives the whole list of values the output produced, list outputs and
mapped nodes included), `RETURN_TYPES = ()` and no `ui` (so history and the wire show nothing).
It hands its input to a `CaptureStore` under (prompt_id, node_id). The prompt_id arrives as the
constant input `prompt_key`, which also makes the node's cache signature differ on every
submission, and IS_CHANGED returns NaN as well: the capture always runs, while its upstream may be
served from cache (docs/execution.md §1.6, §4.2).

The store keeps values only for prompts a notebook announced (`expect`), so the class appearing in
the web UI's node list cannot make it grow. The executor thread calls `put`; the handle that owns
the prompt calls `take`. Every method is thread-safe.
"""

from __future__ import annotations

import threading
from typing import Any

CAPTURE_CLASS_TYPE = "ToucanCapture"


class CaptureStore:
    """Captured values, by prompt_id then capture node id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[str, list[Any]]] = {}

    def expect(self, prompt_id: str) -> None:
        """Accept captures for `prompt_id` (call before submitting it)."""
        with self._lock:
            self._values.setdefault(prompt_id, {})

    def put(self, prompt_id: str, node_id: str, values: list[Any]) -> bool:
        """Store a capture; False (and nothing kept) when no notebook expects this prompt."""
        with self._lock:
            slot = self._values.get(prompt_id)
            if slot is None:
                return False
            slot[node_id] = values
            return True

    def take(self, prompt_id: str) -> dict[str, list[Any]]:
        """Every capture of `prompt_id`, forgetting them (and the prompt)."""
        with self._lock:
            return self._values.pop(prompt_id, {})

    def pending_prompts(self) -> list[str]:
        with self._lock:
            return list(self._values)


def capture_node_class(store: CaptureStore) -> type:
    """A `ToucanCapture` node class writing into `store`."""

    class ToucanCapture:
        DESCRIPTION = ("Hands a value to the notebook cell that queued the prompt. Added by "
                       "toucan_nb's Workflow.run/queue; in the web UI it does nothing.")
        CATEGORY = "toucan_nb/internal"
        RETURN_TYPES = ()
        FUNCTION = "capture"
        OUTPUT_NODE = True
        INPUT_IS_LIST = True
        capture_store = store

        @classmethod
        def INPUT_TYPES(cls) -> dict[str, Any]:
            return {
                "required": {
                    "value": ("*", {"tooltip": "The output to hand to the notebook."}),
                    "prompt_key": ("STRING", {"default": "", "tooltip": "The prompt_id it belongs to."}),
                },
                "hidden": {"unique_id": "UNIQUE_ID"},
            }

        @classmethod
        def IS_CHANGED(cls, **kwargs: Any) -> float:
            return float("nan")

        def capture(self, value: list[Any], prompt_key: list[str], unique_id: list[str]) -> tuple[()]:
            # INPUT_IS_LIST: every input arrives as the list of its per-call values.
            store.put(str(prompt_key[0]), str(unique_id[0]), list(value))
            return ()

    return ToucanCapture


def install_capture(registry: Any) -> CaptureStore:
    """Register `ToucanCapture` in a `NodeRegistry` unless it is there; return its store."""
    existing = registry.find(CAPTURE_CLASS_TYPE)
    store = getattr(existing, "capture_store", None)
    if isinstance(store, CaptureStore):
        return store
    store = CaptureStore()
    registry.register(CAPTURE_CLASS_TYPE, capture_node_class(store), display_name="Notebook Capture (toucan_nb)",
                      python_module="custom_nodes.toucan_nb")
    return store
