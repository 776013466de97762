"""Installing the ComfyUI alias modules and attaching a runtime to them (docs/architecture.md, decision 6).

The aliases are real source files under `toucan_nb/compat/aliases/` (`comfy/`, `comfy_execution/`,
`comfy_api/`, `folder_paths.py`, `server.py`, `nodes.py`). A meta-path finder placed first on
`sys.meta_path` answers for exactly those top-level names; their submodules then resolve through the
package `__path__` like any package's, so `import comfy.utils` and
`from comfy.comfy_types.node_typing import IO` behave as in ComfyUI.

Nothing happens at import time: `install()` adds the finder, and only when no real ComfyUI is
importable (a kernel never shadows a real install), unless asked to: `toucan-nb serve` always uses
the aliases, since there the live server and executor are toucan_nb's. Call from any thread;
install/detach are serialised.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from toucan_nb.compat import state

log = logging.getLogger(__name__)

ALIAS_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "aliases")
ALIAS_NAMES: tuple[str, ...] = ("comfy", "comfy_execution", "comfy_api", "folder_paths", "server", "nodes")
# A real ComfyUI is its `comfy` package (a checkout or install has it at the top level). A lone
# `comfy_execution` or `comfy_api` is not one: client code such as ComfyUI's own test suite puts a
# copy of `comfy_execution.graph_utils` on the path, which the aliases then shadow (with a warning).
# `server` and `nodes` are too generic to say anything: an unrelated module of that name is shadowed.
_COMFYUI_MARKERS: tuple[str, ...] = ("comfy",)

_lock = threading.Lock()


class AliasFinder(importlib.abc.MetaPathFinder):
    """Finds the top-level alias packages and modules in `ALIAS_ROOT`; nothing else."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None  # submodules resolve through the alias package's own __path__
        return importlib.machinery.PathFinder.find_spec(fullname, [ALIAS_ROOT])


def _installed_finder() -> AliasFinder | None:
    for finder in sys.meta_path:
        if isinstance(finder, AliasFinder):
            return finder
    return None


def _is_ours(module: ModuleType | None) -> bool:
    origin = getattr(module, "__file__", None) or ""
    return os.path.abspath(origin).startswith(ALIAS_ROOT + os.sep)


def find_real_comfyui() -> str | None:
    """Where a real ComfyUI `comfy`-family module is importable from, or None (our aliases ignored)."""
    for name in _COMFYUI_MARKERS:
        loaded = sys.modules.get(name)
        if loaded is not None:
            if not _is_ours(loaded):
                return getattr(loaded, "__file__", None) or name
            continue
        spec = _find_elsewhere(name)
        if spec is not None:
            return spec.origin or name
    return None


def _find_elsewhere(name: str) -> importlib.machinery.ModuleSpec | None:
    """`importlib.util.find_spec(name)` as if our finder were not installed."""
    for finder in sys.meta_path:
        if isinstance(finder, AliasFinder) or not hasattr(finder, "find_spec"):
            continue
        try:
            spec = finder.find_spec(name, None)
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            return spec
    return None


def aliases_installed() -> bool:
    """True once `install()` has put the alias finder on `sys.meta_path`."""
    return _installed_finder() is not None


def install(runtime: Any, *, shadow_real: bool = False, names: Sequence[str] | None = None) -> bool:
    """Install the alias modules (unless real ComfyUI is importable) and attach `runtime` to them.

    Idempotent; a second call with another runtime re-attaches. Returns True when the aliases are
    in use, False when a real ComfyUI was found and left alone (custom nodes then see ComfyUI's own
    globals, not this runtime). `shadow_real=True` installs them regardless (`toucan-nb serve`),
    with a warning that names the real modules they hide. `names` limits the aliases to those
    top-level names (a hosted ComfyUI checkout provides the rest itself; only `server` stays ours).
    """
    alias_names = ALIAS_NAMES if names is None else tuple(n for n in ALIAS_NAMES if n in names)
    with _lock:
        if _installed_finder() is None:
            real = find_real_comfyui()
            if real is not None and not shadow_real:
                log.warning("compat: a real ComfyUI is importable (%s); not installing the aliases", real)
                state.attach(runtime)
                return False
            shadowed: list[str] = []
            for name in alias_names:
                existing = sys.modules.get(name)
                if existing is not None and not _is_ours(existing):
                    # Imported already: importers keep that object, so we cannot replace it.
                    log.warning("compat: module %r is already imported from %s; custom nodes "
                                "importing it will not see toucan_nb", name,
                                getattr(existing, "__file__", "?"))
                    continue
                spec = _find_elsewhere(name)
                if spec is not None:
                    where = spec.origin or " ".join(dict.fromkeys(spec.submodule_search_locations or ())) or "?"
                    shadowed.append(f"{name} ({where})")  # a namespace package has no origin
            if shadowed and names is None:
                log.warning("compat: toucan_nb's ComfyUI modules shadow %s", ", ".join(shadowed))
            usable = [n for n in alias_names if n not in sys.modules or _is_ours(sys.modules[n])]
            sys.meta_path.insert(0, AliasFinder(usable))
            importlib.invalidate_caches()
        state.attach(runtime)
        _point_folders_at(runtime)
        return True


def detach() -> None:
    """Detach the runtime. The aliases stay importable (loaded packs hold references to them)."""
    with _lock:
        state.detach()


def _point_folders_at(runtime: Any) -> None:
    folders = getattr(runtime, "folders", None)
    if folders is not None:
        from toucan_nb.runtime import folders as folders_mod

        folders_mod.set_active(folders)


def limit_aliases(names: Sequence[str]) -> None:
    """Let the installed finder answer only for `names` from now on (a hosted ComfyUI checkout
    provides the others). Aliases imported already stay in `sys.modules`."""
    with _lock:
        finder = _installed_finder()
        if finder is not None:
            finder.names = frozenset(n for n in finder.names if n in names)
            importlib.invalidate_caches()
