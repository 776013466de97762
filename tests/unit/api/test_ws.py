"""/ws: greeting, feature flags, recipients, frames, reconnects (docs/protocol.md §13-§15), with events
published straight onto the FakeRuntime's bus from this (non-loop) thread, as the executor does."""

from __future__ import annotations

import json
import re
import struct
import time

import pytest
import websocket
from PIL import Image

from tests.support.vectors import load
from toucan_nb.runtime import events as ev
from toucan_nb.runtime.preview import EncodedPreview

FLAGS = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}


def recv_json(ws):
    msg = ws.recv()
    assert isinstance(msg, str), msg
    return json.loads(msg)


def connect(server, client_id: str, flags: bool = False):
    ws = server.ws(f"?clientId={client_id}")
    greeting = recv_json(ws)
    assert greeting["data"]["sid"] == client_id
    if flags:
        ws.send(json.dumps(FLAGS))
        assert recv_json(ws)["type"] == "feature_flags"
    return ws


def sync(server):
    """Publish a marker: frames before it in a socket were dispatched before it (order is kept)."""
    server.runtime.events.publish(ev.Status(queue_remaining=-1))


def drain_until_marker(ws):
    """Frames received before the Status(-1) marker that `sync` publishes."""
    out = []
    while True:
        msg = ws.recv()
        if isinstance(msg, str) and json.loads(msg) == {"type": "status", "data": {"status": {"exec_info": {
                "queue_remaining": -1}}}}:
            return out
        out.append(msg if isinstance(msg, bytes) else json.loads(msg))


def test_first_connect_without_client_id(server):
    ws = server.ws()
    msg = recv_json(ws)
    vec = load("ws_transcripts/a1_first_connect_no_clientId.json")["messages"][0]
    assert re.fullmatch(r"[0-9a-f]{32}", msg["data"]["sid"])
    assert {**msg, "data": {**msg["data"], "sid": "X"}} == {**vec, "data": {**vec["data"], "sid": "X"}}
    ws.close()


def test_first_connect_with_client_id(server):
    vec = load("ws_transcripts/a2_first_connect_with_clientId.json")
    ws = server.ws(f"?clientId={vec['ws_client_id_param']}")
    assert recv_json(ws) == vec["messages"][0]
    ws.close()


def test_feature_flags_only_on_the_first_message(server):
    vec = load("ws_transcripts/i1_feature_flags.json")
    ws = server.ws("?clientId=ff1")
    for sent in vec["client_sent_ws"]:
        ws.send(json.dumps(sent))
    recv_json(ws)
    assert recv_json(ws) == vec["messages"][1]
    sync(server)
    assert drain_until_marker(ws) == []  # no reply to the second one
    conn = server.ctx.clients.get("ff1")
    assert conn.supports_preview_metadata


def test_feature_flags_ignored_when_not_first(server):
    ws = server.ws("?clientId=ff2")
    recv_json(ws)
    ws.send("not json")  # invalid JSON does not count as the first message
    ws.send(json.dumps({"type": "hello", "data": {}}))
    ws.send(json.dumps(FLAGS))
    sync(server)
    assert drain_until_marker(ws) == []
    assert not server.ctx.clients.get("ff2").supports_preview_metadata


def test_deeply_nested_json_is_ignored_like_invalid_json(server):
    # json.loads raised RecursionError here, which tornado logs as an uncaught error and closes on.
    ws = server.ws("?clientId=ff4")
    recv_json(ws)
    ws.send("[" * 5000 + "]" * 5000)
    ws.send('{"type": "feature_flags", "data": {"x": ' + "[" * 300 + "]" * 300 + "}}")
    ws.send(json.dumps(FLAGS))  # still the first usable message
    assert recv_json(ws)["type"] == "feature_flags"
    assert server.ctx.clients.get("ff4").supports_preview_metadata


def test_flag_must_be_exactly_true(server):
    ws = server.ws("?clientId=ff3")
    recv_json(ws)
    ws.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": 1}}))
    assert recv_json(ws)["type"] == "feature_flags"
    assert not server.ctx.clients.get("ff3").supports_preview_metadata


def test_recipients_follow_delivery(server):
    a, b = connect(server, "A"), connect(server, "B")
    bus = server.runtime.events
    bus.publish(ev.ExecutionStart(prompt_id="p1", client_id="A"))          # client only
    bus.publish(ev.ExecutionStart(prompt_id="p2", client_id=None))         # never sent
    bus.publish(ev.Executing(node="3", display_node="3", prompt_id="p3", client_id=""))  # sid "": nobody
    bus.publish(ev.Progress(value=1, max=2, prompt_id="p4", node="3", client_id=None))   # everyone
    bus.publish(ev.ExecutionInterrupted(prompt_id="p5", node_id="3", node_type="T", client_id=None))
    bus.publish(ev.Status(queue_remaining=2))                               # everyone, no sid
    sync(server)
    got_a, got_b = drain_until_marker(a), drain_until_marker(b)
    assert [m["type"] for m in got_a] == ["execution_start", "progress", "execution_interrupted", "status"]
    assert [m["type"] for m in got_b] == ["progress", "execution_interrupted", "status"]
    assert got_a[0]["data"]["prompt_id"] == "p1"
    assert got_b[-1] == {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 2}}}}


def _progress(node, state, value=0.0, prompt_id="pp", client_id="A"):
    entry = ev.NodeProgress(node, state, value, 1.0, prompt_id, node, None, node)
    return ev.ProgressState(entry=entry, prompt_id=prompt_id, client_id=client_id)


def test_progress_state_is_a_full_snapshot(server):
    a = connect(server, "A")
    bus = server.runtime.events
    bus.publish(ev.ExecutionStart(prompt_id="pp", client_id="A"))
    for event in (_progress("1", "running"), _progress("1", "finished", 1.0), _progress("2", "running")):
        bus.publish(event)
    sync(server)
    states = [m for m in drain_until_marker(a) if m["type"] == "progress_state"]
    assert [sorted(m["data"]["nodes"]) for m in states] == [["1"], ["1"], ["1", "2"]]
    assert states[-1]["data"]["nodes"]["1"]["state"] == "finished"
    # matches the recorded shape (b_success_cold)
    vec = [m for m in load("ws_transcripts/b_success_cold.json")["messages"] if m["type"] == "progress_state"][2]
    assert list(states[-1]["data"]) == list(vec["data"])
    assert list(states[-1]["data"]["nodes"]["2"]) == list(vec["data"]["nodes"]["2"])


class CountingPreview(EncodedPreview):
    calls = 0

    def encoded(self) -> bytes:
        CountingPreview.calls += 1
        return super().encoded()


def _preview(client_id, color=(255, 0, 0)):
    image = CountingPreview("JPEG", Image.new("RGB", (64, 32), color), 16)
    return ev.PreviewImage(image=image, prompt_id="pv", node_id="3", display_node_id="3",
                           real_node_id="3", client_id=client_id)


def test_previews_per_client_format(server):
    meta = connect(server, "M", flags=True)
    legacy = connect(server, "L")
    bus = server.runtime.events
    CountingPreview.calls = 0
    bus.publish(_preview(None))  # no client: everyone, each in its own format
    bus.publish(_preview("M"))
    bus.publish(_preview("L"))
    sync(server)
    got_m, got_l = drain_until_marker(meta), drain_until_marker(legacy)
    assert len(got_m) == 2 and len(got_l) == 2
    for frame in got_m:
        kind, length = struct.unpack(">II", frame[:8])
        metadata = json.loads(frame[8:8 + length])
        assert kind == 4 and metadata == {"node_id": "3", "prompt_id": "pv", "display_node_id": "3",
                                          "parent_node_id": None, "real_node_id": "3", "image_type": "image/jpeg"}
        assert frame[8 + length:8 + length + 2] == b"\xff\xd8"
    for frame in got_l:
        assert frame[:8] == bytes.fromhex("00000001 00000001") and frame[8:10] == b"\xff\xd8"
    assert got_m[0][8 + struct.unpack(">I", got_m[0][4:8])[0]:] == got_l[0][8:]  # the same encoded image
    assert CountingPreview.calls == 3  # one encode per preview, however many recipients


def test_progress_text_and_custom_messages(server):
    a, b = connect(server, "A"), connect(server, "B")
    bus = server.runtime.events
    bus.publish(ev.ProgressText(node_id="7", text="50% done", prompt_id="p", client_id=None))
    bus.publish(ev.CustomMessage(event="my.event", payload={"x": [1, 2]}, client_id="A"))
    bus.publish(ev.CustomMessage(event="broadcast", payload="hi", client_id=None))
    sync(server)
    got_a, got_b = drain_until_marker(a), drain_until_marker(b)
    text = struct.pack(">II", 3, 1) + b"7" + b"50% done"
    assert got_a == [text, {"type": "my.event", "data": {"x": [1, 2]}}, {"type": "broadcast", "data": "hi"}]
    assert got_b == [text, {"type": "broadcast", "data": "hi"}]


def test_reconnect_with_the_same_client_id_keeps_receiving(server):
    # docs/protocol.md §13.1 caveat fixed: the old socket closing must not unregister the new one.
    old = connect(server, "R")
    old_conn = server.call(lambda: server.ctx.clients.get("R"))
    new = connect(server, "R")
    old.close()
    deadline = time.time() + 5
    while not old_conn.closed and time.time() < deadline:  # the server saw the old socket close
        time.sleep(0.01)
    assert old_conn.closed
    server.runtime.events.publish(ev.ExecutionStart(prompt_id="after", client_id="R"))
    sync(server)
    assert [m["type"] for m in drain_until_marker(new)] == ["execution_start"]


def test_reconnect_replays_the_running_node(server):
    bus = server.runtime.events
    bus.publish(ev.ExecutionStart(prompt_id="run", client_id="X"))
    bus.publish(ev.Executing(node="5", display_node="5", prompt_id="run", client_id="X"))
    server.call(lambda: None)
    sync(server)
    ws = server.ws("?clientId=X")
    assert recv_json(ws)["data"]["sid"] == "X"
    assert recv_json(ws) == {"type": "executing", "data": {"node": "5"}}
    bus.publish(ev.Executing(node=None, prompt_id="run", client_id="X"))
    sync(server)
    drain_until_marker(ws)
    other = server.ws("?clientId=X")
    recv_json(other)
    sync(server)
    assert drain_until_marker(other) == []  # nothing running any more


def test_closed_clients_are_dropped(server):
    ws = connect(server, "gone")
    ws.close()
    server.runtime.events.publish(ev.ExecutionStart(prompt_id="p", client_id="gone"))
    keep = connect(server, "keep")
    server.runtime.events.publish(ev.Status(queue_remaining=1))
    sync(server)
    assert [m["type"] for m in drain_until_marker(keep)] == ["status"]


@pytest.mark.parametrize("path", ["/ws", "/api/ws"])
def test_both_paths(server, path):
    ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}{path}", timeout=10)
    assert recv_json(ws)["type"] == "status"
    ws.close()
