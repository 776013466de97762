"""Progress, previews and interrupts as ComfyUI node code reaches them (docs/execution.md §3.11, §5.1, §5.3).

Custom nodes report progress through `comfy.utils.ProgressBar` (whose default global hook is
`progress_bar_hook`) and `comfy_api`'s `execution.set_progress`, and poll interrupts through
`comfy.model_management`. All of them resolve the running prompt from the executing context
(`toucan_nb.runtime.context`): the node's own context, else the most recent one, which is how a
thread the node started itself still reaches its prompt (ComfyUI's `server.last_node_id` fallback).
The prompt's `RunHooks` (the executor) does the work.

Called from node code: the executor thread, asyncio tasks on its loop, or threads nodes start.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from toucan_nb.runtime.context import ExecutionContext, RunHooks, get_executing_context, last_context
from toucan_nb.runtime.errors import ExecutionInterruptedError

log = logging.getLogger(__name__)

DEFAULT_PREVIEW_SIZE = 512

# Prompts whose one-shot interrupt `processing_interrupted()` consumed and could not re-arm in the
# runtime; the next `throw_if_interrupted()` for that prompt raises it.
_probed_interrupts: set[str] = set()
_probe_lock = threading.Lock()


def current_context() -> ExecutionContext | None:
    """The running node's context, else the most recent one of any thread."""
    return get_executing_context() or last_context()


def current_hooks() -> RunHooks | None:
    ctx = current_context()
    return None if ctx is None else ctx.hooks


def progress_bar_hook(value: float, total: float, preview: Any = None, node_id: str | None = None) -> None:
    """The default `comfy.utils.PROGRESS_BAR_HOOK` (docs/execution.md §5.1, the server hook).

    Node: the explicit `node_id`, else the context's node. Checks for an interrupt first (raising
    `ExecutionInterruptedError`), then reports progress, the legacy `progress` event and any preview.
    Without a running prompt it does nothing.
    """
    ctx = current_context()
    if ctx is None or ctx.hooks is None:
        return
    throw_if_interrupted()
    target = str(node_id) if node_id is not None else ctx.node_id
    ctx.hooks.update_progress(target, value, total, preview)


def set_progress(value: float, max_value: float, node_id: str | None = None, preview_image: Any = None,
                 ignore_size_limit: bool = False) -> None:
    """ComfyAPI's `execution.set_progress` (docs/execution.md §5.3): per-node progress only.

    No legacy `progress` event, no legacy preview, no interrupt check. Raises `ValueError` when
    neither `node_id` nor an executing context names the node.
    """
    ctx = get_executing_context()
    if node_id is None and ctx is not None:
        node_id = ctx.node_id
    if node_id is None:
        raise ValueError("node_id must be provided if not in executing context")
    hooks = ctx.hooks if ctx is not None else current_hooks()
    if hooks is None:
        log.debug("set_progress(%s) outside any prompt; dropped", node_id)
        return
    preview = preview_tuple(preview_image, ignore_size_limit)
    hooks.update_progress(str(node_id), value, max_value, preview, legacy=False)


def preview_tuple(preview_image: Any, ignore_size_limit: bool = False) -> Any:
    """A PIL image or `[B,H,W,C]` 0..1 tensor as `(format, PIL image, max_size)`; tuples pass through."""
    if preview_image is None or isinstance(preview_image, tuple):
        return preview_image
    from PIL import Image

    image = preview_image
    if not isinstance(image, Image.Image) and hasattr(image, "cpu") and hasattr(image, "shape"):
        import numpy as np

        tensor = image[0] if len(image.shape) == 4 else image
        array = (tensor.detach().cpu().float().numpy() * 255).clip(0, 255).astype(np.uint8)
        image = Image.fromarray(array)
    if not isinstance(image, Image.Image):
        raise TypeError(f"preview_image must be a PIL image or an image tensor, not {type(image).__name__}")
    size = None if ignore_size_limit else preview_size()
    return (image.format or "JPEG", image, size)


def preview_size() -> int:
    """The runtime's `preview_size` (`--preview-size`, default 512)."""
    from toucan_nb.compat import state

    config = getattr(state.runtime(), "config", None)
    return int(getattr(config, "preview_size", DEFAULT_PREVIEW_SIZE) or DEFAULT_PREVIEW_SIZE)


def throw_if_interrupted() -> None:
    """Raise `ExecutionInterruptedError` if the running prompt was interrupted (one-shot, §3.11)."""
    ctx = current_context()
    if ctx is None or ctx.hooks is None:
        return
    with _probe_lock:
        probed = ctx.prompt_id in _probed_interrupts
        _probed_interrupts.discard(ctx.prompt_id)
    if probed:
        raise ExecutionInterruptedError("Processing interrupted")
    ctx.hooks.check_interrupt()


def processing_interrupted() -> bool:
    """Whether the running prompt was interrupted, without consuming the interrupt.

    Uses the hooks' `is_interrupted()` when they have one. Otherwise it probes with the one-shot
    `check_interrupt()` and, if that fired, re-arms the interrupt through the attached runtime, so
    the executor's own check before the next node still stops the prompt, as in ComfyUI.
    """
    ctx = current_context()
    if ctx is None or ctx.hooks is None:
        return False
    with _probe_lock:
        if ctx.prompt_id in _probed_interrupts:
            return True
    peek = getattr(ctx.hooks, "is_interrupted", None)
    if callable(peek):
        return bool(peek())
    try:
        ctx.hooks.check_interrupt()
    except ExecutionInterruptedError:
        _rearm(ctx.prompt_id)
        return True
    return False


def _rearm(prompt_id: str) -> None:
    from toucan_nb.compat import state

    rt = state.runtime()
    if rt is not None and rt.interrupt(prompt_id):
        return
    # No runtime to re-arm (or it no longer runs this prompt): remember it for throw_if_interrupted.
    with _probe_lock:
        _probed_interrupts.add(prompt_id)


def interrupt(value: bool = True) -> None:
    """ComfyUI's `interrupt_current_processing(value)`: interrupt whatever prompt is running.

    `value=False` forgets a probed interrupt; the executor clears its own flag at every prompt start.
    """
    from toucan_nb.compat import state

    if not value:
        with _probe_lock:
            _probed_interrupts.clear()
        return
    rt = state.runtime()
    if rt is None:
        log.debug("interrupt requested with no runtime attached; ignored")
        return
    rt.interrupt()
