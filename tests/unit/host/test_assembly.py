"""host.assembly.start_runtime: the runtime put together with the node library and ComfyUI's modules.

`Runtime.start` alone loads nothing and touches no process-wide state; `start_runtime` does the
steps in the order its docstring gives, which a custom node pack observes while it is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from toucan_nb.host.assembly import start_runtime
from toucan_nb.runtime.runtime import Runtime, RuntimeConfig

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    # A process of its own: aliases, the active folders, the device and gc.freeze are process-wide.
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          cwd=_REPO)


def test_builtin_nodes_and_object_info(tmp_path):
    rt = start_runtime(Runtime(RuntimeConfig(base_dir=str(tmp_path), persist=False)))
    try:
        assert "SaveImage" in rt.object_info() and rt.object_info("Nope") == {}
        entry = rt.run({
            "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
            "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "t"}},
        }, timeout=60)
        assert entry.outputs == {"3": {"images": [{"filename": "t_00001_.png", "subfolder": "", "type": "output"}]}}
    finally:
        rt.stop()


_RUNTIME_ALONE = """
import gc, sys
from toucan_nb.runtime.runtime import Runtime, RuntimeConfig
from toucan_nb.runtime import device, folders

rt = Runtime(RuntimeConfig(base_dir=sys.argv[1], persist=False, cpu=True)).start()
try:
    assert len(rt.registry) == 0, list(rt.registry)
    assert rt.load_report is None
    assert not [m for m in ("toucan_nb.nodes", "toucan_nb.compat", "comfy", "torch") if m in sys.modules]
    assert not [f for f in sys.meta_path if type(f).__name__ == "AliasFinder"]
    assert folders.active() is not rt.folders
    assert device._force_cpu is False  # the config asked for the CPU: only the host applies it
    assert gc.get_freeze_count() == 0
    assert rt.started and rt.folders.output_dir
finally:
    rt.stop()
print("ok")
"""


def test_runtime_start_alone_loads_no_nodes_and_changes_no_process_state(tmp_path):
    done = _run_python(_RUNTIME_ALONE, str(tmp_path))
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


_PACK = '''
import json, os

import comfy.model_management
import folder_paths
import nodes

# What this pack sees while it is imported (start-up step 5): every earlier step has happened.
FACTS = {
    "output_dir": folder_paths.get_output_directory(),
    "device": str(comfy.model_management.get_torch_device()),
    "builtin_registered": "SaveImage" in nodes.NODE_CLASS_MAPPINGS,
}
with open(os.environ["TOUCAN_TEST_FACTS"], "w") as f:
    json.dump(FACTS, f)


class PackNode:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, value):
        return {"ui": {"value": [value * 2]}, "result": (value * 2,)}


NODE_CLASS_MAPPINGS = {"PackNode": PackNode}
'''

_ASSEMBLED = """
import gc, json, sys
from toucan_nb.host.assembly import start_runtime
from toucan_nb.runtime.runtime import Runtime, RuntimeConfig
from toucan_nb.runtime import folders

rt = start_runtime(Runtime(RuntimeConfig(base_dir=sys.argv[1], custom_node_dirs=[sys.argv[2]], persist=False,
                                         cpu=True)))
try:
    assert folders.active() is rt.folders
    assert [p.name for p in rt.load_report.loaded] == ["order_pack"]
    assert gc.get_freeze_count() > 0
    entry = rt.run({"1": {"class_type": "PackNode", "inputs": {"value": 21}}}, timeout=60)
    print(json.dumps({"outputs": entry.outputs, "output_dir": rt.folders.output_dir}))
finally:
    rt.stop()
"""


def test_start_runtime_assembles_before_custom_nodes_load(tmp_path):
    packs = tmp_path / "packs"
    (packs / "order_pack").mkdir(parents=True)
    (packs / "order_pack" / "__init__.py").write_text(textwrap.dedent(_PACK))
    facts_file = tmp_path / "facts.json"
    env_code = f"import os; os.environ['TOUCAN_TEST_FACTS'] = {str(facts_file)!r}\n" + _ASSEMBLED
    done = _run_python(env_code, str(tmp_path / "base"), str(packs))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["outputs"] == {"1": {"value": [42]}}
    facts = json.loads(facts_file.read_text())
    assert facts == {"output_dir": result["output_dir"], "device": "cpu", "builtin_registered": True}


def test_start_runtime_leaves_a_started_runtime_alone(tmp_path):
    rt = Runtime(RuntimeConfig(base_dir=str(tmp_path), persist=False)).start()
    try:
        assert start_runtime(rt) is rt
        assert len(rt.registry) == 0 and rt.load_report is None  # nothing was added afterwards
    finally:
        rt.stop()
