"""comfy_api's ComfyAPI / ComfyAPISync `execution.set_progress` (docs/execution.md §5.3)."""

from __future__ import annotations

import asyncio
import threading

import pytest
import torch
from PIL import Image

from .conftest import running


def test_versions_and_singletons(runtime):
    import comfy_api.latest as latest
    import comfy_api.v0_0_1 as v1
    import comfy_api.v0_0_2 as v2

    assert (latest.ComfyAPI.VERSION, v2.ComfyAPI.VERSION, v1.ComfyAPI.VERSION) == ("latest", "0.0.2", "0.0.1")
    assert v2.ComfyAPISync.VERSION == "0.0.2"
    assert v2.ComfyAPI() is v2.ComfyAPI() and v2.ComfyAPISync() is v2.ComfyAPISync()
    assert v2.ComfyAPI() is not latest.ComfyAPI()
    assert asyncio.iscoroutinefunction(v2.ComfyAPI().execution.set_progress)
    assert not asyncio.iscoroutinefunction(v2.ComfyAPISync().execution.set_progress)


def test_async_set_progress_uses_the_running_node(runtime, hooks):
    from comfy_api.v0_0_2 import ComfyAPI

    api = ComfyAPI()

    async def node() -> None:
        with running(hooks, "4"):
            await api.execution.set_progress(value=0.5, max_value=1.0)
            await api.execution.set_progress(0.7, 1.0, node_id="99")

    asyncio.run(node())
    # Per-node progress only: no legacy event, no preview, no interrupt check.
    assert hooks.updates == [("4", 0.5, 1.0, None, False), ("99", 0.7, 1.0, None, False)]
    assert hooks.checks == 0


def test_set_progress_needs_a_node(runtime):
    from comfy_api.v0_0_2 import ComfyAPISync

    with pytest.raises(ValueError, match="node_id must be provided"):
        ComfyAPISync().execution.set_progress(value=1, max_value=2)


def test_sync_set_progress_from_a_sync_node_on_the_loop_thread(runtime, hooks):
    from comfy_api.v0_0_2 import ComfyAPISync

    api_sync = ComfyAPISync()
    done = threading.Event()

    def sync_node() -> None:  # what the executor calls on its loop thread, inside the node context
        with running(hooks, "5"):
            for step in range(3):
                api_sync.execution.set_progress(value=step / 2, max_value=1.0)
        done.set()

    async def loop_body() -> None:
        assert asyncio.get_running_loop().is_running()
        sync_node()

    asyncio.run(loop_body())
    assert done.is_set()
    assert [u[:3] for u in hooks.updates] == [("5", 0.0, 1.0), ("5", 0.5, 1.0), ("5", 1.0, 1.0)]


def test_preview_image_conversion(runtime, hooks):
    from comfy_api.latest import ComfyAPISync

    execution = ComfyAPISync().execution
    runtime.config.preview_size = 256
    pil = Image.new("RGB", (8, 8), (255, 0, 0))
    tensor = torch.zeros((2, 4, 6, 3))
    tensor[0, ..., 1] = 1.0
    ready = ("PNG", pil, 64)
    with running(hooks, "3"):
        execution.set_progress(1, 4, preview_image=pil)
        execution.set_progress(2, 4, preview_image=pil, ignore_size_limit=True)
        execution.set_progress(3, 4, preview_image=tensor)
        execution.set_progress(4, 4, preview_image=ready)
    previews = [u[3] for u in hooks.updates]
    assert previews[0] == ("JPEG", pil, 256)
    assert previews[1] == ("JPEG", pil, None)
    fmt, image, size = previews[2]
    assert (fmt, size, image.size, image.mode) == ("JPEG", 256, (6, 4), "RGB")
    assert image.getpixel((0, 0)) == (0, 255, 0)  # first image of the batch, 0..1 -> 0..255
    assert previews[3] is ready
