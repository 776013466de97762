"""Small V1 node classes for the notebook tests (no torch unless a test needs it)."""

from __future__ import annotations

import threading
from typing import Any

from toucan_nb.runtime.context import get_executing_context


class Source:
    """Two outputs, named; a required widget with a range and an optional string."""

    DESCRIPTION = "Makes an image and a mask."
    CATEGORY = "test/source"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("image", "mask")
    OUTPUT_TOOLTIPS = ("The image.", "The mask.")
    FUNCTION = "make"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"width": ("INT", {"default": 4, "min": 1, "max": 64, "tooltip": "Width in pixels."})},
                "optional": {"label": ("STRING", {"multiline": True})}}

    def make(self, width: int, label: str = "") -> tuple[Any, Any]:
        return (f"image{width}{label}", f"mask{width}")


class Blend:
    """Links first, then widgets with defaults, a combo, an optional link and odd input names."""

    CATEGORY = "test/blend"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "blend"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "image1": ("IMAGE",),
                "factor": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01}),
                "image2": ("IMAGE", {}),
                "mode": (["normal", "multiply", "screen"],),
                "lambda": ("INT", {"default": 1}),
                "clip l": ("STRING", {"default": ""}),
            },
            "optional": {"mask": ("MASK",), "strength": ("FLOAT", {"default": 1.0})},
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    def blend(self, **kwargs: Any) -> tuple[Any]:
        return (kwargs,)


class Sampler:
    """A seed (frontend control widget), a combo with control_after_generate, a forceInput INT."""

    CATEGORY = "test/sampling"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "sample"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": ("MODEL",),
                "seed": ("INT", {"default": 0, "min": 0, "max": 2**64 - 1}),
                "steps": ("INT", {"default": 20, "min": 1, "max": 100}),
                "sampler_name": ("COMBO", {"options": ["euler", "dpm"], "control_after_generate": True}),
                "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0}),
            },
            "optional": {"offset": ("INT", {"default": 0, "forceInput": True}),
                         "tags": ("STRING", {"default": "a"})},
        }

    def sample(self, **kwargs: Any) -> tuple[Any]:
        return (kwargs,)


class LoadImg:
    """An upload combo: the frontend appends an upload button after the required inputs."""

    CATEGORY = "test/image"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image": (["a.png", "b.png"], {"image_upload": True}),
                             "channel": (["alpha", "red"],)}}

    def load(self, image: str, channel: str) -> tuple[Any, Any]:
        return (image, channel)


class Save:
    OUTPUT_NODE = True
    CATEGORY = "test/output"
    RETURN_TYPES = ()
    FUNCTION = "save"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"images": ("IMAGE",), "filename_prefix": ("STRING", {"default": "out"})}}

    def save(self, images: Any, filename_prefix: str) -> dict[str, Any]:
        return {"ui": {"text": [f"{filename_prefix}:{images}"]}}


# -- nodes that run (end-to-end tests) ------------------------------------------------------------
class Number:
    CATEGORY = "test/math"
    RETURN_TYPES = ("INT",)
    FUNCTION = "make"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": ("INT", {"default": 0, "min": -1000, "max": 1000})}}

    def make(self, value: int) -> tuple[int]:
        return (value,)


class Add:
    CATEGORY = "test/math"
    RETURN_TYPES = ("INT",)
    FUNCTION = "add"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"a": ("INT", {"default": 0}), "b": ("INT", {"default": 0})}}

    def add(self, a: int, b: int) -> tuple[int]:
        return (a + b,)


class Range:
    CATEGORY = "test/math"
    RETURN_TYPES = ("INT", "INT")
    RETURN_NAMES = ("values", "count")
    OUTPUT_IS_LIST = (True, False)
    FUNCTION = "make"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"n": ("INT", {"default": 3, "min": 0, "max": 100})}}

    def make(self, n: int) -> tuple[list[int], int]:
        return (list(range(n)), n)


class Concat:
    """Takes a list constant (wrapped as {"__value__": [...]} on the wire)."""

    CATEGORY = "test/math"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "join"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"items": ("LIST",), "sep": ("STRING", {"default": ","})}}

    def join(self, items: list[Any], sep: str) -> tuple[str]:
        return (sep.join(str(i) for i in items),)


class Fail:
    CATEGORY = "test/math"
    RETURN_TYPES = ("INT",)
    FUNCTION = "boom"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": ("INT", {"default": 0})}}

    def boom(self, value: int) -> tuple[int]:
        raise ValueError(f"boom {value}")


class Gate:
    """Reports progress, then blocks until the test opens `Gate.open` (checking for interrupts)."""

    CATEGORY = "test/flow"
    RETURN_TYPES = ("INT",)
    FUNCTION = "wait"
    started = threading.Event()
    open = threading.Event()

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": ("INT", {"default": 0}), "key": ("STRING", {"default": ""})}}

    @classmethod
    def IS_CHANGED(cls, **kwargs: Any) -> float:
        return float("nan")

    def wait(self, value: int, key: str) -> tuple[int]:
        hooks = get_executing_context().hooks
        hooks.update_progress(get_executing_context().node_id, 1, 4)
        Gate.started.set()
        while not Gate.open.wait(0.01):
            hooks.check_interrupt()
        return (value,)


class Previewer:
    """Sends `frames` previews (PIL images) through the progress hook, then returns."""

    CATEGORY = "test/flow"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"frames": ("INT", {"default": 10}), "key": ("STRING", {"default": ""})}}

    def run(self, frames: int, key: str) -> tuple[int]:
        from PIL import Image

        ctx = get_executing_context()
        for i in range(frames):
            img = Image.new("RGB", (8, 8), (i % 256, 0, 0))
            ctx.hooks.update_progress(ctx.node_id, i + 1, frames, ("JPEG", img, None))
        return (frames,)


RUNNING_NODES = {cls.__name__: cls for cls in (Number, Add, Range, Concat, Fail, Gate, Previewer)}
BUILDER_NODES = {cls.__name__: cls for cls in (Source, Blend, Sampler, LoadImg, Save)}
