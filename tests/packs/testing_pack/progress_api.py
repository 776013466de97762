"""Nodes reporting progress through the public API: `ComfyAPI` (async) and `ComfyAPISync` (sync),
both made when the pack is imported, as ComfyUI packs do (docs/execution.md §5.3)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from comfy.comfy_types import IO, ComfyNodeABC, InputTypeDict
from comfy_api.v0_0_2 import ComfyAPI, ComfyAPISync

api = ComfyAPI()
api_sync = ComfyAPISync()


def _inputs() -> InputTypeDict:
    return {"required": {"value": (IO.ANY, {}), "sleep_seconds": (IO.FLOAT, {"default": 1.0})}}


class TestAsyncProgressUpdate(ComfyNodeABC):
    """Awaits `ComfyAPI().execution.set_progress` while sleeping `sleep_seconds`."""

    @classmethod
    def INPUT_TYPES(cls) -> InputTypeDict:
        return _inputs()

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "execute"
    CATEGORY = "_for_testing/async"

    async def execute(self, value: Any, sleep_seconds: float) -> tuple[Any]:
        started, elapsed = time.monotonic(), 0.0
        while elapsed < sleep_seconds:
            elapsed = time.monotonic() - started
            await api.execution.set_progress(value=elapsed / sleep_seconds, max_value=1.0)
            await asyncio.sleep(0.01)
        return (value,)


class TestSyncProgressUpdate(ComfyNodeABC):
    """Calls `ComfyAPISync().execution.set_progress` from a sync node (on the executor's loop thread)."""

    @classmethod
    def INPUT_TYPES(cls) -> InputTypeDict:
        return _inputs()

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "execute"
    CATEGORY = "_for_testing/async"

    def execute(self, value: Any, sleep_seconds: float) -> tuple[Any]:
        started, elapsed = time.monotonic(), 0.0
        while elapsed < sleep_seconds:
            elapsed = time.monotonic() - started
            api_sync.execution.set_progress(value=elapsed / sleep_seconds, max_value=1.0)
            time.sleep(0.01)
        return (value,)


NODES = {
    "TestAsyncProgressUpdate": TestAsyncProgressUpdate,
    "TestSyncProgressUpdate": TestSyncProgressUpdate,
}
DISPLAY_NAMES = {
    "TestAsyncProgressUpdate": "Async Progress Update Test Node",
    "TestSyncProgressUpdate": "Sync Progress Update Test Node",
}
