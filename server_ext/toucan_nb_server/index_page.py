"""The frontend's index page as the extension serves it: the bundle's index.html with `XSRF_SCRIPT`
first in its head, and the no-kernel notice while no kernel is attached (`waiting_page`).

Every cookie-authenticated request needs Jupyter's XSRF token (`auth` module docstring), which the
official frontend knows nothing of (docs/frontend.md §6.3). The script, which runs before the bundle's
own scripts, reads the token from the ``_xsrf`` cookie and adds it to the page's same-origin
``fetch`` and XMLHttpRequest calls (``X-XSRFToken`` header) and WebSocket URLs (``_xsrf``
argument). Serving the page reads the handler's ``xsrf_token``, which sets that cookie when the
browser has none yet (tornado sets it then; JupyterHub on navigations). The page itself holds no
token: a foreign page that fetches it learns nothing. The bundle's file on disk is not changed.

Threads: the Jupyter server's IO loop.
"""

from __future__ import annotations

from tornado.web import RequestHandler

from toucan_nb_server.waiting_page import with_notice


def serve_index(handler: RequestHandler, index_path: str | None, *, waiting: bool) -> None:
    """Answer `handler` with the index page at `index_path`, uncached; with the notice if `waiting`."""
    assert index_path is not None
    with open(index_path, encoding="utf-8") as f:
        page = f.read()
    handler.xsrf_token  # noqa: B018 (sets the _xsrf cookie the script reads)
    page = insert_after_head(page, XSRF_SCRIPT)
    if waiting:
        page = with_notice(page)
    for name, value in {"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "0"}.items():
        handler.set_header(name, value)
    handler.set_header("Content-Type", "text/html; charset=utf-8")
    handler.finish(page)


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
