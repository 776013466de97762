"""`RuntimeInterface`: what the route set (`toucan_nb.api`) may use of a runtime.

The route set is written once against this protocol, not against `Runtime` itself:
`toucan_nb.runtime.runtime.Runtime` implements it, and the route-set tests serve a smaller
stand-in built from the same queue, history, registry and folders (tests/unit/api/support.py).
`Submission`, the answer to a queued prompt, is defined here because it is part of the contract.

Threads: the members may be called from any thread (the route set calls them from its IO loop
and its worker pool); `Runtime`'s docstring says how it keeps that true.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from toucan_nb.runtime.events import EventBus
    from toucan_nb.runtime.folders import Folders
    from toucan_nb.runtime.history import History
    from toucan_nb.runtime.queue import PromptQueue, QueueItem
    from toucan_nb.runtime.registry import NodeRegistry

__all__ = ["CustomNodeSettings", "LoadedPack", "PackLoadReport", "RuntimeInterface", "Submission"]


@dataclass(frozen=True, slots=True)
class Submission:
    """The answer to a queued prompt: POST /prompt's 200 body, typed."""

    prompt_id: str
    number: int | float
    node_errors: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {"prompt_id": self.prompt_id, "number": self.number, "node_errors": self.node_errors}


class CustomNodeSettings(Protocol):
    """The part of a runtime's configuration the routes read: where custom node packs come from."""

    @property
    def disable_all_custom_nodes(self) -> bool: ...

    @property
    def custom_node_dirs(self) -> list[str]: ...


class LoadedPack(Protocol):
    """One custom node pack that loaded: its name and its directory (or module file)."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> str: ...


class PackLoadReport(Protocol):
    """What loading custom node packs gave (`toucan_nb.runtime.loader.LoadReport`)."""

    @property
    def loaded(self) -> Sequence[LoadedPack]: ...


class RuntimeInterface(Protocol):
    """A started (or starting) runtime as the route set sees it: state to read, one call per route.

    Raises: `submit` raises `PromptValidationError`; the rest raise nothing on purpose.
    """

    @property
    def folders(self) -> Folders: ...

    @property
    def registry(self) -> NodeRegistry: ...

    @property
    def events(self) -> EventBus: ...

    @property
    def queue(self) -> PromptQueue: ...

    @property
    def history(self) -> History: ...

    @property
    def config(self) -> CustomNodeSettings: ...

    @property
    def load_report(self) -> PackLoadReport | None: ...

    def allocate_number(self, front: bool = False) -> int:
        """Advance ComfyUI's priority counter (every POST /prompt without `number` does)."""
        ...

    def submit(self, prompt: dict[str, Any], *, prompt_id: str | None = None, client_id: str | None = None,
               extra_data: dict[str, Any] | None = None, number: int | float | None = None, front: bool = False,
               partial_execution_targets: list[str] | None = None,
               has_client_id: bool | None = None) -> Submission:
        """Validate and queue a prompt."""
        ...

    def queue_listing(self) -> tuple[list[QueueItem], list[QueueItem]]:
        """(running, pending) for /queue and /api/jobs: this runtime's, then those of the other
        runtimes persisting into the same folder."""
        ...

    def delete_pending(self, ids: Iterable[str]) -> int:
        """Remove pending prompts; returns how many were removed."""
        ...

    def clear_pending(self) -> None:
        """Remove every pending prompt."""
        ...

    def interrupt(self, prompt_id: str | None = None) -> bool:
        """Interrupt the running prompt (only if it is `prompt_id`, when given)."""
        ...

    def free(self, unload_models: bool = False, free_memory: bool = False) -> None:
        """Unload models / drop caches after the current prompt (now if idle)."""
        ...

    def object_info(self, class_type: str | None = None) -> dict[str, Any]:
        """GET /object_info[/{class_type}]."""
        ...

    def devices(self) -> list[dict[str, Any]]:
        """The /system_stats `devices` entries: the torch device, or one per scale-out worker."""
        ...
