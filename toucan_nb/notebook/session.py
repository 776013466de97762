"""The kernel's one `Runtime`: created on first use, shared by the notebook API and `%load_ext`.

`get_runtime()` creates and starts a runtime the first time (base directory `default_base_dir()`;
put together with the node library and ComfyUI's modules by `toucan_nb.host.assembly.start_runtime`,
as `toucan-nb serve` does), registers the notebook's capture node in it (`capture.py`) and returns
the same object afterwards. This per-process slot is the notebook's one piece of global state: a
kernel has one runtime, as it has one GPU. Any thread may call these functions; creation is locked.

Where a kernel keeps its data: one folder per user, whatever the kernel's working directory (a
notebook's kernel runs in the notebook's folder): `$TOUCAN_NB_HOME`, else ``~/toucan_nb``. Every
kernel of the user shares its input/output/user folders and its one queue-and-history database, as
the users of one ComfyUI installation expect (several kernels at once: `toucan_nb.runtime.store`).
``toucan-nb serve`` keeps ComfyUI's own rule (``--base-directory``, else its working directory).
Older versions used ``./toucan_data`` of the working directory; a kernel that finds one says in its
log where its data lives now, and moves nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from typing import TYPE_CHECKING, Any

from toucan_nb.runtime.errors import RuntimeUnavailableError

if TYPE_CHECKING:
    from toucan_nb.runtime.runtime import Runtime

log = logging.getLogger(__name__)

_lock = threading.Lock()
_runtime: Runtime | None = None

# The client id notebook prompts carry. No socket has it, so their events stay off the web UI (whose
# node ids could collide with ours), and ComfyUI re-emits cached output nodes' ui only for prompts
# with a client (docs/execution.md §3.3), which a re-run cell needs to get its images back.
NOTEBOOK_CLIENT_ID = f"toucan-notebook-{uuid.uuid4().hex[:12]}"


LEGACY_DIRNAME = "toucan_data"  # where versions before the per-user folder kept a kernel's data


def default_base_dir() -> str:
    """`$TOUCAN_NB_HOME`, else ``toucan_nb`` in the user's home folder (``./toucan_data`` without one)."""
    configured = os.environ.get("TOUCAN_NB_HOME")
    if configured:
        return os.path.expanduser(configured)
    home = os.path.expanduser("~")
    if home == "~" or not os.path.isdir(home):
        return os.path.join(os.getcwd(), LEGACY_DIRNAME)
    return os.path.join(home, "toucan_nb")


def note_legacy_folder(base_dir: str) -> None:
    """Log where data lives now when the working directory holds an older version's ``toucan_data``."""
    legacy = os.path.join(os.getcwd(), LEGACY_DIRNAME)
    if os.path.isdir(legacy) and os.path.realpath(legacy) != os.path.realpath(base_dir):
        log.warning("toucan_nb: this kernel keeps its outputs, inputs and history in %s (one folder per user, "
                    "set by $TOUCAN_NB_HOME). %s is from an older toucan_nb and is no longer used: move its "
                    "input/, output/ and user/ folders there to keep them (nothing was moved).", base_dir, legacy)


def get_runtime(create: bool = True, **config: Any) -> Runtime:
    """The process's started Runtime, created on first call with `RuntimeConfig(**config)`.

    `config` holds `RuntimeConfig` fields (`base_dir` defaults to `default_base_dir()`). Raises
    `RuntimeUnavailableError` when there is none and `create` is False, and ValueError when a runtime
    exists and `config` asks for different settings (call `stop_runtime()` first).
    """
    global _runtime
    with _lock:
        if _runtime is not None:
            _check_same_config(_runtime, config)
            return _runtime
        if not create:
            raise RuntimeUnavailableError("no toucan_nb runtime in this process: run `%load_ext toucan_nb` "
                                          "or call toucan_nb.notebook.runtime()")
        from toucan_nb.host.assembly import start_runtime
        from toucan_nb.runtime.runtime import Runtime, RuntimeConfig

        settings = dict(config)
        if "comfyui_root" not in settings and os.environ.get("TOUCAN_NB_COMFYUI_ROOT"):
            # A JupyterHub image sets the checkout once for every kernel (docs/comfyui-checkout.md).
            settings["comfyui_root"] = os.environ["TOUCAN_NB_COMFYUI_ROOT"]
        if settings.get("comfyui_root") and "base_dir" not in settings:
            settings["base_dir"] = os.path.abspath(os.path.expanduser(settings["comfyui_root"]))
        elif "base_dir" not in settings:
            settings["base_dir"] = default_base_dir()
            note_legacy_folder(settings["base_dir"])
        runtime = start_runtime(Runtime(RuntimeConfig(**settings)))
        attach(runtime)
        _runtime = runtime
        return runtime


def find_runtime() -> Runtime | None:
    """The process's runtime, or None when none was created."""
    return _runtime


def set_runtime(runtime: Runtime) -> None:
    """Make an existing, started runtime the process's one (tests, embedding). Replaces any other."""
    global _runtime
    with _lock:
        attach(runtime)
        _runtime = runtime


def stop_runtime() -> None:
    """Stop and forget the process's runtime (`%unload_ext toucan_nb`). Does nothing without one."""
    global _runtime
    with _lock:
        runtime, _runtime = _runtime, None
    if runtime is not None:
        runtime.stop()


def attach(runtime: Runtime) -> None:
    """Give `runtime` what the notebook API needs from it: the capture node class (idempotent)."""
    from toucan_nb.notebook.capture import install_capture

    install_capture(runtime)


def _check_same_config(runtime: Runtime, config: dict[str, Any]) -> None:
    different = {k: v for k, v in config.items() if getattr(runtime.config, k, object()) != v}
    if different:
        raise ValueError(f"a runtime is already running with other settings ({sorted(different)}); "
                         "call toucan_nb.notebook.session.stop_runtime() first")
