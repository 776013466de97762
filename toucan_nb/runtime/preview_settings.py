"""Which live previews samplers send (docs/execution.md §5.4).

The server's `--preview-method` and `--preview-size` are set once by the host at start-up
(`configure`); a prompt may ask for another method in `extra_data.preview_method` ("default" keeps
the server's), which `prompt_method` reads from the running prompt. Module state, like the device
(device.py) and the active folders (folders.py): written at start-up, read from the executor thread.
"""

from __future__ import annotations

from toucan_nb.runtime.context import get_executing_context

__all__ = ["configure", "preview_size", "prompt_method", "server_method"]

_server_method = "none"
_preview_size = 512


def configure(method: str = "none", size: int = 512) -> None:
    """The server-wide defaults (`--preview-method`, `--preview-size`)."""
    global _server_method, _preview_size
    _server_method = method or "none"
    _preview_size = int(size) if size else 512


def server_method() -> str:
    return _server_method


def preview_size() -> int:
    return _preview_size


def prompt_method() -> str | None:
    """The running prompt's `extra_data.preview_method`, or None outside a prompt or when not given."""
    ctx = get_executing_context()
    extra = getattr(ctx.hooks, "extra_data", None) if ctx is not None else None
    method = extra.get("preview_method") if isinstance(extra, dict) else None
    return method if isinstance(method, str) else None
