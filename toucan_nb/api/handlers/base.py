"""`ApiHandler`: the one base of every route handler (guards, body limit, JSON in/out, errors).

* `prepare` runs the secret and origin/CORS guard (middleware.py), refuses NUL bytes in the path,
  enforces the body limit from `Content-Length` before any byte of the body is read (413 JSON),
  and waits until the runtime has started.
* Bodies are streamed into memory up to the limit; a chunked body that grows past it is refused.
* `json_body()` parses whatever the Content-Type says (docs/protocol.md §1) with `parse_client_json`;
  bad or too deeply nested JSON is a 400.
* Errors go through `errors.ErrorResponseMixin.write_error` -> `errors.error_response`; handlers
  only raise.
* Every GET also answers HEAD.

Runs on the IO loop thread.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tornado.web import HTTPError, RequestHandler, stream_request_body

from toucan_nb.api.errors import JSON_CONTENT_TYPE, ErrorResponseMixin, bad_request, is_expected
from toucan_nb.api.json_input import ClientJsonError, parse_client_json
from toucan_nb.api.middleware import GuardMixin

if TYPE_CHECKING:
    from types import TracebackType

    from toucan_nb.api.context import ApiContext
    from toucan_nb.runtime.interface import RuntimeInterface

log = logging.getLogger(__name__)

_MISSING: Any = object()


@stream_request_body
class ApiHandler(GuardMixin, ErrorResponseMixin, RequestHandler):
    """Base of the route handlers; subclasses implement `get`/`post`/... and only raise on errors."""

    def initialize(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.secret = ctx.settings.secret
        self.cors_origin = ctx.settings.cors_origin
        self.set_default_headers()  # __init__ ran it before the settings were known
        self._body_parts: list[bytes] = []
        self._body_size = 0
        self._body_too_large = False

    @property
    def runtime(self) -> RuntimeInterface:
        return self.ctx.runtime

    def prepare(self) -> Awaitable[None] | None:
        self.guard()
        if "\x00" in unquote(self.request.uri or ""):
            raise bad_request("NUL bytes are not allowed in the URL")
        length = self.request.headers.get("Content-Length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                raise bad_request("invalid Content-Length") from None
            if size > self.ctx.settings.max_body_bytes:
                raise self._too_large(size)
        return self.ctx.ready()  # None (no loop round trip) once the runtime has started

    def _too_large(self, size: int) -> Exception:
        limit = self.ctx.settings.max_body_bytes
        return bad_request(f"Maximum request body size {limit} exceeded, actual body size {size}", status=413)

    def data_received(self, chunk: bytes) -> None:
        if self._body_too_large:
            return
        self._body_size += len(chunk)
        if self._body_size > self.ctx.settings.max_body_bytes:
            # Chunked upload past the limit: drop what we have; the method answers 413.
            self._body_too_large = True
            self._body_parts = []
            return
        self._body_parts.append(chunk)

    def body(self) -> bytes:
        """The request body (raises 413 if it outgrew the limit)."""
        if self._body_too_large:
            raise self._too_large(self._body_size)
        if len(self._body_parts) != 1:
            self._body_parts = [b"".join(self._body_parts)]
        return self._body_parts[0]

    def json_body(self, default: Any = _MISSING) -> Any:
        """The body parsed as JSON, regardless of Content-Type; `default` if the body is empty.

        Deviation from ComfyUI: invalid or too deeply nested JSON is a 400 with a JSON error body,
        not a 500.
        """
        raw = self.body()
        if not raw.strip() and default is not _MISSING:
            return default
        try:
            return parse_client_json(raw)
        except ClientJsonError as exc:
            raise bad_request(f"Invalid JSON body: {exc}") from None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object (400 otherwise)."""
        body = self.json_body()
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object")
        return body

    def query_flag(self, name: str, default: str = "") -> bool:
        """True only when the query value is exactly `true` (any case), as ComfyUI reads flags."""
        return self.get_query_argument(name, default).lower() == "true"

    def query_int(self, name: str) -> int | None:
        """An optional integer query argument (400 if it is not one)."""
        value = self.get_query_argument(name, None)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise bad_request(f"{name} must be an integer") from None

    def write_json(self, data: Any, status: int = 200) -> None:
        """Finish with a JSON body (default separators, insertion order: docs/protocol.md §1)."""
        self.set_status(status)
        self.set_header("Content-Type", JSON_CONTENT_TYPE)
        self.finish(json.dumps(data))

    def write_empty(self, status: int = 200) -> None:
        """Finish with no body and no Content-Type ("Empty 200", docs/protocol.md §1)."""
        self.set_status(status)
        self.clear_header("Content-Type")
        self.finish()

    def log_exception(self, typ: type[BaseException] | None, value: BaseException | None,
                      tb: TracebackType | None) -> None:
        if value is not None and not isinstance(value, HTTPError) and is_expected(value):
            log.debug("%s %s: %s", self.request.method, self.request.path, value)
            return
        super().log_exception(typ, value, tb)

    def head(self, *args: str, **kwargs: str) -> Any:
        return self.get(*args, **kwargs)


class NotFoundHandler(ApiHandler):
    """Every path no route matches: 404 with a JSON body (after the guard)."""

    async def prepare(self) -> None:
        waiting = super().prepare()
        if waiting is not None:
            await waiting
        if self.request.method != "OPTIONS":
            raise HTTPError(404)
