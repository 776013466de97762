"""What a sampler node reports per step: progress, a live preview, and the interrupt check.

One `progress` (and `progress_state`) update per step through the running prompt's hooks, which
also raise `ExecutionInterruptedError` when the prompt was interrupted, so an interrupt lands
within one step (docs/execution.md §5.2, §3.11). Previews follow the prompt's
`extra_data.preview_method`, else the server's `--preview-method` (docs/execution.md §5.4);
TAESD decoders are looked up in the `vae_approx` model folder. Executor thread.
"""

from __future__ import annotations

from typing import Any

from toucan_nb.diffusion.previews import get_previewer, preview_callback, resolve_preview_method
from toucan_nb.diffusion.sampling.denoiser import StepCallback
from toucan_nb.runtime import folders, preview_settings
from toucan_nb.runtime.context import get_executing_context


def step_callback(latent_format: Any) -> StepCallback | None:
    """The per-step callback for a sampler node running now, or None outside a prompt."""
    ctx = get_executing_context()
    if ctx is None or ctx.hooks is None:
        return None
    hooks, node_id = ctx.hooks, ctx.node_id
    method = resolve_preview_method(preview_settings.prompt_method(), preview_settings.server_method())
    previewer = get_previewer(method, latent_format, folders.active())

    def report(value: int, total: int, preview: Any) -> None:
        hooks.update_progress(node_id, value, total, preview)

    return preview_callback(previewer, preview_settings.preview_size(), report)
