"""Helpers of the browser tests: chromium flags, server subprocesses, HTTP, what a page requested,
the frontend's readiness condition (docs/frontend.md §7.4), and a minimal kernel client over the Jupyter
server's kernel WebSocket.

Everything here is called from the pytest thread; Playwright's sync API runs its own loop.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import re
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Hermetic: the frontend's api.comfy.org release check (and anything else) fails at DNS.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# docs/frontend.md §7.4: the UI is usable.
READY_JS = """() => !!document.querySelector('#graph-canvas')
    && !document.querySelector('#splash-loader')
    && !!window.app && !!window.app.canvas
    && typeof LiteGraph !== 'undefined'
    && Object.keys(LiteGraph.registered_node_types).length > 0"""
WS_OPEN_JS = "() => !!(window.app && window.app.api && window.app.api.socket && window.app.api.socket.readyState === 1)"
BOOT_TIMEOUT_MS = 90_000

# Settings that keep the first-run Templates dialog and the release check out of the way (docs/frontend.md §3.1).
QUIET_SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.Notification.ShowVersionUpdates": False}


def chromium_present() -> bool:
    return os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)


# -- HTTP ----------------------------------------------------------------------------------------
@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 60) -> Response:
    """One request, redirects not followed. A non-bytes `body` is sent as JSON."""
    parts = urllib.parse.urlsplit(url)
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def wait_until(check: Callable[[], Any], what: str, timeout: float, interval: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy; returns it. TimeoutError names `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# -- what the page did ---------------------------------------------------------------------------
@dataclass
class PageLog:
    """Responses, failed requests, WebSockets and console errors of one page."""

    responses: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> PageLog:
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("response", lambda r: self.responses.append((r.status, r.url)))
        page.on("requestfailed", lambda r: self.failed.append((r.url, r.failure or "")))
        page.on("websocket", lambda ws: self.websockets.append(ws.url))
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        return self

    def errors(self) -> list[tuple[int, str]]:
        return [(status, url) for status, url in self.responses if status >= 400]


def templates_installed() -> bool:
    return find_spec("comfyui_workflow_templates_core") is not None or find_spec("comfyui_workflow_templates") is not None


def harmless_error(status: int, url: str, base: str) -> str | None:
    """Why a >= 400 answer during boot is expected, or None when it is not (docs/frontend.md §7.4).

    `base` is the page's base URL with its trailing slash (``http://h:p/toucan/``).
    """
    if not url.startswith(base):
        parts = urllib.parse.urlsplit(url)
        # §2.4: favicons ignore the base (the progress favicon frames are cosmetic).
        if status == 404 and re.fullmatch(r"/assets/images/favicon_progress_16x16/frame_\d+\.png", parts.path):
            return "favicon outside the base (docs/frontend.md §2.4)"
        return None
    rel = url[len(base):]
    path, _, query = rel.partition("?")
    if status == 404 and path in ("user.css", "api/userdata/user.css", "api/userdata/comfy.templates.json"):
        return "optional user file (docs/frontend.md §7.4)"
    if status == 404 and path == "api/userdata" and re.match(r"dir=(workflows|subgraphs)&", query):
        # ComfyUI answers 404 for a user directory that does not exist yet (docs/protocol.md §10); the
        # client counts it as an empty list (docs/frontend.md §3.3).
        return "no workflows/subgraphs directory yet (docs/protocol.md §10)"
    if status == 404 and path.startswith("templates/") and not templates_installed():
        return "comfyui-workflow-templates not installed (docs/frontend.md §3.2: tolerated)"
    return None


def unexpected_errors(log: PageLog, base: str) -> list[tuple[int, str]]:
    """The page's >= 400 answers that `harmless_error` does not explain."""
    return [(status, url) for status, url in log.errors() if not harmless_error(status, url, base)]


def jobs_answers(log: PageLog) -> list[tuple[int, str]]:
    """The page's GET api/jobs answers (the queue and history panels)."""
    return [(status, url) for status, url in log.responses if urllib.parse.urlsplit(url).path.endswith("/api/jobs")]


def boot(page: Any, url: str) -> float:
    """Open the frontend at `url` and wait for the readiness condition; returns seconds taken."""
    start = time.monotonic()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_function(READY_JS, timeout=BOOT_TIMEOUT_MS)
    return time.monotonic() - start


# -- a graph of core nodes -------------------------------------------------------------------------
IMAGE_W, IMAGE_H, IMAGE_COLOR = 48, 32, 0x336699
INVERTED_RGB = (0xFF - 0x33, 0xFF - 0x66, 0xFF - 0x99)


def core_prompt(prefix: str) -> dict[str, Any]:
    """EmptyImage -> ImageInvert -> SaveImage, in the API format."""
    return {
        "1": {"class_type": "EmptyImage",
              "inputs": {"width": IMAGE_W, "height": IMAGE_H, "batch_size": 1, "color": IMAGE_COLOR}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


# Loads the API prompt into the canvas with the frontend's own loader, records the execution
# events the frontend's API client dispatches, then queues the graph as the Run button does.
QUEUE_JS = """async (prompt) => {
  window.__toucanEvents = [];
  for (const type of ['execution_start', 'executed', 'execution_success', 'execution_error']) {
    window.app.api.addEventListener(type, (e) => window.__toucanEvents.push({type, detail: e.detail}));
  }
  await window.app.loadApiJson(prompt, 'toucan-browser-test');
  const types = window.app.graph._nodes.map((n) => n.type).sort();
  const queued = await window.app.queuePrompt(0, 1);
  return {types, queued};
}"""
DONE_JS = "() => (window.__toucanEvents || []).some((e) => e.type === 'execution_success' || e.type === 'execution_error')"
# The SaveImage node's output image (litegraph keeps it as an <img> element it paints on the canvas).
SAVE_IMAGE_LOADED_JS = """() => {
  const node = window.app.graph._nodes.find((n) => n.type === 'SaveImage');
  const img = node && node.imgs && node.imgs[0];
  return !!img && img.complete && img.naturalWidth > 0;
}"""
SAVE_IMAGE_JS = """() => {
  const img = window.app.graph._nodes.find((n) => n.type === 'SaveImage').imgs[0];
  return {src: img.src, width: img.naturalWidth, height: img.naturalHeight};
}"""


def png_info(data: bytes) -> tuple[tuple[int, int], tuple[int, ...], str]:
    """(size, the first pixel's RGB, the format) of an image file's bytes."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.size, tuple(img.convert("RGB").getpixel((0, 0))), str(img.format)


def queue_core_graph(page: Any, prefix: str) -> list[dict[str, Any]]:
    """Load `core_prompt(prefix)` into the booted page, queue it, wait for the end; returns the
    execution events the frontend dispatched (the run must have started and succeeded)."""
    loaded = page.evaluate(QUEUE_JS, core_prompt(prefix))
    assert loaded == {"types": ["EmptyImage", "ImageInvert", "SaveImage"], "queued": True}
    page.wait_for_function(DONE_JS, timeout=60_000)
    events = page.evaluate("() => window.__toucanEvents")
    kinds = [e["type"] for e in events]
    assert "execution_error" not in kinds, events
    assert kinds[0] == "execution_start" and kinds[-1] == "execution_success", kinds
    return events


def check_shown_image(page: Any, base_url: str, image: dict[str, Any],
                      headers: dict[str, str] | None = None) -> None:
    """The SaveImage node shows `image` from `<base>/api/view`, and that URL serves the inverted PNG."""
    page.wait_for_function(SAVE_IMAGE_LOADED_JS, timeout=30_000)
    shown = page.evaluate(SAVE_IMAGE_JS)
    assert shown["src"].startswith(base_url + "api/view?filename=" + image["filename"]), shown
    assert (shown["width"], shown["height"]) == (IMAGE_W, IMAGE_H)
    resp = fetch("GET", shown["src"], headers=headers)
    assert resp.status == 200 and resp.headers["content-type"] == "image/png"
    size, pixel, fmt = png_info(resp.body)
    assert (size, fmt) == ((IMAGE_W, IMAGE_H), "PNG")
    # 1 - c/255 in float32, then truncated to uint8 as SaveImage (and ComfyUI) does: off by at most 1.
    assert all(abs(a - b) <= 1 for a, b in zip(pixel, INVERTED_RGB, strict=True)), (pixel, INVERTED_RGB)


def data_url_bytes(url: str) -> bytes:
    header, _, payload = url.partition(",")
    assert header.endswith(";base64"), header
    return base64.b64decode(payload)


# -- a kernel, over the Jupyter server's kernel WebSocket --------------------------------------------
def kernel_execute(channels_url: str, code: str, timeout: float = 120, headers: list[str] | None = None) -> str:
    """Run `code` in a kernel through `{base}api/kernels/<id>/channels`; returns its stdout.

    `headers`: extra handshake headers ("Name: value"). Raises AssertionError with the traceback
    when the cell fails.
    """
    import websocket

    ws = websocket.create_connection(channels_url, timeout=timeout, header=headers or [])
    try:
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": "execute_request", "username": "browser-test",
                  "session": uuid.uuid4().hex, "date": "", "version": "5.3"}
        ws.send(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "channel": "shell",
                            "content": {"code": code, "silent": False, "store_history": False,
                                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        out: list[str] = []
        deadline = time.monotonic() + timeout
        reply: dict[str, Any] | None = None
        idle = False
        while reply is None or not idle:
            ws.settimeout(max(0.1, deadline - time.monotonic()))
            raw = ws.recv()
            if isinstance(raw, bytes):
                continue  # a message with binary buffers (widget comm traffic), never ours to read
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content.get("name") == "stdout":
                out.append(content["text"])
            elif kind == "execute_reply":
                reply = content
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
        if reply.get("status") != "ok":
            raise AssertionError(f"kernel cell failed: {reply.get('ename')}: {reply.get('evalue')}\n"
                                 + "\n".join(reply.get("traceback", [])))
        return "".join(out)
    finally:
        ws.close()
