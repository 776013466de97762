"""What custom node packs contribute to the routes: example workflows, locales, global subgraphs
(docs/protocol.md §11).

`/workflow_templates` and `/i18n` scan every `custom_nodes` folder as ComfyUI does; the static
`/api/workflow_templates/<module>/...` files and `/global_subgraphs` come from the packs that
actually loaded (`runtime.load_report`). Blocking file I/O: call from a worker thread.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
from collections.abc import Iterable
from typing import Any

from toucan_nb.runtime.interface import RuntimeInterface

log = logging.getLogger(__name__)

EXAMPLE_WORKFLOW_FOLDERS = ("example_workflows", "example", "examples", "workflow", "workflows")
LOCALE_FILES = {"commands.json": "commands", "settings.json": "settings", "nodeDefs.json": "nodeDefs"}


def custom_node_roots(runtime: RuntimeInterface) -> list[str]:
    """The `custom_nodes` folders (none when custom nodes are disabled)."""
    if runtime.config.disable_all_custom_nodes:
        return []
    roots = [*runtime.folders.get_folder_paths("custom_nodes"), *runtime.config.custom_node_dirs]
    return list(dict.fromkeys(os.path.abspath(r) for r in roots))


def loaded_packs(runtime: RuntimeInterface) -> list[tuple[str, str]]:
    """(pack name, pack directory) of every loaded directory pack."""
    report = runtime.load_report
    if report is None:
        return []
    return [(r.name, r.path) for r in report.loaded if os.path.isdir(r.path)]


def workflow_templates(roots: Iterable[str]) -> dict[str, list[str]]:
    """GET /workflow_templates: pack folder name -> example workflow names."""
    out: dict[str, list[str]] = {}
    for root in roots:
        for folder in EXAMPLE_WORKFLOW_FOLDERS:
            for path in glob.glob(os.path.join(glob.escape(root), "*", folder, "*.json")):
                pack = os.path.basename(os.path.dirname(os.path.dirname(path)))
                out.setdefault(pack, []).append(os.path.splitext(os.path.basename(path))[0])
    return out


def workflow_template_dirs(packs: Iterable[tuple[str, str]], module: str) -> list[str]:
    """The example folders that serve `/api/workflow_templates/<module>/...`, first match first."""
    for name, path in packs:
        if name == module:
            return [d for d in (os.path.join(path, f) for f in EXAMPLE_WORKFLOW_FOLDERS) if os.path.isdir(d)]
    return []


def _merge(base: Any, extra: Any) -> Any:
    """Dicts merge recursively, lists concatenate, anything else is replaced."""
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for key, value in extra.items():
            out[key] = _merge(out[key], value) if key in out else value
        return out
    if isinstance(base, list) and isinstance(extra, list):
        return base + extra
    return extra


def _load_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        log.warning("could not read %s", path)
        return {}


def translations(roots: Iterable[str]) -> dict[str, Any]:
    """GET /i18n: every pack's `locales/<lang>/` files merged, packs in sorted order."""
    out: dict[str, Any] = {}
    for root in roots:
        for pack in sorted(glob.glob(os.path.join(glob.escape(root), "*", ""))):
            locales = os.path.join(pack, "locales")
            if not os.path.isdir(locales):
                continue
            for lang_dir in sorted(glob.glob(os.path.join(glob.escape(locales), "*", ""))):
                lang = os.path.basename(os.path.dirname(lang_dir))
                entry = out.setdefault(lang, {})
                main = os.path.join(lang_dir, "main.json")
                if os.path.isfile(main):
                    entry = _merge(entry, _load_json(main))
                for filename, key in LOCALE_FILES.items():
                    path = os.path.join(lang_dir, filename)
                    if os.path.isfile(path):
                        entry = _merge(entry, {key: _load_json(path)})
                out[lang] = entry
    return out


def subgraph_index(packs: Iterable[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """id -> entry (with its file path under "path") for every pack's `subgraphs/*.json`."""
    out: dict[str, dict[str, Any]] = {}
    for name, path in packs:
        for file in sorted(glob.glob(os.path.join(glob.escape(path), "subgraphs", "*.json"))):
            entry_id = hashlib.sha256(f"custom_node{file}".encode()).hexdigest()
            out[entry_id] = {"source": "custom_node", "name": os.path.splitext(os.path.basename(file))[0],
                             "info": {"node_pack": f"custom_nodes.{name}"}, "path": file}
    return out


def public_subgraph(entry: dict[str, Any], with_data: bool) -> dict[str, Any]:
    """An index entry as the wire shows it (no path; the file text under "data" when asked)."""
    out = {k: v for k, v in entry.items() if k != "path"}
    if with_data:
        with open(entry["path"], encoding="utf-8") as f:
            out["data"] = f.read()
    return out
