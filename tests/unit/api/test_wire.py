"""Frame encoding of docs/protocol.md §14-§15, byte for byte."""

from __future__ import annotations

import json
import struct

from toucan_nb.api import wire
from toucan_nb.runtime.events import NodeProgress, ProgressState
from toucan_nb.runtime.progress import ProgressSnapshot


def test_json_frame_uses_default_separators():
    assert wire.json_frame("status", wire.status_data(3)) == \
        '{"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 3}}}}'
    assert json.loads(wire.json_frame("status", wire.status_data(0, "abc")))["data"]["sid"] == "abc"


def test_preview_frame_type_1():
    frame = wire.preview_frame(b"JPEGDATA", "image/jpeg")
    assert frame[:8] == bytes.fromhex("00000001 00000001") and frame[8:] == b"JPEGDATA"
    assert wire.preview_frame(b"P", "image/png")[:8] == bytes.fromhex("00000001 00000002")


def test_preview_frame_type_4():
    meta = {"node_id": "3", "prompt_id": "p", "display_node_id": "3", "parent_node_id": None,
            "real_node_id": "3", "image_type": "image/png"}
    frame = wire.preview_frame_with_metadata(meta, b"IMG")
    (kind, length) = struct.unpack(">II", frame[:8])
    assert kind == 4
    assert frame[8:8 + length] == json.dumps(meta).encode() and frame[8 + length:] == b"IMG"


def test_text_frame_type_3():
    frame = wire.text_frame("1\u00e9", "hello \u2603")
    node = "1\u00e9".encode()
    assert frame[:8] == struct.pack(">II", 3, len(node))
    assert frame[8:8 + len(node)] == node and frame[8 + len(node):] == "hello \u2603".encode()


def test_binary_frame():
    assert wire.binary_frame(7, b"x") == b"\x00\x00\x00\x07x"


def _entry(node: str, state: str, value: float = 0.0) -> ProgressState:
    return ProgressState(entry=NodeProgress(node, state, value, 1.0, "p1", node, None, node), prompt_id="p1")


def test_progress_frames_match_the_snapshot_fold():
    snapshot = ProgressSnapshot("p1")
    frames = wire.ProgressStateFrames(snapshot)
    for event in (_entry("1", "pending"), _entry("2", "running"), _entry("1", "running"),
                  _entry("2", "finished", 1.0), _entry("3", "pending")):
        snapshot.apply(event)
        assert frames.frame() == wire.json_frame("progress_state", snapshot.data())
    assert list(json.loads(frames.frame())["data"]["nodes"]) == ["1", "2"]


# Strings json.dumps escapes (quotes, backslashes, control characters, non-ASCII, surrogates) and
# values that are not strings or finite floats, which must take json.dumps' own path.
_ODD_IDS = ["7", "", 'a"b', "back\\slash", "tab\tnew\nline\x00", "ünï", "雪", "\U0001f600", "\ud800", "10:2.5"]
_ODD_NUMBERS = [0, 1, -3, 2**70, 0.5, 1e-7, 1e22, -0.0, float("nan"), float("inf"), float("-inf"), True, None]


def test_hand_built_executing_frame_is_byte_identical():
    for node in _ODD_IDS:
        for display in (node, "other", None):
            data = {"node": node, "display_node": display, "prompt_id": "p-" + node}
            assert wire.executing_frame(node, display, "p-" + node) == wire.json_frame("executing", data)


def test_hand_built_progress_entry_is_byte_identical():
    for i, node in enumerate(_ODD_IDS):
        for value in _ODD_NUMBERS:
            for parent in (None, node, "9"):
                entry = NodeProgress(node, ["pending", "running", "finished", "error"][i % 4], value,
                                     _ODD_NUMBERS[i], "prompt\u00e9", _ODD_IDS[-i], parent, node if i % 2 else "r")
                expected = json.dumps(node) + ": " + json.dumps(entry.to_wire())
                assert wire.progress_node_entry(entry) == expected


def test_server_frames_follow_rfc6455_length_encoding():
    for size in (0, 125, 126, 65535, 65536, 70000):
        header, payload = wire.websocket_frame(b"x" * size)
        assert header[0] == 0x82 and payload == b"x" * size  # FIN + binary, unmasked
        if size < 126:
            assert header[1:] == bytes([size])
        elif size < 65536:
            assert header[1] == 126 and struct.unpack("!H", header[2:])[0] == size
        else:
            assert header[1] == 127 and struct.unpack("!Q", header[2:])[0] == size
    header, payload = wire.websocket_frame("é")
    assert header == b"\x81\x02" and payload == "é".encode()
