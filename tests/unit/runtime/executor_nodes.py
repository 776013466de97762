"""Small node classes for the executor tests (plain V1 classes, no compat imports)."""

from __future__ import annotations

import asyncio
import time

import torch

from toucan_nb.runtime.context import get_executing_context
from toucan_nb.runtime.graph_utils import ExecutionBlocker, GraphBuilder

CALLS: list[str] = []


class Const:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT", {"default": 0.0})}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"

    def run(self, value):
        CALLS.append(f"Const:{value}")
        return (value,)


class Add:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("FLOAT",), "b": ("FLOAT",)}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"

    def run(self, a, b):
        CALLS.append("Add")
        return (a + b,)


class Output:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*",)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, value):
        if isinstance(value, torch.Tensor):
            value = float(value.float().mean())
        return {"ui": {"value": [value]}}


class Fail:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT",)}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"

    def run(self, value):
        raise ValueError(f"bad value {value}")


class LazySwitch:
    """Passes `on_true` or `on_false`; only the chosen one is evaluated."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"flag": ("BOOLEAN",), "on_true": ("FLOAT", {"lazy": True}),
                             "on_false": ("FLOAT", {"lazy": True})}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"

    def check_lazy_status(self, flag, on_true=None, on_false=None):
        wanted = "on_true" if flag else "on_false"
        return [wanted] if (on_true if flag else on_false) is None else []

    def run(self, flag, on_true=None, on_false=None):
        return (on_true if flag else on_false,)


class MakeList:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"count": ("INT", {"default": 3})}}

    RETURN_TYPES = ("FLOAT",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "run"

    def run(self, count):
        return ([float(i) for i in range(count)],)


class SumList:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"values": ("FLOAT",)}}

    RETURN_TYPES = ("FLOAT",)
    INPUT_IS_LIST = True
    FUNCTION = "run"

    def run(self, values):
        return (sum(values),)


class Blocker:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT",), "message": ("STRING", {"default": ""})}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"

    def run(self, value, message):
        if value == 1.0:
            return (ExecutionBlocker(message or None),)
        return (value,)


class Double:
    """Expands into Add(value, value)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT",)}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"

    def run(self, value):
        g = GraphBuilder()
        c = g.node("Const", value=value)
        add = g.node("Add", a=c.out(0), b=c.out(0))
        return {"result": (add.out(0),), "expand": g.finalize()}


class ExpandCycle:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT",)}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"

    def run(self, value):
        g = GraphBuilder()
        a = g.node("Add", id="a", b=value)
        b = g.node("Add", id="b", a=a.out(0), b=value)
        a.set_input("a", b.out(0))
        return {"result": (b.out(0),), "expand": g.finalize()}


class Sleep:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT",), "seconds": ("FLOAT",)}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"

    async def run(self, value, seconds):
        await asyncio.sleep(seconds)
        return (value,)


class Spin:
    """Reports progress every 10 ms for up to `seconds` (so an interrupt lands quickly)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT",), "seconds": ("FLOAT",)}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"

    def run(self, value, seconds):
        ctx = get_executing_context()
        steps = int(seconds / 0.01)
        for i in range(steps):
            time.sleep(0.01)
            ctx.hooks.update_progress(ctx.node_id, i + 1, steps)
        return (value,)


class Volatile:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT",)}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"

    @classmethod
    def IS_CHANGED(cls, value):
        return float("nan")

    def run(self, value):
        CALLS.append("Volatile")
        return (value,)


NODES = {c.__name__: c for c in (Const, Add, Output, Fail, LazySwitch, MakeList, SumList, Blocker, Double,
                                 ExpandCycle, Sleep, Spin, Volatile)}
