"""`nodes.NODE_CLASS_MAPPINGS` and `nodes.NODE_DISPLAY_NAME_MAPPINGS` as live views of the attached
runtime's `NodeRegistry` (docs/development.md §5.9: the globals exist only here, as views).

Reads see the registry as it is now; writes (some packs register classes by assigning into
`NODE_CLASS_MAPPINGS`) go into it. With no runtime attached the views are empty and writes raise
`RuntimeUnavailableError`. Any thread (the registry has its own lock).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from toucan_nb.compat import state
from toucan_nb.runtime.errors import RuntimeUnavailableError


def attached_registry() -> Any:
    """The attached runtime's NodeRegistry, or None."""
    return getattr(state.runtime(), "registry", None)


def _require_registry() -> Any:
    registry = attached_registry()
    if registry is None:
        raise RuntimeUnavailableError("no toucan_nb runtime is attached (toucan_nb.compat.install)")
    return registry


class NodeClassMappings(MutableMapping[str, type]):
    """class_type -> node class, backed by the registry."""

    def __getitem__(self, class_type: str) -> type:
        registry = attached_registry()
        cls = None if registry is None else registry.find(class_type)
        if cls is None:
            raise KeyError(class_type)
        return cls

    def __setitem__(self, class_type: str, cls: type) -> None:
        _require_registry().register(class_type, cls)

    def __delitem__(self, class_type: str) -> None:
        registry = _require_registry()
        if class_type not in registry:
            raise KeyError(class_type)
        registry.unregister(class_type)

    def __iter__(self) -> Iterator[str]:
        registry = attached_registry()
        return iter(()) if registry is None else iter(registry)

    def __len__(self) -> int:
        registry = attached_registry()
        return 0 if registry is None else len(registry)

    def __repr__(self) -> str:
        return f"NodeClassMappings({len(self)} classes)"


class NodeDisplayNameMappings(MutableMapping[str, str]):
    """class_type -> display name, backed by the registry."""

    def _names(self) -> dict[str, str]:
        registry = attached_registry()
        return {} if registry is None else registry.display_names()

    def __getitem__(self, class_type: str) -> str:
        return self._names()[class_type]

    def __setitem__(self, class_type: str, display_name: str) -> None:
        _require_registry().set_display_name(class_type, display_name)

    def __delitem__(self, class_type: str) -> None:
        # NodeRegistry offers no way to drop only a display name.
        raise NotImplementedError("removing a display name is not supported")

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return f"NodeDisplayNameMappings({len(self)} names)"


NODE_CLASS_MAPPINGS = NodeClassMappings()
NODE_DISPLAY_NAME_MAPPINGS = NodeDisplayNameMappings()
