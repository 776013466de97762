"""Answers of the server-info routes: /system_stats, /extensions, /embeddings (docs/protocol.md §4).

`system_stats` imports torch (through runtime.device): call it from a worker thread.
"""

from __future__ import annotations

import glob
import importlib.metadata
import os
import sys
from typing import Any
from urllib.parse import quote

import toucan_nb

# The ComfyUI release whose protocol this implements (docs/protocol.md header).
COMFYUI_COMPAT_VERSION = "0.8.0"


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def system_stats(argv: list[str] | tuple[str, ...], devices: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """GET /system_stats (docs/protocol.md §4): `devices` is the runtime's list (one entry, the torch
    device, unless prompts run on scale-out workers); None: this process's device."""
    import psutil
    import torch

    from toucan_nb.runtime.device import device_stats

    vm = psutil.virtual_memory()
    templates = package_version("comfyui-workflow-templates")
    system = {
        "os": sys.platform,
        "ram_total": vm.total,
        "ram_free": vm.available,
        "comfyui_version": COMFYUI_COMPAT_VERSION,
        "required_frontend_version": package_version("comfyui-frontend-package"),
        "installed_templates_version": templates,
        "required_templates_version": templates,
        "python_version": sys.version,
        "pytorch_version": str(torch.__version__),
        "embedded_python": os.path.basename(os.path.dirname(sys.executable)) == "python_embeded",
        "argv": list(argv),
        "toucan_nb_version": toucan_nb.__version__,
    }
    return {"system": system, "devices": devices if devices is not None else [device_stats()]}


def extension_scripts(frontend_root: str | None, web_dirs: dict[str, str]) -> list[str]:
    """GET /extensions: frontend `extensions/**/*.js`, then each custom node web dir's scripts."""
    out: list[str] = []
    if frontend_root:
        for path in glob.glob(os.path.join(glob.escape(frontend_root), "extensions", "**", "*.js"), recursive=True):
            out.append("/" + os.path.relpath(path, frontend_root).replace(os.sep, "/"))
    for name, directory in web_dirs.items():
        for path in glob.glob(os.path.join(glob.escape(directory), "**", "*.js"), recursive=True):
            rel = os.path.relpath(path, directory).replace(os.sep, "/")
            out.append(f"/extensions/{quote(name)}/{rel}")
    return out


def embeddings(folders: Any) -> list[str]:
    """GET /embeddings: embedding file names without extension, sub-paths kept."""
    return [os.path.splitext(name)[0] for name in folders.get_filename_list("embeddings")]
