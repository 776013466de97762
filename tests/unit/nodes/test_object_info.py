"""The built-in nodes describe themselves exactly as a real ComfyUI 0.8.0 does (vectors/object_info.json)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from tests.support.vectors import load
from toucan_nb.nodes import BUILTIN_NODES, register_builtin_nodes
from toucan_nb.runtime.registry import NodeRegistry

# The recording of a real ComfyUI 0.8.0 (tests/vectors/object_info.json).
OBJECT_INFO = load("object_info.json")


@pytest.fixture
def registry(active_folders) -> NodeRegistry:
    # The recording's input dir held exactly one 8x8 example.png.
    Image.new("RGB", (8, 8)).save(os.path.join(active_folders.input_dir, "example.png"))
    # ...and ComfyUI's models/configs held the checkpoint configs it ships; no model files at all.
    configs = Path(active_folders.get_folder_paths("configs")[0])
    configs.mkdir(parents=True, exist_ok=True)
    for name in OBJECT_INFO["object_info"]["CheckpointLoader"]["input"]["required"]["config_name"][0]:
        (configs / name).write_text("model: {}\n")
    reg = NodeRegistry()
    register_builtin_nodes(reg)
    return reg


def test_registration_order_matches_comfyui(registry):
    assert list(registry) == list(OBJECT_INFO["object_info"])
    assert len(BUILTIN_NODES) == 87


@pytest.mark.parametrize("class_type", list(OBJECT_INFO["object_info"]))
def test_object_info_entry_is_exact(registry, class_type):
    # json text, not dict equality: key order and int-vs-float (0 vs 0.0) must match too.
    ours = json.dumps(registry.object_info(class_type)[class_type])
    theirs = json.dumps(OBJECT_INFO["object_info"][class_type])
    assert ours == theirs


def test_single_class_route_bodies(registry):
    route = OBJECT_INFO["single_class_route"]
    assert json.dumps(registry.object_info("ImageInvert")) == json.dumps(route["GET /object_info/ImageInvert"]["body"])
    assert registry.object_info("NoSuchNode") == route["GET /object_info/NoSuchNode"]["body"] == {}


def test_load_image_lists_sorted_image_files_only(registry, active_folders):
    inp = Path(active_folders.input_dir)
    Image.new("RGB", (2, 2)).save(inp / "b.jpg")
    Image.new("RGB", (2, 2)).save(inp / "a.webp")
    (inp / "notes.txt").write_text("not an image")
    (inp / "sub").mkdir()
    Image.new("RGB", (2, 2)).save(inp / "sub" / "nested.png")
    load_image = registry.object_info("LoadImage")["LoadImage"]["input"]["required"]["image"]
    assert load_image == (["a.webp", "b.jpg", "example.png"], {"image_upload": True})
    # ComfyUI's LoadImageMask lists every plain file, without the mimetype filter.
    load_mask = registry.object_info("LoadImageMask")["LoadImageMask"]["input"]["required"]["image"]
    assert load_mask[0] == ["a.webp", "b.jpg", "example.png", "notes.txt"]


def test_load_image_without_input_dir_lists_nothing(registry, active_folders):
    for name in os.listdir(active_folders.input_dir):
        os.remove(os.path.join(active_folders.input_dir, name))
    os.rmdir(active_folders.input_dir)
    assert registry.object_info("LoadImage")["LoadImage"]["input"]["required"]["image"][0] == []
