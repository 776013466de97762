"""NodeRegistry: class_type -> node class, display names, web directories, and /object_info entries.

Node classes follow ComfyUI's V1 contract (docs/execution.md §1.1) or are V3 schema classes (§1.9).
Description for /object_info follows docs/protocol.md §5.1. A V3 class describes itself
(`GET_NODE_INFO_V1()`, the V3 shape of §5.2), with the registry's python_module; a V1 class with
`OBJECT_INFO_V3 = True` is described in that same shape, which is how ComfyUI describes the nodes it
ships as V3 schema classes.
Registration happens at start-up or from a notebook cell; reads may come from any thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from toucan_nb.runtime import v3
from toucan_nb.runtime.errors import NotFoundError

log = logging.getLogger(__name__)


class NodeRegistry:
    """The node classes a runtime knows, in registration order."""

    def __init__(self) -> None:
        self._classes: dict[str, type] = {}
        self._display_names: dict[str, str] = {}
        self._modules: dict[str, str] = {}
        self.web_dirs: dict[str, str] = {}  # pack name -> absolute web directory
        self._lock = threading.Lock()
        self.version = 0  # bumped on every change, so callers can cache derived data
        self._serials: dict[str, int] = {}  # class_type -> the registration that put its class there
        self._process_local: set[str] = set()

    def register(self, class_type: str, cls: type, display_name: str | None = None,
                 python_module: str | None = None, *, process_local: bool = False) -> None:
        """Add or replace a node class.

        `process_local`: the class exists only in this process (defined in a notebook cell), so a
        scale-out backend ships it to its workers (`process_local_classes`).
        """
        with self._lock:
            self._classes[class_type] = cls
            if process_local:
                self._process_local.add(class_type)
            else:
                self._process_local.discard(class_type)
            self.version += 1
            self._serials[class_type] = self.version
            if display_name is not None:
                self._display_names[class_type] = display_name
            self._modules[class_type] = python_module or getattr(cls, "RELATIVE_PYTHON_MODULE", None) or "nodes"

    def set_display_name(self, class_type: str, display_name: str) -> None:
        with self._lock:
            self._display_names[class_type] = display_name
            self.version += 1

    def unregister(self, class_type: str) -> None:
        with self._lock:
            self._classes.pop(class_type, None)
            self._process_local.discard(class_type)
            self._display_names.pop(class_type, None)
            self._modules.pop(class_type, None)
            self.version += 1

    def __contains__(self, class_type: object) -> bool:
        return class_type in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._classes))

    def __len__(self) -> int:
        return len(self._classes)

    def process_local_classes(self) -> dict[str, tuple[type, str | None, str]]:
        """class_type -> (class, display name, python module) of every class registered with
        `process_local`."""
        with self._lock:
            return {ct: (self._classes[ct], self._display_names.get(ct), self._modules[ct])
                    for ct in self._process_local}

    def serial(self, class_type: str) -> int:
        """Which registration of `class_type` is current: re-registering a class changes it, so
        results cached for the old class are not served for the new one."""
        return self._serials.get(class_type, 0)

    def find(self, class_type: str) -> type | None:
        return self._classes.get(class_type)

    def get(self, class_type: str) -> type:
        """The class for `class_type`; raises NotFoundError."""
        try:
            return self._classes[class_type]
        except KeyError:
            raise NotFoundError(f"node class {class_type!r} is not registered") from None

    def display_name(self, class_type: str) -> str | None:
        return self._display_names.get(class_type)

    def python_module(self, class_type: str) -> str:
        return self._modules.get(class_type, "nodes")

    def classes(self) -> dict[str, type]:
        """A copy of the class mapping (ComfyUI's NODE_CLASS_MAPPINGS view)."""
        return dict(self._classes)

    def display_names(self) -> dict[str, str]:
        return dict(self._display_names)

    # -- /object_info ------------------------------------------------------------------------
    def object_info(self, class_type: str | None = None) -> dict[str, Any]:
        """All node descriptions, or `{class_type: info}` / `{}` for one (docs/protocol.md §5)."""
        names = list(self._classes) if class_type is None else [class_type]
        out: dict[str, Any] = {}
        for name in names:
            if name not in self._classes:
                continue
            try:
                out[name] = self.node_info(name)
            except Exception:
                log.exception("could not describe node %s; leaving it out of object_info", name)
        return out

    def node_info(self, class_type: str) -> dict[str, Any]:
        cls = self.get(class_type)
        if v3.is_v3(cls):
            # QUIRK(docs/execution.md §1.9): name and display_name come from the schema, whatever the
            # class is registered as.
            info = dict(cls.GET_NODE_INFO_V1())  # type: ignore[attr-defined]
            info["python_module"] = self.python_module(class_type)
            return info
        if getattr(cls, "OBJECT_INFO_V3", False):
            return self._node_info_v3(class_type, cls)
        return self._node_info_v1(class_type, cls)

    def _node_info_v1(self, class_type: str, cls: type) -> dict[str, Any]:
        inputs = cls.INPUT_TYPES()  # type: ignore[attr-defined]  # V1 node classes declare INPUT_TYPES
        return_types = list(getattr(cls, "RETURN_TYPES", ()))
        info: dict[str, Any] = {
            "input": inputs,
            "input_order": {section: list(v) for section, v in inputs.items() if isinstance(v, dict)},
            "output": return_types,
            "output_is_list": list(getattr(cls, "OUTPUT_IS_LIST", [False] * len(return_types))),
            "output_name": list(getattr(cls, "RETURN_NAMES", return_types)),
            "name": class_type,
            "display_name": self._display_names.get(class_type, class_type),
            "description": getattr(cls, "DESCRIPTION", ""),
            "python_module": self.python_module(class_type),
            "category": getattr(cls, "CATEGORY", "sd"),
            "output_node": getattr(cls, "OUTPUT_NODE", False) == True,  # noqa: E712 (ComfyUI compares with ==)
        }
        if hasattr(cls, "OUTPUT_TOOLTIPS"):
            info["output_tooltips"] = list(cls.OUTPUT_TOOLTIPS)
        if getattr(cls, "DEPRECATED", False):
            info["deprecated"] = True
        if getattr(cls, "EXPERIMENTAL", False):
            info["experimental"] = True
        if hasattr(cls, "API_NODE"):
            info["api_node"] = cls.API_NODE
        return info

    def _node_info_v3(self, class_type: str, cls: type) -> dict[str, Any]:
        inputs = cls.INPUT_TYPES()  # type: ignore[attr-defined]  # V1 node classes declare INPUT_TYPES
        inputs = {"required": {}, **inputs}
        return_types = list(getattr(cls, "RETURN_TYPES", ()))
        tooltips = list(getattr(cls, "OUTPUT_TOOLTIPS", [None] * len(return_types)))
        return {
            "input": inputs,
            "input_order": {section: list(v) for section, v in inputs.items() if isinstance(v, dict)},
            "output": return_types,
            "output_is_list": list(getattr(cls, "OUTPUT_IS_LIST", [False] * len(return_types))),
            "output_name": list(getattr(cls, "RETURN_NAMES", return_types)),
            "output_tooltips": tooltips,
            "output_matchtypes": getattr(cls, "OUTPUT_MATCHTYPES", None),
            "name": class_type,
            "display_name": self._display_names.get(class_type),
            "description": getattr(cls, "DESCRIPTION", ""),
            "python_module": self.python_module(class_type),
            "category": getattr(cls, "CATEGORY", "sd"),
            "output_node": getattr(cls, "OUTPUT_NODE", False) == True,  # noqa: E712
            "deprecated": bool(getattr(cls, "DEPRECATED", False)),
            "experimental": bool(getattr(cls, "EXPERIMENTAL", False)),
            "api_node": bool(getattr(cls, "API_NODE", False)),
        }
