"""The frontend's index page as the extension serves it: the bundle's index.html with `XSRF_SCRIPT`
and `root_url_script` first in its head, and the no-kernel notice while no kernel is attached
(`waiting_page`).

Every cookie-authenticated request needs Jupyter's XSRF token (`auth` module docstring), which the
official frontend knows nothing of (docs/frontend.md §6.3). The script, which runs before the bundle's
own scripts, reads the token from the ``_xsrf`` cookie and adds it to the page's same-origin
``fetch`` and XMLHttpRequest calls (``X-XSRFToken`` header) and WebSocket URLs (``_xsrf``
argument). Serving the page reads the handler's ``xsrf_token``, which sets that cookie when the
browser has none yet (tornado sets it then; JupyterHub on navigations). The page itself holds no
token: a foreign page that fetches it learns nothing. The bundle's file on disk is not changed.

The frontend builds a few cosmetic URLs from the origin's root instead of its base (the favicon
frames, thumbnails: docs/frontend.md §2.4). Under Jupyter they reach Jupyter's own 404 page, and that
page sets a fresh ``_xsrf`` cookie (the request carried none: the cookie's path is ``base_url``),
which replaces the page's: every request then on its way carries a token that no longer matches and
is refused. `root_url_script` sends those URLs under the page's prefix instead, where the extension
serves them (and the favicon frames and previews show).

Threads: the Jupyter server's IO loop.
"""

from __future__ import annotations

import json

from tornado.web import RequestHandler

from toucan_nb_server.waiting_page import with_notice


def serve_index(handler: RequestHandler, index_path: str | None, *, prefix: str, waiting: bool) -> None:
    """Answer `handler` with the index page at `index_path`, uncached; with the notice if `waiting`.

    `prefix` is the URL path the page is served under, with its trailing slash (``/user/a/toucan/``).
    """
    assert index_path is not None
    with open(index_path, encoding="utf-8") as f:
        page = f.read()
    handler.xsrf_token  # noqa: B018 (sets the _xsrf cookie the script reads)
    page = insert_after_head(page, XSRF_SCRIPT + root_url_script(prefix))
    if waiting:
        page = with_notice(page)
    for name, value in {"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "0"}.items():
        handler.set_header(name, value)
    handler.set_header("Content-Type", "text/html; charset=utf-8")
    handler.finish(page)


def root_url_script(prefix: str) -> str:
    """`ROOT_URL_SCRIPT` for a page served under `prefix` (see the module docstring)."""
    # JSON is a JavaScript literal; "<" escaped so that no path can close the script element.
    return ROOT_URL_SCRIPT.replace("PREFIX_JSON", json.dumps(prefix).replace("<", "\\u003c"))


def insert_after_head(page: str, snippet: str) -> str:
    """`snippet` right after the opening ``<head>`` tag, so that it runs before the bundle's scripts."""
    lowered = page.lower()
    start = lowered.find("<head")
    end = lowered.find(">", start) if start >= 0 else -1
    if end < 0:
        return snippet + page
    return page[: end + 1] + snippet + page[end + 1 :]


# Adds Jupyter's XSRF token to the page's own requests (see the module docstring). Same-origin URLs
# only: the token never leaves for another origin.
XSRF_SCRIPT = """<script id="toucan-xsrf">
(function () {
  "use strict";
  function token() {
    var match = document.cookie.match(/(?:^|;\\s*)_xsrf=([^;]*)/);
    if (!match) { return ""; }
    try { return decodeURIComponent(match[1]); } catch (e) { return match[1]; }
  }
  function sameOrigin(url) {
    try { return new URL(url, location.href).origin === location.origin; } catch (e) { return false; }
  }
  var nativeFetch = window.fetch;
  function withHeader(input, init, isRequest, value) {
    var headers = new Headers((init && init.headers) || (isRequest ? input.headers : undefined));
    if (!headers.has("X-XSRFToken")) { headers.set("X-XSRFToken", value); }
    return Object.assign({}, init || {}, {headers: headers});
  }
  window.fetch = function (input, init) {
    var isRequest = typeof Request !== "undefined" && input instanceof Request;
    var value = token();
    if (!value || !sameOrigin(isRequest ? input.url : String(input))) {
      return nativeFetch.call(this, input, init);
    }
    var self = this;
    return nativeFetch.call(this, input, withHeader(input, init, isRequest, value)).then(function (response) {
      // The server answered a new _xsrf cookie while this request was on its way (Jupyter's 404
      // page for a URL outside base_url does): refused before it ran, so send it once more.
      var fresh = token();
      if (response.status !== 403 || isRequest || !fresh || fresh === value) { return response; }
      return nativeFetch.call(self, input, withHeader(input, init, false, fresh));
    });
  };
  var urls = new WeakMap();
  var nativeOpen = XMLHttpRequest.prototype.open;
  var nativeSend = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url) {
    urls.set(this, String(url));
    return nativeOpen.apply(this, arguments);
  };
  XMLHttpRequest.prototype.send = function () {
    var value = token();
    if (value && sameOrigin(urls.get(this))) {
      try { this.setRequestHeader("X-XSRFToken", value); } catch (e) { /* not opened: send throws */ }
    }
    return nativeSend.apply(this, arguments);
  };
  var NativeWebSocket = window.WebSocket;
  function withToken(url) {
    var value = token();
    try {
      var parsed = new URL(String(url), location.href);
      if (!value || parsed.host !== location.host) { return url; }
      parsed.searchParams.set("_xsrf", value);
      return parsed.toString();
    } catch (e) { return url; }
  }
  class XsrfWebSocket extends NativeWebSocket {
    constructor(url, protocols) {
      if (protocols === undefined) { super(withToken(url)); } else { super(withToken(url), protocols); }
    }
  }
  window.WebSocket = XsrfWebSocket;
})();
</script>
"""


# Sends the root URLs the frontend builds for images and icons (docs/frontend.md §2.4) under the
# page's prefix: the setters of <link href> and <img src>, and setAttribute for both.
ROOT_URL_SCRIPT = """<script id="toucan-root-urls">
(function () {
  "use strict";
  var PREFIX = PREFIX_JSON;
  var FAMILIES = ["/assets/", "/api/", "/docs/"];
  function underPrefix(value) {
    if (typeof value !== "string" || value.charAt(0) !== "/" || value.charAt(1) === "/" ||
        value.indexOf(PREFIX) === 0) { return value; }
    for (var i = 0; i < FAMILIES.length; i++) {
      if (value.indexOf(FAMILIES[i]) === 0) { return PREFIX + value.slice(1); }
    }
    return value;
  }
  function redirect(proto, name) {
    var native = Object.getOwnPropertyDescriptor(proto, name);
    Object.defineProperty(proto, name, Object.assign({}, native, {
      set: function (value) { native.set.call(this, underPrefix(value)); }
    }));
  }
  redirect(HTMLLinkElement.prototype, "href");
  redirect(HTMLImageElement.prototype, "src");
  var nativeSetAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    var lower = String(name).toLowerCase();
    if ((lower === "href" && this instanceof HTMLLinkElement) || (lower === "src" && this instanceof HTMLImageElement)) {
      return nativeSetAttribute.call(this, name, underPrefix(String(value)));
    }
    return nativeSetAttribute.call(this, name, value);
  };
})();
</script>
"""
