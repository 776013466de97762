"""The checkout's `folder_paths` configured as ComfyUI's `main.py` does, and mirrored by the runtime.

ComfyUI's nodes read `folder_paths`; the route set (`/models`, `/embeddings`, `/view_metadata`,
uploads, `/view`) reads the runtime's `Folders`. `sync_folders` makes the runtime's folders the very
lists and sets of `folder_paths.folder_names_and_paths`, in its order, so both answer the same.
"""

from __future__ import annotations

import itertools
import logging
import os
from typing import Any

log = logging.getLogger(__name__)


def apply_custom_paths(checkout: Any, custom_node_dirs: list[str]) -> None:
    """What `main.py`'s `apply_custom_paths` does: the checkout's `extra_model_paths.yaml`, then
    `--extra-model-paths-config` files, then the output/input/user/temp folders; and the host's
    extra custom node folders (`RuntimeConfig.custom_node_dirs`)."""
    extra_config = checkout.module("utils.extra_config")
    fp = checkout.module("folder_paths")
    args = checkout.args
    default_yaml = os.path.join(checkout.root, "extra_model_paths.yaml")
    if os.path.isfile(default_yaml):
        extra_config.load_extra_path_config(default_yaml)
    for path in itertools.chain(*(getattr(args, "extra_model_paths_config", None) or [])):
        extra_config.load_extra_path_config(path)
    if args.output_directory:
        fp.set_output_directory(os.path.abspath(args.output_directory))
    for name in ("checkpoints", "clip", "vae", "diffusion_models", "loras"):
        # main.py lets the model-saving nodes' output folders be read back as models.
        fp.add_model_folder_path(name, os.path.join(fp.get_output_directory(), name))
    if args.input_directory:
        fp.set_input_directory(os.path.abspath(args.input_directory))
    if getattr(args, "user_directory", None):
        fp.set_user_directory(os.path.abspath(args.user_directory))
    if args.temp_directory:
        fp.set_temp_directory(os.path.join(os.path.abspath(args.temp_directory), "temp"))
    known = {os.path.abspath(p) for p in fp.get_folder_paths("custom_nodes")}
    for folder in custom_node_dirs:
        if os.path.abspath(folder) not in known:
            fp.add_model_folder_path("custom_nodes", os.path.abspath(folder))


def sync_folders(folders: Any, fp: Any) -> None:
    """Point the runtime's `Folders` at what `folder_paths` holds (shared lists: later additions
    to an existing folder kind show in both)."""
    folders.base_dir = os.path.abspath(fp.base_path)
    folders.input_dir = os.path.abspath(fp.get_input_directory())
    folders.output_dir = os.path.abspath(fp.get_output_directory())
    folders.temp_dir = os.path.abspath(fp.get_temp_directory())
    folders.user_dir = os.path.abspath(fp.get_user_directory())
    folders.models_dir = os.path.abspath(fp.models_dir)
    folders.replace_model_folders(dict(fp.folder_names_and_paths))
