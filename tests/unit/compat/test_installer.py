"""install()/detach(): no side effects on import, idempotence, never shadowing a real ComfyUI."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import toucan_nb.compat as compat
from toucan_nb.compat import installer
from toucan_nb.runtime import folders

from .conftest import FakeRuntime

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir))
ALIASES = ("comfy", "comfy_execution", "comfy_api", "folder_paths", "server", "nodes")


FAKE_RUNTIME = """
    from toucan_nb.runtime.events import EventBus
    from toucan_nb.runtime.folders import Folders
    from toucan_nb.runtime.registry import NodeRegistry
    class RT:
        def __init__(self):
            self.events, self.registry, self.folders = EventBus(), NodeRegistry(), Folders(".")
        def interrupt(self, prompt_id=None):
            pass
"""


def run_python(code: str, *, cwd: str = ROOT, extra_path: str | None = None, with_runtime: bool = False) -> str:
    """Run `code` in a fresh interpreter (optionally after defining a fake runtime class `RT`)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, ROOT) if p)
    source = (textwrap.dedent(FAKE_RUNTIME) if with_runtime else "") + textwrap.dedent(code)
    proc = subprocess.run([sys.executable, "-c", source], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout




def test_import_installs_nothing(tmp_path):
    out = run_python(f"""
        import importlib.util, sys
        import toucan_nb, toucan_nb.compat
        from toucan_nb.compat.installer import ALIAS_ROOT, AliasFinder
        print([n for n in {ALIASES!r} if n in sys.modules])
        print(any(isinstance(f, AliasFinder) for f in sys.meta_path))
        print([n for n in {ALIASES[:4]!r} if importlib.util.find_spec(n) is not None])
        print("torch" in sys.modules)
    """, cwd=str(tmp_path))
    assert out.split("\n")[:4] == ["[]", "False", "[]", "False"]


def test_install_is_idempotent_and_serves_submodules(tmp_path):
    out = run_python("""
        import sys, importlib.util
        import toucan_nb.compat as compat
        from toucan_nb.compat.installer import ALIAS_ROOT, AliasFinder
        rt = RT()
        print(compat.install(rt), compat.install(rt))
        print(sum(isinstance(f, AliasFinder) for f in sys.meta_path))
        import comfy.utils
        from comfy.comfy_types.node_typing import IO
        import comfy_execution.graph_utils, comfy_api.v0_0_2, folder_paths, server, nodes
        print(importlib.util.find_spec("comfy").origin.startswith(ALIAS_ROOT))
        print(server.PromptServer.instance is not None, compat.aliases_installed())
    """, cwd=str(tmp_path), with_runtime=True)
    assert out.split("\n")[:4] == ["True True", "1", "True", "True True"]


def test_real_comfyui_is_never_shadowed(tmp_path):
    real = tmp_path / "comfyui"
    (real / "comfy").mkdir(parents=True)
    (real / "comfy" / "__init__.py").write_text("REAL = True\n")
    (real / "folder_paths.py").write_text("REAL = True\n")
    out = run_python("""
        import sys
        import toucan_nb.compat as compat
        from toucan_nb.compat import state
        rt = RT()
        print(compat.find_real_comfyui() is not None, compat.install(rt), compat.aliases_installed())
        import comfy
        print(getattr(comfy, "REAL", False), state.runtime() is rt)
    """, cwd=str(tmp_path), extra_path=str(real), with_runtime=True)
    assert out.split("\n")[:2] == ["True False False", "True True"]


def test_serve_shadows_a_real_comfyui_when_asked(tmp_path):
    """`toucan-nb serve` started from a ComfyUI checkout (ComfyUI's harness runs `python main.py`
    there): custom nodes must get the modules wired to this server, not ComfyUI's unstarted ones."""
    real = tmp_path / "comfyui"
    (real / "comfy").mkdir(parents=True)
    (real / "comfy" / "__init__.py").write_text("REAL = True\n")
    (real / "server.py").write_text("REAL = True\n")
    out = run_python("""
        import toucan_nb.compat as compat
        print(compat.find_real_comfyui() is not None, compat.install(RT(), shadow_real=True))
        import comfy, server
        print(getattr(comfy, "REAL", False), getattr(server, "REAL", False), server.PromptServer.instance is not None)
    """, cwd=str(tmp_path), extra_path=str(real), with_runtime=True)
    assert out.split("\n")[:2] == ["True True", "False False True"]


def test_a_lone_comfy_execution_on_the_path_is_not_a_real_comfyui(tmp_path):
    """ComfyUI's test suite imports GraphBuilder client-side from a comfy_execution on PYTHONPATH,
    which the server it starts inherits; the aliases still install there, shadowing that copy."""
    client = tmp_path / "client"
    (client / "comfy_execution").mkdir(parents=True)
    (client / "comfy_execution" / "__init__.py").write_text("CLIENT_COPY = True\n")
    out = run_python("""
        import toucan_nb.compat as compat
        print(compat.find_real_comfyui(), compat.install(RT()))
        import comfy_execution.graph
        print(getattr(comfy_execution, "CLIENT_COPY", False), hasattr(comfy_execution.graph, "ExecutionBlocker"))
    """, cwd=str(tmp_path), extra_path=str(client), with_runtime=True)
    assert out.split("\n")[:2] == ["None True", "False True"]


def test_generic_names_already_imported_are_left_alone(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "nodes.py").write_text("UNRELATED = True\n")
    out = run_python("""
        import nodes
        import toucan_nb.compat as compat
        print(compat.install(RT()))
        import nodes as again, server
        print(getattr(again, "UNRELATED", False), hasattr(server, "PromptServer"))
    """, cwd=str(tmp_path), extra_path=str(other), with_runtime=True)
    assert out.split("\n")[:2] == ["True", "True True"]


def test_install_points_views_at_the_runtime_and_detach_forgets_it(tmp_path):
    previous = folders.active()
    first, second = FakeRuntime(str(tmp_path / "a")), FakeRuntime(str(tmp_path / "b"))
    try:
        assert compat.install(first) and compat.install(second)
        import folder_paths
        import nodes
        from server import PromptServer

        assert folders.active() is second.folders
        assert folder_paths.get_output_directory() == second.folders.output_dir
        second.registry.register("X", type("X", (), {}))
        assert list(nodes.NODE_CLASS_MAPPINGS) == ["X"]
        compat.detach()
        assert list(nodes.NODE_CLASS_MAPPINGS) == []
        PromptServer.instance.send_sync("after-detach", {})
        assert second.published == []
        assert compat.aliases_installed()  # loaded packs keep working modules
        assert importlib.util.find_spec("comfy") is not None
    finally:
        compat.detach()
        folders.set_active(previous)


def test_find_real_comfyui_ignores_our_aliases(runtime):
    assert installer.find_real_comfyui() is None


def test_public_surface_is_pinned():
    assert sorted(compat.__all__) == ["CustomRoute", "aliases_installed", "custom_routes", "detach",
                                      "find_real_comfyui", "install", "trigger_on_prompt"]
