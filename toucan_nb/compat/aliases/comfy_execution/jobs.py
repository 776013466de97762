"""Alias of ComfyUI's `comfy_execution.jobs`: re-exports toucan_nb.runtime.jobs, looked up on use."""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    jobs = importlib.import_module("toucan_nb.runtime.jobs")
    try:
        return getattr(jobs, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    jobs = importlib.import_module("toucan_nb.runtime.jobs")
    return sorted(getattr(jobs, "__all__", dir(jobs)))
