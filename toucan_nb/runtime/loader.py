"""Loading ComfyUI custom node packs from `custom_nodes` folders (docs/execution.md §1.10), and the
`--extra-model-paths-config` yaml that adds model and custom-node folders.

Each entry of each folder, in `os.listdir` order, is a pack: a `.py` file, imported under the
module name "its path minus `.py`", or a directory imported from its `__init__.py` under "its full
path with `.` replaced by `_x_`" as a package (so relative imports work), placed in `sys.modules`
before it runs. Skipped: `__pycache__`, files that are not `.py`, names ending in `.disabled`, and,
with `disable_all`, every entry not in `whitelist`.

A pack contributes its `NODE_CLASS_MAPPINGS` (names registered before the scan are built-ins and
are never overridden; later packs override earlier ones; each class gets
`RELATIVE_PYTHON_MODULE = "custom_nodes.<pack name>"`), its `NODE_DISPLAY_NAME_MAPPINGS`, and its
web directory (`pyproject.toml` `[tool.comfy] web`, then a module-level `WEB_DIRECTORY` relative to
the module's folder, each only if the folder exists) into `registry.web_dirs`. Its mappings may hold
V3 schema classes as well as V1 ones. A pack without `NODE_CLASS_MAPPINGS` may instead define
`comfy_entrypoint()` (sync or async), which returns a `ComfyExtension` whose `get_node_list()` lists
V3 classes, each registered under its schema's `node_id` (and display name). A pack whose import
raises is logged with its traceback and skipped; the others still load.

Packs import ComfyUI's modules, so `toucan_nb.compat.install(runtime)` must run first; this module
never imports compat (runtime/ does not read its globals). Call at start-up from one thread.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from toucan_nb.runtime.asynccall import resolve
from toucan_nb.runtime.folders import Folders
from toucan_nb.runtime.registry import NodeRegistry

log = logging.getLogger(__name__)

MODULE_PARENT = "custom_nodes"


@dataclass(frozen=True, slots=True)
class PackResult:
    """What happened to one pack. `error` is the formatted traceback or reason when it failed."""

    name: str
    path: str
    module_name: str
    seconds: float
    node_types: tuple[str, ...] = ()
    web_dir: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class LoadReport:
    """The outcome of one scan: packs loaded, packs that failed, entries skipped by configuration."""

    loaded: tuple[PackResult, ...] = ()
    failed: tuple[PackResult, ...] = ()
    skipped: tuple[str, ...] = field(default=())

    def find(self, name: str) -> PackResult | None:
        """The result for pack `name` (loaded or failed), or None."""
        for result in (*self.loaded, *self.failed):
            if result.name == name:
                return result
        return None

    def timing_lines(self) -> list[str]:
        """ComfyUI's "Import times for custom nodes" lines, fastest first."""
        results = sorted((*self.loaded, *self.failed), key=lambda r: r.seconds)
        return [f"{r.seconds:6.1f} seconds{'' if r.ok else ' (IMPORT FAILED)'}: {r.path}" for r in results]


class _PackError(Exception):
    """A pack imported but provides nothing we can load."""


def pack_name(path: str) -> str:
    """The pack's name: its directory name, or its file name without the extension."""
    base = os.path.basename(os.path.normpath(path))
    return os.path.splitext(base)[0] if os.path.isfile(path) else base


def load_custom_nodes(registry: NodeRegistry, dirs: Iterable[str], *, disable_all: bool = False,
                      whitelist: Sequence[str] = ()) -> LoadReport:
    """Load every pack found in `dirs` into `registry`; see the module docstring for the rules."""
    builtin = frozenset(registry)
    loaded: list[PackResult] = []
    failed: list[PackResult] = []
    skipped: list[str] = []
    for folder in dirs:
        folder = os.path.abspath(folder)
        if not os.path.isdir(folder):
            log.debug("custom node folder %s does not exist", folder)
            continue
        for entry in os.listdir(os.path.realpath(folder)):
            path = os.path.join(folder, entry)
            if entry == "__pycache__" or entry.endswith(".disabled"):
                continue
            if os.path.isfile(path) and os.path.splitext(entry)[1] != ".py":
                continue
            if disable_all and entry not in whitelist:
                log.info("Skipping %s due to disable_all_custom_nodes and whitelist_custom_nodes", entry)
                skipped.append(path)
                continue
            result = load_pack(registry, path, ignore=builtin)
            (loaded if result.ok else failed).append(result)
    report = LoadReport(tuple(loaded), tuple(failed), tuple(skipped))
    if loaded or failed:
        log.info("Import times for custom nodes:\n%s", "\n".join(report.timing_lines()))
    return report


def load_pack(registry: NodeRegistry, path: str, *, ignore: Iterable[str] = ()) -> PackResult:
    """Import one pack (file or package) and register what it provides. Never raises."""
    path = os.path.abspath(path)
    name = pack_name(path)
    is_file = os.path.isfile(path)
    # QUIRK(docs/execution.md §1.10): ComfyUI's sys.modules names are whole paths, so two packs of the
    # same name in different folders do not collide.
    module_name = os.path.splitext(path)[0] if is_file else path.replace(".", "_x_")
    started = time.perf_counter()
    try:
        module = _import(module_name, path if is_file else os.path.join(path, "__init__.py"))
        module_dir = os.path.dirname(path) if is_file else path
        web_dir = _register_web_dirs(registry, module, path, module_dir, name)
        node_types = _register_nodes(registry, module, name, frozenset(ignore))
    except Exception as exc:
        seconds = time.perf_counter() - started
        detail = str(exc) if isinstance(exc, _PackError) else traceback.format_exc()
        log.warning("Cannot import %s module for custom nodes: %s\n%s", path, exc, detail)
        return PackResult(name, path, module_name, seconds, error=detail)
    return PackResult(name, path, module_name, time.perf_counter() - started, node_types, web_dir)


def _import(module_name: str, file_path: str) -> Any:
    spec = importlib.util.spec_from_file_location(module_name, file_path)
    if spec is None or spec.loader is None:
        raise _PackError(f"{file_path} is not importable")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _register_nodes(registry: NodeRegistry, module: Any, name: str, ignore: frozenset[str]) -> tuple[str, ...]:
    mappings = getattr(module, "NODE_CLASS_MAPPINGS", None)
    if mappings is None:
        # QUIRK(docs/execution.md §1.10): comfy_entrypoint counts only without NODE_CLASS_MAPPINGS.
        if hasattr(module, "comfy_entrypoint"):
            return _register_extension(registry, module, name, ignore)
        raise _PackError("the module has no NODE_CLASS_MAPPINGS or comfy_entrypoint")
    python_module = f"{MODULE_PARENT}.{name}"
    registered = []
    for class_type, cls in dict(mappings).items():
        if class_type in ignore:
            log.info("custom node %s from %s does not replace the built-in node", class_type, name)
            continue
        cls.RELATIVE_PYTHON_MODULE = python_module
        registry.register(class_type, cls, python_module=python_module)
        registered.append(class_type)
    # QUIRK(docs/execution.md §1.10): display names merge unfiltered, built-in names included.
    for class_type, display_name in dict(getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", None) or {}).items():
        registry.set_display_name(class_type, display_name)
    return tuple(registered)


def _register_extension(registry: NodeRegistry, module: Any, name: str, ignore: frozenset[str]) -> tuple[str, ...]:
    """A V3 pack: `comfy_entrypoint()` -> extension -> `get_node_list()` (docs/execution.md §1.10)."""
    entrypoint = module.comfy_entrypoint
    if not callable(entrypoint):
        raise _PackError("comfy_entrypoint is not callable")
    try:
        extension = resolve(entrypoint())
        # ComfyUI checks for its ComfyExtension class; any object with get_node_list serves here.
        if not callable(getattr(extension, "get_node_list", None)):
            raise _PackError("comfy_entrypoint did not return a ComfyExtension")
        node_list = resolve(extension.get_node_list())
        if not isinstance(node_list, list):
            raise _PackError("comfy_entrypoint did not return a list of nodes")
        python_module = f"{MODULE_PARENT}.{name}"
        registered = []
        for cls in node_list:
            schema = cls.GET_SCHEMA()
            class_type = schema.node_id
            if class_type in ignore:
                log.info("custom node %s from %s does not replace the built-in node", class_type, name)
            else:
                cls.RELATIVE_PYTHON_MODULE = python_module
                registry.register(class_type, cls, python_module=python_module)
                registered.append(class_type)
            # As for V1 display names, a built-in node's name is not protected.
            if schema.display_name is not None:
                registry.set_display_name(class_type, schema.display_name)
    except _PackError:
        raise
    except Exception as exc:
        raise _PackError(f"Error while calling comfy_entrypoint: {exc}\n{traceback.format_exc()}") from exc
    return tuple(registered)


def _register_web_dirs(registry: NodeRegistry, module: Any, path: str, module_dir: str, name: str) -> str | None:
    web_dir = None
    project = _pyproject_web(path)
    if project is not None:
        project_name, candidate = project
        if os.path.isdir(candidate):
            registry.web_dirs[project_name] = web_dir = candidate
    declared = getattr(module, "WEB_DIRECTORY", None)
    if declared is not None:
        candidate = os.path.abspath(os.path.join(module_dir, declared))
        if os.path.isdir(candidate):
            # ComfyUI keys a single-file pack by its whole path minus ".py"; we use the pack name,
            # which is what /extensions/<name>/ URLs need.
            registry.web_dirs[name] = web_dir = candidate
    return web_dir


def _pyproject_web(path: str) -> tuple[str, str] | None:
    """(project name, web dir) from a package's `pyproject.toml` `[tool.comfy] web`, if declared."""
    toml_path = os.path.join(path, "pyproject.toml")
    if not os.path.isfile(toml_path):
        return None
    data: dict[str, Any]
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            with open(toml_path, "rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            log.warning("Unable to parse %s: %s", toml_path, exc)
            return None
    else:
        log.warning("cannot read %s: tomllib needs Python 3.11", toml_path)
        return None
    web = ((data.get("tool") or {}).get("comfy") or {}).get("web")
    if not web:
        return None
    project_name = (data.get("project") or {}).get("name") or os.path.basename(path)
    return str(project_name), os.path.join(path, str(web))


# -- extra_model_paths.yaml ----------------------------------------------------------------------
def apply_extra_model_paths(folders: Folders, yaml_path: str) -> list[str]:
    """Add the folders an `extra_model_paths.yaml` declares; return its `custom_nodes` folders.

    Each top-level section may set `base_path` (relative to the yaml's folder; `~` and `$VARS`
    expanded) and `is_default`; every other key is a model folder name whose value is one path or
    several, one per line (a yaml list also works). Paths are joined to `base_path`, else to the
    yaml's folder. Raises OSError / yaml.YAMLError for an unreadable file.
    """
    import yaml

    with open(yaml_path, encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    yaml_dir = os.path.dirname(os.path.abspath(yaml_path))
    custom_nodes: list[str] = []
    for section_name, section in config.items():
        if not isinstance(section, dict):
            continue
        section = dict(section)
        base_path = section.pop("base_path", None)
        if base_path:
            base_path = os.path.expandvars(os.path.expanduser(str(base_path)))
            if not os.path.isabs(base_path):
                base_path = os.path.abspath(os.path.join(yaml_dir, base_path))
        is_default = bool(section.pop("is_default", False))
        for folder_name, value in section.items():
            for entry in _path_entries(value):
                full = os.path.join(base_path, entry) if base_path else os.path.join(yaml_dir, entry)
                full = os.path.normpath(full)
                log.info("Adding extra search path %s %s (from %s)", folder_name, full, section_name)
                folders.add_model_folder_path(folder_name, full, is_default)
                if folder_name == "custom_nodes":
                    custom_nodes.append(full)
    return custom_nodes


def _path_entries(value: Any) -> list[str]:
    if value is None:
        return []
    lines = value if isinstance(value, list) else str(value).split("\n")
    return [str(line).strip() for line in lines if str(line).strip()]
