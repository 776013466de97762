"""Event -> WebSocket frame encoding (docs/protocol.md §13-§15): the only place frames are built.

JSON frames are `{"type": <event>, "data": {...}}` text, encoded with Python's default JSON
separators like ComfyUI's. Binary frames start with a big-endian uint32 event type:

    1 PREVIEW_IMAGE                 uint32 image format (1 JPEG, 2 PNG) + image bytes
    3 TEXT                          uint32 len(node_id) + node_id + UTF-8 text
    4 PREVIEW_IMAGE_WITH_METADATA   uint32 len(metadata JSON) + metadata JSON + image bytes

Type 2 never goes on the wire. `event_frame` picks the encoding of any event but a preview (whose
image is encoded off the IO loop, clients.PreviewRender). The two commonest frames have fast
paths that are byte-identical to the plain encoding: `executing_frame`, and `ProgressStateFrames`,
a prompt's `progress_state` frame kept as per-node fragments. `websocket_frame` is the RFC 6455
framing the /ws handler writes these with.

Pure functions, any thread; a `ProgressStateFrames` belongs to the thread that folds its snapshot.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from toucan_nb.runtime.events import CustomMessage, Event, Executing, NodeProgress, ProgressText
from toucan_nb.runtime.progress import ProgressSnapshot

PREVIEW_IMAGE = 1
# 2 (UNENCODED_PREVIEW_IMAGE) is internal to ComfyUI and never sent.
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4

_JPEG = 1
_PNG = 2


def json_frame(event_type: str, data: Any) -> str:
    """A JSON text frame."""
    return json.dumps({"type": event_type, "data": data})


# json.dumps' own string encoder (ensure_ascii=True, the default): the hand-built frames below
# quote strings exactly as json_frame does.
_quote = json.encoder.encode_basestring_ascii


def _value(value: Any) -> str:
    """`value` as json.dumps writes it inside a frame; strings through the C encoder directly."""
    if type(value) is str:
        return _quote(value)
    return json.dumps(value)


def executing_frame(node: str, display_node: str | None, prompt_id: str) -> str:
    """`executing` for a node that starts: byte-identical to `json_frame("executing", {...})`.

    Built by hand because it is one of the two commonest frames (one per node) and json.dumps of
    the nested dicts costs ~10x more.
    """
    return ('{"type": "executing", "data": {"node": ' + _value(node) + ', "display_node": '
            + _value(display_node) + ', "prompt_id": ' + _value(prompt_id) + "}}")


def progress_node_entry(entry: NodeProgress) -> str:
    """`"<node_id>": {...}` for a `NodeProgress` in a `progress_state` frame's `nodes`, byte-identical
    to `json.dumps(node_id) + ": " + json.dumps(entry.to_wire())` (the other commonest frame is a join
    of these; unrolled, as a generic loop over to_wire() costs more than json.dumps)."""
    node_id = entry.node_id
    node = _value(node_id)
    display = node if entry.display_node_id == node_id else _value(entry.display_node_id)
    real = node if entry.real_node_id == node_id else _value(entry.real_node_id)
    parent = "null" if entry.parent_node_id is None else _value(entry.parent_node_id)
    return (f'{node}: {{"value": {_number(entry.value)}, "max": {_number(entry.max)}, "state": {_value(entry.state)}, '
            f'"node_id": {node}, "prompt_id": {_value(entry.prompt_id)}, "display_node_id": {display}, '
            f'"parent_node_id": {parent}, "real_node_id": {real}}}')


def _number(value: Any) -> str:
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float and value - value == 0.0:  # finite: NaN and infinities go through json.dumps
        return float.__repr__(value)
    return json.dumps(value)


class ProgressStateFrames:
    """The `progress_state` frame of one prompt's `ProgressSnapshot`, kept as per-node fragments.

    A node's fragment is encoded when a frame is rendered, not when its state changes, and kept
    while its entry is unchanged: a large prompt's snapshots are rendered once per burst
    (clients.py), most nodes start and finish within one, and a frame then costs a string join
    rather than a re-encode of every node.
    """

    __slots__ = ("snapshot", "prompt_id", "_prefix", "_fragments", "_frame", "_version")

    def __init__(self, snapshot: ProgressSnapshot) -> None:
        self.snapshot = snapshot
        self.prompt_id = snapshot.prompt_id
        self._prefix = '{"type": "progress_state", "data": {"prompt_id": ' + _value(self.prompt_id) + ', "nodes": {'
        self._fragments: dict[str, tuple[NodeProgress, str]] = {}  # node id -> (entry, its fragment)
        self._frame: str | None = None  # the joined frame of snapshot version `_version`
        self._version = -1

    def __len__(self) -> int:
        return len(self.snapshot)

    def frame(self) -> str:
        """The JSON frame, byte-identical to `json_frame("progress_state", snapshot.data())`."""
        snapshot = self.snapshot
        if self._frame is None or self._version != snapshot.version:
            fragments = self._fragments
            parts = []
            for entry in snapshot.listed():
                known = fragments.get(entry.node_id)
                if known is None or known[0] is not entry:
                    known = fragments[entry.node_id] = (entry, progress_node_entry(entry))
                parts.append(known[1])
            self._frame = self._prefix + ", ".join(parts) + "}}}"
            self._version = snapshot.version
        return self._frame


def event_frame(event: Event) -> str | bytes:
    """The frame of any event but `PreviewImage` (clients.PreviewRender) and `ProgressState`
    (`ProgressStateFrames`): text for JSON, bytes for binary frames."""
    if type(event) is Executing and event.node is not None:  # one per node: the hand-built frame
        return executing_frame(event.node, event.display_node, event.prompt_id)
    if isinstance(event, ProgressText):
        return text_frame(event.node_id, event.text)
    if isinstance(event, CustomMessage):
        if isinstance(event.event, int) and isinstance(event.payload, bytes | bytearray):
            return binary_frame(event.event, bytes(event.payload))
        return json_frame(event.event, event.payload)
    return json_frame(event.name, event.data())


def log_frame(entry: Any) -> str:
    """`logs`: one new log entry, for the clients that subscribed to logs (docs/protocol.md §14)."""
    return json_frame("logs", {"entries": [entry], "size": None})


def status_data(queue_remaining: int, sid: str | None = None) -> dict[str, Any]:
    """`status` data; `sid` only in the per-connection greeting (docs/protocol.md §13.1)."""
    data: dict[str, Any] = {"status": {"exec_info": {"queue_remaining": queue_remaining}}}
    if sid is not None:
        data["sid"] = sid
    return data


def binary_frame(event_type: int, payload: bytes) -> bytes:
    """Any binary frame: the 4-byte type then the payload."""
    return struct.pack(">I", event_type) + payload


def preview_frame(image: bytes, mime_type: str) -> bytes:
    """Legacy PREVIEW_IMAGE (type 1)."""
    fmt = _PNG if mime_type == "image/png" else _JPEG
    return struct.pack(">II", PREVIEW_IMAGE, fmt) + image


def preview_frame_with_metadata(metadata: dict[str, Any], image: bytes) -> bytes:
    """PREVIEW_IMAGE_WITH_METADATA (type 4)."""
    meta = json.dumps(metadata).encode("utf-8")
    return struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(meta)) + meta + image


def text_frame(node_id: str, text: str) -> bytes:
    """TEXT (type 3): progress text of a node."""
    nid = node_id.encode("utf-8")
    return struct.pack(">II", TEXT, len(nid)) + nid + text.encode("utf-8")


def websocket_frame(message: str | bytes) -> tuple[bytes, bytes]:
    """An unmasked, unfragmented server frame (RFC 6455 §5.2) for a text (str) or binary (bytes)
    message: its header and its payload."""
    if isinstance(message, str):
        opcode, payload = 0x81, message.encode("utf-8")  # FIN + text
    else:
        opcode, payload = 0x82, message  # FIN + binary
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", opcode, size), payload
    if size < 1 << 16:
        return struct.pack("!BBH", opcode, 126, size), payload
    return struct.pack("!BBQ", opcode, 127, size), payload
