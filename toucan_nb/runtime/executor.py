"""PromptExecutor: runs one validated prompt with ComfyUI's semantics (docs/execution.md §3).

The executor is long-lived: it owns the output and object caches and an asyncio loop, and runs
prompts one after another. Everything that belongs to one prompt (its dynamic graph, progress,
recorded messages, the interrupt flag, the outputs cached when it started) lives on that prompt's
`_Run`, which is also the `RunHooks` node code reports through. `execute()` is called on the
runtime's executor thread only; `interrupt()` may be called from any thread. Events go to the
runtime's EventBus; the timestamped ones are also recorded for the history entry.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import traceback
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from toucan_nb.runtime import events as ev
from toucan_nb.runtime import v3
from toucan_nb.runtime.caches import CacheEntry, ObjectCache, make_output_cache
from toucan_nb.runtime.errors import ExecutionInterruptedError, NodeInputError
from toucan_nb.runtime.graph_utils import ExecutionBlocker, is_link
from toucan_nb.runtime.invoke import (
    ClassInfo,
    call_over_list,
    format_value,
    full_type_name,
    get_input_data,
    map_node_over_list,
    merge_result_data,
    output_from_returns,
)
from toucan_nb.runtime.preview import EncodedPreview
from toucan_nb.runtime.progress import ProgressRegistry
from toucan_nb.runtime.prompt import DynamicPrompt
from toucan_nb.runtime.registry import NodeRegistry
from toucan_nb.runtime.scheduler import CycleReport, ExecutionList
from toucan_nb.runtime.signature import IsChangedCache, SignatureBuilder, sweep

log = logging.getLogger(__name__)

T = TypeVar("T")

OOM_TIPS = ("This error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked before you "
            "might have accidentally set the batch_size to a large number.")


@dataclass(slots=True)
class PromptResult:
    """What one prompt produced: history outputs/meta and its recorded status messages."""

    outputs: dict[str, Any]
    meta: dict[str, Any]
    success: bool
    messages: list[list[Any]] = field(default_factory=list)
    interrupted: bool = False
    # Values nodes handed back to the submitter (`RunHooks.hand_back`), by node id; never in history.
    handed_back: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def status_str(self) -> str:
        return "success" if self.success else "error"


class _Failure:
    """A node that raised: what `execution_error` reports (None for an interrupt) and the exception."""

    __slots__ = ("node_id", "failure", "exc")

    def __init__(self, node_id: str, failure: ev.NodeFailure | None, exc: BaseException) -> None:
        self.node_id = node_id  # the real node id
        self.failure = failure
        self.exc = exc


_SUCCESS, _PENDING = "success", "pending"


class _Run:
    """State of one prompt execution; also the `RunHooks` node code reports through.

    Made and used on the executor thread; `interrupt()` may be called from any thread.
    """

    def __init__(self, executor: PromptExecutor, prompt_id: str, prompt: dict[str, Any],
                 extra_data: dict[str, Any]) -> None:
        self.executor = executor
        self.prompt_id = prompt_id
        self._interrupt = threading.Event()
        self.current_outputs: list[str] = []  # nodes with cached outputs when the prompt started
        self.extra_data = extra_data
        self.client_id: str | None = extra_data.get("client_id")
        self.dynprompt = DynamicPrompt(prompt)
        self.bus = executor.bus
        self.progress = ProgressRegistry(prompt_id, self.dynprompt, self.bus, self.client_id)
        self.messages: list[list[Any]] = []
        self.ui_outputs: dict[str, dict[str, Any]] = {}
        self.handed_back: dict[str, list[Any]] = {}
        self.executed: set[str] = set()
        self.pending_async: dict[str, list[Any]] = {}
        self.pending_subgraph: dict[str, list[tuple[bool, Any]]] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self._infos: dict[str, ClassInfo] = {}
        self.execution_list: ExecutionList | None = None

    # -- class facts ----------------------------------------------------------------------------
    def info(self, class_type: str) -> ClassInfo:
        info = self._infos.get(class_type)
        if info is None:
            info = self._infos[class_type] = ClassInfo.of(self.executor.registry.get(class_type))
        return info

    def node_info(self, node_id: str) -> ClassInfo:
        return self.info(self.dynprompt.get_node(node_id)["class_type"])

    def lazy_inputs(self, node_id: str) -> frozenset[str]:
        return self.node_info(node_id).lazy

    def is_output(self, node_id: str) -> bool:
        return self.node_info(node_id).is_output

    def is_async(self, node_id: str) -> bool:
        return self.node_info(node_id).is_async

    # -- events ---------------------------------------------------------------------------------
    def publish(self, event: ev.Event) -> None:
        if event.recorded and getattr(event, "timestamp", 0) is not None:
            self.messages.append([event.name, event.data()])
        if self.bus.has_subscribers:
            self.bus.publish(event)

    # -- interrupt (any thread) -------------------------------------------------------------------
    def interrupt(self) -> None:
        self._interrupt.set()

    # -- RunHooks -------------------------------------------------------------------------------
    def check_interrupt(self) -> None:
        """Raise ExecutionInterruptedError once after an interrupt (docs/execution.md §3.11)."""
        if self._interrupt.is_set():
            self._interrupt.clear()
            raise ExecutionInterruptedError("Processing interrupted")

    def is_interrupted(self) -> bool:
        """Whether an interrupt is pending, without consuming it."""
        return self._interrupt.is_set()

    def update_progress(self, node_id: str, value: float, max_value: float, preview: Any = None,
                        legacy: bool = True) -> None:
        if legacy:
            self.check_interrupt()
        self.progress.update_progress(node_id, value, max_value)
        if legacy and self.bus.has_subscribers:
            self.bus.publish(ev.Progress(value=value, max=max_value, prompt_id=self.prompt_id, node=node_id,
                                         client_id=self.client_id))
        if preview is not None and self.bus.has_subscribers:
            image = preview if isinstance(preview, EncodedPreview) else EncodedPreview(*preview)
            dyn = self.dynprompt
            self.bus.publish(ev.PreviewImage(
                image=image, prompt_id=self.prompt_id, node_id=node_id,
                display_node_id=dyn.get_display_node_id(node_id),
                parent_node_id=dyn.get_parent_node_id(node_id),
                real_node_id=dyn.get_real_node_id(node_id), client_id=self.client_id))

    def send_text(self, node_id: str, text: str) -> None:
        self.bus.publish(ev.ProgressText(node_id=node_id, text=text, prompt_id=self.prompt_id, client_id=None))

    def hand_back(self, node_id: str, values: list[Any]) -> None:
        self.handed_back[node_id] = values


class _BlockNotice:
    """Turns an ExecutionBlocker with a message into an execution_error notice (docs/execution.md §3.8)."""

    __slots__ = ("run", "unique_id", "class_type")

    def __init__(self, run: _Run, unique_id: str, class_type: str) -> None:
        self.run, self.unique_id, self.class_type = run, unique_id, class_type

    def __call__(self, block: ExecutionBlocker) -> ExecutionBlocker:
        if block.message is None:
            return block
        run = self.run
        # Sent straight out: not recorded, no timestamp.
        failure = ev.NodeFailure(self.unique_id, f"Execution Blocked: {block.message}", "ExecutionBlocked",
                                 current_inputs=[])
        run.bus.publish(ev.execution_error(run.prompt_id, failure, node_type=self.class_type,
                                           executed=run.executed, client_id=run.client_id, notice=True))
        return ExecutionBlocker(None)


class PromptExecutor:
    """Runs prompts one at a time on the executor thread, keeping caches between them."""

    def __init__(self, registry: NodeRegistry, bus: ev.EventBus, cache_mode: str = "classic",
                 cache_size: int = 0, ram_headroom_gb: float = 4.0) -> None:
        self.registry = registry
        self.bus = bus
        self.cache_mode = cache_mode
        self.cache_size = cache_size
        self.ram_headroom_gb = ram_headroom_gb
        self.outputs = make_output_cache(cache_mode, cache_size)
        self.objects = ObjectCache(enabled=cache_mode != "none")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._run: _Run | None = None  # the prompt running now

    # -- control (any thread) -------------------------------------------------------------------
    @property
    def running_prompt_id(self) -> str | None:
        run = self._run
        return None if run is None else run.prompt_id

    def interrupt(self, prompt_id: str | None = None) -> bool:
        """Interrupt the running prompt (only if it is `prompt_id`, when given).

        True unless `prompt_id` names a prompt that is not the running one. With nothing running
        there is nothing to interrupt: the next prompt starts uninterrupted.
        """
        run = self._run
        if prompt_id is not None and (run is None or prompt_id != run.prompt_id):
            return False
        if run is not None:
            run.interrupt()
        return True

    def reset(self) -> None:
        """Drop every cached output and node instance (POST /free with free_memory)."""
        self.outputs = make_output_cache(self.cache_mode, self.cache_size)
        self.objects = ObjectCache(enabled=self.cache_mode != "none")

    # -- execution (executor thread) ------------------------------------------------------------
    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """Run `main` on this executor's event loop (created on first use) until it completes.

        One thread drives an executor: while a Runtime's worker serves its queue on this loop,
        prompts go through the Runtime (`submit`/`run`), not through `execute`.
        """
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        if self._loop.is_running():
            main.close()
            raise RuntimeError("this executor is serving a runtime's queue on another thread; "
                               "submit prompts through the runtime")
        asyncio.set_event_loop(self._loop)
        return self._loop.run_until_complete(main)

    def execute(self, prompt: dict[str, Any], prompt_id: str, extra_data: dict[str, Any],
                execute_outputs: list[str]) -> PromptResult:
        """Run one prompt to its end (blocking); see `execute_async`."""
        return self.run(self.execute_async(prompt, prompt_id, extra_data, execute_outputs))

    async def execute_async(self, prompt: dict[str, Any], prompt_id: str, extra_data: dict[str, Any],
                            execute_outputs: list[str]) -> PromptResult:
        """Run one prompt to its end, awaited on this executor's loop (`run`).

        A worker coroutine that awaits this for prompt after prompt keeps one loop running: a
        prompt of synchronous nodes then never suspends, where starting the loop for each prompt
        (`execute`) costs about as much as running a small prompt.
        """
        return await self._execute(prompt, prompt_id, extra_data, execute_outputs)

    async def _execute(self, prompt: dict[str, Any], prompt_id: str, extra_data: dict[str, Any],
                       execute_outputs: list[str]) -> PromptResult:
        import torch

        run = self._run = _Run(self, prompt_id, prompt, extra_data)
        client_id = run.client_id
        run.publish(ev.ExecutionStart(prompt_id=prompt_id, client_id=client_id))
        failure: _Failure | CycleReport | None = None
        try:
            with torch.inference_mode():
                failure = await self._run_graph(run, prompt, execute_outputs)
        finally:
            for task in run.tasks:
                if not task.done():
                    task.cancel()
            self._run = None
        interrupted = False
        if failure is None:
            run.publish(ev.ExecutionSuccess(prompt_id=prompt_id, client_id=client_id))
        else:
            interrupted = self._report_failure(run, prompt, failure)
        sweep()  # forget signatures nothing refers to any more (amortised)
        outputs = {k: v["output"] for k, v in run.ui_outputs.items()}
        meta = {k: v["meta"] for k, v in run.ui_outputs.items()}
        return PromptResult(outputs, meta, failure is None, run.messages, interrupted, run.handed_back)

    async def _run_graph(self, run: _Run, prompt: dict[str, Any],
                         execute_outputs: list[str]) -> _Failure | CycleReport | None:
        dyn = run.dynprompt
        is_changed = IsChangedCache(run.prompt_id, dyn, self.registry, run.extra_data)
        signatures = SignatureBuilder(dyn, self.registry, is_changed)
        self.outputs.set_prompt(signatures, prompt.keys())
        self.outputs.clean_unused()
        self.objects.set_prompt(prompt)
        cached_nodes = [n for n in prompt if self.outputs.get(n) is not None]
        run.publish(ev.ExecutionCached(nodes=cached_nodes, prompt_id=run.prompt_id, client_id=run.client_id))
        run.current_outputs = self.outputs.all_node_ids()
        execution_list = ExecutionList(dyn, self.outputs, run.lazy_inputs, run.is_output, run.is_async)
        run.execution_list = execution_list
        for node_id in execute_outputs:
            execution_list.add_node(node_id)
        ram_headroom = self.ram_headroom_gb
        while not execution_list.is_empty():
            staged = await execution_list.stage_node_execution()
            if isinstance(staged, CycleReport):
                return staged
            result = await self._execute_node(run, staged)
            if isinstance(result, _Failure):
                return result
            if result == _PENDING:
                execution_list.unstage_node_execution()
            else:
                execution_list.complete_node_execution()
            self.outputs.poll(ram_headroom)
        return None

    def _report_failure(self, run: _Run, prompt: dict[str, Any], outcome: _Failure | CycleReport) -> bool:
        """Publish execution_interrupted or execution_error; True for an interrupt."""
        node_id = outcome.node_id
        node_type = prompt.get(node_id, {}).get("class_type", "")
        executed = list(run.executed)
        reported = outcome.failure
        if reported is None:  # an interrupt
            run.publish(ev.ExecutionInterrupted(prompt_id=run.prompt_id, node_id=node_id, node_type=node_type,
                                                executed=executed, client_id=run.client_id))
            return True
        run.publish(ev.execution_error(run.prompt_id, reported, node_type=node_type, executed=executed,
                                       current_outputs=run.current_outputs, client_id=run.client_id))
        return False

    async def _execute_node(self, run: _Run, unique_id: str) -> str | _Failure:
        """One staged node: cache hit, pending async/expansion results, or a fresh run (§3.3)."""
        dyn = run.dynprompt
        node = dyn.get_node(unique_id)
        class_type = node["class_type"]
        execution_list = run.execution_list
        assert execution_list is not None
        display_node_id = dyn.get_display_node_id(unique_id)

        cached = self.outputs.get(unique_id)
        if cached is not None:
            if run.client_id is not None:
                # QUIRK(docs/execution.md §3.3): only with a client are cached outputs re-emitted (and kept in history).
                cached_ui = cached.ui or {}
                run.publish(ev.Executed(node=unique_id, display_node=display_node_id,
                                        output=cached_ui.get("output", None), prompt_id=run.prompt_id,
                                        client_id=run.client_id))
                if cached.ui is not None:
                    run.ui_outputs[unique_id] = cached.ui
            run.progress.finish_progress(unique_id)
            execution_list.cache_update(unique_id, cached)
            return _SUCCESS

        info = run.info(class_type)
        data: dict[str, list[Any]] | None = None
        try:
            if unique_id in run.pending_async:
                results = []
                for r in run.pending_async.pop(unique_id):
                    results.append(r.result() if isinstance(r, asyncio.Task) else r)
                ret = output_from_returns(results, info)
                output_data, output_ui, has_subgraph = ret.output, ret.ui, ret.has_subgraph
            elif unique_id in run.pending_subgraph:
                resolved = []
                for is_subgraph, result in run.pending_subgraph.pop(unique_id):
                    if not is_subgraph:
                        resolved.append(result)
                        continue
                    row = []
                    for r in result:
                        if is_link(r):
                            entry = execution_list.get_cache(r[0], unique_id)
                            assert entry is not None
                            # QUIRK(docs/execution.md §3.7): every item of the referenced output is appended.
                            row.extend(entry.outputs[r[1]])
                        else:
                            row.append(r)
                    resolved.append(tuple(row))
                output_data, output_ui, has_subgraph = merge_result_data(resolved, info), {}, False
            else:
                run.progress.start_progress(unique_id)
                data, missing = get_input_data(node["inputs"], info, unique_id, execution_list, dyn,
                                               run.extra_data)
                if run.bus.has_subscribers:
                    run.bus.publish(ev.Executing(node=unique_id, display_node=display_node_id,
                                                 prompt_id=run.prompt_id, client_id=run.client_id))
                obj = self.objects.get(unique_id, class_type, info.cls)
                # A V3 class runs on a clone prepared per call with these hidden values (§1.9).
                v3_data = (v3.call_data(info.input_types, node["inputs"], unique_id, dyn, run.extra_data,
                                        info.dynamic) if info.is_v3 else None)
                if info.has_check_lazy:
                    requested = await self._lazy_requests(run, unique_id, obj, info, data, missing, node, v3_data)
                    if requested:
                        for name in requested:
                            execution_list.make_input_strong_link(unique_id, name)
                        return _PENDING

                block_cb = _BlockNotice(run, unique_id, class_type)
                if info.is_async or v3_data is not None:
                    values = await map_node_over_list(run.prompt_id, unique_id, obj, info, data, info.function,
                                                      run, True, block_cb, expansion_prefix=True, v3_data=v3_data)
                else:
                    values = call_over_list(run.prompt_id, unique_id, getattr(obj, info.function), info, data,
                                            run, True, block_cb, expansion_prefix=True)
                if info.is_async and any(isinstance(r, asyncio.Task) and not r.done() for r in values):
                    run.pending_async[unique_id] = values
                    unblock = execution_list.add_external_block(unique_id)
                    tasks = [r for r in values if isinstance(r, asyncio.Task)]
                    run.tasks.update(tasks)

                    async def await_completion() -> None:
                        await asyncio.gather(*tasks, return_exceptions=True)
                        unblock()

                    run.tasks.add(asyncio.get_running_loop().create_task(await_completion()))
                    return _PENDING
                ret = output_from_returns(values, info)
                output_data, output_ui, has_subgraph = ret.output, ret.ui, ret.has_subgraph

            if output_ui:
                run.ui_outputs[unique_id] = {
                    "meta": {"node_id": unique_id, "display_node": display_node_id,
                             "parent_node": dyn.get_parent_node_id(unique_id),
                             "real_node_id": dyn.get_real_node_id(unique_id)},
                    "output": output_ui,
                }
                run.publish(ev.Executed(node=unique_id, display_node=display_node_id, output=output_ui,
                                        prompt_id=run.prompt_id, client_id=run.client_id))
            if has_subgraph:
                self._expand(run, unique_id, output_data)
                return _PENDING
            entry = CacheEntry(ui=run.ui_outputs.get(unique_id), outputs=output_data)
            execution_list.cache_update(unique_id, entry)
            self.outputs.set(unique_id, entry)
        except ExecutionInterruptedError as exc:
            log.info("Processing interrupted")
            return _Failure(dyn.get_real_node_id(unique_id), None, exc)
        except Exception as exc:  # the node-code boundary: report, never crash the executor
            return self._node_failure(run, unique_id, exc, data)
        run.progress.finish_progress(unique_id)
        run.executed.add(unique_id)
        return _SUCCESS

    async def _lazy_requests(self, run: _Run, unique_id: str, obj: Any, info: ClassInfo,
                             data: dict[str, list[Any]], missing: set[str], node: dict[str, Any],
                             v3_data: dict[str, Any] | None = None) -> list[str]:
        """Names check_lazy_status asks for that are not available yet (docs/execution.md §1.8)."""
        if v3_data is not None:
            v3_data = {**v3_data, "create_dynamic_tuple": True}  # nested values come as (value, id)
        results = await map_node_over_list(run.prompt_id, unique_id, obj, info, data, "check_lazy_status", run,
                                           allow_interrupt=True, v3_data=v3_data)
        requested: list[str] = []
        seen: set[str] = set()
        for r in results:
            if isinstance(r, asyncio.Task):
                r = await r
            # QUIRK(docs/execution.md §1.8): only list results count; tuples are ignored.
            if not isinstance(r, list):
                continue
            for name in r:
                if name in seen or not isinstance(name, str):
                    continue
                seen.add(name)
                if name in data and name not in missing:
                    continue
                if name not in node["inputs"]:
                    raise NodeInputError(f"Node {unique_id} says it needs input {name}, but there is no input "
                                         f"to that node at all")
                if not is_link(node["inputs"][name]):
                    continue  # a constant is never missing
                requested.append(name)
        return requested

    def _expand(self, run: _Run, unique_id: str, output_data: list[tuple[Any, Any]]) -> None:
        """Add an expansion's nodes to the prompt and link its results to the parent (§3.7)."""
        dyn = run.dynprompt
        execution_list = run.execution_list
        assert execution_list is not None
        rows: list[tuple[bool, Any]] = []
        new_ids: list[str] = []
        new_outputs: list[str] = []
        links: list[tuple[str, Any]] = []
        for new_graph, node_outputs in output_data:
            if new_graph is None:
                rows.append((False, node_outputs))
                continue
            for node_id in new_graph:
                if dyn.has_node(node_id):
                    raise RuntimeError(f"Attempt to add duplicate node {node_id}. Ensure node ids are unique and "
                                       "deterministic or use graph_utils.GraphBuilder.")
            for node_id, node_info in new_graph.items():
                new_ids.append(node_id)
                dyn.add_ephemeral_node(node_id, node_info, unique_id, node_info.get("override_display_id", unique_id))
                if run.info(node_info["class_type"]).is_output:
                    new_outputs.append(node_id)
            for value in node_outputs:
                if is_link(value):
                    links.append((value[0], value[1]))
            rows.append((True, node_outputs))
        self.outputs.ensure_subcache_for(unique_id, new_ids)
        for node_id in new_outputs:
            execution_list.add_node(node_id)
            execution_list.cache_link(node_id, unique_id)
        for from_id, socket in links:
            execution_list.add_strong_link(from_id, socket, unique_id)
        run.pending_subgraph[unique_id] = rows

    def _node_failure(self, run: _Run, unique_id: str, exc: BaseException,
                      data: dict[str, list[Any]] | None) -> _Failure:
        typ, _, tb = sys.exc_info()
        exception_type = full_type_name(type(exc))
        current_inputs = {} if data is None else {k: [format_value(x) for x in v] for k, v in data.items()}
        log.error("!!! Exception during processing !!! %s", exc)
        log.error("%s", traceback.format_exc())
        tips = OOM_TIPS if type(exc).__name__ == "OutOfMemoryError" else ""
        if tips:
            from toucan_nb.runtime.device import unload_models

            log.error("Got an OOM, unloading all loaded models.")
            self.objects.clear()
            unload_models()
        node_id = run.dynprompt.get_real_node_id(unique_id)
        failure = ev.NodeFailure(node_id, f"{exc}\n{tips}", exception_type, traceback.format_tb(tb), current_inputs)
        return _Failure(node_id, failure, exc)
