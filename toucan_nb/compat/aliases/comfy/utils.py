"""Alias of ComfyUI's `comfy.utils`: ProgressBar and its global hook, plus tensor/checkpoint helpers.

`PROGRESS_BAR_HOOK` is this module's global, as in ComfyUI, so packs may read, wrap or replace it;
its default routes to the running prompt (toucan_nb.compat.progress.progress_bar_hook).
A ProgressBar captures the hook when it is constructed (docs/execution.md §5.1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toucan_nb.compat.progress import progress_bar_hook
from toucan_nb.compat.tensor_utils import (
    bislerp,
    calculate_parameters,
    common_upscale,
    get_tiled_scale_steps,
    lanczos,
    load_torch_file,
    repeat_to_batch_size,
    resize_list_to_batch_size,
    resize_to_batch_size,
    save_torch_file,
    tiled_scale,
)

PROGRESS_BAR_ENABLED = True
PROGRESS_BAR_HOOK: Callable[..., Any] | None = progress_bar_hook


def set_progress_bar_enabled(enabled: bool) -> None:
    """Only toggles console progress bars in ComfyUI; kept for packs that call it."""
    global PROGRESS_BAR_ENABLED
    PROGRESS_BAR_ENABLED = enabled


def set_progress_bar_global_hook(function: Callable[..., Any] | None) -> None:
    """Replace the hook new ProgressBars capture."""
    global PROGRESS_BAR_HOOK
    PROGRESS_BAR_HOOK = function


class ProgressBar:
    """Progress of one node: `update_absolute(value, total=None, preview=None)` and `update(delta)`.

    Values are clamped to the total. Each update calls the hook captured at construction, which
    checks for an interrupt (raising `InterruptProcessingException`) and reports the progress.
    """

    def __init__(self, total: float, node_id: str | None = None) -> None:
        self.total = total
        self.current: float = 0
        self.hook = PROGRESS_BAR_HOOK
        self.node_id = node_id

    def update_absolute(self, value: float, total: float | None = None, preview: Any = None) -> None:
        if total is not None:
            self.total = total
        value = min(value, self.total)
        self.current = value
        if self.hook is not None:
            self.hook(self.current, self.total, preview, node_id=self.node_id)

    def update(self, value: float) -> None:
        self.update_absolute(self.current + value)


__all__ = [
    "PROGRESS_BAR_ENABLED",
    "PROGRESS_BAR_HOOK",
    "ProgressBar",
    "bislerp",
    "calculate_parameters",
    "common_upscale",
    "get_tiled_scale_steps",
    "lanczos",
    "load_torch_file",
    "repeat_to_batch_size",
    "resize_list_to_batch_size",
    "resize_to_batch_size",
    "save_torch_file",
    "set_progress_bar_enabled",
    "set_progress_bar_global_hook",
    "tiled_scale",
]
