"""`ExecutionBackend`: who runs the queued prompts, when it is not the runtime's own executor thread.

By default a runtime runs prompts one at a time on its executor thread. A host may hand it a backend
before it starts (scale-out: `toucan_nb.scaleout.RayBackend` runs prompts on Ray workers): the
runtime then keeps its queue, history, store, validation and event bus, and the backend takes
prompts from the queue (`PromptQueue.take`), publishes their events on the runtime's bus, and
reports each end with `Runtime.finish_item`. The runtime package only defines the interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from toucan_nb.runtime.runtime import Runtime


class ExecutionBackend(Protocol):
    """What a runtime needs from whoever executes its prompts. Methods are called from any thread."""

    def start(self, runtime: Runtime) -> None:
        """Begin taking prompts from `runtime.queue` (returns once the backend is ready)."""

    def stop(self, timeout: float) -> None:
        """Stop taking prompts; let running ones end within `timeout` seconds."""

    def interrupt(self, prompt_id: str | None) -> bool:
        """Interrupt a running prompt (every running one for None); False if `prompt_id` is not running."""

    def free(self, unload_models: bool, free_memory: bool) -> None:
        """POST /free: on every place prompts run."""

    @property
    def running_prompt_ids(self) -> list[str]:
        """The prompts running now."""

    def devices(self) -> list[dict[str, Any]]:
        """/system_stats `devices` entries, one per place prompts run."""
