"""`ApiContext`: what every handler of one app shares (runtime, settings, clients, pools).

Created by `make_app` on the IO loop thread that serves the app; handlers receive it through
`initialize(ctx=...)`. `close()` detaches it from the runtime and the logging system; the host
that created the app calls it at shutdown. Attributes are read on the IO loop thread; the worker
pools run blocking file and validation work off it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from tornado.ioloop import IOLoop

from toucan_nb.api.clients import ClientTable
from toucan_nb.api.config import ApiSettings
from toucan_nb.api.fanout import EventFanout
from toucan_nb.api.frontend import FrontendFiles
from toucan_nb.api.logs import LogBuffer
from toucan_nb.api.userdata import UserStore
from toucan_nb.runtime.interface import RuntimeInterface

T = TypeVar("T")


class ApiContext:
    """Shared state of one app (see the module docstring)."""

    def __init__(self, runtime: RuntimeInterface, settings: ApiSettings, *, startup: Future[Any] | None = None) -> None:
        self.runtime = runtime
        self.settings = settings
        self.loop = IOLoop.current()
        # Blocking file work (object_info, uploads, listings) and prompt submission; submission
        # keeps one worker so prompts are validated and queued in request order.
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="toucan-api")
        self.preview_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="toucan-api-preview")
        self.users = UserStore(runtime.folders.user_dir, settings.multi_user)
        self.clients = ClientTable()
        self.fanout = EventFanout(self.clients, self.loop, self.preview_pool)
        self.logs = LogBuffer()
        self._startup = startup
        self._closers: list[Callable[[], None]] = [
            runtime.events.subscribe(self.fanout.on_event),
            self.logs.add_listener(self.fanout.on_log),
        ]
        root = logging.getLogger()
        root.addHandler(self.logs)
        self._closers.append(lambda: root.removeHandler(self.logs))
        self._flags = {
            "supports_preview_metadata": True,
            "max_upload_size": settings.max_upload_size_flag,
            "extension": {"manager": {"supports_v4": True}},
        }
        self.cache: dict[str, Any] = {}  # computed-once answers (i18n, subgraph index)
        self.frontend: FrontendFiles | None = None  # set by make_app when it serves the frontend

    def feature_flags(self) -> dict[str, Any]:
        """The server feature flags of GET /features and the WS handshake (docs/protocol.md §13.2)."""
        return self._flags

    def ready(self) -> Awaitable[None] | None:
        """None once the runtime has started; until then an awaitable that waits for it (the
        standalone server listens before that). Not a coroutine: tornado runs a `prepare` that
        returns None without a round trip through the loop, and that is every request but the first.
        """
        startup = self._startup
        if startup is None:
            return None
        if startup.done():
            startup.result()  # re-raises a failed start
            return None
        return asyncio.wrap_future(startup)

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the file-work pool."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def close(self) -> None:
        """Detach from the runtime and logging; stop the pools. Idempotent."""
        closers, self._closers = self._closers, []
        for close in closers:
            close()
        for pool in (self.pool, self.preview_pool):
            pool.shutdown(wait=False, cancel_futures=True)
        for conn in self.clients:
            conn.close()
