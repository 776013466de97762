"""Alias of ComfyUI's `comfy_execution.utils`: the executing context (docs/execution.md §5.5).

`ExecutionContext` is the runtime's own class (prompt_id, node_id, list_index, plus the prompt's
hooks); `get_executing_context()` is None outside node code.
"""

from __future__ import annotations

from toucan_nb.compat.execution_helpers import CurrentNodeContext
from toucan_nb.runtime.context import ExecutionContext, get_executing_context

__all__ = ["CurrentNodeContext", "ExecutionContext", "get_executing_context"]
