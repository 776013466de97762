"""The diffusion nodes through the runtime, against ComfyUI's own run of the same graphs.

The graphs are tests/unit/nodes/diffusion_graphs.py; ComfyUI's outputs were recorded by
scripts/goldens/record_nodes.py into tests/unit/nodes/goldens/. Tolerances (docs/diffusion-nodes.md
§4): noise bit for bit, latents and conditioning within 1e-4 of their range, images within one
8-bit level, and images must vary. The runtime tests check per-step progress and previews,
interrupts, caching across seeds, the read-once model cache and /free.
"""

from __future__ import annotations

import gc
import io
import json
import os
import shutil
import threading
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
from toucan_nb.diffusion import files, memory
from toucan_nb.diffusion.sampling.noise import prepare_noise
from toucan_nb.host.assembly import start_runtime
from toucan_nb.nodes import step_progress
from toucan_nb.runtime import device, events, folders
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


class _Recorder:
    """Collects the runtime's progress, preview and executing events of one prompt."""

    def __init__(self, rt: Runtime) -> None:
        self.progress: list[tuple[str | None, float, float]] = []
        self.previews: list[events.PreviewImage] = []
        self.executing: list[str] = []
        self.on_progress: Any = None
        self._unsubscribe = rt.events.subscribe(self._on_event)

    def _on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Progress):
            self.progress.append((event.node, event.value, event.max))
            if self.on_progress is not None:
                self.on_progress(event)
        elif isinstance(event, events.PreviewImage):
            self.previews.append(event)
        elif isinstance(event, events.Executing) and event.node is not None:
            self.executing.append(event.node)

    def close(self) -> None:
        self._unsubscribe()


def test_progress_and_previews_per_step_and_new_seed_reruns_only_the_sampler(rt):
    _run(rt, graphs.default_workflow(seed=1, steps=3))
    rec = _Recorder(rt)
    try:
        _run(rt, graphs.default_workflow(seed=2, steps=3), extra_data={"preview_method": "latent2rgb"})
    finally:
        rec.close()
    # The checkpoint, the prompts and the latent are cached: KSampler and what follows run.
    assert rec.executing == ["3", "8", "9"]
    assert [p for p in rec.progress if p[0] == "3"] == [("3", 1, 3), ("3", 2, 3), ("3", 3, 3)]
    assert len(rec.previews) == 3 and {p.node_id for p in rec.previews} == {"3"}
    preview = rec.previews[0].image
    assert preview is not None and preview.format == "JPEG" and preview.max_size == 512
    # latent2rgb gives one pixel per latent pixel (8x8); the frame is fitted to preview_size, as ComfyUI's.
    assert Image.open(io.BytesIO(preview.encoded())).size == (512, 512)


def test_no_previews_unless_asked(rt):
    rec = _Recorder(rt)
    try:
        _run(rt, graphs.default_workflow(seed=3, steps=2))
    finally:
        rec.close()
    assert len([p for p in rec.progress if p[0] == "3"]) == 2 and rec.previews == []


def test_taesd_previews_when_its_decoder_is_in_vae_approx(rt):
    from safetensors.torch import save_file

    from toucan_nb.diffusion.previews import taesd_decoder

    torch.manual_seed(0)
    folder = Path(rt.folders.get_folder_paths("vae_approx")[0])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "taesd_decoder.safetensors"
    save_file({k: v.contiguous() for k, v in taesd_decoder().state_dict().items()}, str(path))
    rec = _Recorder(rt)
    try:
        _run(rt, graphs.default_workflow(seed=6, steps=2), extra_data={"preview_method": "taesd"})
    finally:
        rec.close()
        path.unlink()
    assert len(rec.previews) == 2
    assert all(p.image is not None and p.image._image.size == (64, 64) for p in rec.previews)  # x8: TAESD


def test_server_preview_method_applies_unless_the_prompt_says_otherwise(rt, monkeypatch):
    monkeypatch.setattr(step_progress, "_server_method", "latent2rgb")
    rec = _Recorder(rt)
    try:
        _run(rt, graphs.default_workflow(seed=8, steps=2))
        server_default = len(rec.previews)
        _run(rt, graphs.default_workflow(seed=9, steps=2), extra_data={"preview_method": "none"})
    finally:
        rec.close()
    assert server_default == 2 and len(rec.previews) == 2
    assert rec.previews[0].image is not None and rec.previews[0].image._image.size == (8, 8)


def test_interrupt_lands_within_one_step(rt):
    rec = _Recorder(rt)
    fired = threading.Event()

    def interrupt(event: events.Progress) -> None:
        if event.node == "3" and not fired.is_set():
            fired.set()
            rt.interrupt()

    rec.on_progress = interrupt
    try:
        entry = rt.run(graphs.default_workflow(seed=4, steps=10), timeout=600)
    finally:
        rec.close()
    assert fired.is_set()
    assert entry.status_str == "error"
    assert any(m[0] == "execution_interrupted" for m in entry.messages)
    assert [p for p in rec.progress if p[0] == "3"] == [("3", 1, 10)]


def test_model_file_read_once_for_two_loaders(rt, monkeypatch):
    reads: list[str] = []
    real = files.load_state_dict

    def counting(path: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(files, "load_state_dict", counting)
    prompt = graphs.default_workflow(seed=5, steps=1)
    prompt["20"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": graphs.CHECKPOINT}}
    prompt["7"]["inputs"]["clip"] = ["20", 1]
    prompt["8"]["inputs"]["vae"] = ["20", 2]
    rt.free(free_memory=True)  # drop cached node outputs: both loaders run
    gc.collect()
    _run(rt, prompt)
    assert len(reads) <= 1  # at most once (none while the parts of earlier runs are still alive)
    for index in range(3):
        assert _value(rt, "4", index) is _value(rt, "20", index)


def test_free_unload_models_runs_the_engine_unload(rt):
    assert memory.unload_all in rt.unload_hooks  # wired by the host at start-up
    done = threading.Event()
    rt.unload_hooks.append(done.set)
    try:
        rt.free(unload_models=True)
        assert done.wait(10)  # applied by the runtime's thread while idle
    finally:
        rt.unload_hooks.remove(done.set)


# -- the frontend's templates (comfyui-workflow-templates) ------------------------------------------

_FRONTEND_ONLY = {"Note", "MarkdownNote", "PrimitiveNode", "Reroute"}


def _template(template_id: str) -> dict[str, Any]:
    loader = pytest.importorskip("comfyui_workflow_templates_core.loader")
    with open(loader.get_asset_path(template_id, f"{template_id}.json"), encoding="utf-8") as f:
        return json.load(f)


def _small(prompt: dict[str, Any], steps: int) -> dict[str, Any]:
    """The template's graph on the test checkpoint, a 64x64 latent and a few steps."""
    for node in prompt.values():
        inputs = node["inputs"]
        if node["class_type"] == "CheckpointLoaderSimple":
            inputs["ckpt_name"] = graphs.CHECKPOINT
        elif node["class_type"] == "EmptyLatentImage":
            inputs.update(width=64, height=64, batch_size=1)
        if isinstance(inputs.get("steps"), int):
            # KSamplerAdvanced's step window keeps its share of the schedule (base 20/25, refiner 20-).
            original, inputs["steps"] = inputs["steps"], steps
            for key in ("end_at_step", "start_at_step"):
                if isinstance(inputs.get(key), int) and inputs[key] <= original:
                    inputs[key] = round(inputs[key] * steps / original)
    return prompt


@pytest.mark.parametrize("template_id", ["default", "sdxl_simple_example", "sdxl_refiner_prompt_example",
                                         "sdxlturbo_example"])
def test_templates_use_only_existing_node_classes(rt, template_id):
    used = {node["type"] for node in _template(template_id)["nodes"]} - _FRONTEND_ONLY
    assert used and used <= set(rt.registry), used - set(rt.registry)


@pytest.mark.parametrize("template_id", ["default", "sdxl_simple_example"])
def test_template_runs_on_the_test_checkpoint(rt, template_id):
    from toucan_nb.notebook.ui_workflow import ui_to_api

    prompt = _small(ui_to_api(_template(template_id), rt.registry), steps=5)
    samplers = [k for k, v in prompt.items() if v["class_type"].startswith("KSampler")]
    rec = _Recorder(rt)
    try:
        entry = _run(rt, prompt)
    finally:
        rec.close()
    assert samplers and {p[0] for p in rec.progress} >= set(samplers)
    (saved,) = [o["images"][0] for o in entry.outputs.values() if "images" in o]
    image = np.asarray(Image.open(os.path.join(rt.folders.output_dir, saved["subfolder"], saved["filename"])))
    assert image.shape == (64, 64, 3) and image.std() > 5
