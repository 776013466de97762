"""Small pieces of ComfyUI's `comfy_execution` that packs call directly.

`CurrentNodeContext` (comfy_execution.utils) runs a block as a given node, keeping the running
prompt's hooks, on `toucan_nb.runtime.context`. `get_input_info` (comfy_execution.graph) reads one
input's declaration (docs/execution.md §1.2). Any thread.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from toucan_nb.runtime.context import ExecutionContext, current_node, get_executing_context, last_context


class CurrentNodeContext:
    """`with CurrentNodeContext(prompt_id, node_id, list_index):` marks the running node.

    Progress reported inside goes to the prompt that was running when the block was entered.
    """

    def __init__(self, prompt_id: str, node_id: str, list_index: int | None = None) -> None:
        self.prompt_id = prompt_id
        self.node_id = node_id
        self.list_index = list_index
        self._cm: AbstractContextManager[ExecutionContext] | None = None

    def __enter__(self) -> ExecutionContext:
        outer = get_executing_context() or last_context()
        hooks = outer.hooks if outer is not None and outer.prompt_id == self.prompt_id else None
        self._cm = current_node(self.prompt_id, self.node_id, self.list_index, hooks)
        return self._cm.__enter__()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool | None:
        assert self._cm is not None
        cm, self._cm = self._cm, None
        return cm.__exit__(exc_type, exc, tb)


def get_input_info(class_def: Any, input_name: str,
                   valid_inputs: dict[str, Any] | None = None) -> tuple[Any, str | None, dict[str, Any] | None]:
    """(type, "required"|"optional"|"hidden", options) of `input_name`; (None, None, None) if undeclared."""
    inputs = valid_inputs if valid_inputs is not None else class_def.INPUT_TYPES()
    for category in ("required", "optional", "hidden"):
        section = inputs.get(category) or {}
        if input_name in section:
            spec = section[input_name]
            if isinstance(spec, (tuple, list)):
                input_type = spec[0]
                extra = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            else:
                input_type, extra = spec, {}
            return input_type, category, extra
    return None, None, None
