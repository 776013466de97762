"""Benchmark of the route set and /ws against a real `toucan-nb serve` (not a test).

Starts the server as a subprocess with a small custom node pack, then measures:

* startup: seconds until the port accepts connections (runtime still loading);
* 1-node prompt: POST /prompt -> `executing {node: null}` over /ws, median over unique prompts;
* throughput: unique 2-node prompts per second, POSTed over several keep-alive connections at
  once, until the last one is done (every prompt executes; its events go to a /ws client);
* 500-node chain: POST -> done for a 500-node linear graph with a /ws client attached;
* previews: 512x512 JPEG preview frames per second delivered to one client (type 4);
* idle RSS of the server process with torch imported.

The client side is deliberately lean (`LeanHTTP`, `LeanWebSocket`, `post_concurrently`): raw
sockets, requests encoded before the clock starts, frames matched as bytes. On this 2-core VM a
full Python client (http.client, websocket-client) spends more CPU per request than the server
does, and shares the cores with it, so it would mostly measure itself. The frames are still
checked: every prompt must end with its exact `executing null` frame, and an `execution_error`
fails the run.

Usage: .venv/bin/python bench/bench_http.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PACK = '''
import time

import numpy as np
from PIL import Image

import comfy.utils


class BenchValue:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0, "min": -2**62, "max": 2**62})}}
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "bench"

    def run(self, value):
        return (value,)


class BenchAdd:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {"forceInput": True}), "b": ("INT", {"default": 1})}}
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "bench"

    def run(self, a, b):
        return (a + b,)


class BenchOut:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0, "min": -2**62, "max": 2**62})}}
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "bench"

    def run(self, value):
        return {"ui": {"text": [str(value)]}}


class BenchPreviews:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"frames": ("INT", {"default": 100, "min": 1, "max": 100000}),
                             "interval_ms": ("FLOAT", {"default": 2.0, "min": 0.0, "max": 1000.0}),
                             "seed": ("INT", {"default": 0, "min": 0, "max": 2**62})}}
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "bench"

    IMAGES = []

    def run(self, frames, interval_ms, seed):
        # Smooth images, like decoded latent previews (about 40 kB as JPEG q95), made once so the
        # node itself costs nothing: each frame is still a new preview, encoded by the server.
        if not self.IMAGES:
            y, x = np.mgrid[0:512, 0:512]
            for i in range(16):
                rgb = np.stack([(x + 9 * i) % 256, (y + 5 * i) % 256, (x + y) % 256], axis=-1).astype(np.uint8)
                self.IMAGES.append(Image.fromarray(rgb))
        bar = comfy.utils.ProgressBar(frames)
        start = time.perf_counter()
        for i in range(frames):
            # A sampler producing a preview every `interval_ms` (faster than any real one).
            time.sleep(max(0.0, start + i * interval_ms / 1000 - time.perf_counter()))
            bar.update_absolute(i + 1, frames, ("JPEG", self.IMAGES[(i + seed) % 16], 512))
        return {"ui": {"text": [str(frames)]}}


NODE_CLASS_MAPPINGS = {"BenchValue": BenchValue, "BenchAdd": BenchAdd, "BenchOut": BenchOut,
                       "BenchPreviews": BenchPreviews}
'''


class Server:
    def __init__(self, base: str) -> None:
        os.makedirs(os.path.join(base, "custom_nodes"), exist_ok=True)
        with open(os.path.join(base, "custom_nodes", "bench_nodes.py"), "w") as f:
            f.write(PACK)
        self.log_path = os.path.join(base, "server.log")
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "toucan_nb", "--listen", "127.0.0.1", "--port", "0", "--cpu",
             "--base-directory", base, "--dont-print-server"], stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO)
        while True:
            m = re.search(r"To see the GUI go to: http://[^:]+:(\d+)", self.output())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                raise RuntimeError(self.output())
            time.sleep(0.005)
        self.listening_after = time.monotonic() - t0
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        self.get("/object_info/BenchOut")  # waits until the runtime has started
        self.ready_after = time.monotonic() - t0

    def output(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def request(self, method: str, path: str, body: Any = None) -> Any:
        self.conn.request(method, path, body=None if body is None else json.dumps(body))
        resp = self.conn.getresponse()
        data = resp.read()
        assert resp.status == 200, (resp.status, data)
        return json.loads(data) if data else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def ws(self, flags: bool = False) -> tuple[LeanWebSocket, str]:
        client_id = uuid.uuid4().hex
        ws = LeanWebSocket(self.port, client_id)
        ws.recv()  # the greeting
        if flags:
            ws.send_text(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
            ws.recv()
        return ws, client_id

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


def _request(port: int, method: str, path: str, body: bytes = b"") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def prompt_body(prompt: dict[str, Any], client_id: str) -> bytes:
    return json.dumps({"prompt": prompt, "client_id": client_id}).encode()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _ok(head: bytes, body: bytes) -> bytes:
    """`body` of a 200 response; anything else fails the run."""
    if not head.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError(f"{head!r} {body!r}")
    return body


class LeanHTTP:
    """One keep-alive HTTP/1.1 connection on a blocking socket: a request, then its response."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def post(self, path: str, body: bytes) -> bytes:
        """POST and return the body of a 200 response."""
        self.sock.sendall(_request(self.port, "POST", path, body))
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, rest = self.buf.split(b"\r\n\r\n", 1)
        length = _content_length(head)
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.buf = rest[length:]
        return _ok(head, rest[:length])

    def post_prompt(self, body: bytes) -> str:
        return str(json.loads(self.post("/prompt", body))["prompt_id"])


class LeanWebSocket:
    """A /ws client on a blocking socket: RFC 6455 handshake, unmasked server frames."""

    def __init__(self, port: int, client_id: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws?clientId={client_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101 "):
            raise RuntimeError(head.decode(errors="replace"))
        self.frames = 0
        self.bytes = 0

    def _fill(self, size: int) -> None:
        while len(self.buf) < size:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("the server closed /ws")
            self.buf += chunk

    def recv(self) -> tuple[int, bytes]:
        """The next frame: (opcode, payload); 1 = text, 2 = binary."""
        self._fill(2)
        opcode, size, start = self.buf[0] & 0x0F, self.buf[1] & 0x7F, 2
        if size == 126:
            self._fill(4)
            size, start = struct.unpack_from("!H", self.buf, 2)[0], 4
        elif size == 127:
            self._fill(10)
            size, start = struct.unpack_from("!Q", self.buf, 2)[0], 10
        self._fill(start + size)
        payload, self.buf = self.buf[start:start + size], self.buf[start + size:]
        self.frames += 1
        self.bytes += size
        return opcode, payload

    def send_text(self, text: str) -> None:
        data, mask = text.encode(), os.urandom(4)
        assert len(data) < 126
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(bytes([0x81, 0x80 | len(data)]) + mask + masked)

    def close(self) -> None:
        self.sock.close()


def _done_frame(prompt_id: str) -> bytes:
    return json.dumps({"type": "executing", "data": {"node": None, "prompt_id": prompt_id}}).encode()


def wait_done(ws: LeanWebSocket, prompt_ids: str | list[str]) -> int:
    """Read frames until every given prompt's `executing null`; returns how many binary frames came."""
    waiting = {_done_frame(p) for p in ([prompt_ids] if isinstance(prompt_ids, str) else prompt_ids)}
    binary = 0
    while waiting:
        opcode, payload = ws.recv()
        if opcode == 2:
            binary += 1
        elif payload.startswith(b'{"type": "execution_error"'):
            raise RuntimeError(payload.decode())
        else:
            waiting.discard(payload)
    return binary


def post_concurrently(port: int, bodies: list[bytes], connections: int) -> list[str]:
    """POST every body over `connections` keep-alive connections at once; the prompt ids."""

    async def one_connection(share: list[bytes]) -> list[str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        ids = []
        for body in share:
            writer.write(_request(port, "POST", "/prompt", body))
            head = await reader.readuntil(b"\r\n\r\n")
            data = _ok(head, await reader.readexactly(_content_length(head)))
            ids.append(json.loads(data)["prompt_id"])
        writer.close()
        return ids

    async def run() -> list[list[str]]:
        return await asyncio.gather(*(one_connection(bodies[k::connections]) for k in range(connections)))

    return [pid for ids in asyncio.run(run()) for pid in ids]


def one_node(value: int) -> dict[str, Any]:
    return {"1": {"class_type": "BenchOut", "inputs": {"value": value}}}


def two_nodes(value: int) -> dict[str, Any]:
    return {"1": {"class_type": "BenchValue", "inputs": {"value": value}},
            "2": {"class_type": "BenchOut", "inputs": {"value": ["1", 0]}}}


def chain(length: int, seed: int) -> dict[str, Any]:
    prompt: dict[str, Any] = {"0": {"class_type": "BenchValue", "inputs": {"value": seed}}}
    for i in range(1, length - 1):
        prompt[str(i)] = {"class_type": "BenchAdd", "inputs": {"a": [str(i - 1), 0], "b": 1}}
    prompt[str(length - 1)] = {"class_type": "BenchOut", "inputs": {"value": [str(length - 2), 0]}}
    return prompt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--connections", type=int, default=4, help="concurrent POST connections (throughput)")
    args = parser.parse_args()
    reps = 100 if args.quick else 500
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as base:
        server = Server(base)
        try:
            rows.append(("startup: port accepting connections", f"{server.listening_after:.2f} s"))
            rows.append(("startup: runtime ready (nodes loaded)", f"{server.ready_after:.2f} s"))
            ws, client_id = server.ws()
            http = LeanHTTP(server.port)

            seed = int(time.time())
            for i in range(20):  # warm-up
                wait_done(ws, http.post_prompt(prompt_body(one_node(seed + i), client_id)))
            bodies = [prompt_body(one_node(seed + 1000 + i), client_id) for i in range(reps)]
            latencies = []
            for body in bodies:
                t0 = time.perf_counter()
                wait_done(ws, http.post_prompt(body))
                latencies.append(time.perf_counter() - t0)
            rows.append(("1-node prompt POST -> done, median", f"{statistics.median(latencies) * 1000:.2f} ms"))
            rows.append(("1-node prompt POST -> done, p90",
                         f"{statistics.quantiles(latencies, n=10)[-1] * 1000:.2f} ms"))

            n = reps * 20
            bodies = [prompt_body(two_nodes(seed + 10_000 + i), client_id) for i in range(n)]
            t0 = time.perf_counter()
            ids = post_concurrently(server.port, bodies, args.connections)
            posted = time.perf_counter() - t0
            wait_done(ws, ids)
            elapsed = time.perf_counter() - t0
            rows.append((f"unique 2-node prompts/s ({n} POSTed on {args.connections} connections, until all done)",
                         f"{n / elapsed:.0f} /s"))
            rows.append(("  POST /prompt alone", f"{n / posted:.0f} /s"))

            chain_times, frames, sizes = [], [], []
            for i in range(5 if args.quick else 11):
                body = prompt_body(chain(500, seed + 20_000 + i), client_id)
                ws.frames = ws.bytes = 0
                t0 = time.perf_counter()
                wait_done(ws, http.post_prompt(body))
                chain_times.append(time.perf_counter() - t0)
                frames.append(ws.frames)
                sizes.append(ws.bytes)
            rows.append(("500-node chain POST -> done (ws client attached), median",
                         f"{statistics.median(chain_times) * 1000:.0f} ms ({statistics.median(frames):.0f} frames, "
                         f"{statistics.median(sizes) / 1e6:.2f} MB)"))
            ws.close()

            pws, pclient = server.ws(flags=True)
            for interval in (2.0, 20.0):  # 500/s (saturating) and 50/s (a fast sampler)
                frames_wanted = int((1.0 if args.quick else 4.0) * 1000 / interval)
                inputs = {"frames": frames_wanted, "interval_ms": interval, "seed": seed}
                body = prompt_body({"1": {"class_type": "BenchPreviews", "inputs": inputs}}, pclient)
                t0 = time.perf_counter()
                got = wait_done(pws, http.post_prompt(body))
                elapsed = time.perf_counter() - t0
                rows.append((f"512x512 JPEG previews to one client, produced at {1000 / interval:.0f}/s",
                             f"{got / elapsed:.0f} frames/s delivered ({got}/{frames_wanted}; rest coalesced)"))
            pws.close()

            time.sleep(1.0)
            rss = psutil.Process(server.proc.pid).memory_info().rss
            rows.append(("idle RSS of the server (torch imported)", f"{rss / 2**20:.0f} MiB"))
        finally:
            server.stop()
    width = max(len(k) for k, _ in rows)
    print(f"toucan-nb bench_http ({'quick' if args.quick else 'full'}; {os.cpu_count()} CPUs, CPU torch)")
    print("-" * (width + 30))
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
