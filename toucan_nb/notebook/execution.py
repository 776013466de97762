"""Running workflows from cells: `queue_workflow` -> `PromptHandle`, `run_workflow` -> `RunResult`.

Submitting adds capture nodes (`capture.py`) for the outputs a cell wants back, announces the
prompt to the capture store, subscribes the progress widget (before submitting, so no event is
missed), then calls `Runtime.submit` with the session's notebook client id unless the cell names
one (`session.NOTEBOOK_CLIENT_ID`: cached output nodes then still report their images). The runtime's future resolves on the executor thread; the
handle turns the history entry and the captured values into a `RunResult`, or into the error the
prompt ended with (`NodeExecutionError`, `ExecutionInterruptedError`).

Threads: handles are made and waited on in the shell thread; their completion callback runs on
the executor thread and only sets a `concurrent.futures.Future` (sync cells use `wait()`, async
ones `asyncio.wrap_future(handle.future)`). Final images are displayed by whoever waits, on the
shell thread, so they land in the cell that waited.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toucan_nb.notebook.capture import CAPTURE_CLASS_TYPE, CaptureStore, install_capture
from toucan_nb.notebook.graph import Output, Workflow, WorkflowNode
from toucan_nb.runtime.errors import ExecutionInterruptedError, NodeExecutionError

if TYPE_CHECKING:
    from toucan_nb.notebook.widget import ProgressWidget
    from toucan_nb.runtime.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Plan:
    """The prompt to submit and what its capture nodes stand for."""

    prompt: dict[str, Any]
    captures: dict[str, Output]  # capture node id -> the output it captures
    partial_targets: list[str] | None  # None: every output node of the prompt runs


def plan_prompt(workflow: Workflow, targets: Sequence[Output | WorkflowNode], prompt_id: str) -> Plan:
    """The API prompt for `workflow` plus a capture node per wanted output (see `Workflow.run`)."""
    prompt = workflow.to_api()
    wanted: list[Output] = []
    run_nodes: list[str] = []
    for target in targets:
        if isinstance(target, Output):
            _check_member(workflow, target.node)
            wanted.append(target)
        elif isinstance(target, WorkflowNode):
            _check_member(workflow, target)
            spec = target.spec
            if spec is None or spec.is_output_node:
                run_nodes.append(target.id)
            if spec is not None:
                wanted.extend(target.outputs)
        else:
            raise TypeError(f"run targets are node outputs or nodes, not {type(target).__name__}")
    partial: list[str] | None = None
    if targets:
        partial = run_nodes
    elif not any(node.spec is not None and node.spec.is_output_node for node in workflow):
        wanted = _leaf_outputs(workflow)  # nothing would run: bring back what the graph ends in
    captures: dict[str, Output] = {}
    for n, output in enumerate(dict.fromkeys(wanted), start=1):
        capture_id = f"_capture_{n}"
        while capture_id in prompt:
            capture_id += "_"
        prompt[capture_id] = {"inputs": {"value": output.to_link(), "prompt_key": prompt_id},
                              "class_type": CAPTURE_CLASS_TYPE, "_meta": {"title": "Notebook capture"}}
        captures[capture_id] = output
        if partial is not None:
            partial.append(capture_id)
    if not targets and captures:
        partial = list(captures)
    return Plan(prompt, captures, partial)


def _check_member(workflow: Workflow, node: WorkflowNode) -> None:
    if node not in workflow:
        raise ValueError(f"node {node.id} ({node.class_type}) is not part of this workflow")


def _leaf_outputs(workflow: Workflow) -> list[Output]:
    linked: set[str] = set()
    for node in workflow:
        for value in node.inputs.values():
            if isinstance(value, Output):
                linked.add(value.node.id)
            elif isinstance(value, WorkflowNode):
                linked.add(value.id)
    leaves: list[Output] = []
    for node in workflow:
        if node.id not in linked and node.spec is not None:
            leaves.extend(node.outputs)
    return leaves


class RunResult:
    """A finished prompt: captured values, history ui outputs, and the history entry itself."""

    def __init__(self, runtime: Runtime, entry: Any, captures: dict[str, Output], values: dict[str, list[Any]]):
        self.runtime = runtime
        self.entry = entry
        self.prompt_id: str = entry.prompt_id
        self.outputs: dict[str, Any] = dict(entry.outputs)  # node_id -> ui dict (docs/protocol.md §17)
        self._values: dict[Output, Any] = {}
        for capture_id, output in captures.items():
            if capture_id in values:
                self._values[output] = _unwrap(output, values[capture_id])

    @property
    def values(self) -> dict[Output, Any]:
        """Every captured output's value."""
        return dict(self._values)

    def __getitem__(self, target: Output | WorkflowNode) -> Any:
        """An output's value; a node's values (one output: the value, several: a tuple); an output node's ui."""
        if isinstance(target, Output):
            if target not in self._values:
                raise KeyError(f"{target!r} produced no value in prompt {self.prompt_id} "
                               "(it was not a run target, or its branch was blocked)")
            return self._values[target]
        if isinstance(target, WorkflowNode):
            if target.spec is not None and target.spec.outputs:
                values = tuple(self[o] for o in target.outputs)
                return values[0] if len(values) == 1 else values
            return self.outputs.get(target.id, {})
        raise TypeError(f"index a RunResult with an Output or a WorkflowNode, not {type(target).__name__}")

    def ui(self, node: WorkflowNode | str) -> dict[str, Any]:
        """The ui output (history `outputs` entry) of a node, `{}` when it had none."""
        return self.outputs.get(node.id if isinstance(node, WorkflowNode) else str(node), {})

    def image_paths(self) -> list[str]:
        """Files of the images the prompt's output nodes reported (SaveImage, PreviewImage ...)."""
        from toucan_nb.notebook.images import history_image_paths

        return history_image_paths(self.runtime.folders, self.outputs)

    def images(self) -> list[Any]:
        """Those images as PIL images."""
        from PIL import Image

        out = []
        for path in self.image_paths():
            with Image.open(path) as img:
                img.load()
                out.append(img.copy())
        return out

    def __repr__(self) -> str:
        return (f"<RunResult {self.prompt_id}: {len(self._values)} value(s), "
                f"ui outputs from nodes {sorted(self.outputs)}>")


def _unwrap(output: Output, values: list[Any]) -> Any:
    """A captured list as the cell wants it: the list for list outputs or mapped calls, else the item."""
    spec = output.node.spec
    is_list = bool(spec and output.index < len(spec.outputs) and spec.outputs[output.index].is_list)
    if is_list or len(values) != 1:
        return values
    return values[0]


def error_from_entry(entry: Any) -> Exception | None:
    """The exception a failed history entry stands for, or None for a success."""
    if entry.status_str == "success":
        return None
    for name, data in reversed(entry.messages):
        if name == "execution_interrupted":
            return ExecutionInterruptedError(f"prompt {entry.prompt_id} was interrupted"
                                        + (f" at node {data.get('node_id')}" if data.get("node_id") else ""))
        if name == "execution_error":
            # str() of the error names the node and shows the node's own frames (runtime/errors.py).
            return NodeExecutionError(
                str(data.get("node_id", "")), str(data.get("exception_message", "")).rstrip("\n"),
                str(data.get("exception_type", "")), list(data.get("traceback") or []),
                data.get("current_inputs") or {}, node_type=str(data.get("node_type") or ""),
            )
    return NodeExecutionError("", f"prompt {entry.prompt_id} failed", "", [], {})


class PromptHandle:
    """A queued prompt: `status`, `done()`, `wait(timeout)`, `cancel()`, `future`."""

    def __init__(self, runtime: Runtime, workflow: Workflow, plan: Plan, prompt_id: str, store: CaptureStore,
                 widget: ProgressWidget | None = None, display_images: bool = False) -> None:
        self.runtime = runtime
        self.workflow = workflow
        self.prompt_id = prompt_id
        self.prompt = plan.prompt
        self.widget = widget
        self.number: int | float | None = None
        self.node_errors: dict[str, Any] = {}
        self._plan = plan
        self._store = store
        self._display_images = display_images
        self._displayed = False
        self.future: concurrent.futures.Future[RunResult] = concurrent.futures.Future()

    def _watch(self, runtime_future: concurrent.futures.Future[Any]) -> None:
        runtime_future.add_done_callback(self._finish)

    def _finish(self, runtime_future: concurrent.futures.Future[Any]) -> None:
        # Executor thread (or the caller's, if already done): only settle our future.
        values = self._store.take(self.prompt_id)
        if runtime_future.cancelled():
            self.future.cancel()
            return
        try:
            entry = runtime_future.result()
            error = error_from_entry(entry)
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(RunResult(self.runtime, entry, self._plan.captures, values))
        except BaseException as exc:  # never lose the outcome
            if not self.future.done():
                self.future.set_exception(exc)

    @property
    def status(self) -> str:
        """pending | running | success | error | interrupted | cancelled."""
        fut = self.future
        if fut.done():
            if fut.cancelled():
                return "cancelled"
            exc = fut.exception()
            if exc is None:
                return "success"
            return "interrupted" if isinstance(exc, ExecutionInterruptedError) else "error"
        return "running" if self.runtime.running_prompt_id == self.prompt_id else "pending"

    def done(self) -> bool:
        return self.future.done()

    def wait(self, timeout: float | None = None) -> RunResult:
        """Block until the prompt ends and return its `RunResult`.

        Raises `NodeExecutionError`, `ExecutionInterruptedError`, `concurrent.futures.CancelledError`,
        `TimeoutError` (the prompt keeps running). A KeyboardInterrupt (the kernel's stop button)
        cancels the prompt, then propagates.
        """
        try:
            result = self.future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"prompt {self.prompt_id} is still {self.status} after {timeout} s") from None
        except KeyboardInterrupt:
            self.cancel()
            raise
        if self._display_images and not self._displayed:
            self._displayed = True
            self.display_images(result)
        return result

    def display_images(self, result: RunResult | None = None) -> None:
        """Show the prompt's final images (history "images") as ordinary PNG outputs of this cell."""
        from toucan_nb.notebook.images import display_pngs, read_png

        result = result if result is not None else self.wait()
        display_pngs([read_png(p) for p in result.image_paths()])

    def cancel(self) -> bool:
        """Delete the prompt if pending, interrupt it if running; False when it already ended."""
        for _ in range(40):  # a prompt moving from pending to running is in neither state for a moment
            if self.future.done():
                return False
            if self.runtime.delete_pending([self.prompt_id]):
                return True
            if self.runtime.interrupt(self.prompt_id):
                return True
            concurrent.futures.wait([self.future], timeout=0.025)
        return False

    def __repr__(self) -> str:
        return f"<PromptHandle {self.prompt_id} {self.status}>"


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def queue_workflow(workflow: Workflow, targets: Iterable[Output | WorkflowNode], *, runtime: Runtime | None = None,
                   progress: bool | None = None, display_images: bool | None = None,
                   extra_data: dict[str, Any] | None = None, client_id: str | None = None, front: bool = False,
                   _blocking: bool = False) -> PromptHandle:
    """Validate and queue `workflow`; see `Workflow.queue`. Raises `PromptValidationError`."""
    if runtime is None:
        from toucan_nb.notebook.session import get_runtime

        runtime = get_runtime()
    store = install_capture(runtime)
    workflow.bind_specs(runtime.registry)
    prompt_id = str(uuid.uuid4())
    plan = plan_prompt(workflow, tuple(targets), prompt_id)
    show = _in_kernel() if progress is None else progress
    widget = None
    if show:
        from toucan_nb.notebook.widget import ProgressWidget

        widget = ProgressWidget.watch(runtime, prompt_id, plan.prompt, can_interrupt=not _blocking)
    handle = PromptHandle(runtime, workflow, plan, prompt_id, store, widget,
                          display_images=show if display_images is None else display_images)
    if client_id is None:
        from toucan_nb.notebook.session import NOTEBOOK_CLIENT_ID

        client_id = NOTEBOOK_CLIENT_ID
    store.expect(prompt_id)
    try:
        submission = runtime.submit(plan.prompt, prompt_id=prompt_id, client_id=client_id, extra_data=extra_data,
                                    front=front, partial_execution_targets=plan.partial_targets)
    except BaseException as exc:
        store.take(prompt_id)
        if widget is not None:
            widget.fail(exc)
        raise
    handle.number = submission.number
    handle.node_errors = submission.node_errors
    if widget is not None:
        widget.set_handle(handle)
        _display(widget)
    handle._watch(runtime.future(prompt_id))
    return handle


def _display(widget: Any) -> None:
    from IPython.display import display

    display(widget)


def run_workflow(workflow: Workflow, targets: Iterable[Output | WorkflowNode], *, timeout: float | None = None,
                 **options: Any) -> RunResult:
    """Queue `workflow` and wait for it; see `Workflow.run`."""
    handle = queue_workflow(workflow, targets, _blocking=True, **options)
    return handle.wait(timeout)
