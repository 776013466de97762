"""A real `toucan-nb` server in a subprocess, and the normalisation used to compare its answers
with the recorded ComfyUI vectors (ids, timestamps, counters and tracebacks vary between runs)."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
import uuid
from typing import Any

import websocket

from tests.support.http import Response  # noqa: F401 (re-exported to the tests)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_URL_RE = re.compile(r"To see the GUI go to: http://[^:]+:(\d+)")


class ServeProcess:
    """`python -m toucan_nb <flags>` (or another `module` with the same command line) on a free loopback
    port, with its own directories."""

    def __init__(self, base: str, *flags: str, serve_word: bool = True, cpu: bool = True,
                 ready_timeout: float = 60, module: str = "toucan_nb", env: dict[str, str] | None = None) -> None:
        self.base = base
        self.dirs = {name: os.path.join(base, name) for name in ("in", "out", "user", "temp")}
        for path in self.dirs.values():
            os.makedirs(path, exist_ok=True)
        argv = [sys.executable, "-m", module, *(["serve"] if serve_word else []),
                "--listen", "127.0.0.1", "--port", "0", *(["--cpu"] if cpu else []), "--base-directory", base,
                "--output-directory", self.dirs["out"], "--input-directory", self.dirs["in"],
                "--user-directory", self.dirs["user"], "--temp-directory", self.dirs["temp"], *flags]
        self.log_path = os.path.join(base, "server.log")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO,
                                     env={**os.environ, **env} if env else None)
        self.port = self._wait_for_port(ready_timeout)
        self.listening_after = time.monotonic() - self.started_at
        self.wait_ready(ready_timeout)

    def _wait_for_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            m = _URL_RE.search(self.log())
            if m:
                return int(m.group(1))
            time.sleep(0.02)
        raise TimeoutError(f"server did not listen in {timeout}s:\n{self.log()}")

    def wait_ready(self, timeout: float) -> None:
        """Requests wait for the runtime; one answered request means it has started."""
        resp = self.request("GET", "/object_info/SaveImage", timeout=timeout)
        assert resp.status == 200, resp.body

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self) -> int:
        self.proc.terminate()
        try:
            code = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self._log.close()
        return code

    # -- HTTP / WS -------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None, timeout: float = 30) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=headers or {})
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, data: Any = None, raw: bytes | str | None = None) -> Response:
        return self.request("POST", path, body=raw if raw is not None else (None if data is None else json.dumps(data)))

    def ws(self, client_id: str | None = None) -> websocket.WebSocket:
        query = f"?clientId={client_id}" if client_id else ""
        return websocket.create_connection(f"ws://127.0.0.1:{self.port}/ws{query}", timeout=60)


def new_client_id() -> str:
    return uuid.uuid4().hex


def recv(ws: websocket.WebSocket) -> Any:
    msg = ws.recv()
    return msg if isinstance(msg, bytes) else json.loads(msg)


def run_prompt(server: ServeProcess, prompt: dict[str, Any]) -> str:
    """POST `prompt` with a /ws client attached and read until its `executing` null; its id."""
    client_id = new_client_id()
    ws = server.ws(client_id)
    try:
        recv(ws)  # the greeting
        prompt_id = server.post("/prompt", {"prompt": prompt, "client_id": client_id}).json()["prompt_id"]
        while True:
            msg = recv(ws)
            assert not isinstance(msg, dict) or msg["type"] != "execution_error", msg
            if msg == {"type": "executing", "data": {"node": None, "prompt_id": prompt_id}}:
                return str(prompt_id)
    finally:
        ws.close()


def wait_idle(server: ServeProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while server.get("/prompt").json()["exec_info"]["queue_remaining"]:
        assert time.monotonic() < deadline, "queue did not drain"
        time.sleep(0.05)


# -- normalisation ---------------------------------------------------------------------------------
_COUNTER = re.compile(r"_\d{5}_")
_TEMP = re.compile(r"_temp_[a-z]{5}_")
VOLATILE = {"timestamp", "create_time", "execution_start_time", "execution_end_time", "modified", "created"}


def normalize(value: Any, ids: dict[str, str]) -> Any:
    """Replace ids (`ids` maps real id -> placeholder), drop volatile values, sort set-like lists,
    blank counters in file names and tracebacks."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            key = ids.get(key, key)
            if key in VOLATILE:
                out[key] = "<t>"
            elif key == "traceback":
                out[key] = "<traceback>"
            elif key == "current_inputs" and isinstance(item, dict):
                out[key] = sorted(item)
            elif key in ("executed", "current_outputs") and isinstance(item, list):
                out[key] = sorted(normalize(v, ids) for v in item)
            else:
                out[key] = normalize(item, ids)
        return out
    if isinstance(value, list):
        return [normalize(v, ids) for v in value]
    if isinstance(value, str):
        if value in ids:
            return ids[value]
        return _TEMP.sub("_temp_xxxxx_", _COUNTER.sub("_#####_", value))
    return value
