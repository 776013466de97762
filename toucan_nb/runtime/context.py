"""Which prompt and node the current code runs for (docs/execution.md §5.5), in a contextvar.

The executor sets it around every node call (FUNCTION, check_lazy_status, IS_CHANGED, validators);
asyncio tasks copy it, so concurrent async nodes stay apart. `hooks` is the running prompt's
`RunHooks`: how node code reports progress and previews and checks for interrupts.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class RunHooks(Protocol):
    """What node code may call on the prompt that runs it (implemented by the executor)."""

    prompt_id: str
    extra_data: dict[str, Any]  # the prompt's extra_data (preview_method, extra_pnginfo, ...)

    def update_progress(self, node_id: str, value: float, max_value: float, preview: Any = None,
                        legacy: bool = True) -> None:
        """Report progress (and an optional preview `(format, PIL image, max_size)`)."""

    def check_interrupt(self) -> None:
        """Raise `ExecutionInterruptedError` if this prompt was interrupted (one-shot)."""

    def is_interrupted(self) -> bool:
        """Whether an interrupt is pending, without consuming it."""

    def send_text(self, node_id: str, text: str) -> None:
        """Send a TEXT frame for `node_id`."""

    def hand_back(self, node_id: str, values: list[Any]) -> None:
        """Give `values` to whoever queued the prompt, with its result (`PromptResult.handed_back`):
        how the notebook's capture nodes return tensors, also from a scale-out worker."""


class ExecutionContext:
    """The running node (a plain slotted class: it is created for every node call)."""

    __slots__ = ("prompt_id", "node_id", "list_index", "hooks")

    def __init__(self, prompt_id: str, node_id: str, list_index: int | None, hooks: RunHooks | None = None) -> None:
        self.prompt_id = prompt_id
        self.node_id = node_id
        self.list_index = list_index
        self.hooks = hooks

    def __repr__(self) -> str:
        return f"ExecutionContext({self.prompt_id!r}, {self.node_id!r}, {self.list_index!r})"


_current: contextvars.ContextVar[ExecutionContext | None] = contextvars.ContextVar(
    "toucan_execution_context", default=None
)


_last: ExecutionContext | None = None


def get_executing_context() -> ExecutionContext | None:
    """The context of the node running in this task/thread, or None."""
    return _current.get()


def last_context() -> ExecutionContext | None:
    """The most recently entered node context of any thread: ComfyUI's `server.last_node_id` fallback
    for progress reported from threads the node started itself."""
    return _last


def set_context(prompt_id: str, node_id: str, list_index: int | None,
                hooks: RunHooks | None) -> contextvars.Token[ExecutionContext | None]:
    """Enter a node context without a context manager (the executor's hot path); undo with reset_context."""
    global _last
    ctx = _last = ExecutionContext(prompt_id, node_id, list_index, hooks)
    return _current.set(ctx)


def reset_context(token: contextvars.Token[ExecutionContext | None]) -> None:
    _current.reset(token)


@contextmanager
def current_node(prompt_id: str, node_id: str, list_index: int | None = None,
                 hooks: RunHooks | None = None) -> Iterator[ExecutionContext]:
    """Run a block as node `node_id` of prompt `prompt_id`."""
    global _last
    ctx = ExecutionContext(prompt_id, node_id, list_index, hooks)
    _last = ctx
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
