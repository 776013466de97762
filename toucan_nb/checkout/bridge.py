"""The checkout's process globals pointed at the runtime (docs/comfyui-checkout.md §3).

ComfyUI's `main.py` and `execution.py` set these up for its modules; here the runtime's executor
runs the nodes, so each global answers from the prompt the executor is running:

- `comfy_execution.utils.get_executing_context()`: ComfyUI's own context when code set one
  (`CurrentNodeContext`), else the node the runtime is executing, as ComfyUI's `ExecutionContext`;
- `comfy_execution.progress.get_progress_state()` (what `comfy_api`'s `execution.set_progress`
  reports to) is the running prompt's per-node progress (`progress_state` messages, previews);
- `comfy_execution.graph_utils.ExecutionBlocker` is the runtime's, so a node that returns one blocks
  what is downstream of it (nodes and `comfy_api` import it by name, after this);
- `comfy.model_management`'s `interrupt_current_processing`, `processing_interrupted`,
  `throw_exception_if_processing_interrupted` and `InterruptProcessingException` are the compat
  layer's (so `POST /interrupt` stops a sampler within one step, and the executor recognises the
  exception);
- `comfy.utils.set_progress_bar_global_hook`: the compat layer's hook (step progress, previews as
  PREVIEW_IMAGE frames, the interrupt check);
- `latent_preview.prepare_callback` first applies the prompt's `extra_data.preview_method`, as
  ComfyUI's executor does at the start of each prompt;
- `comfy.model_management.unload_all_models` and `soft_empty_cache` serve `/free` and
  out-of-memory errors through `toucan_nb.runtime.device.add_model_unloader`.

`install` runs once per process (start-up thread); the wrappers run on the executor thread.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from toucan_nb.compat import devices, progress, state
from toucan_nb.runtime import device
from toucan_nb.runtime.context import get_executing_context as runtime_context
from toucan_nb.runtime.errors import ExecutionInterruptedError
from toucan_nb.runtime.graph_utils import ExecutionBlocker


def bridge_context(utils: ModuleType) -> None:
    """Make `comfy_execution.utils.get_executing_context` see the runtime's executing node.

    Runs before any other checkout module imports the function by name.
    """
    own_get = utils.get_executing_context
    context_type = utils.ExecutionContext

    def get_executing_context() -> Any:
        own = own_get()
        if own is not None:
            return own
        ctx = runtime_context()
        if ctx is None:
            return None
        return context_type(prompt_id=ctx.prompt_id, node_id=ctx.node_id, list_index=ctx.list_index)

    setattr(utils, "get_executing_context", get_executing_context)  # noqa: B010 (a module of the checkout)


class PromptProgress:
    """What `comfy_execution.progress.get_progress_state()` returns under the runtime: the running
    prompt's progress registry, reached through the executing context."""

    def update_progress(self, node_id: str, value: float, max_value: float, image: Any = None) -> None:
        hooks = progress.current_hooks()
        if hooks is not None:
            hooks.update_progress(str(node_id), value, max_value, image, legacy=False)


_prompt_progress = PromptProgress()


def bridge_progress_state(progress_module: ModuleType) -> None:
    """Point `get_progress_state` at the running prompt (before `comfy_api` imports it by name)."""
    setattr(progress_module, "get_progress_state", lambda: _prompt_progress)  # noqa: B010 (a checkout module)


def bridge_blocker(graph_utils: ModuleType) -> None:
    """Make ComfyUI's `ExecutionBlocker` the runtime's (the same constructor and `message`)."""
    setattr(graph_utils, "ExecutionBlocker", ExecutionBlocker)  # noqa: B010 (a module of the checkout)


def progress_hook(value: float, total: float, preview_image: Any = None, prompt_id: str | None = None,
                  node_id: str | None = None) -> None:
    """ComfyUI's progress bar hook signature over the compat layer's hook."""
    progress.progress_bar_hook(value, total, preview_image, node_id=node_id)


def install(checkout: Any) -> None:
    """Point the checkout's globals at the runtime (see the module docstring). Once per process."""
    mm = checkout.module("comfy.model_management")
    mm.InterruptProcessingException = ExecutionInterruptedError
    mm.interrupt_current_processing = devices.interrupt_current_processing
    mm.processing_interrupted = devices.processing_interrupted
    mm.throw_exception_if_processing_interrupted = devices.throw_exception_if_processing_interrupted
    checkout.module("comfy.utils").set_progress_bar_global_hook(progress_hook)
    preview = checkout.module("latent_preview")
    prepare = getattr(preview, "prepare_callback", None)
    set_method = getattr(preview, "set_preview_method", None)
    if prepare is not None and set_method is not None:
        preview.prepare_callback = _with_prompt_preview_method(prepare, set_method)

    def unload() -> None:
        mm.unload_all_models()
        mm.soft_empty_cache()

    device.add_model_unloader(unload)


def attach(runtime: Any, checkout: Any) -> None:
    """Attach `runtime` to the compat layer's globals (`PromptServer.instance` and the hooks)."""
    state.attach(runtime)


def _with_prompt_preview_method(prepare: Any, set_method: Any) -> Any:
    @functools.wraps(prepare)
    def prepare_callback(*args: Any, **kwargs: Any) -> Any:
        hooks = progress.current_hooks()
        extra = getattr(hooks, "extra_data", None) or {}
        set_method(extra.get("preview_method"))
        return prepare(*args, **kwargs)

    return prepare_callback
