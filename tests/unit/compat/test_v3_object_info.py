"""/object_info of V3 classes equals what ComfyUI 0.8.0 reports for the same schemas (docs/protocol.md §5.2).

tests/packs/v3_pack/mirrors.py declares 21 classes with the schemas of nodes ComfyUI ships; their
entries must equal the recorded ones in tests/vectors/object_info_v3.json in every key but
python_module (the loader's "custom_nodes.v3_pack"), key order included.
"""

from __future__ import annotations

import json
import os

from toucan_nb.runtime.loader import load_pack
from toucan_nb.runtime.registry import NodeRegistry

from .conftest import PACKS_DIR

VECTORS = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "vectors", "object_info_v3.json")


def test_mirrored_classes_describe_themselves_as_comfyui_does(runtime):
    # The recording's input folder had one subfolder, "3d" (LoadImageDataSetFromFolder lists them).
    os.makedirs(os.path.join(runtime.folders.input_dir, "3d"))
    with open(VECTORS, encoding="utf-8") as f:
        recorded = json.load(f)["object_info"]
    registry = NodeRegistry()
    result = load_pack(registry, os.path.join(PACKS_DIR, "v3_pack"))
    assert result.ok, result.error
    for class_type, expected in recorded.items():
        # Through JSON, as the route sends it: tuples become lists, str enums their values.
        actual = json.loads(json.dumps(registry.object_info(class_type)))[class_type]
        assert actual["python_module"] == "custom_nodes.v3_pack"
        expected = {**expected, "python_module": "custom_nodes.v3_pack"}
        assert actual == expected, class_type
        assert json.dumps(actual) == json.dumps(expected), f"{class_type}: key order"
    assert len(recorded) == 21


def test_the_entry_is_the_class_own_description(runtime):
    registry = NodeRegistry()
    load_pack(registry, os.path.join(PACKS_DIR, "v3_pack"))
    cls = registry.get("OpenAIDalle2")
    assert registry.node_info("OpenAIDalle2") == cls.GET_NODE_INFO_V1()
