"""The model combos of the diffusion loader nodes list the runtime's folders, as ComfyUI's do (the
entries themselves: tests/unit/nodes/test_object_info.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from toucan_nb.nodes import register_builtin_nodes
from toucan_nb.runtime.registry import NodeRegistry


@pytest.fixture
def registry(active_folders) -> NodeRegistry:
    reg = NodeRegistry()
    register_builtin_nodes(reg)
    return reg


@pytest.mark.parametrize(("class_type", "inputs", "folder"), [
    ("CheckpointLoaderSimple", ["ckpt_name"], "checkpoints"),
    ("CheckpointLoader", ["ckpt_name"], "checkpoints"),
    ("UNETLoader", ["unet_name"], "diffusion_models"),
    ("CLIPLoader", ["clip_name"], "text_encoders"),
    ("DualCLIPLoader", ["clip_name1", "clip_name2"], "text_encoders"),
    ("LoraLoader", ["lora_name"], "loras"),
    ("LoraLoaderModelOnly", ["lora_name"], "loras"),
])
def test_model_combos_list_the_folder(registry, active_folders, class_type, inputs, folder):
    root = Path(active_folders.get_folder_paths(folder)[0])
    (root / "sub").mkdir(parents=True)
    (root / "b.safetensors").write_bytes(b"")
    (root / "sub" / "a.ckpt").write_bytes(b"")
    (root / "notes.txt").write_text("not a model")
    required = registry.object_info(class_type)[class_type]["input"]["required"]
    for name in inputs:
        assert required[name][0] == sorted(["b.safetensors", os.path.join("sub", "a.ckpt")])


def test_legacy_folder_names_are_listed_too(registry, active_folders):
    for legacy in ("clip", "unet"):
        os.makedirs(os.path.join(active_folders.models_dir, legacy), exist_ok=True)
    Path(active_folders.models_dir, "clip", "l.safetensors").write_bytes(b"")
    Path(active_folders.models_dir, "unet", "u.safetensors").write_bytes(b"")
    info = registry.object_info()
    assert info["CLIPLoader"]["input"]["required"]["clip_name"][0] == ["l.safetensors"]
    assert info["UNETLoader"]["input"]["required"]["unet_name"][0] == ["u.safetensors"]


def test_vae_loader_lists_files_then_pixel_space(registry, active_folders):
    root = Path(active_folders.get_folder_paths("vae")[0])
    root.mkdir(parents=True)
    (root / "x.safetensors").write_bytes(b"")
    combo = registry.object_info("VAELoader")["VAELoader"]["input"]["required"]["vae_name"][0]
    assert combo == ["x.safetensors", "pixel_space"]
