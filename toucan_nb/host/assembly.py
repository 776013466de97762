"""`start_runtime`: a runtime assembled with the node library and ComfyUI's modules, then started.

The runtime package knows nothing above it: it loads no nodes, installs no ComfyUI aliases and
leaves process-wide settings alone. Whoever hosts a runtime puts the pieces together, as an
application's start-up does, and both hosts (`toucan-nb serve`, host/serve.py, and the kernel,
notebook/session.py) do it through this one function so that the order of the steps is written
once. It lives in `host/` because host is the layer that may import the runtime, the node library
and the compatibility layer together (tests/test_layering.py), and the notebook already depends
on host for its loopback endpoint.

The steps, in order (each needs the ones before it):

1. the folders: the temp folder emptied and every folder created (`Runtime.prepare_folders`),
   then made the process's active ones (`runtime.folders.set_active`), which `folder_paths` and
   the built-in image nodes read;
2. the torch device pinned (`runtime.device.configure`) before any node allocates on it;
3. the built-in node library registered (`toucan_nb.nodes`), `--disable-metadata` applied;
4. ComfyUI's modules installed as aliases and attached to this runtime (`toucan_nb.compat`),
   before any custom node imports them;
5. custom node packs loaded from the `custom_nodes` folders and `config.custom_node_dirs`, their
   report kept as `runtime.load_report`;
6. the persisted queue and history restored (`Runtime.restore`);
7. the objects start-up left behind frozen out of the garbage collector's reach (`gc.freeze`);
8. the executor thread started (`Runtime.start`).

Call it from the thread that owns start-up (the kernel's shell, or serve's start-up thread).
"""

from __future__ import annotations

import gc
import os

from toucan_nb.runtime import device
from toucan_nb.runtime.folders import set_active
from toucan_nb.runtime.runtime import Runtime

__all__ = ["start_runtime"]


def start_runtime(runtime: Runtime) -> Runtime:
    """Assemble and start `runtime` (the steps of the module docstring); returns it.

    Does nothing to a runtime that has started already. Raises what node registration, the
    alias installation or opening the store raise; a custom node pack that fails to import is
    logged and reported in `load_report`, not raised.
    """
    if runtime.started:
        return runtime
    config = runtime.config
    runtime.prepare_folders()
    set_active(runtime.folders)
    device.configure(config.device, config.cpu)
    if config.load_builtin_nodes:
        from toucan_nb.nodes import register_builtin_nodes, set_metadata_enabled
        from toucan_nb.nodes.step_progress import set_preview_defaults

        register_builtin_nodes(runtime.registry)
        set_metadata_enabled(not config.disable_metadata)
        set_preview_defaults(config.preview_method, config.preview_size)
        from toucan_nb.diffusion import memory

        runtime.unload_hooks.append(memory.unload_all)
    from toucan_nb import compat

    compat.install(runtime, shadow_real=config.shadow_real_comfyui)
    from toucan_nb.runtime.loader import load_custom_nodes

    dirs = [*runtime.folders.custom_nodes_dirs, *config.custom_node_dirs]
    runtime.load_report = load_custom_nodes(runtime.registry, [d for d in dict.fromkeys(dirs) if os.path.isdir(d)],
                                            disable_all=config.disable_all_custom_nodes)
    runtime.restore()
    # torch and the node packs leave ~1.7e5 long-lived objects behind (gc.get_freeze_count()
    # after start); every full collection would walk them all again. Freezing them keeps a
    # collection proportional to what prompts allocate.
    gc.collect()
    gc.freeze()
    return runtime.start()
