"""toucan_nb: a ComfyUI-compatible graph runtime that lives inside Jupyter.

Importing this package has no side effects: no torch, no event loop, no alias modules.
`%load_ext toucan_nb` (see `load_ipython_extension`) attaches a runtime to the kernel.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Start the runtime in this kernel (`%load_ext toucan_nb`)."""
    from toucan_nb.notebook.magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Stop the runtime started by `load_ipython_extension`."""
    from toucan_nb.notebook.magics import unload

    unload(ipython)
