"""comfy.comfy_types: IO's loose `!=`, ComfyNodeABC, and the typing names (docs/execution.md §6.2)."""

from __future__ import annotations

import pytest


def test_node_typing_objects_are_the_same(runtime):
    import comfy.comfy_types as types
    import comfy.comfy_types.node_typing as node_typing

    from toucan_nb.compat import node_typing as impl

    for name in ("IO", "ComfyNodeABC", "InputTypeDict", "CheckLazyMixin", "FileLocator"):
        assert getattr(types, name) is getattr(node_typing, name) is getattr(impl, name)


def test_io_members_and_values(runtime):
    from comfy.comfy_types import IO

    assert IO.ANY == "*" and str(IO.ANY) == "*"
    for name in ("FLOAT", "INT", "STRING", "BOOLEAN", "IMAGE", "MASK", "COMBO", "LATENT", "MODEL"):
        assert getattr(IO, name) == name and isinstance(getattr(IO, name), str)
    assert IO.NUMBER == "FLOAT,INT" and IO.PRIMITIVE == "STRING,FLOAT,INT,BOOLEAN"
    assert {IO.IMAGE: 1}["IMAGE"] == 1


@pytest.mark.parametrize(("io_name", "other", "differs"), [
    ("ANY", "IMAGE", False),         # "*" on the left matches anything
    ("IMAGE", "*", False),           # ... and on the right
    ("IMAGE", "IMAGE", False),
    ("IMAGE", "MASK", True),
    ("NUMBER", "INT", False),        # comma subsets match either way
    ("INT", "FLOAT,INT", False),
    ("NUMBER", "INT,STRING", True),  # overlapping but neither a subset
    ("IMAGE", 5, True),              # not a string
])
def test_io_ne_is_wildcard_and_subset_aware(runtime, io_name, other, differs):
    # QUIRK(docs/execution.md §6.2): only != is loose.
    from comfy.comfy_types import IO

    assert (getattr(IO, io_name) != other) is differs


def test_io_eq_stays_plain_string_equality(runtime):
    from comfy.comfy_types import IO

    assert not IO.ANY == "IMAGE"  # noqa: SIM201 (the point is that == is not the negation of !=)
    assert not (IO.ANY != "IMAGE")  # noqa: SIM202 (IO's != is not the negation of ==)


def test_comfy_node_abc_requires_input_types(runtime):
    from comfy.comfy_types import IO, ComfyNodeABC, InputTypeDict

    with pytest.raises(TypeError):
        ComfyNodeABC()

    class Missing(ComfyNodeABC):
        RETURN_TYPES = (IO.ANY,)

    with pytest.raises(TypeError):
        Missing()

    class Node(ComfyNodeABC):
        @classmethod
        def INPUT_TYPES(cls) -> InputTypeDict:
            return {"required": {"value": (IO.ANY, {})}}

        RETURN_TYPES = (IO.ANY,)
        FUNCTION = "run"

    assert isinstance(Node(), ComfyNodeABC)
    assert Node.INPUT_TYPES() == {"required": {"value": ("*", {})}}


def test_check_lazy_mixin_asks_for_every_missing_input(runtime):
    from comfy.comfy_types import CheckLazyMixin

    assert CheckLazyMixin().check_lazy_status(a=None, b=1, c=None) == ["a", "c"]
