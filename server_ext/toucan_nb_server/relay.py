"""HTTP and WebSocket relays from ``{base}toucan/`` to an attached kernel's loopback route set.

URL layout (docs/protocol.md §2, docs/frontend.md §2): ``{base}toucan/<path>`` goes to the most recently
attached kernel and ``{base}toucan/kernels/<kernel_id>/<path>`` to that kernel; in both cases the
kernel sees ``/<path>``. The remainder is taken from the raw request path, still percent-encoded,
so ``api/userdata/workflows%2Fx.json`` reaches the kernel with its ``%2F`` intact (docs/frontend.md
§6.2). GET/HEAD of a frontend bundle file is served here (`frontend`), so the UI loads before
any kernel attaches; everything else is relayed, or answered 503 JSON while no kernel is attached.

What crosses to the kernel: method, body, query string (minus Jupyter's ``token`` and ``_xsrf``
parameters) and
the client's headers minus Jupyter credentials (``Cookie``, ``Authorization``, XSRF), hop-by-hop
headers, ``Origin``/``Referer`` (the same-origin check was done here) and any client-supplied
secret; the kernel's secret is added. What comes back: status, headers (minus hop-by-hop,
``Set-Cookie``) and body; ``Location`` is rewritten under the toucan prefix.

Kernel death: a relay fails with a JSON 503 as soon as its kernel's sockets close or the kernel
stops being current (`kernels.KernelDirectory.watch`), and relayed browser WebSockets are closed
with code 1011, so nothing hangs on a dead kernel.

Threads: the Jupyter server's IO loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.utils import url_path_join
from tornado import httpclient, httputil
from tornado.iostream import StreamClosedError
from tornado.simple_httpclient import HTTPTimeoutError
from tornado.websocket import (
    WebSocketClientConnection,
    WebSocketClosedError,
    WebSocketError,
    WebSocketHandler,
    websocket_connect,
)

from toucan_nb.host.connection_file import SECRET_HEADER
from toucan_nb.runtime.errors import NotFoundError, RuntimeUnavailableError
from toucan_nb_server.auth import ToucanBaseHandler, refuse
from toucan_nb_server.frontend import Frontend, FrontendFile
from toucan_nb_server.index_page import serve_index
from toucan_nb_server.kernels import AttachedKernel, KernelDirectory
from toucan_nb_server.prompts_in_flight import PromptsInFlight
from toucan_nb_server.waiting_page import ATTACHED_PATH

log = logging.getLogger(__name__)

MOUNT = "toucan"
_HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Trailers",
        "Transfer-Encoding",
        "Upgrade",
    )
)
_DROP_REQUEST = _HOP_BY_HOP | {
    "host",
    "content-length",
    "cookie",
    "authorization",
    "x-xsrftoken",
    "x-csrftoken",
    "origin",
    "referer",
    "accept-encoding",
    "expect",
    SECRET_HEADER.lower(),
}
# Content-Encoding stays: the body is copied as received (the kernel is asked for no encoding).
_DROP_RESPONSE = _HOP_BY_HOP | {"content-length", "server", "date", "set-cookie"}
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
# Close codes a server may send on to a browser (RFC 6455 §7.4).
_FORWARDABLE_CLOSE_CODES = frozenset({1000, 1001, 1003, 1007, 1008, 1009, 1010, 1011}) | set(
    range(3000, 5000)
)
NOT_ATTACHED = (
    "No kernel is attached to toucan. Run `%load_ext toucan_nb` in a notebook on this Jupyter server."
)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Timeouts and limits of the relays (from the extension's traits)."""

    connect_timeout: float = 10.0
    request_timeout: float = 300.0
    max_message_size: int = 256 * 1024 * 1024


class UpstreamClient:
    """The relays' own `AsyncHTTPClient`, created on first use (on the server loop)."""

    def __init__(self, max_clients: int = 64, max_body_size: int = 1024 * 1024 * 1024) -> None:
        self._max_clients = max_clients
        self._max_body_size = max_body_size
        self._client: httpclient.AsyncHTTPClient | None = None

    def fetch(self, request: httpclient.HTTPRequest) -> Awaitable[httpclient.HTTPResponse]:
        """Fetch without raising for HTTP error statuses (they are relayed as they are)."""
        if self._client is None:
            # force_instance: never share (or close) the loop-wide client other code may use.
            self._client = httpclient.AsyncHTTPClient(
                force_instance=True,
                max_clients=self._max_clients,
                max_body_size=self._max_body_size,
                max_buffer_size=self._max_body_size,
            )
        return self._client.fetch(request, raise_error=False)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


@dataclass(frozen=True, slots=True)
class Target:
    """Where one request goes: the toucan prefix it came under and the path the kernel sees."""

    prefix: str  # e.g. "/user/alice/toucan/" or "/user/alice/toucan/kernels/<id>/"
    kernel_id: str | None  # None: the most recently attached kernel
    path: str  # raw (percent-encoded) path without a leading "/"
    query: str  # raw query, Jupyter's token and _xsrf removed


def parse_target(base_url: str, raw_path: str, raw_query: str) -> Target | None:
    """Split a raw request path under ``{base_url}toucan/``; None if it is not under it."""
    root = url_path_join(base_url, MOUNT) + "/"
    if not raw_path.startswith(root):
        return None
    rest, prefix, kernel_id = raw_path[len(root) :], root, None
    if rest.startswith("kernels/"):
        segment, slash, remainder = rest[len("kernels/") :].partition("/")
        if not slash:
            return None
        kernel_id = unquote(segment)
        prefix, rest = f"{root}kernels/{segment}/", remainder
    return Target(prefix, kernel_id, rest, _strip_credentials(raw_query))


_CREDENTIAL_PARAMETERS = frozenset({"token", "_xsrf"})


def _strip_credentials(raw_query: str) -> str:
    # Jupyter's token (?token=...) and XSRF token (?_xsrf=..., the WebSocket's) are ours, not the kernel's.
    if not raw_query:
        return ""
    kept = [p for p in raw_query.split("&")
            if p and unquote(p.partition("=")[0]) not in _CREDENTIAL_PARAMETERS]
    return "&".join(kept)


# Routes that page elements load without script (<img>, <video>, custom-node module scripts).
_ELEMENT_ROUTES = frozenset({"view", "viewvideo"})


def upstream_url(origin: str, target: Target) -> str:
    return f"{origin}/{target.path}" + (f"?{target.query}" if target.query else "")


def forward_request_headers(headers: httputil.HTTPHeaders, secret: str) -> httputil.HTTPHeaders:
    """The client's headers as the kernel should see them (see the module docstring)."""
    named_in_connection = {h.strip().lower() for h in headers.get("Connection", "").split(",")}
    out = httputil.HTTPHeaders()
    for name, value in headers.get_all():
        lower = name.lower()
        if lower in _DROP_REQUEST or lower in named_in_connection or lower.startswith("sec-websocket-"):
            continue
        out.add(name, value)
    out[SECRET_HEADER] = secret
    return out


def rewrite_location(location: str, kernel: AttachedKernel, prefix: str) -> str:
    """Map a kernel-relative redirect target into the toucan prefix."""
    if location.startswith(kernel.http_origin + "/"):
        location = location[len(kernel.http_origin) :]
    if location.startswith("/") and not location.startswith("//"):
        return prefix + location[1:]
    return location


class _KernelResolver(ToucanBaseHandler):
    """Shared by both relays: find the target kernel of this request or fail with JSON."""

    kernels: KernelDirectory
    relay_config: RelayConfig

    def target(self) -> Target:
        target = parse_target(self.base_url, self.request.path, self.request.query)
        if target is None:
            raise NotFoundError("not a toucan path")
        return target

    def kernel_for(self, target: Target) -> AttachedKernel:
        """The kernel `target` names. Raises RuntimeUnavailableError (503) or NotFoundError (404)."""
        if target.kernel_id is None:
            kernel = self.kernels.latest()
            if kernel is None:
                raise RuntimeUnavailableError(NOT_ATTACHED)
            return kernel
        kernel = self.kernels.find(target.kernel_id)
        if kernel is not None:
            return kernel
        if self.kernels.is_managed(target.kernel_id):
            raise RuntimeUnavailableError(
                f"Kernel {target.kernel_id} is not attached to toucan. Run `%load_ext toucan_nb` in it."
            )
        raise NotFoundError(f"This Jupyter server runs no kernel {target.kernel_id}.")

    def kernel_gone_error(self, kernel: AttachedKernel) -> RuntimeUnavailableError:
        return RuntimeUnavailableError(
            f"Kernel {kernel.kernel_id} stopped or detached while handling this request. "
            "After a restart, run `%load_ext toucan_nb` again."
        )


class ToucanHttpHandler(_KernelResolver):
    """Every non-WebSocket request under the prefix: frontend files here, the rest relayed."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")

    def initialize(
        self,
        kernels: KernelDirectory,
        relay_config: RelayConfig,
        http_client: UpstreamClient,
        frontend: Frontend,
    ) -> None:
        self.kernels = kernels
        self.relay_config = relay_config
        self._http_client = http_client
        self._frontend = frontend
        self._located: FrontendFile | None | bool = False  # False: not looked up yet

    def _frontend_file(self) -> FrontendFile | None:
        """The frontend file this GET/HEAD names, or None when it goes to the kernel."""
        if self._located is False:
            self._located = None
            if self.request.method in ("GET", "HEAD"):
                target = parse_target(self.base_url, self.request.path, "")
                if target is not None:
                    self._located = self._frontend.locate(target.path)
        return self._located if isinstance(self._located, FrontendFile) else None

    def is_page_request(self) -> bool:
        return self._frontend_file() is not None

    def is_public_file(self) -> bool:
        return self._frontend_file() is not None

    def is_element_route(self) -> bool:
        target = parse_target(self.base_url, self.request.path, "")
        if target is None:
            return False
        path = unquote(target.path)
        path = path[len("api/"):] if path.startswith("api/") else path
        return path in _ELEMENT_ROUTES or path.startswith("extensions/")

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if self.target().path == ATTACHED_PATH:
            # The waiting page polls this: whether a kernel is attached, without a 503 in the console.
            self.finish({"attached": self._has_kernel()})
            return
        file = self._frontend_file()
        if file is not None and file.kind == "index":
            serve_index(self, self._frontend.index_path, prefix=self.target().prefix, waiting=not self._has_kernel())
            return
        if file is not None:
            await self._frontend.serve(self, file)
            return
        await self.relay()

    def _has_kernel(self) -> bool:
        try:
            self.kernel_for(self.target())
        except (RuntimeUnavailableError, NotFoundError):
            return False
        return True

    async def head(self, *args: Any, **kwargs: Any) -> None:
        await self.get()

    async def post(self, *args: Any, **kwargs: Any) -> None:
        await self.relay()

    async def put(self, *args: Any, **kwargs: Any) -> None:
        await self.relay()

    async def patch(self, *args: Any, **kwargs: Any) -> None:
        await self.relay()

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        await self.relay()

    async def options(self, *args: Any, **kwargs: Any) -> None:
        await self.relay()

    async def relay(self) -> None:
        """Send this request to the kernel and copy its answer back."""
        target = self.target()
        kernel = self.kernel_for(target)
        method = self.request.method or "GET"
        body = self.request.body if method not in _BODYLESS_METHODS or self.request.body else None
        request = httpclient.HTTPRequest(
            upstream_url(kernel.http_origin, target),
            method=method,
            headers=forward_request_headers(self.request.headers, kernel.info.secret),
            body=body,
            follow_redirects=False,
            decompress_response=False,
            allow_nonstandard_methods=True,
            connect_timeout=self.relay_config.connect_timeout,
            request_timeout=self.relay_config.request_timeout,
        )
        self.kernels.record_activity(kernel)
        response = await self._fetch_unless_gone(kernel, request)
        self._copy_response(response, kernel, target)

    async def _fetch_unless_gone(
        self, kernel: AttachedKernel, request: httpclient.HTTPRequest
    ) -> httpclient.HTTPResponse:
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_gone() -> None:
            if not gone.done():
                gone.set_result(None)

        watch = self.kernels.watch(kernel, on_gone)
        fetch = asyncio.ensure_future(self._http_client.fetch(request))
        racing: list[asyncio.Future[Any]] = [fetch, gone]
        try:
            await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watch.cancel()
        if not fetch.done():
            fetch.add_done_callback(_consume_exception)
            raise self.kernel_gone_error(kernel)
        try:
            return fetch.result()
        except HTTPTimeoutError as exc:
            raise refuse(504, f"Kernel {kernel.kernel_id} did not answer in time.") from exc
        except (httpclient.HTTPClientError, OSError, StreamClosedError) as exc:
            if not await self.kernels.still_current(kernel):
                raise self.kernel_gone_error(kernel) from exc
            raise refuse(502, f"Kernel {kernel.kernel_id} did not answer.") from exc

    def _copy_response(
        self, response: httpclient.HTTPResponse, kernel: AttachedKernel, target: Target
    ) -> None:
        self.set_status(response.code, response.reason)
        self.clear_header("Content-Type")
        for name, value in response.headers.get_all():
            lower = name.lower()
            if lower in _DROP_RESPONSE:
                continue
            if lower == "location":
                value = rewrite_location(value, kernel, target.prefix)
            self.add_header(name, value)
        if response.body and response.code not in (204, 304) and self.request.method != "HEAD":
            self.write(response.body)
        self.finish()


def _consume_exception(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class WebSocketRelayHandler(WebSocketMixin, _KernelResolver, WebSocketHandler):
    """``/ws`` and ``/api/ws``: one upstream socket to the kernel per browser socket."""

    def initialize(self, kernels: KernelDirectory, relay_config: RelayConfig) -> None:
        self.kernels = kernels
        self.relay_config = relay_config
        self._upstream: WebSocketClientConnection | None = None
        self._kernel: AttachedKernel | None = None
        self._watch: Any = None
        self._pump: asyncio.Task[None] | None = None

    def auth_action(self) -> str:
        return "execute"

    async def get(self, *args: Any, **kwargs: Any) -> None:
        target = self.target()
        kernel = self.kernel_for(target)
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise refuse(400, "WebSocket upgrade expected")
        # Refuse a cross-origin socket before touching the kernel (tornado checks again later).
        origin = self.get_origin()
        if origin is not None and not self.check_origin(origin):
            raise refuse(403, "cross-origin WebSocket refused")
        url = upstream_url(kernel.ws_origin, target)
        request = httpclient.HTTPRequest(
            url,
            headers={SECRET_HEADER: kernel.info.secret},
            connect_timeout=self.relay_config.connect_timeout,
            request_timeout=self.relay_config.connect_timeout,
        )
        try:
            self._upstream = await websocket_connect(
                request, max_message_size=self.relay_config.max_message_size
            )
        except (httpclient.HTTPClientError, OSError, StreamClosedError, WebSocketError) as exc:
            if not await self.kernels.still_current(kernel):
                raise self.kernel_gone_error(kernel) from exc
            raise refuse(502, f"Kernel {kernel.kernel_id} refused the WebSocket.") from exc
        self._kernel = kernel
        self._watch = self.kernels.watch(kernel, self._kernel_gone)
        try:
            await WebSocketHandler.get(self, *args, **kwargs)
        finally:
            if self.ws_connection is None:
                self._release()  # upgrade refused: do not leak the upstream socket

    def open(self, *args: Any, **kwargs: Any) -> None:
        self._prompts = PromptsInFlight()
        super().open(*args, **kwargs)
        self._pump = asyncio.ensure_future(self._pump_from_kernel())

    async def _pump_from_kernel(self) -> None:
        upstream = self._upstream
        code, reason = 1011, "kernel connection lost"
        try:
            while upstream is not None:
                message = await upstream.read_message()
                if message is None:
                    if upstream.close_code in _FORWARDABLE_CLOSE_CODES:
                        code, reason = upstream.close_code, upstream.close_reason or ""
                    break
                if isinstance(message, str):
                    self._prompts.observe(message)
                await self.write_message(message, binary=isinstance(message, bytes))
                self._record_activity()
        except WebSocketClosedError:
            pass  # the browser went away; on_close releases the upstream
        except Exception:  # boundary: a relay failure must close both sides, not the server
            log.exception("toucan: WebSocket relay from the kernel failed")
        if code == 1011:
            await self._report_lost_prompts()
        self.close(code, reason)
        self._release()

    async def _report_lost_prompts(self) -> None:
        """Tell the browser that the prompts it saw start will never finish (the kernel is gone)."""
        for frame in self._prompts.lost_frames():
            try:
                await self.write_message(frame)
            except WebSocketClosedError:
                return

    async def on_message(self, message: str | bytes) -> None:
        upstream = self._upstream
        if upstream is None:
            return
        self._record_activity()
        try:
            await upstream.write_message(message, binary=isinstance(message, bytes))
        except (WebSocketClosedError, StreamClosedError):
            self.close(1011, "kernel connection lost")
            self._release()

    def on_close(self) -> None:
        self._release()

    def _record_activity(self) -> None:
        if self._kernel is not None:
            self.kernels.record_activity(self._kernel)

    def _kernel_gone(self) -> None:
        self._watch = None
        asyncio.ensure_future(self._close_after_report())

    async def _close_after_report(self) -> None:
        await self._report_lost_prompts()
        self.close(1011, "kernel stopped")
        self._release()

    def _release(self) -> None:
        if self.ping_callback is not None:
            self.ping_callback.stop()
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            upstream.close()


class TrailingSlashRedirect(ToucanBaseHandler):
    """``{base}toucan`` -> ``{base}toucan/`` (docs/frontend.md §2.1: without the slash the UI is blank)."""

    def is_page_request(self) -> bool:
        return True

    def is_public_file(self) -> bool:
        return True  # a redirect to the UI's own URL

    def get(self, *args: Any, **kwargs: Any) -> None:
        path, query = self.request.path, self.request.query
        self.redirect(path + "/" + (f"?{query}" if query else ""), permanent=False)

    head = get
