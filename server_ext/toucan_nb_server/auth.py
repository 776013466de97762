"""The base of every toucan handler: Jupyter authentication, authorization, XSRF, JSON errors.

Every request under ``{base}toucan/`` goes through `ToucanBaseHandler.prepare`:

1. Jupyter's own `prepare` resolves the user through the server's identity provider (token,
   cookie, JupyterHub OAuth: whatever the server is configured with).
2. No user: a GET/HEAD of a page (the UI entry point or a bundle file) redirects to the login page;
   anything else is 403. No data is ever sent.
3. A cookie-authenticated request must pass the XSRF rule below (403 otherwise).
4. The server's authorizer must allow the action on the ``kernels`` resource (toucan runs code in
   a kernel): ``read`` for GET/HEAD/OPTIONS, ``write`` for other methods, ``execute`` for the
   WebSocket.

The XSRF rule. On a JupyterHub without per-user subdomains every user's server shares one origin,
so a page of bob's server can send requests that carry alice's login cookie, with a same-origin
``Origin``. An Origin check cannot tell them apart; Jupyter's XSRF token can: it lives in the
``_xsrf`` cookie scoped to alice's ``base_url`` (JupyterHub >= 4.1 also binds it to her login
session) and must come back in a header or argument. So, like JupyterHub's single-user server (and
stricter, below), a request authenticated by a cookie needs the token (``X-XSRFToken`` header, or
the ``_xsrf`` argument where no header can be set, as for the WebSocket upgrade), except:

* a GET/HEAD navigation (``Sec-Fetch-Mode: navigate``): page loads, links, new tabs, downloads;
* a GET/HEAD that the browser makes for an element (``Sec-Fetch-Dest`` one of `ELEMENT_DESTS`:
  ``<img>``, ``<video>``, module scripts, stylesheets, fonts). ``fetch()`` and XMLHttpRequest always
  send ``Sec-Fetch-Dest: empty`` and JSON modules ``json``, so a script cannot read a JSON route this
  way; it can read an image it draws, which Jupyter's own ``/files/`` allows as well;
* a GET/HEAD of a file of the frontend bundle (`is_public_file`): the same public files for every
  user, no user data;
* a GET/HEAD without ``Sec-Fetch-Mode`` (browsers send no Sec-Fetch headers to plain-HTTP origins
  other than localhost; scripts that hold a cookie) to a route that page elements load
  (`is_element_route`: images, videos, custom-node scripts). JupyterHub lets every such GET
  through as a navigation; here the JSON routes still need the token, since their only browser
  client is the frontend, whose requests always carry it.

Requests authenticated by a token (``Authorization`` header, ``?token=``) need no XSRF token: a
foreign page cannot make the browser add them. ``Origin``, when present, must still match ``Host``
(or ``allow_origin``) on cookie-authenticated requests. The official frontend does not know about
Jupyter's token: the index page it loads carries a script that adds it (`index_page.XSRF_SCRIPT`).

The token comparison is the server's own: tornado's double-submit check in a plain Jupyter
server; in a JupyterHub single-user server (which replaces the handlers' ``xsrf_token`` with one
bound to the login session) the token must equal that ``xsrf_token``, as JupyterHub compares it.

Errors are JSON, written by the route set's own `toucan_nb.api.errors.ErrorResponseMixin`:
``{"error": "<message>"}``, 503 for `RuntimeUnavailableError`, 404 for `NotFoundError`.

Threads: the Jupyter server's IO loop.
"""

from __future__ import annotations

import hmac
import urllib.parse
from types import TracebackType

from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from toucan_nb.api.errors import ErrorResponseMixin
from toucan_nb.runtime.errors import ToucanError

AUTH_RESOURCE = "kernels"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_METHODS = frozenset({"GET", "HEAD"})
# Sec-Fetch-Dest values of requests a browser makes for page elements, whose bodies a script cannot
# read as text (fetch() and XMLHttpRequest send "empty"; JSON modules "json"; navigations come with
# Sec-Fetch-Mode "navigate").
ELEMENT_DESTS = frozenset({"image", "video", "audio", "track", "font", "script", "style", "manifest"})
XSRF_MISSING = (
    "A request authenticated by a cookie needs Jupyter's XSRF token (the X-XSRFToken header or the "
    "_xsrf argument), or a token (Authorization header)."
)
XSRF_MISMATCH = "The XSRF token does not match this session's _xsrf cookie."
_TORNADO_XSRF_TOKEN = web.RequestHandler.__dict__["xsrf_token"]


def refuse(status: int, message: str) -> web.HTTPError:
    """An HTTPError whose JSON body (through `toucan_nb.api.errors`) is ``{"error": message}``; the
    server's log names the reason too."""
    return web.HTTPError(status, "%s", message, reason=message)


class ToucanBaseHandler(ErrorResponseMixin, JupyterHandler):
    """Auth, authorization, XSRF and JSON errors for every toucan route."""

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
        if self.request.method in SAFE_METHODS:
            self.check_xsrf_cookie()  # Jupyter's prepare checks the other methods itself
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

    # -- XSRF (see the module docstring) --------------------------------------------------------

    def is_public_file(self) -> bool:
        """True for a GET/HEAD of a frontend bundle file (no user data in it)."""
        return False

    def is_element_route(self) -> bool:
        """True for routes that page elements load without script (images, videos, scripts)."""
        return False

    def check_xsrf_cookie(self) -> None:
        """Apply the XSRF rule once the user is known (see the module docstring).

        tornado calls this before `prepare` (the user, hence token authentication, is unknown
        then), and JupyterHub's cookie check calls it from inside the identity provider: both
        calls return at once; `prepare` calls it again, for every method, with the user resolved.
        """
        if not hasattr(self, "_jupyter_current_user") or self.current_user is None:
            return
        if self.token_authenticated or self.settings.get("disable_check_xsrf", False):
            return
        origin = self.request.headers.get("Origin")
        if origin is not None and (origin.lower() == "null" or not self.check_origin()):
            raise refuse(403, "cross-origin request refused")
        if self.xsrf_exempt():
            return
        self.require_xsrf_token()

    def xsrf_exempt(self) -> bool:
        """A cookie-authenticated request that needs no XSRF token (see the module docstring)."""
        if self.request.method not in READ_METHODS:
            return False
        headers = self.request.headers
        mode = headers.get("Sec-Fetch-Mode")
        if mode == "navigate" or headers.get("Sec-Fetch-Dest") in ELEMENT_DESTS:
            return True
        if self.is_public_file():
            return True
        return mode is None and self.is_element_route()

    def require_xsrf_token(self) -> None:
        """Raise 403 unless the request carries this client's XSRF token (header or `_xsrf`)."""
        submitted = (
            self.get_argument("_xsrf", None)
            or self.request.headers.get("X-Xsrftoken")
            or self.request.headers.get("X-Csrftoken")
        )
        if not submitted:
            raise refuse(403, XSRF_MISSING)
        if getattr(type(self), "xsrf_token", None) is _TORNADO_XSRF_TOKEN:
            try:
                web.RequestHandler.check_xsrf_cookie(self)
            except web.HTTPError as exc:
                raise refuse(403, XSRF_MISMATCH) from exc
            return
        # The server replaced tornado's token (JupyterHub binds it to the login session, and its
        # tokens are not masked): the submitted one must be that token.
        expected = self.xsrf_token
        if not hmac.compare_digest(submitted.encode("utf-8", "replace"), bytes(expected)):
            raise refuse(403, XSRF_MISMATCH)

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
