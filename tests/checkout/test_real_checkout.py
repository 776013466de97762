"""Against a real ComfyUI checkout (run when `TOUCAN_NB_COMFYUI_ROOT` names one; skipped otherwise).

The same checkout served twice, by its own `main.py` and by `toucan-nb serve --comfyui-root`, with
one models folder (a random-weight SD1.5 checkpoint and LoRA, tests/support/checkpoints.py) given
to both through `--extra-model-paths-config`: `/object_info` must be equal, and text-to-image,
img2img, LoRA and SamplerCustomAdvanced graphs must give byte-identical pixels
(docs/comfyui-checkout.md §5). The Python running the tests must be able to import that ComfyUI
(`TOUCAN_NB_COMFYUI_PYTHON` runs its `main.py`, default: the same interpreter).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.checkpoints import sd15_checkpoint, sd15_lora
from tests.support.comfy_server import Server

ROOT = os.environ.get("TOUCAN_NB_COMFYUI_ROOT")
PYTHON = os.environ.get("TOUCAN_NB_COMFYUI_PYTHON") or sys.executable
REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not ROOT, reason="TOUCAN_NB_COMFYUI_ROOT does not name a ComfyUI checkout")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with the test checkpoint and LoRA, and the yaml that gives it to a server."""
    base = tmp_path_factory.mktemp("models")
    for folder, source in (("checkpoints", sd15_checkpoint()), ("loras", sd15_lora())):
        (base / folder).mkdir()
        (base / folder / source.name).symlink_to(source)
    yaml = base / "extra_model_paths.yaml"
    yaml.write_text(f"toucan_tests:\n  base_path: {base}\n  checkpoints: checkpoints\n  loras: loras\n")
    return yaml


@pytest.fixture(scope="module")
def servers(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    assert ROOT is not None
    common = ["--cpu", "--extra-model-paths-config", str(models)]
    comfyui = Server([PYTHON, "main.py", *common, "--database-url", "sqlite:///:memory:"],
                     tmp_path_factory.mktemp("comfyui"), ROOT, "comfyui")
    try:
        toucan = Server([sys.executable, "-m", "toucan_nb", "serve", "--comfyui-root", ROOT, "--no-persist", *common],
                        tmp_path_factory.mktemp("toucan"), str(REPO), "toucan")
    except BaseException:
        comfyui.stop()
        raise
    yield comfyui, toucan
    toucan.stop()
    comfyui.stop()


def test_object_info_equals_comfyuis(servers: tuple[Server, Server]) -> None:
    comfyui, toucan = servers
    theirs, ours = comfyui.json("/object_info"), toucan.json("/object_info")
    assert list(ours) == list(theirs)
    assert [k for k in theirs if ours[k] != theirs[k]] == []
    assert sd15_checkpoint().name in ours["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]


def test_model_lists_equal_comfyuis(servers: tuple[Server, Server]) -> None:
    comfyui, toucan = servers
    assert toucan.json("/models") == comfyui.json("/models")
    for folder in ("checkpoints", "loras", "embeddings"):
        assert toucan.json(f"/models/{folder}") == comfyui.json(f"/models/{folder}")


def loader() -> dict[str, Any]:
    return {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": sd15_checkpoint().name}}}


def encode(model: list[Any], clip: list[Any]) -> dict[str, Any]:
    return {"2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a toucan on a branch", "clip": clip}},
            "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": clip}}}


def ksampler(model: list[Any], latent: list[Any], denoise: float, sampler: str, scheduler: str) -> dict[str, Any]:
    return {"5": {"class_type": "KSampler", "inputs": {
        "model": model, "seed": 42, "steps": 4, "cfg": 6.5, "sampler_name": sampler, "scheduler": scheduler,
        "positive": ["2", 0], "negative": ["3", 0], "latent_image": latent, "denoise": denoise}}}


def decode_and_save(samples: list[Any], prefix: str) -> dict[str, Any]:
    return {"6": {"class_type": "VAEDecode", "inputs": {"samples": samples, "vae": ["1", 2]}},
            "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": prefix}}}


def empty_latent() -> dict[str, Any]:
    return {"4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}}}


def text_to_image() -> dict[str, Any]:
    return {**loader(), **encode(["1", 0], ["1", 1]), **empty_latent(),
            **ksampler(["1", 0], ["4", 0], 1.0, "euler_ancestral", "karras"), **decode_and_save(["5", 0], "t2i")}


def image_to_image() -> dict[str, Any]:
    return {**loader(), **encode(["1", 0], ["1", 1]),
            "8": {"class_type": "LoadImage", "inputs": {"image": "toucan_in.png"}},
            "4": {"class_type": "VAEEncode", "inputs": {"pixels": ["8", 0], "vae": ["1", 2]}},
            **ksampler(["1", 0], ["4", 0], 0.6, "dpmpp_2m", "normal"), **decode_and_save(["5", 0], "i2i")}


def with_lora() -> dict[str, Any]:
    return {**loader(), "9": {"class_type": "LoraLoader", "inputs": {
                "model": ["1", 0], "clip": ["1", 1], "lora_name": sd15_lora().name,
                "strength_model": 0.8, "strength_clip": 0.7}},
            **encode(["9", 0], ["9", 1]), **empty_latent(),
            **ksampler(["9", 0], ["4", 0], 1.0, "euler", "normal"), **decode_and_save(["5", 0], "lora")}


def custom_sampling() -> dict[str, Any]:
    return {**loader(), **encode(["1", 0], ["1", 1]), **empty_latent(),
            "10": {"class_type": "RandomNoise", "inputs": {"noise_seed": 7}},
            "11": {"class_type": "CFGGuider", "inputs": {"model": ["1", 0], "positive": ["2", 0],
                                                          "negative": ["3", 0], "cfg": 5.0}},
            "12": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "dpmpp_2m_sde"}},
            "13": {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "karras",
                                                               "steps": 4, "denoise": 1.0}},
            "5": {"class_type": "SamplerCustomAdvanced", "inputs": {
                "noise": ["10", 0], "guider": ["11", 0], "sampler": ["12", 0], "sigmas": ["13", 0],
                "latent_image": ["4", 0]}},
            **decode_and_save(["5", 0], "custom")}


@pytest.mark.parametrize("graph", [text_to_image, image_to_image, with_lora, custom_sampling],
                         ids=["text-to-image", "img2img", "lora", "sampler-custom-advanced"])
def test_identical_pixels(servers: tuple[Server, Server], graph: Any) -> None:
    comfyui, toucan = servers
    [theirs] = comfyui.run(graph())
    [ours] = toucan.run(graph())
    assert theirs.std() > 2  # a real picture, not a flat one that any pipeline would match
    assert ours.shape == theirs.shape and ours.tobytes() == theirs.tobytes()


def test_kernel_runtime_gives_the_same_pixels(servers: tuple[Server, Server], models: Path, tmp_path: Path) -> None:
    """The notebook's way in (`runtime(comfyui_root=...)` in a fresh process, as in a kernel)."""
    comfyui, _ = servers
    [theirs] = comfyui.run(text_to_image())
    code = f"""
import json, os, sys
import numpy as np
from PIL import Image
from toucan_nb.notebook import runtime
rt = runtime(comfyui_root={ROOT!r}, base_dir={str(tmp_path)!r}, cpu=True, persist=False,
             comfyui_args=["--extra-model-paths-config", {str(models)!r}])
entry = rt.run(json.loads(sys.argv[1]), timeout=600)
assert entry.completed, entry.messages
image = entry.outputs["7"]["images"][0]
path = os.path.join(rt.folders.output_dir, image["subfolder"], image["filename"])
np.save(sys.argv[2], np.asarray(Image.open(path).convert("RGB")))
rt.stop()
"""
    out = tmp_path / "pixels.npy"
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(text_to_image()), str(out)], cwd=str(REPO),
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 0, proc.stderr[-5000:]
    ours = np.load(out)
    assert ours.shape == theirs.shape and ours.tobytes() == theirs.tobytes()
