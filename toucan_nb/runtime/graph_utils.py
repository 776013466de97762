"""Links, ExecutionBlocker and GraphBuilder: what node code uses to build graphs (docs/execution.md §3.7, §3.8).

`comfy_execution.graph_utils` and `comfy_execution.graph` re-export these very objects, so the
executor's `isinstance(x, ExecutionBlocker)` sees blockers made by custom nodes.
"""

from __future__ import annotations

from typing import Any


def is_link(obj: Any) -> bool:
    """True for `[source_node_id: str, output_index: int|float]` (a list; a tuple is never a link)."""
    return (
        isinstance(obj, list)
        and len(obj) == 2
        and isinstance(obj[0], str)
        and isinstance(obj[1], (int, float))
    )


class ExecutionBlocker:
    """Returned in place of an output to stop everything downstream of it.

    With a message, an `execution_error` notice ("Execution Blocked: <msg>") is sent for each blocked
    call; with `None` the branch stops silently. The prompt still succeeds.
    """

    def __init__(self, message: str | None) -> None:
        self.message = message


class Node:
    """A node under construction in a `GraphBuilder`."""

    def __init__(self, id: str, class_type: str, inputs: dict[str, Any]) -> None:
        self.id = id
        self.class_type = class_type
        self.inputs = inputs
        self.override_display_id: str | None = None

    def out(self, index: int) -> list[Any]:
        return [self.id, index]

    def set_input(self, key: str, value: Any) -> None:
        if value is None:
            self.inputs.pop(key, None)
        else:
            self.inputs[key] = value

    def get_input(self, key: str) -> Any:
        return self.inputs.get(key)

    def set_override_display_id(self, override_display_id: str) -> None:
        self.override_display_id = override_display_id

    def serialize(self) -> dict[str, Any]:
        serialized: dict[str, Any] = {"class_type": self.class_type, "inputs": self.inputs}
        if self.override_display_id is not None:
            serialized["override_display_id"] = self.override_display_id
        return serialized


class GraphBuilder:
    """Builds a graph for node expansion; ids get a prefix unique to the expanding call.

    QUIRK(docs/execution.md §3.7): the default prefix is class-global state set by the executor before
    each call, so an async node that builds after an `await` may see another node's prefix.
    """

    _default_prefix_root = ""
    _default_prefix_call_index = 0
    _default_prefix_graph_index = 0

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = self.alloc_prefix() if prefix is None else prefix
        self.nodes: dict[str, Node] = {}
        self.id_gen = 1

    @classmethod
    def set_default_prefix(cls, prefix_root: str, call_index: int, graph_index: int = 0) -> None:
        cls._default_prefix_root = prefix_root
        cls._default_prefix_call_index = call_index
        cls._default_prefix_graph_index = graph_index

    @classmethod
    def alloc_prefix(cls, root: str | None = None, call_index: int | None = None,
                     graph_index: int | None = None) -> str:
        if root is None:
            root = GraphBuilder._default_prefix_root
        if call_index is None:
            call_index = GraphBuilder._default_prefix_call_index
        if graph_index is None:
            graph_index = GraphBuilder._default_prefix_graph_index
        result = f"{root}.{call_index}.{graph_index}."
        GraphBuilder._default_prefix_graph_index += 1
        return result

    def node(self, class_type: str, id: str | None = None, **kwargs: Any) -> Node:
        if id is None:
            id = str(self.id_gen)
            self.id_gen += 1
        id = self.prefix + id
        if id in self.nodes:
            return self.nodes[id]
        node = Node(id, class_type, kwargs)
        self.nodes[id] = node
        return node

    def lookup_node(self, id: str) -> Node | None:
        return self.nodes.get(self.prefix + id)

    def finalize(self) -> dict[str, Any]:
        return {node_id: node.serialize() for node_id, node in self.nodes.items()}

    def replace_node_output(self, node_id: str, index: int, new_value: Any) -> None:
        node_id = self.prefix + node_id
        to_remove = []
        for node in self.nodes.values():
            for key, value in node.inputs.items():
                if is_link(value) and value[0] == node_id and value[1] == index:
                    if new_value is None:
                        to_remove.append((node, key))
                    else:
                        node.inputs[key] = new_value
        for node, key in to_remove:
            del node.inputs[key]

    def remove_node(self, id: str) -> None:
        self.nodes.pop(self.prefix + id, None)


def add_graph_prefix(graph: dict[str, Any], outputs: list[Any], prefix: str) -> tuple[dict[str, Any], list[Any]]:
    """Prefix every node id of `graph` (and the links in `outputs`) with `prefix`."""
    new_graph: dict[str, Any] = {}
    for node_id, node_info in graph.items():
        new_inputs = {}
        for key, value in node_info["inputs"].items():
            new_inputs[key] = [prefix + value[0], value[1]] if is_link(value) else value
        new_graph[prefix + node_id] = {**node_info, "inputs": new_inputs}
    new_outputs = [[prefix + o[0], o[1]] if is_link(o) else o for o in outputs]
    return new_graph, new_outputs
