"""The kernel's private loopback endpoint: one tornado app on 127.0.0.1, on its own IO-loop thread.

`LoopbackServer` owns one daemon thread that runs a fresh asyncio event loop (never the kernel's
own loop, so nothing nests and a busy cell never blocks a request). The application is built on
that thread, inside the running loop, by the factory it is given, so anything the app binds to
the current loop (`toucan_nb.api.app.make_app` does) binds to this one. `on_stop(app)` runs on
the loop at shutdown, before open connections are closed. Every request must carry the per-kernel secret in the `X-Toucan-Secret` header
(`connection_file.SECRET_HEADER`); the check sits in front of the whole application, WebSocket
upgrades included, so no route can forget it. Requests without it get an empty 403.
`serve_route_set(runtime)` is the kernel's use of it: the route set on a fresh secret.

Threads: `start` and `stop` are called from the kernel's shell thread; `call_soon` from any thread
(it is `IOLoop.add_callback`, the only thread-safe IOLoop method); everything else runs on the loop
thread.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from tornado import httputil
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.netutil import bind_sockets

from toucan_nb.host.connection_file import SECRET_HEADER

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from toucan_nb.runtime.runtime import Runtime

AppFactory = Callable[[], httputil.HTTPServerConnectionDelegate]


class LoopbackError(RuntimeError):
    """The loopback endpoint could not start."""


class LoopbackServer:
    """Serves one application on ``127.0.0.1:<free port>`` from a dedicated IO-loop thread."""

    def __init__(
        self,
        app_factory: AppFactory,
        *,
        secret: str,
        host: str = "127.0.0.1",
        server_options: Mapping[str, Any] | None = None,
        on_stop: Callable[[Any], Awaitable[None] | None] | None = None,
        thread_name: str = "toucan-loopback",
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the loopback secret must be at least 16 characters")
        self._app_factory = app_factory
        self._secret = secret
        self._host = host
        self._server_options = dict(server_options or {})
        self._on_stop = on_stop
        self._thread_name = thread_name
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._loop: IOLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._port = 0

    @property
    def secret(self) -> str:
        """The value every request must carry in `X-Toucan-Secret`."""
        return self._secret

    @property
    def port(self) -> int:
        """The bound port (0 before `start`)."""
        return self._port

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 30.0) -> int:
        """Start the thread, build the app there, bind a free port and return it.

        Raises LoopbackError (chained to the cause) when the factory or the bind fails or the
        thread does not come up within `timeout` seconds. Shell thread only.
        """
        if self._thread is not None:
            raise LoopbackError("loopback server already started")
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise LoopbackError(f"loopback server did not start within {timeout} s")
        if self._startup_error is not None:
            self._thread.join(timeout)
            raise LoopbackError("loopback server failed to start") from self._startup_error
        return self._port

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run `callback(*args)` on the loop thread. Any thread."""
        if self._loop is None:
            raise LoopbackError("loopback server is not running")
        self._loop.add_callback(callback, *args)

    def stop(self, timeout: float = 10.0) -> None:
        """Close the listener and every open connection (WebSockets too), then end the thread.

        Idempotent. Shell thread only; waits up to `timeout` seconds for the thread to end.
        """
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None:
            return
        if thread.is_alive():
            loop.add_callback(stopping.set)
            thread.join(timeout)
            if thread.is_alive():
                log.warning("toucan loopback thread did not stop within %s s", timeout)

    # -- loop thread -------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(asyncio_loop)
        try:
            asyncio_loop.run_until_complete(self._serve())
        except BaseException as exc:  # boundary: report to start(), never kill the kernel
            if not self._ready.is_set():
                self._startup_error = exc
            else:
                log.exception("toucan loopback loop crashed")
        finally:
            self._ready.set()
            io_loop = self._loop
            if io_loop is not None:
                # all_fds closes every socket still registered with the loop (upgraded
                # WebSockets are no longer tracked by the HTTP server).
                io_loop.close(all_fds=True)
            else:
                asyncio_loop.close()

    async def _serve(self) -> None:
        self._loop = IOLoop.current()
        self._stopping = asyncio.Event()
        app = self._app_factory()
        sockets = bind_sockets(0, self._host)
        server = HTTPServer(SecretGuard(app, self._secret), **self._server_options)
        server.add_sockets(sockets)
        self._port = sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.stop()
            if self._on_stop is not None:
                try:
                    result = self._on_stop(app)
                    if result is not None:
                        await result
                except Exception:
                    log.exception("toucan loopback on_stop hook failed")
            try:
                await asyncio.wait_for(server.close_all_connections(), timeout=5)
            except asyncio.TimeoutError:
                log.warning("toucan loopback: connections still open at shutdown")


def serve_route_set(runtime: Runtime) -> LoopbackServer:
    """The kernel's endpoint: `runtime`'s route set on a fresh random secret, started.

    No frontend: the server extension serves it itself. Raises LoopbackError. Shell thread.
    """
    from toucan_nb.api.app import ApiSettings, close_app, make_app, server_options

    secret = secrets.token_urlsafe(32)
    settings = ApiSettings(
        secret=secret,
        frontend_root=None,
        max_upload_size_mb=runtime.config.max_upload_size_mb,
        multi_user=runtime.config.multi_user,
    )
    server = LoopbackServer(
        lambda: make_app(runtime, settings),
        secret=secret,
        server_options=server_options(settings),
        on_stop=close_app,
        thread_name="toucan-loopback",
    )
    server.start()
    return server


class SecretGuard(httputil.HTTPServerConnectionDelegate):
    """Wraps an application; lets a request through only if it carries the secret header."""

    def __init__(self, app: httputil.HTTPServerConnectionDelegate, secret: str) -> None:
        self._app = app
        self._secret = secret.encode()

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        inner = self._app.start_request(server_conn, request_conn)
        return _GuardedRequest(inner, request_conn, self._secret)

    def on_close(self, server_conn: object) -> None:
        self._app.on_close(server_conn)


class _GuardedRequest(httputil.HTTPMessageDelegate):
    """Checks the secret at headers time; a rejected request never reaches the application."""

    def __init__(
        self, inner: httputil.HTTPMessageDelegate, conn: httputil.HTTPConnection, secret: bytes
    ) -> None:
        self._inner = inner
        self._conn = conn
        self._secret = secret
        self._rejected = False

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        given = headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if hmac.compare_digest(given, self._secret):
            return self._inner.headers_received(start_line, headers)
        self._rejected = True
        body = b"missing or wrong X-Toucan-Secret"
        self._conn.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 403, "Forbidden"),
            httputil.HTTPHeaders({"Content-Type": "text/plain", "Content-Length": str(len(body))}),
            body,
        )
        self._conn.finish()
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return None if self._rejected else self._inner.data_received(chunk)

    def finish(self) -> None:
        if not self._rejected:
            self._inner.finish()

    def on_connection_close(self) -> None:
        if not self._rejected:
            self._inner.on_connection_close()
