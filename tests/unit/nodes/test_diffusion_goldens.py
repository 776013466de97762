"""The diffusion nodes through the runtime, against ComfyUI's own run of the same graphs.

The graphs are tests/unit/nodes/diffusion_graphs.py; ComfyUI's outputs were recorded by
scripts/goldens/record_nodes.py into tests/unit/nodes/goldens/ (docs/diffusion.md §5). Tolerances:
noise bit for bit, latents and conditioning within 1e-4 of their range, images within one 8-bit
level (and identical to the PNG SaveImage wrote), and images must vary.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from tests.support import checkpoints as ck
from tests.support.model_files import split_file
from tests.unit.diffusion.models.goldens import assert_close, assert_image_close, summarize
from toucan_nb.diffusion.sampling.noise import prepare_noise
from toucan_nb.host.assembly import start_runtime
from toucan_nb.runtime import device, folders
from toucan_nb.runtime.runtime import Runtime, RuntimeConfig

from . import diffusion_graphs as graphs

GOLDENS = Path(__file__).parent / "goldens"


def golden(name: str) -> dict[str, Any]:
    return json.loads((GOLDENS / f"{name}.json").read_text())


def _place(source: Path, target: Path) -> None:
    """A hard link (the runtime refuses symlinks that leave a model folder), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    checkpoint = ck.sd15_checkpoint()
    assert ck.file_digest(checkpoint) == golden("default_workflow")["files"]["checkpoint"], \
        "the test checkpoint differs from the one the goldens were recorded with"
    base = tmp_path_factory.mktemp("diffusion_nodes")
    for folder, name, path in (("checkpoints", graphs.CHECKPOINT, checkpoint),
                               ("loras", graphs.LORA, ck.sd15_lora())):
        os.makedirs(base / "models" / folder, exist_ok=True)
        _place(Path(path), base / "models" / folder / name)
    os.makedirs(base / "models" / "embeddings")
    ck.write_embedding_safetensors(base / "models" / "embeddings")
    for folder, name, prefix in graphs.SPLIT_FILES:
        os.makedirs(base / "models" / folder, exist_ok=True)
        split_file(checkpoint, prefix, base / "models" / folder, name)
    previous_folders = folders._active
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see tests/unit/diffusion/models/conftest.py: faster on a loaded machine
    runtime = start_runtime(Runtime(RuntimeConfig(base_dir=str(base), persist=False, cpu=True)))
    try:
        yield runtime
    finally:
        runtime.stop()
        torch.set_num_threads(threads)
        device.configure()
        folders.set_active(previous_folders) if previous_folders is not None else None


def _value(rt: Runtime, node_id: str, index: int) -> Any:
    entry = rt.executor.outputs.get(node_id)
    assert entry is not None, f"node {node_id} has no cached output"
    return entry.outputs[index][0]


def _pick(value: Any, kind: str) -> torch.Tensor:
    if kind == "latent":
        return value["samples"]
    if kind == "conditioning":
        return value[0][0]
    return value


def _run(rt: Runtime, prompt: dict[str, Any], **kwargs: Any) -> Any:
    entry = rt.run(prompt, timeout=600, **kwargs)
    assert entry.status_str == "success", entry.messages
    return entry


@pytest.mark.parametrize("name", sorted(graphs.GRAPHS))
def test_graph_matches_comfyui(rt, name):
    spec = graphs.GRAPHS[name]
    expected = golden(name)
    entry = _run(rt, spec["prompt"])
    for key, stored in expected["outputs"].items():
        node_id, index = key.split(":")
        tensor = _pick(_value(rt, node_id, int(index)), stored["kind"]).float().cpu()
        label = f"nodes {name} {key} ({stored['kind']})"
        if stored["kind"] == "image":
            assert tensor.std() > 0.02 and len(torch.unique((tensor * 255).round())) > 16, "flat image"
            assert_image_close(tensor, stored, label)
        elif stored["kind"] == "sigmas":
            ours = summarize(tensor)
            np.testing.assert_allclose(ours["sample"], stored["sample"], rtol=1e-6, atol=0)
        else:
            assert tensor.std() > 0, "flat tensor"
            assert_close(tensor, stored, label)
    if "noise" in expected:
        node_id, seed = expected["noise"]["node"], expected["noise"]["seed"]
        noise = summarize(prepare_noise(_value(rt, node_id, 0)["samples"], seed))
        assert all(noise[k] == expected["noise"][k] for k in ("shape", "corner", "sample", "min", "max"))
    # SaveImage wrote what the image output holds, in 8 bits.
    saved = entry.outputs["9"]["images"][0]
    png = np.asarray(Image.open(os.path.join(rt.folders.output_dir, saved["subfolder"], saved["filename"])))
    source, index = spec["prompt"]["9"]["inputs"]["images"]
    image = _value(rt, source, index)[0].numpy()
    assert np.array_equal(png, np.clip(image * 255.0, 0, 255).astype(np.uint8))
