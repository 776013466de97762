"""Registering node classes defined in cells: `@node` and `register(cls)`.

A class that follows ComfyUI's V1 contract (docs/execution.md §1.1: INPUT_TYPES, RETURN_TYPES,
FUNCTION ...), or a V3 schema class (§1.9, `comfy_api.latest.io.ComfyNode`, named by its schema's
node_id and display name unless told otherwise), is added to the runtime's `NodeRegistry` at once, so it shows in `rt.object_info()`
and the web UI's node list (after the UI reloads its node definitions), and `nodes.<Name>` works
in the next line. Re-running the cell replaces the class. Its python_module is
`custom_nodes.notebook`, so the frontend lists it as a custom node. Called on the shell thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from toucan_nb.runtime import v3

T = TypeVar("T", bound=type)

PYTHON_MODULE = "custom_nodes.notebook"


def check_node_class(cls: type) -> None:
    """Raise TypeError when `cls` misses a part of the V1 node contract."""
    if not isinstance(cls, type):
        raise TypeError(f"a node is a class, not {type(cls).__name__}")
    missing = [attr for attr in ("INPUT_TYPES", "RETURN_TYPES", "FUNCTION") if not hasattr(cls, attr)]
    if missing:
        raise TypeError(f"node class {cls.__name__} lacks {', '.join(missing)} (see ComfyUI's node contract)")
    if not callable(cls.INPUT_TYPES):  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__}.INPUT_TYPES must be a classmethod returning a dict")
    declared = cls.INPUT_TYPES()  # type: ignore[attr-defined]
    if not isinstance(declared, dict):
        raise TypeError(f"{cls.__name__}.INPUT_TYPES() returned {type(declared).__name__}, not a dict")
    if not isinstance(cls.RETURN_TYPES, (tuple, list)):  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__}.RETURN_TYPES must be a tuple of type names")
    function = getattr(cls, cls.FUNCTION, None)  # type: ignore[attr-defined]
    if not callable(function):
        raise TypeError(f"{cls.__name__}.FUNCTION names {cls.FUNCTION!r}, which is not a method of the class")  # type: ignore[attr-defined]


def register(cls: T, *, name: str | None = None, display_name: str | None = None, runtime: Any = None) -> T:
    """Register a node class under `name` (default: a V3 schema's node_id, else the class name) and
    return the class.

    `runtime` defaults to the session's (created if needed). Raises TypeError for a class that is
    not a node class.
    """
    check_node_class(cls)
    if runtime is None:
        from toucan_nb.notebook.session import get_runtime

        runtime = get_runtime()
    default_name, default_display = cls.__name__, getattr(cls, "DISPLAY_NAME", None)
    if v3.is_v3(cls):
        schema = cls.GET_SCHEMA()  # type: ignore[attr-defined]
        default_name, default_display = schema.node_id, schema.display_name
    class_type = name or default_name
    cls.RELATIVE_PYTHON_MODULE = PYTHON_MODULE  # type: ignore[attr-defined]
    runtime.registry.register(class_type, cls, display_name=display_name or default_display,
                              python_module=PYTHON_MODULE, process_local=True)
    return cls


@overload
def node(cls: T, /) -> T: ...
@overload
def node(*, name: str | None = None, display_name: str | None = None, runtime: Any = None) -> Callable[[T], T]: ...


def node(cls: Any = None, /, *, name: str | None = None, display_name: str | None = None,
         runtime: Any = None) -> Any:
    """Class decorator: `@node` or `@node(name="MyNode", display_name="My node")` registers the class."""
    if cls is not None:
        return register(cls, name=name, display_name=display_name, runtime=runtime)

    def decorate(klass: T) -> T:
        return register(klass, name=name, display_name=display_name, runtime=runtime)

    return decorate
