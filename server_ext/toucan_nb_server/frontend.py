"""The official frontend, as the extension serves it (frontend.md §2, §3.1).

The extension serves the bundle itself so that the UI loads before any kernel attaches. Serving
reuses the route set's own `toucan_nb.api.frontend.FrontendFiles` (ETag, Range, cached gzip,
``templates/`` and ``docs/`` from their packages); this module only decides which GET/HEAD paths
are frontend files. Every other path goes to the kernel: API routes, ``user.css``, custom-node
``extensions/<pack>/…``, and templates or docs that the server's environment lacks.

``index.html`` is served with `XSRF_SCRIPT` added at the top of its ``<head>`` (the file on disk is
not changed): the frontend knows nothing of Jupyter's XSRF token, which every cookie-authenticated
request needs (`auth` module docstring, frontend.md §6.3), so the script adds it, read from the
``_xsrf`` cookie that serving the page sets, to the page's same-origin ``fetch`` and XMLHttpRequest
calls (``X-XSRFToken`` header) and WebSocket URLs (``_xsrf`` argument). The page itself holds no
token: a foreign page that fetches it learns nothing.

Any thread may call `Frontend.locate`; `Frontend.serve` runs on the server's IO loop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote

from tornado.web import RequestHandler

from toucan_nb.api.frontend import FrontendFiles, default_frontend_root
from toucan_nb.api.static import safe_join

INDEX_PATHS = ("", "api/", "index.html")  # QUIRK(protocol.md §2): ComfyUI mirrors "/" at "/api/" too


@dataclass(frozen=True, slots=True)
class FrontendFile:
    """One file the extension answers itself: a `FrontendFiles.serve` kind and its path."""

    kind: str  # "index" | "static" | "templates" | "docs"
    relpath: str


class Frontend:
    """The bundle (or none, when comfyui_frontend_package is missing) and its lookups."""

    def __init__(self, root: str | None = None) -> None:
        root = root or default_frontend_root()
        self.root = root if root and os.path.isfile(os.path.join(root, "index.html")) else None
        self.files = FrontendFiles(self.root) if self.root else None

    def locate(self, raw_path: str) -> FrontendFile | None:
        """The frontend file a GET of ``{prefix}<raw_path>`` names, or None when it goes to the kernel.

        `raw_path` is still percent-encoded. A path with an encoded slash never names a frontend
        file (``%2F`` belongs to the kernel's userdata routes, frontend.md §6.2).
        """
        if self.files is None or self.root is None:
            return None
        if raw_path in INDEX_PATHS:
            return FrontendFile("index", "")
        lowered = raw_path.lower()
        if "%2f" in lowered or "%5c" in lowered:
            return None
        path = unquote(raw_path)
        if path.startswith("templates/"):
            name = path[len("templates/") :]
            return FrontendFile("templates", name) if self.files.template_path(name) else None
        if path.startswith("docs/"):
            rel = path[len("docs/") :]
            docs = self.files.docs_root
            found = safe_join(docs, rel) if docs else None
            return FrontendFile("docs", rel) if found and os.path.isfile(found) else None
        found = safe_join(self.root, path)
        return FrontendFile("static", path) if found and os.path.isfile(found) else None

    def serve_index(self, handler: RequestHandler, *, waiting: bool) -> None:
        """index.html with `XSRF_SCRIPT` (and, while `waiting`, the no-kernel notice) in its head.

        Reading the handler's ``xsrf_token`` sets the ``_xsrf`` cookie the script reads, when the
        browser has none yet (tornado sets it then; JupyterHub on navigations). While waiting, the
        notice says on the page that no kernel is attached and how to attach one, and reloads the
        page once the API answers (without a kernel the UI cannot boot and the reason would only show
        in the browser console).
        """
        assert self.root is not None
        with open(os.path.join(self.root, "index.html"), encoding="utf-8") as f:
            page = f.read()
        handler.xsrf_token  # noqa: B018 (sets the cookie)
        page = _insert_after_head(page, XSRF_SCRIPT)
        if waiting:
            marker = "</head>"
            page = page.replace(marker, WAITING_NOTICE + marker, 1) if marker in page else page + WAITING_NOTICE
        for name, value in {"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "0"}.items():
            handler.set_header(name, value)
        handler.set_header("Content-Type", "text/html; charset=utf-8")
        handler.finish(page)

    async def serve(self, handler: RequestHandler, file: FrontendFile) -> None:
        """Answer `handler` with `file` (located just before). Raises HTTPError(404) if it vanished."""
        assert self.files is not None
        for name, value in cache_headers(file).items():
            handler.set_header(name, value)
        await self.files.serve(handler, file.kind, file.relpath)


def _insert_after_head(page: str, snippet: str) -> str:
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


WAITING_NOTICE = """<script id="toucan-no-kernel">
(function () {
  var note = document.createElement("div");
  note.id = "toucan-no-kernel-notice";
  note.style.cssText = "position:fixed;inset:0;z-index:2147483647;display:flex;align-items:center;" +
    "justify-content:center;text-align:center;padding:2em;background:rgba(24,24,24,.94);color:#eee;" +
    "font:16px/1.6 system-ui,sans-serif";
  note.innerHTML = "<div><p><b>No notebook kernel is attached to toucan yet.</b></p>" +
    "<p>Run <code>%load_ext toucan_nb</code> in a notebook on this Jupyter server.<br>" +
    "This page reloads by itself once a kernel has attached.</p></div>";
  function show() { document.body.appendChild(note); }
  if (document.body) { show(); } else { document.addEventListener("DOMContentLoaded", show); }
  setInterval(function () {
    fetch("_toucan/attached", {cache: "no-store"}).then(function (r) { return r.json(); })
      .then(function (state) { if (state.attached) { location.reload(); } });
  }, 2000);
})();
</script>
"""


def cache_headers(file: FrontendFile) -> dict[str, str]:
    """QUIRK(protocol.md §3.1): ComfyUI marks ``.js``/``.css`` no-cache so upgrades show on reload.

    (index.html gets its no-cache headers from `FrontendFiles` itself, protocol.md §2.)
    """
    if file.kind == "static" and file.relpath.endswith((".js", ".css")):
        return {"Cache-Control": "no-cache"}
    return {}
