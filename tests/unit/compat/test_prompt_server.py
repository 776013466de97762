"""server.PromptServer.instance: events on the runtime's EventBus, custom routes, prompt state."""

from __future__ import annotations

import io
import struct

from PIL import Image

import toucan_nb.compat as compat
from toucan_nb.runtime import events as ev

from .conftest import running


def test_instance_is_a_prompt_server(runtime):
    from server import PromptServer

    assert isinstance(PromptServer.instance, PromptServer)
    assert "custom_nodes_from_web" in PromptServer.instance.supports


def test_send_sync_publishes_custom_messages(runtime, hooks):
    from server import PromptServer

    PromptServer.instance.send_sync("my.event", {"a": 1}, "sid-1")
    with running(hooks, "3"):
        PromptServer.instance.send_sync("my.other", [1, 2])
    first, second = runtime.published
    assert isinstance(first, ev.CustomMessage) and isinstance(second, ev.CustomMessage)
    assert (first.event, first.payload, first.client_id, first.prompt_id) == ("my.event", {"a": 1}, "sid-1", None)
    assert (second.event, second.data(), second.client_id, second.prompt_id) == ("my.other", [1, 2], None, "prompt-1")
    assert second.seq > first.seq > 0  # stamped by the real bus


def test_binary_preview_events_become_preview_images(runtime, hooks):
    from server import BinaryEventTypes, PromptServer

    image = Image.new("RGB", (4, 4), (0, 0, 255))
    png = io.BytesIO()
    image.save(png, format="PNG")
    with running(hooks, "8"):
        PromptServer.instance.send_sync(BinaryEventTypes.UNENCODED_PREVIEW_IMAGE, ("JPEG", image, 512), "sid")
        PromptServer.instance.send_sync(BinaryEventTypes.PREVIEW_IMAGE, struct.pack(">I", 2) + png.getvalue())
        PromptServer.instance.send_sync(BinaryEventTypes.PREVIEW_IMAGE_WITH_METADATA,
                                        (("PNG", image, None), {"node_id": "8.1", "display_node_id": "8"}))
    unencoded, encoded, with_metadata = runtime.published
    assert all(isinstance(e, ev.PreviewImage) for e in runtime.published)
    assert (unencoded.node_id, unencoded.prompt_id, unencoded.client_id) == ("8", "prompt-1", "sid")
    assert unencoded.image.mime_type == "image/jpeg" and unencoded.image.encoded()[:2] == b"\xff\xd8"
    assert encoded.image.mime_type == "image/png" and encoded.image.encoded() == png.getvalue()
    assert (with_metadata.node_id, with_metadata.display_node_id, with_metadata.real_node_id) == ("8.1", "8", "8.1")
    assert with_metadata.client_id is None


def test_text_events(runtime, hooks):
    from server import BinaryEventTypes, PromptServer

    node = b"12"
    PromptServer.instance.send_sync(BinaryEventTypes.TEXT, struct.pack(">I", len(node)) + node + b"hello")
    with running(hooks):
        PromptServer.instance.send_progress_text("step 3/4", "12")
    PromptServer.instance.send_progress_text(b"bytes", 13, sid="s")
    texts = [(e.node_id, e.text, e.prompt_id, e.client_id) for e in runtime.published]
    # The last prompt stays "last" after its node returns, as ComfyUI's server.last_prompt_id does.
    assert texts == [("12", "hello", None, None), ("12", "step 3/4", "prompt-1", None),
                     ("13", "bytes", "prompt-1", "s")]
    assert all(isinstance(e, ev.ProgressText) for e in runtime.published)


def test_prompt_state_follows_the_executing_context(runtime, hooks):
    from server import PromptServer

    server = PromptServer.instance
    assert (server.client_id, server.last_node_id, server.last_prompt_id) == (None, None, None)
    with running(hooks, "6"):
        assert (server.client_id, server.last_node_id, server.last_prompt_id) == ("client-1", "6", "prompt-1")
    assert (server.last_node_id, server.last_prompt_id) == ("6", "prompt-1")


def test_routes_are_recorded_for_the_route_set(runtime):
    from server import PromptServer

    routes = PromptServer.instance.routes
    before = len(compat.custom_routes())

    @routes.get("/my_pack/items")
    async def items(request):
        return None

    @routes.post("/my_pack/items", name="create")
    async def create(request):
        return None

    routes.static("/my_pack/static", "/tmp/static")
    added = compat.custom_routes()[before:]
    assert [(r.method, r.path, r.handler) for r in added] == [
        ("GET", "/my_pack/items", items), ("POST", "/my_pack/items", create),
        ("STATIC", "/my_pack/static", "/tmp/static")]
    method, path, handler = added[0]  # a plain (method, path, handler) tuple to the route set
    assert (method, path, handler) == ("GET", "/my_pack/items", items)


def test_on_prompt_handlers(runtime):
    from server import PromptServer

    def add_flag(body):
        return {**body, "seen": True}

    def broken(body):
        raise RuntimeError("handler bug")

    PromptServer.instance.add_on_prompt_handler(add_flag)
    PromptServer.instance.add_on_prompt_handler(broken)
    assert compat.trigger_on_prompt({"prompt": {}}) == {"prompt": {}, "seen": True}


def test_send_sync_without_a_runtime_is_dropped(runtime):
    from server import PromptServer

    compat.detach()
    PromptServer.instance.send_sync("lost", {})
    assert runtime.published == []
