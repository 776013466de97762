"""Record ComfyUI's outputs for the node-level graphs of tests/unit/nodes/diffusion_graphs.py.

Runs under a ComfyUI checkout's interpreter, CPU only. It runs every named API-format graph
through ComfyUI's own executor and node classes in-process (no server, no custom nodes), with the
random-weight test checkpoint and LoRA of tests/support/checkpoints.py in a temporary models
folder, and writes one summary file per graph to tests/unit/nodes/goldens/<name>.json:

    /work/ref/cvenv/bin/python scripts/goldens/record_nodes.py [--comfyui /work/ref/ComfyUI] [--only NAME ...]

Summaries use the format of tests/unit/diffusion/models/goldens.py (never whole tensors). Each file
also names the checkpoint's sha256, the torch version and the ComfyUI commit.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "unit" / "nodes" / "goldens"


def _by_path(name: str, path: Path) -> types.ModuleType:
    """A repository module loaded by path (ComfyUI's checkout has a `tests` package too)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def checkpoints() -> types.ModuleType:
    return _by_path("toucan_test_checkpoints", REPO / "tests" / "support" / "checkpoints.py")


def graphs() -> types.ModuleType:
    return _by_path("toucan_node_graphs", REPO / "tests" / "unit" / "nodes" / "diffusion_graphs.py")


def setup_comfyui(root: str, base: Path) -> None:
    sys.path.insert(0, root)
    sys.argv = [sys.argv[0], "--cpu"]
    import comfy.options

    comfy.options.enable_args_parsing()
    import comfy.cli_args  # noqa: F401  (parses --cpu before model_management is imported)
    import folder_paths

    for sub in ("output", "temp", "input"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    folder_paths.set_output_directory(str(base / "output"))
    folder_paths.set_temp_directory(str(base / "temp"))
    folder_paths.set_input_directory(str(base / "input"))
    for folder in ("checkpoints", "loras", "embeddings", "diffusion_models", "text_encoders", "vae"):
        (base / "models" / folder).mkdir(parents=True, exist_ok=True)
        folder_paths.add_model_folder_path(folder, str(base / "models" / folder), is_default=True)
    g = graphs()
    ck = checkpoints()
    os.symlink(ck.sd15_checkpoint(), base / "models" / "checkpoints" / g.CHECKPOINT)
    os.symlink(ck.sd15_lora(), base / "models" / "loras" / g.LORA)
    ck.write_embedding_safetensors(base / "models" / "embeddings")
    split = _by_path("toucan_test_model_files", REPO / "tests" / "support" / "model_files.py").split_file
    for folder, name, prefix in g.SPLIT_FILES:
        split(ck.sd15_checkpoint(), prefix, base / "models" / folder, name)
    import nodes

    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False))


class _Server:
    """What ComfyUI's executor calls on its server: nothing is sent anywhere."""

    client_id = None
    last_node_id = None
    last_prompt_id = None

    def send_sync(self, *args, **kwargs) -> None:
        pass

    def queue_updated(self) -> None:
        pass


def summary(t) -> dict:
    """Shape, a 4 x 8 corner, 64 evenly spaced values, mean/std/min/max (tests/unit/diffusion/models/goldens.py)."""
    import torch

    t = t.detach().float().cpu()
    flat = t.flatten()
    n = flat.numel()
    index = torch.linspace(0, n - 1, 64).round().long() if n >= 64 else torch.arange(n)
    corner = t.reshape(-1, *t.shape[-2:])[0] if t.ndim >= 2 else t.reshape(1, -1)
    return {"shape": list(t.shape), "corner": corner[:4, :8].tolist(), "sample": flat[index].tolist(),
            "mean": float(flat.mean()), "std": float(flat.std()), "min": float(flat.min()), "max": float(flat.max())}


def pick(value, kind: str):
    if kind == "latent":
        return value["samples"]
    if kind == "conditioning":
        return value[0][0]
    return value  # image, sigmas


def record(name: str, spec: dict, executor) -> dict:
    import comfy.sample
    import execution

    # ComfyUI's own validation first: a graph the server would refuse is not recorded.
    valid, error, outputs_to_run, node_errors = asyncio.run(execution.validate_prompt(name, spec["prompt"], None))
    assert valid, (error, node_errors)
    executor.reset()  # a fresh cache: every node of every graph runs
    executor.execute(spec["prompt"], f"record-{name}", {}, outputs_to_run)
    assert executor.success, executor.status_messages[-1]
    outputs = {}
    for node_id, wanted in spec["record"].items():
        entry = executor.caches.outputs.get(node_id)
        if asyncio.iscoroutine(entry):
            entry = asyncio.run(entry)
        for index, kind in wanted:
            outputs[f"{node_id}:{index}"] = {"kind": kind, **summary(pick(entry.outputs[index][0], kind))}
    result = {"outputs": outputs}
    if "noise" in spec:
        node_id, seed = spec["noise"]
        latent = executor.caches.outputs.get(node_id)
        if asyncio.iscoroutine(latent):
            latent = asyncio.run(latent)
        noise = comfy.sample.prepare_noise(latent.outputs[0][0]["samples"], seed)
        result["noise"] = {"node": node_id, "seed": seed, **summary(noise)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--comfyui", default="/work/ref/ComfyUI")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup_comfyui(args.comfyui, Path(tmp))
        import execution
        import torch

        commit = subprocess.run(["git", "-C", args.comfyui, "rev-parse", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        executor = execution.PromptExecutor(_Server(), cache_type=execution.CacheType.CLASSIC,
                                              cache_args={"lru": 0, "ram": 4.0})
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        ck = checkpoints()
        files = {"checkpoint": ck.file_digest(ck.sd15_checkpoint()), "lora": ck.file_digest(ck.sd15_lora())}
        for name, spec in graphs().GRAPHS.items():
            if args.only and name not in args.only:
                continue
            result = record(name, spec, executor)
            result.update({"graph": name, "files": files, "torch": torch.__version__, "comfyui_commit": commit})
            (out / f"{name}.json").write_text(json.dumps(result, sort_keys=True, separators=(",", ":")) + "\n")
            print(f"wrote {out / (name + '.json')}")


if __name__ == "__main__":
    main()
