"""The base of every toucan handler: Jupyter authentication, authorization, same-origin, JSON errors.

Every request under ``{base}toucan/`` goes through `ToucanBaseHandler.prepare`:

1. Jupyter's own `prepare` resolves the user through the server's identity provider (token,
   cookie, JupyterHub OAuth: whatever the server is configured with).
2. No user: a GET/HEAD of a page (the UI entry point or a bundle file) redirects to the login page;
   anything else is 403. No data is ever sent.
3. The server's authorizer must allow the action on the ``kernels`` resource (toucan runs code in
   a kernel): ``read`` for GET/HEAD/OPTIONS, ``write`` for other methods, ``execute`` for the
   WebSocket.

XSRF (frontend.md §6.3): the official frontend never sends an XSRF header, so the toucan handlers
replace tornado's XSRF cookie check with a same-origin check on non-GET requests: ``Origin`` must
match ``Host`` (or the server's ``allow_origin`` settings). ``text/plain`` POSTs can be forged
cross-site without a CORS preflight, so this check is what keeps a foreign page from queueing
prompts. Token-authenticated requests (scripts) are exempt, as in Jupyter; a request with neither
a token nor an ``Origin`` must carry Jupyter's regular XSRF token instead.

Errors are JSON, written by the route set's own `toucan_nb.api.errors.ErrorResponseMixin`:
``{"error": "<message>"}``, 503 for `RuntimeUnavailableError`, 404 for `NotFoundError`.

Threads: the Jupyter server's IO loop.
"""

from __future__ import annotations

import urllib.parse
from types import TracebackType

from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from toucan_nb.api.errors import ErrorResponseMixin
from toucan_nb.runtime.errors import ToucanError

AUTH_RESOURCE = "kernels"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def refuse(status: int, message: str) -> web.HTTPError:
    """An HTTPError whose JSON body (through `toucan_nb.api.errors`) is ``{"error": message}``."""
    return web.HTTPError(status, reason=message)


class ToucanBaseHandler(ErrorResponseMixin, JupyterHandler):
    """Auth, authorization, same-origin and JSON errors for every toucan route."""

    auth_resource = AUTH_RESOURCE

    def is_page_request(self) -> bool:
        """True for a GET/HEAD that a browser navigates to (the login redirect only makes sense there)."""
        return False

    def auth_action(self) -> str:
        return "read" if self.request.method in SAFE_METHODS else "write"

    async def prepare(self, *, _redirect_to_login: bool = True) -> None:
        # Jupyter enforces auth itself only when allow_unauthenticated_access is False; then it
        # redirects pages to the login page and refuses everything else.
        await super().prepare(_redirect_to_login=_redirect_to_login and self.is_page_request())
        if self._finished:
            return
        user = self.current_user
        if user is None:
            if _redirect_to_login and self.request.method in ("GET", "HEAD") and self.is_page_request():
                self._redirect_to_login()
                return
            raise refuse(403, "authentication required")
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, user, self.auth_action(), AUTH_RESOURCE)
        )
        if not allowed:
            raise refuse(403, f"not authorized to {self.auth_action()} kernels")

    def _redirect_to_login(self) -> None:
        # What tornado's @web.authenticated does, so JupyterHub's OAuth dance works unchanged.
        url = self.get_login_url()
        if "?" not in url:
            next_url = self.request.full_url() if urllib.parse.urlsplit(url).scheme else self.request.uri
            url += "?" + urllib.parse.urlencode({"next": next_url})
        self.redirect(url)

    def check_xsrf_cookie(self) -> None:
        """Same-origin check instead of the XSRF cookie (see the module docstring)."""
        if not hasattr(self, "_jupyter_current_user"):
            return  # tornado calls this before prepare(); prepare() calls it again with the user
        if self.request.method in SAFE_METHODS:
            return
        if self.token_authenticated or self.settings.get("disable_check_xsrf", False):
            return
        origin = self.request.headers.get("Origin")
        if origin is not None:
            if origin.lower() == "null" or not self.check_origin():
                raise refuse(403, "cross-origin request refused")
            return
        # No Origin (not a browser fetch): fall back to Jupyter's own XSRF token check.
        try:
            web.RequestHandler.check_xsrf_cookie(self)
        except web.HTTPError as exc:
            raise refuse(403, "a request without Origin needs an XSRF token") from exc

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # "No kernel attached" and friends are answers, not server faults: no traceback.
        if isinstance(value, ToucanError):
            self.log.info("toucan %s %s: %s", self.request.method, self.request.path, value)
            return
        super().log_exception(typ, value, tb)
