"""Connected WebSocket clients: the sid table and each client's ordered outbox (docs/protocol.md §13).

Each `ClientConnection` sends its frames in order from one drain task. While a write is in
flight, new frames wait in the outbox. At most `MAX_QUEUED_PREVIEWS` previews wait there: a newer
one replaces the oldest still unsent (latest frame wins), so a slow client never makes anything
wait and never piles up images, while a client that keeps up loses none. JSON frames, terminal
events included, are never dropped, with one exception: `progress_state` is a full snapshot of a
prompt's progress, so a newer snapshot of the same prompt may replace an older one still waiting,
and it is then rendered when it is sent (the newest state, never an out-of-date one). That happens
once a client is `COALESCE_AFTER` frames behind, and always for prompts of more than
`EXACT_SNAPSHOT_NODES` nodes: ComfyUI sends two snapshots per node, each listing every node, so a
500-node graph costs ~50 MB of snapshots. A client of smaller graphs that keeps up gets every
snapshot exactly as ComfyUI sends it.

Previews are rendered (encoded once per event, on a worker thread) only when a client's drain
reaches them, so a preview that was replaced is never encoded.

Everything here runs on the IO loop thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Iterator
from concurrent.futures import Executor
from typing import Any, Protocol

from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from toucan_nb.api import wire
from toucan_nb.runtime.events import PreviewImage

log = logging.getLogger(__name__)

# Previews a client may have waiting before the oldest is replaced.
MAX_QUEUED_PREVIEWS = 2
# Frames a client may have waiting before progress snapshots start replacing each other.
COALESCE_AFTER = 32
# Snapshots of prompts larger than this replace each other whenever one is still unsent.
EXACT_SNAPSHOT_NODES = 64


class ProgressSource(Protocol):
    """A prompt's progress snapshot and its frame (wire.ProgressStateFrames)."""

    prompt_id: str

    def frame(self) -> str: ...

    def __len__(self) -> int: ...  # nodes in the snapshot


class FrameSink(Protocol):
    """What a connection writes to (ws.WebSocketApiHandler): frames in order, text for str and
    binary for bytes, in as few socket writes as it can; the awaitable completes once they left."""

    def write_frames(self, frames: list[str | bytes]) -> Awaitable[None]: ...


class PreviewRender:
    """One preview event's frames, built on first use and shared by every recipient."""

    __slots__ = ("event", "_executor", "_image", "_legacy", "_with_metadata")

    def __init__(self, event: PreviewImage, executor: Executor | None) -> None:
        self.event = event
        self._executor = executor
        self._image: asyncio.Future[bytes] | None = None
        self._legacy: bytes | None = None
        self._with_metadata: bytes | None = None

    async def frame(self, with_metadata: bool) -> bytes:
        """The type-4 frame (`with_metadata`) or the legacy type-1 frame (docs/protocol.md §15)."""
        assert self.event.image is not None
        if self._image is None:
            # JPEG/PNG encoding takes milliseconds: keep it off the IO loop.
            self._image = asyncio.get_running_loop().run_in_executor(self._executor, self.event.image.encoded)
        image = await self._image
        if with_metadata:
            if self._with_metadata is None:
                self._with_metadata = wire.preview_frame_with_metadata(self.event.data(), image)
            return self._with_metadata
        if self._legacy is None:
            self._legacy = wire.preview_frame(image, self.event.image.mime_type)
        return self._legacy


class _Outgoing:
    __slots__ = ("frame", "preview", "progress", "dropped")

    def __init__(self, frame: str | bytes | None, preview: PreviewRender | None = None,
                 progress: ProgressSource | None = None) -> None:
        self.frame = frame
        self.preview = preview
        self.progress = progress
        self.dropped = False


class ClientConnection:
    """One WebSocket client: its sid, negotiated flags and outbox."""

    def __init__(self, sid: str, sink: FrameSink) -> None:
        self.sid = sid
        self.sink = sink
        self.flags: dict[str, Any] = {}
        self.first_message_seen = False
        self.closed = False
        self._outbox: deque[_Outgoing] = deque()
        self._queued_previews: deque[_Outgoing] = deque()
        self._queued_progress: dict[str, _Outgoing] = {}  # prompt_id -> its unsent lazy snapshot
        self._draining = False
        self.dropped_previews = 0

    @property
    def supports_preview_metadata(self) -> bool:
        # A feature counts only if its value is exactly true (docs/protocol.md §13.2).
        return self.flags.get("supports_preview_metadata") is True

    def send(self, frame: str | bytes) -> None:
        """Queue a frame (text for str, binary for bytes)."""
        if self.closed:
            return
        self._outbox.append(_Outgoing(frame))
        self._kick()

    def send_progress(self, progress: ProgressSource) -> None:
        """Queue a progress_state snapshot (see the module docstring for when they coalesce)."""
        if self.closed:
            return
        if len(self._outbox) < COALESCE_AFTER and len(progress) <= EXACT_SNAPSHOT_NODES:
            self._outbox.append(_Outgoing(progress.frame()))
        else:
            older = self._queued_progress.get(progress.prompt_id)
            if older is not None:
                if self._outbox and self._outbox[-1] is older:
                    return  # still the last frame waiting: it will be rendered with this state
                older.dropped = True
            item = self._queued_progress[progress.prompt_id] = _Outgoing(None, progress=progress)
            self._outbox.append(item)
        self._kick()

    def send_preview(self, preview: PreviewRender) -> None:
        """Queue a preview; replaces an older preview still waiting in the outbox."""
        if self.closed:
            return
        if len(self._queued_previews) >= MAX_QUEUED_PREVIEWS:
            self._queued_previews.popleft().dropped = True
            self.dropped_previews += 1
        item = _Outgoing(None, preview)
        self._queued_previews.append(item)
        self._outbox.append(item)
        self._kick()

    def close(self) -> None:
        self.closed = True
        self._outbox.clear()
        self._queued_previews.clear()
        self._queued_progress.clear()

    def _kick(self) -> None:
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._outbox and not self.closed:
                # Write everything queued in one go, then wait for the socket once: one system call
                # for a burst of events, and frames (and replaceable previews) gather behind a slow
                # client meanwhile.
                batch: list[str | bytes] = []
                last: Awaitable[None] | None = None
                while self._outbox and not self.closed:
                    item = self._outbox.popleft()
                    if item.dropped:
                        continue
                    if item.preview is not None:
                        self._queued_previews.remove(item)
                        if batch:  # don't hold earlier frames back while the image is encoded
                            last, batch = self.sink.write_frames(batch), []
                        frame: str | bytes | None = await item.preview.frame(self.supports_preview_metadata)
                    elif item.progress is not None:
                        if self._queued_progress.get(item.progress.prompt_id) is item:
                            del self._queued_progress[item.progress.prompt_id]
                        frame = item.progress.frame()
                    else:
                        frame = item.frame
                    assert frame is not None
                    batch.append(frame)
                if batch and not self.closed:
                    last = self.sink.write_frames(batch)
                if last is not None:
                    await last
        except (WebSocketClosedError, StreamClosedError):
            self.close()
        except Exception:
            log.exception("sending to WebSocket client %s failed", self.sid)
            self.close()
        finally:
            self._draining = False


class ClientTable:
    """sid -> connection. A reconnect under the same sid replaces the old entry; the old socket's
    later close removes nothing (fixes the caveat of docs/protocol.md §13.1)."""

    def __init__(self) -> None:
        self._by_sid: dict[str, ClientConnection] = {}

    def register(self, conn: ClientConnection) -> None:
        self._by_sid[conn.sid] = conn

    def unregister(self, conn: ClientConnection) -> bool:
        """Remove `conn` if it is still the registered one for its sid; True if it was."""
        if self._by_sid.get(conn.sid) is conn:
            del self._by_sid[conn.sid]
            return True
        return False

    def get(self, sid: str) -> ClientConnection | None:
        return self._by_sid.get(sid)

    def __iter__(self) -> Iterator[ClientConnection]:
        return iter(list(self._by_sid.values()))

    def __len__(self) -> int:
        return len(self._by_sid)

    def __bool__(self) -> bool:
        return bool(self._by_sid)
