"""Scale-out without a cluster: when Ray is asked for, when it is not imported at all, the error
that says how to install it, and the routing rule (docs/scale-out.md §3)."""

from __future__ import annotations

import builtins
import subprocess
import sys
from typing import Any

import pytest

from toucan_nb.runtime.queue import QueueItem
from toucan_nb.scaleout import routing
from toucan_nb.scaleout.settings import RayUnavailableError, require_ray, settings_from


def test_settings_come_from_the_arguments_else_the_environment(monkeypatch: Any) -> None:
    monkeypatch.delenv("TOUCAN_NB_RAY", raising=False)
    assert settings_from(None) is None
    assert settings_from("local", 3, 2).workers == 3 and settings_from("local", 3, 2).local
    monkeypatch.setenv("TOUCAN_NB_RAY", "10.0.0.5:6379")
    settings = settings_from(None)
    assert settings is not None and settings.address == "10.0.0.5:6379" and not settings.local


def test_a_missing_ray_says_how_to_install_it(monkeypatch: Any) -> None:
    real_import = builtins.__import__

    def no_ray(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "ray", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(RayUnavailableError, match=r"pip install 'toucan-nb\[ray\]'"):
        require_ray()


def test_without_ray_settings_a_started_runtime_never_imports_ray(tmp_path: Any) -> None:
    code = (
        "import sys\n"
        "from toucan_nb.host.assembly import start_runtime\n"
        "from toucan_nb.runtime.runtime import Runtime, RuntimeConfig\n"
        f"rt = start_runtime(Runtime(RuntimeConfig(base_dir={str(tmp_path)!r}, cpu=True, persist=False)))\n"
        "rt.run({'1': {'class_type': 'EmptyImage', 'inputs': {'width': 8, 'height': 8, 'batch_size': 1,"
        " 'color': 0}}, '2': {'class_type': 'PreviewImage', 'inputs': {'images': ['1', 0]}}}, timeout=60)\n"
        "rt.stop()\n"
        "print('ray' in sys.modules)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def item(prompt_id: str, *models: str) -> QueueItem:
    prompt = {str(i): {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": m}}
              for i, m in enumerate(models)}
    prompt["x"] = {"class_type": "KSampler", "inputs": {"sampler_name": "euler.safetensors_not_a_name_input"}}
    return QueueItem(0, prompt_id, prompt, {}, [])


def test_model_keys_are_the_model_files_a_prompt_names() -> None:
    prompt = {"1": {"class_type": "LoraLoader", "inputs": {"lora_name": "a/b.safetensors", "model": ["2", 0]}},
              "2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.ckpt"}},
              "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "x.safetensors"}}}
    assert routing.model_keys(prompt) == {"a/b.safetensors", "sd15.ckpt"}


def test_routing_prefers_held_models_then_models_nobody_holds_then_the_head() -> None:
    a, b, c, plain = item("a", "A.safetensors"), item("b", "B.safetensors"), item("c", "C.safetensors"), item("p")
    pending = [a, b, c, plain]
    assert routing.choose(pending, frozenset({"B.safetensors"}), {"A.safetensors"}, {}) is b
    assert routing.choose(pending, frozenset(), {"A.safetensors"}, {}) is b  # nobody holds B
    assert routing.choose(pending, frozenset(), {"A.safetensors", "B.safetensors", "C.safetensors"}, {}) is a
    assert routing.choose([], frozenset(), set(), {}) is None


def test_routing_never_starves_the_head_and_looks_ahead_a_bounded_window() -> None:
    head, held = item("h", "A.safetensors"), item("far", "B.safetensors")
    pending = [head, *[item(f"f{i}", "A.safetensors") for i in range(routing.LOOKAHEAD)], held]
    # B is beyond the look-ahead window: the worker holding B does not reach for it.
    assert routing.choose(pending, frozenset({"B.safetensors"}), {"A.safetensors"}, {}) is head
    # A head passed over LOOKAHEAD times is taken whatever the worker holds.
    pending = [head, item("b", "B.safetensors")]
    assert routing.choose(pending, frozenset({"B.safetensors"}), set(), {"h": routing.LOOKAHEAD}) is head
