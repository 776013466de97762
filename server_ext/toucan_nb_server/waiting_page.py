"""The frontend's index page while no kernel is attached: the page says so, and how to attach one.

Without a kernel the UI cannot boot (its critical routes answer 503), and the reason would only
show in the browser console. So until a kernel attaches, the extension serves the bundle's
index.html with a notice on top (`serve_waiting_index`), which polls `ATTACHED_PATH` (answered by
the extension itself, not a ComfyUI route) and reloads the page as soon as a kernel is attached.

Threads: the Jupyter server's IO loop.
"""

from __future__ import annotations

from tornado.web import RequestHandler

# Answered by the extension itself (not a ComfyUI route): is a kernel attached to this prefix?
ATTACHED_PATH = "_toucan/attached"


def serve_waiting_index(handler: RequestHandler, index_path: str | None) -> None:
    """Answer `handler` with the index page at `index_path` and the notice on top, uncached."""
    assert index_path is not None
    with open(index_path, encoding="utf-8") as f:
        page = f.read()
    marker = "</head>"
    page = page.replace(marker, WAITING_NOTICE + marker, 1) if marker in page else WAITING_NOTICE + page
    for name, value in {"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "0"}.items():
        handler.set_header(name, value)
    handler.set_header("Content-Type", "text/html; charset=utf-8")
    handler.finish(page)


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
