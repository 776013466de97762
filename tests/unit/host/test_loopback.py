"""toucan_nb.host.loopback: the kernel's secret-guarded endpoint on its own IO-loop thread."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest
import websocket  # websocket-client: a plain blocking client, nothing shared with the server loop
from tornado import web
from tornado import websocket as tornado_websocket

from toucan_nb.host.loopback import LoopbackError, LoopbackServer

SECRET = "s3cret-" + "x" * 20


class Hello(web.RequestHandler):
    def get(self):
        self.write({"thread": threading.current_thread().name})

    def post(self):
        self.write({"length": len(self.request.body)})


class Echo(tornado_websocket.WebSocketHandler):
    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))


def make_app():
    return web.Application([(r"/hello", Hello), (r"/ws", Echo)])


@pytest.fixture
def server():
    stopped = []
    loopback = LoopbackServer(make_app, secret=SECRET, on_stop=lambda app: stopped.append(app))
    loopback.start()
    yield loopback
    loopback.stop()


def get(port, path, headers=None, data=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def test_requests_need_the_secret(server):
    assert get(server.port, "/hello") == (403, b"missing or wrong X-Toucan-Secret")
    assert get(server.port, "/hello", {"X-Toucan-Secret": "wrong"})[0] == 403
    status, body = get(server.port, "/hello", {"X-Toucan-Secret": SECRET})
    assert status == 200 and b"toucan-loopback" in body  # served on the loopback thread
    # A refused request's body is read and dropped; the connection is not confused by it.
    assert get(server.port, "/hello", data=b"x" * 100000)[0] == 403
    assert get(server.port, "/hello", {"X-Toucan-Secret": SECRET}, data=b"y" * 100000) == (
        200,
        b'{"length": 100000}',
    )


def test_websocket_upgrade_needs_the_secret_and_stop_closes_it():
    stopped = []
    loopback = LoopbackServer(make_app, secret=SECRET, on_stop=stopped.append)
    port = loopback.start()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=10)
    assert refused.value.status_code == 403
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}/ws", header=[f"X-Toucan-Secret: {SECRET}"], timeout=10
    )
    ws.send("hi")
    assert ws.recv() == "hi"
    ws.send_binary(b"\x00\x01")
    assert ws.recv() == b"\x00\x01"
    loopback.stop()
    assert not loopback.is_running
    assert len(stopped) == 1 and isinstance(stopped[0], web.Application)
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
        ws.recv()  # the open socket was closed by stop(), not left dangling
    ws.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=2)


def test_factory_failure_is_reported_by_start():
    def broken():
        raise RuntimeError("no app today")

    loopback = LoopbackServer(broken, secret=SECRET)
    with pytest.raises(LoopbackError) as info:
        loopback.start()
    assert isinstance(info.value.__cause__, RuntimeError)
    assert not loopback.is_running


def test_short_secrets_are_refused():
    with pytest.raises(ValueError):
        LoopbackServer(make_app, secret="short")
