"""Record ComfyUI's outputs for the workflow golden matrix (tests/unit/nodes/workflow_cases.py).

Runs under a ComfyUI checkout's interpreter, CPU only, and imports ComfyUI (it contains none of it):

    /work/ref/cvenv/bin/python scripts/goldens/record_workflows.py [--comfyui /work/ref/ComfyUI] [--only CASE ...]

Each case's API prompt goes through ComfyUI's own `PromptExecutor` (as `main.py --cpu` runs a queued
prompt, one executor and its caches for the whole run), with the test checkpoint, LoRA and LoCon of
tests/support/checkpoints.py linked into a scratch models folder and the input image written by the
cases module. The listed outputs are read from the executor's output cache and stored as summaries
(record_models.summary) in tests/unit/nodes/goldens/workflows.json, with the files' sha256. The
starting noise of the KSampler ("3") is stored as a sha256 of its bytes (compared bit for bit).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
import tempfile
import types
from pathlib import Path

from record_models import checkpoints, digest, setup_comfyui, summary

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "unit" / "nodes" / "goldens" / "workflows.json"


def cases_module() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("toucan_workflow_cases", REPO / "tests" / "unit" / "nodes" / "workflow_cases.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Server:
    """What PromptExecutor needs of ComfyUI's PromptServer: somewhere to send events."""

    client_id = None
    last_node_id = None
    last_prompt_id = None

    def send_sync(self, event, data, sid=None) -> None:
        if event == "execution_error":
            print("execution_error:", data.get("node_type"), data.get("exception_message"), file=sys.stderr)


def value_summary(value) -> dict:
    """A node output as the tests compare it."""
    import torch

    if isinstance(value, dict) and "samples" in value:  # LATENT
        out = {"samples": summary(value["samples"])}
        if "noise_mask" in value:
            out["noise_mask"] = summary(value["noise_mask"])
        if "batch_index" in value:
            out["batch_index"] = list(value["batch_index"])
        return out
    if isinstance(value, list) and value and isinstance(value[0], list):  # CONDITIONING
        return {"cond": summary(value[0][0]), "pooled": summary(value[0][1]["pooled_output"]), "entries": len(value)}
    if torch.is_tensor(value):  # IMAGE, MASK, SIGMAS
        return summary(value)
    raise TypeError(f"cannot summarise {type(value).__name__}")


def noise_digest(latent: dict, seed: int) -> dict:
    import comfy.sample

    noise = comfy.sample.prepare_noise(latent["samples"], seed, latent.get("batch_index"))
    return {"sha256": hashlib.sha256(noise.contiguous().numpy().tobytes()).hexdigest(), "shape": list(noise.shape)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--comfyui", default="/work/ref/ComfyUI")
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    setup_comfyui(args.comfyui)
    import asyncio
    import importlib

    # ComfyUI's root `utils` package before `nodes` (which puts comfy/ and its utils.py first on
    # sys.path), so that the comfy_extras modules importing `utils.install_util` load.
    importlib.import_module("utils.extra_config")
    import execution
    import folder_paths
    import nodes
    import torch

    ck, wc = checkpoints(), cases_module()
    scratch = Path(tempfile.mkdtemp(prefix="toucan-workflows-"))
    files = {wc.CHECKPOINT: ck.sd15_checkpoint(), wc.LORA: ck.sd15_lora(), wc.LOCON: ck.sd15_locon()}
    for folder, name in (("checkpoints", wc.CHECKPOINT), ("loras", wc.LORA), ("loras", wc.LOCON)):
        (scratch / folder).mkdir(exist_ok=True)
        (scratch / folder / name).symlink_to(files[name])
        folder_paths.add_model_folder_path(folder, str(scratch / folder), is_default=True)
    (scratch / "input").mkdir()
    wc.write_inputs(scratch / "input")
    folder_paths.set_input_directory(str(scratch / "input"))
    folder_paths.set_output_directory(str(scratch / "output"))
    folder_paths.set_temp_directory(str(scratch / "temp"))
    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False))

    executor = execution.PromptExecutor(_Server(), cache_type=False, cache_args={"lru": 0, "ram": 0})
    previous = json.loads(args.out.read_text()) if args.out.exists() and args.only else {"cases": {}}
    result = {"files": {name: digest(path) for name, path in files.items()},
              "torch": torch.__version__, "cases": previous["cases"]}
    all_cases = wc.cases()
    for name in args.only or list(all_cases):
        case = all_cases[name]
        prompt = case["graph"]
        wanted = {node for node, _ in case["outputs"].values()}
        sampler = prompt.get("3")
        noisy = sampler is not None and sampler["inputs"].get("add_noise", "enable") == "enable"
        if noisy:
            wanted.add(sampler["inputs"]["latent_image"][0])
        executor.execute(prompt, f"golden-{name}", {}, sorted(wanted))
        assert executor.success, f"{name}: ComfyUI failed"
        entry = {}
        for label, (node, index) in case["outputs"].items():
            entry[label] = value_summary(executor.caches.outputs.get(node).outputs[index][0])
        if noisy:
            src, index = sampler["inputs"]["latent_image"]
            seed = sampler["inputs"].get("seed", sampler["inputs"].get("noise_seed"))
            entry["noise"] = noise_digest(executor.caches.outputs.get(src).outputs[index][0], seed)
        result["cases"][name] = entry
        print(f"{name}: recorded {sorted(entry)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
