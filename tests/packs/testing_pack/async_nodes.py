"""Async nodes: sleeping with a ProgressBar, async validators and lazy checks, async failures,
and expansions into several async nodes (docs/execution.md §3.10)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

import torch
from comfy.comfy_types import IO
from comfy.comfy_types.node_typing import ComfyNodeABC
from comfy.utils import ProgressBar
from comfy_execution.graph_utils import GraphBuilder


class TestSleep(ComfyNodeABC):
    """Waits `seconds` on the event loop, reporting progress in seconds, then passes `value` on."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "value": (IO.ANY, {}),
                "seconds": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 9999.0, "step": 0.01,
                                      "tooltip": "The amount of seconds to sleep."}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "sleep"
    CATEGORY = "_for_testing"

    async def sleep(self, value: Any, seconds: float, unique_id: str) -> tuple[Any]:
        bar = ProgressBar(seconds, node_id=unique_id)
        started, elapsed = time.monotonic(), 0.0
        while elapsed < seconds:
            elapsed = time.monotonic() - started
            bar.update_absolute(elapsed)  # the last update overshoots and is clamped to `seconds`
            await asyncio.sleep(0.01)
        return (value,)


class TestParallelSleep(ComfyNodeABC):
    """An output node that expands into three TestSleeps averaged together."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        sleep = {"default": 0.5, "min": 0.0, "max": 10.0, "step": 0.01}
        return {
            "required": {
                "image1": ("IMAGE",), "image2": ("IMAGE",), "image3": ("IMAGE",),
                "sleep1": ("FLOAT", dict(sleep)), "sleep2": ("FLOAT", dict(sleep)), "sleep3": ("FLOAT", dict(sleep)),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "parallel_sleep"
    CATEGORY = "_for_testing"
    OUTPUT_NODE = True

    def parallel_sleep(self, image1: Any, image2: Any, image3: Any, sleep1: float, sleep2: float,
                       sleep3: float, unique_id: str) -> dict[str, Any]:
        g = GraphBuilder()
        sleeps = [g.node("TestSleep", value=image, seconds=seconds)
                  for image, seconds in ((image1, sleep1), (image2, sleep2), (image3, sleep3))]
        average = g.node("TestVariadicAverage", **{f"input{i}": s.out(0) for i, s in enumerate(sleeps, start=1)})
        return {"result": (average.out(0),), "expand": g.finalize()}


class TestAsyncValidation(ComfyNodeABC):
    """An async VALIDATE_INPUTS that refuses `value > threshold`."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": ("FLOAT", {"default": 5.0}), "threshold": ("FLOAT", {"default": 10.0})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "process"
    CATEGORY = "_for_testing/async"

    @classmethod
    async def VALIDATE_INPUTS(cls, value: float, threshold: float) -> bool | str:
        await asyncio.sleep(0.05)
        if value > threshold:
            return f"Value {value} exceeds threshold {threshold}"
        return True

    def process(self, value: float, threshold: float) -> tuple[Any]:
        return (torch.full((1, 512, 512, 3), value / 10.0),)


class TestAsyncError(ComfyNodeABC):
    """Raises RuntimeError after `error_after` seconds of async work."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": (IO.ANY, {}),
                             "error_after": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 10.0})}}

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "error_execution"
    CATEGORY = "_for_testing/async"

    async def error_execution(self, value: Any, error_after: float) -> tuple[Any]:
        await asyncio.sleep(error_after)
        raise RuntimeError("Intentional async execution error for testing")


class TestAsyncValidationError(ComfyNodeABC):
    """An async VALIDATE_INPUTS that refuses `value > max_value`."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": ("FLOAT", {"default": 5.0}), "max_value": ("FLOAT", {"default": 10.0})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "process"
    CATEGORY = "_for_testing/async"

    @classmethod
    async def VALIDATE_INPUTS(cls, value: float, max_value: float) -> bool | str:
        await asyncio.sleep(0.05)
        if value > max_value:
            return f"Async validation failed: {value} > {max_value}"
        return True

    def process(self, value: float, max_value: float) -> tuple[Any]:
        return (torch.full((1, 512, 512, 3), value / max_value),)


class TestAsyncTimeout(ComfyNodeABC):
    """Waits `operation_time` under `asyncio.wait_for(timeout)`; a timeout becomes a RuntimeError."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": (IO.ANY, {}),
                             "timeout": ("FLOAT", {"default": 1.0, "min": 0.1, "max": 10.0}),
                             "operation_time": ("FLOAT", {"default": 2.0, "min": 0.1, "max": 10.0})}}

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "timeout_execution"
    CATEGORY = "_for_testing/async"

    async def timeout_execution(self, value: Any, timeout: float, operation_time: float) -> tuple[Any]:
        try:
            await asyncio.wait_for(asyncio.sleep(operation_time), timeout=timeout)
        except asyncio.TimeoutError:
            raise RuntimeError(f"Operation timed out after {timeout} seconds") from None
        return (value,)


class TestSyncError(ComfyNodeABC):
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": (IO.ANY, {})}}

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "sync_error"
    CATEGORY = "_for_testing/async"

    def sync_error(self, value: Any) -> tuple[Any]:
        raise RuntimeError("Intentional sync execution error for testing")


class TestAsyncLazyCheck(ComfyNodeABC):
    """An async check_lazy_status: `input1` when `condition`, else `input2`."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"input1": (IO.ANY, {"lazy": True}), "input2": (IO.ANY, {"lazy": True}),
                             "condition": ("BOOLEAN", {"default": True})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "process"
    CATEGORY = "_for_testing/async"

    async def check_lazy_status(self, condition: bool, input1: Any, input2: Any) -> list[str]:
        await asyncio.sleep(0.05)
        wanted, current = ("input1", input1) if condition else ("input2", input2)
        return [wanted] if current is None else []

    def process(self, input1: Any, input2: Any, condition: bool) -> tuple[Any]:
        return (torch.ones((1, 512, 512, 3)),)


class TestDynamicAsyncGeneration(ComfyNodeABC):
    """Expands into `num_async_nodes` TestSleeps (alternating the two images), averaged."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image1": ("IMAGE",), "image2": ("IMAGE",),
                             "num_async_nodes": ("INT", {"default": 3, "min": 1, "max": 10}),
                             "sleep_duration": ("FLOAT", {"default": 0.2, "min": 0.1, "max": 1.0})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "generate_async_workflow"
    CATEGORY = "_for_testing/async"

    def generate_async_workflow(self, image1: Any, image2: Any, num_async_nodes: int,
                                sleep_duration: float) -> dict[str, Any]:
        g = GraphBuilder()
        sleeps = [g.node("TestSleep", value=image1 if i % 2 == 0 else image2, seconds=sleep_duration)
                  for i in range(num_async_nodes)]
        final = sleeps[0] if len(sleeps) == 1 else g.node(
            "TestVariadicAverage", **{f"input{i}": s.out(0) for i, s in enumerate(sleeps, start=1)})
        return {"result": (final.out(0),), "expand": g.finalize()}


class TestAsyncResourceUser(ComfyNodeABC):
    """Holds a named resource while sleeping; using one that is held raises."""

    _in_use: ClassVar[dict[str, bool]] = {}

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": (IO.ANY, {}),
                             "resource_id": ("STRING", {"default": "resource_0"}),
                             "duration": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 1.0})}}

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "use_resource"
    CATEGORY = "_for_testing/async"

    async def use_resource(self, value: Any, resource_id: str, duration: float) -> tuple[Any]:
        if self._in_use.get(resource_id, False):
            raise RuntimeError(f"Resource {resource_id} is already in use!")
        self._in_use[resource_id] = True
        try:
            await asyncio.sleep(duration)
            return (value,)
        finally:
            self._in_use[resource_id] = False


class TestAsyncBatchProcessing(ComfyNodeABC):
    """Inverts a batch one image at a time, sleeping between and advancing a ProgressBar."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"images": ("IMAGE",),
                             "process_time_per_item": ("FLOAT", {"default": 0.1, "min": 0.01, "max": 1.0})},
                "hidden": {"unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "process_batch"
    CATEGORY = "_for_testing/async"

    async def process_batch(self, images: Any, process_time_per_item: float, unique_id: str) -> tuple[Any]:
        bar = ProgressBar(images.shape[0], node_id=unique_id)
        inverted = []
        for image in images.split(1):
            await asyncio.sleep(process_time_per_item)
            inverted.append(1.0 - image)
            bar.update(1)
        return (torch.cat(inverted, dim=0),)


class TestAsyncConcurrentLimit(ComfyNodeABC):
    """At most two of these sleep at once (a semaphore made at class definition)."""

    _semaphore = asyncio.Semaphore(2)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": (IO.ANY, {}),
                             "duration": ("FLOAT", {"default": 0.5, "min": 0.1, "max": 2.0}),
                             "node_id": ("INT", {"default": 0})}}

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "limited_execution"
    CATEGORY = "_for_testing/async"

    async def limited_execution(self, value: Any, duration: float, node_id: int) -> tuple[Any]:
        async with self._semaphore:
            await asyncio.sleep(duration)
            return (value,)


NODES = {
    "TestSleep": TestSleep,
    "TestParallelSleep": TestParallelSleep,
    "TestAsyncValidation": TestAsyncValidation,
    "TestAsyncError": TestAsyncError,
    "TestAsyncValidationError": TestAsyncValidationError,
    "TestAsyncTimeout": TestAsyncTimeout,
    "TestSyncError": TestSyncError,
    "TestAsyncLazyCheck": TestAsyncLazyCheck,
    "TestDynamicAsyncGeneration": TestDynamicAsyncGeneration,
    "TestAsyncResourceUser": TestAsyncResourceUser,
    "TestAsyncBatchProcessing": TestAsyncBatchProcessing,
    "TestAsyncConcurrentLimit": TestAsyncConcurrentLimit,
}
DISPLAY_NAMES = {
    "TestSleep": "Test Sleep",
    "TestParallelSleep": "Test Parallel Sleep",
    "TestAsyncValidation": "Test Async Validation",
    "TestAsyncError": "Test Async Error",
    "TestAsyncValidationError": "Test Async Validation Error",
    "TestAsyncTimeout": "Test Async Timeout",
    "TestSyncError": "Test Sync Error",
    "TestAsyncLazyCheck": "Test Async Lazy Check",
    "TestDynamicAsyncGeneration": "Test Dynamic Async Generation",
    "TestAsyncResourceUser": "Test Async Resource User",
    "TestAsyncBatchProcessing": "Test Async Batch Processing",
    "TestAsyncConcurrentLimit": "Test Async Concurrent Limit",
}
