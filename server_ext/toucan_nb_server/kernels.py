"""Which attached kernels the extension relays to (docs/architecture.md, decision 3).

A kernel attaches by writing a discovery file (`toucan_nb.host.connection_file`). We accept it
only when this server's own kernel manager runs a kernel with that id and, where the provisioner
knows the kernel's pid, the file's pid is that process or one of its descendants and it is still
alive. A stale file (a killed kernel, a restarted kernel that has not attached again, a kernel of
another server sharing the runtime directory) is ignored, never deleted: it may belong to someone
else.

`KernelDirectory.watch` lets a relay learn that its kernel went away (killed, restarted, shut
down) even when the process hangs instead of closing its sockets: a periodic check on the
server's loop fires the watchers of every kernel that is no longer accepted.

Threads: everything here runs on the Jupyter server's IO loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil
from tornado.ioloop import PeriodicCallback

from toucan_nb.host import connection_file
from toucan_nb.host.connection_file import ConnectionInfo

log = logging.getLogger(__name__)

# How long a relay whose kernel connection failed waits to learn whether the kernel died.
DEATH_GRACE = 1.0
_RECHECK_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class AttachedKernel:
    """An accepted kernel and its loopback endpoint."""

    info: ConnectionInfo

    @property
    def kernel_id(self) -> str:
        return self.info.kernel_id

    @property
    def http_origin(self) -> str:
        return f"http://127.0.0.1:{self.info.port}"

    @property
    def ws_origin(self) -> str:
        return f"ws://127.0.0.1:{self.info.port}"


class Watch:
    """One registered watcher; `cancel()` unregisters it (idempotent)."""

    def __init__(self, directory: KernelDirectory, kernel: AttachedKernel, callback: Callable[[], None]):
        self.kernel = kernel
        self.callback = callback
        self._directory = directory

    def cancel(self) -> None:
        self._directory._unwatch(self)


class KernelDirectory:
    """The kernels attached to this server, validated against its kernel manager."""

    def __init__(
        self,
        kernel_manager: Any,
        directories: Iterable[Path],
        *,
        poll_interval: float = 1.0,
    ) -> None:
        self._kernel_manager = kernel_manager
        self._directories = list(directories)
        self._poll_interval = poll_interval
        self._watches: list[Watch] = []
        self._poller: PeriodicCallback | None = None
        self._activity_recorded: dict[str, float] = {}

    # -- lookup ------------------------------------------------------------------------------

    def attached(self) -> list[AttachedKernel]:
        """Accepted kernels, most recently attached first."""
        infos = connection_file.read_all(self._directories)
        accepted = [AttachedKernel(info) for info in infos if self.is_accepted(info)]
        accepted.sort(key=lambda k: k.info.attached_at, reverse=True)
        return accepted

    def latest(self) -> AttachedKernel | None:
        """The most recently attached accepted kernel, or None."""
        kernels = self.attached()
        return kernels[0] if kernels else None

    def find(self, kernel_id: str) -> AttachedKernel | None:
        """The accepted kernel with this id, or None."""
        if not connection_file.is_safe_kernel_id(kernel_id):
            return None
        for directory in self._directories:
            info = connection_file.read(connection_file.path_for(kernel_id, directory))
            if info is not None and info.kernel_id == kernel_id and self.is_accepted(info):
                return AttachedKernel(info)
        return None

    def is_managed(self, kernel_id: str) -> bool:
        """True when our kernel manager runs a kernel with this id (attached or not)."""
        try:
            return kernel_id in self._kernel_manager
        except Exception:  # boundary: a kernel manager we do not know
            log.exception("toucan: kernel manager lookup failed")
            return False

    def is_accepted(self, info: ConnectionInfo) -> bool:
        """Run by our kernel manager, and (where known) by the process the file names."""
        if not self.is_managed(info.kernel_id):
            return False
        kernel_pid = self._managed_pid(info.kernel_id)
        if kernel_pid is None:
            return True  # no pid from the provisioner (remote kernels): the id must do
        return _is_same_or_descendant(info.pid, kernel_pid)

    def is_current(self, kernel: AttachedKernel) -> bool:
        """Still accepted, and its discovery file still announces this very endpoint."""
        if not self.is_accepted(kernel.info):
            return False
        for directory in self._directories:
            info = connection_file.read(connection_file.path_for(kernel.kernel_id, directory))
            if info == kernel.info:
                return True
        return False

    async def still_current(self, kernel: AttachedKernel, grace: float = DEATH_GRACE) -> bool:
        """`is_current`, asked again for up to `grace` seconds while it says yes.

        For a relay whose connection to the kernel just failed: a killed kernel's sockets close
        a moment before its process is a zombie, so an immediate check can still see it alive
        and the client would get a 502 where the truth is "the kernel stopped" (503).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.is_current(kernel):
            if loop.time() >= deadline:
                return True
            await asyncio.sleep(_RECHECK_SECONDS)
        return False

    def _managed_pid(self, kernel_id: str) -> int | None:
        try:
            manager = self._kernel_manager.get_kernel(kernel_id)
        except KeyError:
            return None
        provisioner = getattr(manager, "provisioner", None)
        pid = getattr(provisioner, "pid", None)
        return pid if isinstance(pid, int) and pid > 0 else None

    def record_activity(self, kernel: AttachedKernel) -> None:
        """Count relayed traffic as activity of the kernel (and the server).

        The runtime works on its own threads, so a kernel busy with prompts from the UI sends
        no Jupyter messages: without this, idle culling (and JupyterHub's activity reports, which
        read `last_kernel_activity`) would take it for idle. At most one update per second.
        """
        now = time.monotonic()
        if now - self._activity_recorded.get(kernel.kernel_id, -1.0) < 1.0:
            return
        self._activity_recorded[kernel.kernel_id] = now
        try:
            manager = self._kernel_manager.get_kernel(kernel.kernel_id)
        except KeyError:
            return
        stamp = datetime.now(timezone.utc)
        manager.last_activity = stamp
        self._kernel_manager.last_kernel_activity = stamp

    # -- watching ----------------------------------------------------------------------------

    def watch(self, kernel: AttachedKernel, callback: Callable[[], None]) -> Watch:
        """Call `callback()` once, on the server loop, when `kernel` stops being current."""
        handle = Watch(self, kernel, callback)
        self._watches.append(handle)
        if self._poller is None:
            self._poller = PeriodicCallback(self.check_watches, self._poll_interval * 1000)
            self._poller.start()
        return handle

    def _unwatch(self, handle: Watch) -> None:
        if handle in self._watches:
            self._watches.remove(handle)
        if not self._watches and self._poller is not None:
            self._poller.stop()
            self._poller = None

    def check_watches(self) -> None:
        """Fire (and drop) the watchers of every kernel that is no longer current."""
        verdicts: dict[ConnectionInfo, bool] = {}
        for handle in list(self._watches):
            info = handle.kernel.info
            if info not in verdicts:
                verdicts[info] = self.is_current(handle.kernel)
            if verdicts[info]:
                continue
            handle.cancel()
            try:
                handle.callback()
            except Exception:  # boundary: one relay's cleanup must not stop the others
                log.exception("toucan: kernel-gone callback failed")

    def close(self) -> None:
        """Stop polling and forget every watcher (server shutdown)."""
        self._watches.clear()
        if self._poller is not None:
            self._poller.stop()
            self._poller = None


def _is_same_or_descendant(pid: int, ancestor: int) -> bool:
    """`pid` is `ancestor` or a descendant of it, and is alive (not a zombie)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        if pid == ancestor:
            return True
        return any(parent.pid == ancestor for parent in process.parents())
    except psutil.Error:
        return False
