"""Source nodes: constant images, masks and numbers."""

from __future__ import annotations

from typing import Any

import torch

_SIZE = {"default": 512, "min": 1, "max": 1024 ** 3, "step": 1}
_WIDTH = {"default": 512, "min": 1, "max": 4096 ** 3, "step": 1}
_BATCH = {"default": 1, "min": 1, "max": 1024 ** 3, "step": 1}


def _dims() -> dict[str, Any]:
    return {"height": ("INT", dict(_SIZE)), "width": ("INT", dict(_WIDTH)), "batch_size": ("INT", dict(_BATCH))}


class StubImage:
    """A WHITE, BLACK or NOISE image batch."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"content": (["WHITE", "BLACK", "NOISE"],), **_dims()}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "stub_image"
    CATEGORY = "Testing/Stub Nodes"

    def stub_image(self, content: str, height: int, width: int, batch_size: int) -> tuple[Any]:
        shape = (batch_size, height, width, 3)
        makers = {"WHITE": torch.ones, "BLACK": torch.zeros, "NOISE": torch.rand}
        return (makers[content](shape),)


class StubConstantImage:
    """An image batch filled with one value."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01}),
                             **_dims()}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "stub_constant_image"
    CATEGORY = "Testing/Stub Nodes"

    def stub_constant_image(self, value: float, height: int, width: int, batch_size: int) -> tuple[Any]:
        return (torch.full((batch_size, height, width, 3), float(value)),)


class StubMask:
    """A mask batch filled with one value."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01}),
                             **_dims()}}

    RETURN_TYPES = ("MASK",)
    FUNCTION = "stub_mask"
    CATEGORY = "Testing/Stub Nodes"

    def stub_mask(self, value: float, height: int, width: int, batch_size: int) -> tuple[Any]:
        return (torch.full((batch_size, height, width), float(value)),)


class StubInt:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": ("INT", {"default": 0, "min": -0xFFFFFFFF, "max": 0xFFFFFFFF, "step": 1})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "stub_int"
    CATEGORY = "Testing/Stub Nodes"

    def stub_int(self, value: int) -> tuple[int]:
        return (value,)


class StubFloat:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": ("FLOAT", {"default": 0.0, "min": -1.0e38, "max": 1.0e38, "step": 0.01})}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "stub_float"
    CATEGORY = "Testing/Stub Nodes"

    def stub_float(self, value: float) -> tuple[float]:
        return (value,)


NODES = {
    "StubImage": StubImage,
    "StubConstantImage": StubConstantImage,
    "StubMask": StubMask,
    "StubInt": StubInt,
    "StubFloat": StubFloat,
}
DISPLAY_NAMES = {
    "StubImage": "Stub Image",
    "StubConstantImage": "Stub Constant Image",
    "StubMask": "Stub Mask",
    "StubInt": "Stub Int",
    "StubFloat": "Stub Float",
}
