"""What the sampler nodes do through a running runtime besides their numbers (docs/diffusion.md §5):
one progress update per step, previews only when asked (prompt or server method; latent2rgb or
TAESD), an interrupt within one step, a new seed re-running only the sampler and what follows,
a model file read once for two loaders, and POST /free unloading the engine's models."""

from __future__ import annotations

import gc
import io
import threading
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from tests.unit.nodes import workflow_cases as wc
from tests.unit.nodes.test_workflow_goldens import rt  # noqa: F401  (the started runtime fixture)
from toucan_nb.diffusion import files, memory
from toucan_nb.runtime import events, preview_settings


def default_workflow(seed: int, steps: int) -> dict[str, Any]:
    graph = wc.base(seed=seed, steps=steps, decode=True)
    graph["9"] = {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "runtime"}}
    return graph


class Recorder:
    """Progress, previews and executing events of the runtime's bus."""

    def __init__(self, runtime: Any) -> None:
        self.progress: list[tuple[str, float, float]] = []
        self.previews: list[events.PreviewImage] = []
        self.executing: list[str] = []
        self.on_progress: Any = None
        self.close = runtime.events.subscribe(self._on_event)

    def _on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Progress):
            self.progress.append((event.node, event.value, event.max))
            if self.on_progress is not None:
                self.on_progress(event)
        elif isinstance(event, events.PreviewImage):
            self.previews.append(event)
        elif isinstance(event, events.Executing) and event.node is not None:
            self.executing.append(event.node)


def run(runtime: Any, prompt: dict[str, Any], **kwargs: Any) -> Any:
    entry = runtime.run(prompt, timeout=600, **kwargs)
    assert entry.status_str == "success", entry.messages
    return entry


def sampler_steps(rec: Recorder) -> list[tuple[str, float, float]]:
    return [p for p in rec.progress if p[0] == "3"]


def test_progress_and_previews_per_step_and_a_new_seed_reruns_only_the_sampler(rt: Any) -> None:  # noqa: F811
    run(rt, default_workflow(seed=1, steps=3))
    rec = Recorder(rt)
    try:
        run(rt, default_workflow(seed=2, steps=3), extra_data={"preview_method": "latent2rgb"})
    finally:
        rec.close()
    # The checkpoint, the prompts and the empty latent are cached: KSampler and what follows run.
    assert rec.executing == ["3", "8", "9"]
    assert sampler_steps(rec) == [("3", 1, 3), ("3", 2, 3), ("3", 3, 3)]
    assert len(rec.previews) == 3 and {p.node_id for p in rec.previews} == {"3"}
    preview = rec.previews[0].image
    assert preview.format == "JPEG" and preview.max_size == 512
    # latent2rgb: one pixel per latent pixel (8x8), fitted into preview_size as ComfyUI does.
    assert Image.open(io.BytesIO(preview.encoded())).size == (512, 512)


def test_no_previews_unless_asked(rt: Any) -> None:  # noqa: F811
    rec = Recorder(rt)
    try:
        run(rt, default_workflow(seed=3, steps=2))
    finally:
        rec.close()
    assert len(sampler_steps(rec)) == 2 and rec.previews == []


def test_taesd_previews_when_its_decoder_is_in_vae_approx(rt: Any) -> None:  # noqa: F811
    from safetensors.torch import save_file

    from toucan_nb.diffusion.previews import taesd_decoder

    torch.manual_seed(0)
    folder = Path(rt.folders.get_folder_paths("vae_approx")[0])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "taesd_decoder.safetensors"
    save_file({k: v.contiguous() for k, v in taesd_decoder().state_dict().items()}, str(path))
    rec = Recorder(rt)
    try:
        run(rt, default_workflow(seed=6, steps=2), extra_data={"preview_method": "taesd"})
    finally:
        rec.close()
        path.unlink()
    assert len(rec.previews) == 2
    # TAESD decodes to image size (64x64; latent2rgb would give 8x8), before fitting to preview_size.
    assert {p.image._image.size for p in rec.previews} == {(64, 64)}


def test_the_server_preview_method_applies_unless_the_prompt_says_otherwise(rt: Any, monkeypatch: Any) -> None:  # noqa: F811
    monkeypatch.setattr(preview_settings, "_server_method", "latent2rgb")
    rec = Recorder(rt)
    try:
        run(rt, default_workflow(seed=8, steps=2))
        server_default = len(rec.previews)
        run(rt, default_workflow(seed=9, steps=2), extra_data={"preview_method": "none"})
    finally:
        rec.close()
    assert server_default == 2 and len(rec.previews) == 2
    assert rec.previews[0].image._image.size == (8, 8)  # latent2rgb


def test_an_interrupt_lands_within_one_step(rt: Any) -> None:  # noqa: F811
    rec = Recorder(rt)
    fired = threading.Event()

    def interrupt(event: events.Progress) -> None:
        if event.node == "3" and not fired.is_set():
            fired.set()
            rt.interrupt()

    rec.on_progress = interrupt
    try:
        entry = rt.run(default_workflow(seed=4, steps=10), timeout=600)
    finally:
        rec.close()
    assert fired.is_set() and entry.status_str == "error"
    assert any(m[0] == "execution_interrupted" for m in entry.messages)
    assert sampler_steps(rec) == [("3", 1, 10)]


def test_a_model_file_is_read_once_for_two_loaders(rt: Any, monkeypatch: Any) -> None:  # noqa: F811
    reads: list[str] = []
    real = files.load_state_dict

    def counting(path: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(files, "load_state_dict", counting)
    prompt = default_workflow(seed=5, steps=1)
    prompt["20"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": wc.CHECKPOINT}}
    prompt["7"]["inputs"]["clip"] = ["20", 1]
    prompt["8"]["inputs"]["vae"] = ["20", 2]
    rt.free(free_memory=True)  # drop the cached node outputs: both loaders run
    gc.collect()
    run(rt, prompt)
    assert len(reads) <= 1  # at most once (not at all while the parts of earlier runs are alive)


def test_free_unload_models_runs_the_engines_unload(rt: Any) -> None:  # noqa: F811
    assert memory.unload_all in rt.unload_hooks  # added by the host at start-up
    done = threading.Event()
    rt.unload_hooks.append(done.set)
    try:
        rt.free(unload_models=True)
        assert done.wait(10)  # applied by the executor thread while idle
    finally:
        rt.unload_hooks.remove(done.set)
