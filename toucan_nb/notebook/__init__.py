"""The notebook API: build workflows in cells, run them, get tensors back, watch progress.

    from toucan_nb.notebook import nodes, Workflow, runtime
    img = nodes.EmptyImage(width=64, height=64, color=0xFF0000)
    tensor = nodes.ImageInvert(img).run()        # a [1,64,64,3] float tensor

Public names (pinned by tests/unit/notebook/test_public_api.py):

* `runtime(**config)`: the kernel's Runtime, started on first use (`session.get_runtime`);
* `nodes`: one function per registered node class, with real signatures and docstrings;
* `Workflow`: the graph that node calls build (`run`, `queue`, `to_api`, `from_api`);
* `load_workflow(path_or_dict)`: a UI-format (frontend) or API-format workflow as a `Workflow`;
* `node` / `register`: add a node class defined in a cell to the runtime;
* `ProgressWidget`: the progress / preview / interrupt widget (`Workflow.run` shows one in a kernel);
* `to_pil`, `show`: IMAGE/MASK tensors as PIL images / as PNG outputs.

Importing this package starts nothing and loads no torch; the runtime starts on first use. The
shell thread uses this API; see each module for the threads it touches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toucan_nb.notebook.graph import Workflow
from toucan_nb.notebook.images import show, to_pil
from toucan_nb.notebook.loader import load_workflow
from toucan_nb.notebook.namespace import NodeNamespace
from toucan_nb.notebook.register import node, register
from toucan_nb.notebook.session import get_runtime

if TYPE_CHECKING:
    from toucan_nb.notebook.widget import ProgressWidget
    from toucan_nb.runtime.runtime import Runtime

__all__ = ["ProgressWidget", "Workflow", "load_workflow", "node", "nodes", "register", "runtime", "show", "to_pil"]


def runtime(**config: Any) -> Runtime:
    """The kernel's Runtime, created and started on first call (see `session.get_runtime`)."""
    return get_runtime(**config)


def _session_registry() -> Any:
    return get_runtime().registry


nodes = NodeNamespace(_session_registry)


def __getattr__(name: str) -> Any:
    # The widget pulls in ipywidgets/anywidget: load it only when asked for.
    if name == "ProgressWidget":
        from toucan_nb.notebook.widget import ProgressWidget

        return ProgressWidget
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
