"""resolve() and call_node_method(): async node methods from sync code, never nesting loops."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Generator
from typing import Any

import pytest

from toucan_nb.runtime.asynccall import call_node_method, resolve
from toucan_nb.runtime.context import get_executing_context

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")


async def where(value: Any = None) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"value": value, "thread": threading.get_ident(), "loop": asyncio.get_running_loop(),
            "marker": marker.get()}


class Ready:
    """A non-coroutine awaitable."""

    def __await__(self) -> Generator[Any, None, str]:
        yield from asyncio.sleep(0).__await__()
        return "ready"


class Oops(Exception):
    pass


async def raises() -> None:
    await asyncio.sleep(0)
    raise Oops("inside")


def test_plain_values_are_returned_as_is() -> None:
    value = [1, 2]
    assert resolve(value) is value
    assert resolve(None) is None


def test_coroutine_without_running_loop_runs_on_this_thread_and_reuses_its_loop() -> None:
    first = resolve(where(1))
    second = resolve(where(2))
    assert (first["value"], second["value"]) == (1, 2)
    assert first["thread"] == second["thread"] == threading.get_ident()
    assert first["loop"] is second["loop"]
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()  # nothing left running


def test_generic_awaitable() -> None:
    assert resolve(Ready()) == "ready"


def test_exceptions_propagate_with_their_type() -> None:
    with pytest.raises(Oops, match="inside"):
        resolve(raises())


def test_inside_a_running_loop_uses_a_helper_thread() -> None:
    async def handler() -> tuple[dict[str, Any], int, asyncio.AbstractEventLoop]:
        return resolve(where("nested")), threading.get_ident(), asyncio.get_running_loop()

    result, handler_thread, handler_loop = asyncio.run(handler())
    assert result["value"] == "nested"
    assert result["thread"] != handler_thread
    assert result["loop"] is not handler_loop


def test_inside_a_running_loop_exceptions_propagate() -> None:
    async def handler() -> None:
        resolve(raises())

    with pytest.raises(Oops):
        asyncio.run(handler())


def test_context_variables_travel_with_the_awaitable() -> None:
    token = marker.set("outer")
    try:
        assert resolve(where())["marker"] == "outer"

        async def handler() -> str:
            marker.set("in-handler")
            return resolve(where())["marker"]  # type: ignore[no-any-return]

        assert asyncio.run(handler()) == "in-handler"
    finally:
        marker.reset(token)


def test_nested_resolve_from_a_resolved_coroutine() -> None:
    async def outer() -> Any:
        return resolve(where("inner"))["value"]

    assert resolve(outer()) == "inner"


def test_worker_threads_get_their_own_loop() -> None:
    results: list[dict[str, Any]] = []
    worker = threading.Thread(target=lambda: results.append(resolve(where("w"))))
    worker.start()
    worker.join(timeout=10)
    here = resolve(where("main"))
    assert results[0]["value"] == "w"
    assert results[0]["loop"] is not here["loop"]


def test_call_node_method_sets_the_node_context_for_sync_and_async() -> None:
    def sync_fn(a: int) -> tuple[int, Any]:
        ctx = get_executing_context()
        return a, (ctx.prompt_id, ctx.node_id, ctx.list_index) if ctx else None

    async def async_fn(a: int) -> tuple[int, Any]:
        await asyncio.sleep(0)
        return sync_fn(a)

    assert call_node_method(sync_fn, {"a": 1}, "p", "7") == (1, ("p", "7", 0))
    assert call_node_method(async_fn, {"a": 2}, "p", "8") == (2, ("p", "8", 0))
    assert call_node_method(sync_fn, {"a": 3}, "p", "9", None) == (3, ("p", "9", None))
    assert get_executing_context() is None

    async def handler() -> Any:
        return call_node_method(async_fn, {"a": 4}, "q", "1")

    assert asyncio.run(handler()) == (4, ("q", "1", 0))


def test_call_node_method_resets_the_context_on_error() -> None:
    async def broken() -> None:
        raise Oops("x")

    with pytest.raises(Oops):
        call_node_method(broken, {}, "p", "1")
    assert get_executing_context() is None
