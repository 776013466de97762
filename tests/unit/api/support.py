"""Support for the route-set tests: a FakeRuntime and a real HTTP server running `make_app` on it.

`FakeRuntime` has what the route set uses of the real Runtime, built from the real small pieces
(Folders, NodeRegistry, EventBus, PromptQueue, History) with a recording `submit`, so every route
that does not execute prompts can be tested over real HTTP and WebSocket connections without an
executor. Events are published straight onto its bus to test the WebSocket fan-out.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websocket
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from tests.support.http import Response  # noqa: F401 (re-exported to the tests)
from toucan_nb.api.app import ApiSettings, close_app, context_of, make_app, server_options
from toucan_nb.runtime.errors import PromptValidationError
from toucan_nb.runtime.events import EventBus
from toucan_nb.runtime.folders import Folders
from toucan_nb.runtime.history import History
from toucan_nb.runtime.queue import PromptQueue, QueueItem
from toucan_nb.runtime.registry import NodeRegistry
from toucan_nb.runtime.runtime import Submission


class ImageSource:
    """A V1 node with a combo input (for object_info)."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"mode": (["a", "b"], {"tooltip": "which"}), "size": ("INT", {"default": 8})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "test"


class ImageSink:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"images": ("IMAGE",)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "test"


@dataclass
class FakeConfig:
    disable_all_custom_nodes: bool = False
    custom_node_dirs: list[str] = field(default_factory=list)


@dataclass
class FakeReport:
    loaded: tuple[Any, ...] = ()


@dataclass(frozen=True)
class FakePack:
    name: str
    path: str


class FakeRuntime:
    """The parts of `Runtime` the route set calls; `submit` queues without an executor."""

    def __init__(self, base_dir: str) -> None:
        self.folders = Folders(base_dir)
        self.folders.ensure_dirs()
        self.registry = NodeRegistry()
        self.registry.register("ImageSource", ImageSource, "Image Source")
        self.registry.register("ImageSink", ImageSink)
        self.events = EventBus()
        self.queue = PromptQueue()
        self.history = History()
        self.config = FakeConfig()
        self.load_report = FakeReport()
        self.calls: list[tuple[str, Any]] = []
        self._number = 0

    def allocate_number(self, front: bool = False) -> int:
        number = self._number
        self._number += 1
        return -number if front else number

    def submit(self, prompt: dict[str, Any], *, prompt_id: str | None = None, client_id: str | None = None,
               extra_data: dict[str, Any] | None = None, number: int | float | None = None, front: bool = False,
               partial_execution_targets: list[str] | None = None, has_client_id: bool | None = None) -> Submission:
        self.calls.append(("submit", dict(prompt=prompt, prompt_id=prompt_id, client_id=client_id,
                                          extra_data=extra_data, number=number, has_client_id=has_client_id,
                                          partial_execution_targets=partial_execution_targets)))
        for node_id, node in prompt.items():
            if not isinstance(node, dict) or node.get("class_type") not in self.registry:
                raise PromptValidationError({"type": "invalid_prompt", "message": "unknown node",
                                             "details": f"Node ID '#{node_id}'", "extra_info": {}}, {})
        if number is None:
            number = self.allocate_number(front)
        prompt_id = prompt_id or str(uuid.uuid4())
        extra = dict(extra_data or {})
        if client_id is not None or has_client_id:
            extra["client_id"] = client_id
        self.queue.put(QueueItem(number, prompt_id, prompt, extra, list(prompt)[-1:]))
        return Submission(prompt_id, number, {})

    def queue_listing(self) -> tuple[list[QueueItem], list[QueueItem]]:
        return self.queue.running(), self.queue.pending()  # no other runtime shares a store here

    def delete_pending(self, ids: list[str]) -> int:
        self.calls.append(("delete_pending", list(ids)))
        return self.queue.delete(ids)

    def clear_pending(self) -> None:
        self.calls.append(("clear_pending", None))
        self.queue.clear()

    def interrupt(self, prompt_id: str | None = None) -> bool:
        self.calls.append(("interrupt", prompt_id))
        return True

    def free(self, unload_models: bool = False, free_memory: bool = False) -> None:
        self.calls.append(("free", (unload_models, free_memory)))

    def object_info(self, class_type: str | None = None) -> dict[str, Any]:
        return self.registry.object_info(class_type)

    def devices(self) -> list[dict[str, Any]]:
        from toucan_nb.runtime.device import device_stats

        return [device_stats()]


class Server:
    """A `make_app` app served on 127.0.0.1 from its own IO-loop thread."""

    def __init__(self, runtime: Any, settings: ApiSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-api-loop", daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "server did not start"

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.app = make_app(self.runtime, self.settings)
        sock, self.port = bind_unused_port()
        server = HTTPServer(self.app, **server_options(self.settings))
        server.add_sockets([sock])
        self._ready.set()
        await self._stop.wait()
        server.stop()
        close_app(self.app)

    @property
    def ctx(self) -> Any:
        return context_of(self.app)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the loop thread and return its result."""
        async def wrapped() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            if isinstance(body, str):
                body = body.encode()
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, data: Any = None, raw: bytes | str | None = None, **kw: Any) -> Response:
        body = raw if raw is not None else (None if data is None else json.dumps(data))
        return self.request("POST", path, body=body, **kw)

    def ws(self, query: str = "", headers: list[str] | None = None, origin: str | None = None) -> websocket.WebSocket:
        prefix = self.settings.prefix
        options: dict[str, Any] = {"origin": origin} if origin else {}
        return websocket.create_connection(f"ws://127.0.0.1:{self.port}{prefix}/ws{query}", timeout=10,
                                           header=headers or [], **options)


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type."""
    boundary = "----toucanboundary" + uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def png_bytes(color: tuple[int, ...] = (10, 20, 30, 255), size: tuple[int, int] = (8, 8), mode: str = "RGBA") -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, size, color[: len(mode)]).save(buf, format="PNG")
    return buf.getvalue()


def write(path: str, data: bytes | str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return path
