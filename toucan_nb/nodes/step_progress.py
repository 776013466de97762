"""Per-step progress and previews of the sampling nodes (docs/diffusion-sampling.md §Previews).

`step_callback(latent_format)` builds the engine's sampling-step callback for the running node:
each step reports `progress` (value step + 1 of the total) through the prompt's run hooks, with a
preview image when the prompt's `extra_data.preview_method` or the server's `--preview-method`
(set once at start-up by `set_preview_defaults`) asks for one. The hook raises when the prompt is
interrupted, which ends sampling within one step. `progress_reporter()` is the same hook without
previews (tiled VAE nodes). Executor thread; the defaults are set at runtime start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toucan_nb.diffusion.latent_formats import LatentFormat
from toucan_nb.diffusion.previews import get_previewer, preview_callback, resolve_preview_method
from toucan_nb.diffusion.sampling.denoiser import StepCallback
from toucan_nb.runtime import folders
from toucan_nb.runtime.context import get_executing_context

_server_method = "none"
_preview_size = 512


def set_preview_defaults(method: str, size: int) -> None:
    """The server's `--preview-method` and `--preview-size`."""
    global _server_method, _preview_size
    _server_method, _preview_size = method, size


def preview_defaults() -> tuple[str, int]:
    return _server_method, _preview_size


def progress_reporter() -> Callable[[int, int], None] | None:
    """`(value, total) -> None` reporting for the running node, or None outside a prompt."""
    ctx = get_executing_context()
    if ctx is None or ctx.hooks is None:
        return None
    hooks, node_id = ctx.hooks, ctx.node_id
    return lambda value, total: hooks.update_progress(node_id, value, total)


def step_callback(latent_format: LatentFormat) -> StepCallback | None:
    """The sampling-step callback for the running node, or None outside a prompt."""
    ctx = get_executing_context()
    if ctx is None or ctx.hooks is None:
        return None
    hooks, node_id = ctx.hooks, ctx.node_id
    extra: dict[str, Any] = getattr(hooks, "extra_data", None) or {}
    method = resolve_preview_method(extra.get("preview_method"), _server_method)
    previewer = get_previewer(method, latent_format, folders.active())

    def report(value: int, total: int, preview: Any) -> None:
        hooks.update_progress(node_id, value, total, preview)

    return preview_callback(previewer, _preview_size, report)
