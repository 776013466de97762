"""The /ws endpoint: connect, greet, feature-flag handshake (docs/protocol.md §13.1-§13.2).

On open: sid = `clientId` query value, or a new uuid4 hex; the connection replaces any earlier
one under that sid (the earlier socket stays open but no longer receives events). The first frame
is `status` with `sid`; if a prompt of this sid is running a node, `executing {node}` follows.
The client's first text message, if it is valid JSON (`parse_client_json`: nesting is bounded),
is its only chance to send `feature_flags`; the server answers that one message and ignores every
later one.

Runs on the IO loop thread.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from tornado.websocket import WebSocketClosedError, WebSocketHandler

from toucan_nb.api import wire
from toucan_nb.api.clients import ClientConnection
from toucan_nb.api.errors import ErrorResponseMixin
from toucan_nb.api.json_input import ClientJsonError, parse_client_json
from toucan_nb.api.middleware import check_request

if TYPE_CHECKING:
    from toucan_nb.api.context import ApiContext

log = logging.getLogger(__name__)


class WebSocketApiHandler(ErrorResponseMixin, WebSocketHandler):
    """GET /ws and /api/ws."""

    def initialize(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.conn: ClientConnection | None = None

    def get_compression_options(self) -> None:
        # No permessage-deflate: write_frames() writes plain RFC 6455 frames itself.
        return None

    def write_frames(self, frames: list[str | bytes]) -> Awaitable[None]:
        """Send frames (text for str, binary for bytes) in one stream write (clients.FrameSink).

        tornado's write_message costs a system call and a future per frame; a prompt's burst of
        events is one write here.
        """
        protocol = self.ws_connection
        if protocol is None or protocol.is_closing() or protocol.stream is None:
            raise WebSocketClosedError()
        parts: list[bytes] = []
        for frame in frames:
            parts.extend(wire.websocket_frame(frame))
        return protocol.stream.write(b"".join(parts))

    def check_origin(self, origin: str) -> bool:
        # The origin rule of docs/protocol.md §3.3 (or none, in CORS mode) runs in prepare().
        return True

    def prepare(self) -> Awaitable[None] | None:
        check_request(self, self.ctx.settings.secret, self.ctx.settings.cors_origin)
        return self.ctx.ready()

    def open(self, *args: str, **kwargs: str) -> None:
        sid = self.get_query_argument("clientId", "") or uuid.uuid4().hex
        conn = self.conn = ClientConnection(sid, self)
        self.ctx.clients.register(conn)
        conn.send(wire.json_frame("status", wire.status_data(self.ctx.runtime.queue.remaining(), sid)))
        node = self.ctx.fanout.running_node_for(sid)
        if node is not None:
            conn.send(wire.json_frame("executing", {"node": node}))

    def on_message(self, message: str | bytes) -> None:
        conn = self.conn
        if conn is None or conn.first_message_seen or isinstance(message, bytes):
            return
        try:
            data = parse_client_json(message)
        except ClientJsonError as exc:
            log.warning("invalid JSON from WebSocket client %s: %s", conn.sid, exc)
            return  # does not count as the first message (docs/protocol.md §13.1)
        conn.first_message_seen = True
        if (isinstance(data, dict) and data.get("type") == "feature_flags"
                and isinstance(data.get("data"), dict)):
            conn.flags = data["data"]
            conn.send(wire.json_frame("feature_flags", self.ctx.feature_flags()))

    def on_close(self) -> None:
        conn = self.conn
        if conn is None:
            return
        conn.close()
        if self.ctx.clients.unregister(conn):
            self.ctx.fanout.log_subscribers.discard(conn.sid)

