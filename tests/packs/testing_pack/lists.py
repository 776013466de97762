"""List nodes: building output lists, and "accumulations" (a list carried as one value)."""

from __future__ import annotations

from typing import Any

from .variants import VariantSupport

NUM_LIST_SOCKETS = 10


def _accumulation(items: list[Any]) -> dict[str, list[Any]]:
    return {"accum": items}


@VariantSupport()
class TestMakeListNode:
    """Its linked/constant `valueN` inputs, in order, as one output list (OUTPUT_IS_LIST)."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"value1": ("*",)},
            "optional": {f"value{i}": ("*",) for i in range(1, NUM_LIST_SOCKETS)},
        }

    RETURN_TYPES = ("*",)
    FUNCTION = "make_list"
    OUTPUT_IS_LIST = (True,)
    CATEGORY = "Testing/Lists"

    def make_list(self, **kwargs: Any) -> tuple[list[Any]]:
        return ([kwargs[f"value{i}"] for i in range(NUM_LIST_SOCKETS) if f"value{i}" in kwargs],)


@VariantSupport()
class TestAccumulateNode:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"to_add": ("*",)}, "optional": {"accumulation": ("ACCUMULATION",)}}

    RETURN_TYPES = ("ACCUMULATION",)
    FUNCTION = "accumulate"
    CATEGORY = "Testing/Lists"

    def accumulate(self, to_add: Any, accumulation: dict[str, list[Any]] | None = None) -> tuple[Any]:
        before = [] if accumulation is None else accumulation["accum"]
        return (_accumulation([*before, to_add]),)


@VariantSupport()
class TestAccumulationHeadNode:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"accumulation": ("ACCUMULATION",)}}

    RETURN_TYPES = ("ACCUMULATION", "*")
    FUNCTION = "accumulation_head"
    CATEGORY = "Testing/Lists"

    def accumulation_head(self, accumulation: dict[str, list[Any]]) -> tuple[Any, Any]:
        items = accumulation["accum"]
        if not items:
            return (accumulation, None)
        return (_accumulation(items[1:]), items[0])


class TestAccumulationTailNode:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"accumulation": ("ACCUMULATION",)}}

    RETURN_TYPES = ("ACCUMULATION", "*")
    FUNCTION = "accumulation_tail"
    CATEGORY = "Testing/Lists"

    def accumulation_tail(self, accumulation: dict[str, list[Any]]) -> tuple[Any, Any]:
        items = accumulation["accum"]
        if not items:
            return (None, accumulation)
        return (_accumulation(items[:-1]), items[-1])


@VariantSupport()
class TestAccumulationToListNode:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"accumulation": ("ACCUMULATION",)}}

    RETURN_TYPES = ("*",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "accumulation_to_list"
    CATEGORY = "Testing/Lists"

    def accumulation_to_list(self, accumulation: dict[str, list[Any]]) -> tuple[list[Any]]:
        return (accumulation["accum"],)


@VariantSupport()
class TestListToAccumulationNode:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"list": ("*",)}}

    RETURN_TYPES = ("ACCUMULATION",)
    INPUT_IS_LIST = (True,)
    FUNCTION = "list_to_accumulation"
    CATEGORY = "Testing/Lists"

    def list_to_accumulation(self, list: list[Any]) -> tuple[Any]:  # noqa: A002 (input name)
        return (_accumulation(list),)


@VariantSupport()
class TestAccumulationGetLengthNode:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"accumulation": ("ACCUMULATION",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "accumlength"
    CATEGORY = "Testing/Lists"

    def accumlength(self, accumulation: dict[str, list[Any]]) -> tuple[int]:
        return (len(accumulation["accum"]),)


@VariantSupport()
class TestAccumulationGetItemNode:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"accumulation": ("ACCUMULATION",), "index": ("INT", {"default": 0, "step": 1})}}

    RETURN_TYPES = ("*",)
    FUNCTION = "get_item"
    CATEGORY = "Testing/Lists"

    def get_item(self, accumulation: dict[str, list[Any]], index: int) -> tuple[Any]:
        return (accumulation["accum"][index],)


@VariantSupport()
class TestAccumulationSetItemNode:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"accumulation": ("ACCUMULATION",), "index": ("INT", {"default": 0, "step": 1}),
                             "value": ("*",)}}

    RETURN_TYPES = ("ACCUMULATION",)
    FUNCTION = "set_item"
    CATEGORY = "Testing/Lists"

    def set_item(self, accumulation: dict[str, list[Any]], index: int, value: Any) -> tuple[Any]:
        items = list(accumulation["accum"])
        items[index] = value
        return (_accumulation(items),)


NODES = {
    "TestMakeListNode": TestMakeListNode,
    "TestAccumulateNode": TestAccumulateNode,
    "TestAccumulationHeadNode": TestAccumulationHeadNode,
    "TestAccumulationTailNode": TestAccumulationTailNode,
    "TestAccumulationToListNode": TestAccumulationToListNode,
    "TestListToAccumulationNode": TestListToAccumulationNode,
    "TestAccumulationGetLengthNode": TestAccumulationGetLengthNode,
    "TestAccumulationGetItemNode": TestAccumulationGetItemNode,
    "TestAccumulationSetItemNode": TestAccumulationSetItemNode,
}
DISPLAY_NAMES = {
    "TestMakeListNode": "Make List",
    "TestAccumulateNode": "Accumulate",
    "TestAccumulationHeadNode": "Accumulation Head",
    "TestAccumulationTailNode": "Accumulation Tail",
    "TestAccumulationToListNode": "Accumulation to List",
    "TestListToAccumulationNode": "List to Accumulation",
    "TestAccumulationGetLengthNode": "Accumulation Get Length",
    "TestAccumulationGetItemNode": "Accumulation Get Item",
    "TestAccumulationSetItemNode": "Accumulation Set Item",
}
