"""Event -> WebSocket frame encoding (protocol.md §13-§15): the only place frames are built.

JSON frames are `{"type": <event>, "data": {...}}` text, encoded with Python's default JSON
separators like ComfyUI's. Binary frames start with a big-endian uint32 event type:

    1 PREVIEW_IMAGE                 uint32 image format (1 JPEG, 2 PNG) + image bytes
    3 TEXT                          uint32 len(node_id) + node_id + UTF-8 text
    4 PREVIEW_IMAGE_WITH_METADATA   uint32 len(metadata JSON) + metadata JSON + image bytes

Type 2 never goes on the wire. Pure functions; any thread.
"""

from __future__ import annotations

import json
import struct
from typing import Any

PREVIEW_IMAGE = 1
# 2 (UNENCODED_PREVIEW_IMAGE) is internal to ComfyUI and never sent.
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4

_JPEG = 1
_PNG = 2


def json_frame(event_type: str, data: Any) -> str:
    """A JSON text frame."""
    return json.dumps({"type": event_type, "data": data})


def status_data(queue_remaining: int, sid: str | None = None) -> dict[str, Any]:
    """`status` data; `sid` only in the per-connection greeting (protocol.md §13.1)."""
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

