"""Custom node packs' `prestartup_script.py`, run as ComfyUI's `main.py` runs them.

After the folders are configured and before `comfy.model_management` or `nodes` is imported, every
pack folder in the `custom_nodes` folders that has a `prestartup_script.py` gets it executed (not
with `--disable-all-custom-nodes`, except for packs on `--whitelist-custom-nodes`). A script that
raises is logged and skipped. Start-up thread.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any

log = logging.getLogger(__name__)

SCRIPT = "prestartup_script.py"


def run_prestartup_scripts(custom_node_dirs: list[str], args: Any) -> list[str]:
    """Run the packs' start-up scripts; returns the paths of those that ran without error."""
    whitelist = list(getattr(args, "whitelist_custom_nodes", None) or [])
    disabled = bool(getattr(args, "disable_all_custom_nodes", False))
    if disabled and not whitelist:
        return []
    ran: list[str] = []
    for folder in custom_node_dirs:
        if not os.path.isdir(folder):
            continue
        for entry in sorted(os.listdir(folder)):
            pack = os.path.join(folder, entry)
            script = os.path.join(pack, SCRIPT)
            if entry == "__pycache__" or entry.endswith(".disabled") or not os.path.isfile(script):
                continue
            if disabled and entry not in whitelist:
                log.info("Prestartup Skipping %s due to disable_all_custom_nodes and whitelist_custom_nodes", entry)
                continue
            try:
                spec = importlib.util.spec_from_file_location(os.path.splitext(script)[0], script)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load {script}")
                spec.loader.exec_module(importlib.util.module_from_spec(spec))
            except Exception as exc:  # a pack's own code: logged and skipped, as ComfyUI does
                log.error("Failed to execute startup-script: %s / %s", script, exc)
                continue
            ran.append(script)
    return ran
