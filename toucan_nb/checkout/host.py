"""Importing a ComfyUI checkout's modules in `main.py`'s order, and loading its node library.

`import_checkout(runtime)` runs before the runtime prepares its folders; `load_node_library`
runs where the built-in library and custom node packs would otherwise load
(`host.assembly.start_runtime`). The duties, in order (each needs the ones before it):

1. the checkout is checked (a `nodes.py`, a `comfy/` package, a `folder_paths.py`) and put first on
   `sys.path`; none of the names it provides may already be imported from elsewhere;
2. toucan_nb's `server` alias is installed and attached to the runtime (only that alias: the
   running server is the route set, and `PromptServer.instance` must be a view of it);
3. ComfyUI's flags (`args.py`) are in `sys.argv` while `comfy.cli_args` is first imported, so
   `--cpu`, `--lowvram`, `--preview-method` ... reach `comfy.cli_args.args` before
   `comfy.model_management` reads them;
4. `comfy_execution.utils.get_executing_context` answers with the node the runtime is executing,
   `comfy_execution.graph_utils.ExecutionBlocker` is the runtime's, and
   `comfy_execution.progress.get_progress_state()` the running prompt's progress (`bridge.py`);
5. the checkout's root `utils.extra_config` is imported before `nodes` (which puts `comfy/` first
   on `sys.path`, where `comfy/utils.py` would shadow it), then `folder_paths` is configured as
   `main.py` does (extra_model_paths.yaml, output/input/user/temp folders), and the custom packs'
   `prestartup_script.py` files run (`prestartup.py`);
6. `comfy.model_management`'s interrupt functions, the progress bar hook, the per-prompt preview
   method and the model unloader are pointed at the runtime (`bridge.py`);
7. `nodes` is imported and the runtime's folders mirror `folder_paths` (`folders.py`);
8. (`load_node_library`) ComfyUI's extra-node loader runs (`comfy_extras`, API nodes, custom nodes,
   `--extra-model-paths-config` custom node folders) and every class of `nodes.NODE_CLASS_MAPPINGS`
   is registered, in that order, with ComfyUI's display names and module names.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import logging
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from toucan_nb.checkout import bridge
from toucan_nb.checkout.args import comfyui_argv
from toucan_nb.checkout.folders import apply_custom_paths, sync_folders
from toucan_nb.checkout.prestartup import run_prestartup_scripts

log = logging.getLogger(__name__)

# Top-level modules a checkout provides that must come from it (toucan_nb's aliases of some of
# them are not installed; an earlier import from elsewhere is an error).
CHECKOUT_NAMES: tuple[str, ...] = ("comfy", "comfy_extras", "comfy_api", "comfy_execution", "comfy_api_nodes",
                                   "comfy_config", "folder_paths", "nodes", "latent_preview", "node_helpers",
                                   "utils", "protocol")
REQUIRED_FILES: tuple[str, ...] = ("nodes.py", "folder_paths.py", os.path.join("comfy", "cli_args.py"))


class CheckoutError(Exception):
    """A checkout that cannot be hosted; the message says which path and what failed."""


@dataclass
class Checkout:
    """The imported checkout: its root, the parsed flags and the modules the host works with."""

    root: str
    argv: list[str]
    args: Any
    modules: dict[str, ModuleType] = field(default_factory=dict)

    def module(self, name: str) -> ModuleType:
        return self.modules[name]


_lock = threading.Lock()
_current: Checkout | None = None


def import_checkout(runtime: Any) -> Checkout:
    """Steps 1-7 of the module docstring for `runtime.config.comfyui_root`; raises CheckoutError.

    A process hosts one checkout: a second runtime with the same root reuses it, another root is
    an error.
    """
    global _current
    root = os.path.abspath(os.path.expanduser(runtime.config.comfyui_root))
    with _lock:
        if _current is not None:
            if _current.root != root:
                raise CheckoutError(f"ComfyUI checkout {root}: this process already hosts {_current.root}; "
                                    "start a new process to use another one")
            bridge.attach(runtime, _current)
            sync_folders(runtime.folders, _current.module("folder_paths"))
            return _current
        _check_root(root)
        _check_not_imported(root)
        from toucan_nb import compat

        if root not in sys.path:
            sys.path.insert(0, root)
        compat.install(runtime, shadow_real=True, names=("server",))
        from toucan_nb.compat.installer import limit_aliases

        limit_aliases(("server",))  # an earlier runtime in this process may have installed them all
        argv = comfyui_argv(runtime.config)
        checkout = Checkout(root, argv, None)
        with _step(root, "comfy.cli_args (ComfyUI's command line: " + " ".join(argv) + ")"), _argv(argv):
            options = importlib.import_module("comfy.options")
            options.enable_args_parsing()
            checkout.args = importlib.import_module("comfy.cli_args").args
        # Older checkouts lack some of comfy_execution's modules: those duties then do not apply.
        for name, duty in (("comfy_execution.utils", bridge.bridge_context),
                           ("comfy_execution.graph_utils", bridge.bridge_blocker),
                           ("comfy_execution.progress", bridge.bridge_progress_state)):
            with _step(root, name):
                module = _import_if_present(name)
            if module is not None:
                checkout.modules[name] = module
                duty(module)
        for name in ("utils.extra_config", "folder_paths"):
            with _step(root, name):
                checkout.modules[name] = importlib.import_module(name)
        with _step(root, "folder_paths (extra_model_paths.yaml and folders)"):
            apply_custom_paths(checkout, runtime.config.custom_node_dirs)
        run_prestartup_scripts(checkout.module("folder_paths").get_folder_paths("custom_nodes"), checkout.args)
        for name in ("comfy.model_management", "comfy.utils", "latent_preview", "nodes"):
            with _step(root, name):
                checkout.modules[name] = importlib.import_module(name)
        bridge.install(checkout)
        bridge.attach(runtime, checkout)
        sync_folders(runtime.folders, checkout.module("folder_paths"))
        _current = checkout
        return checkout


def load_node_library(runtime: Any, checkout: Checkout) -> int:
    """Step 8: ComfyUI's extra-node loader, then every ComfyUI class into `runtime.registry`.

    Returns the number of classes registered. A custom pack that fails to import is logged and
    skipped by ComfyUI's loader itself; a failure of the loader as a whole is a CheckoutError.
    """
    nodes = checkout.module("nodes")
    args = checkout.args
    if not getattr(nodes, "_toucan_extra_nodes_loaded", False):
        init_custom = not getattr(args, "disable_all_custom_nodes", False) or bool(
            getattr(args, "whitelist_custom_nodes", None))
        kwargs: dict[str, Any] = {"init_custom_nodes": init_custom}
        init = getattr(nodes, "init_extra_nodes", None)
        if init is None:
            raise CheckoutError(f"ComfyUI checkout {checkout.root}: nodes.py has no init_extra_nodes")
        if "init_api_nodes" in inspect.signature(init).parameters:
            kwargs["init_api_nodes"] = not getattr(args, "disable_api_nodes", False)
        fp = checkout.module("folder_paths")
        base_packs = fp.get_folder_paths("custom_nodes")[:1]
        for folder in base_packs:  # a fresh --base-directory has none; ComfyUI's loader would fail
            os.makedirs(folder, exist_ok=True)
        with _step(checkout.root, "nodes.init_extra_nodes"):
            _run_to_completion(init(**kwargs))
        setattr(nodes, "_toucan_extra_nodes_loaded", True)  # noqa: B010 (once per process)
    registry = runtime.registry
    display = dict(getattr(nodes, "NODE_DISPLAY_NAME_MAPPINGS", {}))
    for name, cls in list(nodes.NODE_CLASS_MAPPINGS.items()):
        registry.register(name, cls, display_name=display.get(name),
                          python_module=getattr(cls, "RELATIVE_PYTHON_MODULE", None) or "nodes")
    registry.web_dirs.update(getattr(nodes, "EXTENSION_WEB_DIRS", {}))
    sync_folders(runtime.folders, checkout.module("folder_paths"))  # packs add model folders
    log.info("ComfyUI checkout %s: %d node classes", checkout.root, len(nodes.NODE_CLASS_MAPPINGS))
    return len(nodes.NODE_CLASS_MAPPINGS)


def _import_if_present(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise  # the module is there but needs something missing: a real failure
        log.info("this ComfyUI checkout has no %s", name)
        return None


def _run_to_completion(result: Any) -> Any:
    """Await `result` if it is awaitable, on a private loop in a private thread (the kernel's
    thread already runs one)."""
    if not inspect.isawaitable(result):
        return result
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = asyncio.run(_await(result))
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="toucan_nb-comfyui-nodes")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _check_root(root: str) -> None:
    if not os.path.isdir(root):
        raise CheckoutError(f"ComfyUI checkout {root}: no such directory")
    missing = [f for f in REQUIRED_FILES if not os.path.isfile(os.path.join(root, f))]
    if missing:
        raise CheckoutError(f"ComfyUI checkout {root}: not a ComfyUI checkout (missing {', '.join(missing)})")


def _check_not_imported(root: str) -> None:
    from toucan_nb.compat.installer import ALIAS_ROOT

    for name in CHECKOUT_NAMES:
        module = sys.modules.get(name)
        if module is None:
            continue
        where = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", [])), "?")
        if not os.path.abspath(where).startswith(root + os.sep):
            owner = "toucan_nb's ComfyUI aliases" if os.path.abspath(where).startswith(ALIAS_ROOT) else where
            raise CheckoutError(f"ComfyUI checkout {root}: module {name!r} is already imported from {owner}; "
                                "start a new process (or kernel) with the checkout configured from the start")


@contextlib.contextmanager
def _step(root: str, what: str) -> Iterator[None]:
    try:
        yield
    except CheckoutError:
        raise
    except SystemExit as exc:  # argparse rejecting a flag
        raise CheckoutError(f"ComfyUI checkout {root}: {what} failed: exited with {exc.code}") from None
    except Exception as exc:
        log.debug("ComfyUI checkout %s: %s failed", root, what, exc_info=True)
        raise CheckoutError(f"ComfyUI checkout {root}: importing {what} failed: {type(exc).__name__}: {exc}") from exc


@contextlib.contextmanager
def _argv(argv: list[str]) -> Iterator[None]:
    saved = sys.argv
    sys.argv = ["main.py", *argv]
    try:
        yield
    finally:
        sys.argv = saved
