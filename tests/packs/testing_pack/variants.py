"""Loose type matching for the testing pack: `SmartType` and the `VariantSupport` class decorator.

A SmartType string treats "*" as matching anything and "A,B" as matching any type whose parts
are all among its own, through `!=` (how ComfyUI compares link types). `VariantSupport()` turns a
node's declared input and return types into SmartTypes and gives it a `VALIDATE_INPUTS` that
receives `input_types`, which switches the executor's own link type check off for that node
(docs/execution.md §1.7). That validator is a plain function set on the class, not a classmethod.
"""

from __future__ import annotations

from typing import Any


class SmartType(str):
    """A type name compared loosely: see the module docstring."""

    def __ne__(self, other: object) -> bool:
        if self == "*" or other == "*":
            return False
        if not isinstance(other, str):
            return True
        return not set(self.split(",")) <= set(other.split(","))



def as_smart_type(value: Any) -> Any:
    return SmartType(value) if isinstance(value, str) else value


def _declared_type(inputs: dict[str, Any], name: str) -> Any:
    for section in ("required", "optional"):
        spec = inputs.get(section, {}).get(name)
        if spec is not None:
            return spec[0]
    return None


def VariantSupport() -> Any:  # noqa: N802 (the name ComfyUI's testing pack uses)
    """Class decorator factory; see the module docstring."""

    def decorate(cls: type) -> type:
        original = cls.INPUT_TYPES  # bound classmethod

        def input_types(*args: Any, **kwargs: Any) -> dict[str, Any]:
            declared = original(*args, **kwargs)
            for section in ("required", "optional"):
                for name, spec in declared.get(section, {}).items():
                    if isinstance(spec, tuple):
                        declared[section][name] = (as_smart_type(spec[0]), *spec[1:])
            return declared

        cls.INPUT_TYPES = input_types
        cls.RETURN_TYPES = tuple(as_smart_type(t) for t in cls.RETURN_TYPES)
        if hasattr(cls, "VALIDATE_INPUTS"):
            raise NotImplementedError("VariantSupport cannot wrap an existing VALIDATE_INPUTS")

        def validate_inputs(input_types: dict[str, Any]) -> bool | str:
            declared = cls.INPUT_TYPES()
            for name, received in input_types.items():
                if isinstance(received, SmartType):
                    continue
                expected = _declared_type(declared, name)
                if expected is not None and as_smart_type(received) != expected:
                    return f"Invalid type of {name}: {received} (expected {expected})"
            return True

        cls.VALIDATE_INPUTS = validate_inputs
        return cls

    return decorate
