"""`toucan-nb` / `python -m toucan_nb`: the command line.

`toucan-nb serve [flags]` runs the standalone server. ComfyUI's flags are also accepted directly
(`toucan-nb --listen 0.0.0.0 --port 8188`), so harnesses written for ComfyUI's `main.py` can start
it. Flags that map onto the runtime or the route set apply; every other ComfyUI flag is accepted
with a logged warning that it does not apply here. Main thread only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import toucan_nb

log = logging.getLogger(__name__)

DEFAULT_FRONTEND_VERSION = "comfyanonymous/ComfyUI@latest"
PREVIEW_METHODS = ("none", "auto", "latent2rgb", "taesd")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# ComfyUI flags that have no meaning here: (flag, kind) with kind "flag" (no value), "value" (one
# value), "optional" (an optional value) or "list" (zero or more values).
IGNORED_FLAGS: tuple[tuple[str, str], ...] = (
    ("--tls-keyfile", "value"), ("--tls-certfile", "value"),
    ("--auto-launch", "flag"), ("--disable-auto-launch", "flag"),
    ("--cuda-malloc", "flag"), ("--disable-cuda-malloc", "flag"),
    ("--force-fp32", "flag"), ("--force-fp16", "flag"),
    ("--fp32-unet", "flag"), ("--fp64-unet", "flag"), ("--bf16-unet", "flag"), ("--fp16-unet", "flag"),
    ("--fp8_e4m3fn-unet", "flag"), ("--fp8_e5m2-unet", "flag"), ("--fp8_e8m0fnu-unet", "flag"),
    ("--fp16-vae", "flag"), ("--fp32-vae", "flag"), ("--bf16-vae", "flag"), ("--cpu-vae", "flag"),
    ("--fp8_e4m3fn-text-enc", "flag"), ("--fp8_e5m2-text-enc", "flag"), ("--fp16-text-enc", "flag"),
    ("--fp32-text-enc", "flag"), ("--bf16-text-enc", "flag"),
    ("--force-channels-last", "flag"), ("--directml", "optional"), ("--oneapi-device-selector", "value"),
    ("--disable-ipex-optimize", "flag"), ("--supports-fp8-compute", "flag"),
    ("--use-split-cross-attention", "flag"), ("--use-quad-cross-attention", "flag"),
    ("--use-pytorch-cross-attention", "flag"), ("--use-sage-attention", "flag"),
    ("--use-flash-attention", "flag"), ("--disable-xformers", "flag"),
    ("--force-upcast-attention", "flag"), ("--dont-upcast-attention", "flag"),
    ("--enable-manager", "flag"), ("--disable-manager-ui", "flag"), ("--enable-manager-legacy-ui", "flag"),
    ("--gpu-only", "flag"), ("--highvram", "flag"), ("--normalvram", "flag"), ("--lowvram", "flag"),
    ("--novram", "flag"), ("--reserve-vram", "value"), ("--async-offload", "optional"),
    ("--disable-async-offload", "flag"), ("--disable-dynamic-vram", "flag"), ("--force-non-blocking", "flag"),
    ("--default-hashing-function", "value"), ("--disable-smart-memory", "flag"), ("--deterministic", "flag"),
    ("--fast", "list"), ("--disable-pinned-memory", "flag"), ("--mmap-torch-files", "flag"),
    ("--disable-mmap", "flag"), ("--windows-standalone-build", "flag"),
    ("--whitelist-custom-nodes", "list"), ("--disable-api-nodes", "flag"), ("--use-process-isolation", "flag"),
    ("--enable-compress-response-body", "flag"), ("--comfy-api-base", "value"), ("--database-url", "value"),
    ("--enable-assets", "flag"),
)


def build_parser() -> argparse.ArgumentParser:
    """The serve flags: ComfyUI's names, defaults and value shapes (comfy/cli_args.py)."""
    p = argparse.ArgumentParser(
        prog="toucan-nb",
        description="Serve the ComfyUI-compatible toucan_nb runtime with the official web frontend.",
        epilog="Commands: `toucan-nb serve [flags]` (the default). ComfyUI's main.py flags are accepted.",
    )
    p.add_argument("--version", action="version", version=f"toucan-nb {toucan_nb.__version__}")
    p.add_argument("--listen", metavar="IP", nargs="?", default="127.0.0.1", const="0.0.0.0,::",
                   help="address(es) to listen on, comma separated; bare flag = all IPv4 and IPv6")
    p.add_argument("--port", type=int, default=8188, help="port to listen on (0 = any free port)")
    p.add_argument("--enable-cors-header", metavar="ORIGIN", nargs="?", default=None, const="*",
                   help="send CORS headers for ORIGIN (bare flag = *) instead of checking Origin")
    p.add_argument("--max-upload-size", type=float, default=100, help="request body limit in MB")
    p.add_argument("--base-directory", default=None, help="base for input, output, temp, user, models")
    p.add_argument("--output-directory", default=None)
    p.add_argument("--input-directory", default=None)
    p.add_argument("--temp-directory", default=None)
    p.add_argument("--user-directory", default=None)
    p.add_argument("--models-directory", default=None)
    p.add_argument("--extra-model-paths-config", metavar="PATH", nargs="+", action="append", default=None,
                   help="extra_model_paths.yaml file(s)")
    p.add_argument("--front-end-root", default=None, help="serve the frontend from this directory")
    p.add_argument("--front-end-version", default=DEFAULT_FRONTEND_VERSION,
                   help="owner/repo@version under <base>/web_custom_versions (never downloaded)")
    p.add_argument("--cpu", action="store_true", help="run everything on the CPU")
    p.add_argument("--cuda-device", type=int, default=None, metavar="DEVICE_ID",
                   help="make only this CUDA device visible")
    p.add_argument("--default-device", type=int, default=None, metavar="DEVICE_ID",
                   help="run on this CUDA device")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--cache-classic", action="store_true", help="classic (aggressive) caching")
    cache.add_argument("--cache-lru", type=int, default=0, metavar="N", help="LRU cache of N node results")
    cache.add_argument("--cache-none", action="store_true", help="no caching between prompts")
    cache.add_argument("--cache-ram", nargs="?", const=4.0, type=float, default=0, metavar="GB",
                       help="RAM-pressure cache keeping GB free (bare flag = 4)")
    p.add_argument("--disable-all-custom-nodes", action="store_true")
    p.add_argument("--preview-method", choices=PREVIEW_METHODS, default="none")
    p.add_argument("--preview-size", type=int, default=512)
    p.add_argument("--multi-user", action="store_true", help="per-user storage (Comfy-User header)")
    p.add_argument("--disable-metadata", action="store_true", help="do not embed prompts in saved files")
    p.add_argument("--verbose", nargs="?", default="INFO", const="DEBUG", choices=LOG_LEVELS)
    p.add_argument("--log-stdout", action="store_true", help="log to stdout instead of stderr")
    p.add_argument("--dont-print-server", action="store_true", help="no per-request log lines")
    p.add_argument("--quick-test-for-ci", action="store_true", help="start, then exit")
    # toucan's own: history and the pending queue persist by default (docs/architecture.md, decision 5); ComfyUI
    # starts empty, and test suites that restart it in one directory rely on that.
    p.add_argument("--no-persist", action="store_true",
                   default=os.environ.get("TOUCAN_NB_NO_PERSIST", "") not in ("", "0"),
                   help="keep queue and history in memory only, as ComfyUI does (or TOUCAN_NB_NO_PERSIST=1)")
    scale = p.add_argument_group("scale-out over Ray (pip install 'toucan-nb[ray]'; docs/scale-out.md)")
    scale.add_argument("--ray", metavar="ADDRESS", default=None,
                       help="run prompts on Ray workers: 'local' starts Ray here, else a cluster address "
                            "(default: $TOUCAN_NB_RAY)")
    scale.add_argument("--ray-workers", type=int, default=0, metavar="N",
                       help="worker count (default: one per GPU the cluster offers; one when it offers none)")
    scale.add_argument("--ray-num-gpus", type=int, default=None, metavar="N",
                       help="with --ray local: the GPUs to declare to Ray")
    ignored = p.add_argument_group("accepted for ComfyUI compatibility, without effect")
    for flag, kind in IGNORED_FLAGS:
        kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": argparse.SUPPRESS}
        if kind == "flag":
            kwargs["action"] = "store_true"
        elif kind == "optional":
            kwargs["nargs"] = "?"
        elif kind == "list":
            kwargs["nargs"] = "*"
        ignored.add_argument(flag, **kwargs)
    return p


def ignored_flags_given(args: argparse.Namespace) -> list[str]:
    """The ignored ComfyUI flags present on the command line."""
    return [flag for flag, _ in IGNORED_FLAGS if hasattr(args, flag.lstrip("-").replace("-", "_"))]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse serve flags; `serve` as the first word is optional."""
    argv = list(argv)
    if argv and argv[0] == "serve":
        argv = argv[1:]
    elif argv and not argv[0].startswith("-"):
        build_parser().error(f"unknown command {argv[0]!r} (the only command is `serve`)")
    return build_parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `toucan-nb`; returns the process exit status."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from toucan_nb.host import serve

    return serve.run(args)
