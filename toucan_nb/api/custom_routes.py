"""Routes custom node packs declare on `PromptServer.instance.routes` (docs/protocol.md §2), mounted
like the core ones: as written and under `/api`.

Packs load when the runtime starts, which may be after the app was built, so routes are looked up
per request (`CustomRouteMatcher`) in `toucan_nb.compat.custom_routes()`, after every core route
and before the frontend's static files. `routes.static(prefix, dir)` directories are served
directly. Handler routes are aiohttp coroutines: packs that declare them import aiohttp
themselves, so the call goes through a small bridge (`aiohttp.test_utils.make_mocked_request`
with the body fed in; `web.Response`, `web.json_response`, `web.FileResponse` and raised
`web.HTTPException`s come back). A handler that streams (`StreamResponse.prepare`) is not
supported and answers 501. IO loop thread.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
from typing import Any
from unittest import mock
from urllib.parse import unquote

from tornado.httputil import HTTPServerRequest
from tornado.routing import Matcher
from tornado.web import HTTPError

from toucan_nb.api.errors import bad_request
from toucan_nb.api.handlers.base import ApiHandler
from toucan_nb.api.static import safe_join, send_file

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*(?:\{[^{}]*\}[^{}]*)*))?\}")


@functools.lru_cache(maxsize=512)
def compile_path(path: str, static: bool) -> re.Pattern[str]:
    """aiohttp's `/a/{name}` / `{name:regex}` path syntax as a regex (static: a prefix)."""
    if static:
        return re.compile(re.escape(path.rstrip("/")) + r"/(?P<filename>.*)$")
    out, pos = [], 0
    for m in _PARAM.finditer(path):
        out.append(re.escape(path[pos:m.start()]))
        out.append(f"(?P<{m.group(1)}>{m.group(2) or '[^{}/]+'})")
        pos = m.end()
    out.append(re.escape(path[pos:]))
    return re.compile("".join(out) + "$")


def _routes() -> list[Any]:
    from toucan_nb.compat import custom_routes

    return custom_routes()


def find_route(method: str, path: str) -> tuple[int, dict[str, str]] | None:
    """(index in custom_routes(), match info) of the first route answering `method path`."""
    for index, route in enumerate(_routes()):
        static = route.method == "STATIC"
        if static and method not in ("GET", "HEAD"):
            continue
        if not static and route.method not in (method, "*") and not (method == "HEAD" and route.method == "GET"):
            continue
        m = compile_path(route.path, static).match(path)
        if m:
            return index, {k: unquote(v) for k, v in m.groupdict().items()}
    return None


class CustomRouteMatcher(Matcher):
    """Matches requests for custom routes under `prefix`, with or without `/api`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def match(self, request: HTTPServerRequest) -> dict[str, Any] | None:
        path = request.path
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                return None
            path = path[len(self.prefix):]
        for candidate in (path, path[4:] if path.startswith("/api/") else None):
            if candidate is None:
                continue
            found = find_route(request.method or "GET", candidate)
            if found is not None:
                return {"path_args": [], "path_kwargs": {"route_index": str(found[0]), **found[1]}}
        return None


class CustomRouteHandler(ApiHandler):
    """Answers a request `CustomRouteMatcher` matched."""

    async def _serve(self, route_index: str, **match: str) -> None:
        route = _routes()[int(route_index)]
        if route.method == "STATIC":
            path = safe_join(str(route.handler), match.get("filename", ""))
            if path is None or not os.path.isfile(path):
                raise HTTPError(404)
            await send_file(self, path)
            return
        await self._call_aiohttp(route.handler, match)

    async def _call_aiohttp(self, handler: Any, match: dict[str, str]) -> None:
        try:
            from aiohttp import streams, web
            from aiohttp.test_utils import make_mocked_request
        except ImportError:
            raise HTTPError(501, "this custom route needs aiohttp") from None
        payload = streams.StreamReader(mock.Mock(), 2**16, loop=asyncio.get_running_loop())
        payload.feed_data(self.body())
        payload.feed_eof()
        request = make_mocked_request(self.request.method or "GET", self.request.uri or "/",
                                      headers=dict(self.request.headers.get_all()), match_info=match,
                                      payload=payload, client_max_size=self.ctx.settings.max_body_bytes)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
        except (ValueError, KeyError, TypeError) as exc:
            raise bad_request(f"custom route failed on its input: {exc}") from exc
        await self._send_aiohttp(response, web)

    async def _send_aiohttp(self, response: Any, web: Any) -> None:
        self.set_status(response.status)
        if isinstance(response, web.FileResponse):
            await send_file(self, str(response._path), headers=dict(response.headers))
            return
        if not isinstance(response, web.Response):
            raise HTTPError(501, "streaming custom responses are not supported")
        self.clear_header("Content-Type")
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "date", "server"):
                self.set_header(name, value)
        body = response.body
        if body is not None and not isinstance(body, bytes | bytearray):
            body = getattr(body, "_value", b"")
        if body:
            self.finish(bytes(body))
        else:
            self.finish()

    get = post = put = patch = delete = _serve

