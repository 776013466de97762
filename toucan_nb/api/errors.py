"""Exception -> HTTP error response: the only place error bodies are built.

Every handler error takes one path: tornado's `send_error` -> `ErrorResponseMixin.write_error` ->
`error_response(exc)`. The route set's handlers (`ApiHandler`, the /ws handler) and the Jupyter
extension's (`toucan_nb_server.auth.ToucanBaseHandler`) all write their errors with that mixin. The class of the exception picks the status and body along its MRO
(most specific first), like starlette's exception-handler lookup:

    PromptValidationError    400 {"error": {...}, "node_errors": {...}}      (docs/protocol.md §6)
    BadRequestError          its `status`; its `body` (dict/list -> JSON, str -> text/plain,
                             None -> {"error": message})
    NotFoundError            404 {"error": message}
    RuntimeUnavailableError  503 {"error": message}
    tornado HTTPError        its status, {"error": reason}
    anything else            500 {"error": "Internal server error"} (logged once with its traceback)

Deviation from ComfyUI, on purpose: where ComfyUI answers bad input with a plain-text 500 or an
empty 4xx (docs/protocol.md §1, vectors/validation_errors.json), we answer a 4xx with a JSON body.
Where ComfyUI answers a documented text body ("Directory not found", "File already exists"), we
keep that text byte for byte (`BadRequestError(..., body="text")`).

Pure functions, any thread; the mixin runs on its handler's IO loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tornado.web import HTTPError, RequestHandler

from toucan_nb.runtime.errors import (
    BadRequestError,
    NotFoundError,
    PromptValidationError,
    RuntimeUnavailableError,
)

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """What an error turns into on the wire. `content_type` None means an empty body."""

    status: int
    body: bytes
    content_type: str | None

    @property
    def is_server_error(self) -> bool:
        return self.status >= 500


def _json(status: int, body: Any) -> ErrorResponse:
    return ErrorResponse(status, json.dumps(body).encode(), JSON_CONTENT_TYPE)


def _bad_request(exc: BaseException) -> ErrorResponse:
    assert isinstance(exc, BadRequestError)
    if isinstance(exc.body, str):
        return ErrorResponse(exc.status, exc.body.encode(), TEXT_CONTENT_TYPE)
    if exc.body is not None:
        return _json(exc.status, exc.body)
    return _json(exc.status, {"error": str(exc)})


def _validation(exc: BaseException) -> ErrorResponse:
    assert isinstance(exc, PromptValidationError)
    return _json(400, {"error": exc.error, "node_errors": exc.node_errors})


def _http_error(exc: BaseException) -> ErrorResponse:
    assert isinstance(exc, HTTPError)
    from http.client import responses

    if exc.log_message:
        message = exc.log_message % exc.args if exc.args else exc.log_message
    else:
        message = exc.reason or responses.get(exc.status_code, "Error")
    return _json(exc.status_code, {"error": message})


_MAPPERS: dict[type[BaseException], Callable[[BaseException], ErrorResponse]] = {
    PromptValidationError: _validation,
    BadRequestError: _bad_request,
    NotFoundError: lambda exc: _json(404, {"error": str(exc)}),
    RuntimeUnavailableError: lambda exc: _json(503, {"error": str(exc)}),
    HTTPError: _http_error,
}


def error_response(exc: BaseException | None, status: int = 500) -> ErrorResponse:
    """The response for `exc` (or for a bare `status` when there is no exception)."""
    if exc is not None:
        for klass in type(exc).__mro__:
            mapper = _MAPPERS.get(klass)
            if mapper is not None:
                return mapper(exc)
        return _json(500, {"error": "Internal server error"})
    from http.client import responses

    return _json(status, {"error": responses.get(status, "Error")})


def is_expected(exc: BaseException) -> bool:
    """True for errors that are the client's fault (no traceback in the log)."""
    return any(klass in _MAPPERS for klass in type(exc).__mro__) and not error_response(exc).is_server_error


def bad_request(message: str, status: int = 400, body: Any = None) -> BadRequestError:
    """Shorthand used by handlers: `raise bad_request("...")`."""
    return BadRequestError(message, status=status, body=body)


if TYPE_CHECKING:
    # Typed as the RequestHandler it is mixed into, without being one at run time.
    _HandlerBase = RequestHandler
else:
    _HandlerBase = object


class ErrorResponseMixin(_HandlerBase):
    """`write_error` for a tornado handler: the exception (or the bare status) -> `error_response`.

    Put it before the RequestHandler class in the bases, so that it replaces tornado's HTML page.
    """

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        resp = error_response(exc, status_code)
        self.set_status(resp.status)
        if resp.content_type is None:
            self.clear_header("Content-Type")
            self.finish()
            return
        self.set_header("Content-Type", resp.content_type)
        self.finish(resp.body)
