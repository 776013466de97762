"""Output capture: how node outputs get back to the notebook as tensors, with no executor special case.

When a cell asks for an output's value, `execution.py` adds one hidden node per wanted output to
the prompt it submits (never to the user's `Workflow`):

    "_capture_<n>": {"class_type": "ToucanCapture",
                     "inputs": {"value": [<node_id>, <slot>], "prompt_key": <prompt_id>}}

`ToucanCapture` is an ordinary V1 node class: OUTPUT_NODE (so it is an execution root),
INPUT_IS_LIST (so it receives the whole list of values the output produced, list outputs and
mapped nodes included), `RETURN_TYPES = ()` and no `ui` (so history and the wire show nothing).
It hands its input back to the submitter (`RunHooks.hand_back`): the values travel with the
prompt's result (`PromptResult.handed_back`, also from a scale-out worker in another process), and
the runtime gives them to its `hand_back_sink`, a `CaptureStore`, under (prompt_id, node_id), before
the prompt's future resolves. The constant input `prompt_key` (the prompt_id) makes the node's
cache signature differ on every submission, and IS_CHANGED returns NaN as well: the capture always
runs, while its upstream may be served from cache (docs/execution.md §1.6, §4.2).

The store keeps values only for prompts a notebook announced (`expect`), so the class appearing in
the web UI's node list cannot make it grow. The thread that finishes a prompt calls `put_all`; the
handle that owns the prompt calls `take`. Every method is thread-safe.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from toucan_nb.runtime.context import get_executing_context

if TYPE_CHECKING:
    from toucan_nb.runtime.runtime import Runtime

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

    def put_all(self, prompt_id: str, values: dict[str, list[Any]]) -> None:
        """Store every capture of a finished prompt (`Runtime.hand_back_sink`); nothing is kept
        when no notebook expects it."""
        with self._lock:
            slot = self._values.get(prompt_id)
            if slot is not None:
                slot.update(values)

    def take(self, prompt_id: str) -> dict[str, list[Any]]:
        """Every capture of `prompt_id`, forgetting them (and the prompt)."""
        with self._lock:
            return self._values.pop(prompt_id, {})

    def pending_prompts(self) -> list[str]:
        with self._lock:
            return list(self._values)


class ToucanCapture:
    """Hands its input to the notebook cell that queued the prompt (see the module docstring)."""

    DESCRIPTION = ("Hands a value to the notebook cell that queued the prompt. Added by "
                   "toucan_nb's Workflow.run/queue; in the web UI it does nothing.")
    CATEGORY = "toucan_nb/internal"
    RETURN_TYPES = ()
    FUNCTION = "capture"
    OUTPUT_NODE = True
    INPUT_IS_LIST = True

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
        context = get_executing_context()
        if context is not None and context.hooks is not None:
            context.hooks.hand_back(str(unique_id[0]), list(value))
        return ()


def install_capture(runtime: Runtime) -> CaptureStore:
    """Register `ToucanCapture` in the runtime's registry and make a `CaptureStore` receive what the
    runtime's prompts hand back, unless done already; return that store."""
    sink = runtime.hand_back_sink
    store = getattr(sink, "__self__", None)
    if not isinstance(store, CaptureStore):
        store = CaptureStore()
        runtime.hand_back_sink = store.put_all
    if runtime.registry.find(CAPTURE_CLASS_TYPE) is not ToucanCapture:
        # process_local: a scale-out backend makes sure its workers have it (they import it).
        runtime.registry.register(CAPTURE_CLASS_TYPE, ToucanCapture, display_name="Notebook Capture (toucan_nb)",
                                  python_module="custom_nodes.toucan_nb", process_local=True)
    return store
