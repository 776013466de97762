"""`toucan-nb serve --comfyui-root` on a fake checkout (tests/support/fake_checkout.py): the registry
is exactly the checkout's, its folders are ComfyUI's, and the host duties reach ComfyUI's modules
(docs/comfyui-checkout.md)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests.protocol.support import REPO, ServeProcess, new_client_id, recv
from tests.support.fake_checkout import write_fake_checkout

EXPECTED = ["EmptyImage", "EmptyLatentImage", "CheckpointLoaderSimple", "KSampler", "ContextProbe", "BlockImage",
            "SaveImage",
            "ImageInvertV3", "FakePackPing"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_fake_checkout(str(tmp_path_factory.mktemp("ComfyUI")))


@pytest.fixture(scope="module")
def server(root: str) -> Iterator[ServeProcess]:
    srv = ServeProcess(root, "--comfyui-root", root, "--lowvram", "--no-persist")
    yield srv
    srv.stop()


def run(server: ServeProcess, prompt: dict[str, Any], extra: dict[str, Any] | None = None,
        until: str = "done", interrupt_after_progress: bool = False) -> tuple[str, list[Any]]:
    """Queue `prompt` with a /ws client; every message up to the prompt's end (`executing` null)."""
    client_id = new_client_id()
    ws = server.ws(client_id)
    messages: list[Any] = []
    try:
        recv(ws)
        body = {"prompt": prompt, "client_id": client_id, "extra_data": extra or {}}
        resp = server.post("/prompt", body)
        assert resp.status == 200, resp.body
        prompt_id = resp.json()["prompt_id"]
        interrupted = False
        while True:
            msg = recv(ws)
            messages.append(msg)
            if interrupt_after_progress and not interrupted and isinstance(msg, dict) and msg["type"] == "progress":
                assert server.post("/interrupt").status == 200
                interrupted = True
            if msg == {"type": "executing", "data": {"node": None, "prompt_id": prompt_id}}:
                return prompt_id, messages
    finally:
        ws.close()


def of_type(messages: list[Any], kind: str) -> list[dict[str, Any]]:
    return [m["data"] for m in messages if isinstance(m, dict) and m["type"] == kind]


def test_registry_is_exactly_the_checkouts_classes(server: ServeProcess) -> None:
    info = server.get("/object_info").json()
    assert list(info) == EXPECTED  # no built-in toucan_nb class (LoadImage ...), ComfyUI's order
    assert info["EmptyLatentImage"]["category"] == "fake_checkout"  # the checkout's wins over the built-in
    assert info["EmptyLatentImage"]["input"]["required"] == {"size": ["INT", {"default": 4}]}
    assert info["ImageInvertV3"]["python_module"] == "comfy_extras.nodes_invert"
    assert info["ImageInvertV3"]["display_name"] == "Invert (V3)"
    assert info["FakePackPing"]["python_module"] == "custom_nodes.fake_pack"
    assert info["KSampler"]["display_name"] == "KSampler (fake)"
    assert info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"] == [["fake_model.safetensors"]]
    assert "Cannot import" in server.log() and "broken_pack" in server.log()  # logged and skipped


def test_model_folders_are_comfyuis(server: ServeProcess, root: str) -> None:
    kinds = server.get("/models").json()
    assert kinds[:4] == ["checkpoints", "loras", "embeddings", "custom_nodes"]
    assert "fake_pack_models" in kinds  # added by a pack at import
    assert server.get("/models/checkpoints").json() == ["fake_model.safetensors"]
    assert server.get("/embeddings").json() == ["fake_embedding"]


def test_prestartup_script_ran_before_comfys_modules(server: ServeProcess, root: str) -> None:
    with open(os.path.join(root, "custom_nodes", "fake_pack", "prestartup.log")) as f:
        assert f.read() == "before"


def test_pack_route_is_served(server: ServeProcess) -> None:
    resp = server.get("/fake_pack/hello")
    assert resp.status == 200 and resp.json() == {"hello": "from fake_pack"}


def test_v3_and_v1_classes_run_and_save_where_comfyui_says(server: ServeProcess) -> None:
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 4, "height": 2, "value": 0.25}},
              "2": {"class_type": "ImageInvertV3", "inputs": {"image": ["1", 0]}},
              "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "inv"}}}
    prompt_id, messages = run(server, prompt)
    assert not of_type(messages, "execution_error")
    images = server.get(f"/history/{prompt_id}").json()[prompt_id]["outputs"]["3"]["images"]
    path = os.path.join(server.dirs["out"], images[0]["filename"])  # --output-directory reached folder_paths
    image = Image.open(path)
    assert image.getpixel((0, 0)) == (191, 191, 191) and image.size == (4, 2)


def test_comfyuis_execution_blocker_blocks(server: ServeProcess) -> None:
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 2, "height": 2, "value": 0.5}},
              "2": {"class_type": "BlockImage", "inputs": {"image": ["1", 0]}},
              "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "blocked"}}}
    prompt_id, messages = run(server, prompt)
    assert of_type(messages, "execution_success") and not of_type(messages, "executed")
    assert server.get(f"/history/{prompt_id}").json()[prompt_id]["outputs"] == {}


def test_flags_context_and_inference_mode_reach_node_code(server: ServeProcess) -> None:
    prompt_id, messages = run(server, {"7": {"class_type": "ContextProbe", "inputs": {"value": 1}}})
    [executed] = of_type(messages, "executed")
    # ComfyUI's get_executing_context() names the running node; torch.inference_mode is on; --lowvram
    # was in comfy.cli_args.args when comfy.model_management was imported.
    assert executed["output"]["text"] == [prompt_id, "7", "True", "True"]
    # comfy_execution.progress.get_progress_state() reported to the running prompt's progress_state
    states = [s["nodes"]["7"] for s in of_type(messages, "progress_state") if "7" in s["nodes"]]
    assert any(s["value"] == 1 and s["max"] == 2 for s in states)


def test_progress_and_previews_per_prompt_preview_method(server: ServeProcess) -> None:
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 2, "height": 2, "value": 0.5}},
              "2": {"class_type": "KSampler", "inputs": {"image": ["1", 0], "steps": 3}},
              "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "k"}}}
    _, messages = run(server, prompt, extra={"preview_method": "latent2rgb"})
    progress = [(p["value"], p["max"], p["node"]) for p in of_type(messages, "progress")]
    assert progress == [(1, 3, "2"), (2, 3, "2"), (3, 3, "2")]
    frames = [m for m in messages if isinstance(m, bytes)]  # the route set may skip superseded previews
    assert frames and all(f[:8] == b"\x00\x00\x00\x01\x00\x00\x00\x01" for f in frames)
    preview = Image.open(io.BytesIO(frames[0][8:]))  # the fake's red latent2rgb picture, JPEG
    assert preview.format == "JPEG" and preview.size == (512, 512)  # --preview-size 512, as ComfyUI scales
    red, green, _ = preview.getpixel((0, 0))
    assert red > 200 and green < 60
    prompt["2"]["inputs"]["steps"] = 2  # a new prompt without the option: the server default (none)
    _, messages = run(server, prompt)
    assert len(of_type(messages, "progress")) == 2 and not [m for m in messages if isinstance(m, bytes)]


def test_interrupt_stops_the_sampler_within_a_step(server: ServeProcess) -> None:
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 2, "height": 2, "value": 0.5}},
              "2": {"class_type": "KSampler", "inputs": {"image": ["1", 0], "steps": 10**8}},
              "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "k"}}}
    _, messages = run(server, prompt, interrupt_after_progress=True)
    [interrupted] = of_type(messages, "execution_interrupted")
    assert interrupted["node_id"] == "2"
    assert of_type(messages, "progress")[-1]["value"] < 10**8


def test_send_sync_reaches_ws(server: ServeProcess) -> None:
    _, messages = run(server, {"1": {"class_type": "FakePackPing", "inputs": {"text": "hi"}}})
    assert of_type(messages, "fake_pack.ping") == [{"text": "hi"}]


def test_free_unloads_comfyuis_models(server: ServeProcess, root: str) -> None:
    log = os.path.join(root, "unloads.log")
    assert server.post("/free", {"unload_models": True}).status == 200
    deadline = time.monotonic() + 10
    while not os.path.exists(log):  # the executor thread applies /free within its 0.5 s idle wait
        assert time.monotonic() < deadline, "comfy.model_management.unload_all_models was not called"
        time.sleep(0.05)
    with open(log) as f:
        assert f.read().splitlines() == ["unload_all_models"]


def test_a_missing_checkout_is_one_clear_error(tmp_path: Any) -> None:
    proc = subprocess.run([sys.executable, "-m", "toucan_nb", "serve", "--port", "0", "--comfyui-root",
                           str(tmp_path / "nope")], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--comfyui-root" in proc.stderr and "not a ComfyUI checkout" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_broken_checkout_is_one_clear_error(tmp_path: Any) -> None:
    root = write_fake_checkout(str(tmp_path / "ComfyUI"))
    with open(os.path.join(root, "comfy", "model_management.py"), "a") as f:
        f.write("\nraise RuntimeError('no usable device')\n")
    proc = subprocess.run([sys.executable, "-m", "toucan_nb", "serve", "--port", "0", "--cpu", "--no-persist",
                           "--comfyui-root", root], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert f"ComfyUI checkout {root}: importing comfy.model_management failed: RuntimeError: no usable device" \
        in proc.stderr
    assert "Traceback" not in proc.stderr


def test_notebook_reads_the_environment_variable(tmp_path: Any) -> None:
    root = write_fake_checkout(str(tmp_path / "ComfyUI"))
    code = ("import json; from toucan_nb.notebook import runtime; rt = runtime(cpu=True, persist=False); "
            "print(json.dumps([list(rt.registry), rt.folders.models_dir])); rt.stop()")
    env = {**os.environ, "TOUCAN_NB_COMFYUI_ROOT": root}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    classes, models_dir = json.loads(proc.stdout.strip().splitlines()[-1])
    # ComfyUI's classes, plus the notebook's own cell-output node
    assert classes == [*EXPECTED, "ToucanCapture"] and models_dir == os.path.join(root, "models")
