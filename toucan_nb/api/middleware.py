"""Request guards and response headers every route shares (docs/protocol.md §3).

* the kernel secret: with `ApiSettings.secret` set, every request and the /ws upgrade must carry
  `X-Toucan-Secret: <secret>` (constant-time compare) or get 403;
* CORS mode (`cors_origin` set, §3.2): every OPTIONS answered 200, four CORS headers on every
  response, no origin check;
* origin check (default, §3.3): a loopback Host with a different Origin gets 403;
* Cache-Control by path and status (§3.1), `setdefault` semantics.

Pure functions plus `GuardMixin` for tornado handlers; they run on the IO loop thread.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tornado.concurrent import Future
from tornado.web import HTTPError, RequestHandler

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Toucan-Secret"

CORS_METHODS = "POST, GET, DELETE, PUT, OPTIONS, PATCH"
CORS_HEADERS = "Content-Type, Authorization"

_NO_CACHE_SUFFIXES = (".js", ".css")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def secret_ok(provided: str | None, secret: str | None) -> bool:
    """True when no secret is configured or `provided` equals it (constant time)."""
    if secret is None:
        return True
    if provided is None:
        return False
    return hmac.compare_digest(provided.encode("utf-8"), secret.encode("utf-8"))


@functools.lru_cache(maxsize=256)
def is_loopback(hostname: str | None) -> bool:
    """True for a loopback IP literal, or a name whose every resolved address is loopback.

    Results are cached: the lookup runs on the IO loop and `localhost` is the common case.
    """
    if not hostname:
        return False
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        pass
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    loopback = False
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            infos = socket.getaddrinfo(hostname, None, family, socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            continue
        for info in infos:
            if not ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback:
                return False
            loopback = True
    return loopback


def origin_allowed(host: str | None, origin: str | None) -> bool:
    """docs/protocol.md §3.3: False when Host is loopback and Origin names another host.

    Compared port-insensitively when either side lacks a port. A header we cannot parse on a
    loopback Host is refused (ComfyUI raises and answers 500).
    """
    if not host or not origin:
        return True
    host_l = host.lower()
    try:
        parsed_origin = urlsplit(origin)
        parsed_host = urlsplit("//" + host_l)
        origin_port = parsed_origin.port
        host_port = parsed_host.port
    except ValueError:
        return not is_loopback(_bare_hostname(host_l))
    if not is_loopback(parsed_host.hostname):
        return True
    host_side: str | None = host_l if origin_port is not None else parsed_host.hostname
    origin_side: str | None = parsed_origin.netloc.lower() if host_port is not None else parsed_origin.hostname
    if not host_side or not origin_side:
        return True
    return host_side == origin_side


def _bare_hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0]


def cache_control_for(path: str, status: int) -> str | None:
    """The Cache-Control value ComfyUI's middleware adds for `path` answering `status` (§3.1)."""
    last = path.rsplit("/", 1)[-1]
    if path.endswith(_NO_CACHE_SUFFIXES) or (last.startswith("index") and last.endswith(".json")):
        return "no-cache"
    if path.lower().endswith(_IMAGE_SUFFIXES):
        if status == 404:
            return "public, max-age=3600"
        if 200 <= status <= 206 or status in (301, 308):
            return "public, max-age=86400"
        if status in (302, 303, 307):
            return "no-cache"
    return None


def cors_headers(origin: str) -> Mapping[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": CORS_METHODS,
        "Access-Control-Allow-Headers": CORS_HEADERS,
        "Access-Control-Allow-Credentials": "true",
    }


def check_request(handler: RequestHandler, secret: str | None, cors_origin: str | None) -> None:
    """Raise HTTPError(403) if the request fails the secret or the origin check."""
    request = handler.request
    if not secret_ok(request.headers.get(SECRET_HEADER), secret):
        raise HTTPError(403, "missing or wrong %s header", SECRET_HEADER)
    if cors_origin is None and not origin_allowed(request.headers.get("Host"), request.headers.get("Origin")):
        log.warning("refused cross-origin request: Host %r, Origin %r", request.headers.get("Host"),
                    request.headers.get("Origin"))
        raise HTTPError(403, "cross-origin request refused")


if TYPE_CHECKING:
    # The mixin's methods run on a RequestHandler: type them as one, without making it a base
    # class at run time (the concrete handler puts its own RequestHandler subclass after it).
    _HandlerBase = RequestHandler
else:
    _HandlerBase = object


class GuardMixin(_HandlerBase):
    """Secret + CORS/origin checks, OPTIONS answers and Cache-Control for a RequestHandler.

    The host class supplies `secret` and `cors_origin` (usually from `ApiContext.settings`).
    """

    secret: str | None = None
    cors_origin: str | None = None

    def set_default_headers(self) -> None:
        # Called again by clear() on errors, so CORS headers survive send_error (§3.2).
        if self.cors_origin is not None:
            for name, value in cors_headers(self.cors_origin).items():
                self.set_header(name, value)

    def guard(self) -> None:
        check_request(self, self.secret, self.cors_origin)

    def options(self, *args: str, **kwargs: str) -> None:
        # Both modes answer OPTIONS 200 with an empty body once the guard passed (§3.2, §3.3).
        self.set_status(200)
        self.clear_header("Content-Type")
        self.finish()

    def flush(self, include_footers: bool = False) -> Future[None]:
        # The last moment before the headers go out: add Cache-Control unless the handler set one.
        if not self._headers_written and "Cache-Control" not in self._headers:
            value = cache_control_for(self.request.path, self.get_status())
            if value is not None:
                self.set_header("Cache-Control", value)
        return super().flush(include_footers)
