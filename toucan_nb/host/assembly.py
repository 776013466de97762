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
2. the torch device pinned (`runtime.device.configure`) before any node allocates on it, and the
   server's preview method and size set (`runtime.preview_settings.configure`);
3. the built-in node library registered (`toucan_nb.nodes`), `--disable-metadata` applied;
4. ComfyUI's modules installed as aliases and attached to this runtime (`toucan_nb.compat`),
   before any custom node imports them;
5. custom node packs loaded from the `custom_nodes` folders and `config.custom_node_dirs`, their
   report kept as `runtime.load_report`;
6. with `config.ray` (or `TOUCAN_NB_RAY`), a Ray backend handed to the runtime (`toucan_nb.scaleout`);
7. the persisted queue and history restored (`Runtime.restore`);
8. the objects start-up left behind frozen out of the garbage collector's reach (`gc.freeze`);
9. the executor thread, or the Ray backend, started (`Runtime.start`).

Call it from the thread that owns start-up (the kernel's shell, or serve's start-up thread).
"""

from __future__ import annotations

import gc
import os

from toucan_nb.runtime import device, preview_settings
from toucan_nb.runtime.folders import set_active
from toucan_nb.runtime.runtime import Runtime

__all__ = ["start_runtime"]


def start_runtime(runtime: Runtime, start: bool = True) -> Runtime:
    """Assemble and start `runtime` (the steps of the module docstring); returns it.

    `start=False` stops after step 5: an assembled runtime whose executor the caller drives
    itself (a scale-out worker). With `config.ray` set, prompts run on Ray workers, each assembled
    by this same function (`toucan_nb.scaleout`).

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
    preview_settings.configure(config.preview_method, config.preview_size)
    if config.load_builtin_nodes:
        from toucan_nb.nodes import register_builtin_nodes, set_metadata_enabled

        register_builtin_nodes(runtime.registry)
        set_metadata_enabled(not config.disable_metadata)
        from toucan_nb.diffusion import memory

        runtime.unload_hooks.append(memory.unload_all)  # POST /free unloads the engine's models
    from toucan_nb import compat

    compat.install(runtime, shadow_real=config.shadow_real_comfyui)
    from toucan_nb.runtime.loader import load_custom_nodes

    dirs = [*runtime.folders.custom_nodes_dirs, *config.custom_node_dirs]
    runtime.load_report = load_custom_nodes(runtime.registry, [d for d in dict.fromkeys(dirs) if os.path.isdir(d)],
                                            disable_all=config.disable_all_custom_nodes)
    if not start:
        return runtime
    _attach_scaleout(runtime)
    runtime.restore()
    # torch and the node packs leave ~1.7e5 long-lived objects behind (gc.get_freeze_count()
    # after start); every full collection would walk them all again. Freezing them keeps a
    # collection proportional to what prompts allocate.
    gc.collect()
    gc.freeze()
    return runtime.start()


def _attach_scaleout(runtime: Runtime) -> None:
    """With `config.ray` (or TOUCAN_NB_RAY), hand the runtime a Ray backend; Ray is imported only then."""
    config = runtime.config
    from toucan_nb.scaleout.settings import settings_from

    settings = settings_from(config.ray, config.ray_workers, config.ray_num_gpus, config.ray_lease_s,
                             config.ray_worker_prefix)
    if settings is None:
        return
    import dataclasses
    import functools

    from toucan_nb.scaleout import RayBackend

    worker_config = {k: v for k, v in dataclasses.asdict(config).items() if not k.startswith("ray")}
    runtime.backend = RayBackend(settings, worker_config, functools.partial(start_runtime, start=False))
