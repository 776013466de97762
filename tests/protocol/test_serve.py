"""`toucan-nb` as a process: start time, ComfyUI's harness flags (docs/execution.md §6), the default
frontend, misc routes against vectors/misc_routes.json, clean exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from tests.support.vectors import load

from .support import REPO, ServeProcess, new_client_id, recv, run_prompt

MISC = load("misc_routes.json")
PACKS = os.path.join(REPO, "tests", "packs")


def test_listens_within_five_seconds(server):
    # The runtime (node loading imports torch) starts after the sockets are bound.
    assert server.listening_after < 5.0, server.listening_after


def test_default_frontend_is_served(server):
    index = server.get("/")
    assert index.status == 200 and b"<html" in index.body.lower()
    assert index.headers["Cache-Control"] == "no-cache"
    scripts = [s for s in server.get("/extensions").json() if s.startswith("/extensions/core/")]
    assert scripts and server.get(scripts[0]).status == 200


def test_misc_routes_match_the_vectors(server):
    for key in ("GET /features", "GET /api/features", "GET /embeddings", "GET /models", "GET /models/checkpoints",
                "GET /settings", "GET /settings/Comfy.Nonexistent", "GET /workflow_templates",
                "GET /global_subgraphs", "GET /prompt", "GET /v2/userdata"):
        vec = MISC[key]
        resp = server.get(vec["request"].split(" ", 1)[1])
        assert (resp.status, resp.content_type, resp.json()) == (vec["status"], vec["content_type"], vec["body"]), key
    assert server.get("/models/nonexistent").status == 404
    vectors = load("history_and_jobs.json")
    assert server.get("/jobs").status == vectors["GET /jobs (no /api prefix)"]["status"]
    stats = server.get("/system_stats").json()
    assert list(stats["system"])[:11] == list(MISC["GET /system_stats"]["body"]["system"])
    assert stats["devices"][0]["name"] == "cpu"  # --cpu


def test_object_info_over_http(server):
    info = server.get("/object_info").json()
    vec = load("object_info.json")["object_info"]
    assert set(vec) <= set(info)
    assert server.get("/object_info/ImageInvert").json() == {"ImageInvert": info["ImageInvert"]}


@pytest.mark.slow
def test_comfyui_harness_flags_and_testing_pack(tmp_path):
    """Started as ComfyUI's execution tests start main.py (no `serve` word; extra model paths
    adding the testing pack's folder as custom_nodes), then the ComfyClient flow runs a prompt."""
    yaml_path = tmp_path / "extra_model_paths.yaml"
    yaml_path.write_text(f"testing:\n  custom_nodes: {PACKS}\n")
    proc = ServeProcess(str(tmp_path / "base"), "--extra-model-paths-config", str(yaml_path),
                        "--cache-lru", "100", "--highvram", serve_word=False)
    try:
        info = proc.get("/object_info").json()
        assert "StubImage" in info and info["StubImage"]["python_module"] == "custom_nodes.testing_pack"
        assert "/extensions/testing_pack/testing_pack.js" in proc.get("/extensions").json()
        assert proc.get("/extensions/testing_pack/testing_pack.js").status == 200
        assert "--highvram is a ComfyUI flag that does not apply" in proc.log()
        client_id = new_client_id()
        ws = proc.ws(client_id)
        recv(ws)
        prompt = {"1": {"class_type": "StubImage", "inputs": {"content": "WHITE", "height": 8, "width": 8,
                                                              "batch_size": 1}},
                  "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "harness"}}}
        for run in range(2):
            prompt_id = proc.post("/prompt", {"prompt": prompt, "client_id": client_id}).json()["prompt_id"]
            executed, cached = set(), []
            while True:
                msg = recv(ws)
                if msg["type"] == "executing" and msg["data"]["prompt_id"] == prompt_id:
                    if msg["data"]["node"] is None:
                        break
                    executed.add(msg["data"]["node"])
                if msg["type"] == "execution_cached":
                    cached = msg["data"]["nodes"]
                assert msg["type"] != "execution_error", msg
            assert executed == ({"1", "2"} if run == 0 else set())
            assert cached == ([] if run == 0 else ["1", "2"])
        images = proc.get(f"/history/{prompt_id}").json()[prompt_id]["outputs"]["2"]["images"]
        view = proc.get(f"/view?filename={images[0]['filename']}&type=output&subfolder=")
        assert view.status == 200 and view.body[:4] == b"\x89PNG"
        ws.close()
    finally:
        assert proc.stop() == 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_serve_runs_on_cuda_without_cpu_flag(tmp_path):
    """Without --cpu the server reports the GPU in /system_stats and core nodes run on it: the
    cached outputs keep torch's CUDA allocator holding memory after the prompt."""
    proc = ServeProcess(str(tmp_path), cpu=False)
    try:
        device = proc.get("/system_stats").json()["devices"][0]
        assert device["type"] == "cuda" and device["index"] == 0 and device["vram_total"] > 0
        prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 2,
                                                               "color": 0x336699}},
                  "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 3, "sigma": 1.0}},
                  "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "gpu"}}}
        prompt_id = run_prompt(proc, prompt)
        images = proc.get(f"/history/{prompt_id}").json()[prompt_id]["outputs"]["3"]["images"]
        assert [i["filename"] for i in images] == ["gpu_00001_.png", "gpu_00002_.png"]
        view = proc.get("/view?filename=gpu_00001_.png&type=output")
        assert view.status == 200 and view.body[:4] == b"\x89PNG"
        assert proc.get("/system_stats").json()["devices"][0]["torch_vram_total"] > 0
    finally:
        assert proc.stop() == 0


def test_history_survives_a_restart_unless_no_persist(tmp_path):
    """Issue 3 item 6 end to end; `--no-persist` starts empty as ComfyUI does (its own suite restarts
    the server in one directory and counts history)."""
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
              "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    first = ServeProcess(str(tmp_path))
    try:
        prompt_id = run_prompt(first, prompt)
    finally:
        assert first.stop() == 0
    second = ServeProcess(str(tmp_path))
    try:
        assert list(second.get("/history").json()) == [prompt_id]
        assert [job["id"] for job in second.get("/api/jobs").json()["jobs"]] == [prompt_id]
    finally:
        assert second.stop() == 0
    third = ServeProcess(str(tmp_path), "--no-persist")
    try:
        assert third.get("/history").json() == {} and third.get("/api/jobs").json()["jobs"] == []
        assert run_prompt(third, prompt) in third.get("/history").json()
    finally:
        assert third.stop() == 0
    fourth = ServeProcess(str(tmp_path))  # what --no-persist ran was not written
    try:
        assert list(fourth.get("/history").json()) == [prompt_id]
    finally:
        assert fourth.stop() == 0


def test_sigint_stops_cleanly(tmp_path):
    proc = ServeProcess(str(tmp_path))
    assert proc.get("/features").status == 200
    proc.proc.send_signal(signal.SIGINT)
    assert proc.proc.wait(20) == 0
    proc._log.close()


def test_quick_test_and_startup_errors(tmp_path):
    base = [sys.executable, "-m", "toucan_nb", "--port", "0", "--base-directory", str(tmp_path)]
    done = subprocess.run([*base, "--quick-test-for-ci", "--cpu"], cwd=REPO, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    bad = subprocess.run([*base, "--front-end-version", "Comfy-Org/ComfyUI_frontend@1.2.3"], cwd=REPO,
                         capture_output=True, timeout=60)
    assert bad.returncode != 0 and b"cannot download" in bad.stderr
    usage = subprocess.run([*base, "--cache-none", "--cache-lru", "3"], cwd=REPO, capture_output=True, timeout=60)
    assert usage.returncode == 2 and b"not allowed with" in usage.stderr


def test_cors_flag_end_to_end(tmp_path):
    proc = ServeProcess(str(tmp_path), "--enable-cors-header")
    try:
        resp = proc.request("OPTIONS", "/prompt", headers={"Origin": "http://elsewhere.example"})
        assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == "*"
    finally:
        proc.stop()


def test_origin_check_end_to_end(server):
    evil = {"Host": f"127.0.0.1:{server.port}", "Origin": "http://evil.example"}
    assert server.request("POST", "/prompt", body=json.dumps({"prompt": {}}), headers=evil).status == 403
    assert server.request("GET", "/prompt", headers={"Origin": f"http://127.0.0.1:{server.port}"}).status == 200

