"""Nodes that exercise the executor: lazy inputs, undeclared inputs, IS_CHANGED, VALIDATE_INPUTS
variants, and node expansion (docs/execution.md §1.4, §1.6-1.8, §3.7, §3.9)."""

from __future__ import annotations

from typing import Any

import torch
from comfy_execution.graph_utils import GraphBuilder

from .variants import VariantSupport


def _blank(value: float = 1.0) -> Any:
    return torch.full((1, 512, 512, 3), float(value))


class TestLazyMixImages:
    """`image1` where the mask is 0, `image2` where it is 1; asks only for the images it needs."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image1": ("IMAGE", {"lazy": True}), "image2": ("IMAGE", {"lazy": True}),
                             "mask": ("MASK",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "mix"
    CATEGORY = "Testing/Nodes"

    @staticmethod
    def _all(mask: Any, value: float) -> bool:
        return bool(mask.min() == value and mask.max() == value)

    def check_lazy_status(self, mask: Any, image1: Any, image2: Any) -> list[str]:
        needed = []
        if image1 is None and not self._all(mask, 1.0):
            needed.append("image1")
        if image2 is None and not self._all(mask, 0.0):
            needed.append("image2")
        return needed

    def mix(self, mask: Any, image1: Any, image2: Any) -> tuple[Any]:
        if self._all(mask, 0.0):
            return (image1,)
        if self._all(mask, 1.0):
            return (image2,)
        weights = mask
        while weights.dim() < 3:
            weights = weights.unsqueeze(0)
        weights = weights.unsqueeze(-1)
        return (image1 * (1.0 - weights) + image2 * weights,)


class TestVariadicAverage:
    """The mean of `input1` and the undeclared `input2`, `input3`, ... it is linked to."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"input1": ("IMAGE",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "variadic_average"
    CATEGORY = "Testing/Nodes"

    def variadic_average(self, input1: Any, **kwargs: Any) -> tuple[Any]:
        images = [input1]
        while f"input{len(images) + 1}" in kwargs:
            images.append(kwargs[f"input{len(images) + 1}"])
        return (torch.stack(images).mean(dim=0),)


class TestCustomIsChanged:
    """Passes its image through; IS_CHANGED is NaN (never cached) when `should_change`."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image": ("IMAGE",)}, "optional": {"should_change": ("BOOL", {"default": False})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "custom_is_changed"
    CATEGORY = "Testing/Nodes"

    def custom_is_changed(self, image: Any, should_change: bool = False) -> tuple[Any]:
        return (image,)

    @classmethod
    def IS_CHANGED(cls, should_change: bool = False, *args: Any, **kwargs: Any) -> Any:
        return float("nan") if should_change else False


class TestIsChangedWithConstants:
    """IS_CHANGED sees links as None, so it depends only on `value` (docs/execution.md §1.6)."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image": ("IMAGE",), "value": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "custom_is_changed"
    CATEGORY = "Testing/Nodes"

    def custom_is_changed(self, image: Any, value: float) -> tuple[Any]:
        return (image * value,)

    @classmethod
    def IS_CHANGED(cls, image: Any, value: float) -> Any:
        return value if image is None else image.mean().item() * value


def _multiply(input1: Any, input2: Any) -> tuple[Any]:
    if isinstance(input1, float) and isinstance(input2, float):
        return (_blank(input1 * input2),)
    return (input1 * input2,)


def _check_value(name: str, value: Any, allowed: tuple[type, ...]) -> str | None:
    if value is not None and not isinstance(value, allowed):
        return f"Invalid type of {name}: {type(value)}"
    return None


class _ImageOrFloatPair:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"input1": ("IMAGE,FLOAT",), "input2": ("IMAGE,FLOAT",)}}

    RETURN_TYPES = ("IMAGE",)
    CATEGORY = "Testing/Nodes"


class TestCustomValidation1(_ImageOrFloatPair):
    """A validator naming its inputs: built-in checks off for them, link type matching still on."""

    FUNCTION = "custom_validation1"

    def custom_validation1(self, input1: Any, input2: Any) -> tuple[Any]:
        return _multiply(input1, input2)

    @classmethod
    def VALIDATE_INPUTS(cls, input1: Any = None, input2: Any = None) -> bool | str:
        return (_check_value("input1", input1, (torch.Tensor, float))
                or _check_value("input2", input2, (torch.Tensor, float)) or True)


class TestCustomValidation2(_ImageOrFloatPair):
    """A validator taking `input_types`: link type matching is its job."""

    FUNCTION = "custom_validation2"

    def custom_validation2(self, input1: Any, input2: Any) -> tuple[Any]:
        return _multiply(input1, input2)

    @classmethod
    def VALIDATE_INPUTS(cls, input_types: dict[str, Any], input1: Any = None, input2: Any = None) -> bool | str:
        problem = (_check_value("input1", input1, (torch.Tensor, float))
                   or _check_value("input2", input2, (torch.Tensor, float)))
        if problem:
            return problem
        for name in ("input1", "input2"):
            if name in input_types and input_types[name] not in ("IMAGE", "FLOAT"):
                return f"Invalid type of {name}: {input_types[name]}"
        return True


@VariantSupport()
class TestCustomValidation3(_ImageOrFloatPair):
    """Validation through VariantSupport's generated `validate_inputs(input_types)`."""

    FUNCTION = "custom_validation3"

    def custom_validation3(self, input1: Any, input2: Any) -> tuple[Any]:
        return _multiply(input1, input2)


class TestCustomValidation4:
    """Names its inputs but not `input_types`: an INT link into FLOAT still fails type matching."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"input1": ("FLOAT",), "input2": ("FLOAT",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "custom_validation4"
    CATEGORY = "Testing/Nodes"

    def custom_validation4(self, input1: float, input2: float) -> tuple[Any]:
        return (_blank(input1 * input2),)

    @classmethod
    def VALIDATE_INPUTS(cls, input1: Any, input2: Any) -> bool | str:
        return _check_value("input1", input1, (float,)) or _check_value("input2", input2, (float,)) or True


class TestCustomValidation5:
    """A `**kwargs` validator: min/max are not enforced; 7.0 is refused by the custom rule."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"input1": ("FLOAT", {"min": 0.0, "max": 1.0}),
                             "input2": ("FLOAT", {"min": 0.0, "max": 1.0})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "custom_validation5"
    CATEGORY = "Testing/Nodes"

    def custom_validation5(self, input1: float, input2: float) -> tuple[Any]:
        return (_blank(input1 * input2),)

    @classmethod
    def VALIDATE_INPUTS(cls, **kwargs: Any) -> bool | str:
        if kwargs["input2"] == 7.0:
            return "7s are not allowed. I've never liked 7s."
        return True


class TestDynamicDependencyCycle:
    """Expands into two lazy mixes that feed each other: a cycle only visible at run time."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"input1": ("IMAGE",), "input2": ("IMAGE",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "dynamic_dependency_cycle"
    CATEGORY = "Testing/Nodes"

    def dynamic_dependency_cycle(self, input1: Any, input2: Any) -> dict[str, Any]:
        g = GraphBuilder()
        mask = g.node("StubMask", value=0.5, height=512, width=512, batch_size=1)
        first = g.node("TestLazyMixImages", image1=input1, mask=mask.out(0))
        second = g.node("TestLazyMixImages", image1=first.out(0), image2=input2, mask=mask.out(0))
        first.set_input("image2", second.out(0))
        return {"result": (second.out(0),), "expand": g.finalize()}


class TestMixedExpansionReturns:
    """Per list item: a tuple (<= 0.1), a result dict (<= 0.2), or an expansion (otherwise)."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"input1": ("FLOAT",)}}

    RETURN_TYPES = ("IMAGE", "IMAGE")
    FUNCTION = "mixed_expansion_returns"
    CATEGORY = "Testing/Nodes"

    def mixed_expansion_returns(self, input1: float) -> Any:
        white = _blank(1.0)
        if input1 <= 0.1:
            return (_blank(0.1), white)
        if input1 <= 0.2:
            return {"result": (_blank(0.2), white)}
        g = GraphBuilder()
        mask = g.node("StubMask", value=0.3, height=512, width=512, batch_size=1)
        black = g.node("StubImage", content="BLACK", height=512, width=512, batch_size=1)
        white_node = g.node("StubImage", content="WHITE", height=512, width=512, batch_size=1)
        mix = g.node("TestLazyMixImages", image1=black.out(0), image2=white_node.out(0), mask=mask.out(0))
        return {"result": (mix.out(0), white), "expand": g.finalize()}


class TestSamplingInExpansion:
    """Expands into a text-to-image graph (needs the sampling nodes; no test runs it)."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "model": ("MODEL",), "clip": ("CLIP",), "vae": ("VAE",),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF}),
            "steps": ("INT", {"default": 20, "min": 1, "max": 100}),
            "cfg": ("FLOAT", {"default": 7.0, "min": 0.0, "max": 30.0}),
            "prompt": ("STRING", {"multiline": True, "default": "a beautiful landscape with mountains and trees"}),
            "negative_prompt": ("STRING", {"multiline": True, "default": "blurry, bad quality, worst quality"}),
        }}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "sampling_in_expansion"
    CATEGORY = "Testing/Nodes"

    def sampling_in_expansion(self, model: Any, clip: Any, vae: Any, seed: int, steps: int, cfg: float,
                              prompt: str, negative_prompt: str) -> dict[str, Any]:
        g = GraphBuilder()
        positive = g.node("CLIPTextEncode", text=prompt, clip=clip)
        negative = g.node("CLIPTextEncode", text=negative_prompt, clip=clip)
        latent = g.node("EmptyLatentImage", width=512, height=512, batch_size=1)
        sampled = g.node("KSampler", model=model, positive=positive.out(0), negative=negative.out(0),
                         latent_image=latent.out(0), seed=seed, steps=steps, cfg=cfg,
                         sampler_name="euler_ancestral", scheduler="normal")
        decoded = g.node("VAEDecode", samples=sampled.out(0), vae=vae)
        return {"result": (decoded.out(0),), "expand": g.finalize()}


class TestOutputNodeWithSocketOutput:
    """An output node that also has an output socket."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"image": ("IMAGE",), "value": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "process"
    CATEGORY = "_for_testing"
    OUTPUT_NODE = True

    def process(self, image: Any, value: float) -> tuple[Any]:
        return (image * value,)


NODES = {
    "TestLazyMixImages": TestLazyMixImages,
    "TestVariadicAverage": TestVariadicAverage,
    "TestCustomIsChanged": TestCustomIsChanged,
    "TestIsChangedWithConstants": TestIsChangedWithConstants,
    "TestCustomValidation1": TestCustomValidation1,
    "TestCustomValidation2": TestCustomValidation2,
    "TestCustomValidation3": TestCustomValidation3,
    "TestCustomValidation4": TestCustomValidation4,
    "TestCustomValidation5": TestCustomValidation5,
    "TestDynamicDependencyCycle": TestDynamicDependencyCycle,
    "TestMixedExpansionReturns": TestMixedExpansionReturns,
    "TestSamplingInExpansion": TestSamplingInExpansion,
    "TestOutputNodeWithSocketOutput": TestOutputNodeWithSocketOutput,
}
DISPLAY_NAMES = {
    "TestLazyMixImages": "Lazy Mix Images",
    "TestVariadicAverage": "Variadic Average",
    "TestCustomIsChanged": "Custom IsChanged",
    "TestIsChangedWithConstants": "IsChanged With Constants",
    "TestCustomValidation1": "Custom Validation 1",
    "TestCustomValidation2": "Custom Validation 2",
    "TestCustomValidation3": "Custom Validation 3",
    "TestCustomValidation4": "Custom Validation 4",
    "TestCustomValidation5": "Custom Validation 5",
    "TestDynamicDependencyCycle": "Dynamic Dependency Cycle",
    "TestMixedExpansionReturns": "Mixed Expansion Returns",
    "TestSamplingInExpansion": "Sampling In Expansion",
    "TestOutputNodeWithSocketOutput": "Test Output Node With Socket Output",
}
