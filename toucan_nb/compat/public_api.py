"""ComfyUI's public node API objects: `ComfyAPI` / `ComfyAPISync` per version (docs/execution.md §5.3).

Served as `comfy_api.latest`, `comfy_api.v0_0_2` and `comfy_api.v0_0_1`; the versions differ
only in `VERSION`. Each class is a per-class singleton, so `ComfyAPI()` at a pack's import time
and later calls share one object, as ComfyUI's `ProxiedSingleton` does.

`ComfyAPISync.execution.set_progress` does its work on the calling thread: it never touches an
event loop, so a sync node running on the executor's loop thread may call it (ComfyUI instead
runs a private loop in a worker thread with copied contextvars; the effect is the same).
The V3 node API (`comfy_api.latest.io` / `ui`) lives in `toucan_nb.compat.v3`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from toucan_nb.compat import progress


class _Singleton:
    """One instance per concrete class (ComfyUI's ProxiedSingleton)."""

    _instances: ClassVar[dict[type, Any]] = {}

    def __new__(cls) -> Any:
        instance = _Singleton._instances.get(cls)
        if instance is None:
            instance = super().__new__(cls)
            instance._setup()
            _Singleton._instances[cls] = instance
        return instance

    def _setup(self) -> None:
        """Initialise the singleton once (instead of __init__, which runs on every call)."""


class AsyncExecution:
    """`ComfyAPI().execution`."""

    async def set_progress(self, value: float, max_value: float, node_id: str | None = None,
                           preview_image: Any = None, ignore_size_limit: bool = False) -> None:
        """Report progress (and an optional preview) for `node_id` or the running node."""
        progress.set_progress(value, max_value, node_id, preview_image, ignore_size_limit)


class SyncExecution:
    """`ComfyAPISync().execution`: the same calls, synchronous."""

    def set_progress(self, value: float, max_value: float, node_id: str | None = None,
                     preview_image: Any = None, ignore_size_limit: bool = False) -> None:
        """Report progress (and an optional preview) for `node_id` or the running node."""
        progress.set_progress(value, max_value, node_id, preview_image, ignore_size_limit)


class ComfyAPI_latest(_Singleton):  # noqa: N801 (ComfyUI's name)
    VERSION: ClassVar[str] = "latest"
    STABLE: ClassVar[bool] = False
    Execution = AsyncExecution
    execution: AsyncExecution

    def _setup(self) -> None:
        self.execution = AsyncExecution()


class ComfyAPISync_latest(_Singleton):  # noqa: N801
    VERSION: ClassVar[str] = "latest"
    STABLE: ClassVar[bool] = False
    Execution = SyncExecution
    execution: SyncExecution

    def _setup(self) -> None:
        self.execution = SyncExecution()


class ComfyAPIAdapter_v0_0_2(ComfyAPI_latest):  # noqa: N801
    VERSION: ClassVar[str] = "0.0.2"


class ComfyAPISyncAdapter_v0_0_2(ComfyAPISync_latest):  # noqa: N801
    VERSION: ClassVar[str] = "0.0.2"


class ComfyAPIAdapter_v0_0_1(ComfyAPI_latest):  # noqa: N801
    VERSION: ClassVar[str] = "0.0.1"


class ComfyAPISyncAdapter_v0_0_1(ComfyAPISync_latest):  # noqa: N801
    VERSION: ClassVar[str] = "0.0.1"


class ComfyExtension(ABC):
    """A V3 extension: what a pack's `comfy_entrypoint()` returns; the loader registers the node
    classes `get_node_list()` lists (docs/execution.md §1.10)."""

    async def on_load(self) -> None:  # noqa: B027 (optional hook, empty on purpose)
        """Never called by ComfyUI either (docs/execution.md §1.10)."""

    @abstractmethod
    async def get_node_list(self) -> list[type[Any]]:
        """The V3 node classes this extension provides."""
