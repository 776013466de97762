"""Node functions: one Python callable per node class, with a real signature and docstring.

`make_node_function(spec)` returns a function whose `__signature__` and `__doc__` come from the
class's INPUT_TYPES, DESCRIPTION and RETURN_* (docs/execution.md §1.1, §1.2), so tab completion and `?`
work in JupyterLab and VS Code without stub files. Parameter rules:

* inputs without a default (usually links) are positional-or-keyword, in declaration order;
* everything else is keyword-only: required widget inputs default to their `default` option (a
  combo to its first choice, as the frontend does), optional inputs to their declared default or
  None. An optional input left out, or passed as None, is left out of the prompt, so the node's own
  Python default applies (docs/execution.md §1.2: the executor never applies `default`);
* hidden inputs are not parameters (the executor fills them, docs/execution.md §1.3);
* input names that are not Python identifiers are mangled (`clip l` -> `clip_l`, `lambda` ->
  `lambda_`); the docstring shows the original. Undeclared (variadic) inputs: use `Workflow.add`.

Calling the function adds a node to a workflow (see `graph.py`) and returns its `Output` (one
output) or the `WorkflowNode`. Pure; any thread may build functions, calls belong to the building thread.
"""

from __future__ import annotations

import inspect
import keyword
import re
from collections.abc import Callable
from typing import Any, Literal

from toucan_nb.notebook.graph import Output, WorkflowNode, workflow_for
from toucan_nb.notebook.spec import InputSpec, NodeSpec

_PY_TYPES: dict[str, type] = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}
_MAX_LITERAL_CHOICES = 20  # longer combos are annotated `str` and summarised in the docstring


def python_name(name: str, taken: set[str] | None = None) -> str:
    """A valid, non-keyword Python identifier for `name`, unique within `taken` (which it extends)."""
    ident = re.sub(r"\W+", "_", name.strip(), flags=re.ASCII).strip("_") or "_"
    if ident[0].isdigit():
        ident = "_" + ident
    if keyword.iskeyword(ident):
        ident += "_"
    if taken is not None:
        base, n = ident, 2
        while ident in taken:
            ident, n = f"{base}_{n}", n + 1
        taken.add(ident)
    return ident


def _annotation(spec: InputSpec) -> Any:
    if spec.type in _PY_TYPES:
        return _PY_TYPES[spec.type]
    if spec.is_combo and spec.choices:
        if len(spec.choices) <= _MAX_LITERAL_CHOICES and all(isinstance(c, (str, int)) for c in spec.choices):
            return Literal[spec.choices]  # type: ignore[valid-type]
        return str
    return spec.type


def build_signature(spec: NodeSpec) -> tuple[inspect.Signature, dict[str, InputSpec]]:
    """The node function's signature and its parameter name -> input map."""
    taken: set[str] = set()
    positional: list[inspect.Parameter] = []
    keyword_only: list[inspect.Parameter] = []
    by_param: dict[str, InputSpec] = {}
    for inp in spec.inputs:
        pname = python_name(inp.name, taken)
        by_param[pname] = inp
        annotation = _annotation(inp)
        if inp.is_required and not inp.has_default:
            positional.append(inspect.Parameter(pname, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                annotation=annotation))
        else:
            default = inp.default if inp.has_default else None
            keyword_only.append(inspect.Parameter(pname, inspect.Parameter.KEYWORD_ONLY, default=default,
                                                  annotation=annotation))
    returns = Output if len(spec.outputs) == 1 else WorkflowNode
    return inspect.Signature(positional + keyword_only, return_annotation=returns), by_param


_RANGE_KEYS = ("min", "max", "step")


def _describe_input(pname: str, inp: InputSpec) -> list[str]:
    head = f"{pname} : {inp.type}"
    if inp.has_default:
        head += f", default {inp.default!r}"
    elif not inp.is_required:
        head += ", optional"
    lines = [head]
    facts: list[str] = []
    if pname != inp.name:
        facts.append(f"input {inp.name!r}")
    ranges = [f"{k} {inp.options[k]!r}" for k in _RANGE_KEYS if k in inp.options]
    if ranges:
        facts.append(", ".join(ranges))
    if inp.choices is not None:
        shown = ", ".join(repr(c) for c in inp.choices[:_MAX_LITERAL_CHOICES])
        more = f", ... ({len(inp.choices)} choices)" if len(inp.choices) > _MAX_LITERAL_CHOICES else ""
        facts.append(f"one of {shown}{more}" if inp.choices else "no choices available")
    if inp.options.get("multiline"):
        facts.append("multiline")
    if inp.options.get("lazy"):
        facts.append("lazy")
    if inp.type not in _PY_TYPES and not inp.is_combo:
        facts.append("a link: pass another node's output")
    if facts:
        lines.append("    " + "; ".join(facts) + ".")
    tooltip = inp.options.get("tooltip")
    if tooltip:
        lines.append(f"    {tooltip}")
    return lines


def build_docstring(spec: NodeSpec, by_param: dict[str, InputSpec]) -> str:
    """Numpy-style docstring: title, description, parameters, returns."""
    title = spec.class_type if spec.display_name == spec.class_type else f"{spec.display_name} ({spec.class_type})"
    lines = [f"{title}. Category: {spec.category}." + (" Output node." if spec.is_output_node else "")]
    if spec.description:
        lines += ["", spec.description.strip()]
    if by_param:
        lines += ["", "Parameters", "----------"]
        for pname, inp in by_param.items():
            lines += _describe_input(pname, inp)
    lines += ["", "Returns", "-------"]
    if len(spec.outputs) == 1:
        lines.append("Output")
        lines.append(f"    {_describe_output(spec, 0)}")
    else:
        if spec.outputs:
            lines.append("WorkflowNode")
            lines.append("    Index it by position or name, or unpack it:")
            for out in spec.outputs:
                lines.append(f"    [{out.index}] {_describe_output(spec, out.index)}")
        else:
            lines.append("WorkflowNode")
            lines.append("    This node has no outputs; run it with .run() or workflow.run().")
    lines += ["", "Calling this adds a node to a Workflow; `.run()` runs it and returns the value."]
    return "\n".join(lines)


def _describe_output(spec: NodeSpec, index: int) -> str:
    out = spec.outputs[index]
    text = f"{out.name!r} ({out.type}{', a list' if out.is_list else ''})"
    return f"{text}: {out.tooltip}" if out.tooltip else text


def make_node_function(spec: NodeSpec) -> Callable[..., Output | WorkflowNode]:
    """The callable for one node class: `f(*links, **widgets) -> Output | WorkflowNode`."""
    signature, by_param = build_signature(spec)

    def node_function(*args: Any, **kwargs: Any) -> Output | WorkflowNode:
        bound = signature.bind(*args, **kwargs)  # raises TypeError like a normal function
        inputs: dict[str, Any] = {}
        for pname, inp in by_param.items():
            if pname in bound.arguments:
                value = bound.arguments[pname]
                if value is None and not inp.is_required:
                    continue  # "not connected": the node's own default applies
                inputs[inp.name] = value
            elif inp.is_required and inp.has_default:
                inputs[inp.name] = inp.default
        workflow = workflow_for(inputs.values())
        node = workflow.add(spec.class_type, inputs, spec=spec)
        return Output(node, 0) if len(spec.outputs) == 1 else node

    name = python_name(spec.class_type)
    node_function.__name__ = name
    node_function.__qualname__ = name
    node_function.__module__ = "toucan_nb.notebook.nodes"
    node_function.__doc__ = build_docstring(spec, by_param)
    node_function.__signature__ = signature  # type: ignore[attr-defined]
    node_function.class_type = spec.class_type  # type: ignore[attr-defined]
    node_function.spec = spec  # type: ignore[attr-defined]
    return node_function
