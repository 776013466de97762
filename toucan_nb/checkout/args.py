"""ComfyUI's command line for the hosted checkout: what `comfy.cli_args` parses at import.

ComfyUI's modules read their settings (`--cpu`, `--lowvram`, `--preview-method`, directories,
dtypes ...) from `comfy.cli_args.args`, built once when that module is first imported. The host
writes the runtime's settings as ComfyUI flags, followed by any flags the user passed for ComfyUI
(`RuntimeConfig.comfyui_args`; `toucan-nb serve` passes on every ComfyUI flag it was given).
"""

from __future__ import annotations

import os
from typing import Any


def comfyui_argv(config: Any) -> list[str]:
    """The flags for ComfyUI's parser (without the program name), derived from a RuntimeConfig."""
    root = os.path.abspath(config.comfyui_root)
    argv: list[str] = []
    if config.cpu:
        argv.append("--cpu")
    if config.base_dir and os.path.abspath(config.base_dir) != root:
        argv += ["--base-directory", os.path.abspath(config.base_dir)]
    for flag, value in (("--input-directory", config.input_dir), ("--output-directory", config.output_dir),
                        ("--user-directory", config.user_dir)):
        if value:
            argv += [flag, os.path.abspath(value)]
    if config.temp_dir:
        # ComfyUI's --temp-directory X means X/temp; the runtime's temp_dir is the folder itself.
        argv += ["--temp-directory", os.path.dirname(os.path.abspath(config.temp_dir))]
    argv += ["--preview-method", config.preview_method, "--preview-size", str(config.preview_size)]
    if config.disable_all_custom_nodes:
        argv.append("--disable-all-custom-nodes")
    if config.disable_metadata:
        argv.append("--disable-metadata")
    return [*argv, *config.comfyui_args]
