"""A ComfyUI-compatible server in a subprocess, on a free port with its own base directory: a
checkout's `main.py` or `toucan-nb serve`, for the real-checkout tests and bench/bench_checkout.py.

No pytest here: the benchmark runs under a checkout's Python, which need not have it.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A server process on a free port with its own base directory (and input image)."""

    def __init__(self, argv: list[str], base: Path, cwd: str, name: str) -> None:
        self.port = free_port()
        self.base = base
        for sub in ("custom_nodes", "input"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        write_input_image(base / "input" / "toucan_in.png")
        self.log_path = base / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        self.proc = subprocess.Popen([*argv, "--port", str(self.port), "--base-directory", str(base)],
                                     cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 300
        try:
            while True:  # both answer once their node library is loaded
                assert self.proc.poll() is None, self.log_path.read_text()
                try:
                    if self.request("GET", "/object_info/SaveImage")[0] == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, self.log_path.read_text()
                time.sleep(0.2)
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body))
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def json(self, path: str) -> Any:
        status, body = self.request("GET", path)
        assert status == 200, body
        return json.loads(body)

    def run(self, prompt: dict[str, Any], timeout: float = 600) -> list[np.ndarray]:
        """Queue `prompt`; the pixels of every image its SaveImage nodes wrote."""
        status, body = self.request("POST", "/prompt", {"prompt": prompt})
        assert status == 200, body
        prompt_id = json.loads(body)["prompt_id"]
        deadline = time.monotonic() + timeout
        while not (history := self.json(f"/history/{prompt_id}")):
            assert time.monotonic() < deadline, self.log_path.read_text()[-5000:]
            time.sleep(0.1)
        entry = history[prompt_id]
        assert entry["status"]["status_str"] == "success", entry["status"]
        arrays = []
        for output in entry["outputs"].values():
            for image in output.get("images", []):
                query = f"filename={image['filename']}&subfolder={image['subfolder']}&type={image['type']}"
                status, png = self.request("GET", f"/view?{query}")
                assert status == 200
                arrays.append(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")))
        return arrays

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


def write_input_image(path: Path) -> None:
    y, x = np.mgrid[0:64, 0:64]
    rgb = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(path)
