"""toucan_nb.runtime.loader: custom node packs and extra_model_paths.yaml (docs/execution.md §1.10)."""

from __future__ import annotations

import logging
import os
import sys
import textwrap

import pytest

from toucan_nb.runtime.folders import Folders
from toucan_nb.runtime.loader import apply_extra_model_paths, load_custom_nodes, load_pack
from toucan_nb.runtime.registry import NodeRegistry

from .conftest import PACKS_DIR


def write_pack(folder, name: str, body: str, *, package: bool = False) -> str:
    """A pack `name` in `folder`: `name.py`, or `name/__init__.py` with `package=True`."""
    if package:
        path = folder / name
        path.mkdir(parents=True)
        (path / "__init__.py").write_text(textwrap.dedent(body))
    else:
        path = folder / f"{name}.py"
        path.write_text(textwrap.dedent(body))
    return str(path)


def node_source(markers: dict[str, str], display: dict[str, str] | None = None) -> str:
    """A pack source: one node class per class_type, tagged with its marker."""
    lines = ["def make(marker):",
             "    class Node:",
             "        MARKER = marker",
             "        @classmethod",
             "        def INPUT_TYPES(cls):",
             "            return {'required': {}}",
             "        RETURN_TYPES = ()",
             "        FUNCTION = 'run'",
             "    return Node",
             f"NODE_CLASS_MAPPINGS = {{k: make(v) for k, v in {markers!r}.items()}}"]
    if display:
        lines.append(f"NODE_DISPLAY_NAME_MAPPINGS = {display!r}")
    return "\n".join(lines) + "\n"


def test_loads_the_test_packs(runtime, caplog):
    registry = NodeRegistry()
    with caplog.at_level(logging.WARNING, logger="toucan_nb.runtime.loader"):
        report = load_custom_nodes(registry, [PACKS_DIR])
    assert sorted(r.name for r in report.loaded) == ["mixed_v1_v3_pack", "single_file_pack", "testing_pack", "v3_pack"]
    assert [r.name for r in report.failed] == ["broken_pack"]
    broken = report.find("broken_pack")
    assert broken is not None and not broken.ok and "fails on import on purpose" in broken.error
    assert "Traceback" in broken.error and "broken_pack" in caplog.text

    pack = report.find("testing_pack")
    assert pack is not None and pack.ok and pack.seconds > 0
    for class_type in ("StubImage", "TestLazyMixImages", "TestWhileLoopClose", "TestSleep",
                       "TestSyncProgressUpdate", "TestMakeListNode", "TestIntConditions"):
        assert class_type in pack.node_types and class_type in registry
        assert registry.python_module(class_type) == "custom_nodes.testing_pack"
        assert registry.get(class_type).RELATIVE_PYTHON_MODULE == "custom_nodes.testing_pack"
    assert registry.display_name("TestExecutionBlocker") == "Execution Blocker"
    assert registry.python_module("SingleFileEcho") == "custom_nodes.single_file_pack"
    # Packages load as packages: relative imports put submodules under the pack's module name.
    assert pack.module_name == os.path.join(PACKS_DIR, "testing_pack").replace(".", "_x_")
    assert sys.modules[pack.module_name].__path__ == [os.path.join(PACKS_DIR, "testing_pack")]
    assert f"{pack.module_name}.flow" in sys.modules
    single = report.find("single_file_pack")
    assert single is not None and single.module_name == os.path.join(PACKS_DIR, "single_file_pack")
    assert registry.web_dirs == {"testing_pack": os.path.join(PACKS_DIR, "testing_pack", "web")}
    assert os.path.isfile(os.path.join(registry.web_dirs["testing_pack"], "testing_pack.js"))
    assert any("IMPORT FAILED" in line and "broken_pack" in line for line in report.timing_lines())


def test_testing_pack_imports_only_the_public_comfy_modules():
    import ast

    allowed_roots = {"__future__", "asyncio", "time", "re", "typing", "operator", "collections",
                     "torch", "comfy", "comfy_execution", "comfy_api"}
    folder = os.path.join(PACKS_DIR, "testing_pack")
    for name in os.listdir(folder):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(folder, name)) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert roots <= allowed_roots, (name, roots)


def test_builtin_names_are_not_overridden_but_later_packs_override_earlier(runtime, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    write_pack(first, "pack_a", node_source({"Shared": "a", "Builtin": "a"}))
    write_pack(second, "pack_b", node_source({"Shared": "b"}, {"Shared": "Shared (B)"}))
    write_pack(second, "pack_c", node_source({"Builtin": "c"}, {"Builtin": "Renamed Builtin"}))

    class Builtin:
        MARKER = "builtin"

    registry = NodeRegistry()
    registry.register("Builtin", Builtin, display_name="Built-in")
    report = load_custom_nodes(registry, [str(first), str(second)])
    assert not report.failed
    assert registry.get("Shared").MARKER == "b" and registry.display_name("Shared") == "Shared (B)"
    assert registry.get("Builtin") is Builtin and registry.python_module("Builtin") == "nodes"
    assert report.find("pack_c").node_types == ()
    # QUIRK(docs/execution.md §1.10): display names merge unfiltered, even for built-in names.
    assert registry.display_name("Builtin") == "Renamed Builtin"


def test_skipped_entries(runtime, tmp_path):
    folder = tmp_path / "custom_nodes"
    folder.mkdir()
    write_pack(folder, "kept", node_source({"Kept": "k"}))
    write_pack(folder, "off.disabled", node_source({"Off": "o"}), package=True)
    (folder / "old.py.disabled").write_text("raise RuntimeError('must not run')")
    (folder / "notes.txt").write_text("raise RuntimeError('must not run')")
    (folder / "__pycache__").mkdir()
    registry = NodeRegistry()
    report = load_custom_nodes(registry, [str(folder), str(tmp_path / "missing")])
    assert [r.name for r in report.loaded] == ["kept"] and not report.failed
    assert list(registry) == ["Kept"]

    write_pack(folder, "listed", node_source({"Listed": "l"}), package=True)
    registry = NodeRegistry()
    report = load_custom_nodes(registry, [str(folder)], disable_all=True, whitelist=["listed"])
    assert list(registry) == ["Listed"]
    assert report.skipped == (str(folder / "kept.py"),)


def test_packs_without_nodes_fail(runtime, tmp_path):
    folder = tmp_path / "custom_nodes"
    folder.mkdir()
    write_pack(folder, "empty_pack", "X = 1\n")
    (folder / "no_init").mkdir()
    write_pack(folder, "not_callable", "comfy_entrypoint = 3\n")
    write_pack(folder, "no_extension", "def comfy_entrypoint():\n    return object()\n")
    write_pack(folder, "not_a_list", """
        from comfy_api.latest import ComfyExtension

        class Extension(ComfyExtension):
            async def get_node_list(self):
                return ()

        async def comfy_entrypoint():
            return Extension()
    """)
    write_pack(folder, "raising", """
        async def comfy_entrypoint():
            raise RuntimeError("entrypoint broke")
    """)
    report = load_custom_nodes(NodeRegistry(), [str(folder)])
    errors = {r.name: r.error for r in report.failed}
    assert set(errors) == {"empty_pack", "no_init", "not_callable", "no_extension", "not_a_list", "raising"}
    assert not report.loaded
    assert "NODE_CLASS_MAPPINGS or comfy_entrypoint" in errors["empty_pack"]
    assert "FileNotFoundError" in errors["no_init"]
    assert str(folder / "no_init") not in sys.modules  # a failed import leaves nothing behind
    assert "comfy_entrypoint is not callable" in errors["not_callable"]
    assert "did not return a ComfyExtension" in errors["no_extension"]
    assert "did not return a list of nodes" in errors["not_a_list"]
    assert "Error while calling comfy_entrypoint: entrypoint broke" in errors["raising"]


V3_NODE = """
    from comfy_api.latest import io

    class Node(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(node_id={node_id!r}, display_name={display!r}, outputs=[io.String.Output()])

        @classmethod
        def execute(cls):
            return io.NodeOutput({node_id!r})
"""


def test_v3_packs_register_the_classes_of_their_extension(runtime, tmp_path):
    folder = tmp_path / "custom_nodes"
    folder.mkdir()
    write_pack(folder, "sync_v3", V3_NODE.format(node_id="SyncV3", display="Sync V3") + """
    from comfy_api.latest import ComfyExtension

    class Extension(ComfyExtension):
        async def get_node_list(self):
            return [Node]

    def comfy_entrypoint():  # a plain function works as well as a coroutine
        return Extension()
    """)
    write_pack(folder, "shadowing", V3_NODE.format(node_id="Builtin", display="Shadowing V3") + """
    from comfy_api.v0_0_2 import ComfyExtension

    class Extension(ComfyExtension):
        async def get_node_list(self):
            return [Node]

    async def comfy_entrypoint():
        return Extension()
    """)

    class Builtin:
        pass

    registry = NodeRegistry()
    registry.register("Builtin", Builtin)
    report = load_custom_nodes(registry, [str(folder)])
    assert not report.failed
    assert report.find("sync_v3").node_types == ("SyncV3",) and report.find("shadowing").node_types == ()
    assert registry.display_name("SyncV3") == "Sync V3"
    assert registry.get("SyncV3").RELATIVE_PYTHON_MODULE == "custom_nodes.sync_v3"
    assert registry.node_info("SyncV3")["python_module"] == "custom_nodes.sync_v3"
    # A built-in name is kept, but (as for V1 packs) its display name is not protected.
    assert registry.get("Builtin") is Builtin and registry.display_name("Builtin") == "Shadowing V3"


def test_the_v3_test_pack_and_the_mixed_pack(runtime):
    registry = NodeRegistry()
    v3_result = load_pack(registry, os.path.join(PACKS_DIR, "v3_pack"))
    mixed = load_pack(registry, os.path.join(PACKS_DIR, "mixed_v1_v3_pack.py"))
    assert v3_result.ok and mixed.ok, (v3_result.error, mixed.error)
    assert "ComfySwitchNode" in v3_result.node_types and "V3TestExpandPower" in v3_result.node_types
    assert registry.python_module("ComfySwitchNode") == "custom_nodes.v3_pack"
    assert registry.display_name("ComfySwitchNode") == "Switch"
    assert registry.display_name("LatentBatch") is None  # no display name in its schema
    # QUIRK(docs/execution.md §1.10): with NODE_CLASS_MAPPINGS present, comfy_entrypoint is not used.
    assert mixed.node_types == ("MixedV1Join", "MixedV3Upper") and "MixedIgnored" not in registry
    info = registry.object_info()
    assert info["MixedV1Join"]["display_name"] == "Mixed V1 Join" and "output_tooltips" not in info["MixedV1Join"]
    assert info["MixedV3Upper"]["output_tooltips"] == [None] and info["MixedV3Upper"]["output_node"] is True
    assert info["MixedV3Upper"]["python_module"] == "custom_nodes.mixed_v1_v3_pack"


def test_a_v3_class_in_mappings_is_named_by_its_schema(runtime, tmp_path):
    folder = tmp_path / "custom_nodes"
    folder.mkdir()
    write_pack(folder, "renamed", V3_NODE.format(node_id="SchemaName", display=None) + """
    NODE_CLASS_MAPPINGS = {"MappingKey": Node}
    NODE_DISPLAY_NAME_MAPPINGS = {"MappingKey": "From the mapping"}
    """)
    registry = NodeRegistry()
    load_custom_nodes(registry, [str(folder)])
    info = registry.object_info()["MappingKey"]
    # QUIRK(docs/execution.md §1.9): the entry is the class's own description.
    assert info["name"] == "SchemaName" and info["display_name"] is None
    assert info["python_module"] == "custom_nodes.renamed"


def test_web_directories(runtime, tmp_path):
    folder = tmp_path / "custom_nodes"
    folder.mkdir()
    write_pack(folder, "declared", node_source({"Declared": "d"}) + "\nWEB_DIRECTORY = './js'\n", package=True)
    (folder / "declared" / "js").mkdir()
    write_pack(folder, "missing_dir", node_source({"MissingDir": "m"}) + "\nWEB_DIRECTORY = './nope'\n", package=True)
    write_pack(folder, "from_toml", node_source({"FromToml": "t"}), package=True)
    (folder / "from_toml" / "web").mkdir()
    (folder / "from_toml" / "pyproject.toml").write_text(
        '[project]\nname = "comfyui-from-toml"\n\n[tool.comfy]\nweb = "web"\n')
    registry = NodeRegistry()
    load_custom_nodes(registry, [str(folder)])
    assert registry.web_dirs == {
        "declared": str(folder / "declared" / "js"),
        "comfyui-from-toml": str(folder / "from_toml" / "web"),
    }


def test_extra_model_paths_yaml(tmp_path):
    (tmp_path / "conf").mkdir()
    yaml_path = tmp_path / "conf" / "extra_model_paths.yaml"
    yaml_path.write_text(textwrap.dedent("""
        comfyui:
            base_path: ../shared
            is_default: true
            checkpoints: models/checkpoints/
            text_encoders: |
                models/text_encoders
                models/clip
            custom_nodes: nodes_here
        testing:
            custom_nodes: testing_nodes
            loras:
              - /abs/loras
        empty:
    """))
    folders = Folders(str(tmp_path / "base"))
    custom = apply_extra_model_paths(folders, str(yaml_path))
    shared = tmp_path / "shared"
    assert custom == [str(shared / "nodes_here"), str(tmp_path / "conf" / "testing_nodes")]
    assert folders.get_folder_paths("checkpoints")[0] == str(shared / "models" / "checkpoints")
    assert folders.get_folder_paths("text_encoders")[:2] == [str(shared / "models" / "clip"),
                                                             str(shared / "models" / "text_encoders")]
    assert folders.get_folder_paths("loras")[-1] == "/abs/loras"
    # is_default puts a section's folders first; the others go last.
    assert folders.get_folder_paths("custom_nodes") == [custom[0], str(tmp_path / "base" / "custom_nodes"),
                                                        custom[1]]


def test_extra_model_paths_unreadable(tmp_path):
    with pytest.raises(OSError):
        apply_extra_model_paths(Folders(str(tmp_path)), str(tmp_path / "missing.yaml"))
