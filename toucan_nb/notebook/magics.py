"""`%load_ext toucan_nb`: start the kernel's runtime and attach it to the Jupyter server.

`load(ipython)`:

1. gets (creating and starting it on first use) the kernel's one runtime, `session.get_runtime()`,
   with its executor thread; this alone makes the notebook API work, with or without a Jupyter
   server (plain IPython, VS Code, nbval);
2. serves the route set (no frontend) on a private loopback port from its own IO-loop thread,
   guarded by a fresh random secret (`toucan_nb.host.loopback.serve_route_set`);
3. when this process is a kernel with a ``kernel-<id>.json`` connection file, announces the
   endpoint in the Jupyter runtime directory (`toucan_nb.host.connection_file`), which is how the
   server extension finds it. The file is removed on `unload` and at interpreter exit.

`unload(ipython)` (`%unload_ext toucan_nb`) undoes all three, stopping the runtime.
`attachment()` tells what is attached (tests, diagnostics).

Threads: `load` and `unload` run on the kernel's shell thread; the at-exit hook on the main thread.
The one `_attachment` slot mirrors `session`'s one runtime per kernel process.
"""

from __future__ import annotations

import atexit
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from toucan_nb.host import connection_file
from toucan_nb.host.connection_file import ConnectionInfo
from toucan_nb.host.loopback import LoopbackError, LoopbackServer, serve_route_set

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Attachment:
    """What `load` started: the runtime, its loopback endpoint, and the discovery file (if any)."""

    runtime: Any
    loopback: LoopbackServer | None
    info: ConnectionInfo | None

    @property
    def port(self) -> int | None:
        return self.loopback.port if self.loopback is not None else None


_attachment: Attachment | None = None


def attachment() -> Attachment | None:
    """The current attachment, or None before `load` / after `unload`."""
    return _attachment


def load(ipython: Any) -> None:
    """Start the runtime, serve it on loopback and announce it (see the module docstring).

    Idempotent. The runtime's own start-up errors propagate; a loopback failure only warns, since
    the runtime still serves the notebook API.
    """
    global _attachment
    if _attachment is not None:
        return
    from toucan_nb.notebook.session import get_runtime

    runtime = get_runtime()
    loopback: LoopbackServer | None = None
    info: ConnectionInfo | None = None
    try:
        loopback = serve_route_set(runtime)
    except LoopbackError:
        log.warning("toucan_nb: the loopback endpoint did not start; the web UI cannot reach this kernel",
                    exc_info=True)
    kernel_id = _kernel_id()
    if loopback is not None and kernel_id is not None:
        info = ConnectionInfo(kernel_id, os.getpid(), loopback.port, loopback.secret, time.time())
        try:
            connection_file.write(info)
        except OSError:
            log.warning("toucan_nb: could not write the kernel discovery file", exc_info=True)
            info = None
    _attachment = Attachment(runtime, loopback, info)
    atexit.register(_remove_discovery_file)


def unload(ipython: Any) -> None:
    """Remove the discovery file, stop the loopback endpoint and the runtime. Idempotent."""
    global _attachment
    current, _attachment = _attachment, None
    atexit.unregister(_remove_discovery_file)
    if current is None:
        return
    if current.info is not None:
        connection_file.remove(current.info)
    if current.loopback is not None:
        current.loopback.stop()
    from toucan_nb.notebook.session import stop_runtime

    stop_runtime()


def _kernel_id() -> str | None:
    """This kernel's id from its connection file name (``kernel-<id>.json``), or None."""
    try:
        from ipykernel.kernelapp import IPKernelApp
        from traitlets.config import MultipleInstanceError
    except ImportError:
        return None
    if not IPKernelApp.initialized():
        return None
    try:
        app = IPKernelApp.instance()
    except MultipleInstanceError:
        # Terminal IPython: its own application holds the shared IPython singleton, so
        # `initialized()` is true although no kernel runs here.
        return None
    path = getattr(app, "abs_connection_file", None) or getattr(app, "connection_file", None)
    return connection_file.kernel_id_from_connection_file(path) if path else None


def _remove_discovery_file() -> None:
    current = _attachment
    if current is not None and current.info is not None:
        connection_file.remove(current.info)
