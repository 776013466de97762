"""Comparisons, boolean logic and integer arithmetic, for conditions in flow-control graphs."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

import torch

_BIG_INT = {"default": 0, "min": -0xFFFFFFFFFFFFFFFF, "max": 0xFFFFFFFFFFFFFFFF, "step": 1}
_BIG_FLOAT = {"default": 0, "min": -999999999999.0, "max": 999999999999.0, "step": 1}
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge,
}


class TestIntConditions:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"a": ("INT", dict(_BIG_INT)), "b": ("INT", dict(_BIG_INT)),
                             "operation": (list(_COMPARISONS),)}}

    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "int_condition"
    CATEGORY = "Testing/Logic"

    def int_condition(self, a: int, b: int, operation: str) -> tuple[bool]:
        return (_COMPARISONS[operation](a, b),)


class TestFloatConditions:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"a": ("FLOAT", dict(_BIG_FLOAT)), "b": ("FLOAT", dict(_BIG_FLOAT)),
                             "operation": (list(_COMPARISONS),)}}

    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "float_condition"
    CATEGORY = "Testing/Logic"

    def float_condition(self, a: float, b: float, operation: str) -> tuple[bool]:
        return (_COMPARISONS[operation](a, b),)


def _regex_match(a: str, b: str) -> bool:
    try:
        return re.match(b, a) is not None
    except re.error:
        return False


_STRING_TESTS: dict[str, Callable[[str, str], bool]] = {
    "a == b": operator.eq,
    "a != b": operator.ne,
    "a IN b": lambda a, b: a in b,
    "a MATCH REGEX(b)": _regex_match,
    "a BEGINSWITH b": str.startswith,
    "a ENDSWITH b": str.endswith,
}


class TestStringConditions:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"a": ("STRING", {"multiline": False}), "b": ("STRING", {"multiline": False}),
                             "operation": (list(_STRING_TESTS),),
                             "case_sensitive": ("BOOLEAN", {"default": True})}}

    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "string_condition"
    CATEGORY = "Testing/Logic"

    def string_condition(self, a: str, b: str, operation: str, case_sensitive: bool) -> tuple[bool]:
        if not case_sensitive:
            a, b = a.lower(), b.lower()
        return (_STRING_TESTS[operation](a, b),)


class TestToBoolNode:
    """Truthiness; a tensor is False only when it is all zeros; anything unconvertible is True."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"value": ("*",)}, "optional": {"invert": ("BOOLEAN", {"default": False})}}

    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "to_bool"
    CATEGORY = "Testing/Logic"

    def to_bool(self, value: Any, invert: bool = False) -> tuple[bool]:
        if isinstance(value, torch.Tensor):
            result = bool(value.ne(0).any().item())
        else:
            try:
                result = bool(value)
            except Exception:
                result = True
        return (result != invert,)


_BOOL_OPS: dict[str, Callable[[bool, bool], bool]] = {
    "a AND b": lambda a, b: a and b,
    "a OR b": lambda a, b: a or b,
    "a XOR b": lambda a, b: a ^ b,
    "NOT a": lambda a, b: not a,
}


class TestBoolOperationNode:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"a": ("BOOLEAN",), "b": ("BOOLEAN",), "op": (list(_BOOL_OPS),)}}

    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "bool_operation"
    CATEGORY = "Testing/Logic"

    def bool_operation(self, a: bool, b: bool, op: str) -> tuple[bool]:
        return (_BOOL_OPS[op](a, b),)


_INT_OPS: dict[str, Callable[[int, int], int]] = {
    "add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
    "divide": operator.floordiv, "modulo": operator.mod, "power": operator.pow,
}


class TestIntMathOperation:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"a": ("INT", dict(_BIG_INT)), "b": ("INT", dict(_BIG_INT)),
                             "operation": (list(_INT_OPS),)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "int_math_operation"
    CATEGORY = "Testing/Logic"

    def int_math_operation(self, a: int, b: int, operation: str) -> tuple[int]:
        return (_INT_OPS[operation](a, b),)


NODES = {
    "TestIntConditions": TestIntConditions,
    "TestFloatConditions": TestFloatConditions,
    "TestStringConditions": TestStringConditions,
    "TestToBoolNode": TestToBoolNode,
    "TestBoolOperationNode": TestBoolOperationNode,
    "TestIntMathOperation": TestIntMathOperation,
}
DISPLAY_NAMES = {
    "TestIntConditions": "Int Condition",
    "TestFloatConditions": "Float Condition",
    "TestStringConditions": "String Condition",
    "TestToBoolNode": "To Bool",
    "TestBoolOperationNode": "Bool Operation",
    "TestIntMathOperation": "Int Math Operation",
}
