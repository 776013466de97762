"""Convert the frontend's saved workflow (UI format: "nodes" + "links") to an API-format prompt.

This does what the official frontend does when it queues a workflow (its `graphToPrompt`):

* widget values: `widgets_values_named` when the file has it (frontends since 1.3x save both),
  else `widgets_values` by position over the node class's widget inputs in INPUT_TYPES order
  (required, then optional). The frontend's companion widgets hold a slot each and are skipped:
  the control widget after a seed / `control_after_generate` input (and, on combos, its filter
  text), and the upload button it appends after the required inputs of a `image_upload` combo.
  Files saved before frontend 1.16 also hold a dummy value for each `forceInput` input; those are
  dropped when the value count says so. A dict `widgets_values` is read by name.
* links: `links` as `[id, from_node, from_slot, to_node, to_slot, type]` or as objects; a link
  overrides the widget value of the same input; list values are wrapped as `{"__value__": [...]}`.
* virtual nodes are resolved: `Reroute` follows its input; `PrimitiveNode` gives its value as a
  constant; `Note` / `MarkdownNote` are dropped.
* muted nodes (mode 2) are left out, and so is every input linked to them; a bypassed node (mode 4)
  passes through the input whose type matches (same slot first, then the first exact type match,
  then the first compatible type), as the frontend's `ExecutableNodeDTO` does.
* `_meta.title` is the node's title.

Subgraphs and legacy group nodes are not supported: they raise `WorkflowConversionError`.
Pure; any thread may call it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from toucan_nb.notebook.spec import NodeSpec, registry_spec

MUTED, BYPASSED = 2, 4
CONTROL_MODES = frozenset({"fixed", "increment", "decrement", "randomize", "increment-wrap"})
_VIRTUAL_DROPPED = frozenset({"Note", "MarkdownNote"})


class WorkflowConversionError(ValueError):
    """The UI workflow cannot be turned into a prompt (malformed, subgraphs, group nodes)."""


def is_ui_workflow(data: Any) -> bool:
    return isinstance(data, Mapping) and isinstance(data.get("nodes"), list)


def _links_table(workflow: Mapping[str, Any]) -> dict[Any, tuple[str, int]]:
    table: dict[Any, tuple[str, int]] = {}
    for link in workflow.get("links") or []:
        if isinstance(link, (list, tuple)) and len(link) >= 5:
            link_id, origin, slot = link[0], link[1], link[2]
        elif isinstance(link, Mapping):
            link_id, origin, slot = link.get("id"), link.get("origin_id"), link.get("origin_slot")
        else:
            raise WorkflowConversionError(f"malformed link {link!r}")
        table[link_id] = (str(origin), int(slot))
    return table


def _types_match(a: Any, b: Any) -> bool:
    """Litegraph's `isValidConnection`: equal, a wildcard, or overlapping comma lists."""
    if a in ("*", "", 0, None) or b in ("*", "", 0, None):
        return True
    sa = {t.strip().lower() for t in str(a).split(",")}
    sb = {t.strip().lower() for t in str(b).split(",")}
    return bool(sa & sb)


class _Converter:
    def __init__(self, workflow: Mapping[str, Any], registry: Any) -> None:
        self.registry = registry
        self.links = _links_table(workflow)
        self.nodes: dict[str, Mapping[str, Any]] = {}
        for node in workflow["nodes"]:
            if not isinstance(node, Mapping) or "id" not in node:
                raise WorkflowConversionError(f"malformed node {node!r}")
            self.nodes[str(node["id"])] = node
        definitions = workflow.get("definitions") or {}
        self.subgraph_ids = {str(sg.get("id")) for sg in definitions.get("subgraphs") or [] if isinstance(sg, Mapping)}
        self.specs: dict[str, NodeSpec | None] = {}

    def spec(self, class_type: str) -> NodeSpec | None:
        if class_type not in self.specs:
            self.specs[class_type] = (registry_spec(self.registry, class_type)
                                      if self.registry is not None and class_type in self.registry else None)
        return self.specs[class_type]

    def convert(self) -> dict[str, Any]:
        order = sorted(self.nodes.values(), key=lambda n: n.get("order", 0))
        prompt: dict[str, Any] = {}
        for node in order:
            node_type = str(node.get("type", ""))
            self._check_supported(node, node_type)
            if node.get("mode") in (MUTED, BYPASSED) or node_type in ("Reroute", "PrimitiveNode"):
                continue
            if node_type in _VIRTUAL_DROPPED:
                continue
            spec = self.spec(node_type)
            inputs = self._widget_inputs(node, spec)
            for index, slot in enumerate(node.get("inputs") or []):
                if slot.get("link") is None:
                    continue
                resolved = self._resolve_input(node, index, slot.get("type"), set())
                if resolved is not None:  # unresolved: a widget keeps its value, as in the frontend
                    inputs[slot.get("name")] = resolved
            title = node.get("title") or (spec.display_name if spec else node_type)
            prompt[str(node["id"])] = {"inputs": inputs, "class_type": node_type, "_meta": {"title": title}}
        # The frontend drops inputs that link to nodes it left out (muted ones).
        for entry in prompt.values():
            for name, value in list(entry["inputs"].items()):
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and value[0] not in prompt:
                    del entry["inputs"][name]
        return prompt

    def _check_supported(self, node: Mapping[str, Any], node_type: str) -> None:
        if node_type in self.subgraph_ids:
            raise WorkflowConversionError(
                f"node {node['id']} is a subgraph ({node_type}); subgraphs are not supported yet: "
                "convert it to nodes in the frontend (right click > Unpack Subgraph) and save again")
        if node_type.startswith(("workflow>", "workflow/")):
            raise WorkflowConversionError(
                f"node {node['id']} is a legacy group node ({node_type}), which is not supported: "
                "convert it to nodes in the frontend and save again")

    # -- links -----------------------------------------------------------------------------------
    def _resolve_input(self, node: Mapping[str, Any], index: int, want_type: Any, seen: set[Any]) -> Any:
        """What input `index` of `node` resolves to: a link list, a constant, or None (left out)."""
        slots = node.get("inputs") or []
        if index >= len(slots):
            return None
        link_id = slots[index].get("link")
        if link_id is None:
            return None
        if link_id not in self.links:
            raise WorkflowConversionError(f"node {node['id']} input {index} uses unknown link {link_id}")
        origin_id, origin_slot = self.links[link_id]
        key = (origin_id, origin_slot)
        if key in seen:
            raise WorkflowConversionError(f"circular links through node {origin_id}")
        seen.add(key)
        origin = self.nodes.get(origin_id)
        if origin is None:
            return None
        origin_type = str(origin.get("type", ""))
        if origin.get("mode") == MUTED:
            return None
        if origin.get("mode") == BYPASSED:
            through = self._bypass_slot(origin, origin_slot, want_type)
            return None if through is None else self._resolve_input(origin, through, want_type, seen)
        if origin_type == "Reroute":
            return self._resolve_input(origin, 0, want_type, seen)
        if origin_type == "PrimitiveNode":
            values = origin.get("widgets_values")
            if isinstance(values, list) and values:
                return _wrap(values[0])
            return None
        if origin_type in _VIRTUAL_DROPPED:
            return None
        self._check_supported(origin, origin_type)
        return [origin_id, origin_slot]

    def _bypass_slot(self, node: Mapping[str, Any], slot: int, want_type: Any) -> int | None:
        inputs = node.get("inputs") or []
        outputs = node.get("outputs") or []
        out_type = outputs[slot].get("type") if slot < len(outputs) else "*"
        if want_type in ("*", "", None):
            return (slot if len(inputs) > slot else 0) if inputs else None
        if slot < len(inputs):
            t = inputs[slot].get("type")
            if _types_match(t, out_type) and _types_match(t, want_type):
                return slot
        for i, inp in enumerate(inputs):
            if inp.get("type") == want_type:
                return i
        for i, inp in enumerate(inputs):
            if _types_match(inp.get("type"), out_type) and _types_match(inp.get("type"), want_type):
                return i
        return None

    # -- widgets ---------------------------------------------------------------------------------
    def _widget_inputs(self, node: Mapping[str, Any], spec: NodeSpec | None) -> dict[str, Any]:
        named = node.get("widgets_values_named")
        values = node.get("widgets_values")
        if not isinstance(named, Mapping) and isinstance(values, Mapping):
            named = values
        if isinstance(named, Mapping):
            if spec is None:
                return {k: _wrap(v) for k, v in named.items()}
            return {k: _wrap(v) for k, v in named.items() if spec.input(k) is not None}
        if not isinstance(values, list) or spec is None:
            return {}
        return {name: _wrap(v) for name, v in map_widget_values(spec, values).items()}


def _wrap(value: Any) -> Any:
    return {"__value__": value} if isinstance(value, list) else value


def _widget_slots(spec: NodeSpec, legacy_force_input: bool) -> list[tuple[str, str | None]]:
    """The frontend's widget order for a class: (kind, input name) with kind value|control|filter|upload|dummy."""
    slots: list[tuple[str, str | None]] = []
    upload_after_required = False
    for inp in spec.inputs:
        if not inp.is_required and upload_after_required:
            slots.append(("upload", None))
            upload_after_required = False
        if inp.is_widget:
            slots.append(("value", inp.name))
            controls = inp.control_slots
            if controls:
                slots.append(("control", inp.name))
            if controls > 1:
                slots.append(("filter", inp.name))
            if inp.has_upload_button and inp.is_required:
                upload_after_required = True
        elif legacy_force_input and inp.options.get("forceInput") and inp.type in _WIDGET_BASE:
            slots.append(("dummy", inp.name))
    if upload_after_required:
        slots.append(("upload", None))
    return slots


_WIDGET_BASE = frozenset({"INT", "FLOAT", "BOOLEAN", "STRING", "COMBO"})


def map_widget_values(spec: NodeSpec, values: list[Any]) -> dict[str, Any]:
    """Positional `widgets_values` -> {input name: value} for the class `spec` (see module doc)."""
    current = _widget_slots(spec, legacy_force_input=False)
    legacy = _widget_slots(spec, legacy_force_input=True)
    if len(values) == len(current):
        slots, exact = current, True
    elif len(values) == len(legacy):
        slots, exact = legacy, True
    else:
        slots, exact = current, False
    out: dict[str, Any] = {}
    i = 0
    last_control_taken = False
    for kind, name in slots:
        if i >= len(values):
            break
        value = values[i]
        if exact:
            if kind == "value" and name is not None:
                out[name] = value
            i += 1
            continue
        # Counts disagree (an older or newer frontend): take companions only when they look like one.
        if kind == "value" and name is not None:
            out[name] = value
            i += 1
        elif kind == "control":
            last_control_taken = value in CONTROL_MODES
            i += 1 if last_control_taken else 0
        elif kind == "filter":
            i += 1 if last_control_taken and isinstance(value, str) and value not in CONTROL_MODES else 0
        elif kind == "upload":
            i += 1 if value == "image" else 0
        else:
            i += 1
    return out


def ui_to_api(workflow: Mapping[str, Any], registry: Any) -> dict[str, Any]:
    """The API-format prompt for a UI-format workflow dict, reading node classes from `registry`.

    Nodes whose class the registry lacks keep only their linked inputs (and named widget values),
    so running the prompt reports them as the runtime does. Raises `WorkflowConversionError`.
    """
    if not is_ui_workflow(workflow):
        raise WorkflowConversionError("not a UI-format workflow: it has no 'nodes' list")
    return _Converter(workflow, registry).convert()
