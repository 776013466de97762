"""Diffusion speed on the CPU: toucan-nb serve against ComfyUI's main.py on the same graph (not a test).

Both servers run as subprocesses on this machine with the random-weight SD1.x test checkpoint of
tests/support/checkpoints.py in their own models folder, and get the same prompts over HTTP with a
/ws client attached: ComfyUI's default workflow (CheckpointLoaderSimple, two CLIPTextEncode,
EmptyLatentImage, KSampler, VAEDecode, SaveImage). Runs alternate between the servers (toucan,
ComfyUI, toucan, ...) so that load from other processes hits both alike; each run has a new seed, so
the KSampler and what follows execute while the loaders and prompts come from the cache, as when a
user presses Run again. Per run:

* step: the KSampler's time per sampling step, from the arrival of its first to its last `progress`
  frame on /ws, divided by the steps in between;
* prompt: POST /prompt until `executing {node: null}` for that prompt;

and once per server, the first prompt (which also loads the checkpoint and encodes the prompts).
The table shows medians and the ratio toucan_nb / ComfyUI (below 1: toucan_nb is faster).

Usage:
    .venv/bin/python bench/bench_diffusion.py [--comfyui /work/ref/ComfyUI] [--python /work/ref/cvenv/bin/python]
        [--size 256] [--steps 10] [--reps 5] [--sampler euler] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import websocket

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import checkpoints as ck  # noqa: E402  (the repository root on the path first)

CHECKPOINT = "toucan-test-sd15.safetensors"


def default_workflow(seed: int, size: int, steps: int, sampler: str, scheduler: str) -> dict[str, Any]:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a photo of a toucan, tropical forest",
                                                          "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry, low quality", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": sampler, "scheduler": scheduler, "denoise": 1.0,
            "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "bench"}},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A server subprocess with its own base folder; `run` sends one prompt and times it over /ws."""

    def __init__(self, name: str, argv: list[str], cwd: Path, port: int, env: dict[str, str]) -> None:
        self.name, self.port = name, port
        fd, self.log = tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=fd, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        os.close(fd)
        self.client_id = uuid.uuid4().hex
        deadline = time.monotonic() + 300
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited; log: {self.log}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/object_info/KSampler", timeout=5).read()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not answer within 300 s; log: {self.log}") from None
                time.sleep(0.5)
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws?clientId={self.client_id}", timeout=600)

    def run(self, prompt: dict[str, Any]) -> tuple[float, float | None]:
        """(seconds from POST to the end, seconds per KSampler step or None)."""
        body = json.dumps({"prompt": prompt, "client_id": self.client_id}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/prompt", data=body,
                                         headers={"Content-Type": "application/json"})
        start = time.perf_counter()
        prompt_id = json.loads(urllib.request.urlopen(request, timeout=60).read())["prompt_id"]
        steps: list[float] = []
        while True:
            frame = self.ws.recv()
            now = time.perf_counter()
            if not isinstance(frame, str):
                continue  # previews
            msg = json.loads(frame)
            data = msg.get("data", {})
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            if msg["type"] == "progress" and data.get("node") == "3":
                steps.append(now)
            elif msg["type"] == "execution_error":
                raise RuntimeError(f"{self.name}: {data.get('exception_message')}")
            elif msg["type"] == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                total = now - start
                break
        per_step = (steps[-1] - steps[0]) / (len(steps) - 1) if len(steps) > 1 else None
        return total, per_step

    def stop(self) -> None:
        self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def base_folder(root: Path, name: str) -> Path:
    base = root / name
    (base / "models" / "checkpoints").mkdir(parents=True)
    target = base / "models" / "checkpoints" / CHECKPOINT
    try:  # a hard link: toucan_nb refuses symlinks that leave a model folder
        os.link(ck.sd15_checkpoint(), target)
    except OSError:
        shutil.copyfile(ck.sd15_checkpoint(), target)
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comfyui", default="/work/ref/ComfyUI")
    parser.add_argument("--python", default="/work/ref/cvenv/bin/python", help="ComfyUI's interpreter")
    parser.add_argument("--size", type=int, default=256, help="image width and height")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--sampler", default="euler")
    parser.add_argument("--scheduler", default="normal")
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for both servers (0: torch's default)")
    args = parser.parse_args()

    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-diffusion-") as tmp:
        root = Path(tmp)
        ours, theirs = base_folder(root, "toucan"), base_folder(root, "comfyui")
        p1, p2 = free_port(), free_port()
        servers = [
            Server("toucan_nb", [sys.executable, "-m", "toucan_nb", "--port", str(p1), "--cpu", "--base-directory",
                                 str(ours), "--dont-print-server"], REPO, p1, env),
            Server("ComfyUI", [args.python, "main.py", "--cpu", "--port", str(p2), "--base-directory", str(theirs),
                               "--database-url", "sqlite:///:memory:", "--disable-all-custom-nodes",
                               "--dont-print-server"], Path(args.comfyui), p2, env),
        ]
        try:
            first: dict[str, float] = {}
            totals: dict[str, list[float]] = {s.name: [] for s in servers}
            steps: dict[str, list[float]] = {s.name: [] for s in servers}
            for server in servers:
                first[server.name] = server.run(default_workflow(0, args.size, args.steps, args.sampler,
                                                                 args.scheduler))[0]
            for rep in range(args.reps):
                for server in servers if rep % 2 == 0 else servers[::-1]:
                    total, per_step = server.run(default_workflow(rep + 1, args.size, args.steps, args.sampler,
                                                                  args.scheduler))
                    totals[server.name].append(total)
                    if per_step is not None:
                        steps[server.name].append(per_step)
        finally:
            for server in servers:
                server.stop()

    import torch

    med = statistics.median
    print(f"{args.size}x{args.size}, {args.steps} steps {args.sampler}/{args.scheduler}, cfg 7, {args.reps} runs each "
          f"(alternating), CPU, threads {args.threads or torch.get_num_threads()}")
    print(f"{'':24s} {'toucan_nb':>11s} {'ComfyUI':>11s} {'ratio':>7s}")
    rows = [("first prompt (load) s", first["toucan_nb"], first["ComfyUI"]),
            ("per step ms", med(steps["toucan_nb"]) * 1e3, med(steps["ComfyUI"]) * 1e3),
            ("per prompt s", med(totals["toucan_nb"]), med(totals["ComfyUI"]))]
    for label, a, b in rows:
        print(f"{label:24s} {a:>11.3f} {b:>11.3f} {a / b:>7.2f}")
    print("all runs, prompt s: " + "; ".join(f"{k}: {', '.join(f'{v:.2f}' for v in vals)}" for k, vals in totals.items()))


if __name__ == "__main__":
    main()
