"""Helpers behind the V3 node classes, served as `comfy_api.internal` (docs/execution.md §1.9).

The two marker base classes ComfyUI's executor tests against, and the class utilities the node base
uses: override detection, a class property, class copies and clones, and locking a class against
assignment. Any thread.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from toucan_nb.runtime.v3 import first_real_override
from toucan_nb.runtime.v3 import lock as _lock

__all__ = [
    "_ComfyNodeInternal",
    "_NodeOutputInternal",
    "as_pruned_dict",
    "classproperty",
    "copy_class",
    "first_real_override",
    "is_class",
    "lock_class",
    "make_locked_method_func",
    "prune_dict",
    "shallow_clone_class",
]

_NOT_COPIED = ("__dict__", "__weakref__")


class _ComfyNodeInternal:
    """What every V3 node class derives from (ComfyUI tests `issubclass` against it)."""

    @classmethod
    def GET_NODE_INFO_V1(cls) -> Any:  # noqa: N802 (ComfyUI's name)
        """Overridden by the node base."""


class _NodeOutputInternal:
    """What every V3 node output derives from."""


def prune_dict(d: dict[str, Any]) -> dict[str, Any]:
    """`d` without its None values (False, 0 and "" stay)."""
    return {k: v for k, v in d.items() if v is not None}


def as_pruned_dict(dataclass_obj: Any) -> dict[str, Any]:
    return prune_dict(asdict(dataclass_obj))


def is_class(obj: Any) -> bool:
    """True for a class, False for an instance."""
    return isinstance(obj, type)


def _namespace(cls: type) -> dict[str, Any]:
    return {k: v for k, v in cls.__dict__.items() if k not in _NOT_COPIED}


def copy_class(cls: type | None) -> type | None:
    """A subclass of `cls` holding a copy of its attributes (same name, module and docstring)."""
    if cls is None:
        return None
    namespace = _namespace(cls)
    namespace["__module__"] = cls.__module__
    namespace["__doc__"] = cls.__doc__
    return type(cls.__name__, (cls,), namespace)


class classproperty:  # noqa: N801 (ComfyUI's name)
    """A read-only property computed on the class."""

    def __init__(self, f: Callable[[type], Any]) -> None:
        self.f = f

    def __get__(self, obj: Any, owner: type) -> Any:
        return self.f(owner)


def shallow_clone_class(cls: type, new_name: str | None = None) -> type:
    """A subclass of `cls` that starts with a copy of its attributes, so that `super()` still works
    and assignments to the clone leave `cls` alone."""
    return type(new_name or f"{cls.__name__}Clone", (cls,), _namespace(cls))


def lock_class(cls: type) -> type:
    """A subclass of `cls` whose class attributes cannot be assigned."""
    return _lock(cls)


def make_locked_method_func(type_obj: type, func: str, class_clone: type) -> Callable[..., Any]:
    """`type_obj.<func>` as a function of keyword arguments, run on `class_clone`, locked."""
    method = getattr(type_obj, func).__func__
    locked = lock_class(class_clone)
    if inspect.iscoroutinefunction(method):
        async def run_async(**inputs: Any) -> Any:
            return await method(locked, **inputs)
        return run_async

    def run(**inputs: Any) -> Any:
        return method(locked, **inputs)
    return run

