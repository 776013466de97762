"""`make_app(runtime, settings)`: the route set as a tornado Application.

Call it on the IO loop thread that will serve the app (inside its running loop): the app's
`ApiContext` captures that loop to deliver runtime events. The host that serves the app passes
`server_options(settings)` to its HTTPServer and calls `close_app(app)` at shutdown.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import tornado.web

from toucan_nb.api.config import ApiSettings
from toucan_nb.api.context import ApiContext
from toucan_nb.api.custom_routes import CustomRouteHandler, CustomRouteMatcher
from toucan_nb.api.frontend import FrontendFiles, FrontendHandler, frontend_routes
from toucan_nb.api.handlers.base import NotFoundHandler
from toucan_nb.api.middleware import GuardMixin
from toucan_nb.api.routes import url_rules
from toucan_nb.runtime.interface import RuntimeInterface

__all__ = ["ApiSettings", "close_app", "context_of", "make_app", "server_options"]

CONTEXT_KEY = "toucan_api_context"


class GuardedFrontendHandler(GuardMixin, FrontendHandler):
    """The frontend files behind the same secret / origin guard as the API routes."""

    def initialize(self, files: FrontendFiles, kind: str, redirect_to: str | None = None,
                   ctx: ApiContext | None = None) -> None:
        super().initialize(files, kind, redirect_to)
        assert ctx is not None
        self.secret = ctx.settings.secret
        self.cors_origin = ctx.settings.cors_origin
        self.set_default_headers()  # __init__ ran it before the settings were known

    def check_access(self) -> None:
        self.guard()


def make_app(runtime: RuntimeInterface, settings: ApiSettings | None = None, *,
             startup: Future[Any] | None = None) -> tornado.web.Application:
    """The tornado Application serving the whole route set (and the frontend if configured).

    `startup`, if given, is a future that resolves once the host has started the runtime: requests
    that arrive earlier wait for it (the standalone server listens before nodes finish loading).
    """
    settings = settings or ApiSettings()
    ctx = ApiContext(runtime, settings, startup=startup)
    kwargs = {"ctx": ctx}
    rules: list[Any] = url_rules(settings.prefix, kwargs)
    # Custom nodes' routes load with the runtime, maybe later: matched per request, after ours.
    rules.append((CustomRouteMatcher(settings.prefix), CustomRouteHandler, kwargs))
    if settings.frontend_root:
        files = FrontendFiles(settings.frontend_root, templates=settings.serve_templates,
                              docs=settings.serve_docs, executor=ctx.pool)
        ctx.frontend = files
        rules += frontend_routes(settings.prefix, files, GuardedFrontendHandler, ctx=ctx)
    app_settings: dict[str, Any] = {
        "default_handler_class": NotFoundHandler,
        "default_handler_args": kwargs,
        "websocket_max_message_size": 16 * 1024 * 1024,
        CONTEXT_KEY: ctx,
    }
    return tornado.web.Application(rules, **app_settings)


def context_of(app: tornado.web.Application) -> ApiContext:
    """The ApiContext of an app made by `make_app`."""
    ctx: ApiContext = app.settings[CONTEXT_KEY]
    return ctx


def close_app(app: tornado.web.Application) -> None:
    """Detach the app from its runtime and logging (idempotent)."""
    context_of(app).close()


def server_options(settings: ApiSettings) -> dict[str, Any]:
    """HTTPServer keyword arguments that let `ApiHandler` answer oversized bodies with 413 itself."""
    limit = settings.max_body_bytes + 1024 * 1024
    return {"max_body_size": limit, "max_buffer_size": max(limit, 100 * 1024 * 1024)}
