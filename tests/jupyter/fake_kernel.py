"""A stand-in kernel process for the relay tests: the real attach path, an echo app as the route set.

The server's kernel manager starts it like any kernel (``fake_kernel.py -f {connection_file}``).
It speaks no ZMQ; it does what ``%load_ext toucan_nb`` does on the wire: it serves an app through
the real `LoopbackServer` (secret-guarded) and announces itself with the real `connection_file`
module. The app echoes every request as JSON, so tests can see exactly what reached the kernel.

Routes: ``/slow`` never answers; ``/drop`` closes the connection unanswered and, with
``exit_after=S``, exits the process S seconds later (a kernel killed mid-request); ``/ws`` and
``/api/ws`` greet with the clientId and echo frames; everything else echoes. Query ``status=N``
sets the status, ``location=...`` a Location header.

With ``TOUCAN_FAKE_NO_ATTACH=1`` it runs without attaching (a kernel that never loaded toucan).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import threading
import time
from typing import Any

from tornado import web, websocket

from toucan_nb.host import connection_file
from toucan_nb.host.loopback import LoopbackServer


class Echo(web.RequestHandler):
    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")

    def initialize(self, kernel_id: str) -> None:
        self.kernel_id = kernel_id

    def _echo(self) -> None:
        self.set_status(int(self.get_query_argument("status", "200")))
        location = self.get_query_argument("location", None)
        if location:
            self.set_header("Location", location)
        self.set_header("X-Fake-Kernel", self.kernel_id)
        self.set_header("Set-Cookie", "kernel_cookie=1")
        body: dict[str, Any] = {
            "kernel_id": self.kernel_id,
            "method": self.request.method,
            "path": self.request.path,
            "query": self.request.query,
            "body": self.request.body.decode("latin-1"),
            "headers": {k.lower(): v for k, v in self.request.headers.get_all()},
        }
        if self.get_status() not in (204, 304) and self.request.method != "HEAD":
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.write(json.dumps(body))

    get = post = put = patch = delete = options = head = _echo  # type: ignore[assignment]


class Slow(web.RequestHandler):
    async def get(self) -> None:
        await asyncio.Event().wait()


class Drop(web.RequestHandler):
    async def get(self) -> None:
        exit_after = self.get_query_argument("exit_after", None)
        self.request.connection.stream.close()
        if exit_after is not None:
            threading.Timer(float(exit_after), os._exit, (0,)).start()
        await asyncio.Event().wait()


class EchoSocket(websocket.WebSocketHandler):
    def initialize(self, kernel_id: str) -> None:
        self.kernel_id = kernel_id

    def open(self) -> None:
        greeting = {
            "type": "status",
            "data": {"sid": self.get_query_argument("clientId", "fresh"), "kernel_id": self.kernel_id,
                     "query": self.request.query},
            "path": self.request.path,
        }
        self.write_message(json.dumps(greeting))

    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


def main() -> None:
    path = sys.argv[sys.argv.index("-f") + 1]
    kernel_id = connection_file.kernel_id_from_connection_file(path)
    assert kernel_id is not None, path
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: None)  # the kernel manager interrupts; ignore
    if os.environ.get("TOUCAN_FAKE_NO_ATTACH") != "1":
        secret = secrets.token_urlsafe(32)
        kwargs = {"kernel_id": kernel_id}
        server = LoopbackServer(
            lambda: web.Application(
                [
                    (r"/slow", Slow),
                    (r"/drop", Drop),
                    (r"/(?:api/)?ws", EchoSocket, kwargs),
                    (r"/.*", Echo, kwargs),
                ]
            ),
            secret=secret,
        )
        port = server.start()
        info = connection_file.ConnectionInfo(kernel_id, os.getpid(), port, secret, time.time())
        connection_file.write(info)
    done.wait()


if __name__ == "__main__":
    main()
