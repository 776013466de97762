"""Imports point one way (docs/development.md §5.2): every import of every module, checked against one table.

The source of each module under toucan_nb/ and server_ext/toucan_nb_server/ is parsed (nothing is
imported, so a module's own import-time effects cannot hide or fake an edge). Every import counts:
module level, inside functions (lazy) and under TYPE_CHECKING alike, since each is a dependency.
An import from one package into another must be allowed by `ALLOWED`, or be one of the module-level
`EXCEPTIONS`, each with its reason; and the packages must not import each other in a circle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = {"toucan_nb": REPO / "toucan_nb", "toucan_nb_server": REPO / "server_ext" / "toucan_nb_server"}

# Package -> the packages it may import. Read from the bottom up: runtime imports nothing of
# toucan_nb; each package above may import the ones below it.
ALLOWED: dict[str, frozenset[str]] = {
    # The graph runtime knows nothing above it (no nodes, no compat, no HTTP, no Jupyter).
    "runtime": frozenset(),
    # The diffusion engine (models, sampling, previews): plain torch, on the runtime's device.
    "diffusion": frozenset({"runtime"}),
    # The node library is registered into the runtime's registry and runs on its device/folders;
    # its model nodes wrap the diffusion engine.
    "nodes": frozenset({"runtime", "diffusion"}),
    # ComfyUI's modules are views onto the runtime; `comfy.utils`' image resampling is the node
    # library's own (compat/tensor_utils.py -> nodes/resample.py).
    "compat": frozenset({"runtime", "nodes"}),
    # Scale-out runs the runtime's queue on Ray workers; a worker's runtime is assembled by the
    # host's function, handed in (so scale-out sits below the hosts).
    "scaleout": frozenset({"runtime"}),
    # The route set is written against runtime.interface.RuntimeInterface.
    "api": frozenset({"runtime"}),
    # The hosts assemble runtime, nodes and compat (host/assembly.py) and serve the route set.
    "host": frozenset({"api", "runtime", "compat", "nodes", "diffusion", "scaleout"}),
    # The notebook API sits on the runtime; the kernel's start-up and loopback endpoint are host's.
    "notebook": frozenset({"runtime", "compat", "nodes", "host"}),
    # The Jupyter extension talks to kernels over HTTP/WS only: no package as a whole, just the
    # modules EXCEPTIONS lists (the discovery-file schema first of all).
    "server_ext": frozenset(),
    # The entry points at the very top: toucan_nb/__init__.py (`%load_ext toucan_nb`, whose imports
    # run inside load_ipython_extension) and toucan_nb/__main__.py (`python -m toucan_nb`).
    "toucan_nb": frozenset({"notebook", "host"}),
}

# (importing package or module, imported module) -> why this import across the table is right.
# A key matches the importer itself or any module below it, and the imported module itself or any
# module below it.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("server_ext", "toucan_nb.host.connection_file"):
        "the discovery-file schema (and the secret header) is defined once, for kernel and extension",
    ("server_ext", "toucan_nb.api.errors"):
        "one exception -> response mapping serves the route set and the extension (docs/development.md §5.5: "
        "the extension's 503 body goes through the same mapping); it imports only runtime.errors",
    ("server_ext", "toucan_nb.runtime.errors"):
        "the error vocabulary the extension answers with (RuntimeUnavailableError -> 503, "
        "NotFoundError -> 404, ToucanError logged without a traceback); a module with no imports",
    ("server_ext", "toucan_nb.api.frontend"):
        "the extension serves the frontend bundle itself, with the route set's file server (ETag, "
        "Range, gzip), so that the UI loads before any kernel attaches (DESIGN decision 2)",
    ("server_ext", "toucan_nb.api.static"):
        "safe_join, the one path-containment check for served files",
    ("toucan_nb.api.custom_routes", "toucan_nb.compat"):
        "the routes custom nodes declare on PromptServer.instance.routes live in compat/state.py, the "
        "only home of ComfyUI's process globals (docs/development.md §5.9); the route set mounts them",
    ("toucan_nb.api.handlers.queue", "toucan_nb.compat"):
        "POST /prompt runs the on-prompt handlers custom nodes add with "
        "PromptServer.instance.add_on_prompt_handler (compat/state.py), as ComfyUI's server does",
    ("*", "toucan_nb"):
        "the root module, for `__version__` only: its body imports nothing of toucan_nb "
        "(test_the_root_module_imports_nothing_at_import_time)",
}

# Third-party packages a layer must never import (docs/development.md §5.2).
FORBIDDEN_THIRD_PARTY: dict[str, frozenset[str]] = {
    "runtime": frozenset({"tornado", "jupyter_server", "jupyter_core", "ipykernel", "IPython", "ipywidgets",
                          "anywidget", "aiohttp"}),
    "api": frozenset({"jupyter_server", "ipykernel", "IPython", "ipywidgets", "anywidget"}),
    "nodes": frozenset({"tornado", "jupyter_server", "ipywidgets", "anywidget"}),
}


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of both distributions' packages."""
    out: dict[str, Path] = {}
    for top, root in SOURCES.items():
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join((top, *parts))] = path
    return out


def package_of(module: str) -> str | None:
    """The layer of a toucan module: runtime, api, ...; server_ext; toucan_nb for the entry points."""
    parts = module.split(".")
    if parts[0] == "toucan_nb_server":
        return "server_ext"
    if parts[0] != "toucan_nb":
        return None
    if len(parts) == 1 or parts[1] == "__main__":
        return "toucan_nb"
    return parts[1]


def _imports(module: str, path: Path, known: Iterable[str] = ()) -> list[str]:
    """Every module `module` imports. For `from x import y` that is x.y when x.y is a module
    (one of `known`), else x (y is a name defined in x)."""
    known = set(known)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                out.append(submodule if submodule in known else target)
    return out


def _matches(key: str, name: str) -> bool:
    return key == "*" or name == key or name.startswith(key + ".")


def _exception_for(importer: str, imported: str) -> str | None:
    importer_package = package_of(importer)
    for (who, what), reason in EXCEPTIONS.items():
        if (who in ("*", importer_package) or _matches(who, importer)) and (
                imported == what if what == "toucan_nb" else _matches(what, imported)):
            return reason
    return None


def _edges() -> dict[tuple[str, str], list[str]]:
    """(importer package, imported package) -> 'importer -> imported' lines, across packages only."""
    modules = _modules()
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module, path in modules.items():
        source = package_of(module)
        for imported in _imports(module, path, modules):
            target = package_of(imported)
            if target is None or target == source or imported not in modules:
                continue
            edges[(source, target)].append(f"{module} -> {imported}")
    return edges


def test_every_module_is_in_a_known_package():
    unknown = {package_of(m) for m in _modules()} - set(ALLOWED)
    assert not unknown, f"packages missing from ALLOWED: {sorted(unknown)}"


def test_no_upward_import():
    wrong = []
    for (source, target), lines in sorted(_edges().items()):
        if target in ALLOWED[source]:
            continue
        for line in lines:
            importer, _, imported = line.partition(" -> ")
            if _exception_for(importer, imported) is None:
                wrong.append(f"{line}   ({source} may import: {sorted(ALLOWED[source]) or 'nothing'})")
    assert not wrong, "imports against the layering table:\n" + "\n".join(wrong)


def test_every_exception_is_still_used():
    used = set()
    for lines in _edges().values():
        for line in lines:
            importer, _, imported = line.partition(" -> ")
            for (who, what) in EXCEPTIONS:
                if (who in ("*", package_of(importer)) or _matches(who, importer)) and (
                        imported == what if what == "toucan_nb" else _matches(what, imported)):
                    used.add((who, what))
    assert set(EXCEPTIONS) - used == set(), "exceptions nothing needs any more: drop them"


def test_no_circular_import_between_packages():
    graph: dict[str, set[str]] = defaultdict(set)
    for (source, target) in _edges():
        if source != "toucan_nb":  # the entry points import lazily, from the top: nothing imports them back
            graph[source].add(target)
    graph["toucan_nb"] = set()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for package in sorted(graph):
        if package not in state:
            visit(package, [package])
    assert not cycles, "packages that import each other: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_allowed_table_itself_has_no_cycle():
    order: list[str] = []
    remaining = {k: set(v) for k, v in ALLOWED.items()}
    while remaining:
        ready = sorted(k for k, deps in remaining.items() if not deps - set(order))
        assert ready, f"ALLOWED has a cycle among {sorted(remaining)}"
        order += ready
        for k in ready:
            del remaining[k]
    assert order[0] == "runtime"


def test_the_root_module_imports_nothing_at_import_time():
    tree = ast.parse((SOURCES["toucan_nb"] / "__init__.py").read_text(encoding="utf-8"))
    top_level = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    names = {alias.name for node in top_level if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or "" for node in top_level if isinstance(node, ast.ImportFrom)}
    assert not {n for n in names if n.split(".")[0] == "toucan_nb"}, names


def test_no_layer_imports_what_it_must_not():
    wrong = []
    for module, path in _modules().items():
        forbidden = FORBIDDEN_THIRD_PARTY.get(package_of(module) or "", frozenset())
        for imported in _imports(module, path):
            if imported.split(".")[0] in forbidden:
                wrong.append(f"{module} -> {imported}")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_the_walker_sees_lazy_relative_and_type_checking_imports(tmp_path):
    # The checks above are only as good as the walk: it must see every kind of import.
    source = tmp_path / "mod.py"
    source.write_text(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "from .events import Event\n"
        "if TYPE_CHECKING:\n"
        "    from toucan_nb.api.context import ApiContext\n"
        "def f():\n"
        "    import toucan_nb.compat\n"
    )
    found = set(_imports("toucan_nb.runtime.mod", source, {"toucan_nb.runtime.events"}))
    # `from .events import Event`: the module events; `from toucan_nb.api.context import ApiContext`:
    # the module itself when ApiContext is no module of its own.
    assert {"toucan_nb.runtime.events", "toucan_nb.api.context", "toucan_nb.compat"} <= found
    assert "toucan_nb.runtime.events.Event" not in found
    assert package_of("toucan_nb.__main__") == "toucan_nb" and package_of("toucan_nb_server.relay") == "server_ext"
