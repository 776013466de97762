"""Flow control by recursive node expansion: while and for loops, and an execution blocker
(docs/execution.md §3.7, §3.8).

A while loop is a `TestWhileLoopOpen` ... `TestWhileLoopClose` pair. While the condition holds,
the close node expands into a copy of every node between the pair (itself included, named
"Recurse"), with `override_display_id` pointing at the originals so progress lands on them, and
returns the copy's outputs. A for loop expands into a while loop counting down `remaining`.
"""

from __future__ import annotations

from typing import Any

from comfy_execution.graph import ExecutionBlocker
from comfy_execution.graph_utils import GraphBuilder, is_link

from .variants import VariantSupport

NUM_FLOW_SOCKETS = 5


def _socket_values(kwargs: dict[str, Any], first: int = 0) -> list[Any]:
    return [kwargs.get(f"initial_value{i}") for i in range(first, NUM_FLOW_SOCKETS)]


@VariantSupport()
class TestWhileLoopOpen:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"condition": ("BOOLEAN", {"default": True})},
            "optional": {f"initial_value{i}": ("*",) for i in range(NUM_FLOW_SOCKETS)},
        }

    RETURN_TYPES = ("FLOW_CONTROL", *["*"] * NUM_FLOW_SOCKETS)
    RETURN_NAMES = ("FLOW_CONTROL", *[f"value{i}" for i in range(NUM_FLOW_SOCKETS)])
    FUNCTION = "while_loop_open"
    CATEGORY = "Testing/Flow"

    def while_loop_open(self, condition: bool, **kwargs: Any) -> tuple[Any, ...]:
        return ("stub", *_socket_values(kwargs))


def _consumers_upstream_of(node_id: str, dynprompt: Any, consumers: dict[str, list[str]]) -> None:
    """Walk links upward from `node_id` (depth first), recording who consumes each node found."""
    for value in dynprompt.get_node(node_id).get("inputs", {}).values():
        if not is_link(value):
            continue
        source = value[0]
        if source not in consumers:
            consumers[source] = []
            _consumers_upstream_of(source, dynprompt, consumers)
        consumers[source].append(node_id)


def _downstream_of(start: str, consumers: dict[str, list[str]], found: dict[str, None]) -> None:
    """Every node reachable from `start` through `consumers`, depth first, in discovery order."""
    for child in consumers.get(start, ()):
        if child not in found:
            found[child] = None
            _downstream_of(child, consumers, found)


@VariantSupport()
class TestWhileLoopClose:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "flow_control": ("FLOW_CONTROL", {"rawLink": True}),
                "condition": ("BOOLEAN", {"forceInput": True}),
            },
            "optional": {f"initial_value{i}": ("*",) for i in range(NUM_FLOW_SOCKETS)},
            "hidden": {"dynprompt": "DYNPROMPT", "unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = tuple(["*"] * NUM_FLOW_SOCKETS)
    RETURN_NAMES = tuple(f"value{i}" for i in range(NUM_FLOW_SOCKETS))
    FUNCTION = "while_loop_close"
    CATEGORY = "Testing/Flow"

    def while_loop_close(self, flow_control: list[Any], condition: bool, dynprompt: Any = None,
                         unique_id: str | None = None, **kwargs: Any) -> Any:
        assert dynprompt is not None and unique_id is not None
        if not condition:
            return tuple(_socket_values(kwargs))

        open_id = flow_control[0]
        consumers: dict[str, list[str]] = {}
        _consumers_upstream_of(unique_id, dynprompt, consumers)
        found: dict[str, None] = {}
        _downstream_of(open_id, consumers, found)
        found.setdefault(unique_id, None)
        found.setdefault(open_id, None)
        contained = list(found)

        def local_id(node_id: str) -> str:
            return "Recurse" if node_id == unique_id else node_id

        graph = GraphBuilder()
        for node_id in contained:
            clone = graph.node(dynprompt.get_node(node_id)["class_type"], local_id(node_id))
            clone.set_override_display_id(node_id)
        for node_id in contained:
            clone = graph.lookup_node(local_id(node_id))
            assert clone is not None
            for name, value in dynprompt.get_node(node_id)["inputs"].items():
                if is_link(value) and value[0] in found:
                    source = graph.lookup_node(local_id(value[0]))
                    assert source is not None
                    clone.set_input(name, source.out(value[1]))
                else:
                    clone.set_input(name, value)
        new_open = graph.lookup_node(open_id)
        assert new_open is not None
        for i in range(NUM_FLOW_SOCKETS):
            new_open.set_input(f"initial_value{i}", kwargs.get(f"initial_value{i}"))
        recurse = graph.lookup_node("Recurse")
        assert recurse is not None
        return {"result": tuple(recurse.out(i) for i in range(NUM_FLOW_SOCKETS)), "expand": graph.finalize()}


@VariantSupport()
class TestExecutionBlockerNode:
    """Passes `input` through, or blocks it (silently unless `verbose`)."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"input": ("*",), "block": ("BOOLEAN",), "verbose": ("BOOLEAN", {"default": False})}}

    RETURN_TYPES = ("*",)
    RETURN_NAMES = ("output",)
    FUNCTION = "execution_blocker"
    CATEGORY = "Testing/Flow"

    def execution_blocker(self, input: Any, block: bool, verbose: bool) -> tuple[Any]:  # noqa: A002
        if block:
            return (ExecutionBlocker("Blocked Execution" if verbose else None),)
        return (input,)


@VariantSupport()
class TestForLoopOpen:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"remaining": ("INT", {"default": 1, "min": 0, "max": 100000, "step": 1})},
            "optional": {f"initial_value{i}": ("*",) for i in range(1, NUM_FLOW_SOCKETS)},
            # Not a hidden marker: only passed when a recursion supplies it (docs/execution.md §1.3).
            "hidden": {"initial_value0": ("*",)},
        }

    RETURN_TYPES = ("FLOW_CONTROL", "INT", *["*"] * (NUM_FLOW_SOCKETS - 1))
    RETURN_NAMES = ("flow_control", "remaining", *[f"value{i}" for i in range(1, NUM_FLOW_SOCKETS)])
    FUNCTION = "for_loop_open"
    CATEGORY = "Testing/Flow"

    def for_loop_open(self, remaining: int, **kwargs: Any) -> dict[str, Any]:
        remaining = kwargs.get("initial_value0", remaining)
        values = _socket_values(kwargs, first=1)
        graph = GraphBuilder()
        graph.node("TestWhileLoopOpen", condition=remaining, initial_value0=remaining,
                   **{f"initial_value{i}": v for i, v in enumerate(values, start=1)})
        return {"result": ("stub", remaining, *values), "expand": graph.finalize()}


@VariantSupport()
class TestForLoopClose:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"flow_control": ("FLOW_CONTROL", {"rawLink": True})},
            "optional": {f"initial_value{i}": ("*", {"rawLink": True}) for i in range(1, NUM_FLOW_SOCKETS)},
        }

    RETURN_TYPES = tuple(["*"] * (NUM_FLOW_SOCKETS - 1))
    RETURN_NAMES = tuple(f"value{i}" for i in range(1, NUM_FLOW_SOCKETS))
    FUNCTION = "for_loop_close"
    CATEGORY = "Testing/Flow"

    def for_loop_close(self, flow_control: list[Any], **kwargs: Any) -> dict[str, Any]:
        graph = GraphBuilder()
        loop_open = flow_control[0]
        countdown = graph.node("TestIntMathOperation", operation="subtract", a=[loop_open, 1], b=1)
        keep_going = graph.node("TestToBoolNode", value=countdown.out(0))
        values = {f"initial_value{i}": kwargs.get(f"initial_value{i}") for i in range(1, NUM_FLOW_SOCKETS)}
        close = graph.node("TestWhileLoopClose", flow_control=flow_control, condition=keep_going.out(0),
                           initial_value0=countdown.out(0), **values)
        return {"result": tuple(close.out(i) for i in range(1, NUM_FLOW_SOCKETS)), "expand": graph.finalize()}


NODES = {
    "TestWhileLoopOpen": TestWhileLoopOpen,
    "TestWhileLoopClose": TestWhileLoopClose,
    "TestExecutionBlocker": TestExecutionBlockerNode,
    "TestForLoopOpen": TestForLoopOpen,
    "TestForLoopClose": TestForLoopClose,
}
DISPLAY_NAMES = {
    "TestWhileLoopOpen": "While Loop Open",
    "TestWhileLoopClose": "While Loop Close",
    "TestExecutionBlocker": "Execution Blocker",
    "TestForLoopOpen": "For Loop Open",
    "TestForLoopClose": "For Loop Close",
}
