"""Per-step cost of KSampler: a ComfyUI checkout's own `main.py` vs `toucan-nb serve --comfyui-root`.

Not a test: run with a Python that can run the checkout and has toucan_nb installed
(docs/comfyui-checkout.md §5), e.g.

    .cvenv/bin/python bench/bench_checkout.py --comfyui-root /path/to/ComfyUI [--size 256] [--steps 20] [--reps 5]

Both servers run at once on the CPU (`--cpu`), each with its own base directory and one models folder
(the random-weight SD1.5 test checkpoint, tests/support/checkpoints.py), and are measured in turn,
alternating, so that drift of the machine hits both. A repetition queues one text-to-image prompt
(a new seed each time: only KSampler, VAEDecode and SaveImage run again) and reads `/ws`: the time
per step is (t(progress N) - t(progress 1)) / (N - 1), the samplers' step plus everything a server
does per step (the progress hook, the interrupt check, the `progress` message); "prompt" is
`execution_start` to the prompt's end. Figures are the best and the median repetition (on a shared
machine the best is the one least disturbed by other load); the last row is toucan's over ComfyUI's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import websocket

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.checkpoints import sd15_checkpoint  # noqa: E402
from tests.support.comfy_server import Server  # noqa: E402 (after the path)


def prompt(size: int, steps: int, seed: int) -> dict[str, Any]:
    ckpt = sd15_checkpoint().name
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a toucan", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "bench"}},
    }


def process_cpu(pid: int) -> float:
    """CPU seconds the process has used (user + system, every thread); 0 where /proc is absent."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(server: Server, body: dict[str, Any]) -> tuple[float, float, float]:
    """(seconds per step, CPU seconds per step, seconds for the prompt) of one run of `body`."""
    client_id = uuid.uuid4().hex
    ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/ws?clientId={client_id}", timeout=600)
    try:
        status, raw = server.request("POST", "/prompt", {"prompt": body, "client_id": client_id})
        assert status == 200, raw
        prompt_id = json.loads(raw)["prompt_id"]
        steps: dict[int, float] = {}
        cpu: dict[int, float] = {}
        start = end = 0.0
        while True:
            msg = ws.recv()
            now = time.perf_counter()
            if isinstance(msg, bytes):
                continue
            event = json.loads(msg)
            data = event.get("data", {})
            if data.get("prompt_id") != prompt_id:
                continue
            if event["type"] == "execution_start":
                start = now
            elif event["type"] == "progress" and data.get("node") == "5":
                if int(data["value"]) not in steps:
                    steps[int(data["value"])] = now
                    cpu[int(data["value"])] = process_cpu(server.proc.pid)
            elif event["type"] == "execution_error":
                raise RuntimeError(data)
            elif event["type"] == "executing" and data.get("node") is None:
                end = now
                break
        n = max(steps)
        return (steps[n] - steps[1]) / (n - 1), (cpu[n] - cpu[1]) / (n - 1), end - start
    finally:
        ws.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comfyui-root", default=os.environ.get("TOUCAN_NB_COMFYUI_ROOT"), required=False)
    parser.add_argument("--comfyui-python", default=os.environ.get("TOUCAN_NB_COMFYUI_PYTHON") or sys.executable)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    if not args.comfyui_root:
        parser.error("--comfyui-root (or TOUCAN_NB_COMFYUI_ROOT) is required")
    tmp = Path(tempfile.mkdtemp(prefix="bench_checkout_"))
    models = tmp / "models"
    (models / "checkpoints").mkdir(parents=True)
    (models / "checkpoints" / sd15_checkpoint().name).symlink_to(sd15_checkpoint())
    yaml = tmp / "extra_model_paths.yaml"
    yaml.write_text(f"bench:\n  base_path: {models}\n  checkpoints: checkpoints\n")
    common = ["--cpu", "--extra-model-paths-config", str(yaml)]
    servers: dict[str, Server] = {}
    try:
        # Started one after the other inside the try: a server that fails to start stops the other.
        servers["ComfyUI main.py"] = Server([args.comfyui_python, "main.py", *common, "--database-url",
                                             "sqlite:///:memory:"], tmp / "comfyui", args.comfyui_root, "comfyui")
        servers["toucan-nb serve"] = Server([sys.executable, "-m", "toucan_nb", "serve", "--comfyui-root",
                                             args.comfyui_root, "--no-persist", *common], tmp / "toucan", str(REPO),
                                            "toucan")
        results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in servers}
        for server in servers.values():  # warm-up: load the models, fill the caches
            measure(server, prompt(args.size, args.steps, 0))
        for rep in range(args.reps):
            for name, server in servers.items():
                results[name].append(measure(server, prompt(args.size, args.steps, rep + 1)))
        print(f"KSampler euler, {args.size}x{args.size}, {args.steps} steps, {args.reps} reps, CPU")
        columns = ("ms/step best", "median", "cpu ms/step best", "median", "prompt s best", "median")
        print(f"{'':18}" + "".join(f"{c:>{len(c) + 2}}" for c in columns))
        stats = {}
        for name, r in results.items():
            row: list[float] = []
            for i, scale in ((0, 1e3), (1, 1e3), (2, 1.0)):
                values = [x[i] * scale for x in r]
                row += [min(values), statistics.median(values)]
            stats[name] = row
            print(f"{name:18}" + "".join(f"{v:>{len(c) + 2}.2f}" for v, c in zip(row, columns, strict=True)))
        ratio = [t / c if c else float("nan")
                 for t, c in zip(stats["toucan-nb serve"], stats["ComfyUI main.py"], strict=True)]
        print(f"{'toucan / ComfyUI':18}" + "".join(f"{v:>{len(c) + 2}.3f}" for v, c in zip(ratio, columns, strict=True)))
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    main()
