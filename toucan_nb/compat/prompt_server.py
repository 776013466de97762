"""`server.PromptServer` as custom nodes see it: a view onto the attached runtime's event bus.

`PromptServer.instance` always exists. `send_sync(event, data, sid)` publishes a typed event
(`CustomMessage`, or `PreviewImage`/`ProgressText` for ComfyUI's binary event types) on the
runtime's `EventBus`; the route set turns them into frames. `routes.get(path)` and friends record
the handlers custom nodes declare, for the route set to mount (`toucan_nb.compat.custom_routes()`).

Thread: any. `send_sync` only publishes (the bus never blocks); route recording happens at import.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterator
from typing import Any

from toucan_nb.compat import state
from toucan_nb.compat.progress import current_context
from toucan_nb.runtime import events as ev
from toucan_nb.runtime.preview import EncodedPreview

log = logging.getLogger(__name__)


class BinaryEventTypes:
    """ComfyUI's binary WebSocket frame types (docs/execution.md §5.4)."""

    PREVIEW_IMAGE = 1
    UNENCODED_PREVIEW_IMAGE = 2
    TEXT = 3
    PREVIEW_IMAGE_WITH_METADATA = 4


_IMAGE_TYPES = {1: "JPEG", 2: "PNG"}
Handler = Callable[..., Any]


class RouteRecorder:
    """The `routes` table of `PromptServer.instance`: aiohttp `RouteTableDef`'s decorator surface.

    Decorators return the handler unchanged; each declaration is appended to the compat route
    list in order, never mounted here (docs/architecture.md, decision 2: the route set is written once).
    """

    def route(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            state.add_route(state.CustomRoute(method.upper(), path, handler))
            return handler

        return register

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **options)

    def head(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("HEAD", path, **options)

    def options(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("OPTIONS", path, **options)

    def view(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("*", path, **options)

    def static(self, prefix: str, path: str, **options: Any) -> None:
        state.add_route(state.CustomRoute("STATIC", prefix, str(path)))

    def __iter__(self) -> Iterator[state.CustomRoute]:
        return iter(state.custom_routes())

    def __len__(self) -> int:
        return len(state.custom_routes())


class PromptServer:
    """ComfyUI's server object, reduced to what custom nodes call. `PromptServer.instance` is the view."""

    instance: PromptServer

    def __init__(self, loop: Any = None) -> None:
        self.routes = RouteRecorder()
        self.supports = ["custom_nodes_from_web"]

    # -- what ComfyUI's server tracks about the running prompt --------------------------------
    @property
    def client_id(self) -> str | None:
        """The running prompt's client id (None when idle or when the prompt has none)."""
        ctx = current_context()
        hooks = None if ctx is None else ctx.hooks
        return getattr(hooks, "client_id", None)

    @property
    def last_node_id(self) -> str | None:
        ctx = current_context()
        return None if ctx is None else ctx.node_id

    @property
    def last_prompt_id(self) -> str | None:
        ctx = current_context()
        return None if ctx is None else ctx.prompt_id

    # -- sending -------------------------------------------------------------------------------
    def send_sync(self, event: str | int, data: Any, sid: str | None = None) -> None:
        """Publish `event` to client `sid`, or to every client when `sid` is None."""
        bus = self._bus()
        if bus is None:
            log.debug("send_sync(%r) with no runtime attached; dropped", event)
            return
        message = self._to_event(event, data, sid)
        if message is not None:
            bus.publish(message)

    async def send(self, event: str | int, data: Any, sid: str | None = None) -> None:
        self.send_sync(event, data, sid)

    async def send_json(self, event: str, data: Any, sid: str | None = None) -> None:
        self.send_sync(event, data, sid)

    def send_progress_text(self, text: str | bytes | bytearray, node_id: str, sid: str | None = None) -> None:
        """A TEXT frame for `node_id` (docs/execution.md §5.4), to `sid` or to every client."""
        bus = self._bus()
        if bus is None:
            return
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", errors="replace")
        bus.publish(ev.ProgressText(node_id=str(node_id), text=text, prompt_id=self.last_prompt_id,
                                    client_id=sid))

    def queue_updated(self) -> None:
        """ComfyUI re-sends `status`; the runtime already does so on every queue change."""

    def add_on_prompt_handler(self, handler: Callable[[Any], Any]) -> None:
        state.add_on_prompt_handler(handler)

    def trigger_on_prompt(self, json_data: Any) -> Any:
        return state.trigger_on_prompt(json_data)

    # -- internals -----------------------------------------------------------------------------
    @staticmethod
    def _bus() -> ev.EventBus | None:
        return getattr(state.runtime(), "events", None)

    def _to_event(self, event: str | int, data: Any, sid: str | None) -> ev.Event | None:
        prompt_id = self.last_prompt_id
        if isinstance(event, str):
            return ev.CustomMessage(event=event, payload=data, prompt_id=prompt_id, client_id=sid)
        if event == BinaryEventTypes.TEXT:
            node_id, text = _split_text_frame(bytes(data))
            return ev.ProgressText(node_id=node_id, text=text, prompt_id=prompt_id, client_id=sid)
        if event == BinaryEventTypes.UNENCODED_PREVIEW_IMAGE:
            fmt, image, max_size = data
            return self._preview(EncodedPreview(fmt, image, max_size), {}, sid)
        if event == BinaryEventTypes.PREVIEW_IMAGE:
            raw = bytes(data)
            (image_type,) = struct.unpack(">I", raw[:4])
            return self._preview(EncodedPreview.from_bytes(_IMAGE_TYPES.get(image_type, "JPEG"), raw[4:]),
                                 {}, sid)
        if event == BinaryEventTypes.PREVIEW_IMAGE_WITH_METADATA:
            (fmt, image, max_size), metadata = data
            return self._preview(EncodedPreview(fmt, image, max_size), dict(metadata or {}), sid)
        log.warning("send_sync: binary event type %r is not supported; dropped", event)
        return None

    def _preview(self, image: EncodedPreview, metadata: dict[str, Any], sid: str | None) -> ev.PreviewImage:
        node_id = str(metadata.get("node_id") or self.last_node_id or "")
        return ev.PreviewImage(
            image=image,
            prompt_id=str(metadata.get("prompt_id") or self.last_prompt_id or ""),
            node_id=node_id,
            display_node_id=str(metadata.get("display_node_id") or node_id),
            parent_node_id=metadata.get("parent_node_id"),
            real_node_id=str(metadata.get("real_node_id") or node_id),
            client_id=sid,
        )


def _split_text_frame(data: bytes) -> tuple[str, str]:
    """A TEXT payload (4-byte node-id length, node id, UTF-8 text) as (node_id, text)."""
    (length,) = struct.unpack(">I", data[:4])
    node_id = data[4:4 + length].decode("utf-8", errors="replace")
    return node_id, data[4 + length:].decode("utf-8", errors="replace")


PromptServer.instance = PromptServer()
