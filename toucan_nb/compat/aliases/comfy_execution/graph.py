"""Alias of ComfyUI's `comfy_execution.graph`: DynamicPrompt, the graph errors, and ExecutionBlocker
re-exported (the same class as in `comfy_execution.graph_utils`, docs/execution.md §3.8)."""

from __future__ import annotations

from toucan_nb.compat.execution_helpers import get_input_info
from toucan_nb.runtime.errors import DependencyCycleError, NodeInputError, NodeNotFoundError
from toucan_nb.runtime.graph_utils import ExecutionBlocker
from toucan_nb.runtime.prompt import DynamicPrompt

__all__ = [
    "DependencyCycleError",
    "DynamicPrompt",
    "ExecutionBlocker",
    "NodeInputError",
    "NodeNotFoundError",
    "get_input_info",
]
