"""`NodeNamespace`: the node functions of a registry as attributes (`nodes.ImageInvert`).

Attribute names are class_types made into identifiers (`python_name`); `nodes["Any Name"]` takes
the class_type as is. The namespace follows the registry: it rereads the class list whenever
`NodeRegistry.version` changes (a class registered from a cell appears at once) and builds each
function on access, so signatures show the current INPUT_TYPES (file lists change). `dir()` lists
the functions, which is what tab completion reads.

The shell thread uses it; registry reads are safe from any thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from toucan_nb.notebook.node_function import make_node_function, python_name
from toucan_nb.notebook.spec import registry_spec


class NodeNamespace:
    """Node functions for the classes of a `NodeRegistry` (given, or returned by a zero-arg callable)."""

    def __init__(self, registry: Any | Callable[[], Any]) -> None:
        self._source = registry
        self._version: int | None = None
        self._registry_id: int | None = None
        self._by_attr: dict[str, str] = {}

    def _registry(self) -> Any:
        source = self._source
        return source if hasattr(source, "object_info") else source()

    def _names(self) -> tuple[Any, dict[str, str]]:
        registry = self._registry()
        if registry.version != self._version or id(registry) != self._registry_id:
            taken: set[str] = set()
            by_attr: dict[str, str] = {}
            for class_type in registry:
                by_attr[python_name(class_type, taken)] = class_type
            self._by_attr = by_attr
            self._version = registry.version
            self._registry_id = id(registry)
        return registry, self._by_attr

    def function(self, class_type: str) -> Callable[..., Any]:
        """The node function for `class_type`; raises `NotFoundError` for an unknown class."""
        registry = self._registry()
        return make_node_function(registry_spec(registry, class_type))

    def __getitem__(self, class_type: str) -> Callable[..., Any]:
        registry = self._registry()
        if class_type not in registry:
            raise KeyError(class_type)
        return make_node_function(registry_spec(registry, class_type))

    def __getattr__(self, attr: str) -> Callable[..., Any]:
        if attr.startswith(("__", "_repr_", "_ipython_")):
            raise AttributeError(attr)  # protocol probes (IPython display, copy ...) must not start a runtime
        registry, by_attr = self._names()
        class_type = by_attr.get(attr)
        if class_type is None:
            raise AttributeError(f"no node class {attr!r}; registered classes are listed by dir(nodes)")
        return make_node_function(registry_spec(registry, class_type))

    def __dir__(self) -> list[str]:
        return sorted(self._names()[1])

    def __contains__(self, class_type: object) -> bool:
        return class_type in self._registry()

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry())

    def __len__(self) -> int:
        return len(self._registry())

    def __repr__(self) -> str:
        try:
            count = f"{len(self)} node classes"
        except Exception:
            count = "no runtime yet"
        return f"<nodes: {count}>"
