"""Running node methods that may be `async def` from synchronous runtime code (docs/execution.md §1.5, §3.10).

ComfyUI awaits VALIDATE_INPUTS, IS_CHANGED and check_lazy_status on its single event loop. Our
validation and signature code is synchronous, so it resolves their results here, never nesting
event loops (docs/architecture.md, decision 4):

- a thread with no running loop runs the awaitable on a loop of its own, kept per thread so
  repeated calls stay cheap (closed when the thread object goes away);
- a thread that is already running a loop (a tornado handler, an IPython cell) hands the
  awaitable to a short-lived helper thread with a fresh loop and waits for it.

The current contextvars (the node context of `toucan_nb.runtime.context`) travel with the
awaitable in both cases. Any thread may call these functions.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from toucan_nb.runtime.context import current_node

__all__ = ["call_node_method", "resolve"]

T = TypeVar("T")

_local = threading.local()


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _as_coroutine(awaitable: Awaitable[T]) -> Any:
    return awaitable if inspect.iscoroutine(awaitable) else _await(awaitable)


def _thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's private loop, created on first use."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _local.loop = loop
        # Threads have no exit hook; close the loop once the Thread object is collected.
        weakref.finalize(threading.current_thread(), loop.close)
    return loop


def _run_on_helper_thread(awaitable: Awaitable[T]) -> T:
    ctx = contextvars.copy_context()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = ctx.run(asyncio.run, _as_coroutine(awaitable))
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    helper = threading.Thread(target=target, name="toucan-resolve", daemon=True)
    helper.start()
    helper.join()
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value


def resolve(value: Any) -> Any:
    """`value`, or its result when it is awaitable (run to completion without nesting loops)."""
    if not inspect.isawaitable(value):
        return value
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _thread_loop().run_until_complete(_as_coroutine(value))
    return _run_on_helper_thread(value)


def call_node_method(fn: Callable[..., Any], kwargs: Mapping[str, Any], prompt_id: str, node_id: str,
                     list_index: int | None = 0) -> Any:
    """`fn(**kwargs)` run as node `node_id` of `prompt_id`, its result resolved if it is awaitable.

    ComfyUI passes list index None when the method gets no arguments at all (docs/execution.md §3.5).
    """
    with current_node(prompt_id, node_id, list_index):
        return resolve(fn(**kwargs))
