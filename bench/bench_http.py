"""Benchmark of the route set and /ws against a real `toucan-nb serve` (not a test).

Starts the server as a subprocess with a small custom node pack, then measures:

* startup: seconds until the port accepts connections (runtime still loading);
* 1-node prompt: POST /prompt -> `executing {node: null}` over /ws, median over unique prompts;
* throughput: unique 2-node prompts per second (sequential POSTs on one connection, until the
  last one is done);
* 500-node chain: POST -> done for a 500-node linear graph with a /ws client receiving every
  progress_state snapshot;
* previews: 512x512 JPEG preview frames per second delivered to one client (type 4);
* idle RSS of the server process with torch imported.

Usage: .venv/bin/python bench/bench_http.py [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import psutil
import websocket

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

    def post_prompt(self, prompt: dict[str, Any], client_id: str) -> str:
        return str(self.request("POST", "/prompt", {"prompt": prompt, "client_id": client_id})["prompt_id"])

    def ws(self, flags: bool = False) -> tuple[websocket.WebSocket, str]:
        client_id = uuid.uuid4().hex
        ws = websocket.create_connection(f"ws://127.0.0.1:{self.port}/ws?clientId={client_id}", timeout=120,
                                       skip_utf8_validation=True)  # pure-Python validation is the bottleneck
        ws.recv()
        if flags:
            ws.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
            ws.recv()
        return ws, client_id

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


def wait_done(ws: websocket.WebSocket, prompt_id: str) -> int:
    """Read frames until the prompt's `executing null`; returns how many binary frames came."""
    binary = 0
    while True:
        msg = ws.recv()
        if isinstance(msg, bytes):
            binary += 1
            continue
        data = json.loads(msg)
        if data["type"] == "execution_error":
            raise RuntimeError(data)
        if data["type"] == "executing" and data["data"]["node"] is None and data["data"]["prompt_id"] == prompt_id:
            return binary


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
    args = parser.parse_args()
    reps = 30 if args.quick else 200
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as base:
        server = Server(base)
        try:
            rows.append(("startup: port accepting connections", f"{server.listening_after:.2f} s"))
            rows.append(("startup: runtime ready (nodes loaded)", f"{server.ready_after:.2f} s"))
            ws, client_id = server.ws()

            seed = int(time.time())
            for i in range(10):  # warm-up
                wait_done(ws, server.post_prompt(one_node(seed + i), client_id))
            latencies = []
            for i in range(reps):
                t0 = time.perf_counter()
                wait_done(ws, server.post_prompt(one_node(seed + 1000 + i), client_id))
                latencies.append(time.perf_counter() - t0)
            rows.append(("1-node prompt POST -> done, median", f"{statistics.median(latencies) * 1000:.2f} ms"))
            rows.append(("1-node prompt POST -> done, p90",
                         f"{statistics.quantiles(latencies, n=10)[-1] * 1000:.2f} ms"))

            n = reps * 2
            t0 = time.perf_counter()
            ids = [server.post_prompt(two_nodes(seed + 10_000 + i), client_id) for i in range(n)]
            posted = time.perf_counter() - t0
            wait_done(ws, ids[-1])
            elapsed = time.perf_counter() - t0
            rows.append(("unique 2-node prompts/s (POST all, until last done)", f"{n / elapsed:.0f} /s"))
            rows.append(("  POST /prompt alone", f"{n / posted:.0f} /s"))

            chain_times = []
            for i in range(3 if args.quick else 5):
                t0 = time.perf_counter()
                wait_done(ws, server.post_prompt(chain(500, seed + 20_000 + i), client_id))
                chain_times.append(time.perf_counter() - t0)
            rows.append(("500-node chain POST -> done (ws client attached), median",
                         f"{statistics.median(chain_times) * 1000:.0f} ms"))
            ws.close()

            pws, pclient = server.ws(flags=True)
            for interval in (2.0, 20.0):  # 500/s (saturating) and 50/s (a fast sampler)
                frames = int((1.0 if args.quick else 4.0) * 1000 / interval)
                t0 = time.perf_counter()
                inputs = {"frames": frames, "interval_ms": interval, "seed": seed}
                got = wait_done(pws, server.post_prompt({"1": {"class_type": "BenchPreviews", "inputs": inputs}},
                                                        pclient))
                elapsed = time.perf_counter() - t0
                rows.append((f"512x512 JPEG previews to one client, produced at {1000 / interval:.0f}/s",
                             f"{got / elapsed:.0f} frames/s delivered ({got}/{frames}; rest coalesced)"))
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
