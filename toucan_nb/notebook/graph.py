"""Workflows built in cells: `Workflow`, the nodes in it (`WorkflowNode`) and their outputs (`Output`).

A node function (`node_function.py`) adds one `WorkflowNode` to a workflow and returns its `Output`
(one output) or the `WorkflowNode` itself (several outputs, or none: index it by position or by
RETURN_NAMES, or unpack it). Passing an `Output` as another node's input makes a link; lists of
constants are wrapped as `{"__value__": [...]}` in the API prompt (docs/protocol.md §6).

Which workflow a new node joins: the one a `with Workflow():` block made active, else the one its
linked inputs belong to, else a new one. Linking outputs of two different workflows merges the
second into the first (node ids that clash are renumbered), so building graphs needs no
bookkeeping. `Workflow.to_api()` / `Workflow.from_api()` convert to and from the API prompt.

Objects here belong to the thread that builds them (the kernel's shell); nothing here is locked.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from toucan_nb.notebook.spec import NodeSpec, registry_spec
from toucan_nb.runtime.graph_utils import is_link

if TYPE_CHECKING:
    from toucan_nb.notebook.execution import PromptHandle, RunResult

__all__ = ["Output", "RawLink", "Workflow", "WorkflowNode", "active_workflow"]

_active: contextvars.ContextVar[Workflow | None] = contextvars.ContextVar("toucan_active_workflow", default=None)


def active_workflow() -> Workflow | None:
    """The workflow of the innermost `with Workflow():` block, or None."""
    wf = _active.get()
    return None if wf is None else wf._resolve()


class Output:
    """One output of a node in a workflow. Used as another node's input, it becomes a link."""

    __slots__ = ("node", "index")

    def __init__(self, node: WorkflowNode, index: int) -> None:
        self.node = node
        self.index = index

    @property
    def workflow(self) -> Workflow:
        return self.node.workflow

    @property
    def type(self) -> str | None:
        """The output's type (RETURN_TYPES entry), when the node class is known."""
        spec = self.node.spec
        return spec.outputs[self.index].type if spec and self.index < len(spec.outputs) else None

    @property
    def name(self) -> str | None:
        spec = self.node.spec
        return spec.outputs[self.index].name if spec and self.index < len(spec.outputs) else None

    def to_link(self) -> list[Any]:
        """The API-format link `[node_id, output_index]`."""
        return [self.node.id, self.index]

    def run(self, **options: Any) -> Any:
        """Run the workflow as far as this output and return its value (a tensor, a number ...).

        Options are those of `Workflow.run`. Raises `PromptValidationError`, `NodeExecutionError`,
        `ExecutionInterruptedError`, `TimeoutError`.
        """
        return self.workflow.run(self, **options)[self]

    def queue(self, **options: Any) -> PromptHandle:
        """Queue the workflow with this output captured; returns a `PromptHandle` at once."""
        return self.workflow.queue(self, **options)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Output) and other.node is self.node and other.index == self.index

    def __hash__(self) -> int:
        return hash((id(self.node), self.index))

    def __repr__(self) -> str:
        label = self.name or str(self.index)
        return f"<Output {label} of node {self.node.id} ({self.node.class_type})>"


class RawLink:
    """A link kept exactly as an API prompt gave it, to a node this workflow does not hold.

    Inside a workflow only `Output`, `WorkflowNode` and `RawLink` are links: every list a cell passes is
    a constant (wrapped as `{"__value__": [...]}` on the way out).
    """

    __slots__ = ("node_id", "index")

    def __init__(self, node_id: str, index: int | float) -> None:
        self.node_id = node_id
        self.index = index

    def to_link(self) -> list[Any]:
        return [self.node_id, self.index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RawLink) and other.to_link() == self.to_link()

    def __hash__(self) -> int:
        return hash((self.node_id, self.index))

    def __repr__(self) -> str:
        return f"RawLink({self.node_id!r}, {self.index!r})"


class WorkflowNode:
    """A node in a `Workflow`: its id, class_type and inputs (constants, `Output`s or `RawLink`s)."""

    __slots__ = ("id", "class_type", "inputs", "spec", "workflow", "extra")

    def __init__(self, workflow: Workflow, node_id: str, class_type: str, inputs: dict[str, Any],
                 spec: NodeSpec | None = None, extra: dict[str, Any] | None = None) -> None:
        self.workflow = workflow
        self.id = node_id
        self.class_type = class_type
        self.inputs = inputs
        self.spec = spec
        self.extra = extra if extra is not None else {}  # other API keys kept as given: _meta, is_changed ...

    @property
    def title(self) -> str:
        meta = self.extra.get("_meta")
        if isinstance(meta, dict) and isinstance(meta.get("title"), str):
            return meta["title"]
        return self.spec.display_name if self.spec else self.class_type

    @property
    def outputs(self) -> tuple[Output, ...]:
        """Every output of the node; raises TypeError when the node class is unknown."""
        return tuple(Output(self, i) for i in range(len(self._known_spec().outputs)))

    def out(self, index: int) -> Output:
        """The output at `index`, checked against the class when it is known."""
        if self.spec is not None:
            index = self.spec.output_index(index)
        return Output(self, index)

    def __getitem__(self, key: int | str) -> Output:
        """An output by index or by RETURN_NAMES (or an unambiguous RETURN_TYPES) name."""
        if isinstance(key, str):
            return Output(self, self._known_spec().output_index(key))
        return self.out(key)

    def __iter__(self) -> Iterator[Output]:
        return iter(self.outputs)

    def set_input(self, name: str, value: Any) -> None:
        """Set an input (a constant, an `Output`, a `WorkflowNode` with one output); `None` removes it."""
        if value is None:
            self.inputs.pop(name, None)
            return
        self.workflow._adopt_sources([value])
        self.inputs[name] = value

    def run(self, **options: Any) -> RunResult:
        """Run the workflow with every output of this node captured (an output node just runs)."""
        return self.workflow.run(self, **options)

    def queue(self, **options: Any) -> PromptHandle:
        return self.workflow.queue(self, **options)

    def _known_spec(self) -> NodeSpec:
        if self.spec is None:
            raise TypeError(f"node {self.id} ({self.class_type}): its class is unknown here, so its outputs "
                            "are too; use node.out(index), or load the workflow with a registry")
        return self.spec

    def __repr__(self) -> str:
        outs = "" if self.spec is None else f" -> {[o.name for o in self.spec.outputs]}"
        return f"<WorkflowNode {self.id}: {self.class_type}{outs}>"


class Workflow:
    """An API-format graph under construction; runs on a `Runtime` (`run`, `queue`).

    Use it as a context manager to collect the nodes that node functions create::

        with Workflow() as wf:
            img = nodes.EmptyImage(width=64, height=64)
            inv = nodes.ImageInvert(img)
        tensor = inv.run()
    """

    def __init__(self) -> None:
        self._nodes: dict[str, WorkflowNode] = {}
        self._next_id = 1
        self._forward: Workflow | None = None  # set when merged into another workflow
        self._tokens: list[contextvars.Token[Workflow | None]] = []

    # -- building ------------------------------------------------------------------------------
    def add(self, class_type: str, inputs: Mapping[str, Any] | None = None, *, node_id: str | None = None,
            spec: NodeSpec | None = None, title: str | None = None) -> WorkflowNode:
        """Add a node; inputs may hold constants, `Output`s, one-output `WorkflowNode`s or raw links.

        No input is checked against the class here: the runtime validates the prompt (docs/protocol.md §6).
        Raises ValueError when `node_id` is taken.
        """
        wf = self._resolve()
        values = dict(inputs or {})
        wf._adopt_sources(values.values())
        if node_id is None:
            node_id = wf._allocate_id()
        elif str(node_id) in wf._nodes:
            raise ValueError(f"node id {node_id!r} is already in this workflow")
        else:
            wf._note_id(str(node_id))
        extra: dict[str, Any] = {"_meta": {"title": title or (spec.display_name if spec else class_type)}}
        node = WorkflowNode(wf, str(node_id), class_type, values, spec=spec, extra=extra)
        wf._nodes[node.id] = node
        return node

    def remove(self, node: WorkflowNode | str) -> None:
        """Remove a node (inputs that still link to it will fail validation)."""
        wf = self._resolve()
        node_id = node.id if isinstance(node, WorkflowNode) else str(node)
        wf._nodes.pop(node_id, None)

    def _allocate_id(self) -> str:
        while str(self._next_id) in self._nodes:
            self._next_id += 1
        node_id = str(self._next_id)
        self._next_id += 1
        return node_id

    def _adopt_sources(self, values: Any) -> None:
        """Merge into this workflow every other workflow that `values` link to."""
        me = self._resolve()
        for value in values:
            node = _source_node(value)
            if node is not None:
                other = node.workflow._resolve()
                if other is not me:
                    me._absorb(other)

    def _absorb(self, other: Workflow) -> None:
        for node in list(other._nodes.values()):
            if node.id in self._nodes:
                node.id = self._allocate_id()
            else:
                self._note_id(node.id)
            node.workflow = self
            self._nodes[node.id] = node
        other._nodes = {}
        other._forward = self

    def _note_id(self, node_id: str) -> None:
        if node_id.isdigit():
            self._next_id = max(self._next_id, int(node_id) + 1)

    def _resolve(self) -> Workflow:
        wf = self
        while wf._forward is not None:
            wf = wf._forward
        return wf

    def __enter__(self) -> Workflow:
        self._tokens.append(_active.set(self))
        return self

    def __exit__(self, *exc: object) -> None:
        _active.reset(self._tokens.pop())

    # -- reading -------------------------------------------------------------------------------
    @property
    def nodes(self) -> dict[str, WorkflowNode]:
        """node_id -> WorkflowNode, in insertion order (a copy)."""
        return dict(self._resolve()._nodes)

    def __getitem__(self, node_id: str) -> WorkflowNode:
        return self._resolve()._nodes[str(node_id)]

    def __contains__(self, node: object) -> bool:
        nodes = self._resolve()._nodes
        if isinstance(node, WorkflowNode):
            return nodes.get(node.id) is node
        return str(node) in nodes

    def __len__(self) -> int:
        return len(self._resolve()._nodes)

    def __iter__(self) -> Iterator[WorkflowNode]:
        return iter(list(self._resolve()._nodes.values()))

    def __repr__(self) -> str:
        wf = self._resolve()
        kinds = ", ".join(f"{n.id}:{n.class_type}" for n in list(wf._nodes.values())[:8])
        more = "" if len(wf._nodes) <= 8 else ", ..."
        return f"<Workflow {len(wf._nodes)} nodes [{kinds}{more}]>"

    def bind_specs(self, registry: Any) -> None:
        """Fill in the class facts of nodes that lack them, from a `NodeRegistry` (unknown classes stay None)."""
        for node in self._resolve()._nodes.values():
            if node.spec is None and node.class_type in registry:
                node.spec = registry_spec(registry, node.class_type)

    # -- API format ----------------------------------------------------------------------------
    def to_api(self) -> dict[str, Any]:
        """The API-format prompt `{node_id: {"class_type", "inputs", "_meta", ...}}` (docs/protocol.md §6).

        Raises ValueError for a link to a node that is not in this workflow.
        """
        wf = self._resolve()
        prompt: dict[str, Any] = {}
        for node in wf._nodes.values():
            inputs = {name: wf._encode(node, name, value) for name, value in node.inputs.items()}
            entry: dict[str, Any] = {"inputs": inputs, "class_type": node.class_type}
            entry.update(node.extra)
            prompt[node.id] = entry
        return prompt

    def to_json(self, **dumps_options: Any) -> str:
        return json.dumps(self.to_api(), **dumps_options)

    def _encode(self, node: WorkflowNode, name: str, value: Any) -> Any:
        source = _source_node(value)
        if source is not None:
            if self._nodes.get(source.id) is not source:
                raise ValueError(f"input {name!r} of node {node.id} links to node {source.id}, "
                                 "which is not in this workflow")
            if isinstance(value, WorkflowNode):
                return _single_output(value).to_link()
            return value.to_link()
        if isinstance(value, RawLink):
            return value.to_link()
        if isinstance(value, (list, tuple)):
            # QUIRK(docs/execution.md vocabulary): a list constant would read as a link; wrap it.
            return {"__value__": list(value)}
        return value

    @classmethod
    def from_api(cls, prompt: Mapping[str, Any] | str, registry: Any = None) -> Workflow:
        """A workflow from an API-format prompt (a dict or its JSON text).

        Links become `Output`s (a link to a missing node, or with a float slot, stays a `RawLink`); `{"__value__":
        [...]}` is unwrapped to the list. With a `NodeRegistry`, nodes get their class facts (output
        names, types). Raises ValueError when an entry has no `class_type`.
        """
        data = json.loads(prompt) if isinstance(prompt, str) else prompt
        if not isinstance(data, Mapping):
            raise ValueError("an API prompt is a JSON object of node_id -> {class_type, inputs}")
        wf = cls()
        for node_id, entry in data.items():
            if not isinstance(entry, Mapping) or "class_type" not in entry:
                raise ValueError(f"node {node_id!r} has no class_type; is this an API-format prompt?")
            extra = {k: v for k, v in entry.items() if k not in ("class_type", "inputs")}
            node = WorkflowNode(wf, str(node_id), str(entry["class_type"]), dict(entry.get("inputs") or {}),
                            extra=_deepcopy_json(extra))
            wf._nodes[node.id] = node
            wf._note_id(node.id)
        for node in wf._nodes.values():
            for name, value in list(node.inputs.items()):
                if is_link(value):
                    source = wf._nodes.get(value[0])
                    if source is not None and isinstance(value[1], int):
                        node.inputs[name] = Output(source, value[1])
                    else:
                        node.inputs[name] = RawLink(value[0], value[1])
                elif _is_wrapped_list(value):
                    node.inputs[name] = list(value["__value__"])
        if registry is not None:
            wf.bind_specs(registry)
        return wf

    # -- running (execution.py) ----------------------------------------------------------------
    def run(self, *targets: Output | WorkflowNode, **options: Any) -> RunResult:
        """Run on the session's runtime (or `runtime=`), wait, and return a `RunResult`.

        `targets`: outputs to bring back as values, and/or nodes (an output node runs; a node with
        outputs has them all captured). With no targets every output node of the workflow runs.
        Options: `runtime`, `timeout`, `progress` (show a ProgressWidget; default: inside a kernel),
        `extra_data`, `client_id`, `display_images`. Raises `PromptValidationError`,
        `NodeExecutionError`, `ExecutionInterruptedError`, `TimeoutError`.
        """
        from toucan_nb.notebook.execution import run_workflow

        return run_workflow(self._resolve(), targets, **options)

    def queue(self, *targets: Output | WorkflowNode, **options: Any) -> PromptHandle:
        """Validate and queue; returns a `PromptHandle` (status, wait, cancel) without waiting."""
        from toucan_nb.notebook.execution import queue_workflow

        return queue_workflow(self._resolve(), targets, **options)


def _source_node(value: Any) -> WorkflowNode | None:
    if isinstance(value, Output):
        return value.node
    if isinstance(value, WorkflowNode):
        return value
    return None


def _single_output(node: WorkflowNode) -> Output:
    if node.spec is not None and len(node.spec.outputs) != 1:
        names = [o.name for o in node.spec.outputs]
        raise TypeError(f"node {node.id} ({node.class_type}) has {len(names)} outputs {names}; "
                        "pick one with node[index] or node['NAME']")
    return Output(node, 0)


def _is_wrapped_list(value: Any) -> bool:
    return (isinstance(value, Mapping) and set(value) == {"__value__"}
            and isinstance(value["__value__"], list))


def _deepcopy_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deepcopy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deepcopy_json(v) for v in value]
    return value


def workflow_for(values: Any) -> Workflow:
    """The workflow a new node joins: the active one, else its first linked input's, else a new one."""
    active = active_workflow()
    if active is not None:
        return active
    for value in values:
        node = _source_node(value)
        if node is not None:
            return node.workflow._resolve()
    return Workflow()
