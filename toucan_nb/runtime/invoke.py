"""Calling node code: input assembly, list mapping, result merging (docs/execution.md §3.4, §3.5, §1.5).

This is the one place custom-node callables are invoked during execution. Per-class facts
(INPUT_TYPES, lazy inputs, hidden markers, list flags, coroutine-ness) are read once per class per
prompt into a `ClassInfo`. V3 schema classes (§1.9, `toucan_nb.runtime.v3`) are called through a
prepared clone per call, given `v3_data`. Executor thread only (async node calls run as tasks on its
loop).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from toucan_nb.runtime import v3
from toucan_nb.runtime.context import RunHooks, current_node, reset_context, set_context
from toucan_nb.runtime.graph_utils import ExecutionBlocker, GraphBuilder, is_link
from toucan_nb.runtime.prompt import DynamicPrompt

HIDDEN_MARKERS = frozenset(
    {"PROMPT", "DYNPROMPT", "EXTRA_PNGINFO", "UNIQUE_ID", "AUTH_TOKEN_COMFY_ORG", "API_KEY_COMFY_ORG"}
)


@dataclass(slots=True)
class ClassInfo:
    """What the executor needs to know about a node class, read once per prompt."""

    cls: type
    input_types: dict[str, Any]
    categories: dict[str, tuple[str, Any]]  # input name -> (category, extra_info or None)
    lazy: frozenset[str]
    raw_link: frozenset[str]
    hidden: dict[str, str]  # kwarg name -> marker
    input_is_list: bool
    output_is_list: tuple[bool, ...] | None
    return_types: tuple[Any, ...]
    function: str
    is_async: bool
    is_output: bool
    has_check_lazy: bool
    is_v3: bool = False
    dynamic: bool = False  # V3 with dynamic inputs: the declared inputs depend on the prompt entry

    @classmethod
    def of(cls, node_class: type) -> ClassInfo:
        input_types = node_class.INPUT_TYPES()  # type: ignore[attr-defined]  # V1 node classes declare INPUT_TYPES
        is_v3 = v3.is_v3(node_class)
        categories: dict[str, tuple[str, Any]] = {}
        lazy, raw = set(), set()
        hidden: dict[str, str] = {}
        # Later sections win, as get_input_info looks up. A V3 class's hidden values are not inputs:
        # they reach the node as `cls.hidden` (docs/execution.md §1.9).
        for category in ("optional", "required") if is_v3 else ("hidden", "optional", "required"):
            section = input_types.get(category)
            if not isinstance(section, dict):
                continue
            for name, spec in section.items():
                extra = spec[1] if isinstance(spec, (tuple, list)) and len(spec) > 1 else None
                categories[name] = (category, extra)
                if category == "hidden" and isinstance(spec, str) and spec in HIDDEN_MARKERS:
                    hidden[name] = spec
        for name, (_category, extra) in categories.items():
            if isinstance(extra, dict):
                if extra.get("lazy"):
                    lazy.add(name)
                if extra.get("rawLink"):
                    raw.add(name)
        function = node_class.FUNCTION  # type: ignore[attr-defined]  # V1 node classes declare FUNCTION
        fn = getattr(node_class, function)
        if is_v3:
            has_check_lazy = v3.first_real_override(node_class, "check_lazy_status") is not None
        else:
            has_check_lazy = getattr(node_class, "check_lazy_status", None) is not None
        return cls(
            cls=node_class,
            input_types=input_types,
            categories=categories,
            lazy=frozenset(lazy),
            raw_link=frozenset(raw),
            hidden=hidden,
            input_is_list=bool(getattr(node_class, "INPUT_IS_LIST", False)),
            output_is_list=tuple(node_class.OUTPUT_IS_LIST) if hasattr(node_class, "OUTPUT_IS_LIST") else None,
            return_types=tuple(getattr(node_class, "RETURN_TYPES", ())),
            function=function,
            is_async=inspect.iscoroutinefunction(fn),
            is_output=getattr(node_class, "OUTPUT_NODE", False) == True,  # noqa: E712 (ComfyUI compares with ==)
            has_check_lazy=has_check_lazy,
            is_v3=is_v3,
            dynamic=is_v3 and v3.has_dynamic_inputs(input_types),
        )


def hidden_values(info: ClassInfo, unique_id: str, dynprompt: DynamicPrompt | None,
                  extra_data: dict[str, Any]) -> dict[str, list[Any]]:
    """Hidden marker values (docs/execution.md §1.3), each as a one-item list."""
    out: dict[str, list[Any]] = {}
    for name, marker in info.hidden.items():
        if marker == "PROMPT":
            out[name] = [dynprompt.get_original_prompt() if dynprompt is not None else {}]
        elif marker == "DYNPROMPT":
            out[name] = [dynprompt]
        elif marker == "EXTRA_PNGINFO":
            out[name] = [extra_data.get("extra_pnginfo")]
        elif marker == "UNIQUE_ID":
            out[name] = [unique_id]
        elif marker == "AUTH_TOKEN_COMFY_ORG":
            out[name] = [extra_data.get("auth_token_comfy_org")]
        elif marker == "API_KEY_COMFY_ORG":
            out[name] = [extra_data.get("api_key_comfy_org")]
    return out


def get_input_data(inputs: dict[str, Any], info: ClassInfo, unique_id: str, execution_list: Any,
                   dynprompt: DynamicPrompt | None, extra_data: dict[str, Any]
                   ) -> tuple[dict[str, list[Any]], set[str]]:
    """Assemble `{name: [per-call values]}` and the names whose linked value is not available."""
    data: dict[str, list[Any]] = {}
    missing: set[str] = set()
    categories = info.categories
    raw_link = info.raw_link
    if info.dynamic:
        categories = v3.finalize_inputs(info.input_types, inputs).categories()
        raw_link = frozenset(name for name, (_category, extra) in categories.items()
                             if isinstance(extra, dict) and extra.get("rawLink"))
    for name, value in inputs.items():
        if is_link(value) and name not in raw_link:
            if execution_list is None:
                missing.add(name)
                data[name] = [None]
                continue
            entry = execution_list.get_cache(value[0], unique_id)
            if entry is None or value[1] >= len(entry.outputs):
                missing.add(name)
                data[name] = [None]
                continue
            # QUIRK(docs/execution.md §1.4): linked inputs are passed even when the node does not declare them.
            data[name] = entry.outputs[value[1]]
        elif name in categories:
            data[name] = [value]
        # QUIRK(docs/execution.md §1.4): undeclared constants are dropped.
    if info.hidden:
        data.update(hidden_values(info, unique_id, dynprompt, extra_data))
    return data, missing


def is_changed_inputs(cls: type, inputs: dict[str, Any], unique_id: str, dynprompt: DynamicPrompt,
                      extra_data: dict[str, Any]) -> dict[str, Any]:
    """Arguments for IS_CHANGED: constants as values, links as None, hidden markers (§1.6)."""
    info = ClassInfo.of(cls)
    data, _missing = get_input_data(inputs, info, unique_id, None, None, extra_data)
    return {k: v[0] for k, v in data.items()}


def _first_blocker(inputs: dict[str, Any], whole_lists: bool) -> ExecutionBlocker | None:
    for v in inputs.values():
        if whole_lists:
            for e in v:
                if isinstance(e, ExecutionBlocker):
                    return e
        elif isinstance(v, ExecutionBlocker):
            return v
    return None


def _call_slices(data: dict[str, list[Any]], input_is_list: bool) -> list[tuple[dict[str, Any], int | None]]:
    """The keyword arguments of each call and its list index (docs/execution.md §3.5)."""
    if input_is_list:
        return [(data, 0)]
    if not data:
        return [({}, None)]
    n = max(len(v) for v in data.values())
    if n == 1:
        return [({k: v[0] for k, v in data.items()}, 0)]
    # QUIRK(docs/execution.md §3.5): shorter lists repeat their last item; empty ones raise IndexError.
    return [({k: v[i if len(v) > i else -1] for k, v in data.items()}, i) for i in range(n)]


def _calls(unique_id: str, info: ClassInfo, data: dict[str, list[Any]], hooks: RunHooks | None,
           allow_interrupt: bool, execution_block_cb: Callable[[ExecutionBlocker], Any] | None,
           expansion_prefix: bool) -> Iterator[tuple[dict[str, Any] | None, int | None, Any]]:
    """Each call's (kwargs, list index, blocked result): kwargs is None for a blocked call (§3.5, §3.8)."""
    for inputs, index in _call_slices(data, info.input_is_list):
        if allow_interrupt and hooks is not None:
            hooks.check_interrupt()
        block = _first_blocker(inputs, info.input_is_list)
        if block is not None:
            yield None, index, (execution_block_cb(block) if execution_block_cb else block)
            continue
        if expansion_prefix and index is not None:
            GraphBuilder.set_default_prefix(unique_id, index, 0)
        yield inputs, index, None


async def map_node_over_list(prompt_id: str, unique_id: str, obj: Any, info: ClassInfo,
                             data: dict[str, list[Any]], func: str, hooks: RunHooks | None,
                             allow_interrupt: bool = False,
                             execution_block_cb: Callable[[ExecutionBlocker], Any] | None = None,
                             expansion_prefix: bool = False, v3_data: dict[str, Any] | None = None) -> list[Any]:
    """Call `obj.func` once per list index (or once with whole lists), ComfyUI's mapper (§3.5).

    Coroutine functions become tasks on the running loop (returned as tasks if still pending).
    With `v3_data` (a V3 class, §1.9) each call runs `func` of the class on its own prepared clone,
    with dynamic inputs nested.
    """
    f = None if v3_data is not None else getattr(obj, func)
    if f is not None and not inspect.iscoroutinefunction(f):
        return call_over_list(prompt_id, unique_id, f, info, data, hooks, allow_interrupt, execution_block_cb,
                              expansion_prefix)
    results: list[Any] = []
    for inputs, index, blocked in _calls(unique_id, info, data, hooks, allow_interrupt, execution_block_cb,
                                         expansion_prefix):
        if inputs is None:
            results.append(blocked)
            continue
        call = f
        if call is None:
            call = v3.bind(info.cls, func, v3_data)
            inputs = v3.nest_inputs(inputs, v3_data)
            if not inspect.iscoroutinefunction(call):
                token = set_context(prompt_id, unique_id, index, hooks)
                try:
                    results.append(call(**inputs))
                finally:
                    reset_context(token)
                continue

        async def run(call: Callable[..., Any] = call, inputs: dict[str, Any] = inputs,
                      index: int | None = index) -> Any:
            with current_node(prompt_id, unique_id, index, hooks):
                return await call(**inputs)

        task = asyncio.create_task(run())
        await asyncio.sleep(0)
        results.append(task.result() if task.done() else task)
    return results


def call_over_list(prompt_id: str, unique_id: str, f: Callable[..., Any], info: ClassInfo,
                   data: dict[str, list[Any]], hooks: RunHooks | None, allow_interrupt: bool = False,
                   execution_block_cb: Callable[[ExecutionBlocker], Any] | None = None,
                   expansion_prefix: bool = False) -> list[Any]:
    """The mapper for a synchronous callable: no event-loop round trips on the hot path."""
    results: list[Any] = []
    for inputs, index, blocked in _calls(unique_id, info, data, hooks, allow_interrupt, execution_block_cb,
                                         expansion_prefix):
        if inputs is None:
            results.append(blocked)
            continue
        token = set_context(prompt_id, unique_id, index, hooks)
        try:
            results.append(f(**inputs))
        finally:
            reset_context(token)
    return results


def merge_result_data(results: list[Any], info: ClassInfo) -> list[list[Any]]:
    """One list per output: per-call items, or concatenated lists for OUTPUT_IS_LIST outputs."""
    width = len(results[0])
    flags = info.output_is_list if info.output_is_list is not None else (False,) * width
    output: list[list[Any]] = []
    # QUIRK(docs/execution.md §3.5): zip() drops outputs beyond a shorter OUTPUT_IS_LIST.
    for i, is_list in zip(range(width), flags, strict=False):
        if is_list:
            value: list[Any] = []
            for o in results:
                if isinstance(o[i], ExecutionBlocker):
                    value.append(o[i])
                else:
                    value.extend(o[i])
            output.append(value)
        else:
            output.append([o[i] for o in results])
    return output


@dataclass(slots=True)
class NodeReturn:
    """A node's calls, normalised: merged outputs (or expansion rows), merged ui, expansion flag."""

    output: Any
    ui: dict[str, list[Any]]
    has_subgraph: bool


def output_from_returns(return_values: list[Any], info: ClassInfo) -> NodeReturn:
    if len(return_values) == 1 and type(return_values[0]) is tuple and info.output_is_list is None:
        return NodeReturn([[v] for v in return_values[0]], {}, False)  # the common case: one plain call
    results: list[Any] = []
    uis: list[dict[str, Any]] = []
    subgraph_results: list[tuple[Any, Any]] = []
    has_subgraph = False
    width = len(info.return_types)
    for r in return_values:
        if isinstance(r, dict):
            if "ui" in r:
                uis.append(r["ui"])
            if "expand" in r:
                has_subgraph = True
                result = r.get("result", None)
                if isinstance(result, ExecutionBlocker):
                    result = tuple([result] * width)
                subgraph_results.append((r["expand"], result))
            elif "result" in r:
                result = r.get("result", None)
                if isinstance(result, ExecutionBlocker):
                    result = tuple([result] * width)
                results.append(result)
                subgraph_results.append((None, result))
        elif type(r) is not tuple and v3.is_node_output(r):
            node_ui = r.ui
            if node_ui is not None:
                uis.append(node_ui if isinstance(node_ui, dict) else node_ui.as_dict())
            # QUIRK(docs/execution.md §1.9): block_execution stands in for a result but makes none, so
            # a NodeOutput with only block_execution (what a returned ExecutionBlocker becomes)
            # gives no outputs at all, and its consumers read those inputs as missing.
            result = r.result
            if r.block_execution is not None and (result is not None or r.expand is not None):
                result = tuple([ExecutionBlocker(r.block_execution)] * width)
            if r.expand is not None:
                has_subgraph = True
                subgraph_results.append((r.expand, result))
            elif result is not None:
                results.append(result)
                subgraph_results.append((None, result))
        else:
            if isinstance(r, ExecutionBlocker):
                r = tuple([r] * width)
            results.append(r)
            subgraph_results.append((None, r))
    if has_subgraph:
        output: Any = subgraph_results
    elif results:
        output = merge_result_data(results, info)
    else:
        output = []
    ui: dict[str, list[Any]] = {}
    if uis:
        # QUIRK(docs/execution.md §3.5): keys come from the first call's ui.
        ui = {k: [y for x in uis for y in x[k]] for k in uis[0]}
    return NodeReturn(output, ui, has_subgraph)


def format_value(x: Any) -> Any:
    """How `current_inputs` shows a value in errors (docs/execution.md §3.12)."""
    if x is None or isinstance(x, (int, float, bool, str)):
        return x
    return str(x)


def full_type_name(klass: type) -> str:
    module = klass.__module__
    if module == "builtins":
        return klass.__qualname__
    return module + "." + klass.__qualname__
